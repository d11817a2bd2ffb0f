//go:build unix

package e2e

// The whole smartphone-swap procedure through the Playground, pressing the
// buttons the cards carry, with the user's Authenticator registrations
// changed in the bot's Graph sandbox between the steps (through the
// sandbox's page API, sandbox_api_test.go).

import (
	"strings"
	"testing"
	"time"
)

// TestWholeProcedureInPlayground walks スマホ交換 from the first step to
// 「交換が完了しました」 by pressing the cards' own Action.Execute buttons,
// with every card checked (buttons, Microsoft's Adaptive Cards library) and
// the bot's Graph checks fed through the sandbox's page API: a new
// 「iPhone 15」 registered before 次へ on step 7, the old
// 「iPhone SE (3rd generation)」 deleted before 次へ on step 9. On the way it
// goes back once (戻る) and presses an old card once.
func TestWholeProcedureInPlayground(t *testing.T) {
	t.Parallel()
	f := startSwap(t, nil)
	logMark := f.env.Bot.OutputMark()
	start := time.Now()
	walkWholeProcedure(t, f)
	t.Logf("whole procedure: %d cards in %v", f.cards, time.Since(start).Round(time.Millisecond))
	assertNoBotErrorLogs(t, f.env, logMark)
}

// TestWholeProcedureInPlaygroundSubmitMode is TestWholeProcedureInPlayground
// with the bot on CARD_ACTIONS=submit: every card's buttons are
// Action.Submit (data {verb, dialog, step, nonce}), pressed as the
// Playground's page does (a message with replyToId and the data as value),
// and every press is answered by the bot updating the pressed card in place:
// from スマホ交換 to 「交換が完了しました」 the procedure lives in one message,
// which the bot created once and then only updated.
func TestWholeProcedureInPlaygroundSubmitMode(t *testing.T) {
	t.Parallel()
	f := startSwap(t, map[string]string{"CARD_ACTIONS": "submit"})
	logMark := f.env.Bot.OutputMark()
	start := time.Now()
	mark := f.chat.Mark()
	walkWholeProcedure(t, f)

	// One message for the whole procedure: created for スマホ交換, then only
	// updated in place.
	f.chat.Quiet(500 * time.Millisecond)
	msgs := f.chat.BotMessages(mark)
	var created, updated int
	for _, m := range msgs {
		switch {
		case m.ID != f.msgID:
			t.Errorf("a message of the bot other than the procedure's card (%s): %s", f.msgID, m)
		case m.Action == "createMessage":
			created++
		default:
			updated++
		}
	}
	if created != 1 || updated == 0 {
		t.Errorf("the procedure's card %s: created %d times and updated %d times, want created once and then updated in place:\n%s", f.msgID, created, updated, indent(messageStrings(msgs)))
	}
	t.Logf("whole procedure in submit mode: %d cards in %v, message %s updated %d times", f.cards, time.Since(start).Round(time.Millisecond), f.msgID, updated)
	assertNoBotErrorLogs(t, f.env, logMark)
}

// walkWholeProcedure is the walk of TestWholeProcedureInPlayground, in the
// card style f's bot sends. It is no test helper, so that a failure names
// its line in the walk.
func walkWholeProcedure(t *testing.T, f *swapFlow) {
	sb := f.sandboxAPI()
	f.begin()
	f.next(2)
	f.next(3)
	f.checkOpenURL()

	// 戻る once: step 3 → step 2 → step 3 again.
	f.press("戻る")
	f.expectStep(2)
	f.next(3)

	// A stale card: step 4's card pressed again after it moved on to step 5
	// changes nothing and shows the current step with the notice.
	f.next(4)
	step4 := f.card
	f.next(5)
	stale := f.pressOn(f.msgID, step4, "次へ", "stale step-4 card")
	f.card = stale // the answer replaces the card, as in Teams
	f.expectStep(5)
	if !strings.Contains(cardText(stale), swapStaleNotice) {
		t.Errorf("pressing 次へ on the old step-4 card: the answer does not say %q:\n%s", swapStaleNotice, stale)
	}

	f.next(6)
	f.next(7)
	if !strings.Contains(cardText(f.card), swapNumberTitle) {
		t.Fatalf("step 7 is not %q:\n%s", swapNumberTitle, f.card)
	}

	// The user registers the new phone (the 2-digit number approved), then
	// presses 次へ: the bot must find and name it through Graph.
	added := sb.add("iPhone 15")
	t.Logf("registered %q (id %s) through the sandbox page API", added.DisplayName, added.ID)
	f.press("次へ")
	f.settle("confirm_new")
	f.expectStep(8)
	if want := "新しいスマホ「iPhone 15」の登録を確認しました"; !strings.Contains(cardText(f.card), want) {
		t.Fatalf("step 8 does not name the new phone (%q):\n%s", want, f.card)
	}

	f.next(9)
	if !strings.Contains(cardText(f.card), swapOldDevice) {
		t.Fatalf("step 9 does not list the old phone %q:\n%s", swapOldDevice, f.card)
	}
	if strings.Contains(cardText(f.card), "iPhone 15") {
		t.Errorf("step 9 lists the new phone among the devices to delete:\n%s", f.card)
	}

	// The user deletes the old phone on the page, then presses 次へ.
	var oldID string
	for _, m := range sb.list() {
		if m.DisplayName == swapOldDevice {
			oldID = m.ID
		}
	}
	if oldID == "" {
		t.Fatalf("the sandbox does not list %q for the user: %+v", swapOldDevice, sb.list())
	}
	sb.remove(oldID)
	t.Logf("deleted %q (id %s) through the sandbox page API", swapOldDevice, oldID)
	f.next(10)
	if !strings.Contains(cardText(f.card), swapDeletedOK) {
		t.Fatalf("step 10 does not confirm the deletion (%q):\n%s", swapDeletedOK, f.card)
	}

	f.finish("iPhone 15")

	// What the bot's Graph client sees now: only the new phone.
	if got := sb.graphAuthenticators(); len(got) != 1 || got[0] != "iPhone 15" {
		t.Errorf("Graph (sandbox) lists the user's Authenticators %q, want only iPhone 15", got)
	}
}
