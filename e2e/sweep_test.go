//go:build unix

package e2e

// The tenant sweep through the Agents Playground: a user who added a new
// phone on the security-info page and kept the old one is found by 棚卸し
// in the helpdesk channel, gets the card 「古いスマホの登録が残っている可能性が
// あります」 in their chat, chooses the old phone, deletes it on the page,
// and the bot confirms it through Graph and finishes at 完了; the channel's
// card for the sweep ends as its summary.

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSweepInPlayground: 棚卸し → 通知を開始 → 実行 in the channel; the
// candidate's card; 選んだ登録を削除する with the old phone chosen; the old
// registration deleted on the page; 次へ to 完了.
func TestSweepInPlayground(t *testing.T) {
	t.Parallel()
	const newPhone = "iPhone 16"
	env := Start(t, Options{
		BotEnv:        map[string]string{"HELPDESK_ADMINS": hdCurrentUserAAD(t), "SANDBOX_PASSKEY": "false"},
		PlaygroundEnv: japanesePlaygroundEnv(t),
	})
	logMark := env.Bot.OutputMark()
	tr := &http.Transport{Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	page := &sandboxPageAPI{t: t, origin: env.Bot.URL, user: env.Config.CurrentUser.AADObjectID,
		client: &http.Client{Timeout: 10 * time.Second, Transport: tr}}

	personal := env.PersonalChat()
	personal.InstallApp()
	personal.WaitFor(func(m Message) bool { return cardIdentity(m.Card()) == "welcome" }, 0)
	channel := env.Channel("Helpdesk")
	channel.InstallApp()
	channel.Quiet(500 * time.Millisecond)
	channel.SendTextMentioningBot("ヘルプデスク設定")
	if setup := channel.WaitFor(func(m Message) bool { return m.Text != "" }, 0); !strings.Contains(setup.Text, hdSetupDone) {
		t.Fatalf("ヘルプデスク設定 answered %q", setup.Text)
	}

	// The user added the new phone and kept the old one.
	page.add(newPhone)
	var old sandboxMethod
	for _, m := range page.list() {
		if m.DisplayName == swapOldDevice {
			old = m
		}
	}
	if old.ID == "" {
		t.Fatalf("the page lists no %q: %+v", swapOldDevice, page.list())
	}

	// 棚卸し in the channel, notifying.
	channel.SendTextMentioningBot("棚卸し")
	desk := channel.WaitFor(func(m Message) bool { return cardIdentity(m.Card()) == "sweep-desk" }, 0)
	thread := hdThread(t, env, desk)
	confirm := hdPress(t, thread, desk.ID, desk.Card(), "通知を開始", "sweep-desk-confirm")
	personal.Mark()
	hdPress(t, thread, desk.ID, confirm, "実行", "sweep-desk")

	// The candidate's card, naming both phones.
	notice := personal.WaitFor(func(m Message) bool { return cardIdentity(m.Card()) == "sweep" }, 0)
	hdWantTexts(t, "the sweep card", notice.Card(), "古いスマホの登録が残っている可能性があります", swapOldDevice, newPhone, "これは両方使っています")
	card := hdPressWith(t, personal, notice.ID, notice.Card(), "選んだ登録を削除する", map[string]string{"old": old.ID}, "step-delete_old")
	hdWantTexts(t, "the deletion step", card, swapOldDevice)

	// Deleted on the page; the bot checks through Graph.
	page.remove(old.ID)
	card = hdPress(t, personal, notice.ID, card, "次へ", "step-remove_account")
	hdPress(t, personal, notice.ID, card, "次へ", "done")
	if names := page.graphAuthenticators(); len(names) != 1 || names[0] != newPhone {
		t.Errorf("Graph lists %q after the sweep's procedure, want only %q", names, newPhone)
	}

	// The sweep's card in the channel ends as its summary.
	summary := channel.WaitFor(func(m Message) bool { return cardIdentity(m.Card()) == "sweep-summary" }, 30*time.Second)
	if summary.Action != "updateMessage" {
		t.Errorf("the sweep's summary was %s, want an update of its progress card in place", summary.Action)
	}
	t.Logf("the sweep's card %s in the channel ended as its summary", summary.ID)
	assertNoBotErrorLogs(t, env, logMark)
}
