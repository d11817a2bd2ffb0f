package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DialogTTL is how long an untouched dialog is kept (refreshed on every
// load and save).
const DialogTTL = 30 * 24 * time.Hour

func (s *Store) dialogKey(tenant, user string) string {
	return s.prefix + UserTag(tenant, user) + ":dialog"
}

// casScript writes a dialog only if its stored revision is still the one
// the caller read: a hash of {rev, doc}, with the TTL refreshed.
var casScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'rev')
if (cur or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'doc', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// loadScript reads a dialog {rev, doc} and refreshes its TTL, in one round
// trip.
var loadScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'rev', 'doc')
if v[1] then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v
`)

// seenLoadScript begins a delivery (as beginScript: KEYS[1] := ARGV[3]
// for ARGV[1] ms unless it exists, whose value it then returns) and, if it
// is new, reads the dialog its turn will use {rev, doc} and refreshes its
// TTL: the duplicate check and the dialog load in one round trip. Both
// keys carry the user's hash tag, so that a Redis Cluster has them on one
// slot.
var seenLoadScript = redis.NewScript(`
local seen = redis.call('GET', KEYS[1])
if seen then return {0, seen} end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[1])
local v = redis.call('HMGET', KEYS[2], 'rev', 'doc')
if v[1] then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return {1, v[1], v[2]}
`)

// BeginLoadDialog is Begin and LoadDialog in one round trip, for an
// activity whose turn reads the user's dialog: it begins the delivery's
// record (key, in progress for token, for lease) under the user's hash tag
// and returns the key it recorded (for Finish and Forget), the record and,
// for a new delivery, the dialog and its revision ((nil, 0) for none).
func (s *Store) BeginLoadDialog(ctx context.Context, key, token string, lease time.Duration, tenant, user string) (recorded string, d Delivery, doc []byte, rev int64, err error) {
	recorded = UserTag(tenant, user) + ":" + key
	vals, err := seenLoadScript.Run(ctx, s.rdb, []string{s.prefix + recorded, s.dialogKey(tenant, user)},
		lease.Milliseconds(), DialogTTL.Milliseconds(), inProgress+token).Slice()
	if err != nil {
		return recorded, Delivery{}, nil, 0, fmt.Errorf("record activity and load dialog: %w", err)
	}
	if d = delivery(vals); !d.First {
		return recorded, d, nil, 0, nil
	}
	var revS, doc1 string
	if len(vals) == 3 { // else no dialog: the reply stops at the first nil
		revS, _ = vals[1].(string)
		doc1, _ = vals[2].(string)
	}
	if revS == "" || doc1 == "" {
		if s.legacyKey(s.dialogKey(tenant, user), tenant, user) != "" {
			doc, rev, err = s.LoadDialog(ctx, tenant, user) // perhaps under the legacy key
			return recorded, d, doc, rev, err
		}
		return recorded, d, nil, 0, nil
	}
	if rev, err = strconv.ParseInt(revS, 10, 64); err != nil {
		return recorded, d, nil, 0, fmt.Errorf("load dialog: bad revision %q", revS)
	}
	return recorded, d, []byte(doc1), rev, nil
}

// LoadDialog returns a user's dialog document and its revision; (nil, 0)
// when the user has none. It refreshes the TTL.
func (s *Store) LoadDialog(ctx context.Context, tenant, user string) ([]byte, int64, error) {
	key := s.dialogKey(tenant, user)
	doc, rev, err := s.loadVersioned(ctx, key, DialogTTL)
	if legacy := s.legacyKey(key, tenant, user); err == nil && doc == nil && legacy != "" {
		doc, rev, err = s.migrateVersioned(ctx, key, legacy, DialogTTL)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load dialog: %w", err)
	}
	return doc, rev, nil
}

// loadVersioned reads a {rev, doc} hash and refreshes its TTL; (nil, 0)
// when the key does not exist.
func (s *Store) loadVersioned(ctx context.Context, key string, ttl time.Duration) ([]byte, int64, error) {
	vals, err := loadScript.Run(ctx, s.rdb, []string{key}, ttl.Milliseconds()).Slice()
	if err != nil {
		return nil, 0, err
	}
	if len(vals) != 2 {
		return nil, 0, fmt.Errorf("unexpected answer %v", vals)
	}
	revS, _ := vals[0].(string)
	doc, _ := vals[1].(string)
	if revS == "" || doc == "" {
		return nil, 0, nil
	}
	rev, err := strconv.ParseInt(revS, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("bad revision %q", revS)
	}
	return []byte(doc), rev, nil
}

// casFinishScript is casScript that also marks the turn's delivery record
// (KEYS[2], on the same slot) done with the turn's answer, if the turn's
// attempt (ARGV[5], its token) still has it in progress: one round trip
// for the save and the stored outcome.
var casFinishScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'rev')
if (cur or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'doc', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if redis.call('GET', KEYS[2]) == 'p:' .. ARGV[5] then
  redis.call('SET', KEYS[2], 'd:' .. ARGV[5] .. ':' .. ARGV[6], 'PX', ARGV[7])
  return 2
end
return 1
`)

// SaveDialogFinishing is SaveDialog that also marks the delivery record
// recorded (a key BeginLoadDialog returned for this user) done with answer,
// kept for ttl, if the attempt holding token still has it in progress;
// finished says it did.
func (s *Store) SaveDialogFinishing(ctx context.Context, tenant, user string, doc []byte, prevRev int64, recorded, token string, answer []byte, ttl time.Duration) (rev int64, saved, finished bool, err error) {
	next := prevRev + 1
	n, err := casFinishScript.Run(ctx, s.rdb, []string{s.dialogKey(tenant, user), s.prefix + recorded},
		strconv.FormatInt(prevRev, 10), strconv.FormatInt(next, 10), doc, DialogTTL.Milliseconds(),
		token, answer, ttl.Milliseconds()).Int()
	if err != nil {
		return 0, false, false, fmt.Errorf("save dialog: %w", err)
	}
	if n == 0 {
		return 0, false, false, nil
	}
	return next, true, n == 2, nil
}

// SaveDialog writes doc if the stored revision is still prevRev (0 for a
// dialog that did not exist) and returns the new revision. saved is false
// when another turn changed the dialog first: reload and decide again.
func (s *Store) SaveDialog(ctx context.Context, tenant, user string, doc []byte, prevRev int64) (rev int64, saved bool, err error) {
	next := prevRev + 1
	ok, err := casScript.Run(ctx, s.rdb, []string{s.dialogKey(tenant, user)},
		strconv.FormatInt(prevRev, 10), strconv.FormatInt(next, 10), doc, DialogTTL.Milliseconds()).Int()
	if err != nil {
		return 0, false, fmt.Errorf("save dialog: %w", err)
	}
	if ok == 0 {
		return 0, false, nil
	}
	return next, true, nil
}
