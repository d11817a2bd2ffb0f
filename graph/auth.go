package graph

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"

	"github.com/smartswap/mfabot/internal/loopback"
)

// authProvider authenticates kiota's requests: none without a credential,
// else a bearer token from cred for the base URL's host only.
func authProvider(cred azcore.TokenCredential, base *url.URL) (absauth.AuthenticationProvider, error) {
	if cred == nil {
		return &absauth.AnonymousAuthenticationProvider{}, nil
	}
	scope := "https://graph.microsoft.com/.default"
	if !loopback.Host(base.Hostname()) {
		scope = "https://" + base.Hostname() + "/.default"
	}
	hosts, err := absauth.NewAllowedHostsValidatorErrorCheck([]string{base.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	return absauth.NewBaseBearerTokenAuthenticationProvider(&tokenProvider{cred: cred, scopes: []string{scope}, hosts: hosts}), nil
}

// tokenProvider is kiota's AccessTokenProvider over an azcore credential.
//
// It replaces github.com/microsoft/kiota-authentication-azure-go's, which
// has a loopback test of its own: a prefix match on "localhost", "[::1]",
// "::1" and "127.0.0.1". With a credential, that one refuses plain http to
// any other loopback host ("url scheme must be https") at the first call,
// so http://127.0.0.2:PORT passed NewClient and failed every request. Here
// internal/loopback decides, as everywhere else in the bot. The rest is
// what kiota's provider does: no token for a host other than the base
// URL's, continuous access evaluation enabled, and the claims of a CAE
// challenge passed on to the credential.
//
// Fetching a token is single-flight: while one fetch is under way (for
// up to tokenFlightStale), every call waits for it (each for as long as
// its own context allows) instead of asking Entra again, and the fetch
// runs on a budget of its own, so a turn whose budget ends does not abort
// it for the others. A failed fetch
// is remembered for tokenFailHold: an unreachable Entra then costs a call
// nothing instead of the caller's whole budget, and is asked again once
// that has passed. A token the credential has cached comes back at once.
type tokenProvider struct {
	cred   azcore.TokenCredential
	scopes []string
	hosts  *absauth.AllowedHostsValidator

	mu       sync.Mutex
	flight   *tokenFetch // the fetch under way, if any
	failed   error       // the last fetch's failure, until failedAt+tokenFailHold
	failedAt time.Time
}

// tokenFetch is one fetch of a token; tok and err are set when done
// closes.
type tokenFetch struct {
	done    chan struct{}
	started time.Time
	tok     string
	err     error
}

// tokenFlightStale is how long a fetch under way is waited for by new
// calls: one that takes longer (an endpoint that stopped answering, and
// may have recovered since) is left to its waiters, and the next call
// starts another. Entra is then asked at most once a second.
const tokenFlightStale = time.Second

// tokenFailHold is how long a failed token fetch is answered from memory.
var tokenFailHold = 5 * time.Second

// tokenFetchTimeout bounds one fetch, whoever waits for it.
const tokenFetchTimeout = 30 * time.Second

var _ absauth.AccessTokenProvider = (*tokenProvider)(nil)

// claimsKey is where kiota puts the base64 claims of a CAE challenge.
const claimsKey = "claims"

// GetAuthorizationToken returns a token for u, or "" (no Authorization
// header) when u's host is not the base URL's.
func (p *tokenProvider) GetAuthorizationToken(ctx context.Context, u *url.URL, extra map[string]any) (string, error) {
	if !p.hosts.IsUrlHostValid(u) {
		return "", nil
	}
	if !strings.EqualFold(u.Scheme, "https") && !loopback.Host(u.Hostname()) {
		return "", errors.New("graph: a token is sent over https only (plain http only to loopback)")
	}
	var claims string
	if raw, ok := extra[claimsKey].(string); ok {
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return "", fmt.Errorf("graph: claims of a CAE challenge: %w", err)
		}
		claims = string(b)
	}
	if claims != "" {
		// A CAE challenge's claims are this request's: not shared.
		tok, err := p.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: p.scopes, EnableCAE: true, Claims: claims})
		if err != nil {
			return "", &tokenError{err}
		}
		return tok.Token, nil
	}
	return p.token(ctx)
}

// token waits for the fetch under way, or starts one, or answers a recent
// failure from memory.
func (p *tokenProvider) token(ctx context.Context) (string, error) {
	p.mu.Lock()
	if p.failed != nil && time.Since(p.failedAt) < tokenFailHold {
		err := p.failed
		p.mu.Unlock()
		return "", &tokenError{err}
	}
	f := p.flight
	if f == nil || time.Since(f.started) > tokenFlightStale {
		f = &tokenFetch{done: make(chan struct{}), started: time.Now()}
		p.flight = f
		go p.fetch(f)
	}
	p.mu.Unlock()
	select {
	case <-f.done:
		if f.err != nil {
			return "", &tokenError{f.err}
		}
		return f.tok, nil
	case <-ctx.Done():
		return "", &tokenError{ctx.Err()}
	}
}

// fetch asks the credential for a token on its own budget and tells
// everyone waiting.
func (p *tokenProvider) fetch(f *tokenFetch) {
	ctx, cancel := context.WithTimeout(context.Background(), tokenFetchTimeout)
	defer cancel()
	tok, err := p.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: p.scopes, EnableCAE: true})
	f.tok, f.err = tok.Token, err
	p.mu.Lock()
	switch {
	case err == nil:
		p.failed = nil
	case p.flight == f:
		// Only the latest fetch's failure counts: an older one that hung
		// says nothing of the endpoint now.
		p.failed, p.failedAt = err, time.Now()
	}
	if p.flight == f {
		p.flight = nil
	}
	p.mu.Unlock()
	close(f.done)
}

// GetAllowedHostsValidator returns the one host tokens are sent to.
func (p *tokenProvider) GetAllowedHostsValidator() *absauth.AllowedHostsValidator { return p.hosts }

// tokenError marks the credential's failures so classify can tell them
// from transport errors: kiota passes them on as they are.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "get access token: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }
