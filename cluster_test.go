package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
	"github.com/redis/go-redis/v9"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
)

// Scale-out on Redis Cluster: two replicas of the bot, each built by
// app.New with its own cluster client (opened from REDIS_URL as in
// production), store, dialog handler, HTTP handler and reminder worker,
// share nothing but a three-master Redis Cluster, the Graph stand-in and
// the Teams stand-in.
// Every user's turns alternate between the replicas, as a load balancer
// without session affinity would send them.

// replica is one instance of the bot.
type clReplica struct {
	name  string
	bot   *app.App
	rdb   *redis.ClusterClient
	turns atomic.Int64
}

func (r *clReplica) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.turns.Add(1)
	r.bot.Handler().ServeHTTP(w, req)
}

// clusterWorld is what the replicas share, and the test's handles on it.
type clusterWorld struct {
	redisURL string
	sb       *sandbox.Sandbox
	graph    string // GRAPH_BASE_URL of sb
	conn     *connStandIn
	clock    *testClock
	reps     [2]*clReplica
	idBase   string
	seq      *atomic.Int64
}

// newReplica builds one instance of the bot as main does, through
// config.Load and app.New: REDIS_URL opened by the app, the store with its
// production prefix, the real Graph client against the shared sandbox, the
// helpdesk posting to a channel of the shared Teams stand-in, reminders at
// any hour, and a reminder worker (one per replica, as in production) not
// held back by the rate limit.
func (w *clusterWorld) newReplica(t *testing.T, name string) *clReplica {
	t.Helper()
	a := newBot(t, helpdeskVars(w.conn, "REDIS_URL", w.redisURL, "GRAPH_BASE_URL", w.graph, "REMINDER_HOURS", "always"), app.Options{
		Now: w.clock.Now, PollFor: 2 * time.Second, ReminderRate: 100000, ReminderBatch: 20,
	})
	cc, ok := a.Redis().(*redis.ClusterClient)
	if !ok {
		t.Fatalf("replica %s: REDIS_URL %s opened a %T, want *redis.ClusterClient", name, w.redisURL, a.Redis())
	}
	if a.Store().Prefix() != "mfabot:" {
		t.Fatalf("store prefix %q, want the production mfabot:", a.Store().Prefix())
	}
	return &clReplica{name: name, bot: a, rdb: cc}
}

// person is one user whose turns alternate between the replicas: turn 1
// to A, turn 2 to B, and so on. on(i) is the user's chat through replica
// i, for turns the test sends to a chosen replica.
type clPerson struct {
	user  string
	views [2]*chat
	turn  int
}

func (w *clusterWorld) person(t testing.TB, user string) *clPerson {
	p := &clPerson{user: user}
	for i, r := range w.reps {
		p.views[i] = &chat{t: t, sb: w.sb, h: r, conn: w.conn, user: user, locale: "ja-JP", idBase: w.idBase + user[:8] + ":", seq: w.seq}
	}
	return p
}

// next is the chat of the user's next turn, alternating A, B, A, …
func (p *clPerson) next() *chat {
	c := p.views[p.turn%2]
	p.turn++
	return c
}

func (p *clPerson) on(i int) *chat { return p.views[i] }

