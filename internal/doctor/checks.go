package doctor

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/internal/config"
	"github.com/smartswap/mfabot/internal/loopback"
	"github.com/smartswap/mfabot/manifest"
)

func skip(name, ja, en string) []Result {
	return []Result{{Name: name, Status: Skip, JA: ja, EN: en}}
}

// botToken obtains the outbound Bot Framework token as the bot does:
// client credentials against ToChannelFromBotLoginUrl, or the managed
// identity for UserAssignedMSI.
func (d *doctor) botToken(ctx context.Context) []Result {
	cfg := d.cfg
	if cfg.LocalMode {
		return skip("bot-token", "ボットのトークン: ローカルモードでは使いません", "bot token: not used in local mode")
	}
	var src bot.TokenSource
	from := cfg.LoginURL
	if cfg.AppType == config.AppTypeUserMSI {
		from = "managed identity"
		src = bot.NewManagedIdentity(bot.ManagedIdentityOptions{
			ClientID: cfg.AppID, Resource: bot.DefaultBotResource, Endpoint: cfg.MSIEndpoint,
			Header: string(cfg.MSIHeader), HTTPClient: d.opts.HTTPClient,
		})
	} else {
		src = bot.NewClientCredentials(bot.ClientCredentialsOptions{
			Authority: cfg.LoginURL, ClientID: cfg.AppID, ClientSecret: string(cfg.AppPassword),
			Scope: cfg.OAuthScope, HTTPClient: d.opts.HTTPClient,
		})
	}
	start := time.Now()
	err := d.within(ctx, func(ctx context.Context) error { _, err := src.Token(ctx); return err })
	if err != nil {
		return []Result{{Name: "bot-token", Status: NG,
			JA: fmt.Sprintf("ボットのトークンを取得できません(%s): %v", from, err),
			EN: fmt.Sprintf("no bot token from %s: %v", from, err)}}
	}
	ms := time.Since(start).Milliseconds()
	return []Result{{Name: "bot-token", Status: OK,
		JA: fmt.Sprintf("ボットのトークンを取得しました(%s, %d ms)", from, ms),
		EN: fmt.Sprintf("bot token obtained from %s (%d ms)", from, ms)}}
}

// openID loads the Bot Framework's OpenID metadata and signing keys, as the
// bot does before it accepts a request.
func (d *doctor) openID(ctx context.Context) []Result {
	cfg := d.cfg
	if cfg.LocalMode {
		return skip("openid", "Bot Framework の署名鍵: ローカルモードでは受信を認証しません", "Bot Framework signing keys: local mode does not authenticate requests")
	}
	v := bot.NewValidator(bot.AuthOptions{AppID: cfg.AppID, MetadataURL: cfg.OpenIDMetadataURL, Issuer: cfg.TokenIssuer, HTTPClient: d.opts.HTTPClient})
	if err := d.within(ctx, v.Refresh); err != nil {
		return []Result{{Name: "openid", Status: NG,
			JA: fmt.Sprintf("Bot Framework の署名鍵を読めません(%s): %v", cfg.OpenIDMetadataURL, err),
			EN: fmt.Sprintf("the Bot Framework signing keys do not load from %s: %v", cfg.OpenIDMetadataURL, err)}}
	}
	return []Result{{Name: "openid", Status: OK,
		JA: "Bot Framework の OpenID メタデータと署名鍵を読めました(" + cfg.OpenIDMetadataURL + ")",
		EN: "the Bot Framework OpenID metadata and signing keys load (" + cfg.OpenIDMetadataURL + ")"}}
}

// graphScope is the scope the graph package asks tokens for.
func graphScope(base *url.URL) string {
	if loopback.Host(base.Hostname()) {
		return "https://graph.microsoft.com/.default"
	}
	return "https://" + base.Hostname() + "/.default"
}

