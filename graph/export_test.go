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
