package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartswap/mfabot/graph"
)

// Bodies shaped like the examples of Microsoft's docs: user-list.md,
// group-list-transitivemembers.md and json-batching.md (a responses array
// of id, status, headers and body).

const usersPage1 = `{
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName,displayName,department,accountEnabled,userType)",
  "@odata.nextLink": "%s",
  "value": [
    {"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "userPrincipalName": "AdeleV@contoso.com", "displayName": "Adele Vance", "department": "Retail", "accountEnabled": true, "userType": "Member"},
    {"id": "6e7b768e-07e2-4810-8459-485f84f8f204", "userPrincipalName": "AlexW@contoso.com", "displayName": "Alex Wilber", "department": null, "accountEnabled": true, "userType": "Member"}
  ]
}`

const usersPage2 = `{
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName,displayName,department,accountEnabled,userType)",
  "value": [
    {"id": "5bde3e51-d13b-4db1-9948-fe4b109d11a7", "userPrincipalName": "DiegoS@contoso.com", "displayName": "Diego Siciliani", "department": "HR", "accountEnabled": true, "userType": "Member"}
  ]
}`

func TestListUsersPages(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	var calls atomic.Int32
	var srvURL string
	mux.HandleFunc("/v1.0/users", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		noAuth(t, r)
		if v := r.Header.Get("ConsistencyLevel"); v != "" {
			t.Errorf("ConsistencyLevel %q sent; the filter needs no advanced query", v)
		}
		switch calls.Add(1) {
		case 1:
			q := r.URL.Query()
			want := map[string]string{
				"$select": "id,userPrincipalName,displayName,department,accountEnabled,userType",
				"$filter": "accountEnabled eq true and userType eq 'Member'",
				"$top":    "999",
			}
			for k, v := range want {
				if got := q.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if len(q) != len(want) {
				t.Errorf("query %v, want only %v", q, want)
			}
			srvURL = "http://" + r.Host
			writeJSON(w, http.StatusOK, strings.Replace(usersPage1, "%s",
				srvURL+"/v1.0/users?$skiptoken=RFNwdAIAAQAAAA", 1))
		case 2:
			if got := r.URL.Query().Get("$skiptoken"); got != "RFNwdAIAAQAAAA" {
				t.Errorf("second page asked with $skiptoken %q (URL %s)", got, r.URL)
			}
			writeJSON(w, http.StatusOK, usersPage2)
		default:
			t.Errorf("unexpected request %s", r.URL)
		}
	})
	var pages [][]graph.UserRef
	var nexts []string
	err := c.ListUsers(context.Background(), "", func(p []graph.UserRef, next string) error {
		pages = append(pages, p)
		nexts = append(nexts, next)
		return nil
	})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if len(pages) != 2 || len(pages[0]) != 2 || len(pages[1]) != 1 {
		t.Fatalf("pages %+v, want 2 then 1 users", pages)
	}
	want := graph.UserRef{ID: "87d349ed-44d7-43e1-9a83-5f2406dee5bd", UPN: "AdeleV@contoso.com", DisplayName: "Adele Vance", Department: "Retail"}
	if pages[0][0] != want {
		t.Errorf("first user %+v, want %+v", pages[0][0], want)
	}
	if pages[0][1].Department != "" || pages[1][0].UPN != "DiegoS@contoso.com" {
		t.Errorf("users %+v %+v", pages[0][1], pages[1][0])
	}
	if want := []string{srvURL + "/v1.0/users?$skiptoken=RFNwdAIAAQAAAA", ""}; !slices.Equal(nexts, want) {
		t.Errorf("next links handed out %q, want %q", nexts, want)
	}
}

// TestListUsersResumesAFailedPage: a walk that failed on its second page
// resumes there from the next link it handed out, without reading the
// first page again.
func TestListUsersResumesAFailedPage(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	var calls atomic.Int32
	var second atomic.Int32
	mux.HandleFunc("/v1.0/users", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Query().Get("$skiptoken") == "" {
			writeJSON(w, http.StatusOK, strings.Replace(usersPage1, "%s", "http://"+r.Host+"/v1.0/users?$skiptoken=p2", 1))
			return
		}
		if second.Add(1) == 1 {
			writeJSON(w, http.StatusBadRequest, `{"error": {"code": "Request_BadRequest", "message": "Invalid request."}}`)
			return
		}
		writeJSON(w, http.StatusOK, usersPage2)
	})
	cursor := ""
	var got []string
	page := func(p []graph.UserRef, next string) error {
		for _, u := range p {
			got = append(got, u.UPN)
		}
		cursor = next
		return nil
	}
	if err := c.ListUsers(context.Background(), "", page); err == nil {
		t.Fatal("the walk went through a failing page")
	}
	if !strings.Contains(cursor, "$skiptoken=p2") {
		t.Fatalf("cursor after the failure %q, want the second page's link", cursor)
	}
	if err := c.ListUsers(context.Background(), cursor, page); err != nil {
		t.Fatalf("resumed walk: %v", err)
	}
	if want := []string{"AdeleV@contoso.com", "AlexW@contoso.com", "DiegoS@contoso.com"}; !slices.Equal(got, want) {
		t.Errorf("users %q, want %q (each once)", got, want)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d requests, want 3: first page, failed second, resumed second", n)
	}
}

