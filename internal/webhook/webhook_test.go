package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartswap/mfabot/internal/webhook"
)

const (
	secret     = "helpdesk-secret-7f3a9c2e5b" // what the receiver holds
	queryToken = "qtoken-do-not-leak-41d8"    // in the URL's query
	hookPath   = "/hooks/helpdesk"
	tolerance  = 5 * time.Minute
)

// start is the fake clock's start, on a whole second.
var start = time.Unix(1767225600, 0)

type ticketEvent struct {
	Ticket string `json:"ticket"`
	State  string `json:"state"`
	User   string `json:"user"`
}

var event = ticketEvent{Ticket: "INC-42", State: "opened", User: "adele@contoso.example"}

// clock is a fake time: Sleep records the pause and moves Now on by it.
// The receiver reads it from the server's goroutines, hence the lock.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newClock() *clock { return &clock{now: start} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// attempt is what the receiver saw of one request.
type attempt struct {
	header http.Header
	body   []byte
}

// receiver is the ticketing system: it checks each request (method, path,
// query, headers, the signature with Verify, and that another secret does
// not verify), answers 401 to a bad signature, and otherwise answers with
// respond(n) for the n-th request (1-based).
type receiver struct {
	t       *testing.T
	clock   *clock
	respond func(n int, w http.ResponseWriter, r *http.Request)

	mu       sync.Mutex
	attempts []attempt
}

// newReceiver starts a receiver on a real loopback server and returns it
// with the webhook URL to post to (a query token included).
func newReceiver(t *testing.T, c *clock, respond func(n int, w http.ResponseWriter, r *http.Request)) (*receiver, string) {
	t.Helper()
	rv := &receiver{t: t, clock: c, respond: respond}
	mux := http.NewServeMux()
	mux.Handle(hookPath, rv)
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a redirect was followed to %s", r.URL.Path)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return rv, srv.URL + hookPath + "?token=" + queryToken
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := rv.t
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read body: %v", err)
	}
	rv.mu.Lock()
	rv.attempts = append(rv.attempts, attempt{header: r.Header.Clone(), body: body})
	n := len(rv.attempts)
	rv.mu.Unlock()

	if r.Method != http.MethodPost {
		t.Errorf("method %s, want POST", r.Method)
	}
	if got := r.URL.Query().Get("token"); got != queryToken {
		t.Errorf("query token %q, want %q", got, queryToken)
	}
	for name, want := range map[string]string{
		"Content-Type": "application/json",
		"User-Agent":   "mfabot-webhook/1",
	} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	ts, sig := r.Header.Get("X-MFABot-Timestamp"), r.Header.Get("X-MFABot-Signature")
	if want := strconv.FormatInt(rv.clock.Now().Unix(), 10); ts != want {
		t.Errorf("timestamp %q, want the clock's %q", ts, want)
	}
	if err := webhook.Verify([]byte("another-secret-0123456789"), ts, sig, body, rv.clock.Now(), tolerance); !errors.Is(err, webhook.ErrSignature) {
		t.Errorf("Verify with another secret: %v, want ErrSignature", err)
	}
	if err := webhook.Verify([]byte(secret), ts, sig, body, rv.clock.Now(), tolerance); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	rv.respond(n, w, r)
}

func (rv *receiver) Attempts() []attempt {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]attempt(nil), rv.attempts...)
}

// statuses answers the n-th request with codes[n-1], and the last code
// after that.
func statuses(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(codes[min(n, len(codes))-1])
	}
}

// newWebhook builds a Webhook on c's clock; edit adjusts the options.
func newWebhook(t *testing.T, rawURL string, c *clock, edit func(*webhook.Options)) *webhook.Webhook {
	t.Helper()
	o := webhook.Options{URL: rawURL, Secret: secret, Now: c.Now, Sleep: c.Sleep}
	if edit != nil {
		edit(&o)
	}
	w, err := webhook.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return w
}

// deliveryError asserts err is a *DeliveryError with the given attempts
// and status, and that its text leaks neither the secret nor the query.
func deliveryError(t *testing.T, err error, attempts, status int) *webhook.DeliveryError {
	t.Helper()
	var de *webhook.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("Send: %v (%T), want a *DeliveryError", err, err)
	}
	if de.Attempts != attempts || de.Status != status {
		t.Errorf("DeliveryError{Attempts: %d, Status: %d}, want {%d, %d}: %v", de.Attempts, de.Status, attempts, status, err)
	}
	assertNoLeak(t, "Send error", err.Error())
	return de
}

