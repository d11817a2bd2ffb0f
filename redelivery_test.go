package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
	"github.com/redis/go-redis/v9"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
)

// postStatus sends a as Teams does and returns the status, without judging it.
func (c *chat) postStatus(a schema.Activity) int {
	body, _ := json.Marshal(a)
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body)))
	return rec.Code
}

// A turn that saved the dialog but whose answer did not leave is answered
// 500; Teams' redelivery of the same activity gets the answer the turn
// meant to give (step 1 for a first スマホ交換), not the "you are in the
// middle" card, and the dialog moves no further.
func TestRedeliveryAfterAFailedSendAnswersAsTheTurnMeantTo(t *testing.T) {
	c, _ := newChat(t, "")
	conv := "a:" + c.user
	c.conn.mu.Lock()
	c.conn.fail = func(int) (int, string) { return http.StatusBadRequest, "" } // the reply is refused
	c.conn.mu.Unlock()
	start := c.activity(schema.Message)
	start.Text = "スマホ交換"
	if status := c.postStatus(start); status != http.StatusInternalServerError {
		t.Fatalf("a turn whose answer failed: status %d, want 500", status)
	}
	c.conn.mu.Lock()
	c.conn.fail = nil
	c.conn.mu.Unlock()
	if status := c.postStatus(start); status != http.StatusOK {
		t.Fatalf("redelivery: status %d", status)
	}
	sent := c.conn.to(conv)
	if len(sent) != 1 {
		t.Fatalf("%d answers reached the chat, want 1", len(sent))
	}
	card := cardOf(t, sent[0])
	wantCard(t, card, stepCard("cautions"))

	// The same for a press whose answer (the invoke's HTTP body) was lost:
	// its redelivery shows the step it moved to, and moves no further.
	next := actionData(t, card, "next")
	first := c.invoke(next)
	wantCard(t, first, stepCard("old_phone"))
	// A redelivered invoke carries the same activity id; the harness
	// gives each invoke a new one, so post the same activity twice here.
	press := c.activity(schema.Invoke)
	press.Name = "adaptiveCard/action"
	press.Value = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "next", "data": actionData(t, first, "next")}}
	answered := c.post(press) // moves to step 3
	dup := c.post(press)
	if got := dup.Body.String(); dup.Code != http.StatusOK || got != answered.Body.String() {
		t.Fatalf("a redelivered press after success: %d %q, want 200 and the body the turn answered (the stored outcome)", dup.Code, got)
	}
	if card := c.say("状況"); !bytes.Contains([]byte(text(card)), []byte("3 / 10")) {
		t.Errorf("after the press and its redelivery the dialog is not at step 3: %s", text(card))
	}
}

// A Redis stall during the duplicate check: the turn is answered 503 (so
// Teams retries), and the record the stalled script still writes once
// Redis resumes is dropped again, with the attempt's own token, so that
// Teams' retry is answered instead of being taken for a duplicate.
func TestRetryAfterAStalledDuplicateCheckIsAnswered(t *testing.T) {
	r := startFaultRedis(t)
	b := startFaultBot(t, r.url(), true)
	conn := newConnStandIn(t)
	c := faultChat(t, b, conn, convUser)
	conv := "a:" + c.user
	c.say("ヘルプ") // connections and scripts warm

	rdb := redis.NewClient(&redis.Options{Addr: r.addr()})
	t.Cleanup(func() { rdb.Close() })
	seen := func() []string {
		keys, _ := rdb.Keys(context.Background(), "mfabot:*seen*").Result()
		return keys
	}
	before := len(seen())

	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resume := func() { r.cmd.Process.Signal(syscall.SIGCONT) }
	t.Cleanup(resume)
	start := c.activity(schema.Message)
	start.Text = "スマホ交換"
	if status, _, _ := b.post(start); status != http.StatusServiceUnavailable {
		t.Fatalf("the duplicate check during the freeze: status %d, want 503", status)
	}
	resume()
	// The stalled script runs when Redis resumes; the bot drops its record.
	deadline := time.Now().Add(20 * time.Second)
	for len(seen()) > before {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled attempt's record is still there: %v\nlogs:\n%s", seen(), b.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Teams retries a 503 after its Retry-After; the record may still be
	// taken by the stalled call for a moment (Redis runs it after the
	// check above may have looked): the retry is then asked to wait too.
	for deadline := time.Now().Add(30 * time.Second); ; {
		status, _, _ := b.post(start)
		if status == http.StatusOK {
			break
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("Teams' retry: status %d", status)
		}
		time.Sleep(time.Second)
	}
	var ids []string
	for _, a := range conn.to(conv) {
		ids = append(ids, cards.CardID(cardOf(t, a)))
	}
	if len(ids) != 2 || ids[1] != stepCard("cautions") {
		t.Fatalf("answers in the chat %v, want the help card and then step 1 (the retry answered once)", ids)
	}
}

// The stored outcome of a card press rides on the dialog's save: a press
// that moves the dialog makes no write of its record of its own (the save
// script marks it done with the answer), while a typed message, whose
// answer leaves after the save, marks its record once it has.
func TestPressRecordRidesOnTheSave(t *testing.T) {
	var mu sync.Mutex
	var finishes int // record writes of their own: one key, a record's
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(t)})
	t.Cleanup(func() { rdb.Close() })
	rdb.AddHook(countHook{func(args []any) {
		if len(args) > 3 && fmt.Sprint(args[0]) == "evalsha" && fmt.Sprint(args[2]) == "1" && strings.Contains(fmt.Sprint(args[3]), ":seen:") {
			mu.Lock()
			finishes++
			mu.Unlock()
		}
	}})
	c := newUser(t)
	c.startBot(redistest.Prefix(t), nil, app.Options{Redis: rdb})
	count := func() int { mu.Lock(); defer mu.Unlock(); return finishes }

	step1 := c.say("スマホ交換")
	if n := count(); n != 1 {
		t.Fatalf("the message's record was written %d times on its own, want 1", n)
	}
	press := pressActivity(c, step1, cards.VerbNext)
	first := c.post(press)
	if n := count(); n != 1 {
		t.Fatalf("the press wrote its record %d times on its own, want 0 (it rides on the save)", n-1)
	}
	if again := c.post(press); again.Body.String() != first.Body.String() {
		t.Fatalf("the redelivered press answered\n%s\nthe press\n%s", again.Body, first.Body)
	}
}

// countHook tells f the arguments of every command go-redis sends.
type countHook struct{ f func(args []any) }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.f(cmd.Args())
		return next(ctx, cmd)
	}
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
