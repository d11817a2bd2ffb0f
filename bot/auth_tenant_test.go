package bot

import (
	"context"
	"crypto"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// Tenant tokens: Entra-issued tokens for the bot's own tenant (REFERENCE.md
// §11), refused by default and accepted with AuthOptions.TenantTokens when
// the calling app is allowed. The tenant's OpenID metadata and JWKS are a
// second openIDServer publishing authTestKey(1) as tenantTestKID, without
// endorsements (Entra's keys have none).

const (
	tenantTestID     = "5b0c3e1a-7d2f-4a6b-9c8e-0f1a2b3c4d5e"
	tenantTestOther  = "0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b"
	tenantTestKID    = "entra-key-1"
	tenantTestApp    = "c0ffee00-1111-4222-8333-444455556666" // allowed
	tenantTestStrayA = "deadbeef-1111-4222-8333-444455556666" // not allowed
	tenantV1Issuer   = "https://sts.windows.net/" + tenantTestID + "/"
	tenantV2Issuer   = "https://login.microsoftonline.com/" + tenantTestID + "/v2.0"
)

// countingAuthObserver counts refusals by reason.
type countingAuthObserver struct {
	mu sync.Mutex
	n  map[string]int
}

var _ AuthObserver = (*countingAuthObserver)(nil)

func (o *countingAuthObserver) ObserveAuthRejected(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[reason]++
}

func (o *countingAuthObserver) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]int{}
	for k, v := range o.n {
		out[k] = v
	}
	return out
}

// newTenantOpenIDServer stands in for login.microsoftonline.com/{tenant}:
// it publishes authTestKey(1) as tenantTestKID and nothing else of RSA.
func newTenantOpenIDServer(t testing.TB) *openIDServer {
	s := newOpenIDServer(t)
	s.Unpublish(authTestKID)
	s.Publish(tenantTestKID, &authTestKey(t, 1).PublicKey)
	return s
}

