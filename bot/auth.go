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
	"slices"
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

// Rejection causes. AuthenticateRequest returns them inside an *AuthError,
// so tests can tell them apart with errors.Is.
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
	errTenant        = authErr("token tenant is not the bot's")
	errAppNotAllowed = authErr("calling app is not in the tenant app allow-list")
	errNoAppID       = authErr("validator has no app id configured")
	errKeysNotLoaded = authErr("signing keys unavailable")
)

func authErr(reason string) error { return fmt.Errorf("%w: %s", ErrUnauthorized, reason) }

// Reasons a token is refused, as AuthError.Reason gives them. The set is
// bounded (a sender cannot add to it), so it is fit for a metric label.
const (
	AuthReasonNoToken         = "no_token"          // no Authorization header, or not Bearer
	AuthReasonMalformed       = "malformed"         // not a well-formed JWT, or a required claim of the wrong type
	AuthReasonBadAlgorithm    = "bad_algorithm"     // alg other than RS256/384/512 (RS256 for tenant tokens)
	AuthReasonUnknownKey      = "unknown_key"       // kid not published (after the bounded refresh), or no longer published
	AuthReasonBadSignature    = "bad_signature"     // the signature does not verify
	AuthReasonWrongIssuer     = "wrong_issuer"      // iss is not an issuer the bot accepts
	AuthReasonWrongAudience   = "wrong_audience"    // aud is not the bot's app id
	AuthReasonExpired         = "expired"           // exp passed (beyond the leeway)
	AuthReasonNotYetValid     = "not_yet_valid"     // nbf in the future (beyond the leeway)
	AuthReasonWrongServiceURL = "wrong_service_url" // serviceurl claim missing or not the activity's
	AuthReasonNotEndorsed     = "not_endorsed"      // signing key not endorsed for the activity's channel
	AuthReasonWrongTenant     = "wrong_tenant"      // tenant token whose tid is not the bot's tenant
	AuthReasonAppNotAllowed   = "app_not_allowed"   // tenant token from an app not in the allow-list
	AuthReasonKeysUnavailable = "keys_unavailable"  // the signing keys could not be loaded
	AuthReasonNotConfigured   = "not_configured"    // the Validator has no app id
	AuthReasonOther           = "other"             // anything else (should not happen)
)

// authReasons maps each rejection cause to its reason, in AuthReasons'
// order.
var authReasons = []struct {
	err    error
	reason string
}{
	{errNoHeader, AuthReasonNoToken}, {errNotBearer, AuthReasonNoToken},
	{errMalformed, AuthReasonMalformed}, {errCrit, AuthReasonMalformed}, {errNoKID, AuthReasonMalformed}, {errNoExp, AuthReasonMalformed},
	{errAlg, AuthReasonBadAlgorithm},
	{errUnknownKID, AuthReasonUnknownKey}, {errKeyChanged, AuthReasonUnknownKey},
	{errSignature, AuthReasonBadSignature},
	{errIssuer, AuthReasonWrongIssuer},
	{errAudience, AuthReasonWrongAudience},
	{errExpired, AuthReasonExpired},
	{errNotYetValid, AuthReasonNotYetValid},
	{errNoServiceURL, AuthReasonWrongServiceURL}, {errServiceURL, AuthReasonWrongServiceURL},
	{errNotEndorsed, AuthReasonNotEndorsed},
	{errTenant, AuthReasonWrongTenant},
	{errAppNotAllowed, AuthReasonAppNotAllowed},
	{errKeysNotLoaded, AuthReasonKeysUnavailable},
	{errNoAppID, AuthReasonNotConfigured},
}

// AuthReasons lists every value AuthError.Reason can take, so that a metric
// can export each at zero before the first rejection.
func AuthReasons() []string {
	var out []string
	for _, r := range authReasons {
		if !slices.Contains(out, r.reason) {
			out = append(out, r.reason)
		}
	}
	return append(out, AuthReasonOther)
}

// authReasonOf classifies a rejection cause.
func authReasonOf(err error) string {
	for _, r := range authReasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return AuthReasonKeysUnavailable // gave up waiting for the keys
	}
	return AuthReasonOther
}

// authLogClaimMax bounds each claim an AuthError reports, in bytes.
const authLogClaimMax = 128

