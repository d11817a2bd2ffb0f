package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartswap/mfabot/sweep"
)

// The tenant sweep's job (sweep.Store). Every key of one job shares the
// hash tag {sw:<id>}, so the job's scripts touch one Cluster slot:
//
//	meta    hash: the spec, the state, the listing cursor, the counters
//	lister  string: the owner listing users now (a lease, PX)
//	scan    sorted set: batch id → when it may be claimed (ms); a claim
//	        moves it to the lease's end, so a dead worker's batch returns
//	batch   hash: batch id → {"u": users, "t": tries}
//	bown    hash: batch id → the owner that claimed it last
//	found   hash: user id → the finding (user and devices)
//	act     hash: user id → the candidate's action now
//	seen    set: "user|action" pairs already counted
//	notify  sorted set: user id → when their card may be claimed (ms)
//	nown    hash: user id → the owner that claimed the card last
//	ntries  hash: user id → how often the card was given back
//	sent    hash: user id → the owner that sent the card (at most once)
//	inst    hash: user id → 1 once the app was installed for them
//	gpause  string: Graph asked the job to slow down (PX)
//
// and, outside the tag, the index "sweeps" (sorted set: id → created ms)
// and "sweeps:active" (set: the running jobs the workers look at). Only the
// job's own keys are changed atomically; the index follows its state.
// A job's keys expire SweepTTL after it ends.

// SweepTTL is how long a finished job, its report and its counters are
// kept.
const SweepTTL = 30 * 24 * time.Hour

// sweepKeyNames are the keys of a job, in the order the scripts take them.
var sweepKeyNames = []string{"meta", "lister", "scan", "batch", "bown", "found", "act", "seen", "notify", "nown", "ntries", "sent", "inst", "gpause"}

// sweepKeys returns the job's keys by name.
func (s *Store) sweepKeys(id string) map[string]string {
	m := make(map[string]string, len(sweepKeyNames))
	for _, n := range sweepKeyNames {
		m[n] = s.prefix + "{sw:" + id + "}:" + n
	}
	return m
}

func (s *Store) sweepIndex() string  { return s.prefix + "sweeps" }
func (s *Store) sweepActive() string { return s.prefix + "sweeps:active" }

// keysOf lists the named keys of job id in order.
func (s *Store) keysOf(id string, names ...string) []string {
	k := s.sweepKeys(id)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = k[n]
	}
	return out
}

// newSweepID names a job: the date and 6 random hex digits, short enough to
// type into --resume.
func newSweepID(now time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102") + "-" + hex.EncodeToString(b[:])
}

// CreateSweep records a new running job for spec.
func (s *Store) CreateSweep(ctx context.Context, spec sweep.Spec, now time.Time) (sweep.Job, error) {
	id := newSweepID(now)
	meta := s.sweepKeys(id)["meta"]
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	ok, err := createSweepScript.Run(ctx, s.rdb, []string{meta},
		"group", spec.Group, "notify", b(spec.Notify), "install", b(spec.Install),
		"tenant", spec.Tenant, "by", spec.By, "st", sweep.StateRunning,
		"created", strconv.FormatInt(now.UnixMilli(), 10)).Int()
	if err != nil {
		return sweep.Job{}, fmt.Errorf("create sweep: %w", err)
	}
	if ok == 0 {
		return sweep.Job{}, fmt.Errorf("create sweep: id %s taken", id)
	}
	if err := s.rdb.ZAdd(ctx, s.sweepIndex(), redis.Z{Score: float64(now.UnixMilli()), Member: id}).Err(); err != nil {
		return sweep.Job{}, fmt.Errorf("create sweep: %w", err)
	}
	if err := s.rdb.SAdd(ctx, s.sweepActive(), id).Err(); err != nil {
		return sweep.Job{}, fmt.Errorf("create sweep: %w", err)
	}
	return s.LoadSweep(ctx, id)
}

