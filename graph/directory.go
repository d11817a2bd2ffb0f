package graph

import (
	"context"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// UserRef is a user as a sweep lists them: enough to address the user and
// to say who they are in a report.
type UserRef struct {
	ID          string // object ID
	UPN         string // userPrincipalName
	DisplayName string
	Department  string // "" when not set
}

// userRefSelect is the $select of ListUsers and ListGroupMembers.
var userRefSelect = []string{"id", "userPrincipalName", "displayName", "department"}

// sweepPageSize is the $top of the sweeps: the largest page Graph serves
// for users and for group members.
const sweepPageSize int32 = 999

// ListUsers walks the tenant's enabled member users (not guests), calling
// page once for each page Graph returns, in order, with the
// @odata.nextLink of the page after it ("" after the last), before asking
// for that page; an error from page ends the walk and is returned as is.
// The walk starts at from: "" for the first page, or a next link an
// earlier walk handed to page, so that a walk that stopped (a crash, a
// failed page) resumes where it was. It follows @odata.nextLink with no
// bound on the number of pages: end the walk with ctx. Each page is its
// own call, with its own timeout and throttling retries.
//
// The request is GET /users?$select=…&$filter=accountEnabled eq true and
// userType eq 'Member'&$top=999. Both filters use eq, which Graph supports
// on these properties by default, so no ConsistencyLevel header (advanced
// query) is sent.
//
// Permission: User.Read.All.
//
// Graph API docs: https://learn.microsoft.com/graph/api/user-list?view=graph-rest-1.0
// (filter support: https://learn.microsoft.com/graph/aad-advanced-queries)
func (c *Client) ListUsers(ctx context.Context, from string, page func(users []UserRef, next string) error) error {
	const op = OpListUsers
	if page == nil {
		return invalidArg(op, "nil page function")
	}
	filter := "accountEnabled eq true and userType eq 'Member'"
	top := sweepPageSize
	cfg := &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{
			Select: append(append([]string(nil), userRefSelect...), "accountEnabled", "userType"),
			Filter: &filter,
			Top:    &top,
		},
	}
	return eachPage[UserRef](ctx, c, op, from, newUserRefView,
		func(ctx context.Context, next string) (*abs.RequestInformation, error) {
			rb := users.NewUsersRequestBuilderInternal(map[string]string{}, c.adapter)
			if next != "" {
				return rb.WithUrl(next).ToGetRequestInformation(ctx, nil)
			}
			return rb.ToGetRequestInformation(ctx, cfg)
		}, page)
}

// groupUsersTemplate is the URL template of a group's transitive members
// cast to users. The request is built by hand rather than through
// msgraph-sdk-go's groups package, which the bot would otherwise compile
// and link for this one request.
const groupUsersTemplate = "{+baseurl}/groups/{group%2Did}/transitiveMembers/microsoft.graph.user{?%24count,%24select,%24top}"

// groupUsersQuery is the query of ListGroupMembers, in kiota's tagged form.
type groupUsersQuery struct {
	Count  *bool    `uriparametername:"%24count"`
	Select []string `uriparametername:"%24select"`
	Top    *int32   `uriparametername:"%24top"`
}

// ListGroupMembers walks the users among the group's members, direct and
// nested, calling page as ListUsers does. It lists every user member,
// disabled accounts and guests included.
//
// The request is GET /groups/{id}/transitiveMembers/microsoft.graph.user
// with $select and $top=999. Graph's docs require the advanced query
// parameters for an OData cast on this relationship, so it also sends
// ConsistencyLevel: eventual and $count=true; the listing then comes from
// an index that can lag recent changes.
//
// Permission: GroupMember.Read.All. Members of a group with hidden
// membership need Member.Read.Hidden as well. Graph returns objects the app
// may not read "with limited information" (id only); whether
// GroupMember.Read.All alone yields the users' names and departments is
// not stated in the docs read (UNVERIFIED): User.Read.All, which ListUsers
// needs anyway, covers them.
//
// Graph API docs: https://learn.microsoft.com/graph/api/group-list-transitivemembers?view=graph-rest-1.0
func (c *Client) ListGroupMembers(ctx context.Context, groupID, from string, page func(users []UserRef, next string) error) error {
	const op = OpListGroupMembers
	if groupID == "" {
		return invalidArg(op, "empty group ID")
	}
	if page == nil {
		return invalidArg(op, "nil page function")
	}
	count, top := true, sweepPageSize
	return eachPage[UserRef](ctx, c, op, from, newUserRefView,
		func(ctx context.Context, next string) (*abs.RequestInformation, error) {
			ri := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.GET, groupUsersTemplate,
				map[string]string{"group%2Did": groupID})
			if next != "" {
				ri.PathParameters["request-raw-url"] = next
			} else {
				ri.AddQueryParameters(groupUsersQuery{Count: &count, Select: userRefSelect, Top: &top})
			}
			ri.Headers.TryAdd("Accept", "application/json")
			ri.Headers.TryAdd("ConsistencyLevel", "eventual")
			return ri, nil
		}, page)
}
