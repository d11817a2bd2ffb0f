package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
)

// Reminders against a real Redis, the real connector client and a connector
// stand-in that counts what arrives, with a clock the test moves. Each
// worker is the reminder worker of a replica of the bot (app.New), sharing
// the chat's Redis key prefix, as replicas share one Redis.

type reminderRig struct {
	t       testing.TB
	clock   *testClock
	chat    *chat
	vars    map[string]string // the reminder settings, and the chat's Graph
	prefix  string
	workers []*app.App
}

// newReminderRig is a chat with a bot whose reminder settings are the
// environment pairs kv (REMINDER_SCHEDULE, REMINDER_HOURS,
// REMINDER_ESCALATE) and whose clock the test moves.
func newReminderRig(t testing.TB, kv ...string) *reminderRig {
	r := &reminderRig{t: t, clock: &testClock{t: monday10()}, prefix: redistest.Prefix(t)}
	r.chat = newUser(t)
	r.vars = r.chat.vars(withVars(nil, kv...))
	r.chat.startBot(r.prefix, withVars(nil, kv...), app.Options{Now: r.clock.Now})
	return r
}

// worker is another replica's reminder worker, sending at most rate
// reminders per second (all replicas together).
func (r *reminderRig) worker(rate int) *app.App {
	a := newBot(r.t, r.vars, app.Options{KeyPrefix: r.prefix, Now: r.clock.Now, ReminderRate: rate, ReminderBatch: 20})
	r.workers = append(r.workers, a)
	return a
}

// escalated is how often the workers handed a user to the helpdesk: the
// tickets they opened or added to.
func (r *reminderRig) escalated() int {
	n := 0
	for _, w := range r.workers {
		got := scrape(r.t, w.Handler())
		n += int(got[`mfabot_ticket_events_total{event="opened"}`] + got[`mfabot_ticket_events_total{event="note_added"}`])
	}
	return n
}