// createSweepScript writes a job's meta unless the id is taken.
var createSweepScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`)

// loadSweepScript returns the meta hash, then the backlog and the cards
// pending.
var loadSweepScript = redis.NewScript(`
local m = redis.call('HGETALL', KEYS[1])
if #m == 0 then return false end
table.insert(m, '#scan')
table.insert(m, tostring(redis.call('ZCARD', KEYS[2])))
table.insert(m, '#notify')
table.insert(m, tostring(redis.call('ZCARD', KEYS[3])))
return m
`)

// LoadSweep reads job id; sweep.ErrNoSweep when there is none (or it
// expired).
func (s *Store) LoadSweep(ctx context.Context, id string) (sweep.Job, error) {
	vals, err := loadSweepScript.Run(ctx, s.rdb, s.keysOf(id, "meta", "scan", "notify")).StringSlice()
	if errors.Is(err, redis.Nil) || (err == nil && len(vals) == 0) {
		return sweep.Job{}, fmt.Errorf("sweep %q: %w", id, sweep.ErrNoSweep)
	}
	if err != nil {
		return sweep.Job{}, fmt.Errorf("load sweep: %w", err)
	}
	m := make(map[string]string, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		m[vals[i]] = vals[i+1]
	}
	n := func(k string) int64 { v, _ := strconv.ParseInt(m[k], 10, 64); return v }
	ms := func(k string) time.Time {
		if v := n(k); v > 0 {
			return time.UnixMilli(v)
		}
		return time.Time{}
	}
	j := sweep.Job{
		ID: id,
		Spec: sweep.Spec{Group: m["group"], Notify: m["notify"] == "1", Install: m["install"] == "1",
			Tenant: m["tenant"], By: m["by"]},
		State: m["st"], Error: m["err"], Created: ms("created"), Ended: ms("end"),
		Listed: m["listed"] == "1", Backlog: n("#scan"), Pending: n("#notify"),
		Counts: sweep.Counts{
			Listed: n("users"), Scanned: n("scanned"), Unreadable: n("unreadable"), Candidates: n("candidates"),
			Notified: n("a:" + sweep.ActionNotified), NoConversation: n("a:" + sweep.ActionNoConversation),
			InProcedure: n("a:" + sweep.ActionInProcedure), BothInUse: n("a:" + sweep.ActionBothInUse),
			Unreachable: n("a:" + sweep.ActionUnreachable), Started: n("a:" + sweep.ActionStarted),
			Completed: n("a:" + sweep.ActionCompleted), GraphRequests: n("graph"), GraphThrottled: n("throttled"),
			Installed: n("installed"),
		},
	}
	for k, v := range m {
		if len(k) > 2 && k[:2] == "a:" && sweep.IsFailed(k[2:]) {
			f, _ := strconv.ParseInt(v, 10, 64)
			j.Counts.Failed += f
		}
	}
	return j, nil
}

// setSweepStateScript moves meta's state to ARGV[1] if it is one of
// ARGV[4…]; a final state records the end (ARGV[3]) and the reason
// (ARGV[2]). It returns the state now.
var setSweepStateScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return false end
for i = 4, #ARGV do
  if st == ARGV[i] then
    redis.call('HSET', KEYS[1], 'st', ARGV[1])
    if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'err', ARGV[2]) end
    if ARGV[1] == 'done' or ARGV[1] == 'failed' or ARGV[1] == 'cancelled' then
      redis.call('HSET', KEYS[1], 'end', ARGV[3])
    end
    return ARGV[1]
  end
end
return st
`)

