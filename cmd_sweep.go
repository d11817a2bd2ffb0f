package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/config"
	"github.com/smartswap/mfabot/sweep"
)

// sweepUsersPerBatch is how many users one $batch reads: two requests each
// (Authenticator push registrations and passkeys).
const sweepUsersPerBatch = graph.MaxBatchRequests / 2

// sweepMaxAttempts bounds how often one user's requests are sent when Graph
// throttles them inside a batch.
const sweepMaxAttempts = 5

// sweepLaterFlags are the flags of the full sweep (issue 16) that this
// version recognises but does not do yet.
var sweepLaterFlags = []string{"notify", "install", "resume", "pause", "cancel"}

const sweepUsage = `usage: mfabot sweep [--group ID] [--report FILE.csv] [--jsonl FILE] [--lang ja|en]

A dry run of the tenant sweep: with the bot's own Graph settings
(GRAPH_BASE_URL, the Graph credential), lists the enabled member users (or
the users among a group's transitive members, --group), reads each one's
Microsoft Authenticator push registrations and Authenticator passkeys
through Graph $batch, and reports the candidates: users with two or more
push registrations or two or more Authenticator passkeys. Nobody is
notified. The CSV (UTF-8 with BOM) and JSON lines reports hold only the
candidates; the summary line on stdout counts the users scanned.
Exits 0 when the sweep finished, 1 with one line on stderr otherwise.

--notify, --install, --resume, --pause and --cancel are recognised but
not yet available in this version: they exit 2.

Permissions: User.Read.All, GroupMember.Read.All (--group),
UserAuthenticationMethod.Read.All.

Flags:
`

