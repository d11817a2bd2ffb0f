package bot

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	// Registered for crypto.Hash.New: RS256 needs SHA-256, RS384 and RS512
	// need SHA-384/512.
	_ "crypto/sha256"
	_ "crypto/sha512"

	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/schema"
)

// Defaults of AuthOptions (REFERENCE.md §1).
const (
	authDefaultMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	authDefaultIssuer      = "https://api.botframework.com"
)

// Limits and timings that are not worth an option.
const (
	authHTTPTimeout      = 10 * time.Second // default HTTPClient timeout
	authFetchTimeout     = 30 * time.Second // cap on one metadata+JWKS fetch
	authNoKeysRetry      = 5 * time.Second  // retry gap while no keys were ever loaded
	authMaxDocBytes      = 1 << 20          // metadata and JWKS body cap
	authMaxTokenBytes    = 16 << 10         // Bot Connector tokens are ~1.5 KiB
	authMinKeyBits       = 2048             // smaller RSA keys in the JWKS are ignored
	authTokenCacheLimit  = 10000            // verified tokens kept
	authErrBodyDrainSize = 4 << 10          // bytes read from a non-200 body before closing
)

// ErrUnauthorized is wrapped by every error AuthenticateRequest returns. The
// rest of the message is a short reason for the log; it never contains the
// token or any of its claims.
var ErrUnauthorized = errors.New("unauthorized")

// Rejection reasons. They are preallocated so that a flood of bad tokens
// costs no allocations for the error, and so tests can tell them apart with
// errors.Is.
var (
	errNoHeader      = authErr("missing authorization header")
	errNotBearer     = authErr("authorization scheme is not Bearer")
	errMalformed     = authErr("malformed token")
	errAlg           = authErr("signing algorithm not allowed")
	errCrit          = authErr("token has critical header parameters")
	errNoKID         = authErr("token has no key id")
	errUnknownKID    = authErr("token key id is not published")
	errKeyChanged    = authErr("token key is no longer published")
	errSignature     = authErr("bad token signature")
	errIssuer        = authErr("wrong token issuer")
	errAudience      = authErr("wrong token audience")
	errNoExp         = authErr("token has no expiry")
	errExpired       = authErr("token expired")
	errNotYetValid   = authErr("token not yet valid")
	errNoServiceURL  = authErr("token has no serviceurl claim")
	errServiceURL    = authErr("token serviceurl does not match the activity")
	errNotEndorsed   = authErr("signing key is not endorsed for the channel")
	errNoAppID       = authErr("validator has no app id configured")
	errKeysNotLoaded = authErr("signing keys unavailable")
)

func authErr(reason string) error { return fmt.Errorf("%w: %s", ErrUnauthorized, reason) }

// AuthOptions configures a Validator. Zero values select the defaults.
type AuthOptions struct {
	// AppID is the bot's Microsoft App ID, the required token audience.
	// With no AppID every request is rejected.
	AppID string
	// MetadataURL is the OpenID metadata document whose jwks_uri lists the
	// signing keys. Default
	// https://login.botframework.com/v1/.well-known/openidconfiguration.
	MetadataURL string
	// Issuer is the exact required iss claim. Default https://api.botframework.com.
	Issuer string
	// HTTPClient fetches the metadata and the keys. Default: a client with
	// a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock. Default time.Now; tests control the clock.
	Now func() time.Time
	// RefreshInterval is the age after which keys are refetched. Default 24h.
	// The refetch runs in the background; requests keep using the old keys.
	RefreshInterval time.Duration
	// MissRefreshInterval bounds automatic refetches: a token with an
	// unknown key id, or a failed background refresh, triggers a new fetch
	// at most this often. Default 1h.
	MissRefreshInterval time.Duration
	// Leeway is the clock skew allowed for exp and nbf. Default 5m; a
	// negative value means none.
	Leeway time.Duration
}

