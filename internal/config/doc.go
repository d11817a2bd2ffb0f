// Package config reads the bot's configuration from the environment, once,
// into one typed Config: defaults applied, every value checked, and the
// first invalid or contradictory one reported as an *Error naming the
// variable. Secrets (passwords, the Redis URL, the webhook secret) are of
// type Secret, whose slog and fmt forms are redacted.
//
//	cfg, err := config.Load(os.Getenv)
//	var ce *config.Error
//	if errors.As(err, &ce) { … ce.Var … }
//	logger.Info("mfabot started", cfg.Summary()...)
//
// What it must not do: read the environment other than through the getenv
// given to Load; do I/O (it does not open STEPS_FILE or dial REDIS_URL: the
// app does, and reports their problems as *Error too); build or wire any
// part of the bot. Its only import of the bot's packages is dialogs for the
// reminder settings' types and defaults (dialogs.Window, ParseWindow,
// DefaultSchedule). Whether a host is loopback is internal/loopback's to
// say.
package config
