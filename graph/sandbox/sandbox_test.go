package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/smartswap/mfabot/graph/sandbox"
)

const userID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

var testNow = time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)

// setup serves a sandbox the way the bot does: mounted at its base path on
// a mux, on a real loopback server.
func setup(t testing.TB, o sandbox.Options) (*sandbox.Sandbox, *httptest.Server) {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	sb := sandbox.New(o)
	mux := http.NewServeMux()
	mux.Handle(sb.BasePath()+"/", sb.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return sb, srv
}

// call sends a request and returns the response with its body read.
func call(t testing.TB, method, u string, body any, header ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, b, err)
	}
	return v
}

// The shapes the bot's Graph client reads.
type authMethod struct {
	ODataContext    string          `json:"@odata.context"`
	ODataType       string          `json:"@odata.type"`
	ID              string          `json:"id"`
	DisplayName     string          `json:"displayName"`
	DeviceTag       string          `json:"deviceTag"`
	PhoneAppVersion string          `json:"phoneAppVersion"`
	CreatedDateTime json.RawMessage `json:"createdDateTime"`
}

type authMethodList struct {
	ODataContext string       `json:"@odata.context"`
	Value        []authMethod `json:"value"`
}

type graphError struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			Date            string `json:"date"`
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func methodsURL(srv *httptest.Server, sb *sandbox.Sandbox, user string) string {
	return sb.GraphBaseURL(srv.URL) + "/users/" + url.PathEscape(user) + "/authentication/microsoftAuthenticatorMethods"
}

func listMethods(t *testing.T, srv *httptest.Server, sb *sandbox.Sandbox, user string) authMethodList {
	t.Helper()
	resp, b := call(t, http.MethodGet, methodsURL(srv, sb, user), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: status %d, body %s", resp.StatusCode, b)
	}
	return decode[authMethodList](t, b)
}

func checkGraphError(t *testing.T, resp *http.Response, b []byte, status int, code string) graphError {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	e := decode[graphError](t, b)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("error code %q message %q, want code %q and a message", e.Error.Code, e.Error.Message, code)
	}
	if !guidRE.MatchString(e.Error.InnerError.RequestID) || e.Error.InnerError.ClientRequestID == "" {
		t.Errorf("innerError ids %+v", e.Error.InnerError)
	}
	if e.Error.InnerError.Date != testNow.Format("2006-01-02T15:04:05") {
		t.Errorf("innerError.date %q", e.Error.InnerError.Date)
	}
	if resp.Header.Get("request-id") != e.Error.InnerError.RequestID {
		t.Errorf("request-id header %q, body %q", resp.Header.Get("request-id"), e.Error.InnerError.RequestID)
	}
	return e
}

func TestURLs(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	if got, want := sb.GraphBaseURL("http://127.0.0.1:3978"), "http://127.0.0.1:3978/sandbox/graph/v1.0"; got != want {
		t.Errorf("GraphBaseURL = %q, want %q", got, want)
	}
	if got, want := sb.PageURL("http://127.0.0.1:3978", "a b&c@x.example"), "http://127.0.0.1:3978/sandbox/security-info?user=a+b%26c%40x.example"; got != want {
		t.Errorf("PageURL = %q, want %q", got, want)
	}
	other := sandbox.New(sandbox.Options{BasePath: "/dev/sb/"})
	if got, want := other.GraphBaseURL("http://localhost:1"), "http://localhost:1/dev/sb/graph/v1.0"; got != want {
		t.Errorf("GraphBaseURL with BasePath = %q, want %q", got, want)
	}
}

func TestListInitialDevice(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	resp, b := call(t, http.MethodGet, methodsURL(srv, sb, userID), nil, "client-request-id", "abc-123")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if got := resp.Header.Get("client-request-id"); got != "abc-123" {
		t.Errorf("client-request-id %q, want the request's", got)
	}
	list := decode[authMethodList](t, b)
	wantCtx := srv.URL + "/sandbox/graph/v1.0/$metadata#users('" + userID + "')/authentication/microsoftAuthenticatorMethods"
	if list.ODataContext != wantCtx {
		t.Errorf("@odata.context %q, want %q", list.ODataContext, wantCtx)
	}
	if len(list.Value) != 1 {
		t.Fatalf("%d methods, want the initial one: %s", len(list.Value), b)
	}
	m := list.Value[0]
	if m.ODataType != "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod" {
		t.Errorf("@odata.type %q", m.ODataType)
	}
	if !guidRE.MatchString(m.ID) || m.DisplayName != "iPhone SE (3rd generation)" || m.DeviceTag != "SoftwareTokenActivated" || m.PhoneAppVersion != "6.8.7" {
		t.Errorf("initial method %+v", m)
	}
	if string(m.CreatedDateTime) != "null" {
		t.Errorf("createdDateTime %s, want null for the initial device", m.CreatedDateTime)
	}
	// Every field of the docs' sample is present.
	var raw struct{ Value []map[string]json.RawMessage }
	_ = json.Unmarshal(b, &raw)
	for _, k := range []string{"@odata.type", "id", "displayName", "deviceTag", "phoneAppVersion", "createdDateTime"} {
		if _, ok := raw.Value[0][k]; !ok {
			t.Errorf("field %q missing", k)
		}
	}
	// The same user, the same list; Methods agrees.
	again := listMethods(t, srv, sb, strings.ToUpper(userID))
	if len(again.Value) != 1 || again.Value[0].ID != m.ID {
		t.Errorf("second list (upper-case id) %+v, want the same method", again.Value)
	}
	got := sb.Methods(userID)
	if len(got) != 1 || got[0].ID != m.ID || got[0].Created != nil {
		t.Errorf("Methods = %+v", got)
	}
}

func TestInitialDeviceOption(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{InitialDevice: "Pixel 6"})
	if list := listMethods(t, srv, sb, userID); list.Value[0].DisplayName != "Pixel 6" {
		t.Errorf("initial device %q, want Pixel 6", list.Value[0].DisplayName)
	}
}

func TestAddedMethodHasCreatedTime(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	added := sb.AddMethod(userID, "iPhone 15")
	if !guidRE.MatchString(added.ID) || added.Created == nil || !added.Created.Equal(testNow) {
		t.Fatalf("AddMethod = %+v", added)
	}
	list := listMethods(t, srv, sb, userID)
	if len(list.Value) != 2 {
		t.Fatalf("%d methods, want 2", len(list.Value))
	}
	m := list.Value[1]
	if m.ID != added.ID || m.DisplayName != "iPhone 15" || string(m.CreatedDateTime) != `"2026-11-24T09:30:00Z"` || m.PhoneAppVersion == "" {
		t.Errorf("added method %+v createdDateTime %s", m, m.CreatedDateTime)
	}
	if got := sb.AddMethod("not an id", "x"); got.ID != "" {
		t.Errorf("AddMethod for an impossible user = %+v, want zero", got)
	}
}

