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

// Store keeps one dialog document per user with a revision number, written
// only if the revision has not moved (compare-and-set).
type Store interface {
	// LoadDialog returns the user's document and revision; (nil, 0) if none.
	LoadDialog(ctx context.Context, tenant, user string) (doc []byte, rev int64, err error)
	// SaveDialog writes doc if the stored revision is still prevRev; saved
	// is false when another turn changed the dialog first.
	SaveDialog(ctx context.Context, tenant, user string, doc []byte, prevRev int64) (rev int64, saved bool, err error)
}

func cardActivity(c cards.Card) schema.Activity {
	return schema.Activity{
		Type:        schema.Message,
		Attachments: []schema.Attachment{{ContentType: cards.ContentType, Content: c}},
	}
}
