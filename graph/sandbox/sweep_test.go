package sandbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/smartswap/mfabot/graph/sandbox"
)

// sweepOptions is a 100,000-user tenant in which the sweep finds a few
// percent of candidates: every 33rd user has two Authenticator push
// registrations, every 50th two passkeys.
var sweepOptions = sandbox.Options{Population: 100_000, TwoPhonesEvery: 33, TwoPasskeysEvery: 50}

// listMembers lists the enabled member users as the sweep does (GET /users
// with its $select, $filter and $top=999) and returns their ids.
func listMembers(tb testing.TB, srv *httptest.Server, sb *sandbox.Sandbox) []string {
	tb.Helper()
	q := url.Values{"$select": {sweepSelect}, "$filter": {sweepFilter}, "$top": {"999"}}
	return ids(listAll(tb, usersURL(srv, sb, q)))
}

// sweepMethods reads every user's Authenticator methods, and with fido2
// their passkeys, through $batch with 20 requests a batch, as the sweep
// does, two batches at a time, and counts the users with two or more of
// each.
func sweepMethods(tb testing.TB, srv *httptest.Server, sb *sandbox.Sandbox, users []string, fido2 bool) (twoPhones, twoPasskeys int) {
	tb.Helper()
	perBatch := 20
	if fido2 {
		perBatch = 10
	}
	batches := make(chan []batchReq)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for reqs := range batches {
				answers, err := sendBatch(srv, sb, reqs)
				if err != nil {
					tb.Error(err)
					continue
				}
				mu.Lock()
				for _, a := range answers {
					if a.Status != http.StatusOK {
						tb.Errorf("%s: status %d", a.ID, a.Status)
					}
					switch {
					case len(a.Body.Value) < 2:
					case a.ID[0] == 'a':
						twoPhones++
					default:
						twoPasskeys++
					}
				}
				mu.Unlock()
			}
		})
	}
	for start := 0; start < len(users); start += perBatch {
		var reqs []batchReq
		for k, id := range users[start:min(start+perBatch, len(users))] {
			base := "/users/" + id + "/authentication/"
			reqs = append(reqs, batchReq{ID: "a" + strconv.Itoa(k), Method: http.MethodGet, URL: base + "microsoftAuthenticatorMethods"})
			if fido2 {
				reqs = append(reqs, batchReq{ID: "f" + strconv.Itoa(k), Method: http.MethodGet, URL: base + "fido2Methods"})
			}
		}
		batches <- reqs
	}
	close(batches)
	wg.Wait()
	return twoPhones, twoPasskeys
}

// listAnswer is an answer of a batch of collection listings, read in one
// pass: only the number of items counts.
type listAnswer struct {
	ID     string
	Status int
	Body   struct{ Value []struct{} }
}

// sendBatch sends the requests, listings, as one $batch and returns its
// answers, or an error unless the batch is answered 200 with one answer per
// request. Unlike postBatch, it may run on any goroutine.
func sendBatch(srv *httptest.Server, sb *sandbox.Sandbox, reqs []batchReq) ([]listAnswer, error) {
	body, err := json.Marshal(map[string]any{"requests": reqs})
	if err != nil {
		return nil, err
	}
	resp, err := srv.Client().Post(sb.GraphBaseURL(srv.URL)+"/$batch", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct{ Responses []listAnswer }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("$batch: status %d, %v", resp.StatusCode, err)
	}
	if len(out.Responses) != len(reqs) {
		return nil, fmt.Errorf("$batch: %d answers to %d requests", len(out.Responses), len(reqs))
	}
	return out.Responses, nil
}

// TestSweep100k lists 100,000 synthetic users and reads every enabled
// member's Authenticator methods through $batch, as the tenant sweep does:
// it finds exactly the users with two phones, and reading stores none of
// them.
func TestSweep100k(t *testing.T) {
	t.Parallel()
	sb, srv := setup(t, sweepOptions)
	users := listMembers(t, srv, sb)
	var want []string
	wantTwo := 0
	for i := range sweepOptions.Population {
		if enabledMember(i) {
			want = append(want, synthID(i))
			if i%33 == 1 {
				wantTwo++
			}
		}
	}
	if len(users) != len(want) {
		t.Fatalf("listed %d users, want %d", len(users), len(want))
	}
	for k := range want {
		if users[k] != want[k] {
			t.Fatalf("user %d is %s, want %s", k, users[k], want[k])
		}
	}
	twoPhones, _ := sweepMethods(t, srv, sb, users, false)
	if twoPhones != wantTwo {
		t.Errorf("%d users with two phones, want %d", twoPhones, wantTwo)
	}
	st := sb.Stats()
	if st.Materialized != 0 {
		t.Errorf("%d users materialised by reading, want 0", st.Materialized)
	}
	if st.UsersListed != int64(len(want)) || st.BatchRequests != int64(len(want)) || st.Throttled+st.BatchThrottled != 0 {
		t.Errorf("Stats %+v", st)
	}
	t.Logf("%d members, %d with two phones (%.1f%%); %d requests", len(users), twoPhones,
		100*float64(twoPhones)/float64(len(users)), st.Requests)
}

// BenchmarkList100k lists the enabled members of 100,000 synthetic users
// over HTTP, as the sweep does: one op is the whole walk (about 100 pages
// of 999).
func BenchmarkList100k(b *testing.B) {
	sb, srv := setup(b, sweepOptions)
	b.ReportAllocs()
	for b.Loop() {
		if n := len(listMembers(b, srv, sb)); n < 90_000 {
			b.Fatalf("%d users", n)
		}
	}
}

// BenchmarkSweep100k is the whole sweep's Graph traffic against 100,000
// users: the listing, then each member's Authenticator methods and
// passkeys through $batch (10 users, 20 requests a batch). It reports the
// heap in use after a sweep, which the sandbox's design keeps to what it
// had before: reading stores nothing.
func BenchmarkSweep100k(b *testing.B) {
	sb, srv := setup(b, sweepOptions)
	b.ReportAllocs()
	for b.Loop() {
		users := listMembers(b, srv, sb)
		if twoPhones, twoPasskeys := sweepMethods(b, srv, sb, users, true); twoPhones == 0 || twoPasskeys == 0 {
			b.Fatalf("%d with two phones, %d with two passkeys", twoPhones, twoPasskeys)
		}
	}
	b.ReportMetric(float64(heapInUse()), "heap-bytes")
	b.ReportMetric(float64(sb.Stats().Materialized), "materialized")
}

// BenchmarkMaterialize100k stores all 100,000 synthetic users (a change to
// each, deleting a method that does not exist) and reports what a stored
// user costs in heap.
func BenchmarkMaterialize100k(b *testing.B) {
	b.ReportAllocs()
	var perUser float64
	for b.Loop() {
		sb := sandbox.New(sweepOptions)
		before := heapInUse()
		for i := range sweepOptions.Population {
			sb.DeleteMethod(synthID(i), "none")
		}
		perUser = float64(int64(heapInUse())-int64(before)) / float64(sweepOptions.Population)
		if n := sb.Stats().Materialized; n != sweepOptions.Population {
			b.Fatalf("%d materialised", n)
		}
		runtime.KeepAlive(sb)
	}
	b.ReportMetric(perUser, "heap-bytes/user")
}

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
