package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/dialogs"
	"github.com/smartswap/mfabot/graph/sandbox"
)

// Error kinds of a turn.
const (
	errHTTP      = iota // a non-2xx answer from the bot
	errTransport        // no answer at all (connection, timeout)
	errNoReply          // a message turn whose reply never reached the connector
	errCard             // an answer that is not the expected card
	errStray            // an activity the bot sent that no turn asked for
	numErrKinds
)

var errKindNames = [numErrKinds]string{"http", "transport", "missing_reply", "unexpected_card", "unexpected_message"}

// Turn kinds, for the latency split.
const (
	kindMessage = iota
	kindInvoke
)

// replyTimeout bounds the wait for a message's reply at the connector after
// the bot has answered the HTTP request (the reply is sent before it).
const replyTimeout = 10 * time.Second

// sample is one measured turn.
type sample struct {
	d    time.Duration
	kind uint8
}

// level is one load run: a number of users against one bot process.
type level struct {
	botURL string
	hc     *http.Client
	sb     *sandbox.Sandbox
	conn   *connector
	tenant string
	appID  string

	// The measured window (fixed before the users start). In -turns mode
	// it is open-ended and turnsLeft bounds the run instead.
	from, to  time.Time
	turnsLeft atomic.Int64
	byTurns   bool
	stop      atomic.Bool
}

// begin claims the next turn; false when the run is over.
func (lv *level) begin() bool {
	if lv.stop.Load() {
		return false
	}
	if lv.byTurns && lv.turnsLeft.Add(-1) < 0 {
		return false
	}
	return true
}

// simUser is one simulated Teams user in their 1:1 chat with the bot.
type simUser struct {
	lv      *level
	idx     int
	aad     string // Entra object id
	conv    string // personal conversation id
	fromID  string // the user's Teams id (29:…)
	idNum   int64  // activity ids are idNum+seq, like Teams' millisecond ids
	lastID  string // the id of the last activity sent
	token   string // the bearer token, reused for the whole run
	replies chan reply
	timer   *time.Timer

	seq       int
	cardMsgID string // the message holding the card being pressed

	samples    []sample
	turns      int // all turns, in the window or not
	procedures int
	errs       [numErrKinds]int
	errSamples []string
	lastDone   time.Time
}

// newSimUser makes user idx. Its ids are as long as Teams' (a 29:… user id
// of about 90 characters, an a:… conversation id of about 130, activity ids
// of 13 digits or f:+19), so that what the bot stores weighs what it will in
// production; the conversation id starts with convPrefix.
func newSimUser(lv *level, idx int, convPrefix, token string) *simUser {
	conv := convPrefix + strconv.Itoa(idx) + "-"
	return &simUser{
		lv: lv, idx: idx, aad: newGUID(), token: token,
		conv:    conv + randB64(max(8, 130-len(conv))),
		fromID:  "29:1" + randB64(87),
		idNum:   time.Now().UnixMilli(),
		replies: make(chan reply, 16),
	}
}

func (u *simUser) fail(kind int, format string, args ...any) {
	u.errs[kind]++
	if len(u.errSamples) < 3 {
		u.errSamples = append(u.errSamples, fmt.Sprintf("user %d: %s: ", u.idx, errKindNames[kind])+fmt.Sprintf(format, args...))
	}
}