// AuthError is the error AuthenticateRequest returns: why the token was
// refused, and what it claims, for the log. It wraps ErrUnauthorized.
//
// The claims are read from the token without verifying it, so whoever sent
// it chose them: they are for telling an operator which issuer, audience or
// key a refused token named ("every message is 401 because of the issuer"),
// never for a decision. Each is at most 128 bytes of printable ASCII (other
// bytes become '?'), "" when absent; an array aud is joined with ",". The
// token itself is never kept.
type AuthError struct {
	// Reason is one of the AuthReason constants.
	Reason string
	// Issuer is the iss claim, unverified.
	Issuer string
	// Audience is the aud claim, unverified.
	Audience string
	// KeyID is the kid header parameter, unverified.
	KeyID string
	// Tenant is the tid claim, unverified.
	Tenant string
	// App is the caller's app id, unverified: the azp claim, or appid.
	App string

	err error // the cause, wrapping ErrUnauthorized
}

// Error is the cause's text ("unauthorized: wrong token issuer"); it holds
// none of the claims.
func (e *AuthError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e *AuthError) Unwrap() error { return e.err }

// LogAttrs returns the reason and the claims present, as slog key-value
// pairs: auth_reason, iss, aud, kid, tid, app.
func (e *AuthError) LogAttrs() []any {
	attrs := []any{"auth_reason", e.Reason}
	for _, a := range [...]struct{ k, v string }{{"iss", e.Issuer}, {"aud", e.Audience}, {"kid", e.KeyID}, {"tid", e.Tenant}, {"app", e.App}} {
		if a.v != "" {
			attrs = append(attrs, a.k, a.v)
		}
	}
	return attrs
}

// readUnverified fills the claims from raw without verifying anything.
// Whatever does not parse is left empty.
func (e *AuthError) readUnverified(raw string) {
	seg := strings.SplitN(raw, ".", 3)
	if len(seg) < 2 {
		return
	}
	decode := func(s string, dst any) {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err == nil {
			json.Unmarshal(b, dst)
		}
	}
	var hdr struct {
		Kid json.RawMessage `json:"kid"`
	}
	decode(seg[0], &hdr)
	var c struct {
		Iss, Aud, Tid, Azp, Appid json.RawMessage
	}
	decode(seg[1], &c)
	e.KeyID, e.Issuer, e.Audience, e.Tenant = claimText(hdr.Kid), claimText(c.Iss), claimText(c.Aud), claimText(c.Tid)
	if e.App = claimText(c.Azp); e.App == "" {
		e.App = claimText(c.Appid)
	}
}

// claimText renders a claim for the log: a string, or an array's strings
// joined with ",", sanitized and bounded; other JSON as its type.
func claimText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var x any
	if json.Unmarshal(raw, &x) != nil {
		return ""
	}
	var s string
	switch x := x.(type) {
	case nil:
		return ""
	case string:
		s = x
	case []any:
		parts := make([]string, 0, len(x))
		for _, p := range x {
			if ps, ok := p.(string); ok {
				parts = append(parts, ps)
			}
			if len(parts) > authLogClaimMax {
				break
			}
		}
		s = strings.Join(parts, ",")
	default:
		return fmt.Sprintf("(%T)", x)
	}
	return sanitizeClaim(s)
}

