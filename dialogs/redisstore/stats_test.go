package redisstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/smartswap/mfabot/dialogs/redisstore"
)

func TestDailyStats(t *testing.T) {
	ctx := context.Background()
	s, rdb, prefix := newStore(t)
	const day = "2026-11-24"

	if c, took, err := s.DailyStats(ctx, day); err != nil || len(c) != 0 || len(took) != 0 {
		t.Fatalf("empty day = %v %v %v", c, took, err)
	}
	if err := s.AddDailyStats(ctx, day, []string{"started", "entered:cautions"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDailyStats(ctx, day, []string{"started"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDailyStats(ctx, day, []string{"completed"}, 17*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDailyStats(ctx, day, nil, 0); err != nil {
		t.Fatal(err)
	}
	c, took, err := s.DailyStats(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if c["started"] != 2 || c["entered:cautions"] != 1 || c["completed"] != 1 || len(c) != 3 {
		t.Errorf("counters = %v", c)
	}
	if !slices.Equal(took, []time.Duration{17 * time.Minute}) {
		t.Errorf("completion times = %v", took)
	}
	// Other days are apart.
	if c, _, _ := s.DailyStats(ctx, "2026-11-23"); len(c) != 0 {
		t.Errorf("another day sees %v", c)
	}

	// Both keys expire (and share the hash tag {day:…}: one Cluster slot).
	counts, tookKey := prefix+"stats:{day:"+day+"}", prefix+"stats:{day:"+day+"}:took"
	for _, k := range []string{counts, tookKey} {
		ttl := rdb.PTTL(ctx, k).Val()
		if ttl <= redisstore.StatsTTL-time.Minute || ttl > redisstore.StatsTTL {
			t.Errorf("%s: TTL %v, want about %v", k, ttl, redisstore.StatsTTL)
		}
	}
}

func TestDailyCompletionTimesAreCapped(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	const day = "2026-11-25"
	for i := range redisstore.MaxDailyCompletions + 5 {
		if err := s.AddDailyStats(ctx, day, []string{"completed"}, time.Duration(i+1)*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	c, took, err := s.DailyStats(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if c["completed"] != redisstore.MaxDailyCompletions+5 {
		t.Errorf("completed = %d", c["completed"])
	}
	if len(took) != redisstore.MaxDailyCompletions {
		t.Fatalf("%d completion times kept, want %d", len(took), redisstore.MaxDailyCompletions)
	}
	if took[0] != time.Duration(redisstore.MaxDailyCompletions+5)*time.Second {
		t.Errorf("the newest time is not kept first: %v", took[0])
	}
}

func TestOpenTickets(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	count := func() int64 {
		t.Helper()
		n, err := s.CountOpenTickets(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("no tickets: %d open", n)
	}
	for _, id := range []string{"t|u1|1", "t|u2|2", "t|u3|3"} {
		if err := s.SetTicketOpen(ctx, id, true, now); err != nil {
			t.Fatal(err)
		}
	}
	s.SetTicketOpen(ctx, "t|u1|1", true, now) // again: still one
	if n := count(); n != 3 {
		t.Errorf("%d open, want 3", n)
	}
	s.SetTicketOpen(ctx, "t|u2|2", false, now) // resolved
	s.SetTicketOpen(ctx, "t|u2|2", false, now) // twice
	if n := count(); n != 2 {
		t.Errorf("after a resolution: %d open, want 2", n)
	}
	s.SetTicketOpen(ctx, "t|u2|2", true, now) // reopened
	// One left open, unchanged, for longer than tickets are kept: gone.
	s.SetTicketOpen(ctx, "t|u3|3", true, now.Add(-redisstore.TicketTTL-time.Hour))
	if n := count(); n != 2 {
		t.Errorf("with an expired ticket: %d open, want 2", n)
	}
}
