package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/infracloudio/msbotbuilder-go/schema"
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
	c.post(press) // moves to step 3
	dup := c.post(press)
	if got := dup.Body.String(); dup.Code != http.StatusOK || len(got) != 0 {
		t.Fatalf("a redelivered press after success: %d %q, want 200 and nothing (the duplicate record)", dup.Code, got)
	}
	if card := c.say("状況"); !bytes.Contains([]byte(text(card)), []byte("3 / 10")) {
		t.Errorf("after the press and its redelivery the dialog is not at step 3: %s", text(card))
	}
}