// Validator authenticates requests from the Bot Framework channel (Teams) to
// the bot. It implements msbotbuilder-go's auth.TokenValidator and is safe for
// concurrent use.
//
// The signing keys are cached: they are fetched once (by Refresh at start-up
// or by the first request), refetched in the background when older than
// RefreshInterval, and refetched when a token names an unknown key id, at most
// once per MissRefreshInterval. Concurrent fetches collapse into one, and a
// failed fetch keeps the old keys.
//
// Tokens that verified are remembered (keyed by the raw token, up to 10,000)
// so that a token the Bot Connector reuses for an hour is checked for its
// signature, alg, issuer and audience only once. Everything that depends on
// the request or the time (exp, nbf, serviceurl, the key still being
// published and endorsed for the channel) is checked on every request.
//
// Signatures are verified with crypto/rsa directly rather than through
// golang-jwt. With golang-jwt we would still resolve the kid and its
// endorsements ourselves (in a Keyfunc), switch its claims validation off
// (our exp/nbf/aud rules differ: leeway, array aud, cache re-checks) and
// convert its MapClaims for the Identity; what remains of it is the alg
// switch and one rsa.VerifyPKCS1v15 call, which are a dozen lines here, and
// skipping its generic layers is cheaper (REFERENCE.md §10: bare
// rsa.VerifyPKCS1v15 ~37 µs vs ~41 µs per token). The parsing is strict:
// three unpadded base64url segments, alg only RS256/RS384/RS512 (so "none"
// and HS256 key confusion cannot arise), no "crit" header, nothing after the
// claims object.
type Validator struct {
	appID        string
	metadataURL  string
	issuer       string
	client       *http.Client
	now          func() time.Time
	refreshEvery time.Duration
	missEvery    time.Duration
	leeway       time.Duration

	keys atomic.Pointer[keySet] // nil until the first successful fetch

	fetchMu     sync.Mutex
	inflight    *keyFetch // the fetch under way, if any
	lastAttempt time.Time // start of the last fetch, successful or not

	tokensMu  sync.RWMutex
	tokens    map[string]*verifiedToken
	tokensMax int // 0 disables the cache (benchmarks)
}

var (
	_ auth.TokenValidator = (*Validator)(nil)
	_ auth.ClaimsIdentity = (*Identity)(nil)
)

// NewValidator returns a Validator with o's settings. It performs no I/O:
// call Refresh to load the keys before serving, or the first request will.
func NewValidator(o AuthOptions) *Validator {
	v := &Validator{
		appID:        o.AppID,
		metadataURL:  o.MetadataURL,
		issuer:       o.Issuer,
		client:       o.HTTPClient,
		now:          o.Now,
		refreshEvery: o.RefreshInterval,
		missEvery:    o.MissRefreshInterval,
		leeway:       o.Leeway,
		tokens:       make(map[string]*verifiedToken),
		tokensMax:    authTokenCacheLimit,
	}
	if v.metadataURL == "" {
		v.metadataURL = authDefaultMetadataURL
	}
	if v.issuer == "" {
		v.issuer = authDefaultIssuer
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: authHTTPTimeout}
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.refreshEvery <= 0 {
		v.refreshEvery = 24 * time.Hour
	}
	if v.missEvery <= 0 {
		v.missEvery = time.Hour
	}
	switch {
	case v.leeway == 0:
		v.leeway = 5 * time.Minute
	case v.leeway < 0:
		v.leeway = 0
	}
	return v
}

// Ready reports whether the signing keys have been loaded at least once.
func (v *Validator) Ready() bool { return v.keys.Load() != nil }

// Refresh fetches the OpenID metadata and the signing keys now, or waits for
// a fetch already under way. On failure the previous keys stay in use.
func (v *Validator) Refresh(ctx context.Context) error {
	f := v.startFetch(ctx, 0)
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return fmt.Errorf("refresh bot framework keys: %w", ctx.Err())
	}
}