// graph obtains a Graph token with the configured credential, compares its
// roles with the features enabled, then reads one user id.
func (d *doctor) graph(ctx context.Context) []Result {
	cfg := d.cfg
	if cfg.GraphMode == config.GraphModeSandbox {
		return skip("graph-token", "Graph: サンドボックス(ボット内の代役)を使います。Azure には接続しません",
			"Graph: the sandbox (the in-process stand-in); nothing to reach in Azure")
	}
	base, err := url.Parse(strings.TrimRight(cfg.GraphBaseURL, "/"))
	if err != nil {
		return []Result{{Name: "graph-token", Status: NG, JA: "GRAPH_BASE_URL を解釈できません", EN: "GRAPH_BASE_URL does not parse"}}
	}
	var out []Result
	token := ""
	if cfg.GraphMode == config.GraphModeAnonymous {
		out = append(out, skip("graph-token", "Graph のトークン: ループバックの代役(認証なし)なので取得しません",
			"Graph token: none for an anonymous loopback stand-in")...)
	} else {
		gc := cfg.GraphCredential
		cred, err := d.opts.GraphCredential(graph.CredentialConfig{
			Kind: gc.Kind, TenantID: gc.TenantID, ClientID: gc.ClientID, ClientSecret: string(gc.ClientSecret),
			CertificatePath: gc.CertificatePath, CertificatePassword: string(gc.CertificatePassword),
			ManagedIdentityClientID: gc.ManagedIdentityClientID,
		})
		if err == nil {
			err = d.within(ctx, func(ctx context.Context) error {
				tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphScope(base)}})
				token = tok.Token
				return err
			})
		}
		if err != nil {
			return append(out, Result{Name: "graph-token", Status: NG,
				JA: fmt.Sprintf("Graph のトークンを取得できません(資格情報 %s): %v", gc.Kind, err),
				EN: fmt.Sprintf("no Graph token with the %s credential: %v", gc.Kind, err)},
				Result{Name: "graph-read", Status: Skip, JA: "Graph の読み取り: トークンがないので試しません", EN: "Graph read: not tried without a token"})
		}
		roles, err := tokenRoles(token)
		if err != nil {
			out = append(out, Result{Name: "graph-token", Status: NG,
				JA: "Graph のトークンを取得しましたが権限(roles)を読めません: " + err.Error(),
				EN: "Graph token obtained, but its roles cannot be read: " + err.Error()})
		} else {
			out = append(out, Result{Name: "graph-token", Status: OK,
				JA: fmt.Sprintf("Graph のトークンを取得しました(資格情報 %s, アプリケーション権限 %d 個)", gc.Kind, len(roles)),
				EN: fmt.Sprintf("Graph token obtained with the %s credential (%d application permissions)", gc.Kind, len(roles))})
			out = append(out, permissionResults(cfg, roles)...)
		}
	}
	return append(out, d.graphRead(ctx, base, token))
}

// graphRead is GET /users?$top=1&$select=id: it shows that Graph is
// reachable and accepts the token. A 403 still shows both (the app may
// simply not list users), so it is a warning.
func (d *doctor) graphRead(ctx context.Context, base *url.URL, token string) Result {
	target := base.String() + "/users?$top=1&$select=id"
	status := 0
	start := time.Now()
	err := d.within(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := d.opts.HTTPClient.Do(req)
		if err != nil {
			// The transport's error names the URL only; never the header.
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		status = resp.StatusCode
		return nil
	})
	ms := time.Since(start).Milliseconds()
	switch {
	case err != nil:
		return Result{Name: "graph-read", Status: NG,
			JA: fmt.Sprintf("Graph に届きません(GET %s): %v", target, err),
			EN: fmt.Sprintf("Graph does not answer GET %s: %v", target, err)}
	case status >= 200 && status < 300:
		return Result{Name: "graph-read", Status: OK,
			JA: fmt.Sprintf("Graph が答えました(GET /users?$top=1: %d, %d ms)", status, ms),
			EN: fmt.Sprintf("Graph answers (GET /users?$top=1: %d, %d ms)", status, ms)}
	case status == http.StatusForbidden:
		return Result{Name: "graph-read", Status: Warn,
			JA: fmt.Sprintf("Graph に届き、トークンも受け付けられましたが、ユーザーの一覧は 403 でした(%s がないため?)", permUserRead),
			EN: fmt.Sprintf("Graph answers and accepts the token, but listing users is 403 (no %s?)", permUserRead)}
	}
	return Result{Name: "graph-read", Status: NG,
		JA: fmt.Sprintf("Graph が GET /users?$top=1 に %d で答えました", status),
		EN: fmt.Sprintf("Graph answers GET /users?$top=1 with %d", status)}
}