func TestGetMethod(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	added := sb.AddMethod(userID, "iPhone 15")
	resp, b := call(t, http.MethodGet, methodsURL(srv, sb, userID)+"/"+added.ID, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	m := decode[authMethod](t, b)
	if m.ODataType != "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod" || m.ID != added.ID || m.DisplayName != "iPhone 15" {
		t.Errorf("got %+v", m)
	}
	if !strings.HasSuffix(m.ODataContext, "/microsoftAuthenticatorMethods/$entity") {
		t.Errorf("@odata.context %q", m.ODataContext)
	}

	resp, b = call(t, http.MethodGet, methodsURL(srv, sb, userID)+"/00000000-0000-4000-8000-000000000000", nil)
	checkGraphError(t, resp, b, http.StatusNotFound, "itemNotFound")
}

func TestDeleteThenList(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	old := listMethods(t, srv, sb, userID).Value[0]
	added := sb.AddMethod(userID, "iPhone 15")

	resp, b := call(t, http.MethodDelete, methodsURL(srv, sb, userID)+"/"+old.ID, nil)
	if resp.StatusCode != http.StatusNoContent || len(b) != 0 {
		t.Fatalf("delete: status %d body %q, want 204 and no body", resp.StatusCode, b)
	}
	list := listMethods(t, srv, sb, userID)
	if len(list.Value) != 1 || list.Value[0].ID != added.ID {
		t.Errorf("after delete %+v, want only the new method", list.Value)
	}
	resp, b = call(t, http.MethodDelete, methodsURL(srv, sb, userID)+"/"+old.ID, nil)
	checkGraphError(t, resp, b, http.StatusNotFound, "itemNotFound")

	if sb.DeleteMethod(userID, old.ID) {
		t.Error("DeleteMethod of a deleted method = true")
	}
	if !sb.DeleteMethod(userID, strings.ToUpper(added.ID)) {
		t.Error("DeleteMethod of the new method (upper case) = false")
	}
	if got := listMethods(t, srv, sb, userID); len(got.Value) != 0 {
		t.Errorf("after deleting both: %+v", got.Value)
	}
}

type graphUser struct {
	ODataContext      string   `json:"@odata.context"`
	ID                string   `json:"id"`
	DisplayName       string   `json:"displayName"`
	UserPrincipalName string   `json:"userPrincipalName"`
	Mail              string   `json:"mail"`
	BusinessPhones    []string `json:"businessPhones"`
}

func TestGetUser(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	base := sb.GraphBaseURL(srv.URL)
	resp, b := call(t, http.MethodGet, base+"/users/"+userID, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	u := decode[graphUser](t, b)
	if u.ID != userID || u.UserPrincipalName != "user-0a1b2c3d@sandbox.example" || u.Mail != u.UserPrincipalName ||
		!strings.HasPrefix(u.DisplayName, "サンドボックス ユーザー") || u.BusinessPhones == nil {
		t.Errorf("user %+v", u)
	}
	if u.ODataContext != base+"/$metadata#users/$entity" {
		t.Errorf("@odata.context %q", u.ODataContext)
	}

	// $select returns just those properties (and ignores unknown ones).
	resp, b = call(t, http.MethodGet, base+"/users/"+userID+"?%24select=displayName,userPrincipalName,noSuchThing", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("$select: status %d: %s", resp.StatusCode, b)
	}
	sel := decode[map[string]any](t, b)
	if len(sel) != 3 || sel["displayName"] != u.DisplayName || sel["userPrincipalName"] != u.UserPrincipalName {
		t.Errorf("$select body %s", b)
	}
	if ctx, _ := sel["@odata.context"].(string); !strings.HasSuffix(ctx, "#users(displayName,userPrincipalName)/$entity") {
		t.Errorf("$select @odata.context %q", ctx)
	}

	// The UPN names the same user.
	resp, b = call(t, http.MethodGet, base+"/users/"+u.UserPrincipalName, nil)
	if resp.StatusCode != http.StatusOK || decode[graphUser](t, b).ID != userID {
		t.Errorf("by UPN: status %d body %s", resp.StatusCode, b)
	}
	// An id that is neither a GUID nor a UPN: Graph's 404.
	resp, b = call(t, http.MethodGet, base+"/users/nobody", nil)
	checkGraphError(t, resp, b, http.StatusNotFound, "Request_ResourceNotFound")
}

func TestUPNUser(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	const upn = "taro.yamada@contoso.example"
	added := sb.AddMethod(upn, "iPhone 15")
	resp, b := call(t, http.MethodGet, sb.GraphBaseURL(srv.URL)+"/users/"+url.PathEscape(upn), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	u := decode[graphUser](t, b)
	if !guidRE.MatchString(u.ID) || u.UserPrincipalName != upn {
		t.Fatalf("user %+v", u)
	}
	list := listMethods(t, srv, sb, u.ID) // by object id now
	if len(list.Value) != 2 || list.Value[1].ID != added.ID {
		t.Errorf("methods by object id %+v", list.Value)
	}
	if got := sb.Methods("TARO.YAMADA@contoso.example"); len(got) != 2 {
		t.Errorf("Methods by upper-case UPN: %d methods", len(got))
	}
}

type tapBody struct {
	ODataContext          string `json:"@odata.context"`
	ODataType             string `json:"@odata.type"`
	ID                    string `json:"id"`
	TemporaryAccessPass   string `json:"temporaryAccessPass"`
	CreatedDateTime       string `json:"createdDateTime"`
	StartDateTime         string `json:"startDateTime"`
	LifetimeInMinutes     int    `json:"lifetimeInMinutes"`
	IsUsableOnce          bool   `json:"isUsableOnce"`
	IsUsable              bool   `json:"isUsable"`
	MethodUsabilityReason string `json:"methodUsabilityReason"`
}

func TestTemporaryAccessPass(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	u := sb.GraphBaseURL(srv.URL) + "/users/" + userID + "/authentication/temporaryAccessPassMethods"
	resp, b := call(t, http.MethodPost, u, map[string]any{"lifetimeInMinutes": 120, "isUsableOnce": true})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	tap := decode[tapBody](t, b)
	if tap.ODataType != "#microsoft.graph.temporaryAccessPassAuthenticationMethod" || !guidRE.MatchString(tap.ID) ||
		len(tap.TemporaryAccessPass) != 8 || tap.LifetimeInMinutes != 120 || !tap.IsUsableOnce ||
		!tap.IsUsable || tap.MethodUsabilityReason != "EnabledByPolicy" || tap.StartDateTime != "2026-11-24T09:30:00Z" {
		t.Errorf("TAP %+v", tap)
	}
	if _, err := time.Parse(time.RFC3339, tap.CreatedDateTime); err != nil {
		t.Errorf("createdDateTime %q: %v", tap.CreatedDateTime, err)
	}
	if !strings.HasSuffix(tap.ODataContext, "/temporaryAccessPassMethods/$entity") {
		t.Errorf("@odata.context %q", tap.ODataContext)
	}

	// No body: the defaults. A later start: not yet valid.
	resp, b = call(t, http.MethodPost, u, nil)
	if resp.StatusCode != http.StatusCreated || decode[tapBody](t, b).LifetimeInMinutes != 60 {
		t.Errorf("empty body: status %d body %s", resp.StatusCode, b)
	}
	resp, b = call(t, http.MethodPost, u, map[string]any{"startDateTime": "2026-12-01T00:00:00Z"})
	if later := decode[tapBody](t, b); resp.StatusCode != http.StatusCreated || later.IsUsable || later.MethodUsabilityReason != "NotYetValid" {
		t.Errorf("later start: status %d body %s", resp.StatusCode, b)
	}
	resp, b = call(t, http.MethodPost, u, map[string]any{"lifetimeInMinutes": 5})
	checkGraphError(t, resp, b, http.StatusBadRequest, "BadRequest")
	resp, b = call(t, http.MethodPut, u, nil)
	checkGraphError(t, resp, b, http.StatusMethodNotAllowed, "Request_BadRequest")
	if resp.Header.Get("Allow") != "GET, POST" {
		t.Errorf("Allow %q", resp.Header.Get("Allow"))
	}
}

func TestRevokeSignInSessions(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	resp, b := call(t, http.MethodPost, sb.GraphBaseURL(srv.URL)+"/users/"+userID+"/revokeSignInSessions", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var body struct {
		ODataContext string `json:"@odata.context"`
		Value        *bool  `json:"value"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.Value == nil || !*body.Value || !strings.HasSuffix(body.ODataContext, "$metadata#Edm.Boolean") {
		t.Errorf("body %s (%v)", b, err)
	}
}

func TestAllMethods(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	resp, b := call(t, http.MethodGet, sb.GraphBaseURL(srv.URL)+"/users/"+userID+"/authentication/methods", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var body struct {
		Value []struct {
			ODataType string `json:"@odata.type"`
			ID        string `json:"id"`
		} `json:"value"`
	}
	if err := json.Unmarshal(b, &body); err != nil || len(body.Value) != 2 ||
		body.Value[0].ODataType != "#microsoft.graph.passwordAuthenticationMethod" ||
		body.Value[1].ODataType != "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod" {
		t.Errorf("body %s (%v)", b, err)
	}
}

func TestUnknownEndpoints(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	base := sb.GraphBaseURL(srv.URL)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, ""},
		{http.MethodGet, "/me"},
		{http.MethodGet, "/groups"},
		{http.MethodGet, "/groups/" + userID},
		{http.MethodGet, "/groups/" + userID + "/transitiveMembers"},
		{http.MethodGet, "/users/" + userID + "/teamwork"},
		{http.MethodGet, "/users/" + userID + "/authentication/emailMethods"},
		{http.MethodGet, "/users/" + userID + "/authentication/phoneMethods/3179e48a-750b-4051-897c-87b9720928f7"},
		{http.MethodGet, "/users/" + userID + "/authentication/methods/" + userID},
		{http.MethodGet, "/users/" + userID + "/authentication/microsoftAuthenticatorMethods/x/device"},
		{http.MethodPost, "/users/" + userID + "/sendMail"},
	} {
		resp, b := call(t, tc.method, base+tc.path, nil)
		checkGraphError(t, resp, b, http.StatusNotFound, "Request_ResourceNotFound")
	}
	resp, b := call(t, http.MethodPatch, methodsURL(srv, sb, userID)+"/x", nil)
	checkGraphError(t, resp, b, http.StatusMethodNotAllowed, "Request_BadRequest")
	if got := resp.Header.Get("Allow"); got != "GET, DELETE" {
		t.Errorf("Allow %q", got)
	}
	// Outside the Graph and page paths: a plain 404.
	resp, _ = call(t, http.MethodGet, srv.URL+"/sandbox/other", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/sandbox/other: status %d", resp.StatusCode)
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fault      sandbox.Fault
		code       string
		retryAfter string
		failures   int
	}{
		{"403", sandbox.Fault{Status: 403}, "Authorization_RequestDenied", "", 1},
		{"429 twice", sandbox.Fault{Status: 429, RetryAfter: 7, Count: 2}, "TooManyRequests", "7", 2},
		{"503 three times", sandbox.Fault{Status: 503, RetryAfter: 2, Count: 3}, "serviceNotAvailable", "2", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb, srv := setup(t, sandbox.Options{})
			sb.SetFault(tc.fault)
			for i := 0; i < tc.failures; i++ {
				resp, b := call(t, http.MethodGet, methodsURL(srv, sb, userID), nil)
				e := checkGraphError(t, resp, b, tc.fault.Status, tc.code)
				if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("call %d: Retry-After %q, want %q", i+1, got, tc.retryAfter)
				}
				if tc.fault.Status == 403 && e.Error.Message != "Insufficient privileges to complete the operation. (sandbox fault)" {
					t.Errorf("403 message %q", e.Error.Message)
				}
			}
			// The fault is used up; the page was never affected.
			listMethods(t, srv, sb, userID)
		})
	}

	t.Run("page unaffected, unlimited until cleared", func(t *testing.T) {
		sb, srv := setup(t, sandbox.Options{})
		sb.SetFault(sandbox.Fault{Status: 503, Count: -1})
		resp, _ := call(t, http.MethodGet, sb.PageURL(srv.URL, userID), nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("page under a Graph fault: status %d", resp.StatusCode)
		}
		for i := 0; i < 5; i++ {
			resp, b := call(t, http.MethodPost, sb.GraphBaseURL(srv.URL)+"/users/"+userID+"/revokeSignInSessions", nil)
			checkGraphError(t, resp, b, 503, "serviceNotAvailable")
		}
		sb.SetFault(sandbox.Fault{})
		listMethods(t, srv, sb, userID)
	})

	t.Run("delay", func(t *testing.T) {
		sb, srv := setup(t, sandbox.Options{})
		const delay = 400 * time.Millisecond
		sb.SetFault(sandbox.Fault{Delay: delay})
		start := time.Now()
		listMethods(t, srv, sb, userID) // a delay alone still answers normally
		if d := time.Since(start); d < delay {
			t.Errorf("delayed call took %v", d)
		}
		start = time.Now()
		listMethods(t, srv, sb, userID)
		if d := time.Since(start); d >= delay {
			t.Errorf("undelayed call took %v", d)
		}
	})

	t.Run("delay honours the request context", func(t *testing.T) {
		sb, srv := setup(t, sandbox.Options{})
		sb.SetFault(sandbox.Fault{Status: 503, Delay: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, methodsURL(srv, sb, userID), nil)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("status %d, want the client's deadline", resp.StatusCode)
		}
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Errorf("err %v after %v", err, time.Since(start))
		}
		// The handler returned (srv.Close in cleanup would block otherwise),
		// and the fault's one call is spent.
		listMethods(t, srv, sb, userID)
	})
}

func TestConcurrent(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{Now: time.Now})
	users := []string{userID, "11111111-2222-4333-8444-555555555555", "hanako@contoso.example"}
	const perUser = 10
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for _, u := range users {
		for i := 0; i < perUser; i++ {
			wg.Add(3)
			go func() { // page API add
				defer wg.Done()
				b, _ := json.Marshal(map[string]string{"displayName": fmt.Sprintf("phone %d", i)})
				resp, err := http.Post(srv.URL+"/sandbox/security-info/api/methods?user="+url.QueryEscape(u), "application/json", bytes.NewReader(b))
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("add: status %d", resp.StatusCode)
				}
			}()
			go func() { // Graph list, and faults set meanwhile
				defer wg.Done()
				resp, err := http.Get(methodsURL(srv, sb, u))
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				sb.SetFault(sandbox.Fault{})
			}()
			go func() { // Go API
				defer wg.Done()
				m := sb.AddMethod(u, "direct")
				if !sb.DeleteMethod(u, m.ID) {
					errs <- fmt.Errorf("DeleteMethod of a method just added failed")
				}
				_ = sb.Methods(u)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, u := range users {
		if got := sb.Methods(u); len(got) != perUser+1 {
			t.Errorf("%s: %d methods, want %d", u, len(got), perUser+1)
		}
	}
}

func TestPageRenders(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	evil := sb.AddMethod(userID, `<script>alert("x")</script>&"'`)
	resp, b := call(t, http.MethodGet, sb.PageURL(srv.URL, userID), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	page := string(b)
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "script-src 'nonce-"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	for _, want := range []string{
		`<html lang="ja">`,
		"<h1 id=\"page-title\">セキュリティ情報</h1>",
		"これは、ご自分のアカウントへのサインインやパスワードの再設定に使用する方法です。",
		"サインイン方法の追加",
		`data-testid="password-row"`,
		"パスワード",
		"Microsoft Authenticator",
		"多要素認証 (MFA) をプッシュする",
		">iPhone SE (3rd generation)</span>",
		"認証アプリ",
		"QR コードをスキャン",
		"この番号をアプリに入力してください",
		"デバイス名(サンドボックス用)",
		"認証アプリの削除",
		"ご使用のアカウントでこの方法を削除しますか?",
		`id="add-method"`, `id="delete-ok"`, `id="device-name"`, `id="qr-code"`,
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&#34;&#39;",
		`data-method-id="` + evil.ID + `"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, `<script>alert(`) {
		t.Error("the device name reached the page unescaped")
	}
	// One row per Authenticator, in order, with its 削除 button.
	rows := regexp.MustCompile(`<li class="row" data-testid="method-row" data-method-id="([^"]*)"`).FindAllStringSubmatch(page, -1)
	methods := sb.Methods(userID)
	if len(rows) != 3 || rows[0][1] != methods[0].ID || rows[1][1] != methods[1].ID || rows[2][1] != "" { // [2]: the row template
		t.Errorf("rows %v, want %s, %s, then the template's", rows, methods[0].ID, methods[1].ID)
	}
	if n := len(regexp.MustCompile(`<button[^>]+data-testid="delete-method"`).FindAllString(page, -1)); n != 3 {
		t.Errorf("%d 削除 buttons, want 3 (with the template's)", n)
	}
	// Self-contained: nothing is loaded from anywhere.
	for _, re := range []string{`(?i)\b(src|href|action)\s*=\s*"(?:https?:)?//`, `(?i)https?://`, `(?i)<link[^>]+rel="stylesheet"`, `(?i)<script[^>]+src=`} {
		if m := regexp.MustCompile(re).FindString(page); m != "" {
			t.Errorf("page refers outside itself: %q", m)
		}
	}
	// Each script and style carries the policy's nonce.
	nonce := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
	if nonce == nil || strings.Count(page, `nonce="`+nonce[1]+`"`) != 2 {
		t.Errorf("nonce %v not on the page's script and style", nonce)
	}
}

func TestPageProblems(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	for _, tc := range []struct {
		url    string
		status int
		want   string
	}{
		{srv.URL + "/sandbox/security-info", http.StatusBadRequest, "ユーザーが指定されていません"},
		{sb.PageURL(srv.URL, "<b>nobody</b>"), http.StatusNotFound, "ユーザー「&lt;b&gt;nobody&lt;/b&gt;」は見つかりません"},
	} {
		resp, b := call(t, http.MethodGet, tc.url, nil)
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) || !strings.Contains(string(b), `data-testid="page-problem"`) {
			t.Errorf("%s: status %d, body lacks %q:\n%s", tc.url, resp.StatusCode, tc.want, b)
		}
		if strings.Contains(string(b), `id="add-method"`) {
			t.Errorf("%s: the problem page offers to add a method", tc.url)
		}
	}
	resp, _ := call(t, http.MethodPost, sb.PageURL(srv.URL, userID), nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST page: status %d", resp.StatusCode)
	}
}

type pageList struct {
	User struct {
		ID                string `json:"id"`
		UserPrincipalName string `json:"userPrincipalName"`
	} `json:"user"`
	Methods []struct {
		ID              string  `json:"id"`
		DisplayName     string  `json:"displayName"`
		CreatedDateTime *string `json:"createdDateTime"`
	} `json:"methods"`
}

func TestPageAPI(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	api := srv.URL + "/sandbox/security-info/api/methods"
	q := "?user=" + url.QueryEscape(userID)

	resp, b := call(t, http.MethodPost, api+q, map[string]string{"displayName": "  iPhone 15  "})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add: status %d: %s", resp.StatusCode, b)
	}
	added := decode[struct{ ID, DisplayName string }](t, b)
	if added.DisplayName != "iPhone 15" || !guidRE.MatchString(added.ID) {
		t.Errorf("added %+v", added)
	}
	resp, b = call(t, http.MethodGet, api+q, nil)
	list := decode[pageList](t, b)
	if resp.StatusCode != http.StatusOK || list.User.ID != userID || len(list.Methods) != 2 ||
		list.Methods[0].CreatedDateTime != nil || list.Methods[1].ID != added.ID || list.Methods[1].CreatedDateTime == nil {
		t.Errorf("list: status %d body %s", resp.StatusCode, b)
	}
	old := list.Methods[0].ID

	resp, b = call(t, http.MethodDelete, api+"/"+old+q, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: status %d: %s", resp.StatusCode, b)
	}
	if got := sb.Methods(userID); len(got) != 1 || got[0].ID != added.ID {
		t.Errorf("after the page's delete, Methods = %+v", got)
	}
	resp, _ = call(t, http.MethodDelete, api+"/"+old+q, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("second delete: status %d, want 404", resp.StatusCode)
	}

	// Bad input and requests from other sites.
	long := strings.Repeat("長", 65)
	for _, tc := range []struct {
		name   string
		method string
		url    string
		body   any
		header []string
		status int
	}{
		{"empty name", http.MethodPost, api + q, map[string]string{"displayName": "  "}, nil, http.StatusBadRequest},
		{"long name", http.MethodPost, api + q, map[string]string{"displayName": long}, nil, http.StatusBadRequest},
		{"control character", http.MethodPost, api + q, map[string]string{"displayName": "a\x00b"}, nil, http.StatusBadRequest},
		{"no user", http.MethodPost, api, map[string]string{"displayName": "x"}, nil, http.StatusBadRequest},
		{"impossible user", http.MethodGet, api + "?user=nobody", nil, nil, http.StatusNotFound},
		{"text/plain", http.MethodPost, api + q, map[string]string{"displayName": "x"}, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"other origin", http.MethodPost, api + q, map[string]string{"displayName": "x"}, []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"cross-site fetch", http.MethodDelete, api + "/" + added.ID + q, nil, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"PUT", http.MethodPut, api + q, nil, nil, http.StatusMethodNotAllowed},
	} {
		resp, b := call(t, tc.method, tc.url, tc.body, tc.header...)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, resp.StatusCode, tc.status, b)
			continue
		}
		if e := decode[map[string]string](t, b)["error"]; e == "" {
			t.Errorf("%s: no error message in %s", tc.name, b)
		}
	}
	// Same origin is fine.
	resp, b = call(t, http.MethodPost, api+q, map[string]string{"displayName": "Pixel"}, "Origin", srv.URL, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("same-origin add: status %d: %s", resp.StatusCode, b)
	}
	if got := sb.Methods(userID); len(got) != 2 {
		t.Errorf("Methods after the refused requests: %+v", got)
	}
}

func TestLoopbackOnly(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	h := sb.Handler()
	for _, tc := range []struct {
		name       string
		remote     string
		host       string
		header     []string
		wantStatus int
	}{
		{"remote client", "192.0.2.10:5555", "127.0.0.1:3978", nil, http.StatusForbidden},
		{"remote IPv6 client", "[2001:db8::1]:5555", "127.0.0.1:3978", nil, http.StatusForbidden},
		{"foreign Host (DNS rebinding)", "127.0.0.1:5555", "evil.example:3978", nil, http.StatusForbidden},
		{"through a proxy", "127.0.0.1:5555", "127.0.0.1:3978", []string{"X-Forwarded-For", "198.51.100.7"}, http.StatusForbidden},
		{"Forwarded", "[::1]:5555", "localhost:3978", []string{"Forwarded", "for=198.51.100.7"}, http.StatusForbidden},
		{"loopback IPv4", "127.0.0.1:5555", "127.0.0.1:3978", nil, http.StatusOK},
		{"loopback IPv6, localhost", "[::1]:5555", "localhost:3978", nil, http.StatusOK},
		{"other 127/8 address", "127.0.0.2:5555", "127.0.0.2:3978", nil, http.StatusOK},
		{"IPv4-mapped loopback", "[::ffff:127.0.0.1]:5555", "LOCALHOST:3978", nil, http.StatusOK},
		{"name under .localhost", "127.0.0.1:5555", "app.localhost:3978", nil, http.StatusForbidden},
	} {
		for _, path := range []string{
			"/sandbox/graph/v1.0/users/" + userID + "/authentication/microsoftAuthenticatorMethods",
			"/sandbox/security-info?user=" + userID,
		} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.RemoteAddr = tc.remote
			req.Host = tc.host
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Errorf("%s %s: status %d, want %d", tc.name, path, rec.Code, tc.wantStatus)
			}
			if tc.wantStatus == http.StatusForbidden && !strings.Contains(rec.Body.String(), "loopback") {
				t.Errorf("%s: body %q does not say why", tc.name, rec.Body.String())
			}
		}
	}
}

