package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/singleflight"
)

// TokenSource yields the bearer token the bot presents to the Bot Connector.
type TokenSource interface {
	// Token returns a valid access token (without the "Bearer " prefix).
	Token(ctx context.Context) (string, error)
}

// Token endpoint defaults.
const (
	// DefaultBotScope is the client-credentials scope of the Bot Connector.
	DefaultBotScope = "https://api.botframework.com/.default"
	// DefaultBotResource is the managed-identity resource of the Bot Connector.
	DefaultBotResource = "https://api.botframework.com"

	imdsTokenURL = "http://169.254.169.254/metadata/identity/oauth2/token"

	tokenRefreshMargin = 5 * time.Minute
	tokenFetchTimeout  = 30 * time.Second
	tokenMaxBody       = 1 << 20
)

// ClientCredentialsOptions configure NewClientCredentials.
type ClientCredentialsOptions struct {
	// Authority is the tenant's login URL, e.g.
	// https://login.microsoftonline.com/<tenant>; the token endpoint is
	// Authority + "/oauth2/v2.0/token".
	Authority string
	// ClientID is the bot's app id.
	ClientID string
	// ClientSecret is the app password. It is never logged and never
	// appears in error text.
	ClientSecret string
	// Scope defaults to DefaultBotScope.
	Scope string
	// HTTPClient defaults to a client with a 30-second timeout.
	HTTPClient *http.Client
	// Now defaults to time.Now; tests control the clock with it.
	Now func() time.Time
}

// ManagedIdentityOptions configure NewManagedIdentity.
type ManagedIdentityOptions struct {
	// ClientID is the client id of a user-assigned managed identity; empty
	// selects the system-assigned identity.
	ClientID string
	// Resource defaults to DefaultBotResource.
	Resource string
	// Endpoint is the App Service identity endpoint (IDENTITY_ENDPOINT).
	// Empty selects the Azure Instance Metadata Service.
	Endpoint string
	// Header is the App Service identity header (IDENTITY_HEADER), sent as
	// X-IDENTITY-HEADER. IMDS requests carry "Metadata: true" instead.
	Header string
	// HTTPClient defaults to a client with a 30-second timeout.
	HTTPClient *http.Client
	// Now defaults to time.Now; tests control the clock with it.
	Now func() time.Time
}

// TokenError is a token endpoint's refusal. It carries the HTTP status and
// the endpoint's error code and description, never a secret or a token.
type TokenError struct {
	// Status is the HTTP status of the token endpoint's answer.
	Status int
	// Code is the AAD "error" (e.g. invalid_client), when given.
	Code string
	// Description is the AAD "error_description" (or the managed identity
	// endpoint's "message"), when given.
	Description string
}

func (e *TokenError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "token endpoint: status %d", e.Status)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	return b.String()
}

// CachedTokenSource is a TokenSource that caches its token, refreshes it five
// minutes before it expires, and lets concurrent callers share one fetch.
// It is safe for concurrent use. Build one with NewClientCredentials or
// NewManagedIdentity; the zero value is not usable.
type CachedTokenSource struct {
	fetch func(ctx context.Context) (tokenResponse, error)
	now   func() time.Time

	mu      sync.Mutex
	token   string
	refresh time.Time // when to fetch a new token

	group singleflight.Group
}

// NewClientCredentials returns a token source that uses the OAuth 2.0 client
// credentials grant against o.Authority. It performs no I/O.
func NewClientCredentials(o ClientCredentialsOptions) *CachedTokenSource {
	if o.Scope == "" {
		o.Scope = DefaultBotScope
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: tokenFetchTimeout}
	}
	endpoint := strings.TrimRight(o.Authority, "/") + "/oauth2/v2.0/token"
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {o.ClientID},
		"client_secret": {o.ClientSecret},
		"scope":         {o.Scope},
	}.Encode()
	secret := o.ClientSecret
	fetch := func(ctx context.Context) (tokenResponse, error) {
		if o.Authority == "" || o.ClientID == "" {
			return tokenResponse{}, errors.New("client credentials: authority and client id are required")
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form))
		if err != nil {
			return tokenResponse{}, fmt.Errorf("client credentials: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		return doTokenRequest(hc, req, secret)
	}
	return newCachedTokenSource(fetch, o.Now)
}

// NewManagedIdentity returns a token source backed by an Azure managed
// identity: the App Service identity endpoint when o.Endpoint is set, the
// Instance Metadata Service otherwise. It performs no I/O.
func NewManagedIdentity(o ManagedIdentityOptions) *CachedTokenSource {
	if o.Resource == "" {
		o.Resource = DefaultBotResource
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: tokenFetchTimeout}
	}
	q := url.Values{"resource": {o.Resource}}
	if o.ClientID != "" {
		q.Set("client_id", o.ClientID)
	}
	endpoint := imdsTokenURL
	if o.Endpoint != "" {
		endpoint = o.Endpoint
		q.Set("api-version", "2019-08-01")
	} else {
		q.Set("api-version", "2018-02-01")
	}
	sep := "?"
	if strings.Contains(endpoint, "?") {
		sep = "&"
	}
	target := endpoint + sep + q.Encode()
	header := o.Header
	fetch := func(ctx context.Context) (tokenResponse, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return tokenResponse{}, fmt.Errorf("managed identity: %w", err)
		}
		req.Header.Set("Accept", "application/json")
		if o.Endpoint != "" {
			if header != "" {
				req.Header.Set("X-IDENTITY-HEADER", header)
			}
		} else {
			req.Header.Set("Metadata", "true")
		}
		return doTokenRequest(hc, req, header)
	}
	return newCachedTokenSource(fetch, o.Now)
}

