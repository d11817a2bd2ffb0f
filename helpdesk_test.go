package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
)

// The helpdesk through the real HTTP handler: the user's chat and the
// helpdesk channel share one connector stand-in (see helpdeskRig), and a
// ticketing system receives the webhook.

func newHelpdeskRig(t *testing.T) *helpdeskRig {
	return newHelpdeskRigWith(t, app.Options{})
}

// newHelpdeskRigWith is newHelpdeskRig with opts for the bot.
func newHelpdeskRigWith(t *testing.T, opts app.Options) *helpdeskRig {
	c := newUser(t)
	r := &helpdeskRig{chat: c, logs: &syncBuffer{}, hooks: newHookReceiver(t)}
	opts.Logger = slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.bot = c.startBot(redistest.Prefix(t), helpdeskVars(c.conn,
		"TAP_ENABLED", "true", "TAP_LIFETIME", "1h",
		"HELPDESK_WEBHOOK_URL", r.hooks.URL, "HELPDESK_WEBHOOK_SECRET", webhookSecret,
	), opts)
	// Only the agent belongs to the helpdesk team.
	c.conn.member = func(conv, user string) bool { return conv == helpdeskTeam && user == "29:"+agentAAD }
	return r
}

func TestTicketLifecycle(t *testing.T) {
	r := newHelpdeskRig(t)
	step := r.press(r.press(r.say("スマホ交換"), cards.VerbNext), cards.VerbNext) // step 3

	got := r.submitHelpdesk(step, "qr", "カメラが起動しません")
	wantCard(t, got, "ticket-received")
	if !strings.Contains(text(got), "#") {
		t.Fatalf("no ticket number for the user: %s", text(got))
	}
	posted := r.inChannel(http.MethodPost)
	if len(posted) != 1 {
		t.Fatalf("%d cards posted to the channel, want 1", len(posted))
	}
	ticketCard := cardOf(t, posted[0])
	wantCard(t, ticketCard, "ticket")
	for _, want := range []string{"未対応", "サンドボックス", "@sandbox.example", convUser, "MFA デバイス管理画面にサインイン", "QR コードが読み取れない", "カメラが起動しません", "iPhone SE (3rd generation)", "担当する", "解決済みにする", "ユーザーとチャット", "teams.microsoft.com/l/chat/0/0?users="} {
		if !strings.Contains(text(ticketCard), want) {
			t.Errorf("ticket card lacks %q: %s", want, text(ticketCard))
		}
	}

	// A second press adds a note to the same ticket and updates its card in place.
	again := r.submitHelpdesk(step, "other", "やはり読めません")
	if !strings.Contains(text(again), "追記しました") {
		t.Errorf("second press: %s", text(again))
	}
	if n := len(r.inChannel(http.MethodPost)); n != 1 {
		t.Errorf("a second ticket card was posted (%d)", n)
	}
	puts := r.inChannel(http.MethodPut)
	if len(puts) != 1 || !strings.Contains(text(cardOf(t, puts[0])), "やはり読めません") {
		t.Fatalf("the channel card was not updated in place with the note: %d updates", len(puts))
	}

	// 担当する: the card in the channel changes and the user is told.
	typ, v := r.agentPress(agentAAD, ticketCard, cards.VerbTicketAssign, nil)
	if typ != bot.InvokeTypeCard {
		t.Fatalf("assign answered %s %v", typ, v)
	}
	assigned := asCard(t, v)
	if !strings.Contains(text(assigned), "対応中") || !strings.Contains(text(assigned), "Agent a9e1") {
		t.Errorf("assigned card: %s", text(assigned))
	}
	if !strings.Contains(strings.Join(r.userTexts(), "\n"), "Agent a9e1 さんが担当します") {
		t.Errorf("user not told of the assignment: %v", r.userTexts())
	}
	// Every member of the channel sees it: the card is updated in place too.
	if puts := r.inChannel(http.MethodPut); len(puts) != 2 || !strings.Contains(text(cardOf(t, puts[1])), "対応中") {
		t.Errorf("the channel card was not updated in place after 担当する (%d updates)", len(puts))
	}

	typ, v = r.agentPress(agentAAD, assigned, cards.VerbTicketResolve, nil)
	resolved := asCard(t, v)
	if !strings.Contains(text(resolved), "解決済み") || !strings.Contains(text(resolved), "再オープン") {
		t.Errorf("resolved card: %s", text(resolved))
	}
	if !strings.Contains(strings.Join(r.userTexts(), "\n"), "解決済みになりました") {
		t.Errorf("user not told of the resolution: %v", r.userTexts())
	}

	_, v = r.agentPress(agentAAD, resolved, cards.VerbTicketReopen, nil)
	if !strings.Contains(text(asCard(t, v)), "対応中") {
		t.Errorf("reopened card: %s", text(asCard(t, v)))
	}
	if !strings.Contains(strings.Join(r.userTexts(), "\n"), "再オープンされました") {
		t.Errorf("user not told of the reopening: %v", r.userTexts())
	}

	// After resolution a new press opens a new ticket.
	r.agentPress(agentAAD, asCard(t, v), cards.VerbTicketResolve, nil)
	r.submitHelpdesk(step, "number", "")
	if n := len(r.inChannel(http.MethodPost)); n != 2 {
		t.Errorf("after resolution: %d tickets posted, want 2", n)
	}
}

