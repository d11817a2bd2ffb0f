package main

import (
	"context"
	"fmt"
	"time"

	"github.com/smartswap/mfabot/dialogs"
	"github.com/smartswap/mfabot/graph"
)

// graphDirectory adapts the Graph client to what the dialog needs, and
// translates Graph's error kinds into the dialog's.
type graphDirectory struct{ c *graph.Client }

var _ dialogs.Directory = graphDirectory{}

func (d graphDirectory) ListAuthenticatorMethods(ctx context.Context, userID string) ([]dialogs.Method, error) {
	ms, err := d.c.ListAuthenticatorMethods(ctx, userID)
	if err != nil {
		return nil, classify(err)
	}
	out := make([]dialogs.Method, 0, len(ms))
	for _, m := range ms {
		out = append(out, dialogs.Method{ID: m.ID, DeviceName: m.DisplayName, Created: m.Created})
	}
	return out, nil
}

func (d graphDirectory) DeleteAuthenticatorMethod(ctx context.Context, userID, methodID string) error {
	return classify(d.c.DeleteAuthenticatorMethod(ctx, userID, methodID))
}

func (d graphDirectory) GetUser(ctx context.Context, userID string) (dialogs.UserInfo, error) {
	u, err := d.c.GetUser(ctx, userID)
	if err != nil {
		return dialogs.UserInfo{}, classify(err)
	}
	return dialogs.UserInfo{DisplayName: u.DisplayName, UPN: u.UserPrincipalName}, nil
}

func (d graphDirectory) CreateTemporaryAccessPass(ctx context.Context, userID string, lifetime time.Duration) (string, error) {
	tap, err := d.c.CreateTemporaryAccessPass(ctx, userID, lifetime, true)
	if err != nil {
		return "", classify(err)
	}
	return tap.Pass, nil
}

func (d graphDirectory) RevokeSignInSessions(ctx context.Context, userID string) error {
	return classify(d.c.RevokeSignInSessions(ctx, userID))
}

// classify wraps Graph errors with the dialog's kinds; the text (with the
// missing permission, for a 403) stays for the log.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case graph.IsForbidden(err):
		return fmt.Errorf("%w: %w", dialogs.ErrDirectoryForbidden, err)
	case graph.IsThrottled(err):
		return fmt.Errorf("%w: %w", dialogs.ErrDirectoryThrottled, err)
	default:
		return err
	}
}