// SetSweepState moves job id to state if it is in one of from, and returns
// the job as it is now (in its old state when it was in none of from).
func (s *Store) SetSweepState(ctx context.Context, id, state, reason string, from []string, now time.Time) (sweep.Job, error) {
	args := []any{state, reason, strconv.FormatInt(now.UnixMilli(), 10)}
	for _, f := range from {
		args = append(args, f)
	}
	st, err := setSweepStateScript.Run(ctx, s.rdb, s.keysOf(id, "meta"), args...).Text()
	if errors.Is(err, redis.Nil) {
		return sweep.Job{}, fmt.Errorf("sweep %q: %w", id, sweep.ErrNoSweep)
	}
	if err != nil {
		return sweep.Job{}, fmt.Errorf("set sweep state: %w", err)
	}
	if err := s.indexState(ctx, id, st); err != nil {
		return sweep.Job{}, err
	}
	return s.LoadSweep(ctx, id)
}

// indexState keeps the active set in step with a job's state, and lets a
// final job's keys expire.
func (s *Store) indexState(ctx context.Context, id, state string) error {
	var err error
	switch {
	case state == sweep.StateRunning:
		err = s.rdb.SAdd(ctx, s.sweepActive(), id).Err()
	case sweep.Final(state):
		for _, k := range s.sweepKeys(id) {
			if err = s.rdb.PExpire(ctx, k, SweepTTL).Err(); err != nil {
				break
			}
		}
		if err == nil {
			err = s.rdb.SRem(ctx, s.sweepActive(), id).Err()
		}
	default:
		err = s.rdb.SRem(ctx, s.sweepActive(), id).Err()
	}
	if err != nil {
		return fmt.Errorf("index sweep: %w", err)
	}
	return nil
}

// ActiveSweeps lists the running jobs.
func (s *Store) ActiveSweeps(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, s.sweepActive()).Result()
	if err != nil {
		return nil, fmt.Errorf("list sweeps: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// Sweeps returns the newest n jobs that still exist, newest first.
func (s *Store) Sweeps(ctx context.Context, n int) ([]sweep.Job, error) {
	ids, err := s.rdb.ZRevRange(ctx, s.sweepIndex(), 0, int64(n)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("list sweeps: %w", err)
	}
	var out []sweep.Job
	for _, id := range ids {
		j, err := s.LoadSweep(ctx, id)
		if errors.Is(err, sweep.ErrNoSweep) {
			s.rdb.ZRem(ctx, s.sweepIndex(), id)
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, j)
	}
	return out, nil
}

// takeListerScript leases the listing to ARGV[1] for ARGV[2] ms (renewing
// the owner's own lease) and returns the cursor, or false.
var takeListerScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'st') ~= 'running' or redis.call('HGET', KEYS[1], 'listed') == '1' then return false end
local cur = redis.call('GET', KEYS[2])
if cur and cur ~= ARGV[1] then return false end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {redis.call('HGET', KEYS[1], 'cursor') or ''}
`)

// TakeLister implements sweep.Store.
func (s *Store) TakeLister(ctx context.Context, id, owner string, lease time.Duration) (string, bool, error) {
	v, err := takeListerScript.Run(ctx, s.rdb, s.keysOf(id, "meta", "lister"), owner, lease.Milliseconds()).StringSlice()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("take sweep lister: %w", err)
	}
	if len(v) != 1 {
		return "", false, nil
	}
	return v[0], true, nil
}

// ReleaseLister implements sweep.Store.
func (s *Store) ReleaseLister(ctx context.Context, id, owner string) error {
	if err := releaseLeaseScript.Run(ctx, s.rdb, s.keysOf(id, "lister"), owner).Err(); err != nil {
		return fmt.Errorf("release sweep lister: %w", err)
	}
	return nil
}

// addPageScript queues a page's batches (ARGV[6…]) at ARGV[2], moves the
// cursor to ARGV[3] (the listing is over when it is empty), counts ARGV[4]
// users listed, and renews the lease for ARGV[5] ms, only while ARGV[1]
// holds it.
var addPageScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
for i = 6, #ARGV do
  local id = 'b' .. redis.call('HINCRBY', KEYS[1], 'seq', 1)
  redis.call('HSET', KEYS[4], id, ARGV[i])
  redis.call('ZADD', KEYS[3], ARGV[2], id)
end
redis.call('HINCRBY', KEYS[1], 'users', ARGV[4])
redis.call('HSET', KEYS[1], 'cursor', ARGV[3])
if ARGV[3] == '' then redis.call('HSET', KEYS[1], 'listed', '1') end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
`)

