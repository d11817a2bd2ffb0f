package sweep

import (
	"slices"
	"strings"
	"time"
)

// The kinds of Device a candidate is found by. They have the values of
// dialogs.KindPush and dialogs.KindPasskey.
const (
	// KindPush is Microsoft Authenticator registered for push
	// (graph.AuthenticatorMethod).
	KindPush = "push"
	// KindPasskey is a passkey in Microsoft Authenticator: a
	// graph.Fido2Method whose AAGUID graph.IsAuthenticatorPasskey accepts.
	KindPasskey = "passkey"
)

// The actions a Finding records, what the sweep did about the candidate.
const (
	// ActionNone is a candidate the sweep did nothing about (a dry run).
	ActionNone = ""
	// ActionNotified is a candidate who was sent the card.
	ActionNotified = "notified"
	// ActionNoConversation is a candidate the bot cannot reach: the app is
	// not installed for them, so there is no conversation reference.
	ActionNoConversation = "no_conversation"
	// ActionBothInUse is a candidate who answered that they use both
	// devices; later sweeps do not ask them again.
	ActionBothInUse = "both_in_use"
	// ActionFailedPrefix starts the action of a candidate the sweep could
	// not handle; Failed builds it.
	ActionFailedPrefix = "failed:"
)

// Failed is the action of a finding the sweep could not handle, for the
// reason given (short and free of secrets, e.g. "graph_forbidden").
func Failed(reason string) string { return ActionFailedPrefix + reason }

// IsFailed reports whether action is one that Failed built.
func IsFailed(action string) bool { return strings.HasPrefix(action, ActionFailedPrefix) }

// User is a user the sweep scanned, as the directory lists them.
type User struct {
	ID          string // the Entra object ID
	UPN         string // the user principal name
	DisplayName string
	Department  string // "" when the directory has none
}

// Device is one Authenticator registration of a user.
type Device struct {
	Kind string // KindPush or KindPasskey; other kinds are reported but never make a candidate
	ID   string // the authentication method's ID in Graph
	Name string // the device name (push) or the passkey's name
	// Created is when the registration was made; nil when Graph gives no
	// date (a push registration not set up for phone sign-in).
	Created *time.Time
}

// Finding is one candidate of a sweep and what was done about them.
type Finding struct {
	User    User
	Devices []Device
	// Action is what the sweep did: ActionNone, ActionNotified,
	// ActionNoConversation, ActionBothInUse or Failed(reason).
	Action string
}

// Candidate reports whether a user holding devices should be asked about an
// old phone: two or more Authenticator push registrations, or two or more
// Authenticator passkeys. One of each is a phone with both, not two phones;
// other kinds do not count.
func Candidate(devices []Device) bool {
	push, passkey := 0, 0
	for _, d := range devices {
		switch d.Kind {
		case KindPush:
			push++
		case KindPasskey:
			passkey++
		}
	}
	return push >= 2 || passkey >= 2
}

// Ordered returns a copy of devices in the order they are shown: oldest
// registration first, those without a date last, and devices that tie kept
// in the order given. devices itself is not changed.
func Ordered(devices []Device) []Device {
	out := slices.Clone(devices)
	slices.SortStableFunc(out, func(a, b Device) int {
		switch {
		case a.Created == nil && b.Created == nil:
			return 0
		case a.Created == nil:
			return 1
		case b.Created == nil:
			return -1
		}
		return a.Created.Compare(*b.Created)
	})
	return out
}
