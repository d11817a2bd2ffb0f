package redisstore

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// UserTag is the hash tag of one user's keys: everything of one user lands
// on one Redis Cluster slot. The tenant and user ids are escaped (':',
// '%', '{' and '}' become %3A, %25, %7B, %7D), so that a part never holds
// the separator or a brace: no two (tenant, user) pairs share a tag, and
// the braces are the tag's own.
func UserTag(tenant, user string) string {
	return "{t:" + escapeID(tenant) + ":u:" + escapeID(user) + "}"
}

// legacyUserTag is the tag of keys written before ids were escaped
// (2026-12). It is UserTag's for ids without those characters, which is
// every aadObjectId and tenant id; only a user keyed on a channel id such
// as "29:…" has keys under both.
func legacyUserTag(tenant, user string) string { return "{t:" + tenant + ":u:" + user + "}" }

func escapeID(s string) string {
	if !strings.ContainsAny(s, ":%{}") {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ':', '%', '{', '}':
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// legacyKey is key (of the user's) under the tag it had before ids were
// escaped, or "" when that is the same key.
func (s *Store) legacyKey(key, tenant, user string) string {
	tag, old := UserTag(tenant, user), legacyUserTag(tenant, user)
	if tag == old {
		return ""
	}
	return strings.Replace(key, tag, old, 1)
}

// adoptScript copies a versioned document {rev, doc} into its new key
// unless the new key exists already, with a TTL.
var adoptScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'rev', ARGV[1], 'doc', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// migrateVersioned moves a versioned document written under the legacy
// tag to key, and reads key again. The two keys may be on different
// Cluster slots, so this is a read, a conditional write and a delete:
// whichever replica moves it first wins, and the others find it moved.
func (s *Store) migrateVersioned(ctx context.Context, key, legacy string, ttl time.Duration) ([]byte, int64, error) {
	doc, rev, err := s.loadVersioned(ctx, legacy, ttl)
	if err != nil || doc == nil {
		return nil, 0, err
	}
	if err := adoptScript.Run(ctx, s.rdb, []string{key}, rev, doc, ttl.Milliseconds()).Err(); err != nil {
		return nil, 0, err
	}
	if err := s.rdb.Del(ctx, legacy).Err(); err != nil {
		return nil, 0, err
	}
	return s.loadVersioned(ctx, key, ttl)
}

// migrateString moves a plain value written under the legacy tag to key
// (SET NX: a value written under key since wins) and returns key's value.
func (s *Store) migrateString(ctx context.Context, key, legacy string, ttl time.Duration) ([]byte, error) {
	b, err := s.rdb.Get(ctx, legacy).Bytes()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.rdb.SetNX(ctx, key, b, ttl).Err(); err != nil {
		return nil, err
	}
	if err := s.rdb.Del(ctx, legacy).Err(); err != nil {
		return nil, err
	}
	b, err = s.rdb.Get(ctx, key).Bytes()
	if err == redis.Nil {
		return nil, nil
	}
	return b, err
}
