package main

import (
	"context"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/dialogs"
)

// turnHandler adapts the conversation (dialogs) to the protocol layer (bot),
// so that neither package imports the other.
type turnHandler struct{ d *dialogs.Handler }

var _ bot.Handler = turnHandler{}

func (h turnHandler) OnMessage(ctx context.Context, t *bot.Turn) error {
	return h.d.OnMessage(ctx, t)
}

func (h turnHandler) OnInvoke(ctx context.Context, t *bot.Turn) (bot.InvokeResponse, error) {
	res, err := h.d.OnInvoke(ctx, t)
	if err != nil {
		return bot.InvokeResponse{}, err
	}
	if res.Card != nil {
		return bot.CardInvokeResponse(res.Card), nil
	}
	return bot.MessageInvokeResponse(res.Text), nil
}

func (h turnHandler) OnConversationUpdate(ctx context.Context, t *bot.Turn) error {
	return h.d.OnConversationUpdate(ctx, t)
}

func (h turnHandler) OnInstallationUpdate(ctx context.Context, t *bot.Turn) error {
	return h.d.OnInstallationUpdate(ctx, t)
}