// authURL is the address of a collection under the user's
// /authentication/, plus rest.
func authURL(srv *httptest.Server, sb *sandbox.Sandbox, user, collection string, rest ...string) string {
	u := sb.GraphBaseURL(srv.URL) + "/users/" + url.PathEscape(user) + "/authentication/" + collection
	for _, r := range rest {
		u += "/" + url.PathEscape(r)
	}
	return u
}

type rawList struct {
	ODataContext string                       `json:"@odata.context"`
	Value        []map[string]json.RawMessage `json:"value"`
}

// graphList GETs a collection and returns its items as raw JSON objects.
func graphList(t *testing.T, srv *httptest.Server, sb *sandbox.Sandbox, user, collection string) []map[string]json.RawMessage {
	t.Helper()
	resp, b := call(t, http.MethodGet, authURL(srv, sb, user, collection), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, body %s", collection, resp.StatusCode, b)
	}
	list := decode[rawList](t, b)
	if want := "$metadata#users('" + user + "')/authentication/" + collection; !strings.HasSuffix(list.ODataContext, want) {
		t.Errorf("GET %s: @odata.context %q, want …%s", collection, list.ODataContext, want)
	}
	if list.Value == nil {
		t.Errorf("GET %s: value is %s, want a list", collection, b)
	}
	return list.Value
}

