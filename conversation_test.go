package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/dialogs"
	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/redistest"
)

// Scripted conversations through the real HTTP handler, the real dialog
// handler and a real Redis, with a connector stand-in that records what the
// bot sends. Each user action is a turn; each turn's answer is a card.

const (
	convTenant = "9f3a1c2e-5b7d-4e8f-a1b2-c3d4e5f60718"
	convUser   = "c5e99701-2a32-49c1-a660-4629ceeb8c61"
)

type chat struct {
	t      testing.TB
	sb     *sandbox.Sandbox
	h      http.Handler
	conn   *connStandIn
	user   string
	locale string
	tz     string
	idBase string
	seq    *atomic.Int64
}

// connStandIn answers like the Bot Connector and records what the bot
// sends, by conversation. fail, when set, picks an error status for a send.
type connStandIn struct {
	*httptest.Server
	mu     sync.Mutex
	sent   []schema.Activity
	conv   []string
	method []string
	at     []time.Time
	fail   func(n int) (status int, retryAfter string)
	// member answers GET …/members/{user}; nil: everyone is a member.
	member func(conv, user string) bool
}

func newConnStandIn(t testing.TB) *connStandIn {
	c := &connStandIn{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a schema.Activity
		json.NewDecoder(r.Body).Decode(&a)
		// POST /v3/conversations/{id}/activities[/{replyTo}]
		parts := strings.Split(r.URL.Path, "/")
		conv := ""
		if len(parts) > 3 {
			conv, _ = url.PathUnescape(parts[3])
		}
		if r.Method == http.MethodGet && len(parts) > 5 && parts[4] == "members" {
			c.mu.Lock()
			member := c.member
			c.mu.Unlock()
			if member != nil && !member(conv, parts[5]) {
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte(`{"error":{"code":"MemberNotFoundInConversation","message":"not a member"}}`))
				return
			}
			w.Write([]byte(`{"id":"` + parts[5] + `","name":"Member"}`))
			return
		}
		c.mu.Lock()
		n := len(c.sent)
		if c.fail != nil {
			if status, ra := c.fail(n); status != 0 {
				c.mu.Unlock()
				if ra != "" {
					w.Header().Set("Retry-After", ra)
				}
				w.WriteHeader(status)
				w.Write([]byte(`{"error":{"code":"Throttled","message":"slow down"}}`))
				return
			}
		}
		c.sent = append(c.sent, a)
		c.conv = append(c.conv, conv)
		c.method = append(c.method, r.Method)
		c.at = append(c.at, time.Now())
		c.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id":"1"}`))
	}))
	t.Cleanup(c.Close)
	return c
}

// to returns what was sent to conversation conv.
func (c *connStandIn) to(conv string) []schema.Activity {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []schema.Activity
	for i, a := range c.sent {
		if c.conv[i] == conv {
			out = append(out, a)
		}
	}
	return out
}

// newChat starts a bot on a Redis key prefix; pass the prefix of an earlier
// chat to continue its state (a restarted bot).
func newChat(t testing.TB, prefix string) (*chat, string) {
	t.Helper()
	if prefix == "" {
		prefix = redistest.Prefix(t)
	}
	c := &chat{t: t, user: convUser, locale: "ja-JP", idBase: redistest.Prefix(t), seq: new(atomic.Int64)}
	c.conn = newConnStandIn(t)
	c.sb = sandbox.New(sandbox.Options{})
	c.h, _, _ = newBotHandler(t, prefix, c.sb, nil)
	return c, prefix
}

// other is a second user of the same bot.
func (c *chat) other(user string) *chat {
	return &chat{t: c.t, sb: c.sb, h: c.h, conn: c.conn, user: user, locale: c.locale, idBase: c.idBase + user[:4], seq: c.seq}
}

// newBotHandler is the bot over a Redis prefix, checking through the real
// Graph client against the sandbox's Graph stand-in. mod adjusts the
// dialog's options.
func newBotHandler(t testing.TB, prefix string, sb *sandbox.Sandbox, mod func(*dialogs.Options), logger ...*slog.Logger) (http.Handler, *dialogs.Handler, *redisstore.Store) {
	return newBotHandlerWith(t, prefix, sb, botWiring{dialogs: mod}, logger...)
}

// botWiring adjusts what newBotHandlerWith builds; nil fields leave the
// defaults.
type botWiring struct {
	dialogs   func(*dialogs.Options)
	server    func(*bot.ServerOptions)
	connector func(*bot.ConnectorOptions)
	graph     []graph.Option
}

