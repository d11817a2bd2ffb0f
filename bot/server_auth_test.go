package bot

import (
	"net/http"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// newAuthedTestBot is a test bot with inbound authentication on, against a
// local OpenID metadata endpoint.
func newAuthedTestBot(t testing.TB) *testBot {
	oidc := newOpenIDServer(t)
	v := authTestValidator(t, oidc, nil)
	return newTestBot(t, func(o *ServerOptions) {
		o.Validator = v
		// The connector stand-in is loopback; tokens would go there only
		// because the test allows it.
		o.Connector = NewConnector(ConnectorOptions{AllowedHosts: []string{"127.0.0.1"}})
	})
}

func TestAuthenticatedTurnAccepted(t *testing.T) {
	tb := newAuthedTestBot(t)
	a := tb.activity(schema.Message, uniqueID(t), "hello")
	rec := tb.post(t, a, authTestHeader(t, a.ServiceURL))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if tb.handler.messages.Load() != 1 || len(tb.conn.received()) != 1 {
		t.Fatalf("turn not handled: %d messages, %d sent", tb.handler.messages.Load(), len(tb.conn.received()))
	}
}

func TestUnauthenticatedRequestsAre401AndNothingProcessed(t *testing.T) {
	tb := newAuthedTestBot(t)
	a := tb.activity(schema.Message, uniqueID(t), "hello")
	other := tb.activity(schema.Message, uniqueID(t), "hello")
	other.ServiceURL = "https://smba.trafficmanager.net/amer/"
	cases := map[string]string{
		"missing header":             "",
		"garbled header":             "Bearer not.a.jwt",
		"basic auth":                 "Basic dXNlcjpwYXNz",
		"token for another url":      authTestHeader(t, other.ServiceURL),
		"bearer without token":       "Bearer ",
		"token without bearer":       authTestHeader(t, a.ServiceURL)[len("Bearer "):],
		"forged under published kid": "Bearer " + signToken(t, authTestClaims(a.ServiceURL, time.Now()), authTestKID, authTestKey(t, 2)),
	}
	for name, header := range cases {
		t.Run(name, func(t *testing.T) {
			rec := tb.post(t, a, header)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", rec.Code)
			}
			if rec.Body.Len() != 0 {
				t.Errorf("401 body %q: should carry no detail", rec.Body.String())
			}
		})
	}
	// A garbled body without a valid token is also just 401.
	if rec := tb.postRaw([]byte("{not json"), ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("garbled body: status %d, want 401", rec.Code)
	}
	if n := tb.handler.messages.Load(); n != 0 {
		t.Errorf("handler ran %d times for unauthenticated requests", n)
	}
	if got := tb.conn.received(); len(got) != 0 {
		t.Errorf("sent %d activities for unauthenticated requests", len(got))
	}
}

func TestAuthenticatedTenantNotAllowedIs403(t *testing.T) {
	tb := newAuthedTestBot(t)
	tb.srv.opts.AllowedTenants = []string{"00000000-0000-0000-0000-000000000001"}
	a := tb.activity(schema.Message, uniqueID(t), "hello")
	if rec := tb.post(t, a, authTestHeader(t, a.ServiceURL)); rec.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403", rec.Code)
	}
	if tb.handler.messages.Load() != 0 || len(tb.conn.received()) != 0 {
		t.Error("a turn from a tenant not allowed was processed")
	}
}
