package dialogs

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Kind is the kind of a credential a phone can hold, as the directory
// (Microsoft Graph) lists it.
type Kind string

// The kinds of credential the dialog knows.
const (
	// KindPush is Microsoft Authenticator registered for push (and phone
	// sign-in): microsoftAuthenticatorMethods.
	KindPush Kind = "push"
	// KindPasskey is a passkey (FIDO2) in Microsoft Authenticator: a
	// fido2Methods entry with Authenticator's AAGUID. It is bound to the
	// phone and does not move to a new one.
	KindPasskey Kind = "passkey"
	// KindOtherPasskey is a passkey of another provider (a synced passkey,
	// a security key): listed for the inventory, never proposed for
	// deletion.
	KindOtherPasskey Kind = "fido2"
	// KindOath is an authenticator app's one-time codes
	// (softwareOathMethods): Graph gives it no name or date, so only the
	// user can say whether it was on the old phone.
	KindOath Kind = "oath"
	// KindTAP is a Temporary Access Pass.
	KindTAP Kind = "tap"
	// KindPhone is a phone number for SMS or voice (phoneMethods): it
	// does not change with the handset, so it is listed for the helpdesk
	// only.
	KindPhone Kind = "phone"
)

// Method is one credential of a user, as the directory lists it.
type Method struct {
	ID   string
	Kind Kind // "" is read as KindPush
	// DeviceName is the device (push, passkey) or the name Graph gives.
	DeviceName string
	// Created is the registration time (a TAP's creation); nil when the directory does not
	// know it (Graph returns null for push registrations not set up for
	// passwordless sign-in, and has no date for OATH entries), so the
	// dialog tells credentials apart by id, never by date.
	Created *time.Time
}

// kind is m's kind, push for a Method that names none.
func (m Method) kind() Kind {
	if m.Kind == "" {
		return KindPush
	}
	return m.Kind
}

// Listing is what the directory listed of a user's credentials.
type Listing struct {
	Methods []Method
	// Skipped are the kinds asked for but not listed because the bot
	// lacks their permission (Graph answered 403), each with the
	// permission it needs. The procedure goes on without them.
	Skipped map[Kind]string
}

// of returns the listed credentials of kind k.
func (l Listing) of(k Kind) []Method {
	var out []Method
	for _, m := range l.Methods {
		if m.kind() == k {
			out = append(out, m)
		}
	}
	return out
}

// Directory is what the dialog needs of Microsoft Graph.
type Directory interface {
	// ListMethods lists the user's credentials of the kinds asked for. A
	// kind whose permission the bot lacks is left out and named in
	// Skipped, except push, which the procedure cannot do without: its
	// 403 is the error.
	ListMethods(ctx context.Context, userID string, kinds ...Kind) (Listing, error)
	// DeleteMethod deletes one credential of the user (by m.Kind and m.ID).
	DeleteMethod(ctx context.Context, userID string, m Method) error
	// GetUser returns the user's display name and user principal name.
	GetUser(ctx context.Context, userID string) (UserInfo, error)
	// CreateTemporaryAccessPass issues a one-time pass; the pass is a
	// secret that only the user's 1:1 chat may see.
	CreateTemporaryAccessPass(ctx context.Context, userID string, lifetime time.Duration) (string, error)
	// RevokeSignInSessions signs the user out everywhere.
	RevokeSignInSessions(ctx context.Context, userID string) error
}

// wholePhone are the kinds the snapshot records: everything a phone can
// hold that the bot can see.
var wholePhone = []Kind{KindPush, KindPasskey, KindOath}

// phoneBound reports whether a credential of kind k lives on one phone and
// must go with it: Authenticator push and Authenticator passkeys (an OATH
// entry only once the user says it was on the old phone).
func phoneBound(k Kind) bool { return k == KindPush || k == KindPasskey }

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

// logSkipped tells the operator which kinds a listing left out, and the
// permission each needs.
func logSkipped(ctx context.Context, ti turnInfo, l Listing) {
	kinds := make([]Kind, 0, len(l.Skipped))
	for k := range l.Skipped {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		ti.log.WarnContext(ctx, "a kind of credential was not checked: Graph permission missing",
			"kind", string(k), "permission", l.Skipped[k])
	}
}
