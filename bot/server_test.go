package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
	"github.com/redis/go-redis/v9"

	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/internal/redistest"
)

const testTenant = "9f3a1c2e-5b7d-4e8f-a1b2-c3d4e5f60718"

// recordingHandler is the test's conversation: it counts turns and answers
// messages with an echo through the real connector.
type recordingHandler struct {
	messages, invokes, updates, installs atomic.Int32
	onMessage                            func(ctx context.Context, t *Turn) error
	onInvoke                             func(ctx context.Context, t *Turn) (InvokeResponse, error)
}

var _ Handler = (*recordingHandler)(nil)

func (h *recordingHandler) OnMessage(ctx context.Context, t *Turn) error {
	h.messages.Add(1)
	if h.onMessage != nil {
		return h.onMessage(ctx, t)
	}
	_, err := t.Send(ctx, schema.Activity{Type: schema.Message, Text: "echo: " + t.Activity.Text})
	return err
}

func (h *recordingHandler) OnInvoke(ctx context.Context, t *Turn) (InvokeResponse, error) {
	h.invokes.Add(1)
	if h.onInvoke != nil {
		return h.onInvoke(ctx, t)
	}
	return CardInvokeResponse(map[string]any{"type": "AdaptiveCard", "version": "1.5", "body": []any{}}), nil
}

func (h *recordingHandler) OnConversationUpdate(ctx context.Context, t *Turn) error {
	h.updates.Add(1)
	return nil
}

func (h *recordingHandler) OnInstallationUpdate(ctx context.Context, t *Turn) error {
	h.installs.Add(1)
	return nil
}

// connectorStandIn answers like the Bot Connector and records what it got.
type connectorStandIn struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []schema.Activity
}

func newConnectorStandIn(t testing.TB) *connectorStandIn {
	c := &connectorStandIn{}
	var n atomic.Int64
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a schema.Activity
		json.NewDecoder(r.Body).Decode(&a)
		c.mu.Lock()
		c.got = append(c.got, a)
		c.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"id": "act-" + string(rune('0'+n.Add(1)%10))})
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *connectorStandIn) received() []schema.Activity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]schema.Activity(nil), c.got...)
}

type testBot struct {
	srv     *Server
	handler *recordingHandler
	conn    *connectorStandIn
	rdb     *redis.Client
}

// storeDeduper is the Redis store as the bot's Deduper (internal/app
// adapts it the same way).
type storeDeduper struct{ *redisstore.Store }

func (d storeDeduper) Begin(ctx context.Context, key, token string, lease time.Duration) (Delivery, error) {
	r, err := d.Store.Begin(ctx, key, token, lease)
	return Delivery(r), err
}

func newTestBot(t testing.TB, mod func(*ServerOptions)) *testBot {
	t.Helper()
	rdb := redistest.Client(t)
	store := redisstore.New(rdb, redisstore.WithPrefix(redistest.Prefix(t)))
	tb := &testBot{handler: &recordingHandler{}, conn: newConnectorStandIn(t), rdb: rdb}
	opts := ServerOptions{
		Handler:   tb.handler,
		Connector: NewConnector(ConnectorOptions{AllowLoopback: true}),
		Dedupe:    storeDeduper{store},
		Ready:     []ReadyCheck{store.Ping},
	}
	if mod != nil {
		mod(&opts)
	}
	tb.srv = NewServer(opts)
	return tb
}

func (tb *testBot) activity(typ schema.ActivityTypes, id, text string) schema.Activity {
	return schema.Activity{
		Type:         typ,
		ID:           id,
		ChannelID:    "msteams",
		ServiceURL:   tb.conn.srv.URL + "/",
		Text:         text,
		Locale:       "ja-JP",
		From:         schema.ChannelAccount{ID: "29:user", AadObjectID: "c5e99701-2a32-49c1-a660-4629ceeb8c61"},
		Recipient:    schema.ChannelAccount{ID: "28:bot"},
		Conversation: schema.ConversationAccount{ID: "a:conv1", ConversationType: "personal", TenantID: testTenant},
		ChannelData:  map[string]any{"tenant": map[string]any{"id": testTenant}},
	}
}

func (tb *testBot) post(t testing.TB, a schema.Activity, header string) *httptest.ResponseRecorder {
	t.Helper()
	body, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return tb.postRaw(body, header)
}

func (tb *testBot) postRaw(body []byte, header string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	rec := httptest.NewRecorder()
	tb.srv.ServeHTTP(rec, req)
	return rec
}

