package app

import (
	"context"
	"errors"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/internal/config"
	"github.com/smartswap/mfabot/internal/metrics"
)

// DefaultShutdownTimeout bounds a shutdown: the turns in flight, the work
// they deferred past their acknowledgement and the webhook deliveries they
// started share it.
const DefaultShutdownTimeout = 20 * time.Second

// Options are what the configuration does not say: where the logs go and,
// for tests, the knobs that make a bot fast and deterministic. The zero
// value is production.
type Options struct {
	// Logger receives the bot's logs; nil discards them.
	Logger *slog.Logger

	// Redis, when set, holds the bot's state instead of REDIS_URL's Redis
	// (or the embedded one); Close leaves it open.
	Redis redisstore.Client
	// KeyPrefix, when set, replaces the store's "mfabot:" before every key,
	// so that tests can share one Redis.
	KeyPrefix string

	// Now is the clock of the conversation and of the reminder worker;
	// nil means time.Now.
	Now func() time.Time
	// GraphTimeout bounds each Graph call (zero: the graph package's 60 s).
	GraphTimeout time.Duration
	// GraphCredential, when set, is the credential of the Graph client
	// when none is configured (tests: an Entra that does not answer).
	GraphCredential azcore.TokenCredential
	// CheckTimeout bounds a Graph check inside a turn, PollEvery and
	// PollFor the wait for a new registration after the acknowledgement
	// (zero: the conversation's defaults, 3 s, 2 s and 2 min).
	CheckTimeout, PollEvery, PollFor time.Duration
	// ReminderRate replaces REMINDER_RATE (which the configuration bounds
	// to Teams' 1–50 sends per second), and ReminderBatch the reminders
	// one claim takes (zero: the worker's 50).
	ReminderRate, ReminderBatch int
	// SweepTick and SweepInstallWait replace the sweep worker's 500 ms
	// look for work and 20 s wait after installing the app (tests).
	SweepTick, SweepInstallWait time.Duration

	// RecordRetryEvery replaces the 1 s after which a turn record's write
	// that had no clear outcome is tried again (bot.ServerOptions).
	RecordRetryEvery time.Duration

	// ShutdownTimeout bounds Serve's shutdown and Close's wait
	// (zero: DefaultShutdownTimeout).
	ShutdownTimeout time.Duration

	// WithoutHelpdesk leaves the helpdesk out: ヘルプデスクに相談 then only
	// tells the user how to reach the helpdesk, and no ticket is opened.
	// No configuration does this (the bot always offers tickets, since a
	// channel can be set at run time with ヘルプデスク設定); it keeps one
	// conversation test of the ticket-less card, which predates that.
	WithoutHelpdesk bool
}

// App is one replica of the bot, assembled by New. Its HTTP surface is
// Handler; Serve runs it. It is safe for concurrent use.
type App struct {
	cfg    config.Config
	opts   Options
	logger *slog.Logger

	rdb        redisstore.Client
	closeRedis func() error // what New opened; nil for Options.Redis

	metrics   *metrics.Metrics
	auth      *http.Client   // OpenID metadata, signing keys, outbound tokens
	validator *bot.Validator // nil in local mode
	connector *bot.Connector // replies, updates, the helpdesk channel
	proactive *bot.Connector // reminders: leaves 429s to the worker
	// out and proactiveOut are the two as the conversation sends through
	// them: in CARD_ACTIONS=submit every card's buttons become
	// Action.Submit on the way out.
	out, proactiveOut cardSender
	graph             *graphs
	conv              *conversation
	server            *bot.Server
	mounts            map[string]http.Handler
	tasks             *tasks // webhook deliveries

	closeOnce sync.Once
	closeErr  error
}

// One *metrics.Metrics is the observer of every producer: each declares
// the interface it reports to, and none imports Prometheus. (The
// conversation's is checked in dialogs.go.)
var (
	_ bot.TurnObserver      = (*metrics.Metrics)(nil)
	_ bot.ConnectorObserver = (*metrics.Metrics)(nil)
	_ bot.AuthObserver      = (*metrics.Metrics)(nil)
	_ graph.Observer        = (*metrics.Metrics)(nil)
)

// New assembles the bot cfg describes. It does no network I/O: tokens,
// signing keys and Redis are first used by a turn, by /readyz or by Serve.
// The one exception is the embedded Redis, started here when REDIS_URL is
// unset and Options.Redis is nil. A problem with a setting (a STEPS_FILE
// that does not parse, an unusable REDIS_URL, GRAPH_BASE_URL or
// credential) is a *config.Error naming the variable.
func New(cfg config.Config, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	a := &App{
		cfg:     cfg,
		opts:    opts,
		logger:  opts.Logger,
		metrics: metrics.New(),
		auth:    &http.Client{Timeout: 15 * time.Second},
		mounts:  map[string]http.Handler{},
		tasks:   newTasks(),
	}
	content, err := loadContent(cfg.StepsFile)
	if err != nil {
		return nil, err
	}
	if a.rdb = opts.Redis; a.rdb == nil {
		if a.rdb, a.closeRedis, err = openRedis(cfg); err != nil {
			return nil, err
		}
	}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()

	a.connectBot()
	if a.graph, err = a.openGraph(); err != nil {
		return nil, err
	}
	if a.conv, err = a.newConversation(content); err != nil {
		return nil, err
	}
	if cfg.MetricsOnBotPort {
		a.mounts["GET /metrics"] = a.metrics.Handler()
	}
	ready := []bot.ReadyCheck{a.conv.ping}
	so := bot.ServerOptions{
		Logger:         a.logger,
		Handler:        a.conv.turns(),
		Mounts:         a.mounts,
		Connector:      a.out,
		AllowedTenants: cfg.AllowedTenants,
		Dedupe:         a.conv.dedupe(),
		Observer:       a.metrics,

		RecordRetryEvery: opts.RecordRetryEvery,
	}
	if a.validator != nil {
		so.Validator = a.validator
		ready = append(ready, func(context.Context) error {
			if !a.validator.Ready() {
				return errors.New("signing keys not loaded yet")
			}
			return nil
		})
	}
	so.Ready = ready
	a.server = bot.NewServer(so)
	ok = true
	return a, nil
}

