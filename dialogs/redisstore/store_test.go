package redisstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/internal/redistest"
)

const (
	tenant = "9f3a1c2e-5b7d-4e8f-a1b2-c3d4e5f60718"
	user   = "c5e99701-2a32-49c1-a660-4629ceeb8c61"
)

func newStore(t *testing.T) (*redisstore.Store, *redis.Client, string) {
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t)
	return redisstore.New(rdb, redisstore.WithPrefix(prefix)), rdb, prefix
}

func TestDialogLoadMissing(t *testing.T) {
	s, _, _ := newStore(t)
	doc, rev, err := s.LoadDialog(context.Background(), tenant, user)
	if err != nil || doc != nil || rev != 0 {
		t.Fatalf("LoadDialog of nothing = %q, %d, %v", doc, rev, err)
	}
}

func TestDialogCompareAndSet(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	rev, saved, err := s.SaveDialog(ctx, tenant, user, []byte(`{"a":1}`), 0)
	if err != nil || !saved || rev != 1 {
		t.Fatalf("first save = %d %v %v", rev, saved, err)
	}
	// A writer that read nothing (rev 0) lost: the dialog exists now.
	if _, saved, err := s.SaveDialog(ctx, tenant, user, []byte(`{"a":2}`), 0); err != nil || saved {
		t.Fatalf("stale create saved=%v err=%v, want a conflict", saved, err)
	}
	doc, rev, err := s.LoadDialog(ctx, tenant, user)
	if err != nil || string(doc) != `{"a":1}` || rev != 1 {
		t.Fatalf("after conflict: %q %d %v", doc, rev, err)
	}
	if rev, saved, err = s.SaveDialog(ctx, tenant, user, []byte(`{"a":3}`), 1); err != nil || !saved || rev != 2 {
		t.Fatalf("update = %d %v %v", rev, saved, err)
	}
	if _, saved, _ = s.SaveDialog(ctx, tenant, user, []byte(`{"a":4}`), 1); saved {
		t.Fatal("update from an old revision won")
	}
}

func TestDialogConcurrentWritersOneWinsPerRevision(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	if _, _, err := s.SaveDialog(ctx, tenant, user, []byte(`0`), 0); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, saved, err := s.SaveDialog(ctx, tenant, user, []byte(`1`), 1); err == nil && saved {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d writers won from the same revision, want exactly 1", wins.Load())
	}
}

func TestDialogTTLSetAndRefreshed(t *testing.T) {
	ctx := context.Background()
	s, rdb, prefix := newStore(t)
	if _, _, err := s.SaveDialog(ctx, tenant, user, []byte(`{}`), 0); err != nil {
		t.Fatal(err)
	}
	key := prefix + redisstore.UserTag(tenant, user) + ":dialog"
	ttl := rdb.PTTL(ctx, key).Val()
	if ttl < redisstore.DialogTTL-time.Minute || ttl > redisstore.DialogTTL {
		t.Fatalf("TTL after save = %v, want about %v", ttl, redisstore.DialogTTL)
	}
	rdb.PExpire(ctx, key, time.Hour)
	if _, _, err := s.LoadDialog(ctx, tenant, user); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl < redisstore.DialogTTL-time.Minute {
		t.Fatalf("TTL after load = %v: not refreshed on use", ttl)
	}
}

func TestKeysAreHashTaggedPerUser(t *testing.T) {
	ctx := context.Background()
	s, rdb, prefix := newStore(t)
	if _, _, err := s.SaveDialog(ctx, tenant, user, []byte(`{}`), 0); err != nil {
		t.Fatal(err)
	}
	want := prefix + "{t:" + tenant + ":u:" + user + "}:dialog"
	if n := rdb.Exists(ctx, want).Val(); n != 1 {
		keys := rdb.Keys(ctx, prefix+"*").Val()
		t.Fatalf("dialog not stored under %s; keys: %v", want, keys)
	}
	// The same hash tag means the same Cluster slot for every key of a user.
	if slot(want) != slot(prefix+redisstore.UserTag(tenant, user)+":other") {
		t.Error("two keys of one user hash to different slots")
	}
	if slot(want) == slot(prefix+redisstore.UserTag(tenant, "another-user")+":dialog") && slot(want) == slot(prefix+redisstore.UserTag(tenant, "third-user")+":dialog") {
		t.Error("different users all share one slot: the tag does not carry the user")
	}
}