// checkFields fails unless obj has exactly the fields in want, each with
// that JSON value ("" for any value).
func checkFields(t *testing.T, what string, obj map[string]json.RawMessage, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := obj[k]
		switch {
		case !ok:
			t.Errorf("%s: field %q missing", what, k)
		case v != "" && string(got) != v:
			t.Errorf("%s: %s = %s, want %s", what, k, got, v)
		}
	}
	for k := range obj {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected field %q", what, k)
		}
	}
}

var passkeyIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{22}2$`)

func TestPasskeys(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	if got := graphList(t, srv, sb, userID, "fido2Methods"); len(got) != 0 {
		t.Fatalf("a new user has passkeys by default: %v", got)
	}
	ios := sb.AddPasskey(userID, "iPhone 15", "")
	android := sb.AddPasskey(userID, "Pixel 9", strings.ToUpper(sandbox.AuthenticatorAndroidAAGUID))
	key := sb.AddPasskey(userID, "YubiKey", "cb69481e-8ff7-4039-93ec-0a2729a154a8")
	for _, p := range []sandbox.Passkey{ios, android, key} {
		if !passkeyIDRE.MatchString(p.ID) || !p.Created.Equal(testNow) {
			t.Errorf("AddPasskey = %+v", p)
		}
	}
	if ios.AAGUID != sandbox.AuthenticatorIOSAAGUID || android.AAGUID != sandbox.AuthenticatorAndroidAAGUID || ios.Model == android.Model || key.Model == ios.Model {
		t.Errorf("AAGUIDs and models: %+v %+v %+v", ios, android, key)
	}

	items := graphList(t, srv, sb, userID, "fido2Methods")
	if len(items) != 3 {
		t.Fatalf("%d passkeys, want 3", len(items))
	}
	checkFields(t, "fido2Methods[0]", items[0], map[string]string{
		"@odata.type":             `"#microsoft.graph.fido2AuthenticationMethod"`,
		"id":                      `"` + ios.ID + `"`,
		"displayName":             `"iPhone 15"`,
		"createdDateTime":         `"2026-11-24T09:30:00Z"`,
		"aaGuid":                  `"90a3ccdf-635c-4729-a248-9b709135078f"`,
		"model":                   `"` + ios.Model + `"`,
		"attestationCertificates": `[]`,
		"attestationLevel":        "",
	})
	if got := string(items[1]["aaGuid"]); got != `"de1e552d-db1d-4423-a619-566b625cdc84"` {
		t.Errorf("Android passkey aaGuid %s", got)
	}

	// One passkey; its id holds '-' or '_' at times, so escape it as the
	// bot must.
	resp, b := call(t, http.MethodGet, authURL(srv, sb, userID, "fido2Methods", android.ID), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET one: status %d: %s", resp.StatusCode, b)
	}
	one := decode[map[string]json.RawMessage](t, b)
	if string(one["id"]) != `"`+android.ID+`"` || !strings.HasSuffix(string(one["@odata.context"]), `/fido2Methods/$entity"`) {
		t.Errorf("GET one: %s", b)
	}
	// Ids are compared exactly: in another case, it is another id.
	swapped := strings.Map(func(r rune) rune {
		if unicode.IsUpper(r) {
			return unicode.ToLower(r)
		}
		return unicode.ToUpper(r)
	}, ios.ID)
	if swapped != ios.ID {
		resp, b = call(t, http.MethodGet, authURL(srv, sb, userID, "fido2Methods", swapped), nil)
		checkGraphError(t, resp, b, http.StatusNotFound, "itemNotFound")
	}

	resp, b = call(t, http.MethodDelete, authURL(srv, sb, userID, "fido2Methods", ios.ID), nil)
	if resp.StatusCode != http.StatusNoContent || len(b) != 0 {
		t.Fatalf("DELETE: status %d body %q, want 204 and no body", resp.StatusCode, b)
	}
	resp, b = call(t, http.MethodDelete, authURL(srv, sb, userID, "fido2Methods", ios.ID), nil)
	e := checkGraphError(t, resp, b, http.StatusNotFound, "itemNotFound")
	if !strings.Contains(e.Error.Message, "fido2AuthenticationMethod") {
		t.Errorf("404 message %q does not name the entity", e.Error.Message)
	}
	resp, b = call(t, http.MethodGet, authURL(srv, sb, userID, "fido2Methods", ios.ID), nil)
	checkGraphError(t, resp, b, http.StatusNotFound, "itemNotFound")
	resp, b = call(t, http.MethodPost, authURL(srv, sb, userID, "fido2Methods"), nil)
	checkGraphError(t, resp, b, http.StatusMethodNotAllowed, "Request_BadRequest")

	if got := sb.Passkeys(userID); len(got) != 2 || got[0] != android || got[1] != key {
		t.Errorf("Passkeys after the delete = %+v", got)
	}
	if !sb.DeletePasskey(userID, key.ID) || sb.DeletePasskey(userID, key.ID) {
		t.Error("DeletePasskey: want true, then false")
	}
	if got := sb.AddPasskey(userID, "x", "not-a-guid"); got != (sandbox.Passkey{}) {
		t.Errorf("AddPasskey with a bad AAGUID = %+v", got)
	}
	if got := sb.AddPasskey("nobody", "x", ""); got != (sandbox.Passkey{}) {
		t.Errorf("AddPasskey for an impossible user = %+v", got)
	}
	if sb.Passkeys("nobody") != nil || sb.DeletePasskey("nobody", android.ID) {
		t.Error("an impossible user has passkeys")
	}
}

