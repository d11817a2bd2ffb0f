package graph_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartswap/mfabot/graph"
)

const (
	tenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	clientID = "0f2b6a4e-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
	secret   = "s3cr3t~VALUE.never-shown"
	certPass = "p4ss~never-shown"
)

func TestNewCredentialValidation(t *testing.T) {
	t.Parallel()
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cfg     graph.CredentialConfig
		wantErr string // substring of the error; "" means success
	}{
		{"secret, default kind", graph.CredentialConfig{TenantID: tenant, ClientID: clientID, ClientSecret: secret}, ""},
		{"secret, explicit kind", graph.CredentialConfig{Kind: " Secret ", TenantID: tenant, ClientID: clientID, ClientSecret: secret}, ""},
		{"missing tenant", graph.CredentialConfig{ClientID: clientID, ClientSecret: secret}, "missing tenant ID"},
		{"missing tenant and client", graph.CredentialConfig{Kind: "secret", ClientSecret: secret}, "missing tenant ID and client ID"},
		{"missing secret", graph.CredentialConfig{TenantID: tenant, ClientID: clientID}, "missing client secret"},
		{"invalid tenant", graph.CredentialConfig{TenantID: "not a tenant!", ClientID: clientID, ClientSecret: secret}, "tenant"},
		{"unknown kind", graph.CredentialConfig{Kind: "password", TenantID: tenant, ClientID: clientID, ClientSecret: secret}, `unknown credential kind "password"`},
		{"certificate without path", graph.CredentialConfig{Kind: "certificate", TenantID: tenant, ClientID: clientID}, "missing certificate path"},
		{"certificate file missing", graph.CredentialConfig{Kind: "certificate", TenantID: tenant, ClientID: clientID,
			CertificatePath: filepath.Join(t.TempDir(), "nope.pem"), CertificatePassword: certPass}, "read certificate"},
		{"certificate file garbage", graph.CredentialConfig{Kind: "certificate", TenantID: tenant, ClientID: clientID,
			CertificatePath: garbage, CertificatePassword: certPass}, "parse certificate"},
		{"certificate missing tenant", graph.CredentialConfig{Kind: "certificate", ClientID: clientID, CertificatePath: garbage}, "missing tenant ID"},
		{"managed identity, system-assigned", graph.CredentialConfig{Kind: "managed-identity"}, ""},
		{"managed identity, user-assigned", graph.CredentialConfig{Kind: "managed-identity", ManagedIdentityClientID: clientID}, ""},
	} {
		cred, err := graph.NewCredential(tc.cfg)
		switch {
		case tc.wantErr == "" && (err != nil || cred == nil):
			t.Errorf("%s: NewCredential: %v", tc.name, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%s: NewCredential accepted it", tc.name)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%s: error %q, want it to mention %q", tc.name, err, tc.wantErr)
		}
		if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), certPass)) {
			t.Errorf("%s: error text contains a secret: %q", tc.name, err)
		}
	}
}

func TestNewCredentialCertificate(t *testing.T) {
	t.Parallel()
	path := writeSelfSignedPEM(t)
	cred, err := graph.NewCredential(graph.CredentialConfig{Kind: "certificate", TenantID: tenant, ClientID: clientID, CertificatePath: path})
	if err != nil || cred == nil {
		t.Fatalf("NewCredential: %v", err)
	}
}

func TestNewCredentialWorkloadIdentity(t *testing.T) {
	// Not parallel: t.Setenv. The token file is read only when a token is
	// requested, so it need not exist.
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", filepath.Join(t.TempDir(), "token"))
	cred, err := graph.NewCredential(graph.CredentialConfig{Kind: "workload-identity", TenantID: tenant, ClientID: clientID})
	if err != nil || cred == nil {
		t.Fatalf("NewCredential: %v", err)
	}
}

func TestCredentialConfigRedacts(t *testing.T) {
	t.Parallel()
	cfg := graph.CredentialConfig{TenantID: tenant, ClientID: clientID, ClientSecret: secret, CertificatePassword: certPass}
	var out bytes.Buffer
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		fmt.Fprintf(&out, f+"\n", cfg)
	}
	slog.New(slog.NewJSONHandler(&out, nil)).Info("cfg", "cfg", cfg)
	if strings.Contains(out.String(), secret) || strings.Contains(out.String(), certPass) {
		t.Errorf("secret printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), tenant) || !strings.Contains(out.String(), "REDACTED") {
		t.Errorf("want the tenant shown and secrets redacted:\n%s", out.String())
	}
}

// writeSelfSignedPEM writes a throwaway certificate and its unencrypted key.
func writeSelfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048) // Entra wants RSA

	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mfabot test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	path := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
