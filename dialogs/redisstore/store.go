package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client is the part of go-redis the store uses; *redis.Client,
// *redis.ClusterClient and the Sentinel-backed failover client all satisfy
// it. It is kept narrow on purpose: a value stored in go-redis's
// UniversalClient interface makes the linker keep every one of its hundreds
// of command methods (several MB of the binary).
type Client interface {
	redis.Scripter
	Ping(ctx context.Context) *redis.StatusCmd
	Get(ctx context.Context, key string) *redis.StringCmd
	Set(ctx context.Context, key string, value any, expiration time.Duration) *redis.StatusCmd
	SetNX(ctx context.Context, key string, value any, expiration time.Duration) *redis.BoolCmd
	Del(ctx context.Context, keys ...string) *redis.IntCmd
	PTTL(ctx context.Context, key string) *redis.DurationCmd
	ZAdd(ctx context.Context, key string, members ...redis.Z) *redis.IntCmd
	ZRem(ctx context.Context, key string, members ...any) *redis.IntCmd
	ZCard(ctx context.Context, key string) *redis.IntCmd
	Incr(ctx context.Context, key string) *redis.IntCmd
	XAdd(ctx context.Context, a *redis.XAddArgs) *redis.StringCmd
	PExpire(ctx context.Context, key string, expiration time.Duration) *redis.BoolCmd
	ZRevRange(ctx context.Context, key string, start, stop int64) *redis.StringSliceCmd
	HSetNX(ctx context.Context, key, field string, value any) *redis.BoolCmd
	HScan(ctx context.Context, key string, cursor uint64, match string, count int64) *redis.ScanCmd
	HMGet(ctx context.Context, key string, fields ...string) *redis.SliceCmd
	SAdd(ctx context.Context, key string, members ...any) *redis.IntCmd
	SRem(ctx context.Context, key string, members ...any) *redis.IntCmd
	SMembers(ctx context.Context, key string) *redis.StringSliceCmd
	SMIsMember(ctx context.Context, key string, members ...any) *redis.BoolSliceCmd
	Close() error
}

// Store is the Redis-backed state of the bot.
type Store struct {
	rdb    Client
	prefix string
}

// Option configures a Store.
type Option func(*Store)

// WithPrefix puts every key under prefix (default "mfabot:"), so that
// several deployments or test runs can share one Redis.
func WithPrefix(prefix string) Option { return func(s *Store) { s.prefix = prefix } }

// New wraps a Redis client. It does no I/O.
func New(rdb Client, opts ...Option) *Store {
	s := &Store{rdb: rdb, prefix: "mfabot:"}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Prefix is the prefix of every key of this store.
func (s *Store) Prefix() string { return s.prefix }

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}