func uniqueID(t testing.TB) string { return strings.TrimPrefix(redistest.Prefix(t), "test:") }

func TestLocalModeMessageRepliesThroughConnector(t *testing.T) {
	tb := newTestBot(t, nil)
	rec := tb.post(t, tb.activity(schema.Message, uniqueID(t), "こんにちは"), "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	got := tb.conn.received()
	if len(got) != 1 || got[0].Text != "echo: こんにちは" {
		t.Fatalf("connector got %+v", got)
	}
	if got[0].Conversation.ID != "a:conv1" || got[0].Recipient.ID != "29:user" || got[0].From.ID != "28:bot" {
		t.Errorf("reply not addressed back to the user: %+v", got[0])
	}
}

func TestTenantNotAllowedIsForbiddenAndNothingSent(t *testing.T) {
	tb := newTestBot(t, func(o *ServerOptions) { o.AllowedTenants = []string{"00000000-0000-0000-0000-000000000001"} })
	rec := tb.post(t, tb.activity(schema.Message, uniqueID(t), "スマホ交換"), "")
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403", rec.Code)
	}
	if n := tb.handler.messages.Load(); n != 0 {
		t.Errorf("handler ran %d times", n)
	}
	if got := tb.conn.received(); len(got) != 0 {
		t.Errorf("sent %d activities", len(got))
	}
}

// Five deliveries of one activity at once: one turn runs; a delivery
// that comes while it runs is asked to retry (503, Retry-After: the turn
// in flight may yet fail), and its retry, once the turn is done, is
// acknowledged as a duplicate.
func TestDuplicateDeliveryHandledOnce(t *testing.T) {
	tb := newTestBot(t, nil)
	a := tb.activity(schema.Message, uniqueID(t), "hello")
	var wg sync.WaitGroup
	answers := make([]*httptest.ResponseRecorder, 5)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = tb.post(t, a, "")
		}()
	}
	wg.Wait()
	ok := 0
	for _, r := range answers {
		switch {
		case r.Code == http.StatusOK:
			ok++
		case r.Code == http.StatusServiceUnavailable && r.Header().Get("Retry-After") != "":
			if again := tb.post(t, a, "").Code; again != http.StatusOK {
				t.Errorf("the retry of a delivery told to wait: %d, want 200", again)
			}
		default:
			t.Errorf("status %d (Retry-After %q), want 200 or 503 with Retry-After", r.Code, r.Header().Get("Retry-After"))
		}
	}
	if ok == 0 {
		t.Error("no delivery was answered 200")
	}
	if n := tb.handler.messages.Load(); n != 1 {
		t.Errorf("handled %d times, want 1", n)
	}
	if got := tb.conn.received(); len(got) != 1 {
		t.Errorf("sent %d replies, want 1", len(got))
	}
}

// An invoke redelivered after its turn succeeded gets the very answer the
// turn gave (status, body) and runs nothing; one redelivered after its
// turn failed is handled as new.
func TestInvokeRedeliveryGetsTheStoredAnswer(t *testing.T) {
	tb := newTestBot(t, nil)
	var fail atomic.Bool
	tb.handler.onInvoke = func(ctx context.Context, tr *Turn) (InvokeResponse, error) {
		if fail.Load() {
			return InvokeResponse{}, io.ErrUnexpectedEOF
		}
		// Each run answers differently, so a replay is told from a rerun.
		return CardInvokeResponse(map[string]any{"type": "AdaptiveCard", "version": "1.5",
			"body": []any{map[string]any{"type": "TextBlock", "text": fmt.Sprint("run ", tb.handler.invokes.Load())}}}), nil
	}
	press := tb.activity(schema.Invoke, uniqueID(t), "")
	first := tb.post(t, press, "")
	again := tb.post(t, press, "")
	if first.Code != http.StatusOK || again.Code != first.Code || again.Body.String() != first.Body.String() ||
		again.Header().Get("Content-Type") != first.Header().Get("Content-Type") {
		t.Fatalf("redelivery answered %d %q (%s), the turn %d %q (%s)", again.Code, again.Body, again.Header().Get("Content-Type"),
			first.Code, first.Body, first.Header().Get("Content-Type"))
	}
	if !strings.Contains(first.Body.String(), "run 1") {
		t.Fatalf("the turn's answer: %s", first.Body)
	}
	if n := tb.handler.invokes.Load(); n != 1 {
		t.Fatalf("the invoke ran %d times, want 1", n)
	}

	fail.Store(true)
	failed := tb.activity(schema.Invoke, uniqueID(t), "")
	if c := tb.post(t, failed, "").Code; c != http.StatusInternalServerError {
		t.Fatalf("a failed invoke: %d, want 500", c)
	}
	fail.Store(false)
	retry := tb.post(t, failed, "")
	if retry.Code != http.StatusOK || !strings.Contains(retry.Body.String(), "run 3") {
		t.Fatalf("the redelivery of a failed invoke: %d %s, want it handled as new", retry.Code, retry.Body)
	}
}

