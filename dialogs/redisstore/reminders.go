package redisstore

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReminderShards is how many sorted sets hold due reminders. Each is its
// own Cluster slot ({rem:N}), so claims spread over the cluster and no
// single key is hot.
const ReminderShards = 16

// ReferenceTTL is how long a conversation reference is kept after the
// user's last turn.
const ReferenceTTL = 180 * 24 * time.Hour

func (s *Store) refKey(tenant, user string) string {
	return s.prefix + UserTag(tenant, user) + ":ref"
}

func (s *Store) shardKey(n int) string { return s.prefix + "{rem:" + strconv.Itoa(n) + "}:due" }

func (s *Store) sentKey(id string) string { return s.prefix + "remsent:" + id }

// shardOf spreads users over the shards. FNV-1a's low bits depend only on
// the low bits of each byte, so the high bits are folded in: ids that differ
// in a counter would otherwise share a few shards.
func shardOf(user string) int {
	h := fnv.New32a()
	h.Write([]byte(user))
	sum := h.Sum32()
	sum ^= sum >> 16
	sum ^= sum >> 8
	return int(sum % ReminderShards)
}

// SaveReference stores a user's conversation reference (the address of
// proactive messages).
func (s *Store) SaveReference(ctx context.Context, tenant, user string, ref []byte) error {
	if err := s.rdb.Set(ctx, s.refKey(tenant, user), ref, ReferenceTTL).Err(); err != nil {
		return fmt.Errorf("save conversation reference: %w", err)
	}
	return nil
}

// LoadReference returns a user's conversation reference, or nil.
func (s *Store) LoadReference(ctx context.Context, tenant, user string) ([]byte, error) {
	key := s.refKey(tenant, user)
	b, err := s.rdb.Get(ctx, key).Bytes()
	if legacy := s.legacyKey(key, tenant, user); err == redis.Nil && legacy != "" {
		b, err = s.migrateString(ctx, key, legacy, ReferenceTTL)
	}
	if err == redis.Nil || (err == nil && b == nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load conversation reference: %w", err)
	}
	return b, nil
}

// DeleteReference forgets a user's conversation reference (uninstall).
func (s *Store) DeleteReference(ctx context.Context, tenant, user string) error {
	if err := s.rdb.Del(ctx, s.refKey(tenant, user)).Err(); err != nil {
		return fmt.Errorf("delete conversation reference: %w", err)
	}
	return nil
}

// ScheduleReminder makes reminder id due at due, in place of the user's
// reminder replaces (if not empty). user chooses the shard. Scheduling an
// id again moves it.
func (s *Store) ScheduleReminder(ctx context.Context, user, id, replaces string, due time.Time) error {
	key := s.shardKey(shardOf(user))
	var err error
	if replaces != "" && replaces != id {
		err = replaceScript.Run(ctx, s.rdb, []string{key}, replaces, due.UnixMilli(), id).Err()
	} else {
		err = s.rdb.ZAdd(ctx, key, redis.Z{Score: float64(due.UnixMilli()), Member: id}).Err()
	}
	if err != nil {
		return fmt.Errorf("schedule reminder: %w", err)
	}
	return nil
}

// replaceScript swaps a user's queued reminder for a new one atomically.
var replaceScript = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
`)

// claimScript takes up to ARGV[3] reminders due by ARGV[1] from one shard
// and leases them until ARGV[2]: their score moves to the lease's end, so a
// worker that dies before completing them gives them back when it passes.
var claimScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)
end
return due
`)

// claimCursor rotates the first shard claimed, so that workers of several
// replicas do not all start at shard 0.
var claimCursor atomic.Uint32

// ClaimReminders leases up to max due reminders for lease, across shards,
// and returns their ids.
func (s *Store) ClaimReminders(ctx context.Context, now time.Time, lease time.Duration, max int) ([]string, error) {
	var out []string
	start := int(claimCursor.Add(1))
	for i := 0; i < ReminderShards && len(out) < max; i++ {
		shard := (start + i) % ReminderShards
		ids, err := claimScript.Run(ctx, s.rdb, []string{s.shardKey(shard)},
			now.UnixMilli(), now.Add(lease).UnixMilli(), max-len(out)).StringSlice()
		if err != nil {
			return out, fmt.Errorf("claim reminders: %w", err)
		}
		out = append(out, ids...)
	}
	return out, nil
}