func TestSoftwareOath(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	if got := graphList(t, srv, sb, userID, "softwareOathMethods"); len(got) != 0 {
		t.Fatalf("a new user has OATH methods: %v", got)
	}
	first, second := sb.AddSoftwareOath(userID), sb.AddSoftwareOath(userID)
	if !guidRE.MatchString(first) || !guidRE.MatchString(second) || first == second {
		t.Fatalf("AddSoftwareOath = %q, %q", first, second)
	}
	items := graphList(t, srv, sb, userID, "softwareOathMethods")
	if len(items) != 2 {
		t.Fatalf("%d OATH methods, want 2", len(items))
	}
	checkFields(t, "softwareOathMethods[0]", items[0], map[string]string{
		"@odata.type": `"#microsoft.graph.softwareOathAuthenticationMethod"`,
		"id":          `"` + first + `"`,
		"secretKey":   `null`,
	})

	resp, b := call(t, http.MethodGet, authURL(srv, sb, userID, "softwareOathMethods", strings.ToUpper(second)), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"id":"`+second+`"`) {
		t.Errorf("GET one (upper-case id): status %d: %s", resp.StatusCode, b)
	}
	resp, b = call(t, http.MethodDelete, authURL(srv, sb, userID, "softwareOathMethods", first), nil)
	if resp.StatusCode != http.StatusNoContent || len(b) != 0 {
		t.Fatalf("DELETE: status %d body %q", resp.StatusCode, b)
	}
	resp, b = call(t, http.MethodDelete, authURL(srv, sb, userID, "softwareOathMethods", first), nil)
	checkGraphError(t, resp, b, http.StatusNotFound, "itemNotFound")

	if got := sb.SoftwareOath(userID); len(got) != 1 || got[0] != second {
		t.Errorf("SoftwareOath = %v, want [%s]", got, second)
	}
	if !sb.DeleteSoftwareOath(userID, second) || sb.DeleteSoftwareOath(userID, second) {
		t.Error("DeleteSoftwareOath: want true, then false")
	}
	if sb.AddSoftwareOath("nobody") != "" || sb.SoftwareOath("nobody") != nil {
		t.Error("an impossible user got an OATH method")
	}
}

func TestPhoneMethods(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	if got := graphList(t, srv, sb, userID, "phoneMethods"); len(got) != 0 {
		t.Fatalf("a new user has phones: %v", got)
	}
	sb.AddPhone(userID, "mobile", "+81 9000000000")
	mobile := sb.AddPhone(userID, "mobile", "+81 9012345678") // replaces the first
	office := sb.AddPhone(userID, "office", "+81 312345678")
	if mobile.ID != "3179e48a-750b-4051-897c-87b9720928f7" || office.ID != "e37fc753-ff3b-4958-9484-eaa9425c82bc" {
		t.Errorf("AddPhone ids %+v %+v", mobile, office)
	}
	if got := sb.AddPhone(userID, "fax", "+81 3"); got != (sandbox.Phone{}) {
		t.Errorf("AddPhone of an unknown type = %+v", got)
	}
	items := graphList(t, srv, sb, userID, "phoneMethods")
	if len(items) != 2 {
		t.Fatalf("%d phones, want 2: %v", len(items), items)
	}
	checkFields(t, "phoneMethods[0]", items[0], map[string]string{
		"@odata.type":    `"#microsoft.graph.phoneAuthenticationMethod"`,
		"id":             `"3179e48a-750b-4051-897c-87b9720928f7"`,
		"phoneNumber":    `"+81 9012345678"`,
		"phoneType":      `"mobile"`,
		"smsSignInState": "",
	})
	if got := sb.Phones(userID); len(got) != 2 || got[0] != mobile || got[1] != office {
		t.Errorf("Phones = %+v", got)
	}
	resp, b := call(t, http.MethodDelete, authURL(srv, sb, userID, "phoneMethods"), nil)
	checkGraphError(t, resp, b, http.StatusMethodNotAllowed, "Request_BadRequest")
}

func TestTemporaryAccessPassListAndDelete(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	if got := graphList(t, srv, sb, userID, "temporaryAccessPassMethods"); len(got) != 0 {
		t.Fatalf("a new user has a TAP: %v", got)
	}
	if got := sb.TemporaryAccessPasses(userID); got != nil {
		t.Fatalf("TemporaryAccessPasses = %v", got)
	}
	resp, b := call(t, http.MethodPost, authURL(srv, sb, userID, "temporaryAccessPassMethods"), map[string]any{"lifetimeInMinutes": 90})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: status %d: %s", resp.StatusCode, b)
	}
	tap := decode[tapBody](t, b)

	items := graphList(t, srv, sb, userID, "temporaryAccessPassMethods")
	if len(items) != 1 {
		t.Fatalf("%d TAPs, want 1", len(items))
	}
	checkFields(t, "temporaryAccessPassMethods[0]", items[0], map[string]string{
		"@odata.type":           `"#microsoft.graph.temporaryAccessPassAuthenticationMethod"`,
		"id":                    `"` + tap.ID + `"`,
		"temporaryAccessPass":   `null`,
		"createdDateTime":       "",
		"startDateTime":         `"2026-11-24T09:30:00Z"`,
		"lifetimeInMinutes":     `90`,
		"isUsableOnce":          `false`,
		"isUsable":              `true`,
		"methodUsabilityReason": `"EnabledByPolicy"`,
	})
	if got := sb.TemporaryAccessPasses(userID); len(got) != 1 || got[0] != tap.ID {
		t.Errorf("TemporaryAccessPasses = %v, want [%s]", got, tap.ID)
	}
	resp, b = call(t, http.MethodGet, authURL(srv, sb, userID, "temporaryAccessPassMethods", tap.ID), nil)
	if one := decode[map[string]json.RawMessage](t, b); resp.StatusCode != http.StatusOK || string(one["temporaryAccessPass"]) != "null" {
		t.Errorf("GET one: status %d: %s", resp.StatusCode, b)
	}

	resp, b = call(t, http.MethodDelete, authURL(srv, sb, userID, "temporaryAccessPassMethods", tap.ID), nil)
	if resp.StatusCode != http.StatusNoContent || len(b) != 0 {
		t.Fatalf("DELETE: status %d body %q", resp.StatusCode, b)
	}
	if got := sb.TemporaryAccessPasses(userID); got != nil {
		t.Errorf("TemporaryAccessPasses after the delete = %v", got)
	}
	if got := graphList(t, srv, sb, userID, "temporaryAccessPassMethods"); len(got) != 0 {
		t.Errorf("list after the delete: %v", got)
	}
	resp, b = call(t, http.MethodDelete, authURL(srv, sb, userID, "temporaryAccessPassMethods", tap.ID), nil)
	checkGraphError(t, resp, b, http.StatusNotFound, "itemNotFound")
}

func TestAllMethodsEveryKind(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{InitialPasskey: true})
	sb.AddSoftwareOath(userID)
	sb.AddPhone(userID, "mobile", "+81 9012345678")
	resp, b := call(t, http.MethodPost, authURL(srv, sb, userID, "temporaryAccessPassMethods"), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create TAP: status %d: %s", resp.StatusCode, b)
	}
	var types []string
	for _, m := range graphList(t, srv, sb, userID, "methods") {
		types = append(types, strings.Trim(string(m["@odata.type"]), `"`))
	}
	want := []string{
		"#microsoft.graph.passwordAuthenticationMethod",
		"#microsoft.graph.phoneAuthenticationMethod",
		"#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
		"#microsoft.graph.fido2AuthenticationMethod",
		"#microsoft.graph.softwareOathAuthenticationMethod",
		"#microsoft.graph.temporaryAccessPassAuthenticationMethod",
	}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Errorf("methods' types\n%v, want\n%v", types, want)
	}
}

