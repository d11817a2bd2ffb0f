package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store is the Redis-backed state of the bot.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

// Option configures a Store.
type Option func(*Store)

// WithPrefix puts every key under prefix (default "mfabot:"), so that
// several deployments or test runs can share one Redis.
func WithPrefix(prefix string) Option { return func(s *Store) { s.prefix = prefix } }

// New wraps a Redis client. It does no I/O.
func New(rdb redis.UniversalClient, opts ...Option) *Store {
	s := &Store{rdb: rdb, prefix: "mfabot:"}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// FirstSeen records key and reports whether it was not recorded before
// (SET NX with a TTL).
func (s *Store) FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.prefix+key, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("record activity: %w", err)
	}
	return ok, nil
}

// Forget removes a key recorded by FirstSeen.
func (s *Store) Forget(ctx context.Context, key string) error {
	if err := s.rdb.Del(ctx, s.prefix+key).Err(); err != nil {
		return fmt.Errorf("forget activity: %w", err)
	}
	return nil
}
