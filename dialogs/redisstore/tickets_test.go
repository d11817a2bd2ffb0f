package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smartswap/mfabot/dialogs/redisstore"
)

// Submissions are counted per user in a window that starts with the first
// and ends with its TTL; another user has their own count.
func TestCountSubmission(t *testing.T) {
	ctx := context.Background()
	s, rdb, prefix := newStore(t)
	for want := int64(1); want <= 3; want++ {
		n, err := s.CountSubmission(ctx, tenant, user, 300*time.Millisecond)
		if err != nil || n != want {
			t.Fatalf("count %d = %d, %v", want, n, err)
		}
	}
	if n, err := s.CountSubmission(ctx, tenant, "another-user", 300*time.Millisecond); err != nil || n != 1 {
		t.Fatalf("another user's first count = %d, %v", n, err)
	}
	keys, err := rdb.Keys(ctx, prefix+"*:hd:submits").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	for _, k := range keys {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > 300*time.Millisecond {
			t.Errorf("%s: TTL %v", k, ttl)
		}
		if strings.Contains(k, user) && !strings.Contains(k, redisstore.UserTag(tenant, user)) {
			t.Errorf("%s: not under the user's hash tag", k)
		}
	}
	time.Sleep(400 * time.Millisecond)
	if n, err := s.CountSubmission(ctx, tenant, user, 300*time.Millisecond); err != nil || n != 1 {
		t.Fatalf("after the window: count = %d, %v", n, err)
	}
}
