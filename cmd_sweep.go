package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/config"
	"github.com/smartswap/mfabot/sweep"
)

const sweepUsage = `usage: mfabot sweep [--group ID] [--report FILE.csv] [--jsonl FILE] [--notify [--install]] [--lang ja|en]
       mfabot sweep --resume JOB [--report FILE.csv] [--jsonl FILE]
       mfabot sweep --pause JOB | --cancel JOB

The tenant sweep: with the bot's own settings (REDIS_URL, GRAPH_BASE_URL,
the Graph credential), lists the enabled member users (or a group's
transitive members, --group), reads each one's Microsoft Authenticator push
registrations and Authenticator passkeys through Graph $batch, and finds the
candidates: users with two or more push registrations or two or more
Authenticator passkeys, most often an old phone left registered.

The sweep is a job in Redis: every replica of the bot works on it with this
command, a crash loses nothing, and --pause, --resume and --cancel act on it
from anywhere. Without --notify it is a dry run: nobody is told anything.
With --notify, the bot's replicas send each candidate who has the app the
card 「古いスマホの登録が残っている可能性があります」 (REDIS_URL must be the
bot's Redis); --install also installs the app for candidates the bot cannot
reach yet (SWEEP_TEAMS_APP_ID; permission TeamsAppInstallation.ReadWriteForUser.All).

The CSV (UTF-8 with BOM) and JSON lines reports hold only the candidates,
with what was done; --resume on a finished job writes them again with what
the candidates did since. The progress goes to stderr, the summary line to
stdout. Exits 0 when the job finished (or was paused or cancelled by
--pause or --cancel), 1 with one line on stderr otherwise, 2 for bad usage.

Permissions: User.Read.All, GroupMember.Read.All (--group),
UserAuthenticationMethod.Read.All.

Flags:
`

// sweepDeps are what tests replace: the Redis, its key prefix, the Graph
// client's options and the worker's pace. The zero value is the bot's
// configuration.
type sweepDeps struct {
	redis     redisstore.Client
	prefix    string
	graphOpts []graph.Option
	tick      time.Duration // the worker's look for work and the progress's pace
	progress  io.Writer     // where progress goes (default stderr)
}

