package bot

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// Handler is the conversation: the bot routes every authenticated activity of
// a known type to one of its methods. A returned error is logged and answered
// 500; the handler should send the user its own polite message first.
type Handler interface {
	// OnMessage handles a "message" activity (typed text or an Action.Submit).
	OnMessage(ctx context.Context, t *Turn) error
	// OnInvoke handles an "invoke" activity. Its result is written as the
	// HTTP response body, which is how Teams expects invokes such as
	// adaptiveCard/action to be answered.
	OnInvoke(ctx context.Context, t *Turn) (InvokeResponse, error)
	// OnConversationUpdate handles "conversationUpdate" (members added/removed).
	OnConversationUpdate(ctx context.Context, t *Turn) error
	// OnInstallationUpdate handles "installationUpdate" (app added/removed).
	OnInstallationUpdate(ctx context.Context, t *Turn) error
}

// InvokeResponse is the HTTP answer to an invoke activity.
type InvokeResponse struct {
	// Status is the HTTP status written; 0 means 200.
	Status int
	// Body is marshalled as JSON; nil writes no body.
	Body any
}

// Content types of an adaptiveCard/action invoke response.
const (
	InvokeTypeCard    = "application/vnd.microsoft.card.adaptive"
	InvokeTypeMessage = "application/vnd.microsoft.activity.message"
	InvokeTypeError   = "application/vnd.microsoft.error"
)

// CardInvokeResponse answers an adaptiveCard/action invoke by replacing the
// card the user pressed with card: a value to encode, or the card's JSON
// already encoded (json.RawMessage), which goes out as it is.
func CardInvokeResponse(card any) InvokeResponse {
	if raw, ok := card.(json.RawMessage); ok {
		const head = `{"statusCode":200,"type":"` + InvokeTypeCard + `","value":`
		body := make([]byte, 0, len(head)+len(raw)+1)
		body = append(append(append(body, head...), raw...), '}')
		return InvokeResponse{Status: 200, Body: json.RawMessage(body)}
	}
	return InvokeResponse{Status: 200, Body: map[string]any{
		"statusCode": 200, "type": InvokeTypeCard, "value": card,
	}}
}

// MessageInvokeResponse answers an adaptiveCard/action invoke with a text
// that Teams shows to the user instead of changing the card.
func MessageInvokeResponse(text string) InvokeResponse {
	return InvokeResponse{Status: 200, Body: map[string]any{
		"statusCode": 200, "type": InvokeTypeMessage, "value": text,
	}}
}

// Turn is one inbound activity being handled, with the means to answer it.
type Turn struct {
	// Activity is the verified inbound activity.
	Activity schema.Activity

	conn   sender
	logger *slog.Logger
	later  func(func(ctx context.Context))
}

// sender is what a turn needs of the connector client.
type sender interface {
	SendToConversation(ctx context.Context, serviceURL, conversationID string, a schema.Activity) (string, error)
	ReplyToActivity(ctx context.Context, serviceURL, conversationID, replyToID string, a schema.Activity) (string, error)
	UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, a schema.Activity) (string, error)
	SendTyping(ctx context.Context, serviceURL, conversationID string) error
}

// Incoming returns the inbound activity (the same as the Activity field; a
// method so that packages that must not import bot can declare an interface
// that *Turn satisfies).
func (t *Turn) Incoming() schema.Activity { return t.Activity }

// Logger returns the turn's logger, carrying the activity id, conversation
// id and tenant.
func (t *Turn) Logger() *slog.Logger { return t.logger }

// Reference returns the conversation reference of the inbound activity, the
// address for later proactive messages.
func (t *Turn) Reference() schema.ConversationReference {
	a := t.Activity
	return schema.ConversationReference{
		ActivityID:   a.ID,
		User:         a.From,
		Bot:          a.Recipient,
		Conversation: a.Conversation,
		ChannelID:    a.ChannelID,
		ServiceURL:   a.ServiceURL,
	}
}

// TenantID returns the tenant the activity came from.
func (t *Turn) TenantID() string { return TenantOf(t.Activity) }

// outbound fills in the addressing fields of a reply from the inbound activity.
func (t *Turn) outbound(a schema.Activity) schema.Activity {
	if a.Type == "" {
		a.Type = schema.Message
	}
	a.ChannelID = t.Activity.ChannelID
	a.ServiceURL = ""
	a.From = t.Activity.Recipient
	a.Recipient = t.Activity.From
	a.Conversation = t.Activity.Conversation
	if a.Locale == "" {
		a.Locale = t.Activity.Locale
	}
	return a
}

// Send posts a into the turn's conversation and returns the id the connector
// gave it (empty when the channel gives none).
func (t *Turn) Send(ctx context.Context, a schema.Activity) (string, error) {
	return t.conn.SendToConversation(ctx, t.Activity.ServiceURL, t.Activity.Conversation.ID, t.outbound(a))
}

// Reply posts a as a reply to the inbound activity.
func (t *Turn) Reply(ctx context.Context, a schema.Activity) (string, error) {
	a = t.outbound(a)
	a.ReplyToID = t.Activity.ID
	return t.conn.ReplyToActivity(ctx, t.Activity.ServiceURL, t.Activity.Conversation.ID, t.Activity.ID, a)
}

// Update replaces the earlier activity activityID (a card the bot sent) with a.
func (t *Turn) Update(ctx context.Context, activityID string, a schema.Activity) error {
	a = t.outbound(a)
	a.ID = activityID
	_, err := t.conn.UpdateActivity(ctx, t.Activity.ServiceURL, t.Activity.Conversation.ID, activityID, a)
	return err
}

// Typing shows the typing indicator in the turn's conversation.
func (t *Turn) Typing(ctx context.Context) error {
	return t.conn.SendTyping(ctx, t.Activity.ServiceURL, t.Activity.Conversation.ID)
}

// Later runs fn after the turn has been acknowledged, with a context that is
// not cancelled with the request but has its own timeout. Use it for work
// that may outlast Teams' 15-second acknowledgement deadline.
func (t *Turn) Later(fn func(ctx context.Context)) { t.later(fn) }

// TenantOf returns the tenant id of an activity: channelData.tenant.id, or
// conversation.tenantId when the former is missing.
func TenantOf(a schema.Activity) string {
	if tenant, ok := a.ChannelData["tenant"].(map[string]any); ok {
		if id, ok := tenant["id"].(string); ok && id != "" {
			return id
		}
	}
	return a.Conversation.TenantID
}
