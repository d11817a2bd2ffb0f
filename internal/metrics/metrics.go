package metrics

import (
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric of the bot's own.
const namespace = "mfabot"

// Buckets of the latency histograms, in seconds.
var (
	// turnBuckets end at Teams' 15-second acknowledgement deadline.
	turnBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15}
	// callBuckets cover outbound calls, throttling waits included.
	callBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	// completionBuckets: from a few minutes to a week (reminders bring
	// users back days later).
	completionBuckets = []float64{
		60, 2 * 60, 5 * 60, 10 * 60, 15 * 60, 20 * 60, 30 * 60, 45 * 60,
		3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600,
	}
)

// Metrics is the bot's collectors and their registry. It is safe for
// concurrent use. Create it with New.
type Metrics struct {
	reg *prometheus.Registry

	turns       *prometheus.CounterVec
	turnSeconds *prometheus.HistogramVec

	connCalls     *prometheus.CounterVec
	connSeconds   *prometheus.HistogramVec
	connThrottled *prometheus.CounterVec

	graphCalls   *prometheus.CounterVec
	graphSeconds *prometheus.HistogramVec
	graphDenied  *prometheus.CounterVec

	authRejected *prometheus.CounterVec

	started       prometheus.Counter
	entered       *prometheus.CounterVec
	completed     prometheus.Counter
	cancelled     *prometheus.CounterVec
	lost          prometheus.Counter
	removed       *prometheus.CounterVec
	completionSec prometheus.Histogram
	tickets       *prometheus.CounterVec

	sweepUsers     prometheus.Counter
	sweepFound     prometheus.Counter
	sweepGraph     prometheus.Counter
	sweepThrottled prometheus.Counter
	sweepCards     *prometheus.CounterVec

	remindersOnce sync.Once
}

// New returns the collectors, registered in a new registry together with
// the Go runtime and process collectors. It does no I/O.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	histogramVec := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	}

	m.turns = counterVec("turns_total",
		"Activities received on /api/messages, by activity type and outcome (ok, duplicate, unauthorized, forbidden_tenant, bad_request, too_large, error, panic, unavailable, in_progress).",
		"type", "outcome")
	m.turnSeconds = histogramVec("turn_duration_seconds",
		"Time to answer an activity on /api/messages (the synchronous part of the turn), by activity type.",
		turnBuckets, "type")
	m.connCalls = counterVec("connector_requests_total",
		"Calls to the Bot Connector, by operation (send, reply, update, delete, typing, create_conversation, get_member) and the HTTP status of the last answer (or error, timeout, canceled).",
		"operation", "status")
	m.connSeconds = histogramVec("connector_request_duration_seconds",
		"Duration of Bot Connector calls, retries and their waits included, by operation.",
		callBuckets, "operation")
	m.connThrottled = counterVec("connector_throttled_total",
		"429 answers from the Bot Connector, retried or not, by operation.",
		"operation")
	m.graphCalls = counterVec("graph_requests_total",
		"Calls to Microsoft Graph, by operation and the HTTP status of the last answer (or timeout, canceled, unauthorized, error when none arrived).",
		"operation", "status")
	m.graphSeconds = histogramVec("graph_request_duration_seconds",
		"Duration of Microsoft Graph calls, throttling retries included, by operation.",
		callBuckets, "operation")
	m.graphDenied = counterVec("graph_permission_missing_total",
		"Checks that left out a kind of credential because the app lacks its Microsoft Graph permission (403), by kind (passkey, fido2, oath, phone, tap) and the permission to grant.",
		"kind", "permission")
	m.authRejected = counterVec("auth_rejected_total",
		"Inbound requests refused for their token (401), by reason (no_token, malformed, bad_algorithm, unknown_key, bad_signature, wrong_issuer, wrong_audience, expired, not_yet_valid, wrong_service_url, not_endorsed, wrong_tenant, app_not_allowed, keys_unavailable, not_configured, other).",
		"reason")
	m.sweepUsers = counter("sweep_users_scanned_total", "Users whose Authenticator registrations this replica's sweep worker read (tenant sweep).")
	m.sweepFound = counter("sweep_candidates_total", "Users this replica's sweep worker found holding two or more Authenticator registrations of a kind.")
	m.sweepGraph = counter("sweep_graph_requests_total", "Graph HTTP requests this replica's sweep worker sent (a $batch counts one).")
	m.sweepThrottled = counter("sweep_graph_throttled_total", "Graph answers to this replica's sweep worker that were throttled (429/503), inside a batch or not.")
	m.sweepCards = counterVec("sweep_cards_total",
		"Candidates this replica's sweep worker handled, by outcome (notified, no_conversation, in_procedure, both_in_use, unreachable, failed:…).",
		"outcome")
	m.started = counter("dialogs_started_total", "Smartphone-swap procedures started (start over counts as a new start).")
	m.entered = counterVec("dialog_steps_entered_total",
		"Procedures that reached a step, by step id; each procedure counts once per step.", "step")
	m.completed = counter("dialogs_completed_total", "Procedures completed.")
	m.cancelled = counterVec("dialogs_cancelled_total", "Procedures cancelled, by the step they were at.", "step")
	m.lost = counter("dialogs_lost_phone_total", "Procedures that took the lost or broken old phone path.")
	m.removed = counterVec("credentials_removed_total",
		"Old credentials the deletion step verified gone through Graph, by kind (push, passkey, oath).", "kind")
	m.completionSec = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "dialog_completion_seconds",
		Help:    "Time from the start of a procedure to its completion.",
		Buckets: completionBuckets,
	})
	m.tickets = counterVec("ticket_events_total",
		"Helpdesk ticket events: opened, note_added, assigned, resolved, reopened, tap_issued, sessions_revoked, tap_deleted.", "event")

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.turns, m.turnSeconds,
		m.connCalls, m.connSeconds, m.connThrottled,
		m.graphCalls, m.graphSeconds, m.graphDenied,
		m.authRejected,
		m.sweepUsers, m.sweepFound, m.sweepGraph, m.sweepThrottled, m.sweepCards,
		m.started, m.entered, m.completed, m.cancelled, m.lost, m.removed, m.completionSec, m.tickets,
	)
	return m
}

