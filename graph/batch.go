package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	jsonser "github.com/microsoft/kiota-serialization-json-go"

	"github.com/smartswap/mfabot/internal/retry"
)

// MaxBatchRequests is the most requests Graph accepts in one JSON batch.
const MaxBatchRequests = 20

// BatchResult is what one batch learned of one user.
type BatchResult struct {
	// Authenticator is the user's Microsoft Authenticator registrations,
	// nil when that request failed.
	Authenticator []AuthenticatorMethod
	// Fido2 is the user's passkeys, asked for only by
	// BatchAuthenticatorAndFido2Methods; nil otherwise or when that
	// request failed.
	Fido2 []Fido2Method
	// RetryAfter is, when a request for the user was throttled inside the
	// batch (429 or 503), the wait its answer's own Retry-After header
	// asked for (the longest, if both were); zero if it gave none.
	RetryAfter time.Duration
	// Err is nil when every request for the user succeeded. Otherwise it
	// is the first failure, an *Error whose Op is OpListAuthenticatorMethods
	// or OpListFido2Methods: KindForbidden (Permission names what to
	// grant), KindNotFound, KindThrottled (with RetryAfter) and so on. The
	// result is then incomplete: ask for the user again.
	Err error
}

// BatchAuthenticatorMethods lists the Microsoft Authenticator registrations
// of up to MaxBatchRequests users in one Graph JSON batch (POST /$batch with
// one GET /users/{id}/authentication/microsoftAuthenticatorMethods per
// user). The map has one entry per user ID given; each carries its own
// outcome, since Graph answers each request of a batch separately (a
// throttled request carries its own Retry-After). The error is for the
// batch as a whole: invalid IDs (empty, duplicated, too many), or the
// $batch request itself failing, after the throttling retries every call
// gets.
//
// A user whose methods Graph pages (an @odata.nextLink in the answer) gets
// a KindOther Err: list that user with ListAuthenticatorMethods.
//
// Permission: UserAuthenticationMethod.Read.All (each request in the batch
// is authorized on its own).
//
// Graph API docs: https://learn.microsoft.com/graph/json-batching
func (c *Client) BatchAuthenticatorMethods(ctx context.Context, userIDs []string) (map[string]BatchResult, error) {
	return c.batchMethods(ctx, OpBatchAuthenticatorMethods, userIDs, false)
}

// BatchAuthenticatorAndFido2Methods is BatchAuthenticatorMethods that also
// lists each user's passkeys (GET /users/{id}/authentication/fido2Methods)
// into BatchResult.Fido2. Two requests per user: at most
// MaxBatchRequests/2 users per call.
//
// Permission: UserAuthenticationMethod.Read.All (or
// UserAuthMethod-Passkey.Read.All for the passkeys together with a
// permission for the Authenticator methods).
//
// Graph API docs: https://learn.microsoft.com/graph/json-batching
func (c *Client) BatchAuthenticatorAndFido2Methods(ctx context.Context, userIDs []string) (map[string]BatchResult, error) {
	return c.batchMethods(ctx, OpBatchAuthenticatorAndFido2Methods, userIDs, true)
}

// batchRequest is one request of a JSON batch.
type batchRequest struct {
	ID     string `json:"id"`
	Method string `json:"method"`
	URL    string `json:"url"` // relative to the version, e.g. /users/{id}/…
}

// batchResponse is one answer of a JSON batch. Body is the answer's JSON
// body (Graph base64-encodes other bodies; none is expected here).
type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// Request IDs in a batch: "a<i>" asks for user i's Authenticator methods,
// "f<i>" for their passkeys.
const (
	batchAuthenticator = "a"
	batchFido2         = "f"
)