// tenantClaims are the claims of an Entra access token for the bot's app
// id, v1 (appid, sts.windows.net) or v2 (azp, login.microsoftonline.com).
func tenantClaims(v2 bool, app string, now time.Time) map[string]any {
	c := map[string]any{
		"aud": authTestAppID,
		"tid": tenantTestID,
		"nbf": now.Add(-5 * time.Minute).Unix(),
		"iat": now.Add(-5 * time.Minute).Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	if v2 {
		c["iss"], c["ver"], c["azp"] = tenantV2Issuer, "2.0", app
	} else {
		c["iss"], c["ver"], c["appid"] = tenantV1Issuer, "1.0", app
	}
	return c
}

func tenantToken(t testing.TB, c map[string]any) string {
	return signToken(t, c, tenantTestKID, authTestKey(t, 1))
}

// tenantValidator is a Validator at authT0 trusting bf for Bot Framework
// tokens and, when on, tenant for tenant tokens from tenantTestApp.
func tenantValidator(t testing.TB, bf, tenant *openIDServer, on bool, obs AuthObserver, clock *authClock) *Validator {
	t.Helper()
	if clock == nil {
		clock = newAuthClock(authT0)
	}
	return NewValidator(AuthOptions{
		AppID: authTestAppID, MetadataURL: bf.MetadataURL(), HTTPClient: bf.srv.Client(), Now: clock.Now,
		TenantTokens: on, Tenant: tenantTestID, TenantApps: []string{strings.ToUpper(tenantTestApp)},
		TenantMetadataURL: tenant.MetadataURL(), Observer: obs,
	})
}

func TestTenantTokenAccepted(t *testing.T) {
	bf, tenant := newOpenIDServer(t), newTenantOpenIDServer(t)
	for _, tt := range []struct {
		name string
		v2   bool
	}{{"v1 appid, sts.windows.net", false}, {"v2 azp, login.microsoftonline.com v2.0", true}} {
		t.Run(tt.name, func(t *testing.T) {
			obs := &countingAuthObserver{}
			v := tenantValidator(t, bf, tenant, true, obs, nil)
			if err := v.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			header := "Bearer " + tenantToken(t, tenantClaims(tt.v2, tenantTestApp, authT0))
			for i := range 2 { // the second from the cache
				id, err := authenticate(t, v, authTestActivity(), header, appIDCreds{ok: true})
				if err != nil {
					t.Fatalf("attempt %d: %v", i, err)
				}
				if got := id.GetClaimValue("tid"); got != tenantTestID {
					t.Errorf("tid claim = %q", got)
				}
			}
			if n := v.cachedCount(); n != 1 {
				t.Errorf("%d cached tokens, want 1", n)
			}
			// Bot Framework tokens are still accepted alongside.
			if _, err := authenticate(t, v, authTestActivity(), "Bearer "+signToken(t, authTestClaims(authTestServiceURL, authT0), authTestKID, authTestKey(t, 0)), nil); err != nil {
				t.Fatalf("bot framework token: %v", err)
			}
			if c := obs.counts(); len(c) != 0 {
				t.Errorf("refusals counted: %v", c)
			}
		})
	}
}

func TestTenantTokenRefusals(t *testing.T) {
	bf, tenant := newOpenIDServer(t), newTenantOpenIDServer(t)
	edit := func(v2 bool, f func(c map[string]any)) map[string]any {
		c := tenantClaims(v2, tenantTestApp, authT0)
		f(c)
		return c
	}
	signed := func(c map[string]any) func(t *testing.T) string {
		return func(t *testing.T) string { return tenantToken(t, c) }
	}
	tests := []struct {
		name   string
		token  func(t *testing.T) string
		want   error
		reason string
	}{
		{"tid of another tenant", signed(edit(true, func(c map[string]any) { c["tid"] = tenantTestOther })), errTenant, AuthReasonWrongTenant},
		{"no tid", signed(edit(false, func(c map[string]any) { delete(c, "tid") })), errTenant, AuthReasonWrongTenant},
		{"issuer of another tenant", signed(edit(false, func(c map[string]any) {
			c["iss"], c["tid"] = "https://sts.windows.net/"+tenantTestOther+"/", tenantTestOther
		})), errIssuer, AuthReasonWrongIssuer},
		{"v2 issuer without /v2.0", signed(edit(true, func(c map[string]any) {
			c["iss"] = "https://login.microsoftonline.com/" + tenantTestID + "/"
		})), errIssuer, AuthReasonWrongIssuer},
		{"aud api://app id", signed(edit(true, func(c map[string]any) { c["aud"] = "api://" + authTestAppID })), errAudience, AuthReasonWrongAudience},
		{"aud api.botframework.com", signed(edit(true, func(c map[string]any) { c["aud"] = "https://api.botframework.com" })), errAudience, AuthReasonWrongAudience},
		{"v2 azp not allowed", signed(edit(true, func(c map[string]any) { c["azp"] = tenantTestStrayA })), errAppNotAllowed, AuthReasonAppNotAllowed},
		{"v1 appid not allowed", signed(edit(false, func(c map[string]any) { c["appid"] = tenantTestStrayA })), errAppNotAllowed, AuthReasonAppNotAllowed},
		{"v1 with the allowed app only in azp", signed(edit(false, func(c map[string]any) {
			c["appid"], c["azp"] = tenantTestStrayA, tenantTestApp
		})), errAppNotAllowed, AuthReasonAppNotAllowed},
		{"no app claim", signed(edit(true, func(c map[string]any) { delete(c, "azp") })), errAppNotAllowed, AuthReasonAppNotAllowed},
		{"expired", signed(edit(true, func(c map[string]any) { c["exp"] = authT0.Add(-301 * time.Second).Unix() })), errExpired, AuthReasonExpired},
		{"not yet valid", signed(edit(true, func(c map[string]any) { c["nbf"] = authT0.Add(301 * time.Second).Unix() })), errNotYetValid, AuthReasonNotYetValid},
		{"serviceurl of another service", signed(edit(true, func(c map[string]any) { c["serviceurl"] = "https://evil.example/" })), errServiceURL, AuthReasonWrongServiceURL},
		{"unknown key", func(t *testing.T) string {
			return signToken(t, tenantClaims(true, tenantTestApp, authT0), "rotated", authTestKey(t, 2))
		}, errUnknownKID, AuthReasonUnknownKey},
		{"signed with the Bot Framework's key", func(t *testing.T) string {
			return signToken(t, tenantClaims(true, tenantTestApp, authT0), authTestKID, authTestKey(t, 0))
		}, errUnknownKID, AuthReasonUnknownKey},
		{"forged under the tenant's kid", func(t *testing.T) string {
			return signToken(t, tenantClaims(false, tenantTestApp, authT0), tenantTestKID, authTestKey(t, 2))
		}, errSignature, AuthReasonBadSignature},
		{"RS384", func(t *testing.T) string {
			return encodeToken(t, map[string]any{"alg": "RS384", "kid": tenantTestKID}, tenantClaims(true, tenantTestApp, authT0), rsaSigner(t, authTestKey(t, 1), crypto.SHA384))
		}, errAlg, AuthReasonBadAlgorithm},
		{"Bot Framework issuer signed by the tenant", signed(edit(true, func(c map[string]any) {
			c["iss"], c["serviceurl"] = "https://api.botframework.com", authTestServiceURL
		})), errUnknownKID, AuthReasonUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := &countingAuthObserver{}
			v := tenantValidator(t, bf, tenant, true, obs, nil)
			if err := v.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			raw := tt.token(t)
			_, err := authenticate(t, v, authTestActivity(), "Bearer "+raw, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Reason != tt.reason {
				t.Fatalf("err %#v: reason %q, want %q", err, ae.Reason, tt.reason)
			}
			if c := obs.counts(); len(c) != 1 || c[tt.reason] != 1 {
				t.Errorf("counted %v, want one %s", c, tt.reason)
			}
			if ae.Issuer == "" || ae.KeyID == "" {
				t.Errorf("the refusal does not name the token's issuer and key: %+v", ae)
			}
			if v.cachedCount() != 0 {
				t.Error("a refused token was cached")
			}
		})
	}
}

// By default an Entra-issued token for the bot's tenant is refused as
// wrong_issuer, without fetching the tenant's keys: the 401 is logged once
// with its issuer, audience and key id (never the token) and counted.
func TestTenantTokenRefusedByDefaultLoggedAndCounted(t *testing.T) {
	bf, tenant := newOpenIDServer(t), newTenantOpenIDServer(t)
	obs := &countingAuthObserver{}
	v := tenantValidator(t, bf, tenant, false, obs, newAuthClock(time.Now()))
	logs := &lockedBuffer{}
	tb := newTestBot(t, func(o *ServerOptions) {
		o.Validator = v
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		o.RejectLogInterval = time.Hour
		o.Connector = NewConnector(ConnectorOptions{AllowedHosts: []string{"127.0.0.1"}})
	})
	a := tb.activity(schema.Message, uniqueID(t), "hello")
	var tokens []string
	for _, v2 := range []bool{false, true, false} {
		tok := tenantToken(t, tenantClaims(v2, tenantTestApp, time.Now()))
		tokens = append(tokens, tok)
		if rec := tb.post(t, a, "Bearer "+tok); rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", rec.Code)
		}
	}
	if c := obs.counts(); c[AuthReasonWrongIssuer] != 3 || len(c) != 1 {
		t.Errorf("counted %v, want 3 wrong_issuer", c)
	}
	if m, j := tenant.Hits(); m != 0 || j != 0 {
		t.Errorf("the tenant's keys were fetched (%d, %d) with tenant tokens off", m, j)
	}
	lines := logLines(t, logs.String())
	if len(lines) != 1 {
		t.Fatalf("%d lines for 3 refusals of one reason, want 1:\n%s", len(lines), logs.String())
	}
	l := lines[0]
	if l["reason"] != rejectUnauthenticated || l["auth_reason"] != AuthReasonWrongIssuer || l["iss"] != tenantV1Issuer ||
		l["aud"] != authTestAppID || l["kid"] != tenantTestKID || l["tid"] != tenantTestID || l["app"] != tenantTestApp {
		t.Errorf("log line lacks the refusal's details: %v", l)
	}
	tb.srv.Wait(context.Background())
	if lines = logLines(t, logs.String()); len(lines) != 2 || lines[1]["count"] != float64(2) || lines[1]["auth_reason"] != AuthReasonWrongIssuer {
		t.Errorf("summary after the flush:\n%s", logs.String())
	}
	for _, tok := range tokens {
		for _, part := range append(strings.Split(tok, "."), tok) {
			if strings.Contains(logs.String(), part) {
				t.Fatalf("the log contains the token or a segment of it:\n%s", logs.String())
			}
		}
	}
}

