package bot

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/schema"
)

// authT0 is the fixed "now" of the clock-controlled tests.
var authT0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func authTestActivity() schema.Activity {
	return schema.Activity{Type: "message", ChannelID: authTestChannel, ServiceURL: authTestServiceURL}
}

// warmValidator returns a clock-controlled Validator whose keys are loaded.
func warmValidator(t *testing.T, srv *openIDServer, clock *authClock) *Validator {
	t.Helper()
	v := authTestValidator(t, srv, clock)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return v
}

// waitFetchIdle waits for a key fetch started by an earlier call to finish.
func waitFetchIdle(v *Validator) {
	v.fetchMu.Lock()
	f := v.inflight
	v.fetchMu.Unlock()
	if f != nil {
		<-f.done
	}
}

func (v *Validator) cachedCount() int {
	v.tokensMu.RLock()
	defer v.tokensMu.RUnlock()
	return len(v.tokens)
}

type appIDCreds struct{ ok bool }

func (c appIDCreds) IsValidAppID(string) bool       { return c.ok }
func (c appIDCreds) GetAppPassword() string         { return "" }
func (c appIDCreds) GetAppID() string               { return authTestAppID }
func (c appIDCreds) IsAuthenticationDisabled() bool { return true } // must not matter

// authenticate calls v and checks the invariants every answer must keep.
func authenticate(t *testing.T, v *Validator, act schema.Activity, header string, creds auth.CredentialProvider) (auth.ClaimsIdentity, error) {
	t.Helper()
	id, err := v.AuthenticateRequest(context.Background(), act, header, creds, "")
	if err != nil {
		if id != nil {
			t.Errorf("identity %v returned with error %v", id, err)
		}
		if !errors.Is(err, ErrUnauthorized) {
			t.Errorf("error %v does not wrap ErrUnauthorized", err)
		}
		tok := strings.TrimSpace(strings.TrimPrefix(header, "Bearer "))
		if len(tok) > 8 && strings.Contains(err.Error(), tok) {
			t.Errorf("error text contains the token: %v", err)
		}
		if parts := strings.Split(tok, "."); len(parts) == 3 {
			for _, p := range parts {
				if len(p) > 8 && strings.Contains(err.Error(), p) {
					t.Errorf("error text contains a token segment: %v", err)
				}
			}
		}
	} else if id == nil || !id.IsAuthenticated() {
		t.Errorf("accepted without an authenticated identity: %v", id)
	}
	return id, err
}