func assertNoLeak(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range []string{secret, queryToken} {
		if strings.Contains(text, s) {
			t.Errorf("%s contains %q: %s", what, s, text)
		}
	}
}

// inRange asserts lo <= d < hi.
func inRange(t *testing.T, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d >= hi {
		t.Errorf("%s = %s, want in [%s, %s)", what, d, lo, hi)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSendSuccessFirstTime(t *testing.T) {
	c := newClock()
	rv, u := newReceiver(t, c, statuses(http.StatusAccepted))
	wh := newWebhook(t, u, c, nil)

	if err := wh.Send(t.Context(), event); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := rv.Attempts()
	if len(got) != 1 {
		t.Fatalf("%d attempts, want 1", len(got))
	}
	want, _ := json.Marshal(event)
	if !bytes.Equal(got[0].body, want) {
		t.Errorf("body %s, want %s", got[0].body, want)
	}
	if id := got[0].header.Get("X-MFABot-Delivery"); !uuidRE.MatchString(id) {
		t.Errorf("delivery id %q, want a random UUID", id)
	}
	if ts := got[0].header.Get("X-MFABot-Timestamp"); ts != "1767225600" {
		t.Errorf("timestamp %q, want 1767225600", ts)
	}
	if sig, want := got[0].header.Get("X-MFABot-Signature"), webhook.Sign([]byte(secret), "1767225600", want); sig != want {
		t.Errorf("signature %q, want %q", sig, want)
	}
	if s := c.Sleeps(); len(s) != 0 {
		t.Errorf("slept %v, want no pause", s)
	}
}

func TestSendRetries503ThenSucceeds(t *testing.T) {
	c := newClock()
	rv, u := newReceiver(t, c, statuses(503, 503, 200))
	wh := newWebhook(t, u, c, func(o *webhook.Options) { o.Backoff = 2 * time.Second })

	if err := wh.Send(t.Context(), event); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := rv.Attempts()
	if len(got) != 3 {
		t.Fatalf("%d attempts, want 3", len(got))
	}
	waits := c.Sleeps()
	if len(waits) != 2 {
		t.Fatalf("waits %v, want 2", waits)
	}
	inRange(t, "first wait", waits[0], time.Second, 2*time.Second)
	inRange(t, "second wait", waits[1], 2*time.Second, 4*time.Second)
	if waits[1] <= waits[0] {
		t.Errorf("waits %v, want growing", waits)
	}

	// One delivery id and body; a fresh timestamp and signature each time
	// (the clock moves on by each wait, at least a second).
	for i, a := range got[1:] {
		prev := got[i]
		if a.header.Get("X-MFABot-Delivery") != prev.header.Get("X-MFABot-Delivery") {
			t.Errorf("attempt %d: delivery id %q, was %q", i+2, a.header.Get("X-MFABot-Delivery"), prev.header.Get("X-MFABot-Delivery"))
		}
		if !bytes.Equal(a.body, prev.body) {
			t.Errorf("attempt %d: body changed", i+2)
		}
		if a.header.Get("X-MFABot-Timestamp") == prev.header.Get("X-MFABot-Timestamp") ||
			a.header.Get("X-MFABot-Signature") == prev.header.Get("X-MFABot-Signature") {
			t.Errorf("attempt %d: timestamp and signature not recomputed: %v", i+2, a.header)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		lo, hi     time.Duration // want the wait in [lo, hi)
	}{
		{"429 seconds", 429, "2", 2 * time.Second, 2*time.Second + 1},
		{"429 capped at a minute", 429, "3600", time.Minute, time.Minute + 1},
		{"429 zero", 429, "0", 0, 1},
		{"429 HTTP date", 429, start.Add(5 * time.Second).UTC().Format(http.TimeFormat), 5 * time.Second, 5*time.Second + 1},
		{"429 unparsable: back-off", 429, "soon", 500 * time.Millisecond, time.Second},
		{"429 without: back-off", 429, "", 500 * time.Millisecond, time.Second},
		{"503 seconds", 503, "7", 7 * time.Second, 7*time.Second + 1},
		{"500 ignores it", 500, "7", 500 * time.Millisecond, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			rv, u := newReceiver(t, c, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n > 1 {
					return // 200
				}
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
			})
			wh := newWebhook(t, u, c, nil)
			if err := wh.Send(t.Context(), event); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if n := len(rv.Attempts()); n != 2 {
				t.Errorf("%d attempts, want 2", n)
			}
			waits := c.Sleeps()
			if len(waits) != 1 {
				t.Fatalf("waits %v, want 1", waits)
			}
			inRange(t, "wait", waits[0], tc.lo, tc.hi)
		})
	}
}

func TestWhichStatusesAreRetried(t *testing.T) {
	tests := []struct {
		status int
		retry  bool
	}{
		{400, false}, {401, false}, {403, false}, {404, false}, {409, false},
		{410, false}, {413, false}, {422, false},
		{408, true}, {425, true}, {429, true},
		{500, true}, {502, true}, {503, true}, {504, true},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			c := newClock()
			rv, u := newReceiver(t, c, statuses(tc.status))
			wh := newWebhook(t, u, c, func(o *webhook.Options) { o.MaxAttempts = 3 })

			want := 1
			if tc.retry {
				want = 3
			}
			de := deliveryError(t, wh.Send(t.Context(), event), want, tc.status)
			if de.Err != nil {
				t.Errorf("Err = %v, want nil for a status failure", de.Err)
			}
			if n := len(rv.Attempts()); n != want {
				t.Errorf("receiver saw %d attempts, want %d", n, want)
			}
			if n := len(c.Sleeps()); n != want-1 {
				t.Errorf("%d waits, want %d", n, want-1)
			}
		})
	}
}