func TestListUsersStopsOnPageErrorAndCancel(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	var calls atomic.Int32
	mux.HandleFunc("/v1.0/users", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeJSON(w, http.StatusOK, strings.Replace(usersPage1, "%s", "http://"+r.Host+"/v1.0/users?$skiptoken=x", 1))
	})
	stop := errors.New("stop")
	if err := c.ListUsers(context.Background(), "", func([]graph.UserRef, string) error { return stop }); err != stop {
		t.Errorf("ListUsers = %v, want the page function's error as is", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err := c.ListUsers(ctx, "", func([]graph.UserRef, string) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ListUsers after cancel = %v, want context.Canceled", err)
	}
	asError(t, err)
	if n := calls.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (one per walk)", n)
	}
}

func TestListGroupMembers(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	var calls atomic.Int32
	const p = "/v1.0/groups/02bd9fd6-8f93-4758-87c3-1fb73740a315/transitiveMembers/microsoft.graph.user"
	mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		if v := r.Header.Get("ConsistencyLevel"); v != "eventual" {
			t.Errorf("ConsistencyLevel %q, want eventual (OData cast)", v)
		}
		switch calls.Add(1) {
		case 1:
			q := r.URL.Query()
			if q.Get("$count") != "true" || q.Get("$top") != "999" ||
				q.Get("$select") != "id,userPrincipalName,displayName,department" {
				t.Errorf("query %v", q)
			}
			writeJSON(w, http.StatusOK, `{
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName,displayName,department)",
  "@odata.count": 2,
  "@odata.nextLink": "http://`+r.Host+p+`?$count=true&$skiptoken=abc",
  "value": [{"id": "11111111-2222-3333-4444-555555555555", "userPrincipalName": "JosephP@contoso.com", "displayName": "Joseph Price", "department": "Sales"}]
}`)
		case 2:
			if r.URL.Query().Get("$skiptoken") != "abc" {
				t.Errorf("second page URL %s", r.URL)
			}
			writeJSON(w, http.StatusOK, `{"value": [{"@odata.type": "#microsoft.graph.user", "id": "22222222-2222-3333-4444-555555555555", "userPrincipalName": "MeganB@contoso.com", "displayName": "Megan Bowen", "department": null}]}`)
		}
	})
	var got []string
	err := c.ListGroupMembers(context.Background(), "02bd9fd6-8f93-4758-87c3-1fb73740a315", "", func(p []graph.UserRef, _ string) error {
		for _, u := range p {
			got = append(got, u.UPN+"/"+u.Department)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ListGroupMembers: %v", err)
	}
	if want := []string{"JosephP@contoso.com/Sales", "MeganB@contoso.com/"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestListGroupMembersForbidden(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/v1.0/groups/g1/transitiveMembers/microsoft.graph.user", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusForbidden, forbiddenBody)
	})
	err := c.ListGroupMembers(context.Background(), "g1", "", func([]graph.UserRef, string) error { return nil })
	e := asError(t, err)
	if e.Kind != graph.KindForbidden || e.Permission() != "GroupMember.Read.All" {
		t.Errorf("%+v (permission %q), want forbidden naming GroupMember.Read.All", e, e.Permission())
	}
}

// batchBody3 answers a batch of three users: the first with its methods
// (the docs' example), the second throttled inside the batch with its own
// Retry-After, the third refused.
const batchBody3 = `{
  "responses": [
    {
      "id": "a1",
      "status": 429,
      "headers": {"Retry-After": "7", "Content-Type": "application/json"},
      "body": {"error": {"code": "TooManyRequests", "message": "Too many requests.", "innerError": {"request-id": "r-429"}}}
    },
    {
      "id": "a0",
      "status": 200,
      "headers": {"Content-Type": "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"},
      "body": {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('u0')/authentication/microsoftAuthenticatorMethods",
        "value": [{
          "@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
          "id": "6803c096-c096-6803-96c0-036896c00368",
          "displayName": "Sandeep's iPhone",
          "deviceTag": "",
          "phoneAppVersion": "6.5.4",
          "createdDateTime": "2020-12-03T23:16:12Z"
        }]
      }
    },
    {
      "id": "a2",
      "status": 403,
      "headers": {"Content-Type": "application/json"},
      "body": {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation.", "innerError": {"request-id": "r-403"}}}
    }
  ]
}`

type sentBatch struct {
	Requests []struct {
		ID, Method, URL string
	}
}

func TestBatchAuthenticatorMethods(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	var sent sentBatch
	var calls atomic.Int32
	mux.HandleFunc("/v1.0/$batch", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		testMethod(t, r, http.MethodPost)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &sent); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		writeJSON(w, http.StatusOK, batchBody3)
	})
	ids := []string{"u0", "u 1@contoso.com", "u2"}
	got, err := c.BatchAuthenticatorMethods(context.Background(), ids)
	if err != nil {
		t.Fatalf("BatchAuthenticatorMethods: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d $batch requests, want 1", n)
	}
	wantURLs := []string{
		"a0 GET /users/u0/authentication/microsoftAuthenticatorMethods",
		"a1 GET /users/u%201@contoso.com/authentication/microsoftAuthenticatorMethods",
		"a2 GET /users/u2/authentication/microsoftAuthenticatorMethods",
	}
	var gotURLs []string
	for _, r := range sent.Requests {
		gotURLs = append(gotURLs, r.ID+" "+r.Method+" "+r.URL)
	}
	if !slices.Equal(gotURLs, wantURLs) {
		t.Errorf("batch sent %q, want %q", gotURLs, wantURLs)
	}
	if len(got) != 3 {
		t.Fatalf("%d results, want 3", len(got))
	}

	ok := got["u0"]
	if ok.Err != nil || len(ok.Authenticator) != 1 || ok.Authenticator[0].DisplayName != "Sandeep's iPhone" ||
		ok.Authenticator[0].Created == nil || ok.RetryAfter != 0 || ok.Fido2 != nil {
		t.Errorf("u0: %+v", ok)
	}

	th := got["u 1@contoso.com"]
	if th.RetryAfter != 7*time.Second {
		t.Errorf("throttled RetryAfter %v, want 7s", th.RetryAfter)
	}
	e := asError(t, th.Err)
	if e.Kind != graph.KindThrottled || e.Status != 429 || e.RetryAfter != 7*time.Second || e.RequestID != "r-429" {
		t.Errorf("throttled: %+v", e)
	}

	e = asError(t, got["u2"].Err)
	if e.Kind != graph.KindForbidden || e.Code != "Authorization_RequestDenied" ||
		e.Permission() != "UserAuthenticationMethod.Read.All" || e.Op != graph.OpListAuthenticatorMethods {
		t.Errorf("forbidden: %+v (permission %q)", e, e.Permission())
	}
	if !strings.Contains(e.Error(), "UserAuthenticationMethod.Read.All") {
		t.Errorf("error text %q does not name the permission", e.Error())
	}
}