// storedBatch is a batch as the batch hash holds it.
type storedBatch struct {
	Users []sweep.User `json:"u"`
	Tries int          `json:"t,omitempty"`
}

// AddPage implements sweep.Store.
func (s *Store) AddPage(ctx context.Context, id, owner string, users []sweep.User, next string, now time.Time, lease time.Duration) error {
	args := []any{owner, now.UnixMilli(), next, len(users), lease.Milliseconds()}
	for len(users) > 0 {
		n := min(len(users), sweep.UsersPerBatch)
		doc, err := json.Marshal(storedBatch{Users: users[:n]})
		if err != nil {
			return fmt.Errorf("add sweep page: %w", err)
		}
		args = append(args, doc)
		users = users[n:]
	}
	ok, err := addPageScript.Run(ctx, s.rdb, s.keysOf(id, "meta", "lister", "scan", "batch"), args...).Int()
	if err != nil {
		return fmt.Errorf("add sweep page: %w", err)
	}
	if ok == 0 {
		return errors.New("add sweep page: the listing's lease ran out")
	}
	return nil
}

// claimSweepScript leases up to ARGV[3] items of the sorted set KEYS[2]
// that are due by ARGV[1] to ARGV[4] (recorded in KEYS[4]) until ARGV[2],
// if the job runs, and returns each id with its data from KEYS[3] and its
// tries from KEYS[5] ("0" when no KEYS[5] is given: a batch keeps its
// tries in its data).
var claimSweepScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'st') ~= 'running' then return {} end
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[2], 'XX', ARGV[2], id)
  redis.call('HSET', KEYS[4], id, ARGV[4])
  table.insert(out, id)
  table.insert(out, redis.call('HGET', KEYS[3], id) or '')
  table.insert(out, KEYS[5] and redis.call('HGET', KEYS[5], id) or '0')
end
return out
`)

// ClaimBatches implements sweep.Store.
func (s *Store) ClaimBatches(ctx context.Context, id, owner string, now time.Time, lease time.Duration, max int) ([]sweep.Batch, error) {
	v, err := claimSweepScript.Run(ctx, s.rdb, s.keysOf(id, "meta", "scan", "batch", "bown"),
		now.UnixMilli(), now.Add(lease).UnixMilli(), max, owner).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim sweep batches: %w", err)
	}
	var out []sweep.Batch
	for i := 0; i+2 < len(v); i += 3 {
		var sb storedBatch
		if err := json.Unmarshal([]byte(v[i+1]), &sb); err != nil {
			return out, fmt.Errorf("claim sweep batches: batch %s: %w", v[i], err)
		}
		out = append(out, sweep.Batch{ID: v[i], Users: sb.Users, Tries: sb.Tries})
	}
	return out, nil
}

// finishBatchScript records a batch's outcome if ARGV[1] still holds batch
// ARGV[2]: ARGV[3] users scanned, ARGV[4] unreadable; ARGV[5] is the batch
// to read again at ARGV[6] ("" : done); candidates (user, finding, action)
// from ARGV[7] are kept once each and, when the job notifies and their
// action is empty, queued for their card at once.
var finishBatchScript = redis.NewScript(`
if redis.call('HGET', KEYS[5], ARGV[2]) ~= ARGV[1] then return 0 end
local notify = redis.call('HGET', KEYS[1], 'notify') == '1'

