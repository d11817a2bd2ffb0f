package graph

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// AuthenticatorMethod is a Microsoft Authenticator app registered by a user.
type AuthenticatorMethod struct {
	ID              string
	DisplayName     string // the device name, e.g. "iPhone 15"
	PhoneAppVersion string
	// Created is Graph's createdDateTime. It is nil when the device is not
	// registered for passwordless phone sign-in, so to spot a newly added
	// phone compare IDs before and after, not dates.
	Created *time.Time
}

// ListAuthenticatorMethods lists the Microsoft Authenticator apps registered
// by the user (object ID or user principal name).
//
// Permission: UserAuthenticationMethod.Read.All.
//
// Graph API docs: https://learn.microsoft.com/graph/api/microsoftauthenticatorauthenticationmethod-list?view=graph-rest-1.0
func (c *Client) ListAuthenticatorMethods(ctx context.Context, userID string) ([]AuthenticatorMethod, error) {
	const op = OpListAuthenticatorMethods
	if userID == "" {
		return nil, invalidArg(op, "empty user ID")
	}
	rb := c.user(userID).Authentication().MicrosoftAuthenticatorMethods()
	return listPages[AuthenticatorMethod](ctx, c, op, newAuthMethodView,
		func(ctx context.Context, next string) (*abs.RequestInformation, error) {
			if next != "" {
				rb = rb.WithUrl(next)
			}
			return rb.ToGetRequestInformation(ctx, nil)
		})
}

// DeleteAuthenticatorMethod removes one Microsoft Authenticator registration
// from the user. Graph answers 204 No Content.
//
// Permission: UserAuthenticationMethod.ReadWrite.All.
//
// Graph API docs: https://learn.microsoft.com/graph/api/microsoftauthenticatorauthenticationmethod-delete?view=graph-rest-1.0
func (c *Client) DeleteAuthenticatorMethod(ctx context.Context, userID, methodID string) error {
	const op = OpDeleteAuthenticatorMethod
	if userID == "" || methodID == "" {
		return invalidArg(op, "empty user or method ID")
	}
	return c.call(ctx, op, func(ctx context.Context) error {
		return c.user(userID).Authentication().MicrosoftAuthenticatorMethods().
			ByMicrosoftAuthenticatorAuthenticationMethodId(methodID).Delete(ctx, nil)
	})
}

// TemporaryAccessPass is a newly created Temporary Access Pass.
//
// Pass is a secret: show it to the person who needs it and nowhere else.
// Printing the value with fmt (any verb) or logging it with slog shows
// "[REDACTED]" in its place; read the field to use it.
type TemporaryAccessPass struct {
	ID                string
	Pass              string
	StartDateTime     time.Time // when the pass becomes usable
	LifetimeInMinutes int
	IsUsableOnce      bool
}

// String describes the pass with Pass redacted.
func (t TemporaryAccessPass) String() string {
	return fmt.Sprintf("TemporaryAccessPass{ID:%s Pass:[REDACTED] StartDateTime:%s LifetimeInMinutes:%d IsUsableOnce:%t}",
		t.ID, t.StartDateTime.Format(time.RFC3339), t.LifetimeInMinutes, t.IsUsableOnce)
}

// GoString is String, so that %#v redacts too.
func (t TemporaryAccessPass) GoString() string { return t.String() }

// Format makes every fmt verb print String, so Pass never leaks through %d,
// %q or similar.
func (t TemporaryAccessPass) Format(f fmt.State, _ rune) { fmt.Fprint(f, t.String()) }

// LogValue logs the pass with Pass redacted.
func (t TemporaryAccessPass) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", t.ID),
		slog.String("pass", "[REDACTED]"),
		slog.Time("start", t.StartDateTime),
		slog.Int("lifetime_minutes", t.LifetimeInMinutes),
		slog.Bool("usable_once", t.IsUsableOnce),
	)
}

// Lifetime bounds Graph enforces for a Temporary Access Pass.
const (
	MinTAPLifetime = 10 * time.Minute
	MaxTAPLifetime = 43200 * time.Minute // 30 days
)

