package sandbox_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/smartswap/mfabot/graph/sandbox"
)

// sweepFilter and sweepSelect are the query of the sweep's GET /users
// (graph.Client.ListUsers).
const (
	sweepFilter = "accountEnabled eq true and userType eq 'Member'"
	sweepSelect = "id,userPrincipalName,displayName,department,accountEnabled,userType"
)

// The synthetic population's rules, as Options.Population documents them.
func synthID(i int) string  { return fmt.Sprintf("5a000000-0000-4000-8000-%012x", i) }
func synthUPN(i int) string { return fmt.Sprintf("user%06d@contoso.example", i) }
func enabledMember(i int) bool {
	return i%97 != 96 && i%89 != 88
}

// userPage is one page of a user listing.
type userPage struct {
	ODataContext string           `json:"@odata.context"`
	ODataCount   *int             `json:"@odata.count"`
	NextLink     string           `json:"@odata.nextLink"`
	Value        []map[string]any `json:"value"`
}

// listAll walks a user listing from first through its nextLinks and returns
// its pages.
func listAll(t testing.TB, first string, header ...string) []userPage {
	t.Helper()
	var pages []userPage
	for next := first; next != ""; {
		resp, b := call(t, http.MethodGet, next, nil, header...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", next, resp.StatusCode, b)
		}
		p := decode[userPage](t, b)
		pages = append(pages, p)
		next = p.NextLink
		if len(pages) > 10000 {
			t.Fatal("more than 10000 pages")
		}
	}
	return pages
}

// ids are the users' ids across the pages, in order.
func ids(pages []userPage) []string {
	var out []string
	for _, p := range pages {
		for _, u := range p.Value {
			id, _ := u["id"].(string)
			out = append(out, id)
		}
	}
	return out
}

// usersURL is GET /users with the query.
func usersURL(srv *httptest.Server, sb *sandbox.Sandbox, q url.Values) string {
	return sb.GraphBaseURL(srv.URL) + "/users?" + q.Encode()
}