// A delivery's record: taken in progress with its lease, found in
// progress by a second attempt, done with its answer once finished (by
// the attempt that holds it only), and then kept for the TTL given.
func TestDeliveryRecord(t *testing.T) {
	ctx := context.Background()
	s, rdb, prefix := newStore(t)
	d, err := s.Begin(ctx, "seen:a:1", "tok", 15*time.Second)
	if err != nil || !d.First {
		t.Fatalf("first = %+v %v", d, err)
	}
	if ttl := rdb.PTTL(ctx, prefix+"seen:a:1").Val(); ttl <= 0 || ttl > 15*time.Second {
		t.Fatalf("lease TTL = %v", ttl)
	}
	if again, _ := s.Begin(ctx, "seen:a:1", "tok-2", 15*time.Second); again.First || again.Done {
		t.Fatalf("a second attempt while in progress: %+v", again)
	}
	if ok, err := s.Finish(ctx, "seen:a:1", "tok-2", []byte("not mine"), time.Hour); ok || err != nil {
		t.Fatalf("another attempt finished the record: %v %v", ok, err)
	}
	if ok, err := s.Finish(ctx, "seen:a:1", "tok", []byte(`200 {"a":1}`), time.Hour); !ok || err != nil {
		t.Fatalf("finish: %v %v", ok, err)
	}
	if ttl := rdb.PTTL(ctx, prefix+"seen:a:1").Val(); ttl <= 15*time.Second || ttl > time.Hour {
		t.Fatalf("done TTL = %v", ttl)
	}
	done, err := s.Begin(ctx, "seen:a:1", "tok-3", 15*time.Second)
	if err != nil || !done.Done || string(done.Answer) != `200 {"a":1}` {
		t.Fatalf("after finish: %+v %v", done, err)
	}
	if err := s.Forget(ctx, "seen:a:1", "tok-2"); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Begin(ctx, "seen:a:1", "tok-4", 15*time.Second); !d.Done {
		t.Fatal("another attempt's Forget dropped a completed record")
	}
	// A record of the version before states (the token alone) is done.
	rdb.Set(ctx, prefix+"seen:old", "some-token", time.Hour)
	if d, _ := s.Begin(ctx, "seen:old", "tok", 15*time.Second); !d.Done || d.Answer != nil {
		t.Fatalf("a record of the earlier format: %+v", d)
	}
}

// The save of an invoke's dialog marks its record done with the answer in
// the same script; a turn that then fails (its answer did not leave) drops
// it again, and a save by an attempt that does not hold the record leaves
// it alone.
func TestSaveDialogFinishing(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	const tenant, user = "t-f", "u-f"
	recorded, d, _, _, err := s.BeginLoadDialog(ctx, "seen:f:1", "tok", 15*time.Second, tenant, user)
	if err != nil || !d.First {
		t.Fatal(d, err)
	}
	rev, saved, finished, err := s.SaveDialogFinishing(ctx, tenant, user, []byte(`{"v":1}`), 0, recorded, "tok", []byte(`200 {"x":1}`), time.Hour)
	if err != nil || !saved || !finished || rev != 1 {
		t.Fatalf("rev %d saved %v finished %v err %v", rev, saved, finished, err)
	}
	if _, d, _, _, _ := s.BeginLoadDialog(ctx, "seen:f:1", "tok-2", 15*time.Second, tenant, user); !d.Done || string(d.Answer) != `200 {"x":1}` {
		t.Fatalf("after the save: %+v", d)
	}
	// The same attempt may overwrite its own answer (Finish), and drop it.
	if ok, err := s.Finish(ctx, recorded, "tok", []byte("200 {}"), time.Hour); !ok || err != nil {
		t.Fatalf("finish over its own save's mark: %v %v", ok, err)
	}
	if err := s.Forget(ctx, recorded, "tok"); err != nil {
		t.Fatal(err)
	}
	if _, d, _, _, _ := s.BeginLoadDialog(ctx, "seen:f:1", "tok-3", 15*time.Second, tenant, user); !d.First {
		t.Fatalf("after the attempt's Forget: %+v, want first", d)
	}
	// tok-3 holds it now: a save by another attempt saves but marks nothing.
	_, saved, finished, err = s.SaveDialogFinishing(ctx, tenant, user, []byte(`{"v":2}`), 1, recorded, "tok", []byte("x"), time.Hour)
	if err != nil || !saved || finished {
		t.Fatalf("another attempt's save: saved %v finished %v err %v", saved, finished, err)
	}
	if ok, _ := s.Finish(ctx, recorded, "tok", nil, time.Hour); ok {
		t.Fatal("an attempt finished a record another attempt holds")
	}
}

