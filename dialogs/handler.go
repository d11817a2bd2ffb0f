package dialogs

import (
	"context"
	"log/slog"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"
	"golang.org/x/text/unicode/norm"

	"github.com/smartswap/mfabot/cards"
)

// Turn is what the conversation needs of one inbound activity; *bot.Turn
// satisfies it.
type Turn interface {
	Incoming() schema.Activity
	Send(ctx context.Context, a schema.Activity) (string, error)
	Update(ctx context.Context, activityID string, a schema.Activity) error
	Typing(ctx context.Context) error
	Later(fn func(ctx context.Context))
	Logger() *slog.Logger
}

// InvokeResult answers a card action in the invoke's HTTP response: either
// a card that replaces the pressed one, or a short text.
type InvokeResult struct {
	Card cards.Card
	Text string
}

// Handler answers the bot's turns.
type Handler struct{}

// NewHandler returns the conversation handler.
func NewHandler() *Handler { return &Handler{} }

// OnMessage answers typed text.
func (h *Handler) OnMessage(ctx context.Context, t Turn) error {
	a := t.Incoming()
	loc := cards.LocaleFor(a.Locale)
	if isStart(a.Text) {
		_, err := t.Send(ctx, cardActivity(cards.Start(loc)))
		return err
	}
	_, err := t.Send(ctx, schema.Activity{Type: schema.Message, Text: cards.Text(loc, "help.text")})
	return err
}

// OnInvoke answers a card action.
func (h *Handler) OnInvoke(ctx context.Context, t Turn) (InvokeResult, error) {
	loc := cards.LocaleFor(t.Incoming().Locale)
	return InvokeResult{Text: cards.Text(loc, "started.text")}, nil
}

// OnConversationUpdate welcomes a user when the bot is added to a chat.
func (h *Handler) OnConversationUpdate(ctx context.Context, t Turn) error {
	a := t.Incoming()
	for _, m := range a.MembersAdded {
		if m.ID == a.Recipient.ID {
			return h.welcome(ctx, t)
		}
	}
	return nil
}

// OnInstallationUpdate is acknowledged; the welcome is sent on the
// conversationUpdate that accompanies an install.
func (h *Handler) OnInstallationUpdate(ctx context.Context, t Turn) error { return nil }

func (h *Handler) welcome(ctx context.Context, t Turn) error {
	loc := cards.LocaleFor(t.Incoming().Locale)
	a := cardActivity(cards.Start(loc))
	a.Text = cards.Text(loc, "welcome.text")
	_, err := t.Send(ctx, a)
	return err
}

func cardActivity(c cards.Card) schema.Activity {
	return schema.Activity{
		Type:        schema.Message,
		Attachments: []schema.Attachment{{ContentType: cards.ContentType, Content: c}},
	}
}

// isStart reports whether text asks to start the procedure.
func isStart(text string) bool {
	t := strings.ToLower(strings.Join(strings.Fields(norm.NFKC.String(text)), ""))
	return t == "スマホ交換"
}