func TestTicketActionRefusedForNonMembers(t *testing.T) {
	r := newHelpdeskRig(t)
	r.submitHelpdesk(r.say("スマホ交換"), "qr", "")
	ticketCard := cardOf(t, r.inChannel(http.MethodPost)[0])
	before := len(r.userTexts())
	for _, verb := range []string{cards.VerbTicketAssign, cards.VerbTicketResolve} {
		typ, v := r.agentPress(strangerAAD, ticketCard, verb, nil)
		if typ != bot.InvokeTypeMessage || !strings.Contains(v.(string), "ヘルプデスクのメンバーだけ") {
			t.Errorf("%s by a non-member: %s %v", verb, typ, v)
		}
	}
	if len(r.userTexts()) != before {
		t.Error("the user was told of a refused action")
	}
	// Nothing changed: the member still sees it unassigned.
	_, v := r.agentPress(agentAAD, ticketCard, cards.VerbTicketAssign, map[string]any{"verb": cards.VerbTicketView})
	if !strings.Contains(text(asCard(t, v)), "未対応") {
		t.Errorf("a refused action changed the ticket: %s", text(asCard(t, v)))
	}
	// The user cannot act on their own ticket from their chat either.
	data := actionData(t, ticketCard, cards.VerbTicketAssign)
	a := r.activity(schema.Invoke)
	a.Name = "adaptiveCard/action"
	a.Value = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": cards.VerbTicketAssign, "data": data}}
	if body := r.post(a).Body.String(); !strings.Contains(body, "ヘルプデスクのメンバーだけ") {
		t.Errorf("the user acted on a ticket: %s", body)
	}
}

