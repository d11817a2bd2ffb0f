package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
	"github.com/redis/go-redis/v9"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/app"
)

// The fault matrix of a first スマホ交換 through the HTTP handler: for each
// fault, the turn's own answer, then Teams' retry of the same activity when
// the bot asked for one (5xx). The invariant in every cell: the employee
// gets exactly one answer for the activity, the dialog moved at most once,
// and a retried first message shows step 1. (Redis frozen during the
// duplicate check: TestRetryAfterAStalledDuplicateCheckIsAnswered; a
// connector that hangs past the turn's budget: bot's
// TestTurnPastItsDeadlineIsRetriedOnRedelivery; Redis killed mid-turn:
// TestFaultRedisKilledDuringTurn.)
func TestFaultMatrixFirstMessage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(n int) (status int, retryAfter string) // the connector's answer to send n
	}{
		{"connector refuses", func(int) (int, string) { return http.StatusBadRequest, "" }},
		{"connector 5xx", func(int) (int, string) { return http.StatusBadGateway, "" }},
		{"connector 429", func(int) (int, string) { return http.StatusTooManyRequests, "1" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newChat(t, "")
			conv := "a:" + c.user
			c.conn.mu.Lock()
			c.conn.fail = tc.fault
			c.conn.mu.Unlock()
			start := c.activity(schema.Message)
			start.Text = "スマホ交換"
			if status := c.postStatus(start); status < 500 {
				t.Fatalf("the turn whose answer did not leave: status %d, want 5xx (so Teams retries)", status)
			}
			if n := len(c.conn.to(conv)); n != 0 {
				t.Fatalf("%d answers reached the chat during the fault", n)
			}
			c.conn.mu.Lock()
			c.conn.fail = nil
			c.conn.mu.Unlock()
			if status := c.postStatus(start); status != http.StatusOK {
				t.Fatalf("Teams' retry: status %d", status)
			}
			if status := c.postStatus(start); status != http.StatusOK {
				t.Fatalf("a second redelivery: status %d", status)
			}
			checkOneStartAnswer(t, c)
		})
	}
}