// clusterUser is the aadObjectId of test user i of a kind: a version-4
// GUID that looks random, as Entra's do. (Ids built from a counter written
// twice, like seedUsersFast's, fall into only 4 of the 16 reminder shards:
// the low bits of FNV-1a depend only on the low bits of each byte.)
func clusterUser(kind, i int) string {
	b := sha256.Sum256([]byte(fmt.Sprintf("scale-out user %d/%d", kind, i)))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func TestScaleOutOnRedisCluster(t *testing.T) {
	began := time.Now()
	addrs := redistest.Cluster(t)
	clusterUp := time.Since(began)
	t.Logf("3-master cluster %v up in %s", addrs, clusterUp.Round(time.Millisecond))

	w := &clusterWorld{
		redisURL: "redis+cluster://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2],
		sb:       sandbox.New(sandbox.Options{}),
		conn:     newConnStandIn(t),
		clock:    &testClock{t: monday10()},
		idBase:   redistest.Prefix(t),
		seq:      new(atomic.Int64),
	}
	w.graph = serveGraph(t, w.sb, w.sb.Handler())
	w.reps = [2]*clReplica{w.newReplica(t, "A"), w.newReplica(t, "B")}
	A, B := 0, 1
	ctx := context.Background()
	for _, r := range w.reps {
		if err := r.bot.Store().Ping(ctx); err != nil {
			t.Fatalf("replica %s: %v", r.name, err)
		}
	}

	// Whole procedures, each turn on the other replica than the last.
	const procedureUsers = 6
	var finished []string
	phase := time.Now()
	t.Run("whole procedure alternating replicas", func(t *testing.T) {
		for i := range procedureUsers {
			user := clusterUser(1, i)
			finished = append(finished, user)
			t.Run(user[:8], func(t *testing.T) {
				t.Parallel()
				clAlternatingProcedure(t, w.person(t, user))
			})
		}
	})
	t.Logf("%d whole procedures, turns alternating A/B: %s", procedureUsers, time.Since(phase).Round(time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}

	// A card pressed on one replica after the other moved the dialog, and
	// a helpdesk ticket opened on one replica and added to on the other.
	staleUser := clusterUser(2, 0)
	t.Run("stale card answered by the other replica", func(t *testing.T) {
		p := w.person(t, staleUser)
		first := p.on(A).say("スマホ交換")
		second := p.on(B).press(first, cards.VerbNext)
		wantCard(t, second, stepCard("old_phone"))
		stale := p.on(A).press(first, cards.VerbNext)
		wantCard(t, stale, stepCard("old_phone"))
		if !strings.Contains(text(stale), "このカードは古くなっています") {
			t.Errorf("replica A did not call B's superseded card stale: %s", text(stale))
		}
		third := p.on(A).press(second, cards.VerbNext)
		wantCard(t, third, stepCard("open_page"))
		stale = p.on(B).press(second, cards.VerbNext)
		wantCard(t, stale, stepCard("open_page"))
		if !strings.Contains(text(stale), "このカードは古くなっています") {
			t.Errorf("replica B did not call A's superseded card stale: %s", text(stale))
		}
		if st := p.on(B).say("状況"); !strings.Contains(text(st), "ステップ 3 / 10") {
			t.Errorf("stale presses moved the dialog: %s", text(st))
		}

		// Teams redelivers a message to the other replica: handled once.
		conv := "a:" + staleUser
		before := len(w.conn.to(conv))
		a := p.on(A).activity(schema.Message)
		a.Text = "状況"
		p.on(A).post(a)
		p.on(B).post(a)
		if n := len(w.conn.to(conv)) - before; n != 1 {
			t.Errorf("one activity delivered to both replicas was answered %d times, want 1", n)
		}

		// Helpdesk: the ticket is opened through A, the note through B.
		got := clSubmitTicket(t, p.on(B), p.on(A), third, "qr", "カメラが起動しません")
		wantCard(t, got, "ticket-received")
		again := clSubmitTicket(t, p.on(A), p.on(B), third, "other", "やはり読めません")
		if !strings.Contains(text(again), "追記しました") {
			t.Errorf("the second replica did not add to the open ticket: %s", text(again))
		}
		posts, puts := clChannelActivities(w.conn)
		if posts != 1 || puts != 1 {
			t.Errorf("helpdesk channel: %d cards posted and %d updated, want 1 and 1", posts, puts)
		}
	})

	// Presses at the same moment, one on each replica: the dialog moves
	// once per pair, whoever wins.
	raceUser := clusterUser(3, 0)
	t.Run("simultaneous presses split across replicas", func(t *testing.T) {
		p := w.person(t, raceUser)
		card := p.on(A).say("スマホ交換")
		wins := [2]int{}
		for round := 1; round <= 6; round++ {
			data := actionData(t, card, cards.VerbNext)
			acts := [2]schema.Activity{clInvokeActivity(p.on(A), data), clInvokeActivity(p.on(B), data)}
			var res [2]cards.Card
			var errs [2]error
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					res[i], errs[i] = clInvokeCard(w.reps[i], acts[i])
				}()
			}
			close(start)
			wg.Wait()
			moved := -1
			want := stepCard(pushOnlySteps()[round])
			for i := range 2 {
				if errs[i] != nil {
					t.Fatalf("round %d, replica %s: %v", round, w.reps[i].name, errs[i])
				}
				if cards.CardID(res[i]) != want {
					t.Fatalf("round %d, replica %s answered %s, want %s", round, w.reps[i].name, cards.CardID(res[i]), want)
				}
				if !strings.Contains(text(res[i]), "古くなっています") {
					if moved >= 0 {
						t.Fatalf("round %d: both presses moved the dialog", round)
					}
					moved = i
				}
			}
			if moved < 0 {
				t.Fatalf("round %d: neither press moved the dialog", round)
			}
			wins[moved]++
			card = res[moved]
		}
		if st := p.on(B).say("状況"); !strings.Contains(text(st), "ステップ 7 / 10") {
			t.Errorf("6 pairs of presses did not move the dialog exactly 6 steps: %s", text(st))
		}
		t.Logf("6 pairs of simultaneous presses: A won %d, B won %d", wins[A], wins[B])
	})
	if t.Failed() {
		t.FailNow()
	}

	// Reminders: users left at delete_old, and users who only started,
	// each seeded through alternating replicas.
	const deleteOldUsers, startedUsers = 12, 100
	var atDeleteOld, started []string
	for i := range deleteOldUsers {
		atDeleteOld = append(atDeleteOld, clusterUser(4, i))
	}
	for i := range startedUsers {
		started = append(started, clusterUser(5, i))
	}
	phase = time.Now()
	t.Run("seed reminder users", func(t *testing.T) {
		for _, user := range atDeleteOld {
			t.Run(user[:8], func(t *testing.T) {
				t.Parallel()
				wantCard(t, clAlternatingToDeleteOld(w.person(t, user)), stepCard("delete_old"))
			})
		}
		for i, user := range started {
			t.Run(user[:8], func(t *testing.T) {
				t.Parallel()
				wantCard(t, w.person(t, user).on(i%2).say("スマホ交換"), stepCard("cautions"))
			})
		}
	})
	t.Logf("seeded %d users at delete_old and %d just started: %s", deleteOldUsers, startedUsers, time.Since(phase).Round(time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}

	// Who should get exactly one reminder at +25 h, and which.
	wantKind := map[string]string{staleUser: "途中で止まっています", raceUser: "途中で止まっています"}
	for _, u := range atDeleteOld {
		wantKind[u] = "古いスマホの登録がまだ残っています"
	}
	for _, u := range started {
		wantKind[u] = "途中で止まっています"
	}

	shardMasters := clQueuedShardMasters(t, w.reps[A].rdb)
	t.Logf("queued reminders by master: %v", shardMasters)
	if len(shardMasters) < 2 {
		t.Errorf("queued reminders sit on %d master(s), want them spread over more than one", len(shardMasters))
	}

	w.clock.Advance(25 * time.Hour)
	// Replica A's worker claims one reminder and dies before sending it.
	ids, err := w.reps[A].bot.Store().ClaimReminders(ctx, w.clock.Now(), time.Minute, 1)
	if err != nil || len(ids) != 1 {
		t.Fatalf("claim one reminder on the cluster: %v %v", ids, err)
	}
	abandoned := strings.Split(ids[0], "|")[1]
	if _, ok := wantKind[abandoned]; !ok {
		t.Fatalf("claimed reminder %q of an unexpected user", ids[0])
	}

	workers := [2]*app.App{w.reps[A].bot, w.reps[B].bot}
	phase = time.Now()
	clDrainBoth(t, workers)
	firstDrain := time.Since(phase)
	for u, kind := range wantKind {
		want := 1
		if u == abandoned {
			want = 0
		}
		clCheckReminders(t, w, u, want, kind)
	}
	for _, u := range finished {
		clCheckReminders(t, w, u, 0, "")
	}
	w.clock.Advance(30 * time.Second) // the lease still runs
	clDrainBoth(t, workers)
	clCheckReminders(t, w, abandoned, 0, "")
	w.clock.Advance(31 * time.Second) // the lease has ended
	clDrainBoth(t, workers)
	for u, kind := range wantKind {
		clCheckReminders(t, w, u, 1, kind)
	}
	for _, u := range finished {
		clCheckReminders(t, w, u, 0, "")
	}
	stA, stB := workers[A].ReminderCounts(), workers[B].ReminderCounts()
	t.Logf("%d reminders by two workers concurrently in %s (first drain); A sent %d, B sent %d; skipped A %v B %v",
		len(wantKind), firstDrain.Round(time.Millisecond), stA.Sent, stB.Sent, stA.Skipped, stB.Skipped)
	if got := stA.Sent + stB.Sent; got != int64(len(wantKind)) {
		t.Errorf("workers report %d reminders sent, want %d", got, len(wantKind))
	}
	if stA.Sent == 0 || stB.Sent == 0 {
		t.Errorf("one worker did all the work (A %d, B %d): the drain was not concurrent", stA.Sent, stB.Sent)
	}
	if n := stA.Skipped["duplicate"] + stB.Skipped["duplicate"]; n != 0 {
		t.Errorf("%d reminders were claimed by both workers", n)
	}
	if n, err := w.reps[B].bot.Store().DueReminders(ctx); err != nil {
		t.Fatal(err)
	} else if n != int64(deleteOldUsers) {
		// The delete_old users' next reminders (72 h) remain queued.
		t.Errorf("%d reminders queued after the drain, want %d (the next of each delete_old user)", n, deleteOldUsers)
	}

	// One user's keys on one slot; the reminder shards over several masters.
	t.Run("key placement", func(t *testing.T) {
		cc := w.reps[A].rdb
		// The dialog, the conversation reference and the ticket (its
		// hash and the pointer to the open one) of the user with a ticket.
		clCheckUserSlot(t, cc, staleUser, ":dialog", ":ref", ":ticket:1", ":ticket:open")
		clCheckUserSlot(t, cc, raceUser, ":dialog", ":ref")
		clCheckUserSlot(t, cc, atDeleteOld[0], ":dialog", ":ref")
		clCheckUserSlot(t, cc, finished[0], ":ref")
		// The cluster does refuse a script over two users' keys, so the
		// bot's scripts passing above is not for lack of enforcement.
		other := redisstore.UserTag(convTenant, raceUser)
		mine := redisstore.UserTag(convTenant, staleUser)
		probe := redis.NewScript(`return redis.call('EXISTS', KEYS[1], KEYS[2])`)
		err := probe.Run(ctx, cc, []string{"mfabot:" + mine + ":dialog", "mfabot:" + other + ":dialog"}).Err()
		if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
			t.Errorf("a script over two users' keys answered %v, want a CROSSSLOT error", err)
		}
		masters := map[string][]int{}
		for n := range redisstore.ReminderShards {
			key := "mfabot:{rem:" + fmt.Sprint(n) + "}:due"
			masters[clMasterOf(t, cc, key)] = append(masters[clMasterOf(t, cc, key)], n)
		}
		t.Logf("reminder shards by master: %v", masters)
		if len(masters) < 2 {
			t.Errorf("all %d reminder shards on one master: %v", redisstore.ReminderShards, masters)
		}
	})
	t.Logf("turns served: A %d, B %d; total %s", w.reps[A].turns.Load(), w.reps[B].turns.Load(), time.Since(began).Round(time.Millisecond))
}