// drain runs w's reminder worker until a round claims nothing.
func drain(t testing.TB, w *app.App) {
	t.Helper()
	for range 1000 {
		n, err := w.SendDueReminders(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("reminder queue never drained")
}

func TestReminderPolicyOverTime(t *testing.T) {
	r := newReminderRig(t, "REMINDER_ESCALATE", "true") // 24h,72h,168h on workdays 09:00-18:00
	c := r.chat
	toDeleteOld(t, c) // Monday 10:00 JST: new phone confirmed, old one not deleted
	w := r.worker(1000)

	step := func(at time.Time, want int) {
		t.Helper()
		r.clock.Set(at)
		drain(t, w)
		if got := len(reminders(c)); got != want {
			t.Fatalf("at %s: %d reminders, want %d", at.Format(time.RFC3339), got, want)
		}
	}
	step(monday10().Add(23*time.Hour), 0)  // not yet
	step(monday10().Add(24*time.Hour), 1)  // Tuesday 10:00: the first
	step(monday10().Add(71*time.Hour), 1)  // nothing between
	step(monday10().Add(72*time.Hour), 2)  // Thursday 10:00
	step(monday10().Add(167*time.Hour), 2) //
	step(monday10().Add(168*time.Hour), 3) // next Monday 10:00
	step(monday10().Add(400*time.Hour), 3) // the schedule is spent
	if r.escalated() != 1 {
		t.Errorf("escalated %d times after the last reminder, want 1", r.escalated())
	}
	card := reminders(c)[2]
	for _, want := range []string{"古いスマホの登録がまだ残っています", "iPhone SE (3rd generation)", "続きから", "あとで", "中止", "ヘルプデスクに相談"} {
		if !strings.Contains(text(card), want) {
			t.Errorf("reminder lacks %q: %s", want, text(card))
		}
	}
	// Its resume button reopens the right step.
	wantCard(t, c.press(card, cards.VerbResume), "step-delete_old")
	st := w.ReminderCounts()
	if st.Sent != 3 || st.Escalated != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestReminderHoursAndTimeZones(t *testing.T) {
	r := newReminderRig(t, "REMINDER_SCHEDULE", "24h") // on workdays 09:00-18:00
	friday17 := time.Date(2026, 11, 27, 17, 0, 0, 0, jst)
	r.clock.Set(friday17)
	c := r.chat
	toDeleteOld(t, c)
	w := r.worker(1000)
	r.clock.Set(friday17.Add(24 * time.Hour)) // Saturday 17:00: outside the hours
	drain(t, w)
	if n := len(reminders(c)); n != 0 {
		t.Fatalf("a reminder on Saturday")
	}
	r.clock.Set(time.Date(2026, 11, 30, 8, 59, 0, 0, jst))
	drain(t, w)
	if n := len(reminders(c)); n != 0 {
		t.Fatalf("a reminder before 09:00 on Monday")
	}
	r.clock.Set(time.Date(2026, 11, 30, 9, 0, 0, 0, jst))
	drain(t, w)
	if n := len(reminders(c)); n != 1 {
		t.Fatalf("%d reminders at Monday 09:00, want 1", n)
	}

	// A user in Los Angeles: Monday 10:00 JST is Sunday 17:00 there, so
	// the reminder 24 h later (Monday 17:00 LA) is inside LA's hours, and
	// one made at LA Monday 18:00 waits for Tuesday 09:00 LA.
	r2 := newReminderRig(t, "REMINDER_SCHEDULE", "24h") // on workdays 09:00-18:00
	la, _ := time.LoadLocation("America/Los_Angeles")
	c2 := r2.chat
	c2.tz = "America/Los_Angeles"
	r2.clock.Set(time.Date(2026, 11, 30, 18, 0, 0, 0, la)) // Monday 18:00 LA = Tuesday 11:00 JST
	toDeleteOld(t, c2)
	w2 := r2.worker(1000)
	r2.clock.Set(time.Date(2026, 12, 1, 18, 0, 0, 0, la)) // +24h: Tuesday 18:00 LA, closed
	drain(t, w2)
	if n := len(reminders(c2)); n != 0 {
		t.Fatalf("reminder outside LA hours")
	}
	r2.clock.Set(time.Date(2026, 12, 2, 9, 0, 0, 0, la)) // Wednesday 09:00 LA (02:00 JST Thursday)
	drain(t, w2)
	if n := len(reminders(c2)); n != 1 {
		t.Fatalf("%d reminders at LA 09:00, want 1", n)
	}
}

func TestReminderSnoozeLimit(t *testing.T) {
	r := newReminderRig(t, "REMINDER_SCHEDULE", "1h,100h", "REMINDER_HOURS", "always")
	c := r.chat
	toDeleteOld(t, c)
	w := r.worker(1000)
	r.clock.Advance(time.Hour)
	drain(t, w)
	got := reminders(c)
	if len(got) != 1 {
		t.Fatalf("%d reminders, want 1", len(got))
	}
	card := got[0]
	for i := 1; i <= 3; i++ {
		snoozed := c.press(card, cards.VerbSnooze)
		wantCard(t, snoozed, "snoozed")
		r.clock.Advance(23 * time.Hour)
		drain(t, w)
		if n := len(reminders(c)); n != i {
			t.Fatalf("snooze %d: a reminder before the day passed (%d)", i, n)
		}
		r.clock.Advance(time.Hour)
		drain(t, w)
		got = reminders(c)
		if len(got) != i+1 {
			t.Fatalf("snooze %d: %d reminders a day later, want %d", i, len(got), i+1)
		}
		card = got[i]
	}
	if strings.Contains(text(card), "あとで") {
		t.Errorf("あとで offered after 3 snoozes: %s", text(card))
	}
	// A forged snooze changes nothing.
	d := actionData(t, card, cards.VerbResume)
	d["verb"] = cards.VerbSnooze
	wantCard(t, c.invoke(d), "snoozed")
	if !strings.Contains(text(c.invoke(d)), "これ以上あとにはできません") {
		t.Error("a fourth snooze was accepted")
	}
}

func TestReminderNotSentWhenOldDeviceAlreadyGone(t *testing.T) {
	r := newReminderRig(t, "REMINDER_HOURS", "always")
	c := r.chat
	toDeleteOld(t, c)
	for _, m := range c.sb.Methods(c.user) {
		if m.DisplayName == "iPhone SE (3rd generation)" {
			c.sb.DeleteMethod(c.user, m.ID)
		}
	}
	w := r.worker(1000)
	r.clock.Advance(25 * time.Hour)
	drain(t, w)
	if n := len(reminders(c)); n != 0 {
		t.Fatalf("%d reminders although the old device is gone", n)
	}
	sent := c.conn.to("a:" + c.user)
	if last := sent[len(sent)-1]; !strings.Contains(last.Text, "完了を確認しました") {
		t.Errorf("last message %+v, want 完了を確認しました", last)
	}
	wantCard(t, c.say("状況"), "no-dialog")
	if st := w.ReminderCounts(); st.Skipped["already_done"] != 1 || st.Sent != 0 {
		t.Errorf("stats %+v", st)
	}
	r.clock.Advance(200 * time.Hour)
	drain(t, w)
	if n := len(reminders(c)); n != 0 {
		t.Fatal("a reminder after completion")
	}
}

func TestAbandonedDialogGetsOneReminder(t *testing.T) {
	r := newReminderRig(t, "REMINDER_HOURS", "always")
	c := r.chat
	c.press(c.press(c.say("スマホ交換"), cards.VerbNext), cards.VerbNext) // stopped at step 3
	w := r.worker(1000)
	r.clock.Advance(24 * time.Hour)
	drain(t, w)
	got := reminders(c)
	if len(got) != 1 || !strings.Contains(text(got[0]), "途中で止まっています") {
		t.Fatalf("reminders %v", got)
	}
	r.clock.Advance(500 * time.Hour)
	drain(t, w)
	if len(reminders(c)) != 1 {
		t.Fatal("more than one reminder for an abandoned dialog")
	}
	wantCard(t, c.press(got[0], cards.VerbResume), "step-open_page")
}

func TestReminderDroppedWhenUninstalled(t *testing.T) {
	r := newReminderRig(t, "REMINDER_HOURS", "always")
	c := r.chat
	toDeleteOld(t, c)
	c.conn.fail = func(int) (int, string) { return 403, "" }
	w := r.worker(1000)
	r.clock.Advance(24 * time.Hour)
	drain(t, w)
	c.conn.fail = nil
	if st := w.ReminderCounts(); st.Failed["recipient_gone"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	r.clock.Advance(500 * time.Hour)
	drain(t, w)
	if n := len(reminders(c)); n != 0 {
		t.Fatalf("reminders sent to a user who uninstalled: %d", n)
	}
}

func TestThreeWorkersSendEachReminderOnce(t *testing.T) {
	r := newReminderRig(t, "REMINDER_HOURS", "always")
	users := seedUsersFast(t, r, 1000)
	r.clock.Advance(25 * time.Hour)
	var wg sync.WaitGroup
	workers := []*app.App{r.worker(100000), r.worker(100000), r.worker(100000)}
	for _, w := range workers {
		wg.Add(1)
		go func() { defer wg.Done(); drain(t, w) }()
	}
	wg.Wait()
	var sent int64
	for _, w := range workers {
		sent += w.ReminderCounts().Sent
	}
	if sent != 1000 {
		t.Errorf("workers report %d sent, want 1000", sent)
	}
	for _, u := range users {
		if n := len(reminders(u)); n != 1 {
			t.Fatalf("user %s got %d reminders, want exactly 1", u.user, n)
		}
	}
}

// seedUsersFast starts n users through the HTTP handler (スマホ交換, then
// silence): each has one reminder due 24 h later.
func seedUsersFast(t testing.TB, r *reminderRig, n int) []*chat {
	users := make([]*chat, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			users[i] = r.chat.other(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i))
			users[i].say("スマホ交換")
		}()
	}
	wg.Wait()
	return users
}

func TestCrashAfterClaimSendsOnce(t *testing.T) {
	r := newReminderRig(t, "REMINDER_HOURS", "always")
	c := r.chat
	toDeleteOld(t, c)
	r.clock.Advance(25 * time.Hour)
	// A worker claims the reminder and dies before sending it.
	ids, err := r.chat.bot.Store().ClaimReminders(context.Background(), r.clock.Now(), time.Minute, 10)
	if err != nil || len(ids) != 1 {
		t.Fatalf("claim: %v %v", ids, err)
	}
	w := r.worker(1000)
	r.clock.Advance(30 * time.Second)
	drain(t, w)
	if n := len(reminders(c)); n != 0 {
		t.Fatal("a leased reminder was sent by another worker before the lease ended")
	}
	r.clock.Advance(31 * time.Second)
	drain(t, w)
	drain(t, r.worker(1000))
	if n := len(reminders(c)); n != 1 {
		t.Fatalf("%d reminders after the lease ended, want 1", n)
	}
}

func TestSharedRateLimitAcrossWorkers(t *testing.T) {
	const rate = 40
	r := newReminderRig(t, "REMINDER_HOURS", "always")
	users := seedUsersFast(t, r, 150)
	// Now and then Teams answers 429 with a short Retry-After.
	var calls atomic.Int32
	r.chat.conn.fail = func(int) (int, string) {
		if calls.Add(1)%25 == 0 {
			return 429, "1"
		}
		return 0, ""
	}
	r.clock.Advance(25 * time.Hour)
	var wg sync.WaitGroup
	workers := []*app.App{r.worker(rate), r.worker(rate), r.worker(rate)}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				w.SendDueReminders(ctx)
				if n := countReminders(users); n == len(users) {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	// Retried reminders are due a little later on the test clock: move it
	// along in real time so that they come back.
	go func() {
		for ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			r.clock.Advance(100 * time.Millisecond)
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	if n := countReminders(users); n != len(users) {
		t.Fatalf("only %d of %d reminders sent", n, len(users))
	}
	// Over any one-second window, no more than rate (+10%) arrive.
	r.chat.conn.mu.Lock()
	var at []time.Time
	for i, a := range r.chat.conn.sent {
		if len(a.Attachments) == 1 && cards.CardID(cardOf(t, a)) == "reminder" {
			at = append(at, r.chat.conn.at[i])
		}
	}
	r.chat.conn.mu.Unlock()
	worst := 0
	for i := range at {
		n := 0
		for j := i; j < len(at) && at[j].Sub(at[i]) < time.Second; j++ {
			n++
		}
		worst = max(worst, n)
	}
	t.Logf("%d reminders in %s by 3 workers; busiest second %d (limit %d/s)", len(users), elapsed.Round(time.Millisecond), worst, rate)
	if float64(worst) > rate*1.1+float64(rate/10) { // GCRA allows a burst of rate/10
		t.Errorf("busiest second had %d sends, over %d/s + 10%%", worst, rate)
	}
	overall := float64(len(users)) / elapsed.Seconds()
	if overall > rate*1.1 {
		t.Errorf("overall %.1f/s, over the %d/s limit + 10%%", overall, rate)
	}
}

func countReminders(users []*chat) int {
	n := 0
	for _, u := range users {
		n += len(reminders(u))
	}
	return n
}

func TestSharedRateLimitIsReachedNotExceeded(t *testing.T) {
	const rate = 40
	r := newReminderRig(t, "REMINDER_HOURS", "always")
	users := seedUsersFast(t, r, 120)
	r.clock.Advance(25 * time.Hour)
	workers := []*app.App{r.worker(rate), r.worker(rate), r.worker(rate)}
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() { defer wg.Done(); drain(t, w) }()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := countReminders(users); n != len(users) {
		t.Fatalf("%d of %d sent", n, len(users))
	}
	overall := float64(len(users)) / elapsed.Seconds()
	t.Logf("%d reminders by 3 workers in %s: %.1f/s (limit %d/s)", len(users), elapsed.Round(time.Millisecond), overall, rate)
	if overall > rate*1.1+float64(rate/10) || overall < rate*0.7 {
		t.Errorf("overall %.1f/s: not held near the %d/s limit", overall, rate)
	}
}

// BenchmarkReminderDispatch sends due reminders through one worker to a
// connector stand-in that never throttles, with the rate limit out of the
// way, and reports reminders per second and Redis commands per reminder.
//
//	go test . -run '^$' -bench BenchmarkReminderDispatch -benchtime 2000x
func BenchmarkReminderDispatch(b *testing.B) {
	r := newReminderRig(b, "REMINDER_HOURS", "always")
	users := seedUsersFast(b, r, b.N)
	r.clock.Advance(25 * time.Hour)
	w := newBot(b, r.vars, app.Options{KeyPrefix: r.prefix, Now: r.clock.Now, ReminderRate: 1_000_000, ReminderBatch: 100})
	rdb := redistest.Client(b)
	before := commandsProcessed(b, rdb)
	b.ResetTimer()
	start := time.Now()
	drain(b, w)
	elapsed := time.Since(start)
	b.StopTimer()
	cmds := commandsProcessed(b, rdb) - before
	if sent := w.ReminderCounts().Sent; sent != int64(len(users)) {
		b.Fatalf("sent %d of %d", sent, len(users))
	}
	b.ReportMetric(float64(len(users))/elapsed.Seconds(), "reminders/s")
	b.ReportMetric(float64(cmds)/float64(len(users)), "redis-cmds/reminder")
}

// commandsProcessed reads the Redis server's command counter.
func commandsProcessed(tb testing.TB, rdb interface {
	Info(ctx context.Context, section ...string) *redis.StringCmd
}) int64 {
	info, err := rdb.Info(context.Background(), "stats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	tb.Fatal("no total_commands_processed in INFO")
	return 0
}