redis.call('HINCRBY', KEYS[1], 'scanned', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'unreadable', ARGV[4])
for i = 7, #ARGV, 3 do
  local u = ARGV[i]
  if redis.call('HSETNX', KEYS[6], u, ARGV[i+1]) == 1 then
    redis.call('HINCRBY', KEYS[1], 'candidates', 1)
    local a = ARGV[i+2]
    if a ~= '' then
      redis.call('HSET', KEYS[7], u, a)
      if redis.call('SADD', KEYS[8], u .. '|' .. a) == 1 then redis.call('HINCRBY', KEYS[1], 'a:' .. a, 1) end
    elseif notify then
      redis.call('ZADD', KEYS[9], 'NX', 0, u)
    end
  end
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[2], ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[2])
else
  redis.call('ZREM', KEYS[3], ARGV[2])
  redis.call('HDEL', KEYS[4], ARGV[2])
end
redis.call('HDEL', KEYS[5], ARGV[2])
return 1
`)

// storedFinding is a candidate as the found hash holds them.
type storedFinding struct {
	User    sweep.User     `json:"u"`
	Devices []sweep.Device `json:"d"`
}

// FinishBatch implements sweep.Store.
func (s *Store) FinishBatch(ctx context.Context, id, owner string, b sweep.Batch, out sweep.BatchOutcome) (bool, error) {
	retry := ""
	if len(out.Retry) > 0 {
		doc, err := json.Marshal(storedBatch{Users: out.Retry, Tries: b.Tries + 1})
		if err != nil {
			return false, fmt.Errorf("finish sweep batch: %w", err)
		}
		retry = string(doc)
	}
	args := []any{owner, b.ID, out.Scanned, out.Unreadable, retry, out.RetryAt.UnixMilli()}
	for _, f := range out.Candidates {
		doc, err := json.Marshal(storedFinding{User: f.User, Devices: f.Devices})
		if err != nil {
			return false, fmt.Errorf("finish sweep batch: %w", err)
		}
		args = append(args, f.User.ID, doc, f.Action)
	}
	ok, err := finishBatchScript.Run(ctx, s.rdb, s.keysOf(id, "meta", "lister", "scan", "batch", "bown", "found", "act", "seen", "notify"), args...).Int()
	if err != nil {
		return false, fmt.Errorf("finish sweep batch: %w", err)
	}
	return ok == 1, nil
}

// ClaimCandidates implements sweep.Store.
func (s *Store) ClaimCandidates(ctx context.Context, id, owner string, now time.Time, lease time.Duration, max int) ([]sweep.Claimed, error) {
	v, err := claimSweepScript.Run(ctx, s.rdb, s.keysOf(id, "meta", "notify", "found", "nown", "ntries"),
		now.UnixMilli(), now.Add(lease).UnixMilli(), max, owner).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim sweep cards: %w", err)
	}
	var out []sweep.Claimed
	for i := 0; i+2 < len(v); i += 3 {
		var sf storedFinding
		if err := json.Unmarshal([]byte(v[i+1]), &sf); err != nil {
			return out, fmt.Errorf("claim sweep cards: user %s: %w", v[i], err)
		}
		tries, _ := strconv.Atoi(v[i+2])
		out = append(out, sweep.Claimed{Finding: sweep.Finding{User: sf.User, Devices: sf.Devices}, Tries: tries})
	}
	return out, nil
}

// finishCandidateScript records the card of ARGV[2] if ARGV[1] still holds
// it: action ARGV[3] (counted once per user and action), or, when it is
// empty, back in the queue at ARGV[4] with one more try.
var finishCandidateScript = redis.NewScript(`
if redis.call('HGET', KEYS[3], ARGV[2]) ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[3], ARGV[2])
if ARGV[3] == '' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
  redis.call('HINCRBY', KEYS[5], ARGV[2], 1)
  return 1
