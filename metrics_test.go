package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/internal/app"
)

// /metrics through the real handler: turns, the funnel, connector and
// Graph calls, as app.New wires them (one Metrics observing every part,
// served at GET /metrics on the bot's mux in local mode when METRICS_ADDR
// is unset).

// wantSeries checks that each series is there with the value wanted.
func wantSeries(t testing.TB, got map[string]float64, want map[string]float64) {
	t.Helper()
	for series, v := range want {
		g, ok := got[series]
		switch {
		case !ok:
			t.Errorf("no series %s", series)
		case g != v:
			t.Errorf("%s = %v, want %v", series, g, v)
		}
	}
}

func TestMetricsThroughTheHandler(t *testing.T) {
	c, _ := newChat(t, "")

	// The first send of the bot is throttled once, then retried.
	var throttled atomic.Bool
	c.conn.fail = func(int) (int, string) {
		if throttled.CompareAndSwap(false, true) {
			return http.StatusTooManyRequests, "1"
		}
		return 0, ""
	}

	// One user goes three steps and cancels.
	// Messages answer with a send; buttons with the invoke's response.
	card := c.say("スマホ交換") // Graph: the snapshot
	card = c.press(c.press(card, cards.VerbNext), cards.VerbNext)
	wantCard(t, card, stepCard("open_page"))
	wantCard(t, c.say("キャンセル"), "cancelled")

	// A redelivered activity and a body that is not an activity.
	a := c.activity(schema.Message)
	a.Text = "ヘルプ"
	c.post(a)
	c.post(a)
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/messages", strings.NewReader("{not json")))
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("bad body: %d", rec.Code)
	}

	// Another user completes the procedure.
	completeProcedure(t, c.other("0d6c1f3e-7a2b-4c5d-9e8f-102132435465"))

	got := scrape(t, c.h)
	wantSeries(t, got, map[string]float64{
		`mfabot_turns_total{outcome="ok",type="message"}`:          4, // スマホ交換, キャンセル, ヘルプ, and the second user's スマホ交換
		`mfabot_turns_total{outcome="duplicate",type="message"}`:   1,
		`mfabot_turns_total{outcome="bad_request",type="unknown"}`: 1,
		`mfabot_turns_total{outcome="ok",type="invoke"}`:           2 + 10,
		`mfabot_turn_duration_seconds_count{type="message"}`:       5,
		`mfabot_turn_duration_seconds_count{type="invoke"}`:        12,

		`mfabot_dialogs_started_total`:                             2,
		`mfabot_dialog_steps_entered_total{step="cautions"}`:       2,
		`mfabot_dialog_steps_entered_total{step="old_phone"}`:      2,
		`mfabot_dialog_steps_entered_total{step="open_page"}`:      2,
		`mfabot_dialog_steps_entered_total{step="add_method"}`:     1,
		`mfabot_dialog_steps_entered_total{step="remove_account"}`: 1,
		`mfabot_dialogs_cancelled_total{step="open_page"}`:         1,
		`mfabot_dialogs_completed_total`:                           1,
		`mfabot_dialog_completion_seconds_count`:                   1,

		// The bot sent four messages into chats (the answers to the typed
		// texts; buttons are answered in the invoke's response), the first
		// after a 429.
		`mfabot_connector_requests_total{operation="send",status="201"}`:    4,
		`mfabot_connector_throttled_total{operation="send"}`:                1,
		`mfabot_connector_request_duration_seconds_count{operation="send"}`: 4,
	})
	if n := got[`mfabot_graph_requests_total{operation="ListAuthenticatorMethods",status="200"}`]; n < 4 {
		t.Errorf("Graph list calls counted: %v, want at least 4 (two snapshots, the new phone, the deletion)", n)
	}
	if n := got[`mfabot_graph_request_duration_seconds_count{operation="ListAuthenticatorMethods"}`]; n < 4 {
		t.Errorf("Graph list durations: %v", n)
	}
	// Own registry: the Go runtime collectors, nothing from anyone else's.
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	for series := range got {
		if strings.Contains(series, convUser) || strings.Contains(series, convTenant) {
			t.Errorf("a series names a user or tenant: %s", series)
		}
	}
}