// Handler serves the registry's metrics in the Prometheus exposition
// format (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry the collectors are in, for tests and for adding
// collectors of one's own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveTurn counts one activity received by the bot's endpoint (bot's
// TurnObserver).
func (m *Metrics) ObserveTurn(activityType, outcome string, took time.Duration) {
	m.turns.WithLabelValues(activityType, outcome).Inc()
	m.turnSeconds.WithLabelValues(activityType).Observe(took.Seconds())
}

// ObserveConnectorCall counts one Bot Connector call (bot's
// ConnectorObserver).
func (m *Metrics) ObserveConnectorCall(operation, status string, took time.Duration) {
	m.connCalls.WithLabelValues(operation, status).Inc()
	m.connSeconds.WithLabelValues(operation).Observe(took.Seconds())
}

// ObserveConnectorThrottled counts one 429 answer of the Bot Connector
// (bot's ConnectorObserver).
func (m *Metrics) ObserveConnectorThrottled(operation string) {
	m.connThrottled.WithLabelValues(operation).Inc()
}

// ObserveGraphCall counts one Microsoft Graph call (graph's Observer).
func (m *Metrics) ObserveGraphCall(operation, status string, took time.Duration) {
	m.graphCalls.WithLabelValues(operation, status).Inc()
	m.graphSeconds.WithLabelValues(operation).Observe(took.Seconds())
}

// PermissionMissing counts a kind of credential left out of a check
// because the app lacks permission, the permission Graph's error names.
func (m *Metrics) PermissionMissing(kind, permission string) {
	m.graphDenied.WithLabelValues(kind, permission).Inc()
}

// ObserveAuthRejected counts one inbound request refused for its token,
// by reason (bot's AuthObserver).
func (m *Metrics) ObserveAuthRejected(reason string) { m.authRejected.WithLabelValues(reason).Inc() }

// InitAuthReasons creates the series of the refusal reasons at zero, so
// that an alert on any of them has a series before the first refusal.
func (m *Metrics) InitAuthReasons(reasons []string) {
	for _, r := range reasons {
		m.authRejected.WithLabelValues(r)
	}
}

// DialogStarted counts a procedure started (dialogs' Observer).
func (m *Metrics) DialogStarted() { m.started.Inc() }

// StepEntered counts a procedure reaching step for the first time
// (dialogs' Observer).
func (m *Metrics) StepEntered(step string) { m.entered.WithLabelValues(step).Inc() }