// With the opt-in the same token gets through the server: 200, the turn
// runs.
func TestTenantTokenAcceptedByServer(t *testing.T) {
	bf, tenant := newOpenIDServer(t), newTenantOpenIDServer(t)
	v := tenantValidator(t, bf, tenant, true, nil, newAuthClock(time.Now()))
	tb := newTestBot(t, func(o *ServerOptions) {
		o.Validator = v
		o.Connector = NewConnector(ConnectorOptions{AllowedHosts: []string{"127.0.0.1"}})
	})
	a := tb.activity(schema.Message, uniqueID(t), "hello")
	if rec := tb.post(t, a, "Bearer "+tenantToken(t, tenantClaims(true, tenantTestApp, time.Now()))); rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if tb.handler.messages.Load() != 1 {
		t.Fatal("turn not handled")
	}
}

// The tenant's keys follow the Bot Framework keys' discipline: an unknown
// kid refetches them at most once per MissRefreshInterval.
func TestTenantKeysUnknownKIDRefetchBounded(t *testing.T) {
	bf, tenant := newOpenIDServer(t), newTenantOpenIDServer(t)
	clock := newAuthClock(authT0)
	v := tenantValidator(t, bf, tenant, true, nil, clock)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := tenantClaims(true, tenantTestApp, authT0)
	c["exp"] = authT0.Add(3 * time.Hour).Unix()
	header := "Bearer " + signToken(t, c, "rotated", authTestKey(t, 2))
	for range 3 {
		if _, err := authenticate(t, v, authTestActivity(), header, nil); !errors.Is(err, errUnknownKID) {
			t.Fatalf("err = %v, want %v", err, errUnknownKID)
		}
	}
	tenant.Publish("rotated", &authTestKey(t, 2).PublicKey)
	clock.Advance(30 * time.Minute)
	if _, err := authenticate(t, v, authTestActivity(), header, nil); !errors.Is(err, errUnknownKID) {
		t.Fatalf("within MissRefreshInterval: err = %v, want %v", err, errUnknownKID)
	}
	if m, j := tenant.Hits(); m != 1 || j != 1 {
		t.Fatalf("tenant fetches %d, %d, want 1, 1", m, j)
	}
	if m, j := bf.Hits(); m != 1 || j != 1 {
		t.Fatalf("bot framework fetches %d, %d, want 1, 1 (a tenant kid must not refetch them)", m, j)
	}
	clock.Advance(31 * time.Minute)
	if _, err := authenticate(t, v, authTestActivity(), header, nil); err != nil {
		t.Fatalf("after MissRefreshInterval: %v", err)
	}
	if m, _ := tenant.Hits(); m != 2 {
		t.Fatalf("tenant metadata fetches %d, want 2", m)
	}
}