func TestGiveUpAfterMaxAttempts(t *testing.T) {
	c := newClock()
	rv, u := newReceiver(t, c, statuses(503))
	wh := newWebhook(t, u, c, nil) // defaults: 5 attempts, 1 s back-off

	err := wh.Send(t.Context(), event)
	deliveryError(t, err, 5, 503)
	if want := "webhook: delivery failed after 5 attempts: status 503 Service Unavailable"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if n := len(rv.Attempts()); n != 5 {
		t.Errorf("receiver saw %d attempts, want 5", n)
	}
	waits := c.Sleeps()
	if len(waits) != 4 {
		t.Fatalf("waits %v, want 4", waits)
	}
	for i, w := range waits {
		b := time.Second << i
		inRange(t, fmt.Sprintf("wait %d", i+1), w, b/2, b)
	}
}

func TestBackoffCappedAtAMinute(t *testing.T) {
	c := newClock()
	_, u := newReceiver(t, c, statuses(500))
	wh := newWebhook(t, u, c, func(o *webhook.Options) {
		o.MaxAttempts = 8
		o.Backoff = 10 * time.Second
	})
	deliveryError(t, wh.Send(t.Context(), event), 8, 500)

	// Bases 10 s, 20 s, 40 s, then the 1 min cap.
	waits := c.Sleeps()
	if len(waits) != 7 {
		t.Fatalf("waits %v, want 7", waits)
	}
	for i, w := range waits {
		b := min(10*time.Second<<i, time.Minute)
		inRange(t, fmt.Sprintf("wait %d", i+1), w, b/2, b)
	}
}

func TestTransportErrorsAreRetried(t *testing.T) {
	c := newClock()
	rv, u := newReceiver(t, c, func(_ int, w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.Close() // no response at all
	})
	wh := newWebhook(t, u, c, func(o *webhook.Options) { o.MaxAttempts = 3 })

	err := wh.Send(t.Context(), event)
	de := deliveryError(t, err, 3, 0)
	if n := len(rv.Attempts()); n != 3 {
		t.Errorf("receiver saw %d attempts, want 3", n)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("Err = %v (%T), want a *url.Error", de.Err, de.Err)
	}
	if !strings.HasSuffix(ue.URL, hookPath+"?REDACTED") {
		t.Errorf("url.Error URL %q, want the query redacted", ue.URL)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	redirect := func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}
	t.Run("default client", func(t *testing.T) {
		c := newClock()
		_, u := newReceiver(t, c, redirect)
		wh := newWebhook(t, u, c, nil)
		deliveryError(t, wh.Send(t.Context(), event), 1, http.StatusTemporaryRedirect)
	})
	t.Run("caller's client", func(t *testing.T) {
		c := newClock()
		_, u := newReceiver(t, c, redirect)
		hc := &http.Client{Timeout: 5 * time.Second}
		wh := newWebhook(t, u, c, func(o *webhook.Options) { o.HTTPClient = hc })
		deliveryError(t, wh.Send(t.Context(), event), 1, http.StatusTemporaryRedirect)
		if hc.CheckRedirect != nil {
			t.Error("New changed the caller's http.Client")
		}
	})
}

