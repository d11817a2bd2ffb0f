package sweep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Directory is what the sweep asks Microsoft Graph (graph.Client, through
// an adapter that turns its errors into these terms).
type Directory interface {
	// Users walks the users of the scope (a group's transitive members, or
	// every enabled member user when group is ""), from the cursor from ("":
	// the first page), handing page each page and the cursor of the one
	// after it ("" after the last). A refusal for lack of a permission is
	// a *PermissionError.
	Users(ctx context.Context, group, from string, page func(users []User, next string) error) error
	// Registrations reads up to UsersPerBatch users' Authenticator
	// registrations in one Graph $batch. The error is the batch's as a
	// whole: a *ThrottledError, a *PermissionError, or another failure.
	Registrations(ctx context.Context, userIDs []string) (map[string]Registrations, error)
	// Install installs the bot for the user; false when it was installed
	// already.
	Install(ctx context.Context, userID string) (bool, error)
}

// Registrations is what a batch read of one user.
type Registrations struct {
	Devices []Device
	// Throttled: Graph throttled this user's request inside the batch;
	// read them again after RetryAfter (zero when Graph gave none).
	Throttled  bool
	RetryAfter time.Duration
	// Gone: the user was deleted since they were listed.
	Gone bool
	// Err is any other failure (a *PermissionError for a 403).
	Err error
}

// ThrottledError is a Graph request throttled past the client's retries.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("Graph throttled the request (retry after %s)", e.RetryAfter)
}

// Declines are the answers 「これは両方使っています」 that users gave: a user
// who declined about every device they hold now is not asked again.
type Declines interface {
	SweepDeclined(ctx context.Context, tenant, user string, deviceIDs []string) (bool, error)
}

// Notice is a card to send: one candidate of one job.
type Notice struct {
	Job, Tenant string
	Finding     Finding
}

// Notifier sends the candidates' cards (the bot's dialogs). Notify returns
// the action to record (ActionNotified, ActionNoConversation,
// ActionInProcedure, ActionBothInUse, ActionUnreachable), or an error: a
// *RetryError to try again after a wait, any other to try again later.
// It calls mark just before the card leaves, and sends nothing when mark
// reports that the card was marked sent before.
type Notifier interface {
	Notify(ctx context.Context, n Notice, mark func(context.Context) (bool, error)) (string, error)
}

// RetryError asks for a notice to be tried again after After (Teams
// throttled, sends paused).
type RetryError struct{ After time.Duration }

func (e *RetryError) Error() string { return fmt.Sprintf("try again in %s", e.After) }

// Observer is told what a worker did, for /metrics. Every method may be
// called from several goroutines.
type Observer interface {
	SweepScanned(users, candidates int)
	SweepGraph(requests, throttled int)
	SweepNotified(action string)
}

// WorkerOptions configures a Worker. Store, Directory and Declines are
// required.
type WorkerOptions struct {
	Store     Store
	Directory Directory
	Declines  Declines
	// Notifier sends the cards; nil: this worker lists and reads, and
	// leaves the cards to workers that have one (the bot's replicas).
	Notifier Notifier
	Observer Observer
	Logger   *slog.Logger
	Now      func() time.Time
	// Owner names this worker in its leases (default: random).
	Owner string
	// Tick is how often the worker looks for work when it found none
	// (default 500 ms).
	Tick time.Duration
	// Lease is how long a claimed item is held before another worker may
	// take it (default 2 min).
	Lease time.Duration
	// Concurrency is how many batches this worker reads at once (default 4).
	Concurrency int
	// GraphRate is the Graph requests per second all workers of all
	// replicas together may send for sweeps (SWEEP_GRAPH_RATE, default
	// 100). A $batch of n requests counts n.
	GraphRate int
	// MaxBacklog is how many batches may wait before the lister stops
	// listing (default 200): the job never holds the whole tenant.
	MaxBacklog int
	// InstallWait is how long after installing the app the worker looks for
	// the user's conversation again, and InstallChecks how often (defaults
	// 20 s, 6).
	InstallWait   time.Duration
	InstallChecks int
}