func TestInitialPasskey(t *testing.T) {
	const (
		pushByGUID = "11111111-2222-4333-8444-555555555555"
		pushByUPN  = "hanako@contoso.example"
		derivedUPN = "user-66666666@sandbox.example" // the UPN of the next GUID
		derivedID  = "66666666-7777-4888-8999-000000000000"
	)
	sb, srv := setup(t, sandbox.Options{
		InitialPasskey: true,
		PushOnly:       []string{strings.ToUpper(pushByGUID), "HANAKO@contoso.example", derivedUPN},
	})
	items := graphList(t, srv, sb, userID, "fido2Methods")
	if len(items) != 1 {
		t.Fatalf("%d passkeys, want the initial one", len(items))
	}
	checkFields(t, "the initial passkey", items[0], map[string]string{
		"@odata.type":             `"#microsoft.graph.fido2AuthenticationMethod"`,
		"id":                      "",
		"displayName":             `"iPhone SE (3rd generation)"`,
		"createdDateTime":         `"2026-09-12T09:30:00Z"`,
		"aaGuid":                  `"90a3ccdf-635c-4729-a248-9b709135078f"`,
		"model":                   "",
		"attestationCertificates": `[]`,
		"attestationLevel":        "",
	})
	if got := sb.Methods(userID); len(got) != 1 || got[0].DisplayName != sandbox.DefaultInitialDevice {
		t.Errorf("push methods with InitialPasskey: %+v, want the initial device", got)
	}
	for _, u := range []string{pushByGUID, pushByUPN, derivedID} {
		if got := sb.Passkeys(u); len(got) != 0 {
			t.Errorf("PushOnly user %s has passkeys %+v", u, got)
		}
		if got := sb.Methods(u); len(got) != 1 {
			t.Errorf("PushOnly user %s: %d push methods, want 1", u, len(got))
		}
	}
	// Another user is not push only.
	if got := sb.Passkeys("taro@contoso.example"); len(got) != 1 || got[0].AAGUID != sandbox.AuthenticatorIOSAAGUID {
		t.Errorf("a user outside PushOnly: %+v", got)
	}
	// InitialDevice names the passkey too.
	other, _ := setup(t, sandbox.Options{InitialPasskey: true, InitialDevice: "iPhone 12"})
	if got := other.Passkeys(userID); len(got) != 1 || got[0].DisplayName != "iPhone 12" {
		t.Errorf("passkey with InitialDevice: %+v", got)
	}
}

