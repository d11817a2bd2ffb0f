//go:build unix

package e2e

// Acting as the user: a Chat is one conversation of the mock tenant, driven
// through the Playground's user-side HTTP API (install the app, type, press
// card buttons) the way its web page does; WaitFor and Quiet read the bot's
// answers from the streams.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// turnFailedGrace is how long WaitFor still waits after the bot answered
	// an activity with a 5xx: a failing turn may have sent a message first.
	turnFailedGrace = 2 * time.Second
)

// post sends a JSON body to the Playground and returns the answer.
func (e *Env) post(path string, body any) (int, []byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	resp, err := e.http.Post(e.Playground.URL+path, "application/json", bytes.NewReader(data))
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// Chat is one conversation of the mock tenant, seen by one user.
//
// Every action (InstallApp, SendText, Invoke, Submit, Press) sets the chat's
// mark to the current end of the conversation stream; WaitFor looks at the
// bot's messages that arrived after the mark, so it finds the answer to the
// last action even when the answer came before WaitFor was called.
type Chat struct {
	env     *Env
	ID      string // conversation id
	UserID  string // the user who acts
	mark    int    // index into the conversation stream at the last action
	logMark int    // index into the log stream at the last action
}

// PersonalChat is the 1:1 chat of the current user with the bot.
func (e *Env) PersonalChat() *Chat {
	return &Chat{env: e, ID: e.Config.PersonalChat.ID, UserID: e.Config.CurrentUser.ID}
}

// GroupChat is the group chat of the configured users, seen by the current user.
func (e *Env) GroupChat() *Chat {
	return &Chat{env: e, ID: e.Config.GroupChat.ID, UserID: e.Config.CurrentUser.ID}
}

// Channel is a channel of the team by name ("General" is the team's own id),
// seen by the current user. In a channel the bot gets only messages that
// mention it: use SendTextMentioningBot.
func (e *Env) Channel(name string) *Chat {
	e.t.Helper()
	if strings.EqualFold(name, "General") {
		return &Chat{env: e, ID: e.Config.Team.ID, UserID: e.Config.CurrentUser.ID}
	}
	for _, c := range e.Config.Team.Channels {
		if strings.EqualFold(c.Name, name) {
			return &Chat{env: e, ID: c.ID, UserID: e.Config.CurrentUser.ID}
		}
	}
	e.t.Fatalf("no channel %q in %s", name, e.Layout.Config)
	return nil
}

// Mark moves the chat's mark to the end of the conversation stream and
// returns it, for WaitForSince.
func (c *Chat) Mark() int {
	events, logs, _, _ := c.env.s.snapshot()
	c.mark, c.logMark = len(events), len(logs)
	return c.mark
}

// inChat reports whether a stream event belongs to this chat (its threads
// included).
func (c *Chat) inChat(m Message) bool {
	return m.ConversationID == c.ID || strings.HasPrefix(m.ConversationID, c.ID+";messageid=")
}

func (c *Chat) pathID() string { return url.PathEscape(c.ID) }

// InstallApp installs the app in the conversation, as the Playground's
// "install" debug action does: the bot receives installationUpdate (add) and
// conversationUpdate (membersAdded), concurrently.
func (c *Chat) InstallApp() {
	c.env.t.Helper()
	c.Mark()
	status, body, err := c.env.post("/_debug/conversation/"+c.pathID()+"/installation", map[string]any{})
	if err != nil || status != http.StatusOK {
		c.env.t.Fatalf("installing the app in %s: %d %s %v", c.ID, status, body, err)
	}
}

// SendText types text into the chat and returns the Playground's id of the
// user's message.
func (c *Chat) SendText(text string) string {
	c.env.t.Helper()
	return c.send(map[string]any{"from": map[string]string{"id": c.UserID}, "text": text, "textFormat": "plain"})
}

// SendTextMentioningBot sends "<at>bot name</at> text" with a mention of the
// bot, which is how a bot is addressed in a channel.
func (c *Chat) SendTextMentioningBot(text string) string {
	c.env.t.Helper()
	at := "<at>" + c.env.Config.Bot.Name + "</at>"
	return c.send(map[string]any{
		"from":       map[string]string{"id": c.UserID},
		"text":       at + " " + text,
		"textFormat": "plain",
		"mentions":   []any{map[string]any{"mentioned": map[string]string{"id": c.env.Config.Bot.ID}, "text": at}},
	})
}

func (c *Chat) send(body map[string]any) string {
	c.env.t.Helper()
	c.Mark()
	status, resp, err := c.env.post("/_conversation/v1/conversations/"+c.pathID()+"/messages", body)
	if err != nil || status != http.StatusOK {
		c.env.t.Fatalf("sending %v to %s: %d %s %v", body["text"], c.ID, status, resp, err)
	}
	var r struct {
		MessageID string `json:"messageId"`
	}
	_ = json.Unmarshal(resp, &r)
	return r.MessageID
}

// InvokeResult is the outcome of an Action.Execute.
type InvokeResult struct {
	// Status is the HTTP status of the Playground's answer: 200 when the bot
	// answered the invoke with 2xx, 502 when the bot failed or answered
	// otherwise, 400 when the Playground refused the request.
	Status int
	// Body is the Playground's answer: {"type","value"} taken from the bot's
	// invoke response (statusCode dropped), or an error.
	Body json.RawMessage
	// Type and Value are Body's fields, e.g. Type
	// "application/vnd.microsoft.card.adaptive" with the new card as Value,
	// or "application/vnd.microsoft.activity.message" with a text.
	Type  string
	Value json.RawMessage
	// BotStatus and BotBody are the bot's own HTTP answer to the invoke
	// activity, from the log stream (0 and nil if it did not show up there).
	BotStatus int
	BotBody   json.RawMessage
}

// String summarises the result for failure messages.
func (r InvokeResult) String() string {
	return fmt.Sprintf("Playground answered %d %s; bot answered %d %s", r.Status, truncate(string(r.Body), 1000), r.BotStatus, truncate(string(r.BotBody), 1000))
}

// Invoke presses an Action.Execute button of the card in message replyToID,
// as the Playground's page does: an invoke adaptiveCard/action with value
// {"action":{"type":"Action.Execute","verb":verb,"data":data}}. It returns
// the answer; it does not fail the test on an error answer.
func (c *Chat) Invoke(replyToID, verb string, data any) InvokeResult {
	c.env.t.Helper()
	return c.invoke(replyToID, map[string]any{"type": "Action.Execute", "verb": verb, "data": data})
}

func (c *Chat) invoke(replyToID string, action map[string]any) InvokeResult {
	c.env.t.Helper()
	c.Mark()
	_, logs, _, _ := c.env.s.snapshot()
	logMark := len(logs)
	status, body, err := c.env.post("/_conversation/v1/invoke", map[string]any{
		"name":         "adaptiveCard/action",
		"value":        map[string]any{"action": action},
		"from":         map[string]string{"id": c.UserID},
		"conversation": map[string]string{"id": c.ID},
		"replyToId":    replyToID,
	})
	if err != nil {
		c.env.t.Fatalf("invoke on message %s: %v", replyToID, err)
	}
	r := InvokeResult{Status: status, Body: body}
	var tv struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if json.Unmarshal(body, &tv) == nil {
		r.Type, r.Value = tv.Type, tv.Value
	}
	if status != http.StatusOK && status != http.StatusBadGateway {
		return r // refused by the Playground: the bot was not called
	}
	// The bot's own answer, with its statusCode, is on the log stream.
	verb, _ := action["verb"].(string)
	entry, ok := c.env.waitLog(logMark, 5*time.Second, func(l LogEntry) bool {
		if !l.ToBot() || l.ActivityName != "invoke" {
			return false
		}
		var a struct {
			ReplyToID string `json:"replyToId"`
			Value     struct {
				Action struct {
					Verb string `json:"verb"`
				} `json:"action"`
			} `json:"value"`
		}
		return json.Unmarshal(l.RequestBody, &a) == nil && a.ReplyToID == replyToID && a.Value.Action.Verb == verb
	})
	if ok {
		r.BotStatus, r.BotBody = entry.ResponseStatus, entry.ResponseBody
	}
	return r
}

// Submit presses an Action.Submit button of the card in message replyToID,
// as the Playground's page does: a message activity with replyToId and value
// (the action's data object plus the filled inputs, as strings). The
// Playground answers at once; the bot's answer arrives on the stream.
func (c *Chat) Submit(replyToID string, value any) {
	c.env.t.Helper()
	c.Mark()
	status, body, err := c.env.post("/_conversation/v1/submit", map[string]any{
		"conversation": map[string]string{"id": c.ID},
		"replyToId":    replyToID,
		"value":        value,
		"from":         map[string]string{"id": c.UserID},
	})
	if err != nil || status != http.StatusOK {
		c.env.t.Fatalf("submit on message %s: %d %s %v", replyToID, status, body, err)
	}
}

// Press presses a button read from a card with CardActions, with inputs as
// the values of the card's filled inputs (may be nil). Action.Execute
// returns the invoke's result; Action.Submit returns nil (WaitFor the bot's
// answer). Other action types fail the test.
func (c *Chat) Press(replyToID string, a CardAction, inputs map[string]string) *InvokeResult {
	c.env.t.Helper()
	data := map[string]any{}
	if len(a.Data) > 0 {
		var obj map[string]any
		if json.Unmarshal(a.Data, &obj) == nil && obj != nil {
			data = obj
		}
		// Like the page, non-object data is dropped (Submit) or sent as {}
		// plus the inputs (Execute).
	}
	for k, v := range inputs {
		data[k] = v
	}
	switch a.Type {
	case "Action.Execute":
		action := map[string]any{"type": a.Type, "verb": a.Verb, "data": data}
		if a.Title != "" {
			action["title"] = a.Title
		}
		r := c.invoke(replyToID, action)
		return &r
	case "Action.Submit":
		c.Submit(replyToID, data)
		return nil
	default:
		c.env.t.Fatalf("Press: cannot press a %s (%q)", a.Type, a.Title)
		return nil
	}
}

// BotMessages returns the bot's messages in this chat after mark (0: all).
func (c *Chat) BotMessages(mark int) []Message {
	events, _, _, _ := c.env.s.snapshot()
	var out []Message
	for _, m := range events[min(mark, len(events)):] {
		if c.isBotMessage(m) {
			out = append(out, m)
		}
	}
	return out
}

func (c *Chat) isBotMessage(m Message) bool {
	return c.inChat(m) && m.FromID == c.env.Config.Bot.ID && (m.Action == "createMessage" || m.Action == "updateMessage")
}

// WaitFor waits up to timeout (0: Env.Timeout) for a message of the bot in
// this chat, sent after the last action, for which pred is true, and returns
// it. It fails the test, listing what the bot did send, when none comes. It
// gives up early when a process or stream died, and (unless
// Options.AllowErrors) turnFailedGrace after the bot answered an activity of
// this chat with a 5xx or the connector refused a call of the bot.
//
// "After the last action" is by time of arrival: a message caused by an
// earlier action may still arrive after a later one (installing the app
// sends the bot two activities at once). Make pred specific, or call Quiet
// before the next action.
func (c *Chat) WaitFor(pred func(Message) bool, timeout time.Duration) Message {
	c.env.t.Helper()
	return c.WaitForSince(c.mark, pred, timeout)
}

// WaitForSince is WaitFor looking at the messages after mark (see Mark and
// Message.Seq).
func (c *Chat) WaitForSince(mark int, pred func(Message) bool, timeout time.Duration) Message {
	c.env.t.Helper()
	if timeout <= 0 {
		timeout = c.env.Timeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var failedTurn *LogEntry // a 5xx answer of the bot since the last action
	var failedTimer <-chan time.Time
	for {
		events, logs, errs, changed := c.env.s.snapshot()
		for _, m := range events[min(mark, len(events)):] {
			if c.isBotMessage(m) && pred(m) {
				return m
			}
		}
		if failedTurn == nil && !c.env.opts.AllowErrors {
			for _, l := range logs[min(c.logMark, len(logs)):] {
				if isFailure(l) && (l.ConversationID == c.ID || strings.HasPrefix(l.ConversationID, c.ID+";")) {
					failedTurn = &l
					failedTimer = time.After(turnFailedGrace)
					break
				}
			}
		}
		why := ""
		switch {
		case len(errs) > 0:
			why = fmt.Sprintf("the Playground's stream failed: %v", errs[0])
		case c.env.Bot.proc.exited():
			why = "the bot exited: " + c.env.Bot.proc.status()
		case c.env.Playground.proc.exited():
			why = "the Playground exited: " + c.env.Playground.proc.status()
		}
		if why == "" {
			select {
			case <-changed:
				continue
			case <-failedTimer:
				if failedTurn.ToBot() {
					why = fmt.Sprintf("the bot failed the turn: it answered %s with %d", failedTurn.ActivityName, failedTurn.ResponseStatus)
				} else {
					why = fmt.Sprintf("the connector refused the bot's %s with %d %s", failedTurn.ActivityName, failedTurn.ResponseStatus, failedTurn.ResponseBody)
				}
			case <-timer.C:
				why = fmt.Sprintf("no matching message of the bot within %v", timeout)
			}
		}
		var got []string
		for _, m := range c.BotMessages(mark) {
			got = append(got, m.String())
		}
		if len(got) == 0 {
			got = []string{"(none)"}
		}
		c.env.t.Fatalf("waiting in %s: %s; the bot's messages there since the last action:\n%s", c.ID, why, indent(got))
		return Message{}
	}
}

// isFailure reports whether a log entry is the bot failing an activity (5xx)
// or the connector refusing a call of the bot (4xx, 5xx).
func isFailure(l LogEntry) bool {
	return (l.ToBot() && l.ResponseStatus >= 500) || (l.FromBot() && l.ResponseStatus >= 400)
}

// Quiet waits until nothing has arrived on either stream for d: the turns
// started by the last actions have ended and their messages are in. It gives
// up after Env.Timeout, which is not a failure (the bot may be chatty).
func (c *Chat) Quiet(d time.Duration) {
	c.env.t.Helper()
	deadline := time.After(c.env.Timeout)
	for {
		_, _, _, changed := c.env.s.snapshot()
		select {
		case <-changed:
		case <-time.After(d):
			return
		case <-deadline:
			c.env.t.Logf("Quiet(%v): the streams never went quiet within %v", d, c.env.Timeout)
			return
		}
	}
}
