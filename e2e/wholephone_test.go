//go:build unix

package e2e

// The procedure for a user whose old phone holds the whole phone: Microsoft
// Authenticator push and a passkey in Authenticator (the sandbox's
// SANDBOX_PASSKEY=true). The user's part is done on the sandbox's
// security-info page in headless Chromium (e2e/sandbox-steps.js), as in
// sandbox_browser_test.go.

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWholePhoneInPlayground walks the 11 steps of a user whose old
// 「iPhone SE (3rd generation)」 holds Authenticator push and a passkey,
// with the page in Chromium at the step-3 card's URL:
//   - step 7: the new 「iPhone 16」's Authenticator added on the page
//     (method, QR, 2-digit number); step 8 names it.
//   - step 9 (add_passkey): offers 「パスキーは使わない」; 次へ before the
//     passkey exists makes the bot poll Graph, a passkey in Authenticator
//     on 「iPhone 16」 is added on the page meanwhile, and the bot's poll
//     updates the card in place to confirm it.
//   - step 10 (delete_old): names the old push and the old passkey; 次へ
//     with both there says neither is deleted; with the old push deleted
//     on the page, 再確認 names the passkey only; with the old passkey
//     deleted too (the new ones kept), 次へ confirms the deletion.
//   - step 11 and the done card, which lists 11 steps and both old
//     credentials.
//
// Graph then lists only the new phone's Authenticator and passkey.
func TestWholePhoneInPlayground(t *testing.T) {
	t.Parallel()
	const newPhone = "iPhone 16"
	browser := requireBrowser(t, findLayout(t))
	f := startSwap(t, map[string]string{"SANDBOX_PASSKEY": "true"}).withSteps(wholePhoneSteps)
	sb := f.sandboxAPI()
	logMark := f.env.Bot.OutputMark()
	start := time.Now()

	f.begin()
	f.next(2)
	f.next(3)
	pageURL := f.checkOpenURL()
	for n := 4; n <= 7; n++ {
		f.next(n)
	}

	// Step 7: the new phone's Authenticator, added on the page.
	list := browser.run(pageURL, "add", newPhone)
	if names := methodNames(list); !slices.Equal(names, []string{swapOldDevice, newPhone}) {
		t.Fatalf("after adding the Authenticator on the page, its Authenticators are %q; want %q and %q", names, swapOldDevice, newPhone)
	}
	if len(list.Passkeys) != 1 || list.Passkeys[0].DisplayName != swapOldDevice || list.Passkeys[0].Platform != "iOS" {
		t.Fatalf("the user should start with one passkey in Authenticator (iOS) on %q (SANDBOX_PASSKEY=true); the page lists %+v", swapOldDevice, list.Passkeys)
	}
	oldPasskey := list.Passkeys[0]
	f.press("次へ")
	f.settle("confirm_new")
	f.expectStep(8)
	if want := "新しいスマホ「" + newPhone + "」の登録を確認しました"; !strings.Contains(cardText(f.card), want) {
		t.Fatalf("step 8 does not name the phone added on the page (%q):\n%s", want, f.card)
	}

	// Step 9: the passkey. 次へ before it exists: the bot checks Graph and,
	// finding none, polls.
	f.next(9)
	foundPasskey := "新しいスマホ「" + newPhone + "」の Authenticator のパスキーを確認しました"
	if titles := actionTitles(f.card); !slices.Contains(titles, "パスキーは使わない") {
		t.Errorf("step 9 has no 「パスキーは使わない」 button; buttons %q", titles)
	}
	if strings.Contains(cardText(f.card), foundPasskey) {
		t.Fatalf("step 9 confirms a passkey before any was added:\n%s", f.card)
	}
	f.press("次へ")
	f.expectStep(9)
	if !strings.Contains(cardText(f.card), swapCheckingText) {
		t.Fatalf("次へ on step 9 with no new passkey: the card should say the bot is checking (%q):\n%s", swapCheckingText, f.card)
	}
	cardMsg := f.msgID
	list = browser.run(pageURL, "add-passkey", newPhone)
	if names := passkeyNames(list); !slices.Equal(names, []string{swapOldDevice, newPhone}) || list.Passkeys[1].Platform != "iOS" {
		t.Fatalf("after adding the passkey on the page, its passkeys are %+v; want %q and %q (iOS)", list.Passkeys, swapOldDevice, newPhone)
	}
	f.settle("add_passkey")
	f.expectStep(9)
	if f.msgID != cardMsg {
		t.Errorf("the poll's result came as a new message %s, not an update of the step-9 card %s", f.msgID, cardMsg)
	}
	if !strings.Contains(cardText(f.card), foundPasskey) {
		t.Fatalf("step 9 does not confirm the passkey added on the page (%q):\n%s", foundPasskey, f.card)
	}
	if titles := actionTitles(f.card); slices.Contains(titles, "パスキーは使わない") {
		t.Errorf("step 9 still offers 「パスキーは使わない」 after confirming the passkey; buttons %q", titles)
	}

	// Step 10: both old credentials are named, the new ones are not. The
	// Playground runs with TZ=UTC (playground_test.go), so the bot writes
	// dates in UTC.
	f.next(10)
	created, err := time.Parse(time.RFC3339, oldPasskey.Created)
	if err != nil {
		t.Fatalf("the page's old passkey has createdDateTime %q: %v", oldPasskey.Created, err)
	}
	date := created.UTC().Format("2006-01-02")
	text := cardText(f.card)
	for _, want := range []string{
		"- **" + swapOldDevice + "**(登録日不明)",
		"- **" + swapOldDevice + "** のパスキー(登録日: " + date + ")",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("step 10 does not list the old credential %q:\n%s", want, f.card)
		}
	}
	if strings.Contains(text, newPhone) {
		t.Errorf("step 10 lists the new phone among the credentials to delete:\n%s", f.card)
	}
	if t.Failed() {
		t.FailNow()
	}

	// 次へ with both still there: neither is deleted yet. The bot names an
	// Authenticator by its device, a passkey as 「<device> のパスキー(<date> 登録)」.
	oldPasskeyName := swapOldDevice + " のパスキー(" + date + " 登録)"
	f.press("次へ")
	f.expectStep(10)
	if still := notDeleted(f.card); !sameSet(still, []string{swapOldDevice, oldPasskeyName}) {
		t.Fatalf("次へ on step 10 with both old credentials there: the card should say neither is deleted (「まだ削除されていません: %s、%s」), it names %q:\n%s", swapOldDevice, oldPasskeyName, still, f.card)
	}

	// The old push deleted on the page: 再確認 (as the card says) names the
	// passkey only.
	list = browser.run(pageURL, "delete-old")
	if names := methodNames(list); !slices.Equal(names, []string{newPhone}) {
		t.Fatalf("after deleting the old Authenticator on the page, its Authenticators are %q; want only %q", names, newPhone)
	}
	f.press("再確認")
	f.expectStep(10)
	if still := notDeleted(f.card); !slices.Equal(still, []string{oldPasskeyName}) {
		t.Fatalf("再確認 on step 10 with only the old passkey left: the card should name it alone (「まだ削除されていません: %s」), it names %q:\n%s", oldPasskeyName, still, f.card)
	}

	// The old passkey deleted too, the new one kept: 次へ goes on.
	list = browser.run(pageURL, "delete-old-passkey")
	if names := passkeyNames(list); !slices.Equal(names, []string{newPhone}) {
		t.Fatalf("after deleting the old passkey on the page, its passkeys are %q; want only %q", names, newPhone)
	}
	if names := methodNames(list); !slices.Equal(names, []string{newPhone}) {
		t.Fatalf("after deleting the old passkey on the page, its Authenticators are %q; want only %q", names, newPhone)
	}
	f.next(11)
	if !strings.Contains(cardText(f.card), swapDeletedOK) {
		t.Fatalf("step 11 does not confirm the deletion (%q):\n%s", swapDeletedOK, f.card)
	}

	f.finish(newPhone)
	done := cardText(f.card)
	for _, want := range []string{oldPasskeyName, "✓ 11", f.titles["add_passkey"]} {
		if !strings.Contains(done, want) {
			t.Errorf("the done card does not show %q:\n%s", want, f.card)
		}
	}

	// What the bot's Graph client sees now: only the new phone, whole.
	if got := sb.graphAuthenticators(); !slices.Equal(got, []string{newPhone}) {
		t.Errorf("Graph (sandbox) lists the user's Authenticators %q, want only %q", got, newPhone)
	}
	if got := sb.graphPasskeys(); !slices.Equal(got, []string{newPhone}) {
		t.Errorf("Graph (sandbox) lists the user's passkeys %q, want only %q", got, newPhone)
	}
	t.Logf("whole phone with the page in Chromium: %d cards in %v", f.cards, time.Since(start).Round(time.Millisecond))
	assertNoBotErrorLogs(t, f.env, logMark)
}

// methodNames are the device names of the page's Authenticator rows.
func methodNames(l sandboxPageList) []string {
	var out []string
	for _, m := range l.Methods {
		out = append(out, m.DisplayName)
	}
	return out
}

// passkeyNames are the device names of the page's passkey rows.
func passkeyNames(l sandboxPageList) []string {
	var out []string
	for _, p := range l.Passkeys {
		out = append(out, p.DisplayName)
	}
	return out
}

// notDeleted lists what the card's 「まだ削除されていません: A、B。…」 line
// names (nil without that line).
func notDeleted(card json.RawMessage) []string {
	const prefix = "まだ削除されていません: "
	for _, l := range strings.Split(cardText(card), "\n") {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			names, _, _ := strings.Cut(rest, "。")
			return strings.Split(names, "、")
		}
	}
	return nil
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	return len(a) == len(b) && slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
