package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/dialogs"
	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/internal/metrics"
)

// One *metrics.Metrics is the observer of every producer: each declares
// the interface it reports to, and none imports Prometheus.
var (
	_ bot.TurnObserver      = (*metrics.Metrics)(nil)
	_ bot.ConnectorObserver = (*metrics.Metrics)(nil)
	_ graph.Observer        = (*metrics.Metrics)(nil)
	_ dialogs.Observer      = (*metrics.Metrics)(nil)
)

// reminderCounts reads the reminder worker's counters for the metrics.
func reminderCounts(r *dialogs.Reminders) func() metrics.ReminderCounts {
	return func() metrics.ReminderCounts {
		s := r.Stats()
		return metrics.ReminderCounts{
			Scheduled: s.Scheduled, Sent: s.Sent, Escalated: s.Escalated,
			Skipped: s.Skipped, Failed: s.Failed,
		}
	}
}

// newMetricsServer serves GET /metrics alone, on METRICS_ADDR.
func newMetricsServer(h http.Handler, logger *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
