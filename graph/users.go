package graph

import (
	"context"

	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// User is the part of a Microsoft Entra user the bot needs.
type User struct {
	ID                string // object ID
	DisplayName       string
	UserPrincipalName string
}

// GetUser reads the user's ID, display name and user principal name. userID
// is an object ID or a user principal name.
//
// Permission: User.Read.All.
//
// Graph API docs: https://learn.microsoft.com/graph/api/user-get?view=graph-rest-1.0
func (c *Client) GetUser(ctx context.Context, userID string) (User, error) {
	const op = OpGetUser
	if userID == "" {
		return User{}, invalidArg(op, "empty user ID")
	}
	var u User
	err := c.call(ctx, op, func(ctx context.Context) error {
		req, err := c.user(userID).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{
				Select: []string{"id", "displayName", "userPrincipalName"},
			},
		})
		if err != nil {
			return err
		}
		res, err := c.adapter.Send(ctx, req, newUserView, odataErrorMapping)
		if err != nil {
			return err
		}
		v, _ := res.(*userView)
		if v == nil {
			return &Error{Kind: KindOther, Op: op, Message: "empty response"}
		}
		u = v.User
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// RevokeSignInSessions invalidates the user's refresh tokens and browser
// session cookies, so every app must sign in again. Microsoft notes it can
// take a few minutes to take effect. Graph answers 200 {"value": true}
// (204 is accepted too).
//
// Permission: User.RevokeSessions.All (User.ReadWrite.All or
// Directory.ReadWrite.All also work).
//
// Graph API docs: https://learn.microsoft.com/graph/api/user-revokesigninsessions?view=graph-rest-1.0
func (c *Client) RevokeSignInSessions(ctx context.Context, userID string) error {
	const op = OpRevokeSignInSessions
	if userID == "" {
		return invalidArg(op, "empty user ID")
	}
	return c.call(ctx, op, func(ctx context.Context) error {
		// Any 2xx is success: Graph's known issues page says this API
		// should answer 204, answers 200 with a value that is always
		// true, and advises treating every 2xx as success.
		_, err := c.user(userID).RevokeSignInSessions().PostAsRevokeSignInSessionsPostResponse(ctx, nil)
		return err
	})
}
