package bot

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/schema"
)

// Deduper remembers activity ids already handled so that a redelivered
// activity is handled once.
type Deduper interface {
	// FirstSeen records key, holding token (the attempt's own mark), and
	// reports whether it was new. The record expires after ttl.
	FirstSeen(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	// Forget drops key if it still holds token, so that a redelivery of a
	// turn that failed is handled.
	Forget(ctx context.Context, key, token string) error
}

// Prefetcher is a Deduper that can read, in the duplicate check's own
// round trip, what the turn of activity a will read first (the user's
// dialog, say). It returns the key it recorded (what Forget is given) and
// the context the turn runs with, which carries what it read; the bot
// knows nothing of what that is.
type Prefetcher interface {
	FirstSeenPrefetch(ctx context.Context, key, token string, ttl time.Duration, a schema.Activity) (turnCtx context.Context, recorded string, first bool, err error)
}

// ReadyCheck reports whether a dependency is ready to serve; nil means ready.
type ReadyCheck func(ctx context.Context) error

// ServerOptions configures a Server. Handler and Connector are required.
type ServerOptions struct {
	Logger  *slog.Logger
	Handler Handler
	// Connector sends replies; usually a *Connector.
	Connector sender
	// Validator authenticates inbound requests. Nil means local mode:
	// requests are accepted without an Authorization header.
	Validator auth.TokenValidator
	// AllowedTenants restricts the tenants served; empty allows any.
	AllowedTenants []string
	// Dedupe drops redelivered activities; nil handles every delivery.
	Dedupe Deduper
	// Ready lists what /readyz checks.
	Ready []ReadyCheck
	// ReadyTimeout is /readyz's budget (default 2 s): it answers 503 when
	// the checks have not all passed by then, however long a check blocks.
	ReadyTimeout time.Duration
	// RejectLogInterval is how often the count of rejected requests (401,
	// 403) is logged, per reason, after the first of them (default 1 min).
	RejectLogInterval time.Duration
	// TurnTimeout bounds the synchronous part of a turn (default 10 s, under
	// Teams' 15 s acknowledgement deadline).
	TurnTimeout time.Duration
	// LaterTimeout bounds work a turn defers past its acknowledgement
	// (default 3 min).
	LaterTimeout time.Duration
	// MaxBodyBytes caps a request body (default 1 MiB); larger gets 413.
	MaxBodyBytes int64
	// Mounts adds handlers to the bot's HTTP surface, by ServeMux pattern
	// (the sandbox in local mode).
	Mounts map[string]http.Handler
	// Observer is told of every request to /api/messages, for metrics;
	// nil tells no one.
	Observer TurnObserver
}

// TurnObserver is told how each request to /api/messages ended, for
// metrics. Its methods must be quick and safe for concurrent use.
type TurnObserver interface {
	// ObserveTurn reports one request: the activity type (message, invoke,
	// conversationUpdate, installationUpdate, other, or unknown when the
	// body could not be read), its outcome (one of the Outcome constants)
	// and how long the synchronous part took.
	ObserveTurn(activityType, outcome string, took time.Duration)
}

// Outcomes of a request to /api/messages, as told to a TurnObserver.
const (
	OutcomeOK              = "ok"
	OutcomeDuplicate       = "duplicate"        // a redelivery, acknowledged and ignored
	OutcomeUnauthorized    = "unauthorized"     // 401
	OutcomeForbiddenTenant = "forbidden_tenant" // 403: tenant not allowed
	OutcomeBadRequest      = "bad_request"      // 400: not an activity
	OutcomeTooLarge        = "too_large"        // 413
	OutcomeError           = "error"            // 500: the handler failed
	OutcomePanic           = "panic"            // 500: the handler panicked
	OutcomeUnavailable     = "unavailable"      // 503: the duplicate check failed
)

// activityTypeLabel maps an activity type to a bounded set of values: an
// unauthenticated sender chooses the type freely.
func activityTypeLabel(t schema.ActivityTypes) string {
	switch t {
	case schema.Message, schema.Invoke, schema.ConversationUpdate, "installationUpdate":
		return string(t)
	case "":
		return "unknown"
	}
	return "other"
}

// Server is the bot's HTTP handler.
type Server struct {
	opts ServerOptions
	log  *slog.Logger
	mux  *http.ServeMux
	// later tracks work deferred past the acknowledgement of a turn.
	later sync.WaitGroup
	// rejects logs rejected requests, rate-limited.
	rejects *rejectLog
	// uncertain drops duplicate records whose writing timed out.
	uncertain *uncertainRecords

	readyMu  sync.Mutex
	readyRun *readyRun // the readiness checks in flight, if any
}

// dedupeTTL is how long an activity id is remembered.
const dedupeTTL = time.Hour

// forgetTimeout bounds dropping the record of a failed turn, which happens
// when the turn's own budget may be spent.
const forgetTimeout = 2 * time.Second

// NewServer assembles the HTTP handler. It performs no I/O.
func NewServer(o ServerOptions) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TurnTimeout <= 0 {
		o.TurnTimeout = 10 * time.Second
	}
	if o.LaterTimeout <= 0 {
		o.LaterTimeout = 3 * time.Minute
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 2 * time.Second
	}
	if o.RejectLogInterval <= 0 {
		o.RejectLogInterval = time.Minute
	}
	s := &Server{opts: o, log: o.Logger, mux: http.NewServeMux(), rejects: newRejectLog(o.Logger, o.RejectLogInterval)}
	s.uncertain = newUncertainRecords(func(ctx context.Context, key, token string) error {
		return s.opts.Dedupe.Forget(ctx, key, token)
	}, o.Logger)
	s.addRoutes(s.mux)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Wait blocks until work deferred with Turn.Later has finished or ctx ends.
// Call it after http.Server.Shutdown during a graceful stop. It first
// logs the counts of rejected requests not logged yet.
func (s *Server) Wait(ctx context.Context) error {
	s.rejects.flush()
	s.uncertain.close()
	done := make(chan struct{})
	go func() { s.later.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
}

func (s *Server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.ReadyTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := s.ready(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "not ready\n")
			return
		}
		io.WriteString(w, "ready\n")
	})
}

