package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/smartswap/mfabot/internal/doctor"
)

// errNotReady is `mfabot doctor`'s failure: a check said NG. The report,
// on stdout, says which.
var errNotReady = errors.New("doctor: not ready for production (see the NG lines)")

// runDoctor is `mfabot doctor [-lang ja|en] [-timeout 3s] [-manifest app.zip]`:
// it checks the deployment the environment describes (see package doctor),
// prints the report to stdout and returns errNotReady when a check blocks
// production. opts carries what tests replace; the command passes the zero
// value.
func runDoctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, opts doctor.Options) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lang := fs.String("lang", "", `"ja" or "en" for one language (default: both, "日本語 / English")`)
	timeout := fs.Duration("timeout", doctor.DefaultTimeout, "how long each check may take")
	manifestPath := fs.String("manifest", "", "a Teams app package (app.zip) to check instead of building one from MicrosoftAppId and BOT_DOMAIN")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: mfabot doctor [-lang ja|en] [-timeout 3s] [-manifest app.zip]

With the bot's own environment, checks the configuration, the bot token,
the Bot Framework signing keys, the Graph token and its permissions, a
Graph read, Redis, the helpdesk channel and the Teams manifest, and prints
one line per check (OK, WARN, NG, SKIP). Exits 1 when a line is NG.
Secrets and tokens are never printed.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &usageError{"doctor: " + err.Error()}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return &usageError{fmt.Sprintf("doctor: unexpected argument %q", fs.Arg(0))}
	}
	var l doctor.Lang
	switch *lang {
	case "":
		l = doctor.LangBoth
	case "ja":
		l = doctor.LangJA
	case "en":
		l = doctor.LangEN
	default:
		fs.Usage()
		return &usageError{fmt.Sprintf("doctor: -lang %q is not ja or en", *lang)}
	}
	if *timeout <= 0 || *timeout > time.Minute {
		fs.Usage()
		return &usageError{fmt.Sprintf("doctor: -timeout %s is not between 0 and 1m", *timeout)}
	}
	if opts.Timeout == 0 {
		opts.Timeout = *timeout
	}
	if *manifestPath != "" {
		opts.ManifestPath = *manifestPath
	}
	rep := doctor.Run(ctx, getenv, opts)
	if err := rep.Write(stdout, l); err != nil {
		return err
	}
	if rep.Blocked() {
		return errNotReady
	}
	return nil
}
