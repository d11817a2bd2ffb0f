package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/infracloudio/msbotbuilder-go/connector/client"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/internal/loopback"
	"github.com/smartswap/mfabot/internal/retry"
)

// ErrServiceURLNotAllowed is returned, without any request being made, for a
// serviceUrl whose host is not on the connector's allow-list or that does not
// use https.
var ErrServiceURLNotAllowed = errors.New("service URL not allowed")

// Connector defaults.
const (
	defaultMaxAttempts  = 4
	defaultMaxRetryWait = 30 * time.Second
	// backoffBase is the first ceiling of the jittered back-off used when a
	// retryable answer carries no Retry-After.
	backoffBase = 500 * time.Millisecond
	// adapterTimeout bounds one call made through the msbotbuilder-go
	// client.Client methods, retries included.
	adapterTimeout = 2 * time.Minute
	// connectorMaxBody caps how much of an answer is read.
	connectorMaxBody = 1 << 20
)

// defaultAllowedHosts are the public Teams connector hosts. The government
// clouds are matched by pattern in allowedHost.
var defaultAllowedHosts = []string{"smba.trafficmanager.net"}

// ConnectorOptions configure NewConnector.
type ConnectorOptions struct {
	// Tokens supplies the bearer token. Nil sends no Authorization header
	// (local mode, e.g. the Agents Playground).
	Tokens TokenSource
	// AllowedHosts are host names allowed in addition to
	// smba.trafficmanager.net and the smba.infra.<cloud>.teams.microsoft.com|us
	// government hosts.
	AllowedHosts []string
	// AllowLoopback allows localhost, 127.0.0.0/8 and ::1 (local mode).
	AllowLoopback bool
	// HTTPClient defaults to a client with a 30-second timeout per attempt,
	// no redirects, and a connection pool sized for concurrent sends.
	HTTPClient *http.Client
	// MaxAttempts bounds the attempts per call; default 4.
	MaxAttempts int
	// MaxRetryWait is the longest Retry-After waited for; a longer one ends
	// the call with a *ConnectorError. Default 30s.
	MaxRetryWait time.Duration
	// Logger receives refusals (host only) and retries. Default: discard.
	Logger *slog.Logger
	// Sleep waits between attempts; the default returns early with
	// ctx.Err() when ctx is done. Tests may record the waits instead.
	Sleep func(ctx context.Context, d time.Duration) error
	// Observer is told of every call, for metrics; nil tells no one.
	Observer ConnectorObserver
}

// ConnectorObserver is told of every Bot Connector call, for metrics. Its
// methods must be quick and safe for concurrent use.
type ConnectorObserver interface {
	// ObserveConnectorCall reports one call that reached the network: the
	// operation (send, reply, update, delete, typing, create_conversation,
	// get_member, or adapter_post, adapter_put, adapter_delete for
	// msbotbuilder-go's client.Client methods), the HTTP status of the last
	// answer ("201", "429") or, when none arrived, "timeout", "canceled" or
	// "error", and how long the call took, retries and their waits included.
	// Calls refused before any request (a service URL off the allow-list)
	// are not reported.
	ObserveConnectorCall(operation, status string, took time.Duration)
	// ObserveConnectorThrottled reports one 429 answer, retried or not.
	ObserveConnectorThrottled(operation string)
}

// Connector is a client of the Bot Connector REST API
// (POST/PUT/DELETE {serviceUrl}/v3/conversations/…). It refuses service URLs
// off its allow-list before fetching a token, retries throttling and
// transient answers, and keeps empty fields out of the JSON it sends.
// It is safe for concurrent use.
type Connector struct {
	tokens        TokenSource
	hosts         map[string]bool
	allowLoopback bool
	hc            *http.Client
	maxAttempts   int
	maxRetryWait  time.Duration
	logger        *slog.Logger
	sleep         func(ctx context.Context, d time.Duration) error
	observer      ConnectorObserver
}

var (
	_ sender        = (*Connector)(nil)
	_ client.Client = (*Connector)(nil)
)