// DialogCompleted counts a completed procedure and how long it took
// (dialogs' Observer).
func (m *Metrics) DialogCompleted(took time.Duration) {
	m.completed.Inc()
	m.completionSec.Observe(took.Seconds())
}

// DialogCancelled counts a procedure cancelled at step (dialogs' Observer).
func (m *Metrics) DialogCancelled(step string) { m.cancelled.WithLabelValues(step).Inc() }

// LostPhone counts a procedure taking the lost-phone path (dialogs'
// Observer).
func (m *Metrics) LostPhone() { m.lost.Inc() }

// CredentialRemoved counts an old credential verified gone, by kind.
func (m *Metrics) CredentialRemoved(kind string) { m.removed.WithLabelValues(kind).Inc() }

// TicketEvent counts a helpdesk ticket event (dialogs' Observer).
func (m *Metrics) TicketEvent(event string) { m.tickets.WithLabelValues(event).Inc() }

// InitSteps creates the per-step series at zero, so that rates and ratios
// over them exist before the first procedure reaches each step.
func (m *Metrics) InitSteps(steps []string) {
	for _, s := range steps {
		m.entered.WithLabelValues(s)
	}
}

// ReminderCounts is what the reminder worker has done since the process
// started (main converts dialogs.ReminderStats into it).
type ReminderCounts struct {
	Scheduled, Sent, Escalated int64
	// Skipped and Failed are by reason.
	Skipped, Failed map[string]int64
}

// Reasons exported at zero before the worker has seen them.
var (
	skipReasons = []string{"moved_on", "already_done", "duplicate", "no_reference"}
	failReasons = []string{"recipient_gone", "throttled", "error"}
)

// CollectReminders exports the reminder worker's counters, read from fn at
// every scrape. Only the first call has an effect.
func (m *Metrics) CollectReminders(fn func() ReminderCounts) {
	m.remindersOnce.Do(func() { m.reg.MustRegister(newReminderCollector(fn)) })
}

// reminderCollector turns ReminderCounts into counters at scrape time.
type reminderCollector struct {
	fn                                     func() ReminderCounts
	scheduled, sent, escalated, skip, fail *prometheus.Desc
}

func newReminderCollector(fn func() ReminderCounts) *reminderCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "reminders", name), help, labels, nil)
	}
	return &reminderCollector{
		fn:        fn,
		scheduled: desc("scheduled_total", "Follow-up reminders queued by the reminder worker after a reminder was sent."),
		sent:      desc("sent_total", "Reminders sent."),
		escalated: desc("escalated_total", "Users handed to the helpdesk after their last reminder."),
		skip:      desc("skipped_total", "Due reminders not sent, by reason (moved_on, already_done, duplicate, no_reference).", "reason"),
		fail:      desc("failed_total", "Reminder sends that failed, by reason (recipient_gone, throttled, error).", "reason"),
	}
}

func (c *reminderCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.scheduled, c.sent, c.escalated, c.skip, c.fail} {
		ch <- d
	}
}

func (c *reminderCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.fn()
	ch <- prometheus.MustNewConstMetric(c.scheduled, prometheus.CounterValue, float64(s.Scheduled))
	ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(s.Sent))
	ch <- prometheus.MustNewConstMetric(c.escalated, prometheus.CounterValue, float64(s.Escalated))
	byReason := func(d *prometheus.Desc, known []string, got map[string]int64) {
		all := map[string]int64{}
		for _, r := range known {
			all[r] = 0
		}
		maps.Copy(all, got)
		for _, r := range slices.Sorted(maps.Keys(all)) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(all[r]), r)
		}
	}
	byReason(c.skip, skipReasons, s.Skipped)
	byReason(c.fail, failReasons, s.Failed)
}

// SweepScanned counts users read and candidates found by the sweep worker
// (sweep.Observer).
func (m *Metrics) SweepScanned(users, candidates int) {
	m.sweepUsers.Add(float64(users))
	m.sweepFound.Add(float64(candidates))
}

// SweepGraph counts the sweep worker's Graph requests and throttled
// answers (sweep.Observer).
func (m *Metrics) SweepGraph(requests, throttled int) {
	m.sweepGraph.Add(float64(requests))
	m.sweepThrottled.Add(float64(throttled))
}

// SweepNotified counts one candidate handled, by outcome (sweep.Observer).
func (m *Metrics) SweepNotified(outcome string) { m.sweepCards.WithLabelValues(outcome).Inc() }
