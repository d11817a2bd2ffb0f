//go:build unix

package e2e

// Child processes (the bot, the Playground): each runs in its own process
// group, which stop signals as a whole, and its output is kept line by line
// for reports. Also the free ports and environments they are started with.

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// maxOutputLines is how many lines of a child's output are kept.
	maxOutputLines = 20000
)

// process is a child process whose combined output is kept for reports.
// It runs in its own process group, which stop signals as a whole.
type process struct {
	name    string
	cmd     *exec.Cmd
	out     *outputLog
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
}

func startProcess(name, dir string, env []string, onLine func(string), bin string, args ...string) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &outputLog{onLine: onLine}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = 5 * time.Second // don't hang on a grandchild holding the pipes
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// status describes how the process ended, or that it runs.
func (p *process) status() string {
	if !p.exited() {
		return fmt.Sprintf("pid %d running", p.cmd.Process.Pid)
	}
	if p.waitErr != nil {
		return fmt.Sprintf("pid %d exited: %v", p.cmd.Process.Pid, p.waitErr)
	}
	return fmt.Sprintf("pid %d exited with status 0", p.cmd.Process.Pid)
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	pgid := p.cmd.Process.Pid // Setpgid: the group id is the child's pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// outputLog collects a child's output line by line.
type outputLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	dropped int // lines dropped from the front to bound memory
	onLine  func(string)
}

func (o *outputLog) Write(b []byte) (int, error) {
	o.mu.Lock()
	o.partial = append(o.partial, b...)
	var complete []string
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(o.partial[:i]), "\r")
		o.partial = o.partial[i+1:]
		o.lines = append(o.lines, line)
		complete = append(complete, line)
	}
	if n := len(o.lines) - maxOutputLines; n > 0 {
		o.lines = append([]string(nil), o.lines[n:]...)
		o.dropped += n
	}
	o.mu.Unlock()
	if o.onLine != nil {
		for _, l := range complete {
			o.onLine(l)
		}
	}
	return len(b), nil
}

// mark is the number of lines written so far, for since.
func (o *outputLog) mark() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped + len(o.lines)
}

// since returns the lines written after mark (and an unfinished last line).
func (o *outputLog) since(mark int) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := max(mark-o.dropped, 0)
	var out []string
	if i < len(o.lines) {
		out = append(out, o.lines[i:]...)
	}
	if len(o.partial) > 0 {
		out = append(out, string(o.partial))
	}
	return out
}

// tail returns the last n lines.
func (o *outputLog) tail(n int) []string {
	return lastN(o.since(0), n)
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// environ returns base without the variables named in drop, with set added
// (set wins).
func environ(base []string, drop []string, set map[string]string) []string {
	dropped := map[string]bool{}
	for _, k := range drop {
		dropped[k] = true
	}
	for k := range set {
		dropped[k] = true
	}
	var env []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !dropped[k] {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}
