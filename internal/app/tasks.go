package app

import (
	"context"
	"sync"
)

// tasks runs work that outlives the turn that started it (a webhook
// delivery) and lets a shutdown wait for it: wait returns once none is
// running, or, when its budget ends first, cancels the ones left, waits
// for them to return and says how many it cut short. Work started after
// that runs with a cancelled context, so it ends at once.
type tasks struct {
	ctx    context.Context // cancelled when a wait gives up
	cancel context.CancelFunc
	mu     sync.Mutex
	n      int           // running
	idle   chan struct{} // closed while n == 0
}

func newTasks() *tasks {
	ctx, cancel := context.WithCancel(context.Background())
	idle := make(chan struct{})
	close(idle)
	return &tasks{ctx: ctx, cancel: cancel, idle: idle}
}

// goRun runs f in a goroutine of its own, with a context that ends only when
// a wait gives up on it.
func (t *tasks) goRun(f func(ctx context.Context)) {
	t.mu.Lock()
	if t.n == 0 {
		t.idle = make(chan struct{})
	}
	t.n++
	t.mu.Unlock()
	go func() {
		defer t.done()
		f(t.ctx)
	}()
}

func (t *tasks) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n--; t.n == 0 {
		close(t.idle)
	}
}

// wait blocks until no task runs or ctx ends. In the second case it cancels
// the tasks still running, waits for them to return (they must honour their
// context), and returns how many there were.
func (t *tasks) wait(ctx context.Context) int {
	t.mu.Lock()
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return 0
	case <-ctx.Done():
	}
	t.mu.Lock()
	left, idle := t.n, t.idle
	t.mu.Unlock()
	t.cancel()
	<-idle
	return left
}