// newBotHandlerWith is newBotHandler with more of the wiring adjustable
// (the observers of the metrics, say).
func newBotHandlerWith(t testing.TB, prefix string, sb *sandbox.Sandbox, w botWiring, logger ...*slog.Logger) (http.Handler, *dialogs.Handler, *redisstore.Store) {
	store := redisstore.New(redistest.Client(t), redisstore.WithPrefix(prefix))
	graphSrv := httptest.NewServer(sb.Handler())
	t.Cleanup(graphSrv.Close)
	gc, err := graph.NewClient(append([]graph.Option{graph.WithBaseURL(sb.GraphBaseURL(graphSrv.URL))}, w.graph...)...)
	if err != nil {
		t.Fatal(err)
	}
	o := dialogs.Options{
		Store: store, Content: cards.DefaultContent(), Directory: graphDirectory{gc},
		PollEvery: 10 * time.Millisecond, PollFor: 200 * time.Millisecond,
	}
	if w.dialogs != nil {
		w.dialogs(&o)
	}
	d := dialogs.NewHandler(o)
	var log *slog.Logger
	if len(logger) > 0 {
		log = logger[0]
	}
	co := bot.ConnectorOptions{AllowLoopback: true}
	if w.connector != nil {
		w.connector(&co)
	}
	so := bot.ServerOptions{
		Logger:    log,
		Handler:   turnHandler{d: d},
		Connector: bot.NewConnector(co),
		Dedupe:    store,
	}
	if w.server != nil {
		w.server(&so)
	}
	return bot.NewServer(so), d, store
}

func (c *chat) activity(typ schema.ActivityTypes) schema.Activity {
	return schema.Activity{
		Type: typ, ID: c.idBase + strconv.FormatInt(c.seq.Add(1), 10),
		ChannelID: "msteams", ServiceURL: c.conn.URL, Locale: c.locale, LocalTimezone: c.tz,
		From:         schema.ChannelAccount{ID: "29:" + c.user, AadObjectID: c.user},
		Recipient:    schema.ChannelAccount{ID: "28:bot"},
		Conversation: schema.ConversationAccount{ID: "a:" + c.user, ConversationType: "personal", TenantID: convTenant},
		ChannelData:  map[string]any{"tenant": map[string]any{"id": convTenant}},
	}
}

func (c *chat) post(a schema.Activity) *httptest.ResponseRecorder {
	body, _ := json.Marshal(a)
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		c.t.Fatalf("%s turn: status %d %s", a.Type, rec.Code, rec.Body.String())
	}
	return rec
}

// say sends text and returns the card the bot answered with.
func (c *chat) say(text string) cards.Card {
	c.t.Helper()
	conv := "a:" + c.user
	before := len(c.conn.to(conv))
	a := c.activity(schema.Message)
	a.Text = text
	c.post(a)
	sent := c.conn.to(conv)
	if len(sent) != before+1 {
		c.t.Fatalf("say %q: bot sent %d activities, want 1", text, len(sent)-before)
	}
	return cardOf(c.t, sent[len(sent)-1])
}

// press presses the button with verb on card and returns the card the
// invoke answered with (which replaces the pressed one in Teams).
func (c *chat) press(card cards.Card, verb string) cards.Card {
	c.t.Helper()
	data := actionData(c.t, card, verb)
	return c.invoke(data)
}

func (c *chat) invoke(data map[string]any) cards.Card {
	c.t.Helper()
	a := c.activity(schema.Invoke)
	a.Name = "adaptiveCard/action"
	a.Value = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": data["verb"], "data": data}, "trigger": "manual"}
	rec := c.post(a)
	var resp struct {
		StatusCode int            `json:"statusCode"`
		Type       string         `json:"type"`
		Value      map[string]any `json:"value"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		c.t.Fatalf("invoke answer %q: %v", rec.Body.String(), err)
	}
	if resp.StatusCode != 200 || resp.Type != bot.InvokeTypeCard {
		c.t.Fatalf("invoke answer is not a card: %s", rec.Body.String())
	}
	return resp.Value
}

func cardOf(t testing.TB, a schema.Activity) cards.Card {
	t.Helper()
	if len(a.Attachments) != 1 || a.Attachments[0].ContentType != cards.ContentType {
		t.Fatalf("activity carries no Adaptive Card: %+v", a)
	}
	b, _ := json.Marshal(a.Attachments[0].Content)
	var card cards.Card
	json.Unmarshal(b, &card)
	return card
}

// actionData finds the Action.Execute with verb and returns its data.
func actionData(t testing.TB, card cards.Card, verb string) map[string]any {
	t.Helper()
	b, _ := json.Marshal(card)
	var c struct {
		Actions []struct {
			Type, Verb string
			Data       map[string]any
		}
	}
	json.Unmarshal(b, &c)
	for _, a := range c.Actions {
		if a.Type == "Action.Execute" && a.Verb == verb {
			return a.Data
		}
	}
	t.Fatalf("card %s has no %q button", cards.CardID(card), verb)
	return nil
}

func text(card cards.Card) string {
	b, _ := json.Marshal(card)
	return string(b)
}

func wantCard(t testing.TB, card cards.Card, id string) {
	t.Helper()
	if got := cards.CardID(card); got != id {
		t.Fatalf("card %q, want %q", got, id)
	}
}

func stepCard(id string) string { return "step-" + id }

func TestConversationWholeProcedure(t *testing.T) {
	c, _ := newChat(t, "")
	card := c.say("スマホ交換")
	for i, step := range cards.StepIDs {
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
	c, _ := newChat(t, "")
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
	c.h, _, _ = newBotHandler(t, prefix, c.sb, nil)
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
