//go:build unix

package e2e

// The harness: it builds and starts the bot, starts a Microsoft 365 Agents
// Playground wired to it, and plays the user through the Playground's HTTP
// API while reading what the bot sends from the Playground's WebSocket
// streams. It knows nothing about our cards or texts; the tests do.
//
// This file holds Start, which sets up the Env of one test (a bot and a
// Playground wired to it), and its Options. doc.go lists the harness's
// other files.

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

const (
	// startTimeout bounds the bot's readiness and the Playground's start.
	startTimeout = 60 * time.Second
	// stopGrace is how long a process gets between SIGTERM and SIGKILL.
	// The bot finishes turns in flight for up to 20 s on SIGTERM, but no
	// turn should be in flight when a test ends.
	stopGrace = 10 * time.Second
	// requestTimeout bounds one HTTP call to the Playground. An invoke waits
	// for the bot's answer, which Teams bounds at 15 s.
	requestTimeout = 30 * time.Second
)

// defaultTimeout is how long WaitFor waits by default.
func defaultTimeout() time.Duration {
	if s := os.Getenv("MFABOT_E2E_TIMEOUT"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d
		}
	}
	return 20 * time.Second
}

// Options changes how Start sets things up. The zero value is the default.
type Options struct {
	// BotEnv adds or overrides variables of the bot's environment (the
	// harness sets PORT, LOG_LEVEL=debug, SANDBOX_PASSKEY=false and
	// CARD_ACTIONS=execute and removes the bot's other configuration
	// variables, see botEnvRemoved). {"CARD_ACTIONS": "submit"} gives cards
	// with Action.Submit buttons, which Chat.Press and swapFlow press too.
	BotEnv map[string]string
	// PlaygroundEnv adds or overrides variables of the Playground's
	// environment, e.g. TZ (default UTC). Activities are en-US whatever LANG
	// says; see locale_test.go for the ja-JP shim.
	PlaygroundEnv map[string]string
	// AllowErrors stops the harness from failing the test at the end when
	// the connector refused a call of the bot (status >= 400) or the bot
	// answered an activity with a status >= 500.
	AllowErrors bool
}

// Env is one bot and one Playground wired to it, for one test.
type Env struct {
	t          testing.TB
	Layout     layout
	Config     PlaygroundConfig
	Bot        *Bot
	Playground *Playground
	Timeout    time.Duration // WaitFor's default (MFABOT_E2E_TIMEOUT, 20s)
	opts       Options
	http       *http.Client
	s          *streams
	started    time.Time
}

// Start builds the bot if needed, starts it and a Playground wired to it,
// connects to the Playground's streams and registers everything's cleanup.
// When the test fails, the cleanup prints the bot's output, the Playground's
// output and log file tail, the Playground's traffic and the chat messages.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	started := time.Now()
	lay := findLayout(t)
	if _, err := os.Stat(lay.CLI); err != nil {
		t.Fatalf("the Agents Playground is not installed (%v): %s", err, installHint)
	}
	cfg := loadConfig(t, lay.Config)
	e := &Env{
		t: t, Layout: lay, Config: cfg, Timeout: defaultTimeout(), opts: opts,
		http: &http.Client{Timeout: requestTimeout}, s: newStreams(), started: started,
	}
	// The Playground's working directory (its log file) must outlive the
	// report, so its removal is registered before the report.
	work := t.TempDir()
	// Registered early, so it runs late: after the processes have stopped
	// and their output is complete.
	t.Cleanup(e.finish)

	bin := botBinary(t, lay.Root)
	e.Bot = startBot(t, lay.Root, bin, opts.BotEnv)
	t.Cleanup(func() { e.Bot.proc.stop(stopGrace) })

	e.Playground = startPlayground(t, lay, work, e.Bot.URL, opts.PlaygroundEnv)
	t.Cleanup(func() { e.Playground.proc.stop(stopGrace) })

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	ws := "ws://127.0.0.1:" + strconv.Itoa(e.Playground.Port)
	for _, st := range []struct {
		path string
		add  func([]byte) error
	}{
		{"/_ws_conversation/v1/conversations/stream", e.s.addConversationFrame},
		{"/_ws/log/stream", e.s.addLogFrame},
	} {
		ready := make(chan error, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.s.read(ctx, ws+st.path, st.add, ready)
		}()
		if err := <-ready; err != nil {
			t.Fatalf("connecting to the Playground's stream %s: %v", st.path, err)
		}
	}
	t.Logf("bot on %s, Playground on %s (up in %v)", e.Bot.URL, e.Playground.URL, time.Since(started).Round(time.Millisecond))
	return e
}
