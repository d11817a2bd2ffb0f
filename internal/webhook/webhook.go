package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartswap/mfabot/internal/loopback"
	"github.com/smartswap/mfabot/internal/retry"
)

// Header names of a webhook request, spelled as sent.
const (
	HeaderTimestamp = "X-MFABot-Timestamp" // Unix seconds of the attempt
	HeaderSignature = "X-MFABot-Signature" // Sign(secret, timestamp, body)
	HeaderDelivery  = "X-MFABot-Delivery"  // random id, the same across retries
)

// UserAgent is the User-Agent header of every request.
const UserAgent = "mfabot-webhook/1"

// MinSecretLen is the shortest secret New accepts, in bytes.
const MinSecretLen = 16

const (
	defaultTimeout     = 10 * time.Second
	defaultMaxAttempts = 5
	defaultBackoff     = time.Second
	maxWait            = time.Minute // cap on a back-off pause and on Retry-After
	maxDrain           = 64 << 10    // response bytes read to reuse a connection
)

// Errors Verify wraps, for receivers that answer them differently.
var (
	ErrSignature = errors.New("webhook: signature does not match")
	ErrTimestamp = errors.New("webhook: timestamp outside tolerance")
)

// Options configures New. Print or log it freely: String, GoString and
// LogValue redact the secret and the URL's query.
type Options struct {
	// URL receives the POSTs (HELPDESK_WEBHOOK_URL). It must be https;
	// http is accepted only for loopback hosts (localhost, 127.0.0.0/8,
	// ::1), i.e. tests. It must not carry user info.
	URL string

	// Secret is the HMAC-SHA256 key (HELPDESK_WEBHOOK_SECRET), at least
	// MinSecretLen bytes. It is never logged or put in error text.
	Secret string

	// HTTPClient sends the requests. Nil means a client with a 10 s
	// timeout per attempt. Whichever client, Webhook uses a copy that does
	// not follow redirects: a 3xx ends delivery, so the signed request only
	// ever goes to URL.
	HTTPClient *http.Client

	// MaxAttempts bounds the attempts at one event, the first included.
	// Zero means 5.
	MaxAttempts int

	// Backoff is the pause before the first retry; each further retry
	// doubles it, with jitter, up to one minute. Zero means 1 s.
	Backoff time.Duration

	// Now gives the time of the X-MFABot-Timestamp header. Nil means
	// time.Now.
	Now func() time.Time

	// Sleep pauses between attempts and returns ctx's error if ctx is done
	// first. Nil means a timer that honours ctx; tests record the pauses.
	Sleep func(ctx context.Context, d time.Duration) error
}

// String describes the options with the secret and the URL's query
// redacted.
func (o Options) String() string {
	return fmt.Sprintf("webhook.Options{URL:%q Secret:%s MaxAttempts:%d Backoff:%s}",
		redactRawURL(o.URL), redactedSecret(o.Secret), o.MaxAttempts, o.Backoff)
}

// GoString is String, so that %#v redacts too.
func (o Options) GoString() string { return o.String() }

// LogValue logs the options with the secret and the URL's query redacted.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", redactRawURL(o.URL)),
		slog.String("secret", redactedSecret(o.Secret)),
		slog.Int("max_attempts", o.MaxAttempts),
		slog.Duration("backoff", o.Backoff),
	)
}

// Webhook delivers events to one URL. It is safe for concurrent use.
type Webhook struct {
	url         *url.URL
	redacted    string // url with the query redacted, for error text
	secret      []byte
	client      *http.Client
	maxAttempts int
	backoff     time.Duration
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error
}

