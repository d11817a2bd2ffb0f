package sandbox_test

import (
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/smartswap/mfabot/graph/sandbox"
)

const teamsAppID = "6c6f5a3c-9a3d-4a7e-8f3e-2b9c1d0e4f5a"

func TestInstallApp(t *testing.T) {
	type install struct{ user, app string }
	var mu sync.Mutex
	var installs []install
	sb, srv := setup(t, sandbox.Options{Population: 10, OnInstall: func(userID, appID string) {
		mu.Lock()
		defer mu.Unlock()
		installs = append(installs, install{userID, appID})
	}})
	installURL := func(user string) string {
		return sb.GraphBaseURL(srv.URL) + "/users/" + user + "/teamwork/installedApps"
	}
	bind := map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + teamsAppID}

	resp, b := call(t, http.MethodPost, installURL(synthUPN(3)), bind)
	if resp.StatusCode != http.StatusCreated || len(b) != 0 {
		t.Fatalf("install: status %d body %q, want 201 and no body", resp.StatusCode, b)
	}
	resp, b = call(t, http.MethodPost, installURL(synthID(3)), bind)
	checkGraphError(t, resp, b, http.StatusConflict, "Conflict")

	if got := sb.InstalledApps(synthID(3)); !slices.Equal(got, []string{teamsAppID}) {
		t.Errorf("InstalledApps = %v", got)
	}
	if got := sb.InstalledApps(synthID(4)); got != nil {
		t.Errorf("InstalledApps of another user = %v", got)
	}
	mu.Lock()
	if !slices.Equal(installs, []install{{synthID(3), teamsAppID}}) {
		t.Errorf("OnInstall calls %v, want one for user 3 by object id", installs)
	}
	mu.Unlock()
	if st := sb.Stats(); st.Materialized != 1 {
		t.Errorf("Stats %+v, want the installing user materialised", st)
	}

	// The ('id') form of the link; another app for the same user.
	other := map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps('other-app')"}
	if resp, b := call(t, http.MethodPost, installURL(synthID(3)), other); resp.StatusCode != http.StatusCreated {
		t.Errorf("second app: status %d: %s", resp.StatusCode, b)
	}
	if got := sb.InstalledApps(synthUPN(3)); !slices.Equal(got, []string{teamsAppID, "other-app"}) {
		t.Errorf("InstalledApps = %v", got)
	}

	for _, body := range []any{
		"{",
		map[string]string{},
		map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/"},
		map[string]string{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/users/" + teamsAppID},
		map[string]int{"teamsApp@odata.bind": 1},
	} {
		resp, b := call(t, http.MethodPost, installURL(synthID(5)), body)
		checkGraphError(t, resp, b, http.StatusBadRequest, "BadRequest")
	}
	resp, b = call(t, http.MethodGet, installURL(synthID(5)), nil)
	checkGraphError(t, resp, b, http.StatusMethodNotAllowed, "Request_BadRequest")

	// Fault.Only "teamwork" fails installations alone.
	sb.SetFault(sandbox.Fault{Status: http.StatusForbidden, Only: "teamwork"})
	if resp, _ := call(t, http.MethodGet, methodsURL(srv, sb, synthID(5)), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("methods during a teamwork fault: status %d", resp.StatusCode)
	}
	resp, b = call(t, http.MethodPost, installURL(synthID(5)), bind)
	checkGraphError(t, resp, b, http.StatusForbidden, "Authorization_RequestDenied")
	if resp, b := call(t, http.MethodPost, installURL(synthID(5)), bind); resp.StatusCode != http.StatusCreated {
		t.Errorf("after the fault: status %d: %s", resp.StatusCode, b)
	}
	mu.Lock()
	if len(installs) != 3 {
		t.Errorf("%d OnInstall calls, want 3", len(installs))
	}
	mu.Unlock()
}