func TestBatchWithFido2(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/v1.0/$batch", func(w http.ResponseWriter, r *http.Request) {
		var sent sentBatch
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &sent)
		if len(sent.Requests) != 2 || sent.Requests[1].URL != "/users/u0/authentication/fido2Methods" {
			t.Errorf("sent %+v", sent.Requests)
		}
		writeJSON(w, http.StatusOK, `{"responses": [
  {"id": "f0", "status": 404, "headers": {"Content-Type": "application/json"}, "body": `+notFoundBody+`},
  {"id": "a0", "status": 200, "headers": {}, "body": `+listBody+`}
]}`)
	})
	got, err := c.BatchAuthenticatorAndFido2Methods(context.Background(), []string{"u0"})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	r := got["u0"]
	if len(r.Authenticator) != 2 || r.Fido2 != nil {
		t.Errorf("result %+v", r)
	}
	e := asError(t, r.Err)
	if e.Kind != graph.KindNotFound || e.Op != graph.OpListFido2Methods {
		t.Errorf("fido2 error %+v", e)
	}
}

func TestBatchRefusesBadIDs(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	var calls atomic.Int32
	mux.HandleFunc("/v1.0/$batch", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeJSON(w, http.StatusOK, `{"responses": []}`)
	})
	ids := make([]string, 21)
	for i := range ids {
		ids[i] = "u" + strings.Repeat("x", i+1)
	}
	for _, tc := range []struct {
		name  string
		call  func(context.Context, []string) (map[string]graph.BatchResult, error)
		ids   []string
		wants string
	}{
		{"21 users", c.BatchAuthenticatorMethods, ids, "at most 20"},
		{"11 users with fido2", c.BatchAuthenticatorAndFido2Methods, ids[:11], "at most 20"},
		{"empty ID", c.BatchAuthenticatorMethods, []string{"u1", ""}, "empty user ID"},
		{"duplicate", c.BatchAuthenticatorMethods, []string{"u1", "u1"}, "duplicate"},
	} {
		_, err := tc.call(context.Background(), tc.ids)
		if err == nil || !strings.Contains(err.Error(), tc.wants) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.wants)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d requests sent for refused batches", n)
	}
	if _, err := c.BatchAuthenticatorMethods(context.Background(), ids[:20]); err != nil {
		t.Errorf("20 users: %v", err)
	}
	if _, err := c.BatchAuthenticatorAndFido2Methods(context.Background(), ids[:10]); err != nil {
		t.Errorf("10 users with fido2: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d requests for the allowed batches, want 2", n)
	}
}

