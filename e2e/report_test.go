//go:build unix

package e2e

// What a test leaves behind: the check of the Playground's traffic for
// errors nobody asserted on, the report logged when the test failed, and the
// text helpers of failure messages.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
	"unicode/utf8"
)

// finish checks the traffic for errors nobody asserted on and, when the test
// failed, prints everything needed to see why.
func (e *Env) finish() {
	t := e.t
	_, logs, _, _ := e.s.snapshot()
	if !e.opts.AllowErrors {
		for _, l := range logs {
			switch {
			case l.FromBot() && l.ResponseStatus >= 400:
				t.Errorf("the Playground's connector refused a call of the bot with %d:\n  %s", l.ResponseStatus, l.String(0))
			case l.ToBot() && l.ResponseStatus >= 500:
				t.Errorf("the bot answered an activity with %d:\n  %s", l.ResponseStatus, l.String(0))
			}
		}
	}
	if e.Playground != nil {
		if r := e.Playground.GuardRefusals(); len(r) > 0 {
			t.Logf("loopback-guard.cjs refused the Playground's attempts to leave loopback:\n%s", indent(r))
		}
	}
	if !t.Failed() {
		t.Logf("e2e environment ran %v", time.Since(e.started).Round(time.Millisecond))
		return
	}
	e.Report()
}

// Report logs the diagnostics: bot output, Playground output and log file,
// the Playground's traffic and the messages of the chats.
func (e *Env) Report() {
	t := e.t
	events, logs, errs, _ := e.s.snapshot()
	var b strings.Builder
	if e.Bot != nil {
		fmt.Fprintf(&b, "\n===== bot (%s, %s): last 80 lines of output =====\n%s", e.Bot.URL, e.Bot.proc.status(), indent(e.Bot.proc.out.tail(80)))
	}
	if p := e.Playground; p != nil {
		fmt.Fprintf(&b, "\n===== Playground (%s, %s): last 30 lines of output =====\n%s", p.URL, p.proc.status(), indent(p.proc.out.tail(30)))
		fmt.Fprintf(&b, "\n===== Playground log file %s: last 40 lines =====\n%s", p.LogPath, indent(fileTail(p.LogPath, 40, 600)))
	}
	fmt.Fprintf(&b, "\n===== Playground traffic (log stream, %d entries) =====\n", len(logs))
	for _, l := range logs {
		limit := 600
		if l.ResponseStatus >= 400 {
			limit = 0
		}
		fmt.Fprintf(&b, "  %s\n", l.String(limit))
	}
	fmt.Fprintf(&b, "===== chat (conversation stream, %d events) =====\n", len(events))
	for _, m := range events {
		fmt.Fprintf(&b, "  %s\n", m)
	}
	for _, err := range errs {
		fmt.Fprintf(&b, "  stream error: %v\n", err)
	}
	t.Log(b.String())
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + fmt.Sprintf("…(%d more bytes)", len(s)-i)
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return "    (nothing)\n"
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("    ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// fileTail returns the last n lines of a file, each cut at width bytes.
func fileTail(path string, n, width int) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		lines = append(lines, truncate(sc.Text(), width))
		if len(lines) > 4*n {
			lines = append([]string(nil), lines[len(lines)-n:]...)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		lines = append(lines, "(reading: "+err.Error()+")")
	}
	return lastN(lines, n)
}

// errorText is err with an exit error's stderr, for failure messages.
func errorText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Sprintf("%v\n%s", err, ee.Stderr)
	}
	return fmt.Sprint(err)
}
