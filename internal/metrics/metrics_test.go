package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartswap/mfabot/internal/metrics"
)

func TestCounters(t *testing.T) {
	m := metrics.New()
	m.InitSteps([]string{"cautions", "old_phone"})
	m.ObserveTurn("message", "ok", 20*time.Millisecond)
	m.ObserveTurn("message", "ok", 30*time.Millisecond)
	m.ObserveTurn("invoke", "panic", time.Millisecond)
	m.ObserveConnectorCall("send", "201", 40*time.Millisecond)
	m.ObserveConnectorCall("send", "429", 2*time.Second)
	m.ObserveConnectorThrottled("send")
	m.ObserveConnectorThrottled("send")
	m.ObserveGraphCall("ListAuthenticatorMethods", "200", 120*time.Millisecond)
	m.ObserveGraphCall("GetUser", "timeout", 5*time.Second)
	m.DialogStarted()
	m.StepEntered("cautions")
	m.DialogCancelled("cautions")
	m.LostPhone()
	m.DialogCompleted(17 * time.Minute)
	m.TicketEvent("opened")
	m.TicketEvent("resolved")

	want := `
# HELP mfabot_turns_total Activities received on /api/messages, by activity type and outcome (ok, duplicate, unauthorized, forbidden_tenant, bad_request, too_large, error, panic, unavailable, in_progress).
# TYPE mfabot_turns_total counter
mfabot_turns_total{outcome="ok",type="message"} 2
mfabot_turns_total{outcome="panic",type="invoke"} 1
# HELP mfabot_connector_throttled_total 429 answers from the Bot Connector, retried or not, by operation.
# TYPE mfabot_connector_throttled_total counter
mfabot_connector_throttled_total{operation="send"} 2
# HELP mfabot_dialog_steps_entered_total Procedures that reached a step, by step id; each procedure counts once per step.
# TYPE mfabot_dialog_steps_entered_total counter
mfabot_dialog_steps_entered_total{step="cautions"} 1
mfabot_dialog_steps_entered_total{step="old_phone"} 0
# HELP mfabot_dialogs_cancelled_total Procedures cancelled, by the step they were at.
# TYPE mfabot_dialogs_cancelled_total counter
mfabot_dialogs_cancelled_total{step="cautions"} 1
# HELP mfabot_ticket_events_total Helpdesk ticket events: opened, note_added, assigned, resolved, reopened, tap_issued, sessions_revoked, tap_deleted.
# TYPE mfabot_ticket_events_total counter
mfabot_ticket_events_total{event="opened"} 1
mfabot_ticket_events_total{event="resolved"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"mfabot_turns_total", "mfabot_connector_throttled_total", "mfabot_dialog_steps_entered_total",
		"mfabot_dialogs_cancelled_total", "mfabot_ticket_events_total"); err != nil {
		t.Error(err)
	}

	for name, n := range map[string]int{
		"mfabot_turn_duration_seconds":              2, // by type
		"mfabot_connector_requests_total":           2,
		"mfabot_connector_request_duration_seconds": 1,
		"mfabot_graph_requests_total":               2,
		"mfabot_graph_request_duration_seconds":     2,
		"mfabot_dialogs_started_total":              1,
		"mfabot_dialogs_completed_total":            1,
		"mfabot_dialogs_lost_phone_total":           1,
		"mfabot_dialog_completion_seconds":          1,
	} {
		if got, err := testutil.GatherAndCount(m.Registry(), name); err != nil || got != n {
			t.Errorf("%s: %d series (%v), want %d", name, got, err, n)
		}
	}
	body := get(t, m.Handler())
	for _, line := range []string{
		`mfabot_graph_requests_total{operation="GetUser",status="timeout"} 1`,
		`mfabot_connector_requests_total{operation="send",status="429"} 1`,
		`mfabot_dialog_completion_seconds_bucket{le="1200"} 1`,
		`mfabot_dialog_completion_seconds_bucket{le="900"} 0`,
		`mfabot_turn_duration_seconds_count{type="message"} 2`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("exposition lacks %s", line)
		}
	}
}

func get(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// Two Metrics in one process keep apart, and neither registers anything in
// Prometheus's global registry.
func TestInstancesDoNotCollide(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.DialogStarted()
	a.DialogStarted()
	b.DialogStarted()
	a.CollectReminders(func() metrics.ReminderCounts { return metrics.ReminderCounts{Sent: 1} })
	b.CollectReminders(func() metrics.ReminderCounts { return metrics.ReminderCounts{Sent: 2} })
	for _, tc := range []struct {
		m       *metrics.Metrics
		started string
		sent    string
	}{{a, "2", "1"}, {b, "1", "2"}} {
		body := get(t, tc.m.Handler())
		if !strings.Contains(body, "mfabot_dialogs_started_total "+tc.started+"\n") || !strings.Contains(body, "mfabot_reminders_sent_total "+tc.sent+"\n") {
			t.Errorf("want started %s, sent %s:\n%s", tc.started, tc.sent, body)
		}
		if !strings.Contains(body, "go_goroutines ") || !strings.Contains(body, "process_") {
			t.Error("no Go runtime or process metrics")
		}
	}
	global, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range global {
		if strings.HasPrefix(f.GetName(), "mfabot_") {
			t.Errorf("%s is in the global registry", f.GetName())
		}
	}
}

func TestReminders(t *testing.T) {
	m := metrics.New()
	counts := metrics.ReminderCounts{
		Scheduled: 4, Sent: 3, Escalated: 1,
		Skipped: map[string]int64{"moved_on": 2, "something_new": 1},
		Failed:  map[string]int64{"throttled": 5},
	}
	m.CollectReminders(func() metrics.ReminderCounts { return counts })
	m.CollectReminders(func() metrics.ReminderCounts { return metrics.ReminderCounts{} }) // ignored
	want := `
# HELP mfabot_reminders_sent_total Reminders sent.
# TYPE mfabot_reminders_sent_total counter
mfabot_reminders_sent_total 3
# HELP mfabot_reminders_scheduled_total Follow-up reminders queued by the reminder worker after a reminder was sent.
# TYPE mfabot_reminders_scheduled_total counter
mfabot_reminders_scheduled_total 4
# HELP mfabot_reminders_escalated_total Users handed to the helpdesk after their last reminder.
# TYPE mfabot_reminders_escalated_total counter
mfabot_reminders_escalated_total 1
# HELP mfabot_reminders_skipped_total Due reminders not sent, by reason (moved_on, already_done, duplicate, no_reference).
# TYPE mfabot_reminders_skipped_total counter
mfabot_reminders_skipped_total{reason="already_done"} 0
mfabot_reminders_skipped_total{reason="duplicate"} 0
mfabot_reminders_skipped_total{reason="moved_on"} 2
mfabot_reminders_skipped_total{reason="no_reference"} 0
mfabot_reminders_skipped_total{reason="something_new"} 1
# HELP mfabot_reminders_failed_total Reminder sends that failed, by reason (recipient_gone, throttled, error).
# TYPE mfabot_reminders_failed_total counter
mfabot_reminders_failed_total{reason="error"} 0
mfabot_reminders_failed_total{reason="recipient_gone"} 0
mfabot_reminders_failed_total{reason="throttled"} 5
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"mfabot_reminders_sent_total", "mfabot_reminders_scheduled_total", "mfabot_reminders_escalated_total",
		"mfabot_reminders_skipped_total", "mfabot_reminders_failed_total"); err != nil {
		t.Error(err)
	}
	// Read at each scrape.
	counts.Sent = 7
	if !strings.Contains(get(t, m.Handler()), "mfabot_reminders_sent_total 7\n") {
		t.Error("the reminder counters are not read at scrape time")
	}
}

func TestAuthRejected(t *testing.T) {
	m := metrics.New()
	m.InitAuthReasons([]string{"wrong_issuer", "expired"})
	m.ObserveAuthRejected("wrong_issuer")
	m.ObserveAuthRejected("wrong_issuer")
	m.ObserveAuthRejected("app_not_allowed")
	want := `
# HELP mfabot_auth_rejected_total Inbound requests refused for their token (401), by reason (no_token, malformed, bad_algorithm, unknown_key, bad_signature, wrong_issuer, wrong_audience, expired, not_yet_valid, wrong_service_url, not_endorsed, wrong_tenant, app_not_allowed, keys_unavailable, not_configured, other).
# TYPE mfabot_auth_rejected_total counter
mfabot_auth_rejected_total{reason="app_not_allowed"} 1
mfabot_auth_rejected_total{reason="expired"} 0
mfabot_auth_rejected_total{reason="wrong_issuer"} 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "mfabot_auth_rejected_total"); err != nil {
		t.Error(err)
	}
}
