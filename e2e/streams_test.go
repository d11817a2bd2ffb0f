//go:build unix

package e2e

// What the Playground's two WebSocket streams deliver: the messages the bot
// creates or updates in the chats (Message, from the conversation stream)
// and every HTTP exchange it sees (LogEntry, from the log stream), collected
// as they arrive; and the Env's readers of them.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Message is one chat message the bot created or updated, as the Playground's
// conversation stream reports it.
type Message struct {
	Seq    int    // order of arrival on the stream, from 0
	Action string // "createMessage" or "updateMessage" ("typing" in Env.Events)
	// ConversationID is where it appeared: a chat id, a channel id, or a
	// channel thread "<channel id>;messageid=<root message id>".
	ConversationID string
	// PostConversationID is set when the message starts a new channel thread.
	PostConversationID string
	ID                 string // the Playground's message id (ms timestamp); replyToId for card actions
	Timestamp          time.Time
	FromID             string // the bot's id for bot messages
	Text               string
	TextFormat         string
	Attachments        []Attachment
	AttachmentLayout   string
	Raw                json.RawMessage // the whole stream frame
}

// Attachment is one attachment of a message.
type Attachment struct {
	ContentType string          `json:"contentType"`
	Content     json.RawMessage `json:"content"`
}

// ContentTypeAdaptiveCard is the content type of an Adaptive Card attachment.
const ContentTypeAdaptiveCard = "application/vnd.microsoft.card.adaptive"

// Cards returns the Adaptive Cards attached to the message.
func (m Message) Cards() []json.RawMessage {
	var cards []json.RawMessage
	for _, a := range m.Attachments {
		if strings.EqualFold(a.ContentType, ContentTypeAdaptiveCard) {
			cards = append(cards, a.Content)
		}
	}
	return cards
}

// Card returns the first Adaptive Card attached to the message, or nil.
func (m Message) Card() json.RawMessage {
	if c := m.Cards(); len(c) > 0 {
		return c[0]
	}
	return nil
}

// String summarises the message for failure reports.
func (m Message) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s in %s id=%s from=%s", m.Seq, m.Action, m.ConversationID, m.ID, m.FromID)
	if m.Text != "" {
		fmt.Fprintf(&b, " text=%q", truncate(m.Text, 200))
	}
	for _, a := range m.Attachments {
		fmt.Fprintf(&b, " [%s %s]", a.ContentType, truncate(string(a.Content), 300))
	}
	return b.String()
}

// LogEntry is one entry of the Playground's log stream.
type LogEntry struct {
	Seq            int    // order of arrival, from 0
	Type           string // "bot" (an HTTP exchange) or "text" (a notice)
	Level          string // for notices: "default", "warning", "error"
	ConversationID string
	ActivityName   string // activity type or invoke name, e.g. "message", "invoke"
	MessageID      string
	From, To       string // "Microsoft 365 Agents Playground" or "User Application" (the bot)
	DisplayText    string
	Timestamp      time.Time
	RequestBody    json.RawMessage
	ResponseStatus int
	ResponseBody   json.RawMessage
	Raw            json.RawMessage
}

const playgroundAppName = "User Application" // how the Playground's log names the bot

// ToBot reports whether the entry is an activity the Playground sent to the bot.
func (l LogEntry) ToBot() bool { return l.Type == "bot" && l.To == playgroundAppName }

// FromBot reports whether the entry is a call of the bot to the connector.
func (l LogEntry) FromBot() bool { return l.Type == "bot" && l.From == playgroundAppName }

// String summarises the entry for failure reports; bodies are cut at limit
// characters (0: whole).
func (l LogEntry) String(limit int) string {
	cut := func(b json.RawMessage) string {
		if limit > 0 {
			return truncate(string(b), limit)
		}
		return string(b)
	}
	at := l.Timestamp.Format("15:04:05.000")
	switch {
	case l.ToBot():
		return fmt.Sprintf("%s Playground -> bot  %s in %s: bot answered %d %s\n      request %s",
			at, l.ActivityName, l.ConversationID, l.ResponseStatus, cut(l.ResponseBody), cut(l.RequestBody))
	case l.FromBot():
		return fmt.Sprintf("%s bot -> connector %s in %s: connector answered %d %s\n      request %s",
			at, l.ActivityName, l.ConversationID, l.ResponseStatus, cut(l.ResponseBody), cut(l.RequestBody))
	default:
		return fmt.Sprintf("%s notice [%s] %s", at, l.Level, l.DisplayText)
	}
}

// streams holds what the two WebSockets delivered.
type streams struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever something arrives
	events  []Message     // conversation stream, typing included
	logs    []LogEntry
	errs    []error // stream failures
}

func newStreams() *streams { return &streams{changed: make(chan struct{})} }

