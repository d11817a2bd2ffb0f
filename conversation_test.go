package main

import (
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
)

// Scripted conversations through the real HTTP handler, the real dialog
// handler and a real Redis, with a connector stand-in that records what the
// bot sends. Each user action is a turn; each turn's answer is a card.

func TestConversationWholeProcedure(t *testing.T) {
	c, _ := newChat(t, "")
	card := c.say("スマホ交換")
	for i, step := range pushOnlySteps() {
		wantCard(t, card, stepCard(step))
		if !strings.Contains(text(card), "ステップ "+itoa(i+1)+" / 10") {
			t.Errorf("step %s: no progress line", step)
		}
		switch step {
		case "enter_number": // the user registers the new phone on the page
			c.sb.AddMethod(c.user, "iPhone 15")
		case "confirm_new":
			if !strings.Contains(text(card), "iPhone 15") {
				t.Errorf("the new device is not named: %s", text(card))
			}
		case "delete_old": // and deletes the old one
			if !strings.Contains(text(card), "iPhone SE (3rd generation)") {
				t.Errorf("the old device is not named: %s", text(card))
			}
			for _, m := range c.sb.Methods(c.user) {
				if m.DisplayName == "iPhone SE (3rd generation)" {
					c.sb.DeleteMethod(c.user, m.ID)
				}
			}
		}
		card = c.press(card, cards.VerbNext)
	}
	wantCard(t, card, "done")
	if !strings.Contains(text(card), "交換が完了しました") {
		t.Errorf("done card: %s", text(card))
	}
	// After completion, status says nothing is in progress.
	wantCard(t, c.say("状況"), "no-dialog")
}

func TestConversationBackCancelHelpStatusRestart(t *testing.T) {
	c, _ := newChat(t, "")
	card := c.say("スマホ交換")
	card = c.press(card, cards.VerbNext) // old_phone
	card = c.press(card, cards.VerbNext) // open_page
	wantCard(t, card, stepCard("open_page"))
	card = c.press(card, cards.VerbBack)
	wantCard(t, card, stepCard("old_phone"))

	wantCard(t, c.say("ヘルプ"), "help")
	st := c.say("状況")
	wantCard(t, st, "status")
	if !strings.Contains(text(st), "ステップ 2 / 10") {
		t.Errorf("status does not name step 2: %s", text(st))
	}
	// Resume from the status card shows the current step again.
	wantCard(t, c.press(st, cards.VerbResume), stepCard("old_phone"))

	// スマホ交換 during a dialog offers resume or start over.
	offer := c.say("スマホ交換")
	wantCard(t, offer, "resume")
	wantCard(t, c.press(offer, cards.VerbRestart), stepCard("cautions"))

	wantCard(t, c.say("最初から"), stepCard("cautions"))
	wantCard(t, c.say("キャンセル"), "cancelled")
	wantCard(t, c.say("状況"), "no-dialog")
}

func TestConversationLostPhonePath(t *testing.T) {
	// Without the helpdesk, which production always has: see
	// app.Options.WithoutHelpdesk.
	c, _ := newChatWith(t, "", nil, app.Options{WithoutHelpdesk: true})
	card := c.press(c.say("スマホ交換"), cards.VerbNext)
	wantCard(t, card, stepCard("old_phone"))
	lost := c.press(card, cards.VerbLost)
	wantCard(t, lost, "lost")
	hd := c.press(lost, cards.VerbHelpdesk)
	wantCard(t, hd, "helpdesk")
	if !strings.Contains(text(hd), "ヘルプデスク") {
		t.Errorf("helpdesk card says nothing of the helpdesk: %s", text(hd))
	}
	wantCard(t, c.press(lost, cards.VerbBack), stepCard("old_phone"))
}

func TestConversationCancelButton(t *testing.T) {
	c, _ := newChat(t, "")
	card := c.press(c.say("スマホ交換"), cards.VerbNext)
	wantCard(t, c.press(card, cards.VerbCancel), "cancelled")
	// The old card is dead now.
	stale := c.press(card, cards.VerbNext)
	wantCard(t, stale, "no-dialog")
	if !strings.Contains(text(stale), "このカードは古くなっています") {
		t.Errorf("no out-of-date notice: %s", text(stale))
	}
}

