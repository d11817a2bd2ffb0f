package graph

import (
	"context"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// SoftwareOathMethod is a software OATH token (a TOTP app) registered by a
// user. Microsoft Authenticator added through "I want to use a different
// authenticator app" appears here too. Graph v1.0 gives it no name and no
// date: only the ID, so tell an old one from a new one by comparing IDs.
type SoftwareOathMethod struct {
	ID string
}

// ListSoftwareOathMethods lists the software OATH tokens registered by the
// user (object ID or user principal name).
//
// Permission: UserAuthMethod-SoftwareOATH.Read.All
// (UserAuthenticationMethod.Read.All also works).
//
// Graph API docs: https://learn.microsoft.com/graph/api/authentication-list-softwareoathmethods?view=graph-rest-1.0
func (c *Client) ListSoftwareOathMethods(ctx context.Context, userID string) ([]SoftwareOathMethod, error) {
	const op = OpListSoftwareOathMethods
	if userID == "" {
		return nil, invalidArg(op, "empty user ID")
	}
	rb := c.user(userID).Authentication().SoftwareOathMethods()
	return listPages[SoftwareOathMethod](ctx, c, op, newSoftwareOathView,
		func(ctx context.Context, next string) (*abs.RequestInformation, error) {
			if next != "" {
				rb = rb.WithUrl(next)
			}
			return rb.ToGetRequestInformation(ctx, nil)
		})
}

// DeleteSoftwareOathMethod removes one software OATH token from the user.
// Graph answers 204 No Content.
//
// Permission: UserAuthMethod-SoftwareOATH.ReadWrite.All. Microsoft's page
// lists UserAuthenticationMethod.ReadWrite.All as the least privileged
// application permission and this one as higher; this one is named because it
// covers software OATH tokens only. Either works.
//
// Graph API docs: https://learn.microsoft.com/graph/api/softwareoathauthenticationmethod-delete?view=graph-rest-1.0
func (c *Client) DeleteSoftwareOathMethod(ctx context.Context, userID, methodID string) error {
	const op = OpDeleteSoftwareOathMethod
	if userID == "" || methodID == "" {
		return invalidArg(op, "empty user or method ID")
	}
	return c.call(ctx, op, func(ctx context.Context) error {
		return c.user(userID).Authentication().SoftwareOathMethods().
			BySoftwareOathAuthenticationMethodId(methodID).Delete(ctx, nil)
	})
}
