package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/smartswap/mfabot/graph/sandbox"
)

// batchReq is one request of a JSON batch.
type batchReq struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    any               `json:"body,omitempty"`
}

// batchAnswer is one answer of a JSON batch.
type batchAnswer struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// postBatch sends the requests as one $batch and returns its answers by
// id, failing unless the batch itself is answered 200 with one answer per
// request.
func postBatch(t testing.TB, srv *httptest.Server, sb *sandbox.Sandbox, reqs []batchReq) map[string]batchAnswer {
	t.Helper()
	resp, b := call(t, http.MethodPost, sb.GraphBaseURL(srv.URL)+"/$batch", map[string]any{"requests": reqs})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("$batch: status %d: %s", resp.StatusCode, b)
	}
	out := decode[struct{ Responses []batchAnswer }](t, b)
	byID := make(map[string]batchAnswer, len(out.Responses))
	for k, a := range out.Responses {
		if k < len(reqs) && a.ID != reqs[k].ID {
			t.Errorf("answer %d is to %q, want request order (%q)", k, a.ID, reqs[k].ID)
		}
		byID[a.ID] = a
	}
	if len(byID) != len(reqs) {
		t.Fatalf("%d answers to %d requests: %s", len(byID), len(reqs), b)
	}
	return byID
}

// methodRequests asks for the Authenticator methods (and, with fido2, the
// passkeys) of synthetic users from first on, n requests in all.
func methodRequests(first, n int, fido2 bool) []batchReq {
	var reqs []batchReq
	for i := first; len(reqs) < n; i++ {
		base := "/users/" + synthID(i) + "/authentication/"
		reqs = append(reqs, batchReq{ID: "a" + strconv.Itoa(i), Method: http.MethodGet, URL: base + "microsoftAuthenticatorMethods"})
		if fido2 && len(reqs) < n {
			reqs = append(reqs, batchReq{ID: "f" + strconv.Itoa(i), Method: http.MethodGet, URL: base + "fido2Methods"})
		}
	}
	return reqs
}

func TestBatch(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{Population: 100, TwoPhonesEvery: 3})
	reqs := methodRequests(0, 20, false)
	answers := postBatch(t, srv, sb, reqs)
	for i := range 20 {
		a := answers["a"+strconv.Itoa(i)]
		if a.Status != http.StatusOK || !strings.HasPrefix(a.Headers["Content-Type"], "application/json") {
			t.Errorf("answer %d: %d %v", i, a.Status, a.Headers)
			continue
		}
		list := decode[authMethodList](t, a.Body)
		want := 1
		if i%3 == 1 {
			want = 2
		}
		if len(list.Value) != want {
			t.Errorf("user %d: %d methods, want %d", i, len(list.Value), want)
		}
		if !strings.HasSuffix(list.ODataContext, "$metadata#users('"+synthID(i)+"')/authentication/microsoftAuthenticatorMethods") {
			t.Errorf("user %d: @odata.context %q", i, list.ODataContext)
		}
		if !guidRE.MatchString(a.Headers["Request-Id"]) {
			t.Errorf("answer %d: request-id %q", i, a.Headers["Request-Id"])
		}
	}
	if st := sb.Stats(); st.Requests != 1 || st.BatchRequests != 20 || st.Materialized != 0 {
		t.Errorf("Stats %+v, want 1 request and 20 in the batch, none materialised", st)
	}

	// Other methods, headers, bodies and errors go through as they would at
	// the top level.
	mixed := postBatch(t, srv, sb, []batchReq{
		{ID: "tap", Method: "post", URL: "users/" + synthUPN(7) + "/authentication/temporaryAccessPassMethods", Body: map[string]any{"lifetimeInMinutes": 60}},
		{ID: "group", Method: http.MethodGet, URL: "/groups/none/transitiveMembers/microsoft.graph.user?$count=true", Headers: map[string]string{"ConsistencyLevel": "eventual"}},
		{ID: "users", Method: http.MethodGet, URL: "/users?$top=2&$select=id"},
		{ID: "gone", Method: http.MethodDelete, URL: "/users/" + synthID(7) + "/authentication/fido2Methods/nope2"},
		{ID: "405", Method: http.MethodPatch, URL: "/users/" + synthID(7)},
		{ID: "nested", Method: http.MethodPost, URL: "/$batch", Body: map[string]any{"requests": []any{}}},
		{ID: "absolute", Method: http.MethodGet, URL: "https://graph.microsoft.com/v1.0/users"},
	})
	for id, want := range map[string]int{"tap": 201, "group": 404, "users": 200, "gone": 404, "405": 405, "nested": 400, "absolute": 400} {
		if a := mixed[id]; a.Status != want {
			t.Errorf("%s: status %d, want %d: %s", id, a.Status, want, a.Body)
		}
	}
	if page := decode[userPage](t, mixed["users"].Body); len(page.Value) != 2 || !strings.Contains(page.NextLink, "/users?") {
		t.Errorf("users page in a batch: %+v", page)
	}
	if e := decode[graphError](t, mixed["group"].Body); e.Error.Code != "Request_ResourceNotFound" {
		t.Errorf("group error %+v", e)
	}
	if len(sb.TemporaryAccessPasses(synthID(7))) != 1 {
		t.Error("the batch's TAP was not created")
	}
}

