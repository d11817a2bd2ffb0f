package app_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/config"
)

// New assembles the whole bot in Azure mode without a single request: not
// to Redis, not to the OpenID metadata, the token endpoint or Graph.
func TestNewDoesNoNetworkIO(t *testing.T) {
	var hits atomic.Int32
	stand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		t.Errorf("New sent %s %s", r.Method, r.URL)
	}))
	defer stand.Close()
	vars := map[string]string{
		"MicrosoftAppId":                    "11111111-2222-3333-4444-555555555555",
		"MicrosoftAppPassword":              "s3cret",
		"MicrosoftAppTenantId":              "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"ToBotFromChannelOpenIdMetadataUrl": stand.URL + "/openid",
		"ToChannelFromBotLoginUrl":          stand.URL + "/login",
		"GRAPH_BASE_URL":                    stand.URL + "/v1.0",
		"REDIS_URL":                         "redis://127.0.0.1:1/0", // nothing listens there
		"HELPDESK_WEBHOOK_URL":              stand.URL + "/hook",
		"HELPDESK_WEBHOOK_SECRET":           "0123456789abcdef0123",
		"ToBotFromTenantTokens":             "true",
		"ToBotFromTenantAppIds":             "c0ffee00-1111-4222-8333-444455556666",
		"ToBotFromTenantOpenIdMetadataUrl":  stand.URL + "/tenant-openid",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("New made %d requests", n)
	}
}

// Settings that only New can check (a file, a credential) come back as a
// *config.Error naming the variable.
func TestNewNamesTheVariable(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "steps.json")
	if err := os.WriteFile(bad, []byte(`{"version":1,"steps":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		vars    map[string]string
		wantVar string
	}{
		{map[string]string{"STEPS_FILE": bad + ".missing"}, "STEPS_FILE"},
		{map[string]string{"REDIS_URL": "redis+sentinel://127.0.0.1:1"}, "REDIS_URL"}, // no master_name
	} {
		cfg, err := config.Load(func(k string) string { return tc.vars[k] })
		if err != nil {
			t.Fatalf("%v: %v", tc.vars, err)
		}
		_, err = app.New(cfg, app.Options{})
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != tc.wantVar {
			t.Errorf("%v: New: %v, want a *config.Error naming %s", tc.vars, err, tc.wantVar)
		}
	}
	cfg, err := config.Load(func(k string) string { return map[string]string{"STEPS_FILE": bad}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(cfg, app.Options{}); err == nil {
		t.Error("New accepted a STEPS_FILE without steps")
	}
}

// In local mode the Graph sandbox answers on the bot's own listener, next
// to its endpoints and /metrics.
func TestSandboxServedOnTheBotsListener(t *testing.T) {
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewUnstartedServer(nil) // for its loopback listener only
	ln := srv.Listener
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	for _, path := range []string{"/readyz", "/sandbox/graph/v1.0/users/c5e99701-2a32-49c1-a660-4629ceeb8c61/authentication/microsoftAuthenticatorMethods", "/metrics"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// A request refused for its token is counted in /metrics by reason, and
// every reason's series exists from the start.
func TestRefusedTokensCountedByReason(t *testing.T) {
	vars := map[string]string{
		"MicrosoftAppId":       "11111111-2222-3333-4444-555555555555",
		"MicrosoftAppPassword": "s3cret",
		"MicrosoftAppTenantId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		"REDIS_URL":            "redis://127.0.0.1:1/0", // a refused request never reaches it
		"METRICS_PUBLIC":       "true",
		// Where no key is ever fetched: a malformed token is refused first.
		"ToBotFromChannelOpenIdMetadataUrl": "http://127.0.0.1:1/openid",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	body := `{"type":"message","id":"1","channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/emea/","text":"hi"}`
	for _, h := range []string{"", "Bearer not.a.jwt"} {
		req := httptest.NewRequest(http.MethodPost, "/api/messages", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("%q: status %d, want 401", h, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`mfabot_auth_rejected_total{reason="malformed"} 1`,
		`mfabot_auth_rejected_total{reason="no_token"} 1`,
		`mfabot_auth_rejected_total{reason="wrong_issuer"} 0`,
		`mfabot_auth_rejected_total{reason="app_not_allowed"} 0`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
