package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
)

// One poller per dialog (issue 13, item 4): presses at the new-device
// check while the bot waits for the new registration answer from the
// poller that runs, whichever replica they reach, and 中止 stops it.

// graphGate stands in front of the Graph sandbox: it counts the listings
// of Authenticator methods, and holds them while hold is set.
type graphGate struct {
	next  http.Handler
	lists atomic.Int64
	held  atomic.Int64 // listings waiting now
	mu    sync.Mutex
	hold  chan struct{} // non-nil: listings wait until it is closed
}

func (g *graphGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/authentication/microsoftAuthenticatorMethods") {
		g.lists.Add(1)
		g.mu.Lock()
		hold := g.hold
		g.mu.Unlock()
		if hold != nil {
			g.held.Add(1)
			<-hold
			g.held.Add(-1)
		}
	}
	g.next.ServeHTTP(w, r)
}

func (g *graphGate) holdCalls() {
	g.mu.Lock()
	g.hold = make(chan struct{})
	g.mu.Unlock()
}

func (g *graphGate) release() {
	g.mu.Lock()
	if g.hold != nil {
		close(g.hold)
		g.hold = nil
	}
	g.mu.Unlock()
}

// pollsWithin is the most Graph calls one poller can make in d: its n-th
// call comes after pauses 0…n-1, the first every, each half as long again
// as the one before, up to 15 s (ConversationOptions.PollEvery).
func pollsWithin(every, d time.Duration) int {
	n := 0
	for sum, p := time.Duration(0), every; ; n++ {
		sum += p
		if sum > d {
			return n
		}
		if p += p / 2; p > 15*time.Second {
			p = 15 * time.Second
		}
	}
}

// typings counts the typing indicators sent to conversation conv.
func typings(c *chat, conv string) int {
	n := 0
	for _, a := range c.conn.to(conv) {
		if a.Type == schema.Typing {
			n++
		}
	}
	return n
}

// waitUntil waits for cond, failing the test with what after deadline.
func waitUntil(t *testing.T, deadline time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(deadline); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("gave up after %s waiting for %s", deadline, what)
		}
	}
}

// pollRig is one user's chat with two replicas of the bot that share one
// Redis (one key prefix), the Graph sandbox behind a graphGate and the
// Teams stand-in.
type pollRig struct {
	*chat
	gate  *graphGate
	bots  [2]*app.App
	reps  [2]http.Handler
	every time.Duration
}

func newPollRig(t *testing.T, every time.Duration) *pollRig {
	c := newUser(t)
	g := &graphGate{next: c.sb.Handler()}
	t.Cleanup(g.release) // before the servers close, which wait for held calls
	c.graph = serveGraph(t, c.sb, g)
	prefix := redistest.Prefix(t)
	opts := app.Options{PollEvery: every, PollFor: 2 * time.Minute}
	r := &pollRig{chat: c, gate: g, every: every}
	for i := range r.bots {
		r.bots[i] = c.startBot(prefix, nil, opts)
		r.reps[i] = r.bots[i].Handler()
	}
	c.h = r.reps[0]
	return r
}

// on makes the chat's next turns go to replica i.
func (r *pollRig) on(i int) *pollRig { r.h = r.reps[i%2]; return r }

// toEnterNumber walks the user to step 7, before the new-device check.
func (r *pollRig) toEnterNumber(t *testing.T) cards.Card {
	card := r.say("スマホ交換")
	for range 6 {
		card = r.press(card, cards.VerbNext)
	}
	wantCard(t, card, stepCard("enter_number"))
	return card
}

// waiting checks that card is the new-device check's waiting card.
func waiting(t *testing.T, what string, card cards.Card) {
	t.Helper()
	wantCard(t, card, stepCard("confirm_new"))
	if !strings.Contains(text(card), "確認しています") {
		t.Fatalf("%s: not the waiting card: %s", what, text(card))
	}
}

// nonce is the reference nonce a card's 次へ carries.
func nonce(t *testing.T, card cards.Card) any {
	return actionData(t, card, cards.VerbNext)["nonce"]
}

