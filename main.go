package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // users' time zones, even in a minimal container image

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/dialogs"
	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/config"
	"github.com/smartswap/mfabot/internal/metrics"
	"github.com/smartswap/mfabot/internal/webhook"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mfabot:", err)
		os.Exit(1)
	}
}

// run is the program: it reads the configuration, wires the pieces and
// serves until ctx ends or the process receives SIGINT or SIGTERM.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 && args[1] == "manifest" {
		return runManifest(args[2:], getenv, stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	content := cards.DefaultContent()
	if cfg.StepsFile != "" {
		data, err := os.ReadFile(cfg.StepsFile)
		if err != nil {
			return &config.Error{Var: "STEPS_FILE", Problem: err.Error()}
		}
		if content, err = cards.ParseContent(cfg.StepsFile, data); err != nil {
			return fmt.Errorf("STEPS_FILE: %w", err)
		}
	}

	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr(), err)
	}
	defer ln.Close()

	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return fmt.Errorf("listen on METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
		}
		defer metricsLn.Close()
	}

	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	rdb, closeRedis, err := openRedis(cfg)
	if err != nil {
		return err
	}
	defer closeRedis()
	store := redisstore.New(rdb)
	m := metrics.New()
	m.InitSteps(cards.StepIDs)

	httpClient := &http.Client{Timeout: 15 * time.Second}
	var validator *bot.Validator
	var tokens bot.TokenSource
	if !cfg.LocalMode {
		validator = bot.NewValidator(bot.AuthOptions{
			AppID:       cfg.AppID,
			MetadataURL: cfg.OpenIDMetadataURL,
			Issuer:      cfg.TokenIssuer,
			HTTPClient:  httpClient,
		})
		switch cfg.AppType {
		case config.AppTypeUserMSI:
			tokens = bot.NewManagedIdentity(bot.ManagedIdentityOptions{
				ClientID:   cfg.AppID,
				Resource:   "https://api.botframework.com",
				Endpoint:   cfg.MSIEndpoint,
				Header:     string(cfg.MSIHeader),
				HTTPClient: httpClient,
			})
		default:
			tokens = bot.NewClientCredentials(bot.ClientCredentialsOptions{
				Authority:    cfg.LoginURL,
				ClientID:     cfg.AppID,
				ClientSecret: string(cfg.AppPassword),
				Scope:        cfg.OAuthScope,
				HTTPClient:   httpClient,
			})
		}
	}
	connector := bot.NewConnector(bot.ConnectorOptions{
		Tokens:        tokens,
		AllowedHosts:  cfg.AllowedServiceURLHosts,
		AllowLoopback: cfg.LocalMode,
		Logger:        logger,
		Observer:      m,
	})

	dir, mounts, pageURL, err := openGraph(cfg, ln.Addr().String(), m)
	if err != nil {
		return err
	}

	policy := dialogs.ReminderPolicy{Schedule: cfg.Reminders.Schedule, Hours: cfg.Reminders.Hours, Escalate: cfg.Reminders.Escalate}
	helpdesk := &dialogs.HelpdeskOptions{
		Store: store, Connector: connector, Admins: cfg.Helpdesk.Admins,
		TAPEnabled: cfg.Helpdesk.TAPEnabled, TAPLifetime: cfg.Helpdesk.TAPLifetime,
	}
	if cfg.Helpdesk.WebhookURL != "" {
		hook, err := webhook.New(webhook.Options{URL: cfg.Helpdesk.WebhookURL, Secret: string(cfg.Helpdesk.WebhookSecret)})
		if err != nil {
			return &config.Error{Var: "HELPDESK_WEBHOOK_URL", Problem: err.Error()}
		}
		helpdesk.Notify = func(ctx context.Context, e dialogs.TicketEvent) {
			// Delivered after the turn, retried with back-off; a failure is
			// logged, never shown to the user.
			go func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
				defer cancel()
				if err := hook.Send(ctx, e); err != nil {
					logger.Warn("helpdesk webhook not delivered", "err", err, "ticket", e.Ticket, "event", e.Event)
				}
			}()
		}
	}
	if cfg.Helpdesk.ConversationID != "" {
		helpdesk.Channel = &dialogs.Channel{
			ServiceURL: cfg.Helpdesk.ServiceURL, ConversationID: cfg.Helpdesk.ConversationID,
			TeamID: cfg.Helpdesk.TeamID, FromEnv: true,
		}
	}
	conversation := dialogs.NewHandler(dialogs.Options{
		Store: store, Content: content, Directory: dir,
		AllowDelete: cfg.GraphAllowDelete, SecurityInfoURL: pageURL,
		Reminders: store, Policy: policy, Helpdesk: helpdesk,
		Observer: m, Stats: store, Logger: logger,
	})
	// Proactive sends leave 429s to the reminder worker, which pauses every
	// replica through Redis instead of waiting inside one request.
	proactiveConn := bot.NewConnector(bot.ConnectorOptions{
		Tokens: tokens, AllowedHosts: cfg.AllowedServiceURLHosts, AllowLoopback: cfg.LocalMode,
		Logger: logger, MaxAttempts: 2, MaxRetryWait: time.Second, Observer: m,
	})
	reminders := dialogs.NewReminders(dialogs.ReminderOptions{
		Dialogs: conversation, Store: store, Sender: proactiveSender{proactiveConn},
		Policy: policy, Logger: logger.With("worker", "reminders"), Rate: cfg.Reminders.Rate,
		Escalate: conversation.Escalate,
	})
	m.CollectReminders(reminderCounts(reminders))
	if cfg.MetricsAddr == "" {
		if mounts == nil {
			mounts = map[string]http.Handler{}
		}
		mounts["GET /metrics"] = m.Handler()
	}

	ready := []bot.ReadyCheck{store.Ping}
	opts := bot.ServerOptions{
		Logger:         logger,
		Handler:        turnHandler{d: conversation},
		Mounts:         mounts,
		Connector:      connector,
		AllowedTenants: cfg.AllowedTenants,
		Dedupe:         store,
		Observer:       m,
	}
	if validator != nil {
		opts.Validator = validator
		ready = append(ready, func(context.Context) error {
			if !validator.Ready() {
				return errors.New("signing keys not loaded yet")
			}
			return nil
		})
		// Warm the key cache now so the first turn does not wait for it;
		// a failure here is retried on the first request.
		go func() {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := validator.Refresh(wctx); err != nil {
				logger.Warn("could not load Bot Framework signing keys yet", "err", err)
			}
		}()
	}
	opts.Ready = ready
	srv := bot.NewServer(opts)

	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	started := []any{"addr", ln.Addr().String()}
	if metricsLn != nil {
		started = append(started, "metrics_addr", metricsLn.Addr().String())
	}
	logger.Info("mfabot started", append(started, cfg.Summary()...)...)

	serveErr := make(chan error, 2)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	if metricsLn != nil {
		metricsSrv := newMetricsServer(m.Handler(), logger)
		go func() {
			if err := metricsSrv.Serve(metricsLn); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("metrics: %w", err)
			}
		}()
		defer metricsSrv.Close()
	}
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		statsDone := make(chan struct{})
		go func() { defer close(statsDone); conversation.RunStats(workerCtx) }()
		reminders.Run(workerCtx)
		<-statsDone
	}()
	defer func() { stopWorker(); <-workerDone }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing turns in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown incomplete", "err", err)
	}
	if err := srv.Wait(sctx); err != nil {
		logger.Warn("deferred turn work did not finish", "err", err)
	}
	logger.Info("stopped")
	return nil
}