// CompleteReminder removes a handled reminder of user.
func (s *Store) CompleteReminder(ctx context.Context, user, id string) error {
	if err := s.rdb.ZRem(ctx, s.shardKey(shardOf(user)), id).Err(); err != nil {
		return fmt.Errorf("complete reminder: %w", err)
	}
	return nil
}

// DueReminders counts the reminders waiting in every shard (for tests and
// metrics).
func (s *Store) DueReminders(ctx context.Context) (int64, error) {
	var n int64
	for i := range ReminderShards {
		c, err := s.rdb.ZCard(ctx, s.shardKey(i)).Result()
		if err != nil {
			return n, fmt.Errorf("count reminders: %w", err)
		}
		n += c
	}
	return n, nil
}

// MarkReminderSent records that reminder id is being sent and reports
// whether it was not recorded before: a reminder is sent at most once even
// if two workers hold it (a lease outlived by a stalled worker).
func (s *Store) MarkReminderSent(ctx context.Context, id string) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.sentKey(id), 1, 30*24*time.Hour).Result()
	if err != nil {
		return false, fmt.Errorf("mark reminder sent: %w", err)
	}
	return ok, nil
}

// UnmarkReminderSent undoes MarkReminderSent after a send that failed and
// will be retried.
func (s *Store) UnmarkReminderSent(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, s.sentKey(id)).Err(); err != nil {
		return fmt.Errorf("unmark reminder: %w", err)
	}
	return nil
}

// gcraScript is a GCRA rate limiter shared by every replica: KEYS[1] holds
// the theoretical arrival time in microseconds of Redis's own clock.
// ARGV[1] is the emission interval, ARGV[2] the burst tolerance (both µs),
// ARGV[3] how many emissions this one counts for. It returns 0 when the
// send may go now, else the µs to wait.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tonumber(ARGV[2]) - now
if wait > 0 then return wait end
local new_tat = tat + interval * tonumber(ARGV[3])
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
`)

// AllowSend takes one send from the rate limit named key (perSecond sends
// a second, small bursts allowed). It returns 0 when the send may go now,
// or how long to wait before asking again.
func (s *Store) AllowSend(ctx context.Context, key string, perSecond int) (time.Duration, error) {
	return s.allow(ctx, key, perSecond, 1)
}

// allow takes n emissions from the rate limit named key (perSecond a
// second, bursts of a tenth of a second allowed); see AllowSend. A take of
// n is allowed once the takes before it have drained to the burst, so the
// long-run rate holds whatever n is.
func (s *Store) allow(ctx context.Context, key string, perSecond, n int) (time.Duration, error) {
	if perSecond <= 0 {
		return 0, nil
	}
	interval := int64(time.Second/time.Microsecond) / int64(perSecond)
	burst := int64(perSecond/10) * interval
	wait, err := gcraScript.Run(ctx, s.rdb, []string{s.prefix + "rate:" + key}, interval, burst, max(n, 1)).Int64()
	if err != nil {
		return 0, fmt.Errorf("rate limit: %w", err)
	}
	return time.Duration(wait) * time.Microsecond, nil
}

// PauseSends stops every replica's proactive sends for d (Teams asked to
// slow down). A longer pause already in force is kept.
func (s *Store) PauseSends(ctx context.Context, d time.Duration) error {
	if err := extendPauseScript.Run(ctx, s.rdb, []string{s.prefix + "rate:pause"}, max(d.Milliseconds(), 1)).Err(); err != nil {
		return fmt.Errorf("pause sends: %w", err)
	}
	return nil
}

// SendPause returns how long proactive sends remain paused (0: not paused).
func (s *Store) SendPause(ctx context.Context) (time.Duration, error) {
	d, err := s.rdb.PTTL(ctx, s.prefix+"rate:pause").Result()
	if err != nil {
		return 0, fmt.Errorf("read send pause: %w", err)
	}
	if d < 0 {
		return 0, nil
	}
	return d, nil
}