// AuthenticateRequest checks the Authorization header of a request carrying
// activity, as REFERENCE.md §1 describes. A nil credentials is allowed: the
// Validator's AppID is the audience either way, and a non-nil credentials
// must also accept it. channelService is ignored (public cloud only), and
// credentials.IsAuthenticationDisabled is not honoured: disabling auth is the
// caller's decision, made by not calling the Validator.
//
// Every error wraps ErrUnauthorized. The identity returned is an *Identity.
func (v *Validator) AuthenticateRequest(ctx context.Context, activity schema.Activity, authHeader string, credentials auth.CredentialProvider, channelService string) (auth.ClaimsIdentity, error) {
	raw, err := bearerToken(authHeader)
	if err != nil {
		return nil, err
	}
	if v.appID == "" {
		return nil, errNoAppID
	}
	now := v.now()
	ks, err := v.currentKeys(ctx, now)
	if err != nil {
		return nil, err
	}

	if vt := v.cachedToken(raw); vt != nil {
		if err := v.recheck(vt, ks, activity, credentials, now); err != nil {
			if err == errExpired {
				v.forgetToken(raw)
			}
			return nil, err
		}
		return vt.id, nil
	}

	vt, err := v.verify(ctx, raw, ks, activity, credentials, now)
	if err != nil {
		return nil, err
	}
	v.rememberToken(raw, vt, now)
	return vt.id, nil
}

// bearerToken extracts the token from "Bearer <jwt>" (scheme case-insensitive).
func bearerToken(h string) (string, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return "", errNoHeader
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", errNotBearer
	}
	tok = strings.TrimLeft(tok, " ")
	// Other stray bytes (spaces, tabs) fail base64 decoding in verify, and a
	// cache hit means the bytes are exactly those of a token that verified.
	if tok == "" || len(tok) > authMaxTokenBytes {
		return "", errMalformed
	}
	return tok, nil
}

// verifiedToken is what a token that passed the full check leaves in the
// cache: the outcome of the checks its signed bytes fix, and what every later
// request must check again.
type verifiedToken struct {
	id         *Identity
	kid        string
	key        *rsa.PublicKey // the key that verified it
	aud        string         // the audience value that matched
	exp, nbf   time.Time      // nbf zero when absent
	serviceURL string
}

// checkTime applies exp and nbf with the leeway.
func (v *Validator) checkTime(vt *verifiedToken, now time.Time) error {
	if !now.Before(vt.exp.Add(v.leeway)) {
		return errExpired
	}
	if !vt.nbf.IsZero() && now.Add(v.leeway).Before(vt.nbf) {
		return errNotYetValid
	}
	return nil
}

// checkRequest applies the checks that depend on the request: serviceurl,
// endorsement of the key for the channel, and the caller's credentials.
func checkRequest(vt *verifiedToken, k *signingKey, activity schema.Activity, credentials auth.CredentialProvider) error {
	if !strings.EqualFold(vt.serviceURL, activity.ServiceURL) {
		return errServiceURL
	}
	if activity.ChannelID != "" && !k.endorses(activity.ChannelID) {
		return errNotEndorsed
	}
	if credentials != nil && !credentials.IsValidAppID(vt.aud) {
		return errAudience
	}
	return nil
}

// recheck validates a cached token for this request.
func (v *Validator) recheck(vt *verifiedToken, ks *keySet, activity schema.Activity, credentials auth.CredentialProvider, now time.Time) error {
	if err := v.checkTime(vt, now); err != nil {
		return err
	}
	k := ks.byKID[vt.kid]
	if k == nil || (k.pub != vt.key && !k.pub.Equal(vt.key)) {
		return errKeyChanged
	}
	return checkRequest(vt, k, activity, credentials)
}

// jwtHeader is the part of the JOSE header that is read.
type jwtHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

var b64 = base64.RawURLEncoding.Strict()