// notifyLocked wakes the waiters; s.mu must be held.
func (s *streams) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *streams) addConversationFrame(data []byte) error {
	var f struct {
		Action         string `json:"action"`
		ConversationID string `json:"actionConversationId"`
		Message        struct {
			MessageID          string              `json:"messageId"`
			Timestamp          int64               `json:"timestamp"`
			From               struct{ ID string } `json:"from"`
			Text               string              `json:"text"`
			TextFormat         string              `json:"textFormat"`
			Attachments        []Attachment        `json:"attachments"`
			AttachmentLayout   string              `json:"attachmentLayout"`
			PostConversationID string              `json:"postConversationId"`
		} `json:"message"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("conversation stream: %w in %s", err, truncate(string(data), 500))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := Message{
		Seq:                len(s.events),
		Action:             f.Action,
		ConversationID:     f.ConversationID,
		PostConversationID: f.Message.PostConversationID,
		ID:                 f.Message.MessageID,
		FromID:             f.Message.From.ID,
		Text:               f.Message.Text,
		TextFormat:         f.Message.TextFormat,
		Attachments:        f.Message.Attachments,
		AttachmentLayout:   f.Message.AttachmentLayout,
		Raw:                append(json.RawMessage(nil), data...),
	}
	if f.Message.Timestamp != 0 {
		m.Timestamp = time.UnixMilli(f.Message.Timestamp)
	}
	s.events = append(s.events, m)
	s.notifyLocked()
	return nil
}

func (s *streams) addLogFrame(data []byte) error {
	var f struct {
		LogAction string `json:"logAction"`
		Log       struct {
			Type           string `json:"type"`
			Level          string `json:"level"`
			ConversationID string `json:"conversationId"`
			ActivityName   string `json:"activityName"`
			MessageID      string `json:"messageId"`
			From           string `json:"from"`
			To             string `json:"to"`
			DisplayText    string `json:"displayText"`
			Timestamp      int64  `json:"timestamp"`
			Request        struct {
				Body json.RawMessage `json:"body"`
			} `json:"request"`
			Response struct {
				StatusCode int             `json:"statusCode"`
				Body       json.RawMessage `json:"body"`
			} `json:"response"`
		} `json:"log"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("log stream: %w in %s", err, truncate(string(data), 500))
	}
	if f.LogAction != "appendLog" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := f.Log
	s.logs = append(s.logs, LogEntry{
		Seq:            len(s.logs),
		Type:           l.Type,
		Level:          l.Level,
		ConversationID: l.ConversationID,
		ActivityName:   l.ActivityName,
		MessageID:      l.MessageID,
		From:           l.From,
		To:             l.To,
		DisplayText:    l.DisplayText,
		Timestamp:      time.UnixMilli(l.Timestamp),
		RequestBody:    l.Request.Body,
		ResponseStatus: l.Response.StatusCode,
		ResponseBody:   l.Response.Body,
		Raw:            append(json.RawMessage(nil), data...),
	})
	s.notifyLocked()
	return nil
}

func (s *streams) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
	s.notifyLocked()
}

// snapshot returns copies of what arrived so far and the channel that is
// closed on the next arrival.
func (s *streams) snapshot() (events []Message, logs []LogEntry, errs []error, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.events...), append([]LogEntry(nil), s.logs...), append([]error(nil), s.errs...), s.changed
}

// read dials a stream and feeds its frames to add until ctx ends.
func (s *streams) read(ctx context.Context, wsURL string, add func([]byte) error, ready chan<- error) {
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, _, err := websocket.Dial(dialCtx, wsURL, nil)
	cancel()
	ready <- err
	if err != nil {
		return
	}
	defer conn.CloseNow()
	conn.SetReadLimit(64 << 20) // cards can be large; the default is 32 KiB
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.fail(fmt.Errorf("%s: %w", wsURL, err))
			}
			return
		}
		if err := add(data); err != nil {
			s.fail(err)
		}
	}
}

// Events returns every event of the conversation stream so far, typing
// indicators included, in order.
func (e *Env) Events() []Message {
	events, _, _, _ := e.s.snapshot()
	return events
}

// Logs returns every entry of the log stream so far, in order.
func (e *Env) Logs() []LogEntry {
	_, logs, _, _ := e.s.snapshot()
	return logs
}

// waitLog waits up to timeout for a log entry after mark matching pred.
func (e *Env) waitLog(mark int, timeout time.Duration, pred func(LogEntry) bool) (LogEntry, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		_, logs, _, changed := e.s.snapshot()
		for _, l := range logs[min(mark, len(logs)):] {
			if pred(l) {
				return l, true
			}
		}
		select {
		case <-changed:
		case <-timer.C:
			return LogEntry{}, false
		}
	}
}

func messageStrings(msgs []Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.String())
	}
	return out
}
