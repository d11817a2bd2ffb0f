package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// A lease is a short exclusive claim on something of one user's, held by
// an owner (a random token) until it is released or its TTL runs out: one
// key, under the user's hash tag, whose value is the owner. Taking it is a
// SET NX; renewing and releasing compare the owner first, in a script, so
// that an owner whose lease ran out never extends or deletes the next
// owner's.

func (s *Store) leaseKey(tenant, user, name string) string {
	return s.prefix + UserTag(tenant, user) + ":lease:" + name
}

// renewLeaseScript extends the lease KEYS[1] to ARGV[2] ms if ARGV[1]
// still holds it.
var renewLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// releaseLeaseScript deletes the lease KEYS[1] if ARGV[1] still holds it.
var releaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`)

// TryLease takes the lease name of (tenant, user) for owner for ttl, and
// reports whether it did: false when another owner holds it.
func (s *Store) TryLease(ctx context.Context, tenant, user, name, owner string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.leaseKey(tenant, user, name), owner, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("take lease: %w", err)
	}
	return ok, nil
}

// RenewLease extends owner's lease to ttl from now, and reports whether
// owner still held it (false: it ran out, and maybe another owner took it).
func (s *Store) RenewLease(ctx context.Context, tenant, user, name, owner string, ttl time.Duration) (bool, error) {
	n, err := renewLeaseScript.Run(ctx, s.rdb, []string{s.leaseKey(tenant, user, name)}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew lease: %w", err)
	}
	return n == 1, nil
}

// ReleaseLease gives up owner's lease; a lease that owner no longer holds
// is left alone.
func (s *Store) ReleaseLease(ctx context.Context, tenant, user, name, owner string) error {
	if err := releaseLeaseScript.Run(ctx, s.rdb, []string{s.leaseKey(tenant, user, name)}, owner).Err(); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	return nil
}

// LeaseHeld reports whether anyone holds the lease name of (tenant, user).
func (s *Store) LeaseHeld(ctx context.Context, tenant, user, name string) (bool, error) {
	err := s.rdb.Get(ctx, s.leaseKey(tenant, user, name)).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read lease: %w", err)
	}
	return true, nil
}
