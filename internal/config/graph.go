package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/smartswap/mfabot/internal/loopback"
)

// Graph modes, the values of Config.GraphMode.
const (
	GraphModeCredential = "graph"
	GraphModeAnonymous  = "graph-anonymous"
	GraphModeSandbox    = "sandbox"
)

const defaultGraphBaseURL = "https://graph.microsoft.com/v1.0"

// GraphCredential is how the bot authenticates to Microsoft Graph. The
// secrets are of type Secret, so printing it redacts them.
type GraphCredential struct {
	Kind                    string // secret, certificate, managed-identity, workload-identity
	TenantID, ClientID      string
	ClientSecret            Secret
	CertificatePath         string
	CertificatePassword     Secret
	ManagedIdentityClientID string
}

var graphCredentialKinds = []string{"secret", "certificate", "managed-identity", "workload-identity"}

// SandboxPushOnlyDefault is the sandbox user who starts with Microsoft
// Authenticator push only (no passkey) unless SANDBOX_PUSH_ONLY says
// otherwise: Megan Bowen of e2e/.m365agentsplayground.yml, so that the
// short path stays rehearsable in the Agents Playground.
const SandboxPushOnlyDefault = "c71ed387-6d49-495b-991e-7d8f7e46a100"

// loadSandbox reads how the sandbox's users start: SANDBOX_PASSKEY (default
// true: the old phone holds push and a passkey in Authenticator, the whole
// phone) and SANDBOX_PUSH_ONLY (user ids or UPNs, comma-separated, that
// start with push only; "none" for nobody).
func (c *Config) loadSandbox(get func(string) string) error {
	c.SandboxPasskey = true
	if v := get("SANDBOX_PASSKEY"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return &Error{"SANDBOX_PASSKEY", fmt.Sprintf("%q is not true or false", v)}
		}
		c.SandboxPasskey = b
	}
	c.SandboxPushOnly = []string{SandboxPushOnlyDefault}
	switch v := strings.TrimSpace(get("SANDBOX_PUSH_ONLY")); v {
	case "":
	case "none":
		c.SandboxPushOnly = nil
	default:
		c.SandboxPushOnly = nil
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				c.SandboxPushOnly = append(c.SandboxPushOnly, id)
			}
		}
	}
	return nil
}

// loadGraph reads the Graph settings. By default the bot uses its own app
// registration (MicrosoftAppId, MicrosoftAppPassword, MicrosoftAppTenantId;
// the managed identity for UserAssignedMSI); in local mode, with nothing
// configured, it uses the sandbox.
func (c *Config) loadGraph(get func(string) string, getenv func(string) string) error {
	c.GraphBaseURL = get("GRAPH_BASE_URL")
	baseSet := c.GraphBaseURL != ""
	if !baseSet {
		c.GraphBaseURL = defaultGraphBaseURL
	}
	u, err := url.Parse(c.GraphBaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return &Error{"GRAPH_BASE_URL", fmt.Sprintf("%q is not an absolute http(s) URL", c.GraphBaseURL)}
	}
	loopback := loopback.Host(u.Hostname())
	if u.Scheme == "http" && !loopback {
		return &Error{"GRAPH_BASE_URL", "must use https (plain http is accepted only for loopback hosts)"}
	}

	if v := get("GRAPH_ALLOW_DELETE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return &Error{"GRAPH_ALLOW_DELETE", fmt.Sprintf("%q is not true or false", v)}
		}
		c.GraphAllowDelete = b
	}

	kind := strings.ToLower(get("GRAPH_CREDENTIAL"))
	cred := GraphCredential{
		Kind:                    kind,
		TenantID:                firstNonEmpty(get("GRAPH_TENANT_ID"), c.AppTenantID),
		ClientID:                firstNonEmpty(get("GRAPH_CLIENT_ID"), c.AppID),
		ClientSecret:            Secret(firstNonEmpty(getenv("GRAPH_CLIENT_SECRET"), string(c.AppPassword))),
		CertificatePath:         get("GRAPH_CERTIFICATE_PATH"),
		CertificatePassword:     Secret(getenv("GRAPH_CERTIFICATE_PASSWORD")),
		ManagedIdentityClientID: get("GRAPH_MANAGED_IDENTITY_CLIENT_ID"),
	}
	if kind == "" {
		switch {
		case c.AppType == AppTypeUserMSI && !c.LocalMode:
			cred.Kind = "managed-identity"
			if cred.ManagedIdentityClientID == "" {
				cred.ManagedIdentityClientID = c.AppID
			}
		case cred.CertificatePath != "":
			cred.Kind = "certificate"
		case cred.ClientSecret != "" && cred.ClientID != "":
			cred.Kind = "secret"
		}
	}
	if cred.Kind == "" || cred.Kind == "none" {
		switch {
		case baseSet && loopback:
			c.GraphMode = GraphModeAnonymous
		case baseSet:
			return &Error{"GRAPH_BASE_URL", "is not a loopback URL and no Graph credentials are configured (set GRAPH_CREDENTIAL or the bot's MicrosoftAppPassword)"}
		case c.LocalMode:
			c.GraphMode = GraphModeSandbox
			return c.loadSandbox(get)
		default:
			return &Error{"GRAPH_CREDENTIAL", "no Graph credentials: set GRAPH_CREDENTIAL (secret, certificate, managed-identity, workload-identity)"}
		}
		return nil
	}
	known := false
	for _, k := range graphCredentialKinds {
		known = known || k == cred.Kind
	}
	if !known {
		return &Error{"GRAPH_CREDENTIAL", fmt.Sprintf("%q is not one of %s", cred.Kind, strings.Join(graphCredentialKinds, ", "))}
	}
	switch cred.Kind {
	case "secret", "certificate":
		if cred.TenantID == "" {
			return &Error{"GRAPH_TENANT_ID", "is required for GRAPH_CREDENTIAL=" + cred.Kind + " (defaults to MicrosoftAppTenantId)"}
		}
		if cred.ClientID == "" {
			return &Error{"GRAPH_CLIENT_ID", "is required for GRAPH_CREDENTIAL=" + cred.Kind + " (defaults to MicrosoftAppId)"}
		}
		if cred.Kind == "secret" && cred.ClientSecret == "" {
			return &Error{"GRAPH_CLIENT_SECRET", "is required for GRAPH_CREDENTIAL=secret (defaults to MicrosoftAppPassword)"}
		}
		if cred.Kind == "certificate" && cred.CertificatePath == "" {
			return &Error{"GRAPH_CERTIFICATE_PATH", "is required for GRAPH_CREDENTIAL=certificate"}
		}
	}
	c.GraphMode = GraphModeCredential
	c.GraphCredential = cred
	return nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
