package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // users' time zones, even in a minimal container image

	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/config"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mfabot:", err)
		os.Exit(1)
	}
}

// run is the program: `mfabot manifest …` writes the Teams app package;
// otherwise it reads the configuration, assembles the bot and serves it
// until ctx ends or the process receives SIGINT or SIGTERM.
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

	bot, err := app.New(cfg, app.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer bot.Close()

	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr(), err)
	}
	defer ln.Close()
	return bot.Serve(ctx, ln)
}
