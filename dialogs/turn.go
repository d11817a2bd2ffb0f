package dialogs

import (
	"context"
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
// that replaces the pressed one, or else a short text.
type InvokeResult struct {
	Card cards.Card
	Text string
}

func cardActivity(c cards.Card) schema.Activity {
	return schema.Activity{
		Type:        schema.Message,
		Attachments: []schema.Attachment{{ContentType: cards.ContentType, Content: c}},
	}
}
