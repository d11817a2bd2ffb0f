package redisstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Delivery is what the record of one delivered activity says when a
// delivery is begun: the idempotency record of a turn.
//
// A record is one string key, in one of two states:
//   - "p:<token>": a turn is in progress, held by the attempt that holds
//     token, for a lease of the turn's budget (the key's TTL); a turn
//     that crashed leaves it to expire, and a redelivery after that is
//     handled as new;
//   - "d:<token>:<answer>": the turn completed; its answer (an invoke's
//     HTTP body, or nothing for a message, whose answer went out as a
//     message of its own) is kept for the record's TTL. An invoke's record
//     is marked done by the same script that saves the dialog
//     (SaveDialogFinishing), so the mark costs no round trip of its own.
//
// A turn that failed drops its record (Forget, compare-and-delete on the
// token, whether in progress or marked done by its own save), so that the
// redelivery is handled as new.
type Delivery struct {
	// First: the record did not exist and is now this attempt's, in
	// progress.
	First bool
	// Done: an earlier attempt completed; Answer is what it answered.
	Done   bool
	Answer []byte
}

const (
	inProgress = "p:"
	completed  = "d:"
)

// delivery reads the reply of beginScript or seenLoadScript: {1, ...} for
// a record now taken, {0, value} for one that exists.
func delivery(vals []any) Delivery {
	if len(vals) > 0 && vals[0] == int64(1) {
		return Delivery{First: true}
	}
	var v string
	if len(vals) > 1 {
		v, _ = vals[1].(string)
	}
	switch {
	case strings.HasPrefix(v, inProgress):
		return Delivery{}
	case strings.HasPrefix(v, completed):
		_, answer, _ := strings.Cut(v[len(completed):], ":")
		return Delivery{Done: true, Answer: []byte(answer)}
	}
	// A record written before records had states: it was made for a turn
	// that has long ended (they held the token alone), so it is done.
	return Delivery{Done: true}
}

// beginScript takes a delivery's record in progress (KEYS[1] := ARGV[2]
// for ARGV[1] ms) unless it exists, whose value it then returns.
var beginScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return {0, v} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
return {1}
`)

// Begin takes the record of a delivery (key) in progress for token, for
// lease, unless it exists: Delivery says which.
func (s *Store) Begin(ctx context.Context, key, token string, lease time.Duration) (Delivery, error) {
	vals, err := beginScript.Run(ctx, s.rdb, []string{s.prefix + key}, lease.Milliseconds(), inProgress+token).Slice()
	if err != nil {
		return Delivery{}, fmt.Errorf("record activity: %w", err)
	}
	return delivery(vals), nil
}

// finishScript marks a record done with its answer (ARGV[2]) for ARGV[3]
// ms, if the attempt (ARGV[1], its token) still holds it, in progress or
// done by its own save, or it is gone.
var finishScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and v ~= 'p:' .. ARGV[1] and string.sub(v, 1, #ARGV[1] + 3) ~= 'd:' .. ARGV[1] .. ':' then return 0 end
redis.call('SET', KEYS[1], 'd:' .. ARGV[1] .. ':' .. ARGV[2], 'PX', ARGV[3])
return 1
`)

// Finish marks the record of a delivery done, keeping answer for ttl, if
// the attempt that holds token still has it in progress, or if it is gone
// (its lease ran out while Redis did not answer: the turn did complete);
// ok is false when another attempt has taken it since, or it is done.
func (s *Store) Finish(ctx context.Context, key, token string, answer []byte, ttl time.Duration) (ok bool, err error) {
	n, err := finishScript.Run(ctx, s.rdb, []string{s.prefix + key}, token, answer, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("record answer: %w", err)
	}
	return n == 1, nil
}

// forgetScript deletes a record only while the attempt (ARGV[1], its
// token) holds it, in progress or marked done by its own save.
var forgetScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == 'p:' .. ARGV[1] or (v and string.sub(v, 1, #ARGV[1] + 3) == 'd:' .. ARGV[1] .. ':') then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Forget drops the record of a delivery while the attempt that holds
// token has it, in progress or marked done by the attempt's own save of
// the dialog (the turn then failed to answer): a record taken since by
// another attempt stays.
func (s *Store) Forget(ctx context.Context, key, token string) error {
	if err := forgetScript.Run(ctx, s.rdb, []string{s.prefix + key}, token).Err(); err != nil {
		return fmt.Errorf("forget activity: %w", err)
	}
	return nil
}