// A lease that runs out (the replica crashed mid-turn) frees the record:
// the redelivery is handled as new, and the attempt that lost it can
// neither finish nor forget it.
func TestDeliveryLeaseExpires(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	if d, _ := s.Begin(ctx, "seen:c:1", "crashed", 50*time.Millisecond); !d.First {
		t.Fatal("not first")
	}
	time.Sleep(120 * time.Millisecond)
	if d, _ := s.Begin(ctx, "seen:c:1", "retry", 15*time.Second); !d.First {
		t.Fatalf("after the lease: %+v, want first", d)
	}
	if ok, _ := s.Finish(ctx, "seen:c:1", "crashed", nil, time.Hour); ok {
		t.Fatal("the attempt whose lease ran out finished the retry's record")
	}
	s.Forget(ctx, "seen:c:1", "crashed")
	if d, _ := s.Begin(ctx, "seen:c:1", "third", 15*time.Second); d.First || d.Done {
		t.Fatalf("the retry's record: %+v, want in progress", d)
	}
	// A turn that completed but could mark its record only after the lease
	// ran out (Redis did not answer) still marks it: no redelivery reruns it.
	if d, _ := s.Begin(ctx, "seen:c:2", "slow", 50*time.Millisecond); !d.First {
		t.Fatal("not first")
	}
	time.Sleep(120 * time.Millisecond)
	if ok, err := s.Finish(ctx, "seen:c:2", "slow", []byte("200 {}"), time.Hour); !ok || err != nil {
		t.Fatalf("finish after the lease: %v %v", ok, err)
	}
	if d, _ := s.Begin(ctx, "seen:c:2", "retry", 15*time.Second); !d.Done {
		t.Fatalf("after a late finish: %+v, want done", d)
	}
}

// The duplicate check and the dialog load in one round trip: the record
// is on the user's slot, a second sighting reads nothing, Forget takes the
// key it returned.
func TestBeginLoadDialog(t *testing.T) {
	ctx := context.Background()
	s, rdb, prefix := newStore(t)
	const tenant, user = "t-1", "u-1"
	recorded, d, doc, rev, err := s.BeginLoadDialog(ctx, "seen:a:1", "tok", time.Hour, tenant, user)
	if err != nil || !d.First || doc != nil || rev != 0 {
		t.Fatalf("no dialog yet: %+v doc %q rev %d err %v", d, doc, rev, err)
	}
	if recorded != redisstore.UserTag(tenant, user)+":seen:a:1" || slot(prefix+recorded) != slot(prefix+redisstore.UserTag(tenant, user)+":dialog") {
		t.Errorf("recorded %q, not on the user's slot", recorded)
	}
	if ttl := rdb.PTTL(ctx, prefix+recorded).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("record TTL = %v", ttl)
	}
	if _, saved, err := s.SaveDialog(ctx, tenant, user, []byte(`{"v":1}`), 0); err != nil || !saved {
		t.Fatal(saved, err)
	}
	if _, d, doc, _, err := s.BeginLoadDialog(ctx, "seen:a:1", "tok", time.Hour, tenant, user); d.First || doc != nil || err != nil {
		t.Fatalf("a second sighting: %+v doc %q err %v", d, doc, err)
	}
	rdb.PExpire(ctx, prefix+redisstore.UserTag(tenant, user)+":dialog", time.Minute)
	_, d, doc, rev, err = s.BeginLoadDialog(ctx, "seen:a:2", "tok", time.Hour, tenant, user)
	if err != nil || !d.First || string(doc) != `{"v":1}` || rev != 1 {
		t.Fatalf("with a dialog: %+v doc %q rev %d err %v", d, doc, rev, err)
	}
	if ttl := rdb.PTTL(ctx, prefix+redisstore.UserTag(tenant, user)+":dialog").Val(); ttl < redisstore.DialogTTL-time.Hour {
		t.Errorf("the load did not refresh the dialog's TTL: %v", ttl)
	}
	if err := s.Forget(ctx, recorded, "tok"); err != nil {
		t.Fatal(err)
	}
	if _, d, _, _, _ := s.BeginLoadDialog(ctx, "seen:a:1", "tok", time.Hour, tenant, user); !d.First {
		t.Fatal("a forgotten activity is still seen")
	}
}

