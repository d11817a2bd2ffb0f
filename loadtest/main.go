package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	users := fs.String("users", "64", "user counts to run, comma-separated (e.g. 1,16,64,256)")
	duration := fs.Duration("duration", 20*time.Second, "measured time per user count")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured time before the measured window")
	turns := fs.Int("turns", 0, "if > 0: turns per user count instead of -duration")
	botBin := fs.String("bot-bin", "", "the bot binary (default: go build -o <tmp>/mfabot . from the module root)")
	release := fs.Bool("release", false, `build the bot as scripts/build.sh does (CGO_ENABLED=0 -trimpath -ldflags "-s -w")`)
	redisURL := fs.String("redis-url", "", "an existing loopback Redis to use (default: start a dedicated redis-server)")
	seed := fs.Int("seed-dialogs", 0, "store this many dialogs through the bot, then run every user count again")
	seedWorkers := fs.Int("seed-workers", 32, "concurrent requests while seeding")
	pprofAddr := fs.String("pprof-addr", "", "the bot's net/http/pprof listener (127.0.0.1:PORT), if it has one")
	cpuProfile := fs.String("cpuprofile", "", "with -pprof-addr: write the CPU profile of each measured window here")
	timeout := fs.Duration("timeout", 15*time.Minute, "hard limit for the whole run")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var botEnv listFlag
	fs.Var(&botEnv, "bot-env", "extra KEY=VALUE for the bot's environment (repeatable)")
	sweepUsers := fs.Int("sweep-users", 0, "if > 0: measure the tenant sweep of this many sandbox users instead of turns")
	sweepReplicas := fs.String("sweep-replicas", "1,3", "with -sweep-users: replica counts, comma-separated")
	sweepEvery := fs.Int("sweep-two-phones-every", 33, "with -sweep-users: one user in this many has two phones")
	sweepThrottle := fs.Float64("sweep-throttle", 2000, "with -sweep-users: the sandbox's Graph budget, requests per second")
	sweepRate := fs.Int("sweep-graph-rate", 2000, "with -sweep-users: SWEEP_GRAPH_RATE of the sweep processes")
	sweepKill := fs.Bool("sweep-kill", false, "with -sweep-users: kill (SIGKILL) the last replica once a fifth of the users are read")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *sweepUsers > 0 {
		sc := SweepConfig{Users: *sweepUsers, TwoPhonesEvery: *sweepEvery, ThrottleRPS: *sweepThrottle,
			ThrottleBurst: int(*sweepThrottle / 10), GraphRate: *sweepRate, BotBin: *botBin, Timeout: *timeout,
			KillOne: *sweepKill, Env: botEnv}
		for _, f := range strings.Split(*sweepReplicas, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				fmt.Fprintf(stderr, "loadtest: -sweep-replicas: %q is not a positive number\n", f)
				return 2
			}
			sc.Replicas = append(sc.Replicas, n)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		if err := sweepMain(ctx, sc, *release, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "loadtest: %v\n", err)
			return 1
		}
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadtest: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg := Config{
		Duration: *duration, Warmup: *warmup, Turns: *turns, BotBin: *botBin, Release: *release,
		RedisURL: *redisURL, SeedDialogs: *seed, SeedWorkers: *seedWorkers, BotEnv: botEnv,
		PprofAddr: *pprofAddr, CPUProfile: *cpuProfile, Timeout: *timeout, Progress: stderr,
	}
	for _, f := range strings.Split(*users, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "loadtest: -users: %q is not a positive number\n", f)
			return 2
		}
		cfg.Users = append(cfg.Users, n)
	}
	for _, kv := range botEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			fmt.Fprintf(stderr, "loadtest: -bot-env %q is not KEY=VALUE\n", kv)
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, cfg)
	if rep != nil && (err == nil || len(rep.Levels) > 0) {
		if rep.Targets == nil {
			rep.Targets = targets(rep)
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(rep)
		} else {
			writeMarkdown(stdout, rep)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 1
	}
	for _, lv := range rep.Levels {
		if lv.Errors > 0 {
			fmt.Fprintln(stderr, "loadtest: some turns failed; see the report")
			return 1
		}
	}
	return 0
}

