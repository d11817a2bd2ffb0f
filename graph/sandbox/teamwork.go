package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// installRequest is the body of a Teams app installation for a user.
type installRequest struct {
	TeamsApp string `json:"teamsApp@odata.bind"`
}

// installApp: POST /users/{id}/teamwork/installedApps with
// {"teamsApp@odata.bind":"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{teamsAppId}"}
// → 201 with no body, then Options.OnInstall; 409 Conflict when the app is
// installed for the user already; 400 for a body without such a link. Any
// app id is in the sandbox's catalog.
//
// Graph API docs: https://learn.microsoft.com/graph/api/userteamwork-post-installedapps?view=graph-rest-1.0
func (c *graphCall) installApp(id string) {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, 64<<10))
	if err != nil {
		c.error(http.StatusBadRequest, "BadRequest", "The request body could not be read.")
		return
	}
	var req installRequest
	if err := json.Unmarshal(body, &req); err != nil {
		c.error(http.StatusBadRequest, "BadRequest", "Invalid request body: "+jsonProblem(err))
		return
	}
	appID, ok := teamsAppID(req.TeamsApp)
	if !ok {
		c.error(http.StatusBadRequest, "BadRequest",
			"teamsApp@odata.bind must link to an app of the catalog: https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{id}.")
		return
	}
	var userID string
	var already bool
	if !c.user(id, func(u *user) {
		userID = u.id
		for _, a := range u.installedApps {
			if strings.EqualFold(a, appID) {
				already = true
				return
			}
		}
		u.installedApps = append(u.installedApps, appID)
	}) {
		return
	}
	if already {
		c.error(http.StatusConflict, "Conflict", "The app '"+appID+"' is already installed for this user.")
		return
	}
	c.w.WriteHeader(http.StatusCreated)
	if c.s.onInstall != nil {
		c.s.onInstall(userID, appID)
	}
}

// teamsAppID returns the app id a teamsApp@odata.bind link names: what
// follows appCatalogs/teamsApps/, or appCatalogs/teamsApps('…').
func teamsAppID(bind string) (string, bool) {
	const catalog = "appCatalogs/teamsApps"
	i := strings.Index(bind, catalog)
	if i < 0 {
		return "", false
	}
	var id string
	switch rest := bind[i+len(catalog):]; {
	case strings.HasPrefix(rest, "/"):
		id = rest[1:]
	case strings.HasPrefix(rest, "('") && strings.HasSuffix(rest, "')"):
		id = rest[2 : len(rest)-2]
	}
	return id, id != "" && !strings.ContainsAny(id, "/?#'()")
}

// InstalledApps returns the ids of the Teams apps installed for the user
// through Graph, in installation order; nil if none is, or userID is
// neither an object id nor a UPN.
func (s *Sandbox) InstalledApps(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.readUserLocked(userID)
	if u == nil {
		return nil
	}
	return append([]string(nil), u.installedApps...)
}
