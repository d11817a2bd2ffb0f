package dialogs

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
)

// Turn is what the conversation needs of one inbound activity; *bot.Turn
// satisfies it.
type Turn interface {
	Incoming() schema.Activity
	Reference() schema.ConversationReference
	Send(ctx context.Context, a schema.Activity) (string, error)
	Update(ctx context.Context, activityID string, a schema.Activity) error
	Typing(ctx context.Context) error
	Later(fn func(ctx context.Context))
	Logger() *slog.Logger
}

// InvokeResult answers a card action in the invoke's HTTP response: a card
// (its JSON) that replaces the pressed one, or else a short text.
type InvokeResult struct {
	Card json.RawMessage
	Text string
}

// render encodes a card built by package cards. Cards are JSON-ready
// values, so an error here is a programming error that the card tests
// catch; the card is then left out rather than sent half-made.
func render(c cards.Card) json.RawMessage {
	b, err := json.Marshal(c)
	if err != nil {
		return nil
	}
	return b
}

// cardActivity is a message carrying one card: a cards.Card or its JSON.
func cardActivity(c any) schema.Activity {
	return schema.Activity{
		Type:        schema.Message,
		Attachments: []schema.Attachment{{ContentType: cards.ContentType, Content: c}},
	}
}