// Forget drops a record only while it holds the attempt's token: another
// attempt's record stays.
func TestForgetTakesOnlyItsOwnRecord(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newStore(t)
	if d, err := s.Begin(ctx, "seen:b:1", "attempt-1", time.Hour); !d.First || err != nil {
		t.Fatal(d, err)
	}
	if err := s.Forget(ctx, "seen:b:1", "attempt-2"); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Begin(ctx, "seen:b:1", "attempt-3", time.Hour); again.First {
		t.Fatal("another attempt's Forget dropped the record")
	}
	if err := s.Forget(ctx, "seen:b:1", "attempt-1"); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Begin(ctx, "seen:b:1", "attempt-4", time.Hour); !d.First {
		t.Fatal("the attempt's own Forget left its record")
	}
}

// slot is Redis Cluster's key slot: CRC16 of the hash tag (or the key) mod 16384.
func slot(key string) uint16 {
	if i := indexByte(key, '{'); i >= 0 {
		if j := indexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

func TestLeaseHeldByOneOwner(t *testing.T) {
	ctx := context.Background()
	s, rdb, prefix := newStore(t)
	const name = "poll:d1"
	if held, err := s.LeaseHeld(ctx, tenant, user, name); err != nil || held {
		t.Fatalf("LeaseHeld before any = %v, %v", held, err)
	}
	if ok, err := s.TryLease(ctx, tenant, user, name, "a", time.Minute); err != nil || !ok {
		t.Fatalf("TryLease a = %v, %v", ok, err)
	}
	if ok, err := s.TryLease(ctx, tenant, user, name, "b", time.Minute); err != nil || ok {
		t.Fatalf("TryLease b while a holds it = %v, %v", ok, err)
	}
	if held, err := s.LeaseHeld(ctx, tenant, user, name); err != nil || !held {
		t.Fatalf("LeaseHeld while a holds it = %v, %v", held, err)
	}
	// Another dialog's lease and another user's are separate.
	if ok, _ := s.TryLease(ctx, tenant, user, "poll:d2", "b", time.Minute); !ok {
		t.Fatal("another dialog's lease was taken")
	}
	if ok, _ := s.TryLease(ctx, tenant, "other-user", name, "b", time.Minute); !ok {
		t.Fatal("another user's lease was taken")
	}
	// Only the owner renews and releases.
	if ok, err := s.RenewLease(ctx, tenant, user, name, "b", time.Hour); err != nil || ok {
		t.Fatalf("RenewLease by b = %v, %v", ok, err)
	}
	if err := s.ReleaseLease(ctx, tenant, user, name, "b"); err != nil {
		t.Fatal(err)
	}
	key := prefix + redisstore.UserTag(tenant, user) + ":lease:" + name
	if v, _ := rdb.Get(ctx, key).Result(); v != "a" {
		t.Fatalf("after b's renew and release the lease holds %q, want a", v)
	}
	if ok, err := s.RenewLease(ctx, tenant, user, name, "a", time.Hour); err != nil || !ok {
		t.Fatalf("RenewLease by a = %v, %v", ok, err)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl < 59*time.Minute {
		t.Fatalf("TTL after renewal %s, want about an hour", ttl)
	}
	if err := s.ReleaseLease(ctx, tenant, user, name, "a"); err != nil {
		t.Fatal(err)
	}
	if held, _ := s.LeaseHeld(ctx, tenant, user, name); held {
		t.Fatal("lease held after its owner released it")
	}
	if ok, _ := s.RenewLease(ctx, tenant, user, name, "a", time.Minute); ok {
		t.Fatal("a released lease was renewed")
	}
	if ok, _ := s.TryLease(ctx, tenant, user, name, "b", time.Minute); !ok {
		t.Fatal("b could not take the released lease")
	}
	// A lease runs out with its TTL.
	if ok, _ := s.TryLease(ctx, tenant, user, "poll:d3", "a", 50*time.Millisecond); !ok {
		t.Fatal("TryLease d3")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ok, _ := s.TryLease(ctx, tenant, user, "poll:d3", "b", time.Minute); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease did not run out with its TTL")
		}
	}
	rdb.Del(ctx, key, prefix+redisstore.UserTag(tenant, user)+":lease:poll:d2", prefix+redisstore.UserTag(tenant, "other-user")+":lease:"+name,
		prefix+redisstore.UserTag(tenant, user)+":lease:poll:d3")
}