func TestConversationResumesAfterRestart(t *testing.T) {
	c, prefix := newChat(t, "")
	card := c.press(c.press(c.say("スマホ交換"), cards.VerbNext), cards.VerbNext)
	wantCard(t, card, stepCard("open_page"))
	// A new process: nothing survives but Redis.
	c.startBot(prefix, nil, app.Options{})
	wantCard(t, c.press(card, cards.VerbNext), stepCard("add_method"))
	st := c.say("状況")
	if !strings.Contains(text(st), "ステップ 4 / 10") {
		t.Errorf("status after restart: %s", text(st))
	}
}

func TestConversationStaleAndForgedActions(t *testing.T) {
	c, _ := newChat(t, "")
	first := c.say("スマホ交換")
	second := c.press(first, cards.VerbNext)
	wantCard(t, second, stepCard("old_phone"))

	// The first card, pressed again: out of date, shows the current step.
	stale := c.press(first, cards.VerbNext)
	wantCard(t, stale, stepCard("old_phone"))
	if !strings.Contains(text(stale), "このカードは古くなっています") {
		t.Errorf("no out-of-date notice: %s", text(stale))
	}

	forged := []map[string]any{}
	good := actionData(t, second, cards.VerbNext)
	mut := func(k, v string) map[string]any {
		d := map[string]any{}
		for kk, vv := range good {
			d[kk] = vv
		}
		d[k] = v
		return d
	}
	forged = append(forged,
		mut("dialog", "0123456789abcdef01"), // someone else's dialog id
		mut("nonce", "guessed"),             // a made-up nonce
		mut("step", "remove_account"),       // skipping ahead
		mut("step", "no_such_step"),         // unknown step
	)
	for _, d := range forged {
		got := c.invoke(d)
		wantCard(t, got, stepCard("old_phone"))
		if !strings.Contains(text(got), "このカードは古くなっています") {
			t.Errorf("forged %v: no out-of-date notice", d)
		}
	}
	// Nothing moved.
	if st := c.say("状況"); !strings.Contains(text(st), "ステップ 2 / 10") {
		t.Errorf("a forged action moved the dialog: %s", text(st))
	}

	// Another user pressing this user's card changes nothing for either.
	other := c.other("0d6c1f3e-7a2b-4c5d-9e8f-102132435465")
	got := other.invoke(actionData(t, second, cards.VerbNext))
	wantCard(t, got, "no-dialog")
	if st := c.say("状況"); !strings.Contains(text(st), "ステップ 2 / 10") {
		t.Errorf("another user's press moved the dialog: %s", text(st))
	}
}

func TestConversationTwoPressesAtOnceMoveOnce(t *testing.T) {
	c, _ := newChat(t, "")
	card := c.press(c.say("スマホ交換"), cards.VerbNext) // old_phone, step 2
	data := actionData(t, card, cards.VerbNext)
	const presses = 8
	results := make([]cards.Card, presses)
	var wg sync.WaitGroup
	for i := range presses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.invoke(data)
		}()
	}
	wg.Wait()
	moved, stale := 0, 0
	for _, r := range results {
		switch {
		case cards.CardID(r) == stepCard("open_page") && !strings.Contains(text(r), "古くなっています"):
			moved++
		case strings.Contains(text(r), "古くなっています"):
			stale++
		}
	}
	if moved != 1 || stale != presses-1 {
		t.Fatalf("%d presses moved the dialog and %d were told the card is stale; want 1 and %d", moved, stale, presses-1)
	}
	if st := c.say("状況"); !strings.Contains(text(st), "ステップ 3 / 10") {
		t.Errorf("dialog moved more than once: %s", text(st))
	}
}