func TestWrongSecretIsRejected(t *testing.T) {
	c := newClock()
	rv, u := newReceiver(t, c, statuses(200))
	wh := newWebhook(t, u, c, func(o *webhook.Options) { o.Secret = "not-the-receivers-secret" })

	deliveryError(t, wh.Send(t.Context(), event), 1, http.StatusUnauthorized)
	if n := len(rv.Attempts()); n != 1 {
		t.Errorf("receiver saw %d attempts, want 1", n)
	}
}

func TestCancelDuringWait(t *testing.T) {
	t.Run("recorded sleep", func(t *testing.T) {
		c := newClock()
		rv, u := newReceiver(t, c, statuses(503))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		sleeping := make(chan struct{})
		wh := newWebhook(t, u, c, func(o *webhook.Options) {
			o.Sleep = func(ctx context.Context, d time.Duration) error {
				close(sleeping)
				<-ctx.Done()
				return ctx.Err()
			}
		})
		done := make(chan error, 1)
		go func() { done <- wh.Send(ctx, event) }()
		<-sleeping
		cancel()
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Send did not return after cancel")
		}
		deliveryError(t, err, 1, 503)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Send: %v, want context.Canceled", err)
		}
		if n := len(rv.Attempts()); n != 1 {
			t.Errorf("receiver saw %d attempts, want 1", n)
		}
	})

	t.Run("default sleep", func(t *testing.T) {
		c := newClock()
		_, u := newReceiver(t, c, statuses(503))
		wh := newWebhook(t, u, c, func(o *webhook.Options) {
			o.Sleep = nil
			o.Backoff = time.Minute // a 30-60 s pause, which cancel must cut short
		})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		time.AfterFunc(100*time.Millisecond, cancel)
		began := time.Now()
		err := wh.Send(ctx, event)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Send: %v, want context.Canceled", err)
		}
		if d := time.Since(began); d > 10*time.Second {
			t.Errorf("Send returned after %s, want promptly", d)
		}
	})

	t.Run("before the first attempt", func(t *testing.T) {
		c := newClock()
		rv, u := newReceiver(t, c, statuses(200))
		wh := newWebhook(t, u, c, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := wh.Send(ctx, event)
		deliveryError(t, err, 0, 0)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Send: %v, want context.Canceled", err)
		}
		if n := len(rv.Attempts()); n != 0 {
			t.Errorf("receiver saw %d attempts, want 0", n)
		}
	})
}

