package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server started for this run: loopback only,
// nothing saved to disk.
type redisServer struct {
	cmd    *exec.Cmd
	addr   string
	done   chan struct{}
	output *tail
}

func startRedis(ctx context.Context, dir string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not installed (apt-get install redis-server, or give -redis-url): %w", err)
	}
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
			"--loglevel", "warning", "--logfile", "")
		out := &tail{max: 4 << 10}
		cmd.Stdout, cmd.Stderr = out, out
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start redis-server: %w", err)
		}
		r := &redisServer{cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{}), output: out}
		go func() { cmd.Wait(); close(r.done) }()
		rdb := redis.NewClient(&redis.Options{Addr: r.addr, DialTimeout: time.Second})
		deadline := time.Now().Add(10 * time.Second)
		for {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			lastErr = rdb.Ping(pctx).Err()
			cancel()
			if lastErr == nil {
				rdb.Close()
				return r, nil
			}
			select {
			case <-r.done:
			case <-ctx.Done():
				rdb.Close()
				r.stop()
				return nil, ctx.Err()
			case <-time.After(20 * time.Millisecond):
				if time.Now().Before(deadline) {
					continue
				}
			}
			break
		}
		rdb.Close()
		r.stop()
		lastErr = fmt.Errorf("redis-server on port %d did not answer: %v; output: %s", port, lastErr, out.String())
	}
	return nil, lastErr
}

func (r *redisServer) pid() int { return r.cmd.Process.Pid }

func (r *redisServer) stop() {
	select {
	case <-r.done:
		return
	default:
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
}

// botProc is one run of the bot binary.
type botProc struct {
	cmd     *exec.Cmd
	url     string // http://127.0.0.1:port
	started time.Time
	ready   time.Duration // process start → first 200 from /readyz
	logs    *logSink
	done    chan struct{}
	exitErr error

	rssMu    sync.Mutex
	maxRSS   int64 // largest VmRSS seen, kB
	stopPoll chan struct{}
	pollDone chan struct{}
}

// startBot runs bin with env on a free port and waits for /readyz.
func startBot(ctx context.Context, bin, dir string, env []string) (*botProc, error) {
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		b, err := startBotOn(ctx, bin, dir, append(env, "PORT="+strconv.Itoa(port)), port)
		if err == nil {
			return b, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

func startBotOn(ctx context.Context, bin, dir string, env []string, port int) (*botProc, error) {
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Dir = dir
	logs := &logSink{}
	cmd.Stdout, cmd.Stderr = logs, logs
	dieWithParent(cmd)
	b := &botProc{cmd: cmd, url: "http://127.0.0.1:" + strconv.Itoa(port), logs: logs, done: make(chan struct{})}
	b.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the bot: %w", err)
	}
	go func() { b.exitErr = cmd.Wait(); close(b.done) }()

	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := b.started.Add(30 * time.Second)
	for {
		resp, err := hc.Get(b.url + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				b.ready = time.Since(b.started)
				break
			}
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("the bot exited before it was ready (%v): %s", b.exitErr, logs.all())
		case <-ctx.Done():
			b.kill()
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.kill()
			return nil, fmt.Errorf("the bot was not ready within 30 s: %s", logs.all())
		}
	}
	logs.markReady()
	b.stopPoll, b.pollDone = make(chan struct{}), make(chan struct{})
	go b.pollRSS()
	return b, nil
}

func (b *botProc) pid() int { return b.cmd.Process.Pid }

// pollRSS notes the largest VmRSS every 50 ms.
func (b *botProc) pollRSS() {
	defer close(b.pollDone)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if st, err := readStatus(b.pid()); err == nil {
			b.rssMu.Lock()
			b.maxRSS = max(b.maxRSS, st["VmRSS"])
			b.rssMu.Unlock()
		}
		select {
		case <-t.C:
		case <-b.stopPoll:
			return
		case <-b.done:
			return
		}
	}
}

// memory returns VmHWM, the largest VmRSS polled, and the current VmRSS, in kB.
func (b *botProc) memory() (hwm, maxRSS, rss int64) {
	st, _ := readStatus(b.pid())
	b.rssMu.Lock()
	defer b.rssMu.Unlock()
	b.maxRSS = max(b.maxRSS, st["VmRSS"])
	return st["VmHWM"], b.maxRSS, st["VmRSS"]
}

// stop sends SIGTERM (the bot finishes its turns in flight, up to 20 s) and
// SIGKILL 25 s later; it returns how the process ended.
func (b *botProc) stop() string {
	if b.stopPoll != nil {
		close(b.stopPoll)
		<-b.pollDone
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(25 * time.Second):
		b.kill()
		return "killed: did not stop within 25 s of SIGTERM"
	}
	if b.exitErr != nil {
		return "exited after SIGTERM: " + b.exitErr.Error()
	}
	return "stopped cleanly after SIGTERM"
}

func (b *botProc) kill() {
	b.cmd.Process.Kill()
	<-b.done
}

func (b *botProc) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// logSink collects the bot's log lines (JSON, on stderr): warnings and
// errors are counted, before and after the bot was ready, and the first
// few are kept.
type logSink struct {
	mu      sync.Mutex
	partial []byte
	ready   bool
	counts  [2]struct{ warn, errs, other int }
	samples [2][]string
	head    []string // the first lines, for start-up failures
}

const keptLogLines = 12

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.line(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > 64<<10 {
		s.line(string(s.partial))
		s.partial = s.partial[:0]
	}
	return len(p), nil
}

func (s *logSink) line(l string) {
	if strings.TrimSpace(l) == "" {
		return
	}
	if len(l) > 600 {
		l = l[:600] + "…"
	}
	if len(s.head) < keptLogLines {
		s.head = append(s.head, l)
	}
	phase := 0
	if s.ready {
		phase = 1
	}
	c := &s.counts[phase]
	switch {
	case strings.Contains(l, `"level":"ERROR"`):
		c.errs++
	case strings.Contains(l, `"level":"WARN"`):
		c.warn++
	default:
		c.other++
	}
	if len(s.samples[phase]) < keptLogLines {
		s.samples[phase] = append(s.samples[phase], l)
	}
}

func (s *logSink) markReady() {
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
}

// afterReady returns the counts and first lines logged once the bot was ready.
func (s *logSink) afterReady() (warn, errs, other int, lines []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts[1]
	return c.warn, c.errs, c.other, append([]string(nil), s.samples[1]...)
}

func (s *logSink) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(append(s.head, string(s.partial)), "\n")
}

// tail keeps the last max bytes written.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// readStatus reads the kB fields of /proc/<pid>/status (VmRSS, VmHWM, …).
func readStatus(pid int) (map[string]int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasPrefix(k, "Vm") {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 2 && fields[1] == "kB" {
			if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
				out[k] = n
			}
		}
	}
	return out, sc.Err()
}

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100
// on every Linux architecture Go supports.
const userHZ = 100

// cpuTime returns the user+system CPU time of process pid so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields after its ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc stat format")
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// machineCPU returns the CPU time all processes of the machine have used
// so far (user, nice, system, irq, softirq, steal of /proc/stat).
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / userHZ
}

// selfCPU returns this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
