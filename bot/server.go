package bot

import (
	"bytes"
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
	"strconv"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/schema"
)

// Deduper keeps a record of each delivered activity, so that the turn of
// an activity Teams delivers more than once runs once and every delivery
// gets its answer: the idempotency record of a turn.
//
// A delivery is begun (Begin): the record is taken in progress by the
// attempt's own token for a lease as long as the turn can last, or its
// state is returned if it exists. A turn that succeeds finishes it
// (Finish) with its answer, kept for an hour; a turn that fails forgets
// it (Forget), so that Teams' retry is handled as new. A redelivery while
// the record is in progress is told to come back (503 with Retry-After:
// the attempt in flight may yet fail); one of a completed turn gets the
// stored answer again (an invoke's body; nothing for a message, whose
// answer left as a message of its own) and changes nothing. A record
// whose writing had no clear outcome (a Redis stall: 503) is dropped again
// by a worker (uncertain.go); one left by a replica that crashed expires
// with its lease.
type Deduper interface {
	// Begin records key in progress for token, for lease, unless it is
	// recorded already: Delivery says which, and what it holds.
	Begin(ctx context.Context, key, token string, lease time.Duration) (Delivery, error)
	// Finish marks key done with answer, kept for ttl, if token still
	// holds it in progress.
	Finish(ctx context.Context, key, token string, answer []byte, ttl time.Duration) (bool, error)
	// Forget drops key if token still holds it in progress, so that a
	// redelivery of a turn that failed is handled.
	Forget(ctx context.Context, key, token string) error
}

// Delivery is the state of a delivery's record as Begin found it.
type Delivery struct {
	// First: the delivery is new, and the attempt now holds its record.
	First bool
	// Done: an earlier attempt completed; Answer is what it answered
	// (see storedAnswer).
	Done   bool
	Answer []byte
}

