package bot

// Shared test helpers for inbound Bot Framework auth. Any test in package bot
// can use them to send activities carrying real RS256 tokens that a Validator
// accepts:
//
//	srv := newOpenIDServer(t)                       // OpenID metadata + JWKS stand-in
//	v := authTestValidator(t, srv, nil)             // Validator for authTestAppID (nil clock = time.Now)
//	hdr := authTestHeader(t, "https://svc.example/") // "Bearer <jwt>" valid now for that serviceUrl
//	// activity: ServiceURL "https://svc.example/", ChannelID "msteams"
//
// Signatures:
//
//	const authTestAppID, authTestKID, authTestChannel, authTestServiceURL
//	authTestKey(tb testing.TB, i int) *rsa.PrivateKey
//	    2048-bit key i (0..2), generated once per test binary. Key 0 is what
//	    newOpenIDServer publishes as authTestKID; 1 is a spare; 2 is never
//	    published (use it to forge).
//	signToken(tb testing.TB, claims map[string]any, kid string, key *rsa.PrivateKey) string
//	    RS256 JWT with header {"alg":"RS256","typ":"JWT","kid":kid}.
//	encodeToken(tb testing.TB, header, claims map[string]any, sign func(signingInput []byte) []byte) string
//	    JWT with any header and signature (alg none, HS256, RS384 …).
//	authTestClaims(serviceURL string, now time.Time) map[string]any
//	    the claims the Bot Connector sends: iss, aud=authTestAppID, serviceurl,
//	    nbf=now-5m, iat, exp=now+1h. Edit the map for negative cases.
//	authTestHeader(tb testing.TB, serviceURL string) string
//	    "Bearer " + a token signed by key 0 with authTestClaims(serviceURL, time.Now()).
//	newOpenIDServer(tb testing.TB) *openIDServer
//	    httptest server (closed at cleanup) serving the metadata at
//	    MetadataURL() and a JWKS that publishes authTestKey(0) as authTestKID
//	    with endorsements ["msteams"], plus an EC key a Validator must ignore.
//	(*openIDServer).MetadataURL() string
//	(*openIDServer).Publish(kid string, pub *rsa.PublicKey, endorsements ...string)  // add or replace
//	(*openIDServer).Unpublish(kid string)
//	(*openIDServer).SetFailing(bool)          // answer 500 on both documents
//	(*openIDServer).SetDelay(time.Duration)   // delay each answer
//	(*openIDServer).Hits() (metadata, jwks int64)
//	authTestValidator(tb testing.TB, srv *openIDServer, clock *authClock) *Validator
//	    NewValidator for authTestAppID at srv (no fetch yet; nil clock = time.Now).
//	newAuthClock(t time.Time) *authClock; (*authClock).Now() time.Time; (*authClock).Advance(d time.Duration)
//	hs256(secret []byte) func(signingInput []byte) []byte   // HMAC signer for encodeToken
//	rsaSigner(tb testing.TB, key *rsa.PrivateKey, hash crypto.Hash) func(signingInput []byte) []byte

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	authTestAppID      = "9a3f5e0c-1b2d-4c6e-8f70-123456789abc"
	authTestKID        = "test-key-0"
	authTestChannel    = "msteams"
	authTestServiceURL = "https://smba.trafficmanager.net/emea/"
)

var authTestKeys = sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
})

// authTestKey returns the i-th test key (0..2), generated once per binary.
func authTestKey(tb testing.TB, i int) *rsa.PrivateKey {
	tb.Helper()
	keys, err := authTestKeys()
	if err != nil {
		tb.Fatalf("generate RSA keys: %v", err)
	}
	return keys[i]
}

// encodeToken builds a JWT from header and claims, signed by sign (which may
// return nil for an empty signature).
func encodeToken(tb testing.TB, header, claims map[string]any, sign func(signingInput []byte) []byte) string {
	tb.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	return input + "." + enc.EncodeToString(sign([]byte(input)))
}

// rsaSigner signs PKCS #1 v1.5 with hash.
func rsaSigner(tb testing.TB, key *rsa.PrivateKey, hash crypto.Hash) func([]byte) []byte {
	return func(input []byte) []byte {
		h := hash.New()
		h.Write(input)
		sig, err := rsa.SignPKCS1v15(nil, key, hash, h.Sum(nil))
		if err != nil {
			tb.Fatalf("sign: %v", err)
		}
		return sig
	}
}

// signToken returns an RS256 JWT of claims with header kid, signed by key.
func signToken(tb testing.TB, claims map[string]any, kid string, key *rsa.PrivateKey) string {
	tb.Helper()
	return encodeToken(tb, map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}, claims, rsaSigner(tb, key, crypto.SHA256))
}

// authTestClaims returns the claims of a valid channel token at now.
func authTestClaims(serviceURL string, now time.Time) map[string]any {
	return map[string]any{
		"iss":        "https://api.botframework.com",
		"aud":        authTestAppID,
		"serviceurl": serviceURL,
		"nbf":        now.Add(-5 * time.Minute).Unix(),
		"iat":        now.Add(-5 * time.Minute).Unix(),
		"exp":        now.Add(time.Hour).Unix(),
	}
}