// NewConnector returns a Connector. It performs no I/O.
func NewConnector(o ConnectorOptions) *Connector {
	c := &Connector{
		tokens:        o.Tokens,
		hosts:         make(map[string]bool),
		allowLoopback: o.AllowLoopback,
		hc:            o.HTTPClient,
		maxAttempts:   o.MaxAttempts,
		maxRetryWait:  o.MaxRetryWait,
		logger:        o.Logger,
		sleep:         o.Sleep,
		observer:      o.Observer,
	}
	for _, h := range defaultAllowedHosts {
		c.hosts[h] = true
	}
	for _, h := range o.AllowedHosts {
		c.hosts[strings.ToLower(strings.TrimSpace(h))] = true
	}
	if c.hc == nil {
		c.hc = newConnectorHTTPClient()
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = defaultMaxAttempts
	}
	if c.maxRetryWait <= 0 {
		c.maxRetryWait = defaultMaxRetryWait
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	return c
}

// newConnectorHTTPClient returns the default client: bounded attempts, a
// pool large enough that concurrent sends reuse connections (net/http keeps
// only 2 idle connections per host by default), and no redirects, so the
// bearer token is only ever sent to an allow-listed host.
func newConnectorHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 20 * time.Second
	return &http.Client{
		Transport: t,
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// CloseIdleConnections closes the idle connections of the connector's
// HTTP client, as http.Client.CloseIdleConnections does.
func (c *Connector) CloseIdleConnections() { c.hc.CloseIdleConnections() }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ConnectorError is a non-2xx answer from the Bot Connector. Code and Message
// come from the answer's {"error":{"code","message"}}; for example 403
// ForbiddenOperationException means the app is not installed for the user,
// or the bot is blocked. Its text never contains a token.
type ConnectorError struct {
	// Status is the HTTP status.
	Status int
	// Code is the connector's error code, when given.
	Code string
	// Message is the connector's error message, when given.
	Message string
	// RetryAfter is the wait the connector asked for (429/503), if any.
	RetryAfter time.Duration
}

func (e *ConnectorError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connector: status %d", e.Status)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// SendToConversation posts a to the conversation and returns the id the
// connector gave it ("" when the answer has no body, e.g. 202).
//
// API docs: https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference#send-to-conversation
func (c *Connector) SendToConversation(ctx context.Context, serviceURL, conversationID string, a schema.Activity) (string, error) {
	return c.sendActivity(ctx, "send to conversation", "send", http.MethodPost, serviceURL, a, conversationID)
}

// ReplyToActivity posts a as a reply to the activity replyToID and returns
// the id the connector gave it.
//
// API docs: https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference#reply-to-activity
func (c *Connector) ReplyToActivity(ctx context.Context, serviceURL, conversationID, replyToID string, a schema.Activity) (string, error) {
	return c.sendActivity(ctx, "reply to activity", "reply", http.MethodPost, serviceURL, a, conversationID, replyToID)
}

// UpdateActivity replaces the activity activityID with a and returns the id
// in the connector's answer.
//
// API docs: https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference#update-activity
func (c *Connector) UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, a schema.Activity) (string, error) {
	return c.sendActivity(ctx, "update activity", "update", http.MethodPut, serviceURL, a, conversationID, activityID)
}

// DeleteActivity deletes the activity activityID.
//
// API docs: https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference#delete-activity
func (c *Connector) DeleteActivity(ctx context.Context, serviceURL, conversationID, activityID string) error {
	target, err := c.activitiesURL(ctx, serviceURL, conversationID, activityID)
	if err != nil {
		return fmt.Errorf("delete activity: %w", err)
	}
	if err := c.do(ctx, "delete", http.MethodDelete, target, nil, nil); err != nil {
		return fmt.Errorf("delete activity: %w", err)
	}
	return nil
}

// typingBody is the whole body of a typing indicator.
var typingBody = []byte(`{"type":"typing"}`)

// SendTyping shows the typing indicator in the conversation.
func (c *Connector) SendTyping(ctx context.Context, serviceURL, conversationID string) error {
	target, err := c.activitiesURL(ctx, serviceURL, conversationID)
	if err != nil {
		return fmt.Errorf("send typing: %w", err)
	}
	if err := c.do(ctx, "typing", http.MethodPost, target, typingBody, nil); err != nil {
		return fmt.Errorf("send typing: %w", err)
	}
	return nil
}

// CreateConversation creates a conversation (for a bot, the 1:1 chat with
// p.Members[0]) and returns its id.
//
// API docs: https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference#create-conversation
func (c *Connector) CreateConversation(ctx context.Context, serviceURL string, p schema.ConversationParameters) (string, error) {
	base, err := c.checkServiceURL(ctx, serviceURL)
	if err != nil {
		return "", fmt.Errorf("create conversation: %w", err)
	}
	body, err := encodeConversationParameters(p)
	if err != nil {
		return "", fmt.Errorf("create conversation: %w", err)
	}
	var rr schema.ConversationResourceResponse
	if err := c.do(ctx, "create_conversation", http.MethodPost, base+"/v3/conversations", body, &rr); err != nil {
		return "", fmt.Errorf("create conversation: %w", err)
	}
	return rr.ID, nil
}

// GetMember returns one member of the conversation.
//
// API docs: https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference#get-conversation-member
func (c *Connector) GetMember(ctx context.Context, serviceURL, conversationID, userID string) (schema.ChannelAccount, error) {
	base, err := c.checkServiceURL(ctx, serviceURL)
	if err != nil {
		return schema.ChannelAccount{}, fmt.Errorf("get member: %w", err)
	}
	if conversationID == "" || userID == "" {
		return schema.ChannelAccount{}, errors.New("get member: empty conversation or user id")
	}
	target := base + "/v3/conversations/" + url.PathEscape(conversationID) + "/members/" + url.PathEscape(userID)
	var m schema.ChannelAccount
	if err := c.do(ctx, "get_member", http.MethodGet, target, nil, &m); err != nil {
		return schema.ChannelAccount{}, fmt.Errorf("get member: %w", err)
	}
	return m, nil
}

// AllowedServiceURL reports whether the connector would send to serviceURL:
// https (or http to a loopback host) to an allow-listed host, no user info,
// no query or fragment, and no port other than 443 except on loopback.
func (c *Connector) AllowedServiceURL(serviceURL string) bool {
	_, ok := c.parseServiceURL(serviceURL)
	return ok
}

// Post sends activity to target: msbotbuilder-go's client.Client, on the same
// path as the other methods, with a background context bounded by a timeout.
func (c *Connector) Post(target url.URL, activity schema.Activity) error {
	return c.adapterCall(http.MethodPost, target, activity)
}

// Put sends activity to target: msbotbuilder-go's client.Client.
func (c *Connector) Put(target url.URL, activity schema.Activity) error {
	return c.adapterCall(http.MethodPut, target, activity)
}

// Delete deletes the activity at target: msbotbuilder-go's client.Client.
func (c *Connector) Delete(target url.URL, _ schema.Activity) error {
	return c.adapterCall(http.MethodDelete, target, schema.Activity{})
}

func (c *Connector) adapterCall(method string, target url.URL, a schema.Activity) error {
	ctx, cancel := context.WithTimeout(context.Background(), adapterTimeout)
	defer cancel()
	if !c.allowURL(&target) {
		return fmt.Errorf("%s activity: %w", strings.ToLower(method), c.refuse(ctx, target.Hostname()))
	}
	var body []byte
	if method != http.MethodDelete {
		var err error
		if body, err = encodeActivity(a); err != nil {
			return fmt.Errorf("%s activity: %w", strings.ToLower(method), err)
		}
	}
	if err := c.do(ctx, "adapter_"+strings.ToLower(method), method, target.String(), body, nil); err != nil {
		return fmt.Errorf("%s activity: %w", strings.ToLower(method), err)
	}
	return nil
}

// sendActivity encodes a and sends it to …/activities[/{id}], returning the
// ResourceResponse id. op names the call in errors, metric for the observer.
func (c *Connector) sendActivity(ctx context.Context, op, metric, method, serviceURL string, a schema.Activity, conversationID string, activityID ...string) (string, error) {
	target, err := c.activitiesURL(ctx, serviceURL, conversationID, activityID...)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	body, err := encodeActivity(a)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	var rr schema.ResourceResponse
	if err := c.do(ctx, metric, method, target, body, &rr); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	return rr.ID, nil
}

// activitiesURL returns {serviceUrl}/v3/conversations/{conversationID}/activities[/{activityID}].
func (c *Connector) activitiesURL(ctx context.Context, serviceURL, conversationID string, activityID ...string) (string, error) {
	base, err := c.checkServiceURL(ctx, serviceURL)
	if err != nil {
		return "", err
	}
	if conversationID == "" {
		return "", errors.New("empty conversation id")
	}
	var b strings.Builder
	b.Grow(len(base) + len(conversationID) + 40)
	b.WriteString(base)
	b.WriteString("/v3/conversations/")
	b.WriteString(url.PathEscape(conversationID))
	b.WriteString("/activities")
	for _, id := range activityID {
		if id == "" {
			return "", errors.New("empty activity id")
		}
		b.WriteString("/")
		b.WriteString(url.PathEscape(id))
	}
	return b.String(), nil
}

// checkServiceURL returns serviceURL without its trailing slashes, or an
// error wrapping ErrServiceURLNotAllowed after logging the refused host.
func (c *Connector) checkServiceURL(ctx context.Context, serviceURL string) (string, error) {
	u, ok := c.parseServiceURL(serviceURL)
	if !ok {
		host := ""
		if u != nil {
			host = u.Hostname()
		}
		return "", c.refuse(ctx, host)
	}
	return strings.TrimRight(serviceURL, "/"), nil
}

// refuse logs a refused host (never the path, which may carry ids, nor any
// token) and returns the error for it.
func (c *Connector) refuse(ctx context.Context, host string) error {
	c.logger.WarnContext(ctx, "connector: service URL refused", "host", host)
	return fmt.Errorf("%w: host %q", ErrServiceURLNotAllowed, host)
}

func (c *Connector) parseServiceURL(serviceURL string) (*url.URL, bool) {
	u, err := url.Parse(serviceURL)
	if err != nil {
		return nil, false
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return u, false
	}
	return u, c.allowURL(u)
}

// allowURL applies the allow-list to u's scheme, user info, host and port.
func (c *Connector) allowURL(u *url.URL) bool {
	if u.User != nil || u.Opaque != "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return false
	}
	loopback := loopback.Host(host)
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback {
			return false
		}
	default:
		return false
	}
	if loopback {
		return c.allowLoopback || c.hosts[host]
	}
	if p := u.Port(); p != "" && p != "443" {
		return false
	}
	return c.hosts[host] || isGovConnectorHost(host)
}

