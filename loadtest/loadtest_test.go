package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smartswap/mfabot/graph/sandbox"
)

// testWriter sends the tool's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSmoke runs the tool's core against the real bot binary (built from
// this module, or LOADTEST_BOT_BIN) with its own redis-server: a few users,
// a couple of hundred turns. It checks correctness only: no errors, and
// every user went through the whole procedure at least once. Speed is the
// tool's report's business, never a test's.
func TestSmoke(t *testing.T) {
	for _, mode := range []string{"execute", "submit"} {
		t.Run(mode, func(t *testing.T) { smoke(t, mode) })
	}
}

// smoke is TestSmoke with the bot's cards in one style (CARD_ACTIONS): in
// submit mode every press is a message whose answer is an update in place.
func smoke(t *testing.T, mode string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const users, turns = 4, 200
	rep, err := Run(ctx, Config{
		Users:    []int{users},
		Turns:    turns,
		BotBin:   os.Getenv("LOADTEST_BOT_BIN"),
		BotEnv:   []string{"CARD_ACTIONS=" + mode},
		Timeout:  4 * time.Minute,
		Progress: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Levels) != 1 {
		t.Fatalf("%d levels in the report, want 1", len(rep.Levels))
	}
	lv := rep.Levels[0]
	for _, s := range lv.ErrorSamples {
		t.Log(s)
	}
	for _, l := range lv.BotLogLines {
		t.Log("bot:", l)
	}
	if lv.Errors != 0 {
		t.Errorf("%d errors (%v)", lv.Errors, lv.ErrorKinds)
	}
	if lv.AllTurns != turns {
		t.Errorf("%d turns run, want %d", lv.AllTurns, turns)
	}
	if lv.UsersCompleted != users {
		t.Errorf("%d of %d users completed the procedure at least once (%d procedures in all)", lv.UsersCompleted, users, lv.Procedures)
	}
	if lv.BotLogError != 0 {
		t.Errorf("the bot logged %d errors", lv.BotLogError)
	}
	if lv.TokenRequests < 1 {
		t.Errorf("the bot never fetched its outbound token from the stand-in")
	}
	if !strings.Contains(lv.BotExit, "stopped cleanly") {
		t.Errorf("bot exit: %s", lv.BotExit)
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := summarize(ds)
	if l.N != 100 || l.P50 != 50 || l.P95 != 95 || l.P99 != 99 || l.Max != 100 || l.Mean != 50.5 {
		t.Errorf("summarize 1..100 ms = %+v", l)
	}
	if got := summarize(nil); got != (Latency{}) {
		t.Errorf("summarize(nil) = %+v", got)
	}
}

func TestParseCard(t *testing.T) {
	raw := []byte(`{"type":"AdaptiveCard","body":[{"type":"TextBlock","id":"card:step-cautions","text":"x"}],
		"actions":[{"type":"Action.Execute","verb":"next","data":{"verb":"next","dialog":"d","step":"cautions","nonce":"n"}},
		{"type":"Action.OpenUrl","url":"https://example.com"}]}`)
	c, err := parseCard(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.id != "step-cautions" {
		t.Errorf("id %q", c.id)
	}
	if d := string(c.actions["next"]); !strings.Contains(d, `"nonce":"n"`) {
		t.Errorf("next data %s", d)
	}
	if len(c.actions) != 1 {
		t.Errorf("actions %v", c.actions)
	}
}

// TestSweepSmoke runs the sweep's measurement small, with three `mfabot
// sweep` processes sharing one job, and kills one of them (SIGKILL) once a
// fifth of the users are read: the other two finish the job once its
// leases run out, and every enabled member is read once (the job's counts
// are exact), whatever the dead process held.
func TestSweepSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	e := &env{cfg: Config{BotBin: os.Getenv("LOADTEST_BOT_BIN"), Progress: testWriter{t}}, dir: dir}
	bin, err := e.binary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := startRedis(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.stop()
	const users, every = 3000, 10
	cfg := SweepConfig{Users: users, TwoPhonesEvery: every, Replicas: []int{3}, ThrottleRPS: 2000, ThrottleBurst: 200,
		GraphRate: 600, KillOne: true, Env: []string{"SWEEP_LEASE=2s"}}
	runs, err := runSweepLoad(ctx, cfg, bin.Path, rs.addr)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	printSweep(&out, cfg, runs)
	t.Log("\n" + out.String())

	sb := sandbox.New(sandbox.Options{Population: users, TwoPhonesEvery: every})
	members, candidates := 0, 0
	for i := range users {
		if u, _ := sb.SyntheticUser(i); !u.Disabled && !u.Guest {
			members++
			if i%every == 1 {
				candidates++
			}
		}
	}
	r := runs[0]
	if r.Killed != 3 {
		t.Errorf("replica %d was killed, want the third (the kill came too late to test anything?)", r.Killed)
	}
	if r.Scanned != int64(members) || r.Candidates != int64(candidates) {
		t.Errorf("%d users read and %d candidates, want %d and %d: the dead replica's work was lost or done twice",
			r.Scanned, r.Candidates, members, candidates)
	}
	if len(r.PeakRSSMB) != 2 {
		t.Errorf("%d replicas finished, want the 2 that were not killed", len(r.PeakRSSMB))
	}
}
