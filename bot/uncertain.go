package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"
)

// uncertainRecords are duplicate records whose writing failed without a
// clear answer: the store did not reply in time (a Redis stall), the turn
// was answered 503 so that Teams retries, and yet the write may still
// happen when the store resumes. Left alone, that late record would make
// Teams' retry a "duplicate delivery" and the activity would never be
// answered. So each is dropped again, with the attempt's own token (never
// another attempt's record), by one worker that tries every second until
// the store answers or uncertainFor has passed.
type uncertainRecords struct {
	forget func(ctx context.Context, key, token string) error
	log    *slog.Logger

	mu      sync.Mutex
	pending map[string]uncertain // by key
	running bool
	stop    chan struct{}
	done    sync.WaitGroup
}

type uncertain struct {
	token string
	since time.Time
}

// uncertainFor is how long a record's late write is waited for: a write
// still queued after a stall this long had its connection closed.
const uncertainFor = 2 * time.Minute

// maxUncertain bounds the records waited for (an outage of many turns).
const maxUncertain = 4096

func newUncertainRecords(forget func(ctx context.Context, key, token string) error, log *slog.Logger) *uncertainRecords {
	return &uncertainRecords{forget: forget, log: log, pending: map[string]uncertain{}, stop: make(chan struct{})}
}

// add waits for the record key of the attempt token to be dropped.
func (u *uncertainRecords) add(key, token string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	select {
	case <-u.stop:
		return
	default:
	}
	if len(u.pending) >= maxUncertain {
		return
	}
	u.pending[key] = uncertain{token: token, since: time.Now()}
	if !u.running {
		u.running = true
		u.done.Add(1)
		go u.run()
	}
}

func (u *uncertainRecords) run() {
	defer u.done.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-t.C:
		}
		u.mu.Lock()
		batch := make(map[string]uncertain, len(u.pending))
		for k, v := range u.pending {
			batch[k] = v
		}
		u.mu.Unlock()
		for key, rec := range batch {
			ctx, cancel := context.WithTimeout(context.Background(), forgetTimeout)
			err := u.forget(ctx, key, rec.token)
			cancel()
			if err == nil || time.Since(rec.since) > uncertainFor {
				if err != nil {
					u.log.Warn("gave up dropping an uncertain duplicate record", "err", err)
				}
				u.mu.Lock()
				delete(u.pending, key)
				u.mu.Unlock()
			}
		}
		u.mu.Lock()
		if len(u.pending) == 0 {
			u.running = false
			u.mu.Unlock()
			return
		}
		u.mu.Unlock()
	}
}

// close stops the worker (at shutdown) and waits for it.
func (u *uncertainRecords) close() {
	u.mu.Lock()
	select {
	case <-u.stop:
	default:
		close(u.stop)
	}
	u.mu.Unlock()
	u.done.Wait()
}

// newToken is an attempt's own mark on its duplicate record.
func newToken() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