// shutdownTimeout bounds how long in-flight turns may take after SIGTERM.
const shutdownTimeout = 20 * time.Second

// openGraph builds the directory the dialog checks through: Microsoft Graph
// with the configured credential, a loopback stand-in, or the in-process
// sandbox (whose routes are returned to be mounted, and whose page replaces
// the security-info page).
func openGraph(cfg config.Config, listenAddr string, obs graph.Observer) (dialogs.Directory, map[string]http.Handler, func(string) string, error) {
	opts := []graph.Option{graph.WithBaseURL(cfg.GraphBaseURL)}
	var mounts map[string]http.Handler
	var pageURL func(string) string
	switch cfg.GraphMode {
	case config.GraphModeSandbox:
		sb := sandbox.New(sandbox.Options{})
		origin := "http://" + listenAddr
		mounts = map[string]http.Handler{sb.BasePath() + "/": sb.Handler()}
		pageURL = func(user string) string { return sb.PageURL(origin, user) }
		opts = []graph.Option{graph.WithBaseURL(sb.GraphBaseURL(origin))}
	case config.GraphModeCredential:
		gc := cfg.GraphCredential
		cred, err := graph.NewCredential(graph.CredentialConfig{
			Kind: gc.Kind, TenantID: gc.TenantID, ClientID: gc.ClientID, ClientSecret: string(gc.ClientSecret),
			CertificatePath: gc.CertificatePath, CertificatePassword: string(gc.CertificatePassword),
			ManagedIdentityClientID: gc.ManagedIdentityClientID,
		})
		if err != nil {
			return nil, nil, nil, &config.Error{Var: "GRAPH_CREDENTIAL", Problem: err.Error()}
		}
		opts = append(opts, graph.WithCredential(cred))
	}
	client, err := graph.NewClient(append(opts, graph.WithObserver(obs))...)
	if err != nil {
		return nil, nil, nil, &config.Error{Var: "GRAPH_BASE_URL", Problem: err.Error()}
	}
	return graphDirectory{client}, mounts, pageURL, nil
}

