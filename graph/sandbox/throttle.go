package sandbox

import (
	"math"
	"sync/atomic"
	"time"
)

// Throttle limits the rate of Graph requests the way Graph throttles a
// tenant: one token bucket for the whole sandbox, refilled at
// RequestsPerSecond up to Burst tokens, and full at the start. Each request
// takes a token: a top-level request, or each request inside a $batch (the
// POST /$batch itself takes none). A request that finds the bucket empty
// gets 429 TooManyRequests with a Retry-After header, in whole seconds (at
// least 1), saying when a token will be there; inside a batch, that answer
// and its Retry-After are the request's own. The security-info page is
// never throttled. The bucket runs on Options.Now, so a fixed clock never
// refills it.
type Throttle struct {
	// RequestsPerSecond is the rate the bucket refills at; 0 (or less)
	// turns throttling off.
	RequestsPerSecond float64
	// Burst is the bucket's size: how many requests may come at once after
	// a quiet spell. Less than 1 means RequestsPerSecond rounded up (at
	// least 1).
	Burst int
}

// bucket is the token bucket of a Throttle. s.mu guards it.
type bucket struct {
	rate   float64 // tokens per second; 0: off
	size   float64
	tokens float64
	last   time.Time // when tokens was last brought up to date
}

// newBucket returns t's bucket, full at now.
func newBucket(t Throttle, now time.Time) bucket {
	if t.RequestsPerSecond <= 0 {
		return bucket{}
	}
	size := float64(t.Burst)
	if t.Burst < 1 {
		size = max(math.Ceil(t.RequestsPerSecond), 1)
	}
	return bucket{rate: t.RequestsPerSecond, size: size, tokens: size, last: now}
}

// take takes a token at now, or reports how long until one will be there.
func (b *bucket) take(now time.Time) (wait time.Duration, ok bool) {
	if b.rate == 0 {
		return 0, true
	}
	if now.After(b.last) {
		b.tokens = min(b.size, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
}

// SetThrottle replaces the throttle, with a full bucket;
// SetThrottle(Throttle{}) turns throttling off.
func (s *Sandbox) SetThrottle(t Throttle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = newBucket(t, s.now())
}

// takeToken takes a token from the throttle's bucket, or reports how long
// until one will be there.
func (s *Sandbox) takeToken() (wait time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttle.take(s.now())
}

// Stats counts what the sandbox has served since New.
type Stats struct {
	// Requests is the HTTP requests served on the Graph surface at the top
	// level, each POST /$batch counting one (and its requests none here).
	Requests int64
	// BatchRequests is the requests served inside $batch bodies.
	BatchRequests int64
	// Throttled is the top-level requests Throttle answered with 429.
	Throttled int64
	// BatchThrottled is the requests inside batches Throttle answered with
	// 429.
	BatchThrottled int64
	// UsersListed is the users returned by GET /users and group member
	// listings, over all pages.
	UsersListed int64
	// Materialized is how many synthetic users (Options.Population) are
	// stored because something changed them; reading derives them afresh
	// and stores nothing.
	Materialized int
}

// counters are the atomic counters behind Stats.
type counters struct {
	requests, batchRequests, throttled, batchThrottled, usersListed atomic.Int64
}

// Stats returns the counts so far. It is safe to call at any time.
func (s *Sandbox) Stats() Stats {
	s.mu.Lock()
	materialized := s.materialized
	s.mu.Unlock()
	return Stats{
		Requests:       s.stats.requests.Load(),
		BatchRequests:  s.stats.batchRequests.Load(),
		Throttled:      s.stats.throttled.Load(),
		BatchThrottled: s.stats.batchThrottled.Load(),
		UsersListed:    s.stats.usersListed.Load(),
		Materialized:   materialized,
	}
}
