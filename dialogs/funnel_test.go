package dialogs

import (
	"testing"
	"time"
)

// The funnel counts each step once per dialog, and each ending once.
func TestFunnel(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, tokyo)
	at := func(step StepID) *state {
		return &state{V: stateVersion, ID: "d1", Step: step, Status: statusActive, Started: t0}
	}
	move := func(cur *state, change func(*state)) (*state, funnelChange) {
		next := cur.clone()
		change(next)
		return next, funnel(cur, next, t0.Add(20*time.Minute))
	}

	s := at("cautions")
	if f := funnel(nil, s, t0); !f.started || f.entered != "cautions" || f.lost || f.completed || f.cancelled != "" {
		t.Fatalf("start: %+v", f)
	}
	s, f := move(s, func(n *state) { n.Step = "old_phone" })
	if f != (funnelChange{entered: "old_phone"}) {
		t.Errorf("next: %+v", f)
	}
	s, f = move(s, func(n *state) { n.Step = "cautions" })
	if !f.empty() {
		t.Errorf("back: %+v", f)
	}
	s, f = move(s, func(n *state) { n.Step = "old_phone" })
	if !f.empty() {
		t.Errorf("forward again to a step already reached: %+v", f)
	}
	lost, f := move(s, func(n *state) { n.Step = stepLost })
	if f != (funnelChange{lost: true}) {
		t.Errorf("lost: %+v", f)
	}
	if _, f = move(lost, func(n *state) { n.Problem = "x" }); !f.empty() {
		t.Errorf("still lost: %+v", f)
	}
	if _, f = move(s, func(n *state) { n.Status = statusCancelled }); f != (funnelChange{cancelled: "old_phone"}) {
		t.Errorf("cancel: %+v", f)
	}
	last := at("remove_account")
	last.Reached = len(procedure)
	if _, f = move(last, func(n *state) { n.Status = statusDone }); f != (funnelChange{completed: true, took: 20 * time.Minute}) {
		t.Errorf("complete: %+v", f)
	}
	// Start over: a new dialog, counted from its first step.
	fresh := at("cautions")
	fresh.ID = "d2"
	if f = funnel(s, fresh, t0); !f.started || f.entered != "cautions" {
		t.Errorf("start over: %+v", f)
	}
}

func TestMedian(t *testing.T) {
	m := time.Minute
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{5 * m}, 5 * m},
		{[]time.Duration{9 * m, 1 * m, 5 * m}, 5 * m},
		{[]time.Duration{4 * m, 1 * m, 10 * m, 6 * m}, 5 * m},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
