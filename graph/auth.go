package graph

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"

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
type tokenProvider struct {
	cred   azcore.TokenCredential
	scopes []string
	hosts  *absauth.AllowedHostsValidator
}

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
	tok, err := p.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: p.scopes, EnableCAE: true, Claims: claims})
	if err != nil {
		return "", &tokenError{err}
	}
	return tok.Token, nil
}

// GetAllowedHostsValidator returns the one host tokens are sent to.
func (p *tokenProvider) GetAllowedHostsValidator() *absauth.AllowedHostsValidator { return p.hosts }

// tokenError marks the credential's failures so classify can tell them
// from transport errors: kiota passes them on as they are.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "get access token: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }
