package sandbox

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Graph's OData types and well-known ids.
const (
	authenticatorType = "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"
	passwordType      = "#microsoft.graph.passwordAuthenticationMethod"
	tapType           = "#microsoft.graph.temporaryAccessPassAuthenticationMethod"
	fido2Type         = "#microsoft.graph.fido2AuthenticationMethod"
	softwareOathType  = "#microsoft.graph.softwareOathAuthenticationMethod"
	phoneType         = "#microsoft.graph.phoneAuthenticationMethod"
	// passwordMethodID is the fixed id Graph gives every password method.
	passwordMethodID = "28c10230-6103-485e-b985-444c60001490"

	graphContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)

// authenticatorJSON is a microsoftAuthenticatorAuthenticationMethod.
type authenticatorJSON struct {
	ODataContext    string  `json:"@odata.context,omitempty"`
	ODataType       string  `json:"@odata.type"`
	ID              string  `json:"id"`
	DisplayName     string  `json:"displayName"`
	DeviceTag       string  `json:"deviceTag"`
	PhoneAppVersion string  `json:"phoneAppVersion"`
	CreatedDateTime *string `json:"createdDateTime"`
}

// tapJSON is a temporaryAccessPassAuthenticationMethod.
type tapJSON struct {
	ODataContext          string  `json:"@odata.context,omitempty"`
	ODataType             string  `json:"@odata.type"`
	ID                    string  `json:"id"`
	TemporaryAccessPass   *string `json:"temporaryAccessPass"`
	CreatedDateTime       string  `json:"createdDateTime"`
	StartDateTime         string  `json:"startDateTime"`
	LifetimeInMinutes     int     `json:"lifetimeInMinutes"`
	IsUsableOnce          bool    `json:"isUsableOnce"`
	IsUsable              bool    `json:"isUsable"`
	MethodUsabilityReason string  `json:"methodUsabilityReason"`
}

// fido2JSON is a fido2AuthenticationMethod.
type fido2JSON struct {
	ODataContext            string   `json:"@odata.context,omitempty"`
	ODataType               string   `json:"@odata.type"`
	ID                      string   `json:"id"`
	DisplayName             string   `json:"displayName"`
	CreatedDateTime         string   `json:"createdDateTime"`
	AAGUID                  string   `json:"aaGuid"`
	Model                   string   `json:"model"`
	AttestationCertificates []string `json:"attestationCertificates"`
	AttestationLevel        string   `json:"attestationLevel"`
}

// softwareOathJSON is a softwareOathAuthenticationMethod: v1.0 shows only
// its id (secretKey is always null).
type softwareOathJSON struct {
	ODataContext string  `json:"@odata.context,omitempty"`
	ODataType    string  `json:"@odata.type"`
	ID           string  `json:"id"`
	SecretKey    *string `json:"secretKey"`
}

// phoneJSON is a phoneAuthenticationMethod.
type phoneJSON struct {
	ODataContext   string `json:"@odata.context,omitempty"`
	ODataType      string `json:"@odata.type"`
	ID             string `json:"id"`
	PhoneNumber    string `json:"phoneNumber"`
	PhoneType      string `json:"phoneType"`
	SMSSignInState string `json:"smsSignInState"`
}

// collectionJSON is a page of a Graph collection, its annotations in
// Graph's order.
type collectionJSON struct {
	ODataContext  string `json:"@odata.context"`
	ODataCount    *int   `json:"@odata.count,omitempty"`
	ODataNextLink string `json:"@odata.nextLink,omitempty"`
	Value         []any  `json:"value"`
}

type graphErrorJSON struct {
	Error graphErrorBody `json:"error"`
}

type graphErrorBody struct {
	Code       string         `json:"code"`
	Message    string         `json:"message"`
	InnerError innerErrorJSON `json:"innerError"`
}

type innerErrorJSON struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// graphCall is one request to the Graph endpoints.
type graphCall struct {
	s               *Sandbox
	w               http.ResponseWriter
	r               *http.Request
	prefix          string // BasePath+"/graph/v1.0"
	batched         bool   // one request of a $batch
	requestID       string
	clientRequestID string
	origin          string // "<scheme>://<host>"
	metadata        string // base of @odata.context: "<origin><base>/graph/v1.0/$metadata#"
}

// serveGraph answers a request under prefix (BasePath+"/graph/v1.0"), made
// at the top level or, when batched, inside a $batch: first the throttle,
// then the current fault, if one applies to the call's kind, then the
// endpoint. The top-level POST /$batch is not throttled and takes no token:
// Graph throttles the requests of a batch one by one, and so does the
// sandbox.
func (s *Sandbox) serveGraph(w http.ResponseWriter, r *http.Request, prefix string, batched bool) {
	c := &graphCall{s: s, w: w, r: r, prefix: prefix, batched: batched, requestID: newGUID()}
	c.clientRequestID = r.Header.Get("client-request-id")
	if c.clientRequestID == "" {
		c.clientRequestID = c.requestID
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	c.origin = scheme + "://" + r.Host
	c.metadata = c.origin + prefix + "/$metadata#"
	w.Header().Set("request-id", c.requestID)
	w.Header().Set("client-request-id", c.clientRequestID)

	// Split the escaped path so that an id holding "%2F" stays one segment.
	rest := strings.TrimPrefix(r.URL.EscapedPath(), escapedPrefix(prefix))
	var seg []string
	badPath := false
	for _, p := range strings.Split(strings.Trim(rest, "/"), "/") {
		u, err := url.PathUnescape(p)
		badPath = badPath || err != nil
		seg = append(seg, u)
	}

	if batched {
		s.stats.batchRequests.Add(1)
	} else {
		s.stats.requests.Add(1)
	}
	if batched || len(seg) != 1 || seg[0] != "$batch" {
		if wait, ok := s.takeToken(); !ok {
			if batched {
				s.stats.batchThrottled.Add(1)
			} else {
				s.stats.throttled.Add(1)
			}
			c.throttled(wait)
			return
		}
	}

	if f, ok := s.takeFault(callKind(seg)); ok {
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if f.Status != 0 {
			c.fault(f)
			return
		}
	}

	if badPath {
		c.notFound()
		return
	}
	c.route(seg)
}

// callKind names the kind of Graph call the path segments after /graph/v1.0
// address, as Fault.Only does: the collection after
// /users/{id}/authentication/, else the segment after /users/{id}/ or
// /groups/{id}/ ("teamwork", "transitiveMembers"), else the first segment
// ("users" for GET /users and GET /users/{id}, "$batch").
func callKind(seg []string) string {
	switch {
	case len(seg) <= 2:
		return seg[0]
	case seg[0] == "users" && len(seg) >= 4 && seg[2] == "authentication":
		return seg[3]
	default:
		return seg[2]
	}
}

func escapedPrefix(prefix string) string {
	return (&url.URL{Path: prefix}).EscapedPath()
}

// route dispatches on the path segments after /graph/v1.0.
func (c *graphCall) route(seg []string) {
	switch {
	case len(seg) == 1 && seg[0] == "$batch":
		if c.allow(http.MethodPost) {
			c.batch()
		}
	case len(seg) == 1 && seg[0] == "users":
		if c.allow(http.MethodGet) {
			c.listUsers()
		}
	case len(seg) == 4 && seg[0] == "groups" && seg[2] == "transitiveMembers" && seg[3] == "microsoft.graph.user":
		if c.allow(http.MethodGet) {
			c.listGroupUsers(seg[1])
		}
	case len(seg) >= 2 && seg[0] == "users":
		c.routeUser(seg[1], seg[2:])
	default:
		c.notFound()
	}
}

// routeUser dispatches a call to /users/{id}, where rest is what follows.
func (c *graphCall) routeUser(id string, rest []string) {
	switch {
	case len(rest) == 0:
		if c.allow(http.MethodGet) {
			c.getUser(id)
		}
	case len(rest) == 1 && rest[0] == "revokeSignInSessions":
		if c.allow(http.MethodPost) {
			c.revokeSignInSessions(id)
		}
	case len(rest) == 2 && rest[0] == "teamwork" && rest[1] == "installedApps":
		if c.allow(http.MethodPost) {
			c.installApp(id)
		}
	case len(rest) >= 2 && rest[0] == "authentication":
		c.routeMethods(id, rest[1], rest[2:])
	default:
		c.notFound()
	}
}

// routeMethods dispatches a call to /users/{id}/authentication/{name},
// where rest is what follows: nothing (the collection) or a method id.
func (c *graphCall) routeMethods(id, name string, rest []string) {
	coll, ok := methodCollections[name]
	if !ok || len(rest) > 1 || (len(rest) == 1 && coll.item == nil) {
		c.notFound()
		return
	}
	if len(rest) == 0 {
		allowed := []string{http.MethodGet}
		if coll.create != nil {
			allowed = append(allowed, http.MethodPost)
		}
		if !c.allow(allowed...) {
			return
		}
		if c.r.Method == http.MethodPost {
			coll.create(c, id)
			return
		}
		c.listMethods(id, name, coll)
		return
	}
	allowed := []string{http.MethodGet}
	if coll.delete != nil {
		allowed = append(allowed, http.MethodDelete)
	}
	if !c.allow(allowed...) {
		return
	}
	if c.r.Method == http.MethodDelete {
		c.deleteMethod(id, rest[0], coll)
		return
	}
	c.getMethod(id, name, rest[0], coll)
}

// allow reports whether the request's method is one of methods, answering
// 405 when it is not.
func (c *graphCall) allow(methods ...string) bool {
	for _, m := range methods {
		if c.r.Method == m {
			return true
		}
	}
	c.w.Header().Set("Allow", strings.Join(methods, ", "))
	c.error(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")
	return false
}

// user looks the user up to change them (creating them on first sight, or
// materialising a synthetic user; see userLocked) and calls fn with s.mu
// held; an id that is neither an object id nor a UPN gets Graph's 404.
func (c *graphCall) user(id string, fn func(u *user)) bool {
	return c.userFrom(c.s.userLocked, id, fn)
}

// readUser is user for a call that changes nothing: a synthetic user is
// derived, not stored (see readUserLocked).
func (c *graphCall) readUser(id string, fn func(u *user)) bool {
	return c.userFrom(c.s.readUserLocked, id, fn)
}

// userFrom looks the user up with lookup, with s.mu held, for user and
// readUser.
func (c *graphCall) userFrom(lookup func(string) *user, id string, fn func(u *user)) bool {
	c.s.mu.Lock()
	u := lookup(id)
	if u != nil {
		fn(u)
	}
	c.s.mu.Unlock()
	if u == nil {
		c.error(http.StatusNotFound, "Request_ResourceNotFound",
			"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
	}
	return u != nil
}

// getUser: GET /users/{id}, with an optional $select. Properties the sandbox
// does not know are left out instead of failing the call.
//
// Graph API docs: https://learn.microsoft.com/graph/api/user-get?view=graph-rest-1.0
func (c *graphCall) getUser(id string) {
	var p profile
	if !c.readUser(id, func(u *user) { p = u.profile }) {
		return
	}
	var out map[string]any
	if sel := c.r.URL.Query().Get("$select"); sel == "" {
		out = userObject(p, userProps)
		out["@odata.context"] = c.metadata + "users/$entity"
	} else {
		names := selectProps(sel)
		out = userObject(p, names)
		out["@odata.context"] = c.metadata + "users(" + strings.Join(names, ",") + ")/$entity"
	}
	c.json(http.StatusOK, out)
}

// methodCollection is one collection of authentication methods under
// /users/{id}/authentication/.
type methodCollection struct {
	// entity is Graph's entity type name, for 404 bodies.
	entity string
	// list returns the user's methods in the collection, in order.
	list func(c *graphCall, u *user) []any
	// item finds one method by id; nil: the collection has no /{mid}.
	item func(c *graphCall, u *user, mid string) (entityJSON, bool)
	// delete removes one method and reports whether it existed; nil: no
	// DELETE.
	delete func(u *user, mid string) bool
	// create answers a POST to the collection; nil: no POST.
	create func(c *graphCall, id string)
}

// entityJSON is a single method's body, whose @odata.context the caller sets.
type entityJSON interface{ setContext(string) }

func (a *authenticatorJSON) setContext(s string) { a.ODataContext = s }
func (f *fido2JSON) setContext(s string)         { f.ODataContext = s }
func (o *softwareOathJSON) setContext(s string)  { o.ODataContext = s }
func (t *tapJSON) setContext(s string)           { t.ODataContext = s }

// methodCollections are the collections the sandbox serves, by name.
//
// Graph API docs:
//   - https://learn.microsoft.com/graph/api/authentication-list-methods?view=graph-rest-1.0
//   - https://learn.microsoft.com/graph/api/microsoftauthenticatorauthenticationmethod-list?view=graph-rest-1.0 (-get, -delete)
//   - https://learn.microsoft.com/graph/api/fido2authenticationmethod-list?view=graph-rest-1.0 (-get, -delete)
//   - https://learn.microsoft.com/graph/api/authentication-list-softwareoathmethods?view=graph-rest-1.0,
//     https://learn.microsoft.com/graph/api/softwareoathauthenticationmethod-get?view=graph-rest-1.0 (-delete)
//   - https://learn.microsoft.com/graph/api/authentication-list-phonemethods?view=graph-rest-1.0
//   - https://learn.microsoft.com/graph/api/authentication-list-temporaryaccesspassmethods?view=graph-rest-1.0,
//     https://learn.microsoft.com/graph/api/temporaryaccesspassauthenticationmethod-get?view=graph-rest-1.0 (-delete)
var methodCollections = map[string]methodCollection{
	"methods": {list: allMethodItems},
	"microsoftAuthenticatorMethods": {
		entity: "microsoftAuthenticatorAuthenticationMethod",
		list:   authenticatorItems,
		item:   authenticatorItem,
		delete: (*user).deleteMethod,
	},
	"fido2Methods": {
		entity: "fido2AuthenticationMethod",
		list:   fido2Items,
		item:   fido2Item,
		delete: (*user).deletePasskey,
	},
	"softwareOathMethods": {
		entity: "softwareOathAuthenticationMethod",
		list:   softwareOathItems,
		item:   softwareOathItem,
		delete: (*user).deleteSoftwareOath,
	},
	"phoneMethods": {list: phoneItems},
	"temporaryAccessPassMethods": {
		entity: "temporaryAccessPassAuthenticationMethod",
		list:   tapItems,
		item:   tapItem,
		delete: (*user).deleteTAP,
		create: (*graphCall).createTAP,
	},
}

// listMethods: GET /users/{id}/authentication/{name} → 200 {"value":[…]}.
func (c *graphCall) listMethods(id, name string, coll methodCollection) {
	var value []any
	if !c.readUser(id, func(u *user) { value = coll.list(c, u) }) {
		return
	}
	if value == nil {
		value = []any{}
	}
	c.json(http.StatusOK, collectionJSON{
		ODataContext: c.metadata + "users('" + odataQuote(id) + "')/authentication/" + name,
		Value:        value,
	})
}

// getMethod: GET /users/{id}/authentication/{name}/{mid}. The answer is the
// entity itself, as Graph (and msgraph-sdk-go) have it; the docs' sample for
// Authenticator wraps it in "value", which real responses do not.
func (c *graphCall) getMethod(id, name, mid string, coll methodCollection) {
	var e entityJSON
	var found bool
	if !c.readUser(id, func(u *user) { e, found = coll.item(c, u, mid) }) {
		return
	}
	if !found {
		c.methodNotFound(coll.entity, mid)
		return
	}
	e.setContext(c.metadata + "users('" + odataQuote(id) + "')/authentication/" + name + "/$entity")
	c.json(http.StatusOK, e)
}

// deleteMethod: DELETE /users/{id}/authentication/{name}/{mid} → 204.
func (c *graphCall) deleteMethod(id, mid string, coll methodCollection) {
	var found bool
	if !c.user(id, func(u *user) { found = coll.delete(u, mid) }) {
		return
	}
	if !found {
		c.methodNotFound(coll.entity, mid)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// allMethodItems: every method of the user, each with its @odata.type:
// the password, phones, Authenticators, passkeys, other authenticator apps
// and the Temporary Access Pass, if any.
func allMethodItems(c *graphCall, u *user) []any {
	value := []any{map[string]any{
		"@odata.type":     passwordType,
		"id":              passwordMethodID,
		"password":        nil,
		"createdDateTime": u.created.Add(-21 * 24 * time.Hour).Format(time.RFC3339),
	}}
	for _, list := range []func(*graphCall, *user) []any{phoneItems, authenticatorItems, fido2Items, softwareOathItems, tapItems} {
		value = append(value, list(c, u)...)
	}
	return value
}

// items is a listing's value: each of xs as Graph shows it.
func items[T, J any](xs []T, show func(T) J) []any {
	value := make([]any, 0, len(xs))
	for _, x := range xs {
		value = append(value, show(x))
	}
	return value
}

func authenticatorItems(_ *graphCall, u *user) []any { return items(u.methods, authenticatorOf) }

func authenticatorItem(_ *graphCall, u *user, mid string) (entityJSON, bool) {
	m, ok := u.findMethod(mid)
	a := authenticatorOf(m)
	return &a, ok
}

func fido2Items(_ *graphCall, u *user) []any { return items(u.passkeys, fido2Of) }

func fido2Item(_ *graphCall, u *user, mid string) (entityJSON, bool) {
	p, ok := u.findPasskey(mid)
	f := fido2Of(p)
	return &f, ok
}

func softwareOathItems(_ *graphCall, u *user) []any {
	return items(u.softwareOath, func(id string) softwareOathJSON { return softwareOathJSON{ODataType: softwareOathType, ID: id} })
}

func softwareOathItem(_ *graphCall, u *user, mid string) (entityJSON, bool) {
	id, ok := u.findSoftwareOath(mid)
	return &softwareOathJSON{ODataType: softwareOathType, ID: id}, ok
}

// phoneItems: the user's phones. SMS sign-in is left to the tenant's policy
// on the mobile phone and is not supported on the others.
func phoneItems(_ *graphCall, u *user) []any {
	value := make([]any, 0, len(u.phones))
	for _, p := range u.phones {
		state := "notSupported"
		if p.PhoneType == "mobile" {
			state = "notAllowedByPolicy"
		}
		value = append(value, phoneJSON{ODataType: phoneType, ID: p.ID, PhoneNumber: p.PhoneNumber, PhoneType: p.PhoneType, SMSSignInState: state})
	}
	return value
}

// tapItems: the user's one Temporary Access Pass, if any, with its pass
// hidden (null) as Graph shows it after creation.
func tapItems(c *graphCall, u *user) []any {
	if u.tap == nil {
		return []any{}
	}
	t := c.tapOf(u.tap)
	t.TemporaryAccessPass = nil
	return []any{t}
}

func tapItem(c *graphCall, u *user, mid string) (entityJSON, bool) {
	if u.tap == nil || !strings.EqualFold(u.tap.id, mid) {
		return nil, false
	}
	t := c.tapOf(u.tap)
	t.TemporaryAccessPass = nil
	return &t, true
}

// tapRequest is the body of a Temporary Access Pass creation; every field is
// optional.
type tapRequest struct {
	StartDateTime     *time.Time `json:"startDateTime"`
	LifetimeInMinutes *int       `json:"lifetimeInMinutes"`
	IsUsableOnce      *bool      `json:"isUsableOnce"`
}

// createTAP: POST /users/{id}/authentication/temporaryAccessPassMethods → 201.
// A new pass replaces the user's previous one.
//
// Graph API docs: https://learn.microsoft.com/graph/api/authentication-post-temporaryaccesspassmethods?view=graph-rest-1.0
func (c *graphCall) createTAP(id string) {
	var req tapRequest
	body, err := io.ReadAll(io.LimitReader(c.r.Body, 64<<10))
	if err != nil {
		c.error(http.StatusBadRequest, "BadRequest", "The request body could not be read.")
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			c.error(http.StatusBadRequest, "BadRequest", "Invalid request body: "+jsonProblem(err))
			return
		}
	}
	lifetime := 60
	if req.LifetimeInMinutes != nil {
		lifetime = *req.LifetimeInMinutes
		if lifetime < 10 || lifetime > 43200 {
			c.error(http.StatusBadRequest, "BadRequest", "lifetimeInMinutes must be between 10 and 43200.")
			return
		}
	}
	now := c.s.now().UTC()
	t := &tapMethod{
		id:              newGUID(),
		pass:            newPass(8),
		created:         now,
		start:           now,
		lifetimeMinutes: lifetime,
	}
	if req.StartDateTime != nil {
		t.start = req.StartDateTime.UTC()
	}
	if req.IsUsableOnce != nil {
		t.usableOnce = *req.IsUsableOnce
	}
	if !c.user(id, func(u *user) { u.tap = t }) {
		return
	}
	out := c.tapOf(t)
	out.ODataContext = c.metadata + "users('" + odataQuote(id) + "')/authentication/temporaryAccessPassMethods/$entity"
	c.json(http.StatusCreated, out)
}

func (c *graphCall) tapOf(t *tapMethod) tapJSON {
	now := c.s.now()
	usable, reason := true, "EnabledByPolicy"
	switch {
	case now.Before(t.start):
		usable, reason = false, "NotYetValid"
	case now.After(t.start.Add(time.Duration(t.lifetimeMinutes) * time.Minute)):
		usable, reason = false, "Expired"
	}
	pass := t.pass
	return tapJSON{
		ODataType:             tapType,
		ID:                    t.id,
		TemporaryAccessPass:   &pass,
		CreatedDateTime:       t.created.Format(time.RFC3339Nano),
		StartDateTime:         t.start.Format(time.RFC3339),
		LifetimeInMinutes:     t.lifetimeMinutes,
		IsUsableOnce:          t.usableOnce,
		IsUsable:              usable,
		MethodUsabilityReason: reason,
	}
}

// revokeSignInSessions: POST /users/{id}/revokeSignInSessions → 200.
//
// Graph API docs: https://learn.microsoft.com/graph/api/user-revokesigninsessions?view=graph-rest-1.0
func (c *graphCall) revokeSignInSessions(id string) {
	if !c.user(id, func(u *user) { u.revocations++ }) {
		return
	}
	c.json(http.StatusOK, map[string]any{
		"@odata.context": c.metadata + "Edm.Boolean",
		"value":          true,
	})
}

// fido2Of shows a passkey as Graph does. The sandbox claims no attestation
// (its passkeys carry no certificates).
func fido2Of(p Passkey) fido2JSON {
	return fido2JSON{
		ODataType:               fido2Type,
		ID:                      p.ID,
		DisplayName:             p.DisplayName,
		CreatedDateTime:         p.Created.UTC().Format(time.RFC3339),
		AAGUID:                  p.AAGUID,
		Model:                   p.Model,
		AttestationCertificates: []string{},
		AttestationLevel:        "notAttested",
	}
}

func authenticatorOf(m Method) authenticatorJSON {
	a := authenticatorJSON{
		ODataType:       authenticatorType,
		ID:              m.ID,
		DisplayName:     m.DisplayName,
		DeviceTag:       deviceTag,
		PhoneAppVersion: m.PhoneAppVersion,
	}
	if m.Created != nil {
		s := m.Created.UTC().Format(time.RFC3339)
		a.CreatedDateTime = &s
	}
	return a
}

// fault answers with the fault's status and a Graph error body.
func (c *graphCall) fault(f Fault) {
	status := f.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	if f.RetryAfter > 0 {
		c.w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
	code, msg := statusError(status)
	c.error(status, code, msg+" (sandbox fault)")
}

// throttled answers 429 as Graph does when it throttles: Retry-After in
// whole seconds, at least 1, and Graph's error body.
func (c *graphCall) throttled(wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	c.w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	code, msg := statusError(http.StatusTooManyRequests)
	c.error(http.StatusTooManyRequests, code, msg)
}

// statusError is Graph's error code and message for an error status.
func statusError(status int) (code, msg string) {
	code, msg = "UnknownError", http.StatusText(status)
	switch status {
	case http.StatusBadRequest:
		code = "BadRequest"
	case http.StatusUnauthorized:
		code, msg = "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
	case http.StatusForbidden:
		code, msg = "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
	case http.StatusNotFound:
		code, msg = "Request_ResourceNotFound", "Resource not found."
	case http.StatusTooManyRequests:
		code, msg = "TooManyRequests", "Too many requests. Please retry after the delay in the Retry-After header."
	case http.StatusInternalServerError:
		code = "InternalServerError"
	case http.StatusServiceUnavailable:
		code, msg = "serviceNotAvailable", "Service unavailable. Please retry after the delay in the Retry-After header."
	case http.StatusGatewayTimeout:
		code = "GatewayTimeout"
	}
	return code, msg
}

func (c *graphCall) notFound() {
	c.error(http.StatusNotFound, "Request_ResourceNotFound",
		"The sandbox does not serve "+c.r.Method+" "+c.r.URL.Path+"; it knows only the few Graph endpoints the bot uses.")
}

func (c *graphCall) methodNotFound(entity, mid string) {
	c.error(http.StatusNotFound, "itemNotFound",
		"The "+entity+" '"+mid+"' was not found for this user.")
}

func (c *graphCall) error(status int, code, message string) {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(status)
	_ = json.NewEncoder(c.w).Encode(graphErrorJSON{Error: graphErrorBody{
		Code:    code,
		Message: message,
		InnerError: innerErrorJSON{
			Date:            c.s.now().UTC().Format("2006-01-02T15:04:05"),
			RequestID:       c.requestID,
			ClientRequestID: c.clientRequestID,
		},
	}})
}

func (c *graphCall) json(status int, v any) {
	c.w.Header().Set("Content-Type", graphContentType)
	c.w.WriteHeader(status)
	_ = json.NewEncoder(c.w).Encode(v)
}

// odataQuote doubles single quotes, as in an OData string literal.
func odataQuote(s string) string { return strings.ReplaceAll(s, "'", "''") }

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "malformed JSON"
	case errors.As(err, &te):
		return "wrong type for " + te.Field
	default:
		return "cannot decode it"
	}
}

// passAlphabet is the character set of sandbox Temporary Access Passes.
const passAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789+-=!#"

func newPass(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = passAlphabet[int(b[i])%len(passAlphabet)]
	}
	return string(b)
}
