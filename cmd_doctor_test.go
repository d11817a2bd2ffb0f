package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/internal/doctor"
	"github.com/smartswap/mfabot/internal/redistest"
	"github.com/smartswap/mfabot/manifest"
)

const (
	doctorAppID  = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	doctorTenant = "11111111-2222-4333-8444-555555555555"
	doctorSecret = "s3cr3t-VALUE-never-printed~"
)

// entra is a stand-in for Entra's token endpoint, the Bot Framework's
// OpenID metadata and keys, and Graph's /users: real HTTP on loopback.
type entra struct {
	*httptest.Server
	mu         sync.Mutex
	graphRoles []string
	hang       bool          // the token endpoint never answers
	stop       chan struct{} // closed at the end of the test: hanging handlers return
}

var (
	doctorKeyOnce sync.Once
	doctorKey     *rsa.PrivateKey
)

func newEntra(t *testing.T, graphRoles ...string) *entra {
	t.Helper()
	doctorKeyOnce.Do(func() {
		var err error
		if doctorKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	e := &entra{graphRoles: graphRoles, stop: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		hang, roles := e.hang, e.graphRoles
		e.mu.Unlock()
		r.ParseForm() // the body read, the server notices the client hanging up
		if hang {
			select {
			case <-r.Context().Done():
			case <-e.stop:
			}
			return
		}
		if r.PostFormValue("client_secret") != doctorSecret || r.PathValue("tenant") != doctorTenant {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
			return
		}
		claims := map[string]any{"aud": "https://api.botframework.com", "appid": r.PostFormValue("client_id")}
		if strings.Contains(r.PostFormValue("scope"), "graph.microsoft.com") {
			claims = map[string]any{"aud": "https://graph.microsoft.com", "roles": roles}
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": fakeJWT(claims), "token_type": "Bearer", "expires_in": 3600})
	})
	mux.HandleFunc("GET /openid", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"jwks_uri": e.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		pub := doctorKey.PublicKey
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]any{{
			"kty": "RSA", "use": "sig", "kid": "k1", "endorsements": []string{"msteams"},
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}}})
	})
	mux.HandleFunc("GET /v1.0/users", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ey") || r.URL.Query().Get("$top") != "1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"value": []map[string]string{{"id": "0b5e1d2c-0000-4000-8000-000000000001"}}})
	})
	e.Server = httptest.NewServer(mux)
	t.Cleanup(e.Close)
	t.Cleanup(func() { close(e.stop) }) // runs first
	return e
}

// fakeJWT is an unsigned-looking token whose payload is claims, as the
// doctor reads it (it never verifies its own token).
func fakeJWT(claims map[string]any) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims) + ".c2lnbmF0dXJl"
}

// entraCredential is the Graph credential of the tests: client credentials
// against the stand-in's token endpoint, with the configuration's tenant,
// client id and secret (the bot's uses azidentity against Entra).
type entraCredential struct {
	authority string
	cc        graph.CredentialConfig
}

func (c entraCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	src := bot.NewClientCredentials(bot.ClientCredentialsOptions{
		Authority: c.authority + "/" + c.cc.TenantID, ClientID: c.cc.ClientID, ClientSecret: c.cc.ClientSecret,
		Scope: strings.Join(o.Scopes, " "),
	})
	tok, err := src.Token(ctx)
	return azcore.AccessToken{Token: tok, ExpiresOn: time.Now().Add(time.Hour)}, err
}

func (e *entra) options(t *testing.T, prefix string) doctor.Options {
	return doctor.Options{
		KeyPrefix: prefix,
		GraphCredential: func(cc graph.CredentialConfig) (azcore.TokenCredential, error) {
			if cc.Kind != graph.CredentialSecret {
				t.Errorf("Graph credential kind %q, want secret", cc.Kind)
			}
			return entraCredential{authority: e.URL, cc: cc}, nil
		},
	}
}

// doctorVars is a production-like environment pointing at e and the test Redis.
func doctorVars(t *testing.T, e *entra) map[string]string {
	return map[string]string{
		"MicrosoftAppId":                    doctorAppID,
		"MicrosoftAppPassword":              doctorSecret,
		"MicrosoftAppTenantId":              doctorTenant,
		"ToChannelFromBotLoginUrl":          e.URL + "/" + doctorTenant,
		"ToBotFromChannelOpenIdMetadataUrl": e.URL + "/openid",
		"GRAPH_BASE_URL":                    e.URL + "/v1.0",
		"REDIS_URL":                         "redis://" + redistest.Addr(t) + "/0",
		"HELPDESK_CONVERSATION_ID":          "19:helpdesk@thread.tacv2",
		"HELPDESK_SERVICE_URL":              "https://smba.trafficmanager.net/jp/",
		"BOT_DOMAIN":                        "mfabot.example.com",
	}
}