// A record left in progress by a replica that crashed mid-turn holds
// redeliveries off (503, retry) until its lease ends; then the activity is
// handled.
func TestRecordOfACrashedTurnExpires(t *testing.T) {
	tb := newTestBot(t, nil)
	a := tb.activity(schema.Message, uniqueID(t), "hello")
	store := tb.srv.opts.Dedupe
	// What the crashed replica left: the record, in progress, and nothing else.
	if d, err := store.Begin(context.Background(), seenKey(a.Conversation.ID, a.ID), "crashed", 300*time.Millisecond); err != nil || !d.First {
		t.Fatal(d, err)
	}
	if r := tb.post(t, a, ""); r.Code != http.StatusServiceUnavailable || r.Header().Get("Retry-After") == "" {
		t.Fatalf("during the lease: %d Retry-After %q, want 503 with Retry-After", r.Code, r.Header().Get("Retry-After"))
	}
	time.Sleep(400 * time.Millisecond)
	if c := tb.post(t, a, "").Code; c != http.StatusOK {
		t.Fatalf("after the lease: %d", c)
	}
	if n, got := tb.handler.messages.Load(), len(tb.conn.received()); n != 1 || got != 1 {
		t.Fatalf("handled %d times, %d answers; want 1 and 1", n, got)
	}
}

func TestFailedTurnIsRetriedOnRedelivery(t *testing.T) {
	tb := newTestBot(t, nil)
	var fail atomic.Bool
	fail.Store(true)
	tb.handler.onMessage = func(ctx context.Context, t *Turn) error {
		if fail.Load() {
			return io.ErrUnexpectedEOF
		}
		return nil
	}
	a := tb.activity(schema.Message, uniqueID(t), "hello")
	if rec := tb.post(t, a, ""); rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if strings.Contains(tb.post(t, a, "").Body.String(), "unexpected EOF") {
		t.Error("internal error text leaked into the response")
	}
	fail.Store(false)
	if rec := tb.post(t, a, ""); rec.Code != http.StatusOK {
		t.Fatalf("redelivery after failure: status %d", rec.Code)
	}
	if n := tb.handler.messages.Load(); n != 3 {
		t.Errorf("handled %d times, want 3 (failures are not remembered)", n)
	}
}

// A turn that ran out of its budget (a connector that does not answer) is
// answered 500 and its record dropped with a context of its own: Teams'
// retry of the activity is handled, not taken for a duplicate.
func TestTurnPastItsDeadlineIsRetriedOnRedelivery(t *testing.T) {
	tb := newTestBot(t, func(o *ServerOptions) { o.TurnTimeout = 50 * time.Millisecond })
	var hang atomic.Bool
	hang.Store(true)
	tb.handler.onMessage = func(ctx context.Context, t *Turn) error {
		if hang.Load() {
			<-ctx.Done() // the reply never gets through
			return ctx.Err()
		}
		return nil
	}
	a := tb.activity(schema.Message, uniqueID(t), "スマホ交換")
	if rec := tb.post(t, a, ""); rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	hang.Store(false)
	if rec := tb.post(t, a, ""); rec.Code != http.StatusOK {
		t.Fatalf("redelivery: status %d", rec.Code)
	}
	if n := tb.handler.messages.Load(); n != 2 {
		t.Errorf("handled %d times, want 2: the retry was taken for a duplicate", n)
	}
}

func TestBodyOverOneMiBIs413(t *testing.T) {
	tb := newTestBot(t, nil)
	a := tb.activity(schema.Message, uniqueID(t), strings.Repeat("あ", 400_000))
	if rec := tb.post(t, a, ""); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", rec.Code)
	}
	if n := tb.handler.messages.Load(); n != 0 {
		t.Errorf("handler ran")
	}
}

func TestGarbledBodyIs400InLocalMode(t *testing.T) {
	tb := newTestBot(t, nil)
	for _, body := range []string{"", "{", `{"type":`, `[]`, `{"text":"no type"}`} {
		if rec := tb.postRaw([]byte(body), ""); rec.Code != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", body, rec.Code)
		}
	}
}

