package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/internal/redistest"
	"github.com/smartswap/mfabot/sweep"
)

// sweepGraph is a Graph stand-in for `mfabot sweep`: two pages of users,
// and a $batch that answers each user's Authenticator and passkey
// requests from push and passkeys. The first request for a user in
// throttleOnce is answered 429 with Retry-After: 1 inside the batch;
// forbidden answers every batch 403.
type sweepGraph struct {
	push      map[string][]string // user ID → device names
	passkeys  map[string][]string // user ID → Authenticator passkey names
	forbidden bool

	mu           sync.Mutex
	throttleOnce map[string]bool
	batches      int
	maxRequests  int
	userAsked    map[string]int
}

func newSweepGraph(t *testing.T, g *sweepGraph) string {
	t.Helper()
	g.userAsked = map[string]int{}
	mux := http.NewServeMux()
	var srv *httptest.Server
	user := func(id, upn, name string) map[string]string {
		return map[string]string{"id": id, "userPrincipalName": upn, "displayName": name, "department": "営業部"}
	}
	mux.HandleFunc("GET /v1.0/users", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("$skiptoken") == "" {
			json.NewEncoder(w).Encode(map[string]any{
				"value":           []any{user("u1", "one@example.com", "One"), user("u2", "two@example.com", "Two")},
				"@odata.nextLink": srv.URL + "/v1.0/users?$skiptoken=page2",
			})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"value": []any{user("u3", "three@example.com", "Three"), user("u4", "four@example.com", "Four")},
		})
	})
	mux.HandleFunc("POST /v1.0/$batch", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Requests []struct{ ID, Method, URL string } `json:"requests"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			t.Errorf("batch body: %v", err)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		g.batches++
		g.maxRequests = max(g.maxRequests, len(in.Requests))
		var out []map[string]any
		for _, q := range in.Requests {
			parts := strings.Split(strings.TrimPrefix(q.URL, "/"), "/") // users/{id}/authentication/{kind}
			if len(parts) != 4 || q.Method != "GET" {
				t.Errorf("batch request %+v", q)
				continue
			}
			id, kind := parts[1], parts[3]
			a := map[string]any{"id": q.ID, "status": 200, "headers": map[string]string{"Content-Type": "application/json"}}
			switch {
			case g.forbidden:
				a["status"] = 403
				a["body"] = map[string]any{"error": map[string]string{"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}}
			case g.throttleOnce[id]:
				a["status"] = 429
				a["headers"] = map[string]string{"Retry-After": "1"}
				a["body"] = map[string]any{"error": map[string]string{"code": "TooManyRequests", "message": "slow down"}}
			case kind == "microsoftAuthenticatorMethods":
				g.userAsked[id]++
				var v []map[string]any
				for i, n := range g.push[id] {
					v = append(v, map[string]any{"id": id + "-push-" + string(rune('a'+i)), "displayName": n, "phoneAppVersion": "6.8", "createdDateTime": "2024-0" + string(rune('1'+i)) + "-01T00:00:00Z"})
				}
				a["body"] = map[string]any{"value": v}
			case kind == "fido2Methods":
				var v []map[string]any
				for i, n := range g.passkeys[id] {
					v = append(v, map[string]any{"id": id + "-pk-" + string(rune('a'+i)), "displayName": n, "aaGuid": graph.AuthenticatorIOSAAGUID, "model": "Microsoft Authenticator - iOS", "createdDateTime": "2025-0" + string(rune('1'+i)) + "-01T00:00:00Z"})
				}
				a["body"] = map[string]any{"value": v}
			default:
				t.Errorf("batch request %+v", q)
			}
			out = append(out, a)
		}
		// A throttled user is throttled once, for both of its requests.
		for id := range g.throttleOnce {
			for _, q := range in.Requests {
				if strings.Contains(q.URL, "/"+id+"/") {
					delete(g.throttleOnce, id)
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"responses": out})
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/v1.0"
}

func TestSweepDryRun(t *testing.T) {
	g := &sweepGraph{
		push: map[string][]string{
			"u1": {"iPhone 15"},
			"u2": {"iPhone 12", "iPhone 15"},
			"u3": {"Pixel 8"},
			"u4": {"Galaxy S21"},
		},
		passkeys:     map[string][]string{"u3": {"old passkey", "new passkey"}},
		throttleOnce: map[string]bool{"u4": true},
	}
	base := newSweepGraph(t, g)
	dir := t.TempDir()
	csvPath, jsonlPath := filepath.Join(dir, "report.csv"), filepath.Join(dir, "report.jsonl")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"mfabot", "sweep", "--report", csvPath, "--jsonl", jsonlPath, "--lang", "en"},
		env(map[string]string{"GRAPH_BASE_URL": base}), &stdout, &stderr)
	if code := exitCode(err); code != 0 {
		t.Fatalf("exit %d (%v); stderr:\n%s", code, err, stderr.String())
	}
	if got, want := strings.TrimSpace(stdout.String()), "4 users scanned, 2 candidates (0 notified, 0 without a conversation, 0 using both, 0 failed), 0 completed, 2 still open"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if len(g.throttleOnce) != 0 || g.batches != 3 {
		t.Errorf("throttle not seen (%v left) or %d batches, want 3 (one per page, one retry)", g.throttleOnce, g.batches)
	}
	if g.userAsked["u4"] != 1 {
		t.Errorf("u4 answered %d times after its 429, want 1 (retried once)", g.userAsked["u4"])
	}
	if g.maxRequests > graph.MaxBatchRequests {
		t.Errorf("a batch held %d requests", g.maxRequests)
	}

	raw, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("\uFEFF")) {
		t.Errorf("CSV has no BOM: %q", raw[:min(len(raw), 20)])
	}
	lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(string(raw), "\uFEFF")), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "Object ID,UPN,") ||
		!strings.HasPrefix(lines[1], "u2,two@example.com,Two,営業部,") || !strings.HasPrefix(lines[2], "u3,three@example.com,Three,") {
		t.Errorf("CSV:\n%s", raw)
	}
	if !strings.Contains(lines[2], "passkey: old passkey") || !strings.HasSuffix(lines[2], ",3,") {
		t.Errorf("CSV row of u3: %s", lines[2])
	}

	raw, err = os.ReadFile(jsonlPath)
	if err != nil {
		t.Fatal(err)
	}
	type sweepRow struct {
		UserID  string `json:"user_id"`
		Devices []struct{ Kind, Name string }
		Action  *string `json:"action"`
	}
	var rows []sweepRow
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var row sweepRow
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatalf("JSONL line %q: %v", l, err)
		}
		rows = append(rows, row)
	}
	if len(rows) != 2 || rows[0].UserID != "u2" || rows[1].UserID != "u3" || len(rows[0].Devices) != 2 || len(rows[1].Devices) != 3 {
		t.Fatalf("JSONL:\n%s", raw)
	}
	if rows[1].Devices[0].Kind != "push" || rows[1].Devices[1].Kind != "passkey" || rows[0].Action == nil || *rows[0].Action != "" {
		t.Errorf("JSONL:\n%s", raw)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("files left in the report directory: %v", entries)
	}
}

func TestSweepForbiddenNamesThePermission(t *testing.T) {
	base := newSweepGraph(t, &sweepGraph{forbidden: true})
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"mfabot", "sweep", "--report", filepath.Join(dir, "r.csv")},
		env(map[string]string{"GRAPH_BASE_URL": base}), &stdout, &stderr)
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit %d (%v), want 1", code, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "403") || !strings.Contains(msg, "UserAuthenticationMethod.Read.All") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line with 403 and the permission", msg)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q", stdout.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed sweep left files: %v", entries)
	}
}

// TestSweepUsage: flags that do not go together are bad usage (exit 2,
// one line); a job command without the bot's Redis is a failure naming
// REDIS_URL; an unknown job is a failure naming it.
func TestSweepUsage(t *testing.T) {
	for _, args := range [][]string{{"--install"}, {"--resume", "a", "--pause", "b"}, {"--resume", "j", "--notify"},
		{"--cancel", "j", "--group", "g"}, {"--pause", "j", "--report", "r.csv"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"mfabot", "sweep"}, args...), env(map[string]string{}), &stdout, &stderr)
		if code := exitCode(err); code != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, code, err)
		}
		if lines := strings.Count(strings.TrimSpace(stderr.String()), "\n"); lines != 0 || stderr.Len() == 0 {
			t.Errorf("%v: stderr %q, want one line", args, stderr.String())
		}
	}
	for _, args := range [][]string{{"--bogus"}, {"extra"}, {"--lang", "fr"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"mfabot", "sweep"}, args...), env(map[string]string{}), &stdout, &stderr)
		if code := exitCode(err); code != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, code, err)
		}
		if !strings.Contains(stderr.String(), "usage: mfabot sweep") {
			t.Errorf("%v: no usage on stderr: %q", args, stderr.String())
		}
	}
	for _, args := range [][]string{{"--notify"}, {"--resume", "j"}, {"--pause", "j"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"mfabot", "sweep"}, args...), env(map[string]string{"GRAPH_BASE_URL": "http://127.0.0.1:1/v1.0"}), &stdout, &stderr)
		if code := exitCode(err); code != 1 || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("%v: exit %d (%v), want 1 naming REDIS_URL", args, code, err)
		}
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"mfabot", "sweep", "--resume", "20261207-nosuch"},
		env(map[string]string{"GRAPH_BASE_URL": "http://127.0.0.1:1/v1.0", "REDIS_URL": "redis://" + redistest.Addr(t)}), &stdout, &stderr)
	if code := exitCode(err); code != 1 || !strings.Contains(err.Error(), "20261207-nosuch") || !strings.Contains(err.Error(), "no such sweep") {
		t.Errorf("unknown job: exit %d (%v), want 1 naming the job", code, err)
	}
	stdout.Reset()
	stderr.Reset()
	run(context.Background(), []string{"mfabot", "nope"}, env(map[string]string{}), &stdout, &stderr)
	if !strings.Contains(stderr.String(), "mfabot sweep [--group ID]") {
		t.Errorf("the usage does not list sweep:\n%s", stderr.String())
	}
}

// TestProgressLine: the bar counts users read among those listed, the
// total is marked open (+) until the listing is over, and the time left
// follows the pace so far.
func TestProgressLine(t *testing.T) {
	j := sweep.Job{State: sweep.StateRunning, Counts: sweep.Counts{Listed: 2000, Scanned: 500, Candidates: 15, GraphRequests: 52, GraphThrottled: 3}}
	got := progressLine(j, 10*time.Second, 500)
	if want := "[#####---------------]  25% running: 500/2000+ users, 15 candidates, 0 cards sent, Graph 52 requests (3 throttled), ETA ?"; got != want {
		t.Errorf("while listing:\n got %q\nwant %q", got, want)
	}
	j.Listed, j.Spec.Notify, j.Pending, j.Counts.Notified = true, true, 4, 11
	got = progressLine(j, 10*time.Second, 500) // 50 users/s, 1,500 left
	if want := "[#####---------------]  25% running: 500/2000 users, 15 candidates, 11 cards sent, Graph 52 requests (3 throttled), ETA 30s"; got != want {
		t.Errorf("listed:\n got %q\nwant %q", got, want)
	}
	j.Counts.Scanned = 2000
	got = progressLine(j, 40*time.Second, 2000)
	if !strings.HasPrefix(got, "[####################] 100%") || !strings.Contains(got, "ETA 0s") || !strings.HasSuffix(got, ", 4 cards waiting for the bot's replicas") {
		t.Errorf("read, cards waiting: %q", got)
	}
}
