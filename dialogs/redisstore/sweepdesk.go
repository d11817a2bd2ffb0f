package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// A sweep's card in the helpdesk channel (dialogs.SweepCards), under the
// job's hash tag {sw:<id>} so that both keys sit in the job's Cluster slot:
//
//	desk       string: the card's document (where the card is, what it
//	           shows), opaque to the store; it expires SweepTTL after it
//	           was last written, as the job's own keys do after its end
//	desklease  string: the replica looking after the card now (a lease, PX)
//
// The lease is taken and renewed in one script, and the document written
// only while the writer holds the lease, so that at most one replica at a
// time posts or updates the card.

// deskKeys are job id's card document and its lease.
func (s *Store) deskKeys(id string) []string {
	tag := s.prefix + "{sw:" + id + "}:"
	return []string{tag + "desk", tag + "desklease"}
}

// takeSweepCardScript leases the card KEYS[1] to ARGV[1] for ARGV[2] ms
// (renewing the owner's own lease) and returns its document ("" : none),
// or false when another owner holds it.
var takeSweepCardScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[2])
if cur and cur ~= ARGV[1] then return false end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {redis.call('GET', KEYS[1]) or ''}
`)

// TakeSweepCard takes or renews owner's lease on job id's card for lease
// and returns the card's document (nil: no card yet); ok is false when
// another owner holds the lease.
func (s *Store) TakeSweepCard(ctx context.Context, id, owner string, lease time.Duration) (doc []byte, ok bool, err error) {
	v, err := takeSweepCardScript.Run(ctx, s.rdb, s.deskKeys(id), owner, max(lease.Milliseconds(), 1)).StringSlice()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("take sweep card: %w", err)
	}
	if len(v) != 1 {
		return nil, false, nil
	}
	if v[0] == "" {
		return nil, true, nil
	}
	return []byte(v[0]), true, nil
}

// saveSweepCardScript writes the document ARGV[2] to KEYS[1] for ARGV[3]
// ms if ARGV[1] holds the lease KEYS[2].
var saveSweepCardScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// SaveSweepCard writes job id's card document while owner holds the lease,
// kept SweepTTL; false when owner no longer holds it (nothing written).
func (s *Store) SaveSweepCard(ctx context.Context, id, owner string, doc []byte) (bool, error) {
	n, err := saveSweepCardScript.Run(ctx, s.rdb, s.deskKeys(id), owner, doc, SweepTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("save sweep card: %w", err)
	}
	return n == 1, nil
}
