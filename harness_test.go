package main

// The harness shared by the scenario tests: bots built the way main builds
// them (app.New from a configuration), stand-ins for Teams (the Bot
// Connector, the helpdesk's ticketing system), a scripted user's chat, and
// readers of cards, metrics and clocks.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
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
	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/config"
	"github.com/smartswap/mfabot/internal/redistest"
	"github.com/smartswap/mfabot/internal/webhook"
)

// The tenant and user of the scripted chats, and the helpdesk's channel,
// team, members and webhook secret.
const (
	convTenant = "9f3a1c2e-5b7d-4e8f-a1b2-c3d4e5f60718"
	convUser   = "c5e99701-2a32-49c1-a660-4629ceeb8c61"

	helpdeskChannel = "19:helpdesk@thread.tacv2"
	helpdeskTeam    = "19:team@thread.tacv2"
	agentAAD        = "7d5c3b1a-0000-4000-8000-00000000a9e1"
	strangerAAD     = "7d5c3b1a-0000-4000-8000-00000000bad0"
	webhookSecret   = "a-webhook-secret-of-32-bytes-...."
)

// ---------------------------------------------------------------------------
// Bots, as main builds them.

// env is a getenv over m.
// Tests press cards as invokes (Action.Execute) unless they set
// CARD_ACTIONS themselves (submit_test.go does).
func env(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok || k != "CARD_ACTIONS" {
			return v
		}
		return "execute"
	}
}

