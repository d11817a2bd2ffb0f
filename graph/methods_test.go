package graph_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartswap/mfabot/graph"
)

// Example responses of Microsoft's Graph v1.0 docs
// (microsoft-graph-docs-contrib, api-reference/v1.0/api/*.md).

// fido2ListBody is the example of fido2authenticationmethod-list.md. Note
// that it spells the date "creationDateTime", while the resource (and
// msgraph-sdk-go's model) call it createdDateTime: the client reads both.
const fido2ListBody = `{
  "value": [
    {
      "id": "-2_GRUg2-HYz6_1YG4YRAQ2",
      "displayName": "Red key",
      "creationDateTime": "2020-08-10T06:44:09Z",
      "aaGuid": "2fc0579f-8113-47ea-b116-555a8db9202a",
      "model": "NFC key",
      "attestationCertificates": [
          "dbe793efdf1945e2df25d93653a1e8a3268a9075"
      ],
      "attestationLevel": "attested"
    },
    {
      "id": "_jpuR-TGZgk6aQCLF3BQjA2",
      "displayName": "Blue key",
      "creationDateTime": "2020-08-10T06:25:38Z",
      "aaGuid": "c5ef55ff-ad9a-4b9f-b580-ababafe026d0",
      "model": "USB key",
      "attestationCertificates": [
          "b479e7652167f574296e76bfa76731b8ccd22ed7"
      ],
      "attestationLevel": "attested"
    }
  ]
}`

// softwareOathListBody is the example of authentication-list-softwareoathmethods.md.
const softwareOathListBody = `{
  "value": [
    {
      "@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod",
      "id": "b172893e-893e-b172-3e89-72b13e8972b1",
      "secretKey": null
    }
  ]
}`

// phoneListBody is the example of authentication-list-phonemethods.md.
const phoneListBody = `{
  "value": [
    {
      "phoneNumber": "+1 2065555555",
      "phoneType": "mobile",
      "smsSignInState": "ready",
      "id": "3179e48a-750b-4051-897c-87b9720928f7"
    },
    {
      "phoneNumber": "+1 2065555556",
      "phoneType": "alternateMobile",
      "smsSignInState": "notSupported",
      "id": "b6332ec1-7057-4abe-9331-3d72feddfe41"
    },
    {
      "phoneNumber": "+1 2065555557",
      "phoneType": "office",
      "smsSignInState": "notSupported",
      "id": "e37fc753-ff3b-4958-9484-eaa9425c82bc"
    }
  ]
}`

// tapListBody is the example of authentication-list-temporaryaccesspassmethods.md.
const tapListBody = `{
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('071cc716-8147-4397-a5ba-b2105951cc0b')/authentication/temporaryAccessPassMethods",
     "value": [
        {
            "id": "bdaede67-61e0-4349-9347-d2d6afd84009",
            "temporaryAccessPass": null,
            "createdDateTime": "2022-06-06T16:43:04.6438213Z",
            "startDateTime": "2022-06-06T16:48:03.027Z",
            "lifetimeInMinutes": 60,
            "isUsableOnce": false,
            "isUsable": false,
            "methodUsabilityReason": "NotYetValid"
        }
    ]
}`

const authP = "/v1.0/users/" + userID + "/authentication/"

