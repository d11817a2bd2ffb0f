package doctor

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/smartswap/mfabot/internal/config"
)

// Graph application permissions the features need.
const (
	permAuthMethodRead      = "UserAuthenticationMethod.Read.All"
	permAuthMethodReadWrite = "UserAuthenticationMethod.ReadWrite.All"
	permAuthAppRead         = "UserAuthMethod-MicrosoftAuthApp.Read.All"
	permAuthAppReadWrite    = "UserAuthMethod-MicrosoftAuthApp.ReadWrite.All"
	permPasskeyRead         = "UserAuthMethod-Passkey.Read.All"
	permPasskeyReadWrite    = "UserAuthMethod-Passkey.ReadWrite.All"
	permOATHRead            = "UserAuthMethod-SoftwareOATH.Read.All"
	permOATHReadWrite       = "UserAuthMethod-SoftwareOATH.ReadWrite.All"
	permPhoneRead           = "UserAuthMethod-Phone.Read.All"
	permTAPRead             = "UserAuthMethod-TAP.Read.All"
	permTAPReadWrite        = "UserAuthMethod-TAP.ReadWrite.All"
	permRevokeSessions      = "User.RevokeSessions.All"
	permUserRead            = "User.Read.All"
	permUserReadWrite       = "User.ReadWrite.All"
	permDirectoryRead       = "Directory.Read.All"
	permDirectoryReadWrite  = "Directory.ReadWrite.All"
)

// granularPrefix starts the per-method permissions (UserAuthMethod-Passkey.Read.All, …).
const granularPrefix = "UserAuthMethod-"

// covers reports whether the role have grants what the permission want
// does: the same role, or a broader one. ReadWrite implies Read;
// UserAuthenticationMethod.* implies every UserAuthMethod-<kind>.* of the
// same access; Directory.* implies User.*; User.ReadWrite.All and
// Directory.ReadWrite.All imply User.RevokeSessions.All.
func covers(have, want string) bool {
	if strings.EqualFold(have, want) {
		return true
	}
	granular := strings.HasPrefix(want, granularPrefix)
	switch {
	case strings.EqualFold(have, permDirectoryReadWrite):
		return covers(permDirectoryRead, want) || covers(permUserReadWrite, want)
	case strings.EqualFold(have, permDirectoryRead):
		return covers(permUserRead, want)
	case strings.EqualFold(have, permUserReadWrite):
		return covers(permUserRead, want) || strings.EqualFold(want, permRevokeSessions)
	case strings.EqualFold(have, permAuthMethodReadWrite):
		return covers(permAuthMethodRead, want) || granular
	case strings.EqualFold(have, permAuthMethodRead):
		return granular && strings.HasSuffix(want, ".Read.All")
	case strings.HasPrefix(have, granularPrefix) && strings.HasSuffix(have, ".ReadWrite.All"):
		return strings.EqualFold(want, strings.TrimSuffix(have, ".ReadWrite.All")+".Read.All")
	}
	return false
}

// granted reports whether one of roles covers one of anyOf.
func granted(roles []string, anyOf []string) bool {
	for _, want := range anyOf {
		for _, have := range roles {
			if covers(have, want) {
				return true
			}
		}
	}
	return false
}

// requirement is what one feature needs from Graph: any of AnyOf (the
// first is the one a report names when none is granted). Blocking says
// whether its absence stops production (NG) or only degrades the feature
// (WARN: the bot leaves that kind out or reports the failure on the card).
type requirement struct {
	FeatureJA, FeatureEN string
	AnyOf                []string
	Blocking             bool
	Enabled              func(config.Config) bool
}

func always(config.Config) bool { return true }