// Targets of tracker issue 8 (2 cores, everything on loopback). Sizes are
// binary: MiB and KiB.
const (
	targetTurnsPerSec = 3000
	targetP99At64     = 25.0 // ms
	targetP99At1      = 2.0  // ms
	targetRSSMB       = 60.0
	targetRedisPerDlg = 2048 // bytes
	targetReadyMs     = 1000
	targetBinaryMB    = 20.0
	rssUnaffectedPct  = 10.0 // seeded peak RSS within this much of the unseeded one
)

func findLevel(rep *Report, users int, seeded bool) *Level {
	for i := range rep.Levels {
		if lv := &rep.Levels[i]; lv.Users == users && (lv.StoredDialogs > 0) == seeded {
			return lv
		}
	}
	return nil
}

func met(ok bool) *bool { return &ok }

func targets(rep *Report) []Target {
	var ts []Target
	add := func(name, measured string, ok *bool, note string) {
		ts = append(ts, Target{Name: name, Measured: measured, Met: ok, Note: note})
	}
	missBy := func(got, want float64, higherIsBetter bool) string {
		if higherIsBetter && got < want {
			return fmt.Sprintf("short by %.0f%%", 100*(want-got)/want)
		}
		if !higherIsBetter && got > want {
			return fmt.Sprintf("over by %.0f%%", 100*(got-want)/want)
		}
		return ""
	}
	if lv := findLevel(rep, 64, false); lv != nil {
		add("≥ 3,000 turns/s at 64 users (JWT verification and Redis on)", fmt.Sprintf("%.0f turns/s", lv.TurnsPerSec),
			met(lv.TurnsPerSec >= targetTurnsPerSec), missBy(lv.TurnsPerSec, targetTurnsPerSec, true))
		add("p99 ≤ 25 ms at 64 users", fmt.Sprintf("%.2f ms", lv.Latency.P99),
			met(lv.Latency.P99 <= targetP99At64), missBy(lv.Latency.P99, targetP99At64, false))
	} else {
		add("≥ 3,000 turns/s at 64 users (JWT verification and Redis on)", "not run (needs -users 64)", nil, "")
		add("p99 ≤ 25 ms at 64 users", "not run (needs -users 64)", nil, "")
	}
	if lv := findLevel(rep, 1, false); lv != nil {
		add("p99 ≤ 2 ms at 1 user", fmt.Sprintf("%.2f ms", lv.Latency.P99),
			met(lv.Latency.P99 <= targetP99At1), missBy(lv.Latency.P99, targetP99At1, false))
	} else {
		add("p99 ≤ 2 ms at 1 user", "not run (needs -users 1)", nil, "")
	}
	if lv := findLevel(rep, 64, false); lv != nil {
		add("bot peak RSS ≤ 60 MiB at 64 users", fmt.Sprintf("%.1f MiB (VmHWM)", lv.PeakRSSMB),
			met(lv.PeakRSSMB <= targetRSSMB), missBy(lv.PeakRSSMB, targetRSSMB, false))
	} else {
		add("bot peak RSS ≤ 60 MiB at 64 users", "not run (needs -users 64)", nil, "")
	}
	if rep.Seed != nil {
		worst, note := 0.0, ""
		compared := 0
		for _, lv := range rep.Levels {
			if lv.StoredDialogs == 0 {
				continue
			}
			base := findLevel(rep, lv.Users, false)
			if base == nil || base.PeakRSSMB == 0 {
				continue
			}
			compared++
			d := 100 * (lv.PeakRSSMB - base.PeakRSSMB) / base.PeakRSSMB
			if compared == 1 || d > worst {
				worst = d
				note = fmt.Sprintf("%d users: %.1f MiB with %d stored dialogs vs %.1f MiB without", lv.Users, lv.PeakRSSMB, lv.StoredDialogs, base.PeakRSSMB)
			}
		}
		name := fmt.Sprintf("peak RSS unaffected by %d stored dialogs (within %.0f%%)", rep.Seed.Dialogs, rssUnaffectedPct)
		if compared > 0 {
			add(name, fmt.Sprintf("%+.1f%% at worst", worst), met(worst <= rssUnaffectedPct), note)
		}
		add("≤ 2 KiB of Redis per stored dialog", fmt.Sprintf("%.0f bytes (used_memory delta ÷ %d)", rep.Seed.BytesPerDialog, rep.Seed.Dialogs),
			met(rep.Seed.BytesPerDialog <= targetRedisPerDlg), missBy(rep.Seed.BytesPerDialog, targetRedisPerDlg, false))
	} else {
		add("peak RSS unaffected by 100,000 stored dialogs", "not run (needs -seed-dialogs 100000)", nil, "")
		add("≤ 2 KiB of Redis per stored dialog", "not run (needs -seed-dialogs)", nil, "")
	}
	if len(rep.Levels) > 0 {
		worst := 0.0
		for _, lv := range rep.Levels {
			worst = max(worst, lv.ReadyMs)
		}
		add("ready < 1 s (process start → first 200 from /readyz)", fmt.Sprintf("%.0f ms (slowest of %d starts)", worst, len(rep.Levels)),
			met(worst < targetReadyMs), missBy(worst, targetReadyMs, false))
	}
	mb := float64(rep.Binary.Bytes) / (1 << 20)
	how := "given with -bot-bin"
	if rep.Binary.Built != "" {
		how = rep.Binary.Built
	}
	add("binary ≤ 20 MiB", fmt.Sprintf("%.1f MiB (%s bytes; %s)", mb, group(rep.Binary.Bytes), how),
		met(mb <= targetBinaryMB), missBy(mb, targetBinaryMB, false))
	errs := 0
	for _, lv := range rep.Levels {
		errs += lv.Errors
	}
	add("no errors", fmt.Sprintf("%d", errs), met(errs == 0), "")
	return ts
}

