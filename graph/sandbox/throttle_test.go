package sandbox_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/smartswap/mfabot/graph/sandbox"
)

// clock is a settable Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestThrottle(t *testing.T) {
	for _, tc := range []struct {
		name       string
		throttle   sandbox.Throttle
		burst      int    // requests answered at once
		retryAfter string // then
		refill     time.Duration
		refilled   int // requests answered after refill
	}{
		{"5 rps, burst 5", sandbox.Throttle{RequestsPerSecond: 5, Burst: 5}, 5, "1", time.Second, 5},
		{"burst defaults to the rate", sandbox.Throttle{RequestsPerSecond: 3}, 3, "1", 400 * time.Millisecond, 1},
		{"slow: Retry-After rounds up", sandbox.Throttle{RequestsPerSecond: 0.15, Burst: 2}, 2, "7", 7 * time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{now: testNow}
			sb, srv := setup(t, sandbox.Options{Now: clk.Now, Throttle: tc.throttle})
			// answered sends requests until one is throttled and returns how
			// many were answered first, checking the 429 (its innerError.date
			// too while the clock reads testNow).
			answered := func() int {
				t.Helper()
				for n := 0; n < 100; n++ {
					resp, b := call(t, http.MethodGet, methodsURL(srv, sb, userID), nil)
					if resp.StatusCode == http.StatusOK {
						continue
					}
					if clk.Now().Equal(testNow) {
						checkGraphError(t, resp, b, http.StatusTooManyRequests, "TooManyRequests")
					} else if e := decode[graphError](t, b); resp.StatusCode != http.StatusTooManyRequests || e.Error.Code != "TooManyRequests" {
						t.Errorf("status %d, error %+v", resp.StatusCode, e)
					}
					if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
						t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
					}
					return n
				}
				t.Fatal("never throttled")
				return 0
			}
			if n := answered(); n != tc.burst {
				t.Errorf("%d answered at once, want %d", n, tc.burst)
			}
			clk.advance(tc.refill)
			if n := answered(); n != tc.refilled {
				t.Errorf("%d answered after %v, want %d", n, tc.refill, tc.refilled)
			}
			st := sb.Stats()
			if want := int64(tc.burst + tc.refilled + 2); st.Requests != want || st.Throttled != 2 || st.BatchRequests != 0 {
				t.Errorf("Stats %+v, want %d requests, 2 throttled", st, want)
			}

			// The page is never throttled; SetThrottle turns it off.
			if resp, _ := call(t, http.MethodGet, sb.PageURL(srv.URL, userID), nil); resp.StatusCode != http.StatusOK {
				t.Errorf("page: status %d", resp.StatusCode)
			}
			sb.SetThrottle(sandbox.Throttle{})
			for range 20 {
				if resp, b := call(t, http.MethodGet, methodsURL(srv, sb, userID), nil); resp.StatusCode != http.StatusOK {
					t.Fatalf("throttle off: status %d: %s", resp.StatusCode, b)
				}
			}
			sb.SetThrottle(sandbox.Throttle{RequestsPerSecond: 1, Burst: 1})
			call(t, http.MethodGet, methodsURL(srv, sb, userID), nil)
			if resp, _ := call(t, http.MethodGet, methodsURL(srv, sb, userID), nil); resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("after SetThrottle(1 rps): status %d", resp.StatusCode)
			}
		})
	}
}

func TestStatsUsersListed(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{Population: 500})
	listAll(t, sb.GraphBaseURL(srv.URL)+"/users?$top=200&$filter=accountEnabled+eq+true")
	want := 0
	for i := range 500 {
		if i%97 != 96 {
			want++
		}
	}
	if st := sb.Stats(); st.UsersListed != int64(want) || st.Requests != 3 {
		t.Errorf("Stats %+v, want %d users listed in 3 requests", st, want)
	}
}