// redisMode names how REDIS_URL reaches Redis.
func redisMode(cfg config.Config) string {
	u := string(cfg.RedisURL)
	switch {
	case u == "":
		return "embedded"
	case strings.Contains(u, "+cluster://"):
		return "cluster"
	case strings.Contains(u, "+sentinel://"):
		return "sentinel"
	}
	return "single"
}

// redis pings the bot's Redis (twice: the first connects, the second is
// the round trip reported), then looks for the helpdesk channel in it.
func (d *doctor) redis(ctx context.Context) []Result {
	mode := redisMode(d.cfg)
	rdb := d.rdb
	if rdb == nil {
		return []Result{{Name: "redis", Status: Skip, JA: "Redis: ボットを組み立てられないので試しません", EN: "Redis: not tried, the bot cannot be assembled"},
			d.helpdeskSkipped()}
	}
	var rtt time.Duration
	err := d.within(ctx, func(ctx context.Context) error {
		if err := rdb.Ping(ctx).Err(); err != nil {
			return err
		}
		start := time.Now()
		err := rdb.Ping(ctx).Err()
		rtt = time.Since(start)
		return err
	})
	if err != nil {
		return []Result{{Name: "redis", Status: NG,
			JA: fmt.Sprintf("Redis(%s)が PING に答えません: %v", mode, err),
			EN: fmt.Sprintf("Redis (%s) does not answer PING: %v", mode, err)},
			d.helpdeskSkipped()}
	}
	r := Result{Name: "redis", Status: OK,
		JA: fmt.Sprintf("Redis(%s)が答えました(PING %s)", mode, rtt.Round(10*time.Microsecond)),
		EN: fmt.Sprintf("Redis (%s) answers (PING %s)", mode, rtt.Round(10*time.Microsecond))}
	if mode == "embedded" && !d.cfg.LocalMode {
		r.Status = Warn
		r.JA += "。REDIS_URL がないので状態はメモリだけで、再起動で消えます"
		r.EN += "; without REDIS_URL the state is in memory only and lost at restart"
	}
	return []Result{r, d.helpdesk(ctx, rdb)}
}

func (d *doctor) helpdeskSkipped() Result {
	if d.cfg.Helpdesk.ConversationID != "" {
		return d.helpdesk(context.Background(), nil)
	}
	return Result{Name: "helpdesk", Status: Skip,
		JA: "ヘルプデスクのチャネル: Redis に届かないので確かめられません",
		EN: "helpdesk channel: cannot tell without Redis"}
}

// helpdesk says where tickets go: HELPDESK_CONVERSATION_ID, or the channel
// stored by ヘルプデスク設定.
func (d *doctor) helpdesk(ctx context.Context, rdb redisstore.Client) Result {
	if d.cfg.Helpdesk.ConversationID != "" {
		return Result{Name: "helpdesk", Status: OK,
			JA: "ヘルプデスクのチャネル: HELPDESK_CONVERSATION_ID で決まっています",
			EN: "helpdesk channel: set by HELPDESK_CONVERSATION_ID"}
	}
	var opts []redisstore.Option
	if d.opts.KeyPrefix != "" {
		opts = append(opts, redisstore.WithPrefix(d.opts.KeyPrefix))
	}
	var doc []byte
	err := d.within(ctx, func(ctx context.Context) error {
		var err error
		doc, err = redisstore.New(rdb, opts...).LoadHelpdeskChannel(ctx)
		return err
	})
	switch {
	case err != nil:
		return Result{Name: "helpdesk", Status: NG,
			JA: "ヘルプデスクのチャネルを Redis から読めません: " + err.Error(),
			EN: "the helpdesk channel cannot be read from Redis: " + err.Error()}
	case len(doc) == 0:
		return Result{Name: "helpdesk", Status: Warn,
			JA: "ヘルプデスクのチャネルが未設定です。ヘルプデスクのチャネルで「ヘルプデスク設定」と送るか、HELPDESK_CONVERSATION_ID を設定してください(それまでチケットは届きません)",
			EN: "no helpdesk channel: send 「ヘルプデスク設定」 in the helpdesk channel, or set HELPDESK_CONVERSATION_ID (tickets reach no one until then)"}
	}
	return Result{Name: "helpdesk", Status: OK,
		JA: "ヘルプデスクのチャネル: 「ヘルプデスク設定」で設定済みです(Redis)",
		EN: "helpdesk channel: set with 「ヘルプデスク設定」 (stored in Redis)"}
}

