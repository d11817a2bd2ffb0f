package dialogs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/dialogs"
	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/internal/redistest"
	"github.com/smartswap/mfabot/sweep"
)

// channelStandIn is the Bot Connector as the helpdesk channel sees it: it
// gives each card posted an id of its own, and records the posts and the
// updates in place.
type channelStandIn struct {
	mu      sync.Mutex
	posts   []schema.Activity
	ids     []string
	updates []channelUpdate
}

// channelUpdate is an UpdateActivity call.
type channelUpdate struct {
	conv, id string
	a        schema.Activity
}

func (c *channelStandIn) SendToConversation(_ context.Context, _, _ string, a schema.Activity) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts = append(c.posts, a)
	id := fmt.Sprintf("1:%d", len(c.posts))
	c.ids = append(c.ids, id)
	return id, nil
}

func (c *channelStandIn) UpdateActivity(_ context.Context, _, conv, id string, a schema.Activity) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.updates = append(c.updates, channelUpdate{conv: conv, id: id, a: a})
	return id, nil
}

func (c *channelStandIn) GetMember(_ context.Context, _, _, user string) (schema.ChannelAccount, error) {
	return schema.ChannelAccount{ID: user}, nil
}

var _ dialogs.HelpdeskConnector = (*channelStandIn)(nil)

// seen returns copies of the posts, their ids and the updates so far.
func (c *channelStandIn) seen() ([]schema.Activity, []string, []channelUpdate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]schema.Activity(nil), c.posts...), append([]string(nil), c.ids...), append([]channelUpdate(nil), c.updates...)
}

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

const progressChannel = "19:helpdesk@thread.tacv2"

// progressReplica is one replica's SweepProgress over store, posting
// through conn to the helpdesk channel (none when channel is nil and the
// store has none).
func progressReplica(store *redisstore.Store, conn *channelStandIn, clock *testClock, owner string, channel *dialogs.Channel) *dialogs.SweepProgress {
	dir := &fakeDirectory{methods: map[string][]dialogs.Method{}}
	conv := dialogs.NewConversation(dialogs.ConversationOptions{Store: store, Content: dialogs.DefaultContent(), Directory: dir, Now: clock.Now})
	help := dialogs.NewHelpdesk(dialogs.HelpdeskOptions{
		Store: store, References: store, Connector: conn, Directory: dir, Dialogs: conv, Channel: channel, Sweeps: store,
	})
	return dialogs.NewSweepProgress(help, dialogs.SweepProgressOptions{
		Cards: store, Owner: owner, Lease: 300 * time.Millisecond, Every: 10 * time.Second, Now: clock.Now,
	})
}

// cardIn is the Adaptive Card an activity carries.
func cardIn(t *testing.T, a schema.Activity) cards.Card {
	t.Helper()
	if len(a.Attachments) != 1 {
		t.Fatalf("activity carries %d attachments, want one card", len(a.Attachments))
	}
	return asCard(t, a.Attachments[0].Content)
}

