package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tokenClock is a controllable clock.
type tokenClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tokenClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *tokenClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// aadStandIn answers like AAD's v2 token endpoint, numbering its tokens, and
// checks the client-credentials form.
func aadStandIn(t *testing.T, expiresIn int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/tenant-1/oauth2/v2.0/token" {
			t.Errorf("token request %s %s", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type = %q", ct)
		}
		body, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("form %q: %v", body, err)
		}
		want := url.Values{
			"grant_type":    {"client_credentials"},
			"client_id":     {"app-id"},
			"client_secret": {"s3cr3t&=value"},
			"scope":         {"https://api.botframework.com/.default"},
		}
		if fmt.Sprint(form) != fmt.Sprint(want) {
			t.Errorf("form = %v, want %v", form, want)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":%d,"ext_expires_in":%d,"access_token":"tok-%d"}`, expiresIn, expiresIn, n)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestTokenClientCredentialsCachesAndRefreshes(t *testing.T) {
	srv, hits := aadStandIn(t, 3600)
	clock := &tokenClock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	ts := NewClientCredentials(ClientCredentialsOptions{
		Authority: srv.URL + "/tenant-1/", ClientID: "app-id", ClientSecret: "s3cr3t&=value",
		HTTPClient: srv.Client(), Now: clock.Now,
	})
	ctx := context.Background()
	step := func(advance time.Duration, want string, wantHits int64) {
		t.Helper()
		clock.Advance(advance)
		got, err := ts.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != want || hits.Load() != wantHits {
			t.Errorf("token %q after %d fetches, want %q after %d", got, hits.Load(), want, wantHits)
		}
	}
	step(0, "tok-1", 1)
	step(30*time.Minute, "tok-1", 1)
	step(24*time.Minute+59*time.Second, "tok-1", 1) // 54m59s: still more than 5 minutes left
	step(time.Second, "tok-2", 2)                   // 55m: refreshed 5 minutes before expiry
	step(10*time.Minute, "tok-2", 2)
}

func TestTokenShortLifetimeRefreshedHalfway(t *testing.T) {
	srv, hits := aadStandIn(t, 120)
	clock := &tokenClock{t: time.Unix(1_800_000_000, 0)}
	ts := NewClientCredentials(ClientCredentialsOptions{
		Authority: srv.URL + "/tenant-1", ClientID: "app-id", ClientSecret: "s3cr3t&=value",
		HTTPClient: srv.Client(), Now: clock.Now,
	})
	for range 3 {
		if _, err := ts.Token(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(61 * time.Second)
	if _, err := ts.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

func TestTokenConcurrentCallersShareOneFetch(t *testing.T) {
	var hits atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release
		io.WriteString(w, `{"token_type":"Bearer","expires_in":3600,"ext_expires_in":3600,"access_token":"shared"}`)
	}))
	defer srv.Close()
	ts := NewClientCredentials(ClientCredentialsOptions{Authority: srv.URL, ClientID: "a", ClientSecret: "b", HTTPClient: srv.Client()})

	const callers = 64
	var wg sync.WaitGroup
	got := make([]string, callers)
	for i := range callers {
		wg.Go(func() {
			tok, err := ts.Token(context.Background())
			if err != nil {
				t.Error(err)
			}
			got[i] = tok
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := hits.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	for i, tok := range got {
		if tok != "shared" {
			t.Fatalf("caller %d got %q", i, tok)
		}
	}
}

func TestTokenCallerCancelReturnsPromptly(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, `{"token_type":"Bearer","expires_in":3600,"access_token":"late"}`)
	}))
	defer srv.Close()
	defer close(release)
	ts := NewClientCredentials(ClientCredentialsOptions{Authority: srv.URL, ClientID: "a", ClientSecret: "b", HTTPClient: srv.Client()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := ts.Token(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
}

func TestTokenErrorDoesNotLeakSecret(t *testing.T) {
	const secret = "Xy7~super.secret-Value_42"
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"aad", `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: ` + secret + `","error_codes":[7000215]}`, 401, "invalid_client"},
		{"html", `<html>` + secret + `</html>`, 500, ""},
		{"bad json on 200", `{"access_token":` + secret, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			ts := NewClientCredentials(ClientCredentialsOptions{Authority: srv.URL, ClientID: "app", ClientSecret: secret, HTTPClient: srv.Client()})
			_, err := ts.Token(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error leaks the secret: %v", err)
			}
			if tc.status != 200 {
				var te *TokenError
				if !errors.As(err, &te) || te.Status != tc.status || te.Code != tc.code {
					t.Errorf("err = %#v", err)
				}
			}
			// Failures are not cached: the next call asks again.
			ts.Token(context.Background())
			if n := hits.Load(); n != 2 {
				t.Errorf("%d fetches, want 2", n)
			}
		})
	}
}

func TestTokenErrorFromConnectorCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"unauthorized_client","error_description":"AADSTS700016: Application not found"}`)
	}))
	defer srv.Close()
	ts := NewClientCredentials(ClientCredentialsOptions{Authority: srv.URL, ClientID: "app", ClientSecret: "pw-123456", HTTPClient: srv.Client()})
	c, svc, rec, _ := connSetup(t, ConnectorOptions{Tokens: ts}, answerID("1"))
	_, err := c.SendToConversation(context.Background(), svc, "a:1", message("x"))
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "unauthorized_client" {
		t.Fatalf("err = %v", err)
	}
	if len(rec.all()) != 0 {
		t.Error("sent without a token")
	}
}

func TestTokenManagedIdentityAppService(t *testing.T) {
	clock := &tokenClock{t: time.Unix(1_800_000_000, 0)}
	expiresOn := clock.Now().Add(24 * time.Hour).Unix()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		q := r.URL.Query()
		if r.Method != http.MethodGet || r.URL.Path != "/msi/token" ||
			q.Get("api-version") != "2019-08-01" || q.Get("resource") != "https://api.botframework.com" {
			t.Errorf("MSI request %s %s", r.Method, r.URL)
		}
		if q.Get("client_id") != "msi-client" || r.Header.Get("X-IDENTITY-HEADER") != "id-header-value" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"statusCode":400,"message":"bad request"}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":"msi-tok","expires_on":"%d","resource":"https://api.botframework.com","token_type":"Bearer","client_id":"msi-client"}`, expiresOn)
	}))
	defer srv.Close()
	ts := NewManagedIdentity(ManagedIdentityOptions{
		ClientID: "msi-client", Endpoint: srv.URL + "/msi/token", Header: "id-header-value",
		HTTPClient: srv.Client(), Now: clock.Now,
	})
	for range 2 {
		tok, err := ts.Token(context.Background())
		if err != nil || tok != "msi-tok" {
			t.Fatalf("token, err = %q, %v", tok, err)
		}
	}
	clock.Advance(24*time.Hour - 4*time.Minute) // within 5 minutes of expires_on
	if _, err := ts.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}

	bad := NewManagedIdentity(ManagedIdentityOptions{Endpoint: srv.URL + "/msi/token", Header: "wrong", HTTPClient: srv.Client()})
	_, err := bad.Token(context.Background())
	var te *TokenError
	if !errors.As(err, &te) || te.Status != 400 || te.Description != "bad request" {
		t.Errorf("err = %v", err)
	}
}

func TestTokenManagedIdentityIMDS(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Header.Get("Metadata") != "true" || r.Header.Get("X-IDENTITY-HEADER") != "" ||
			q.Get("api-version") != "2018-02-01" || q.Get("resource") != "https://api.botframework.com" || q.Get("client_id") != "" {
			t.Errorf("IMDS request %s %v", r.URL, r.Header)
		}
		io.WriteString(w, `{"access_token":"imds-tok","client_id":"x","expires_in":"86399","expires_on":"1800086399","ext_expires_in":"86399","not_before":"1800000000","resource":"https://api.botframework.com","token_type":"Bearer"}`)
	}))
	defer srv.Close()
	target, _ := url.Parse(srv.URL)
	var seen atomic.Value
	// Send what is addressed to the IMDS to the stand-in, noting the address.
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen.Store(r.URL.Scheme + "://" + r.URL.Host + r.URL.Path)
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = target.Scheme, target.Host
		return http.DefaultTransport.RoundTrip(r)
	})}
	ts := NewManagedIdentity(ManagedIdentityOptions{HTTPClient: hc})
	tok, err := ts.Token(context.Background())
	if err != nil || tok != "imds-tok" {
		t.Fatalf("token, err = %q, %v", tok, err)
	}
	if got := seen.Load(); got != "http://169.254.169.254/metadata/identity/oauth2/token" {
		t.Errorf("request went to %v", got)
	}
}