// verify runs every check on a token not seen before.
func (v *Validator) verify(ctx context.Context, raw string, ks *keySet, activity schema.Activity, credentials auth.CredentialProvider, now time.Time) (*verifiedToken, error) {
	dot1 := strings.IndexByte(raw, '.')
	dot2 := strings.LastIndexByte(raw, '.')
	if dot1 <= 0 || dot2 <= dot1+1 || dot2 == len(raw)-1 || strings.IndexByte(raw[dot1+1:dot2], '.') >= 0 {
		return nil, errMalformed
	}
	headerJSON, err := b64.DecodeString(raw[:dot1])
	if err != nil {
		return nil, errMalformed
	}
	var hdr jwtHeader
	if err := json.Unmarshal(headerJSON, &hdr); err != nil {
		return nil, errMalformed
	}
	var hash crypto.Hash
	switch hdr.Alg {
	case "RS256":
		hash = crypto.SHA256
	case "RS384":
		hash = crypto.SHA384
	case "RS512":
		hash = crypto.SHA512
	default:
		return nil, errAlg
	}
	if hdr.Crit != nil {
		return nil, errCrit
	}
	if hdr.Kid == "" {
		return nil, errNoKID
	}

	k := ks.byKID[hdr.Kid]
	if k == nil {
		if ks, err = v.keysAfterMiss(ctx); err != nil {
			return nil, err
		}
		if k = ks.byKID[hdr.Kid]; k == nil {
			return nil, errUnknownKID
		}
	}

	sig, err := b64.DecodeString(raw[dot2+1:])
	if err != nil {
		return nil, errMalformed
	}
	h := hash.New()
	io.WriteString(h, raw[:dot2])
	if err := rsa.VerifyPKCS1v15(k.pub, hash, h.Sum(nil), sig); err != nil {
		return nil, errSignature
	}

	// The signature holds: from here on the claims are the issuer's.
	payload, err := b64.DecodeString(raw[dot1+1 : dot2])
	if err != nil {
		return nil, errMalformed
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return nil, errMalformed
	}
	if iss, _ := claims["iss"].(string); iss != v.issuer {
		return nil, errIssuer
	}
	vt := &verifiedToken{id: &Identity{claims: claims}, kid: hdr.Kid, key: k.pub}
	if vt.aud = v.matchAudience(claims["aud"]); vt.aud == "" {
		return nil, errAudience
	}
	var ok bool
	if vt.exp, ok = numericDate(claims["exp"]); !ok {
		return nil, errNoExp
	}
	if n, present := claims["nbf"]; present {
		if vt.nbf, ok = numericDate(n); !ok {
			return nil, errMalformed
		}
	}
	if err := v.checkTime(vt, now); err != nil {
		return nil, err
	}
	if vt.serviceURL, _ = claims["serviceurl"].(string); vt.serviceURL == "" {
		return nil, errNoServiceURL
	}
	if err := checkRequest(vt, k, activity, credentials); err != nil {
		return nil, err
	}
	return vt, nil
}

// decodeClaims parses the claims object, keeping numbers as json.Number so
// that Identity can give their exact text.
func decodeClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, err
	}
	if claims == nil {
		return nil, errors.New("claims are not an object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after claims")
	}
	return claims, nil
}

// matchAudience returns the aud value (a string, or a member of an array)
// that equals the app ID, or "" if none does.
func (v *Validator) matchAudience(aud any) string {
	switch a := aud.(type) {
	case string:
		if a == v.appID {
			return a
		}
	case []any:
		for _, x := range a {
			if s, _ := x.(string); s == v.appID {
				return s
			}
		}
	}
	return ""
}

