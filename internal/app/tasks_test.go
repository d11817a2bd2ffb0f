package app

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestTasksWaitForWorkInFlight(t *testing.T) {
	ts := newTasks()
	var finished atomic.Bool
	ts.goRun(func(ctx context.Context) {
		select {
		case <-time.After(100 * time.Millisecond):
			finished.Store(true)
		case <-ctx.Done():
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n := ts.wait(ctx); n != 0 || !finished.Load() {
		t.Fatalf("wait returned %d given up, finished %v; want the task finished", n, finished.Load())
	}
	if n := ts.wait(ctx); n != 0 {
		t.Fatalf("a second wait with nothing running gave up %d", n)
	}
}

func TestTasksGiveUpWhenTheBudgetEnds(t *testing.T) {
	ts := newTasks()
	var cancelled atomic.Int32
	for range 2 {
		ts.goRun(func(ctx context.Context) {
			<-ctx.Done() // a delivery nobody answers
			cancelled.Add(1)
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if n := ts.wait(ctx); n != 2 {
		t.Fatalf("wait gave up %d tasks, want 2", n)
	}
	if cancelled.Load() != 2 {
		t.Fatalf("wait returned before the tasks it gave up had returned (%d of 2)", cancelled.Load())
	}
	// Work started afterwards ends at once.
	done := make(chan struct{})
	ts.goRun(func(ctx context.Context) { <-ctx.Done(); close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a task started after the budget ended was not cancelled")
	}
}