// authTestHeader returns a valid Authorization header for serviceURL now.
func authTestHeader(tb testing.TB, serviceURL string) string {
	tb.Helper()
	return "Bearer " + signToken(tb, authTestClaims(serviceURL, time.Now()), authTestKID, authTestKey(tb, 0))
}

// openIDServer stands in for login.botframework.com.
type openIDServer struct {
	srv          *httptest.Server
	metadataHits atomic.Int64
	jwksHits     atomic.Int64

	mu      sync.Mutex
	keys    []map[string]any // JWKS entries in publication order
	failing bool
	delay   time.Duration
}

const (
	openIDMetadataPath = "/v1/.well-known/openidconfiguration"
	openIDKeysPath     = "/v1/.well-known/keys"
)

// newOpenIDServer starts a stand-in publishing authTestKey(0) as authTestKID.
func newOpenIDServer(tb testing.TB) *openIDServer {
	tb.Helper()
	s := &openIDServer{}
	// A P-256 key: a Validator must skip it (only RSA keys are used).
	s.keys = append(s.keys, map[string]any{
		"kty": "EC", "use": "sig", "kid": "ec-key", "crv": "P-256",
		"x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
	})
	s.Publish(authTestKID, &authTestKey(tb, 0).PublicKey, authTestChannel)

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+openIDMetadataPath, func(w http.ResponseWriter, r *http.Request) {
		s.metadataHits.Add(1)
		if !s.pause(w) {
			return
		}
		writeTestJSON(w, map[string]any{
			"issuer":                                "https://api.botframework.com",
			"authorization_endpoint":                "https://invalid.botframework.com",
			"jwks_uri":                              s.srv.URL + openIDKeysPath,
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
		})
	})
	mux.HandleFunc("GET "+openIDKeysPath, func(w http.ResponseWriter, r *http.Request) {
		s.jwksHits.Add(1)
		if !s.pause(w) {
			return
		}
		s.mu.Lock()
		doc := map[string]any{"keys": append([]map[string]any(nil), s.keys...)}
		s.mu.Unlock()
		writeTestJSON(w, doc)
	})
	s.srv = httptest.NewServer(mux)
	tb.Cleanup(s.srv.Close)
	return s
}

// pause applies the delay and the failure mode; false means it answered 500.
func (s *openIDServer) pause(w http.ResponseWriter) bool {
	s.mu.Lock()
	delay, failing := s.delay, s.failing
	s.mu.Unlock()
	time.Sleep(delay)
	if failing {
		http.Error(w, "unavailable", http.StatusInternalServerError)
		return false
	}
	return true
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// MetadataURL is the URL to put in AuthOptions.MetadataURL.
func (s *openIDServer) MetadataURL() string { return s.srv.URL + openIDMetadataPath }

// Publish adds pub to the JWKS as kid (replacing a key with that kid).
func (s *openIDServer) Publish(kid string, pub *rsa.PublicKey, endorsements ...string) {
	jwk := map[string]any{
		"kty": "RSA", "use": "sig", "kid": kid, "x5t": kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
	if endorsements != nil {
		jwk["endorsements"] = endorsements
	}
	s.Unpublish(kid)
	s.mu.Lock()
	s.keys = append(s.keys, jwk)
	s.mu.Unlock()
}

// Unpublish removes kid from the JWKS.
func (s *openIDServer) Unpublish(kid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.keys[:0]
	for _, k := range s.keys {
		if k["kid"] != kid {
			kept = append(kept, k)
		}
	}
	s.keys = kept
}

// SetFailing makes both documents answer 500 (or recover).
func (s *openIDServer) SetFailing(f bool) { s.mu.Lock(); s.failing = f; s.mu.Unlock() }

// SetDelay delays every answer by d.
func (s *openIDServer) SetDelay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// Hits returns how many metadata and JWKS requests the server received.
func (s *openIDServer) Hits() (metadata, jwks int64) {
	return s.metadataHits.Load(), s.jwksHits.Load()
}

// authClock is a controllable clock for AuthOptions.Now.
type authClock struct {
	mu sync.Mutex
	t  time.Time
}

func newAuthClock(t time.Time) *authClock { return &authClock{t: t} }

func (c *authClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *authClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// authTestValidator returns a Validator for authTestAppID that trusts srv.
func authTestValidator(tb testing.TB, srv *openIDServer, clock *authClock) *Validator {
	tb.Helper()
	o := AuthOptions{AppID: authTestAppID, MetadataURL: srv.MetadataURL(), HTTPClient: srv.srv.Client()}
	if clock != nil {
		o.Now = clock.Now
	}
	return NewValidator(o)
}

// hs256 signs with HMAC-SHA256 using secret (for the alg-confusion test).
func hs256(secret []byte) func([]byte) []byte {
	return func(input []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(input)
		return m.Sum(nil)
	}
}