func TestAuthenticateRequest(t *testing.T) {
	srv := newOpenIDServer(t)
	key0 := authTestKey(t, 0)
	srv.Publish("no-endorsements", &authTestKey(t, 1).PublicKey)
	srv.Publish("webchat-only", &authTestKey(t, 1).PublicKey, "webchat")

	// claims returns valid claims at authT0 after edit.
	claims := func(edit func(c map[string]any)) map[string]any {
		c := authTestClaims(authTestServiceURL, authT0)
		if edit != nil {
			edit(c)
		}
		return c
	}
	bearer := func(c map[string]any, kid string, i int) func(t *testing.T) string {
		return func(t *testing.T) string { return "Bearer " + signToken(t, c, kid, authTestKey(t, i)) }
	}
	withAlg := func(alg string, hash crypto.Hash) func(t *testing.T) string {
		return func(t *testing.T) string {
			return "Bearer " + encodeToken(t, map[string]any{"alg": alg, "kid": authTestKID}, claims(nil), rsaSigner(t, key0, hash))
		}
	}
	pubPEM := func(t *testing.T) []byte {
		der, err := x509.MarshalPKIXPublicKey(&key0.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	fixed := func(h string) func(*testing.T) string { return func(*testing.T) string { return h } }

	tests := []struct {
		name     string
		header   func(t *testing.T) string
		activity func(a *schema.Activity)
		creds    auth.CredentialProvider
		want     error // nil: accepted
	}{
		{name: "valid", header: bearer(claims(nil), authTestKID, 0)},
		{name: "valid RS384", header: withAlg("RS384", crypto.SHA384)},
		{name: "valid RS512", header: withAlg("RS512", crypto.SHA512)},
		{name: "lower-case scheme", header: func(t *testing.T) string {
			return "bearer " + signToken(t, claims(nil), authTestKID, key0)
		}},
		{name: "serviceurl differs only in case", header: bearer(claims(nil), authTestKID, 0),
			activity: func(a *schema.Activity) { a.ServiceURL = strings.ToUpper(authTestServiceURL) }},
		{name: "aud array holding the app id", header: bearer(claims(func(c map[string]any) {
			c["aud"] = []string{"other", authTestAppID}
		}), authTestKID, 0)},
		{name: "credentials accept the audience", header: bearer(claims(nil), authTestKID, 0), creds: appIDCreds{ok: true}},
		{name: "credentials reject the audience", header: bearer(claims(nil), authTestKID, 0), creds: appIDCreds{ok: false}, want: errAudience},
		{name: "no channel: endorsements not required", header: bearer(claims(nil), "no-endorsements", 1),
			activity: func(a *schema.Activity) { a.ChannelID = "" }},

		{name: "expired", header: bearer(claims(func(c map[string]any) {
			c["exp"] = authT0.Add(-6 * time.Minute).Unix()
		}), authTestKID, 0), want: errExpired},
		{name: "expired within leeway", header: bearer(claims(func(c map[string]any) {
			c["exp"] = authT0.Add(-4 * time.Minute).Unix()
		}), authTestKID, 0)},
		{name: "not yet valid", header: bearer(claims(func(c map[string]any) {
			c["nbf"] = authT0.Add(6 * time.Minute).Unix()
		}), authTestKID, 0), want: errNotYetValid},
		{name: "not yet valid within leeway", header: bearer(claims(func(c map[string]any) {
			c["nbf"] = authT0.Add(4 * time.Minute).Unix()
		}), authTestKID, 0)},
		{name: "no exp", header: bearer(claims(func(c map[string]any) { delete(c, "exp") }), authTestKID, 0), want: errNoExp},
		{name: "exp not a number", header: bearer(claims(func(c map[string]any) {
			c["exp"] = fmt.Sprint(authT0.Add(time.Hour).Unix())
		}), authTestKID, 0), want: errNoExp},
		{name: "wrong audience", header: bearer(claims(func(c map[string]any) { c["aud"] = "someone-else" }), authTestKID, 0), want: errAudience},
		{name: "no audience", header: bearer(claims(func(c map[string]any) { delete(c, "aud") }), authTestKID, 0), want: errAudience},
		{name: "wrong issuer", header: bearer(claims(func(c map[string]any) {
			c["iss"] = "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/"
		}), authTestKID, 0), want: errIssuer},
		{name: "issuer with trailing slash", header: bearer(claims(func(c map[string]any) {
			c["iss"] = "https://api.botframework.com/"
		}), authTestKID, 0), want: errIssuer},

		{name: "alg none", header: func(t *testing.T) string {
			return "Bearer " + encodeToken(t, map[string]any{"alg": "none", "kid": authTestKID}, claims(nil), func([]byte) []byte { return nil }) + "x"
		}, want: errAlg},
		{name: "alg none empty signature", header: func(t *testing.T) string {
			return "Bearer " + encodeToken(t, map[string]any{"alg": "none", "kid": authTestKID}, claims(nil), func([]byte) []byte { return nil })
		}, want: errMalformed},
		{name: "HS256 keyed with the public key", header: func(t *testing.T) string {
			return "Bearer " + encodeToken(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": authTestKID}, claims(nil), hs256(pubPEM(t)))
		}, want: errAlg},
		{name: "PS256", header: withAlg("PS256", crypto.SHA256), want: errAlg},
		{name: "crit header", header: func(t *testing.T) string {
			return "Bearer " + encodeToken(t, map[string]any{"alg": "RS256", "kid": authTestKID, "crit": []string{"exp"}}, claims(nil), rsaSigner(t, key0, crypto.SHA256))
		}, want: errCrit},
		{name: "no kid", header: func(t *testing.T) string {
			return "Bearer " + encodeToken(t, map[string]any{"alg": "RS256"}, claims(nil), rsaSigner(t, key0, crypto.SHA256))
		}, want: errNoKID},
		{name: "kid not published", header: bearer(claims(nil), "unpublished", 1), want: errUnknownKID},
		{name: "EC kid is not an RSA key", header: bearer(claims(nil), "ec-key", 0), want: errUnknownKID},
		{name: "forged with a published kid", header: bearer(claims(nil), authTestKID, 2), want: errSignature},
		{name: "payload swapped under a valid signature", header: func(t *testing.T) string {
			good := strings.Split(signToken(t, claims(nil), authTestKID, key0), ".")
			evil := strings.Split(signToken(t, claims(func(c map[string]any) { c["aud"] = "x" }), authTestKID, key0), ".")
			return "Bearer " + good[0] + "." + evil[1] + "." + good[2]
		}, want: errSignature},

		{name: "serviceurl mismatch", header: bearer(claims(nil), authTestKID, 0),
			activity: func(a *schema.Activity) { a.ServiceURL = "https://evil.example/" }, want: errServiceURL},
		{name: "serviceurl missing", header: bearer(claims(func(c map[string]any) { delete(c, "serviceurl") }), authTestKID, 0), want: errNoServiceURL},
		{name: "serviceurl empty", header: bearer(claims(func(c map[string]any) { c["serviceurl"] = "" }), authTestKID, 0), want: errNoServiceURL},
		{name: "key without endorsements", header: bearer(claims(nil), "no-endorsements", 1), want: errNotEndorsed},
		{name: "key endorsed for another channel", header: bearer(claims(nil), "webchat-only", 1), want: errNotEndorsed},

		{name: "missing header", header: fixed(""), want: errNoHeader},
		{name: "Basic header", header: fixed("Basic dXNlcjpwYXNzd29yZA=="), want: errNotBearer},
		{name: "Bearer without token", header: fixed("Bearer "), want: errMalformed},
		{name: "garbled token", header: fixed("Bearer not-a-jwt"), want: errMalformed},
		{name: "two segments", header: fixed("Bearer eyJhbGciOiJSUzI1NiJ9.e30"), want: errMalformed},
		{name: "four segments", header: fixed("Bearer a.b.c.d"), want: errMalformed},
		{name: "bad base64", header: fixed("Bearer !!!.???.***"), want: errMalformed},
		{name: "header not JSON", header: fixed("Bearer bm90anNvbg.e30.c2ln"), want: errMalformed},
		{name: "token with inner space", header: func(t *testing.T) string {
			return "Bearer " + signToken(t, claims(nil), authTestKID, key0) + " extra"
		}, want: errMalformed},
		{name: "oversized token", header: fixed("Bearer " + strings.Repeat("a", authMaxTokenBytes) + ".b.c"), want: errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := warmValidator(t, srv, newAuthClock(authT0))
			act := authTestActivity()
			if tt.activity != nil {
				tt.activity(&act)
			}
			header := tt.header(t)
			id, err := authenticate(t, v, act, header, tt.creds)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if got := id.GetClaimValue("serviceurl"); got != authTestServiceURL {
					t.Errorf("serviceurl claim = %q", got)
				}
				if got := id.GetClaimValue("iss"); got != "https://api.botframework.com" {
					t.Errorf("iss claim = %q", got)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if n := v.cachedCount(); n != 0 {
				t.Errorf("a rejected token was cached (%d entries)", n)
			}
			// A rejected token stays rejected: nothing was cached.
			if _, err2 := authenticate(t, v, act, header, tt.creds); !errors.Is(err2, tt.want) {
				t.Errorf("second attempt err = %v, want %v", err2, tt.want)
			}
		})
	}
}

func TestValidatorIdentityClaims(t *testing.T) {
	srv := newOpenIDServer(t)
	v := warmValidator(t, srv, newAuthClock(authT0))
	c := authTestClaims(authTestServiceURL, authT0)
	c["aud"] = []string{authTestAppID, "x"}
	c["flag"] = true
	c["obj"] = map[string]any{"a": 1}
	c["nothing"] = nil
	c["ratio"] = 1.5
	id, err := authenticate(t, v, authTestActivity(), "Bearer "+signToken(t, c, authTestKID, authTestKey(t, 0)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := id.(*Identity); !ok {
		t.Fatalf("identity is %T, want *Identity", id)
	}
	for name, want := range map[string]string{
		"iss":     "https://api.botframework.com",
		"exp":     fmt.Sprint(authT0.Add(time.Hour).Unix()),
		"aud":     `["` + authTestAppID + `","x"]`,
		"flag":    "true",
		"obj":     `{"a":1}`,
		"nothing": "",
		"ratio":   "1.5",
		"missing": "",
	} {
		if got := id.GetClaimValue(name); got != want {
			t.Errorf("GetClaimValue(%q) = %q, want %q", name, got, want)
		}
	}
	var nilID *Identity
	if nilID.GetClaimValue("iss") != "" || nilID.IsAuthenticated() {
		t.Error("nil *Identity must be empty and unauthenticated")
	}
}

func TestValidatorConstructorDoesNoIO(t *testing.T) {
	srv := newOpenIDServer(t)
	v := authTestValidator(t, srv, nil)
	if m, j := srv.Hits(); m != 0 || j != 0 {
		t.Fatalf("NewValidator fetched: metadata %d, jwks %d", m, j)
	}
	if v.Ready() {
		t.Fatal("Ready before any fetch")
	}
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !v.Ready() {
		t.Fatal("not Ready after Refresh")
	}
	if m, j := srv.Hits(); m != 1 || j != 1 {
		t.Fatalf("Refresh: metadata %d, jwks %d fetches, want 1, 1", m, j)
	}
	ks := v.keys.Load()
	if len(ks.byKID) != 1 || ks.byKID[authTestKID] == nil {
		t.Fatalf("keys = %v, want only %s (the EC key must be skipped)", ks.byKID, authTestKID)
	}
}

func TestValidatorDefaults(t *testing.T) {
	v := NewValidator(AuthOptions{AppID: authTestAppID})
	if v.metadataURL != "https://login.botframework.com/v1/.well-known/openidconfiguration" ||
		v.issuer != "https://api.botframework.com" || v.client == nil || v.client.Timeout != 10*time.Second ||
		v.refreshEvery != 24*time.Hour || v.missEvery != time.Hour || v.leeway != 5*time.Minute {
		t.Errorf("defaults not applied: %+v", v)
	}
	if v := NewValidator(AuthOptions{Leeway: -1}); v.leeway != 0 {
		t.Errorf("negative Leeway gave %v, want none", v.leeway)
	}
}

func TestValidatorNoAppIDRejects(t *testing.T) {
	srv := newOpenIDServer(t)
	v := NewValidator(AuthOptions{MetadataURL: srv.MetadataURL(), HTTPClient: srv.srv.Client()})
	c := authTestClaims(authTestServiceURL, time.Now())
	c["aud"] = ""
	_, err := authenticate(t, v, authTestActivity(), "Bearer "+signToken(t, c, authTestKID, authTestKey(t, 0)), nil)
	if !errors.Is(err, errNoAppID) {
		t.Fatalf("err = %v, want %v", err, errNoAppID)
	}
}

func TestValidatorFirstUseLoadsKeysOnceUnderConcurrency(t *testing.T) {
	srv := newOpenIDServer(t)
	srv.SetDelay(50 * time.Millisecond) // keep the fetch in flight while callers pile up
	v := authTestValidator(t, srv, nil)
	header := authTestHeader(t, authTestServiceURL)

	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := v.AuthenticateRequest(context.Background(), authTestActivity(), header, nil, "")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent request rejected: %v", err)
		}
	}
	if m, j := srv.Hits(); m != 1 || j != 1 {
		t.Fatalf("%d concurrent requests made %d metadata and %d JWKS fetches, want 1 and 1", n, m, j)
	}
}

func TestValidatorUnknownKIDRefetchAfterMissInterval(t *testing.T) {
	srv := newOpenIDServer(t)
	clock := newAuthClock(authT0)
	v := warmValidator(t, srv, clock)

	// A token for a key the channel has just started to use.
	claims := authTestClaims(authTestServiceURL, authT0)
	claims["exp"] = authT0.Add(3 * time.Hour).Unix()
	header := "Bearer " + signToken(t, claims, "rotated", authTestKey(t, 1))

	if _, err := authenticate(t, v, authTestActivity(), header, nil); !errors.Is(err, errUnknownKID) {
		t.Fatalf("unpublished kid: err = %v, want %v", err, errUnknownKID)
	}
	srv.Publish("rotated", &authTestKey(t, 1).PublicKey, authTestChannel)

	// Within MissRefreshInterval of the last fetch the unknown kid does not
	// cause a fetch.
	clock.Advance(59 * time.Minute)
	if _, err := authenticate(t, v, authTestActivity(), header, nil); !errors.Is(err, errUnknownKID) {
		t.Fatalf("before MissRefreshInterval: err = %v, want %v", err, errUnknownKID)
	}
	if m, j := srv.Hits(); m != 1 || j != 1 {
		t.Fatalf("fetches before MissRefreshInterval: metadata %d, jwks %d, want 1, 1", m, j)
	}

	clock.Advance(2 * time.Minute)
	if _, err := authenticate(t, v, authTestActivity(), header, nil); err != nil {
		t.Fatalf("after MissRefreshInterval the published key must be found: %v", err)
	}
	if m, j := srv.Hits(); m != 2 || j != 2 {
		t.Fatalf("fetches after MissRefreshInterval: metadata %d, jwks %d, want 2, 2", m, j)
	}
	// The old key is still there too.
	if _, err := authenticate(t, v, authTestActivity(), "Bearer "+signToken(t, claims, authTestKID, authTestKey(t, 0)), nil); err != nil {
		t.Fatalf("old key after refetch: %v", err)
	}
}

func TestValidatorRefetchesAfterRefreshInterval(t *testing.T) {
	srv := newOpenIDServer(t)
	clock := newAuthClock(authT0)
	v := warmValidator(t, srv, clock)
	claims := authTestClaims(authTestServiceURL, authT0)
	claims["exp"] = authT0.Add(48 * time.Hour).Unix()
	header := "Bearer " + signToken(t, claims, authTestKID, authTestKey(t, 0))

	for range 3 {
		if _, err := authenticate(t, v, authTestActivity(), header, nil); err != nil {
			t.Fatal(err)
		}
	}
	if m, j := srv.Hits(); m != 1 || j != 1 {
		t.Fatalf("keys fetched per request: metadata %d, jwks %d", m, j)
	}

	clock.Advance(24*time.Hour + time.Second)
	// The stale keys still serve this request; the refetch runs behind it.
	if _, err := authenticate(t, v, authTestActivity(), header, nil); err != nil {
		t.Fatal(err)
	}
	waitFetchIdle(v)
	if m, j := srv.Hits(); m != 2 || j != 2 {
		t.Fatalf("after RefreshInterval: metadata %d, jwks %d fetches, want 2, 2", m, j)
	}
	if got := v.keys.Load().fetched; !got.Equal(clock.Now()) {
		t.Fatalf("keys fetched at %v, want %v", got, clock.Now())
	}
	if _, err := authenticate(t, v, authTestActivity(), header, nil); err != nil {
		t.Fatal(err)
	}
	waitFetchIdle(v)
	if m, _ := srv.Hits(); m != 2 {
		t.Fatalf("fresh keys refetched again: %d metadata fetches", m)
	}
}

func TestValidatorFailedRefreshKeepsOldKeys(t *testing.T) {
	srv := newOpenIDServer(t)
	clock := newAuthClock(authT0)
	v := warmValidator(t, srv, clock)
	claims := authTestClaims(authTestServiceURL, authT0)
	claims["exp"] = authT0.Add(48 * time.Hour).Unix()
	header := "Bearer " + signToken(t, claims, authTestKID, authTestKey(t, 0))

	srv.SetFailing(true)
	if err := v.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("Refresh against a failing server: err = %v, want a 500 error", err)
	}
	if _, err := authenticate(t, v, authTestActivity(), header, nil); err != nil {
		t.Fatalf("old keys dropped after a failed Refresh: %v", err)
	}

	// A background refresh that fails also keeps them, and is not retried on
	// every request.
	clock.Advance(25 * time.Hour)
	if _, err := authenticate(t, v, authTestActivity(), header, nil); err != nil {
		t.Fatal(err)
	}
	waitFetchIdle(v)
	m1, _ := srv.Hits()
	for range 5 {
		if _, err := authenticate(t, v, authTestActivity(), header, nil); err != nil {
			t.Fatalf("old keys dropped after a failed background refresh: %v", err)
		}
	}
	waitFetchIdle(v)
	if m2, _ := srv.Hits(); m2 != m1 {
		t.Fatalf("failed refresh retried per request: %d → %d metadata fetches", m1, m2)
	}
	if !v.Ready() {
		t.Fatal("Ready turned false after a failed refresh")
	}

	// Once the server is back, the next allowed attempt replaces the keys.
	srv.SetFailing(false)
	clock.Advance(time.Hour)
	if _, err := authenticate(t, v, authTestActivity(), header, nil); err != nil {
		t.Fatal(err)
	}
	waitFetchIdle(v)
	if got := v.keys.Load().fetched; !got.Equal(clock.Now()) {
		t.Fatalf("keys fetched at %v, want %v", got, clock.Now())
	}
}

func TestValidatorNoKeysYet(t *testing.T) {
	srv := newOpenIDServer(t)
	srv.SetFailing(true)
	clock := newAuthClock(authT0)
	v := authTestValidator(t, srv, clock)
	header := "Bearer " + signToken(t, authTestClaims(authTestServiceURL, authT0), authTestKID, authTestKey(t, 0))

	if _, err := authenticate(t, v, authTestActivity(), header, nil); !errors.Is(err, errKeysNotLoaded) {
		t.Fatalf("err = %v, want %v", err, errKeysNotLoaded)
	}
	// Requests right after a failure fail fast instead of queueing fetches.
	if _, err := authenticate(t, v, authTestActivity(), header, nil); !errors.Is(err, errKeysNotLoaded) {
		t.Fatalf("err = %v, want %v", err, errKeysNotLoaded)
	}
	if m, _ := srv.Hits(); m != 1 {
		t.Fatalf("%d metadata fetches, want 1", m)
	}
	if v.Ready() {
		t.Fatal("Ready without keys")
	}
	srv.SetFailing(false)
	clock.Advance(authNoKeysRetry)
	if _, err := authenticate(t, v, authTestActivity(), header, nil); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if !v.Ready() {
		t.Fatal("not Ready after keys loaded")
	}
}

func TestValidatorRefreshHonoursContext(t *testing.T) {
	srv := newOpenIDServer(t)
	srv.SetDelay(200 * time.Millisecond)
	v := authTestValidator(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := v.Refresh(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	// The fetch itself was not abandoned: a later caller gets its result.
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m, _ := srv.Hits(); m != 1 {
		t.Fatalf("%d metadata fetches, want 1 (the second Refresh joins the first)", m)
	}
}

func TestValidatorMetadataErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"status 404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, "404"},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, "invalid character"},
		{"no jwks_uri", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"issuer":"x"}`)) }, "jwks_uri"},
		{"relative jwks_uri", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"jwks_uri":"/keys"}`)) }, "jwks_uri"},
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"jwks_uri":"` + strings.Repeat("a", authMaxDocBytes) + `"}`))
		}, "larger than"},
		{"no usable keys", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/keys" {
				w.Write([]byte(`{"keys":[{"kty":"RSA","kid":"short","n":"AQAB","e":"AQAB"},{"kty":"oct","kid":"k"}]}`))
				return
			}
			w.Write([]byte(`{"jwks_uri":"http://` + r.Host + `/keys"}`))
		}, "no usable RSA key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(tt.handler)
			defer ts.Close()
			v := NewValidator(AuthOptions{AppID: authTestAppID, MetadataURL: ts.URL + "/meta", HTTPClient: ts.Client()})
			err := v.Refresh(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if v.Ready() {
				t.Fatal("Ready after a failed fetch")
			}
		})
	}
}

func TestValidatorHTTPSMetadataRequiresHTTPSKeys(t *testing.T) {
	v := NewValidator(AuthOptions{MetadataURL: "https://login.example/meta"})
	if _, err := v.checkJWKSURI("http://login.example/keys"); err == nil {
		t.Fatal("http jwks_uri accepted from https metadata")
	}
	if _, err := v.checkJWKSURI("https://login.example/keys"); err != nil {
		t.Fatal(err)
	}
}

func TestValidatorCacheRechecksPerRequest(t *testing.T) {
	srv := newOpenIDServer(t)
	clock := newAuthClock(authT0)
	v := warmValidator(t, srv, clock)
	claims := authTestClaims(authTestServiceURL, authT0)
	claims["exp"] = authT0.Add(10 * time.Minute).Unix()
	header := "Bearer " + signToken(t, claims, authTestKID, authTestKey(t, 0))
	act := authTestActivity()

	first, err := authenticate(t, v, act, header, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.cachedCount() != 1 {
		t.Fatalf("verified token not cached (%d entries)", v.cachedCount())
	}
	again, err := authenticate(t, v, act, header, nil)
	if err != nil || again != first {
		t.Fatalf("cache hit: identity %p vs %p, err %v", again, first, err)
	}

	other := act
	other.ServiceURL = "https://evil.example/"
	if _, err := authenticate(t, v, other, header, nil); !errors.Is(err, errServiceURL) {
		t.Fatalf("cached token with another serviceUrl: err = %v, want %v", err, errServiceURL)
	}
	other = act
	other.ChannelID = "webchat"
	if _, err := authenticate(t, v, other, header, nil); !errors.Is(err, errNotEndorsed) {
		t.Fatalf("cached token on a channel the key is not endorsed for: err = %v, want %v", err, errNotEndorsed)
	}
	if _, err := authenticate(t, v, act, header, appIDCreds{ok: false}); !errors.Is(err, errAudience) {
		t.Fatalf("cached token with credentials refusing the audience: err = %v, want %v", err, errAudience)
	}
	if _, err := authenticate(t, v, act, header, nil); err != nil {
		t.Fatalf("cached token rejected for the right request after other failures: %v", err)
	}

	clock.Advance(14 * time.Minute) // exp+4m: within leeway
	if _, err := authenticate(t, v, act, header, nil); err != nil {
		t.Fatalf("cached token within leeway: %v", err)
	}
	clock.Advance(time.Minute + time.Second)
	if _, err := authenticate(t, v, act, header, nil); !errors.Is(err, errExpired) {
		t.Fatalf("cached token after expiry: err = %v, want %v", err, errExpired)
	}
	if v.cachedCount() != 0 {
		t.Fatal("expired token left in the cache")
	}
}

func TestValidatorCacheRechecksKey(t *testing.T) {
	srv := newOpenIDServer(t)
	srv.Publish("second", &authTestKey(t, 1).PublicKey, authTestChannel)
	clock := newAuthClock(authT0)
	v := warmValidator(t, srv, clock)
	claims := authTestClaims(authTestServiceURL, authT0)
	header := "Bearer " + signToken(t, claims, "second", authTestKey(t, 1))
	if _, err := authenticate(t, v, authTestActivity(), header, nil); err != nil {
		t.Fatal(err)
	}

	// Endorsement withdrawn.
	srv.Publish("second", &authTestKey(t, 1).PublicKey, "webchat")
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticate(t, v, authTestActivity(), header, nil); !errors.Is(err, errNotEndorsed) {
		t.Fatalf("endorsement withdrawn: err = %v, want %v", err, errNotEndorsed)
	}

	// Same kid, different key.
	srv.Publish("second", &authTestKey(t, 2).PublicKey, authTestChannel)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticate(t, v, authTestActivity(), header, nil); !errors.Is(err, errKeyChanged) {
		t.Fatalf("kid now names another key: err = %v, want %v", err, errKeyChanged)
	}

	// Same key republished (a new *rsa.PublicKey after a refresh): accepted.
	srv.Publish("second", &authTestKey(t, 1).PublicKey, authTestChannel)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticate(t, v, authTestActivity(), header, nil); err != nil {
		t.Fatalf("key republished: %v", err)
	}

	// Key withdrawn.
	srv.Unpublish("second")
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticate(t, v, authTestActivity(), header, nil); !errors.Is(err, errKeyChanged) {
		t.Fatalf("key withdrawn: err = %v, want %v", err, errKeyChanged)
	}
}

func TestValidatorCacheIsBounded(t *testing.T) {
	srv := newOpenIDServer(t)
	clock := newAuthClock(authT0)
	v := warmValidator(t, srv, clock)
	v.tokensMax = 4
	key := authTestKey(t, 0)
	token := func(i int, exp time.Duration) string {
		c := authTestClaims(authTestServiceURL, authT0)
		c["jti"] = i
		c["exp"] = authT0.Add(exp).Unix()
		return "Bearer " + signToken(t, c, authTestKID, key)
	}

	// Full of live tokens: the cache resets instead of growing.
	for i := range 10 {
		if _, err := authenticate(t, v, authTestActivity(), token(i, time.Hour), nil); err != nil {
			t.Fatal(err)
		}
		if n := v.cachedCount(); n > 4 {
			t.Fatalf("cache holds %d tokens, limit 4", n)
		}
	}

	// Full of soon-expired tokens: they are swept, the live one stays.
	v.tokensMu.Lock()
	clear(v.tokens)
	v.tokensMu.Unlock()
	live := token(100, 2*time.Hour)
	if _, err := authenticate(t, v, authTestActivity(), live, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := authenticate(t, v, authTestActivity(), token(200+i, 10*time.Minute), nil); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(30 * time.Minute)
	if _, err := authenticate(t, v, authTestActivity(), token(300, time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	if n := v.cachedCount(); n != 2 {
		t.Fatalf("after sweeping expired tokens the cache holds %d, want 2", n)
	}
	if v.cachedToken(strings.TrimPrefix(live, "Bearer ")) == nil {
		t.Fatal("live token swept")
	}
}

func TestValidatorConcurrentUseWithRefresh(t *testing.T) {
	srv := newOpenIDServer(t)
	v := warmValidator(t, srv, nil)
	key := authTestKey(t, 0)
	headers := make([]string, 4)
	for i := range headers {
		c := authTestClaims(authTestServiceURL, time.Now())
		c["jti"] = i
		headers[i] = "Bearer " + signToken(t, c, authTestKID, key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := v.Refresh(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("Refresh: %v", err)
			}
		}
	})
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if _, err := v.AuthenticateRequest(ctx, authTestActivity(), headers[(g+i)%len(headers)], nil, ""); err != nil {
					t.Errorf("AuthenticateRequest: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}
