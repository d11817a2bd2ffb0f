package graph

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Credential kinds accepted in CredentialConfig.Kind.
const (
	CredentialSecret           = "secret"
	CredentialCertificate      = "certificate"
	CredentialManagedIdentity  = "managed-identity"
	CredentialWorkloadIdentity = "workload-identity"
)

// CredentialConfig says how the app authenticates to Microsoft Entra ID.
// Print or log it freely: String and LogValue redact the secrets.
type CredentialConfig struct {
	// Kind is "secret" (the default when empty), "certificate",
	// "managed-identity" or "workload-identity".
	Kind string

	TenantID string // directory (tenant) ID; required for secret and certificate
	ClientID string // application (client) ID; required for secret and certificate

	ClientSecret string // secret: the client secret's value (not its ID)

	CertificatePath     string // certificate: PEM or PKCS#12 file with the certificate and its private key
	CertificatePassword string // certificate: password of the file, if any

	// ManagedIdentityClientID selects a user-assigned managed identity;
	// empty means the system-assigned one.
	ManagedIdentityClientID string
}

// String describes the configuration with secrets redacted.
func (c CredentialConfig) String() string {
	return fmt.Sprintf("CredentialConfig{Kind:%q TenantID:%q ClientID:%q ClientSecret:%s CertificatePath:%q CertificatePassword:%s ManagedIdentityClientID:%q}",
		c.Kind, c.TenantID, c.ClientID, redacted(c.ClientSecret), c.CertificatePath, redacted(c.CertificatePassword), c.ManagedIdentityClientID)
}

// GoString is String, so that %#v redacts too.
func (c CredentialConfig) GoString() string { return c.String() }

// LogValue logs the configuration with secrets redacted.
func (c CredentialConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", c.Kind),
		slog.String("tenant_id", c.TenantID),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", redacted(c.ClientSecret)),
		slog.String("certificate_path", c.CertificatePath),
		slog.String("certificate_password", redacted(c.CertificatePassword)),
		slog.String("managed_identity_client_id", c.ManagedIdentityClientID),
	)
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}

// NewCredential builds the azidentity credential cfg describes, for
// WithCredential. It validates cfg and reads the certificate file (for
// "certificate") but makes no network call: tokens are fetched on first use
// and cached by azidentity. Errors never contain the secret or the
// certificate password.
//
// For "workload-identity" (AKS), empty TenantID and ClientID fall back to
// AZURE_TENANT_ID and AZURE_CLIENT_ID, and the token file is
// AZURE_FEDERATED_TOKEN_FILE, all set by the workload identity webhook.
func NewCredential(cfg CredentialConfig) (azcore.TokenCredential, error) {
	kind := strings.ToLower(strings.TrimSpace(cfg.Kind))
	if kind == "" {
		kind = CredentialSecret
	}
	tenant, client := strings.TrimSpace(cfg.TenantID), strings.TrimSpace(cfg.ClientID)

	var cred azcore.TokenCredential
	var err error
	switch kind {
	case CredentialSecret:
		if err := requireIDs(kind, tenant, client); err != nil {
			return nil, err
		}
		if cfg.ClientSecret == "" {
			return nil, fmt.Errorf("graph: credential %q: missing client secret", kind)
		}
		cred, err = azidentity.NewClientSecretCredential(tenant, client, cfg.ClientSecret, nil)

	case CredentialCertificate:
		if err := requireIDs(kind, tenant, client); err != nil {
			return nil, err
		}
		if cfg.CertificatePath == "" {
			return nil, fmt.Errorf("graph: credential %q: missing certificate path", kind)
		}
		data, rerr := os.ReadFile(cfg.CertificatePath)
		if rerr != nil {
			return nil, fmt.Errorf("graph: credential %q: read certificate: %w", kind, rerr)
		}
		var pw []byte
		if cfg.CertificatePassword != "" {
			pw = []byte(cfg.CertificatePassword)
		}
		certs, key, perr := azidentity.ParseCertificates(data, pw)
		if perr != nil {
			return nil, fmt.Errorf("graph: credential %q: parse certificate %s (wrong password, or no private key in the file?): %s",
				kind, cfg.CertificatePath, scrub(perr.Error(), cfg.CertificatePassword))
		}
		cred, err = azidentity.NewClientCertificateCredential(tenant, client, certs, key, nil)

	case CredentialManagedIdentity:
		var o azidentity.ManagedIdentityCredentialOptions
		if id := strings.TrimSpace(cfg.ManagedIdentityClientID); id != "" {
			o.ID = azidentity.ClientID(id)
		}
		cred, err = azidentity.NewManagedIdentityCredential(&o)

	case CredentialWorkloadIdentity:
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			TenantID: tenant,
			ClientID: client,
		})

	default:
		return nil, fmt.Errorf("graph: unknown credential kind %q (want %s, %s, %s or %s)",
			cfg.Kind, CredentialSecret, CredentialCertificate, CredentialManagedIdentity, CredentialWorkloadIdentity)
	}
	if err != nil {
		return nil, fmt.Errorf("graph: credential %q: %s", kind, scrub(err.Error(), cfg.ClientSecret, cfg.CertificatePassword))
	}
	return cred, nil
}

func requireIDs(kind, tenant, client string) error {
	var missing []string
	if tenant == "" {
		missing = append(missing, "tenant ID")
	}
	if client == "" {
		missing = append(missing, "client ID")
	}
	if len(missing) > 0 {
		return fmt.Errorf("graph: credential %q: missing %s", kind, strings.Join(missing, " and "))
	}
	return nil
}

// scrub removes secrets from text we did not write, as a belt to azidentity's
// braces.
func scrub(text string, secrets ...string) string {
	for _, s := range secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, "[REDACTED]")
		}
	}
	return text
}
