package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/config"
	"github.com/smartswap/mfabot/internal/redistest"
)

// Fault tests with real parts: a real redis-server that is killed and
// restarted, the whole bot served as main serves it where the fault needs
// no hook inside the process, the bot as main assembles it (app.New) with
// a gated or slow Graph where it does, a connector that answers nothing but
// 429/503, and a Graph that hangs past the client's timeout.
//
// What the bot does under each fault, as asserted here:
//   - Redis gone mid-dialog: the turn is answered 503 by the duplicate
//     check (nothing is sent to the user; Teams redelivers); /healthz stays
//     200 and /readyz says 503. Once Redis is back the same process serves
//     again: the redelivered press is answered as an out-of-date card (the
//     unpersisted state is gone) and スマホ交換 starts afresh.
//   - Redis gone inside a turn (after the duplicate check passed, between
//     loading and saving the dialog): 200, and the user gets the polite
//     「もう一度お試しください」 message (sent, or as the invoke's answer).
//   - Redis down: /readyz 503 and every turn 503, each within a few
//     seconds (1–2 s while the Redis client still retries dialling).
//   - Connector storm: each turn ends (500: the reply could not be
//     delivered) within the turn timeout, with at most MaxAttempts (4)
//     connector attempts per send, and no goroutine is left behind.
//   - Graph slower than the client's timeout: the step shows the plain
//     「Microsoft のサービスに接続できませんでした」 problem with 再確認, also when
//     the wait happens in the poll after the acknowledgement, and never
//     claims the new phone; no goroutine is left blocked.

// faultTurnMax is the longest a turn may take under a fault here: the
// server's own turn timeout (10 s) plus slack, under Teams' 15 s deadline.
const faultTurnMax = 12 * time.Second

// connectorMaxAttempts is bot.ConnectorOptions.MaxAttempts as app.New
// wires the turn connector (its documented default).
const connectorMaxAttempts = 4

// ---------------------------------------------------------------------------
// A private redis-server that the test can kill and start again.

type faultRedis struct {
	t      *testing.T
	port   int
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startFaultRedis starts a redis-server on a free loopback port with no
// persistence; it is killed at the end of the test.
func startFaultRedis(t *testing.T) *faultRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("these tests need redis-server (run the README's test command): %v", err)
	}
	r := &faultRedis{t: t, dir: t.TempDir()}
	t.Cleanup(r.kill)
	var err error
	for range 5 { // another process may take the port between probe and bind
		r.port = freePort(t)
		if err = r.start(); err == nil {
			return r
		}
	}
	t.Fatalf("could not start redis-server: %v", err)
	return nil
}

func (r *faultRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *faultRedis) url() string { return "redis://" + r.addr() + "/0" }

// start runs redis-server on r.port and waits until it answers PING.
func (r *faultRedis) start() error {
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port),
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	r.cmd, r.exited = cmd, exited
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			r.cmd = nil
			return fmt.Errorf("redis-server on port %d exited at start", r.port)
		default:
		}
		if redisPing(r.addr()) == nil {
			return nil
		}
	}
	r.kill()
	return fmt.Errorf("redis-server on port %d did not answer", r.port)
}

// kill ends redis-server with SIGKILL (no chance to save or say goodbye).
func (r *faultRedis) kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

// redisPing speaks RESP directly, so that no client retries hide anything.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// ---------------------------------------------------------------------------
// The whole bot, as main runs it, served on a loopback port.

type faultBot struct {
	t    *testing.T
	bot  *app.App
	base string
	logs *syncBuffer
	hc   *http.Client
}

// startFaultBot runs the bot (local mode: sandbox Graph, loopback
// connector) against redisURL as run does (config.Load, app.New, listen,
// Serve; the test keeps the App to close its idle connections) and waits
// for /readyz (or, when Redis is not expected to answer, /healthz).
func startFaultBot(t *testing.T, redisURL string, expectReady bool) *faultBot {
	t.Helper()
	port := freePort(t)
	vars := map[string]string{"PORT": strconv.Itoa(port), "REDIS_URL": redisURL}
	b := &faultBot{
		t: t, base: "http://127.0.0.1:" + strconv.Itoa(port), logs: &syncBuffer{},
		hc: &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()},
	}
	cfg, err := config.Load(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if b.bot, err = app.New(cfg, app.Options{Logger: logger}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		b.bot.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.bot.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(25 * time.Second):
			t.Errorf("Serve did not stop after its context ended")
		}
		b.bot.Close()
		b.hc.CloseIdleConnections()
	})
	path := "/healthz"
	if expectReady {
		path = "/readyz"
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("run stopped at start: %v\n%s", err, b.logs.String())
		default:
		}
		if b.get(path) == http.StatusOK {
			return b
		}
	}
	t.Fatalf("bot never answered %s 200; logs:\n%s", path, b.logs.String())
	return nil
}