// sanitizeClaim keeps printable ASCII, turns anything else into '?', and
// cuts the result to authLogClaimMax bytes.
func sanitizeClaim(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= authLogClaimMax {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// AuthObserver is told of every request a Validator refuses, for metrics.
// Its method must be quick and safe for concurrent use.
type AuthObserver interface {
	// ObserveAuthRejected reports one refused request by its reason (one
	// of AuthReasons).
	ObserveAuthRejected(reason string)
}

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

	// TenantTokens also accepts tokens the bot's own Entra tenant issued
	// (see the Validator's documentation). It needs Tenant; with no
	// TenantApps no such token is accepted.
	TenantTokens bool
	// Tenant is the bot's Entra tenant id (a GUID).
	Tenant string
	// TenantApps are the app ids (the azp claim of v2 tokens, appid of v1
	// tokens) whose tenant tokens are accepted; compared without regard to
	// case.
	TenantApps []string
	// TenantMetadataURL is the tenant's OpenID metadata document. Default
	// https://login.microsoftonline.com/{Tenant}/v2.0/.well-known/openid-configuration.
	TenantMetadataURL string

	// Observer is told of every refused request; nil tells no one.
	Observer AuthObserver
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
// The issuer is read from the token before its signature is checked, only
// to choose the keys: a token whose iss the bot does not accept is refused
// as wrong_issuer without touching the key cache (so it cannot trigger a
// refetch), and a token is then verified only with its issuer's keys.
//
// Tenant tokens (AuthOptions.TenantTokens): besides the Bot Framework's
// tokens, the Validator then accepts tokens whose iss is
// https://sts.windows.net/{tenant}/ (v1) or
// https://login.microsoftonline.com/{tenant}/v2.0 (v2), for the bot's own
// tenant, signed with RS256 by a key of that tenant's JWKS (same cache
// discipline, a cache of its own), with aud the app id, tid the tenant, exp
// and nbf within the leeway, and the calling app (azp in v2, appid in v1) in
// TenantApps. Such tokens carry no serviceurl and their keys no
// endorsements: a serviceurl claim, if present, must still match the
// activity. Any app of the tenant can obtain a token for the bot's app id,
// hence the allow-list.
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
	// keySource is the Bot Framework's keys (MetadataURL).
	keySource

	appID        string
	issuer       string
	client       *http.Client
	now          func() time.Time
	refreshEvery time.Duration
	missEvery    time.Duration
	leeway       time.Duration
	observer     AuthObserver

	// The tenant's keys and rules; tenantKeys is nil unless TenantTokens.
	tenantKeys     *keySource
	tenant         string
	tenantV1Issuer string
	tenantV2Issuer string
	tenantApps     map[string]bool // lower-case app ids

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
		issuer:       o.Issuer,
		client:       o.HTTPClient,
		now:          o.Now,
		refreshEvery: o.RefreshInterval,
		missEvery:    o.MissRefreshInterval,
		leeway:       o.Leeway,
		observer:     o.Observer,
		tokens:       make(map[string]*verifiedToken),
		tokensMax:    authTokenCacheLimit,
	}
	v.keySource.owner = v
	v.keySource.metadataURL = o.MetadataURL
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
	if o.TenantTokens && o.Tenant != "" {
		v.tenant = strings.ToLower(o.Tenant)
		v.tenantV1Issuer = "https://sts.windows.net/" + v.tenant + "/"
		v.tenantV2Issuer = "https://login.microsoftonline.com/" + v.tenant + "/v2.0"
		v.tenantApps = make(map[string]bool, len(o.TenantApps))
		for _, a := range o.TenantApps {
			if a = strings.TrimSpace(a); a != "" {
				v.tenantApps[strings.ToLower(a)] = true
			}
		}
		v.tenantKeys = &keySource{owner: v, metadataURL: o.TenantMetadataURL}
		if v.tenantKeys.metadataURL == "" {
			v.tenantKeys.metadataURL = "https://login.microsoftonline.com/" + url.PathEscape(v.tenant) + "/v2.0/.well-known/openid-configuration"
		}
	}
	return v
}

// Ready reports whether the Bot Framework's signing keys have been loaded
// at least once. The tenant's keys (TenantTokens) are not required: without
// them only tenant tokens are refused.
func (v *Validator) Ready() bool { return v.keys.Load() != nil }

// Refresh fetches the OpenID metadata and the signing keys now (the
// tenant's too, with TenantTokens), or waits for fetches already under way.
// On failure the previous keys stay in use.
func (v *Validator) Refresh(ctx context.Context) error {
	sources := []*keySource{&v.keySource}
	if v.tenantKeys != nil {
		sources = append(sources, v.tenantKeys)
	}
	fetches := make([]*keyFetch, len(sources))
	for i, s := range sources {
		fetches[i] = s.startFetch(ctx, 0)
	}
	var errs []error
	for i, f := range fetches {
		select {
		case <-f.done:
			if f.err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", sources[i].metadataURL, f.err))
			}
		case <-ctx.Done():
			return fmt.Errorf("refresh signing keys: %w", ctx.Err())
		}
	}
	return errors.Join(errs...)
}

