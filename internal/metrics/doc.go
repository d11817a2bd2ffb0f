// Package metrics holds the bot's Prometheus collectors, in a registry of
// its own, and serves them in the Prometheus text format.
//
// The packages that produce the numbers (bot, graph, dialogs) do not import
// Prometheus, nor this package: each declares a small observer interface of
// what it reports, and *Metrics satisfies all of them, so internal/app
// wires one Metrics into each:
//
//	m := metrics.New()
//	bot.NewServer(bot.ServerOptions{Observer: m, …})
//	bot.NewConnector(bot.ConnectorOptions{Observer: m, …})
//	graph.NewClient(graph.WithObserver(m), …)
//	dialogs.NewStats(dialogs.StatsOptions{Observer: m, …})
//	m.CollectReminders(func() metrics.ReminderCounts { … })
//	mux.Handle("GET /metrics", m.Handler())
//
// What it must not do: use Prometheus's global DefaultRegisterer or
// promauto (two Metrics in one process, as in tests, must not collide), log,
// or label a series with anything unbounded (tenant, user, conversation or
// activity ids): every label value comes from a short fixed list.
package metrics
