package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/smartswap/mfabot/internal/loopback"
)

// App types, as the Bot Framework names them in MicrosoftAppType.
const (
	AppTypeSingleTenant = "SingleTenant"
	AppTypeMultiTenant  = "MultiTenant"
	AppTypeUserMSI      = "UserAssignedMSI"
)

// Defaults of the Bot Framework's public cloud.
const (
	defaultOpenIDMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	defaultTokenIssuer       = "https://api.botframework.com"
	defaultLoginHost         = "https://login.microsoftonline.com"
	defaultOAuthScope        = "https://api.botframework.com/.default"
	defaultPort              = 3978
)

// Secret is a configuration value that must never reach a log or an error:
// its slog and fmt forms are redacted. Convert it with string(s) where the
// value itself is needed.
type Secret string

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value {
	if s == "" {
		return slog.StringValue("")
	}
	return slog.StringValue("[redacted]")
}

// String redacts the secret in fmt output.
func (s Secret) String() string { return s.LogValue().String() }

// Config is the whole configuration, read once from the environment by
// Load. Its secrets are of type Secret, so printing or logging a Config
// redacts them.
type Config struct {
	Port      int
	LocalMode bool // no MicrosoftAppId: loopback only, no inbound auth, no outbound token

	AppID       string
	AppPassword Secret
	AppTenantID string
	AppType     string

	OpenIDMetadataURL string
	TokenIssuer       string
	LoginURL          string // authority; the token endpoint is LoginURL + /oauth2/v2.0/token
	OAuthScope        string
	MSIEndpoint       string // IDENTITY_ENDPOINT (App Service); empty → IMDS
	MSIHeader         Secret // IDENTITY_HEADER

	// TenantTokens is the opt-in to inbound tokens of the bot's own tenant.
	TenantTokens TenantTokens

	RedisURL               Secret // may carry a password
	AllowedTenants         []string
	AllowedServiceURLHosts []string

	StepsFile string // replaces the embedded step content

	// Graph: GraphMode is GraphModeCredential (GraphCredential;
	// GraphBaseURL), GraphModeAnonymous (a loopback GRAPH_BASE_URL without
	// credentials, for tests and stand-ins) or GraphModeSandbox (the
	// in-process stand-in, local mode).
	GraphMode        string
	GraphBaseURL     string
	GraphCredential  GraphCredential
	GraphAllowDelete bool
	// SandboxPasskey and SandboxPushOnly: how the sandbox's users start
	// (sandbox mode only; see loadSandbox).
	SandboxPasskey  bool
	SandboxPushOnly []string

	Reminders Reminders
	Helpdesk  Helpdesk
	Sweep     Sweep

	// MetricsAddr, when set, serves GET /metrics on its own listener
	// (host:port) instead of the bot's.
	MetricsAddr string
	// MetricsOnBotPort serves GET /metrics on the bot's own listener:
	// METRICS_PUBLIC, which defaults to true in local mode (loopback only)
	// and to false in Azure mode, where that listener is public. It is
	// false when MetricsAddr is set.
	MetricsOnBotPort bool
	// PprofAddr, when set, serves net/http/pprof on a loopback listener.
	PprofAddr string
	// BindHost is the interface the bot listens on (default: all in Azure
	// mode, 127.0.0.1 in local mode).
	BindHost string

	LogLevel slog.Level
	// SubmitActions: every button of every card is Action.Submit
	// (CARD_ACTIONS=submit, the default) instead of Action.Execute
	// (CARD_ACTIONS=execute).
	SubmitActions bool
	// Language is the language every answer is in ("ja", "en"); "" (auto)
	// follows each activity's locale (BOT_LANGUAGE).
	Language string
}

// Error is an invalid or contradictory setting: Var names the variable at
// fault, Problem says what is wrong without quoting a secret.
type Error struct {
	Var, Problem string
}