// New validates o and returns a Webhook. It does no I/O. Errors never
// contain the secret or the URL's query.
func New(o Options) (*Webhook, error) {
	u, err := parseURL(o.URL)
	if err != nil {
		return nil, err
	}
	if len(o.Secret) < MinSecretLen {
		return nil, fmt.Errorf("webhook: secret is %d bytes, want at least %d", len(o.Secret), MinSecretLen)
	}
	if o.MaxAttempts < 0 {
		return nil, fmt.Errorf("webhook: MaxAttempts is %d, want 0 (default) or more", o.MaxAttempts)
	}
	if o.Backoff < 0 {
		return nil, fmt.Errorf("webhook: Backoff is %s, want 0 (default) or more", o.Backoff)
	}

	w := &Webhook{
		url:         u,
		redacted:    redactURL(u),
		secret:      []byte(o.Secret),
		maxAttempts: o.MaxAttempts,
		backoff:     min(o.Backoff, maxWait),
		now:         o.Now,
		sleep:       o.Sleep,
	}
	if w.maxAttempts == 0 {
		w.maxAttempts = defaultMaxAttempts
	}
	if w.backoff == 0 {
		w.backoff = defaultBackoff
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.sleep == nil {
		w.sleep = retry.Sleep
	}
	if o.HTTPClient != nil {
		c := *o.HTTPClient
		w.client = &c
	} else {
		w.client = &http.Client{Timeout: defaultTimeout}
	}
	w.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return w, nil
}

// parseURL checks a webhook URL: absolute, https (or http on a loopback
// host), with a host and without user info. Its errors quote neither the
// URL nor its query.
func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("webhook: URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error's text quotes the whole URL
		}
		return nil, fmt.Errorf("webhook: invalid URL: %w", err)
	}
	if u.User != nil {
		return nil, errors.New("webhook: URL must not contain user info; the request is authenticated by its signature")
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("webhook: URL must be absolute, with a host")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback.Host(u.Hostname()) {
			return nil, fmt.Errorf("webhook: URL must be https (http only for loopback hosts), not http://%s", u.Host)
		}
	default:
		return nil, fmt.Errorf("webhook: URL scheme must be https, not %q", u.Scheme)
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// redactURL is u without user info or fragment and with any query replaced
// by "REDACTED".
func redactURL(u *url.URL) string {
	r := *u
	r.User = nil
	r.Fragment, r.RawFragment = "", ""
	if r.RawQuery != "" || r.ForceQuery {
		r.RawQuery, r.ForceQuery = "REDACTED", false
	}
	return r.String()
}

func redactRawURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return redactURL(u)
}

func redactedSecret(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}

// String describes w with its URL's query redacted and without the secret.
func (w *Webhook) String() string {
	return fmt.Sprintf("webhook.Webhook{URL:%q MaxAttempts:%d Backoff:%s}", w.redacted, w.maxAttempts, w.backoff)
}

// GoString is String, so that %#v does not print the secret.
func (w *Webhook) GoString() string { return w.String() }

// LogValue logs w with its URL's query redacted and without the secret.
func (w *Webhook) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", w.redacted),
		slog.Int("max_attempts", w.maxAttempts),
		slog.Duration("backoff", w.backoff),
	)
}

// DeliveryError is the error of a failed Send.
type DeliveryError struct {
	// Attempts is the number of requests sent (0 if the event could not be
	// marshalled or ctx was done before the first).
	Attempts int
	// Status is the HTTP status the last attempt got, 0 if it got no
	// response.
	Status int
	// Err is why the last attempt failed: a transport error (a *url.Error
	// whose URL has its query redacted), ctx's error, or a marshalling
	// error. It is nil when the receiver answered with a failure Status and
	// nothing else went wrong.
	Err error
}

