package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
)

// The whole phone: a user whose old phone holds Microsoft Authenticator
// push and a passkey in Authenticator (the sandbox's InitialPasskey), through
// the real HTTP handler, the real Graph client against the sandbox and a
// real Redis.

const (
	oldPhone = "iPhone SE (3rd generation)"
	newPhone = "iPhone 15"
)

// newWholePhoneChat is a chat whose user's old phone holds push and a
// passkey; vars and opts are the bot's, logs what it logged.
func newWholePhoneChat(t *testing.T, vars map[string]string, opts app.Options) (c *chat, logs *syncBuffer) {
	t.Helper()
	c = newUser(t)
	c.sb = sandbox.New(sandbox.Options{InitialPasskey: true})
	c.graph = serveGraph(t, c.sb, c.sb.Handler())
	logs = &syncBuffer{}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c.startBot(redistest.Prefix(t), vars, opts)
	return c, logs
}

// toStep presses 次へ from スマホ交換 until the card of step id, adding the
// new phone's push registration at enter_number and its passkey at
// add_passkey when passkey is set.
func toStep(t *testing.T, c *chat, id string, passkey bool) cards.Card {
	t.Helper()
	card := c.say("スマホ交換")
	added := false
	for range 20 {
		switch cards.CardID(card) {
		case stepCard(id):
			return card
		case "step-enter_number":
			c.sb.AddMethod(c.user, newPhone)
		case "step-add_passkey":
			if passkey && !added {
				c.sb.AddPasskey(c.user, newPhone, "")
				added = true
			}
		}
		card = c.press(card, cards.VerbNext)
	}
	t.Fatalf("never reached %s: %s", id, text(card))
	return nil
}