func TestFaultOnly(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{InitialPasskey: true})
	pk := sb.Passkeys(userID)[0]
	sb.SetFault(sandbox.Fault{Status: http.StatusForbidden, Only: "fido2Methods", Count: -1})
	for i := 0; i < 3; i++ {
		listMethods(t, srv, sb, userID) // push answers normally
	}
	for _, tc := range []struct{ method, url string }{
		{http.MethodGet, authURL(srv, sb, userID, "fido2Methods")},
		{http.MethodGet, authURL(srv, sb, userID, "fido2Methods", pk.ID)},
		{http.MethodDelete, authURL(srv, sb, userID, "fido2Methods", pk.ID)},
	} {
		resp, b := call(t, tc.method, tc.url, nil)
		checkGraphError(t, resp, b, http.StatusForbidden, "Authorization_RequestDenied")
	}
	if len(sb.Passkeys(userID)) != 1 {
		t.Error("a faulted DELETE deleted the passkey")
	}
	sb.SetFault(sandbox.Fault{})
	graphList(t, srv, sb, userID, "fido2Methods")

	// Count counts only the calls of the kind; the kind is case-insensitive.
	sb.SetFault(sandbox.Fault{Status: http.StatusServiceUnavailable, RetryAfter: 3, Only: "TEMPORARYACCESSPASSMETHODS"})
	listMethods(t, srv, sb, userID)
	graphList(t, srv, sb, userID, "methods")
	resp, b := call(t, http.MethodPost, authURL(srv, sb, userID, "temporaryAccessPassMethods"), nil)
	checkGraphError(t, resp, b, http.StatusServiceUnavailable, "serviceNotAvailable")
	if resp.Header.Get("Retry-After") != "3" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	graphList(t, srv, sb, userID, "temporaryAccessPassMethods") // the one call is spent

	// "users" and "revokeSignInSessions" name the other calls.
	base := sb.GraphBaseURL(srv.URL) + "/users/" + userID
	sb.SetFault(sandbox.Fault{Status: http.StatusTooManyRequests, Only: "users", Count: -1})
	resp, b = call(t, http.MethodGet, base, nil)
	checkGraphError(t, resp, b, http.StatusTooManyRequests, "TooManyRequests")
	if resp, b = call(t, http.MethodPost, base+"/revokeSignInSessions", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("revoke under a users-only fault: status %d: %s", resp.StatusCode, b)
	}
	sb.SetFault(sandbox.Fault{Status: http.StatusForbidden, Only: "revokeSignInSessions"})
	resp, b = call(t, http.MethodPost, base+"/revokeSignInSessions", nil)
	checkGraphError(t, resp, b, http.StatusForbidden, "Authorization_RequestDenied")

	// A delay limited to one kind.
	sb.SetFault(sandbox.Fault{Delay: time.Hour, Only: "softwareOathMethods", Count: -1})
	graphList(t, srv, sb, userID, "fido2Methods")
	sb.SetFault(sandbox.Fault{})
}

func TestPageListsPasskeysAndOtherApps(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{InitialPasskey: true})
	initial := sb.Passkeys(userID)[0]
	evil := sb.AddPasskey(userID, `<img src=x onerror="alert(1)">`, sandbox.AuthenticatorAndroidAAGUID)
	key := sb.AddPasskey(userID, "YubiKey 5", "cb69481e-8ff7-4039-93ec-0a2729a154a8")
	oath := sb.AddSoftwareOath(userID)
	resp, b := call(t, http.MethodGet, sb.PageURL(srv.URL, userID), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	page := string(b)
	for _, want := range []string{
		`<option value="passkey">パスキー (Microsoft Authenticator)</option>`,
		"別の認証アプリを使用します",
		`id="oath-qr-code"`, `id="oath-code"`, `id="passkey-name"`, `id="passkey-platform"`,
		`<option value="ios" selected>iPhone (iOS)</option>`,
		`data-passkey-id="` + initial.ID + `" data-device-name="iPhone SE (3rd generation)" data-platform="iOS"`,
		`data-testid="passkey-kind">パスキー (Microsoft Authenticator)</span>`,
		"登録日時: 2026/09/12 18:30", // JST
		`data-created="2026-09-12T09:30:00Z"`,
		`data-platform="Android"`,
		"&lt;img src=x onerror=&#34;alert(1)&#34;&gt;",
		`data-testid="passkey-kind">セキュリティ キー</span>`,
		`data-oath-id="` + oath + `"`,
		">その他の認証アプリ</span>",
		"時間ベースのワンタイム パスワード (TOTP)",
		"識別子 " + oath[:8],
		"既定のサインイン方法: Microsoft Authenticator - 通知",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<img src=x") {
		t.Error("a passkey name reached the page unescaped")
	}
	// Authenticator rows first, then passkeys, then other apps; each row
	// kind has its template.
	rows := regexp.MustCompile(`<li class="row" data-testid="(method|passkey|oath)-row" data-(?:method|passkey|oath)-id="([^"]*)"`).FindAllStringSubmatch(page, -1)
	var got []string
	for _, r := range rows {
		got = append(got, r[1]+":"+r[2])
	}
	want := []string{
		"method:" + sb.Methods(userID)[0].ID, "passkey:" + initial.ID, "passkey:" + evil.ID, "passkey:" + key.ID, "oath:" + oath,
		"method:", "passkey:", "oath:", // the templates
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rows\n%v, want\n%v", got, want)
	}
	for testid, n := range map[string]int{"delete-passkey": 4, "delete-oath": 2, "delete-method": 2} {
		if got := len(regexp.MustCompile(`<button[^>]+data-testid="`+testid+`"`).FindAllString(page, -1)); got != n {
			t.Errorf("%d %s buttons, want %d (with the template's)", got, testid, n)
		}
	}

	// With only another authenticator app left, the default is a code.
	sb.DeleteMethod(userID, sb.Methods(userID)[0].ID)
	_, b = call(t, http.MethodGet, sb.PageURL(srv.URL, userID), nil)
	if !strings.Contains(string(b), "既定のサインイン方法: 認証アプリまたはハードウェア トークン - コード") {
		t.Error("the default line does not name the code")
	}
}

