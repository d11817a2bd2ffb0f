package config

import (
	"errors"
	"slices"
	"testing"
)

func TestLoadTenantTokens(t *testing.T) {
	const app1, app2 = "c0ffee00-1111-4222-8333-444455556666", "DEADBEEF-1111-4222-8333-444455556666"
	base := map[string]string{"MicrosoftAppId": testAppID, "MicrosoftAppPassword": "s3cret", "MicrosoftAppTenantId": testTenantID}

	c, err := Load(env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.TenantTokens.Enabled || c.TenantTokens.AppIDs != nil || c.TenantTokens.MetadataURL != "" {
		t.Errorf("default: %+v, want off", c.TenantTokens)
	}

	c, err = Load(env(withEnv(base, "ToBotFromTenantTokens", "true", "ToBotFromTenantAppIds", " "+app1+" , "+app2+",")))
	if err != nil {
		t.Fatal(err)
	}
	want := TenantTokens{
		Enabled:     true,
		AppIDs:      []string{app1, "deadbeef-1111-4222-8333-444455556666"},
		MetadataURL: "https://login.microsoftonline.com/" + testTenantID + "/v2.0/.well-known/openid-configuration",
	}
	if !c.TenantTokens.Enabled || !slices.Equal(c.TenantTokens.AppIDs, want.AppIDs) || c.TenantTokens.MetadataURL != want.MetadataURL {
		t.Errorf("opt-in: %+v, want %+v", c.TenantTokens, want)
	}

	c, err = Load(env(withEnv(base, "ToBotFromTenantTokens", "1", "ToBotFromTenantAppIds", app1,
		"ToBotFromTenantOpenIdMetadataUrl", "http://127.0.0.1:8080/tenant/v2.0/.well-known/openid-configuration")))
	if err != nil {
		t.Fatal(err)
	}
	if c.TenantTokens.MetadataURL != "http://127.0.0.1:8080/tenant/v2.0/.well-known/openid-configuration" {
		t.Errorf("metadata url %q", c.TenantTokens.MetadataURL)
	}
	if c, err = Load(env(withEnv(base, "ToBotFromTenantTokens", "false"))); err != nil || c.TenantTokens.Enabled {
		t.Errorf("explicit false: %+v, %v", c.TenantTokens, err)
	}
}

func TestLoadTenantTokensErrors(t *testing.T) {
	const app = "c0ffee00-1111-4222-8333-444455556666"
	base := map[string]string{"MicrosoftAppId": testAppID, "MicrosoftAppPassword": "s3cret", "MicrosoftAppTenantId": testTenantID}
	with := func(kv ...string) map[string]string { return withEnv(base, kv...) }
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"not a bool", with("ToBotFromTenantTokens", "yes please"), "ToBotFromTenantTokens"},
		{"on without app ids", with("ToBotFromTenantTokens", "true"), "ToBotFromTenantAppIds"},
		{"on with only commas", with("ToBotFromTenantTokens", "true", "ToBotFromTenantAppIds", " , ,"), "ToBotFromTenantAppIds"},
		{"app id not a guid", with("ToBotFromTenantTokens", "true", "ToBotFromTenantAppIds", app+",teams"), "ToBotFromTenantAppIds"},
		{"app ids without the opt-in", with("ToBotFromTenantAppIds", app), "ToBotFromTenantAppIds"},
		{"multi tenant without a tenant", with("MicrosoftAppType", "MultiTenant", "MicrosoftAppTenantId", "",
			"ToBotFromTenantTokens", "true", "ToBotFromTenantAppIds", app), "ToBotFromTenantTokens"},
		{"local mode", map[string]string{"ToBotFromTenantTokens": "true", "ToBotFromTenantAppIds": app}, "ToBotFromTenantTokens"},
		{"metadata over http", with("ToBotFromTenantTokens", "true", "ToBotFromTenantAppIds", app,
			"ToBotFromTenantOpenIdMetadataUrl", "http://login.example.com/x"), "ToBotFromTenantOpenIdMetadataUrl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != tt.wantVar {
				t.Fatalf("err = %v, want a *Error naming %s", err, tt.wantVar)
			}
		})
	}
}
