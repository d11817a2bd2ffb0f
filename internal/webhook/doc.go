// Package webhook posts events (any JSON-encodable value) to one URL as
// signed JSON webhooks, and gives receivers (and tests) Verify to check
// them. The bot uses it for the helpdesk's ticket events; it knows nothing
// of tickets, dialogs or the bot.
//
// What it must not do: log (Send returns errors, all of type
// *DeliveryError, and the caller logs them once), read the environment
// (internal/config reads HELPDESK_WEBHOOK_URL and HELPDESK_WEBHOOK_SECRET,
// and internal/app passes them in Options), start goroutines (Send
// delivers in the caller's goroutine; the app runs and tracks deliveries),
// or do network I/O in New. Error text and the String, GoString
// and LogValue forms of Options and Webhook never contain the secret or the
// URL's query string.
//
// # Use
//
//	wh, err := webhook.New(webhook.Options{
//		URL:    getenv("HELPDESK_WEBHOOK_URL"),
//		Secret: getenv("HELPDESK_WEBHOOK_SECRET"),
//	})
//	if err != nil { … }
//	if err := wh.Send(ctx, ticketEvent); err != nil {
//		var de *webhook.DeliveryError
//		errors.As(err, &de) // de.Attempts, de.Status, de.Err
//	}
//
// # The request
//
// Send marshals the event with encoding/json and POSTs it to the URL with
//
//	Content-Type: application/json
//	User-Agent: mfabot-webhook/1
//	X-MFABot-Delivery: 0b6f1c0e-5d5e-4c3a-9a57-2f1d8c7e4b21
//	X-MFABot-Timestamp: 1767225600
//	X-MFABot-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// The delivery id is a random UUID, the same on every attempt at one event,
// so a receiver can drop duplicates. The timestamp (Unix seconds) and the
// signature are computed afresh for each attempt; the body is not.
//
// # Receiving
//
// A receiver reads the raw body, then checks it before parsing it:
//
//	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
//	…
//	err = webhook.Verify(secret, r.Header.Get(webhook.HeaderTimestamp),
//		r.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute)
//	if err != nil {
//		http.Error(w, "unauthorized", http.StatusUnauthorized)
//		return
//	}
//
// Verify compares in constant time and refuses timestamps further than the
// tolerance from now, which bounds replays; within that window, the
// delivery id is what tells a replay or a retry from a new event.
//
// # Retries
//
// Transport errors and the statuses 408, 425, 429 and 5xx are retried, up
// to Options.MaxAttempts attempts in all. The pause before retry n is drawn
// from [b/2, b) with b = Options.Backoff × 2^(n-1), capped at one minute;
// a Retry-After of delay-seconds (or an HTTP date) on a 429 or 503 replaces
// it, also capped at one minute. Other statuses, including 3xx (redirects
// are never followed, so the signed request goes only to the configured
// URL), end delivery at once. Cancelling ctx ends a pause or a request in
// flight, and Send returns.
package webhook
