package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartswap/mfabot/graph/sandbox"
)

// SweepConfig is a measurement of the tenant sweep (-sweep): the sandbox
// with Users synthetic users (one in TwoPhonesEvery with two phones) and a
// Graph-like throttle, swept by `mfabot sweep` processes (the first starts
// the job, the others join it with --resume), once per replica count.
type SweepConfig struct {
	Users, TwoPhonesEvery int
	Replicas              []int
	// ThrottleRPS and ThrottleBurst are the sandbox's per-tenant budget
	// (429 with Retry-After beyond it); GraphRate is SWEEP_GRAPH_RATE.
	ThrottleRPS   float64
	ThrottleBurst int
	GraphRate     int
	BotBin        string
	Timeout       time.Duration
	// KillOne kills (SIGKILL) the last replica once a fifth of the users
	// are read: the others must finish the job, reading every user once.
	KillOne bool
	// Env is added to the sweep processes' environment (KEY=VALUE).
	Env []string
}

// SweepRun is the figures of one replica count.
type SweepRun struct {
	Replicas int
	// Killed is the number of the replica KillOne killed (0: none).
	Killed          int
	Wall            time.Duration
	Scanned         int64
	Candidates      int64
	UsersPerSecond  float64
	GraphHTTP       int64 // HTTP requests the sandbox served (a $batch counts one)
	BatchRequests   int64 // requests inside the batches
	Throttled       int64 // 429 answers, top-level and inside batches
	HTTPPerUser     float64
	PeakRSSMB       []float64 // each replica's
	RedisPeakMB     float64   // used_memory's peak during the run, minus before
	RedisJobKB      float64   // the job's keys at the end (MEMORY USAGE)
	SandboxMaterial int
}

var sweepIDLine = regexp.MustCompile(`^sweep (\d{8}-[0-9a-f]{6}) `)

// runSweepLoad measures each replica count in turn on a fresh sandbox and
// a fresh Redis database.
func runSweepLoad(ctx context.Context, cfg SweepConfig, bin string, redisAddr string) ([]SweepRun, error) {
	var out []SweepRun
	for i, n := range cfg.Replicas {
		r, err := sweepOnce(ctx, cfg, bin, redisAddr, n, i+1)
		if err != nil {
			return out, fmt.Errorf("%d replicas: %w", n, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func sweepOnce(ctx context.Context, cfg SweepConfig, bin, redisAddr string, replicas, db int) (SweepRun, error) {
	run := SweepRun{Replicas: replicas}
	sb := sandbox.New(sandbox.Options{Population: cfg.Users, TwoPhonesEvery: cfg.TwoPhonesEvery,
		Throttle: sandbox.Throttle{RequestsPerSecond: cfg.ThrottleRPS, Burst: cfg.ThrottleBurst}})
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, DB: db})
	defer rdb.Close()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return run, err
	}
	before, _ := usedMemory(ctx, rdb)
	rdb.ConfigResetStat(ctx)

	envv := append(os.Environ(),
		"GRAPH_BASE_URL="+sb.GraphBaseURL(srv.URL),
		fmt.Sprintf("REDIS_URL=redis://%s/%d", redisAddr, db),
		"SWEEP_GRAPH_RATE="+strconv.Itoa(cfg.GraphRate), "LOG_LEVEL=error")
	envv = append(envv, cfg.Env...)
	start := time.Now()
	first := exec.CommandContext(ctx, bin, "sweep")
	first.Env = envv
	stderr, _ := first.StderrPipe()
	var stdout strings.Builder
	first.Stdout = &stdout
	if err := first.Start(); err != nil {
		return run, err
	}
	sc := bufio.NewScanner(stderr)
	job := ""
	if sc.Scan() {
		if m := sweepIDLine.FindStringSubmatch(sc.Text()); m != nil {
			job = m[1]
		}
	}
	go io.Copy(io.Discard, stderr)
	if job == "" {
		first.Process.Kill()
		first.Wait()
		return run, fmt.Errorf("the first sweep process named no job")
	}
	procs := []*exec.Cmd{first}
	for range replicas - 1 {
		p := exec.CommandContext(ctx, bin, "sweep", "--resume", job)
		p.Env = envv
		if err := p.Start(); err != nil {
			return run, err
		}
		procs = append(procs, p)
	}
	// Sample Redis's memory while the job runs; kill a replica once a
	// fifth of the users are read, if asked.
	var peak int64
	var mu sync.Mutex
	stop := make(chan struct{})
	killed := -1
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				u, err := usedMemory(ctx, rdb)
				mu.Lock()
				if err == nil {
					peak = max(peak, u)
				}
				if cfg.KillOne && killed < 0 && len(procs) > 1 {
					n, _ := rdb.HGet(ctx, "mfabot:{sw:"+job+"}:meta", "scanned").Int64()
					if n >= int64(cfg.Users/5) {
						killed = len(procs) - 1
						procs[killed].Process.Kill()
					}
				}
				mu.Unlock()
			}
		}
	}()
	var firstErr error
	for i, p := range procs {
		err := p.Wait()
		if i == 0 {
			run.Wall = time.Since(start)
		}
		mu.Lock()
		wasKilled := i == killed
		mu.Unlock()
		if wasKilled {
			run.Killed = i + 1
			continue
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("process %d: %w", i+1, err)
		}
		if ru, ok := p.ProcessState.SysUsage().(*syscall.Rusage); ok {
			run.PeakRSSMB = append(run.PeakRSSMB, float64(ru.Maxrss)/1024)
		}
	}
	close(stop)
	if firstErr != nil {
		return run, fmt.Errorf("%w (stdout %q)", firstErr, stdout.String())
	}
	mu.Lock()
	run.RedisPeakMB = float64(peak-before) / (1 << 20)
	mu.Unlock()
	keys, _ := rdb.Keys(ctx, "mfabot:{sw:"+job+"}:*").Result()
	var jobBytes int64
	for _, k := range keys {
		n, _ := rdb.MemoryUsage(ctx, k).Result()
		jobBytes += n
	}
	run.RedisJobKB = float64(jobBytes) / 1024
	meta, _ := rdb.HGetAll(ctx, "mfabot:{sw:"+job+"}:meta").Result()
	run.Scanned, _ = strconv.ParseInt(meta["scanned"], 10, 64)
	run.Candidates, _ = strconv.ParseInt(meta["candidates"], 10, 64)
	st := sb.Stats()
	run.GraphHTTP, run.BatchRequests, run.Throttled = st.Requests, st.BatchRequests, st.Throttled+st.BatchThrottled
	run.SandboxMaterial = st.Materialized
	if run.Scanned > 0 {
		run.HTTPPerUser = float64(run.GraphHTTP) / float64(run.Scanned)
		run.UsersPerSecond = float64(run.Scanned) / run.Wall.Seconds()
	}
	return run, nil
}

