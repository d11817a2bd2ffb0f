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

// UserTag is the hash tag of one user's keys: everything of one user lands
// on one Redis Cluster slot.
func UserTag(tenant, user string) string { return "{t:" + tenant + ":u:" + user + "}" }

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

// LoadDialog returns a user's dialog document and its revision; (nil, 0)
// when the user has none. It refreshes the TTL.
func (s *Store) LoadDialog(ctx context.Context, tenant, user string) ([]byte, int64, error) {
	doc, rev, err := s.loadVersioned(ctx, s.dialogKey(tenant, user), DialogTTL)
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