// run goes through the procedure until the level ends.
func (u *simUser) run(ctx context.Context) {
	u.timer = time.NewTimer(time.Hour)
	u.timer.Stop()
	for ctx.Err() == nil {
		err := u.procedure(ctx)
		if err == nil {
			u.procedures++
			continue
		}
		if errors.Is(err, errStopped) {
			return
		}
		// Something went wrong: cancel whatever the bot thinks is under
		// way, then start over.
		for ctx.Err() == nil {
			_, err := u.say(ctx, "キャンセル", "cancelled", "no-dialog")
			if errors.Is(err, errStopped) {
				return
			}
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// procedure is the whole swap of a user whose old phone holds push only
// (the stand-in's users): スマホ交換, then 次へ on each of the ten steps
// (the passkey step is not theirs), adding the new phone in the sandbox
// before step 7's and deleting the old one before step 9's.
func (u *simUser) procedure(ctx context.Context) error {
	steps := slices.DeleteFunc(dialogs.Steps(), func(id string) bool { return id == string(dialogs.StepAddPasskey) })
	card, err := u.say(ctx, "スマホ交換", "step-"+steps[0])
	if err != nil {
		return err
	}
	var newID, newName string
	for i, step := range steps {
		switch dialogs.StepID(step) {
		case dialogs.StepEnterNumber: // the user registers the new phone
			newName = "LT Phone " + strconv.Itoa(u.idx) + "-" + strconv.Itoa(u.procedures+1)
			newID = u.lv.sb.AddMethod(u.aad, newName).ID
		case dialogs.StepDeleteOld: // and deletes every other one
			for _, m := range u.lv.sb.Methods(u.aad) {
				if m.ID != newID {
					u.lv.sb.DeleteMethod(u.aad, m.ID)
				}
			}
		}
		want := "done"
		if i+1 < len(steps) {
			want = "step-" + steps[i+1]
		}
		data, ok := card.actions[cards.VerbNext]
		if !ok {
			u.fail(errCard, "card %s has no 次へ button", card.id)
			return errors.New("no next button")
		}
		press := u.press
		if card.submit {
			press = u.pressSubmit
		}
		if card, err = press(ctx, cards.VerbNext, data, want); err != nil {
			return err
		}
		if want == "step-"+string(dialogs.StepConfirmNew) && !bytes.Contains(card.raw, []byte(newName)) {
			u.fail(errCard, "step 8 does not name the new device %q", newName)
			return errors.New("new device not named")
		}
	}
	return nil
}

// card is what a turn answered with.
type card struct {
	id      string
	actions map[string]json.RawMessage // verb → the button's data
	submit  bool                       // its buttons are Action.Submit (CARD_ACTIONS=submit)
	raw     []byte
}

// parseCard reads the card id (the id of the first body element, "card:…")
// and the data of its Action.Execute buttons.
func parseCard(raw []byte) (card, error) {
	var c struct {
		Body []struct {
			ID string `json:"id"`
		} `json:"body"`
		Actions []struct {
			Type string          `json:"type"`
			Verb string          `json:"verb"`
			Data json.RawMessage `json:"data"`
		} `json:"actions"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return card{}, err
	}
	out := card{raw: raw, actions: make(map[string]json.RawMessage, len(c.Actions))}
	if len(c.Body) > 0 {
		out.id = strings.TrimPrefix(c.Body[0].ID, "card:")
	}
	for _, a := range c.Actions {
		switch a.Type {
		case "Action.Execute":
			out.actions[a.Verb] = a.Data
		case "Action.Submit":
			var d struct {
				Verb string `json:"verb"`
			}
			json.Unmarshal(a.Data, &d)
			out.actions[d.Verb], out.submit = a.Data, true
		}
	}
	return out, nil
}

// Activity JSON as Teams sends it (the fields the bot reads, and a few more).
type account struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	AADObjectID string `json:"aadObjectId,omitempty"`
}

type activityJSON struct {
	Type          string       `json:"type"`
	ID            string       `json:"id"`
	Timestamp     string       `json:"timestamp"`
	LocalTime     string       `json:"localTimestamp"`
	ServiceURL    string       `json:"serviceUrl"`
	ChannelID     string       `json:"channelId"`
	From          account      `json:"from"`
	Conversation  conversation `json:"conversation"`
	Recipient     account      `json:"recipient"`
	TextFormat    string       `json:"textFormat,omitempty"`
	Text          string       `json:"text,omitempty"`
	Name          string       `json:"name,omitempty"`
	ReplyToID     string       `json:"replyToId,omitempty"`
	Value         any          `json:"value,omitempty"` // *invokeValue, or an Action.Submit's data
	Entities      []any        `json:"entities,omitempty"`
	ChannelData   channelData  `json:"channelData"`
	Locale        string       `json:"locale"`
	LocalTimezone string       `json:"localTimezone"`
}

type conversation struct {
	ConversationType string `json:"conversationType"`
	TenantID         string `json:"tenantId"`
	ID               string `json:"id"`
}

type channelData struct {
	Tenant struct {
		ID string `json:"id"`
	} `json:"tenant"`
	Source *struct {
		Name string `json:"name"`
	} `json:"source,omitempty"`
}

type invokeValue struct {
	Action struct {
		Type  string          `json:"type"`
		Title string          `json:"title"`
		Verb  string          `json:"verb"`
		Data  json.RawMessage `json:"data"`
	} `json:"action"`
	Trigger string `json:"trigger"`
}

var clientInfo = []any{map[string]any{"type": "clientInfo", "locale": "ja-JP", "country": "JP", "platform": "Windows", "timezone": "Asia/Tokyo"}}

func (u *simUser) activity(typ string) activityJSON {
	u.seq++
	u.lastID = strconv.FormatInt(u.idNum+int64(u.seq), 10)
	if typ == "invoke" {
		u.lastID = "f:" + strconv.FormatInt((u.idNum+int64(u.seq))*1_000_000+int64(u.seq%1_000_000), 10)
	}
	now := time.Now()
	a := activityJSON{
		Type: typ, ID: u.lastID,
		Timestamp: now.UTC().Format(time.RFC3339Nano), LocalTime: now.Format(time.RFC3339Nano),
		ServiceURL: u.lv.conn.serviceURL, ChannelID: "msteams",
		From:         account{ID: u.fromID, Name: "Load User " + strconv.Itoa(u.idx), AADObjectID: u.aad},
		Conversation: conversation{ConversationType: "personal", TenantID: u.lv.tenant, ID: u.conv},
		Recipient:    account{ID: "28:" + u.lv.appID, Name: "mfabot"},
		Locale:       "ja-JP", LocalTimezone: "Asia/Tokyo",
	}
	a.ChannelData.Tenant.ID = u.lv.tenant
	return a
}

// drain counts replies that arrived outside any turn.
func (u *simUser) drain() {
	for {
		select {
		case r := <-u.replies:
			u.fail(errStray, "%s %s", r.method, snippet(r.body))
		default:
			return
		}
	}
}

// post sends an activity to the bot and returns the status and body.
func (u *simUser) post(ctx context.Context, a activityJSON) (int, []byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.lv.botURL+"/api/messages", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+u.token)
	req.Header.Set("User-Agent", "Microsoft-SkypeBotApi (Microsoft-BotFramework/3.0)")
	resp, err := u.lv.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func (u *simUser) record(kind uint8, sent, answered, done time.Time) {
	u.turns++
	u.lastDone = done
	if !done.Before(u.lv.from) && !done.After(u.lv.to) {
		u.samples = append(u.samples, sample{d: answered.Sub(sent), kind: kind})
	}
}

// say sends a message and returns the card the bot posted to the
// conversation in reply; it must be one of want.
func (u *simUser) say(ctx context.Context, text string, want ...string) (card, error) {
	if !u.lv.begin() {
		return card{}, errStopped
	}
	u.drain()
	a := u.activity("message")
	a.Text, a.TextFormat = text, "plain"
	a.Entities = clientInfo
	sent := time.Now()
	status, body, err := u.post(ctx, a)
	if err != nil {
		if ctx.Err() != nil {
			return card{}, errStopped
		}
		u.fail(errTransport, "message: %v", err)
		return card{}, err
	}
	httpDone := time.Now()
	if status != http.StatusOK {
		u.fail(errHTTP, "message: status %d %s", status, snippet(body))
		return card{}, fmt.Errorf("status %d", status)
	}
	r, content, err := u.awaitCard(ctx, fmt.Sprintf("reply to %q", text), http.MethodPost, kindMessage, sent, httpDone)
	if err != nil {
		return card{}, err
	}
	c, err := parseCard(content)
	if err != nil || !oneOf(c.id, want) {
		u.fail(errCard, "reply to %q: card %q, want %v", text, c.id, want)
		return card{}, errors.New("unexpected card")
	}
	u.cardMsgID = r.id
	return c, nil
}

// awaitCard waits for what the bot sent the connector after a turn (what
// names it in errors), records the turn's latency as kind, and returns
// that request and its one card, which must have come with method (POST:
// a new message; PUT: the pressed card's update).
func (u *simUser) awaitCard(ctx context.Context, what, method string, kind uint8, sent, httpDone time.Time) (reply, json.RawMessage, error) {
	u.timer.Reset(replyTimeout)
	var r reply
	select {
	case r = <-u.replies:
		u.timer.Stop()
	case <-u.timer.C:
		u.fail(errNoReply, "no %s within %s", what, replyTimeout)
		return r, nil, errors.New("no reply")
	case <-ctx.Done():
		return r, nil, errStopped
	}
	u.record(kind, sent, r.at, later(r.at, httpDone))
	var act struct {
		Attachments []struct {
			ContentType string          `json:"contentType"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(r.body, &act); err != nil || r.method != method || len(act.Attachments) != 1 || act.Attachments[0].ContentType != cards.ContentType {
		u.fail(errCard, "%s is not one card: %s %s", what, r.method, snippet(r.body))
		return r, nil, errors.New("not a card")
	}
	return r, act.Attachments[0].Content, nil
}

// pressSubmit presses the Action.Submit button verb (CARD_ACTIONS=submit):
// a message whose value is the button's data, answered 200 and then by the
// pressed card's update in place, which must be want.
func (u *simUser) pressSubmit(ctx context.Context, verb string, data json.RawMessage, want string) (card, error) {
	if !u.lv.begin() {
		return card{}, errStopped
	}
	u.drain()
	a := u.activity("message")
	a.ReplyToID = u.cardMsgID
	a.Value = data
	sent := time.Now()
	status, body, err := u.post(ctx, a)
	if err != nil {
		if ctx.Err() != nil {
			return card{}, errStopped
		}
		u.fail(errTransport, "submit: %v", err)
		return card{}, err
	}
	httpDone := time.Now()
	if status != http.StatusOK {
		u.fail(errHTTP, "submit %s: status %d %s", verb, status, snippet(body))
		return card{}, fmt.Errorf("status %d", status)
	}
	_, content, err := u.awaitCard(ctx, "submit "+verb, http.MethodPut, kindInvoke, sent, httpDone)
	if err != nil {
		return card{}, err
	}
	c, err := parseCard(content)
	if err != nil || c.id != want {
		u.fail(errCard, "submit %s: card %q, want %q", verb, c.id, want)
		return card{}, errors.New("unexpected card")
	}
	return c, nil
}

// press presses the Action.Execute button verb (its data taken from the
// card) and returns the card the invoke answered with, which must be want.
func (u *simUser) press(ctx context.Context, verb string, data json.RawMessage, want string) (card, error) {
	if !u.lv.begin() {
		return card{}, errStopped
	}
	u.drain()
	a := u.activity("invoke")
	a.Name = "adaptiveCard/action"
	a.ReplyToID = u.cardMsgID
	v := &invokeValue{Trigger: "manual"}
	v.Action.Type, v.Action.Title, v.Action.Verb, v.Action.Data = "Action.Execute", "次へ", verb, data
	a.Value = v
	a.ChannelData.Source = &struct {
		Name string `json:"name"`
	}{Name: "message"}
	sent := time.Now()
	status, body, err := u.post(ctx, a)
	if err != nil {
		if ctx.Err() != nil {
			return card{}, errStopped
		}
		u.fail(errTransport, "invoke: %v", err)
		return card{}, err
	}
	done := time.Now()
	if status != http.StatusOK {
		u.fail(errHTTP, "invoke %s: status %d %s", verb, status, snippet(body))
		return card{}, fmt.Errorf("status %d", status)
	}
	u.record(kindInvoke, sent, done, done)
	var resp struct {
		StatusCode int             `json:"statusCode"`
		Type       string          `json:"type"`
		Value      json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.StatusCode != 200 || resp.Type != cards.ContentType {
		u.fail(errCard, "invoke %s answered %s", verb, snippet(body))
		return card{}, errors.New("not a card")
	}
	c, err := parseCard(resp.Value)
	if err != nil || c.id != want {
		u.fail(errCard, "invoke %s: card %q, want %q", verb, c.id, want)
		return card{}, errors.New("unexpected card")
	}
	return c, nil
}

func oneOf(s string, set []string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
