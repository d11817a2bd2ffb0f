package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// connTokens is a TokenSource that counts its calls.
type connTokens struct {
	token string
	calls atomic.Int64
}

func (s *connTokens) Token(context.Context) (string, error) {
	s.calls.Add(1)
	return s.token, nil
}

// connRecorder records what a test connector server received.
type connRecorder struct {
	mu       sync.Mutex
	requests []connRequest
}

type connRequest struct {
	Method, Path, Auth string
	Body               []byte
}

func (r *connRecorder) add(req *http.Request) connRequest {
	body, _ := io.ReadAll(req.Body)
	cr := connRequest{Method: req.Method, Path: req.URL.EscapedPath(), Auth: req.Header.Get("Authorization"), Body: body}
	r.mu.Lock()
	r.requests = append(r.requests, cr)
	r.mu.Unlock()
	return cr
}

func (r *connRecorder) all() []connRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]connRequest(nil), r.requests...)
}

// connSetup starts a connector stand-in whose answers come from answer (given
// the 0-based index of the request) and returns a Connector allowed to reach
// it, its serviceUrl (under a base path, like the real /amer/ ones), the
// recorder and the waits the connector asked for.
func connSetup(t *testing.T, o ConnectorOptions, answer func(n int, w http.ResponseWriter, r connRequest)) (*Connector, string, *connRecorder, *[]time.Duration) {
	t.Helper()
	rec := &connRecorder{}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cr := rec.add(r)
		answer(int(n.Add(1)-1), w, cr)
	}))
	t.Cleanup(srv.Close)
	var mu sync.Mutex
	waits := &[]time.Duration{}
	o.AllowLoopback = true
	if o.Sleep == nil {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			*waits = append(*waits, d)
			mu.Unlock()
			return ctx.Err()
		}
	}
	return NewConnector(o), srv.URL + "/amer/tenant/", rec, waits
}

func answerID(id string) func(int, http.ResponseWriter, connRequest) {
	return func(_ int, w http.ResponseWriter, _ connRequest) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q}`, id)
	}
}

func message(text string) schema.Activity {
	return schema.Activity{Type: schema.Message, Text: text}
}

func TestConnectorRetriesAfterRetryAfter(t *testing.T) {
	c, svc, rec, waits := connSetup(t, ConnectorOptions{}, func(n int, w http.ResponseWriter, _ connRequest) {
		if n == 0 {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		answerID("m1")(n, w, connRequest{})
	})
	id, err := c.SendToConversation(context.Background(), svc, "a:1", message("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if id != "m1" {
		t.Errorf("id = %q, want m1", id)
	}
	if got := *waits; len(got) != 1 || got[0] != 7*time.Second {
		t.Errorf("waits = %v, want [7s]", got)
	}
	reqs := rec.all()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if len(reqs[1].Body) == 0 || !bytes.Equal(reqs[0].Body, reqs[1].Body) {
		t.Errorf("body not re-sent: %q then %q", reqs[0].Body, reqs[1].Body)
	}
}

func TestConnectorGivesUpAfterMaxAttempts(t *testing.T) {
	c, svc, rec, waits := connSetup(t, ConnectorOptions{MaxAttempts: 3}, func(_ int, w http.ResponseWriter, _ connRequest) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"code":"Throttled","message":"slow down"}}`)
	})
	_, err := c.SendToConversation(context.Background(), svc, "a:1", message("hello"))
	var ce *ConnectorError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ConnectorError", err)
	}
	if ce.Status != 429 || ce.Code != "Throttled" || ce.RetryAfter != time.Second {
		t.Errorf("error = %+v", ce)
	}
	if n := len(rec.all()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if n := len(*waits); n != 2 {
		t.Errorf("%d waits, want 2", n)
	}
}