func TestDeliveryID(t *testing.T) {
	c := newClock()
	rv, u := newReceiver(t, c, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n%4 != 0 { // every event fails three times, then succeeds
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	wh := newWebhook(t, u, c, nil)
	for range 2 {
		if err := wh.Send(t.Context(), event); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	got := rv.Attempts()
	if len(got) != 8 {
		t.Fatalf("%d attempts, want 8", len(got))
	}
	ids := make([]string, len(got))
	for i, a := range got {
		ids[i] = a.header.Get("X-MFABot-Delivery")
		if !uuidRE.MatchString(ids[i]) {
			t.Errorf("attempt %d: delivery id %q, want a UUID", i+1, ids[i])
		}
	}
	for i := range 4 {
		if ids[i] != ids[0] || ids[4+i] != ids[4] {
			t.Errorf("delivery ids %v, want one per event, the same across its retries", ids)
			break
		}
	}
	if ids[0] == ids[4] {
		t.Errorf("two events share delivery id %q", ids[0])
	}
}

func TestConcurrentSends(t *testing.T) {
	c := newClock()
	rv, u := newReceiver(t, c, statuses(200))
	wh := newWebhook(t, u, c, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := wh.Send(t.Context(), ticketEvent{Ticket: fmt.Sprintf("INC-%d", i)}); err != nil {
				t.Errorf("Send: %v", err)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, a := range rv.Attempts() {
		seen[a.header.Get("X-MFABot-Delivery")] = true
	}
	if len(seen) != 20 {
		t.Errorf("%d distinct delivery ids, want 20", len(seen))
	}
}

func TestSendUnmarshallableEvent(t *testing.T) {
	c := newClock()
	rv, u := newReceiver(t, c, statuses(200))
	wh := newWebhook(t, u, c, nil)
	err := wh.Send(t.Context(), map[string]any{"bad": make(chan int)})
	de := deliveryError(t, err, 0, 0)
	var ute *json.UnsupportedTypeError
	if !errors.As(de, &ute) {
		t.Errorf("Send: %v, want a json.UnsupportedTypeError", err)
	}
	if n := len(rv.Attempts()); n != 0 {
		t.Errorf("receiver saw %d attempts, want 0", n)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		o       webhook.Options
		wantErr string // substring; empty means New succeeds
	}{
		{"https", webhook.Options{URL: "https://tickets.example.com/hook?token=" + queryToken, Secret: secret}, ""},
		{"http on 127.0.0.1", webhook.Options{URL: "http://127.0.0.1:8080/hook", Secret: secret}, ""},
		{"http on ::1", webhook.Options{URL: "http://[::1]:8080/hook", Secret: secret}, ""},
		{"http on localhost", webhook.Options{URL: "http://LocalHost/hook", Secret: secret}, ""},
		{"http on another 127/8 address", webhook.Options{URL: "http://127.0.0.2:8080/hook", Secret: secret}, ""},
		{"secret of exactly 16 bytes", webhook.Options{URL: "https://tickets.example.com/", Secret: "0123456789abcdef"}, ""},

		{"http on a public host", webhook.Options{URL: "http://example.com/hook?token=" + queryToken, Secret: secret}, "https"},
		{"http on a look-alike host", webhook.Options{URL: "http://localhost.example.com/", Secret: secret}, "https"},
		{"short secret", webhook.Options{URL: "https://tickets.example.com/", Secret: "short-secret"}, "at least 16"},
		{"empty secret", webhook.Options{URL: "https://tickets.example.com/"}, "at least 16"},
		{"user info", webhook.Options{URL: "https://bot:" + queryToken + "@tickets.example.com/", Secret: secret}, "user info"},
		{"user info on loopback", webhook.Options{URL: "http://bot@127.0.0.1/", Secret: secret}, "user info"},
		{"empty URL", webhook.Options{Secret: secret}, "empty"},
		{"relative URL", webhook.Options{URL: "/hook", Secret: secret}, "absolute"},
		{"no host", webhook.Options{URL: "https:///hook", Secret: secret}, "absolute"},
		{"other scheme", webhook.Options{URL: "ftp://tickets.example.com/", Secret: secret}, "scheme"},
		{"unparsable", webhook.Options{URL: "https://tickets.example.com/%zz?token=" + queryToken, Secret: secret}, "invalid URL"},
		{"negative MaxAttempts", webhook.Options{URL: "https://tickets.example.com/", Secret: secret, MaxAttempts: -1}, "MaxAttempts"},
		{"negative Backoff", webhook.Options{URL: "https://tickets.example.com/", Secret: secret, Backoff: -time.Second}, "Backoff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := webhook.New(tc.o)
			if tc.wantErr == "" {
				if err != nil || w == nil {
					t.Fatalf("New: %v, want a Webhook", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded, want an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New: %q, want it to contain %q", err, tc.wantErr)
			}
			assertNoLeak(t, "New error", err.Error())
		})
	}
}

func TestSign(t *testing.T) {
	// Computed independently:
	// printf '%s' '1767225600.{"ticket":"INC-42","state":"opened"}' | openssl dgst -sha256 -hmac 'test-secret-0123456789'
	got := webhook.Sign([]byte("test-secret-0123456789"), "1767225600", []byte(`{"ticket":"INC-42","state":"opened"}`))
	want := "sha256=9eed6a8b25b99ed7cd825e1de6f05c9d8fd4a5c30e1b67fbc7630465da966418"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	key := []byte(secret)
	body := []byte(`{"ticket":"INC-42"}`)
	ts := strconv.FormatInt(start.Unix(), 10)
	sig := webhook.Sign(key, ts, body)

	tests := []struct {
		name      string
		secret    []byte
		timestamp string
		signature string
		body      []byte
		now       time.Time
		want      error
	}{
		{"valid", key, ts, sig, body, start, nil},
		{"valid, upper-case hex", key, ts, "sha256=" + strings.ToUpper(strings.TrimPrefix(sig, "sha256=")), body, start, nil},
		{"valid at the tolerance's edge", key, ts, sig, body, start.Add(tolerance), nil},
		{"valid, receiver's clock behind", key, ts, sig, body, start.Add(-tolerance), nil},
		{"wrong secret", []byte("another-secret-0123456789"), ts, sig, body, start, webhook.ErrSignature},
		{"body changed", key, ts, sig, []byte(`{"ticket":"INC-43"}`), start, webhook.ErrSignature},
		{"timestamp changed", key, strconv.FormatInt(start.Unix()+1, 10), sig, body, start, webhook.ErrSignature},
		{"signature truncated", key, ts, sig[:len(sig)-2], body, start, webhook.ErrSignature},
		{"no sha256= prefix", key, ts, strings.TrimPrefix(sig, "sha256="), body, start, webhook.ErrSignature},
		{"not hex", key, ts, "sha256=zz", body, start, webhook.ErrSignature},
		{"empty signature", key, ts, "", body, start, webhook.ErrSignature},
		{"too old", key, ts, sig, body, start.Add(tolerance + time.Second), webhook.ErrTimestamp},
		{"from the future", key, ts, sig, body, start.Add(-tolerance - time.Second), webhook.ErrTimestamp},
		{"timestamp not a number", key, "yesterday", sig, body, start, webhook.ErrTimestamp},
		{"timestamp empty", key, "", sig, body, start, webhook.ErrTimestamp},
		{"timestamp far off", key, "-9223372036854775808", sig, body, start, webhook.ErrTimestamp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.secret, tc.timestamp, tc.signature, tc.body, tc.now, tolerance)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Verify: %v, want %v", err, tc.want)
			}
			if err != nil {
				assertNoLeak(t, "Verify error", err.Error())
			}
		})
	}
}

// TestSecretNeverInText prints and logs Options and a Webhook every way a
// caller might, and collects the error texts of the other tests' failure
// paths in one place: none holds the secret or the URL's query.
func TestSecretNeverInText(t *testing.T) {
	o := webhook.Options{URL: "https://tickets.example.com/hook?token=" + queryToken, Secret: secret}
	wh, err := webhook.New(o)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, v := range []any{o, &o, wh} {
		texts = append(texts, fmt.Sprintf("%v|%+v|%#v|%s", v, v, v, v))
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("webhook", "v", v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("webhook", "v", v)
		texts = append(texts, buf.String())
	}
	if !strings.Contains(texts[0], "?REDACTED") || !strings.Contains(texts[0], "[REDACTED]") {
		t.Errorf("Options printed as %s, want the query and secret shown as redacted", texts[0])
	}

	c := newClock()
	_, u := newReceiver(t, c, statuses(http.StatusBadRequest))
	w := newWebhook(t, u, c, nil)
	texts = append(texts, w.Send(t.Context(), event).Error())

	// A transport error: nothing listens on the port any more.
	srv := httptest.NewServer(http.NotFoundHandler())
	dead := srv.URL + hookPath + "?token=" + queryToken
	srv.Close()
	w = newWebhook(t, dead, c, func(o *webhook.Options) { o.MaxAttempts = 2 })
	err = w.Send(t.Context(), event)
	if err == nil {
		t.Fatal("Send to a closed server succeeded")
	}
	texts = append(texts, err.Error())

	for _, bad := range []webhook.Options{
		{URL: "http://example.com/?token=" + queryToken, Secret: secret},
		{URL: "https://tickets.example.com/%zz?token=" + queryToken, Secret: secret},
		{URL: "https://u:" + secret + "@tickets.example.com/", Secret: secret},
		{URL: "https://tickets.example.com/", Secret: secret[:10]},
	} {
		if _, err := webhook.New(bad); err == nil {
			t.Errorf("New(%v) succeeded", bad)
		} else {
			texts = append(texts, err.Error())
		}
	}
	texts = append(texts, webhook.Verify([]byte(secret), "1", "sha256=00", nil, start, tolerance).Error())

	for _, s := range texts {
		assertNoLeak(t, "text", s)
	}
}