var allRoles = []string{"UserAuthenticationMethod.Read.All", "User.Read.All", "User.RevokeSessions.All"}

func runDoctorTest(t *testing.T, vars map[string]string, opts doctor.Options, args ...string) (string, error, time.Duration) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := runDoctor(context.Background(), args, env(vars), &stdout, &stderr, opts)
	took := time.Since(start)
	out := stdout.String() + stderr.String()
	if strings.Contains(out, doctorSecret) {
		t.Errorf("the client secret is in the output:\n%s", out)
	}
	if strings.Contains(out, "eyJ") {
		t.Errorf("a token is in the output:\n%s", out)
	}
	return stdout.String(), err, took
}

// notOK reports whether a line of the report is not OK.
func notOK(out string) bool {
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "OK  ") && !strings.HasPrefix(l, "結果") && !strings.HasPrefix(l, "result") {
			return true
		}
	}
	return false
}

// lineOf returns the report's line of check (by a substring), failing when absent.
func lineOf(t *testing.T, out, sub string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	t.Fatalf("no line with %q in:\n%s", sub, out)
	return ""
}

func TestDoctorAllGreen(t *testing.T) {
	e := newEntra(t, allRoles...)
	prefix := redistest.Prefix(t)
	vars := doctorVars(t, e)
	// The channel set with ヘルプデスク設定 rather than by the environment.
	delete(vars, "HELPDESK_CONVERSATION_ID")
	delete(vars, "HELPDESK_SERVICE_URL")
	store := redisstore.New(redistest.Client(t), redisstore.WithPrefix(prefix))
	if err := store.SaveHelpdeskChannel(context.Background(), []byte(`{"conversationId":"19:x@thread.tacv2"}`)); err != nil {
		t.Fatal(err)
	}
	out, err, _ := runDoctorTest(t, vars, e.options(t, prefix))
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	if notOK(out) {
		t.Errorf("all green expected:\n%s", out)
	}
	for _, want := range []string{
		"configuration parses (mode: Azure",
		"bot token obtained from " + e.URL,
		"OpenID metadata and signing keys load",
		"Graph token obtained with the secret credential (3 application permissions)",
		"Graph permission: checking Authenticator registrations",
		"Graph permission: checking passkeys in Authenticator", // covered by UserAuthenticationMethod.Read.All
		"Graph permission: すべてのセッションをサインアウト",
		"Graph answers (GET /users?$top=1: 200",
		"Redis (single) answers (PING ",
		"helpdesk channel: set with 「ヘルプデスク設定」",
		"names MicrosoftAppId as its bot",
		"— ready",
	} {
		if !strings.HasPrefix(lineOf(t, out, want), "OK") && !strings.Contains(want, "ready") {
			t.Errorf("line %q is not OK:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ボットで削除") || strings.Contains(out, "TAP_ENABLED") {
		t.Errorf("features not enabled are listed:\n%s", out)
	}
}

func TestDoctorDeleteWithoutPermission(t *testing.T) {
	e := newEntra(t, allRoles...)
	vars := withVars(doctorVars(t, e), "GRAPH_ALLOW_DELETE", "true")
	out, err, _ := runDoctorTest(t, vars, e.options(t, redistest.Prefix(t)))
	if !errors.Is(err, errNotReady) || exitCode(err) != 1 {
		t.Fatalf("err = %v, want errNotReady (exit 1)\n%s", err, out)
	}
	l := lineOf(t, out, "「ボットで削除」 (GRAPH_ALLOW_DELETE=true): Authenticator")
	if !strings.HasPrefix(l, "NG") || !strings.Contains(l, "UserAuthenticationMethod.ReadWrite.All") {
		t.Errorf("delete line = %q, want NG naming UserAuthenticationMethod.ReadWrite.All", l)
	}
	// A miss for passkeys is a warning: the bot leaves that kind out.
	if l := lineOf(t, out, "「ボットで削除」 (GRAPH_ALLOW_DELETE=true): passkeys"); !strings.HasPrefix(l, "WARN") {
		t.Errorf("passkey delete line = %q, want WARN", l)
	}
	// With the broad permission, the same configuration passes.
	e.mu.Lock()
	e.graphRoles = []string{"UserAuthenticationMethod.ReadWrite.All", "Directory.ReadWrite.All"}
	e.mu.Unlock()
	out, err, _ = runDoctorTest(t, vars, e.options(t, redistest.Prefix(t)))
	if err != nil || notOK(out) {
		t.Fatalf("with ReadWrite.All and Directory.ReadWrite.All: err = %v\n%s", err, out)
	}
}

func TestDoctorRedisDown(t *testing.T) {
	e := newEntra(t, allRoles...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	vars := withVars(doctorVars(t, e), "REDIS_URL", "redis://:"+doctorSecret+"@"+closed+"/0")
	out, err, took := runDoctorTest(t, vars, e.options(t, ""))
	if exitCode(err) != 1 {
		t.Fatalf("err = %v, want exit 1\n%s", err, out)
	}
	if l := lineOf(t, out, "Redis (single)"); !strings.HasPrefix(l, "NG") {
		t.Errorf("Redis line = %q, want NG", l)
	}
	if took > 4*time.Second {
		t.Errorf("doctor took %s with Redis down, want it bounded by the 3 s check timeout", took)
	}
}

func TestDoctorTokenEndpointHangs(t *testing.T) {
	e := newEntra(t, allRoles...)
	e.hang = true
	opts := e.options(t, redistest.Prefix(t))
	out, err, took := runDoctorTest(t, doctorVars(t, e), opts, "-timeout", "500ms", "-lang", "en")
	if exitCode(err) != 1 {
		t.Fatalf("err = %v, want exit 1\n%s", err, out)
	}
	for _, sub := range []string{"no bot token from", "no Graph token"} {
		if l := lineOf(t, out, sub); !strings.HasPrefix(l, "NG") || !strings.Contains(l, "no answer within 500ms") {
			t.Errorf("line = %q, want NG after the 500ms timeout", l)
		}
	}
	if took > 3*time.Second {
		t.Errorf("doctor took %s, want about the 500ms check timeout", took)
	}
	if strings.ContainsAny(out, "設定ボット") {
		t.Errorf("-lang en printed Japanese:\n%s", out)
	}
}

func TestDoctorBadConfigurationAndManifest(t *testing.T) {
	e := newEntra(t, allRoles...)
	vars := withVars(doctorVars(t, e), "MicrosoftAppTenantId", "not-a-guid")
	out, err, _ := runDoctorTest(t, vars, e.options(t, ""), "-lang", "ja")
	if exitCode(err) != 1 || !strings.HasPrefix(lineOf(t, out, "MicrosoftAppTenantId"), "NG") {
		t.Fatalf("bad tenant: err = %v\n%s", err, out)
	}

	// An app package built for another bot.
	pkg := filepath.Join(t.TempDir(), "app.zip")
	f, _ := os.Create(pkg)
	if err := manifest.Build(f, "00000000-1111-4222-8333-444444444444", "mfabot.example.com"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err, _ = runDoctorTest(t, doctorVars(t, e), e.options(t, redistest.Prefix(t)), "-manifest", pkg, "-lang", "en")
	if exitCode(err) != 1 || !strings.HasPrefix(lineOf(t, out, "the Teams manifest ("+pkg), "NG") {
		t.Fatalf("foreign manifest: err = %v\n%s", err, out)
	}
}

func TestDoctorLocalMode(t *testing.T) {
	// The developer's setup: no Azure, the sandbox, the embedded Redis.
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"mfabot", "doctor", "-lang", "en"}, env(map[string]string{}), &stdout, &stderr)
	out := stdout.String()
	if err != nil {
		t.Fatalf("doctor in local mode: %v\n%s%s", err, out, stderr.String())
	}
	for _, want := range []string{"SKIP  bot token", "SKIP  Bot Framework", "SKIP  Graph: the sandbox", "OK    Redis (embedded)", "WARN  no helpdesk channel", "SKIP  Teams manifest"} {
		if !strings.Contains(out, want) {
			t.Errorf("local-mode report lacks %q:\n%s", want, out)
		}
	}
}

func TestUsage(t *testing.T) {
	cases := [][]string{
		{"mfabot", "doctorr"},
		{"mfabot", "bogus"},
		{"mfabot", "-port", "1"},
		{"mfabot", "serve", "now"},
		{"mfabot", "doctor", "-bogus"},
		{"mfabot", "doctor", "extra"},
		{"mfabot", "doctor", "-lang", "fr"},
		{"mfabot", "manifest", "-output", "x.zip"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			port := freePort(t)
			var stdout, stderr bytes.Buffer
			done := make(chan error, 1)
			go func() {
				done <- run(context.Background(), args, env(map[string]string{"PORT": strconv.Itoa(port)}), &stdout, &stderr)
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("run did not return: it is serving")
			}
			var ue *usageError
			if !errors.As(err, &ue) || exitCode(err) != 2 {
				t.Fatalf("err = %v (exit %d), want a usage error (exit 2)", err, exitCode(err))
			}
			if !strings.Contains(stderr.String(), "usage: mfabot") {
				t.Errorf("stderr lacks the usage:\n%s", stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond); err == nil {
				c.Close()
				t.Error("something listens on the bot's port")
			}
		})
	}
	if exitCode(nil) != 0 || exitCode(errors.New("x")) != 1 {
		t.Error("exitCode: want 0 for nil and 1 for other errors")
	}
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"mfabot", "-h"}, env(nil), &bytes.Buffer{}, &stderr); err != nil || !strings.Contains(stderr.String(), "mfabot doctor") {
		t.Errorf("-h: err = %v, stderr %q", err, stderr.String())
	}
}