func TestLostPhoneTAPOnlyInUsersChat(t *testing.T) {
	r := newHelpdeskRig(t)
	card := r.press(r.say("スマホ交換"), cards.VerbNext) // old_phone
	lost := r.press(card, cards.VerbLost)
	wantCard(t, lost, "lost")
	if !strings.Contains(text(lost), "旧端末なし") {
		t.Fatalf("lost card does not name the ticket: %s", text(lost))
	}
	posted := r.inChannel(http.MethodPost)
	if len(posted) != 1 {
		t.Fatalf("%d tickets posted", len(posted))
	}
	ticketCard := cardOf(t, posted[0])
	for _, want := range []string{"旧端末なし", "一時アクセスパスを発行", "すべてのセッションをサインアウト"} {
		if !strings.Contains(text(ticketCard), want) {
			t.Errorf("lost-phone ticket lacks %q", want)
		}
	}
	// A non-member cannot issue a pass.
	if typ, _ := r.agentPress(strangerAAD, ticketCard, cards.VerbTicketTAP, nil); typ != bot.InvokeTypeMessage {
		t.Error("a non-member reached the TAP confirmation")
	}
	_, v := r.agentPress(agentAAD, ticketCard, cards.VerbTicketTAP, nil)
	confirm := asCard(t, v)
	wantCard(t, confirm, "ticket-tap-confirm")
	// Without the identity check ticked, nothing is issued.
	_, v = r.agentPress(agentAAD, confirm, cards.VerbTicketTAPGo, map[string]any{"verified": "false"})
	if !strings.Contains(text(asCard(t, v)), "本人確認") {
		t.Errorf("issued without the identity check: %s", text(asCard(t, v)))
	}
	_, v = r.agentPress(agentAAD, confirm, cards.VerbTicketTAPGo, map[string]any{"verified": "true"})
	after := asCard(t, v)
	if !strings.Contains(text(after), "一時アクセスパスを発行(ユーザーの 1:1 チャットにのみ送信)") {
		t.Fatalf("ticket history lacks the TAP: %s", text(after))
	}

	// The pass reached the user's chat, and nowhere else.
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
	if len(pass) < 8 {
		t.Fatalf("pass %q too short", pass)
	}
	for i, a := range r.conn.sent {
		if r.conn.conv[i] != "a:"+r.user {
			if b, _ := json.Marshal(a); bytes.Contains(b, []byte(pass)) {
				t.Errorf("the pass appeared in conversation %s", r.conn.conv[i])
			}
		}
	}
	if strings.Contains(text(after), pass) {
		t.Error("the pass is in the channel card")
	}
	if strings.Contains(r.logs.String(), pass) {
		t.Error("the pass is in the logs")
	}
	// The user's dialog resumes at signing in.
	wantCard(t, r.press(tapCard, cards.VerbResume), "step-open_page")

	// Sign out everywhere, with a confirmation.
	_, v = r.agentPress(agentAAD, after, cards.VerbTicketRevoke, nil)
	wantCard(t, asCard(t, v), "ticket-revoke-confirm")
	_, v = r.agentPress(agentAAD, asCard(t, v), cards.VerbTicketRevokeGo, nil)
	if !strings.Contains(text(asCard(t, v)), "すべてのセッションをサインアウト") {
		t.Errorf("revocation not in the history: %s", text(asCard(t, v)))
	}
	if !strings.Contains(strings.Join(r.userTexts(), "\n"), "サインアウトしました") {
		t.Errorf("user not told of the sign-out: %v", r.userTexts())
	}

	// Audit: who, when, for whom — in the log and the Redis stream.
	for _, ev := range []string{`"event":"tap_issued"`, `"event":"sessions_revoked"`} {
		if !strings.Contains(r.logs.String(), ev) {
			t.Errorf("no audit log line %s", ev)
		}
	}
	entries := redistest.Client(t).XRange(context.Background(), r.prefixKey("{t:"+convTenant+":u:"+convUser+"}:audit"), "-", "+").Val()
	var events []string
	for _, e := range entries {
		if e.Values["by"] != agentAAD || e.Values["user"] != convUser || e.Values["at"] == "" {
			t.Errorf("audit entry lacks who/for whom/when: %v", e.Values)
		}
		events = append(events, e.Values["event"].(string))
	}
	if !strings.Contains(strings.Join(events, ","), "tap_issued") || !strings.Contains(strings.Join(events, ","), "sessions_revoked") {
		t.Errorf("audit stream: %v", events)
	}

	// The webhook got the events, signed, after one failed try each, and never the pass.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(r.hooks.events()) < 3 {
		time.Sleep(20 * time.Millisecond)
	}
	var kinds []string
	for _, e := range r.hooks.events() {
		kinds = append(kinds, e["event"].(string))
		if b, _ := json.Marshal(e); bytes.Contains(b, []byte(pass)) {
			t.Error("the pass reached the webhook")
		}
	}
	if got := strings.Join(kinds, ","); !strings.Contains(got, "created") || !strings.Contains(got, "tap_issued") {
		t.Errorf("webhook events %s", got)
	}
	r.hooks.mu.Lock()
	for id, n := range r.hooks.attempts {
		if n < 2 {
			t.Errorf("delivery %s was not retried after its failure", id)
		}
	}
	if r.hooks.bad != 0 {
		t.Errorf("%d deliveries had a bad signature", r.hooks.bad)
	}
	r.hooks.mu.Unlock()
}