// manifest checks that the Teams app package names MicrosoftAppId as its
// bot: the one given with -manifest, else the one `mfabot manifest` builds.
func (d *doctor) manifest(context.Context) []Result {
	cfg := d.cfg
	if cfg.LocalMode {
		return skip("manifest", "Teams マニフェスト: ローカルモードでは使いません", "Teams manifest: not used in local mode")
	}
	var pkg []byte
	from := d.opts.ManifestPath
	if from != "" {
		b, err := os.ReadFile(from)
		if err != nil {
			return []Result{{Name: "manifest", Status: NG, JA: "Teams アプリのパッケージを読めません: " + err.Error(), EN: "the Teams app package cannot be read: " + err.Error()}}
		}
		pkg = b
	} else {
		domain := strings.TrimSpace(d.getenv("BOT_DOMAIN"))
		if domain == "" {
			return []Result{{Name: "manifest", Status: Warn,
				JA: "Teams マニフェスト: BOT_DOMAIN がないので作れません(`mfabot manifest` に必要です)",
				EN: "Teams manifest: BOT_DOMAIN is not set, so it cannot be built (`mfabot manifest` needs it)"}}
		}
		var buf bytes.Buffer
		if err := manifest.Build(&buf, cfg.AppID, domain); err != nil {
			return []Result{{Name: "manifest", Status: NG, JA: "Teams マニフェストを作れません: " + err.Error(), EN: "the Teams manifest cannot be built: " + err.Error()}}
		}
		pkg, from = buf.Bytes(), "`mfabot manifest`"
	}
	id, botID, err := manifestIDs(pkg)
	if err != nil {
		return []Result{{Name: "manifest", Status: NG, JA: "Teams アプリのパッケージ(" + from + ")が不正です: " + err.Error(), EN: "the Teams app package (" + from + ") is invalid: " + err.Error()}}
	}
	if !strings.EqualFold(botID, cfg.AppID) || !strings.EqualFold(id, cfg.AppID) {
		return []Result{{Name: "manifest", Status: NG,
			JA: fmt.Sprintf("Teams マニフェスト(%s)の id %q / botId %q が MicrosoftAppId %s と違います", from, id, botID, cfg.AppID),
			EN: fmt.Sprintf("the Teams manifest (%s) has id %q and botId %q, not MicrosoftAppId %s", from, id, botID, cfg.AppID)}}
	}
	return []Result{{Name: "manifest", Status: OK,
		JA: fmt.Sprintf("Teams マニフェスト(%s)の botId は MicrosoftAppId と同じです", from),
		EN: fmt.Sprintf("the Teams manifest (%s) names MicrosoftAppId as its bot", from)}}
}

// manifestIDs reads the app id and the first bot's id of a Teams app package.
func manifestIDs(pkg []byte) (id, botID string, err error) {
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	if err != nil {
		return "", "", fmt.Errorf("not a zip: %w", err)
	}
	f, err := zr.Open("manifest.json")
	if err != nil {
		return "", "", fmt.Errorf("no manifest.json: %w", err)
	}
	defer f.Close()
	var m struct {
		ID   string `json:"id"`
		Bots []struct {
			BotID string `json:"botId"`
		} `json:"bots"`
	}
	if err := json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&m); err != nil {
		return "", "", fmt.Errorf("manifest.json: %w", err)
	}
	if len(m.Bots) == 0 {
		return m.ID, "", fmt.Errorf("manifest.json declares no bot")
	}
	return m.ID, m.Bots[0].BotID, nil
}
