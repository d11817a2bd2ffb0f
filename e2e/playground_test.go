//go:build unix

package e2e

// The harness: it builds and starts the bot, starts a Microsoft 365 Agents
// Playground wired to it, and plays the user through the Playground's HTTP
// API while reading what the bot sends from the Playground's WebSocket
// streams. It knows nothing about our cards or texts; the tests do.
//
// Facts about the Playground 0.2.28 it relies on (read from its bundled
// source and checked against a stand-in bot):
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
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

const (
	// modulePath identifies the repository root (its go.mod).
	modulePath = "github.com/smartswap/mfabot"
	// playgroundPkg is the Playground's directory under e2e/node_modules.
	playgroundPkg = "node_modules/@microsoft/m365agentsplayground"
	// configFile is the Playground's mock tenant, beside this file.
	configFile = ".m365agentsplayground.yml"
	// guardFile is preloaded into the Playground to keep it on loopback.
	guardFile = "loopback-guard.cjs"

	// startTimeout bounds the bot's readiness and the Playground's start.
	startTimeout = 60 * time.Second
	// stopGrace is how long a process gets between SIGTERM and SIGKILL.
	// The bot finishes turns in flight for up to 20 s on SIGTERM, but no
	// turn should be in flight when a test ends.
	stopGrace = 10 * time.Second
	// requestTimeout bounds one HTTP call to the Playground. An invoke waits
	// for the bot's answer, which Teams bounds at 15 s.
	requestTimeout = 30 * time.Second
	// turnFailedGrace is how long WaitFor still waits after the bot answered
	// an activity with a 5xx: a failing turn may have sent a message first.
	turnFailedGrace = 2 * time.Second
	// maxOutputLines is how many lines of a child's output are kept.
	maxOutputLines = 20000

	// installHint tells how to install what the tests need.
	installHint = "run the repository's test command ./scripts/test.sh (it runs `npm ci --prefix e2e`), " +
		"or `npm ci --prefix e2e` from the repository root, then run the tests again"
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
}

// playgroundEnvKept are the only variables of the test's environment the
// Playground sees; everything it reads (proxies, AUTH_*, M365_AGENTS_*,
// TEAMSAPPTESTER_*, NODE_OPTIONS, ...) is left out on purpose.
var playgroundEnvKept = []string{"PATH", "HOME", "TMPDIR"}

// ---------------------------------------------------------------------------
// Configuration and paths