// maxBatchTries and maxNoticeTries bound how often a batch or a card is
// tried before its users are recorded as failed.
const (
	maxBatchTries  = 8
	maxNoticeTries = 6
)

// Worker does the work of every running sweep it finds in the Store. Run
// one in each replica of the bot, and one in the CLI: they share the work
// through the Store's leases, and a worker that dies loses nothing.
type Worker struct {
	o WorkerOptions
}

// NewWorker assembles a worker. It does no I/O.
func NewWorker(o WorkerOptions) *Worker {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Owner == "" {
		var b [8]byte
		rand.Read(b[:])
		o.Owner = hex.EncodeToString(b[:])
	}
	if o.Tick <= 0 {
		o.Tick = 500 * time.Millisecond
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.GraphRate <= 0 {
		o.GraphRate = 100
	}
	if o.MaxBacklog <= 0 {
		o.MaxBacklog = 200
	}
	if o.InstallWait <= 0 {
		o.InstallWait = 20 * time.Second
	}
	if o.InstallChecks <= 0 {
		o.InstallChecks = 6
	}
	return &Worker{o: o}
}

// Owner is the name this worker's leases carry.
func (w *Worker) Owner() string { return w.o.Owner }

// Run works on running sweeps until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		did := 0
		ids, err := w.o.Store.ActiveSweeps(ctx)
		if err != nil {
			w.o.Logger.WarnContext(ctx, "sweep: could not list the running sweeps", "err", err)
		}
		for _, id := range ids {
			n, err := w.Step(ctx, id)
			if err != nil && ctx.Err() == nil {
				w.o.Logger.WarnContext(ctx, "sweep: step failed", "job", id, "err", err)
			}
			did += n
		}
		if did > 0 {
			continue
		}
		t := time.NewTimer(w.o.Tick)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	return nil
}

// Step does one round of work on job id: lists a page or more while the
// backlog is short, reads up to Concurrency batches, sends up to
// Concurrency cards, and marks the job done when all is done. It returns
// how many items it handled (0: nothing to do now).
func (w *Worker) Step(ctx context.Context, id string) (int, error) {
	job, err := w.o.Store.LoadSweep(ctx, id)
	if err != nil {
		return 0, err
	}
	if job.State != StateRunning {
		return 0, nil
	}
	did := 0
	if !job.Listed && job.Backlog < int64(w.o.MaxBacklog) {
		n, err := w.list(ctx, job)
		if err != nil {
			return did, err
		}
		did += n
	}
	n, err := w.scan(ctx, job)
	did += n
	if err != nil {
		return did, err
	}
	if job.Spec.Notify && w.o.Notifier != nil {
		n, err := w.notify(ctx, job)
		did += n
		if err != nil {
			return did, err
		}
	}
	if did == 0 {
		if job, err = w.o.Store.LoadSweep(ctx, id); err == nil && job.State == StateRunning && job.Finished() {
			if ok, err := w.o.Store.FinishSweep(ctx, id, w.o.Now()); err == nil && ok {
				w.o.Logger.InfoContext(ctx, "sweep finished", "job", id, "scanned", job.Counts.Scanned, "candidates", job.Counts.Candidates)
			}
		}
	}
	return did, nil
}

// errBacklogFull stops a listing walk: enough batches wait.
var errBacklogFull = errors.New("backlog full")

