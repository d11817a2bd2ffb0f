package bot

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// recordingObserver records what the server and the connector report.
type recordingObserver struct {
	mu        sync.Mutex
	turns     []string // "type outcome"
	calls     []string // "operation status"
	throttled []string
}

var (
	_ TurnObserver      = (*recordingObserver)(nil)
	_ ConnectorObserver = (*recordingObserver)(nil)
)

func (o *recordingObserver) ObserveTurn(typ, outcome string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if took <= 0 {
		outcome += " (no duration)"
	}
	o.turns = append(o.turns, typ+" "+outcome)
}

func (o *recordingObserver) ObserveConnectorCall(op, status string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if took <= 0 {
		status += " (no duration)"
	}
	o.calls = append(o.calls, op+" "+status)
}

func (o *recordingObserver) ObserveConnectorThrottled(op string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.throttled = append(o.throttled, op)
}

func (o *recordingObserver) lastTurn() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.turns) == 0 {
		return ""
	}
	return o.turns[len(o.turns)-1]
}

// failingDeduper cannot tell whether an activity was seen.
type failingDeduper struct{}

func (failingDeduper) Begin(context.Context, string, string, time.Duration) (Delivery, error) {
	return Delivery{}, errors.New("redis down")
}
func (failingDeduper) Finish(context.Context, string, string, []byte, time.Duration) (bool, error) {
	return false, errors.New("redis down")
}
func (failingDeduper) Forget(context.Context, string, string) error { return nil }

func TestTurnOutcomesObserved(t *testing.T) {
	obs := &recordingObserver{}
	tb := newTestBot(t, func(o *ServerOptions) { o.Observer = obs })
	step := func(name, want string, do func()) {
		t.Helper()
		do()
		if got := obs.lastTurn(); got != want {
			t.Errorf("%s: observed %q, want %q", name, got, want)
		}
	}
	msg := tb.activity(schema.Message, uniqueID(t), "hello")
	step("message", "message ok", func() { tb.post(t, msg, "") })
	step("redelivery", "message duplicate", func() { tb.post(t, msg, "") })
	step("invoke", "invoke ok", func() { tb.post(t, tb.activity(schema.Invoke, uniqueID(t), ""), "") })
	step("conversationUpdate", "conversationUpdate ok", func() { tb.post(t, tb.activity(schema.ConversationUpdate, uniqueID(t), ""), "") })
	step("installationUpdate", "installationUpdate ok", func() { tb.post(t, tb.activity("installationUpdate", uniqueID(t), ""), "") })
	step("a type chosen by the sender", "other ok", func() { tb.post(t, tb.activity(schema.ActivityTypes("x-"+uniqueID(t)), uniqueID(t), ""), "") })
	step("garbled", "unknown bad_request", func() { tb.postRaw([]byte("{"), "") })
	step("too large", "unknown too_large", func() {
		tb.post(t, tb.activity(schema.Message, uniqueID(t), strings.Repeat("あ", 400_000)), "")
	})
	tb.handler.onMessage = func(context.Context, *Turn) error { return errors.New("failed") }
	step("handler error", "message error", func() { tb.post(t, tb.activity(schema.Message, uniqueID(t), "x"), "") })
	tb.handler.onMessage = func(context.Context, *Turn) error { panic("boom") }
	step("panic", "message panic", func() { tb.post(t, tb.activity(schema.Message, uniqueID(t), "x"), "") })
	tb.handler.onMessage = nil
	tb.srv.opts.AllowedTenants = []string{"00000000-0000-0000-0000-000000000001"}
	step("tenant", "message forbidden_tenant", func() { tb.post(t, tb.activity(schema.Message, uniqueID(t), "x"), "") })
	tb.srv.opts.AllowedTenants = nil
	tb.srv.opts.Dedupe = failingDeduper{}
	step("dedupe down", "message unavailable", func() { tb.post(t, tb.activity(schema.Message, uniqueID(t), "x"), "") })

	authed := newAuthedTestBot(t)
	authed.srv.opts.Observer = obs
	step("no token", "message unauthorized", func() { authed.post(t, authed.activity(schema.Message, uniqueID(t), "x"), "") })
	step("garbled, no token", "unknown unauthorized", func() { authed.postRaw([]byte("{"), "") })
}