// withVars is base with the key, value pairs kv set.
func withVars(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// serveGraph serves a Graph stand-in (the sandbox's handler, or one around
// it) on a loopback server of its own and returns the GRAPH_BASE_URL that
// reaches it.
func serveGraph(t testing.TB, sb *sandbox.Sandbox, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return sb.GraphBaseURL(srv.URL)
}

// newBot is one replica of the bot, assembled by app.New as main assembles
// it, from the environment vars (read by config.Load) and opts. Unset
// options get the test's: its state in the test Redis (unless vars has a
// REDIS_URL), quick Graph polls. The bot is closed at the end of the test.
func newBot(t testing.TB, vars map[string]string, opts app.Options) *app.App {
	t.Helper()
	cfg, err := config.Load(env(vars))
	if err != nil {
		t.Fatalf("configuration %v: %v", vars, err)
	}
	if opts.Redis == nil && cfg.RedisURL == "" {
		opts.Redis = redistest.Client(t)
		if opts.KeyPrefix == "" {
			opts.KeyPrefix = redistest.Prefix(t)
		}
	}
	if opts.PollEvery == 0 {
		opts.PollEvery = 10 * time.Millisecond
	}
	if opts.PollFor == 0 {
		opts.PollFor = 200 * time.Millisecond
	}
	a, err := app.New(cfg, opts)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// freePort is a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ---------------------------------------------------------------------------
// The Bot Connector stand-in.

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

// ---------------------------------------------------------------------------
// A scripted user's chat: each user action is a turn through the bot's HTTP
// handler; each turn's answer is a card.

type chat struct {
	t      testing.TB
	sb     *sandbox.Sandbox
	bot    *app.App // the bot h serves, when the chat built it
	h      http.Handler
	conn   *connStandIn
	user   string
	locale string
	tz     string
	idBase string
	seq    *atomic.Int64
	graph  string // GRAPH_BASE_URL of sb's Graph
}

// newChat starts a bot on a Redis key prefix; pass the prefix of an earlier
// chat to continue its state (a restarted bot).
func newChat(t testing.TB, prefix string) (*chat, string) {
	return newChatWith(t, prefix, nil, app.Options{})
}

// newChatWith is newChat with environment variables vars and options opts
// for the bot (see startBot).
func newChatWith(t testing.TB, prefix string, vars map[string]string, opts app.Options) (*chat, string) {
	t.Helper()
	if prefix == "" {
		prefix = redistest.Prefix(t)
	}
	c := newUser(t)
	c.startBot(prefix, vars, opts)
	return c, prefix
}

// newUser is a user's chat, with its Teams stand-in and its Graph sandbox,
// before any bot: startBot starts one.
func newUser(t testing.TB) *chat {
	c := &chat{t: t, user: convUser, locale: "ja-JP", idBase: redistest.Prefix(t), seq: new(atomic.Int64)}
	c.conn = newConnStandIn(t)
	c.sb = sandbox.New(sandbox.Options{})
	c.graph = serveGraph(t, c.sb, c.sb.Handler())
	return c
}

// startBot starts a bot (newBot) for the chat, or a new process of it: its
// state under prefix in the test Redis, its environment c.vars(vars).
func (c *chat) startBot(prefix string, vars map[string]string, opts app.Options) *app.App {
	c.t.Helper()
	opts.KeyPrefix = prefix
	c.bot = newBot(c.t, c.vars(vars), opts)
	c.h = c.bot.Handler()
	return c.bot
}

// vars is the environment of c's bot: GRAPH_BASE_URL of c's sandbox, and
// the pairs of extra.
func (c *chat) vars(extra map[string]string) map[string]string {
	return withVars(extra, "GRAPH_BASE_URL", c.graph)
}

// other is a second user of the same bot.
func (c *chat) other(user string) *chat {
	return &chat{t: c.t, sb: c.sb, bot: c.bot, h: c.h, conn: c.conn, user: user, locale: c.locale, idBase: c.idBase + user[:4], seq: c.seq, graph: c.graph}
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

// pushOnlySteps are the steps of a user whose old phone held Authenticator
// push only (the sandbox's default user in tests): every step but the one
// that moves a passkey.
func pushOnlySteps() []string {
	return slices.DeleteFunc(dialogs.Steps(), func(id string) bool { return id == string(dialogs.StepAddPasskey) })
}

// completeProcedure takes c's user through the whole procedure (the user
// adds the new phone and deletes the old one on the sandbox's page) and
// returns the done card.
func completeProcedure(t testing.TB, c *chat) cards.Card {
	t.Helper()
	card := c.say("スマホ交換")
	for _, step := range pushOnlySteps() {
		wantCard(t, card, stepCard(step))
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
		card = c.press(card, cards.VerbNext)
	}
	wantCard(t, card, "done")
	return card
}

// toDeleteOld walks c to the delete_old step with a new device confirmed.
func toDeleteOld(t testing.TB, c *chat) cards.Card {
	card := c.say("スマホ交換")
	for card != nil && cards.CardID(card) != "step-delete_old" {
		if cards.CardID(card) == "step-enter_number" {
			c.sb.AddMethod(c.user, "iPhone 15")
		}
		card = c.press(card, cards.VerbNext)
	}
	return card
}

// reminders returns the reminder cards user c received.
func reminders(c *chat) []cards.Card {
	var out []cards.Card
	for _, a := range c.conn.to("a:" + c.user) {
		if len(a.Attachments) == 1 {
			if card := cardOf(c.t, a); cards.CardID(card) == "reminder" {
				out = append(out, card)
			}
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// The helpdesk: a user's chat plus the helpdesk channel, which share one
// connector stand-in that records what the bot posts (POST) and updates in
// place (PUT) in each conversation.

type helpdeskRig struct {
	*chat
	logs  *syncBuffer
	hooks *hookReceiver
	bot   *app.App
}

// helpdeskVars is the environment of a helpdesk whose channel is fixed by
// HELPDESK_CONVERSATION_ID on the stand-in conn.
func helpdeskVars(conn *connStandIn, kv ...string) map[string]string {
	return withVars(nil, append([]string{
		"HELPDESK_CONVERSATION_ID", helpdeskChannel,
		"HELPDESK_SERVICE_URL", conn.URL,
		"HELPDESK_TEAM_ID", helpdeskTeam,
	}, kv...)...)
}

// inChannel is what the helpdesk channel received, by method (POST, PUT).
func (r *helpdeskRig) inChannel(method string) []schema.Activity {
	r.conn.mu.Lock()
	defer r.conn.mu.Unlock()
	var out []schema.Activity
	for i, a := range r.conn.sent {
		if r.conn.conv[i] == helpdeskChannel && r.conn.method[i] == method {
			out = append(out, a)
		}
	}
	return out
}

// userTexts are the plain messages the user received.
func (r *helpdeskRig) userTexts() []string {
	var out []string
	for _, a := range r.conn.to("a:" + r.user) {
		if a.Text != "" && len(a.Attachments) == 0 {
			out = append(out, a.Text)
		}
	}
	return out
}

// agentPress presses a button of a ticket card in the channel as from.
func (r *helpdeskRig) agentPress(from string, card cards.Card, verb string, inputs map[string]any) (string, any) {
	r.t.Helper()
	data := actionData(r.t, card, verb)
	for k, v := range inputs {
		data[k] = v
	}
	a := r.activity(schema.Invoke)
	a.Name = "adaptiveCard/action"
	a.From = schema.ChannelAccount{ID: "29:" + from, AadObjectID: from, Name: "Agent " + from[len(from)-4:]}
	a.Conversation = schema.ConversationAccount{ID: helpdeskChannel + ";messageid=1", ConversationType: "channel", TenantID: convTenant}
	a.ChannelData = map[string]any{"tenant": map[string]any{"id": convTenant}, "team": map[string]any{"id": helpdeskTeam}, "channel": map[string]any{"id": helpdeskChannel}}
	a.Value = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}}
	rec := r.post(a)
	var resp struct {
		Type  string
		Value any
	}
	json.Unmarshal(rec.Body.Bytes(), &resp)
	return resp.Type, resp.Value
}

// submitHelpdesk presses ヘルプデスクに相談 on card and sends the form.
func (r *helpdeskRig) submitHelpdesk(card cards.Card, reason, note string) cards.Card {
	r.t.Helper()
	form := r.press(card, cards.VerbHelpdesk)
	wantCard(r.t, form, "helpdesk-form")
	data := actionData(r.t, form, cards.VerbHelpdeskSubmit)
	data["reason"], data["note"] = reason, note
	return r.invoke(data)
}

// hookReceiver is a ticketing system: it verifies each delivery's
// signature and fails the first delivery of every event once. hold (see
// holdWith), when set, runs before a delivery is answered.
type hookReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []string
	attempts map[string]int
	bad      int
	hold     func()
}

func newHookReceiver(t testing.TB) *hookReceiver {
	h := &hookReceiver{attempts: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := webhook.Verify([]byte(webhookSecret), r.Header.Get("X-MFABot-Timestamp"), r.Header.Get("X-MFABot-Signature"), body, time.Now(), 5*time.Minute)
		h.mu.Lock()
		hold := h.hold
		h.mu.Unlock()
		if hold != nil {
			hold()
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id := r.Header.Get("X-MFABot-Delivery")
		h.attempts[id]++
		if h.attempts[id] == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first try of each event fails
			return
		}
		h.bodies = append(h.bodies, string(body))
	}))
	t.Cleanup(h.Close)
	return h
}

// holdWith makes every delivery run f before it is answered.
func (h *hookReceiver) holdWith(f func()) {
	h.mu.Lock()
	h.hold = f
	h.mu.Unlock()
}

func (h *hookReceiver) events() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, b := range h.bodies {
		var e map[string]any
		json.Unmarshal([]byte(b), &e)
		out = append(out, e)
	}
	return out
}