func TestConnectorGivesUpOnLongRetryAfter(t *testing.T) {
	c, svc, rec, waits := connSetup(t, ConnectorOptions{MaxRetryWait: 30 * time.Second}, func(_ int, w http.ResponseWriter, _ connRequest) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	_, err := c.SendToConversation(context.Background(), svc, "a:1", message("hello"))
	var ce *ConnectorError
	if !errors.As(err, &ce) || ce.Status != 429 || ce.RetryAfter != 2*time.Minute {
		t.Fatalf("err = %v", err)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if len(*waits) != 0 {
		t.Errorf("waited %v", *waits)
	}
}

func TestConnectorRetriesTransientStatus(t *testing.T) {
	for _, status := range []int{412, 502, 503, 504} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			c, svc, rec, waits := connSetup(t, ConnectorOptions{}, func(n int, w http.ResponseWriter, _ connRequest) {
				if n < 2 {
					w.WriteHeader(status)
					return
				}
				answerID("ok")(n, w, connRequest{})
			})
			id, err := c.ReplyToActivity(context.Background(), svc, "a:1", "r1", message("hi"))
			if err != nil || id != "ok" {
				t.Fatalf("id, err = %q, %v", id, err)
			}
			if n := len(rec.all()); n != 3 {
				t.Errorf("%d requests, want 3", n)
			}
			// Full jitter: each wait lies in [0, base·2^(attempt-1)).
			for i, d := range *waits {
				if limit := backoffBase << i; d < 0 || d >= limit {
					t.Errorf("wait %d = %v, want in [0, %v)", i, d, limit)
				}
			}
			if len(*waits) != 2 {
				t.Errorf("waits = %v, want 2", *waits)
			}
		})
	}
}

func TestConnectorDoesNotRetryClientErrors(t *testing.T) {
	for _, tc := range []struct {
		status      int
		body        string
		code, msg   string
		contentType string
	}{
		{400, `{"error":{"code":"BadArgument","message":"Activity resulted into multiple skype activities"}}`, "BadArgument", "Activity resulted into multiple skype activities", "application/json"},
		{403, `{"error":{"code":"ForbiddenOperationException","message":"Bot is not installed in user's personal scope"}}`, "ForbiddenOperationException", "Bot is not installed in user's personal scope", "application/json"},
		{404, `not found`, "", "not found", "text/plain"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			c, svc, rec, waits := connSetup(t, ConnectorOptions{Tokens: &connTokens{token: "secret-token"}}, func(_ int, w http.ResponseWriter, _ connRequest) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			_, err := c.SendToConversation(context.Background(), svc, "a:1", message("hi"))
			var ce *ConnectorError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *ConnectorError", err)
			}
			if ce.Status != tc.status || ce.Code != tc.code || ce.Message != tc.msg {
				t.Errorf("error = %+v", ce)
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Errorf("error text leaks the token: %v", err)
			}
			if n := len(rec.all()); n != 1 || len(*waits) != 0 {
				t.Errorf("%d requests, waits %v; want 1 request, no wait", n, *waits)
			}
		})
	}
}