// AuthenticateRequest checks the Authorization header of a request carrying
// activity, as REFERENCE.md §1 describes (and §11 for tenant tokens). A nil
// credentials is allowed: the Validator's AppID is the audience either way,
// and a non-nil credentials must also accept it. channelService is ignored
// (public cloud only), and credentials.IsAuthenticationDisabled is not
// honoured: disabling auth is the caller's decision, made by not calling the
// Validator.
//
// Every error is an *AuthError wrapping ErrUnauthorized, and is told to the
// Observer. The identity returned is an *Identity.
func (v *Validator) AuthenticateRequest(ctx context.Context, activity schema.Activity, authHeader string, credentials auth.CredentialProvider, channelService string) (auth.ClaimsIdentity, error) {
	raw, err := bearerToken(authHeader)
	if err == nil {
		var id *Identity
		if id, err = v.authenticate(ctx, raw, activity, credentials); err == nil {
			return id, nil
		}
	}
	e := &AuthError{Reason: authReasonOf(err), err: err}
	if raw != "" {
		e.readUnverified(raw)
	}
	if v.observer != nil {
		v.observer.ObserveAuthRejected(e.Reason)
	}
	return nil, e
}

// authenticate checks the token raw for activity.
func (v *Validator) authenticate(ctx context.Context, raw string, activity schema.Activity, credentials auth.CredentialProvider) (*Identity, error) {
	if v.appID == "" {
		return nil, errNoAppID
	}
	now := v.now()
	if vt := v.cachedToken(raw); vt != nil {
		ks, err := vt.src.currentKeys(ctx, now)
		if err != nil {
			return nil, err
		}
		if err := v.recheck(vt, ks, activity, credentials, now); err != nil {
			if err == errExpired {
				v.forgetToken(raw)
			}
			return nil, err
		}
		return vt.id, nil
	}

	vt, err := v.verify(ctx, raw, activity, credentials, now)
	if err != nil {
		return nil, err
	}
	v.rememberToken(raw, vt, now)
	return vt.id, nil
}

// bearerToken extracts the token from "Bearer <jwt>" (scheme case-insensitive).
// On error the token is "".
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
	src        *keySource // the issuer's keys
	tenant     bool       // a tenant token (AuthOptions.TenantTokens)
	kid        string
	key        *rsa.PublicKey // the key that verified it
	aud        string         // the audience value that matched
	exp, nbf   time.Time      // nbf zero when absent
	serviceURL string         // "" only for a tenant token without one
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
// endorsement of the key for the channel, and the caller's credentials. A
// tenant token needs no serviceurl (Entra does not add one) and its keys
// carry no endorsements.
func checkRequest(vt *verifiedToken, k *signingKey, activity schema.Activity, credentials auth.CredentialProvider) error {
	if (!vt.tenant || vt.serviceURL != "") && !strings.EqualFold(vt.serviceURL, activity.ServiceURL) {
		return errServiceURL
	}
	if !vt.tenant && activity.ChannelID != "" && !k.endorses(activity.ChannelID) {
		return errNotEndorsed
	}
	if credentials != nil && !credentials.IsValidAppID(vt.aud) {
		return errAudience
	}
	return nil
}

// recheck validates a cached token for this request; ks are its issuer's
// keys.
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

// issuerKeys returns the keys that sign tokens of issuer iss and, for a
// tenant token, the claim holding the calling app's id; nil if the bot
// does not accept iss.
func (v *Validator) issuerKeys(iss string) (src *keySource, appClaim string) {
	switch {
	case iss == v.issuer:
		return &v.keySource, ""
	case v.tenantKeys == nil:
		return nil, ""
	case iss == v.tenantV1Issuer:
		return v.tenantKeys, "appid"
	case iss == v.tenantV2Issuer:
		return v.tenantKeys, "azp"
	}
	return nil, ""
}

