package graph

import (
	"context"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// PhoneMethod is a phone number registered by a user for SMS or voice
// sign-in. A handset swap that keeps the number leaves it as it is.
//
// PhoneNumber is personal data: show it to its owner or an operator, and keep
// it out of logs.
type PhoneMethod struct {
	ID          string
	PhoneNumber string // as Graph formats it, e.g. "+1 2065555555"
	PhoneType   string // "mobile", "alternateMobile" or "office"
}

// ListPhoneMethods lists the phone numbers (at most three) registered by the
// user (object ID or user principal name). The Client has no call that
// changes or deletes a phone method: they are listed for inventory only.
//
// Permission: UserAuthMethod-Phone.Read.All (UserAuthenticationMethod.Read.All
// also works).
//
// Graph API docs: https://learn.microsoft.com/graph/api/authentication-list-phonemethods?view=graph-rest-1.0
func (c *Client) ListPhoneMethods(ctx context.Context, userID string) ([]PhoneMethod, error) {
	const op = OpListPhoneMethods
	if userID == "" {
		return nil, invalidArg(op, "empty user ID")
	}
	rb := c.user(userID).Authentication().PhoneMethods()
	return listPages[PhoneMethod](ctx, c, op, newPhoneView,
		func(ctx context.Context, next string) (*abs.RequestInformation, error) {
			if next != "" {
				rb = rb.WithUrl(next)
			}
			return rb.ToGetRequestInformation(ctx, nil)
		})
}
