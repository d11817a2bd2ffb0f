//go:build unix

package e2e

// The bot under test: built once per test binary (TestMain removes the
// build), started in local mode on a free port and waited for until ready,
// its output kept for reports and read for errors.

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// botEnvRemoved are variables stripped from the bot's environment so that it
// always starts in local mode with embedded Redis and default settings,
// whatever the developer's shell holds. Options.BotEnv can set them again.
var botEnvRemoved = []string{
	"PORT", "MicrosoftAppId", "MicrosoftAppPassword", "MicrosoftAppTenantId", "MicrosoftAppType",
	"REDIS_URL", "ALLOWED_TENANTS", "ALLOWED_SERVICE_URL_HOSTS", "STEPS_FILE",
	"IDENTITY_ENDPOINT", "IDENTITY_HEADER",
	"ToBotFromChannelOpenIdMetadataUrl", "ToBotFromChannelTokenIssuer",
	"ToChannelFromBotLoginUrl", "ToChannelFromBotOAuthScope", "LOG_LEVEL",
	"SANDBOX_PASSKEY", "SANDBOX_PUSH_ONLY", "CARD_ACTIONS",
}

var botBuild struct {
	once sync.Once
	dir  string // temporary directory, removed by TestMain
	bin  string
	err  error
}

// TestMain removes the bot binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if botBuild.dir != "" {
		os.RemoveAll(botBuild.dir)
	}
	os.Exit(code)
}

// botBinary returns the bot executable: $MFABOT_E2E_BOT_BIN, or the
// repository built once per test binary with `go build -o <tmp>/bot .`.
func botBinary(t testing.TB, root string) string {
	t.Helper()
	if p := os.Getenv("MFABOT_E2E_BOT_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatalf("MFABOT_E2E_BOT_BIN: %v", err)
		}
		return abs
	}
	botBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "mfabot-e2e-build-")
		if err != nil {
			botBuild.err = err
			return
		}
		botBuild.dir = dir
		bin := filepath.Join(dir, "bot")
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			botBuild.err = fmt.Errorf("building the bot: `go build -o %s .` in %s: %v\n%s", bin, root, err, out)
			return
		}
		botBuild.bin = bin
		t.Logf("built the bot in %v", time.Since(start).Round(time.Millisecond))
	})
	if botBuild.err != nil {
		t.Fatal(botBuild.err)
	}
	return botBuild.bin
}

// Bot is the bot process under test.
type Bot struct {
	Port int
	URL  string // http://127.0.0.1:Port
	proc *process
}

// OutputMark returns a mark for OutputSince.
func (b *Bot) OutputMark() int { return b.proc.out.mark() }

// OutputSince returns the bot's stdout and stderr lines written after mark.
func (b *Bot) OutputSince(mark int) []string { return b.proc.out.since(mark) }

// ErrorLogLines returns the bot's log lines at level ERROR written after
// mark (the bot logs JSON lines through log/slog).
func (b *Bot) ErrorLogLines(mark int) []string {
	var out []string
	for _, l := range b.OutputSince(mark) {
		if strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return out
}

// startBot starts bin in local mode on a free port and waits until
// GET /readyz answers 200.
func startBot(t testing.TB, root, bin string, extraEnv map[string]string) *Bot {
	t.Helper()
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("finding a free port for the bot: %v", err)
		}
		// The sandbox's users start with push only (the procedure's short
		// path) unless a test asks for the whole phone (SANDBOX_PASSKEY).
		// Cards are pressed as Action.Execute unless a test asks for the
		// submit style (CARD_ACTIONS).
		set := map[string]string{"PORT": strconv.Itoa(port), "LOG_LEVEL": "debug", "SANDBOX_PASSKEY": "false", "CARD_ACTIONS": "execute"}
		for k, v := range extraEnv {
			set[k] = v
		}
		p, err := startProcess("bot", root, environ(os.Environ(), botEnvRemoved, set), nil, bin)
		if err != nil {
			t.Fatal(err)
		}
		b := &Bot{Port: port, URL: "http://127.0.0.1:" + strconv.Itoa(port), proc: p}
		err = waitReady(b)
		if err == nil {
			return b
		}
		p.stop(stopGrace)
		lastErr = fmt.Errorf("%w\nbot output:\n%s", err, indent(p.out.tail(60)))
		// Someone may have taken the port between freePort and the bot's
		// listen: try another one. Anything else is the bot's failure.
		if !strings.Contains(strings.Join(p.out.tail(60), "\n"), "address already in use") {
			break
		}
	}
	t.Fatalf("the bot did not become ready: %v", lastErr)
	return nil
}

// waitReady polls GET /readyz until 200, the bot's exit or startTimeout.
func waitReady(b *Bot) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startTimeout)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		if b.proc.exited() {
			return fmt.Errorf("the bot exited before it was ready (%s)", b.proc.status())
		}
		resp, err := client.Get(b.URL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("GET /readyz: %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("GET %s/readyz not 200 after %v (last: %s)", b.URL, startTimeout, last)
}

// assertNoBotErrorLogs fails the test if the bot logged at level ERROR since mark.
func assertNoBotErrorLogs(t *testing.T, env *Env, mark int) {
	t.Helper()
	if lines := env.Bot.ErrorLogLines(mark); len(lines) > 0 {
		t.Errorf("the bot logged errors:\n%s", indent(lines))
	}
}