func TestListUsers(t *testing.T) {
	const population = 1000
	sb, srv := setup(t, sandbox.Options{Population: population})
	member := sb.AddDirectoryUser(sandbox.DirectoryUser{UPN: "taro@contoso.example", DisplayName: "山田 太郎", Department: "営業部"})
	guest := sb.AddDirectoryUser(sandbox.DirectoryUser{UPN: "guest@fabrikam.example", Guest: true})
	disabled := sb.AddDirectoryUser(sandbox.DirectoryUser{Disabled: true})
	if member.ID == "" || guest.ID == "" || disabled.ID == "" {
		t.Fatalf("AddDirectoryUser: %+v %+v %+v", member, guest, disabled)
	}

	// want lists the directory's ids in order, keeping those keep accepts.
	want := func(keep func(i int, disabled, guest bool) bool) []string {
		var out []string
		for k, d := range []sandbox.DirectoryUser{member, guest, disabled} {
			if keep(-1-k, d.Disabled, d.Guest) {
				out = append(out, d.ID)
			}
		}
		for i := range population {
			if keep(i, i%97 == 96, i%89 == 88) {
				out = append(out, synthID(i))
			}
		}
		return out
	}
	for _, tc := range []struct {
		name, filter string
		keep         func(i int, disabled, guest bool) bool
	}{
		{"no filter", "", func(int, bool, bool) bool { return true }},
		{"the sweep's", sweepFilter, func(_ int, d, g bool) bool { return !d && !g }},
		{"reversed, other spacing and case", "usertype EQ 'member'  and  accountEnabled eq TRUE", func(_ int, d, g bool) bool { return !d && !g }},
		{"enabled", "accountEnabled eq true", func(_ int, d, _ bool) bool { return !d }},
		{"members", "userType eq 'Member'", func(_ int, _, g bool) bool { return !g }},
		{"disabled guests", "accountEnabled eq false and userType eq 'Guest'", func(_ int, d, g bool) bool { return d && g }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"$select": {sweepSelect}, "$top": {"150"}}
			if tc.filter != "" {
				q.Set("$filter", tc.filter)
			}
			pages := listAll(t, usersURL(srv, sb, q))
			if got, want := ids(pages), want(tc.keep); !slices.Equal(got, want) {
				t.Errorf("listed %d users, want %d (every match once, in order)", len(got), len(want))
			}
			for k, p := range pages {
				if len(p.Value) > 150 || (p.NextLink != "" && len(p.Value) != 150) {
					t.Errorf("page %d holds %d users, nextLink %q", k, len(p.Value), p.NextLink)
				}
				if !strings.HasSuffix(p.ODataContext, "/$metadata#users("+sweepSelect+")") {
					t.Errorf("page %d @odata.context %q", k, p.ODataContext)
				}
			}
		})
	}

	t.Run("properties", func(t *testing.T) {
		q := url.Values{"$select": {sweepSelect}, "$filter": {sweepFilter}, "$top": {"3"}}
		first := listAll(t, usersURL(srv, sb, q))[0]
		wantFirst := map[string]any{
			"id": member.ID, "userPrincipalName": "taro@contoso.example", "displayName": "山田 太郎",
			"department": "営業部", "accountEnabled": true, "userType": "Member",
		}
		if fmt.Sprint(first.Value[0]) != fmt.Sprint(wantFirst) {
			t.Errorf("explicit user %v, want %v", first.Value[0], wantFirst)
		}
		wantSynth := map[string]any{
			"id": synthID(1), "userPrincipalName": "user000001@contoso.example", "displayName": "社員 000001",
			"department": "開発部", "accountEnabled": true, "userType": "Member",
		}
		if fmt.Sprint(first.Value[2]) != fmt.Sprint(wantSynth) {
			t.Errorf("synthetic user 1 %v, want %v", first.Value[2], wantSynth)
		}
		// One in seven synthetic users has no department: null.
		q.Set("$top", "999")
		var none int
		for _, p := range listAll(t, usersURL(srv, sb, q)) {
			for _, u := range p.Value {
				if v, ok := u["department"]; ok && v == nil {
					none++
				}
			}
		}
		if none == 0 {
			t.Error("no user without a department")
		}
	})

	t.Run("select: the properties asked for and id", func(t *testing.T) {
		q := url.Values{"$select": {"displayName,DEPARTMENT,noSuchThing"}, "$top": {"5"}}
		p := listAll(t, usersURL(srv, sb, q))[0]
		for _, u := range p.Value {
			if keys := slices.Sorted(maps.Keys(u)); !slices.Equal(keys, []string{"department", "displayName", "id"}) {
				t.Errorf("properties %v", keys)
			}
		}
		if !strings.HasSuffix(p.ODataContext, "#users(displayName,department)") {
			t.Errorf("@odata.context %q", p.ODataContext)
		}
	})

	t.Run("defaults: Graph's properties, 100 a page", func(t *testing.T) {
		p := listAll(t, sb.GraphBaseURL(srv.URL)+"/users")
		if n := len(ids(p)); n != population+3 {
			t.Errorf("%d users, want %d", n, population+3)
		}
		if len(p[0].Value) != 100 || len(p[0].Value[0]) != 11 || p[0].Value[0]["mail"] != "taro@contoso.example" {
			t.Errorf("first page: %d users, first %v", len(p[0].Value), p[0].Value[0])
		}
		if !strings.HasSuffix(p[0].ODataContext, "/$metadata#users") {
			t.Errorf("@odata.context %q", p[0].ODataContext)
		}
	})

	t.Run("bad queries", func(t *testing.T) {
		for _, tc := range []struct {
			q    url.Values
			code string
		}{
			{url.Values{"$top": {"1000"}}, "Request_BadRequest"},
			{url.Values{"$top": {"0"}}, "Request_BadRequest"},
			{url.Values{"$top": {"many"}}, "Request_BadRequest"},
			{url.Values{"$skiptoken": {"not a token"}}, "Request_BadRequest"},
			{url.Values{"$filter": {"startswith(displayName,'a')"}}, "Request_UnsupportedQuery"},
			{url.Values{"$filter": {"accountEnabled eq true or userType eq 'Member'"}}, "Request_UnsupportedQuery"},
			{url.Values{"$filter": {"accountEnabled eq true and accountEnabled eq true"}}, "Request_UnsupportedQuery"},
			{url.Values{"$filter": {"department eq '営業部'"}}, "Request_UnsupportedQuery"},
			{url.Values{"$filter": {"userType eq Member"}}, "Request_UnsupportedQuery"},
		} {
			resp, b := call(t, http.MethodGet, usersURL(srv, sb, tc.q), nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%v: status %d, want 400", tc.q, resp.StatusCode)
				continue
			}
			checkGraphError(t, resp, b, http.StatusBadRequest, tc.code)
		}
	})
}