// runSweep is `mfabot sweep …`, the dry run of the tenant sweep. getenv is
// the bot's environment; opts are added to the Graph client's (tests set
// none).
func runSweep(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, opts ...graph.Option) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	group := fs.String("group", "", "sweep only the users among this group's transitive members (object ID)")
	reportPath := fs.String("report", "", "write the candidates to this CSV file (UTF-8 with BOM)")
	jsonlPath := fs.String("jsonl", "", "write the candidates to this JSON lines file")
	lang := fs.String("lang", sweep.Japanese, `the reports' language: "ja" or "en"`)
	var later string // the first flag given that this version does not do yet
	for _, name := range sweepLaterFlags {
		set := func(string) error {
			if later == "" {
				later = name
			}
			return nil
		}
		if name == "notify" || name == "install" {
			fs.BoolFunc(name, "not yet available in this version", set)
		} else {
			fs.Func(name, "`JOB`: not yet available in this version", set)
		}
	}
	fs.Usage = func() {
		fmt.Fprint(stderr, sweepUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &usageError{"sweep: " + err.Error()}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return &usageError{fmt.Sprintf("sweep: unexpected argument %q", fs.Arg(0))}
	}
	if later != "" {
		msg := fmt.Sprintf("sweep: --%s is not yet available in this version (only the dry run is)", later)
		fmt.Fprintln(stderr, "mfabot:", msg)
		return &usageError{msg}
	}
	if *lang != sweep.Japanese && *lang != sweep.English {
		fs.Usage()
		return &usageError{fmt.Sprintf("sweep: --lang %q is not ja or en", *lang)}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	client, err := app.NewGraphClient(cfg, opts...)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	defer client.CloseIdleConnections()

	var outs []*pendingFile
	defer func() {
		for _, o := range outs {
			o.abort()
		}
	}()
	var csvw *sweep.CSVWriter
	if *reportPath != "" {
		o, err := createPending(*reportPath)
		if err != nil {
			return fmt.Errorf("sweep: report: %w", err)
		}
		outs = append(outs, o)
		if csvw, err = sweep.NewCSVWriter(o.f, *lang); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
	}
	var jsonl io.Writer
	if *jsonlPath != "" {
		o, err := createPending(*jsonlPath)
		if err != nil {
			return fmt.Errorf("sweep: jsonl: %w", err)
		}
		outs = append(outs, o)
		jsonl = o.f
	}

	var sum sweep.Summary
	found := func(f sweep.Finding) error {
		sum.Count(f)
		if csvw != nil {
			if err := csvw.Write(f); err != nil {
				return err
			}
		}
		if jsonl != nil {
			return sweep.WriteJSONL(jsonl, []sweep.Finding{f})
		}
		return nil
	}
	s := &sweeper{client: client, found: found, scanned: &sum.Scanned}
	page := func(users []graph.UserRef) error { return s.page(ctx, users) }
	if *group != "" {
		err = client.ListGroupMembers(ctx, *group, page)
	} else {
		err = client.ListUsers(ctx, page)
	}
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if csvw != nil {
		if err := csvw.Flush(); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
	}
	for _, o := range outs {
		if err := o.commit(); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
	}
	outs = nil
	fmt.Fprintln(stdout, sum.String(*lang))
	return nil
}

// sweeper reads the registrations of each page of users and hands the
// candidates to found. It works one batch at a time: a first slice with no
// concurrency of its own beyond what the Graph client does.
type sweeper struct {
	client  *graph.Client
	found   func(sweep.Finding) error
	scanned *int
}

// page reads the registrations of one page of users, sweepUsersPerBatch
// users per $batch, in order.
func (s *sweeper) page(ctx context.Context, users []graph.UserRef) error {
	for len(users) > 0 {
		n := min(len(users), sweepUsersPerBatch)
		if err := s.batch(ctx, users[:n]); err != nil {
			return err
		}
		users = users[n:]
	}
	return nil
}

// batch reads up to sweepUsersPerBatch users' registrations. Users whose
// requests Graph throttled inside the batch are asked for again, after the
// longest Retry-After among them (or a doubling wait when none is given),
// at most sweepMaxAttempts times. Any other failure ends the sweep: a
// 403 names the permission to grant.
func (s *sweeper) batch(ctx context.Context, users []graph.UserRef) error {
	pending := users
	for attempt := 1; len(pending) > 0; attempt++ {
		ids := make([]string, len(pending))
		for i, u := range pending {
			ids[i] = u.ID
		}
		res, err := s.client.BatchAuthenticatorAndFido2Methods(ctx, ids)
		if err != nil {
			return err
		}
		var throttled []graph.UserRef
		var wait time.Duration
		for _, u := range pending {
			r := res[u.ID]
			var ge *graph.Error
			switch {
			case r.Err == nil:
			case errors.As(r.Err, &ge) && ge.Kind == graph.KindThrottled:
				throttled = append(throttled, u)
				wait = max(wait, r.RetryAfter)
				continue
			case graph.IsNotFound(r.Err):
				continue // deleted since the page was listed
			default:
				return fmt.Errorf("user %s: %w", u.ID, r.Err)
			}
			*s.scanned++
			devices := devicesOf(r)
			if !sweep.Candidate(devices) {
				continue
			}
			f := sweep.Finding{
				User:    sweep.User{ID: u.ID, UPN: u.UPN, DisplayName: u.DisplayName, Department: u.Department},
				Devices: devices,
				Action:  sweep.ActionNone,
			}
			if err := s.found(f); err != nil {
				return err
			}
		}
		if len(throttled) == 0 {
			return nil
		}
		if attempt >= sweepMaxAttempts {
			return fmt.Errorf("graph throttled %d users %d times in a row; try again later", len(throttled), attempt)
		}
		if wait <= 0 {
			wait = time.Second << (attempt - 1)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pending = throttled
	}
	return nil
}

// devicesOf is a user's Authenticator registrations as the sweep counts
// them: every push registration and the passkeys kept in Microsoft
// Authenticator (other passkeys are left out).
func devicesOf(r graph.BatchResult) []sweep.Device {
	var out []sweep.Device
	for _, m := range r.Authenticator {
		out = append(out, sweep.Device{Kind: sweep.KindPush, ID: m.ID, Name: m.DisplayName, Created: m.Created})
	}
	for _, m := range r.Fido2 {
		if graph.IsAuthenticatorPasskey(m.AAGUID) {
			out = append(out, sweep.Device{Kind: sweep.KindPasskey, ID: m.ID, Name: m.DisplayName, Created: m.Created})
		}
	}
	return out
}

// pendingFile is a report being written to a temporary file beside its
// path, renamed into place by commit only when the sweep finished, so a
// failed sweep leaves no partial report behind.
type pendingFile struct {
	f    *os.File
	path string
}

// createPending opens the temporary file of path.
func createPending(path string) (*pendingFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	return &pendingFile{f: f, path: path}, nil
}

// commit closes the file and renames it to its path.
func (p *pendingFile) commit() error {
	tmp := p.f.Name()
	err := p.f.Close()
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, p.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", p.path, err)
	}
	return nil
}

// abort closes and removes the temporary file.
func (p *pendingFile) abort() {
	p.f.Close()
	os.Remove(p.f.Name())
}
