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
	// GetUser returns the user's display name and user principal name.
	GetUser(ctx context.Context, userID string) (UserInfo, error)
	// CreateTemporaryAccessPass issues a one-time pass; the pass is a
	// secret that only the user's 1:1 chat may see.
	CreateTemporaryAccessPass(ctx context.Context, userID string, lifetime time.Duration) (string, error)
	// RevokeSignInSessions signs the user out everywhere.
	RevokeSignInSessions(ctx context.Context, userID string) error
}

// UserInfo is who a user is, for the helpdesk.
type UserInfo struct {
	DisplayName, UPN string
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