// The unverified claims reported are bounded and printable, whatever the
// sender put in them.
func TestAuthErrorClaimsSanitized(t *testing.T) {
	bf := newOpenIDServer(t)
	v := warmValidator(t, bf, newAuthClock(authT0))
	c := authTestClaims(authTestServiceURL, authT0)
	c["iss"] = "https://evil.example/\n{\"level\":\"ERROR\"}\x1b[31m" + strings.Repeat("é", 500)
	c["aud"] = []any{"a", 7, "b"}
	tok := signToken(t, c, "kid\r\nforged", authTestKey(t, 0))
	_, err := authenticate(t, v, authTestActivity(), "Bearer "+tok, nil)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Reason != AuthReasonWrongIssuer {
		t.Fatalf("err = %v, want a wrong_issuer *AuthError", err)
	}
	if len(ae.Issuer) > authLogClaimMax+3 || !strings.HasPrefix(ae.Issuer, "https://evil.example/?{") || !strings.HasSuffix(ae.Issuer, "...") {
		t.Errorf("issuer not bounded or sanitized: %q", ae.Issuer)
	}
	for _, s := range []string{ae.Issuer, ae.Audience, ae.KeyID} {
		for _, r := range s {
			if r < 0x20 || r > 0x7e {
				t.Errorf("non-printable %q in %q", r, s)
			}
		}
	}
	if ae.Audience != "a,b" || ae.KeyID != "kid??forged" {
		t.Errorf("aud %q, kid %q", ae.Audience, ae.KeyID)
	}
	// Garbage yields no claims, and no panic.
	for _, raw := range []string{"x", "x.y", "..", "e30.bnVsbA.", "W10.WzFd.x"} {
		var e AuthError
		e.readUnverified(raw)
		if e.Issuer != "" || e.KeyID != "" {
			t.Errorf("%q: %+v", raw, e)
		}
	}
}

func TestAuthReasonsBounded(t *testing.T) {
	rs := AuthReasons()
	seen := map[string]bool{}
	for _, r := range rs {
		if seen[r] {
			t.Errorf("duplicate reason %q", r)
		}
		seen[r] = true
	}
	for _, want := range []string{AuthReasonNoToken, AuthReasonMalformed, AuthReasonBadSignature, AuthReasonUnknownKey, AuthReasonWrongIssuer,
		AuthReasonWrongAudience, AuthReasonExpired, AuthReasonNotEndorsed, AuthReasonWrongTenant, AuthReasonAppNotAllowed, AuthReasonOther} {
		if !seen[want] {
			t.Errorf("AuthReasons lacks %q", want)
		}
	}
	if got := authReasonOf(errors.New("x")); got != AuthReasonOther {
		t.Errorf("unknown error: %q", got)
	}
}