func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	n, _ := strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
	return n, nil
}

// printSweep writes the sweep figures as a table.
func printSweep(w io.Writer, cfg SweepConfig, runs []SweepRun) {
	fmt.Fprintf(w, "Tenant sweep: %d users (1 in %d with two phones), sandbox throttle %.0f req/s (burst %d), SWEEP_GRAPH_RATE %d\n\n",
		cfg.Users, cfg.TwoPhonesEvery, cfg.ThrottleRPS, cfg.ThrottleBurst, cfg.GraphRate)
	fmt.Fprintln(w, "| replicas | wall | users scanned | candidates | users/s | Graph HTTP requests | per user | requests in batches | throttled (429) | peak RSS per replica (MB) | Redis peak (MB) | job keys at end (KB) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range runs {
		rss := make([]string, len(r.PeakRSSMB))
		for i, v := range r.PeakRSSMB {
			rss[i] = fmt.Sprintf("%.0f", v)
		}
		fmt.Fprintf(w, "| %d | %s | %d | %d | %.0f | %d | %.3f | %d | %d | %s | %.1f | %.0f |\n",
			r.Replicas, r.Wall.Round(100*time.Millisecond), r.Scanned, r.Candidates, r.UsersPerSecond, r.GraphHTTP,
			r.HTTPPerUser, r.BatchRequests, r.Throttled, strings.Join(rss, ", "), r.RedisPeakMB, r.RedisJobKB)
	}
	for _, r := range runs {
		if r.Killed > 0 {
			fmt.Fprintf(w, "\nWith %d replicas, replica %d was killed (SIGKILL) once a fifth of the users were read; the others finished the job.\n", r.Replicas, r.Killed)
		}
	}
}

// sweepMain builds the bot (unless -bot-bin), starts a dedicated
// redis-server and measures the sweep.
func sweepMain(ctx context.Context, cfg SweepConfig, release bool, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "loadtest-sweep-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e := &env{cfg: Config{BotBin: cfg.BotBin, Release: release, Progress: stderr}, dir: dir}
	bin, err := e.binary(ctx)
	if err != nil {
		return err
	}
	rs, err := startRedis(ctx, dir)
	if err != nil {
		return err
	}
	defer rs.stop()
	e.progress("sweeping %d users with %v replicas", cfg.Users, cfg.Replicas)
	runs, err := runSweepLoad(ctx, cfg, bin.Path, rs.addr)
	printSweep(stdout, cfg, runs)
	return err
}
