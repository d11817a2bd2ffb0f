package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // users' time zones, even in a minimal container image

	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/config"
	"github.com/smartswap/mfabot/internal/doctor"
)

func main() {
	err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr)
	code := exitCode(err)
	if code == 1 {
		fmt.Fprintln(os.Stderr, "mfabot:", err)
	}
	os.Exit(code)
}

// exitCode is the process's status after run: 0 on success, 2 for a
// command line that names no command (its usage is on stderr already), 1
// for anything else.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

const usage = `usage: mfabot [serve]           serve the bot (the default)
       mfabot manifest [-out app.zip]   write the Teams app package
       mfabot doctor [-lang ja|en] [-timeout 3s] [-manifest app.zip]
                                        check the deployment and print a report
       mfabot sweep [--group ID] [--report FILE.csv] [--jsonl FILE] [--notify [--install]] [--resume JOB] [--pause JOB] [--cancel JOB] [--lang ja|en]
                                        find users with an old phone still
                                        registered, and bring them through the
                                        procedure (see mfabot sweep -h)

The configuration is the environment (see README.md, "Configuration").
`

// usageError is a command line that names no command: the usage has been
// printed to stderr, and the process exits 2.
type usageError struct{ problem string }

func (e *usageError) Error() string { return e.problem }

// run is the program: `mfabot manifest …` writes the Teams app package,
// `mfabot doctor …` checks the deployment, `mfabot sweep …` runs the
// tenant sweep's dry run; `mfabot` (or `mfabot serve`)
// reads the configuration, assembles the bot and serves it until ctx ends
// or the process receives SIGINT or SIGTERM. Anything else prints the
// usage to stderr and returns a *usageError.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		switch cmd := args[1]; {
		case cmd == "manifest":
			return runManifest(args[2:], getenv, stdout, stderr)
		case cmd == "sweep":
			return runSweep(ctx, args[2:], getenv, stdout, stderr, sweepDeps{})
		case cmd == "doctor":
			return runDoctor(ctx, args[2:], getenv, stdout, stderr, doctor.Options{})
		case cmd == "-h" || cmd == "-help" || cmd == "--help" || cmd == "help":
			fmt.Fprint(stderr, usage)
			return nil
		case cmd == "serve" && len(args) == 2:
		default:
			fmt.Fprint(stderr, usage)
			if strings.HasPrefix(cmd, "-") || cmd == "serve" {
				return &usageError{fmt.Sprintf("unknown flag or argument %q", strings.Join(args[1:], " "))}
			}
			return &usageError{fmt.Sprintf("unknown command %q", cmd)}
		}
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