func TestConnectorRefusesServiceURL(t *testing.T) {
	var roundTrips atomic.Int64
	hc := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		roundTrips.Add(1)
		return nil, errors.New("no request should be made")
	})}
	tokens := &connTokens{token: "secret-token"}
	var logs bytes.Buffer
	c := NewConnector(ConnectorOptions{
		Tokens:     tokens,
		HTTPClient: hc,
		Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
	})
	ctx := context.Background()
	svc := "https://evil.example/amer/"
	calls := map[string]func() error{
		"send": func() error { _, err := c.SendToConversation(ctx, svc, "a:1", message("x")); return err },
		"reply": func() error {
			_, err := c.ReplyToActivity(ctx, svc, "a:1", "1", message("x"))
			return err
		},
		"update": func() error {
			_, err := c.UpdateActivity(ctx, svc, "a:1", "1", message("x"))
			return err
		},
		"delete": func() error { return c.DeleteActivity(ctx, svc, "a:1", "1") },
		"typing": func() error { return c.SendTyping(ctx, svc, "a:1") },
		"create": func() error {
			_, err := c.CreateConversation(ctx, svc, schema.ConversationParameters{})
			return err
		},
		"member": func() error { _, err := c.GetMember(ctx, svc, "a:1", "29:u"); return err },
		"client.Post": func() error {
			u, _ := url.Parse(svc + "v3/conversations/a:1/activities")
			return c.Post(*u, message("x"))
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrServiceURLNotAllowed) {
			t.Errorf("%s: err = %v, want ErrServiceURLNotAllowed", name, err)
		}
	}
	if n := roundTrips.Load(); n != 0 {
		t.Errorf("%d requests made", n)
	}
	if n := tokens.calls.Load(); n != 0 {
		t.Errorf("%d tokens fetched", n)
	}
	if !strings.Contains(logs.String(), "evil.example") || strings.Contains(logs.String(), "secret-token") {
		t.Errorf("log = %s", logs.String())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestConnectorMethodsAndIDs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, method, path, id string
		call                   func(c *Connector, svc string) (string, error)
	}{
		{"send", "POST", "/amer/tenant/v3/conversations/a:1/activities", "s1",
			func(c *Connector, svc string) (string, error) {
				return c.SendToConversation(ctx, svc, "a:1", message("x"))
			}},
		{"reply", "POST", "/amer/tenant/v3/conversations/a:1/activities/1767765488332", "r1",
			func(c *Connector, svc string) (string, error) {
				return c.ReplyToActivity(ctx, svc, "a:1", "1767765488332", message("x"))
			}},
		{"update", "PUT", "/amer/tenant/v3/conversations/a:1/activities/17", "u1",
			func(c *Connector, svc string) (string, error) {
				return c.UpdateActivity(ctx, svc, "a:1", "17", message("x"))
			}},
		{"create", "POST", "/amer/tenant/v3/conversations", "a:new",
			func(c *Connector, svc string) (string, error) {
				return c.CreateConversation(ctx, svc, schema.ConversationParameters{
					Bot:         schema.ChannelAccount{ID: "28:bot"},
					Members:     []schema.ChannelAccount{{ID: "29:user"}},
					ChannelData: map[string]any{"tenant": map[string]any{"id": "t1"}},
				})
			}},
		{"escaped", "POST", "/amer/tenant/v3/conversations/19:abc@thread.tacv2%3Bmessageid=1/activities/a%2Fb", "e1",
			func(c *Connector, svc string) (string, error) {
				return c.ReplyToActivity(ctx, strings.TrimSuffix(svc, "/"), "19:abc@thread.tacv2;messageid=1", "a/b", message("x"))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, svc, rec, _ := connSetup(t, ConnectorOptions{Tokens: &connTokens{token: "tok"}}, answerID(tc.id))
			id, err := tc.call(c, svc)
			if err != nil {
				t.Fatal(err)
			}
			if id != tc.id {
				t.Errorf("id = %q, want %q", id, tc.id)
			}
			r := rec.all()[0]
			if r.Method != tc.method || r.Path != tc.path {
				t.Errorf("request = %s %s, want %s %s", r.Method, r.Path, tc.method, tc.path)
			}
			if r.Auth != "Bearer tok" {
				t.Errorf("Authorization = %q", r.Auth)
			}
			if !json.Valid(r.Body) || bytes.Contains(r.Body, []byte("0001-01-01")) || bytes.Contains(r.Body, []byte("{}")) {
				t.Errorf("body = %s", r.Body)
			}
		})
	}
}

func TestConnectorAcceptedWithoutBody(t *testing.T) {
	c, svc, _, _ := connSetup(t, ConnectorOptions{}, func(_ int, w http.ResponseWriter, _ connRequest) {
		w.WriteHeader(http.StatusAccepted)
	})
	id, err := c.SendToConversation(context.Background(), svc, "a:1", message("text and a card"))
	if err != nil || id != "" {
		t.Errorf("id, err = %q, %v; want \"\", nil", id, err)
	}
}

func TestConnectorLocalModeHasNoAuthorization(t *testing.T) {
	c, svc, rec, _ := connSetup(t, ConnectorOptions{}, answerID("1"))
	if _, err := c.SendToConversation(context.Background(), svc, "a:1", message("x")); err != nil {
		t.Fatal(err)
	}
	if auth := rec.all()[0].Auth; auth != "" {
		t.Errorf("Authorization = %q, want none", auth)
	}
}

