package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/smartswap/mfabot/internal/loopback"
	"github.com/smartswap/mfabot/internal/retry"
)

// DefaultBaseURL is the Microsoft Graph v1.0 endpoint of the global cloud.
const DefaultBaseURL = "https://graph.microsoft.com/v1.0"

const (
	defaultMaxAttempts = 4
	defaultMaxWait     = 60 * time.Second
	defaultTimeout     = 60 * time.Second
)

// Client calls the few Microsoft Graph APIs the bot needs. It is safe for
// concurrent use. Create it with NewClient.
type Client struct {
	adapter  abs.RequestAdapter
	timeout  time.Duration
	observer Observer
	pool     http.RoundTripper // the transport under the middleware
}

// Observer is told of every call a Client sends (not of calls refused for
// an invalid argument), for metrics: the package itself neither logs nor
// exports metrics. Its method must be quick and
// safe for concurrent use.
type Observer interface {
	// ObserveGraphCall reports one finished call: op is one of the Op
	// constants; status is the HTTP status of the last answer ("200",
	// "404", "429") or, when no answer came, "timeout", "canceled",
	// "unauthorized" (no access token) or "error"; took includes the
	// throttling retries and their waits.
	ObserveGraphCall(op, status string, took time.Duration)
}

// user returns the request builder of /users/{id}. Builders are made per
// call rather than kept in Client: a Client stored in an interface would
// otherwise make the linker keep every method of the builder types and,
// through them, the whole Graph model (a 58 MB binary instead of 20 MB).
func (c *Client) user(id string) *users.UserItemRequestBuilder {
	return users.NewUsersRequestBuilderInternal(map[string]string{}, c.adapter).ByUserId(id)
}

type options struct {
	cred        azcore.TokenCredential
	baseURL     string
	httpClient  *http.Client
	maxAttempts int
	maxWait     time.Duration
	timeout     time.Duration
	sleep       func(context.Context, time.Duration) error
	observer    Observer
}

// Option configures a Client.
type Option func(*options)

// WithCredential sets the credential whose tokens authenticate requests (see
// NewCredential). With nil, which is the default, no Authorization header is
// sent at all; NewClient allows that only for a loopback base URL (tests).
func WithCredential(cred azcore.TokenCredential) Option {
	return func(o *options) { o.cred = cred }
}

// WithBaseURL sets the Graph endpoint, DefaultBaseURL by default. Use another
// national cloud's endpoint (e.g. https://graph.microsoft.us/v1.0) or, in
// tests, a loopback server's URL (http://127.0.0.1:PORT/v1.0). Tokens are
// requested for the scope "https://<host>/.default" and sent only to that
// host; for loopback hosts the scope is Graph's.
func WithBaseURL(u string) Option {
	return func(o *options) { o.baseURL = u }
}

// WithHTTPClient sets the HTTP client whose Transport (if nil, the
// Client's own pool: see newTransport) carries the requests. The Client works on a copy and wraps the
// transport; the given client is not modified. Its Timeout, if set, bounds
// each call including throttling waits.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) { o.httpClient = c }
}

// WithRetry bounds the retries of throttled requests (429 and 503):
// maxAttempts counts the first try (1 disables retries; default 4), and
// maxWait is the longest single wait (default 60 s). A Retry-After longer
// than maxWait, or one that would outlast the call's deadline, ends the
// retries at once with a KindThrottled Error carrying RetryAfter.
func WithRetry(maxAttempts int, maxWait time.Duration) Option {
	return func(o *options) { o.maxAttempts, o.maxWait = maxAttempts, maxWait }
}

// WithTimeout bounds each Client call, throttling waits included (default
// 60 s: the authentication methods APIs themselves time out after 60 s).
// Zero means no bound beyond the caller's context. A call that runs out of
// time fails with a KindTimeout Error.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithObserver sets who is told of every call (op, status, duration), for
// metrics. Nil, the default, tells no one.
func WithObserver(o Observer) Option {
	return func(opts *options) { opts.observer = o }
}