// Each Metrics has its own registry: two bots in one process (as in these
// tests) count apart, and neither touches Prometheus's global registry.
func TestMetricsTwoBotsDoNotCollide(t *testing.T) {
	c1, _ := newChat(t, "")
	c2, _ := newChat(t, "")

	c1.say("スマホ交換")
	c1.say("ヘルプ")
	c2.say("ヘルプ")

	ok := `mfabot_turns_total{outcome="ok",type="message"}`
	if got := scrape(t, c1.h)[ok]; got != 2 {
		t.Errorf("first bot: %v turns, want 2", got)
	}
	if got := scrape(t, c2.h)[ok]; got != 1 {
		t.Errorf("second bot: %v turns, want 1", got)
	}
	if got := scrape(t, c2.h)["mfabot_dialogs_started_total"]; got != 0 {
		t.Errorf("second bot counted the first bot's start: %v", got)
	}
}

// run serves /metrics on the bot's port, or only on METRICS_ADDR when set,
// and names it in the start-up line.
func TestRunServesMetrics(t *testing.T) {
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	start := func(vars map[string]string) (string, *syncBuffer, func()) {
		port := freePort(t)
		vars["PORT"] = strconv.Itoa(port)
		logs := &syncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"mfabot"}, env(vars), logs, logs) }()
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if code, _ := get(base + "/readyz"); code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("bot never became ready; logs:\n%s", logs.String())
			}
		}
		return base, logs, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}

	base, logs, stop := start(map[string]string{})
	code, body := get(base + "/metrics")
	if code != http.StatusOK || !strings.Contains(body, "mfabot_dialog_steps_entered_total{step=\"cautions\"} 0") ||
		!strings.Contains(body, "mfabot_reminders_sent_total 0") {
		t.Errorf("GET /metrics on the bot's port: %d\n%s", code, body)
	}
	if !strings.Contains(logs.String(), `"metrics":"GET /metrics on the bot's listener"`) {
		t.Errorf("start-up line does not say where /metrics is:\n%s", logs.String())
	}
	stop()

	mport := freePort(t)
	base, logs, stop = start(map[string]string{"METRICS_ADDR": ":" + strconv.Itoa(mport)})
	defer stop()
	if code, _ := get(base + "/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics on the bot's port with METRICS_ADDR set: %d, want 404", code)
	}
	code, body = get("http://127.0.0.1:" + strconv.Itoa(mport) + "/metrics")
	if code != http.StatusOK || !bytes.Contains([]byte(body), []byte("mfabot_dialogs_started_total 0")) {
		t.Errorf("GET /metrics on METRICS_ADDR: %d\n%s", code, body)
	}
	if !strings.Contains(logs.String(), `"metrics_addr":"127.0.0.1:`+strconv.Itoa(mport)+`"`) {
		t.Errorf("start-up line lacks metrics_addr:\n%s", logs.String())
	}
}

// In Azure mode the bot's listener faces the internet: GET /metrics is
// served there only when METRICS_PUBLIC=true asks for it (otherwise on
// METRICS_ADDR, or not at all). Local mode keeps it on the bot's port.
func TestMetricsOnPublicListenerOnlyWhenAsked(t *testing.T) {
	azure := map[string]string{
		"MicrosoftAppId": "11111111-2222-3333-4444-555555555555", "MicrosoftAppPassword": "s3cret",
		"MicrosoftAppTenantId": convTenant, "GRAPH_BASE_URL": "http://127.0.0.1:1/v1.0",
	}
	status := func(vars map[string]string) int {
		h := newBot(t, vars, app.Options{}).Handler()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return rec.Code
	}
	if c := status(azure); c != http.StatusNotFound {
		t.Errorf("Azure mode, no METRICS_PUBLIC: GET /metrics on the bot's listener %d, want 404", c)
	}
	if c := status(withVars(azure, "METRICS_PUBLIC", "false")); c != http.StatusNotFound {
		t.Errorf("Azure mode, METRICS_PUBLIC=false: %d, want 404", c)
	}
	public := newBot(t, withVars(azure, "METRICS_PUBLIC", "true"), app.Options{}).Handler()
	if got := scrape(t, public); len(got) == 0 {
		t.Error("Azure mode, METRICS_PUBLIC=true: no series on the bot's listener")
	}
	if c := status(map[string]string{}); c != http.StatusOK {
		t.Errorf("local mode: %d, want 200", c)
	}
	if c := status(map[string]string{"METRICS_PUBLIC": "false"}); c != http.StatusNotFound {
		t.Errorf("local mode, METRICS_PUBLIC=false: %d, want 404", c)
	}
}
