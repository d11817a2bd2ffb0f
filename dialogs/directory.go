package dialogs

import (
	"context"
	"errors"
	"time"
)

// Method is a Microsoft Authenticator registration of a user, as the
// directory (Microsoft Graph) lists it.
type Method struct {
	ID         string
	DeviceName string
	// Created is the registration time; nil when the directory does not
	// know it (Graph returns null for devices not set up for passwordless
	// sign-in), so the dialog tells devices apart by id, never by date.
	Created *time.Time
}

// Directory is what the dialog needs of Microsoft Graph.
type Directory interface {
	ListAuthenticatorMethods(ctx context.Context, userID string) ([]Method, error)
	DeleteAuthenticatorMethod(ctx context.Context, userID, methodID string) error
}

// Errors a Directory returns (wrapped) so that the dialog can say plainly
// what went wrong. Any other error counts as the directory being down.
var (
	// ErrDirectoryForbidden: the bot lacks a Graph permission or consent.
	ErrDirectoryForbidden = errors.New("directory: permission denied")
	// ErrDirectoryThrottled: Graph asked the bot to slow down.
	ErrDirectoryThrottled = errors.New("directory: throttled")
)

// problemKey is the catalog key that explains a directory error.
func problemKey(err error) string {
	switch {
	case errors.Is(err, ErrDirectoryForbidden):
		return "graph.forbidden"
	case errors.Is(err, ErrDirectoryThrottled):
		return "graph.throttled"
	default:
		return "graph.down"
	}
}
