package graph_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/smartswap/mfabot/graph"
)

// recordingObserver records what a Client tells its Observer.
type recordingObserver struct {
	mu    sync.Mutex
	calls []observedCall
}

type observedCall struct {
	op, status string
	took       time.Duration
}

var _ graph.Observer = (*recordingObserver)(nil)

func (o *recordingObserver) ObserveGraphCall(op, status string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, observedCall{op, status, took})
}

func (o *recordingObserver) got() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, c := range o.calls {
		out = append(out, c.op+" "+c.status)
	}
	return out
}

func TestObserverToldOfEveryCall(t *testing.T) {
	t.Parallel()
	obs := &recordingObserver{}
	noSleep := func(context.Context, time.Duration) error { return nil }
	c, mux := setup(t, graph.WithObserver(obs), graph.WithRetry(2, time.Second), graph.WithSleep(noSleep))
	mux.HandleFunc(methodsP, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, listBody) })
	mux.HandleFunc("/v1.0/users/nobody@contoso.com", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, notFoundBody)
	})
	mux.HandleFunc("/v1.0/users/busy@contoso.com/revokeSignInSessions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, 429, throttledBody)
	})
	ctx := context.Background()

	if _, err := c.ListAuthenticatorMethods(ctx, userID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, "nobody@contoso.com"); !graph.IsNotFound(err) {
		t.Fatalf("GetUser of nobody: %v", err)
	}
	if err := c.RevokeSignInSessions(ctx, "busy@contoso.com"); !graph.IsThrottled(err) {
		t.Fatalf("RevokeSignInSessions when throttled: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.ListAuthenticatorMethods(canceled, userID); err == nil {
		t.Fatal("a call with a canceled context succeeded")
	}
	// An invalid argument sends nothing and is not a call.
	if _, err := c.ListAuthenticatorMethods(ctx, ""); err == nil {
		t.Fatal("empty user accepted")
	}

	want := []string{
		graph.OpListAuthenticatorMethods + " 200",
		graph.OpGetUser + " 404",
		graph.OpRevokeSignInSessions + " 429", // after its retry
		graph.OpListAuthenticatorMethods + " canceled",
	}
	if got := obs.got(); !slices.Equal(got, want) {
		t.Errorf("observed %q, want %q", got, want)
	}
	for _, c := range obs.calls {
		if c.took <= 0 {
			t.Errorf("%s %s: duration %v", c.op, c.status, c.took)
		}
	}
}