func TestPanicInTurnIs500AndServerLives(t *testing.T) {
	tb := newTestBot(t, nil)
	tb.handler.onMessage = func(ctx context.Context, t *Turn) error { panic("boom") }
	a := tb.activity(schema.Message, uniqueID(t), "x")
	if rec := tb.post(t, a, ""); rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	tb.handler.onMessage = nil
	if rec := tb.post(t, tb.activity(schema.Message, uniqueID(t), "y"), ""); rec.Code != http.StatusOK {
		t.Fatalf("after panic: status %d", rec.Code)
	}
	// The panicking turn left no record: its redelivery is handled.
	if rec := tb.post(t, a, ""); rec.Code != http.StatusOK || tb.handler.messages.Load() != 3 {
		t.Fatalf("redelivery after the panic: status %d, %d turns run", rec.Code, tb.handler.messages.Load())
	}
}

func TestInvokeAnsweredInHTTPResponse(t *testing.T) {
	tb := newTestBot(t, nil)
	a := tb.activity(schema.Invoke, uniqueID(t), "")
	a.Name = "adaptiveCard/action"
	a.Value = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "start", "data": map[string]any{}}}
	rec := tb.post(t, a, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	var body struct {
		StatusCode int            `json:"statusCode"`
		Type       string         `json:"type"`
		Value      map[string]any `json:"value"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("invoke body %q: %v", rec.Body.String(), err)
	}
	if body.StatusCode != 200 || body.Type != "application/vnd.microsoft.card.adaptive" || body.Value["type"] != "AdaptiveCard" {
		t.Errorf("invoke body = %s", rec.Body.String())
	}
	if got := tb.conn.received(); len(got) != 0 {
		t.Errorf("invoke answer was also posted as a message: %+v", got)
	}
}

func TestActivityTypesRouted(t *testing.T) {
	tb := newTestBot(t, nil)
	for _, typ := range []schema.ActivityTypes{schema.ConversationUpdate, "installationUpdate", "messageReaction", "typing"} {
		if rec := tb.post(t, tb.activity(typ, uniqueID(t), ""), ""); rec.Code != http.StatusOK {
			t.Errorf("%s: status %d", typ, rec.Code)
		}
	}
	if tb.handler.updates.Load() != 1 || tb.handler.installs.Load() != 1 {
		t.Errorf("conversationUpdate %d, installationUpdate %d; want 1 each", tb.handler.updates.Load(), tb.handler.installs.Load())
	}
}

func TestReadyzFollowsRedis(t *testing.T) {
	tb := newTestBot(t, nil)
	get := func(path string) int {
		rec := httptest.NewRecorder()
		tb.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	if c := get("/readyz"); c != http.StatusOK {
		t.Errorf("/readyz = %d with Redis up", c)
	}
	// A store whose Redis is gone: nothing listens on this port.
	down := redisstore.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1}))
	tb2 := newTestBot(t, func(o *ServerOptions) { o.Ready = []ReadyCheck{down.Ping}; o.Dedupe = storeDeduper{down} })
	rec := httptest.NewRecorder()
	tb2.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with Redis down, want 503", rec.Code)
	}
	if c := tb2.post(t, tb2.activity(schema.Message, uniqueID(t), "x"), "").Code; c != http.StatusServiceUnavailable {
		t.Errorf("turn with Redis down: %d, want 503", c)
	}
	if tb2.handler.messages.Load() != 0 {
		t.Error("turn handled without its state store")
	}
	if c := get("/healthz"); c != http.StatusOK {
		t.Errorf("/healthz = %d", c)
	}
}

func TestLaterRunsAfterAckAndWaitFinishesIt(t *testing.T) {
	tb := newTestBot(t, nil)
	release := make(chan struct{})
	var done atomic.Bool
	tb.handler.onMessage = func(ctx context.Context, t *Turn) error {
		t.Later(func(ctx context.Context) {
			<-release
			t.Send(ctx, schema.Activity{Type: schema.Message, Text: "later"})
			done.Store(true)
		})
		return nil
	}
	if rec := tb.post(t, tb.activity(schema.Message, uniqueID(t), "slow"), ""); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if done.Load() {
		t.Fatal("deferred work ran before the acknowledgement")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := tb.srv.Wait(ctx); err == nil {
		t.Fatal("Wait returned while deferred work was still running")
	}
	close(release)
	if err := tb.srv.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !done.Load() || len(tb.conn.received()) != 1 {
		t.Errorf("deferred work did not complete: %v %d", done.Load(), len(tb.conn.received()))
	}
}