// alternatingProcedure walks p through the whole procedure, alternating
// replicas turn by turn, doing on the sandbox page what the user would.
func clAlternatingProcedure(t *testing.T, p *clPerson) {
	card := p.next().say("スマホ交換")
	for i, step := range pushOnlySteps() {
		wantCard(t, card, stepCard(step))
		if !strings.Contains(text(card), fmt.Sprintf("ステップ %d / 10", i+1)) {
			t.Errorf("step %s: no progress line", step)
		}
		switch step {
		case "enter_number":
			p.views[0].sb.AddMethod(p.user, "iPhone 15")
		case "confirm_new":
			if !strings.Contains(text(card), "iPhone 15") {
				t.Errorf("the new device is not named: %s", text(card))
			}
		case "delete_old":
			if !strings.Contains(text(card), "iPhone SE (3rd generation)") {
				t.Errorf("the old device is not named: %s", text(card))
			}
			clDeleteOldDevice(p.views[0].sb, p.user)
		}
		card = p.next().press(card, cards.VerbNext)
	}
	wantCard(t, card, "done")
	if !strings.Contains(text(card), "交換が完了しました") {
		t.Errorf("done card: %s", text(card))
	}
	wantCard(t, p.next().say("状況"), "no-dialog")
}

// alternatingToDeleteOld walks p to delete_old with the new device
// confirmed, alternating replicas.
func clAlternatingToDeleteOld(p *clPerson) cards.Card {
	card := p.next().say("スマホ交換")
	for card != nil && cards.CardID(card) != "step-delete_old" {
		if cards.CardID(card) == "step-enter_number" {
			p.views[0].sb.AddMethod(p.user, "iPhone 15")
		}
		card = p.next().press(card, cards.VerbNext)
	}
	return card
}