// CreateTemporaryAccessPass creates a Temporary Access Pass for the user,
// usable at once. lifetime is rounded down to whole minutes and must lie in
// [MinTAPLifetime, MaxTAPLifetime]; zero leaves it to the tenant policy's
// default. A user has at most one pass: a new one replaces the old. The
// tenant's TAP policy may refuse multi-use passes (usableOnce false).
// Graph answers 201 Created.
//
// Permission: UserAuthenticationMethod.ReadWrite.All.
//
// Graph API docs: https://learn.microsoft.com/graph/api/authentication-post-temporaryaccesspassmethods?view=graph-rest-1.0
func (c *Client) CreateTemporaryAccessPass(ctx context.Context, userID string, lifetime time.Duration, usableOnce bool) (TemporaryAccessPass, error) {
	const op = OpCreateTemporaryAccessPass
	if userID == "" {
		return TemporaryAccessPass{}, invalidArg(op, "empty user ID")
	}
	lifetime = lifetime.Truncate(time.Minute)
	if lifetime != 0 && (lifetime < MinTAPLifetime || lifetime > MaxTAPLifetime) {
		return TemporaryAccessPass{}, invalidArg(op, fmt.Sprintf("lifetime %s outside %s..%s", lifetime, MinTAPLifetime, MaxTAPLifetime))
	}
	body := models.NewTemporaryAccessPassAuthenticationMethod()
	if lifetime != 0 {
		minutes := int32(lifetime / time.Minute)
		body.SetLifetimeInMinutes(&minutes)
	}
	body.SetIsUsableOnce(&usableOnce)

	var tap TemporaryAccessPass
	err := c.call(ctx, op, func(ctx context.Context) error {
		resp, err := c.user(userID).Authentication().TemporaryAccessPassMethods().Post(ctx, body, nil)
		if err != nil {
			return err
		}
		if resp == nil || deref(resp.GetTemporaryAccessPass()) == "" {
			return &Error{Kind: KindOther, Op: op, Message: "response carries no pass"}
		}
		tap = TemporaryAccessPass{
			ID:                deref(resp.GetId()),
			Pass:              deref(resp.GetTemporaryAccessPass()),
			LifetimeInMinutes: int(deref(resp.GetLifetimeInMinutes())),
			IsUsableOnce:      deref(resp.GetIsUsableOnce()),
		}
		switch {
		case resp.GetStartDateTime() != nil:
			tap.StartDateTime = *resp.GetStartDateTime()
		case resp.GetCreatedDateTime() != nil:
			tap.StartDateTime = *resp.GetCreatedDateTime()
		}
		return nil
	})
	if err != nil {
		return TemporaryAccessPass{}, err
	}
	return tap, nil
}

// TemporaryAccessPassMethod is a Temporary Access Pass as Graph lists it:
// its times and state, never the pass itself (Graph shows the pass only in
// the answer to its creation; see CreateTemporaryAccessPass).
type TemporaryAccessPassMethod struct {
	ID              string
	Created         *time.Time // createdDateTime
	Start           *time.Time // startDateTime: when the pass becomes usable
	LifetimeMinutes int
	UsableOnce      bool
	Usable          bool // isUsable: whether the user can sign in with the pass now
}

// ListTemporaryAccessPassMethods lists the Temporary Access Pass of the user
// (object ID or user principal name): at most one, since a new pass
// replaces the old. A pass stays usable until it expires, and sign-in
// offers it first, so a leftover one is worth deleting.
//
// Permission: UserAuthMethod-TAP.Read.All (UserAuthenticationMethod.Read.All
// also works).
//
// Graph API docs: https://learn.microsoft.com/graph/api/authentication-list-temporaryaccesspassmethods?view=graph-rest-1.0
func (c *Client) ListTemporaryAccessPassMethods(ctx context.Context, userID string) ([]TemporaryAccessPassMethod, error) {
	const op = OpListTemporaryAccessPassMethods
	if userID == "" {
		return nil, invalidArg(op, "empty user ID")
	}
	rb := c.user(userID).Authentication().TemporaryAccessPassMethods()
	return listPages[TemporaryAccessPassMethod](ctx, c, op, newTAPView,
		func(ctx context.Context, next string) (*abs.RequestInformation, error) {
			if next != "" {
				rb = rb.WithUrl(next)
			}
			return rb.ToGetRequestInformation(ctx, nil)
		})
}

// DeleteTemporaryAccessPassMethod removes the user's Temporary Access Pass
// methodID. Graph answers 204 No Content.
//
// Permission: UserAuthMethod-TAP.ReadWrite.All. Microsoft's page lists
// UserAuthenticationMethod.ReadWrite.All as the least privileged application
// permission and this one as higher; this one is named because it covers
// Temporary Access Passes only. Either works.
//
// Graph API docs: https://learn.microsoft.com/graph/api/temporaryaccesspassauthenticationmethod-delete?view=graph-rest-1.0
func (c *Client) DeleteTemporaryAccessPassMethod(ctx context.Context, userID, methodID string) error {
	const op = OpDeleteTemporaryAccessPassMethod
	if userID == "" || methodID == "" {
		return invalidArg(op, "empty user or method ID")
	}
	return c.call(ctx, op, func(ctx context.Context) error {
		return c.user(userID).Authentication().TemporaryAccessPassMethods().
			ByTemporaryAccessPassAuthenticationMethodId(methodID).Delete(ctx, nil)
	})
}