// PlaygroundConfig is .m365agentsplayground.yml (Playground config schema
// 0.1.1). The harness reads it as JSON, so keep the file in JSON.
type PlaygroundConfig struct {
	Version  string `json:"version"`
	TenantID string `json:"tenantId"`
	Bot      struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"bot"`
	CurrentUser  PlaygroundUser   `json:"currentUser"`
	Users        []PlaygroundUser `json:"users"`
	PersonalChat struct {
		ID string `json:"id"`
	} `json:"personalChat"`
	GroupChat struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"groupChat"`
	Team struct {
		ID         string `json:"id"` // also the id of the team's General channel
		Name       string `json:"name"`
		AADGroupID string `json:"aadGroupId"`
		Channels   []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"channels"`
	} `json:"team"`
}

// PlaygroundUser is a user of the mock tenant.
type PlaygroundUser struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	UserPrincipleName string `json:"userPrincipleName"` // sic: the schema's spelling
	AADObjectID       string `json:"aadObjectId"`
	GivenName         string `json:"givenName"`
	Surname           string `json:"surname"`
	Email             string `json:"email"`
}

// layout is where things are on disk.
type layout struct {
	Root   string // repository root (go.mod of modulePath)
	E2E    string // Root/e2e
	CLI    string // the Playground's cli.js
	Guard  string // loopback-guard.cjs
	Config string // .m365agentsplayground.yml
}

// findLayout locates the repository root by walking up from the working
// directory (go test runs a package's tests in the package's directory).
func findLayout() (layout, error) {
	dir, err := os.Getwd()
	if err != nil {
		return layout{}, err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && goModModule(data) == modulePath {
			e2e := filepath.Join(dir, "e2e")
			return layout{
				Root:   dir,
				E2E:    e2e,
				CLI:    filepath.Join(e2e, playgroundPkg, "cli.js"),
				Guard:  filepath.Join(e2e, guardFile),
				Config: filepath.Join(e2e, configFile),
			}, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return layout{}, fmt.Errorf("no go.mod of module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// goModModule returns the module path declared in a go.mod.
func goModModule(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// loadConfig reads the Playground configuration.
func loadConfig(path string) (PlaygroundConfig, error) {
	var c PlaygroundConfig
	data, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%s must stay JSON (valid YAML) for the harness: %w", path, err)
	}
	return c, nil
}

// defaultTimeout is how long WaitFor waits by default.
func defaultTimeout() time.Duration {
	if s := os.Getenv("MFABOT_E2E_TIMEOUT"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d
		}
	}
	return 20 * time.Second
}

// ---------------------------------------------------------------------------
// Building the bot

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

// ---------------------------------------------------------------------------
// Child processes

// process is a child process whose combined output is kept for reports.
// It runs in its own process group, which stop signals as a whole.
type process struct {
	name    string
	cmd     *exec.Cmd
	out     *outputLog
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
}

func startProcess(name, dir string, env []string, onLine func(string), bin string, args ...string) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &outputLog{onLine: onLine}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = 5 * time.Second // don't hang on a grandchild holding the pipes
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// status describes how the process ended, or that it runs.
func (p *process) status() string {
	if !p.exited() {
		return fmt.Sprintf("pid %d running", p.cmd.Process.Pid)
	}
	if p.waitErr != nil {
		return fmt.Sprintf("pid %d exited: %v", p.cmd.Process.Pid, p.waitErr)
	}
	return fmt.Sprintf("pid %d exited with status 0", p.cmd.Process.Pid)
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	pgid := p.cmd.Process.Pid // Setpgid: the group id is the child's pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// outputLog collects a child's output line by line.
type outputLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	dropped int // lines dropped from the front to bound memory
	onLine  func(string)
}

func (o *outputLog) Write(b []byte) (int, error) {
	o.mu.Lock()
	o.partial = append(o.partial, b...)
	var complete []string
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(o.partial[:i]), "\r")
		o.partial = o.partial[i+1:]
		o.lines = append(o.lines, line)
		complete = append(complete, line)
	}
	if n := len(o.lines) - maxOutputLines; n > 0 {
		o.lines = append([]string(nil), o.lines[n:]...)
		o.dropped += n
	}
	o.mu.Unlock()
	if o.onLine != nil {
		for _, l := range complete {
			o.onLine(l)
		}
	}
	return len(b), nil
}

// mark is the number of lines written so far, for since.
func (o *outputLog) mark() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped + len(o.lines)
}

// since returns the lines written after mark (and an unfinished last line).
func (o *outputLog) since(mark int) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := max(mark-o.dropped, 0)
	var out []string
	if i < len(o.lines) {
		out = append(out, o.lines[i:]...)
	}
	if len(o.partial) > 0 {
		out = append(out, string(o.partial))
	}
	return out
}

// tail returns the last n lines.
func (o *outputLog) tail(n int) []string {
	return lastN(o.since(0), n)
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// environ returns base without the variables named in drop, with set added
// (set wins).
func environ(base []string, drop []string, set map[string]string) []string {
	dropped := map[string]bool{}
	for _, k := range drop {
		dropped[k] = true
	}
	for k := range set {
		dropped[k] = true
	}
	var env []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !dropped[k] {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

// ---------------------------------------------------------------------------
// The bot

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
		set := map[string]string{"PORT": strconv.Itoa(port), "LOG_LEVEL": "debug"}
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

// ---------------------------------------------------------------------------
// The Playground

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
	node := os.Getenv("MFABOT_E2E_NODE")
	if node == "" {
		node = "node"
	}
	if _, err := exec.LookPath(node); err != nil {
		t.Fatalf("Node.js is needed for the Agents Playground: %v (install Node.js 20+, e.g. `apt-get install nodejs npm`, then %s)", err, installHint)
	}
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

// ---------------------------------------------------------------------------
// What the Playground streams

// Message is one chat message the bot created or updated, as the Playground's
// conversation stream reports it.
type Message struct {
	Seq    int    // order of arrival on the stream, from 0
	Action string // "createMessage" or "updateMessage" ("typing" in Env.Events)
	// ConversationID is where it appeared: a chat id, a channel id, or a
	// channel thread "<channel id>;messageid=<root message id>".
	ConversationID string
	// PostConversationID is set when the message starts a new channel thread.
	PostConversationID string
	ID                 string // the Playground's message id (ms timestamp); replyToId for card actions
	Timestamp          time.Time
	FromID             string // the bot's id for bot messages
	Text               string
	TextFormat         string
	Attachments        []Attachment
	AttachmentLayout   string
	Raw                json.RawMessage // the whole stream frame
}

// Attachment is one attachment of a message.
type Attachment struct {
	ContentType string          `json:"contentType"`
	Content     json.RawMessage `json:"content"`
}

// ContentTypeAdaptiveCard is the content type of an Adaptive Card attachment.
const ContentTypeAdaptiveCard = "application/vnd.microsoft.card.adaptive"

// Cards returns the Adaptive Cards attached to the message.
func (m Message) Cards() []json.RawMessage {
	var cards []json.RawMessage
	for _, a := range m.Attachments {
		if strings.EqualFold(a.ContentType, ContentTypeAdaptiveCard) {
			cards = append(cards, a.Content)
		}
	}
	return cards
}

// Card returns the first Adaptive Card attached to the message, or nil.
func (m Message) Card() json.RawMessage {
	if c := m.Cards(); len(c) > 0 {
		return c[0]
	}
	return nil
}

// String summarises the message for failure reports.
func (m Message) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s in %s id=%s from=%s", m.Seq, m.Action, m.ConversationID, m.ID, m.FromID)
	if m.Text != "" {
		fmt.Fprintf(&b, " text=%q", truncate(m.Text, 200))
	}
	for _, a := range m.Attachments {
		fmt.Fprintf(&b, " [%s %s]", a.ContentType, truncate(string(a.Content), 300))
	}
	return b.String()
}

// LogEntry is one entry of the Playground's log stream.
type LogEntry struct {
	Seq            int    // order of arrival, from 0
	Type           string // "bot" (an HTTP exchange) or "text" (a notice)
	Level          string // for notices: "default", "warning", "error"
	ConversationID string
	ActivityName   string // activity type or invoke name, e.g. "message", "invoke"
	MessageID      string
	From, To       string // "Microsoft 365 Agents Playground" or "User Application" (the bot)
	DisplayText    string
	Timestamp      time.Time
	RequestBody    json.RawMessage
	ResponseStatus int
	ResponseBody   json.RawMessage
	Raw            json.RawMessage
}

const playgroundAppName = "User Application" // how the Playground's log names the bot

// ToBot reports whether the entry is an activity the Playground sent to the bot.
func (l LogEntry) ToBot() bool { return l.Type == "bot" && l.To == playgroundAppName }

// FromBot reports whether the entry is a call of the bot to the connector.
func (l LogEntry) FromBot() bool { return l.Type == "bot" && l.From == playgroundAppName }

// String summarises the entry for failure reports; bodies are cut at limit
// characters (0: whole).
func (l LogEntry) String(limit int) string {
	cut := func(b json.RawMessage) string {
		if limit > 0 {
			return truncate(string(b), limit)
		}
		return string(b)
	}
	at := l.Timestamp.Format("15:04:05.000")
	switch {
	case l.ToBot():
		return fmt.Sprintf("%s Playground -> bot  %s in %s: bot answered %d %s\n      request %s",
			at, l.ActivityName, l.ConversationID, l.ResponseStatus, cut(l.ResponseBody), cut(l.RequestBody))
	case l.FromBot():
		return fmt.Sprintf("%s bot -> connector %s in %s: connector answered %d %s\n      request %s",
			at, l.ActivityName, l.ConversationID, l.ResponseStatus, cut(l.ResponseBody), cut(l.RequestBody))
	default:
		return fmt.Sprintf("%s notice [%s] %s", at, l.Level, l.DisplayText)
	}
}

// streams holds what the two WebSockets delivered.
type streams struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever something arrives
	events  []Message     // conversation stream, typing included
	logs    []LogEntry
	errs    []error // stream failures
}

func newStreams() *streams { return &streams{changed: make(chan struct{})} }

// notifyLocked wakes the waiters; s.mu must be held.
func (s *streams) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *streams) addConversationFrame(data []byte) error {
	var f struct {
		Action         string `json:"action"`
		ConversationID string `json:"actionConversationId"`
		Message        struct {
			MessageID          string              `json:"messageId"`
			Timestamp          int64               `json:"timestamp"`
			From               struct{ ID string } `json:"from"`
			Text               string              `json:"text"`
			TextFormat         string              `json:"textFormat"`
			Attachments        []Attachment        `json:"attachments"`
			AttachmentLayout   string              `json:"attachmentLayout"`
			PostConversationID string              `json:"postConversationId"`
		} `json:"message"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("conversation stream: %w in %s", err, truncate(string(data), 500))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := Message{
		Seq:                len(s.events),
		Action:             f.Action,
		ConversationID:     f.ConversationID,
		PostConversationID: f.Message.PostConversationID,
		ID:                 f.Message.MessageID,
		FromID:             f.Message.From.ID,
		Text:               f.Message.Text,
		TextFormat:         f.Message.TextFormat,
		Attachments:        f.Message.Attachments,
		AttachmentLayout:   f.Message.AttachmentLayout,
		Raw:                append(json.RawMessage(nil), data...),
	}
	if f.Message.Timestamp != 0 {
		m.Timestamp = time.UnixMilli(f.Message.Timestamp)
	}
	s.events = append(s.events, m)
	s.notifyLocked()
	return nil
}

func (s *streams) addLogFrame(data []byte) error {
	var f struct {
		LogAction string `json:"logAction"`
		Log       struct {
			Type           string `json:"type"`
			Level          string `json:"level"`
			ConversationID string `json:"conversationId"`
			ActivityName   string `json:"activityName"`
			MessageID      string `json:"messageId"`
			From           string `json:"from"`
			To             string `json:"to"`
			DisplayText    string `json:"displayText"`
			Timestamp      int64  `json:"timestamp"`
			Request        struct {
				Body json.RawMessage `json:"body"`
			} `json:"request"`
			Response struct {
				StatusCode int             `json:"statusCode"`
				Body       json.RawMessage `json:"body"`
			} `json:"response"`
		} `json:"log"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("log stream: %w in %s", err, truncate(string(data), 500))
	}
	if f.LogAction != "appendLog" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := f.Log
	s.logs = append(s.logs, LogEntry{
		Seq:            len(s.logs),
		Type:           l.Type,
		Level:          l.Level,
		ConversationID: l.ConversationID,
		ActivityName:   l.ActivityName,
		MessageID:      l.MessageID,
		From:           l.From,
		To:             l.To,
		DisplayText:    l.DisplayText,
		Timestamp:      time.UnixMilli(l.Timestamp),
		RequestBody:    l.Request.Body,
		ResponseStatus: l.Response.StatusCode,
		ResponseBody:   l.Response.Body,
		Raw:            append(json.RawMessage(nil), data...),
	})
	s.notifyLocked()
	return nil
}

func (s *streams) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
	s.notifyLocked()
}

// snapshot returns copies of what arrived so far and the channel that is
// closed on the next arrival.
func (s *streams) snapshot() (events []Message, logs []LogEntry, errs []error, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.events...), append([]LogEntry(nil), s.logs...), append([]error(nil), s.errs...), s.changed
}

// read dials a stream and feeds its frames to add until ctx ends.
func (s *streams) read(ctx context.Context, wsURL string, add func([]byte) error, ready chan<- error) {
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, _, err := websocket.Dial(dialCtx, wsURL, nil)
	cancel()
	ready <- err
	if err != nil {
		return
	}
	defer conn.CloseNow()
	conn.SetReadLimit(64 << 20) // cards can be large; the default is 32 KiB
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.fail(fmt.Errorf("%s: %w", wsURL, err))
			}
			return
		}
		if err := add(data); err != nil {
			s.fail(err)
		}
	}
}

// ---------------------------------------------------------------------------
// The environment

// Options changes how Start sets things up. The zero value is the default.
type Options struct {
	// BotEnv adds or overrides variables of the bot's environment (the
	// harness sets PORT and LOG_LEVEL=debug and removes the bot's
	// configuration variables, see botEnvRemoved).
	BotEnv map[string]string
	// PlaygroundEnv adds or overrides variables of the Playground's
	// environment, e.g. TZ (default UTC). Activities are en-US whatever LANG
	// says; see procedure_test.go for the ja-JP shim.
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
	lay, err := findLayout()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lay.CLI); err != nil {
		t.Fatalf("the Agents Playground is not installed (%v): %s", err, installHint)
	}
	cfg, err := loadConfig(lay.Config)
	if err != nil {
		t.Fatal(err)
	}
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

// finish checks the traffic for errors nobody asserted on and, when the test
// failed, prints everything needed to see why.
func (e *Env) finish() {
	t := e.t
	_, logs, _, _ := e.s.snapshot()
	if !e.opts.AllowErrors {
		for _, l := range logs {
			switch {
			case l.FromBot() && l.ResponseStatus >= 400:
				t.Errorf("the Playground's connector refused a call of the bot with %d:\n  %s", l.ResponseStatus, l.String(0))
			case l.ToBot() && l.ResponseStatus >= 500:
				t.Errorf("the bot answered an activity with %d:\n  %s", l.ResponseStatus, l.String(0))
			}
		}
	}
	if e.Playground != nil {
		if r := e.Playground.GuardRefusals(); len(r) > 0 {
			t.Logf("loopback-guard.cjs refused the Playground's attempts to leave loopback:\n%s", indent(r))
		}
	}
	if !t.Failed() {
		t.Logf("e2e environment ran %v", time.Since(e.started).Round(time.Millisecond))
		return
	}
	e.Report()
}

// Report logs the diagnostics: bot output, Playground output and log file,
// the Playground's traffic and the messages of the chats.
func (e *Env) Report() {
	t := e.t
	events, logs, errs, _ := e.s.snapshot()
	var b strings.Builder
	if e.Bot != nil {
		fmt.Fprintf(&b, "\n===== bot (%s, %s): last 80 lines of output =====\n%s", e.Bot.URL, e.Bot.proc.status(), indent(e.Bot.proc.out.tail(80)))
	}
	if p := e.Playground; p != nil {
		fmt.Fprintf(&b, "\n===== Playground (%s, %s): last 30 lines of output =====\n%s", p.URL, p.proc.status(), indent(p.proc.out.tail(30)))
		fmt.Fprintf(&b, "\n===== Playground log file %s: last 40 lines =====\n%s", p.LogPath, indent(fileTail(p.LogPath, 40, 600)))
	}
	fmt.Fprintf(&b, "\n===== Playground traffic (log stream, %d entries) =====\n", len(logs))
	for _, l := range logs {
		limit := 600
		if l.ResponseStatus >= 400 {
			limit = 0
		}
		fmt.Fprintf(&b, "  %s\n", l.String(limit))
	}
	fmt.Fprintf(&b, "===== chat (conversation stream, %d events) =====\n", len(events))
	for _, m := range events {
		fmt.Fprintf(&b, "  %s\n", m)
	}
	for _, err := range errs {
		fmt.Fprintf(&b, "  stream error: %v\n", err)
	}
	t.Log(b.String())
}

// Events returns every event of the conversation stream so far, typing
// indicators included, in order.
func (e *Env) Events() []Message {
	events, _, _, _ := e.s.snapshot()
	return events
}

// Logs returns every entry of the log stream so far, in order.
func (e *Env) Logs() []LogEntry {
	_, logs, _, _ := e.s.snapshot()
	return logs
}

// post sends a JSON body to the Playground and returns the answer.
func (e *Env) post(path string, body any) (int, []byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	resp, err := e.http.Post(e.Playground.URL+path, "application/json", bytes.NewReader(data))
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// ---------------------------------------------------------------------------
// Chats

// Chat is one conversation of the mock tenant, seen by one user.
//
// Every action (InstallApp, SendText, Invoke, Submit, Press) sets the chat's
// mark to the current end of the conversation stream; WaitFor looks at the
// bot's messages that arrived after the mark, so it finds the answer to the
// last action even when the answer came before WaitFor was called.
type Chat struct {
	env     *Env
	ID      string // conversation id
	UserID  string // the user who acts
	mark    int    // index into the conversation stream at the last action
	logMark int    // index into the log stream at the last action
}

// PersonalChat is the 1:1 chat of the current user with the bot.
func (e *Env) PersonalChat() *Chat {
	return &Chat{env: e, ID: e.Config.PersonalChat.ID, UserID: e.Config.CurrentUser.ID}
}

// GroupChat is the group chat of the configured users, seen by the current user.
func (e *Env) GroupChat() *Chat {
	return &Chat{env: e, ID: e.Config.GroupChat.ID, UserID: e.Config.CurrentUser.ID}
}

// Channel is a channel of the team by name ("General" is the team's own id),
// seen by the current user. In a channel the bot gets only messages that
// mention it: use SendTextMentioningBot.
func (e *Env) Channel(name string) *Chat {
	e.t.Helper()
	if strings.EqualFold(name, "General") {
		return &Chat{env: e, ID: e.Config.Team.ID, UserID: e.Config.CurrentUser.ID}
	}
	for _, c := range e.Config.Team.Channels {
		if strings.EqualFold(c.Name, name) {
			return &Chat{env: e, ID: c.ID, UserID: e.Config.CurrentUser.ID}
		}
	}
	e.t.Fatalf("no channel %q in %s", name, e.Layout.Config)
	return nil
}

// Mark moves the chat's mark to the end of the conversation stream and
// returns it, for WaitForSince.
func (c *Chat) Mark() int {
	events, logs, _, _ := c.env.s.snapshot()
	c.mark, c.logMark = len(events), len(logs)
	return c.mark
}

// inChat reports whether a stream event belongs to this chat (its threads
// included).
func (c *Chat) inChat(m Message) bool {
	return m.ConversationID == c.ID || strings.HasPrefix(m.ConversationID, c.ID+";messageid=")
}

func (c *Chat) pathID() string { return url.PathEscape(c.ID) }

// InstallApp installs the app in the conversation, as the Playground's
// "install" debug action does: the bot receives installationUpdate (add) and
// conversationUpdate (membersAdded), concurrently.
func (c *Chat) InstallApp() {
	c.env.t.Helper()
	c.Mark()
	status, body, err := c.env.post("/_debug/conversation/"+c.pathID()+"/installation", map[string]any{})
	if err != nil || status != http.StatusOK {
		c.env.t.Fatalf("installing the app in %s: %d %s %v", c.ID, status, body, err)
	}
}

// SendText types text into the chat and returns the Playground's id of the
// user's message.
func (c *Chat) SendText(text string) string {
	c.env.t.Helper()
	return c.send(map[string]any{"from": map[string]string{"id": c.UserID}, "text": text, "textFormat": "plain"})
}

// SendTextMentioningBot sends "<at>bot name</at> text" with a mention of the
// bot, which is how a bot is addressed in a channel.
func (c *Chat) SendTextMentioningBot(text string) string {
	c.env.t.Helper()
	at := "<at>" + c.env.Config.Bot.Name + "</at>"
	return c.send(map[string]any{
		"from":       map[string]string{"id": c.UserID},
		"text":       at + " " + text,
		"textFormat": "plain",
		"mentions":   []any{map[string]any{"mentioned": map[string]string{"id": c.env.Config.Bot.ID}, "text": at}},
	})
}

func (c *Chat) send(body map[string]any) string {
	c.env.t.Helper()
	c.Mark()
	status, resp, err := c.env.post("/_conversation/v1/conversations/"+c.pathID()+"/messages", body)
	if err != nil || status != http.StatusOK {
		c.env.t.Fatalf("sending %v to %s: %d %s %v", body["text"], c.ID, status, resp, err)
	}
	var r struct {
		MessageID string `json:"messageId"`
	}
	_ = json.Unmarshal(resp, &r)
	return r.MessageID
}

// InvokeResult is the outcome of an Action.Execute.
type InvokeResult struct {
	// Status is the HTTP status of the Playground's answer: 200 when the bot
	// answered the invoke with 2xx, 502 when the bot failed or answered
	// otherwise, 400 when the Playground refused the request.
	Status int
	// Body is the Playground's answer: {"type","value"} taken from the bot's
	// invoke response (statusCode dropped), or an error.
	Body json.RawMessage
	// Type and Value are Body's fields, e.g. Type
	// "application/vnd.microsoft.card.adaptive" with the new card as Value,
	// or "application/vnd.microsoft.activity.message" with a text.
	Type  string
	Value json.RawMessage
	// BotStatus and BotBody are the bot's own HTTP answer to the invoke
	// activity, from the log stream (0 and nil if it did not show up there).
	BotStatus int
	BotBody   json.RawMessage
}

// String summarises the result for failure messages.
func (r InvokeResult) String() string {
	return fmt.Sprintf("Playground answered %d %s; bot answered %d %s", r.Status, truncate(string(r.Body), 1000), r.BotStatus, truncate(string(r.BotBody), 1000))
}

// Invoke presses an Action.Execute button of the card in message replyToID,
// as the Playground's page does: an invoke adaptiveCard/action with value
// {"action":{"type":"Action.Execute","verb":verb,"data":data}}. It returns
// the answer; it does not fail the test on an error answer.
func (c *Chat) Invoke(replyToID, verb string, data any) InvokeResult {
	c.env.t.Helper()
	return c.invoke(replyToID, map[string]any{"type": "Action.Execute", "verb": verb, "data": data})
}

func (c *Chat) invoke(replyToID string, action map[string]any) InvokeResult {
	c.env.t.Helper()
	c.Mark()
	_, logs, _, _ := c.env.s.snapshot()
	logMark := len(logs)
	status, body, err := c.env.post("/_conversation/v1/invoke", map[string]any{
		"name":         "adaptiveCard/action",
		"value":        map[string]any{"action": action},
		"from":         map[string]string{"id": c.UserID},
		"conversation": map[string]string{"id": c.ID},
		"replyToId":    replyToID,
	})
	if err != nil {
		c.env.t.Fatalf("invoke on message %s: %v", replyToID, err)
	}
	r := InvokeResult{Status: status, Body: body}
	var tv struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if json.Unmarshal(body, &tv) == nil {
		r.Type, r.Value = tv.Type, tv.Value
	}
	if status != http.StatusOK && status != http.StatusBadGateway {
		return r // refused by the Playground: the bot was not called
	}
	// The bot's own answer, with its statusCode, is on the log stream.
	verb, _ := action["verb"].(string)
	entry, ok := c.env.waitLog(logMark, 5*time.Second, func(l LogEntry) bool {
		if !l.ToBot() || l.ActivityName != "invoke" {
			return false
		}
		var a struct {
			ReplyToID string `json:"replyToId"`
			Value     struct {
				Action struct {
					Verb string `json:"verb"`
				} `json:"action"`
			} `json:"value"`
		}
		return json.Unmarshal(l.RequestBody, &a) == nil && a.ReplyToID == replyToID && a.Value.Action.Verb == verb
	})
	if ok {
		r.BotStatus, r.BotBody = entry.ResponseStatus, entry.ResponseBody
	}
	return r
}

// Submit presses an Action.Submit button of the card in message replyToID,
// as the Playground's page does: a message activity with replyToId and value
// (the action's data object plus the filled inputs, as strings). The
// Playground answers at once; the bot's answer arrives on the stream.
func (c *Chat) Submit(replyToID string, value any) {
	c.env.t.Helper()
	c.Mark()
	status, body, err := c.env.post("/_conversation/v1/submit", map[string]any{
		"conversation": map[string]string{"id": c.ID},
		"replyToId":    replyToID,
		"value":        value,
		"from":         map[string]string{"id": c.UserID},
	})
	if err != nil || status != http.StatusOK {
		c.env.t.Fatalf("submit on message %s: %d %s %v", replyToID, status, body, err)
	}
}

// Press presses a button read from a card with CardActions, with inputs as
// the values of the card's filled inputs (may be nil). Action.Execute
// returns the invoke's result; Action.Submit returns nil (WaitFor the bot's
// answer). Other action types fail the test.
func (c *Chat) Press(replyToID string, a CardAction, inputs map[string]string) *InvokeResult {
	c.env.t.Helper()
	data := map[string]any{}
	if len(a.Data) > 0 {
		var obj map[string]any
		if json.Unmarshal(a.Data, &obj) == nil && obj != nil {
			data = obj
		}
		// Like the page, non-object data is dropped (Submit) or sent as {}
		// plus the inputs (Execute).
	}
	for k, v := range inputs {
		data[k] = v
	}
	switch a.Type {
	case "Action.Execute":
		action := map[string]any{"type": a.Type, "verb": a.Verb, "data": data}
		if a.Title != "" {
			action["title"] = a.Title
		}
		r := c.invoke(replyToID, action)
		return &r
	case "Action.Submit":
		c.Submit(replyToID, data)
		return nil
	default:
		c.env.t.Fatalf("Press: cannot press a %s (%q)", a.Type, a.Title)
		return nil
	}
}

// BotMessages returns the bot's messages in this chat after mark (0: all).
func (c *Chat) BotMessages(mark int) []Message {
	events, _, _, _ := c.env.s.snapshot()
	var out []Message
	for _, m := range events[min(mark, len(events)):] {
		if c.isBotMessage(m) {
			out = append(out, m)
		}
	}
	return out
}

func (c *Chat) isBotMessage(m Message) bool {
	return c.inChat(m) && m.FromID == c.env.Config.Bot.ID && (m.Action == "createMessage" || m.Action == "updateMessage")
}

// WaitFor waits up to timeout (0: Env.Timeout) for a message of the bot in
// this chat, sent after the last action, for which pred is true, and returns
// it. It fails the test, listing what the bot did send, when none comes. It
// gives up early when a process or stream died, and (unless
// Options.AllowErrors) turnFailedGrace after the bot answered an activity of
// this chat with a 5xx or the connector refused a call of the bot.
//
// "After the last action" is by time of arrival: a message caused by an
// earlier action may still arrive after a later one (installing the app
// sends the bot two activities at once). Make pred specific, or call Quiet
// before the next action.
func (c *Chat) WaitFor(pred func(Message) bool, timeout time.Duration) Message {
	c.env.t.Helper()
	return c.WaitForSince(c.mark, pred, timeout)
}

// WaitForSince is WaitFor looking at the messages after mark (see Mark and
// Message.Seq).
func (c *Chat) WaitForSince(mark int, pred func(Message) bool, timeout time.Duration) Message {
	c.env.t.Helper()
	if timeout <= 0 {
		timeout = c.env.Timeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var failedTurn *LogEntry // a 5xx answer of the bot since the last action
	var failedTimer <-chan time.Time
	for {
		events, logs, errs, changed := c.env.s.snapshot()
		for _, m := range events[min(mark, len(events)):] {
			if c.isBotMessage(m) && pred(m) {
				return m
			}
		}
		if failedTurn == nil && !c.env.opts.AllowErrors {
			for _, l := range logs[min(c.logMark, len(logs)):] {
				if isFailure(l) && (l.ConversationID == c.ID || strings.HasPrefix(l.ConversationID, c.ID+";")) {
					failedTurn = &l
					failedTimer = time.After(turnFailedGrace)
					break
				}
			}
		}
		why := ""
		switch {
		case len(errs) > 0:
			why = fmt.Sprintf("the Playground's stream failed: %v", errs[0])
		case c.env.Bot.proc.exited():
			why = "the bot exited: " + c.env.Bot.proc.status()
		case c.env.Playground.proc.exited():
			why = "the Playground exited: " + c.env.Playground.proc.status()
		}
		if why == "" {
			select {
			case <-changed:
				continue
			case <-failedTimer:
				if failedTurn.ToBot() {
					why = fmt.Sprintf("the bot failed the turn: it answered %s with %d", failedTurn.ActivityName, failedTurn.ResponseStatus)
				} else {
					why = fmt.Sprintf("the connector refused the bot's %s with %d %s", failedTurn.ActivityName, failedTurn.ResponseStatus, failedTurn.ResponseBody)
				}
			case <-timer.C:
				why = fmt.Sprintf("no matching message of the bot within %v", timeout)
			}
		}
		var got []string
		for _, m := range c.BotMessages(mark) {
			got = append(got, m.String())
		}
		if len(got) == 0 {
			got = []string{"(none)"}
		}
		c.env.t.Fatalf("waiting in %s: %s; the bot's messages there since the last action:\n%s", c.ID, why, indent(got))
		return Message{}
	}
}

// isFailure reports whether a log entry is the bot failing an activity (5xx)
// or the connector refusing a call of the bot (4xx, 5xx).
func isFailure(l LogEntry) bool {
	return (l.ToBot() && l.ResponseStatus >= 500) || (l.FromBot() && l.ResponseStatus >= 400)
}

// Quiet waits until nothing has arrived on either stream for d: the turns
// started by the last actions have ended and their messages are in. It gives
// up after Env.Timeout, which is not a failure (the bot may be chatty).
func (c *Chat) Quiet(d time.Duration) {
	c.env.t.Helper()
	deadline := time.After(c.env.Timeout)
	for {
		_, _, _, changed := c.env.s.snapshot()
		select {
		case <-changed:
		case <-time.After(d):
			return
		case <-deadline:
			c.env.t.Logf("Quiet(%v): the streams never went quiet within %v", d, c.env.Timeout)
			return
		}
	}
}

// waitLog waits up to timeout for a log entry after mark matching pred.
func (e *Env) waitLog(mark int, timeout time.Duration, pred func(LogEntry) bool) (LogEntry, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		_, logs, _, changed := e.s.snapshot()
		for _, l := range logs[min(mark, len(logs)):] {
			if pred(l) {
				return l, true
			}
		}
		select {
		case <-changed:
		case <-timer.C:
			return LogEntry{}, false
		}
	}
}

// ---------------------------------------------------------------------------
// Cards

// CardAction is a button of an Adaptive Card.
type CardAction struct {
	Type  string // "Action.Execute", "Action.Submit", "Action.OpenUrl", ...
	ID    string
	Title string
	Verb  string          // Action.Execute
	URL   string          // Action.OpenUrl
	Data  json.RawMessage // Action.Execute and Action.Submit
}

// CardActions lists the buttons of an Adaptive Card in the order a person
// sees them: the ActionSets of the body (containers, columns and
// Action.ShowCard cards included) from top to bottom, then the card's own
// actions. selectAction and fallback content are not buttons and are left out.
func CardActions(card json.RawMessage) ([]CardAction, error) {
	var root any
	dec := json.NewDecoder(bytes.NewReader(card))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("card is not JSON: %w", err)
	}
	var out []CardAction
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			typ, _ := v["type"].(string)
			if strings.HasPrefix(typ, "Action.") {
				a := CardAction{Type: typ}
				a.ID, _ = v["id"].(string)
				a.Title, _ = v["title"].(string)
				a.Verb, _ = v["verb"].(string)
				a.URL, _ = v["url"].(string)
				if d, ok := v["data"]; ok {
					a.Data, _ = json.Marshal(d)
				}
				out = append(out, a)
			}
			// Fixed order: what is shown first comes first.
			for _, k := range []string{"body", "items", "columns", "actions", "card"} {
				if x, ok := v[k]; ok {
					walk(x)
				}
			}
		}
	}
	walk(root)
	return out, nil
}

// FirstAction returns the first button of card whose type is one of types.
func FirstAction(card json.RawMessage, types ...string) (CardAction, bool) {
	actions, err := CardActions(card)
	if err != nil {
		return CardAction{}, false
	}
	for _, a := range actions {
		for _, t := range types {
			if a.Type == t {
				return a, true
			}
		}
	}
	return CardAction{}, false
}

func TestCardActionsOrder(t *testing.T) {
	card := json.RawMessage(`{"type":"AdaptiveCard","version":"1.5",
	  "actions":[{"type":"Action.Submit","title":"root","data":{"a":1}}],
	  "body":[
	    {"type":"TextBlock","text":"x","selectAction":{"type":"Action.Execute","verb":"not-a-button"}},
	    {"type":"Container","items":[{"type":"ActionSet","actions":[
	      {"type":"Action.Execute","title":"first","verb":"v1","data":{"n":1}},
	      {"type":"Action.ShowCard","title":"more","card":{"type":"AdaptiveCard","body":[],
	        "actions":[{"type":"Action.OpenUrl","title":"link","url":"https://example.invalid/"}]}}]}]},
	    {"type":"ColumnSet","columns":[{"type":"Column","items":[{"type":"ActionSet","actions":[
	      {"type":"Action.Submit","title":"col","data":"str"}]}]}]}
	  ]}`)
	got, err := CardActions(card)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, a := range got {
		titles = append(titles, a.Title)
	}
	if want := "first more link col root"; strings.Join(titles, " ") != want {
		t.Fatalf("titles %q, want %q", titles, want)
	}
	if got[0].Verb != "v1" || string(got[0].Data) != `{"n":1}` || got[2].URL != "https://example.invalid/" || string(got[3].Data) != `"str"` {
		t.Fatalf("fields not read: %+v", got)
	}
	if a, ok := FirstAction(card, "Action.Submit"); !ok || a.Title != "col" {
		t.Fatalf("FirstAction(Submit) = %+v, %v", a, ok)
	}
}

// ---------------------------------------------------------------------------
// Small helpers

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + fmt.Sprintf("…(%d more bytes)", len(s)-i)
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return "    (nothing)\n"
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("    ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// fileTail returns the last n lines of a file, each cut at width bytes.
func fileTail(path string, n, width int) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		lines = append(lines, truncate(sc.Text(), width))
		if len(lines) > 4*n {
			lines = append([]string(nil), lines[len(lines)-n:]...)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		lines = append(lines, "(reading: "+err.Error()+")")
	}
	return lastN(lines, n)
}