// numericDate converts a JWT NumericDate (seconds, possibly fractional).
func numericDate(x any) (time.Time, bool) {
	n, ok := x.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	if i, err := n.Int64(); err == nil {
		return time.Unix(i, 0), true
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

// Identity is the authenticated caller: the claims of a verified token. It
// implements msbotbuilder-go's auth.ClaimsIdentity and is immutable.
type Identity struct {
	claims map[string]any
}

// GetClaimValue returns the claim name as text: strings as they are, numbers
// in their JSON form, booleans as "true"/"false", arrays and objects as
// compact JSON, and "" for a missing or null claim. It never panics.
func (id *Identity) GetClaimValue(name string) string {
	if id == nil {
		return ""
	}
	switch x := id.claims[name].(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return ""
		}
		return string(b)
	}
}

// IsAuthenticated reports whether the identity comes from a verified token.
func (id *Identity) IsAuthenticated() bool { return id != nil }

// --- verified-token cache ---

func (v *Validator) cachedToken(raw string) *verifiedToken {
	v.tokensMu.RLock()
	vt := v.tokens[raw]
	v.tokensMu.RUnlock()
	return vt
}

func (v *Validator) forgetToken(raw string) {
	v.tokensMu.Lock()
	delete(v.tokens, raw)
	v.tokensMu.Unlock()
}

// rememberToken caches a verified token. When the cache is full, expired
// entries are dropped; if that frees less than a quarter of it, it is reset,
// so the sweep costs amortised O(1) per insert.
func (v *Validator) rememberToken(raw string, vt *verifiedToken, now time.Time) {
	if v.tokensMax <= 0 {
		return
	}
	v.tokensMu.Lock()
	defer v.tokensMu.Unlock()
	if len(v.tokens) >= v.tokensMax {
		for k, e := range v.tokens {
			if !now.Before(e.exp.Add(v.leeway)) {
				delete(v.tokens, k)
			}
		}
		if len(v.tokens) > v.tokensMax*3/4 {
			clear(v.tokens)
		}
	}
	v.tokens[raw] = vt
}

// --- signing keys ---

// keySet is one fetched JWKS, immutable once published.
type keySet struct {
	byKID   map[string]*signingKey
	fetched time.Time
}

// signingKey is one RSA key of the JWKS, parsed at fetch time.
type signingKey struct {
	pub          *rsa.PublicKey
	endorsements []string
}

func (k *signingKey) endorses(channel string) bool {
	for _, e := range k.endorsements {
		if e == channel {
			return true
		}
	}
	return false
}

// keyFetch is one metadata+JWKS fetch; done is closed when ks/err are set.
type keyFetch struct {
	done chan struct{}
	ks   *keySet
	err  error
}

// startFetch returns the fetch under way or starts one, unless the last one
// started less than minGap ago; then it returns nil. The fetch runs detached
// from ctx's cancellation, so a caller that gives up does not abort it for the
// others waiting on it.
func (v *Validator) startFetch(ctx context.Context, minGap time.Duration) *keyFetch {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	if v.inflight != nil {
		return v.inflight
	}
	now := v.now()
	if minGap > 0 && !v.lastAttempt.IsZero() && now.Sub(v.lastAttempt) < minGap {
		return nil
	}
	v.lastAttempt = now
	f := &keyFetch{done: make(chan struct{})}
	v.inflight = f
	go func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), authFetchTimeout)
		ks, err := v.fetchKeys(fctx, now)
		cancel()
		if err == nil {
			v.keys.Store(ks)
		}
		v.fetchMu.Lock()
		v.inflight = nil
		v.fetchMu.Unlock()
		f.ks, f.err = ks, err
		close(f.done)
	}()
	return f
}

// waitFetch waits for f and returns the keys in use afterwards.
func (v *Validator) waitFetch(ctx context.Context, f *keyFetch) (*keySet, error) {
	if f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for signing keys: %w", ErrUnauthorized, ctx.Err())
		}
	}
	if ks := v.keys.Load(); ks != nil {
		return ks, nil
	}
	if f != nil && f.err != nil {
		return nil, fmt.Errorf("%w: %w", errKeysNotLoaded, f.err)
	}
	return nil, errKeysNotLoaded
}

