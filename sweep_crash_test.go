package main

import (
	"context"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
	"github.com/smartswap/mfabot/sweep"
)

// countingNotifier stands in for the bot's card: it marks the card as the
// bot does, and counts the cards that went out per user.
type countingNotifier struct {
	mu   sync.Mutex
	sent map[string]int
}

func (n *countingNotifier) Notify(ctx context.Context, nt sweep.Notice, mark func(context.Context) (bool, error)) (string, error) {
	first, err := mark(ctx)
	if err != nil || !first {
		return sweep.ActionNotified, err
	}
	n.mu.Lock()
	n.sent[nt.Finding.User.ID]++
	n.mu.Unlock()
	return sweep.ActionNotified, nil
}

// crashingDirectory blocks one batch read until its worker dies.
type crashingDirectory struct {
	sweep.Directory
	cancel func()
	once   sync.Once
}

func (d *crashingDirectory) Registrations(ctx context.Context, ids []string) (map[string]sweep.Registrations, error) {
	crashed := false
	d.once.Do(func() { crashed = true })
	if crashed {
		d.cancel() // the worker dies holding the batch it claimed
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return d.Directory.Registrations(ctx, ids)
}

// TestSweepThreeWorkersOneCrashes: three workers share one notifying job
// over the real Graph client and the sandbox (Graph-like throttling on);
// one dies holding a batch it claimed, another dies holding a card it
// claimed. The leases give both back: every user is read once, every
// candidate gets exactly one card, and the counts add up.
func TestSweepThreeWorkersOneCrashes(t *testing.T) {
	const population, every = 600, 10
	sb := sandbox.New(sandbox.Options{Population: population, TwoPhonesEvery: every,
		Throttle: sandbox.Throttle{RequestsPerSecond: 400, Burst: 40}})
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	client, err := graph.NewClient(graph.WithBaseURL(sb.GraphBaseURL(srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	store := redisstore.New(redistest.Client(t), redisstore.WithPrefix(redistest.Prefix(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	job, err := store.CreateSweep(ctx, sweep.Spec{Notify: true, Tenant: convTenant, By: "test"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	n := &countingNotifier{sent: map[string]int{}}
	var cardCrashes atomic.Int32
	var wg sync.WaitGroup
	start := func(name string, dir sweep.Directory, notifier sweep.Notifier, wctx context.Context) {
		w := sweep.NewWorker(sweep.WorkerOptions{Store: store, Directory: dir, Declines: store, Notifier: notifier,
			Owner: name, Tick: 10 * time.Millisecond, Lease: 300 * time.Millisecond, Concurrency: 2, GraphRate: 1000})
		wg.Go(func() { w.Run(wctx) })
	}
	dir := app.NewSweepDirectory(client, "")
	// Worker a dies reading a batch; worker b dies sending a card (before
	// its mark, so the card did not go out); c stays.
	actx, acancel := context.WithCancel(ctx)
	start("a", &crashingDirectory{Directory: dir, cancel: acancel}, n, actx)
	bctx, bcancel := context.WithCancel(ctx)
	start("b", dir, notifierFunc(func(ctx context.Context, nt sweep.Notice, mark func(context.Context) (bool, error)) (string, error) {
		if cardCrashes.Add(1) == 1 {
			bcancel() // b dies holding the card it claimed
			<-ctx.Done()
			return "", ctx.Err()
		}
		return n.Notify(ctx, nt, mark)
	}), bctx)
	start("c", dir, n, ctx)

	for {
		j, err := store.LoadSweep(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != sweep.StateRunning {
			job = j
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the job did not finish: %+v", j)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()

	if job.State != sweep.StateDone {
		t.Fatalf("job %+v", job)
	}
	members, candidates := 0, 0
	for i := range population {
		u, _ := sb.SyntheticUser(i)
		if u.Disabled || u.Guest {
			continue
		}
		members++
		if i%every == 1 {
			candidates++
			if got := n.sent[u.ID]; got != 1 {
				t.Errorf("candidate %s got %d cards, want 1", u.ID, got)
			}
		}
	}
	if len(n.sent) != candidates {
		t.Errorf("%d users got cards, want the %d candidates", len(n.sent), candidates)
	}
	c := job.Counts
	if c.Listed != int64(members) || c.Scanned != int64(members) || c.Candidates != int64(candidates) || c.Notified != int64(candidates) {
		t.Errorf("counts %+v, want %d listed and scanned, %d candidates notified", c, members, candidates)
	}
	if cardCrashes.Load() == 0 {
		t.Error("worker b never crashed: the test did not test a card's lease")
	}
	if st := sb.Stats(); st.BatchThrottled == 0 && st.Throttled == 0 {
		t.Logf("the sandbox throttled nothing (%+v)", st)
	}
}

// notifierFunc is a sweep.Notifier of a function.
type notifierFunc func(ctx context.Context, nt sweep.Notice, mark func(context.Context) (bool, error)) (string, error)

func (f notifierFunc) Notify(ctx context.Context, nt sweep.Notice, mark func(context.Context) (bool, error)) (string, error) {
	return f(ctx, nt, mark)
}
