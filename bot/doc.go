// Package bot speaks the Bot Framework protocol for Microsoft Teams and knows
// nothing about MFA or phones.
//
// It owns the HTTP surface (POST /api/messages, /healthz, /readyz), inbound
// JWT validation (Validator, plugged into msbotbuilder-go's auth.TokenValidator
// interface: the Bot Framework's tokens, and optionally the bot's own
// tenant's; a refusal is an *AuthError with a bounded reason, told to an
// AuthObserver), the outbound connector client (Connector: token, retries,
// serviceUrl allow-list; it also satisfies msbotbuilder-go's client.Client),
// turn routing and invoke responses, and the exactly-once handling of
// Teams' redeliveries: each activity's idempotency record is taken in
// progress for a lease of the turn's budget, marked done with the turn's
// answer (replayed to a redelivery: an invoke gets the same body), dropped
// when the turn fails, and written again by a worker when a write had no
// clear outcome (see Deduper and uncertain.go). The conversation itself is
// a Handler supplied by the caller; state it needs (the records,
// readiness) is reached through the small interfaces declared here, and
// so are metrics:
// ServerOptions.Observer (TurnObserver) and ConnectorOptions.Observer
// (ConnectorObserver) are told of each request and each connector call; the
// package imports no metrics library.
//
// Leaf packages (dialogs, cards, graph) never import bot; internal/app wires
// them.
package bot