// verify runs every check on a token not seen before.
func (v *Validator) verify(ctx context.Context, raw string, activity schema.Activity, credentials auth.CredentialProvider, now time.Time) (*verifiedToken, error) {
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

	// The claims are not trusted until the signature holds; iss only
	// chooses the keys to check it with.
	payload, err := b64.DecodeString(raw[dot1+1 : dot2])
	if err != nil {
		return nil, errMalformed
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return nil, errMalformed
	}
	iss, _ := claims["iss"].(string)
	src, appClaim := v.issuerKeys(iss)
	if src == nil {
		return nil, errIssuer
	}
	tenant := src != &v.keySource
	if tenant && hash != crypto.SHA256 {
		return nil, errAlg
	}

	ks, err := src.currentKeys(ctx, now)
	if err != nil {
		return nil, err
	}
	k := ks.byKID[hdr.Kid]
	if k == nil {
		if ks, err = src.keysAfterMiss(ctx); err != nil {
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
	vt := &verifiedToken{id: &Identity{claims: claims}, src: src, tenant: tenant, kid: hdr.Kid, key: k.pub}
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
	vt.serviceURL, _ = claims["serviceurl"].(string)
	if tenant {
		if tid, _ := claims["tid"].(string); !strings.EqualFold(tid, v.tenant) {
			return nil, errTenant
		}
		if app, _ := claims[appClaim].(string); !v.tenantApps[strings.ToLower(app)] {
			return nil, errAppNotAllowed
		}
	} else if vt.serviceURL == "" {
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

// keySource is one publisher's signing keys (the Bot Framework's, or the
// bot's tenant's): its OpenID metadata URL and the cache of what it
// published, under the owner's refresh discipline.
type keySource struct {
	owner       *Validator // client, clock and refresh intervals
	metadataURL string

	keys atomic.Pointer[keySet] // nil until the first successful fetch

	fetchMu     sync.Mutex
	inflight    *keyFetch // the fetch under way, if any
	lastAttempt time.Time // start of the last fetch, successful or not
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
func (s *keySource) startFetch(ctx context.Context, minGap time.Duration) *keyFetch {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	if s.inflight != nil {
		return s.inflight
	}
	now := s.owner.now()
	if minGap > 0 && !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < minGap {
		return nil
	}
	s.lastAttempt = now
	f := &keyFetch{done: make(chan struct{})}
	s.inflight = f
	go func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), authFetchTimeout)
		ks, err := s.fetchKeys(fctx, now)
		cancel()
		if err == nil {
			s.keys.Store(ks)
		}
		s.fetchMu.Lock()
		s.inflight = nil
		s.fetchMu.Unlock()
		f.ks, f.err = ks, err
		close(f.done)
	}()
	return f
}

// waitFetch waits for f and returns the keys in use afterwards.
func (s *keySource) waitFetch(ctx context.Context, f *keyFetch) (*keySet, error) {
	if f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for signing keys: %w", ErrUnauthorized, ctx.Err())
		}
	}
	if ks := s.keys.Load(); ks != nil {
		return ks, nil
	}
	if f != nil && f.err != nil {
		return nil, fmt.Errorf("%w: %w", errKeysNotLoaded, f.err)
	}
	return nil, errKeysNotLoaded
}

// currentKeys returns the keys to verify with: it loads them if none were
// ever loaded, and starts a background refresh when they are stale.
func (s *keySource) currentKeys(ctx context.Context, now time.Time) (*keySet, error) {
	ks := s.keys.Load()
	if ks == nil {
		return s.waitFetch(ctx, s.startFetch(ctx, authNoKeysRetry))
	}
	if now.Sub(ks.fetched) >= s.owner.refreshEvery {
		s.startFetch(ctx, min(s.owner.missEvery, s.owner.refreshEvery))
	}
	return ks, nil
}

// keysAfterMiss refetches the keys for an unknown kid if the last fetch is
// at least MissRefreshInterval old (or joins a fetch under way), and returns
// the keys in use afterwards.
func (s *keySource) keysAfterMiss(ctx context.Context) (*keySet, error) {
	return s.waitFetch(ctx, s.startFetch(ctx, s.owner.missEvery))
}

// fetchKeys reads the metadata document, then the JWKS it points to.
func (s *keySource) fetchKeys(ctx context.Context, now time.Time) (*keySet, error) {
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := s.getJSON(ctx, s.metadataURL, &meta); err != nil {
		return nil, fmt.Errorf("fetch openid metadata: %w", err)
	}
	jwksURL, err := s.checkJWKSURI(meta.JWKSURI)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Keys []jsonWebKey `json:"keys"`
	}
	if err := s.getJSON(ctx, jwksURL, &doc); err != nil {
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
func (s *keySource) checkJWKSURI(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("openid metadata: bad jwks_uri %q", uri)
	}
	if u.Scheme != "https" && strings.HasPrefix(strings.ToLower(s.metadataURL), "https:") {
		return "", fmt.Errorf("openid metadata: jwks_uri %q is not https", uri)
	}
	return uri, nil
}

// getJSON GETs url and decodes a 200 answer of at most authMaxDocBytes.
func (s *keySource) getJSON(ctx context.Context, url string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.owner.client.Do(req)
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