// currentKeys returns the keys to verify with: it loads them if none were
// ever loaded, and starts a background refresh when they are stale.
func (v *Validator) currentKeys(ctx context.Context, now time.Time) (*keySet, error) {
	ks := v.keys.Load()
	if ks == nil {
		return v.waitFetch(ctx, v.startFetch(ctx, authNoKeysRetry))
	}
	if now.Sub(ks.fetched) >= v.refreshEvery {
		v.startFetch(ctx, min(v.missEvery, v.refreshEvery))
	}
	return ks, nil
}

// keysAfterMiss refetches the keys for an unknown kid if the last fetch is
// at least MissRefreshInterval old (or joins a fetch under way), and returns
// the keys in use afterwards.
func (v *Validator) keysAfterMiss(ctx context.Context) (*keySet, error) {
	return v.waitFetch(ctx, v.startFetch(ctx, v.missEvery))
}

// fetchKeys reads the metadata document, then the JWKS it points to.
func (v *Validator) fetchKeys(ctx context.Context, now time.Time) (*keySet, error) {
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := v.getJSON(ctx, v.metadataURL, &meta); err != nil {
		return nil, fmt.Errorf("fetch openid metadata: %w", err)
	}
	jwksURL, err := v.checkJWKSURI(meta.JWKSURI)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Keys []jsonWebKey `json:"keys"`
	}
	if err := v.getJSON(ctx, jwksURL, &doc); err != nil {
		return nil, fmt.Errorf("fetch signing keys: %w", err)
	}
	ks := &keySet{byKID: make(map[string]*signingKey, len(doc.Keys)), fetched: now}
	for _, jk := range doc.Keys {
		k, ok := jk.parse()
		if !ok {
			continue
		}
		if _, dup := ks.byKID[jk.Kid]; !dup {
			ks.byKID[jk.Kid] = k
		}
	}
	if len(ks.byKID) == 0 {
		return nil, fmt.Errorf("fetch signing keys: %s has no usable RSA key", jwksURL)
	}
	return ks, nil
}

// checkJWKSURI requires an absolute http(s) URL, and https when the metadata
// itself came over https.
func (v *Validator) checkJWKSURI(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("openid metadata: bad jwks_uri %q", s)
	}
	if u.Scheme != "https" && strings.HasPrefix(strings.ToLower(v.metadataURL), "https:") {
		return "", fmt.Errorf("openid metadata: jwks_uri %q is not https", s)
	}
	return s, nil
}

// getJSON GETs url and decodes a 200 answer of at most authMaxDocBytes.
func (v *Validator) getJSON(ctx context.Context, url string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, authErrBodyDrainSize))
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, authMaxDocBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > authMaxDocBytes {
		return fmt.Errorf("GET %s: body larger than %d bytes", url, authMaxDocBytes)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// jsonWebKey is one entry of the JWKS.
type jsonWebKey struct {
	Kty          string   `json:"kty"`
	Use          string   `json:"use"`
	Kid          string   `json:"kid"`
	N            string   `json:"n"`
	E            string   `json:"e"`
	Endorsements []string `json:"endorsements"`
}

// parse turns an RSA signing key into a signingKey; anything else (other key
// types, encryption keys, bad numbers, keys under 2048 bits) is skipped.
func (jk jsonWebKey) parse() (*signingKey, bool) {
	if jk.Kty != "RSA" || jk.Kid == "" || (jk.Use != "" && jk.Use != "sig") {
		return nil, false
	}
	nb, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(jk.N, "="))
	eb, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(jk.E, "="))
	if err1 != nil || err2 != nil || len(eb) == 0 || len(eb) > 4 {
		return nil, false
	}
	e := 0
	for _, b := range eb {
		e = e<<8 | int(b)
	}
	n := new(big.Int).SetBytes(nb)
	if e < 3 || e%2 == 0 || e > 1<<31-1 || n.BitLen() < authMinKeyBits {
		return nil, false
	}
	return &signingKey{
		pub:          &rsa.PublicKey{N: n, E: e},
		endorsements: jk.Endorsements,
	}, true
}