// isGovConnectorHost matches smba.infra.<cloud>.teams.microsoft.com and
// smba.infra.<cloud>.teams.microsoft.us, <cloud> being one DNS label
// (gcc, gov, dod, …).
func isGovConnectorHost(host string) bool {
	rest, ok := strings.CutPrefix(host, "smba.infra.")
	if !ok {
		return false
	}
	var label string
	if label, ok = strings.CutSuffix(rest, ".teams.microsoft.com"); !ok {
		if label, ok = strings.CutSuffix(rest, ".teams.microsoft.us"); !ok {
			return false
		}
	}
	if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for _, r := range label {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// do sends body to target, retrying throttling and transient answers, and
// decodes a 2xx answer's body into out when both are present. Transport
// errors are not retried: a POST may have been delivered, and a resend would
// duplicate the message. op names the call for the observer.
func (c *Connector) do(ctx context.Context, op, method, target string, body []byte, out any) (err error) {
	status := 0 // of the last answer
	if c.observer != nil {
		start := time.Now()
		defer func() { c.observer.ObserveConnectorCall(op, callStatus(status, err), time.Since(start)) }()
	}
	for attempt := 1; ; attempt++ {
		status, err = c.attempt(ctx, method, target, body, out)
		if status == http.StatusTooManyRequests && c.observer != nil {
			c.observer.ObserveConnectorThrottled(op)
		}
		var ce *ConnectorError
		if err == nil || !errors.As(err, &ce) || !retryableStatus(ce.Status) || attempt >= c.maxAttempts {
			return err
		}
		wait := ce.RetryAfter
		if wait > c.maxRetryWait {
			return err // asked to wait longer than we are willing to
		}
		if wait <= 0 {
			wait = backoff(attempt, c.maxRetryWait)
		}
		c.logger.DebugContext(ctx, "connector: retrying", "status", ce.Status, "attempt", attempt, "wait", wait, "host", hostOf(target))
		if serr := c.sleep(ctx, wait); serr != nil {
			return serr
		}
	}
}

// callStatus is the status label of a finished call: the HTTP status of the
// answer that ended it, or what kept an answer from arriving.
func callStatus(status int, err error) string {
	var ce *ConnectorError
	switch {
	case errors.As(err, &ce):
		return strconv.Itoa(ce.Status)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case err != nil || status == 0:
		return "error" // no answer, or one that could not be read
	}
	return strconv.Itoa(status)
}

// attempt makes one request and returns the status of the answer (0 when
// none arrived).
func (c *Connector) attempt(ctx context.Context, method, target string, body []byte, out any) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	req.Header.Set("Accept", "application/json")
	if c.tokens != nil {
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return 0, fmt.Errorf("connector token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return 0, ctxErr
		}
		return 0, err
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, connectorMaxBody))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return resp.StatusCode, ctxErr
		}
		return resp.StatusCode, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, newConnectorError(resp, respBody)
	}
	if out == nil || len(bytes.TrimSpace(respBody)) == 0 {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(respBody, out); err != nil {
		return resp.StatusCode, fmt.Errorf("status %d but the answer is not valid JSON: %w", resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}

func hostOf(target string) string {
	if u, err := url.Parse(target); err == nil {
		return u.Hostname()
	}
	return ""
}

// retryableStatus lists the answers Teams documents as worth retrying.
func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusPreconditionFailed,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff returns a full-jitter wait for the given (1-based) failed attempt:
// uniform in [0, min(limit, backoffBase·2^(attempt-1))).
func backoff(attempt int, limit time.Duration) time.Duration {
	ceiling := backoffBase
	for i := 1; i < attempt && ceiling < limit; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, limit)
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date.
// It returns 0 when the header is absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	d, _ := retry.After(v, now)
	return d
}

// newConnectorError builds the error for a non-2xx answer.
func newConnectorError(resp *http.Response, body []byte) *ConnectorError {
	e := &ConnectorError{
		Status:     resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &eb) == nil {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
		if e.Message == "" {
			e.Message = eb.Message
		}
	} else if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/plain") {
		e.Message = strings.TrimSpace(string(body))
	}
	e.Code = scrub(e.Code, "", 100)
	e.Message = scrub(e.Message, "", 300)
	return e
}