func TestConnectorTypingDeleteAndMember(t *testing.T) {
	c, svc, rec, _ := connSetup(t, ConnectorOptions{}, func(_ int, w http.ResponseWriter, r connRequest) {
		switch {
		case strings.Contains(r.Path, "/members/"):
			io.WriteString(w, `{"id":"29:u","name":"Ada","aadObjectId":"c5e99701-2a32-49c1-a660-4629ceeb8c61"}`)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	})
	ctx := context.Background()
	if err := c.SendTyping(ctx, svc, "a:1"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteActivity(ctx, svc, "a:1", "17"); err != nil {
		t.Fatal(err)
	}
	m, err := c.GetMember(ctx, svc, "a:1", "29:u")
	if err != nil {
		t.Fatal(err)
	}
	if m.AadObjectID != "c5e99701-2a32-49c1-a660-4629ceeb8c61" || m.Name != "Ada" {
		t.Errorf("member = %+v", m)
	}
	reqs := rec.all()
	want := []connRequest{
		{Method: "POST", Path: "/amer/tenant/v3/conversations/a:1/activities", Body: []byte(`{"type":"typing"}`)},
		{Method: "DELETE", Path: "/amer/tenant/v3/conversations/a:1/activities/17", Body: []byte{}},
		{Method: "GET", Path: "/amer/tenant/v3/conversations/a:1/members/29:u", Body: []byte{}},
	}
	for i, w := range want {
		r := reqs[i]
		if r.Method != w.Method || r.Path != w.Path || !bytes.Equal(r.Body, w.Body) {
			t.Errorf("request %d = %s %s %q, want %s %s %q", i, r.Method, r.Path, r.Body, w.Method, w.Path, w.Body)
		}
	}
}

func TestConnectorImplementsClientClient(t *testing.T) {
	c, svc, rec, _ := connSetup(t, ConnectorOptions{}, answerID("1"))
	u, err := url.Parse(svc + "v3/conversations/a:1/activities/9")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Post(*u, message("x")); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(*u, message("y")); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(*u, schema.Activity{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rec.all() {
		got = append(got, r.Method+" "+r.Path+" "+string(r.Body))
	}
	want := []string{
		`POST /amer/tenant/v3/conversations/a:1/activities/9 {"type":"message","text":"x"}`,
		`PUT /amer/tenant/v3/conversations/a:1/activities/9 {"type":"message","text":"y"}`,
		`DELETE /amer/tenant/v3/conversations/a:1/activities/9 `,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestConnectorContextCancel(t *testing.T) {
	t.Run("during request", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		c, svc, _, _ := connSetup(t, ConnectorOptions{}, func(_ int, w http.ResponseWriter, _ connRequest) {
			<-release
		})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.SendToConversation(ctx, svc, "a:1", message("x"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %v", d)
		}
	})
	t.Run("during retry wait", func(t *testing.T) {
		c, svc, _, _ := connSetup(t, ConnectorOptions{Sleep: sleepCtx}, func(_ int, w http.ResponseWriter, _ connRequest) {
			w.Header().Set("Retry-After", "20")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := c.SendTyping(ctx, svc, "a:1")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %v", d)
		}
	})
}

func TestConnectorTokenFetchedOnceForConcurrentSends(t *testing.T) {
	var tokenHits atomic.Int64
	aad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenHits.Add(1)
		time.Sleep(20 * time.Millisecond) // let the senders pile up
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"token_type":"Bearer","expires_in":3600,"ext_expires_in":3600,"access_token":"aad-token-1"}`)
	}))
	defer aad.Close()
	tokens := NewClientCredentials(ClientCredentialsOptions{
		Authority: aad.URL + "/tenant", ClientID: "app", ClientSecret: "pw",
		HTTPClient: aad.Client(),
	})
	c, svc, rec, _ := connSetup(t, ConnectorOptions{Tokens: tokens}, answerID("1"))

	const senders = 50
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := range senders {
		wg.Go(func() {
			_, err := c.SendToConversation(context.Background(), svc, fmt.Sprintf("a:%d", i), message("x"))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := tokenHits.Load(); n != 1 {
		t.Errorf("token endpoint hit %d times, want 1", n)
	}
	reqs := rec.all()
	if len(reqs) != senders {
		t.Fatalf("%d sends arrived, want %d", len(reqs), senders)
	}
	for _, r := range reqs {
		if r.Auth != "Bearer aad-token-1" {
			t.Fatalf("Authorization = %q", r.Auth)
		}
	}
}

func TestAllowedServiceURL(t *testing.T) {
	strict := NewConnector(ConnectorOptions{AllowedHosts: []string{"Connector.Example.org"}})
	local := NewConnector(ConnectorOptions{AllowLoopback: true})
	listed := NewConnector(ConnectorOptions{AllowedHosts: []string{"127.0.0.1"}})
	for _, tc := range []struct {
		url                  string
		strict, local, listd bool
	}{
		{"https://smba.trafficmanager.net/amer/", true, true, true},
		{"https://smba.trafficmanager.net/amer/56653e9d-2158-46ee-90d7-675c39642038/", true, true, true},
		{"https://SMBA.trafficmanager.net/teams", true, true, true},
		{"https://smba.trafficmanager.net:443/emea/", true, true, true},
		{"https://smba.infra.gcc.teams.microsoft.com/teams", true, true, true},
		{"https://smba.infra.gov.teams.microsoft.us/teams", true, true, true},
		{"https://smba.infra.dod.teams.microsoft.us/teams", true, true, true},
		{"https://connector.example.org/x", true, false, false},
		{"https://evil.example/amer/", false, false, false},
		{"https://smba.trafficmanager.net.evil.example/amer/", false, false, false},
		{"https://evil.smba.trafficmanager.net/amer/", false, false, false},
		{"https://smba.infra.a.b.teams.microsoft.com/teams", false, false, false},
		{"https://smba.infra..teams.microsoft.us/teams", false, false, false},
		{"https://smba.infra.gcc.teams.microsoft.us.evil.example/", false, false, false},
		{"http://smba.trafficmanager.net/amer/", false, false, false},
		{"https://smba.trafficmanager.net:8443/amer/", false, false, false},
		{"https://user:pw@smba.trafficmanager.net/amer/", false, false, false},
		{"https://smba.trafficmanager.net/amer/?x=1", false, false, false},
		{"ftp://smba.trafficmanager.net/amer/", false, false, false},
		{"smba.trafficmanager.net/amer/", false, false, false},
		{"", false, false, false},
		{"http://localhost:56150/_connector", false, true, false},
		{"http://127.0.0.1:3978/_connector", false, true, true},
		{"http://127.1.2.3:3978/", false, true, false},
		{"http://[::1]:3978/", false, true, false},
		{"https://127.0.0.1:3978/", false, true, true},
		{"http://10.0.0.1:3978/", false, false, false},
	} {
		if got := strict.AllowedServiceURL(tc.url); got != tc.strict {
			t.Errorf("strict: AllowedServiceURL(%q) = %v", tc.url, got)
		}
		if got := local.AllowedServiceURL(tc.url); got != tc.local {
			t.Errorf("loopback: AllowedServiceURL(%q) = %v", tc.url, got)
		}
		if got := listed.AllowedServiceURL(tc.url); got != tc.listd {
			t.Errorf("AllowedHosts 127.0.0.1: AllowedServiceURL(%q) = %v", tc.url, got)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"Tue, 24 Nov 2026 12:00:10 GMT", 10 * time.Second},
		{"Tue, 24 Nov 2026 11:59:00 GMT", 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestEncodeActivity(t *testing.T) {
	card := map[string]any{
		"type": "AdaptiveCard", "version": "1.5",
		"body": []any{
			map[string]any{"type": "TextBlock", "text": ""},
			map[string]any{"type": "Container", "items": []any{}, "selectAction": map[string]any{}},
			map[string]any{"type": "TextBlock", "text": "<b>a & b</b>"},
		},
	}
	a := schema.Activity{
		Type:         schema.Message,
		From:         schema.ChannelAccount{ID: "28:bot", Name: "MFA"},
		Conversation: schema.ConversationAccount{ID: "a:1"},
		Attachments:  []schema.Attachment{{ContentType: "application/vnd.microsoft.card.adaptive", Content: card}},
		Entities:     []schema.Entity{},
		ChannelData:  map[string]any{"notification": map[string]any{"alert": true}},
	}
	b, err := encodeActivity(a)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, bad := range []string{"0001-01-01", `"recipient"`, `"from":{}`, `"relatesTo"`, `"suggestedActions"`,
		`"semanticAction"`, `"entities"`, `"textFormat"`, `"attachmentLayout"`, `"id":""`, `"replyToId"`, "null", `\u003c`} {
		if strings.Contains(s, bad) {
			t.Errorf("encoded activity contains %s:\n%s", bad, s)
		}
	}
	var got struct {
		From        map[string]any
		Attachments []struct{ Content json.RawMessage }
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	wantCard, _ := json.Marshal(card)
	var gotCard, wantCardV any
	json.Unmarshal(got.Attachments[0].Content, &gotCard)
	json.Unmarshal(wantCard, &wantCardV)
	if fmt.Sprint(gotCard) != fmt.Sprint(wantCardV) {
		t.Errorf("card altered:\n got %s\nwant %s", got.Attachments[0].Content, wantCard)
	}
	for _, keep := range []string{`"text":""`, `"items":[]`, `"selectAction":{}`, `<b>a & b</b>`} {
		if !strings.Contains(string(got.Attachments[0].Content), keep) {
			t.Errorf("card lost %s: %s", keep, got.Attachments[0].Content)
		}
	}
	if fmt.Sprint(got.From) != "map[id:28:bot name:MFA]" {
		t.Errorf("from = %v", got.From)
	}

	t.Run("exact", func(t *testing.T) {
		b, err := encodeActivity(schema.Activity{Type: schema.Message, Text: "hi", ReplyToID: "17",
			Timestamp: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
			RelatesTo: schema.ConversationReference{ActivityID: "9", Conversation: schema.ConversationAccount{ID: "a:1"}}})
		if err != nil {
			t.Fatal(err)
		}
		// The shadowing fields of wireActivity come after the embedded ones.
		want := `{"type":"message","text":"hi","replyToId":"17","timestamp":"2026-11-24T12:00:00Z","relatesTo":{"activityId":"9","conversation":{"id":"a:1"}}}`
		if string(b) != want {
			t.Errorf("got  %s\nwant %s", b, want)
		}
	})
	t.Run("conversation parameters", func(t *testing.T) {
		b, err := encodeConversationParameters(schema.ConversationParameters{
			Bot:         schema.ChannelAccount{ID: "28:bot", Name: "MFA"},
			Members:     []schema.ChannelAccount{{ID: "29:user"}},
			ChannelData: map[string]any{"tenant": map[string]any{"id": "t1"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"members":[{"id":"29:user"}],"channelData":{"tenant":{"id":"t1"}},"bot":{"id":"28:bot","name":"MFA"}}`
		if string(b) != want {
			t.Errorf("got  %s\nwant %s", b, want)
		}
	})
}

// BenchmarkConnectorSend measures one send through the whole client path
// (allow-list, cached token, JSON, net/http, ResourceResponse decode) against
// a local stand-in.
func BenchmarkConnectorSend(b *testing.B) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"1767765488332"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := NewConnector(ConnectorOptions{Tokens: &connTokens{token: strings.Repeat("t", 1200)}, AllowLoopback: true})
	svc := srv.URL + "/amer/tenant/"
	a := schema.Activity{
		Type:         schema.Message,
		From:         schema.ChannelAccount{ID: "28:aabdbd62-bc97-4afb-83ee-575594577de5", Name: "bot"},
		Recipient:    schema.ChannelAccount{ID: "29:1uMVvho", AadObjectID: "c5e99701-2a32-49c1-a660-4629ceeb8c61"},
		Conversation: schema.ConversationAccount{ID: "a:17vxw6p", ConversationType: "personal", TenantID: "56653e9d-2158-46ee-90d7-675c39642038"},
		Text:         "Your new phone is registered.",
		Attachments: []schema.Attachment{{ContentType: "application/vnd.microsoft.card.adaptive", Content: map[string]any{
			"type": "AdaptiveCard", "version": "1.5", "body": []any{map[string]any{"type": "TextBlock", "text": "Done", "wrap": true}},
		}}},
	}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.SendToConversation(ctx, svc, "a:17vxw6p", a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16) // 32 goroutines on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.SendToConversation(ctx, svc, "a:17vxw6p", a); err != nil {
					b.Error(err)
					return
				}
			}
		})
		// With the pool sized for concurrency, connections are reused.
		b.ReportMetric(float64(conns.Load()), "conns")
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeActivity(a); err != nil {
				b.Fatal(err)
			}
		}
	})
}