func newCachedTokenSource(fetch func(context.Context) (tokenResponse, error), now func() time.Time) *CachedTokenSource {
	if now == nil {
		now = time.Now
	}
	return &CachedTokenSource{fetch: fetch, now: now}
}

// Token returns the cached token, fetching a new one when none is cached or
// the cached one expires within five minutes. Concurrent callers share one
// fetch; the fetch is not cancelled when one caller's ctx is, but each
// caller stops waiting when its own ctx is done.
func (s *CachedTokenSource) Token(ctx context.Context) (string, error) {
	if tok, ok := s.cached(); ok {
		return tok, nil
	}
	ch := s.group.DoChan("token", func() (any, error) {
		// A fetch that finished while this one was being scheduled has
		// already refreshed the cache.
		if tok, ok := s.cached(); ok {
			return tok, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tokenFetchTimeout)
		defer cancel()
		start := s.now()
		tr, err := s.fetch(fctx)
		if err != nil {
			return "", err
		}
		expiry, err := tr.expiry(start)
		if err != nil {
			return "", err
		}
		s.store(tr.AccessToken, start, expiry)
		return tr.AccessToken, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (s *CachedTokenSource) cached() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" || !s.now().Before(s.refresh) {
		return "", false
	}
	return s.token, true
}

// store caches tok. It is refreshed five minutes before expiry, or halfway
// through its life when that is shorter than ten minutes.
func (s *CachedTokenSource) store(tok string, issued, expiry time.Time) {
	margin := tokenRefreshMargin
	if life := expiry.Sub(issued); life < 2*margin {
		margin = life / 2
	}
	s.mu.Lock()
	s.token = tok
	s.refresh = expiry.Add(-margin)
	s.mu.Unlock()
}

// tokenResponse is the union of the AAD v2 and managed identity token
// answers. Managed identity endpoints send numbers as strings.
type tokenResponse struct {
	AccessToken string     `json:"access_token"`
	TokenType   string     `json:"token_type"`
	ExpiresIn   flexNumber `json:"expires_in"`
	ExpiresOn   flexNumber `json:"expires_on"`
}

// expiry prefers the relative expires_in, which is immune to clock skew, and
// falls back to the absolute expires_on (Unix seconds) that App Service sends.
func (t tokenResponse) expiry(issued time.Time) (time.Time, error) {
	if t.AccessToken == "" {
		return time.Time{}, errors.New("token endpoint: answer has no access_token")
	}
	if t.TokenType != "" && !strings.EqualFold(t.TokenType, "Bearer") {
		return time.Time{}, fmt.Errorf("token endpoint: unexpected token_type %q", t.TokenType)
	}
	switch {
	case t.ExpiresIn > 0:
		return issued.Add(time.Duration(t.ExpiresIn) * time.Second), nil
	case t.ExpiresOn > 0:
		return time.Unix(int64(t.ExpiresOn), 0), nil
	}
	return time.Time{}, errors.New("token endpoint: answer has neither expires_in nor expires_on")
}

// flexNumber decodes a JSON number or a string holding an integer.
type flexNumber int64

func (n *flexNumber) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %q", s)
	}
	*n = flexNumber(v)
	return nil
}

// tokenErrorBody is the union of the AAD and managed identity error answers.
type tokenErrorBody struct {
	Error            json.RawMessage `json:"error"`
	ErrorDescription string          `json:"error_description"`
	Message          string          `json:"message"`
}

// doTokenRequest sends req and decodes the answer. secret, if not empty, is
// scrubbed from any error text taken from the answer.
func doTokenRequest(hc *http.Client, req *http.Request, secret string) (tokenResponse, error) {
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error names the endpoint; neither the URL nor the transport
		// error carries the secret, which travels in the body or a header.
		return tokenResponse{}, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, tokenMaxBody))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("token request: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return tokenResponse{}, newTokenError(resp.StatusCode, body, secret)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		// Do not wrap: a syntax error may quote bytes of the token.
		return tokenResponse{}, errors.New("token endpoint: answer is not valid token JSON")
	}
	return tr, nil
}

func newTokenError(status int, body []byte, secret string) *TokenError {
	e := &TokenError{Status: status}
	var eb tokenErrorBody
	if json.Unmarshal(body, &eb) == nil {
		// AAD: "error" is a string. Some MSI endpoints nest an object.
		var code string
		if json.Unmarshal(eb.Error, &code) == nil {
			e.Code = code
		} else {
			var nested struct{ Code, Message string }
			if json.Unmarshal(eb.Error, &nested) == nil {
				e.Code, e.Description = nested.Code, nested.Message
			}
		}
		if eb.ErrorDescription != "" {
			e.Description = eb.ErrorDescription
		} else if eb.Message != "" && e.Description == "" {
			e.Description = eb.Message
		}
	}
	e.Code = scrub(e.Code, secret, 100)
	e.Description = scrub(e.Description, secret, 500)
	return e
}

// scrub removes secret from s and shortens s to at most max bytes.
func scrub(s, secret string, max int) string {
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	if len(s) > max {
		for max > 0 && !utf8.RuneStart(s[max]) {
			max--
		}
		s = s[:max] + "…"
	}
	return s
}