// Prefetcher is a Deduper that can read, in Begin's own round trip, what
// the turn of activity a will read first (the user's dialog, say). It
// returns the key it recorded (what Finish and Forget are given) and the
// context the turn runs with, which carries what it read; the bot knows
// nothing of what that is.
type Prefetcher interface {
	BeginPrefetch(ctx context.Context, key, token string, lease time.Duration, a schema.Activity) (turnCtx context.Context, recorded string, d Delivery, err error)
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
	// RecordRetryEvery is how often a write of a turn's record that had
	// no clear outcome is tried again (default 1 s; see uncertain.go).
	RecordRetryEvery time.Duration
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
	OutcomeInProgress      = "in_progress"      // 503: a redelivery while the turn runs
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

// RecordTTL is how long a completed turn's record (and its answer) is
// kept: redeliveries within it get the answer again.
const RecordTTL = dedupeTTL

// recordTimeout bounds finishing or dropping a turn's record, which
// happens when the turn's own budget may be spent.
const recordTimeout = 2 * time.Second

// leaseMargin is how long a record stays in progress past the turn's
// budget and the time given to finish it: after that, its turn has ended
// for sure (or its replica crashed), and a redelivery is handled as new.
const leaseMargin = 3 * time.Second

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
	if o.RecordRetryEvery <= 0 {
		o.RecordRetryEvery = time.Second
	}
	if o.RejectLogInterval <= 0 {
		o.RejectLogInterval = time.Minute
	}
	s := &Server{opts: o, log: o.Logger, mux: http.NewServeMux(), rejects: newRejectLog(o.Logger, o.RejectLogInterval)}
	s.uncertain = newUncertainRecords(func() Deduper { return s.opts.Dedupe }, o.RecordRetryEvery, o.Logger)
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
		rec := record{token: newToken()} // the turn's idempotency record, once taken
		defer func() {
			if p := recover(); p != nil {
				outcome = OutcomePanic
				log.ErrorContext(r.Context(), "panic in turn", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rec.key != "" {
					s.forget(r.Context(), log, rec)
				}
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
				s.rejects.rejectToken(r.Context(), log, err, r.RemoteAddr)
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

		tr := &TurnRecord{Token: rec.token}
		if s.opts.Dedupe != nil && act.ID != "" {
			var d Delivery
			var err error
			ctx = context.WithValue(ctx, turnRecordKey{}, tr)
			ctx, rec.key, d, err = s.begin(ctx, act, rec.token)
			switch {
			case err != nil:
				log.ErrorContext(ctx, "duplicate check failed", "err", err)
				if rec.key != "" {
					s.uncertain.forget(rec.key, rec.token) // it may still be written
				}
				outcome = OutcomeUnavailable
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			case d.Done && string(d.Answer) == ReplayAnswer:
				// Answered again by the handler, from the state the first
				// delivery saved; nothing is recorded or changed.
				log.InfoContext(ctx, "duplicate delivery answered again from the saved state")
				outcome = OutcomeDuplicate
				resp, err := s.route(context.WithValue(ctx, replayKey{}, true), &Turn{Activity: act, conn: s.opts.Connector, logger: log, later: s.runLater(log)})
				if err != nil {
					// Teams retries: the answer is given again once the
					// handler can give it.
					log.ErrorContext(ctx, "answering a duplicate delivery failed", "err", err)
					w.WriteHeader(http.StatusInternalServerError)
					return
				}
				status, body := encodeInvokeResponse(resp)
				writeAnswer(w, status, body)
				return
			case d.Done:
				log.InfoContext(ctx, "duplicate delivery answered as before")
				outcome = OutcomeDuplicate
				writeStoredAnswer(w, d.Answer)
				return
			case !d.First:
				log.InfoContext(ctx, "redelivery while the turn is in progress: asked to retry")
				outcome = OutcomeInProgress
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}

		turn := &Turn{Activity: act, conn: s.opts.Connector, logger: log, later: s.runLater(log)}
		resp, err := s.route(ctx, turn)
		if err != nil {
			log.ErrorContext(ctx, "turn failed", "err", err)
			outcome = OutcomeError
			if rec.key != "" {
				s.forget(ctx, log, rec)
			}
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		status, body := encodeInvokeResponse(resp)
		if answer := storedAnswer(status, body); rec.key != "" && !tr.holds(answer) {
			s.finish(ctx, log, rec, answer)
		}
		writeAnswer(w, status, body)
	})
}

// record names a turn's idempotency record: its key ("" for none) and the
// attempt's token.
type record struct{ key, token string }

type replayKey struct{}

// Replaying reports whether the turn in ctx answers a redelivery again
// (ReplayAnswer): a handler that cannot give the answer it gave the first
// time (a store that fails) must then return an error, so that the bot
// asks Teams to retry instead of answering something else.
func Replaying(ctx context.Context) bool { r, _ := ctx.Value(replayKey{}).(bool); return r }

// ReplayAnswer is what a completed turn's record holds when its answer is
// given again by running the turn again: its handler answers a
// redelivery from the state the first delivery saved and changes nothing
// (a card press carries the card's nonce: it can move the dialog once
// only). It keeps a record a few bytes long instead of the card.
const ReplayAnswer = "~"

// TurnRecord is the turn's idempotency record as its context carries it
// (TurnRecordFrom), for a store that saves the turn's state and can mark
// the record done with the turn's answer in the same write: it says so
// with MarkedDone, and the bot then writes the record only if the turn
// answers otherwise.
type TurnRecord struct {
	// Token is the attempt's own mark on the record.
	Token  string
	mu     sync.Mutex
	stored []byte
	marked bool
}

// MarkedDone says the record was marked done for the answer stored (as
// StoredAnswer encodes it): the turn answering so needs no write of its
// own.
func (r *TurnRecord) MarkedDone(stored []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stored, r.marked = stored, true
}

// holds reports whether the record was marked done holding stored.
func (r *TurnRecord) holds(stored []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.marked && bytes.Equal(r.stored, stored)
}

type turnRecordKey struct{}

// TurnRecordFrom returns the record of the turn running in ctx (nil
// outside a turn), for the Prefetcher that begins it.
func TurnRecordFrom(ctx context.Context) *TurnRecord {
	r, _ := ctx.Value(turnRecordKey{}).(*TurnRecord)
	return r
}

// StoredAnswer encodes an invoke's answer as the record keeps it, the same
// bytes the bot compares with what a store marked.
func StoredAnswer(resp InvokeResponse) []byte { return storedAnswer(encodeInvokeResponse(resp)) }

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

// forget drops the record of a failed turn. The turn's own context may
// be what ran out: the record is dropped with a budget of its own, or
// Teams' retry of the activity would be told to wait until the lease ends.
func (s *Server) forget(ctx context.Context, log *slog.Logger, rec record) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := s.opts.Dedupe.Forget(fctx, rec.key, rec.token); err != nil {
		log.WarnContext(ctx, "could not forget failed activity", "err", err)
		s.uncertain.forget(rec.key, rec.token)
	}
}

// finish marks the record of a turn that succeeded done, with its answer,
// on a budget of its own. A failure is logged and the write retried by
// the uncertain-records worker: the answer stands, and until the record
// is marked a redelivery is asked to retry.
func (s *Server) finish(ctx context.Context, log *slog.Logger, rec record, answer []byte) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	ok, err := s.opts.Dedupe.Finish(fctx, rec.key, rec.token, answer, dedupeTTL)
	switch {
	case err != nil:
		log.WarnContext(ctx, "could not record the turn's answer", "err", err)
		s.uncertain.finish(rec.key, rec.token, answer)
	case !ok:
		log.WarnContext(ctx, "the turn's record was taken by another attempt (its lease ended)")
	}
}

// lease is how long a turn's record is held in progress.
func (s *Server) lease() time.Duration { return s.opts.TurnTimeout + recordTimeout + leaseMargin }

// begin begins the activity's record with the Deduper, which may read in
// the same round trip what the turn will (a Prefetcher); it returns the
// context the turn runs with and the key recorded.
func (s *Server) begin(ctx context.Context, act schema.Activity, token string) (context.Context, string, Delivery, error) {
	key := seenKey(act.Conversation.ID, act.ID)
	if p, ok := s.opts.Dedupe.(Prefetcher); ok {
		turnCtx, recorded, d, err := p.BeginPrefetch(ctx, key, token, s.lease(), act)
		if err != nil {
			return ctx, recorded, Delivery{}, err
		}
		return turnCtx, recorded, d, nil
	}
	d, err := s.opts.Dedupe.Begin(ctx, key, token, s.lease())
	return ctx, key, d, err
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

// encodeInvokeResponse is the HTTP status and body of a turn's answer
// (body nil: none).
func encodeInvokeResponse(resp InvokeResponse) (int, []byte) {
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	if resp.Body == nil {
		return status, nil
	}
	b, ok := resp.Body.(json.RawMessage) // encoded already: written as it is
	if !ok {
		var err error
		if b, err = json.Marshal(resp.Body); err != nil {
			return http.StatusInternalServerError, nil
		}
	}
	return status, b
}

func writeAnswer(w http.ResponseWriter, status int, body []byte) {
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

// storedAnswer is how a turn's HTTP answer is kept in its record: empty
// for a plain 200 (a message's), else the status, a space and the body.
func storedAnswer(status int, body []byte) []byte {
	if status == http.StatusOK && body == nil {
		return nil
	}
	return append([]byte(strconv.Itoa(status)+" "), body...)
}

// writeStoredAnswer writes an answer kept by storedAnswer again.
func writeStoredAnswer(w http.ResponseWriter, stored []byte) {
	code, body, found := bytes.Cut(stored, []byte(" "))
	status, err := strconv.Atoi(string(code))
	if !found || err != nil || status < 200 || status > 599 {
		w.WriteHeader(http.StatusOK)
		return
	}
	if len(body) == 0 {
		body = nil
	}
	writeAnswer(w, status, body)
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