// readyRun is one run of the readiness checks: err is set when done closes.
type readyRun struct {
	done chan struct{}
	err  error
}

// errReadyBudget: the checks did not answer within /readyz's budget.
var errReadyBudget = errors.New("readiness checks did not answer within the budget")

// ready runs the readiness checks, or joins the run already in flight,
// and waits for its outcome until ctx ends. The checks run in a goroutine
// of their own because a dependency need not honour its context (go-redis
// waits out its read timeout, and retries, on a frozen Redis): the answer
// keeps its budget however long a check blocks. One run at most is in
// flight per Server, so probes during a freeze share it instead of piling
// up goroutines; it gets ReadyTimeout as its context's deadline, and ends
// when the slowest dependency gives up.
func (s *Server) ready(ctx context.Context) error {
	s.readyMu.Lock()
	run := s.readyRun
	if run == nil {
		run = &readyRun{done: make(chan struct{})}
		s.readyRun = run
		go s.runReady(run)
	}
	s.readyMu.Unlock()
	select {
	case <-run.done:
		return run.err
	case <-ctx.Done():
		return errReadyBudget
	}
}

// runReady runs every check in turn, stopping at the first failure, and
// records the outcome in run.
func (s *Server) runReady(run *readyRun) {
	defer func() {
		if p := recover(); p != nil {
			run.err = fmt.Errorf("readiness check panicked: %v", p)
		}
		s.readyMu.Lock()
		s.readyRun = nil
		s.readyMu.Unlock()
		close(run.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ReadyTimeout)
	defer cancel()
	for _, check := range s.opts.Ready {
		if err := check(ctx); err != nil {
			run.err = err
			return
		}
	}
}

// handleMessages is the Bot Framework endpoint: verify, filter, route, answer.
func (s *Server) handleMessages() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log := s.log
		start, typ, outcome := time.Now(), schema.ActivityTypes(""), OutcomeOK
		if s.opts.Observer != nil {
			// Deferred first so that it runs last, after the recovery below
			// has set the outcome of a panic.
			defer func() { s.opts.Observer.ObserveTurn(activityTypeLabel(typ), outcome, time.Since(start)) }()
		}
		defer func() {
			if p := recover(); p != nil {
				outcome = OutcomePanic
				log.ErrorContext(r.Context(), "panic in turn", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()

		act, refused, status := s.readActivity(w, r)
		if refused != "" {
			outcome = refused
			w.WriteHeader(status)
			return
		}
		typ = act.Type

		if s.opts.Validator != nil {
			if _, err := s.opts.Validator.AuthenticateRequest(r.Context(), act, r.Header.Get("Authorization"), nil, ""); err != nil {
				s.rejects.reject(r.Context(), log, rejectUnauthenticated, "request not authenticated", "err", err, "remote", r.RemoteAddr)
				outcome = OutcomeUnauthorized
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}

		// Ids out of bounds are refused before anything is recorded.
		if err := checkIDs(act); err != nil {
			log.WarnContext(r.Context(), "activity refused", "err", err)
			outcome = OutcomeBadRequest
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, err.Error()+"\n")
			return
		}

		tenant := TenantOf(act)
		log = withTurn(log, slog.String("activity_id", act.ID), slog.String("conversation_id", act.Conversation.ID),
			slog.String("tenant", tenant), slog.String("type", string(act.Type)))
		if len(s.opts.AllowedTenants) > 0 && !slices.Contains(s.opts.AllowedTenants, tenant) {
			s.rejects.reject(r.Context(), log, rejectTenant, "tenant not allowed", "remote", r.RemoteAddr)
			outcome = OutcomeForbiddenTenant
			w.WriteHeader(http.StatusForbidden)
			return
		}

		// Slow dependencies must not hold the acknowledgement past Teams'
		// deadline, and a dropped connection must not abort a half-done turn.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.opts.TurnTimeout)
		defer cancel()

		dedupeKey, token := "", newToken()
		if s.opts.Dedupe != nil && act.ID != "" {
			var first bool
			var err error
			ctx, dedupeKey, first, err = s.firstSeen(ctx, act, token)
			if err != nil {
				log.ErrorContext(ctx, "duplicate check failed", "err", err)
				if dedupeKey != "" {
					s.uncertain.add(dedupeKey, token) // it may still be written
				}
				outcome = OutcomeUnavailable
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			if !first {
				log.InfoContext(ctx, "duplicate delivery ignored")
				outcome = OutcomeDuplicate
				w.WriteHeader(http.StatusOK)
				return
			}
		}

		turn := &Turn{Activity: act, conn: s.opts.Connector, logger: log, later: s.runLater(log)}
		resp, err := s.route(ctx, turn)
		if err != nil {
			log.ErrorContext(ctx, "turn failed", "err", err)
			outcome = OutcomeError
			if dedupeKey != "" {
				s.forget(ctx, log, dedupeKey, token)
			}
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		writeInvokeResponse(w, resp)
	})
}

// readActivity reads and decodes the request's activity. refused is the
// outcome of a body that is not one (too large, unreadable, no type) and
// status its answer; nothing unauthenticated is told why it was refused.
func (s *Server) readActivity(w http.ResponseWriter, r *http.Request) (act schema.Activity, refused string, status int) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return act, OutcomeTooLarge, http.StatusRequestEntityTooLarge
		}
		return act, OutcomeBadRequest, http.StatusBadRequest
	}
	if err := json.Unmarshal(body, &act); err != nil || act.Type == "" {
		if s.opts.Validator != nil {
			return act, OutcomeUnauthorized, http.StatusUnauthorized
		}
		return act, OutcomeBadRequest, http.StatusBadRequest
	}
	return act, "", 0
}