func TestListUsersUnshiftedByNewUsers(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{Population: 10})
	q := url.Values{"$top": {"4"}, "$select": {"id"}}
	resp, b := call(t, http.MethodGet, usersURL(srv, sb, q), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	first := decode[userPage](t, b)
	sb.AddDirectoryUser(sandbox.DirectoryUser{})
	rest := listAll(t, first.NextLink)
	got := ids(append([]userPage{first}, rest...))
	var want []string
	for i := range 10 {
		want = append(want, synthID(i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("ids %v, want the population once each", got)
	}
}

func TestAddDirectoryUser(t *testing.T) {
	sb, _ := setup(t, sandbox.Options{Population: 10})
	seen := sb.Methods("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d") // first sight
	if len(seen) != 1 {
		t.Fatalf("Methods %+v", seen)
	}
	d := sb.AddDirectoryUser(sandbox.DirectoryUser{ID: "ABCDEF01-0000-4000-8000-000000000001"})
	if d.ID != "abcdef01-0000-4000-8000-000000000001" || d.UPN != "user-abcdef01@sandbox.example" || d.DisplayName == "" {
		t.Errorf("AddDirectoryUser = %+v", d)
	}
	if ms := sb.Methods(d.UPN); len(ms) != 1 || ms[0].DisplayName != sandbox.DefaultInitialDevice {
		t.Errorf("methods of an added user %+v, want the initial device", ms)
	}
	for _, bad := range []sandbox.DirectoryUser{
		{ID: "not-a-guid"},
		{UPN: "no at sign"},
		{ID: d.ID},
		{UPN: strings.ToUpper(d.UPN)},
		{ID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"},
		{ID: synthID(3)},
		{UPN: synthUPN(3)},
	} {
		if got := sb.AddDirectoryUser(bad); got != (sandbox.DirectoryUser{}) {
			t.Errorf("AddDirectoryUser(%+v) = %+v, want the zero value", bad, got)
		}
	}
}

func TestGroupTransitiveMembers(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{Population: 200})
	explicit := sb.AddDirectoryUser(sandbox.DirectoryUser{})
	const outer, inner, innermost = "11111111-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000002", "33333333-0000-4000-8000-000000000003"
	// The outer group holds a user directly and through both nested
	// groups, and the innermost group holds the outer one (a cycle).
	sb.AddGroup(outer, explicit.ID, inner, synthID(3))
	sb.AddGroup(inner, synthID(3), synthID(96), innermost) // 96: disabled
	sb.AddGroup(innermost, synthID(88), strings.ToUpper(explicit.ID), outer, "not a member")
	sb.AddGroup(outer, synthUPN(5)) // added to later

	groupURL := func(id string, q url.Values) string {
		return sb.GraphBaseURL(srv.URL) + "/groups/" + id + "/transitiveMembers/microsoft.graph.user?" + q.Encode()
	}
	advanced := []string{"ConsistencyLevel", "eventual"}
	q := url.Values{"$count": {"true"}, "$select": {sweepSelect}, "$top": {"2"}}
	pages := listAll(t, groupURL(outer, q), advanced...)
	want := []string{explicit.ID, synthID(3), synthID(96), synthID(88), synthID(5)}
	if got := ids(pages); !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}
	if len(pages) != 3 || pages[0].ODataCount == nil || *pages[0].ODataCount != len(want) {
		t.Errorf("%d pages, first @odata.count %v", len(pages), pages[0].ODataCount)
	}
	if u := pages[1].Value[0]; u["accountEnabled"] != false || u["userPrincipalName"] != synthUPN(96) {
		t.Errorf("disabled member %v", u)
	}
	if u := pages[1].Value[1]; u["userType"] != "Guest" {
		t.Errorf("guest member %v", u)
	}
	if inner := ids(listAll(t, groupURL(strings.ToUpper(innermost), q), advanced...)); len(inner) != 5 {
		t.Errorf("innermost group (through the cycle) lists %v", inner)
	}

	for _, tc := range []struct {
		name   string
		id     string
		q      url.Values
		header []string
		status int
		code   string
	}{
		{"no ConsistencyLevel", outer, q, nil, http.StatusBadRequest, "Request_BadRequest"},
		{"no $count", outer, url.Values{"$select": {"id"}}, advanced, http.StatusBadRequest, "Request_BadRequest"},
		{"a filter", outer, url.Values{"$count": {"true"}, "$filter": {sweepFilter}}, advanced, http.StatusBadRequest, "Request_UnsupportedQuery"},
		{"$top too large", outer, url.Values{"$count": {"true"}, "$top": {"1000"}}, advanced, http.StatusBadRequest, "Request_BadRequest"},
		{"unknown group", "44444444-0000-4000-8000-000000000004", q, advanced, http.StatusNotFound, "Request_ResourceNotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := call(t, http.MethodGet, groupURL(tc.id, tc.q), nil, tc.header...)
			checkGraphError(t, resp, b, tc.status, tc.code)
		})
	}
}

