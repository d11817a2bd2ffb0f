//go:build unix

package e2e

// The Agents Playground process: started wired to the bot, on a free port
// of its choosing, kept on loopback by loopback-guard.cjs.
//
// Facts about the Playground 0.2.28 the harness relies on (read from its
// bundled source and checked against a stand-in bot):
//
//   - cli.js -e <bot endpoint> -c msteams --dt -p 0: -p 0 makes it take a free
//     port, and it prints "Listening on N" on stdout. It waits for the bot's
//     endpoint to accept connections before it calls it. Log file:
//     ./devTools/m365agentsplayground.log under its working directory.
//   - It sends activities without an Authorization header, with serviceUrl
//     http://localhost:N/_connector (its own connector).
//   - User side (what its web page calls):
//     POST /_debug/conversation/{cid}/installation           -> 200, then
//     installationUpdate(add) and conversationUpdate(membersAdded) to the bot
//     POST /_conversation/v1/conversations/{cid}/messages    -> 200 {"messageId",...}
//     POST /_conversation/v1/invoke (adaptiveCard/action)    -> 200 {"type","value"}
//     (the bot's invoke answer less statusCode; 502 when the bot failed)
//     POST /_conversation/v1/submit (Action.Submit)          -> 200 at once
//   - WebSocket /_ws_conversation/v1/conversations/stream: every message the
//     bot creates or updates: {"action":"createMessage"|"updateMessage"|
//     "typing","actionConversationId","message":{"messageId","timestamp",
//     "from":{"id"},"text","textFormat","attachments":[{"contentType",
//     "content"}],"attachmentLayout",...}}. The user's own messages are not
//     echoed. Frames sent while no client is connected are buffered.
//   - WebSocket /_ws/log/stream: {"logAction":"appendLog","log":{...}} for
//     every HTTP exchange in both directions (activity to the bot with the
//     bot's status and body; bot's call to the connector with the
//     connector's status and body) and the Playground's own notices.

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// playgroundEnvKept are the only variables of the test's environment the
// Playground sees; everything it reads (proxies, AUTH_*, M365_AGENTS_*,
// TEAMSAPPTESTER_*, NODE_OPTIONS, ...) is left out on purpose.
var playgroundEnvKept = []string{"PATH", "HOME", "TMPDIR"}

// Playground is the Agents Playground process.
type Playground struct {
	Port    int
	URL     string // http://127.0.0.1:Port
	WorkDir string // its working directory (a temporary directory)
	LogPath string // WorkDir/devTools/m365agentsplayground.log
	proc    *process
}

var listeningRE = regexp.MustCompile(`^Listening on (\d+)\s*$`)

// startPlayground starts the Playground for botURL in the directory work and
// waits until it answers GET /_debug/ping.
func startPlayground(t testing.TB, lay layout, work, botURL string, extraEnv map[string]string) *Playground {
	t.Helper()
	node := requireNode(t, lay, "the Agents Playground")
	logPath := filepath.Join(work, "devTools", "m365agentsplayground.log")
	// It appends to its log file and silently drops lines when the
	// directory is missing.
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	set := map[string]string{
		"TEAMSAPPTESTER_BROWSER":             "none", // else it dies running xdg-open
		"APPLICATION_INSIGHTS_NO_STATSBEAT":  "true", // else it calls Azure even with --dt
		"M365_AGENTS_PLAYGROUND_CONFIG_PATH": lay.Config,
		"M365_AGENTS_PLAYGROUND_LOGFILE":     logPath,
		"LANG":                               "C.UTF-8", // the CLI's own language; activities are en-US whatever LANG says
		"TZ":                                 "UTC",     // activity localTimezone UTC
		"NO_PROXY":                           "*",
	}
	for k, v := range extraEnv {
		set[k] = v
	}
	var env []string
	for _, k := range playgroundEnvKept {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = environ(env, nil, set)

	portCh := make(chan int, 1)
	onLine := func(line string) {
		if m := listeningRE.FindStringSubmatch(line); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil {
				select {
				case portCh <- n:
				default:
				}
			}
		}
	}
	p, err := startProcess("playground", work, env, onLine, node,
		"--require", lay.Guard, lay.CLI,
		"--app-endpoint", botURL+"/api/messages",
		"--channel-id", "msteams",
		"--disable-telemetry",
		"--port", "0") // 0: a free port of its choosing, printed as "Listening on N"
	if err != nil {
		t.Fatal(err)
	}
	pg := &Playground{WorkDir: work, LogPath: logPath, proc: p}
	fail := func(format string, args ...any) {
		p.stop(stopGrace)
		t.Fatalf("the Playground did not start: %s\nits output:\n%s\nits log file %s:\n%s",
			fmt.Sprintf(format, args...), indent(p.out.tail(60)), pg.LogPath, indent(fileTail(pg.LogPath, 40, 400)))
	}
	select {
	case pg.Port = <-portCh:
	case <-p.done:
		fail("it exited (%s)", p.status())
	case <-time.After(startTimeout):
		fail("no \"Listening on N\" on its stdout after %v", startTimeout)
	}
	pg.URL = "http://127.0.0.1:" + strconv.Itoa(pg.Port)
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := client.Get(pg.URL + "/_debug/ping")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == "pong" {
				return pg
			}
		}
		if p.exited() {
			fail("it exited (%s)", p.status())
		}
		if time.Now().After(deadline) {
			fail("GET /_debug/ping does not answer pong after %v", startTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// GuardRefusals returns the Playground's attempts to leave loopback that
// loopback-guard.cjs refused.
func (p *Playground) GuardRefusals() []string {
	var out []string
	for _, l := range p.proc.out.since(0) {
		if strings.Contains(l, "[e2e loopback guard]") {
			out = append(out, l)
		}
	}
	return out
}
