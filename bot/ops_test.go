package bot

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// /readyz answers within its budget whatever a check does, and a check
// that blocks is run once, not once per probe.
func TestReadyzAnswersWithinBudgetAndRunsOneCheckAtATime(t *testing.T) {
	var entered atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	blocking := func(ctx context.Context) error {
		if entered.Add(1) == 1 {
			<-release // ignores ctx, as a frozen dependency's client may
			return errors.New("i/o timeout")
		}
		return nil
	}
	tb := newTestBot(t, func(o *ServerOptions) {
		o.Ready = []ReadyCheck{blocking}
		o.ReadyTimeout = 50 * time.Millisecond
	})
	get := func() int {
		rec := httptest.NewRecorder()
		tb.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}

	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i] = get() }()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusServiceUnavailable {
			t.Errorf("probe %d during the block: %d, want 503", i, c)
		}
	}
	if n := entered.Load(); n != 1 {
		t.Errorf("the blocked check was started %d times by 20 probes, want 1", n)
	}

	// Once the blocked check gives up, the next probes run it again.
	unblock()
	deadline := time.Now().Add(10 * time.Second)
	for get() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz never became 200 after the check returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := entered.Load(); n < 2 {
		t.Errorf("check entered %d times, want a new run after the blocked one", n)
	}
}

// logLines decodes the JSON lines of buf.
func logLines(t testing.TB, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// lockedBuffer is a strings.Builder safe for the logger's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// rejectionCounts sums, by reason, the rejections the lines account for:
// one for a line that logs a rejection, count for a summary line.
func rejectionCounts(lines []map[string]any) (counts map[string]int, perReason map[string]int) {
	counts, perReason = map[string]int{}, map[string]int{}
	for _, l := range lines {
		reason, _ := l["reason"].(string)
		if reason == "" {
			continue
		}
		perReason[reason]++
		if n, ok := l["count"].(float64); ok {
			counts[reason] += int(n)
		} else {
			counts[reason]++
		}
	}
	return counts, perReason
}

// Many rejected requests make a bounded number of log lines, which still
// account for every one of them, by reason.
func TestRejectedRequestsLoggedAsCounts(t *testing.T) {
	logs := &lockedBuffer{}
	tb := newAuthedTestBot(t)
	tb.srv = NewServer(func() ServerOptions {
		o := tb.srv.opts
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		o.AllowedTenants = []string{"00000000-0000-0000-0000-000000000001"}
		o.RejectLogInterval = time.Hour // only the shutdown's flush writes the counts
		return o
	}())

	const unauth, forbidden = 300, 40
	a := tb.activity(schema.Message, uniqueID(t), "hello")
	for i := range unauth {
		header := "Bearer not.a.jwt"
		if i%2 == 1 {
			header = ""
		}
		if c := tb.post(t, a, header).Code; c != http.StatusUnauthorized {
			t.Fatalf("request %d: %d, want 401", i, c)
		}
	}
	good := authTestHeader(t, a.ServiceURL)
	for i := range forbidden {
		if c := tb.post(t, a, good).Code; c != http.StatusForbidden {
			t.Fatalf("request %d: %d, want 403", i, c)
		}
	}

	// Before the interval ends: one line per reason (for 401s, per
	// auth_reason: malformed and no_token), with its details.
	lines := logLines(t, logs.String())
	counts, perReason := rejectionCounts(lines)
	if perReason[rejectUnauthenticated] != 2 || perReason[rejectTenant] != 1 || len(lines) != 3 {
		t.Fatalf("%d lines (%v) for %d rejected requests, want 1 per reason:\n%s", len(lines), perReason, unauth+forbidden, logs.String())
	}
	for _, l := range lines {
		if l["level"] != "WARN" || l["remote"] == nil {
			t.Errorf("first rejection's line lacks its level or details: %v", l)
		}
		if l["reason"] == rejectUnauthenticated && (l["err"] == nil || (l["auth_reason"] != AuthReasonMalformed && l["auth_reason"] != AuthReasonNoToken)) {
			t.Errorf("first unauthenticated line lacks the error or its auth_reason: %v", l)
		}
		if l["reason"] == rejectTenant && l["tenant"] != testTenant {
			t.Errorf("first forbidden-tenant line lacks the tenant: %v", l)
		}
	}

	// The shutdown writes the counts not written yet.
	tb.srv.Wait(context.Background())
	lines = logLines(t, logs.String())
	counts, perReason = rejectionCounts(lines)
	if len(lines) != 6 || perReason[rejectUnauthenticated] != 4 || perReason[rejectTenant] != 2 {
		t.Errorf("after the flush: %d lines (%v), want 2 per reason:\n%s", len(lines), perReason, logs.String())
	}
	if counts[rejectUnauthenticated] != unauth || counts[rejectTenant] != forbidden {
		t.Errorf("lines account for %v rejections, want %d unauthenticated and %d forbidden:\n%s", counts, unauth, forbidden, logs.String())
	}
}

// With a short interval, the counts come on their own, one line per
// interval while rejections keep coming; a quiet interval closes the
// window, and the next rejection is logged at once again. (The bound on
// the number of lines is asserted above, where no clock is involved.)
func TestRejectedRequestCountsLoggedEachInterval(t *testing.T) {
	logs := &lockedBuffer{}
	l := newRejectLog(slog.New(slog.NewJSONHandler(logs, nil)), 20*time.Millisecond)
	reqLog := slog.New(slog.NewJSONHandler(logs, nil))
	ctx := context.Background()

	const n = 200
	for range n {
		l.reject(ctx, reqLog, rejectUnauthenticated, "request not authenticated", "remote", "192.0.2.1:1234")
		time.Sleep(time.Millisecond / 2)
	}
	// Wait for the window to close by itself: a summary with the rest,
	// then an interval with none.
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		open := len(l.windows)
		l.mu.Unlock()
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the window never closed after the rejections stopped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	lines := logLines(t, logs.String())
	counts, perReason := rejectionCounts(lines)
	if counts[rejectUnauthenticated] != n {
		t.Errorf("lines account for %d rejections, want %d:\n%s", counts[rejectUnauthenticated], n, logs.String())
	}
	if perReason[rejectUnauthenticated] < 2 {
		t.Errorf("%d lines, want the first and at least one summary:\n%s", perReason[rejectUnauthenticated], logs.String())
	}
	for _, line := range lines {
		switch line["msg"] {
		case "requests rejected":
			if line["count"] == nil || line["last_remote"] != "192.0.2.1:1234" || line["since"] == nil {
				t.Errorf("summary line: %v", line)
			}
		case "request not authenticated": // a window's first
		default:
			t.Errorf("unexpected line: %v", line)
		}
	}

	// The window closed: the next rejection is logged at once.
	before := len(lines)
	l.reject(ctx, reqLog, rejectUnauthenticated, "request not authenticated", "remote", "192.0.2.2:1")
	lines = logLines(t, logs.String())
	if len(lines) != before+1 || lines[before]["msg"] != "request not authenticated" {
		t.Errorf("the first rejection after a quiet interval was not logged at once:\n%s", logs.String())
	}
	l.flush()
}