// wireActivity is schema.Activity as the connector wants it. The embedded
// Activity supplies every field; the fields declared here shadow the
// embedded ones of the same JSON name (encoding/json prefers the shallower
// field) so that zero timestamps and empty objects are left out, which
// schema.Activity's omitempty cannot do for time.Time and structs.
// Strings, slices and maps need no shadowing: their omitempty already drops
// "" and empty or nil values (the Playground rejects "attachments":null).
// Attachments, entities, channelData and value are marshalled untouched.
type wireActivity struct {
	schema.Activity
	Timestamp        time.Time                  `json:"timestamp,omitzero"`
	LocalTimestamp   time.Time                  `json:"localTimestamp,omitzero"`
	Expiration       time.Time                  `json:"expiration,omitzero"`
	From             schema.ChannelAccount      `json:"from,omitzero"`
	Recipient        schema.ChannelAccount      `json:"recipient,omitzero"`
	Conversation     schema.ConversationAccount `json:"conversation,omitzero"`
	SuggestedActions *schema.SuggestedActions   `json:"suggestedActions,omitempty"`
	RelatesTo        *wireConversationReference `json:"relatesTo,omitempty"`
	SemanticAction   *schema.SemanticAction     `json:"semanticAction,omitempty"`
}

// wireConversationReference is schema.ConversationReference without empty
// nested objects.
type wireConversationReference struct {
	schema.ConversationReference
	User         schema.ChannelAccount      `json:"user,omitzero"`
	Bot          schema.ChannelAccount      `json:"bot,omitzero"`
	Conversation schema.ConversationAccount `json:"conversation,omitzero"`
}