func (e *DeliveryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "webhook: delivery failed after %d attempt", e.Attempts)
	if e.Attempts != 1 {
		b.WriteByte('s')
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": status %d", e.Status)
		if t := http.StatusText(e.Status); t != "" {
			fmt.Fprintf(&b, " %s", t)
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Send marshals event as JSON and POSTs it, signed, retrying as the package
// documentation describes. Every attempt carries the same body and delivery
// id, and a fresh timestamp and signature. It returns nil on a 2xx response
// and otherwise a *DeliveryError.
func (w *Webhook) Send(ctx context.Context, event any) error {
	body, err := json.Marshal(event)
	if err != nil {
		return &DeliveryError{Err: fmt.Errorf("marshal event: %w", err)}
	}
	id := newDeliveryID()

	var (
		status int   // of the last response
		last   error // of the last attempt
	)
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return &DeliveryError{Attempts: attempt - 1, Status: status, Err: withLast(err, last)}
		}
		var retryAfter time.Duration
		var hasRetryAfter bool
		status, retryAfter, hasRetryAfter, last = w.post(ctx, id, body)
		if last == nil && status >= 200 && status < 300 {
			return nil
		}
		if last != nil && ctx.Err() != nil {
			// The request was cut short by ctx; last already says so.
			return &DeliveryError{Attempts: attempt, Err: last}
		}
		if attempt >= w.maxAttempts || (last == nil && !retryable(status)) {
			return &DeliveryError{Attempts: attempt, Status: status, Err: last}
		}
		wait := w.pause(attempt)
		if hasRetryAfter {
			wait = retryAfter
		}
		if err := w.sleep(ctx, wait); err != nil {
			return &DeliveryError{Attempts: attempt, Status: status, Err: withLast(err, last)}
		}
	}
}

// withLast is err, with the last attempt's error appended when there is
// one, so that neither is lost.
func withLast(err, last error) error {
	if last == nil {
		return err
	}
	return fmt.Errorf("%w (last attempt: %w)", err, last)
}

// post makes one attempt. It returns the response status, the Retry-After
// of a 429 or 503 if it had a usable one, and the transport error if
// there was no response.
func (w *Webhook) post(ctx context.Context, id string, body []byte) (status int, retryAfter time.Duration, hasRetryAfter bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(body))
	if err != nil {
		return 0, 0, false, w.redactErr(err)
	}
	now := w.now()
	ts := strconv.FormatInt(now.Unix(), 10)
	// Assigned, not Set, so the names go out spelled as documented.
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["User-Agent"] = []string{UserAgent}
	req.Header[HeaderDelivery] = []string{id}
	req.Header[HeaderTimestamp] = []string{ts}
	req.Header[HeaderSignature] = []string{Sign(w.secret, ts, body)}

	resp, err := w.client.Do(req)
	if err != nil {
		return 0, 0, false, w.redactErr(err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		resp.Body.Close()
	}()
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		retryAfter, hasRetryAfter = retry.After(resp.Header.Get("Retry-After"), now)
		retryAfter = min(retryAfter, maxWait)
	}
	return resp.StatusCode, retryAfter, hasRetryAfter, nil
}

// redactErr rewrites the URL that a *url.Error quotes, since the query of a
// webhook URL may hold a token.
func (w *Webhook) redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: w.redacted, Err: ue.Err}
	}
	return err
}

func retryable(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return status >= 500 && status <= 599
}

// pause is the back-off before retry n (1-based): drawn from [b/2, b) with
// b = backoff × 2^(n-1) capped at maxWait. The ranges of successive
// retries do not overlap below the cap, so pauses grow.
func (w *Webhook) pause(n int) time.Duration {
	b := w.backoff
	for i := 1; i < n && b < maxWait; i++ {
		b *= 2
	}
	b = min(b, maxWait)
	half := b / 2
	return half + mrand.N(b-half)
}

// newDeliveryID returns a random (version 4) UUID.
func newDeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Sign returns "sha256=" followed by the hex HMAC-SHA256, keyed by secret,
// of timestamp + "." + body.
func Sign(secret []byte, timestamp string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a request's signature and timestamp: signature must be
// Sign(secret, timestamp, body), compared in constant time, and timestamp
// (Unix seconds) must be within tolerance of now. A few minutes is a usual
// tolerance. Errors wrap ErrSignature or ErrTimestamp and never contain the
// secret.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: not Unix seconds", ErrTimestamp)
	}
	if d := time.Unix(now.Unix(), 0).Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s off, tolerance %s", ErrTimestamp, d, tolerance)
	}
	hexMAC, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return fmt.Errorf("%w: want the form sha256=<hex>", ErrSignature)
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil {
		return fmt.Errorf("%w: want the form sha256=<hex>", ErrSignature)
	}
	if !hmac.Equal(got, mac(secret, timestamp, body)) {
		return ErrSignature
	}
	return nil
}