// Error is "configuration: VAR: problem".
func (e *Error) Error() string { return fmt.Sprintf("configuration: %s: %s", e.Var, e.Problem) }

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// hostnamePattern accepts DNS names and IP literals as used in URLs.
var hostnamePattern = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$`)

// Load parses and validates the environment. The first problem found
// stops start-up with a message naming the variable.
func Load(getenv func(string) string) (Config, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	c := Config{Port: defaultPort}

	if v := get("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return c, &Error{"PORT", fmt.Sprintf("%q is not a port number (0-65535)", v)}
		}
		c.Port = p
	}

	c.AppID = get("MicrosoftAppId")
	c.AppPassword = Secret(getenv("MicrosoftAppPassword"))
	c.AppTenantID = get("MicrosoftAppTenantId")
	c.LocalMode = c.AppID == ""

	switch t := get("MicrosoftAppType"); strings.ToLower(t) {
	case "", strings.ToLower(AppTypeSingleTenant):
		c.AppType = AppTypeSingleTenant
	case strings.ToLower(AppTypeMultiTenant):
		c.AppType = AppTypeMultiTenant
	case strings.ToLower(AppTypeUserMSI):
		c.AppType = AppTypeUserMSI
	default:
		return c, &Error{"MicrosoftAppType", fmt.Sprintf("%q is not one of SingleTenant, MultiTenant, UserAssignedMSI", t)}
	}

	if c.LocalMode {
		if c.AppPassword != "" {
			return c, &Error{"MicrosoftAppPassword", "is set but MicrosoftAppId is not; set both, or neither for local mode"}
		}
	} else {
		if !guidPattern.MatchString(c.AppID) {
			return c, &Error{"MicrosoftAppId", "is not a GUID (the Azure Bot's Microsoft App ID)"}
		}
		if c.AppTenantID != "" && !guidPattern.MatchString(c.AppTenantID) {
			return c, &Error{"MicrosoftAppTenantId", "is not a GUID (the Entra tenant id)"}
		}
		switch c.AppType {
		case AppTypeSingleTenant:
			if c.AppTenantID == "" {
				return c, &Error{"MicrosoftAppTenantId", "is required for MicrosoftAppType=SingleTenant"}
			}
			if c.AppPassword == "" {
				return c, &Error{"MicrosoftAppPassword", "is required for MicrosoftAppType=SingleTenant"}
			}
		case AppTypeMultiTenant:
			if c.AppPassword == "" {
				return c, &Error{"MicrosoftAppPassword", "is required for MicrosoftAppType=MultiTenant"}
			}
		case AppTypeUserMSI:
			if c.AppTenantID == "" {
				return c, &Error{"MicrosoftAppTenantId", "is required for MicrosoftAppType=UserAssignedMSI"}
			}
			if c.AppPassword != "" {
				return c, &Error{"MicrosoftAppPassword", "must be empty for MicrosoftAppType=UserAssignedMSI (the managed identity has no secret)"}
			}
		}
	}

	var err error
	if c.OpenIDMetadataURL, err = urlVar(get, "ToBotFromChannelOpenIdMetadataUrl", defaultOpenIDMetadataURL); err != nil {
		return c, err
	}
	c.TokenIssuer = get("ToBotFromChannelTokenIssuer")
	if c.TokenIssuer == "" {
		c.TokenIssuer = defaultTokenIssuer
	}
	if c.TenantTokens, err = loadTenantTokens(get, c.LocalMode, c.AppTenantID); err != nil {
		return c, err
	}
	authority := defaultLoginHost + "/" + c.AppTenantID
	if c.AppType == AppTypeMultiTenant {
		authority = defaultLoginHost + "/botframework.com"
	}
	if c.LoginURL, err = urlVar(get, "ToChannelFromBotLoginUrl", authority); err != nil {
		return c, err
	}
	c.LoginURL = strings.TrimRight(c.LoginURL, "/")
	c.OAuthScope = get("ToChannelFromBotOAuthScope")
	if c.OAuthScope == "" {
		c.OAuthScope = defaultOAuthScope
	}
	c.MSIEndpoint = get("IDENTITY_ENDPOINT")
	c.MSIHeader = Secret(get("IDENTITY_HEADER"))

	if v := getenv("REDIS_URL"); strings.TrimSpace(v) != "" {
		u, perr := url.Parse(strings.TrimSpace(v))
		ok := perr == nil
		if ok {
			switch u.Scheme {
			case "redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel":
			default:
				ok = false
			}
		}
		if !ok {
			return c, &Error{"REDIS_URL", "must be a redis://, rediss://, redis+cluster://, redis+sentinel:// or unix:// URL"}
		}
		c.RedisURL = Secret(strings.TrimSpace(v))
	}

	c.AllowedTenants = splitList(get("ALLOWED_TENANTS"))
	for _, t := range c.AllowedTenants {
		if !guidPattern.MatchString(t) {
			return c, &Error{"ALLOWED_TENANTS", fmt.Sprintf("%q is not a tenant GUID", t)}
		}
	}
	if len(c.AllowedTenants) == 0 && c.AppTenantID != "" {
		c.AllowedTenants = []string{c.AppTenantID}
	}
	c.AllowedServiceURLHosts = splitList(get("ALLOWED_SERVICE_URL_HOSTS"))
	for _, h := range c.AllowedServiceURLHosts {
		if !hostnamePattern.MatchString(h) {
			return c, &Error{"ALLOWED_SERVICE_URL_HOSTS", fmt.Sprintf("%q is not a host name (give names only, no scheme or path)", h)}
		}
	}

	c.StepsFile = get("STEPS_FILE")
	if c.MetricsAddr, err = metricsAddr(get("METRICS_ADDR"), c.Port, c.LocalMode); err != nil {
		return c, err
	}
	if c.MetricsOnBotPort, err = metricsPublic(get("METRICS_PUBLIC"), c.MetricsAddr, c.LocalMode); err != nil {
		return c, err
	}
	if v := get("PPROF_ADDR"); v != "" {
		host, port, err := net.SplitHostPort(v)
		if _, perr := strconv.Atoi(port); err != nil || perr != nil || !loopback.Host(host) {
			return c, &Error{"PPROF_ADDR", fmt.Sprintf("%q must be a loopback host:port (e.g. 127.0.0.1:6060): profiles are never served to the network", v)}
		}
		c.PprofAddr = v
	}
	if v := get("BIND_HOST"); v != "" {
		if net.ParseIP(v) == nil && !strings.EqualFold(v, "localhost") {
			return c, &Error{"BIND_HOST", fmt.Sprintf("%q is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)", v)}
		}
		if c.LocalMode && !loopback.Host(v) {
			return c, &Error{"BIND_HOST", "local mode (no MicrosoftAppId) accepts unauthenticated activities and binds loopback only"}
		}
		c.BindHost = v
	}
	if err := c.loadGraph(get, getenv); err != nil {
		return c, err
	}
	var err2 error
	if c.Sweep, err2 = loadSweep(get, c.AppTenantID); err2 != nil {
		return c, err2
	}
	if c.Reminders, err2 = loadReminders(get); err2 != nil {
		return c, err2
	}
	if c.Helpdesk, err2 = loadHelpdesk(get, getenv, c.LocalMode); err2 != nil {
		return c, err2
	}

	switch v := strings.ToLower(get("CARD_ACTIONS")); v {
	case "execute":
		c.SubmitActions = false
	case "", "submit":
		// The default: Action.Submit works on every Teams client;
		// Action.Execute is reported not to work in Teams on phones
		// (README, "Card actions").
		c.SubmitActions = true
	default:
		return c, &Error{"CARD_ACTIONS", fmt.Sprintf("%q is not execute or submit", v)}
	}

	switch v := strings.ToLower(get("BOT_LANGUAGE")); v {
	case "", "auto":
		c.Language = ""
	case "ja", "en":
		c.Language = v
	default:
		return c, &Error{"BOT_LANGUAGE", fmt.Sprintf("%q is not one of auto, ja, en", v)}
	}

	switch v := strings.ToLower(get("LOG_LEVEL")); v {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return c, &Error{"LOG_LEVEL", fmt.Sprintf("%q is not one of debug, info, warn, error", v)}
	}
	return c, nil
}

// urlVar reads an absolute URL variable; https is required except on loopback.
func urlVar(get func(string) string, name, def string) (string, error) {
	v := get(name)
	if v == "" {
		return def, nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", &Error{name, fmt.Sprintf("%q is not an absolute http(s) URL", v)}
	}
	if u.Scheme == "http" && !loopback.Host(u.Hostname()) {
		return "", &Error{name, "must use https (plain http is accepted only for loopback hosts)"}
	}
	return v, nil
}

// metricsAddr validates METRICS_ADDR: host:port or :port, a port other
// than the bot's. In local mode an address without a host binds loopback
// only, like the bot.
func metricsAddr(v string, botPort int, local bool) (string, error) {
	if v == "" {
		return "", nil
	}
	host, port, err := net.SplitHostPort(v)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil || p < 0 || p > 65535 || (host != "" && net.ParseIP(host) == nil && !hostnamePattern.MatchString(host)) {
		return "", &Error{"METRICS_ADDR", fmt.Sprintf("%q is not host:port or :port (e.g. :9090)", v)}
	}
	if p != 0 && p == botPort {
		return "", &Error{"METRICS_ADDR", fmt.Sprintf("port %d is the bot's PORT; leave METRICS_ADDR empty to serve /metrics on the bot's port", p)}
	}
	if host == "" && local {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// metricsPublic reads METRICS_PUBLIC: whether GET /metrics is served on
// the bot's own listener. Without it, local mode does (the listener is
// loopback only) and Azure mode does not (the listener faces the
// internet): there the metrics go on METRICS_ADDR, or on the bot's port
// only when asked for.
func metricsPublic(v, addr string, local bool) (bool, error) {
	if v == "" {
		return local && addr == "", nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &Error{"METRICS_PUBLIC", fmt.Sprintf("%q is not true or false", v)}
	}
	if b && addr != "" {
		return false, &Error{"METRICS_PUBLIC", "is true and METRICS_ADDR is set: serve /metrics either on the bot's port (METRICS_PUBLIC=true) or on METRICS_ADDR, not both"}
	}
	return b, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ListenAddr is where the bot's listener binds: BIND_HOST, else all
// interfaces in Azure mode and loopback only in local mode.
func (c Config) ListenAddr() string {
	if c.BindHost != "" {
		return net.JoinHostPort(c.BindHost, strconv.Itoa(c.Port))
	}
	if c.LocalMode {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port))
	}
	return net.JoinHostPort("", strconv.Itoa(c.Port))
}

// Summary is the one start-up log line's attributes: mode and defaults in
// force, secrets redacted.
func (c Config) Summary() []any {
	mode := "azure"
	if c.LocalMode {
		mode = "local"
	}
	redis := "embedded (miniredis; state is not durable)"
	if c.RedisURL != "" {
		redis = "external (REDIS_URL)"
	}
	tenants := "any"
	if len(c.AllowedTenants) > 0 {
		tenants = strings.Join(c.AllowedTenants, ",")
	}
	attrs := []any{
		"mode", mode,
		"listen", c.ListenAddr(),
		"redis", redis,
		"allowed_tenants", tenants,
		"log_level", c.LogLevel.String(),
	}
	if c.StepsFile != "" {
		attrs = append(attrs, "steps_file", c.StepsFile)
	}
	switch c.GraphMode {
	case GraphModeSandbox:
		attrs = append(attrs, "graph", "sandbox (in-process stand-in at /sandbox; no Azure)")
	case GraphModeAnonymous:
		attrs = append(attrs, "graph", "anonymous loopback", "graph_base_url", c.GraphBaseURL)
	default:
		attrs = append(attrs, "graph", c.GraphBaseURL, "graph_credential", c.GraphCredential.Kind)
	}
	attrs = append(attrs, "graph_allow_delete", c.GraphAllowDelete, "reminders", c.Reminders.String(), "reminder_escalate", c.Reminders.Escalate)
	hd := "set with ヘルプデスク設定"
	if c.Helpdesk.ConversationID != "" {
		hd = "HELPDESK_CONVERSATION_ID"
	}
	attrs = append(attrs, "helpdesk_channel", hd, "helpdesk_admins", len(c.Helpdesk.Admins), "tap_enabled", c.Helpdesk.TAPEnabled,
		"tap_lifetime", c.Helpdesk.TAPLifetime.String(), "helpdesk_webhook", c.Helpdesk.WebhookURL != "")
	if c.PprofAddr != "" {
		attrs = append(attrs, "pprof", c.PprofAddr)
	}
	switch {
	case c.MetricsAddr != "":
		attrs = append(attrs, "metrics", "GET /metrics on METRICS_ADDR "+c.MetricsAddr)
	case c.MetricsOnBotPort:
		attrs = append(attrs, "metrics", "GET /metrics on the bot's listener")
	default:
		attrs = append(attrs, "metrics", "not served (set METRICS_ADDR, or METRICS_PUBLIC=true for the bot's listener)")
	}
	if !c.LocalMode {
		attrs = append(attrs,
			"app_id", c.AppID,
			"app_type", c.AppType,
			"app_password", c.AppPassword,
			"openid_metadata", c.OpenIDMetadataURL,
			"token_issuer", c.TokenIssuer,
			"tenant_tokens", c.TenantTokens.Enabled,
			"login_url", c.LoginURL,
			"oauth_scope", c.OAuthScope,
		)
		if c.TenantTokens.Enabled {
			attrs = append(attrs, "tenant_token_apps", strings.Join(c.TenantTokens.AppIDs, ","), "tenant_openid_metadata", c.TenantTokens.MetadataURL)
		}
		if len(c.AllowedServiceURLHosts) > 0 {
			attrs = append(attrs, "extra_service_url_hosts", strings.Join(c.AllowedServiceURLHosts, ","))
		}
	} else {
		attrs = append(attrs, "inbound_auth", "off (no MicrosoftAppId)", "outbound", "loopback serviceUrls only, no token")
	}
	return attrs
}
