package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
)

// CARD_ACTIONS=submit through the HTTP handler: every button is
// Action.Submit, a press arrives as a message whose value is the button's
// data, and its answer replaces the pressed card in place (PUT on the
// replyToId). Stale, forged, duplicate and simultaneous presses behave as
// in execute mode.

// submitData is the data of the Action.Submit button with verb on card
// (in the card's actions or an ActionSet of its body).
func submitData(t testing.TB, card cards.Card, verb string) map[string]any {
	t.Helper()
	b, _ := json.Marshal(card)
	if strings.Contains(string(b), "Action.Execute") {
		t.Fatalf("card %s has an Action.Execute button in submit mode", cards.CardID(card))
	}
	return buttonData(t, card, "Action.Submit", verb)
}

// submitActivity is the message Teams sends when an Action.Submit button
// with verb is pressed on card, which is in message msgID.
func submitActivity(c *chat, card cards.Card, verb, msgID string) schema.Activity {
	a := c.activity(schema.Message)
	a.Value = submitData(c.t, card, verb)
	a.ReplyToID = msgID
	return a
}

// updates are the updates in place (PUT) in c's chat, in order.
func updates(c *chat) []schema.Activity {
	c.conn.mu.Lock()
	defer c.conn.mu.Unlock()
	var out []schema.Activity
	for i, a := range c.conn.sent {
		if c.conn.conv[i] == "a:"+c.user && c.conn.method[i] == http.MethodPut {
			out = append(out, a)
		}
	}
	return out
}

// lastUpdate is the card of the last update in place in c's chat, and how
// many there were.
func lastUpdate(t testing.TB, c *chat) (cards.Card, int) {
	t.Helper()
	u := updates(c)
	if len(u) == 0 {
		t.Fatal("no card was updated in place")
	}
	return cardOf(t, u[len(u)-1]), len(u)
}

// submitPress presses verb on card (in message "1": the stand-in's id of
// every message) and returns the card that replaced it.
func (c *chat) submitPress(card cards.Card, verb string) cards.Card {
	c.t.Helper()
	before := len(updates(c))
	c.post(submitActivity(c, card, verb, "1"))
	got, after := lastUpdate(c.t, c)
	if after != before+1 {
		c.t.Fatalf("press %s: %d updates in place, want 1", verb, after-before)
	}
	return got
}

func TestSubmitModeWholeProcedure(t *testing.T) {
	c, _ := newChatWith(t, "", map[string]string{"CARD_ACTIONS": "submit"}, app.Options{})
	card := c.say("スマホ交換")
	for i, step := range pushOnlySteps() {
		wantCard(t, card, stepCard(step))
		if !strings.Contains(text(card), "ステップ "+itoa(i+1)+" / 10") {
			t.Errorf("step %s: no progress line", step)
		}
		switch step {
		case "enter_number":
			c.sb.AddMethod(c.user, "iPhone 15")
		case "delete_old":
			for _, m := range c.sb.Methods(c.user) {
				if m.DisplayName == "iPhone SE (3rd generation)" {
					c.sb.DeleteMethod(c.user, m.ID)
				}
			}
		}
		card = c.submitPress(card, cards.VerbNext)
	}
	wantCard(t, card, "done")
	// Nothing that left the bot had an Action.Execute button.
	for _, a := range c.conn.to("a:" + c.user) {
		if b, _ := json.Marshal(a); strings.Contains(string(b), "Action.Execute") {
			t.Fatalf("an Action.Execute button left the bot in submit mode: %s", b)
		}
	}
}

// A press on an old card, a forged one, the same press delivered twice and
// two presses at once: as in execute mode, the dialog moves once and every
// press is answered with the current step.
func TestSubmitModeStaleForgedDuplicateSimultaneous(t *testing.T) {
	c, _ := newChatWith(t, "", map[string]string{"CARD_ACTIONS": "submit"}, app.Options{})
	step1 := c.say("スマホ交換")
	step2 := c.submitPress(step1, cards.VerbNext)
	wantCard(t, step2, stepCard("old_phone"))

	stale := c.submitPress(step1, cards.VerbNext)
	if cards.CardID(stale) != stepCard("old_phone") || !strings.Contains(text(stale), "古くなっています") {
		t.Errorf("a press on an old card: %s", text(stale))
	}
	forged := submitActivity(c, step2, cards.VerbNext, "1")
	forged.Value["nonce"] = "forged"
	c.post(forged)
	if card, _ := lastUpdate(t, c); !strings.Contains(text(card), "古くなっています") {
		t.Errorf("a forged press: %s", text(card))
	}

	// The same activity twice: one update, one move.
	press := submitActivity(c, step2, cards.VerbNext, "1")
	before := len(updates(c))
	c.post(press)
	c.post(press)
	if after := len(updates(c)); after != before+1 {
		t.Errorf("a press delivered twice updated the card %d times, want 1", after-before)
	}
	step3, _ := lastUpdate(t, c)
	wantCard(t, step3, stepCard("open_page"))

	// Two presses of the same card at once: the dialog moves once.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { c.post(submitActivity(c, step3, cards.VerbBack, "1")) })
	}
	wg.Wait()
	if status := c.say("状況"); !strings.Contains(text(status), "2 / 10") {
		t.Errorf("two presses at once moved the dialog other than once: %s", text(status))
	}
}

// The helpdesk channel's cards take the same style: an agent's press on a
// ticket card arrives as a channel message and updates the card in place.
func TestSubmitModeHelpdeskTicket(t *testing.T) {
	c := newUser(t)
	vars := helpdeskVars(c.conn, "CARD_ACTIONS", "submit")
	c.startBot(redistest.Prefix(t), vars, app.Options{})
	c.conn.member = func(conv, user string) bool { return conv == helpdeskTeam && user == "29:"+agentAAD }
	step := c.submitPress(c.say("スマホ交換"), cards.VerbNext)
	form := c.submitPress(step, cards.VerbHelpdesk)
	wantCard(t, form, "helpdesk-form")
	submit := submitActivity(c, form, cards.VerbHelpdeskSubmit, "1")
	submit.Value["reason"], submit.Value["note"] = "qr", "カメラが起動しません"
	c.post(submit)
	if card, _ := lastUpdate(t, c); cards.CardID(card) != "ticket-received" {
		t.Fatalf("after the form: %s", text(card))
	}
	var ticket cards.Card
	for _, a := range c.conn.to(helpdeskChannel) {
		ticket = cardOf(t, a)
	}
	if ticket == nil {
		t.Fatal("no ticket in the channel")
	}
	a := c.activity(schema.Message)
	a.From = schema.ChannelAccount{ID: "29:" + agentAAD, AadObjectID: agentAAD, Name: "Agent"}
	a.Conversation = schema.ConversationAccount{ID: helpdeskChannel + ";messageid=7", ConversationType: "channel", TenantID: convTenant}
	a.ChannelData = map[string]any{"tenant": map[string]any{"id": convTenant}, "team": map[string]any{"id": helpdeskTeam}, "channel": map[string]any{"id": helpdeskChannel}}
	a.Value = submitData(t, ticket, cards.VerbTicketAssign)
	a.ReplyToID = "7"
	c.post(a)
	c.conn.mu.Lock()
	defer c.conn.mu.Unlock()
	updated := false
	for i, s := range c.conn.sent {
		if c.conn.method[i] == http.MethodPut && strings.HasPrefix(c.conn.conv[i], helpdeskChannel) {
			b, _ := json.Marshal(s)
			updated = updated || strings.Contains(string(b), "が担当")
		}
	}
	if !updated {
		t.Error("the ticket card was not updated in place with the assignee")
	}
}