// waitForCard waits up to 5 s for a card the bot sends or updates in
// place in c's chat that satisfies ok (a poll's result).
func waitForCard(t *testing.T, c *chat, ok func(cards.Card) bool) cards.Card {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		sent := c.conn.to("a:" + c.user)
		for i := len(sent) - 1; i >= 0; i-- {
			if len(sent[i].Attachments) == 1 {
				if card := cardOf(t, sent[i]); ok(card) {
					return card
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no such card within 5 s")
	return nil
}

// deleteOld deletes the old phone's credential of kind ("push",
// "passkey") on the page.
func deleteOld(c *chat, kind string) {
	switch kind {
	case "push":
		for _, m := range c.sb.Methods(c.user) {
			if m.DisplayName == oldPhone {
				c.sb.DeleteMethod(c.user, m.ID)
			}
		}
	case "passkey":
		for _, p := range c.sb.Passkeys(c.user) {
			if p.DisplayName == oldPhone {
				c.sb.DeletePasskey(c.user, p.ID)
			}
		}
	}
}

// Push and a passkey on the old phone: the procedure gains the passkey
// step, which confirms the new phone's passkey through Graph; the deletion
// step names both old credentials and completes only when both are gone.
func TestWholePhonePushAndPasskey(t *testing.T) {
	c, _ := newWholePhoneChat(t, nil, app.Options{})
	card := toStep(t, c, "add_passkey", false)
	if !strings.Contains(text(card), "ステップ 9 / 11") || !strings.Contains(text(card), "パスキーは使わない") {
		t.Fatalf("the passkey step: %s", text(card))
	}
	// 次へ before the passkey is there: the bot polls Graph for it and
	// updates the card in place once it is registered.
	waiting := c.press(card, cards.VerbNext)
	wantCard(t, waiting, "step-add_passkey")
	if !strings.Contains(text(waiting), "確認しています") {
		t.Fatalf("not waiting for the passkey: %s", text(waiting))
	}
	c.sb.AddPasskey(c.user, newPhone, "")
	card = waitForCard(t, c, func(card cards.Card) bool {
		return strings.Contains(text(card), "Authenticator のパスキーを確認しました")
	})
	if !strings.Contains(text(card), newPhone) {
		t.Fatalf("the new passkey is not named: %s", text(card))
	}

	del := c.press(card, cards.VerbNext)
	wantCard(t, del, "step-delete_old")
	if !strings.Contains(text(del), "ステップ 10 / 11") || !strings.Contains(text(del), "**"+oldPhone+"**(登録日不明)") ||
		!strings.Contains(text(del), oldPhone+"** のパスキー(登録日: ") {
		t.Fatalf("the deletion step does not name both old credentials: %s", text(del))
	}
	still := c.press(del, cards.VerbNext)
	if !strings.Contains(text(still), "まだ削除されていません: "+oldPhone+"、"+oldPhone+" のパスキー(") {
		t.Fatalf("with both still there: %s", text(still))
	}
	deleteOld(c, "push")
	still = c.press(still, cards.VerbNext)
	if s := text(still); !strings.Contains(s, "まだ削除されていません: "+oldPhone+" のパスキー(") || strings.Contains(s, "まだ削除されていません: "+oldPhone+"、") {
		t.Fatalf("with the passkey still there: %s", s)
	}
	deleteOld(c, "passkey")
	card = c.press(still, cards.VerbNext)
	wantCard(t, card, "step-remove_account")
	if !strings.Contains(text(card), "古いスマホの登録が削除されたことを確認しました") || !strings.Contains(text(card), "パスキー") {
		t.Fatalf("after both are gone: %s", text(card))
	}
	done := c.press(card, cards.VerbNext)
	wantCard(t, done, "done")
	if !strings.Contains(text(done), oldPhone+" のパスキー") {
		t.Errorf("the summary does not name the old passkey: %s", text(done))
	}
	if n := len(c.sb.Passkeys(c.user)); n != 1 {
		t.Errorf("%d passkeys left, want the new phone's", n)
	}
	got := scrape(t, c.bot.Handler())
	for _, kind := range []string{"push", "passkey"} {
		if n := got[`mfabot_credentials_removed_total{kind="`+kind+`"}`]; n != 1 {
			t.Errorf("removed %s counted %v times, want 1", kind, n)
		}
	}
}

// 「パスキーは使わない」 skips the passkey step and is recorded; the old
// passkey must still go.
func TestWholePhonePasskeyDeclined(t *testing.T) {
	c, _ := newWholePhoneChat(t, nil, app.Options{})
	card := toStep(t, c, "add_passkey", false)
	del := c.press(card, cards.VerbDeclinePasskey)
	wantCard(t, del, "step-delete_old")
	if !strings.Contains(text(del), "パスキーは使わないことを記録しました") || !strings.Contains(text(del), "のパスキー(") {
		t.Fatalf("after declining: %s", text(del))
	}
	deleteOld(c, "push")
	if still := c.press(del, cards.VerbNext); !strings.Contains(text(still), "まだ削除されていません") {
		t.Fatalf("completed with the old passkey still registered: %s", text(still))
	}
}

// ボットで削除 deletes the old phone's push registration and passkey, and
// never the new phone's passkey nor another provider's passkey (a
// security key), which the deletion step does not even name.
func TestWholePhoneBotDeleteSparesOtherPasskeys(t *testing.T) {
	c, logs := newWholePhoneChat(t, map[string]string{"GRAPH_ALLOW_DELETE": "true"}, app.Options{})
	key := c.sb.AddPasskey(c.user, "YubiKey 5", "cb69481e-8ff7-4039-93ec-0a2729a154a8")
	if key.ID == "" {
		t.Fatal("the security key was not added")
	}
	del := toStep(t, c, "delete_old", true)
	if strings.Contains(text(del), "YubiKey") {
		t.Fatalf("a security key is offered for deletion: %s", text(del))
	}
	confirm := c.press(del, cards.VerbBotDelete)
	if strings.Contains(text(confirm), "YubiKey") || strings.Count(text(confirm), oldPhone) < 2 {
		t.Fatalf("the confirmation: %s", text(confirm))
	}
	card := c.press(confirm, cards.VerbConfirmDelete)
	wantCard(t, card, "step-remove_account")
	var left []string
	for _, p := range c.sb.Passkeys(c.user) {
		left = append(left, p.DisplayName)
	}
	if strings.Join(left, ",") != "YubiKey 5,"+newPhone && strings.Join(left, ",") != newPhone+",YubiKey 5" {
		t.Errorf("passkeys left %v, want the security key and the new phone's", left)
	}
	for _, ev := range []string{`"event":"passkey_deleted"`, `"event":"authenticator_method_deleted"`} {
		if !strings.Contains(logs.String(), ev) {
			t.Errorf("no audit line %s", ev)
		}
	}
}

// An entry of another authenticator app (software OATH, which Graph gives
// no name) is shown with a question; it must go only when the user says it
// was on the old phone.
func TestWholePhoneOtherAuthenticatorApp(t *testing.T) {
	for _, tc := range []struct {
		verb     string
		required bool
	}{{cards.VerbOathKept, false}, {cards.VerbOathOld, true}} {
		t.Run(tc.verb, func(t *testing.T) {
			c, _ := newWholePhoneChat(t, nil, app.Options{})
			oath := c.sb.AddSoftwareOath(c.user)
			del := toStep(t, c, "delete_old", true)
			if !strings.Contains(text(del), "その他の認証アプリ」の登録が 1 件") {
				t.Fatalf("the OATH entry is not asked about: %s", text(del))
			}
			deleteOld(c, "push")
			deleteOld(c, "passkey")
			unanswered := c.press(del, cards.VerbNext)
			wantCard(t, unanswered, "step-delete_old")
			if !strings.Contains(text(unanswered), "下のボタンで教えてください") {
				t.Fatalf("completed without an answer: %s", text(unanswered))
			}
			answered := c.press(unanswered, tc.verb)
			card := c.press(answered, cards.VerbNext)
			if !tc.required {
				wantCard(t, card, "step-remove_account")
				if len(c.sb.SoftwareOath(c.user)) != 1 {
					t.Error("the entry kept in use was deleted")
				}
				return
			}
			if !strings.Contains(text(card), "まだ削除されていません: その他の認証アプリ") {
				t.Fatalf("an OATH entry on the old phone is not required: %s", text(card))
			}
			c.sb.DeleteSoftwareOath(c.user, oath)
			wantCard(t, c.press(card, cards.VerbNext), "step-remove_account")
		})
	}
}

// Graph refuses fido2Methods (the app lacks UserAuthMethod-Passkey.Read.All):
// passkeys are left out and the push path completes as before, while the
// log and /metrics name the missing permission; the employee is told
// nothing is wrong.
func TestWholePhoneWithoutPasskeyPermission(t *testing.T) {
	c, logs := newWholePhoneChat(t, nil, app.Options{})
	c.sb.SetFault(sandbox.Fault{Status: http.StatusForbidden, Count: -1, Only: "fido2Methods"})
	card := c.say("スマホ交換")
	for _, step := range pushOnlySteps() {
		wantCard(t, card, stepCard(step))
		if strings.Contains(text(card), "権限") {
			t.Fatalf("step %s tells the employee about a permission: %s", step, text(card))
		}
		switch step {
		case "enter_number":
			c.sb.AddMethod(c.user, newPhone)
		case "delete_old":
			deleteOld(c, "push")
		}
		card = c.press(card, cards.VerbNext)
	}
	wantCard(t, card, "done")
	if !strings.Contains(logs.String(), "UserAuthMethod-Passkey.Read.All") {
		t.Error("the log does not name the missing permission")
	}
	got := scrape(t, c.bot.Handler())
	if got[`mfabot_graph_permission_missing_total{kind="passkey",permission="UserAuthMethod-Passkey.Read.All"}`] < 1 {
		t.Errorf("the missing permission is not counted: %v", got)
	}
}

// A Temporary Access Pass the helpdesk issued for a lost phone is deleted
// once the new phone is verified; the user is told, the audit names it,
// and the pass is in no log and no channel.
func TestTAPDeletedOnceTheNewPhoneIsVerified(t *testing.T) {
	r := newHelpdeskRig(t)
	lost := r.press(r.press(r.say("スマホ交換"), cards.VerbNext), cards.VerbLost)
	wantCard(t, lost, "lost")
	ticketCard := cardOf(t, r.inChannel(http.MethodPost)[0])
	_, v := r.agentPress(agentAAD, ticketCard, cards.VerbTicketTAP, nil)
	_, v = r.agentPress(agentAAD, asCard(t, v), cards.VerbTicketTAPGo, map[string]any{"verified": "true"})
	var tapCard cards.Card
	for _, a := range r.conn.to("a:" + r.user) {
		if len(a.Attachments) == 1 && cards.CardID(cardOf(t, a)) == "tap" {
			tapCard = cardOf(t, a)
		}
	}
	if tapCard == nil {
		t.Fatal("no TAP card in the user's chat")
	}
	pass := tapPass(t, tapCard)
	for _, a := range r.conn.to("a:" + r.user) {
		if len(a.Attachments) == 1 && cards.CardID(cardOf(t, a)) == "tap" && (a.Summary == "" || strings.Contains(a.Summary, pass)) {
			t.Errorf("the pass's notification says %q", a.Summary)
		}
	}
	if posted := r.inChannel(http.MethodPost); posted[0].Summary == "" {
		t.Error("the ticket's notification in the channel says nothing")
	}
	if n := len(r.sb.TemporaryAccessPasses(r.user)); n != 1 {
		t.Fatalf("%d passes issued, want 1", n)
	}
	card := r.press(tapCard, cards.VerbResume)
	for cards.CardID(card) != "step-confirm_new" {
		if cards.CardID(card) == "step-enter_number" {
			r.sb.AddMethod(r.user, newPhone)
		}
		card = r.press(card, cards.VerbNext)
	}
	if !strings.Contains(text(card), "一時アクセスパスを削除しました") {
		t.Errorf("the user is not told the pass was deleted: %s", text(card))
	}
	if n := len(r.sb.TemporaryAccessPasses(r.user)); n != 0 {
		t.Fatalf("%d passes left after the new phone was verified", n)
	}
	if !strings.Contains(r.logs.String(), `"event":"temporary_access_pass_deleted"`) {
		t.Error("no audit line for the deletion")
	}
	// The ticket's card in the channel shows it.
	updates := r.inChannel(http.MethodPut)
	if len(updates) == 0 || !strings.Contains(text(cardOf(t, updates[len(updates)-1])), "ボットが一時アクセスパスを削除") {
		t.Error("the ticket card does not show the pass's deletion")
	}
	if strings.Contains(r.logs.String(), pass) {
		t.Error("the pass is in the logs")
	}
	r.conn.mu.Lock()
	defer r.conn.mu.Unlock()
	for i, a := range r.conn.sent {
		if b, _ := json.Marshal(a); r.conn.conv[i] != "a:"+r.user && strings.Contains(string(b), pass) {
			t.Errorf("the pass appeared in conversation %s", r.conn.conv[i])
		}
	}
}

// Reminders: with the old push registration gone but the old passkey still
// registered, the old phone is not gone; the reminder comes and names the
// passkey.
func TestReminderNamesTheOldPasskey(t *testing.T) {
	r := &reminderRig{t: t, clock: &testClock{t: monday10()}, prefix: redistest.Prefix(t)}
	r.chat = newUser(t)
	r.chat.sb = sandbox.New(sandbox.Options{InitialPasskey: true})
	r.chat.graph = serveGraph(t, r.chat.sb, r.chat.sb.Handler())
	r.vars = r.chat.vars(withVars(nil, "REMINDER_HOURS", "always"))
	r.chat.startBot(r.prefix, withVars(nil, "REMINDER_HOURS", "always"), app.Options{Now: r.clock.Now})
	c := r.chat
	toStep(t, c, "delete_old", true)
	deleteOld(c, "push")
	w := r.worker(1000)
	r.clock.Advance(25 * time.Hour)
	drain(t, w)
	got := reminders(c)
	if len(got) != 1 {
		t.Fatalf("%d reminders with the old passkey still registered, want 1", len(got))
	}
	if !strings.Contains(text(got[0]), oldPhone+"** のパスキー") {
		t.Errorf("the reminder does not name the passkey: %s", text(got[0]))
	}
	// What the phone's notification says.
	for _, a := range c.conn.to("a:" + c.user) {
		if len(a.Attachments) == 1 && cards.CardID(cardOf(t, a)) == "reminder" && a.Summary != "スマホ交換: 古いスマホの登録がまだ残っています" {
			t.Errorf("the reminder's notification says %q", a.Summary)
		}
	}
	deleteOld(c, "passkey")
	r.clock.Advance(48 * time.Hour)
	drain(t, w)
	if n := len(reminders(c)); n != 1 {
		t.Errorf("%d reminders after the passkey went too, want still 1", n)
	}
}