// tapPass reads the pass from the TAP card (the ExtraLarge text, in a
// RichTextBlock's TextRun since the pass must not be read as Markdown).
func tapPass(t testing.TB, c cards.Card) string {
	for _, b := range c["body"].([]any) {
		m := b.(map[string]any)
		if m["size"] == "ExtraLarge" {
			return m["text"].(string)
		}
		inlines, _ := m["inlines"].([]any)
		for _, in := range inlines {
			if run, ok := in.(map[string]any); ok && run["size"] == "ExtraLarge" {
				return run["text"].(string)
			}
		}
	}
	t.Fatalf("no pass on the TAP card: %s", text(c))
	return ""
}

func (r *helpdeskRig) prefixKey(k string) string {
	return r.bot.Store().Prefix() + k
}

// serveRig runs r's bot with Serve, as main does, on a loopback listener
// until the returned stop is called; stop returns Serve's error.
func serveRig(t *testing.T, r *helpdeskRig) (stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.bot.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Serve did not return after its context ended")
			return nil
		}
	}
}

// A ticket event whose delivery is in flight when the bot is told to stop
// is delivered before Serve returns: the shutdown waits for it.
func TestWebhookDeliveryInFlightAtShutdown(t *testing.T) {
	r := newHelpdeskRig(t)
	stop := serveRig(t, r)
	arrived, release := make(chan struct{}, 10), make(chan struct{})
	r.hooks.holdWith(func() { arrived <- struct{}{}; <-release })

	wantCard(t, r.submitHelpdesk(r.say("スマホ交換"), "qr", ""), "ticket-received")
	select {
	case <-arrived: // the first attempt is at the ticketing system, unanswered
	case <-time.After(10 * time.Second):
		t.Fatal("the ticket event never reached the ticketing system")
	}
	go func() { time.Sleep(200 * time.Millisecond); close(release) }()
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	var kinds []string
	for _, e := range r.hooks.events() {
		kinds = append(kinds, e["event"].(string))
	}
	if len(kinds) != 1 || kinds[0] != "created" {
		t.Errorf("delivered by the time Serve returned: %v, want [created] (after its retry)", kinds)
	}
	if strings.Contains(r.logs.String(), "given up") || strings.Contains(r.logs.String(), "not delivered") {
		t.Errorf("the delivery was given up:\n%s", r.logs.String())
	}
}

// When the shutdown budget ends first, the delivery still in flight is
// given up, and the log says so.
func TestWebhookDeliveryGivenUpWhenShutdownBudgetEnds(t *testing.T) {
	r := newHelpdeskRigWith(t, app.Options{ShutdownTimeout: 500 * time.Millisecond})
	stop := serveRig(t, r)
	arrived, release := make(chan struct{}, 10), make(chan struct{})
	r.hooks.holdWith(func() { arrived <- struct{}{}; <-release })
	t.Cleanup(func() { close(release) }) // before the receiver closes

	wantCard(t, r.submitHelpdesk(r.say("スマホ交換"), "qr", ""), "ticket-received")
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the ticket event never reached the ticketing system")
	}
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Serve took %s to return with a 500ms shutdown budget", took)
	}
	logs := r.logs.String()
	for _, want := range []string{`"msg":"shutdown budget spent: webhook deliveries given up","deliveries":1`, `"msg":"helpdesk webhook not delivered"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %s in the logs:\n%s", want, logs)
		}
	}
	if n := len(r.hooks.events()); n != 0 {
		t.Errorf("%d events delivered, want none (the ticketing system never answered)", n)
	}
}
