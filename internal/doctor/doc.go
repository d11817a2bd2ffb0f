// Package doctor checks a deployment before (or while) it serves: with the
// bot's own environment it reads the configuration, obtains the outbound
// Bot Framework token, loads the Bot Framework signing keys, obtains a
// Microsoft Graph token and compares its roles with the features the
// configuration enables, reads one harmless thing from Graph, pings Redis,
// looks for the helpdesk channel and checks the Teams manifest's bot id.
//
//	rep := doctor.Run(ctx, os.Getenv, doctor.Options{})
//	rep.Write(os.Stdout, doctor.LangBoth)
//	if rep.Blocked() { os.Exit(1) }
//
// Each check has its own short timeout and the independent ones run at
// once, so a run takes a few seconds even when an endpoint never answers.
// Every line has a verdict: OK, WARN (the bot runs, a feature is degraded),
// NG (production is blocked) or SKIP (not applicable in this mode).
//
// What it must not do: print a secret or a token (the report scrubs the
// configured secrets from every line, and a token's claims are read only
// for its roles); write anything but the report (it changes nothing in
// Redis, Graph or Entra); serve.
package doctor