// batchMethods sends one $batch for op. The batch is built and read with
// encoding/json and sent as raw bytes through the Client's kiota adapter
// (SendPrimitive "[]byte"), so it takes the same base URL, token,
// middleware, throttling retries, timeout and Observer report as every
// other call; the per-request bodies are then decoded with the same views
// as ListAuthenticatorMethods and ListFido2Methods.
func (c *Client) batchMethods(ctx context.Context, op string, userIDs []string, fido2 bool) (map[string]BatchResult, error) {
	perUser := 1
	if fido2 {
		perUser = 2
	}
	if len(userIDs)*perUser > MaxBatchRequests {
		return nil, invalidArg(op, fmt.Sprintf("%d users need %d requests; a batch holds at most %d",
			len(userIDs), len(userIDs)*perUser, MaxBatchRequests))
	}
	seen := make(map[string]bool, len(userIDs))
	for _, id := range userIDs {
		if id == "" {
			return nil, invalidArg(op, "empty user ID")
		}
		if seen[id] {
			return nil, invalidArg(op, "duplicate user ID "+id)
		}
		seen[id] = true
	}
	out := make(map[string]BatchResult, len(userIDs))
	if len(userIDs) == 0 {
		return out, nil
	}

	var reqs []batchRequest
	for i, id := range userIDs {
		base := "/users/" + url.PathEscape(id) + "/authentication/"
		reqs = append(reqs, batchRequest{ID: batchAuthenticator + strconv.Itoa(i), Method: http.MethodGet, URL: base + "microsoftAuthenticatorMethods"})
		if fido2 {
			reqs = append(reqs, batchRequest{ID: batchFido2 + strconv.Itoa(i), Method: http.MethodGet, URL: base + "fido2Methods"})
		}
	}
	body, err := json.Marshal(struct {
		Requests []batchRequest `json:"requests"`
	}{reqs})
	if err != nil {
		return nil, invalidArg(op, err.Error())
	}

	var answers []batchResponse
	err = c.call(ctx, op, func(ctx context.Context) error {
		ri := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.POST, "{+baseurl}/$batch", map[string]string{})
		ri.Headers.TryAdd("Accept", "application/json")
		ri.SetStreamContentAndContentType(body, "application/json")
		res, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", odataErrorMapping)
		if err != nil {
			return err
		}
		raw, _ := res.([]byte)
		var decoded struct {
			Responses []batchResponse `json:"responses"`
		}
		if err := json.Unmarshal(raw, &decoded); err != nil {
			return &Error{Kind: KindOther, Op: op, Message: "could not read the batch response", err: err}
		}
		answers = decoded.Responses
		return nil
	})
	if err != nil {
		return nil, err
	}

	byID := make(map[string]batchResponse, len(answers))
	for _, a := range answers {
		byID[a.ID] = a
	}
	now := time.Now()
	for i, id := range userIDs {
		var r BatchResult
		n := strconv.Itoa(i)
		a, ok := byID[batchAuthenticator+n]
		r.Authenticator, r.Err = batchPage[AuthenticatorMethod](a, ok, OpListAuthenticatorMethods, newAuthMethodView, now)
		r.RetryAfter = throttledFor(r.Err)
		if fido2 {
			f, ok := byID[batchFido2+n]
			var ferr error
			r.Fido2, ferr = batchPage[Fido2Method](f, ok, OpListFido2Methods, newFido2View, now)
			if r.Err == nil {
				r.Err = ferr
			}
			r.RetryAfter = max(r.RetryAfter, throttledFor(ferr))
		}
		out[id] = r
	}
	return out, nil
}

// batchPage decodes one answer of a batch as one page of a collection of
// T, or turns it into the *Error of op. ok is false when the batch held no
// answer to the request.
func batchPage[T any](a batchResponse, ok bool, op string, newItem absser.ParsableFactory, now time.Time) ([]T, error) {
	if !ok {
		return nil, &Error{Kind: KindOther, Op: op, Message: "no answer in the batch response"}
	}
	if a.Status < 200 || a.Status > 299 {
		return nil, batchError(a, op, now)
	}
	if len(a.Body) == 0 || string(a.Body) == "null" {
		return nil, nil
	}
	node, err := jsonser.NewJsonParseNode(a.Body)
	if err != nil {
		return nil, &Error{Kind: KindOther, Op: op, Status: a.Status, Message: "could not read the response", err: err}
	}
	v, err := node.GetObjectValue(pageOf[T](newItem))
	if err != nil {
		return nil, &Error{Kind: KindOther, Op: op, Status: a.Status, Message: "could not read the response", err: err}
	}
	p, _ := v.(*page[T])
	if p == nil {
		return nil, nil
	}
	if p.nextLink != "" {
		return nil, &Error{Kind: KindOther, Op: op, Status: a.Status,
			Message: "more than one page of methods: list this user on its own"}
	}
	return p.value, nil
}

// batchError is the *Error of a failed answer inside a batch: its status,
// its Graph error body, its request-id and, for 429 and 503, its own
// Retry-After.
func batchError(a batchResponse, op string, now time.Time) *Error {
	e := &Error{Kind: kindForStatus(a.Status), Status: a.Status, Op: op}
	var body struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				RequestID string `json:"request-id"`
			} `json:"innerError"`
		} `json:"error"`
	}
	if json.Unmarshal(a.Body, &body) == nil {
		e.Code, e.Message, e.RequestID = body.Error.Code, body.Error.Message, body.Error.InnerError.RequestID
	}
	if e.RequestID == "" {
		e.RequestID = header(a.Headers, "request-id")
	}
	if isThrottled(a.Status) {
		if d, ok := retry.After(header(a.Headers, "Retry-After"), now); ok {
			e.RetryAfter = d
		}
	}
	if e.Code == "" && e.Message == "" {
		e.Message = "unexpected response"
	}
	return e
}

// throttledFor is the RetryAfter of a KindThrottled *Error, else zero.
func throttledFor(err error) time.Duration {
	if e, ok := err.(*Error); ok && e.Kind == KindThrottled {
		return e.RetryAfter
	}
	return 0
}

// header looks name up in a batch answer's headers, which JSON gives as a
// plain object: without regard to case, as HTTP header names go.
func header(h map[string]string, name string) string {
	if v, ok := h[name]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
