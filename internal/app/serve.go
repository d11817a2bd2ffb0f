package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"golang.org/x/sync/errgroup"
)

// Serve serves the bot on ln, plus GET /metrics on METRICS_ADDR and the
// profiler on PPROF_ADDR when set, and runs the replica's background work:
// the reminder worker, the statistics flusher, the warm-up of the Bot
// Framework signing keys. The servers and the warm-up run in an errgroup
// that ends with ctx or with the first failure; the worker and the flusher
// in a second one, which the shutdown stops once the turns have finished,
// so that they see the turns' effects (the statistics' last flush counts
// them). The shutdown, within Options.ShutdownTimeout, stops accepting
// requests and finishes the turns in flight, then the work they deferred,
// then stops the background work, then waits for the webhook deliveries
// still in flight, logging what the budget cut short. Serve returns nil
// after a shutdown that ctx asked for. Call it once.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if err := a.graph.serveSandbox("http://" + ln.Addr().String()); err != nil {
		return err
	}
	var metricsLn, pprofLn net.Listener
	if a.cfg.MetricsAddr != "" {
		var err error
		if metricsLn, err = net.Listen("tcp", a.cfg.MetricsAddr); err != nil {
			return fmt.Errorf("listen on METRICS_ADDR %s: %w", a.cfg.MetricsAddr, err)
		}
		defer metricsLn.Close()
	}
	if a.cfg.PprofAddr != "" {
		var err error
		if pprofLn, err = net.Listen("tcp", a.cfg.PprofAddr); err != nil {
			return fmt.Errorf("listen on PPROF_ADDR %s: %w", a.cfg.PprofAddr, err)
		}
		defer pprofLn.Close()
	}

	botSrv := a.httpServer(a.server)
	var metricsSrv, pprofSrv *http.Server
	var others []*http.Server // nothing to finish at shutdown: closed
	if metricsLn != nil {
		metricsSrv = a.metricsServer()
		others = append(others, metricsSrv)
	}
	if pprofLn != nil {
		pprofSrv = pprofServer()
		others = append(others, pprofSrv)
	}
	started := []any{"addr", ln.Addr().String()}
	if metricsLn != nil {
		started = append(started, "metrics_addr", metricsLn.Addr().String())
	}
	a.logger.Info("mfabot started", append(started, a.cfg.Summary()...)...)

	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var workers errgroup.Group
	a.conv.run(&workers, work)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(botSrv, ln, "") })
	if metricsSrv != nil {
		g.Go(func() error { return serve(metricsSrv, metricsLn, "metrics: ") })
	}
	if pprofSrv != nil {
		g.Go(func() error { return serve(pprofSrv, pprofLn, "pprof: ") })
	}
	if a.validator != nil {
		// Warm the key cache now so the first turn does not wait for it; a
		// failure here is retried on the first request.
		g.Go(func() error {
			wctx, cancel := context.WithTimeout(gctx, 30*time.Second)
			defer cancel()
			if err := a.validator.Refresh(wctx); err != nil && gctx.Err() == nil {
				a.logger.Warn("could not load Bot Framework signing keys yet", "err", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		a.shutdown(botSrv, others, stopWork, &workers)
		return nil
	})
	err := g.Wait()
	a.logger.Info("stopped")
	return err
}

// shutdown stops the bot's server (finishing the requests in flight) and
// closes the others, waits for the work turns deferred, stops the
// background work and waits for the webhook deliveries, all within the
// shutdown budget.
func (a *App) shutdown(botSrv *http.Server, others []*http.Server, stopWork func(), workers *errgroup.Group) {
	a.logger.Info("shutting down: finishing turns in flight")
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.ShutdownTimeout)
	defer cancel()
	if err := botSrv.Shutdown(ctx); err != nil {
		a.logger.Warn("shutdown incomplete", "err", err)
	}
	for _, s := range others {
		s.Close()
	}
	if err := a.server.Wait(ctx); err != nil {
		a.logger.Warn("deferred turn work did not finish", "err", err)
	}
	stopWork()
	if err := workers.Wait(); err != nil {
		a.logger.Warn("background work ended with an error", "err", err)
	}
	if n := a.tasks.wait(ctx); n > 0 {
		a.logger.Warn("shutdown budget spent: webhook deliveries given up", "deliveries", n)
	}
}

// serve runs s on ln until s is shut down; prefix names the server in its
// error.
func serve(s *http.Server, ln net.Listener, prefix string) error {
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%sserve: %w", prefix, err)
	}
	return nil
}

// httpServer is the bot's listener: timeouts that bound slow clients,
// errors to the log.
func (a *App) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
}

// metricsServer serves GET /metrics alone, on METRICS_ADDR.
func (a *App) metricsServer() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
}

// pprofServer serves the Go profiler (PPROF_ADDR, loopback only) on its own
// mux, for measuring the bot under load:
//
//	go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=20
func pprofServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}
