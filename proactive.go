package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/dialogs"
)

// proactiveSender adapts the connector to the reminder worker, translating
// the connector's errors into the ones the worker acts on.
type proactiveSender struct{ c *bot.Connector }

var _ dialogs.ProactiveSender = proactiveSender{}

func (p proactiveSender) SendToConversation(ctx context.Context, serviceURL, conversationID string, a schema.Activity) (string, error) {
	id, err := p.c.SendToConversation(ctx, serviceURL, conversationID, a)
	var ce *bot.ConnectorError
	switch {
	case err == nil:
		return id, nil
	case errors.As(err, &ce) && (ce.Status == http.StatusForbidden || ce.Status == http.StatusNotFound):
		return "", fmt.Errorf("%w: %w", dialogs.ErrRecipientGone, err)
	case errors.As(err, &ce) && ce.Status == http.StatusTooManyRequests:
		return "", fmt.Errorf("%w: %w", &dialogs.ThrottledError{RetryAfter: ce.RetryAfter}, err)
	default:
		return "", err
	}
}
