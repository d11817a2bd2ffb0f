package sweep

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The states of a Job.
const (
	StateRunning   = "running"
	StatePaused    = "paused"
	StateCancelled = "cancelled"
	StateDone      = "done"
	StateFailed    = "failed"
)

// Final reports whether state is one a job never leaves.
func Final(state string) bool {
	return state == StateDone || state == StateFailed || state == StateCancelled
}

// More actions a Finding records, beyond a dry run's and the card's.
const (
	// ActionInProcedure is a candidate who was in the middle of the
	// procedure (スマホ交換) when the card would have gone: not disturbed.
	ActionInProcedure = "in_procedure"
	// ActionStarted is a notified candidate who chose the old phone and
	// started deleting it.
	ActionStarted = "started"
	// ActionCompleted is a candidate whose old phone the bot saw gone
	// through Graph: the procedure reached its end.
	ActionCompleted = "completed"
	// ActionUnreachable is a candidate the card could not reach: the app
	// was uninstalled or blocked since the conversation was saved.
	ActionUnreachable = "unreachable"
)

// Spec is what an operator asks a sweep to do.
type Spec struct {
	// Group, when set, limits the sweep to the group's transitive members
	// (an object ID); "" sweeps every enabled member user.
	Group string
	// Notify sends each candidate the card; false is a dry run.
	Notify bool
	// Install installs the app for candidates the bot cannot reach yet
	// (only with Notify).
	Install bool
	// Tenant is the Entra tenant the users' conversations are kept under.
	Tenant string
	// By names who started the sweep, for the log and the channel ("cli",
	// or the helpdesk member's name).
	By string
}

// Counts are a job's counters, shared by every replica working on it.
type Counts struct {
	Listed     int64 // users listed from Graph
	Scanned    int64 // users whose registrations were read
	Unreadable int64 // users whose registrations could not be read
	Candidates int64
	// What was done about candidates.
	Notified, NoConversation, InProcedure, BothInUse, Unreachable, Failed int64
	// What candidates did since.
	Started, Completed int64
	// Graph's load: requests sent (a $batch counts one) and throttled
	// answers (429/503, inside a batch or not).
	GraphRequests, GraphThrottled int64
	// Installed counts installations of the app (--install).
	Installed int64
}

// Open is how many candidates have neither finished nor declined.
func (c Counts) Open() int64 { return max(c.Candidates-c.Completed-c.BothInUse, 0) }

// Job is a sweep as the store holds it.
type Job struct {
	ID    string
	Spec  Spec
	State string
	// Error says why a failed job failed (one line, no secrets).
	Error   string
	Created time.Time
	Ended   time.Time // zero while not final
	// Listed is set once every page of users was listed.
	Listed bool
	// Backlog is the batches of users waiting to be read; Pending the
	// candidates waiting for their card.
	Backlog, Pending int64
	Counts           Counts
}

// Finished reports whether the job's work is all done: every user listed
// and read, and every card sent.
func (j Job) Finished() bool { return j.Listed && j.Backlog == 0 && j.Pending == 0 }

// Batch is a work item of the scan: up to UsersPerBatch users, read in one
// Graph $batch.
type Batch struct {
	ID    string
	Users []User
	Tries int // how often the batch was given back unfinished
}

// Claimed is a candidate whose card a worker is to send.
type Claimed struct {
	Finding
	Tries int
}