// forget drops the duplicate record of a failed turn. The turn's own
// context may be what ran out: the record is dropped with a budget of its
// own, or Teams' retry of the activity would be taken for a duplicate and
// never answered.
func (s *Server) forget(ctx context.Context, log *slog.Logger, key, token string) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), forgetTimeout)
	defer cancel()
	if err := s.opts.Dedupe.Forget(fctx, key, token); err != nil {
		log.WarnContext(ctx, "could not forget failed activity", "err", err)
		s.uncertain.add(key, token)
	}
}

// firstSeen records the activity with the Deduper, which may read in the
// same round trip what the turn will (a Prefetcher); it returns the context
// the turn runs with and the key to Forget if the turn fails.
func (s *Server) firstSeen(ctx context.Context, act schema.Activity, token string) (context.Context, string, bool, error) {
	key := seenKey(act.Conversation.ID, act.ID)
	if p, ok := s.opts.Dedupe.(Prefetcher); ok {
		turnCtx, recorded, first, err := p.FirstSeenPrefetch(ctx, key, token, dedupeTTL, act)
		if err != nil {
			return ctx, recorded, false, err
		}
		return turnCtx, recorded, first, nil
	}
	first, err := s.opts.Dedupe.FirstSeen(ctx, key, token, dedupeTTL)
	return ctx, key, first, err
}

