package app

import (
	"context"
	"encoding/json"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/cards"
)

// cardSender is what the conversation sends through: a *bot.Connector, or
// submitCards over one.
type cardSender interface {
	SendToConversation(ctx context.Context, serviceURL, conversationID string, a schema.Activity) (string, error)
	ReplyToActivity(ctx context.Context, serviceURL, conversationID, replyToID string, a schema.Activity) (string, error)
	UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, a schema.Activity) (string, error)
	SendTyping(ctx context.Context, serviceURL, conversationID string) error
	GetMember(ctx context.Context, serviceURL, conversationID, userID string) (schema.ChannelAccount, error)
}

var (
	_ cardSender = (*bot.Connector)(nil)
	_ cardSender = submitCards{}
)

// submitCards is a connector whose cards leave with Action.Submit buttons
// (CARD_ACTIONS=submit): the one place the card style is decided, so that
// every card, sent, updated or proactive, has it. Invoke answers are
// turned in turnHandler.
type submitCards struct{ *bot.Connector }

func (c submitCards) SendToConversation(ctx context.Context, serviceURL, conversationID string, a schema.Activity) (string, error) {
	return c.Connector.SendToConversation(ctx, serviceURL, conversationID, asSubmit(a))
}

func (c submitCards) ReplyToActivity(ctx context.Context, serviceURL, conversationID, replyToID string, a schema.Activity) (string, error) {
	return c.Connector.ReplyToActivity(ctx, serviceURL, conversationID, replyToID, asSubmit(a))
}

func (c submitCards) UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, a schema.Activity) (string, error) {
	return c.Connector.UpdateActivity(ctx, serviceURL, conversationID, activityID, asSubmit(a))
}

// asSubmit is a with the buttons of its cards turned into Action.Submit.
func asSubmit(a schema.Activity) schema.Activity {
	if len(a.Attachments) == 0 {
		return a
	}
	atts := make([]schema.Attachment, len(a.Attachments))
	copy(atts, a.Attachments)
	for i, att := range atts {
		if raw, ok := att.Content.(json.RawMessage); ok && att.ContentType == cards.ContentType {
			atts[i].Content = cards.AsSubmit(raw)
		}
	}
	a.Attachments = atts
	return a
}