func TestBatchThrottledAsAWholeIsRetried(t *testing.T) {
	t.Parallel()
	s := &recordSleep{}
	obs := &recordingObserver{}
	c, mux := setup(t, graph.WithSleep(s.sleep), graph.WithObserver(obs))
	var calls atomic.Int32
	var bodies []string
	mux.HandleFunc("/v1.0/$batch", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "3")
			writeJSON(w, http.StatusTooManyRequests, throttledBody)
			return
		}
		writeJSON(w, http.StatusOK, `{"responses": [{"id": "a0", "status": 200, "body": {"value": []}}]}`)
	})
	got, err := c.BatchAuthenticatorMethods(context.Background(), []string{"u0"})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	if r := got["u0"]; r.Err != nil || len(r.Authenticator) != 0 {
		t.Errorf("result %+v", r)
	}
	if w := s.get(); len(w) != 1 || w[0] != 3*time.Second {
		t.Errorf("waits %v, want [3s]", w)
	}
	if len(bodies) != 2 || bodies[0] != bodies[1] || bodies[0] == "" {
		t.Errorf("bodies %q, want the same batch twice", bodies)
	}
	if o := obs.got(); !slices.Equal(o, []string{graph.OpBatchAuthenticatorMethods + " 200"}) {
		t.Errorf("observed %q", o)
	}
}

func TestBatchThrottledForeverIsBatchError(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, graph.WithRetry(1, time.Minute))
	mux.HandleFunc("/v1.0/$batch", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "9")
		writeJSON(w, http.StatusTooManyRequests, throttledBody)
	})
	_, err := c.BatchAuthenticatorMethods(context.Background(), []string{"u0"})
	e := asError(t, err)
	if e.Kind != graph.KindThrottled || e.RetryAfter != 9*time.Second || e.Op != graph.OpBatchAuthenticatorMethods {
		t.Errorf("%+v, want throttled 9s for the batch", e)
	}
}

func TestBatchMissingAnswer(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/v1.0/$batch", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"responses": []}`)
	})
	got, err := c.BatchAuthenticatorMethods(context.Background(), []string{"u0"})
	if err != nil {
		t.Fatal(err)
	}
	if e := asError(t, got["u0"].Err); e.Kind != graph.KindOther {
		t.Errorf("%+v", e)
	}
}

func TestSweepPermissions(t *testing.T) {
	for op, want := range map[string]string{
		graph.OpListUsers:                         "User.Read.All",
		graph.OpListGroupMembers:                  "GroupMember.Read.All",
		graph.OpBatchAuthenticatorMethods:         "UserAuthenticationMethod.Read.All",
		graph.OpBatchAuthenticatorAndFido2Methods: "UserAuthenticationMethod.Read.All",
	} {
		if got := graph.RequiredPermission(op); got != want {
			t.Errorf("RequiredPermission(%s) = %q, want %q", op, got, want)
		}
	}
}

// TestInstallApp: the install request Graph's docs give, 201 as installed,
// 409 (installed already) as not newly installed, 403 naming the
// permission.
func TestInstallApp(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	var calls atomic.Int32
	mux.HandleFunc("/v1.0/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd/teamwork/installedApps", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodPost)
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("body: %v", err)
		}
		if want := "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/12345678-abcd-efgh-ijkl-987654321abc"; body["teamsApp@odata.bind"] != want {
			t.Errorf("body %v, want the bind %s", body, want)
		}
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusCreated)
		case 2:
			writeJSON(w, http.StatusConflict, `{"error": {"code": "Conflict", "message": "App is already installed."}}`)
		default:
			writeJSON(w, http.StatusForbidden, forbiddenBody)
		}
	})
	ctx := context.Background()
	const user, app = "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "12345678-abcd-efgh-ijkl-987654321abc"
	if ok, err := c.InstallApp(ctx, user, app); !ok || err != nil {
		t.Errorf("first install = %v, %v; want installed", ok, err)
	}
	if ok, err := c.InstallApp(ctx, user, app); ok || err != nil {
		t.Errorf("second install = %v, %v; want installed already, no error", ok, err)
	}
	_, err := c.InstallApp(ctx, user, app)
	if e := asError(t, err); e.Kind != graph.KindForbidden || e.Permission() != "TeamsAppInstallation.ReadWriteForUser.All" {
		t.Errorf("%+v (permission %q), want forbidden naming TeamsAppInstallation.ReadWriteForUser.All", e, e.Permission())
	}
}
