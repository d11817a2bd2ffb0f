package bot

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Reasons a request is rejected, as logged.
const (
	rejectUnauthenticated = "unauthenticated"    // 401: no valid token; auth_reason says why
	rejectTenant          = "tenant_not_allowed" // 403: a tenant outside ALLOWED_TENANTS
)

// rejectLog logs rejected requests without letting whoever can reach the
// port flood the log: the first rejection of a reason (for a 401, of a
// reason and the token's auth_reason) is logged at once,
// with its details; the ones that follow are counted, and one line per
// interval gives their count, for as long as they keep coming. An interval
// without any closes the reason's window, so that the next rejection is
// logged at once again. At most two lines per reason per interval, then;
// no goroutine runs between them (a timer fires at the end of each).
type rejectLog struct {
	log      *slog.Logger
	interval time.Duration

	mu      sync.Mutex
	windows map[windowKey]*rejectWindow // only open windows
}

// windowKey names a window: the reason, and for a 401 the token's
// auth_reason ("" otherwise).
type windowKey struct{ reason, detail string }

// rejectWindow is an open window of one reason: rejections counted since
// the last line.
type rejectWindow struct {
	timer *time.Timer // ends the interval
	count int
	since time.Time
	last  string // remote address of the latest one counted
}

func newRejectLog(log *slog.Logger, interval time.Duration) *rejectLog {
	return &rejectLog{log: log, interval: interval, windows: map[windowKey]*rejectWindow{}}
}

// reject records one rejected request for reason: msg and attrs are
// logged (on log, the request's logger) when it is the first in its
// window, and only counted otherwise. remote is among attrs as "remote".
func (l *rejectLog) reject(ctx context.Context, log *slog.Logger, reason, msg string, attrs ...any) {
	l.record(ctx, log, windowKey{reason: reason}, msg, attrs)
}

// rejectToken records one request refused for its token (401), in the
// window of its auth_reason: err (a *AuthError from a Validator) gives the
// reason and the token's unverified iss, aud, kid, tid and app, never the
// token.
func (l *rejectLog) rejectToken(ctx context.Context, log *slog.Logger, err error, remote string) {
	key := windowKey{reason: rejectUnauthenticated}
	attrs := []any{"err", err}
	var ae *AuthError
	if errors.As(err, &ae) {
		key.detail = ae.Reason
		attrs = append(attrs, ae.LogAttrs()...)
	}
	l.record(ctx, log, key, "request not authenticated", append(attrs, "remote", remote))
}

// record logs or counts one rejection in key's window.
func (l *rejectLog) record(ctx context.Context, log *slog.Logger, key windowKey, msg string, attrs []any) {
	l.mu.Lock()
	if w, open := l.windows[key]; open {
		w.count++
		w.last = remoteOf(attrs)
		l.mu.Unlock()
		return
	}
	w := &rejectWindow{since: time.Now()}
	w.timer = time.AfterFunc(l.interval, func() { l.tick(key, w) })
	l.windows[key] = w
	l.mu.Unlock()
	log.WarnContext(ctx, msg, append([]any{"reason", key.reason, "rejections_counted_for", l.interval.String()}, attrs...)...)
}

// tick ends an interval of w: it logs the count, and keeps the window
// open for another interval if there was one, or closes it.
func (l *rejectLog) tick(key windowKey, w *rejectWindow) {
	l.mu.Lock()
	if l.windows[key] != w {
		l.mu.Unlock()
		return // flushed meanwhile
	}
	n, since, last := w.count, w.since, w.last
	if n == 0 {
		delete(l.windows, key)
	} else {
		w.count, w.since = 0, time.Now()
		w.timer.Reset(l.interval)
	}
	l.mu.Unlock()
	if n > 0 {
		l.summary(key, n, since, last)
	}
}

// flush logs every count not logged yet and closes the windows.
func (l *rejectLog) flush() {
	l.mu.Lock()
	windows := l.windows
	l.windows = map[windowKey]*rejectWindow{}
	l.mu.Unlock()
	for key, w := range windows {
		w.timer.Stop()
		if w.count > 0 {
			l.summary(key, w.count, w.since, w.last)
		}
	}
}

func (l *rejectLog) summary(key windowKey, n int, since time.Time, last string) {
	attrs := []any{"reason", key.reason}
	if key.detail != "" {
		attrs = append(attrs, "auth_reason", key.detail)
	}
	l.log.Warn("requests rejected", append(attrs, "count", n, "since", since.UTC().Format(time.RFC3339), "last_remote", last)...)
}

// remoteOf is the "remote" value among attrs, or "".
func remoteOf(attrs []any) string {
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i] == "remote" {
			s, _ := attrs[i+1].(string)
			return s
		}
	}
	return ""
}