// connectBot builds the Bot Framework side: outside local mode the
// validator of inbound tokens and the source of outbound ones; the
// connectors of turns and of reminders.
func (a *App) connectBot() {
	cfg := a.cfg
	var tokens bot.TokenSource
	if !cfg.LocalMode {
		a.validator = bot.NewValidator(bot.AuthOptions{
			AppID:       cfg.AppID,
			MetadataURL: cfg.OpenIDMetadataURL,
			Issuer:      cfg.TokenIssuer,
			HTTPClient:  a.auth,

			TenantTokens:      cfg.TenantTokens.Enabled,
			Tenant:            cfg.AppTenantID,
			TenantApps:        cfg.TenantTokens.AppIDs,
			TenantMetadataURL: cfg.TenantTokens.MetadataURL,
			Observer:          a.metrics,
		})
		a.metrics.InitAuthReasons(bot.AuthReasons())
		switch cfg.AppType {
		case config.AppTypeUserMSI:
			tokens = bot.NewManagedIdentity(bot.ManagedIdentityOptions{
				ClientID:   cfg.AppID,
				Resource:   "https://api.botframework.com",
				Endpoint:   cfg.MSIEndpoint,
				Header:     string(cfg.MSIHeader),
				HTTPClient: a.auth,
			})
		default:
			tokens = bot.NewClientCredentials(bot.ClientCredentialsOptions{
				Authority:    cfg.LoginURL,
				ClientID:     cfg.AppID,
				ClientSecret: string(cfg.AppPassword),
				Scope:        cfg.OAuthScope,
				HTTPClient:   a.auth,
			})
		}
	}
	a.connector = bot.NewConnector(bot.ConnectorOptions{
		Tokens:        tokens,
		AllowedHosts:  cfg.AllowedServiceURLHosts,
		AllowLoopback: cfg.LocalMode,
		Logger:        a.logger,
		Observer:      a.metrics,
	})
	// Proactive sends leave 429s to the reminder worker, which pauses every
	// replica through Redis instead of waiting inside one request.
	a.proactive = bot.NewConnector(bot.ConnectorOptions{
		Tokens: tokens, AllowedHosts: cfg.AllowedServiceURLHosts, AllowLoopback: cfg.LocalMode,
		Logger: a.logger, MaxAttempts: 2, MaxRetryWait: time.Second, Observer: a.metrics,
	})
	a.out, a.proactiveOut = a.connector, a.proactive
	if cfg.SubmitActions {
		a.out, a.proactiveOut = submitCards{a.connector}, submitCards{a.proactive}
	}
}

// Handler is the bot's HTTP surface: POST /api/messages, GET /healthz and
// /readyz, GET /metrics when the configuration puts it there (local mode
// without METRICS_ADDR, or METRICS_PUBLIC=true), and the sandbox in local
// mode.
func (a *App) Handler() http.Handler { return a.server }

// Wait blocks until the work turns deferred past their acknowledgement (a
// Graph poll, say) has finished, or ctx ends.
func (a *App) Wait(ctx context.Context) error { return a.server.Wait(ctx) }

// Redis is the client the bot keeps its state through: Options.Redis, or
// the one New opened from REDIS_URL (a *redis.ClusterClient for
// redis+cluster://), or the embedded Redis's.
func (a *App) Redis() redisstore.Client { return a.rdb }

// CloseIdleConnections closes the idle connections of the bot's outbound
// HTTP clients: Graph (or its sandbox), the Bot Connector, the token and
// signing-key endpoints. A test counting goroutines calls it; nothing else
// needs to.
func (a *App) CloseIdleConnections() {
	a.graph.closeIdleConnections()
	a.connector.CloseIdleConnections()
	a.proactive.CloseIdleConnections()
	a.auth.CloseIdleConnections()
}

// Close finishes what is still in flight (the work turns deferred and the
// webhook deliveries, within the shutdown budget), then closes the Redis
// client New opened and the embedded Redis. Serve does not call it; call
// it once the App is no longer served.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.ShutdownTimeout)
		defer cancel()
		a.drain(ctx)
		if a.closeRedis != nil {
			a.closeErr = a.closeRedis()
		}
	})
	return a.closeErr
}

// drain waits, within ctx, for the work turns deferred and for the webhook
// deliveries, logging what did not finish.
func (a *App) drain(ctx context.Context) {
	if a.server != nil {
		if err := a.server.Wait(ctx); err != nil {
			a.logger.Warn("deferred turn work did not finish", "err", err)
		}
	}
	if n := a.tasks.wait(ctx); n > 0 {
		a.logger.Warn("shutdown budget spent: webhook deliveries given up", "deliveries", n)
	}
}
