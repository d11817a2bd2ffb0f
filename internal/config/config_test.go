package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const (
	testAppID    = "11111111-2222-3333-4444-555555555555"
	testTenantID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// withEnv is base with the key, value pairs kv set.
func withEnv(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.LocalMode || c.Port != 3978 || c.ListenAddr() != "127.0.0.1:3978" {
		t.Errorf("local defaults wrong: %+v addr %s", c, c.ListenAddr())
	}
	if c.AppType != AppTypeSingleTenant || c.OpenIDMetadataURL != defaultOpenIDMetadataURL || c.TokenIssuer != defaultTokenIssuer || c.OAuthScope != defaultOAuthScope {
		t.Errorf("bot framework defaults wrong: %+v", c)
	}
	if len(c.AllowedTenants) != 0 {
		t.Errorf("local mode with no tenant should allow any tenant, got %v", c.AllowedTenants)
	}
}

func TestLoadConfigSingleTenant(t *testing.T) {
	c, err := Load(env(map[string]string{
		"MicrosoftAppId": testAppID, "MicrosoftAppPassword": "s3cret", "MicrosoftAppTenantId": testTenantID, "PORT": "8080",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.LocalMode || c.ListenAddr() != ":8080" {
		t.Errorf("azure mode should bind all interfaces: %s", c.ListenAddr())
	}
	if c.LoginURL != "https://login.microsoftonline.com/"+testTenantID {
		t.Errorf("single-tenant authority = %s", c.LoginURL)
	}
	if len(c.AllowedTenants) != 1 || c.AllowedTenants[0] != testTenantID {
		t.Errorf("allowed tenants default = %v", c.AllowedTenants)
	}
}

func TestLoadConfigMultiTenantAuthority(t *testing.T) {
	c, err := Load(env(map[string]string{
		"MicrosoftAppId": testAppID, "MicrosoftAppPassword": "s3cret", "MicrosoftAppType": "MultiTenant",
		"GRAPH_TENANT_ID": testTenantID,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.LoginURL != "https://login.microsoftonline.com/botframework.com" {
		t.Errorf("multi-tenant authority = %s", c.LoginURL)
	}
}

func TestLoadConfigErrorsNameTheVariable(t *testing.T) {
	base := map[string]string{"MicrosoftAppId": testAppID, "MicrosoftAppPassword": "s3cret", "MicrosoftAppTenantId": testTenantID}
	with := func(kv ...string) map[string]string { return withEnv(base, kv...) }
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"bad port", map[string]string{"PORT": "http"}, "PORT"},
		{"port out of range", map[string]string{"PORT": "70000"}, "PORT"},
		{"password without app id", map[string]string{"MicrosoftAppPassword": "x"}, "MicrosoftAppPassword"},
		{"app id not a guid", with("MicrosoftAppId", "my-bot"), "MicrosoftAppId"},
		{"unknown app type", with("MicrosoftAppType", "Federated"), "MicrosoftAppType"},
		{"single tenant without tenant", with("MicrosoftAppTenantId", ""), "MicrosoftAppTenantId"},
		{"single tenant without password", with("MicrosoftAppPassword", ""), "MicrosoftAppPassword"},
		{"msi with password", with("MicrosoftAppType", "UserAssignedMSI"), "MicrosoftAppPassword"},
		{"multi tenant without password", with("MicrosoftAppType", "MultiTenant", "MicrosoftAppPassword", ""), "MicrosoftAppPassword"},
		{"tenant not a guid", with("MicrosoftAppTenantId", "contoso"), "MicrosoftAppTenantId"},
		{"metadata over http", with("ToBotFromChannelOpenIdMetadataUrl", "http://login.example.com/x"), "ToBotFromChannelOpenIdMetadataUrl"},
		{"login url garbled", with("ToChannelFromBotLoginUrl", "::not a url"), "ToChannelFromBotLoginUrl"},
		{"redis scheme", with("REDIS_URL", "http://cache:6379"), "REDIS_URL"},
		{"allowed tenant not guid", with("ALLOWED_TENANTS", "contoso"), "ALLOWED_TENANTS"},
		{"service url host with scheme", with("ALLOWED_SERVICE_URL_HOSTS", "https://evil.example"), "ALLOWED_SERVICE_URL_HOSTS"},
		{"log level", with("LOG_LEVEL", "loud"), "LOG_LEVEL"},
		{"language", with("BOT_LANGUAGE", "fr"), "BOT_LANGUAGE"},
		{"sandbox passkey garbled", map[string]string{"SANDBOX_PASSKEY": "maybe"}, "SANDBOX_PASSKEY"},
		{"sweep graph rate zero", map[string]string{"SWEEP_GRAPH_RATE": "0"}, "SWEEP_GRAPH_RATE"},
		{"sweep graph rate too high", map[string]string{"SWEEP_GRAPH_RATE": "10001"}, "SWEEP_GRAPH_RATE"},
		{"sweep tenant not a guid", map[string]string{"SWEEP_TENANT": "contoso"}, "SWEEP_TENANT"},
		{"sweep lease too short", map[string]string{"SWEEP_LEASE": "10ms"}, "SWEEP_LEASE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a Error", err)
			}
			if ce.Var != tt.wantVar {
				t.Errorf("error names %s, want %s (%v)", ce.Var, tt.wantVar, err)
			}
			if !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("message %q does not name %s", err, tt.wantVar)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	c, err := Load(env(map[string]string{
		"MicrosoftAppId": testAppID, "MicrosoftAppPassword": "hunter2-very-secret", "MicrosoftAppTenantId": testTenantID,
		"REDIS_URL": "redis://:redispass@cache:6379/0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	logger := slog.New(slog.NewJSONHandler(&sb, nil))
	logger.Info("start", c.Summary()...)
	logger.Info("cfg", "password", c.AppPassword, "redis", c.RedisURL)
	fmt.Fprintf(&sb, "%v %s %+v", c.AppPassword, c.RedisURL, c)
	for _, s := range []string{"hunter2-very-secret", "redispass"} {
		if strings.Contains(sb.String(), s) {
			t.Errorf("secret %q printed: %s", s, sb.String())
		}
	}
}

func TestLoadConfigGraphModes(t *testing.T) {
	azure := map[string]string{"MicrosoftAppId": testAppID, "MicrosoftAppPassword": "s3cret", "MicrosoftAppTenantId": testTenantID}
	with := withEnv
	tests := []struct {
		name     string
		env      map[string]string
		mode     string
		credKind string
		errVar   string
	}{
		{"local mode uses the sandbox", nil, GraphModeSandbox, "", ""},
		{"local mode with a loopback graph", map[string]string{"GRAPH_BASE_URL": "http://127.0.0.1:9999/v1.0"}, GraphModeAnonymous, "", ""},
		{"local mode with a graph on another 127/8 address", map[string]string{"GRAPH_BASE_URL": "http://127.0.0.2:9999/v1.0"}, GraphModeAnonymous, "", ""},
		{"loopback url without credentials in azure mode", with(azure, "GRAPH_CREDENTIAL", "none", "GRAPH_BASE_URL", "http://localhost:1/v1.0"), GraphModeAnonymous, "", ""},
		{"non-loopback url without credentials", map[string]string{"GRAPH_BASE_URL": "https://graph.example.com/v1.0"}, "", "", "GRAPH_BASE_URL"},
		{"plain http to a remote graph", with(azure, "GRAPH_BASE_URL", "http://graph.example.com/v1.0"), "", "", "GRAPH_BASE_URL"},
		{"azure defaults to the bot's secret", azure, GraphModeCredential, "secret", ""},
		{"msi defaults to the managed identity", map[string]string{"MicrosoftAppId": testAppID, "MicrosoftAppTenantId": testTenantID, "MicrosoftAppType": "UserAssignedMSI"}, GraphModeCredential, "managed-identity", ""},
		{"certificate needs a path", with(azure, "GRAPH_CREDENTIAL", "certificate"), "", "", "GRAPH_CERTIFICATE_PATH"},
		{"certificate", with(azure, "GRAPH_CREDENTIAL", "certificate", "GRAPH_CERTIFICATE_PATH", "/etc/bot/graph.pem"), GraphModeCredential, "certificate", ""},
		{"workload identity", with(azure, "GRAPH_CREDENTIAL", "workload-identity"), GraphModeCredential, "workload-identity", ""},
		{"unknown credential", with(azure, "GRAPH_CREDENTIAL", "kerberos"), "", "", "GRAPH_CREDENTIAL"},
		{"allow delete garbled", with(azure, "GRAPH_ALLOW_DELETE", "maybe"), "", "", "GRAPH_ALLOW_DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if tt.errVar != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Var != tt.errVar {
					t.Fatalf("err = %v, want one naming %s", err, tt.errVar)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.GraphMode != tt.mode || c.GraphCredential.Kind != tt.credKind {
				t.Errorf("mode %q cred %q, want %q %q", c.GraphMode, c.GraphCredential.Kind, tt.mode, tt.credKind)
			}
		})
	}
}

func TestLoadConfigPprofAndBindHost(t *testing.T) {
	c, err := Load(env(map[string]string{"PPROF_ADDR": "127.0.0.1:6060"}))
	if err != nil || c.PprofAddr != "127.0.0.1:6060" {
		t.Fatalf("loopback pprof: %v %+v", err, c)
	}
	for _, bad := range []string{":6060", "0.0.0.0:6060", "10.0.0.1:6060", "127.0.0.1"} {
		if _, err := Load(env(map[string]string{"PPROF_ADDR": bad})); err == nil {
			t.Errorf("PPROF_ADDR=%q accepted: profiles must stay on loopback", bad)
		}
	}
	azure := map[string]string{"MicrosoftAppId": testAppID, "MicrosoftAppPassword": "x", "MicrosoftAppTenantId": testTenantID, "BIND_HOST": "127.0.0.1", "PORT": "8080"}
	if c, err := Load(env(azure)); err != nil || c.ListenAddr() != "127.0.0.1:8080" {
		t.Fatalf("BIND_HOST in azure mode: %v %s", err, c.ListenAddr())
	}
	if _, err := Load(env(map[string]string{"BIND_HOST": "0.0.0.0"})); err == nil {
		t.Error("local mode accepted a non-loopback BIND_HOST")
	}
	if _, err := Load(env(map[string]string{"BIND_HOST": "example.com"})); err == nil {
		t.Error("BIND_HOST accepted a host name")
	}
}

func TestMetricsAddrConfig(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		want    string
		problem string
	}{
		{map[string]string{}, "", ""},
		{map[string]string{"METRICS_ADDR": ":9090"}, "127.0.0.1:9090", ""}, // local mode: loopback only
		{map[string]string{"METRICS_ADDR": "0.0.0.0:9090"}, "0.0.0.0:9090", ""},
		{map[string]string{"METRICS_ADDR": "localhost:9100"}, "localhost:9100", ""},
		{map[string]string{"METRICS_ADDR": "9090"}, "", "METRICS_ADDR"},
		{map[string]string{"METRICS_ADDR": ":http"}, "", "METRICS_ADDR"},
		{map[string]string{"METRICS_ADDR": ":70000"}, "", "METRICS_ADDR"},
		{map[string]string{"METRICS_ADDR": "bad host:9090"}, "", "METRICS_ADDR"},
		{map[string]string{"METRICS_ADDR": ":3978"}, "", "METRICS_ADDR"}, // the bot's own port
	} {
		cfg, err := Load(env(tc.env))
		if tc.problem != "" {
			if ce, ok := err.(*Error); !ok || ce.Var != tc.problem {
				t.Errorf("%v: err = %v, want a problem with %s", tc.env, err, tc.problem)
			}
			continue
		}
		if err != nil || cfg.MetricsAddr != tc.want {
			t.Errorf("%v: MetricsAddr = %q, %v; want %q", tc.env, cfg.MetricsAddr, err, tc.want)
		}
	}
}

// GET /metrics is on the bot's own listener in local mode (loopback only)
// and, in Azure mode, where that listener faces the internet, only when
// METRICS_PUBLIC=true asks for it.
func TestMetricsPublic(t *testing.T) {
	azure := map[string]string{"MicrosoftAppId": testAppID, "MicrosoftAppPassword": "s3cret", "MicrosoftAppTenantId": testTenantID}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		onBot   bool
		problem string
		summary string
	}{
		{"local default", map[string]string{}, true, "", "GET /metrics on the bot's listener"},
		{"local, turned off", map[string]string{"METRICS_PUBLIC": "false"}, false, "", "not served"},
		{"local with METRICS_ADDR", map[string]string{"METRICS_ADDR": ":9090"}, false, "", "on METRICS_ADDR"},
		{"azure default", azure, false, "", "not served (set METRICS_ADDR, or METRICS_PUBLIC=true"},
		{"azure, asked for", with(azure, "METRICS_PUBLIC", "true"), true, "", "GET /metrics on the bot's listener"},
		{"azure with METRICS_ADDR", with(azure, "METRICS_ADDR", ":9090"), false, "", "on METRICS_ADDR"},
		{"azure, METRICS_ADDR and METRICS_PUBLIC=false", with(azure, "METRICS_ADDR", ":9090", "METRICS_PUBLIC", "false"), false, "", "on METRICS_ADDR"},
		{"both", with(azure, "METRICS_ADDR", ":9090", "METRICS_PUBLIC", "true"), false, "METRICS_PUBLIC", ""},
		{"not a boolean", with(azure, "METRICS_PUBLIC", "yes please"), false, "METRICS_PUBLIC", ""},
	} {
		cfg, err := Load(env(tc.env))
		if tc.problem != "" {
			if ce, ok := err.(*Error); !ok || ce.Var != tc.problem {
				t.Errorf("%s: err = %v, want a problem with %s", tc.name, err, tc.problem)
			}
			continue
		}
		if err != nil || cfg.MetricsOnBotPort != tc.onBot {
			t.Errorf("%s: MetricsOnBotPort = %v, %v; want %v", tc.name, cfg.MetricsOnBotPort, err, tc.onBot)
			continue
		}
		summary := fmt.Sprint(cfg.Summary()...)
		if !strings.Contains(summary, tc.summary) {
			t.Errorf("%s: summary does not say %q: %s", tc.name, tc.summary, summary)
		}
	}
}

// TestLoadSweep: the sweep's defaults, and the tenant following the
// bot's own unless SWEEP_TENANT is set.
func TestLoadSweep(t *testing.T) {
	c, err := Load(env(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sweep != (Sweep{GraphRate: 100, Lease: 2 * time.Minute}) {
		t.Errorf("local defaults %+v", c.Sweep)
	}
	base := map[string]string{"MicrosoftAppId": testAppID, "MicrosoftAppPassword": "s3cret", "MicrosoftAppTenantId": testTenantID}
	if c, err = Load(env(base)); err != nil || c.Sweep.Tenant != testTenantID {
		t.Errorf("tenant %q (%v), want the bot's", c.Sweep.Tenant, err)
	}
	other := "9f3a1c2e-5b7d-4e8f-a1b2-c3d4e5f60718"
	c, err = Load(env(withEnv(base, "SWEEP_TENANT", other, "SWEEP_GRAPH_RATE", "250", "SWEEP_TEAMS_APP_ID", "app-1", "SWEEP_LEASE", "30s")))
	if err != nil || c.Sweep != (Sweep{GraphRate: 250, TeamsAppID: "app-1", Tenant: other, Lease: 30 * time.Second}) {
		t.Errorf("set: %+v (%v)", c.Sweep, err)
	}
}