// Redis frozen while the turn saves the dialog: the turn gives up. Either
// it still says so politely (200, nothing to retry) or, its budget spent,
// it asks Teams to retry (5xx); then the save that Redis runs once it
// resumes has moved the dialog, and the retry answers from it: step 1.
func TestFaultMatrixRedisFrozenDuringSave(t *testing.T) {
	rs := startFaultRedis(t)
	sb := sandbox.New(sandbox.Options{})
	g := &gatedGraph{next: sb.Handler()}
	srv := newBot(t, map[string]string{"REDIS_URL": rs.url(), "GRAPH_BASE_URL": serveGraph(t, sb, g)}, app.Options{}).Handler()
	conn := newConnStandIn(t)
	c := faultChat(t, srv, conn, convUser)
	conv := "a:" + c.user
	rdb := redis.NewClient(&redis.Options{Addr: rs.addr()})
	t.Cleanup(func() { rdb.Close() })
	resume := func() { rs.cmd.Process.Signal(syscall.SIGCONT) }
	t.Cleanup(resume)
	// The snapshot's Graph call comes between the dialog load and the save.
	g.onNextCall(func() { rs.cmd.Process.Signal(syscall.SIGSTOP) })
	start := c.activity(schema.Message)
	start.Text = "スマホ交換"
	status := c.postStatus(start)
	resume()
	t.Logf("the turn whose save stalled: status %d", status)
	if status >= 500 {
		if n := len(conn.to(conv)); n != 0 {
			t.Fatalf("a turn answered %d and asked for a retry", n)
		}
		// Its duplicate record is dropped once Redis answers, then Teams retries.
		deadline := time.Now().Add(20 * time.Second)
		for keys := rdb.Keys(context.Background(), "mfabot:*seen*").Val(); len(keys) > 0; keys = rdb.Keys(context.Background(), "mfabot:*seen*").Val() {
			if time.Now().After(deadline) {
				t.Fatalf("the failed turn's record is still there: %v", keys)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if status := c.postStatus(start); status != http.StatusOK {
			t.Fatalf("Teams' retry: status %d", status)
		}
	}
	// A redelivery (Teams retries a lost 200) changes nothing more.
	if status := c.postStatus(start); status != http.StatusOK {
		t.Fatalf("redelivery: status %d", status)
	}
	sent := conn.to(conv)
	if len(sent) != 1 {
		t.Fatalf("%d answers for one activity, want 1: %+v", len(sent), sent)
	}
	polite := cards.Text(cards.Japanese, "error.retry")
	if sent[0].Text != polite {
		wantCard(t, cardOf(t, sent[0]), stepCard("cautions"))
	}
	card := c.say("状況")
	if cards.CardID(card) == "status" && !strings.Contains(text(card), "1 / 10") {
		t.Errorf("the dialog moved more than once: %s", text(card))
	}
}

// checkOneStartAnswer: one answer reached the chat, step 1, and the
// dialog is at step 1.
func checkOneStartAnswer(t *testing.T, c *chat) {
	t.Helper()
	sent := c.conn.to("a:" + c.user)
	if len(sent) != 1 {
		t.Fatalf("%d answers reached the chat for one activity, want 1", len(sent))
	}
	wantCard(t, cardOf(t, sent[0]), stepCard("cautions"))
	if card := c.say("状況"); !strings.Contains(text(card), "1 / 10") {
		t.Errorf("the dialog is not at step 1: %s", text(card))
	}
}

// Redis frozen while the answer is being sent: the answer leaves, but the
// turn cannot mark its record done (the write stalls). The turn still
// answers 200 within its budget; its record is marked done once Redis
// answers (the uncertain-records worker), so Teams' redelivery, asked to
// wait meanwhile (503, Retry-After), is then acknowledged: one answer,
// step 1, the dialog moved once.
func TestFaultMatrixRedisFrozenDuringSend(t *testing.T) {
	rs := startFaultRedis(t)
	sb := sandbox.New(sandbox.Options{})
	srv := newBot(t, map[string]string{"REDIS_URL": rs.url(), "GRAPH_BASE_URL": serveGraph(t, sb, sb.Handler())}, app.Options{}).Handler()
	conn := newConnStandIn(t)
	c := faultChat(t, srv, conn, convUser)
	resume := func() { rs.cmd.Process.Signal(syscall.SIGCONT) }
	t.Cleanup(resume)
	conn.mu.Lock()
	conn.fail = func(n int) (int, string) {
		if n == 0 {
			rs.cmd.Process.Signal(syscall.SIGSTOP)
		}
		return 0, ""
	}
	conn.mu.Unlock()
	start := c.activity(schema.Message)
	start.Text = "スマホ交換"
	if status := c.postStatus(start); status != http.StatusOK {
		t.Fatalf("the turn whose answer left: status %d, want 200", status)
	}
	// A redelivery while Redis is still frozen cannot be checked: 503.
	if status := c.postStatus(start); status != http.StatusServiceUnavailable {
		t.Fatalf("a redelivery during the freeze: status %d, want 503", status)
	}
	resume()
	redeliverUntilAnswered(t, c, start)
	checkOneStartAnswer(t, c)
}

// redeliverUntilAnswered redelivers a as Teams does, following 503s
// (Retry-After) for up to 30 s, until a 200.
func redeliverUntilAnswered(t *testing.T, c *chat, a schema.Activity) {
	t.Helper()
	redeliverForBody(t, c, a)
}

// A card press (invoke) redelivered after its turn succeeded gets the
// very body the turn answered, and the dialog does not move again; one
// redelivered after its turn failed (Redis frozen during the save, 5xx)
// is handled as new.
func TestFaultMatrixInvokeRedelivered(t *testing.T) {
	t.Run("after success", func(t *testing.T) {
		c, _ := newChat(t, "")
		step1 := c.say("スマホ交換")
		press := pressActivity(c, step1, cards.VerbNext)
		first := c.post(press)
		again := c.post(press)
		if again.Body.String() != first.Body.String() {
			t.Fatalf("the redelivery answered\n%s\nthe turn\n%s", again.Body, first.Body)
		}
		_, card, _ := invokeAnswer(t, first.Body.Bytes())
		if cards.CardID(card) == cards.CardID(step1) {
			t.Fatalf("the press did not move the dialog: %s", text(card))
		}
		if status := c.say("状況"); !strings.Contains(text(status), "2 / 10") {
			t.Errorf("the dialog moved other than once: %s", text(status))
		}
		// After a later press moved the dialog on, the first press
		// redelivered moves nothing and answers with the current step.
		c.press(card, cards.VerbNext)
		late := c.post(press)
		if _, card, _ := invokeAnswer(t, late.Body.Bytes()); cards.CardID(card) != stepCard("open_page") || !strings.Contains(text(card), "古くなっています") {
			t.Errorf("a late redelivery answered %s", late.Body)
		}
		if status := c.say("状況"); !strings.Contains(text(status), "3 / 10") {
			t.Errorf("a late redelivery moved the dialog: %s", text(status))
		}
	})
	t.Run("after failure", func(t *testing.T) {
		rs := startFaultRedis(t)
		sb := sandbox.New(sandbox.Options{})
		srv := newBot(t, map[string]string{"REDIS_URL": rs.url(), "GRAPH_BASE_URL": serveGraph(t, sb, sb.Handler())}, app.Options{}).Handler()
		c := faultChat(t, srv, newConnStandIn(t), convUser)
		resume := func() { rs.cmd.Process.Signal(syscall.SIGCONT) }
		t.Cleanup(resume)
		step1 := c.say("スマホ交換")
		press := pressActivity(c, step1, cards.VerbNext)
		// Redis frozen during the duplicate check: the turn fails (503).
		rs.cmd.Process.Signal(syscall.SIGSTOP)
		status := c.postStatus(press)
		resume()
		if status != http.StatusServiceUnavailable {
			t.Fatalf("the press during the freeze: status %d, want 503", status)
		}
		body := redeliverForBody(t, c, press)
		_, card, _ := invokeAnswer(t, body)
		if cards.CardID(card) == cards.CardID(step1) || cards.CardID(card) == "" {
			t.Fatalf("the redelivery was not handled as the press: %s", body)
		}
		if again := c.post(press); again.Body.String() != string(body) {
			t.Fatalf("a second redelivery answered\n%s\nthe handled one\n%s", again.Body, body)
		}
		if status := c.say("状況"); !strings.Contains(text(status), "2 / 10") {
			t.Errorf("the dialog moved other than once: %s", text(status))
		}
	})
}

// redeliverForBody is redeliverUntilAnswered that returns the 200's body.
func redeliverForBody(t *testing.T, c *chat, a schema.Activity) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, _ := json.Marshal(a)
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body)))
		if rec.Code == http.StatusOK {
			return rec.Body.Bytes()
		}
		if rec.Code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("Teams' redelivery: status %d", rec.Code)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