func TestBatchRefused(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{Population: 100})
	dup := methodRequests(0, 3, false)
	dup[2].ID = dup[0].ID
	missing := methodRequests(0, 2, false)
	missing[1].URL = ""
	for _, tc := range []struct {
		name string
		body any
		want string // in the message
	}{
		{"21 requests", map[string]any{"requests": methodRequests(0, 21, false)}, "exceeds the limit of 20"},
		{"duplicate ids", map[string]any{"requests": dup}, "'a0'"},
		{"no url", map[string]any{"requests": missing}, "url"},
		{"no requests", map[string]any{"requests": []any{}}, "no requests"},
		{"not JSON", "[", "Invalid batch payload"},
		{"dependsOn", map[string]any{"requests": []any{map[string]any{"id": "1", "method": "GET", "url": "/users", "dependsOn": []string{"2"}}}}, "dependsOn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := call(t, http.MethodPost, sb.GraphBaseURL(srv.URL)+"/$batch", tc.body)
			e := checkGraphError(t, resp, b, http.StatusBadRequest, "BadRequest")
			if !strings.Contains(e.Error.Message, tc.want) {
				t.Errorf("message %q, want it to mention %q", e.Error.Message, tc.want)
			}
		})
	}
	resp, b := call(t, http.MethodGet, sb.GraphBaseURL(srv.URL)+"/$batch", nil)
	checkGraphError(t, resp, b, http.StatusMethodNotAllowed, "Request_BadRequest")
}

func TestBatchFaultOnly(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{Population: 100})
	sb.SetFault(sandbox.Fault{Status: http.StatusForbidden, Only: "fido2Methods", Count: -1})
	answers := postBatch(t, srv, sb, methodRequests(0, 20, true))
	for id, a := range answers {
		want := http.StatusOK
		if strings.HasPrefix(id, "f") {
			want = http.StatusForbidden
		}
		if a.Status != want {
			t.Errorf("%s: status %d, want %d", id, a.Status, want)
		}
		if want == http.StatusForbidden {
			if e := decode[graphError](t, a.Body); e.Error.Code != "Authorization_RequestDenied" {
				t.Errorf("%s: error %+v", id, e)
			}
		}
	}

	// A fault for every call hits the batch itself first.
	sb.SetFault(sandbox.Fault{Status: http.StatusServiceUnavailable, RetryAfter: 2})
	resp, b := call(t, http.MethodPost, sb.GraphBaseURL(srv.URL)+"/$batch", map[string]any{"requests": methodRequests(0, 2, false)})
	checkGraphError(t, resp, b, http.StatusServiceUnavailable, "serviceNotAvailable")
	if got := resp.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q", got)
	}
	postBatch(t, srv, sb, methodRequests(0, 2, false)) // used up
}

func TestBatchThrottled(t *testing.T) {
	sb, srv := setup(t, sandbox.Options{Population: 100, Throttle: sandbox.Throttle{RequestsPerSecond: 5, Burst: 5}})
	answers := postBatch(t, srv, sb, methodRequests(0, 20, false))
	var ok, throttled int
	for i := range 20 { // the first five in request order get the tokens
		a := answers["a"+strconv.Itoa(i)]
		switch a.Status {
		case http.StatusOK:
			ok++
			if i >= 5 {
				t.Errorf("request %d answered, want the first five only", i)
			}
		case http.StatusTooManyRequests:
			throttled++
			if s, err := strconv.Atoi(a.Headers["Retry-After"]); err != nil || s < 1 {
				t.Errorf("request %d: Retry-After %q, want whole seconds ≥ 1", i, a.Headers["Retry-After"])
			}
			if e := decode[graphError](t, a.Body); e.Error.Code != "TooManyRequests" || e.Error.InnerError.RequestID == "" {
				t.Errorf("request %d: error %+v", i, e)
			}
		default:
			t.Errorf("request %d: status %d", i, a.Status)
		}
	}
	if ok != 5 || throttled != 15 {
		t.Errorf("%d answered and %d throttled, want 5 and 15", ok, throttled)
	}
	st := sb.Stats()
	if st.Requests != 1 || st.BatchRequests != 20 || st.BatchThrottled != 15 || st.Throttled != 0 {
		t.Errorf("Stats %+v", st)
	}
}
