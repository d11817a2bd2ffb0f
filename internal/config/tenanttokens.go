package config

import (
	"fmt"
	"strconv"
	"strings"
)

// TenantTokens is the opt-in to inbound tokens issued by the bot's own
// Entra tenant besides the Bot Framework's (REFERENCE.md §11): read from
// ToBotFromTenantTokens, ToBotFromTenantAppIds and
// ToBotFromTenantOpenIdMetadataUrl.
type TenantTokens struct {
	// Enabled accepts them (default false: they are refused as
	// wrong_issuer).
	Enabled bool
	// AppIDs are the calling apps (azp of v2 tokens, appid of v1) whose
	// tenant tokens are accepted; never empty when Enabled.
	AppIDs []string
	// MetadataURL is the tenant's OpenID metadata document; empty when not
	// Enabled.
	MetadataURL string
}

// loadTenantTokens reads the opt-in. It needs the bot's tenant
// (MicrosoftAppTenantId) and at least one app id: any app of the tenant
// can get a token for the bot, so the callers must be named.
func loadTenantTokens(get func(string) string, local bool, tenant string) (TenantTokens, error) {
	var tt TenantTokens
	if v := get("ToBotFromTenantTokens"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return tt, &Error{"ToBotFromTenantTokens", fmt.Sprintf("%q is not true or false", v)}
		}
		tt.Enabled = b
	}
	apps := splitList(get("ToBotFromTenantAppIds"))
	if !tt.Enabled {
		if len(apps) > 0 {
			return tt, &Error{"ToBotFromTenantAppIds", "is set but ToBotFromTenantTokens is not true: set both, or neither"}
		}
		return tt, nil
	}
	switch {
	case local:
		return tt, &Error{"ToBotFromTenantTokens", "needs MicrosoftAppId (local mode checks no inbound tokens)"}
	case tenant == "":
		return tt, &Error{"ToBotFromTenantTokens", "needs MicrosoftAppTenantId: only the bot's own tenant's tokens can be accepted"}
	case len(apps) == 0:
		return tt, &Error{"ToBotFromTenantAppIds", "is required with ToBotFromTenantTokens=true: the app ids (azp/appid) allowed to call the bot with a tenant token"}
	}
	for _, a := range apps {
		if !guidPattern.MatchString(a) {
			return tt, &Error{"ToBotFromTenantAppIds", fmt.Sprintf("%q is not an app id (GUID)", a)}
		}
		tt.AppIDs = append(tt.AppIDs, strings.ToLower(a))
	}
	def := defaultLoginHost + "/" + strings.ToLower(tenant) + "/v2.0/.well-known/openid-configuration"
	var err error
	if tt.MetadataURL, err = urlVar(get, "ToBotFromTenantOpenIdMetadataUrl", def); err != nil {
		return tt, err
	}
	return tt, nil
}