// get returns the status of GET path (0 when the request failed).
func (b *faultBot) get(path string) int {
	resp, err := b.hc.Get(b.base + path)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// post sends one activity the way the channel does and times the answer.
func (b *faultBot) post(a schema.Activity) (status int, body []byte, took time.Duration) {
	b.t.Helper()
	raw, _ := json.Marshal(a)
	start := time.Now()
	resp, err := b.hc.Post(b.base+"/api/messages", "application/json", bytes.NewReader(raw))
	if err != nil {
		b.t.Fatalf("POST /api/messages: %v (after %s)", err, time.Since(start))
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, body, time.Since(start)
}

// ServeHTTP forwards to the running bot, so that the conversation harness
// (chat.say, chat.press) drives it over real HTTP.
func (b *faultBot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequest(r.Method, b.base+r.URL.RequestURI(), bytes.NewReader(raw))
	req.Header = r.Header.Clone()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Errorf("forward %s %s: %v", r.Method, r.URL.Path, err)
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// faultChat is the conversation harness of conversation_test.go over h.
func faultChat(t *testing.T, h http.Handler, conn *connStandIn, user string) *chat {
	return &chat{t: t, h: h, conn: conn, user: user, locale: "ja-JP", idBase: redistest.Prefix(t), seq: new(atomic.Int64)}
}

// pressActivity is the invoke Teams sends when verb is pressed on card.
func pressActivity(c *chat, card cards.Card, verb string) schema.Activity {
	data := actionData(c.t, card, verb)
	a := c.activity(schema.Invoke)
	a.Name = "adaptiveCard/action"
	a.Value = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
	return a
}

// invokeAnswer decodes the HTTP answer to an adaptiveCard/action invoke.
func invokeAnswer(t *testing.T, body []byte) (typ string, card cards.Card, text string) {
	t.Helper()
	var resp struct {
		StatusCode int             `json:"statusCode"`
		Type       string          `json:"type"`
		Value      json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.StatusCode != 200 {
		t.Fatalf("invoke answer %q: %v", body, err)
	}
	switch resp.Type {
	case bot.InvokeTypeCard:
		json.Unmarshal(resp.Value, &card)
	case bot.InvokeTypeMessage:
		json.Unmarshal(resp.Value, &text)
	}
	return resp.Type, card, text
}

// ---------------------------------------------------------------------------
// Goroutine accounting.

// settleGoroutines closes idle connections (calling closeIdle) and returns
// the goroutine count once it has stopped falling.
func settleGoroutines(closeIdle func()) int {
	closeIdle()
	n := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(25 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return min(n, m)
		}
		n = m
	}
	return n
}

// waitGoroutines polls until the goroutine count is within margin of
// baseline, closing idle connections each time; it fails with the stacks
// of what is left after within.
func waitGoroutines(t *testing.T, baseline, margin int, within time.Duration, closeIdle func()) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		closeIdle()
		n := runtime.NumGoroutine()
		if n <= baseline+margin {
			return min(n, settleGoroutines(closeIdle))
		}
		if time.Now().After(deadline) {
			var buf bytes.Buffer
			pprof.Lookup("goroutine").WriteTo(&buf, 1)
			t.Errorf("goroutines: %d after the fault, baseline %d (+%d allowed); still running:\n%s", n, baseline, margin, buf.String())
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// 1. Redis killed in the middle of a dialog, then started again.

func TestFaultRedisKilledMidDialog(t *testing.T) {
	rs := startFaultRedis(t)
	b := startFaultBot(t, rs.url(), true)
	conn := newConnStandIn(t)
	c := faultChat(t, b, conn, convUser)
	conv := "a:" + c.user

	card := c.say("スマホ交換")
	wantCard(t, card, stepCard("cautions"))
	card = c.press(card, cards.VerbNext)
	wantCard(t, card, stepCard("old_phone"))
	card = c.press(card, cards.VerbNext)
	wantCard(t, card, stepCard("open_page")) // step 3
	sentBefore := len(conn.to(conv))

	rs.kill()

	// The user presses 次へ on step 3, then types 状況. Both are refused by
	// the duplicate check, which is the first thing that needs Redis: 503,
	// so that Teams delivers them again; nothing reaches the user.
	press := pressActivity(c, card, cards.VerbNext)
	typed := c.activity(schema.Message)
	typed.Text = "状況"
	for _, a := range []schema.Activity{press, typed} {
		status, body, took := b.post(a)
		t.Logf("Redis killed: %s turn answered %d in %s", a.Type, status, took.Round(time.Millisecond))
		if status != http.StatusServiceUnavailable {
			t.Errorf("%s turn with Redis killed: status %d %s, want 503 from the duplicate check", a.Type, status, body)
		}
		if took > 5*time.Second {
			t.Errorf("%s turn with Redis killed took %s, want a prompt answer (< 5 s)", a.Type, took)
		}
	}
	if n := len(conn.to(conv)); n != sentBefore {
		t.Errorf("the bot sent %d activities while Redis was down, want none", n-sentBefore)
	}
	if !strings.Contains(b.logs.String(), `"msg":"duplicate check failed"`) {
		t.Errorf("no 'duplicate check failed' in the logs:\n%s", b.logs.String())
	}
	if got := b.get("/healthz"); got != http.StatusOK {
		t.Errorf("/healthz = %d with Redis down, want 200 (the process is alive)", got)
	}
	if got := b.get("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with Redis down, want 503", got)
	}

	// Redis comes back on the same port, empty (nothing was persisted).
	if err := rs.start(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	for b.get("/readyz") != http.StatusOK {
		if time.Since(restarted) > 10*time.Second {
			t.Fatalf("/readyz still not 200 10 s after Redis came back; logs:\n%s", b.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("ready again %s after Redis came back", time.Since(restarted).Round(time.Millisecond))

	// Teams redelivers the press that got 503: it is handled now (its id
	// was never recorded), and since the dialog is gone the card is out of
	// date.
	status, body, _ := b.post(press)
	if status != http.StatusOK {
		t.Fatalf("redelivered press after Redis came back: status %d %s", status, body)
	}
	typ, answer, _ := invokeAnswer(t, body)
	if typ != bot.InvokeTypeCard {
		t.Fatalf("redelivered press answered %s, want a card", typ)
	}
	wantCard(t, answer, "no-dialog")
	if !strings.Contains(text(answer), "このカードは古くなっています") {
		t.Errorf("the old card is not said to be out of date: %s", text(answer))
	}
	// The redelivered 状況 is handled too: no procedure in progress.
	if status, body, _ := b.post(typed); status != http.StatusOK {
		t.Fatalf("redelivered 状況: status %d %s", status, body)
	}
	sent := conn.to(conv)
	if len(sent) != sentBefore+1 {
		t.Fatalf("redelivered 状況: %d activities sent, want 1", len(sent)-sentBefore)
	}
	wantCard(t, cardOf(t, sent[len(sent)-1]), "no-dialog")

	// And the procedure starts again, in the same process.
	card = c.say("スマホ交換")
	wantCard(t, card, stepCard("cautions"))
	wantCard(t, c.press(card, cards.VerbNext), stepCard("old_phone"))
}

// ---------------------------------------------------------------------------
// 1b. Redis killed inside a turn, after the duplicate check.

// gatedGraph runs gate (once) when the next Graph call arrives, then
// answers it from the sandbox.
type gatedGraph struct {
	next http.Handler
	mu   sync.Mutex
	gate func()
}

func (g *gatedGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	gate := g.gate
	g.gate = nil
	g.mu.Unlock()
	if gate != nil {
		gate()
	}
	g.next.ServeHTTP(w, r)
}

func (g *gatedGraph) onNextCall(f func()) { g.mu.Lock(); g.gate = f; g.mu.Unlock() }

// Redis dies inside a turn, after the duplicate check passed: while the
// dialog asks Graph for the snapshot, between loading and saving the
// dialog. The user gets the polite retry message and the turn is
// acknowledged (200).
func TestFaultRedisKilledDuringTurn(t *testing.T) {
	rs := startFaultRedis(t)
	sb := sandbox.New(sandbox.Options{})
	g := &gatedGraph{next: sb.Handler()}
	srv := newBot(t, map[string]string{"REDIS_URL": rs.url(), "GRAPH_BASE_URL": serveGraph(t, sb, g)}, app.Options{}).Handler()
	conn := newConnStandIn(t)
	c := faultChat(t, srv, conn, convUser)
	conv := "a:" + c.user
	polite := cards.Text(cards.Japanese, "error.retry")

	// Typed スマホ交換: Redis is killed while Graph is asked for the snapshot.
	g.onNextCall(rs.kill)
	a := c.activity(schema.Message)
	a.Text = "スマホ交換"
	start := time.Now()
	rec := c.post(a) // fails the test unless 200
	took := time.Since(start)
	t.Logf("Redis killed during a typed turn: %d in %s", rec.Code, took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("typed turn took %s, want a prompt answer (< 5 s)", took)
	}
	sent := conn.to(conv)
	if len(sent) != 1 || sent[0].Text != polite || len(sent[0].Attachments) != 0 {
		t.Fatalf("typed turn with Redis killed mid-turn: sent %+v, want only %q", sent, polite)
	}

	// Redis is back, empty; the press on the welcome card's 交換を始める
	// meets the same fault, and is answered in the invoke.
	if err := rs.start(); err != nil {
		t.Fatal(err)
	}
	g.onNextCall(rs.kill)
	press := pressActivity(c, cards.Welcome(cards.Japanese), cards.VerbStart)
	raw, _ := json.Marshal(press)
	rec = httptest.NewRecorder()
	start = time.Now()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(raw)))
	took = time.Since(start)
	t.Logf("Redis killed during a press: %d in %s", rec.Code, took.Round(time.Millisecond))
	if rec.Code != http.StatusOK {
		t.Fatalf("press with Redis killed mid-turn: status %d, want 200 with the polite message", rec.Code)
	}
	if typ, _, txt := invokeAnswer(t, rec.Body.Bytes()); typ != bot.InvokeTypeMessage || txt != polite {
		t.Errorf("press with Redis killed mid-turn: answered %s %q, want the message %q", typ, txt, polite)
	}
	if took > 5*time.Second {
		t.Errorf("press took %s, want a prompt answer (< 5 s)", took)
	}
	hz := httptest.NewRecorder()
	srv.ServeHTTP(hz, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if hz.Code != http.StatusOK {
		t.Errorf("/healthz = %d after the fault", hz.Code)
	}

	// Redis back again: the same handler serves the procedure.
	if err := rs.start(); err != nil {
		t.Fatal(err)
	}
	card := c.say("スマホ交換")
	wantCard(t, card, stepCard("cautions"))
	wantCard(t, c.press(card, cards.VerbNext), stepCard("old_phone"))
}

// ---------------------------------------------------------------------------
// 2. Nothing listening on the Redis address.

func TestFaultRedisDown(t *testing.T) {
	down := freePort(t) // probed and closed: nothing listens there
	b := startFaultBot(t, "redis://127.0.0.1:"+strconv.Itoa(down)+"/0", false)
	conn := newConnStandIn(t)
	c := faultChat(t, b, conn, convUser)
	conv := "a:" + c.user
	// A correctness bound, not a speed target: the Redis client's own
	// retries (3 command retries, 5 dial retries 100 ms apart) make the
	// first answers take 1–2 s; later ones fail fast once its pool stops
	// dialling. /readyz bounds its checks at 2 s itself.
	const bound = 5 * time.Second

	start := time.Now()
	if got := b.get("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with Redis down, want 503", got)
	}
	took := time.Since(start)
	t.Logf("Redis down: /readyz answered in %s", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("/readyz took %s with Redis down, want its own 2 s bound", took)
	}

	msg := c.activity(schema.Message)
	msg.Text = "スマホ交換"
	inv := c.activity(schema.Invoke)
	inv.Name = "adaptiveCard/action"
	inv.Value = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": cards.VerbStart, "data": map[string]any{"verb": cards.VerbStart}}}
	upd := c.activity(schema.ConversationUpdate)
	upd.MembersAdded = []schema.ChannelAccount{{ID: "28:bot"}}
	for _, a := range []schema.Activity{msg, inv, upd, msg} {
		status, body, took := b.post(a)
		t.Logf("Redis down: %s turn answered %d in %s", a.Type, status, took.Round(time.Millisecond))
		if status != http.StatusServiceUnavailable {
			t.Errorf("%s turn with Redis down: status %d %s, want 503", a.Type, status, body)
		}
		if took > bound {
			t.Errorf("%s turn with Redis down took %s, want < %s", a.Type, took, bound)
		}
	}
	if got := b.get("/healthz"); got != http.StatusOK {
		t.Errorf("/healthz = %d with Redis down, want 200", got)
	}
	if n := len(conn.to(conv)); n != 0 {
		t.Errorf("the bot sent %d activities with Redis down, want none", n)
	}

	// An activity without an id skips the duplicate check (there is
	// nothing to key it on), so the dialog itself meets the dead Redis: the
	// user gets the polite retry message, as a message or as the invoke's
	// answer, and the turn is acknowledged.
	polite := cards.Text(cards.Japanese, "error.retry")
	noID := c.activity(schema.Message)
	noID.ID, noID.Text = "", "スマホ交換"
	status, body, took := b.post(noID)
	t.Logf("Redis down, message without id: %d in %s", status, took.Round(time.Millisecond))
	if status != http.StatusOK {
		t.Errorf("message without id, Redis down: status %d %s, want 200 after the polite message", status, body)
	}
	sent := conn.to(conv)
	if len(sent) != 1 || sent[0].Text != polite {
		t.Errorf("message without id, Redis down: sent %+v, want only %q", sent, polite)
	}
	noIDInv := inv
	noIDInv.ID = ""
	status, body, _ = b.post(noIDInv)
	if status != http.StatusOK {
		t.Fatalf("invoke without id, Redis down: status %d %s", status, body)
	}
	if typ, _, txt := invokeAnswer(t, body); typ != bot.InvokeTypeMessage || txt != polite {
		t.Errorf("invoke without id, Redis down: answered %s %q, want the message %q", typ, txt, polite)
	}
}

// ---------------------------------------------------------------------------
// 3. A connector that answers nothing but 429 and 503.

// stormConnector throttles every request: 503 without Retry-After, 429
// with Retry-After: 0 and 429 with Retry-After: 1 in turn. It counts the
// attempts per conversation.
type stormConnector struct {
	*httptest.Server
	n        atomic.Int64
	mu       sync.Mutex
	attempts map[string]int
}

func newStormConnector(t *testing.T) *stormConnector {
	s := &stormConnector{attempts: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		// /v3/conversations/{id}/activities…
		parts := strings.Split(r.URL.Path, "/")
		conv := ""
		if len(parts) > 3 {
			conv, _ = url.PathUnescape(parts[3])
		}
		s.mu.Lock()
		s.attempts[conv]++
		s.mu.Unlock()
		switch s.n.Add(1) % 3 {
		case 0:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
		io.WriteString(w, `{"error":{"code":"Throttled","message":"slow down"}}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *stormConnector) attemptsFor(conv string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[conv]
}

// stormActivity is a typed message from user in their 1:1 chat.
func stormActivity(serviceURL, user, id, textMsg string) schema.Activity {
	return schema.Activity{
		Type: schema.Message, ID: id, Text: textMsg,
		ChannelID: "msteams", ServiceURL: serviceURL, Locale: "ja-JP",
		From:         schema.ChannelAccount{ID: "29:" + user, AadObjectID: user},
		Recipient:    schema.ChannelAccount{ID: "28:bot"},
		Conversation: schema.ConversationAccount{ID: "a:" + user, ConversationType: "personal", TenantID: convTenant},
		ChannelData:  map[string]any{"tenant": map[string]any{"id": convTenant}},
	}
}

func TestFaultConnectorStorm(t *testing.T) {
	rs := startFaultRedis(t)
	b := startFaultBot(t, rs.url(), true)
	storm := newStormConnector(t)
	idBase := redistest.Prefix(t)
	closeIdle := func() {
		b.hc.CloseIdleConnections()
		storm.CloseClientConnections()
		b.bot.CloseIdleConnections() // the sandbox Graph client's, the connectors'
	}

	// One turn first, so that pools and lazily started goroutines exist
	// before the baseline is taken.
	if status, body, _ := b.post(stormActivity(storm.URL, "00000000-0000-4000-8000-0000000000ff", idBase+"warm", "スマホ交換")); status != http.StatusOK && status != http.StatusInternalServerError {
		t.Fatalf("warm-up turn: %d %s", status, body)
	}
	baseline := settleGoroutines(closeIdle)

	const turns = 50
	type result struct {
		status int
		took   time.Duration
	}
	results := make([]result, turns)
	users := make([]string, turns)
	acts := make([]schema.Activity, turns)
	for i := range turns {
		users[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		acts[i] = stormActivity(storm.URL, users[i], idBase+strconv.Itoa(i), "スマホ交換")
	}
	begin := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for i := range turns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			raw, _ := json.Marshal(acts[i])
			t0 := time.Now()
			resp, err := b.hc.Post(b.base+"/api/messages", "application/json", bytes.NewReader(raw))
			if err != nil {
				t.Errorf("turn %d: %v", i, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			results[i] = result{resp.StatusCode, time.Since(t0)}
		}()
	}
	close(begin)
	wg.Wait()
	total := time.Since(start)

	codes := map[int]int{}
	var slowest time.Duration
	attempts := map[int]int{}
	for i, r := range results {
		codes[r.status]++
		slowest = max(slowest, r.took)
		if r.status != http.StatusOK && r.status != http.StatusInternalServerError {
			t.Errorf("turn %d: status %d, want 200 or 500", i, r.status)
		}
		if r.took > faultTurnMax {
			t.Errorf("turn %d took %s, want < %s", i, r.took, faultTurnMax)
		}
		n := storm.attemptsFor("a:" + users[i])
		attempts[n]++
		if n < 1 || n > connectorMaxAttempts {
			t.Errorf("turn %d: %d connector attempts for its one send, want 1..%d", i, n, connectorMaxAttempts)
		}
	}
	t.Logf("storm: %d turns in %s (slowest %s); statuses %v; connector attempts per send %v", turns, total.Round(time.Millisecond), slowest.Round(time.Millisecond), codes, attempts)

	after := waitGoroutines(t, baseline, 5, 5*time.Second, closeIdle)
	t.Logf("goroutines: baseline %d, after the storm %d", baseline, after)

	// The storm passes; Teams redelivers a turn that failed. Its id was
	// forgotten, so it is handled, and this time the card arrives.
	conn := newConnStandIn(t)
	redelivered := acts[0]
	redelivered.ServiceURL = conn.URL
	if status, body, _ := b.post(redelivered); status != http.StatusOK {
		t.Fatalf("redelivered turn after the storm: %d %s", status, body)
	}
	sent := conn.to("a:" + users[0])
	if len(sent) != 1 {
		t.Fatalf("redelivered turn after the storm: %d activities sent, want 1", len(sent))
	}
	// The dialog was saved before the send failed, so the user is offered
	// to continue it (or, should that change, shown step 1 again).
	got := cards.CardID(cardOf(t, sent[0]))
	if got != "resume" && got != stepCard("cautions") {
		t.Errorf("redelivered スマホ交換 answered with %q, want resume or step 1", got)
	}
	t.Logf("redelivered スマホ交換 after the storm answered with card %q", got)
}

// ---------------------------------------------------------------------------
// 4. Graph slower than the client's timeout.

// slowGraph holds Graph calls, while slow, until released: longer than any
// client waits, and without noticing that the client went away, like a
// hung backend. fastLeft calls are still answered at once.
type slowGraph struct {
	next     http.Handler
	slow     atomic.Bool
	fastLeft atomic.Int64
	held     atomic.Int64
	inflight atomic.Int64
	release  chan struct{}
	once     sync.Once
}

func (g *slowGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.slow.Load() && g.fastLeft.Add(-1) < 0 {
		g.held.Add(1)
		g.inflight.Add(1)
		select {
		case <-g.release:
		case <-time.After(2 * time.Minute):
		}
		g.inflight.Add(-1)
	}
	g.next.ServeHTTP(w, r)
}

func (g *slowGraph) releaseAll() { g.once.Do(func() { close(g.release) }) }

func TestFaultGraphSlowerThanTimeout(t *testing.T) {
	const graphTimeout = 200 * time.Millisecond
	const checkTimeout = 2 * time.Second // longer than the client's: its own timeout is what fires
	sb := sandbox.New(sandbox.Options{})
	g := &slowGraph{next: sb.Handler(), release: make(chan struct{})}
	graphSrv := httptest.NewServer(g)
	t.Cleanup(graphSrv.Close)
	t.Cleanup(g.releaseAll) // runs before Close, which waits for the held calls
	logs := &syncBuffer{}
	a := newBot(t, map[string]string{"GRAPH_BASE_URL": sb.GraphBaseURL(graphSrv.URL)}, app.Options{
		Logger:       slog.New(slog.NewJSONHandler(logs, nil)),
		GraphTimeout: graphTimeout, CheckTimeout: checkTimeout,
		PollEvery: 20 * time.Millisecond, PollFor: 300 * time.Millisecond,
	})
	srv := a.Handler()
	conn := newConnStandIn(t)
	closeIdle := func() {
		conn.CloseClientConnections()
		graphSrv.CloseClientConnections()
		a.CloseIdleConnections()
	}
	baseline := settleGoroutines(closeIdle)

	toEnterNumber := func(c *chat) cards.Card {
		card := c.say("スマホ交換")
		for range 6 {
			card = c.press(card, cards.VerbNext)
		}
		wantCard(t, card, stepCard("enter_number")) // step 7
		return card
	}
	down := "Microsoft のサービスに接続できませんでした"
	checkDown := func(what string, card cards.Card) {
		t.Helper()
		wantCard(t, card, stepCard("confirm_new"))
		s := text(card)
		if !strings.Contains(s, down) {
			t.Errorf("%s: no %q: %s", what, down, s)
		}
		actionData(t, card, cards.VerbCheck) // 再確認
		for _, claim := range []string{"登録を確認しました", "iPhone 15", "✅"} {
			if strings.Contains(s, claim) {
				t.Errorf("%s: the card claims %q although Graph never answered: %s", what, claim, s)
			}
		}
	}

	// A. The check inside the turn: the new phone is registered, but Graph
	// hangs.
	c := faultChat(t, srv, conn, convUser)
	card := toEnterNumber(c)
	sb.AddMethod(c.user, "iPhone 15")
	g.slow.Store(true)
	start := time.Now()
	card = c.press(card, cards.VerbNext)
	took := time.Since(start)
	t.Logf("次へ with Graph hanging answered in %s", took.Round(time.Millisecond))
	if took > checkTimeout {
		t.Errorf("次へ with Graph hanging took %s; the client's %s timeout should end the check", took, graphTimeout)
	}
	checkDown("次へ with Graph hanging", card)
	if !strings.Contains(logs.String(), "no response within "+graphTimeout.String()) {
		t.Errorf("the client's timeout is not what ended the check; logs:\n%s", logs.String())
	}
	card = c.press(card, cards.VerbCheck)
	checkDown("再確認 with Graph hanging", card)
	card = c.press(card, cards.VerbNext)
	checkDown("次へ again with Graph hanging", card) // not on to step 9
	if st := c.say("状況"); !strings.Contains(text(st), "ステップ 8 / 10") {
		t.Errorf("status with Graph hanging: %s", text(st))
	}
	g.slow.Store(false)
	card = c.press(card, cards.VerbCheck)
	wantCard(t, card, stepCard("confirm_new"))
	if !strings.Contains(text(card), "新しいスマホ「iPhone 15」の登録を確認しました") {
		t.Errorf("once Graph answers, the new phone is not confirmed: %s", text(card))
	}

	// B. The wait after the acknowledgement: Graph answers the check in the
	// turn (no new phone yet), then hangs for every poll.
	u := c.other("0d6c1f3e-7a2b-4c5d-9e8f-102132435465")
	card = toEnterNumber(u)
	g.fastLeft.Store(1)
	g.slow.Store(true)
	card = u.press(card, cards.VerbNext)
	wantCard(t, card, stepCard("confirm_new"))
	if !strings.Contains(text(card), "確認しています") {
		t.Fatalf("no waiting notice while polling: %s", text(card))
	}
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Wait(wctx); err != nil {
		t.Fatalf("the poll did not end: %v", err)
	}
	var result cards.Card
	for _, a := range conn.to("a:" + u.user) {
		if len(a.Attachments) > 0 {
			result = cardOf(t, a)
		}
	}
	checkDown("poll result with Graph hanging", result)

	// Graph really was slower than the client: calls are still held.
	if g.held.Load() == 0 || g.inflight.Load() == 0 {
		t.Errorf("Graph calls held %d, still held %d: the stand-in was not slower than the client", g.held.Load(), g.inflight.Load())
	}
	t.Logf("Graph calls held past the client's timeout: %d", g.held.Load())
	g.releaseAll()
	after := waitGoroutines(t, baseline, 5, 5*time.Second, closeIdle)
	t.Logf("goroutines: baseline %d, after %d", baseline, after)
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(s, "(*slowGraph).ServeHTTP") && g.inflight.Load() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a Graph call is still blocked after release (%d held):\n%s", g.inflight.Load(), s)
		}
	}
}