// requirements lists the features in the README's order ("Microsoft
// Graph: what the bot checks, and the permissions it needs").
var requirements = []requirement{
	{"登録の確認(Authenticator)", "checking Authenticator registrations",
		[]string{permAuthMethodRead, permAuthAppRead}, true, always},
	{"パスキーの確認", "checking passkeys in Authenticator",
		[]string{permPasskeyRead}, false, always},
	{"その他の認証アプリ(OATH)の確認", "checking other authenticator apps (OATH)",
		[]string{permOATHRead}, false, always},
	{"ヘルプデスクの一覧(電話番号)", "the helpdesk ticket's inventory: phone numbers",
		[]string{permPhoneRead}, false, always},
	{"ヘルプデスクの一覧(一時アクセスパス)", "the helpdesk ticket's inventory: Temporary Access Pass",
		[]string{permTAPRead}, false, always},
	{"「ボットで削除」(GRAPH_ALLOW_DELETE=true): Authenticator", "「ボットで削除」 (GRAPH_ALLOW_DELETE=true): Authenticator",
		[]string{permAuthMethodReadWrite, permAuthAppReadWrite}, true, func(c config.Config) bool { return c.GraphAllowDelete }},
	{"「ボットで削除」(GRAPH_ALLOW_DELETE=true): パスキー", "「ボットで削除」 (GRAPH_ALLOW_DELETE=true): passkeys",
		[]string{permPasskeyReadWrite}, false, func(c config.Config) bool { return c.GraphAllowDelete }},
	{"「ボットで削除」(GRAPH_ALLOW_DELETE=true): OATH", "「ボットで削除」 (GRAPH_ALLOW_DELETE=true): OATH",
		[]string{permOATHReadWrite}, false, func(c config.Config) bool { return c.GraphAllowDelete }},
	{"一時アクセスパスを発行(TAP_ENABLED=true)", "一時アクセスパスを発行 (TAP_ENABLED=true)",
		[]string{permAuthMethodReadWrite}, true, func(c config.Config) bool { return c.Helpdesk.TAPEnabled }},
	{"発行した一時アクセスパスの削除(TAP_ENABLED=true)", "deleting the issued Temporary Access Pass (TAP_ENABLED=true)",
		[]string{permTAPReadWrite}, false, func(c config.Config) bool { return c.Helpdesk.TAPEnabled }},
	{"すべてのセッションをサインアウト", "すべてのセッションをサインアウト (sign-out)",
		[]string{permRevokeSessions}, false, always},
	{"ヘルプデスクのチケット: 氏名と UPN", "helpdesk tickets: the user's name and UPN",
		[]string{permUserRead}, false, always},
}

// permissionResults compares roles with the requirements of the features
// cfg enables: one line per feature.
func permissionResults(cfg config.Config, roles []string) []Result {
	var out []Result
	for _, r := range requirements {
		if !r.Enabled(cfg) {
			continue
		}
		if granted(roles, r.AnyOf) {
			out = append(out, Result{Name: "graph-permission", Status: OK,
				JA: fmt.Sprintf("Graph の権限: %s", r.FeatureJA),
				EN: fmt.Sprintf("Graph permission: %s", r.FeatureEN)})
			continue
		}
		status, effectJA, effectEN := Warn, "使うと失敗します(カードにそう出ます)", "it fails when used, and the card says so"
		if strings.HasPrefix(r.AnyOf[0], granularPrefix) && strings.HasSuffix(r.AnyOf[0], ".Read.All") {
			effectJA, effectEN = "この種類は確認から外れます", "the bot leaves that kind out"
		}
		if r.Blocking {
			status, effectJA, effectEN = NG, "この機能は使えません", "this feature does not work"
		}
		names := r.AnyOf[0]
		if len(r.AnyOf) > 1 {
			names += " (or " + strings.Join(r.AnyOf[1:], ", ") + ")"
		}
		out = append(out, Result{Name: "graph-permission", Status: status,
			JA: fmt.Sprintf("Graph の権限: %s に %s がありません(%s)", r.FeatureJA, names, effectJA),
			EN: fmt.Sprintf("Graph permission: %s needs %s, which the token lacks (%s)", r.FeatureEN, names, effectEN)})
	}
	return out
}

// tokenRoles reads the roles claim of an access token from Entra without
// verifying its signature: the token is the doctor's own, just received
// over TLS from the authority, and only its roles are read. Nothing of the
// token reaches an error.
func tokenRoles(token string) ([]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("the access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, errors.New("the access token's payload is not base64url")
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, errors.New("the access token's payload is not a JSON object with a roles array")
	}
	return claims.Roles, nil
}
