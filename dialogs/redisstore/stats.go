package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// StatsTTL is how long a day's counters are kept after their last change:
// the stats command looks 30 days back.
const StatsTTL = 40 * 24 * time.Hour

// MaxDailyCompletions caps the completion times kept per day (the newest
// are kept), so that a median can be taken without unbounded memory.
const MaxDailyCompletions = 2000

// statsKeys are a day's counters (a hash) and its completion times (a list
// of milliseconds, newest first). They share the hash tag {day:…} so that
// one script can write both in a Redis Cluster.
func (s *Store) statsKeys(day string) (counts, took string) {
	tag := s.prefix + "stats:{day:" + day + "}"
	return tag, tag + ":took"
}

// openTicketsKey is a sorted set of the open tickets, scored by the time
// each last changed.
func (s *Store) openTicketsKey() string { return s.prefix + "stats:tickets:open" }

// addStatsScript: ARGV = ttl ms, completion ms ("" for none), cap, fields…
var addStatsScript = redis.NewScript(`
for i = 4, #ARGV do redis.call('HINCRBY', KEYS[1], ARGV[i], 1) end
if #ARGV >= 4 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if ARGV[2] ~= '' then
  redis.call('LPUSH', KEYS[2], ARGV[2])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return 1
`)

// AddDailyStats adds 1 to each of fields in day's counters and, when took
// is positive, keeps it as one of the day's completion times. Both expire
// StatsTTL after the day's last change.
func (s *Store) AddDailyStats(ctx context.Context, day string, fields []string, took time.Duration) error {
	if len(fields) == 0 && took <= 0 {
		return nil
	}
	ms := ""
	if took > 0 {
		ms = strconv.FormatInt(took.Milliseconds(), 10)
	}
	args := make([]any, 0, 3+len(fields))
	args = append(args, StatsTTL.Milliseconds(), ms, MaxDailyCompletions)
	for _, f := range fields {
		args = append(args, f)
	}
	counts, tookKey := s.statsKeys(day)
	if err := addStatsScript.Run(ctx, s.rdb, []string{counts, tookKey}, args...).Err(); err != nil {
		return fmt.Errorf("add daily stats: %w", err)
	}
	return nil
}

// addCountsScript: ARGV = ttl ms, cap, n, n completion ms…, then field,
// count pairs.
var addCountsScript = redis.NewScript(`
local n = tonumber(ARGV[3])
for i = 4, 3 + n do redis.call('LPUSH', KEYS[2], ARGV[i]) end
if n > 0 then
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
local first = 4 + n
for i = first, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
if #ARGV >= first then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
`)

// AddDailyCounts adds counts to day's counters and keeps took as
// completion times: many turns' statistics in one round trip.
func (s *Store) AddDailyCounts(ctx context.Context, day string, counts map[string]int64, took []time.Duration) error {
	if len(counts) == 0 && len(took) == 0 {
		return nil
	}
	args := make([]any, 0, 3+len(took)+2*len(counts))
	args = append(args, StatsTTL.Milliseconds(), MaxDailyCompletions, len(took))
	for _, d := range took {
		args = append(args, max(d.Milliseconds(), 1))
	}
	for f, n := range counts {
		args = append(args, f, n)
	}
	countsKey, tookKey := s.statsKeys(day)
	if err := addCountsScript.Run(ctx, s.rdb, []string{countsKey, tookKey}, args...).Err(); err != nil {
		return fmt.Errorf("add daily stats: %w", err)
	}
	return nil
}

var readStatsScript = redis.NewScript(`
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}
`)

// DailyStats returns day's counters and completion times; empty for a day
// with none.
func (s *Store) DailyStats(ctx context.Context, day string) (map[string]int64, []time.Duration, error) {
	counts, tookKey := s.statsKeys(day)
	res, err := readStatsScript.Run(ctx, s.rdb, []string{counts, tookKey}).Slice()
	if err != nil {
		return nil, nil, fmt.Errorf("read daily stats: %w", err)
	}
	if len(res) != 2 {
		return nil, nil, fmt.Errorf("read daily stats: unexpected answer %v", res)
	}
	pairs, _ := res[0].([]any)
	out := make(map[string]int64, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		k, _ := pairs[i].(string)
		v, _ := pairs[i+1].(string)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("read daily stats: %s is %q", k, v)
		}
		out[k] = n
	}
	list, _ := res[1].([]any)
	took := make([]time.Duration, 0, len(list))
	for _, x := range list {
		v, _ := x.(string)
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("read daily stats: completion time %q", v)
		}
		took = append(took, time.Duration(ms)*time.Millisecond)
	}
	return out, took, nil
}

// SetTicketOpen adds the ticket id to the open tickets (scored with at), or
// removes it. Repeating it is harmless.
func (s *Store) SetTicketOpen(ctx context.Context, id string, open bool, at time.Time) error {
	var err error
	if open {
		err = s.rdb.ZAdd(ctx, s.openTicketsKey(), redis.Z{Score: float64(at.UnixMilli()), Member: id}).Err()
	} else {
		err = s.rdb.ZRem(ctx, s.openTicketsKey(), id).Err()
	}
	if err != nil {
		return fmt.Errorf("set ticket open: %w", err)
	}
	return nil
}

// countOpenScript drops tickets unchanged for longer than a ticket is kept
// (they expired while open), then counts the rest.
var countOpenScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
return redis.call('ZCARD', KEYS[1])
`)

// CountOpenTickets counts the open tickets that have changed within
// TicketTTL of now.
func (s *Store) CountOpenTickets(ctx context.Context, now time.Time) (int64, error) {
	n, err := countOpenScript.Run(ctx, s.rdb, []string{s.openTicketsKey()}, now.Add(-TicketTTL).UnixMilli()).Int64()
	if err != nil {
		return 0, fmt.Errorf("count open tickets: %w", err)
	}
	return n, nil
}
