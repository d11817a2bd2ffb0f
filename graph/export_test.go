package graph

import (
	"context"
	"time"
)

// WithSleep replaces the wait between throttling retries, so tests need not
// sleep for real.
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(o *options) { o.sleep = f }
}

// SetTokenFailHold replaces how long a failed token fetch is answered
// from memory, until the returned restore is called.
func SetTokenFailHold(d time.Duration) (restore func()) {
	old := tokenFailHold
	tokenFailHold = d
	return func() { tokenFailHold = old }
}