// ---------------------------------------------------------------------------
// Cards.

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

func asCard(t testing.TB, v any) cards.Card {
	b, _ := json.Marshal(v)
	var c cards.Card
	if err := json.Unmarshal(b, &c); err != nil || c["type"] != "AdaptiveCard" {
		t.Fatalf("not a card: %s", b)
	}
	return c
}

// actionData finds the Action.Execute with verb and returns its data.
func actionData(t testing.TB, card cards.Card, verb string) map[string]any {
	t.Helper()
	return buttonData(t, card, "Action.Execute", verb)
}

// buttonData is the data of the button of type typ (Action.Execute or
// Action.Submit) with verb on card, in its actions or an ActionSet of its
// body (which holds buttons next to what they answer).
func buttonData(t testing.TB, card cards.Card, typ, verb string) map[string]any {
	t.Helper()
	b, _ := json.Marshal(card)
	type action struct {
		Type, Verb string
		Data       map[string]any
	}
	var c struct {
		Actions []action
		Body    []struct {
			Type    string
			Actions []action
		}
	}
	json.Unmarshal(b, &c)
	all := c.Actions
	for _, el := range c.Body {
		if el.Type == "ActionSet" {
			all = append(all, el.Actions...)
		}
	}
	for _, a := range all {
		// An Action.Submit carries its verb in its data only.
		if a.Type == typ && (a.Verb == verb || a.Verb == "" && a.Data["verb"] == verb) {
			return a.Data
		}
	}
	t.Fatalf("card %s has no %s %q button", cards.CardID(card), typ, verb)
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

// ---------------------------------------------------------------------------
// Metrics.

// scrape reads /metrics from h: each series ("name{label="v",…}", labels
// sorted as Prometheus writes them) and its value.
func scrape(t testing.TB, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics: Content-Type %q", ct)
	}
	return parseExposition(t, rec.Body)
}

func parseExposition(t testing.TB, r io.Reader) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("exposition line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// ---------------------------------------------------------------------------
// Time.

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *testClock) Set(t time.Time)         { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// jst is Monday 2026-11-23 10:00 in Tokyo.
var jst = time.FixedZone("JST", 9*3600)

func monday10() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, jst) }
