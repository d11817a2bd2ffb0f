package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/loopback"
)

// botKeyPrefix is the prefix of every key the bot writes (redisstore's default).
const botKeyPrefix = "mfabot:"

// Config is one invocation of the tool.
type Config struct {
	Users       []int         // user counts, one bot process each
	Duration    time.Duration // measured time per user count
	Warmup      time.Duration // unmeasured time before it
	Turns       int           // if > 0: turns per user count instead of Duration
	BotBin      string        // the bot binary; empty: build it
	Release     bool          // build it as scripts/build.sh does
	RedisURL    string        // an existing Redis; empty: start a redis-server
	SeedDialogs int           // dialogs stored through the bot between two passes
	SeedWorkers int           // concurrent seeding requests
	BotEnv      []string      // extra KEY=VALUE for the bot
	PprofAddr   string        // the bot's net/http/pprof listener, if any
	CPUProfile  string        // where to write CPU profiles (needs PprofAddr)
	Timeout     time.Duration // hard limit for the whole run
	Progress    io.Writer     // progress lines; nil: none
}

// Report is what a run measured.
type Report struct {
	Started  time.Time `json:"started"`
	Machine  Machine   `json:"machine"`
	Binary   Binary    `json:"binary"`
	Redis    string    `json:"redis"`
	Duration string    `json:"duration,omitempty"`
	Warmup   string    `json:"warmup,omitempty"`
	Turns    int       `json:"turns,omitempty"`
	Seed     *Seed     `json:"seed,omitempty"`
	Levels   []Level   `json:"levels"`
	Targets  []Target  `json:"targets"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	OS        string `json:"os"`
	GoVersion string `json:"go_version"`
}

// Binary is the bot binary measured.
type Binary struct {
	Path         string  `json:"path"`
	Bytes        int64   `json:"bytes"`
	Built        string  `json:"built,omitempty"` // the build command, when the tool built it
	BuildSeconds float64 `json:"build_seconds,omitempty"`
	Revision     string  `json:"vcs_revision,omitempty"` // from the binary's build info
	Modified     bool    `json:"vcs_modified,omitempty"` // built from a tree with uncommitted changes
}

// stampVCS adds the commit the binary was built from, if Go recorded it.
func (b *Binary) stampVCS() {
	info, err := buildinfo.ReadFile(b.Path)
	if err != nil {
		return
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
}

// Latency summarises turn latencies, in milliseconds.
type Latency struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
}

// Level is one user count against one bot process.
type Level struct {
	Users          int            `json:"users"`
	StoredDialogs  int            `json:"stored_dialogs"` // seeded dialogs in Redis
	Seconds        float64        `json:"seconds"`        // the measured window
	Turns          int            `json:"turns"`          // turns completed in it
	TurnsPerSec    float64        `json:"turns_per_sec"`
	Latency        Latency        `json:"latency"`
	Message        Latency        `json:"message_latency"`
	Invoke         Latency        `json:"invoke_latency"`
	Errors         int            `json:"errors"` // all turns of the level, warm-up included
	ErrorKinds     map[string]int `json:"error_kinds,omitempty"`
	ErrorSamples   []string       `json:"error_samples,omitempty"`
	AllTurns       int            `json:"all_turns"` // warm-up included
	Procedures     int            `json:"procedures"`
	UsersCompleted int            `json:"users_completed"` // users with at least one whole procedure
	ReadyMs        float64        `json:"ready_ms"`
	PeakRSSMB      float64        `json:"peak_rss_mb"`   // VmHWM
	MaxRSSMB       float64        `json:"max_rss_mb"`    // largest VmRSS polled
	EndRSSMB       float64        `json:"end_rss_mb"`    // VmRSS when the load stopped
	BotCPU         float64        `json:"bot_cpu_cores"` // average cores used in the window
	LoadGenCPU     float64        `json:"loadgen_cpu_cores"`
	RedisCPU       float64        `json:"redis_cpu_cores,omitempty"`
	OtherCPU       float64        `json:"other_cpu_cores"` // the rest of the machine: other processes
	// Ceilings if the run had the machine's cores to itself: cores ÷ CPU
	// per turn of the bot, load generator and Redis together, and of the
	// bot alone (load generator and Redis elsewhere).
	CeilingAll     float64   `json:"ceiling_turns_per_sec"`
	CeilingBot     float64   `json:"ceiling_bot_only_turns_per_sec"`
	RedisCmdsTurn  float64   `json:"redis_commands_per_turn,omitempty"`
	RedisCmds      string    `json:"redis_commands,omitempty"` // per turn, by command
	BotCPUPerTurn  float64   `json:"bot_cpu_us_per_turn"`
	TokenRequests  int64     `json:"token_requests"`
	KeyFetches     int64     `json:"key_fetches"`
	ConnectorConns int64     `json:"connector_new_conns"` // TCP connections the bot opened to the connector
	GraphConns     int64     `json:"graph_new_conns"`     // … and to Graph
	GraphCalls     int64     `json:"graph_calls"`
	DialogBytes    *KeyBytes `json:"dialog_key_bytes,omitempty"` // MEMORY USAGE of these users' dialogs at the end
	BotLogWarn     int       `json:"bot_log_warn"`
	BotLogError    int       `json:"bot_log_error"`
	BotLogLines    []string  `json:"bot_log_lines,omitempty"`
	BotExit        string    `json:"bot_exit"`
	Profile        string    `json:"cpu_profile,omitempty"`
}

// KeyBytes is MEMORY USAGE over a sample of keys.
type KeyBytes struct {
	Keys int     `json:"keys"`
	Avg  float64 `json:"avg"`
	Max  int64   `json:"max"`
}

// Seed is what storing dialogs through the bot cost Redis.
type Seed struct {
	Dialogs        int       `json:"dialogs"`
	Errors         int       `json:"errors"`
	Seconds        float64   `json:"seconds"`
	TurnsPerSec    float64   `json:"turns_per_sec"`
	UsedBefore     int64     `json:"used_memory_before"`
	UsedAfter      int64     `json:"used_memory_after"`
	KeysBefore     int64     `json:"keys_before"`
	KeysAfter      int64     `json:"keys_after"`
	BytesPerDialog float64   `json:"bytes_per_dialog"` // (after − before) ÷ dialogs
	DialogKey      *KeyBytes `json:"dialog_key,omitempty"`
	ReferenceKey   *KeyBytes `json:"reference_key,omitempty"`
	DedupeKey      *KeyBytes `json:"dedupe_key,omitempty"`
	BotPeakRSSMB   float64   `json:"seeding_bot_peak_rss_mb"`
	BotEndRSSMB    float64   `json:"seeding_bot_end_rss_mb"`
}

// Target is one goal checked against the measurements.
type Target struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Met      *bool  `json:"met"` // nil: not measured in this run
	Note     string `json:"note,omitempty"`
}

// env is everything a run starts once: Redis, the stand-ins, the binary.
type env struct {
	cfg      Config
	dir      string
	bin      string
	redis    *redisServer // nil with -redis-url
	rdb      *redis.Client
	redisURL string
	login    *login
	conn     *connector
	sb       *sandbox.Sandbox
	graph    *server
	graphReq atomic.Int64
	appID    string
	tenant   string
	runID    string
}

func (e *env) progress(format string, args ...any) {
	if e.cfg.Progress != nil {
		fmt.Fprintf(e.cfg.Progress, "loadtest: "+format+"\n", args...)
	}
}

// Run sets everything up, runs every user count and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.Users) == 0 {
		return nil, errors.New("no user counts")
	}
	for _, n := range cfg.Users {
		if n < 1 {
			return nil, fmt.Errorf("user count %d is not positive", n)
		}
	}
	if cfg.Turns <= 0 && cfg.Duration <= 0 {
		return nil, errors.New("give a positive duration or turn count")
	}
	if cfg.SeedWorkers <= 0 {
		cfg.SeedWorkers = 32
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Minute
	}
	if cfg.CPUProfile != "" && cfg.PprofAddr == "" {
		return nil, errors.New("a CPU profile needs the address of the bot's pprof listener (-pprof-addr)")
	}
	if cfg.PprofAddr != "" && !strings.HasPrefix(cfg.PprofAddr, "127.0.0.1:") && !strings.HasPrefix(cfg.PprofAddr, "localhost:") {
		return nil, errors.New("the pprof address must be on loopback (127.0.0.1:PORT)")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	rep := &Report{
		Started: time.Now(),
		Machine: Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, GoVersion: runtime.Version()},
	}
	if cfg.Turns > 0 {
		rep.Turns = cfg.Turns
	} else {
		rep.Duration, rep.Warmup = cfg.Duration.String(), cfg.Warmup.String()
	}

	e := &env{cfg: cfg, appID: newGUID(), tenant: newGUID(), runID: randHex(4)}
	var err error
	if e.dir, err = os.MkdirTemp("", "mfabot-loadtest-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(e.dir)

	if rep.Binary, err = e.binary(ctx); err != nil {
		return nil, err
	}
	rep.Binary.stampVCS()
	if err := e.startRedis(ctx, rep); err != nil {
		return nil, err
	}
	defer e.closeRedis()
	if err := e.startStandIns(); err != nil {
		return nil, err
	}
	defer e.closeStandIns()

	passes := []int{0}
	if cfg.SeedDialogs > 0 {
		passes = append(passes, cfg.SeedDialogs)
	}
	for _, stored := range passes {
		if stored > 0 {
			if rep.Seed, err = e.seed(ctx, stored); err != nil {
				return rep, err
			}
		}
		for _, users := range cfg.Users {
			e.progress("%d users (%d stored dialogs): starting the bot", users, stored)
			lv, err := e.runLevel(ctx, users, stored, len(rep.Levels))
			if err != nil {
				return rep, fmt.Errorf("%d users: %w", users, err)
			}
			e.progress("%d users: %.0f turns/s, p99 %.2f ms, %d errors, peak RSS %.1f MB", users, lv.TurnsPerSec, lv.Latency.P99, lv.Errors, lv.PeakRSSMB)
			rep.Levels = append(rep.Levels, lv)
		}
	}
	rep.Targets = targets(rep)
	return rep, nil
}

// binary builds the bot unless a binary was given.
func (e *env) binary(ctx context.Context) (Binary, error) {
	if e.cfg.BotBin != "" {
		abs, err := filepath.Abs(e.cfg.BotBin)
		if err != nil {
			return Binary{}, err
		}
		st, err := os.Stat(abs)
		if err != nil {
			return Binary{}, fmt.Errorf("bot binary: %w", err)
		}
		e.bin = abs
		return Binary{Path: abs, Bytes: st.Size()}, nil
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return Binary{}, fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return Binary{}, errors.New("not inside the bot's module: run the tool from the repository, or give -bot-bin")
	}
	root := filepath.Dir(gomod)
	e.bin = filepath.Join(e.dir, "mfabot")
	args := []string{"build", "-o", e.bin, "."}
	envv := os.Environ()
	shown := "go build -o <tmp>/mfabot ."
	if e.cfg.Release {
		args = []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", e.bin, "."}
		envv = append(envv, "CGO_ENABLED=0")
		shown = `CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o <tmp>/mfabot .`
	}
	e.progress("building the bot: %s (in %s)", shown, root)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = root, envv
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binary{}, fmt.Errorf("%s: %w\n%s", shown, err, out)
	}
	st, err := os.Stat(e.bin)
	if err != nil {
		return Binary{}, err
	}
	return Binary{Path: e.bin, Bytes: st.Size(), Built: shown, BuildSeconds: time.Since(start).Seconds()}, nil
}

func (e *env) startRedis(ctx context.Context, rep *Report) error {
	if e.cfg.RedisURL != "" {
		opt, err := redis.ParseURL(e.cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("-redis-url: %w", err)
		}
		if !loopback.HostPort(opt.Addr) {
			return errors.New("-redis-url must name a loopback Redis")
		}
		e.rdb = redis.NewClient(opt)
		e.redisURL = e.cfg.RedisURL
		rep.Redis = fmt.Sprintf("existing Redis %s db %d (keys of this run deleted afterwards)", opt.Addr, opt.DB)
	} else {
		r, err := startRedis(ctx, e.dir)
		if err != nil {
			return err
		}
		e.redis = r
		e.rdb = redis.NewClient(&redis.Options{Addr: r.addr})
		e.redisURL = "redis://" + r.addr
		rep.Redis = "dedicated redis-server on " + r.addr + " (--save '' --appendonly no)"
	}
	info, err := e.rdb.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if v := infoField(info, "redis_version"); v != "" {
		rep.Redis += ", version " + v
	}
	return nil
}

func (e *env) closeRedis() {
	if e.redis == nil && e.rdb != nil {
		e.cleanSharedRedis()
	}
	if e.rdb != nil {
		e.rdb.Close()
	}
	if e.redis != nil {
		e.redis.stop()
	}
}

// cleanSharedRedis deletes what this run stored in a Redis it did not start:
// its tenant's keys, its conversations' duplicate-check keys and its
// tenant's reminders. Nothing else is touched.
func (e *env) cleanSharedRedis() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	del := func(match string) {
		iter := e.rdb.Scan(ctx, 0, match, 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == 500 {
				e.rdb.Unlink(ctx, batch...)
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			e.rdb.Unlink(ctx, batch...)
		}
	}
	del(botKeyPrefix + "{t:" + e.tenant + ":*")
	del(botKeyPrefix + "seen:a:1lt" + e.runID + "*")
	del(botKeyPrefix + "seen:a:1seed" + e.runID + "*")
	for n := range 16 {
		key := botKeyPrefix + "{rem:" + strconv.Itoa(n) + "}:due"
		iter := e.rdb.ZScan(ctx, key, 0, e.tenant+"|*", 1000).Iterator()
		var members []any
		for i := 0; iter.Next(ctx); i++ {
			if i%2 == 0 { // ZSCAN yields member, score, member, score…
				members = append(members, iter.Val())
			}
		}
		if len(members) > 0 {
			e.rdb.ZRem(ctx, key, members...)
		}
	}
}

func (e *env) startStandIns() error {
	var err error
	if e.login, err = newLogin(e.appID, "lt-secret-"+randHex(16), e.tenant); err != nil {
		return err
	}
	if e.conn, err = newConnector(e.login.token, e.tenant); err != nil {
		return err
	}
	e.sb = sandbox.New(sandbox.Options{})
	h := e.sb.Handler()
	e.graph, err = startServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.graphReq.Add(1)
		h.ServeHTTP(w, r)
	}))
	return err
}

func (e *env) closeStandIns() {
	if e.graph != nil {
		e.graph.close()
	}
	if e.conn != nil {
		e.conn.close()
	}
	if e.login != nil {
		e.login.close()
	}
}

// botEnv is the bot's whole environment: Azure mode with inbound JWT
// verification against the stand-ins. Nothing else of this process's
// environment is passed on but PATH, HOME and the Go runtime's knobs.
func (e *env) botEnv() []string {
	var out []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG", "GOTRACEBACK"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	out = append(out,
		"MicrosoftAppId="+e.appID,
		"MicrosoftAppPassword="+e.login.secret,
		"MicrosoftAppTenantId="+e.tenant,
		"MicrosoftAppType=SingleTenant",
		"ToBotFromChannelOpenIdMetadataUrl="+e.login.metadataURL(),
		"ToBotFromChannelTokenIssuer="+botIssuer,
		"ToChannelFromBotLoginUrl="+e.login.authority(),
		"ALLOWED_SERVICE_URL_HOSTS=127.0.0.1",
		"ALLOWED_TENANTS="+e.tenant,
		"REDIS_URL="+e.redisURL,
		"GRAPH_BASE_URL="+e.sb.GraphBaseURL(e.graph.url),
		"GRAPH_CREDENTIAL=none",
		"REMINDER_HOURS=always",
		"LOG_LEVEL=warn",
		"BIND_HOST=127.0.0.1",
		// Presses as invokes, so that figures compare across versions;
		// -bot-env CARD_ACTIONS=submit measures the other style.
		"CARD_ACTIONS=execute",
	)
	return append(out, e.cfg.BotEnv...)
}

func (e *env) newClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns + 16
	t.MaxIdleConnsPerHost = conns + 16
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: 20 * time.Second}
}

// runLevel runs users against a fresh bot process.
func (e *env) runLevel(ctx context.Context, users, stored, levelNo int) (Level, error) {
	bot, err := startBot(ctx, e.bin, e.dir, e.botEnv())
	if err != nil {
		return Level{}, err
	}
	botStopped := false
	defer func() {
		if !botStopped {
			bot.kill()
		}
	}()
	out := Level{Users: users, StoredDialogs: stored, ReadyMs: float64(bot.ready.Microseconds()) / 1000}
	tok0, keys0 := e.login.tokenReqs.Load(), e.login.keyReqs.Load()
	conns0, gconns0, greq0 := e.conn.newConns.Load(), e.graph.newConns.Load(), e.graphReq.Load()

	lv := &level{
		botURL: bot.url, hc: e.newClient(users), sb: e.sb, conn: e.conn,
		tenant: e.tenant, appID: e.appID, byTurns: e.cfg.Turns > 0,
	}
	defer lv.hc.CloseIdleConnections()
	now := time.Now()
	us := make([]*simUser, users)
	for i := range us {
		tok, err := e.login.sign(e.conn.serviceURL, now)
		if err != nil {
			return out, err
		}
		us[i] = newSimUser(lv, i, "a:1lt"+e.runID+"L"+strconv.Itoa(levelNo)+"u", tok)
		us[i].samples = make([]sample, 0, 4096)
		e.conn.register(us[i].conv, us[i])
	}
	defer func() {
		for _, u := range us {
			e.conn.register(u.conv, nil)
		}
	}()

	start := time.Now()
	if lv.byTurns {
		lv.turnsLeft.Store(int64(e.cfg.Turns))
		lv.from, lv.to = start, start.Add(100*365*24*time.Hour)
	} else {
		lv.from = start.Add(e.cfg.Warmup)
		lv.to = lv.from.Add(e.cfg.Duration)
	}
	uctx, stopUsers := context.WithCancel(ctx)
	defer stopUsers()
	var wg sync.WaitGroup
	for _, u := range us {
		wg.Add(1)
		go func() { defer wg.Done(); u.run(uctx) }()
	}
	usersDone := make(chan struct{})
	go func() { wg.Wait(); close(usersDone) }()

	// The window's CPU readings, the profile, and the end of the run.
	type cpu struct {
		bot, self, redis, machine time.Duration
		cmds                      map[string]int64
	}
	read := func() cpu {
		c := cpu{self: selfCPU(), machine: machineCPU(), cmds: e.commandStats(ctx)}
		c.bot, _ = cpuTime(bot.pid())
		if e.redis != nil {
			c.redis, _ = cpuTime(e.redis.pid())
		}
		return c
	}
	var cpu0, cpu1 cpu
	var t0, t1 time.Time
	var profErr chan error
	var profPath string
	aborted := ""
	wait := func(until time.Time) bool {
		select {
		case <-time.After(time.Until(until)):
			return true
		case <-bot.done:
			aborted = "the bot exited during the run: " + bot.logs.all()
		case <-ctx.Done():
			aborted = "hard timeout: " + ctx.Err().Error()
		case <-usersDone:
			if lv.byTurns {
				return true
			}
			aborted = "every user stopped early"
		}
		return false
	}
	if lv.byTurns {
		cpu0, t0 = read(), start
		wait(lv.to)
		cpu1, t1 = read(), time.Now()
	} else if wait(lv.from) {
		cpu0, t0 = read(), time.Now()
		if e.cfg.PprofAddr != "" {
			profErr = make(chan error, 1)
			profPath = profileName(e.cfg.CPUProfile, users, stored, len(e.cfg.Users) > 1 || e.cfg.SeedDialogs > 0)
			go func() { profErr <- e.fetchProfile(ctx, profPath, e.cfg.Duration) }()
		}
		if wait(lv.to) {
			cpu1, t1 = read(), time.Now()
		}
	}
	lv.stop.Store(true)
	if aborted != "" {
		stopUsers()
	}
	<-usersDone
	if aborted != "" {
		return out, errors.New(aborted)
	}
	// Late replies that nobody asked for.
	time.Sleep(300 * time.Millisecond)
	for _, u := range us {
		u.drain()
	}
	if profErr != nil {
		if err := <-profErr; err != nil {
			e.progress("profile not taken: %v", err)
		} else {
			out.Profile = profPath
		}
	}

	hwm, maxRSS, rss := bot.memory()
	out.PeakRSSMB, out.MaxRSSMB, out.EndRSSMB = kbToMB(hwm), kbToMB(maxRSS), kbToMB(rss)
	out.DialogBytes = e.memoryUsage(ctx, us, func(u *simUser) string { return e.dialogKey(u.aad) })
	out.BotExit = bot.stop()
	botStopped = true
	out.BotLogWarn, out.BotLogError, _, out.BotLogLines = bot.logs.afterReady()

	// Turns and latencies.
	var all, msg, inv []time.Duration
	errKinds := map[string]int{}
	var lastDone time.Time
	for _, u := range us {
		for _, s := range u.samples {
			all = append(all, s.d)
			if s.kind == kindMessage {
				msg = append(msg, s.d)
			} else {
				inv = append(inv, s.d)
			}
		}
		out.AllTurns += u.turns
		out.Procedures += u.procedures
		if u.procedures > 0 {
			out.UsersCompleted++
		}
		for k, n := range u.errs {
			if n > 0 {
				errKinds[errKindNames[k]] += n
				out.Errors += n
			}
		}
		if len(out.ErrorSamples) < 20 {
			out.ErrorSamples = append(out.ErrorSamples, u.errSamples...)
		}
		if u.lastDone.After(lastDone) {
			lastDone = u.lastDone
		}
	}
	if lv.byTurns {
		t1 = lastDone
	}
	if n := e.conn.unauthorized.Load(); n > 0 {
		errKinds["connector_unauthorized"] = int(n)
		out.Errors += int(n)
	}
	if n := e.conn.overflow.Load(); n > 0 {
		errKinds["unexpected_message"] += int(n)
		out.Errors += int(n)
	}
	if len(errKinds) > 0 {
		out.ErrorKinds = errKinds
	}
	out.Turns = len(all)
	out.Seconds = t1.Sub(t0).Seconds()
	if out.Seconds > 0 {
		out.TurnsPerSec = float64(out.Turns) / out.Seconds
		out.BotCPU = (cpu1.bot - cpu0.bot).Seconds() / out.Seconds
		out.LoadGenCPU = (cpu1.self - cpu0.self).Seconds() / out.Seconds
		if e.redis != nil {
			out.RedisCPU = (cpu1.redis - cpu0.redis).Seconds() / out.Seconds
		}
		out.OtherCPU = max(0, (cpu1.machine-cpu0.machine).Seconds()/out.Seconds-out.BotCPU-out.LoadGenCPU-out.RedisCPU)
		cores := float64(runtime.NumCPU())
		if ours := out.BotCPU + out.LoadGenCPU + out.RedisCPU; ours > 0 && e.redis != nil {
			out.CeilingAll = cores * out.TurnsPerSec / ours
		}
		if out.BotCPU > 0 {
			out.CeilingBot = cores * out.TurnsPerSec / out.BotCPU
		}
	}
	if out.Turns > 0 {
		out.BotCPUPerTurn = float64((cpu1.bot - cpu0.bot).Microseconds()) / float64(out.Turns)
		out.RedisCmdsTurn, out.RedisCmds = perTurn(cpu0.cmds, cpu1.cmds, out.AllTurns, out.Turns, lv.byTurns)
	}
	out.Latency, out.Message, out.Invoke = summarize(all), summarize(msg), summarize(inv)
	out.TokenRequests = e.login.tokenReqs.Load() - tok0
	out.KeyFetches = e.login.keyReqs.Load() - keys0
	out.ConnectorConns = e.conn.newConns.Load() - conns0
	out.GraphConns = e.graph.newConns.Load() - gconns0
	out.GraphCalls = e.graphReq.Load() - greq0
	return out, nil
}

func profileName(base string, users, stored int, many bool) string {
	if !many {
		return base
	}
	ext := filepath.Ext(base)
	name := strings.TrimSuffix(base, ext) + "-" + strconv.Itoa(users) + "u"
	if stored > 0 {
		name += "-seeded"
	}
	return name + ext
}

// fetchProfile takes a CPU profile over d from the bot's pprof listener,
// then a heap profile.
func (e *env) fetchProfile(ctx context.Context, path string, d time.Duration) error {
	secs := max(1, int(d/time.Second))
	get := func(url, dst string, timeout time.Duration) error {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		f, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, resp.Body); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	base := "http://" + e.cfg.PprofAddr + "/debug/pprof/"
	if err := get(base+"profile?seconds="+strconv.Itoa(secs), path, d+30*time.Second); err != nil {
		return err
	}
	return get(base+"heap", path+".heap", 30*time.Second)
}

func (e *env) dialogKey(aad string) string {
	return botKeyPrefix + "{t:" + e.tenant + ":u:" + aad + "}:dialog"
}

// memoryUsage is MEMORY USAGE (all samples) over up to 200 users' keys.
func (e *env) memoryUsage(ctx context.Context, us []*simUser, key func(*simUser) string) *KeyBytes {
	var keys []string
	for _, u := range us {
		if len(keys) == 200 {
			break
		}
		keys = append(keys, key(u))
	}
	return e.keyBytes(ctx, keys)
}

func (e *env) keyBytes(ctx context.Context, keys []string) *KeyBytes {
	kb := &KeyBytes{}
	var sum int64
	for _, k := range keys {
		n, err := e.rdb.MemoryUsage(ctx, k, 0).Result()
		if err != nil || n <= 0 {
			continue
		}
		kb.Keys++
		sum += n
		kb.Max = max(kb.Max, n)
	}
	if kb.Keys == 0 {
		return nil
	}
	kb.Avg = float64(sum) / float64(kb.Keys)
	return kb
}

// usedMemory is INFO memory's used_memory and DBSIZE.
func (e *env) usedMemory(ctx context.Context) (used, keys int64, err error) {
	info, err := e.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, 0, err
	}
	used, err = strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("INFO memory: %w", err)
	}
	keys, err = e.rdb.DBSize(ctx).Result()
	return used, keys, err
}

// commandStats is INFO commandstats: calls by command (commands run inside
// Lua scripts included). Nil for a Redis the tool did not start, whose
// counts include others' traffic.
func (e *env) commandStats(ctx context.Context) map[string]int64 {
	if e.redis == nil {
		return nil
	}
	info, err := e.rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for _, l := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(l, "cmdstat_")), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		if v, err := strconv.ParseInt(n, 10, 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// perTurn turns two commandstats readings into commands per turn, total
// and by command (most frequent first). The readings' own INFO calls are
// left out.
func perTurn(a, b map[string]int64, allTurns, windowTurns int, byTurns bool) (float64, string) {
	if a == nil || b == nil || windowTurns == 0 {
		return 0, ""
	}
	turns := float64(windowTurns)
	if byTurns {
		turns = float64(allTurns)
	}
	type kv struct {
		name string
		n    int64
	}
	var list []kv
	var total int64
	for name, v := range b {
		d := v - a[name]
		if name == "info" {
			continue
		}
		if d > 0 {
			list = append(list, kv{name, d})
			total += d
		}
	}
	slices.SortFunc(list, func(x, y kv) int { return int(y.n - x.n) })
	var parts []string
	for _, x := range list {
		if f := float64(x.n) / turns; f >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.2f", x.name, f))
		}
	}
	return float64(total) / turns, strings.Join(parts, ", ")
}

func infoField(info, name string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+":"); ok {
			return v
		}
	}
	return ""
}

// seed stores n dialogs through the real bot: n users each send one signed
// スマホ交換, so Redis holds exactly what the bot writes for a user who has
// started the procedure.
func (e *env) seed(ctx context.Context, n int) (*Seed, error) {
	e.progress("seeding %d dialogs through the bot (%d concurrent requests)", n, e.cfg.SeedWorkers)
	bot, err := startBot(ctx, e.bin, e.dir, e.botEnv())
	if err != nil {
		return nil, err
	}
	defer func() {
		if !bot.exited() {
			bot.kill()
		}
	}()
	s := &Seed{Dialogs: n}
	time.Sleep(200 * time.Millisecond) // let the bot's start-up writes settle
	if s.UsedBefore, s.KeysBefore, err = e.usedMemory(ctx); err != nil {
		return nil, err
	}
	lv := &level{botURL: bot.url, hc: e.newClient(e.cfg.SeedWorkers), sb: e.sb, conn: e.conn, tenant: e.tenant, appID: e.appID}
	defer lv.hc.CloseIdleConnections()
	const sampleUsers = 200
	samples := make([]*simUser, 0, sampleUsers)
	var samplesMu sync.Mutex
	var next, errs, done atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < e.cfg.SeedWorkers; w++ {
		tok, err := e.login.sign(e.conn.serviceURL, time.Now())
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1))
				if i > n {
					return
				}
				u := newSimUser(lv, i, "a:1seed"+e.runID+"-", tok)
				a := u.activity("message")
				a.Text, a.TextFormat, a.Entities = "スマホ交換", "plain", clientInfo
				status, body, err := u.post(ctx, a)
				if err != nil || status != http.StatusOK {
					if errs.Add(1) <= 3 {
						e.progress("seeding: status %d %v %s", status, err, snippet(body))
					}
					continue
				}
				if i <= sampleUsers {
					samplesMu.Lock()
					samples = append(samples, u)
					samplesMu.Unlock()
				}
				if d := done.Add(1); d%(max(int64(n)/10, 1)) == 0 {
					e.progress("seeded %d of %d", d, n)
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("seeding: %w", err)
	}
	s.Seconds = time.Since(start).Seconds()
	s.Errors = int(errs.Load())
	s.TurnsPerSec = float64(done.Load()) / s.Seconds
	time.Sleep(200 * time.Millisecond)
	if s.UsedAfter, s.KeysAfter, err = e.usedMemory(ctx); err != nil {
		return nil, err
	}
	if stored := done.Load(); stored > 0 {
		s.BytesPerDialog = float64(s.UsedAfter-s.UsedBefore) / float64(stored)
	}
	s.DialogKey = e.memoryUsage(ctx, samples, func(u *simUser) string { return e.dialogKey(u.aad) })
	s.ReferenceKey = e.memoryUsage(ctx, samples, func(u *simUser) string {
		return botKeyPrefix + "{t:" + e.tenant + ":u:" + u.aad + "}:ref"
	})
	s.DedupeKey = e.memoryUsage(ctx, samples, func(u *simUser) string {
		return botKeyPrefix + "seen:" + u.conv + ":" + u.lastID
	})
	hwm, _, rss := bot.memory()
	s.BotPeakRSSMB, s.BotEndRSSMB = kbToMB(hwm), kbToMB(rss)
	bot.stop()
	if s.Errors > 0 {
		return s, fmt.Errorf("seeding: %d of %d turns failed", s.Errors, n)
	}
	e.progress("seeded %d dialogs in %.1f s: %.0f bytes of Redis each", n, s.Seconds, s.BytesPerDialog)
	return s, nil
}

func kbToMB(kb int64) float64 { return float64(kb) / 1024 }

// summarize computes the latency percentiles (nearest rank).
func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rank := func(q float64) time.Duration {
		i := int(float64(len(ds))*q+0.999999) - 1
		return ds[min(max(i, 0), len(ds)-1)]
	}
	return Latency{
		N: len(ds), Mean: ms(sum / time.Duration(len(ds))),
		P50: ms(rank(0.50)), P95: ms(rank(0.95)), P99: ms(rank(0.99)), Max: ms(ds[len(ds)-1]),
	}
}