// NewClient assembles a Client. It does no network I/O: tokens are fetched
// on the first call. It fails if an option is invalid, or if the base URL is
// not a loopback address and no credential was given.
func NewClient(opts ...Option) (*Client, error) {
	o := options{
		baseURL:     DefaultBaseURL,
		maxAttempts: defaultMaxAttempts,
		maxWait:     defaultMaxWait,
		timeout:     defaultTimeout,
		sleep:       retry.Sleep,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}

	base, isLoopback, err := parseBaseURL(o.baseURL)
	if err != nil {
		return nil, err
	}
	if o.cred == nil && !isLoopback {
		return nil, fmt.Errorf("graph: no credential for base URL %s (only loopback URLs may go without one)", base)
	}
	if o.maxAttempts < 1 {
		return nil, fmt.Errorf("graph: retry attempts must be at least 1, got %d", o.maxAttempts)
	}
	if o.maxWait < 0 || o.timeout < 0 {
		return nil, errors.New("graph: retry wait and timeout must not be negative")
	}

	auth, err := authProvider(o.cred, base)
	if err != nil {
		return nil, err
	}

	hc := &http.Client{}
	if o.httpClient != nil {
		*hc = *o.httpClient
	}
	parent := hc.Transport
	if parent == nil {
		parent = newTransport()
	}
	coreOpts := msgraphcore.GraphClientOptions{}
	// Not kiota's default middleware: no RetryHandler (throttleTransport
	// replaces it), no CompressionHandler (the bodies are tiny) and no
	// RedirectHandler (Graph does not redirect these APIs).
	hc.Transport = &throttleTransport{
		next: khttp.NewCustomTransportWithParentTransport(parent,
			msgraphcore.NewGraphTelemetryHandler(&coreOpts),
			khttp.NewParametersNameDecodingHandler(),
			khttp.NewUserAgentHandler(),
		),
		maxAttempts: o.maxAttempts,
		maxWait:     o.maxWait,
		sleep:       o.sleep,
	}

	// Own registries rather than kiota's process-wide defaults, which
	// msgraph's GraphServiceClient fills as a side effect.
	parsers := absser.NewParseNodeFactoryRegistry()
	parsers.ContentTypeAssociatedFactories["application/json"] = jsonser.NewJsonParseNodeFactory()
	writers := absser.NewSerializationWriterFactoryRegistry()
	writers.ContentTypeAssociatedFactories["application/json"] = jsonser.NewJsonSerializationWriterFactory()

	adapter, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, coreOpts, parsers, writers, hc)
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	adapter.SetBaseUrl(base.String())

	return &Client{
		adapter:  adapter,
		timeout:  o.timeout,
		observer: o.observer,
		pool:     parent,
	}, nil
}

// CloseIdleConnections closes the idle connections of the Client's pool (of
// the transport given with WithHTTPClient, if it has the method), as
// http.Client.CloseIdleConnections does.
func (c *Client) CloseIdleConnections() {
	if p, ok := c.pool.(interface{ CloseIdleConnections() }); ok {
		p.CloseIdleConnections()
	}
}

// newTransport is the connection pool of a Client given no transport, the
// same whatever the base URL: http.DefaultTransport keeps 2 idle connections
// per host, so under load most calls would open a new connection (a new TLS
// handshake, for Graph itself). Loopback decides whether a URL may be called
// without TLS or a credential, never how it is called.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 128, 64
	return t
}

// parseBaseURL validates u and reports whether its host is loopback
// (internal/loopback): plain http, and no credential, are allowed only there.
func parseBaseURL(raw string) (*url.URL, bool, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, false, fmt.Errorf("graph: invalid base URL: %w", err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, false, fmt.Errorf("graph: invalid base URL %q: want scheme://host[:port][/path]", u.Redacted())
	}
	isLoopback := loopback.Host(u.Hostname())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback:
	default:
		return nil, false, fmt.Errorf("graph: invalid base URL %q: want https (http only for loopback)", u.Redacted())
	}
	return u, isLoopback, nil
}

// call runs fn under the per-call timeout and turns its error into an *Error.
func (c *Client) call(ctx context.Context, op string, fn func(context.Context) error) (err error) {
	st := &callState{}
	if c.observer != nil {
		start := time.Now()
		defer func() { c.observer.ObserveGraphCall(op, observedStatus(st, err), time.Since(start)) }()
	}
	ctx = context.WithValue(ctx, callStateKey{}, st)
	callCtx, cancel := ctx, context.CancelFunc(func() {})
	if c.timeout > 0 {
		callCtx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	defer cancel()
	err = fn(callCtx)
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return classify(op, ctx, callCtx, c.timeout, st, err)
}

// observedStatus is the status an Observer is told of a finished call.
func observedStatus(st *callState, err error) string {
	var e *Error
	switch {
	case err == nil && st.status != 0:
		return strconv.Itoa(st.status)
	case err == nil:
		return "ok" // no answer seen, yet no error: not expected
	case !errors.As(err, &e):
		return "error"
	case e.Status != 0:
		return strconv.Itoa(e.Status)
	case e.Kind == KindTimeout:
		return "timeout"
	case e.Kind == KindUnauthorized:
		return "unauthorized"
	case errors.Is(e, context.Canceled):
		return "canceled"
	}
	return "error"
}
