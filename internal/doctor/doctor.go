package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/config"
)

// DefaultTimeout bounds each check.
const DefaultTimeout = 3 * time.Second

// Status is a check's verdict.
type Status int

// The verdicts, from best to worst.
const (
	Skip Status = iota // not applicable in this mode
	OK                 // passed
	Warn               // the bot runs; a feature is degraded or a setting is unfit for production
	NG                 // production is blocked
)

// String is the verdict as printed: OK, WARN, NG or SKIP.
func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case Warn:
		return "WARN"
	case NG:
		return "NG"
	}
	return "SKIP"
}

// Result is one line of the report: a check's verdict and what it found,
// in Japanese and in English.
type Result struct {
	Name   string // the check: config, bot-token, openid, graph-token, graph-permission, graph-read, redis, helpdesk, manifest
	Status Status
	JA, EN string
}

// Report is the outcome of Run, in the order the checks are listed.
type Report struct {
	Results []Result
	secrets []string
}

// Blocked reports whether a check failed (NG): production would not work.
func (r *Report) Blocked() bool {
	for _, x := range r.Results {
		if x.Status == NG {
			return true
		}
	}
	return false
}

// Lang selects the report's language.
type Lang string

// The languages of Write.
const (
	LangBoth Lang = ""   // "日本語 / English" on each line
	LangJA   Lang = "ja" // Japanese only
	LangEN   Lang = "en" // English only
)

// Write prints the report, one line per result, then a verdict line. The
// configured secrets are scrubbed from every line, whatever an endpoint
// echoed.
func (r *Report) Write(w io.Writer, lang Lang) error {
	var b strings.Builder
	counts := map[Status]int{}
	for _, x := range r.Results {
		counts[x.Status]++
		text := x.JA + " / " + x.EN
		switch lang {
		case LangJA:
			text = x.JA
		case LangEN:
			text = x.EN
		}
		fmt.Fprintf(&b, "%-4s  %s\n", x.Status, r.scrub(text))
	}
	ja := fmt.Sprintf("結果: OK %d, WARN %d, NG %d, SKIP %d", counts[OK], counts[Warn], counts[NG], counts[Skip])
	en := fmt.Sprintf("result: OK %d, WARN %d, NG %d, SKIP %d", counts[OK], counts[Warn], counts[NG], counts[Skip])
	if r.Blocked() {
		ja += " — 本番では動きません(NG の行を直してください)"
		en += " — not ready for production (fix the NG lines)"
	} else {
		ja += " — 本番で動きます"
		en += " — ready"
	}
	switch lang {
	case LangJA:
		b.WriteString(ja + "\n")
	case LangEN:
		b.WriteString(en + "\n")
	default:
		b.WriteString(ja + " / " + en + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) scrub(s string) string {
	for _, secret := range r.secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// Options are what the environment does not say. The zero value is
// production.
type Options struct {
	// Timeout bounds each check (zero: DefaultTimeout).
	Timeout time.Duration
	// HTTPClient carries the token, OpenID and Graph requests; nil: a
	// client of its own (closed after the run).
	HTTPClient *http.Client
	// GraphCredential makes the Graph credential of the configuration; nil:
	// graph.NewCredential, as the bot does.
	GraphCredential func(graph.CredentialConfig) (azcore.TokenCredential, error)
	// KeyPrefix replaces the store's "mfabot:" before every Redis key,
	// as app.Options.KeyPrefix does (tests sharing one Redis).
	KeyPrefix string
	// ManifestPath, when set, is a Teams app package (app.zip) whose bot
	// id is checked; otherwise the package is built from MicrosoftAppId and
	// BOT_DOMAIN as `mfabot manifest` would.
	ManifestPath string
}

// Run checks the deployment getenv describes and returns the report. It
// never fails as a whole: each problem is a line of the report.
func Run(ctx context.Context, getenv func(string) string, opts Options) *Report {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		defer tr.CloseIdleConnections()
		opts.HTTPClient = &http.Client{Transport: tr}
	}
	if opts.GraphCredential == nil {
		opts.GraphCredential = graph.NewCredential
	}
	rep := &Report{}
	cfg, err := config.Load(getenv)
	rep.secrets = secretsOf(cfg, getenv)
	if err != nil {
		rep.Results = append(rep.Results, Result{Name: "config", Status: NG,
			JA: "設定が読めません: " + err.Error(),
			EN: "the configuration does not parse: " + err.Error()})
		return rep
	}
	d := &doctor{cfg: cfg, getenv: getenv, opts: opts}
	rep.Results = append(rep.Results, d.configResult())
	// The bot's own assembly (no network I/O) finds what the configuration
	// alone does not (STEPS_FILE, the Graph credential, HELPDESK_WEBHOOK_URL)
	// and gives the Redis client exactly as the bot makes it.
	bot, err := app.New(cfg, app.Options{KeyPrefix: opts.KeyPrefix})
	if err != nil {
		rep.Results = append(rep.Results, Result{Name: "config", Status: NG,
			JA: "ボットを組み立てられません: " + err.Error(),
			EN: "the bot cannot be assembled: " + err.Error()})
	} else {
		defer bot.Close()
		d.rdb = bot.Redis()
	}

	// The independent checks run at once; each is bounded by its own
	// timeout. The report keeps the order of this list.
	checks := []func(context.Context) []Result{
		d.botToken,
		d.openID,
		d.graph,
		d.redis,
		d.manifest,
	}
	out := make([][]Result, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		wg.Go(func() { out[i] = check(ctx) })
	}
	wg.Wait()
	for _, rs := range out {
		rep.Results = append(rep.Results, rs...)
	}
	return rep
}

// doctor is one run's configuration and options.
type doctor struct {
	cfg    config.Config
	getenv func(string) string
	opts   Options
	rdb    redisstore.Client // nil when the bot cannot be assembled
}

// within runs fn under the check timeout.
func (d *doctor) within(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	err := fn(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", d.opts.Timeout)
	}
	return err
}

func (d *doctor) configResult() Result {
	mode := "Azure"
	if d.cfg.LocalMode {
		mode = "local (no MicrosoftAppId)"
	}
	return Result{Name: "config", Status: OK,
		JA: fmt.Sprintf("設定を読めました(モード: %s, Graph: %s)", mode, d.graphModeName()),
		EN: fmt.Sprintf("the configuration parses (mode: %s, Graph: %s)", mode, d.graphModeName())}
}

func (d *doctor) graphModeName() string {
	switch d.cfg.GraphMode {
	case config.GraphModeSandbox:
		return "sandbox"
	case config.GraphModeAnonymous:
		return "anonymous loopback " + d.cfg.GraphBaseURL
	}
	return d.cfg.GraphBaseURL + ", credential " + d.cfg.GraphCredential.Kind
}

// secretsOf lists the configured secret values, to scrub from the report.
func secretsOf(cfg config.Config, getenv func(string) string) []string {
	var out []string
	for _, v := range []string{
		getenv("MicrosoftAppPassword"), getenv("GRAPH_CLIENT_SECRET"), getenv("GRAPH_CERTIFICATE_PASSWORD"),
		getenv("IDENTITY_HEADER"), getenv("HELPDESK_WEBHOOK_SECRET"),
		string(cfg.AppPassword), string(cfg.GraphCredential.ClientSecret), string(cfg.MSIHeader),
	} {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	if u, err := url.Parse(strings.TrimSpace(getenv("REDIS_URL"))); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			out = append(out, pw, url.QueryEscape(pw))
		} else if name := u.User.Username(); name != "" {
			out = append(out, name)
		}
	}
	return out
}
