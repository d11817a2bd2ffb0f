package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"
)

// uncertainRecords are writes of idempotency records that failed without
// a clear answer, retried by one worker until the store answers.
//
//   - A record whose taking timed out (Begin, a Redis stall): the turn was
//     answered 503 so that Teams retries, and yet the write may still
//     happen when the store resumes. Left alone, that late record, in
//     progress for an attempt that gave up, would make Teams' retries wait
//     out its lease (a retry policy that gives up sooner loses the
//     activity). It is dropped again (Forget), with the attempt's own
//     token, never another attempt's record.
//   - A turn that failed and could not drop its record: the same.
//   - A turn that answered and could not mark its record done (Finish):
//     left alone, the record's lease would end and a redelivery would run
//     the turn again, a second answer. It is marked done again.
//
// The worker tries every second (RecordRetryEvery) until the store answers or uncertainFor
// has passed.
type uncertainRecords struct {
	dedupe func() Deduper
	every  time.Duration
	log    *slog.Logger

	mu      sync.Mutex
	pending map[string]uncertain // by key and token: one attempt's write
	running bool
	stop    chan struct{}
	done    sync.WaitGroup
}

// uncertain is one record's write to retry: Forget, or Finish with answer
// when finish is set.
type uncertain struct {
	key    string
	token  string
	finish bool
	answer []byte
	since  time.Time
}

// uncertainFor is how long a record's late write is waited for: a write
// still queued after a stall this long had its connection closed.
const uncertainFor = 2 * time.Minute

// maxUncertain bounds the records waited for (an outage of many turns).
const maxUncertain = 4096

func newUncertainRecords(dedupe func() Deduper, every time.Duration, log *slog.Logger) *uncertainRecords {
	return &uncertainRecords{dedupe: dedupe, every: every, log: log, pending: map[string]uncertain{}, stop: make(chan struct{})}
}

// forget has the worker drop the record key of the attempt token.
func (u *uncertainRecords) forget(key, token string) {
	u.add(uncertain{key: key, token: token, since: time.Now()})
}

// finish has the worker mark the record key of the attempt token done
// with answer.
func (u *uncertainRecords) finish(key, token string, answer []byte) {
	u.add(uncertain{key: key, token: token, finish: true, answer: answer, since: time.Now()})
}

func (u *uncertainRecords) add(rec uncertain) {
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
	u.pending[rec.key+"\x00"+rec.token] = rec
	if !u.running {
		u.running = true
		u.done.Add(1)
		go u.run()
	}
}

// write retries one record's write.
func (u *uncertainRecords) write(rec uncertain) error {
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if rec.finish {
		_, err := u.dedupe().Finish(ctx, rec.key, rec.token, rec.answer, dedupeTTL)
		return err
	}
	return u.dedupe().Forget(ctx, rec.key, rec.token)
}

func (u *uncertainRecords) run() {
	defer u.done.Done()
	t := time.NewTicker(u.every)
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
		for id, rec := range batch {
			err := u.write(rec)
			if err == nil || time.Since(rec.since) > uncertainFor {
				if err != nil {
					u.log.Warn("gave up writing an uncertain turn record", "err", err)
				}
				u.mu.Lock()
				delete(u.pending, id)
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

// newToken is an attempt's own mark on its idempotency record.
func newToken() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