end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
if redis.call('SADD', KEYS[6], ARGV[2] .. '|' .. ARGV[3]) == 1 then redis.call('HINCRBY', KEYS[1], 'a:' .. ARGV[3], 1) end
return 1
`)

// FinishCandidate implements sweep.Store.
func (s *Store) FinishCandidate(ctx context.Context, id, owner, user, action string, retryAt time.Time) (bool, error) {
	ok, err := finishCandidateScript.Run(ctx, s.rdb, s.keysOf(id, "meta", "notify", "nown", "act", "ntries", "seen"),
		owner, user, action, retryAt.UnixMilli()).Int()
	if err != nil {
		return false, fmt.Errorf("finish sweep card: %w", err)
	}
	return ok == 1, nil
}

// MarkSent implements sweep.Store.
func (s *Store) MarkSent(ctx context.Context, id, owner, user string) (bool, error) {
	ok, err := s.rdb.HSetNX(ctx, s.sweepKeys(id)["sent"], user, owner).Result()
	if err != nil {
		return false, fmt.Errorf("mark sweep card sent: %w", err)
	}
	return ok, nil
}

// unmarkSentScript deletes field ARGV[1] of KEYS[1] if ARGV[2] holds it.
var unmarkSentScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])
`)

// UnmarkSent implements sweep.Store.
func (s *Store) UnmarkSent(ctx context.Context, id, owner, user string) error {
	if err := unmarkSentScript.Run(ctx, s.rdb, s.keysOf(id, "sent"), user, owner).Err(); err != nil {
		return fmt.Errorf("unmark sweep card: %w", err)
	}
	return nil
}

// noteInstalledScript counts an installation once per user.
var noteInstalledScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[2], ARGV[1], '1') == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'installed', 1)
return 1
`)

// NoteInstalled implements sweep.Store.
func (s *Store) NoteInstalled(ctx context.Context, id, user string) (bool, error) {
	n, err := noteInstalledScript.Run(ctx, s.rdb, s.keysOf(id, "meta", "inst"), user).Int()
	if err != nil {
		return false, fmt.Errorf("note sweep install: %w", err)
	}
	return n == 1, nil
}

// recordActionScript sets a known candidate's action, counting each action
// once per user.
var recordActionScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if redis.call('SADD', KEYS[4], ARGV[1] .. '|' .. ARGV[2]) == 1 then redis.call('HINCRBY', KEYS[1], 'a:' .. ARGV[2], 1) end
return 1
`)

// RecordSweepAction implements sweep.Store. A job that expired, or a user
// who is not one of its candidates, is left alone.
func (s *Store) RecordSweepAction(ctx context.Context, id, user, action string) error {
	if err := recordActionScript.Run(ctx, s.rdb, s.keysOf(id, "meta", "found", "act", "seen"), user, action).Err(); err != nil {
		return fmt.Errorf("record sweep action: %w", err)
	}
	return nil
}

// addSweepCountsScript adds Graph's load to the counters.
var addSweepCountsScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'graph', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'throttled', ARGV[2])
return 1
`)

// AddSweepCounts implements sweep.Store.
func (s *Store) AddSweepCounts(ctx context.Context, id string, requests, throttled int64) error {
	if requests == 0 && throttled == 0 {
		return nil
	}
	if err := addSweepCountsScript.Run(ctx, s.rdb, s.keysOf(id, "meta"), requests, throttled).Err(); err != nil {
		return fmt.Errorf("count sweep graph requests: %w", err)
	}
	return nil
}

// extendPauseScript sets KEYS[1] for ARGV[1] ms unless a longer pause is
// in force.
var extendPauseScript = redis.NewScript(`
if redis.call('PTTL', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1
`)

// PauseGraph implements sweep.Store.
func (s *Store) PauseGraph(ctx context.Context, id string, d time.Duration) error {
	if err := extendPauseScript.Run(ctx, s.rdb, s.keysOf(id, "gpause"), max(d.Milliseconds(), 1)).Err(); err != nil {
		return fmt.Errorf("pause sweep graph: %w", err)
	}
	return nil
}

// GraphPause implements sweep.Store.
func (s *Store) GraphPause(ctx context.Context, id string) (time.Duration, error) {
	d, err := s.rdb.PTTL(ctx, s.sweepKeys(id)["gpause"]).Result()
	if err != nil {
		return 0, fmt.Errorf("read sweep graph pause: %w", err)
	}
	return max(d, 0), nil
}

// AllowGraph implements sweep.Store: the shared rate "graph:sweep".
func (s *Store) AllowGraph(ctx context.Context, n, perSecond int) (time.Duration, error) {
	return s.allow(ctx, "graph:sweep", perSecond, n)
}

// finishSweepScript marks the job done when it runs, is listed, and
// nothing waits.
var finishSweepScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'st') ~= 'running' or redis.call('HGET', KEYS[1], 'listed') ~= '1' then return 0 end
if redis.call('ZCARD', KEYS[2]) > 0 or redis.call('ZCARD', KEYS[3]) > 0 then return 0 end
redis.call('HSET', KEYS[1], 'st', 'done', 'end', ARGV[1])
return 1
`)