func TestSyntheticUsers(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{Population: 100, TwoPhonesEvery: 33, TwoPasskeysEvery: 50, InitialPasskey: true})
	base := sb.GraphBaseURL(srv.URL)

	for _, i := range []int{0, 1, 2, 33, 34, 50, 51, 67, 99} {
		list := listMethods(t, srv, sb, synthID(i))
		want := 1
		if i%33 == 1 {
			want = 2
		}
		if len(list.Value) != want {
			t.Errorf("user %d: %d Authenticators, want %d", i, len(list.Value), want)
			continue
		}
		if old := list.Value[0]; old.DisplayName != sandbox.DefaultInitialDevice || string(old.CreatedDateTime) != "null" {
			t.Errorf("user %d: first Authenticator %+v %s", i, old, old.CreatedDateTime)
		}
		if want == 2 && string(list.Value[1].CreatedDateTime) == "null" {
			t.Errorf("user %d: the newer phone has no createdDateTime", i)
		}
		wantKeys := 1 // InitialPasskey
		if i%50 == 1 {
			wantKeys = 2
		}
		if ps := sb.Passkeys(synthUPN(i)); len(ps) != wantKeys || ps[0].AAGUID != sandbox.AuthenticatorIOSAAGUID ||
			(wantKeys == 2 && ps[1].AAGUID != sandbox.AuthenticatorAndroidAAGUID) {
			t.Errorf("user %d: passkeys %+v, want %d in Authenticator", i, ps, wantKeys)
		}
		// The same ids every time.
		if again := listMethods(t, srv, sb, synthID(i)); again.Value[0].ID != list.Value[0].ID {
			t.Errorf("user %d: method id %s, then %s", i, list.Value[0].ID, again.Value[0].ID)
		}
	}

	// By object id (any case) and by UPN; SyntheticUser agrees.
	d, ok := sb.SyntheticUser(5)
	if !ok || d.ID != synthID(5) || d.UPN != synthUPN(5) || d.DisplayName != "社員 000005" {
		t.Errorf("SyntheticUser(5) = %+v, %v", d, ok)
	}
	if _, ok := sb.SyntheticUser(100); ok {
		t.Error("SyntheticUser(100) of 100 exists")
	}
	for _, id := range []string{synthID(5), strings.ToUpper(synthID(5)), synthUPN(5), strings.ToUpper(synthUPN(5))} {
		resp, b := call(t, http.MethodGet, base+"/users/"+url.PathEscape(id)+"?$select=id,userPrincipalName,displayName,department", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET user %s: %d %s", id, resp.StatusCode, b)
		}
		if u := decode[map[string]any](t, b); u["id"] != synthID(5) || u["userPrincipalName"] != synthUPN(5) || u["department"] != "情報システム部" {
			t.Errorf("GET user %s = %v", id, u)
		}
	}
	// Not the population: other spellings and indexes beyond it are users
	// first seen, with ids of their own.
	for _, upn := range []string{"user5@contoso.example", "user000100@contoso.example"} {
		resp, b := call(t, http.MethodGet, base+"/users/"+upn, nil)
		if u := decode[graphUser](t, b); resp.StatusCode != http.StatusOK || strings.HasPrefix(u.ID, "5a000000-") {
			t.Errorf("GET user %s: %d %+v", upn, resp.StatusCode, u)
		}
	}
	if got := sb.Stats().Materialized; got != 0 {
		t.Errorf("after reads only, %d synthetic users materialised, want 0", got)
	}

	// Deleting a method materialises the user, and sticks.
	old := listMethods(t, srv, sb, synthID(34)).Value[0]
	resp, b := call(t, http.MethodDelete, methodsURL(srv, sb, synthUPN(34))+"/"+old.ID, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	for _, id := range []string{synthID(34), synthUPN(34)} {
		if list := listMethods(t, srv, sb, id); len(list.Value) != 1 || list.Value[0].DisplayName == sandbox.DefaultInitialDevice {
			t.Errorf("after deleting the old device, %s has %+v", id, list.Value)
		}
	}
	sb.AddMethod(synthUPN(34), "iPhone 16")
	if ms := sb.Methods(synthID(34)); len(ms) != 2 {
		t.Errorf("after AddMethod, %+v", ms)
	}
	if got := sb.Stats().Materialized; got != 1 {
		t.Errorf("%d synthetic users materialised, want 1", got)
	}
	// The listing still shows them once.
	all := ids(listAll(t, base+"/users?$top=999&$select=id"))
	slices.Sort(all)
	if len(all) != 100 || len(slices.Compact(all)) != 100 {
		t.Errorf("listing after materialising: %d users", len(all))
	}
}

// TestListSeenUsers: with ListSeen, a user created on first sight joins
// the listing (once); without it, only the directory's users are listed.
func TestListSeenUsers(t *testing.T) {
	for _, listSeen := range []bool{false, true} {
		sb := sandbox.New(sandbox.Options{ListSeen: listSeen})
		srv := httptest.NewServer(sb.Handler())
		defer srv.Close()
		base := sb.GraphBaseURL(srv.URL)
		const seen = "c5e99701-2a32-49c1-a660-4629ceeb8c61"
		for range 2 {
			resp, err := http.Get(base + "/users/" + seen + "/authentication/microsoftAuthenticatorMethods")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		resp, err := http.Get(base + "/users?$select=id")
		if err != nil {
			t.Fatal(err)
		}
		var page struct{ Value []struct{ ID string } }
		json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		want := 0
		if listSeen {
			want = 1
		}
		if len(page.Value) != want || want == 1 && page.Value[0].ID != seen {
			t.Errorf("ListSeen %v: listed %+v, want %d", listSeen, page.Value, want)
		}
	}
}