type pagePasskey struct {
	ID              string `json:"id"`
	DisplayName     string `json:"displayName"`
	AAGUID          string `json:"aaGuid"`
	Kind            string `json:"kind"`
	Platform        string `json:"platform"`
	CreatedDateTime string `json:"createdDateTime"`
	Created         string `json:"created"`
}

type pageOath struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

type pageFullList struct {
	Methods       []struct{ ID string }
	Passkeys      []pagePasskey `json:"passkeys"`
	SoftwareOath  []pageOath    `json:"softwareOath"`
	DefaultMethod string        `json:"defaultMethod"`
}

func TestPageAPIPasskeys(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	api := srv.URL + "/sandbox/security-info/api/"
	q := "?user=" + url.QueryEscape(userID)

	resp, b := call(t, http.MethodPost, api+"passkeys"+q, map[string]string{"displayName": "  Pixel 9  ", "platform": "android"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add: status %d: %s", resp.StatusCode, b)
	}
	android := decode[pagePasskey](t, b)
	if android.DisplayName != "Pixel 9" || android.AAGUID != sandbox.AuthenticatorAndroidAAGUID || android.Platform != "Android" ||
		android.Kind != "パスキー (Microsoft Authenticator)" || android.CreatedDateTime != "2026-11-24T09:30:00Z" ||
		android.Created != "2026/11/24 18:30" || !passkeyIDRE.MatchString(android.ID) {
		t.Errorf("added %+v", android)
	}
	resp, b = call(t, http.MethodPost, api+"passkeys"+q, map[string]string{"displayName": "iPhone 16"}, "Origin", srv.URL)
	if ios := decode[pagePasskey](t, b); resp.StatusCode != http.StatusCreated || ios.AAGUID != sandbox.AuthenticatorIOSAAGUID || ios.Platform != "iOS" {
		t.Errorf("add without a platform (iOS): status %d: %s", resp.StatusCode, b)
	}

	// Graph sees what the page added.
	items := graphList(t, srv, sb, userID, "fido2Methods")
	if len(items) != 2 || string(items[0]["id"]) != `"`+android.ID+`"` || string(items[1]["displayName"]) != `"iPhone 16"` {
		t.Errorf("fido2Methods after the page's adds: %v", items)
	}
	resp, b = call(t, http.MethodGet, api+"methods"+q, nil)
	list := decode[pageFullList](t, b)
	if resp.StatusCode != http.StatusOK || len(list.Passkeys) != 2 || list.Passkeys[0] != android || list.SoftwareOath == nil {
		t.Errorf("list: status %d: %s", resp.StatusCode, b)
	}

	resp, b = call(t, http.MethodDelete, api+"passkeys/"+android.ID+q, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: status %d: %s", resp.StatusCode, b)
	}
	if got := sb.Passkeys(userID); len(got) != 1 || got[0].DisplayName != "iPhone 16" {
		t.Errorf("Passkeys after the page's delete: %+v", got)
	}
	resp, b = call(t, http.MethodDelete, api+"passkeys/"+android.ID+q, nil)
	if resp.StatusCode != http.StatusNotFound || decode[map[string]string](t, b)["error"] == "" {
		t.Errorf("second delete: status %d: %s", resp.StatusCode, b)
	}
	// A passkey id is not an Authenticator's, nor the other way round.
	resp, _ = call(t, http.MethodDelete, api+"methods/"+sb.Passkeys(userID)[0].ID+q, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleting a passkey as an Authenticator: status %d", resp.StatusCode)
	}

	for _, tc := range []struct {
		name   string
		method string
		url    string
		body   any
		header []string
		status int
	}{
		{"bad platform", http.MethodPost, api + "passkeys" + q, map[string]string{"displayName": "x", "platform": "windows"}, nil, http.StatusBadRequest},
		{"empty name", http.MethodPost, api + "passkeys" + q, map[string]string{"displayName": " "}, nil, http.StatusBadRequest},
		{"long name", http.MethodPost, api + "passkeys" + q, map[string]string{"displayName": strings.Repeat("長", 65)}, nil, http.StatusBadRequest},
		{"text/plain", http.MethodPost, api + "passkeys" + q, map[string]string{"displayName": "x"}, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"other origin", http.MethodPost, api + "passkeys" + q, map[string]string{"displayName": "x"}, []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"cross-site delete", http.MethodDelete, api + "passkeys/" + sb.Passkeys(userID)[0].ID + q, nil, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"no user", http.MethodPost, api + "passkeys", map[string]string{"displayName": "x"}, nil, http.StatusBadRequest},
		{"GET passkeys", http.MethodGet, api + "passkeys" + q, nil, nil, http.StatusMethodNotAllowed},
		{"PUT passkey", http.MethodPut, api + "passkeys/x" + q, nil, nil, http.StatusMethodNotAllowed},
	} {
		resp, b := call(t, tc.method, tc.url, tc.body, tc.header...)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, resp.StatusCode, tc.status, b)
			continue
		}
		if e := decode[map[string]string](t, b)["error"]; e == "" {
			t.Errorf("%s: no error message in %s", tc.name, b)
		}
	}
	if got := sb.Passkeys(userID); len(got) != 1 {
		t.Errorf("Passkeys after the refused requests: %+v", got)
	}
	resp, _ = call(t, http.MethodGet, api+"passkeys/x/y"+q, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a deeper path: status %d", resp.StatusCode)
	}
}

func TestPageAPISoftwareOath(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{})
	api := srv.URL + "/sandbox/security-info/api/"
	q := "?user=" + url.QueryEscape(userID)

	resp, b := call(t, http.MethodPost, api+"softwareOath"+q, map[string]string{})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add: status %d: %s", resp.StatusCode, b)
	}
	added := decode[pageOath](t, b)
	if !guidRE.MatchString(added.ID) || added.Label != "識別子 "+added.ID[:8] {
		t.Errorf("added %+v", added)
	}
	if got := sb.SoftwareOath(userID); len(got) != 1 || got[0] != added.ID {
		t.Errorf("SoftwareOath after the page's add: %v", got)
	}
	if items := graphList(t, srv, sb, userID, "softwareOathMethods"); len(items) != 1 || string(items[0]["id"]) != `"`+added.ID+`"` {
		t.Errorf("softwareOathMethods: %v", items)
	}
	resp, b = call(t, http.MethodGet, api+"methods"+q, nil)
	if list := decode[pageFullList](t, b); len(list.SoftwareOath) != 1 || list.SoftwareOath[0] != added {
		t.Errorf("list: %s", b)
	}
	for _, tc := range []struct {
		name   string
		body   any
		header []string
		status int
	}{
		{"no body", nil, []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"form", map[string]string{}, []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"other origin", map[string]string{}, []string{"Origin", "http://evil.example"}, http.StatusForbidden},
	} {
		resp, b := call(t, http.MethodPost, api+"softwareOath"+q, tc.body, tc.header...)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, resp.StatusCode, tc.status, b)
		}
	}

	resp, b = call(t, http.MethodDelete, api+"softwareOath/"+strings.ToUpper(added.ID)+q, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: status %d: %s", resp.StatusCode, b)
	}
	if got := sb.SoftwareOath(userID); len(got) != 0 {
		t.Errorf("SoftwareOath after the page's delete: %v", got)
	}
	resp, _ = call(t, http.MethodDelete, api+"softwareOath/"+added.ID+q, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("second delete: status %d, want 404", resp.StatusCode)
	}
}