func TestThirtyPressesAtTheCheckThenCancelOnePollerAcrossReplicas(t *testing.T) {
	const every = 200 * time.Millisecond
	r := newPollRig(t, every)
	conv := "a:" + r.user
	card := r.toEnterNumber(t)

	// 次へ at step 7: the check finds nothing new yet (1 Graph call), and
	// a poller starts on replica A.
	lists0, typing0 := r.gate.lists.Load(), typings(r.chat, conv)
	start := time.Now()
	card = r.on(0).press(card, cards.VerbNext)
	waiting(t, "次へ at step 7", card)

	// 30 presses of 次へ on the waiting card, alternating B, A, B, …: each
	// answers with the poller's waiting card, unchanged.
	moved := 0
	for i := range 30 {
		got := r.on(i+1).press(card, cards.VerbNext)
		waiting(t, "press "+itoa(i+1), got)
		if nonce(t, got) != nonce(t, card) {
			moved++ // a new check and poller instead of the running one's answer
			card = got
		}
	}
	if moved > 0 {
		t.Errorf("%d of 30 presses moved the dialog instead of answering from the poller that runs", moved)
	}
	// Counted first, so that everything counted happened within elapsed.
	calls := int(r.gate.lists.Load() - lists0)
	typing := typings(r.chat, conv) - typing0
	elapsed := time.Since(start)
	most := pollsWithin(every, elapsed)
	t.Logf("31 presses in %s: %d Graph calls, %d typing indicators (one poller: at most %d calls, +1 for the first press's check)",
		elapsed.Round(time.Millisecond), calls, typing, most)
	if calls > 1+most {
		t.Errorf("31 presses in %s made %d Graph calls; the first press's check and one poller make at most %d", elapsed, calls, 1+most)
	}
	if typing > most+1 {
		t.Errorf("%d typing indicators in %s; one poller sends at most %d", typing, elapsed, most+1)
	}
	if calls < 1 {
		t.Errorf("no Graph call at all: the first press did not check")
	}

	// 中止 while the poller's Graph call is in flight (held), on replica B.
	r.gate.holdCalls()
	waitUntil(t, 60*time.Second, "the poller's next Graph call", func() bool { return r.gate.held.Load() > 0 })
	wantCard(t, r.on(1).say("中止"), "cancelled")
	callsAtCancel, typingAtCancel, sentAtCancel := r.gate.lists.Load(), typings(r.chat, conv), len(r.conn.to(conv))
	r.gate.release()

	// The poller ends on its own, without another Graph call, typing
	// indicator or card.
	for i, b := range r.bots {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := b.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatalf("replica %d: a poller still runs after 中止: %v", i, err)
		}
	}
	if n := r.gate.lists.Load(); n != callsAtCancel {
		t.Errorf("%d Graph calls after 中止", n-callsAtCancel)
	}
	if n := typings(r.chat, conv); n != typingAtCancel {
		t.Errorf("%d typing indicators after 中止", n-typingAtCancel)
	}
	if sent := r.conn.to(conv); len(sent) != sentAtCancel {
		t.Errorf("%d activities sent after 中止: %+v", len(sent)-sentAtCancel, sent[sentAtCancel:])
	}
	// The poller gave its lease back.
	rdb := redistest.Client(t)
	keys, err := rdb.Keys(context.Background(), r.bots[0].Store().Prefix()+"*:lease:*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("leases left after the poller ended: %v %v", keys, err)
	}
}

// While one replica's poller waits, presses on the other answer with its
// waiting card; when the new phone appears, the poller sends the result,
// whose 次へ goes on.
func TestPollerAnswersPressesOnTheOtherReplica(t *testing.T) {
	const every = 100 * time.Millisecond
	r := newPollRig(t, every)
	conv := "a:" + r.user
	card := r.toEnterNumber(t)
	card = r.on(0).press(card, cards.VerbNext)
	waiting(t, "次へ at step 7", card)
	for range 5 {
		waiting(t, "press on B", r.on(1).press(card, cards.VerbNext))
	}
	before := len(r.conn.to(conv))
	r.sb.AddMethod(r.user, "iPhone 15")
	// The invokes carry no replyToId here, so the result comes as a new
	// card rather than in the pressed one's place.
	var result cards.Card
	waitUntil(t, 60*time.Second, "the poller's card", func() bool {
		for _, a := range r.conn.to(conv)[before:] {
			if len(a.Attachments) == 1 {
				result = cardOf(t, a)
				return true
			}
		}
		return false
	})
	wantCard(t, result, stepCard("confirm_new"))
	if !strings.Contains(text(result), "iPhone 15」の登録を確認しました") {
		t.Fatalf("the updated card does not confirm the new phone: %s", text(result))
	}
	for i, b := range r.bots {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := b.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatalf("replica %d: the poller did not end: %v", i, err)
		}
	}
	wantCard(t, r.on(1).press(result, cards.VerbNext), stepCard("delete_old"))
}

// A poller whose lease runs out (its replica stalled past the TTL) stops at
// its next renewal; the dialog is still waiting, so the next press checks
// Graph itself and starts a new poller, which finds the new phone.
func TestPressAfterThePollersLeaseRanOutStartsANewOne(t *testing.T) {
	const every = 100 * time.Millisecond
	r := newPollRig(t, every)
	conv := "a:" + r.user
	ctx := context.Background()
	rdb := redistest.Client(t)
	leases := func() []string {
		keys, err := rdb.Keys(ctx, r.bots[0].Store().Prefix()+"*:lease:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	card := r.on(0).press(r.toEnterNumber(t), cards.VerbNext)
	waiting(t, "次へ at step 7", card)
	if len(leases()) != 1 {
		t.Fatalf("leases after the poller started: %v, want one", leases())
	}

	// The lease runs out while the poller is inside a Graph call.
	r.gate.holdCalls()
	waitUntil(t, 60*time.Second, "the poller's next Graph call", func() bool { return r.gate.held.Load() > 0 })
	if err := rdb.Del(ctx, leases()...).Err(); err != nil {
		t.Fatal(err)
	}
	r.gate.release()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := r.bots[0].Wait(wctx); err != nil {
		t.Fatalf("the poller whose lease ran out did not stop: %v", err)
	}

	// The next press, on B, checks Graph and starts a poller of its own.
	lists := r.gate.lists.Load()
	got := r.on(1).press(card, cards.VerbNext)
	waiting(t, "the press after the lease ran out", got)
	if r.gate.lists.Load() == lists {
		t.Error("the press did not check Graph although no poller waits")
	}
	if len(leases()) != 1 {
		t.Fatalf("leases after the press: %v, want the new poller's", leases())
	}
	before := len(r.conn.to(conv))
	r.sb.AddMethod(r.user, "iPhone 15")
	waitUntil(t, 60*time.Second, "the new poller's card", func() bool {
		for _, a := range r.conn.to(conv)[before:] {
			if len(a.Attachments) == 1 {
				return strings.Contains(text(cardOf(t, a)), "iPhone 15」の登録を確認しました")
			}
		}
		return false
	})
	if err := r.bots[1].Wait(wctx); err != nil {
		t.Fatalf("the new poller did not end: %v", err)
	}
	if keys := leases(); len(keys) != 0 {
		t.Errorf("leases left after the poller ended: %v", keys)
	}
}
