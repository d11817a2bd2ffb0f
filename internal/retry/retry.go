package retry

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxAfter bounds what After returns, so that a huge delay-seconds value
// cannot overflow a time.Duration; callers bound it further.
const maxAfter = 24 * time.Hour

// After reads a Retry-After header value: delay-seconds or an HTTP date
// (RFC 9110 §10.2.3), as a wait from now. ok is false when the header is
// absent or unreadable; a negative delay or a date in the past is a wait
// of 0; the wait is at most 24 hours.
func After(v string, now time.Time) (wait time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0, true
		}
		if secs > int64(maxAfter/time.Second) {
			return maxAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return min(max(at.Sub(now), 0), maxAfter), true
	}
	return 0, false
}

// Sleep waits d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