// runSweep is `mfabot sweep …`.
func runSweep(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, deps sweepDeps) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	group := fs.String("group", "", "sweep only the users among this group's transitive members (object ID)")
	reportPath := fs.String("report", "", "write the candidates to this CSV file (UTF-8 with BOM)")
	jsonlPath := fs.String("jsonl", "", "write the candidates to this JSON lines file")
	notify := fs.Bool("notify", false, "send each candidate the card (default: a dry run)")
	install := fs.Bool("install", false, "with --notify: install the app for candidates the bot cannot reach yet")
	resume := fs.String("resume", "", "resume (or follow, or report on) the sweep `JOB`")
	pause := fs.String("pause", "", "pause the sweep `JOB`")
	cancel := fs.String("cancel", "", "cancel the sweep `JOB`")
	lang := fs.String("lang", sweep.Japanese, `the reports' language: "ja" or "en"`)
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
	bad := func(msg string) error {
		fmt.Fprintln(stderr, "mfabot: sweep:", msg)
		return &usageError{"sweep: " + msg}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return &usageError{fmt.Sprintf("sweep: unexpected argument %q", fs.Arg(0))}
	}
	if *lang != sweep.Japanese && *lang != sweep.English {
		fs.Usage()
		return &usageError{fmt.Sprintf("sweep: --lang %q is not ja or en", *lang)}
	}
	jobArgs := 0
	for _, v := range []string{*resume, *pause, *cancel} {
		if v != "" {
			jobArgs++
		}
	}
	switch {
	case jobArgs > 1:
		return bad("--resume, --pause and --cancel take one job each, one at a time")
	case jobArgs == 1 && (*group != "" || *notify || *install):
		return bad("--group, --notify and --install start a new sweep; a job keeps its own")
	case *install && !*notify:
		return bad("--install needs --notify (installing the app is for sending the card)")
	case (*pause != "" || *cancel != "") && (*reportPath != "" || *jsonlPath != ""):
		return bad("--pause and --cancel write no report; --resume does")
	}

	// The progress and the worker's warnings share stderr from two
	// goroutines; the bar redraws one line only on a terminal.
	tty := isTerminal(stderr)
	stderr = &lockedWriter{w: stderr}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	rdb := deps.redis
	if rdb == nil {
		if cfg.RedisURL == "" && (jobArgs > 0 || *notify) {
			return errors.New("sweep: REDIS_URL is not set: a job to notify, resume, pause or cancel lives in the bot's Redis")
		}
		var closeRedis func() error
		if rdb, closeRedis, err = app.OpenRedis(cfg); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		defer closeRedis()
	}
	var storeOpts []redisstore.Option
	if deps.prefix != "" {
		storeOpts = append(storeOpts, redisstore.WithPrefix(deps.prefix))
	}
	store := redisstore.New(rdb, storeOpts...)
	now := time.Now

	switch {
	case *pause != "":
		return setSweepState(ctx, store, *pause, sweep.StatePaused, []string{sweep.StateRunning}, stdout)
	case *cancel != "":
		return setSweepState(ctx, store, *cancel, sweep.StateCancelled, []string{sweep.StateRunning, sweep.StatePaused}, stdout)
	}

	var job sweep.Job
	if *resume != "" {
		if job, err = store.LoadSweep(ctx, *resume); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		if job.State == sweep.StatePaused {
			if job, err = store.SetSweepState(ctx, job.ID, sweep.StateRunning, "", []string{sweep.StatePaused}, now()); err != nil {
				return fmt.Errorf("sweep: %w", err)
			}
		}
	} else {
		spec := sweep.Spec{Group: *group, Notify: *notify, Install: *install, Tenant: cfg.Sweep.Tenant, By: "cli"}
		if *notify && spec.Tenant == "" {
			return errors.New("sweep: --notify needs the tenant of the users' chats: set SWEEP_TENANT (or MicrosoftAppTenantId)")
		}
		if job, err = store.CreateSweep(ctx, spec, now()); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
	}
	mode := "dry run"
	if job.Spec.Notify {
		mode = "notify"
	}
	fmt.Fprintf(stderr, "sweep %s (%s): --pause %[1]s, --cancel %[1]s, --resume %[1]s\n", job.ID, mode)

	if job.State == sweep.StateRunning {
		client, err := app.NewGraphClient(cfg, deps.graphOpts...)
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		defer client.CloseIdleConnections()
		// The worker's warnings (a page listed again, a batch that comes
		// back) go to stderr with the progress; they name no secrets.
		logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: max(cfg.LogLevel, slog.LevelWarn)}))
		w := sweep.NewWorker(sweep.WorkerOptions{
			Store: store, Directory: app.NewSweepDirectory(client, cfg.Sweep.TeamsAppID), Declines: store,
			GraphRate: cfg.Sweep.GraphRate, Lease: cfg.Sweep.Lease, Tick: deps.tick, Logger: logger,
		})
		wctx, stopWorker := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); w.Run(wctx) }()
		progress := deps.progress
		if progress == nil {
			progress = stderr
		} else {
			tty = false
		}
		job, err = follow(ctx, store, job.ID, newProgressBar(progress, tty), deps.tick)
		stopWorker()
		<-done
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("sweep %s: interrupted; it goes on in the bot's replicas, if any (--resume %[1]s follows it again)", job.ID)
			}
			return fmt.Errorf("sweep %s: %w", job.ID, err)
		}
	}
	switch job.State {
	case sweep.StateFailed:
		return fmt.Errorf("sweep %s failed: %s", job.ID, job.Error)
	case sweep.StateCancelled:
		return fmt.Errorf("sweep %s was cancelled", job.ID)
	case sweep.StatePaused:
		return fmt.Errorf("sweep %s is paused: --resume %[1]s continues it", job.ID)
	}
	if err := writeSweepReports(ctx, store, job.ID, *reportPath, *jsonlPath, *lang); err != nil {
		return fmt.Errorf("sweep %s: %w", job.ID, err)
	}
	fmt.Fprintln(stdout, summaryOf(job).String(*lang))
	return nil
}

// setSweepState is --pause and --cancel.
func setSweepState(ctx context.Context, store *redisstore.Store, id, state string, from []string, stdout io.Writer) error {
	job, err := store.SetSweepState(ctx, id, state, "", from, time.Now())
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if job.State != state {
		return fmt.Errorf("sweep %s is %s, not %s", id, job.State, strings.Join(from, " or "))
	}
	fmt.Fprintf(stdout, "sweep %s %s\n", id, state)
	return nil
}

// follow shows the job's progress until it is no longer running (done,
// failed, cancelled or paused) or ctx ends.
func follow(ctx context.Context, store *redisstore.Store, id string, bar *progressBar, tick time.Duration) (sweep.Job, error) {
	if tick <= 0 {
		tick = 500 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		job, err := store.LoadSweep(ctx, id)
		if err != nil {
			return job, err
		}
		bar.show(job, time.Now())
		if job.State != sweep.StateRunning {
			bar.end()
			return job, nil
		}
		select {
		case <-ctx.Done():
			bar.end()
			return job, ctx.Err()
		case <-t.C:
		}
	}
}

