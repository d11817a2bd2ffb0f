package graph

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// catalogAppBase is the form of the teamsApp@odata.bind reference Graph's
// docs give: an app of the organization's catalog (or the Store), by its
// catalog id, always on the public cloud's host whatever the base URL.
const catalogAppBase = "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/"

// InstallApp installs the Teams app whose catalog id is teamsAppID for the
// user, in their personal scope, so that the bot can reach them: Teams then
// sends the bot an installation update and a conversation update carrying
// the 1:1 chat, which the bot keeps as the user's conversation reference.
// It reports whether this call installed it: false, with no error, when the
// app was installed already (Graph's 409 Conflict).
//
// The request is POST /users/{id}/teamwork/installedApps with
// {"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{teamsAppId}"}.
// The catalog id is not the manifest id for an app uploaded to the
// organization's catalog: GET /appCatalogs/teamsApps?$filter=externalId eq
// '{manifest id}' finds it.
//
// Permission: TeamsAppInstallation.ReadWriteForUser.All (Company
// Communicator's choice); the narrower
// TeamsAppInstallation.ReadWriteSelfForUser.All lets an app install only
// itself and needs webApplicationInfo in the manifest.
//
// Graph API docs: https://learn.microsoft.com/graph/api/userteamwork-post-installedapps?view=graph-rest-1.0
func (c *Client) InstallApp(ctx context.Context, userID, teamsAppID string) (bool, error) {
	const op = OpInstallApp
	if userID == "" || teamsAppID == "" {
		return false, invalidArg(op, "empty user or app ID")
	}
	body, err := json.Marshal(map[string]string{"teamsApp@odata.bind": catalogAppBase + url.PathEscape(teamsAppID)})
	if err != nil {
		return false, invalidArg(op, err.Error())
	}
	err = c.call(ctx, op, func(ctx context.Context) error {
		ri := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.POST,
			"{+baseurl}/users/{user%2Did}/teamwork/installedApps", map[string]string{"user%2Did": userID})
		ri.Headers.TryAdd("Accept", "application/json")
		ri.SetStreamContentAndContentType(body, "application/json")
		return c.adapter.SendNoContent(ctx, ri, odataErrorMapping)
	})
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusConflict {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}