// wireConversationParameters is schema.ConversationParameters without an
// empty bot or activity.
type wireConversationParameters struct {
	schema.ConversationParameters
	Bot      schema.ChannelAccount `json:"bot,omitzero"`
	Activity *wireActivity         `json:"activity,omitempty"`
}

func toWireActivity(a schema.Activity) *wireActivity {
	w := &wireActivity{
		Activity:       a,
		Timestamp:      a.Timestamp,
		LocalTimestamp: a.LocalTimestamp,
		Expiration:     a.Expiration,
		From:           a.From,
		Recipient:      a.Recipient,
		Conversation:   a.Conversation,
	}
	if len(a.SuggestedActions.To) > 0 || len(a.SuggestedActions.Actions) > 0 {
		sa := a.SuggestedActions
		w.SuggestedActions = &sa
	}
	if r := a.RelatesTo; r != (schema.ConversationReference{}) {
		w.RelatesTo = &wireConversationReference{
			ConversationReference: r,
			User:                  r.User,
			Bot:                   r.Bot,
			Conversation:          r.Conversation,
		}
	}
	if s := a.SemanticAction; s.State != "" || s.ID != "" || len(s.Entities) > 0 {
		w.SemanticAction = &s
	}
	return w
}

// encodeActivity marshals a for the connector: zero timestamps and empty
// strings, arrays and objects are left out at the top level and inside
// from, recipient, conversation and relatesTo, because the Playground's
// connector answers 400 to null or "" in several fields and Teams rejects
// null attachments and entities. Attachment content is never altered: an
// Adaptive Card may legitimately hold {} or "".
func encodeActivity(a schema.Activity) ([]byte, error) {
	return marshalJSON(toWireActivity(a))
}

// encodeConversationParameters marshals p like encodeActivity, leaving out
// an empty bot and an empty initial activity.
func encodeConversationParameters(p schema.ConversationParameters) ([]byte, error) {
	w := wireConversationParameters{ConversationParameters: p, Bot: p.Bot}
	if !reflect.ValueOf(p.Activity).IsZero() {
		w.Activity = toWireActivity(p.Activity)
	}
	return marshalJSON(w)
}

// marshalJSON is json.Marshal without HTML escaping, so card text and
// markdown reach the channel byte for byte.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode activity: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