// redisPoolSize is the default connection pool per Redis server (go-redis
// defaults to 10 per CPU, 20 here, and turns queued for connections under
// load); pool_size= in REDIS_URL overrides it.
const redisPoolSize = 64

// openRedis connects to REDIS_URL, or starts an embedded Redis when none is
// configured, so that the same go-redis code path runs either way.
// REDIS_URL forms: redis://[:password@]host:port/db (rediss:// for TLS) for a
// single server; redis+cluster://host:port?addr=host2:port2… for a Redis
// Cluster; redis+sentinel://host:26379?master_name=name&addr=… for Sentinel.
func openRedis(cfg config.Config) (redisstore.Client, func(), error) {
	if cfg.RedisURL == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("start embedded redis: %w", err)
		}
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		return rdb, func() { rdb.Close(); mr.Close() }, nil
	}
	raw := string(cfg.RedisURL)
	scheme, rest, _ := strings.Cut(raw, "://")
	base, kind, _ := strings.Cut(scheme, "+")
	plain := base + "://" + rest
	// Errors name the variable, not the value: the URL may hold a password.
	bad := &config.Error{Var: "REDIS_URL", Problem: "cannot be parsed as a Redis URL (redis://, rediss://, redis+cluster://, redis+sentinel://)"}
	switch kind {
	case "":
		opt, err := redis.ParseURL(plain)
		if err != nil {
			return nil, nil, bad
		}
		if !strings.Contains(rest, "pool_size=") {
			opt.PoolSize = redisPoolSize
		}
		rdb := redis.NewClient(opt)
		return rdb, func() { rdb.Close() }, nil
	case "cluster":
		opt, err := redis.ParseClusterURL(plain)
		if err != nil {
			return nil, nil, bad
		}
		if !strings.Contains(rest, "pool_size=") {
			opt.PoolSize = redisPoolSize
		}
		rdb := redis.NewClusterClient(opt)
		return rdb, func() { rdb.Close() }, nil
	case "sentinel":
		opt, err := redis.ParseFailoverURL(plain)
		if err != nil || opt.MasterName == "" {
			return nil, nil, bad
		}
		if !strings.Contains(rest, "pool_size=") {
			opt.PoolSize = redisPoolSize
		}
		rdb := redis.NewFailoverClient(opt)
		return rdb, func() { rdb.Close() }, nil
	}
	return nil, nil, bad
}