// list takes the listing if no other worker has it and lists pages until
// the backlog is full or the users are all listed. A page that fails is
// listed again from its cursor by the next round (of any worker); a
// refusal for lack of a permission fails the job.
func (w *Worker) list(ctx context.Context, job Job) (int, error) {
	cursor, ok, err := w.o.Store.TakeLister(ctx, job.ID, w.o.Owner, w.o.Lease)
	if err != nil || !ok {
		return 0, err
	}
	defer w.o.Store.ReleaseLister(context.WithoutCancel(ctx), job.ID, w.o.Owner)
	if wait, err := w.o.Store.GraphPause(ctx, job.ID); err != nil || wait > 0 {
		return 0, err
	}
	backlog := job.Backlog
	pages := 0
	err = w.o.Directory.Users(ctx, job.Spec.Group, cursor, func(users []User, next string) error {
		pages++
		if err := w.o.Store.AddPage(ctx, job.ID, w.o.Owner, users, next, w.o.Now(), w.o.Lease); err != nil {
			return err
		}
		backlog += int64((len(users) + UsersPerBatch - 1) / UsersPerBatch)
		if next != "" && backlog >= int64(w.o.MaxBacklog) {
			return errBacklogFull
		}
		if next != "" {
			return w.waitGraph(ctx, job.ID, 1)
		}
		return nil
	})
	w.o.Store.AddSweepCounts(ctx, job.ID, int64(pages), 0)
	w.observeGraph(pages, 0)
	var pe *PermissionError
	var te *ThrottledError
	switch {
	case err == nil, errors.Is(err, errBacklogFull):
		return pages, nil
	case errors.As(err, &pe):
		w.fail(ctx, job.ID, pe.Error())
		return pages, nil
	case errors.As(err, &te):
		w.o.Store.AddSweepCounts(ctx, job.ID, 0, 1)
		w.observeGraph(0, 1)
		w.o.Store.PauseGraph(ctx, job.ID, max(te.RetryAfter, time.Second))
		return pages, nil
	case ctx.Err() != nil:
		return pages, nil
	}
	w.o.Logger.WarnContext(ctx, "sweep: listing users failed; the page is listed again", "job", job.ID, "err", err)
	return pages, nil
}