// finishJob takes job id through the store as the sweep's workers would: one
// page of three users listed and read, two of them candidates, and the job
// marked done.
func finishJob(t *testing.T, store *redisstore.Store, id string, now time.Time) {
	t.Helper()
	ctx := context.Background()
	users := []sweep.User{{ID: "u1", UPN: "one@example.com"}, {ID: "u2", UPN: "two@example.com"}, {ID: "u3", UPN: "three@example.com"}}
	if _, ok, err := store.TakeLister(ctx, id, "worker", time.Minute); err != nil || !ok {
		t.Fatalf("take lister: %v %v", ok, err)
	}
	if err := store.AddPage(ctx, id, "worker", users, "", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	batches, err := store.ClaimBatches(ctx, id, "worker", now, time.Minute, 10)
	if err != nil || len(batches) != 1 {
		t.Fatalf("claim: %v %v", batches, err)
	}
	two := []sweep.Device{{Kind: sweep.KindPush, ID: "m1", Name: "iPhone 12"}, {Kind: sweep.KindPush, ID: "m2", Name: "iPhone 15"}}
	out := sweep.BatchOutcome{Scanned: 3, Candidates: []sweep.Finding{{User: users[0], Devices: two}, {User: users[1], Devices: two}}}
	if ok, err := store.FinishBatch(ctx, id, "worker", batches[0], out); err != nil || !ok {
		t.Fatalf("finish batch: %v %v", ok, err)
	}
	if ok, err := store.FinishSweep(ctx, id, now); err != nil || !ok {
		t.Fatalf("finish sweep: %v %v", ok, err)
	}
}

// Two replicas share the sweep's Redis: exactly one posts the job's card,
// which is then updated in place (no more often than every 10 s while the
// job runs), by another replica once the first stops, and into the summary
// at the end; a job that ended before any card gets one card, its summary.
func TestSweepProgressOneCardPerJob(t *testing.T) {
	ctx := context.Background()
	store := redisstore.New(redistest.Client(t), redisstore.WithPrefix(redistest.Prefix(t)))
	clock := &testClock{t: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	conn := &channelStandIn{}
	job, err := store.CreateSweep(ctx, sweep.Spec{Tenant: tenant, By: "佐藤 花子"}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}

	// Without a helpdesk channel, nothing is posted.
	if err := progressReplica(store, conn, clock, "nochannel", nil).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if posts, _, _ := conn.seen(); len(posts) != 0 {
		t.Fatalf("%d cards posted without a helpdesk channel", len(posts))
	}

	channel := &dialogs.Channel{ServiceURL: "https://smba.example/amer/", ConversationID: progressChannel}
	a := progressReplica(store, conn, clock, "replica-a", channel)
	b := progressReplica(store, conn, clock, "replica-b", channel)
	// Both at once, a few times over: one card.
	round := func() {
		var wg sync.WaitGroup
		for _, p := range []*dialogs.SweepProgress{a, b} {
			wg.Go(func() {
				if err := p.RunOnce(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	for range 3 {
		round()
	}
	posts, ids, updates := conn.seen()
	if len(posts) != 1 || len(updates) != 0 {
		t.Fatalf("%d cards posted and %d updated, want one posted", len(posts), len(updates))
	}
	first := cardIn(t, posts[0])
	must(t, first, "sweep-progress", job.ID, "実行中", "佐藤 花子", "一時停止")

	// The counts change: not shown before 10 s have passed.
	if err := store.AddSweepCounts(ctx, job.ID, 20, 1); err != nil {
		t.Fatal(err)
	}
	round()
	if _, _, updates := conn.seen(); len(updates) != 0 {
		t.Fatalf("the card was updated %d times within 10 s", len(updates))
	}
	clock.Advance(11 * time.Second)
	round()
	_, _, updates = conn.seen()
	if len(updates) != 1 || updates[0].id != ids[0] || updates[0].conv != progressChannel {
		t.Fatalf("updates %+v, want one of card %s", updates, ids[0])
	}
	must(t, cardIn(t, updates[0].a), "sweep-progress", "20 件(スロットル 1 件)")
	// Nothing changed since: no update, however late.
	clock.Advance(time.Minute)
	round()
	if _, _, updates := conn.seen(); len(updates) != 1 {
		t.Fatalf("an unchanged card was updated (%d updates)", len(updates))
	}

	// Replica a stops; once its lease has run out, b updates the same card.
	if err := store.AddSweepCounts(ctx, job.ID, 5, 0); err != nil {
		t.Fatal(err)
	}
	clock.Advance(11 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := b.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, updates := conn.seen(); len(updates) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	posts, _, updates = conn.seen()
	if len(posts) != 1 || len(updates) != 2 || updates[1].id != ids[0] {
		t.Fatalf("after a's stop: %d posts, updates %+v; want b to update card %s", len(posts), updates, ids[0])
	}
	must(t, cardIn(t, updates[1].a), "sweep-progress", "25 件(スロットル 1 件)")

	// The job ends: the card becomes its summary at once, and stays so.
	finishJob(t, store, job.ID, clock.Now())
	for range 3 {
		round()
	}
	posts, _, updates = conn.seen()
	if len(posts) != 1 || len(updates) != 3 || updates[2].id != ids[0] {
		t.Fatalf("at the end: %d posts, %d updates; want the summary as the third update of card %s", len(posts), len(updates), ids[0])
	}
	summary := cardIn(t, updates[2].a)
	must(t, summary, "sweep-summary", "終了", "レポート")
	for fact, want := range map[string]string{"確認したユーザー": "3 / 3 人", "候補者": "2 人", "削除まで完了": "0 人", "辞退(両方使用中)": "0 人", "未対応": "2 人"} {
		if !strings.Contains(js(summary), fmt.Sprintf(`{"title":%q,"value":%q}`, fact, want)) {
			t.Errorf("summary: %s is not %s: %s", fact, want, js(summary))
		}
	}

	// A job that ends before any card was posted gets one: its summary.
	quick, err := store.CreateSweep(ctx, sweep.Spec{Tenant: tenant, By: "cli"}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetSweepState(ctx, quick.ID, sweep.StateFailed, "Graph refused ListUsers (403)", []string{sweep.StateRunning}, clock.Now()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		round()
	}
	posts, ids, updates = conn.seen()
	if len(posts) != 2 || len(updates) != 3 {
		t.Fatalf("a job ended at once: %d posts, %d updates; want one more post", len(posts), len(updates))
	}
	must(t, cardIn(t, posts[1]), "sweep-summary", quick.ID, "失敗", "Graph refused ListUsers (403)")

	// Restarted replicas (new owners) find the cards done: nothing more.
	for _, owner := range []string{"replica-c", "replica-d"} {
		if err := progressReplica(store, conn, clock, owner, channel).RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if posts, _, updates := conn.seen(); len(posts) != 2 || len(updates) != 3 {
		t.Errorf("restarted replicas posted or updated again: %d posts, %d updates", len(posts), len(updates))
	}
}

// The card's document lives under the job's hash tag, with a TTL.
func TestSweepCardKeyUnderTheJobsTag(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t)
	store := redisstore.New(rdb, redisstore.WithPrefix(prefix))
	doc, ok, err := store.TakeSweepCard(ctx, "20261124-abcdef", "a", time.Minute)
	if err != nil || !ok || doc != nil {
		t.Fatalf("first take: %q %v %v", doc, ok, err)
	}
	if _, ok, _ := store.TakeSweepCard(ctx, "20261124-abcdef", "b", time.Minute); ok {
		t.Fatal("another owner took a held lease")
	}
	if saved, err := store.SaveSweepCard(ctx, "20261124-abcdef", "b", []byte(`{}`)); err != nil || saved {
		t.Fatalf("a non-owner saved: %v %v", saved, err)
	}
	want, _ := json.Marshal(map[string]string{"a": "1:1"})
	if saved, err := store.SaveSweepCard(ctx, "20261124-abcdef", "a", want); err != nil || !saved {
		t.Fatalf("the owner could not save: %v %v", saved, err)
	}
	key := prefix + "{sw:20261124-abcdef}:desk"
	if got := rdb.Get(ctx, key).Val(); got != string(want) {
		t.Errorf("%s = %q, want %q", key, got, want)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > redisstore.SweepTTL {
		t.Errorf("%s has TTL %s, want up to %s", key, ttl, redisstore.SweepTTL)
	}
	if doc, ok, err := store.TakeSweepCard(ctx, "20261124-abcdef", "a", time.Minute); err != nil || !ok || string(doc) != string(want) {
		t.Errorf("renewed take: %q %v %v", doc, ok, err)
	}
}