func TestConversationUnknownTextAndVariants(t *testing.T) {
	c, _ := newChat(t, "")
	u := c.say("おはようございます")
	wantCard(t, u, "unknown")
	actionData(t, u, cards.VerbStart) // the help card offers the start button
	for _, v := range []string{"ｽﾏﾎ交換", "スマホ 交換", "スマホ変更", "機種変更", "MFA 変更", "ＭＦＡ変更"} {
		c2, _ := newChat(t, "")
		wantCard(t, c2.say(v), stepCard("cautions"))
	}
	for _, v := range []string{"change phone", "Replace Phone"} {
		c4, _ := newChat(t, "")
		c4.locale = "en-US"
		wantCard(t, c4.say(v), stepCard("cautions"))
	}
}

func TestConversationEnglish(t *testing.T) {
	c, _ := newChat(t, "")
	c.locale = "en-US"
	card := c.say("change phone")
	if s := text(card); !strings.Contains(s, "Step 1 of 10") || !strings.Contains(s, "Next") || strings.Contains(s, "次へ") {
		t.Errorf("English step card: %s", s)
	}
	wantCard(t, c.say("status"), "status")
	wantCard(t, c.say("cancel"), "cancelled")
	if s := text(c.say("help")); !strings.Contains(s, "How to use") {
		t.Errorf("English help: %s", s)
	}
}

// BOT_LANGUAGE fixes the language whatever the activity's locale (the
// Agents Playground sends en-US on every activity); auto follows it.
func TestConversationFixedLanguage(t *testing.T) {
	c, _ := newChatWith(t, "", map[string]string{"BOT_LANGUAGE": "ja"}, app.Options{})
	c.locale = "en-US"
	if s := text(c.say("スマホ交換")); !strings.Contains(s, "ステップ 1 / 10") || !strings.Contains(s, "次へ") {
		t.Errorf("BOT_LANGUAGE=ja, en-US activity: %s", s)
	}
	e, _ := newChatWith(t, "", map[string]string{"BOT_LANGUAGE": "en"}, app.Options{})
	if s := text(e.say("スマホ交換")); !strings.Contains(s, "Step 1 of 10") || strings.Contains(s, "次へ") {
		t.Errorf("BOT_LANGUAGE=en, ja-JP activity: %s", s)
	}
}

func TestConversationWelcomeOnInstall(t *testing.T) {
	c, _ := newChat(t, "")
	a := c.activity(schema.ConversationUpdate)
	a.MembersAdded = []schema.ChannelAccount{{ID: "28:bot"}, {ID: "29:" + c.user, AadObjectID: c.user}}
	c.post(a)
	sent := c.conn.to("a:" + c.user)
	if len(sent) != 1 {
		t.Fatalf("welcome: %d activities sent", len(sent))
	}
	card := cardOf(t, sent[0])
	wantCard(t, card, "welcome")
	actionData(t, card, cards.VerbStart)
}

func itoa(i int) string {
	if i >= 10 {
		return itoa(i/10) + string(rune('0'+i%10))
	}
	return string(rune('0' + i))
}

// Graph on another loopback address than 127.0.0.1 (Linux routes all of
// 127.0.0.0/8 to lo): GRAPH_BASE_URL=http://127.0.0.2:PORT passes the
// configuration and the bot's Graph client reaches it, for the snapshot and
// the new phone.
func TestGraphOnAnotherLoopbackAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.2: %v", err)
	}
	c := newUser(t)
	srv := httptest.NewUnstartedServer(c.sb.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	c.graph = c.sb.GraphBaseURL(srv.URL)
	if !strings.HasPrefix(c.graph, "http://127.0.0.2:") {
		t.Fatalf("GRAPH_BASE_URL %s", c.graph)
	}
	c.startBot(redistest.Prefix(t), nil, app.Options{})
	card := c.say("スマホ交換")
	for range 6 {
		card = c.press(card, cards.VerbNext)
	}
	wantCard(t, card, stepCard("enter_number"))
	c.sb.AddMethod(c.user, "iPhone 15")
	card = c.press(card, cards.VerbNext)
	wantCard(t, card, stepCard("confirm_new"))
	if !strings.Contains(text(card), "iPhone 15") {
		t.Errorf("the new device, listed by the Graph on 127.0.0.2, is not named: %s", text(card))
	}
}
