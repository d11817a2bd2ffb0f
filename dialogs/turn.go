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
	// Failed: the press could not be handled (Text says so politely).
	Failed bool
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

// fit measures a card's JSON against Teams' size limit as the last thing
// before it leaves (as a message, an update or an invoke's answer): Teams
// refuses a larger message, and an update of a ticket's card would then
// fail for good. The builders bound everything they show (cards.MaxPlain,
// cards.MaxLines; cards.TestCardsAtTheirLargest walks every card kind at
// its largest), so a card over the limit is a bug: it is replaced by a
// short card that says so rather than refused by Teams.
func fit(b json.RawMessage) json.RawMessage {
	// A UTF-16 code unit takes at least one byte of UTF-8: a card no
	// longer in bytes than the limit needs no counting.
	if b == nil || len(b) <= cards.MaxSize || cards.Size(b) <= cards.MaxSize {
		return b
	}
	return render(cards.TooLarge())
}

// cardActivity is a message carrying one card: a cards.Card or its JSON,
// which fit measures.
func cardActivity(c any) schema.Activity {
	var b json.RawMessage
	switch c := c.(type) {
	case cards.Card:
		b = render(c)
	case json.RawMessage:
		b = c
	}
	return schema.Activity{
		Type:        schema.Message,
		Attachments: []schema.Attachment{{ContentType: cards.ContentType, Content: fit(b)}},
	}
}