func TestListFido2Methods(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	var calls atomic.Int32
	mux.HandleFunc(authP+"fido2Methods", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		noAuth(t, r)
		if calls.Add(1) == 1 {
			if r.URL.RawQuery != "" {
				t.Errorf("query = %q, want none (the API supports no query parameters)", r.URL.RawQuery)
			}
			// The docs' page, with a nextLink added, then a second page
			// holding an Authenticator passkey as the resource type
			// describes it (createdDateTime).
			next := "http://" + r.Host + authP + "fido2Methods?$skiptoken=page2"
			writeJSON(w, http.StatusOK, `{"@odata.nextLink":"`+next+`",`+strings.TrimPrefix(fido2ListBody, "{"))
			return
		}
		if got := r.URL.Query().Get("$skiptoken"); got != "page2" {
			t.Errorf("$skiptoken = %q, want page2", got)
		}
		writeJSON(w, http.StatusOK, `{"value":[{
			"@odata.type": "#microsoft.graph.fido2AuthenticationMethod",
			"id": "pk-ios-1",
			"displayName": "iPhone 15 の Authenticator",
			"createdDateTime": "2025-11-02T08:15:00Z",
			"aaGuid": "90A3CCDF-635C-4729-A248-9B709135078F",
			"model": "Microsoft Authenticator - iOS",
			"attestationCertificates": [],
			"attestationLevel": "attested"
		}]}`)
	})

	got, err := c.ListFido2Methods(context.Background(), userID)
	if err != nil {
		t.Fatalf("ListFido2Methods: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (two pages)", n)
	}
	if len(got) != 3 {
		t.Fatalf("got %d passkeys, want 3: %+v", len(got), got)
	}
	red := time.Date(2020, 8, 10, 6, 44, 9, 0, time.UTC)
	if g := got[0]; g.ID != "-2_GRUg2-HYz6_1YG4YRAQ2" || g.DisplayName != "Red key" || g.AAGUID != "2fc0579f-8113-47ea-b116-555a8db9202a" ||
		g.Model != "NFC key" || g.Created == nil || !g.Created.Equal(red) {
		t.Errorf("passkey 0 = %+v (created %v), want Red key created %v", g, g.Created, red)
	}
	if got[1].ID != "_jpuR-TGZgk6aQCLF3BQjA2" || got[1].AAGUID != "c5ef55ff-ad9a-4b9f-b580-ababafe026d0" || got[1].Model != "USB key" {
		t.Errorf("passkey 1 = %+v, want the docs' Blue key", got[1])
	}
	pk := got[2]
	created := time.Date(2025, 11, 2, 8, 15, 0, 0, time.UTC)
	if pk.ID != "pk-ios-1" || pk.DisplayName != "iPhone 15 の Authenticator" || pk.Created == nil || !pk.Created.Equal(created) {
		t.Errorf("passkey 2 = %+v (created %v)", pk, pk.Created)
	}
	for i, m := range got {
		if want := i == 2; graph.IsAuthenticatorPasskey(m.AAGUID) != want {
			t.Errorf("passkey %d (%s): IsAuthenticatorPasskey = %t, want %t", i, m.AAGUID, !want, want)
		}
	}
}

func TestIsAuthenticatorPasskey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		aaguid string
		want   bool
	}{
		{graph.AuthenticatorAndroidAAGUID, true},
		{graph.AuthenticatorIOSAAGUID, true},
		{"de1e552d-db1d-4423-a619-566b625cdc84", true},
		{"DE1E552D-DB1D-4423-A619-566B625CDC84", true},
		{"90a3ccdf-635c-4729-a248-9b709135078f", true},
		{"90A3CCDF-635c-4729-a248-9b709135078F", true},
		{"2fc0579f-8113-47ea-b116-555a8db9202a", false}, // the docs' NFC key
		{"90a3ccdf-635c-4729-a248-9b709135078", false},
		{"{90a3ccdf-635c-4729-a248-9b709135078f}", false},
		{"", false},
	} {
		if got := graph.IsAuthenticatorPasskey(tc.aaguid); got != tc.want {
			t.Errorf("IsAuthenticatorPasskey(%q) = %t, want %t", tc.aaguid, got, tc.want)
		}
	}
}

