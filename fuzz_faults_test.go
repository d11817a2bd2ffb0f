package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
	"github.com/redis/go-redis/v9"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
)

// FuzzTurnsUnderFaults runs the start of the procedure (スマホ交換, then
// 次へ on the card it shows) through the HTTP handler while faults strike
// where the input says: each Redis command the bot makes may fail before
// it runs or run and lose its answer (the uncertain outcome of a stall),
// and each send to the connector may be refused. Teams redelivers each
// activity until it is answered 200, and once more after that. The
// invariant is the oracle: the employee gets exactly one answer for the
// message and the same body for every answered delivery of the press; the
// dialog moved at most once per activity; a first message answered with a
// card shows step 1.
func FuzzTurnsUnderFaults(f *testing.F) {
	plan := &faultPlan{}
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(f)})
	rdb.AddHook(faultHook{plan})
	f.Cleanup(func() { rdb.Close() })
	sb := sandbox.New(sandbox.Options{})
	conn := newConnStandIn(f)
	conn.fail = plan.send
	b := newBot(f, map[string]string{"GRAPH_BASE_URL": serveGraph(f, sb, sb.Handler())},
		app.Options{Redis: rdb, KeyPrefix: redistest.Prefix(f), RecordRetryEvery: 5 * time.Millisecond})
	h := b.Handler()

	f.Add([]byte{}, []byte{})
	f.Add([]byte{faultBefore}, []byte{})
	f.Add([]byte{faultAfter}, []byte{})
	f.Add([]byte{0, faultAfter, 0, faultAfter}, []byte{})
	f.Add([]byte{0, 0, faultAfter, faultBefore, faultAfter, 0, faultAfter}, []byte{sendRefused})
	f.Add([]byte{0, 0, 0, 0, faultAfter, faultAfter, faultBefore}, []byte{0, sendRefused, sendRefused})

	var users atomic.Int64
	f.Fuzz(func(t *testing.T, redisFaults, sendFaults []byte) {
		if len(redisFaults) > 64 || len(sendFaults) > 16 {
			return // longer plans only take longer to exhaust
		}
		user := fmt.Sprintf("%08x-0000-4000-8000-%012x", time.Now().UnixNano()&0xffffffff, users.Add(1))
		c := faultChat(t, h, conn, user)
		conv := "a:" + user
		plan.set(redisFaults, sendFaults)

		// The message: one answer in the end, however many deliveries.
		start := c.activity(schema.Message)
		start.Text = "スマホ交換"
		deliverUntilAnswered(t, c, start)
		deliverUntilAnswered(t, c, start) // a redelivery after the answer
		sent := conn.to(conv)
		if len(sent) != 1 {
			t.Fatalf("%d answers to one message (faults %v / %v), want 1", len(sent), redisFaults, sendFaults)
		}
		step1, isCard := answerCard(sent[0])
		if isCard && cards.CardID(step1) != stepCard("cautions") {
			t.Fatalf("the first message was answered with %q, want step 1 or a polite error", cards.CardID(step1))
		}
		moved := 0
		if isCard {
			moved = 1
			// The press: the same body for every answered delivery.
			press := pressActivity(c, step1, cards.VerbNext)
			body := deliverUntilAnswered(t, c, press)
			if again := deliverUntilAnswered(t, c, press); !bytes.Equal(again, body) {
				t.Fatalf("a redelivery of the press answered\n%s\nthe turn\n%s", again, body)
			}
			if typ, card, _ := invokeAnswer(t, body); typ == bot.InvokeTypeCard && cards.CardID(card) != cards.CardID(step1) {
				moved = 2
			}
		}

		// Faults over: where is the dialog? Each activity moved it at most
		// once, and where an answer showed a step, the dialog is there. (A
		// save whose answer was lost may have moved it under a polite
		// error: at most once all the same.)
		plan.set(nil, nil)
		at := dialogStep(t, c)
		switch {
		case !isCard && at > 1,
			isCard && (at < 1 || at > 2),
			moved == 2 && at != 2:
			t.Fatalf("the dialog is at step %d; the answers showed step %d (faults %v / %v)", at, moved, redisFaults, sendFaults)
		}
	})
}

// Faults the plan can put on a Redis command or a send.
const (
	faultBefore = 1 // the command fails before it runs
	faultAfter  = 2 // the command runs and its answer is lost
	sendRefused = 1 // the connector refuses the send (400)
)

// faultPlan says which Redis commands and sends fail: the i-th command
// the bot makes gets redis[i] (modulo 4: 1 before, 2 after, else none),
// the i-th send sends[i]; beyond the plan nothing fails.
type faultPlan struct {
	mu           sync.Mutex
	redis, sends []byte
	nRedis       int
}

func (p *faultPlan) set(redisFaults, sends []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redis, p.sends, p.nRedis = redisFaults, sends, 0
}

func (p *faultPlan) nextRedis() byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.nRedis
	p.nRedis++
	if i >= len(p.redis) {
		return 0
	}
	return p.redis[i] % 4
}

// send is the connector stand-in's fail hook: the n-th accepted send so
// far is n; a refused one does not count, so the plan walks on by how many
// sends were tried.
func (p *faultPlan) send(int) (int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.sends) == 0 {
		return 0, ""
	}
	f := p.sends[0]
	p.sends = p.sends[1:]
	if f%2 == sendRefused {
		return http.StatusBadRequest, ""
	}
	return 0, ""
}

var errInjected = errors.New("injected fault")

// faultHook puts the plan's faults on go-redis commands and pipelines.
type faultHook struct{ plan *faultPlan }

func (h faultHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h faultHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch h.plan.nextRedis() {
		case faultBefore:
			cmd.SetErr(errInjected)
			return errInjected
		case faultAfter:
			next(ctx, cmd)
			cmd.SetErr(errInjected)
			return errInjected
		}
		return next(ctx, cmd)
	}
}

func (h faultHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		fault := h.plan.nextRedis()
		if fault == faultAfter {
			next(ctx, cmds)
		}
		if fault != 0 {
			for _, c := range cmds {
				c.SetErr(errInjected)
			}
			return errInjected
		}
		return next(ctx, cmds)
	}
}

// deliverUntilAnswered delivers a as Teams does, again after each 5xx,
// until it is answered 200, and returns the answer's body.
func deliverUntilAnswered(t *testing.T, c *chat, a schema.Activity) []byte {
	t.Helper()
	body, _ := json.Marshal(a)
	for range 400 {
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body)))
		switch {
		case rec.Code == http.StatusOK:
			return rec.Body.Bytes()
		case rec.Code < 500:
			t.Fatalf("%s delivery: status %d", a.Type, rec.Code)
		case rec.Code == http.StatusServiceUnavailable:
			time.Sleep(5 * time.Millisecond) // Retry-After, shortened
		}
	}
	t.Fatalf("%s: not answered after 400 deliveries", a.Type)
	return nil
}

// answerCard is the card an answer carries, if it carries one.
func answerCard(a schema.Activity) (cards.Card, bool) {
	if len(a.Attachments) != 1 {
		return nil, false
	}
	b, _ := json.Marshal(a.Attachments[0].Content)
	var card cards.Card
	if json.Unmarshal(b, &card) != nil {
		return nil, false
	}
	return card, true
}

var stepOf = regexp.MustCompile(`(\d+) / \d+`)

// dialogStep asks 状況 (without faults) and returns the step it names, 0
// for none.
func dialogStep(t *testing.T, c *chat) int {
	t.Helper()
	m := stepOf.FindStringSubmatch(text(c.say("状況")))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