func clDeleteOldDevice(sb *sandbox.Sandbox, user string) {
	for _, m := range sb.Methods(user) {
		if m.DisplayName == "iPhone SE (3rd generation)" {
			sb.DeleteMethod(user, m.ID)
		}
	}
}

// submitTicket presses ヘルプデスクに相談 on card through one replica and
// sends the form through the other.
func clSubmitTicket(t *testing.T, pressOn, submitOn *chat, card cards.Card, reason, note string) cards.Card {
	t.Helper()
	form := pressOn.press(card, cards.VerbHelpdesk)
	wantCard(t, form, "helpdesk-form")
	data := actionData(t, form, cards.VerbHelpdeskSubmit)
	data["reason"], data["note"] = reason, note
	return submitOn.invoke(data)
}

func clChannelActivities(c *connStandIn) (posts, puts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.sent {
		if c.conv[i] == helpdeskChannel {
			switch c.method[i] {
			case http.MethodPost:
				posts++
			case http.MethodPut:
				puts++
			}
		}
	}
	return posts, puts
}

// clInvokeActivity is c's Action.Execute activity of a press with data.
func clInvokeActivity(c *chat, data map[string]any) schema.Activity {
	a := c.activity(schema.Invoke)
	a.Name = "adaptiveCard/action"
	a.Value = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": data["verb"], "data": data}, "trigger": "manual"}
	return a
}

