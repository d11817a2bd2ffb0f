package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
)

// An outage of Entra's token endpoint or of Graph costs each turn seconds,
// not errors: 64 users press cards for 20 s while the endpoint takes connections
// and never answers; every turn is answered 200 within the turn's Graph
// budget (the card says the check could not be made and offers 再確認),
// and once the endpoint answers again the next check works.
func TestOutageCostsSecondsNotErrors(t *testing.T) {
	for _, tc := range []string{"token endpoint", "graph"} {
		t.Run(tc, func(t *testing.T) {
			sb := sandbox.New(sandbox.Options{})
			down := &outage{}
			down.on.Store(true)
			opts := app.Options{KeyPrefix: redistest.Prefix(t), CheckTimeout: time.Second}
			var handler http.Handler = sb.Handler()
			if tc == "token endpoint" {
				opts.GraphCredential = down
			} else {
				handler = down.wrap(sb.Handler())
			}
			c := newUser(t)
			c.sb = sb
			c.graph = serveGraph(t, sb, handler)
			c.startBot(opts.KeyPrefix, nil, opts)

			const users = 64
			var turns, failed atomic.Int64
			var mu sync.Mutex
			var took []time.Duration
			var wg sync.WaitGroup
			deadline := time.Now().Add(20 * time.Second)
			for i := range users {
				u := c.other(userID(i))
				wg.Go(func() {
					card := u.say("スマホ交換")
					for time.Now().Before(deadline) {
						body, _ := json.Marshal(pressActivity(u, card, cards.VerbNext))
						start := time.Now()
						rec := httptest.NewRecorder()
						u.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body)))
						d := time.Since(start)
						turns.Add(1)
						mu.Lock()
						took = append(took, d)
						mu.Unlock()
						if rec.Code != http.StatusOK {
							failed.Add(1)
							return
						}
						_, next, _ := invokeAnswer(t, rec.Body.Bytes())
						if next == nil {
							failed.Add(1)
							return
						}
						card = next
					}
				})
			}
			wg.Wait()
			slices.Sort(took)
			p99 := took[len(took)*99/100]
			t.Logf("%s down: %d turns by %d users, p50 %v, p99 %v", tc, turns.Load(), users, took[len(took)/2], p99)
			if n := failed.Load(); n != 0 {
				t.Fatalf("%d turns not answered 200 with a card", n)
			}
			if p99 > 3*time.Second {
				t.Errorf("p99 %v, past the turn's Graph budget of 1 s by far", p99)
			}
			// Back up: a check a second later works (a token fetch that hung
			// is not waited for past a second).
			down.on.Store(false)
			time.Sleep(1200 * time.Millisecond)
			u := c.other(userID(users + 1))
			card := u.press(u.press(u.say("スマホ交換"), cards.VerbNext), cards.VerbNext) // open_page
			card = u.press(card, cards.VerbNext)
			if cards.CardID(card) != stepCard("add_method") {
				t.Errorf("after the outage the snapshot check did not pass: %s", text(card))
			}
		})
	}
}

// userID is the i-th test user's object id.
func userID(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-000000000000", i+1) }

// outage is an Entra token endpoint (a credential) or a Graph (an HTTP
// wrapper) that, while on, takes requests and never answers them.
type outage struct{ on atomic.Bool }

func (o *outage) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if o.on.Load() {
		<-ctx.Done()
		return azcore.AccessToken{}, ctx.Err()
	}
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func (o *outage) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.on.Load() {
			<-r.Context().Done()
			return
		}
		next.ServeHTTP(w, r)
	})
}