// FinishSweep implements sweep.Store.
func (s *Store) FinishSweep(ctx context.Context, id string, now time.Time) (bool, error) {
	ok, err := finishSweepScript.Run(ctx, s.rdb, s.keysOf(id, "meta", "scan", "notify"), now.UnixMilli()).Int()
	if err != nil {
		return false, fmt.Errorf("finish sweep: %w", err)
	}
	if ok == 0 {
		return false, nil
	}
	return true, s.indexState(ctx, id, sweep.StateDone)
}

// Findings implements sweep.Store: HSCAN over the candidates, 500 at a
// time, with their actions.
func (s *Store) Findings(ctx context.Context, id string, fn func(sweep.Finding) error) error {
	k := s.sweepKeys(id)
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, k["found"], cursor, "", 500).Result()
		if err != nil {
			return fmt.Errorf("read sweep findings: %w", err)
		}
		users := make([]string, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			users = append(users, kv[i])
		}
		var acts []any
		if len(users) > 0 {
			if acts, err = s.rdb.HMGet(ctx, k["act"], users...).Result(); err != nil {
				return fmt.Errorf("read sweep findings: %w", err)
			}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			var sf storedFinding
			if err := json.Unmarshal([]byte(kv[i+1]), &sf); err != nil {
				return fmt.Errorf("read sweep findings: user %s: %w", kv[i], err)
			}
			f := sweep.Finding{User: sf.User, Devices: sf.Devices}
			f.Action, _ = acts[i/2].(string)
			if err := fn(f); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// declineKey holds the device ids a user said they use both of.
func (s *Store) declineKey(tenant, user string) string {
	return s.prefix + UserTag(tenant, user) + ":sweepno"
}

// SaveSweepDecline records that the user uses every device of deviceIDs
// (「これは両方使っています」), adding to what they said before. It is kept
// without a TTL: later sweeps do not ask about these devices again.
func (s *Store) SaveSweepDecline(ctx context.Context, tenant, user string, deviceIDs []string) error {
	args := make([]any, len(deviceIDs))
	for i, d := range deviceIDs {
		args[i] = d
	}
	if len(args) == 0 {
		return nil
	}
	if err := s.rdb.SAdd(ctx, s.declineKey(tenant, user), args...).Err(); err != nil {
		return fmt.Errorf("save sweep decline: %w", err)
	}
	return nil
}

// SweepDeclined implements sweep.Declines: whether the user said they use
// every one of deviceIDs.
func (s *Store) SweepDeclined(ctx context.Context, tenant, user string, deviceIDs []string) (bool, error) {
	if len(deviceIDs) == 0 {
		return false, nil
	}
	args := make([]any, len(deviceIDs))
	for i, d := range deviceIDs {
		args[i] = d
	}
	in, err := s.rdb.SMIsMember(ctx, s.declineKey(tenant, user), args...).Result()
	if err != nil {
		return false, fmt.Errorf("read sweep decline: %w", err)
	}
	return !slices.Contains(in, false), nil
}

// Compile-time checks: the store is the sweep's.
var (
	_ sweep.Store    = (*Store)(nil)
	_ sweep.Declines = (*Store)(nil)
)