// Store is the job and its work items, shared by every replica: in Redis
// (redisstore.Store). Every claim is a lease held by owner; a worker that
// dies gives its items back when the lease ends, and an owner whose lease
// ran out cannot finish an item another owner holds now.
type Store interface {
	CreateSweep(ctx context.Context, spec Spec, now time.Time) (Job, error)
	LoadSweep(ctx context.Context, id string) (Job, error)
	// SetSweepState moves a job to state if it is in one of from.
	SetSweepState(ctx context.Context, id, state, reason string, from []string, now time.Time) (Job, error)
	// ActiveSweeps lists the jobs that are running.
	ActiveSweeps(ctx context.Context) ([]string, error)
	// Sweeps lists the newest jobs, newest first.
	Sweeps(ctx context.Context, n int) ([]Job, error)

	// TakeLister leases the listing of users to owner and returns where it
	// stands (the next page's link, "" for the first); ok is false when
	// another owner lists, or there is nothing left to list.
	TakeLister(ctx context.Context, id, owner string, lease time.Duration) (cursor string, ok bool, err error)
	// AddPage queues a listed page's users, UsersPerBatch to a batch, and
	// moves the cursor to next ("" : the listing is over), atomically and
	// only while owner holds the listing.
	// The lease is renewed for lease.
	AddPage(ctx context.Context, id, owner string, users []User, next string, now time.Time, lease time.Duration) error
	ReleaseLister(ctx context.Context, id, owner string) error

	ClaimBatches(ctx context.Context, id, owner string, now time.Time, lease time.Duration, max int) ([]Batch, error)
	// FinishBatch records a claimed batch's outcome: users scanned,
	// unreadable ones, candidates (queued for their card when the job
	// notifies, unless their action is already final), and the users to
	// read again at retryAt (none: the batch is done). It reports false when
	// owner no longer held the batch: nothing was recorded.
	FinishBatch(ctx context.Context, id, owner string, b Batch, out BatchOutcome) (bool, error)

	ClaimCandidates(ctx context.Context, id, owner string, now time.Time, lease time.Duration, max int) ([]Claimed, error)
	// FinishCandidate records what was done about a claimed candidate, or
	// gives them back for retryAt (action "").
	FinishCandidate(ctx context.Context, id, owner, user, action string, retryAt time.Time) (bool, error)
	// MarkSent records that the card to user is being sent, once per job:
	// false when it was recorded before.
	MarkSent(ctx context.Context, id, owner, user string) (bool, error)
	// UnmarkSent undoes MarkSent after a send that certainly failed.
	UnmarkSent(ctx context.Context, id, owner, user string) error
	// NoteInstalled records that the app was installed for user.
	NoteInstalled(ctx context.Context, id, user string) (first bool, err error)

	// RecordSweepAction sets a candidate's action after the card (started,
	// completed, both in use), counting each once.
	RecordSweepAction(ctx context.Context, id, user, action string) error
	// AddSweepCounts adds Graph's load to the job's counters.
	AddSweepCounts(ctx context.Context, id string, requests, throttled int64) error
	// PauseGraph makes every replica's worker wait d before its next Graph
	// request for the job (Graph asked to slow down); GraphPause is what is
	// left of it.
	PauseGraph(ctx context.Context, id string, d time.Duration) error
	GraphPause(ctx context.Context, id string) (time.Duration, error)
	// AllowGraph takes n requests from the Graph rate shared by every
	// replica (perSecond); it returns how long to wait first (0: go).
	AllowGraph(ctx context.Context, n, perSecond int) (time.Duration, error)
	// FinishSweep marks a job done when its work is all done.
	FinishSweep(ctx context.Context, id string, now time.Time) (bool, error)
	// Findings hands every candidate of the job to fn, with their current
	// action, a page at a time.
	Findings(ctx context.Context, id string, fn func(Finding) error) error
}

// BatchOutcome is what reading a Batch found.
type BatchOutcome struct {
	Scanned, Unreadable int
	Candidates          []Finding
	// Retry are the users to read again, at RetryAt.
	Retry   []User
	RetryAt time.Time
}

// ErrNoSweep is returned (wrapped) for a job id the store does not know.
var ErrNoSweep = errors.New("no such sweep")

// PermissionError is a Graph refusal (403) that ends a sweep: the app
// lacks Permission.
type PermissionError struct {
	Op, Permission string
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("Graph refused %s (403): grant the application permission %s and give admin consent", e.Op, e.Permission)
}

// UsersPerBatch is how many users one Graph $batch reads: two requests each
// (Authenticator push registrations and passkeys), twenty at most.
const UsersPerBatch = 10
