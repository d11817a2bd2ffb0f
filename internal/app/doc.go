// Package app is the bot's composition root: New assembles every part from
// a config.Config (the Redis store, the Graph client or the local sandbox,
// the conversation, the Bot Framework protocol layer, the connectors, the
// reminder worker, the helpdesk webhook, the metrics) and Serve runs them
// until its context ends, then shuts them down in order.
//
//	a, err := app.New(cfg, app.Options{Logger: logger})
//	if err != nil { … }
//	defer a.Close()
//	ln, err := net.Listen("tcp", cfg.ListenAddr())
//	…
//	return a.Serve(ctx, ln)
//
// It is the one place where the parts meet, and the one constructor that
// main and the tests share: a test builds its bot with New (its Options
// carry the test's clock, Redis, timings) and reaches the parts it needs
// through App's methods, never by wiring them again.
//
// Files: app.go (App, Options, New, the bot side), serve.go (Serve and the
// shutdown), redis.go, graph.go, tasks.go (the background work a shutdown
// waits for), and dialogs.go, which holds every line that names package
// dialogs, its Redis store or cards, so that a change of their API changes
// that file only.
//
// What it must not do: read the environment (config does, once); do
// network I/O in New (tokens, keys and Redis are first used by a turn, by
// /readyz or by Serve; the only exception is starting the embedded Redis
// when REDIS_URL is unset and Options.Redis is nil); start goroutines in
// New; or hold product logic: it adapts one part to another and decides
// nothing about the conversation.
package app