// writeSweepReports writes the job's candidates, with their actions now,
// to the CSV and JSON lines reports asked for, one candidate at a time.
func writeSweepReports(ctx context.Context, store *redisstore.Store, id, csvPath, jsonlPath, lang string) error {
	if csvPath == "" && jsonlPath == "" {
		return nil
	}
	var outs []*pendingFile
	defer func() {
		for _, o := range outs {
			o.abort()
		}
	}()
	var csvw *sweep.CSVWriter
	if csvPath != "" {
		o, err := createPending(csvPath)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		outs = append(outs, o)
		if csvw, err = sweep.NewCSVWriter(o.f, lang); err != nil {
			return err
		}
	}
	var jsonl io.Writer
	if jsonlPath != "" {
		o, err := createPending(jsonlPath)
		if err != nil {
			return fmt.Errorf("jsonl: %w", err)
		}
		outs = append(outs, o)
		jsonl = o.f
	}
	err := store.Findings(ctx, id, func(f sweep.Finding) error {
		if csvw != nil {
			if err := csvw.Write(f); err != nil {
				return err
			}
		}
		if jsonl != nil {
			return sweep.WriteJSONL(jsonl, []sweep.Finding{f})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if csvw != nil {
		if err := csvw.Flush(); err != nil {
			return err
		}
	}
	for _, o := range outs {
		if err := o.commit(); err != nil {
			return err
		}
	}
	outs = nil
	return nil
}

// summaryOf is the summary line's counts of a job.
func summaryOf(j sweep.Job) sweep.Summary {
	c := j.Counts
	return sweep.Summary{
		Scanned: int(c.Scanned), Candidates: int(c.Candidates), Notified: int(c.Notified),
		NoConversation: int(c.NoConversation), BothInUse: int(c.BothInUse), Failed: int(c.Failed),
		Completed: int(c.Completed), Open: int(c.Open()),
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// progressBar draws a job's progress on a terminal (one line redrawn) or,
// elsewhere, as a line every 5 seconds.
type progressBar struct {
	w        io.Writer
	tty      bool
	last     time.Time
	start    time.Time
	startAt  int64 // users scanned when the bar started
	drawn    bool
	lastLine string
}

func newProgressBar(w io.Writer, tty bool) *progressBar {
	return &progressBar{w: w, tty: tty, startAt: -1}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// show draws the job as it is at now.
func (p *progressBar) show(j sweep.Job, now time.Time) {
	if p.startAt < 0 {
		p.start, p.startAt = now, j.Counts.Scanned
	}
	line := progressLine(j, now.Sub(p.start), j.Counts.Scanned-p.startAt)
	switch {
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
	case line != p.lastLine && (now.Sub(p.last) >= 5*time.Second || j.State != sweep.StateRunning):
		fmt.Fprintln(p.w, line)
		p.last = now
	}
	p.lastLine = line
}

// end finishes the bar's line.
func (p *progressBar) end() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}

// progressLine is one line of progress: a bar of the users read among
// those listed (the total is known once the listing is over), the counts,
// and the time left at the pace so far.
func progressLine(j sweep.Job, elapsed time.Duration, scannedSince int64) string {
	c := j.Counts
	const width = 20
	total := c.Listed
	frac := 0.0
	if total > 0 {
		frac = float64(c.Scanned+c.Unreadable) / float64(total)
	}
	if !j.Listed {
		frac = min(frac, 0.99)
	}
	filled := int(frac * width)
	eta := "?"
	if j.Listed && scannedSince > 0 && elapsed > 0 {
		left := total - c.Scanned - c.Unreadable
		rate := float64(scannedSince) / elapsed.Seconds()
		eta = (time.Duration(float64(left)/rate) * time.Second).Round(time.Second).String()
		if left <= 0 {
			eta = "0s"
		}
	}
	listed := fmt.Sprintf("%d", total)
	if !j.Listed {
		listed += "+"
	}
	line := fmt.Sprintf("[%s%s] %3.0f%% %s: %d/%s users, %d candidates, %d cards sent, Graph %d requests (%d throttled), ETA %s",
		strings.Repeat("#", filled), strings.Repeat("-", width-filled), frac*100, j.State,
		c.Scanned, listed, c.Candidates, c.Notified, c.GraphRequests, c.GraphThrottled, eta)
	if j.Spec.Notify && j.Pending > 0 && j.Listed && j.Backlog == 0 && c.Scanned+c.Unreadable >= total {
		line += fmt.Sprintf(", %d cards waiting for the bot's replicas", j.Pending)
	}
	return line
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