// invokeCard posts an invoke to h and returns the card it answered with;
// safe to call off the test goroutine.
func clInvokeCard(h http.Handler, a schema.Activity) (cards.Card, error) {
	body, _ := json.Marshal(a)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/messages", bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("status %d %s", rec.Code, rec.Body.String())
	}
	var resp struct {
		StatusCode int            `json:"statusCode"`
		Type       string         `json:"type"`
		Value      map[string]any `json:"value"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.StatusCode != 200 || resp.Type != bot.InvokeTypeCard {
		return nil, fmt.Errorf("invoke answer is not a card: %s", rec.Body.String())
	}
	return resp.Value, nil
}

// drainBoth runs both replicas' reminder workers concurrently until each
// claims nothing.
func clDrainBoth(t *testing.T, workers [2]*app.App) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(workers))
	for i, wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				n, err := wk.SendDueReminders(context.Background())
				if err != nil {
					errs[i] = err
					return
				}
				if n == 0 {
					return
				}
			}
			errs[i] = fmt.Errorf("queue never drained")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("reminder worker %d on the cluster: %v", i, err)
		}
	}
}

func clCheckReminders(t *testing.T, w *clusterWorld, user string, want int, kind string) {
	t.Helper()
	c := w.person(t, user).on(0)
	got := reminders(c)
	if len(got) != want {
		t.Errorf("user %s got %d reminders, want %d", user, len(got), want)
		return
	}
	for _, card := range got {
		if kind != "" && !strings.Contains(text(card), kind) {
			t.Errorf("user %s: reminder lacks %q: %s", user, kind, text(card))
		}
	}
}

// clSlotMaster is the address of the master serving slot.
func clSlotMaster(t testing.TB, cc *redis.ClusterClient, slot int64) string {
	t.Helper()
	slots, err := cc.ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			return s.Nodes[0].Addr
		}
	}
	t.Fatalf("no master serves slot %d", slot)
	return ""
}

func clKeySlot(t testing.TB, cc *redis.ClusterClient, key string) int64 {
	t.Helper()
	slot, err := cc.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
	}
	return slot
}

func clMasterOf(t testing.TB, cc *redis.ClusterClient, key string) string {
	return clSlotMaster(t, cc, clKeySlot(t, cc, key))
}

// queuedShardMasters counts the queued reminders by the master holding
// their shard.
func clQueuedShardMasters(t testing.TB, cc *redis.ClusterClient) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for n := range redisstore.ReminderShards {
		key := "mfabot:{rem:" + fmt.Sprint(n) + "}:due"
		c, err := cc.ZCard(context.Background(), key).Result()
		if err != nil {
			t.Fatalf("ZCARD %s: %v", key, err)
		}
		if c > 0 {
			out[clMasterOf(t, cc, key)] += c
		}
	}
	return out
}

// clCheckUserSlot finds every key of user on every master and checks that
// they share one slot (and so one master), and that the keys with the
// suffixes required are among them.
func clCheckUserSlot(t *testing.T, cc *redis.ClusterClient, user string, required ...string) {
	t.Helper()
	ctx := context.Background()
	tag := redisstore.UserTag(convTenant, user)
	var mu sync.Mutex
	found := map[string]string{} // key → master that holds it
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		iter := node.Scan(ctx, 0, "mfabot:"+tag+":*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			found[iter.Val()] = node.Options().Addr
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil {
		t.Fatalf("scan masters: %v", err)
	}
	keys := slices.Sorted(maps.Keys(found))
	for _, suffix := range required {
		if found["mfabot:"+tag+suffix] == "" {
			t.Errorf("user %s: no key mfabot:%s%s (keys: %v)", user, tag, suffix, keys)
		}
	}
	if len(keys) == 0 {
		t.Fatalf("user %s: no keys on any master", user)
	}
	first := keys[0]
	want := clKeySlot(t, cc, first)
	for _, k := range keys {
		if s := clKeySlot(t, cc, k); s != want {
			t.Errorf("user %s: key %s on slot %d, %s on slot %d", user, k, s, first, want)
		}
		if found[k] != found[first] {
			t.Errorf("user %s: key %s on master %s, %s on %s", user, k, found[k], first, found[first])
		}
	}
	if m := clSlotMaster(t, cc, want); m != found[first] {
		t.Errorf("user %s: keys found on %s, but CLUSTER SLOTS gives slot %d to %s", user, found[first], want, m)
	}
	t.Logf("user %s…: %d keys on slot %d (master %s): %v", user[:8], len(keys), want, found[first], keys)
}
