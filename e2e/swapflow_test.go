//go:build unix

package e2e

// swapFlow: the procedure as the user sees it in the personal chat of a
// Japanese Playground, the procedure's card pressed button by button and
// every card checked and validated with Microsoft's Adaptive Cards library.
// The buttons are pressed the way their type asks: an Action.Execute is an
// invoke whose answer replaces the card, an Action.Submit (CARD_ACTIONS=submit)
// a message whose answer is the bot's update of the pressed card in place.
// procedure_test.go, reminders_test.go, sandbox_browser_test.go and
// wholephone_test.go drive it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// swapSteps are the procedure's step ids in order (README, "The
// conversation") for a user whose old phone holds Authenticator push only
// (the e2e bot's sandbox users unless a test sets SANDBOX_PASSKEY); step
// n's card has the id "card:step-<swapSteps[n-1]>".
var swapSteps = []string{
	"cautions", "old_phone", "open_page", "add_method", "install_app",
	"show_qr", "enter_number", "confirm_new", "delete_old", "remove_account",
}

// wholePhoneSteps are the steps for a user whose old phone also holds a
// passkey in Authenticator (SANDBOX_PASSKEY=true): add_passkey comes after
// confirm_new.
var wholePhoneSteps = []string{
	"cautions", "old_phone", "open_page", "add_method", "install_app",
	"show_qr", "enter_number", "confirm_new", "add_passkey", "delete_old", "remove_account",
}

// Texts of the Japanese cards the tests look for.
const (
	swapOldDevice     = "iPhone SE (3rd generation)" // every sandbox user's first Authenticator
	swapStaleNotice   = "このカードは古くなっています"
	swapCheckingText  = "確認しています" // confirm_new and add_passkey while the bot polls Graph
	swapDeletedOK     = "古いスマホの登録が削除されたことを確認しました"
	swapDoneTitle     = "交換が完了しました"
	swapOpenPageTitle = "MFA デバイス管理画面にサインイン"
	swapNumberTitle   = "2 桁の番号を入力して承認"
	swapOpenURLButton = "セキュリティ情報を開く"
)

// swapFlow is the personal chat with the procedure's card in it.
type swapFlow struct {
	t      *testing.T
	env    *Env
	chat   *Chat
	node   string            // node executable
	cardIn string            // directory the received cards are written to
	titles map[string]string // step id -> Japanese title (cards/content/steps.json)
	steps  []string          // the steps the user walks: swapSteps unless withSteps says otherwise
	// style is the type of the bot's buttons: "Action.Execute", or
	// "Action.Submit" when the bot runs with CARD_ACTIONS=submit.
	style string
	cards int             // cards received so far
	msgID string          // the message the procedure's card is in
	card  json.RawMessage // the card it shows now
}

// startSwap starts the bot (with botEnv) and a Japanese Playground, checks
// the tools that validate cards, installs the app in the personal chat and
// waits for the welcome card. The user walks swapSteps unless withSteps
// says otherwise; the cards' buttons are Action.Execute unless botEnv sets
// CARD_ACTIONS=submit.
func startSwap(t *testing.T, botEnv map[string]string) *swapFlow {
	t.Helper()
	lay := findLayout(t)
	f := &swapFlow{t: t, node: requireNode(t, lay, "card validation", "adaptivecards/dist/adaptivecards.js"), cardIn: t.TempDir(), style: "Action.Execute"}
	if strings.EqualFold(botEnv["CARD_ACTIONS"], "submit") {
		f.style = "Action.Submit"
	}
	f.titles = loadStepTitles(t, lay)
	f.withSteps(swapSteps)
	f.env = Start(t, Options{BotEnv: botEnv, PlaygroundEnv: japanesePlaygroundEnv(t)})
	f.chat = f.env.PersonalChat()

	f.chat.InstallApp()
	welcome := f.chat.WaitFor(func(m Message) bool { return cardIdentity(m.Card()) == "welcome" }, 0)
	f.observe(welcome.Card(), "welcome")
	if a := actionTitles(welcome.Card()); !slices.Contains(a, "交換を始める") {
		t.Fatalf("the welcome card is not Japanese: buttons %q\n%s", a, welcome.Card())
	}
	f.chat.Quiet(500 * time.Millisecond) // both install turns are over
	return f
}