// seenKey names the record of a handled activity: a digest of the
// conversation and activity ids, since Teams' ids run to 200 characters and
// one record is kept per turn for an hour.
func seenKey(conversationID, activityID string) string {
	h := sha256.Sum256([]byte(conversationID + "\x00" + activityID))
	return "seen:" + base64.RawURLEncoding.EncodeToString(h[:16])
}

// route dispatches a turn by activity type. Types the bot does not handle
// are acknowledged and ignored.
func (s *Server) route(ctx context.Context, t *Turn) (InvokeResponse, error) {
	h := s.opts.Handler
	switch t.Activity.Type {
	case schema.Message:
		return InvokeResponse{}, h.OnMessage(ctx, t)
	case schema.Invoke:
		return h.OnInvoke(ctx, t)
	case schema.ConversationUpdate:
		return InvokeResponse{}, h.OnConversationUpdate(ctx, t)
	case "installationUpdate":
		return InvokeResponse{}, h.OnInstallationUpdate(ctx, t)
	default:
		t.logger.DebugContext(ctx, "activity type not handled")
		return InvokeResponse{}, nil
	}
}

func writeInvokeResponse(w http.ResponseWriter, resp InvokeResponse) {
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	if resp.Body == nil {
		w.WriteHeader(status)
		return
	}
	b, ok := resp.Body.(json.RawMessage) // encoded already: written as it is
	if !ok {
		var err error
		if b, err = json.Marshal(resp.Body); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// runLater returns the function behind Turn.Later for one turn.
func (s *Server) runLater(log *slog.Logger) func(func(ctx context.Context)) {
	return func(fn func(ctx context.Context)) {
		s.later.Add(1)
		go func() {
			defer s.later.Done()
			defer func() {
				if p := recover(); p != nil {
					log.Error("panic in deferred turn work", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.LaterTimeout)
			defer cancel()
			fn(ctx)
		}()
	}
}

// lazyAttrs holds a turn's attributes until a line is logged: slog's JSON
// handler formats attributes when they are added, which cost every turn
// about 2% of its CPU, though most turns log nothing.
type lazyAttrs struct {
	next  slog.Handler
	attrs []slog.Attr
}

// withTurn is log with the turn's attributes, formatted only if used.
func withTurn(log *slog.Logger, attrs ...slog.Attr) *slog.Logger {
	return slog.New(&lazyAttrs{next: log.Handler(), attrs: attrs})
}

func (l *lazyAttrs) Enabled(ctx context.Context, level slog.Level) bool {
	return l.next.Enabled(ctx, level)
}

func (l *lazyAttrs) Handle(ctx context.Context, r slog.Record) error {
	return l.next.WithAttrs(l.attrs).Handle(ctx, r)
}

func (l *lazyAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &lazyAttrs{next: l.next, attrs: append(slices.Clip(l.attrs), attrs...)}
}

func (l *lazyAttrs) WithGroup(name string) slog.Handler {
	return l.next.WithAttrs(l.attrs).WithGroup(name)
}
