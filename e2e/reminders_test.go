//go:build unix

package e2e

// Reminders: a user who stops in the middle of the procedure gets a
// proactive reminder card in the personal chat, and its 続きから resumes the
// procedure where they stopped.

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReminderArrivesAndResumes: with REMINDER_SCHEDULE=2s and
// REMINDER_HOURS=always, a user who stops at step 3 gets a proactive
// reminder card in the personal chat (a POST of the bot to the Playground's
// connector, not an answer to anything the user did); its 続きから reopens
// step 3, and the procedure goes on from there.
func TestReminderArrivesAndResumes(t *testing.T) {
	t.Parallel()
	f := startSwap(t, map[string]string{"REMINDER_SCHEDULE": "2s", "REMINDER_HOURS": "always"})
	logMark := f.env.Bot.OutputMark()

	f.begin()
	f.next(2)
	f.next(3)
	stoppedAt := time.Now()
	procedureMsg := f.msgID

	// WaitFor looks at the bot's messages after the last action (the press
	// that brought step 3): the reminder is the next thing the bot sends.
	// A reminder queued for an earlier step that slipped out before the
	// press replaced it would name that step: not the one wanted here.
	const wantAt = "現在: ステップ 3 / 10「" + swapOpenPageTitle + "」"
	m := f.chat.WaitFor(func(m Message) bool {
		c := m.Card()
		return cardIdentity(c) == "reminder" && strings.Contains(cardText(c), wantAt)
	}, 20*time.Second)
	t.Logf("reminder arrived %v after the last press: %s", time.Since(stoppedAt).Round(time.Millisecond), m.ID)
	reminder := m.Card()
	f.observe(reminder, "reminder")
	if m.Action != "createMessage" || m.ID == procedureMsg {
		t.Errorf("the reminder should be a new message, not %s of message %s (the procedure's card is %s)", m.Action, m.ID, procedureMsg)
	}
	if others := otherBotMessages(f.chat, m.ID); len(others) > 0 {
		t.Errorf("besides the reminder, the bot sent:\n%s", indent(others))
	}
	text := cardText(reminder)
	for _, want := range []string{"スマホ交換の手順が途中です", wantAt} {
		if !strings.Contains(text, want) {
			t.Errorf("the reminder card does not say %q:\n%s", want, reminder)
		}
	}
	if got, want := actionTitles(reminder), []string{"続きから", "あとで", "中止", "ヘルプデスクに相談"}; !slices.Equal(got, want) {
		t.Errorf("reminder buttons %q, want %q", got, want)
	}

	// How it arrived: the bot POSTed it to the connector on its own, and the
	// connector took it.
	proactive := false
	for _, l := range f.env.Logs() {
		if !l.FromBot() || !strings.Contains(string(l.RequestBody), "スマホ交換の手順が途中です") {
			continue
		}
		var a struct {
			Type      string `json:"type"`
			ReplyToID string `json:"replyToId"`
		}
		_ = json.Unmarshal(l.RequestBody, &a)
		t.Logf("bot -> connector: %s %s, replyToId %q; connector answered %d %s", l.ActivityName, a.Type, a.ReplyToID, l.ResponseStatus, l.ResponseBody)
		if l.ResponseStatus < 200 || l.ResponseStatus > 299 {
			t.Errorf("the connector refused the reminder: %s", l.String(0))
		}
		proactive = true
	}
	if !proactive {
		t.Errorf("the reminder is not among the bot's calls to the connector on the log stream")
	}

	// 続きから reopens step 3 in place of the reminder; 次へ goes on.
	f.msgID, f.card = m.ID, reminder
	f.press("続きから")
	f.expectStep(3)
	if !strings.Contains(cardText(f.card), swapOpenPageTitle) {
		t.Fatalf("続きから should reopen %q:\n%s", swapOpenPageTitle, f.card)
	}
	f.checkOpenURL()
	f.next(4)

	// 中止 ends the dialog, and with it the reminder the last press queued
	// (2 s from now), so that none arrives while the test shuts down.
	f.press("中止")
	if id := cardIdentity(f.card); id != "cancelled" || !strings.Contains(cardText(f.card), "交換手順を中止しました") {
		t.Errorf("中止 answered %q, want the cancelled card:\n%s", id, f.card)
	}
	assertNoBotErrorLogs(t, f.env, logMark)
}

// otherBotMessages lists the bot's messages after the chat's mark other
// than the one with id except.
func otherBotMessages(c *Chat, except string) []string {
	var out []string
	for _, m := range c.BotMessages(c.mark) {
		if m.ID != except {
			out = append(out, m.String())
		}
	}
	return out
}