// scan claims up to Concurrency batches and reads them at once.
func (w *Worker) scan(ctx context.Context, job Job) (int, error) {
	if wait, err := w.o.Store.GraphPause(ctx, job.ID); err != nil || wait > 0 {
		return 0, err
	}
	batches, err := w.o.Store.ClaimBatches(ctx, job.ID, w.o.Owner, w.o.Now(), w.o.Lease, w.o.Concurrency)
	if err != nil || len(batches) == 0 {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, b := range batches {
		wg.Go(func() { w.read(ctx, job, b) })
	}
	wg.Wait()
	return len(batches), nil
}

// read reads one batch's users through Graph and records what it found.
// Users Graph throttled inside the batch are read again after the longest
// Retry-After among them, and every worker waits that long (Graph's
// throttling guidance: back off, then retry); a batch that failed as a
// whole is tried again later, at most maxBatchTries times.
func (w *Worker) read(ctx context.Context, job Job, b Batch) {
	log := w.o.Logger.With("job", job.ID, "batch", b.ID)
	if err := w.waitGraph(ctx, job.ID, 2*len(b.Users)); err != nil {
		return // ctx ended: the lease gives the batch back
	}
	ids := make([]string, len(b.Users))
	for i, u := range b.Users {
		ids[i] = u.ID
	}
	res, err := w.o.Directory.Registrations(ctx, ids)
	if ctx.Err() != nil {
		return
	}
	now := w.o.Now()
	var out BatchOutcome
	var pe *PermissionError
	var te *ThrottledError
	throttled := 0
	switch {
	case errors.As(err, &pe):
		w.o.Store.AddSweepCounts(ctx, job.ID, 1, 0)
		w.fail(ctx, job.ID, pe.Error())
		return
	case errors.As(err, &te):
		throttled++
		wait := max(te.RetryAfter, time.Second)
		w.o.Store.PauseGraph(ctx, job.ID, wait)
		out.Retry, out.RetryAt = b.Users, now.Add(wait)
	case err != nil:
		log.WarnContext(ctx, "sweep: batch failed", "err", err, "tries", b.Tries+1)
		if b.Tries+1 >= maxBatchTries {
			out.Unreadable = len(b.Users)
		} else {
			out.Retry, out.RetryAt = b.Users, now.Add(backoff(b.Tries))
		}
	default:
		out, throttled, err = w.outcome(ctx, job, b, res, now)
		if err != nil {
			var pe *PermissionError
			if errors.As(err, &pe) {
				w.fail(ctx, job.ID, pe.Error())
				return
			}
			log.WarnContext(ctx, "sweep: could not record a batch; it comes back", "err", err)
			return
		}
	}
	w.o.Store.AddSweepCounts(ctx, job.ID, 1, int64(throttled))
	w.observeGraph(1, throttled)
	ok, err := w.o.Store.FinishBatch(ctx, job.ID, w.o.Owner, b, out)
	switch {
	case err != nil:
		log.WarnContext(ctx, "sweep: could not record a batch; it comes back", "err", err)
	case !ok:
		log.InfoContext(ctx, "sweep: a batch's lease ran out before it was recorded; another worker reads it")
	default:
		if w.o.Observer != nil {
			w.o.Observer.SweepScanned(out.Scanned, len(out.Candidates))
		}
	}
}

// outcome sorts one batch's answers: users read (and among them the
// candidates), users Graph throttled (read again after the longest wait it
// asked for), users gone, and users whose read failed (read again, or
// counted unreadable after maxBatchTries).
func (w *Worker) outcome(ctx context.Context, job Job, b Batch, res map[string]Registrations, now time.Time) (BatchOutcome, int, error) {
	var out BatchOutcome
	throttled := 0
	var wait time.Duration
	for _, u := range b.Users {
		r, ok := res[u.ID]
		var pe *PermissionError
		switch {
		case !ok:
			out.Retry = append(out.Retry, u)
		case r.Throttled:
			throttled++
			wait = max(wait, r.RetryAfter)
			out.Retry = append(out.Retry, u)
		case r.Gone:
			// Deleted since the page was listed: nothing to read.
		case errors.As(r.Err, &pe):
			return out, throttled, pe
		case r.Err != nil:
			if b.Tries+1 >= maxBatchTries {
				out.Unreadable++
			} else {
				out.Retry = append(out.Retry, u)
			}
		default:
			out.Scanned++
			if !Candidate(r.Devices) {
				continue
			}
			f := Finding{User: u, Devices: r.Devices, Action: ActionNone}
			ids := make([]string, len(r.Devices))
			for i, d := range r.Devices {
				ids[i] = d.ID
			}
			declined, err := w.o.Declines.SweepDeclined(ctx, job.Spec.Tenant, u.ID, ids)
			if err != nil {
				return out, throttled, err
			}
			if declined {
				f.Action = ActionBothInUse
			}
			out.Candidates = append(out.Candidates, f)
		}
	}
	if len(out.Retry) > 0 {
		if throttled > 0 {
			wait = max(wait, time.Second)
			w.o.Store.PauseGraph(ctx, job.ID, wait)
		} else {
			wait = backoff(b.Tries)
		}
		out.RetryAt = now.Add(wait)
	}
	return out, throttled, nil
}

// backoff is the wait before a failed batch or card is tried again: 2 s
// doubling, at most 5 min.
func backoff(tries int) time.Duration {
	return min(2*time.Second<<min(tries, 8), 5*time.Minute)
}

// waitGraph waits while Graph asked the job to slow down, then takes n
// requests from the Graph rate that every replica shares, waiting while it
// says so (a refused take takes nothing).
func (w *Worker) waitGraph(ctx context.Context, id string, n int) error {
	for {
		wait, err := w.o.Store.GraphPause(ctx, id)
		if err != nil {
			return err
		}
		if wait <= 0 {
			if wait, err = w.o.Store.AllowGraph(ctx, n, w.o.GraphRate); err != nil || wait <= 0 {
				return err
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// notify claims up to Concurrency candidates and sends their cards, one
// after the other (the Notifier waits for Teams' rate).
func (w *Worker) notify(ctx context.Context, job Job) (int, error) {
	claimed, err := w.o.Store.ClaimCandidates(ctx, job.ID, w.o.Owner, w.o.Now(), w.o.Lease, w.o.Concurrency)
	if err != nil {
		return 0, err
	}
	for _, c := range claimed {
		if ctx.Err() != nil {
			break
		}
		w.send(ctx, job, c)
	}
	return len(claimed), nil
}

// send sends one candidate's card, installing the app first when the job
// says so and the bot cannot reach them yet.
func (w *Worker) send(ctx context.Context, job Job, c Claimed) {
	log := w.o.Logger.With("job", job.ID, "user", c.User.ID)
	n := Notice{Job: job.ID, Tenant: job.Spec.Tenant, Finding: c.Finding}
	mark := func(ctx context.Context) (bool, error) { return w.o.Store.MarkSent(ctx, job.ID, w.o.Owner, c.User.ID) }
	action, err := w.o.Notifier.Notify(ctx, n, mark)
	now := w.o.Now()
	var re *RetryError
	if err != nil {
		// The card did not leave (Teams answered with an error): a later
		// try may send it.
		if uerr := w.o.Store.UnmarkSent(ctx, job.ID, w.o.Owner, c.User.ID); uerr != nil {
			log.WarnContext(ctx, "sweep: could not unmark a card", "err", uerr)
		}
	}
	switch {
	case errors.As(err, &re):
		w.finish(ctx, log, job.ID, c.User.ID, "", now.Add(max(re.After, time.Second)))
		return
	case err != nil:
		log.WarnContext(ctx, "sweep: card not sent", "err", err, "tries", c.Tries+1)
		if c.Tries+1 >= maxNoticeTries {
			w.finish(ctx, log, job.ID, c.User.ID, Failed("send"), time.Time{})
		} else {
			w.finish(ctx, log, job.ID, c.User.ID, "", now.Add(backoff(c.Tries)))
		}
		return
	}
	if action == ActionNoConversation && job.Spec.Install {
		if c.Tries < w.o.InstallChecks {
			if c.Tries == 0 {
				if _, err := w.o.Directory.Install(ctx, c.User.ID); err != nil {
					var pe *PermissionError
					if errors.As(err, &pe) {
						w.fail(ctx, job.ID, pe.Error())
						return
					}
					log.WarnContext(ctx, "sweep: installing the app failed", "err", err)
					w.finish(ctx, log, job.ID, c.User.ID, Failed("install"), time.Time{})
					return
				}
				w.o.Store.NoteInstalled(ctx, job.ID, c.User.ID)
			}
			// Teams tells the bot of the installation; look again then.
			w.finish(ctx, log, job.ID, c.User.ID, "", now.Add(w.o.InstallWait))
			return
		}
	}
	w.finish(ctx, log, job.ID, c.User.ID, action, time.Time{})
	if w.o.Observer != nil {
		w.o.Observer.SweepNotified(action)
	}
}

func (w *Worker) finish(ctx context.Context, log *slog.Logger, id, user, action string, retryAt time.Time) {
	ok, err := w.o.Store.FinishCandidate(ctx, id, w.o.Owner, user, action, retryAt)
	if err != nil {
		log.WarnContext(ctx, "sweep: could not record a card; it comes back", "err", err)
	} else if !ok {
		log.InfoContext(ctx, "sweep: a card's lease ran out before it was recorded")
	}
}

// fail ends the job for a reason every replica would meet (a permission
// missing).
func (w *Worker) fail(ctx context.Context, id, reason string) {
	w.o.Logger.ErrorContext(ctx, "sweep failed", "job", id, "reason", reason)
	if _, err := w.o.Store.SetSweepState(ctx, id, StateFailed, reason, []string{StateRunning, StatePaused}, w.o.Now()); err != nil {
		w.o.Logger.WarnContext(ctx, "sweep: could not record the failure", "job", id, "err", err)
	}
}

func (w *Worker) observeGraph(requests, throttled int) {
	if w.o.Observer != nil && requests+throttled > 0 {
		w.o.Observer.SweepGraph(requests, throttled)
	}
}
