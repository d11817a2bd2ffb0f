package graph

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"

	"github.com/smartswap/mfabot/internal/retry"
)

// callState is what the transport saw of one Client call's last response.
// It travels in the request context; the call runs in one goroutine (the
// http.Client invokes RoundTrip synchronously), so it needs no lock.
type callState struct {
	status   int
	header   http.Header
	attempts int
}

type callStateKey struct{}

func callStateFrom(ctx context.Context) *callState {
	st, _ := ctx.Value(callStateKey{}).(*callState)
	return st
}

// throttleTransport retries throttled responses (429 and 503) honouring
// Retry-After. It replaces kiota's RetryHandler, which also retries 504,
// has no bound on a single wait, and leaves the bodies of retried responses
// open.
//
// A retry is skipped, and the throttled response returned as is, when the
// attempts are used up, when the wait would exceed maxWait, or when it would
// outlast the request context's deadline: the caller then gets a
// KindThrottled Error carrying RetryAfter instead of a timeout.
type throttleTransport struct {
	next        http.RoundTripper
	maxAttempts int
	maxWait     time.Duration
	sleep       func(context.Context, time.Duration) error
}

func (t *throttleTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	st := callStateFrom(ctx)

	// Buffer the body once so every attempt can send it again.
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}

	for attempt := 1; ; attempt++ {
		// Clone per attempt: middlewares further down add headers.
		r := req.Clone(ctx)
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		resp, err := t.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if st != nil {
			st.status, st.header, st.attempts = resp.StatusCode, resp.Header, attempt
		}
		if !isThrottled(resp.StatusCode) || attempt >= t.maxAttempts {
			return resp, nil
		}
		wait, ok := retry.After(resp.Header.Get("Retry-After"), time.Now())
		if !ok {
			wait = backoff(attempt, t.maxWait)
		}
		if wait > t.maxWait {
			return resp, nil
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return resp, nil
		}
		drain(resp)
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func isThrottled(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// backoff is the wait before retry n (1-based) when the response gave no
// Retry-After: 1 s, 2 s, 4 s … capped at maxWait.
func backoff(n int, maxWait time.Duration) time.Duration {
	d := time.Second << min(n-1, 16)
	return min(d, maxWait)
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