func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func writeMarkdown(w io.Writer, rep *Report) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("## mfabot load test, %s", rep.Started.Format("2006-01-02 15:04 MST"))
	p("")
	p("- machine: %d CPUs, %s; the load generator (%s) shares them with the bot and Redis", rep.Machine.CPUs, rep.Machine.OS, rep.Machine.GoVersion)
	built := "given with -bot-bin"
	if rep.Binary.Built != "" {
		built = fmt.Sprintf("`%s`, %.1f s", rep.Binary.Built, rep.Binary.BuildSeconds)
	}
	rev := "commit unknown"
	if rep.Binary.Revision != "" {
		rev = "commit " + rep.Binary.Revision[:min(12, len(rep.Binary.Revision))]
		if rep.Binary.Modified {
			rev += " plus uncommitted changes"
		}
	}
	p("- bot binary: %.1f MiB (%s bytes; %s; %s)", float64(rep.Binary.Bytes)/(1<<20), group(rep.Binary.Bytes), built, rev)
	p("- Redis: %s", rep.Redis)
	if rep.Turns > 0 {
		p("- each user count: a fresh bot process, %d turns, closed-loop users with no think time", rep.Turns)
	} else {
		p("- each user count: a fresh bot process, %s warm-up then %s measured, closed-loop users with no think time", rep.Warmup, rep.Duration)
	}
	p("- Azure mode, inbound RS256 verification on (one token per user, reused), outbound token from the stand-in, Graph through the sandbox")
	p("")
	p("| users | stored dialogs | turns/s | p50 ms | p95 ms | p99 ms | max ms | errors | procedures | peak RSS MiB | CPU cores: bot / load gen / Redis / other processes | bot CPU µs/turn | ready ms |")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, lv := range rep.Levels {
		p("| %d | %s | %.0f | %.2f | %.2f | %.2f | %.1f | %d | %d | %.1f | %.2f / %.2f / %.2f / %.2f | %.0f | %.0f |",
			lv.Users, group(int64(lv.StoredDialogs)), lv.TurnsPerSec, lv.Latency.P50, lv.Latency.P95, lv.Latency.P99, lv.Latency.Max,
			lv.Errors, lv.Procedures, lv.PeakRSSMB, lv.BotCPU, lv.LoadGenCPU, lv.RedisCPU, lv.OtherCPU, lv.BotCPUPerTurn, lv.ReadyMs)
	}
	p("")
	p("")
	p("\"other processes\" is CPU the rest of the machine used during the window (/proc/stat minus the three): a busy neighbour makes the numbers worse than the bot is. Without neighbours the CPU-bound ceilings would be (%d cores ÷ CPU time per turn):", rep.Machine.CPUs)
	p("")
	p("| users | stored | ceiling turns/s: bot + load gen + Redis on these cores | ceiling turns/s: bot alone on these cores |")
	p("|---:|---:|---:|---:|")
	for _, lv := range rep.Levels {
		p("| %d | %s | %.0f | %.0f |", lv.Users, group(int64(lv.StoredDialogs)), lv.CeilingAll, lv.CeilingBot)
	}
	p("")
	p("By turn kind (message: スマホ交換, latency to the reply's arrival at the connector; invoke: 次へ, latency to the HTTP answer), and what the bot did per user count:")
	p("")
	p("| users | stored | message p50 / p99 ms | invoke p50 / p99 ms | Graph calls | new TCP conns bot→Graph | new TCP conns bot→connector | token requests | bot log warn / error | Redis commands per turn |")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, lv := range rep.Levels {
		p("| %d | %s | %.2f / %.2f | %.2f / %.2f | %d | %d | %d | %d | %d / %d | %.1f (%s) |",
			lv.Users, group(int64(lv.StoredDialogs)), lv.Message.P50, lv.Message.P99, lv.Invoke.P50, lv.Invoke.P99,
			lv.GraphCalls, lv.GraphConns, lv.ConnectorConns, lv.TokenRequests, lv.BotLogWarn, lv.BotLogError, lv.RedisCmdsTurn, lv.RedisCmds)
	}
	if s := rep.Seed; s != nil {
		p("")
		p("Seeding: %s dialogs stored through the bot (one signed スマホ交換 turn per user) in %.1f s (%.0f turns/s, %d errors).", group(int64(s.Dialogs)), s.Seconds, s.TurnsPerSec, s.Errors)
		p("Redis used_memory %s → %s bytes, keys %s → %s: **%.0f bytes per stored dialog**, counting everything the bot writes for a user who starts the procedure (dialog hash, conversation reference, queued reminder, and the duplicate-check key of the activity, which expires after an hour).",
			group(s.UsedBefore), group(s.UsedAfter), group(s.KeysBefore), group(s.KeysAfter), s.BytesPerDialog)
		kb := func(k *KeyBytes) string {
			if k == nil {
				return "n/a"
			}
			return fmt.Sprintf("%.0f bytes avg, %d max (%d keys)", k.Avg, k.Max, k.Keys)
		}
		p("MEMORY USAGE of single keys: dialog %s; conversation reference %s; duplicate-check key %s.", kb(s.DialogKey), kb(s.ReferenceKey), kb(s.DedupeKey))
		p("The seeding bot itself: peak RSS %.1f MiB, %.1f MiB at the end.", s.BotPeakRSSMB, s.BotEndRSSMB)
	}
	p("")
	p("MEMORY USAGE of the dialog keys of the users above at the end of each run (they went through the whole procedure repeatedly; a dialog restarts at each スマホ交換):")
	p("")
	for _, lv := range rep.Levels {
		if k := lv.DialogBytes; k != nil {
			p("- %d users, %s stored: %.0f bytes avg, %d max (%d keys)", lv.Users, group(int64(lv.StoredDialogs)), k.Avg, k.Max, k.Keys)
		}
	}
	p("")
	p("### Targets")
	p("")
	p("| target | measured | result |")
	p("|---|---|---|")
	for _, t := range rep.Targets {
		res := "not measured"
		if t.Met != nil {
			res = "met"
			if !*t.Met {
				res = "**MISSED**"
			}
		}
		if t.Note != "" {
			res += " (" + t.Note + ")"
		}
		p("| %s | %s | %s |", t.Name, t.Measured, res)
	}
	for _, lv := range rep.Levels {
		if lv.Errors == 0 && len(lv.BotLogLines) == 0 && !strings.Contains(lv.BotExit, "killed") {
			continue
		}
		p("")
		p("### %d users, %s stored: errors and bot log", lv.Users, group(int64(lv.StoredDialogs)))
		p("")
		p("- errors by kind: %v", lv.ErrorKinds)
		for _, s := range lv.ErrorSamples {
			p("- `%s`", s)
		}
		for _, l := range lv.BotLogLines {
			p("- bot: `%s`", l)
		}
		p("- bot exit: %s", lv.BotExit)
	}
	for _, lv := range rep.Levels {
		if lv.Profile != "" {
			p("")
			p("CPU profile of the %d-user window: %s (heap: %s.heap); `go tool pprof -top %s`", lv.Users, lv.Profile, lv.Profile, lv.Profile)
		}
	}
}