func TestListSoftwareOathMethods(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc(authP+"softwareOathMethods", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		noAuth(t, r)
		writeJSON(w, http.StatusOK, softwareOathListBody)
	})
	got, err := c.ListSoftwareOathMethods(context.Background(), userID)
	if err != nil {
		t.Fatalf("ListSoftwareOathMethods: %v", err)
	}
	want := []graph.SoftwareOathMethod{{ID: "b172893e-893e-b172-3e89-72b13e8972b1"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestListPhoneMethods(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc(authP+"phoneMethods", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		noAuth(t, r)
		writeJSON(w, http.StatusOK, phoneListBody)
	})
	got, err := c.ListPhoneMethods(context.Background(), userID)
	if err != nil {
		t.Fatalf("ListPhoneMethods: %v", err)
	}
	want := []graph.PhoneMethod{
		{ID: "3179e48a-750b-4051-897c-87b9720928f7", PhoneNumber: "+1 2065555555", PhoneType: "mobile"},
		{ID: "b6332ec1-7057-4abe-9331-3d72feddfe41", PhoneNumber: "+1 2065555556", PhoneType: "alternateMobile"},
		{ID: "e37fc753-ff3b-4958-9484-eaa9425c82bc", PhoneNumber: "+1 2065555557", PhoneType: "office"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestListTemporaryAccessPassMethods(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	const tapUser = "071cc716-8147-4397-a5ba-b2105951cc0b"
	mux.HandleFunc("/v1.0/users/"+tapUser+"/authentication/temporaryAccessPassMethods", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		noAuth(t, r)
		writeJSON(w, http.StatusOK, tapListBody)
	})
	got, err := c.ListTemporaryAccessPassMethods(context.Background(), tapUser)
	if err != nil {
		t.Fatalf("ListTemporaryAccessPassMethods: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d passes, want 1: %+v", len(got), got)
	}
	m := got[0]
	created := time.Date(2022, 6, 6, 16, 43, 4, 643821300, time.UTC)
	start := time.Date(2022, 6, 6, 16, 48, 3, 27000000, time.UTC)
	if m.ID != "bdaede67-61e0-4349-9347-d2d6afd84009" || m.LifetimeMinutes != 60 || m.UsableOnce || m.Usable ||
		m.Created == nil || !m.Created.Equal(created) || m.Start == nil || !m.Start.Equal(start) {
		t.Errorf("pass = %+v (created %v, start %v), want the docs' example", m, m.Created, m.Start)
	}
}

// A listed pass carries no secret even if Graph sent one: the type has no
// field for it.
func TestListTemporaryAccessPassMethodsDropsThePass(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc(authP+"temporaryAccessPassMethods", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"value":[{"id":"t1","temporaryAccessPass":"`+thePass+`","lifetimeInMinutes":60,"isUsableOnce":true,"isUsable":true}]}`)
	})
	got, err := c.ListTemporaryAccessPassMethods(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "t1" || !got[0].UsableOnce || !got[0].Usable || got[0].Start != nil {
		t.Errorf("got %+v", got)
	}
	if s := fmt.Sprintf("%+v %#v", got, got); strings.Contains(s, thePass) {
		t.Errorf("pass in the listed method: %s", s)
	}
}

// newMethodCall is one of the calls this file adds, with what Graph should
// see of it and answer.
type newMethodCall struct {
	op     string
	perm   string
	method string // HTTP method Graph should see
	path   string // path Graph should see
	status int    // Graph's success status
	body   string // and body ("" for 204)
	call   func(*graph.Client, context.Context) error
	list   func(*graph.Client, context.Context) ([]string, error) // the IDs, for list calls
}

func newMethodCalls() []newMethodCall {
	listed := func(ids []string, err error) error { return err }
	fido2 := func(c *graph.Client, ctx context.Context) ([]string, error) {
		ms, err := c.ListFido2Methods(ctx, userID)
		return idsOf(ms, func(m graph.Fido2Method) string { return m.ID }), err
	}
	oath := func(c *graph.Client, ctx context.Context) ([]string, error) {
		ms, err := c.ListSoftwareOathMethods(ctx, userID)
		return idsOf(ms, func(m graph.SoftwareOathMethod) string { return m.ID }), err
	}
	phone := func(c *graph.Client, ctx context.Context) ([]string, error) {
		ms, err := c.ListPhoneMethods(ctx, userID)
		return idsOf(ms, func(m graph.PhoneMethod) string { return m.ID }), err
	}
	tap := func(c *graph.Client, ctx context.Context) ([]string, error) {
		ms, err := c.ListTemporaryAccessPassMethods(ctx, userID)
		return idsOf(ms, func(m graph.TemporaryAccessPassMethod) string { return m.ID }), err
	}
	asCall := func(l func(*graph.Client, context.Context) ([]string, error)) func(*graph.Client, context.Context) error {
		return func(c *graph.Client, ctx context.Context) error { return listed(l(c, ctx)) }
	}
	return []newMethodCall{
		{op: graph.OpListFido2Methods, perm: "UserAuthMethod-Passkey.Read.All",
			method: http.MethodGet, path: authP + "fido2Methods", status: http.StatusOK, body: fido2ListBody,
			call: asCall(fido2), list: fido2},
		{op: graph.OpDeleteFido2Method, perm: "UserAuthMethod-Passkey.ReadWrite.All",
			method: http.MethodDelete, path: authP + "fido2Methods/-2_GRUg2-HYz6_1YG4YRAQ2", status: http.StatusNoContent,
			call: func(c *graph.Client, ctx context.Context) error {
				return c.DeleteFido2Method(ctx, userID, "-2_GRUg2-HYz6_1YG4YRAQ2")
			}},
		{op: graph.OpListSoftwareOathMethods, perm: "UserAuthMethod-SoftwareOATH.Read.All",
			method: http.MethodGet, path: authP + "softwareOathMethods", status: http.StatusOK, body: softwareOathListBody,
			call: asCall(oath), list: oath},
		{op: graph.OpDeleteSoftwareOathMethod, perm: "UserAuthMethod-SoftwareOATH.ReadWrite.All",
			method: http.MethodDelete, path: authP + "softwareOathMethods/b172893e-893e-b172-3e89-72b13e8972b1", status: http.StatusNoContent,
			call: func(c *graph.Client, ctx context.Context) error {
				return c.DeleteSoftwareOathMethod(ctx, userID, "b172893e-893e-b172-3e89-72b13e8972b1")
			}},
		{op: graph.OpListPhoneMethods, perm: "UserAuthMethod-Phone.Read.All",
			method: http.MethodGet, path: authP + "phoneMethods", status: http.StatusOK, body: phoneListBody,
			call: asCall(phone), list: phone},
		{op: graph.OpListTemporaryAccessPassMethods, perm: "UserAuthMethod-TAP.Read.All",
			method: http.MethodGet, path: authP + "temporaryAccessPassMethods", status: http.StatusOK, body: tapListBody,
			call: asCall(tap), list: tap},
		{op: graph.OpDeleteTemporaryAccessPassMethod, perm: "UserAuthMethod-TAP.ReadWrite.All",
			method: http.MethodDelete, path: authP + "temporaryAccessPassMethods/bdaede67-61e0-4349-9347-d2d6afd84009", status: http.StatusNoContent,
			call: func(c *graph.Client, ctx context.Context) error {
				return c.DeleteTemporaryAccessPassMethod(ctx, userID, "bdaede67-61e0-4349-9347-d2d6afd84009")
			}},
	}
}

func idsOf[T any](ms []T, id func(T) string) []string {
	var out []string
	for _, m := range ms {
		out = append(out, id(m))
	}
	return out
}

// answer registers h at tc's path and fails the test if Graph would have
// seen another method there.
func (tc newMethodCall) answer(t *testing.T, mux *http.ServeMux, h http.HandlerFunc) {
	mux.HandleFunc(tc.path, func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, tc.method)
		noAuth(t, r)
		h(w, r)
	})
}

func (tc newMethodCall) ok(w http.ResponseWriter) {
	if tc.status == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, tc.status, tc.body)
}

func TestNewMethodCallsSucceed(t *testing.T) {
	t.Parallel()
	for _, tc := range newMethodCalls() {
		t.Run(tc.op, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			var seen atomic.Int32
			tc.answer(t, mux, func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				tc.ok(w)
			})
			if err := tc.call(c, context.Background()); err != nil {
				t.Fatalf("%s: %v", tc.op, err)
			}
			if seen.Load() != 1 {
				t.Errorf("%s sent %d requests to %s %s, want 1", tc.op, seen.Load(), tc.method, tc.path)
			}
		})
	}
}

// Every list call follows @odata.nextLink.
func TestNewListCallsFollowNextLink(t *testing.T) {
	t.Parallel()
	for _, tc := range newMethodCalls() {
		if tc.list == nil {
			continue
		}
		t.Run(tc.op, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			var calls atomic.Int32
			tc.answer(t, mux, func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					next := "http://" + r.Host + tc.path + "?$skiptoken=p2"
					writeJSON(w, http.StatusOK, `{"@odata.nextLink":"`+next+`","value":[{"id":"a"}]}`)
					return
				}
				if got := r.URL.Query().Get("$skiptoken"); got != "p2" {
					t.Errorf("$skiptoken = %q, want p2", got)
				}
				writeJSON(w, http.StatusOK, `{"value":[{"id":"b"},null]}`)
			})
			ids, err := tc.list(c, context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, []string{"a", "b"}) {
				t.Errorf("IDs = %q, want [a b]", ids)
			}
		})
	}
}

// A nextLink chain longer than the package's bound ends with an error
// rather than a loop.
func TestListStopsAfterMaxPages(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	var calls atomic.Int32
	mux.HandleFunc(authP+"fido2Methods", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		next := "http://" + r.Host + authP + "fido2Methods?$skiptoken=again"
		writeJSON(w, http.StatusOK, `{"@odata.nextLink":"`+next+`","value":[{"id":"x"}]}`)
	})
	ms, err := c.ListFido2Methods(context.Background(), userID)
	e := asError(t, err)
	if e.Kind != graph.KindOther || e.Op != graph.OpListFido2Methods || ms != nil {
		t.Errorf("%+v, %d methods; want KindOther and none", e, len(ms))
	}
	if n := calls.Load(); n != 20 {
		t.Errorf("%d pages read, want 20", n)
	}
}

func TestNewMethodCallsForbiddenNamePermission(t *testing.T) {
	t.Parallel()
	for _, tc := range newMethodCalls() {
		t.Run(tc.op, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			tc.answer(t, mux, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusForbidden, forbiddenBody)
			})
			err := tc.call(c, context.Background())
			if !graph.IsForbidden(err) {
				t.Fatalf("err = %v, want forbidden", err)
			}
			e := asError(t, err)
			if e.Op != tc.op || e.Status != http.StatusForbidden || e.Code != "Authorization_RequestDenied" ||
				e.RequestID != "3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b" {
				t.Errorf("%+v", e)
			}
			if e.Permission() != tc.perm || graph.RequiredPermission(tc.op) != tc.perm {
				t.Errorf("Permission() = %q, RequiredPermission = %q, want %q",
					e.Permission(), graph.RequiredPermission(tc.op), tc.perm)
			}
			if msg := e.Error(); !strings.Contains(msg, "needs application permission "+tc.perm) ||
				!strings.Contains(msg, tc.op) || !strings.Contains(msg, "Insufficient privileges") {
				t.Errorf("Error() = %q, want the op, Graph's message and the permission", msg)
			}
		})
	}
}

func TestNewMethodCallsRetryThrottled(t *testing.T) {
	t.Parallel()
	for _, tc := range newMethodCalls() {
		t.Run(tc.op, func(t *testing.T) {
			t.Parallel()
			s := &recordSleep{}
			c, mux := setup(t, graph.WithSleep(s.sleep))
			var calls atomic.Int32
			tc.answer(t, mux, func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					w.Header().Set("Retry-After", "2")
					writeJSON(w, http.StatusTooManyRequests, throttledBody)
					return
				}
				tc.ok(w)
			})
			if err := tc.call(c, context.Background()); err != nil {
				t.Fatalf("after one 429: %v", err)
			}
			if n := calls.Load(); n != 2 {
				t.Errorf("%d requests, want 2 (one retry)", n)
			}
			if w := s.get(); len(w) != 1 || w[0] != 2*time.Second {
				t.Errorf("waits = %v, want [2s] (the Retry-After)", w)
			}
		})
	}
}

func TestNewDeleteCallsNotFound(t *testing.T) {
	t.Parallel()
	for _, tc := range newMethodCalls() {
		if tc.method != http.MethodDelete {
			continue
		}
		t.Run(tc.op, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			tc.answer(t, mux, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusNotFound, notFoundBody)
			})
			err := tc.call(c, context.Background())
			if !graph.IsNotFound(err) || graph.IsForbidden(err) {
				t.Fatalf("err = %v, want not found", err)
			}
			if e := asError(t, err); e.Op != tc.op || e.Code != "Request_ResourceNotFound" || e.Permission() != "" {
				t.Errorf("%+v", e)
			}
		})
	}
}

func TestNewMethodCallsInvalidArguments(t *testing.T) {
	t.Parallel()
	c, _ := setup(t) // any request fails the test: none is registered
	ctx := context.Background()
	_, err1 := c.ListFido2Methods(ctx, "")
	err2 := c.DeleteFido2Method(ctx, userID, "")
	_, err3 := c.ListSoftwareOathMethods(ctx, "")
	err4 := c.DeleteSoftwareOathMethod(ctx, "", "m1")
	_, err5 := c.ListPhoneMethods(ctx, "")
	_, err6 := c.ListTemporaryAccessPassMethods(ctx, "")
	err7 := c.DeleteTemporaryAccessPassMethod(ctx, userID, "")
	for i, err := range []error{err1, err2, err3, err4, err5, err6, err7} {
		if err == nil {
			t.Errorf("case %d: no error", i+1)
			continue
		}
		if e := asError(t, err); e.Kind != graph.KindOther || e.Status != 0 {
			t.Errorf("case %d: %+v, want KindOther without status", i+1, e)
		}
	}
}

func TestObserverToldOfNewMethodCalls(t *testing.T) {
	t.Parallel()
	obs := &recordingObserver{}
	c, mux := setup(t, graph.WithObserver(obs))
	var want []string
	for _, tc := range newMethodCalls() {
		tc.answer(t, mux, func(w http.ResponseWriter, r *http.Request) { tc.ok(w) })
		want = append(want, fmt.Sprintf("%s %d", tc.op, tc.status))
	}
	for _, tc := range newMethodCalls() {
		if err := tc.call(c, context.Background()); err != nil {
			t.Fatalf("%s: %v", tc.op, err)
		}
	}
	if got := obs.got(); !slices.Equal(got, want) {
		t.Errorf("observed %q, want %q", got, want)
	}
}