// loadStepTitles reads the Japanese step titles from the content file the
// bot embeds (cards/content/steps.json).
func loadStepTitles(t *testing.T, lay layout) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(lay.Root, "cards", "content", "steps.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Steps []struct {
			ID    string `json:"id"`
			Title struct {
				Ja string `json:"ja"`
			} `json:"title"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("cards/content/steps.json: %v", err)
	}
	out := map[string]string{}
	for _, s := range c.Steps {
		out[s.ID] = s.Title.Ja
	}
	return out
}

// withSteps makes steps the procedure the user walks (the step ids in
// order), checking that the content file titles each, and returns f.
func (f *swapFlow) withSteps(steps []string) *swapFlow {
	f.t.Helper()
	for _, id := range steps {
		if f.titles[id] == "" {
			f.t.Fatalf("cards/content/steps.json has no Japanese title for step %q", id)
		}
	}
	f.steps = steps
	return f
}

// begin types スマホ交換 and takes the step-1 card it brings.
func (f *swapFlow) begin() {
	f.t.Helper()
	start := time.Now()
	f.chat.SendText("スマホ交換")
	m := f.chat.WaitFor(func(m Message) bool { return m.Card() != nil }, 0)
	f.t.Logf("スマホ交換 answered after %v", time.Since(start).Round(time.Millisecond))
	f.msgID, f.card = m.ID, m.Card()
	f.observe(f.card, "step-"+f.steps[0])
	if titles := actionTitles(f.card); slices.Contains(titles, "Next") {
		f.t.Fatalf("the bot answered スマホ交換 in English (buttons %q): the activity reached it with an en-* locale; the Playground's ja-JP shim (localeShim) did not apply", titles)
	}
	f.expectStep(1)
}

// next presses 次へ and expects step n.
func (f *swapFlow) next(n int) {
	f.t.Helper()
	f.press("次へ")
	f.expectStep(n)
}

// press presses the button titled title on the current card; the answer
// replaces the card.
func (f *swapFlow) press(title string) json.RawMessage {
	f.t.Helper()
	f.card = f.pressOn(f.msgID, f.card, title, "")
	return f.card
}

// pressOn presses the button titled title of card (shown in message msgID),
// an Action.Execute or, with CARD_ACTIONS=submit, an Action.Submit, and
// returns the card the bot answered with, checked and validated. label names
// the press in failure messages and file names.
func (f *swapFlow) pressOn(msgID string, card json.RawMessage, title, label string) json.RawMessage {
	f.t.Helper()
	a := findAction(f.t, card, title)
	if a.Type != f.style {
		f.t.Fatalf("button %q is an %s, not an %s:\n%s", title, a.Type, f.style, card)
	}
	if label == "" {
		label = cardIdentity(card) + " " + title
	}
	if a.Type == "Action.Submit" {
		return f.submitOn(msgID, a, label)
	}
	start := time.Now()
	res := f.chat.Press(msgID, a, nil)
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case res == nil:
		f.t.Fatalf("%s: Press returned no invoke result", label)
	case res.Status != http.StatusOK:
		f.t.Fatalf("%s: the invoke failed: %s", label, res)
	case res.BotStatus != 0 && (res.BotStatus < 200 || res.BotStatus > 299):
		f.t.Fatalf("%s: the bot answered the invoke with HTTP %d: %s", label, res.BotStatus, res)
	case res.Type != ContentTypeAdaptiveCard:
		f.t.Fatalf("%s: the answer is %q, not a card that replaces the pressed one: %s", label, res.Type, res)
	}
	var bot struct {
		StatusCode int `json:"statusCode"`
	}
	if res.BotBody != nil && (json.Unmarshal(res.BotBody, &bot) != nil || bot.StatusCode != http.StatusOK) {
		f.t.Errorf("%s: the bot's invoke response should carry statusCode 200: %s", label, truncate(string(res.BotBody), 600))
	}
	f.t.Logf("%s -> %s (%v)", label, cardIdentity(res.Value), took)
	f.observe(res.Value, strings.ReplaceAll(label, " ", "_")+"-to-"+cardIdentity(res.Value))
	return res.Value
}

// submitOn presses the Action.Submit button a of the card in message msgID
// as the Playground's page does (a message with replyToId and the button's
// data as value) and returns the card the bot answered with: the bot must
// acknowledge the message with 2xx and update message msgID in place (PUT,
// an updateMessage on the stream), sending no new message.
func (f *swapFlow) submitOn(msgID string, a CardAction, label string) json.RawMessage {
	f.t.Helper()
	_, logs, _, _ := f.env.s.snapshot()
	logMark := len(logs)
	start := time.Now()
	f.chat.Press(msgID, a, nil)
	m := f.chat.WaitFor(func(m Message) bool { return m.Card() != nil || m.Action == "createMessage" }, 0)
	took := time.Since(start).Round(time.Millisecond)
	if m.Action != "updateMessage" || m.ID != msgID {
		f.t.Fatalf("%s: the bot answered the Action.Submit with %s, not an update of the pressed card (message %s) in place", label, m, msgID)
	}
	ack, ok := f.env.waitLog(logMark, 5*time.Second, func(l LogEntry) bool {
		if !l.ToBot() || l.ActivityName != "message" {
			return false
		}
		var act struct {
			ReplyToID string          `json:"replyToId"`
			Value     json.RawMessage `json:"value"`
		}
		return json.Unmarshal(l.RequestBody, &act) == nil && act.ReplyToID == msgID && len(act.Value) > 0
	})
	switch {
	case !ok:
		f.t.Errorf("%s: the Playground's log shows no message with replyToId %s and a value sent to the bot", label, msgID)
	case ack.ResponseStatus < 200 || ack.ResponseStatus > 299:
		f.t.Errorf("%s: the bot answered the submit message with HTTP %d %s", label, ack.ResponseStatus, truncate(string(ack.ResponseBody), 600))
	}
	f.t.Logf("%s -> %s, message %s updated in place (%v)", label, cardIdentity(m.Card()), m.ID, took)
	f.observe(m.Card(), strings.ReplaceAll(label, " ", "_")+"-to-"+cardIdentity(m.Card()))
	return m.Card()
}

// expectStep checks that the current card is step n of the procedure: its
// id, progress line, title and buttons (次へ, 戻る from step 2, 中止,
// ヘルプデスクに相談), each carrying the dialog, the step and a nonce.
func (f *swapFlow) expectStep(n int) {
	f.t.Helper()
	step := f.steps[n-1]
	card := f.card
	if id := cardIdentity(card); id != "step-"+step {
		f.t.Fatalf("want step %d (card:step-%s), got card %q:\n%s", n, step, id, card)
	}
	bad := false
	fail := func(format string, args ...any) {
		f.t.Helper()
		f.t.Errorf(format, args...)
		bad = true
	}
	text := cardText(card)
	for _, want := range []string{fmt.Sprintf("ステップ %d / %d", n, len(f.steps)), f.titles[step]} {
		if !strings.Contains(text, want) {
			fail("step %d card does not show %q:\n%s", n, want, card)
		}
	}
	actions, err := CardActions(card)
	if err != nil {
		f.t.Fatal(err)
	}
	want := []string{"次へ", "戻る", "中止", "ヘルプデスクに相談"}
	if n == 1 {
		want = []string{"次へ", "中止", "ヘルプデスクに相談"}
	}
	have := map[string]CardAction{}
	for _, a := range actions {
		have[a.Title] = a
	}
	for _, title := range want {
		a, ok := have[title]
		if !ok {
			fail("step %d card has no %q button; buttons %q", n, title, actionTitles(card))
			continue
		}
		var d struct{ Verb, Dialog, Nonce, Step string }
		if json.Unmarshal(a.Data, &d) != nil {
			d.Dialog = "" // fails below
		}
		verb := a.Verb // Action.Execute: the action's; Action.Submit: in its data
		if a.Type == "Action.Submit" {
			verb = d.Verb
		}
		if a.Type != f.style || verb == "" || d.Dialog == "" || d.Nonce == "" || d.Step != step {
			if f.style == "Action.Submit" {
				fail("step %d button %q should be an Action.Submit with data {verb, dialog, nonce, step %q}: %+v", n, title, step, a)
			} else {
				fail("step %d button %q should be an Action.Execute with a verb and data {dialog, nonce, step %q}: %+v", n, title, step, a)
			}
		}
	}
	if _, ok := have["戻る"]; n == 1 && ok {
		fail("step 1 has a 戻る button; buttons %q", actionTitles(card))
	}
	if bad {
		f.t.FailNow()
	}
}

// checkOpenURL checks step 3's 「セキュリティ情報を開く」: in local mode it
// opens the sandbox's page for this user, and returns that URL.
func (f *swapFlow) checkOpenURL() string {
	f.t.Helper()
	a := findAction(f.t, f.card, swapOpenURLButton)
	want := f.env.Bot.URL + "/sandbox/security-info?user=" + url.QueryEscape(f.env.Config.CurrentUser.AADObjectID)
	if a.Type != "Action.OpenUrl" || a.URL != want {
		f.t.Fatalf("step 3's %q should be an Action.OpenUrl to %s, got %s %q", swapOpenURLButton, want, a.Type, a.URL)
	}
	if !strings.Contains(cardText(f.card), swapOpenPageTitle) {
		f.t.Fatalf("step 3 is not %q:\n%s", swapOpenPageTitle, f.card)
	}
	return a.URL
}

// settle takes the result of a step that checks Graph for a new
// registration (confirm_new, add_passkey): the invoke's answer when Graph
// showed it at once, or else (a 「確認しています」 card) the card the bot's
// poll puts in its place (updateMessage) or sends anew.
func (f *swapFlow) settle(step string) {
	f.t.Helper()
	if cardIdentity(f.card) != "step-"+step || !strings.Contains(cardText(f.card), swapCheckingText) {
		return
	}
	f.t.Logf("step %s says the bot is still checking; waiting for the card it updates", step)
	m := f.chat.WaitFor(func(m Message) bool {
		c := m.Card()
		return cardIdentity(c) == "step-"+step && !strings.Contains(cardText(c), swapCheckingText)
	}, 45*time.Second)
	f.t.Logf("the bot's poll answered with %s of message %s", m.Action, m.ID)
	if m.ID != f.msgID {
		f.t.Logf("note: the result came as a new message %s, not an update of %s", m.ID, f.msgID)
	}
	f.msgID, f.card = m.ID, m.Card()
	f.observe(f.card, "step-"+step+"-after-poll")
}

// finish presses 次へ on the last step and checks the done card names the
// new phone and the deleted old one.
func (f *swapFlow) finish(newDevice string) {
	f.t.Helper()
	f.press("次へ")
	if id := cardIdentity(f.card); id != "done" {
		f.t.Fatalf("after step %d, want the done card, got %q:\n%s", len(f.steps), id, f.card)
	}
	text := cardText(f.card)
	for _, want := range []string{swapDoneTitle, newDevice, swapOldDevice} {
		if !strings.Contains(text, want) {
			f.t.Errorf("the done card does not show %q:\n%s", want, f.card)
		}
	}
}

// observe validates a received card with Microsoft's Adaptive Cards library
// (node e2e/validate-cards.js on a copy in a temporary directory); any event
// fails the test. With CARD_ACTIONS=submit it also checks that the card's
// buttons are all Action.Submit (links aside), each with a verb in its data.
func (f *swapFlow) observe(card json.RawMessage, label string) {
	f.t.Helper()
	f.cards++
	if card == nil {
		f.t.Fatalf("%s: no card", label)
	}
	assertTeamsCard(f.t, card)
	if f.style == "Action.Submit" {
		assertSubmitCard(f.t, card, label)
	}
	name := fmt.Sprintf("%02d-%s.json", f.cards, strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '-' || r == '_' || r == '.' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')) {
			return r
		}
		return '_'
	}, label))
	file := filepath.Join(f.cardIn, name)
	if err := os.WriteFile(file, card, 0o644); err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.node, filepath.Join(f.env.Layout.E2E, "validate-cards.js"), file)
	cmd.Dir = f.env.Layout.Root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var line struct {
		OK     bool              `json:"ok"`
		Events []json.RawMessage `json:"events"`
	}
	perr := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &line)
	if err != nil || perr != nil || !line.OK || len(line.Events) > 0 {
		f.t.Errorf("validate-cards.js on %s (%s): %v\nstdout: %s\nstderr: %s\ncard: %s", label, name, err, stdout.Bytes(), stderr.Bytes(), card)
	}
}

// assertSubmitCard checks a card of a bot running with CARD_ACTIONS=submit:
// no Action.Execute anywhere in it (selectAction and fallbacks included),
// and every button an Action.Submit with object data carrying a verb, or a
// link (Action.OpenUrl).
func assertSubmitCard(t *testing.T, card json.RawMessage, label string) {
	t.Helper()
	if bytes.Contains(card, []byte(`"Action.Execute"`)) {
		t.Errorf("%s: an Action.Execute in a card of a bot with CARD_ACTIONS=submit:\n%s", label, card)
	}
	actions, err := CardActions(card)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range actions {
		switch a.Type {
		case "Action.OpenUrl":
		case "Action.Submit":
			var d struct{ Verb string }
			if json.Unmarshal(a.Data, &d) != nil || d.Verb == "" {
				t.Errorf("%s: Action.Submit %q should carry a verb in its data (object): %s", label, a.Title, a.Data)
			}
		default:
			t.Errorf("%s: button %q is an %s; with CARD_ACTIONS=submit every button should be an Action.Submit (or a link)", label, a.Title, a.Type)
		}
	}
}