func TestConnectorCallsObserved(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/members/"):
			w.WriteHeader(http.StatusNotFound)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/activities") && posts.Add(1) == 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case r.Method == http.MethodPut:
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"id":"a1"}`))
		default:
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"id":"a1"}`))
		}
	}))
	t.Cleanup(srv.Close)
	obs := &recordingObserver{}
	c := NewConnector(ConnectorOptions{
		AllowLoopback: true, Observer: obs,
		Sleep: func(context.Context, time.Duration) error { return nil },
	})
	ctx := context.Background()
	if _, err := c.SendToConversation(ctx, srv.URL, "a:1", schema.Activity{Type: schema.Message, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	c.ReplyToActivity(ctx, srv.URL, "a:1", "x", schema.Activity{Type: schema.Message})
	c.UpdateActivity(ctx, srv.URL, "a:1", "x", schema.Activity{Type: schema.Message})
	c.SendTyping(ctx, srv.URL, "a:1")
	c.DeleteActivity(ctx, srv.URL, "a:1", "x")
	c.CreateConversation(ctx, srv.URL, schema.ConversationParameters{})
	if _, err := c.GetMember(ctx, srv.URL, "19:team", "29:someone"); err == nil {
		t.Fatal("GetMember of a stranger succeeded")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	c.SendTyping(canceled, srv.URL, "a:1")
	// Refused before any request: not a call.
	c.SendTyping(ctx, "https://evil.example.com", "a:1")

	want := []string{
		"send 201", // after one 429
		"reply 201",
		"update 200",
		"typing 201",
		"delete 201",
		"create_conversation 201",
		"get_member 404",
		"typing canceled",
	}
	if !slices.Equal(obs.calls, want) {
		t.Errorf("calls observed %q, want %q", obs.calls, want)
	}
	if !slices.Equal(obs.throttled, []string{"send"}) {
		t.Errorf("429s observed %q", obs.throttled)
	}
}

// prefetchingDeduper records activities under keys of its own and hands
// the turn a context carrying what it read.
type prefetchingDeduper struct {
	mu        sync.Mutex
	seen      map[string]bool
	forgotten []string
	finished  []string
}

type prefetchedKey struct{}

func (d *prefetchingDeduper) Begin(context.Context, string, string, time.Duration) (Delivery, error) {
	return Delivery{}, errors.New("a Prefetcher is asked through BeginPrefetch")
}

func (d *prefetchingDeduper) BeginPrefetch(ctx context.Context, key, _ string, _ time.Duration, a schema.Activity) (context.Context, string, Delivery, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	recorded := "user-tag:" + key
	if d.seen[recorded] {
		return ctx, recorded, Delivery{Done: true}, nil
	}
	d.seen[recorded] = true
	return context.WithValue(ctx, prefetchedKey{}, "read for "+a.ID), recorded, Delivery{First: true}, nil
}

func (d *prefetchingDeduper) Finish(_ context.Context, key, _ string, _ []byte, _ time.Duration) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.finished = append(d.finished, key)
	return true, nil
}

func (d *prefetchingDeduper) Forget(_ context.Context, key, _ string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgotten = append(d.forgotten, key)
	delete(d.seen, key)
	return nil
}

// A Deduper that prefetches: the turn runs with the context it returns, a
// redelivery is still dropped, and a failed turn's record is forgotten
// under the key it recorded.
func TestPrefetchingDeduper(t *testing.T) {
	dd := &prefetchingDeduper{seen: map[string]bool{}}
	tb := newTestBot(t, func(o *ServerOptions) { o.Dedupe = dd })
	var got []any
	tb.handler.onMessage = func(ctx context.Context, tr *Turn) error {
		got = append(got, ctx.Value(prefetchedKey{}))
		if tr.Activity.Text == "fail" {
			return errors.New("failed")
		}
		return nil
	}
	msg := tb.activity(schema.Message, uniqueID(t), "hello")
	tb.post(t, msg, "")
	tb.post(t, msg, "")
	if len(got) != 1 || got[0] != "read for "+msg.ID {
		t.Fatalf("the turn saw %v, want what the deduper read, once", got)
	}
	if len(dd.finished) != 1 || !strings.HasPrefix(dd.finished[0], "user-tag:") {
		t.Fatalf("finished %v, want the turn's recorded key", dd.finished)
	}
	bad := tb.activity(schema.Message, uniqueID(t), "fail")
	tb.post(t, bad, "")
	if len(dd.forgotten) != 1 || !strings.HasPrefix(dd.forgotten[0], "user-tag:") {
		t.Fatalf("forgotten %v, want the failed turn's recorded key", dd.forgotten)
	}
	tb.post(t, bad, "")
	if len(got) != 3 {
		t.Fatalf("a failed turn's redelivery was not handled: %d turns", len(got))
	}
}

// A turn's log lines carry the turn's attributes, added only when a line
// is written.
func TestTurnLoggerCarriesTheTurnsAttributes(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	log := withTurn(base, slog.String("activity_id", "a-1"), slog.String("tenant", "t-1"))
	log.Debug("not written")
	log.With("ticket", 7).WithGroup("g").Info("written", "k", "v")
	out := buf.String()
	if strings.Contains(out, "not written") || strings.Count(out, "\n") != 1 {
		t.Fatalf("lines: %q", out)
	}
	for _, want := range []string{`"activity_id":"a-1"`, `"tenant":"t-1"`, `"ticket":7`, `"g":{"k":"v"}`, `"msg":"written"`} {
		if !strings.Contains(out, want) {
			t.Errorf("line %q lacks %s", out, want)
		}
	}
}
