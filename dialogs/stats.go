package dialogs

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
)

// Observer is told what happens in conversations, for metrics (main wires
// it to Prometheus). Its methods must be quick and safe for concurrent use;
// each is called once the change it reports has been saved.
type Observer interface {
	// DialogStarted: a procedure started (start over starts a new one).
	DialogStarted()
	// StepEntered: a procedure reached step (a cards.StepIDs id) for the
	// first time; going back and forward again does not count twice.
	StepEntered(step string)
	// DialogCompleted: a procedure was completed, took after its start.
	DialogCompleted(took time.Duration)
	// DialogCancelled: a procedure was cancelled at step.
	DialogCancelled(step string)
	// LostPhone: a procedure took the lost or broken old phone path.
	LostPhone()
	// TicketEvent: a helpdesk ticket event: opened, note_added, assigned,
	// resolved, reopened, tap_issued or sessions_revoked.
	TicketEvent(event string)
}

// nopObserver is the Observer of a Handler given none.
type nopObserver struct{}

func (nopObserver) DialogStarted()                {}
func (nopObserver) StepEntered(string)            {}
func (nopObserver) DialogCompleted(time.Duration) {}
func (nopObserver) DialogCancelled(string)        {}
func (nopObserver) LostPhone()                    {}
func (nopObserver) TicketEvent(string)            {}

// StatsStore keeps the counters behind the helpdesk's 統計 (stats) command:
// per day, in Redis, so that they survive restarts and add up across
// replicas. Days are dates in Asia/Tokyo, "2006-01-02".
type StatsStore interface {
	// AddDailyCounts adds counts to day's counters and keeps took as
	// completion times.
	AddDailyCounts(ctx context.Context, day string, counts map[string]int64, took []time.Duration) error
	// AddDailyStats adds 1 to each of fields in day's counters and, when
	// took is positive, keeps took as one completion time of the day.
	AddDailyStats(ctx context.Context, day string, fields []string, took time.Duration) error
	// DailyStats returns day's counters and completion times (empty for a
	// day with none, or one older than the store keeps).
	DailyStats(ctx context.Context, day string) (map[string]int64, []time.Duration, error)
	// SetTicketOpen records whether the ticket id is open; at is when it
	// last changed.
	SetTicketOpen(ctx context.Context, id string, open bool, at time.Time) error
	// CountOpenTickets counts the open tickets, leaving out those that have
	// expired unchanged.
	CountOpenTickets(ctx context.Context, now time.Time) (int64, error)
}

// Fields of the daily counters.
const (
	statStarted   = "started"
	statCompleted = "completed"
	statLost      = "lost"
	statEntered   = "entered:"   // + step id
	statCancelled = "cancelled:" // + step id
)

// statsWindows are the periods the stats card shows, in days (today
// included).
var statsWindows = []int{7, 30}

// funnelChange is what one saved change of a dialog means for the funnel.
type funnelChange struct {
	started   bool
	entered   string // a step reached for the first time
	lost      bool
	completed bool
	took      time.Duration // for completed: since the start
	cancelled string        // the step a dialog was cancelled at
}

func (f funnelChange) empty() bool { return f == funnelChange{} }

// funnel works out what going from cur (nil for none) to next means for the
// funnel, and records in next the furthest step reached. Call it before
// next is saved, and count the change only once it is.
func funnel(cur, next *state, now time.Time) funnelChange {
	var f funnelChange
	fresh := cur == nil || cur.ID != next.ID
	f.started = fresh
	if i := indexOf(next.Step); i >= 0 && i+1 > next.Reached {
		next.Reached = i + 1
		f.entered = next.Step
	}
	if next.Step == stepLost && (fresh || cur.Step != stepLost) {
		f.lost = true
	}
	if next.Status == statusDone && (fresh || cur.Status != statusDone) {
		f.completed, f.took = true, now.Sub(next.Started)
	}
	if next.Status == statusCancelled && (fresh || cur.Status != statusCancelled) {
		f.cancelled = next.Step
	}
	return f
}

// count tells the Observer of a saved change and adds it to the day's
// counters. A counter that cannot be written is logged, never shown.
func (h *Handler) count(ctx context.Context, ti turnInfo, f funnelChange) {
	if f.empty() {
		return
	}
	o := h.o.Observer
	var fields []string
	if f.started {
		o.DialogStarted()
		fields = append(fields, statStarted)
	}
	if f.entered != "" {
		o.StepEntered(f.entered)
		fields = append(fields, statEntered+f.entered)
	}
	if f.lost {
		o.LostPhone()
		fields = append(fields, statLost)
	}
	if f.completed {
		o.DialogCompleted(f.took)
		fields = append(fields, statCompleted)
	}
	if f.cancelled != "" {
		o.DialogCancelled(f.cancelled)
		fields = append(fields, statCancelled+f.cancelled)
	}
	if h.o.Stats == nil {
		return
	}
	took := time.Duration(0)
	if f.completed {
		took = max(f.took, time.Second) // a completion always has a time
	}
	h.batch.add(statsDay(h.o.Now()), fields, took)
	if h.batch.due(time.Now()) {
		h.FlushStats(ctx)
	}
}

// statsBatch gathers the daily counters of many turns, so that they cost one
// Redis round trip a second rather than one a turn.
type statsBatch struct {
	mu    sync.Mutex
	days  map[string]*dayCounts
	since time.Time // when the oldest unflushed count was added
}

type dayCounts struct {
	counts map[string]int64
	took   []time.Duration
}

// flushEvery bounds how long counts wait in memory.
const flushEvery = time.Second

func (b *statsBatch) add(day string, fields []string, took time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.days == nil {
		b.days = map[string]*dayCounts{}
	}
	d := b.days[day]
	if d == nil {
		d = &dayCounts{counts: map[string]int64{}}
		b.days[day] = d
	}
	for _, f := range fields {
		d.counts[f]++
	}
	if took > 0 {
		d.took = append(d.took, took)
	}
	if b.since.IsZero() {
		b.since = time.Now()
	}
}

func (b *statsBatch) due(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.since.IsZero() && now.Sub(b.since) >= flushEvery
}

func (b *statsBatch) take() map[string]*dayCounts {
	b.mu.Lock()
	defer b.mu.Unlock()
	days := b.days
	b.days, b.since = nil, time.Time{}
	return days
}

// FlushStats writes the gathered daily counters to Redis. Counts that
// cannot be written are put back for the next flush.
func (h *Handler) FlushStats(ctx context.Context) {
	if h.o.Stats == nil {
		return
	}
	for day, d := range h.batch.take() {
		if err := h.o.Stats.AddDailyCounts(ctx, day, d.counts, d.took); err != nil {
			h.o.Logger.WarnContext(ctx, "stats: could not write the daily counters; keeping them for the next flush", "err", err)
			h.batch.mu.Lock()
			if h.batch.days == nil {
				h.batch.days = map[string]*dayCounts{}
			}
			if cur := h.batch.days[day]; cur != nil {
				for f, n := range d.counts {
					cur.counts[f] += n
				}
				cur.took = append(cur.took, d.took...)
			} else {
				h.batch.days[day] = d
			}
			if h.batch.since.IsZero() {
				h.batch.since = time.Now()
			}
			h.batch.mu.Unlock()
		}
	}
}

// RunStats flushes the daily counters every second until ctx ends, then
// once more. Run it in every replica.
func (h *Handler) RunStats(ctx context.Context) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			h.FlushStats(fctx)
			cancel()
			return
		case <-t.C:
			h.FlushStats(ctx)
		}
	}
}

// statsDay is the day a moment counts on: its date in Tokyo.
func statsDay(t time.Time) string { return t.In(tokyo).Format(time.DateOnly) }

// trackTicket keeps the open-ticket count of the stats in step with a
// ticket just saved.
func (h *Handler) trackTicket(ctx context.Context, ti turnInfo, tk *ticket) {
	if h.o.Stats == nil {
		return
	}
	id := tk.Tenant + "|" + tk.User + "|" + strconv.FormatInt(tk.Number, 10)
	if err := h.o.Stats.SetTicketOpen(ctx, id, tk.Status != "resolved", h.o.Now()); err != nil {
		ti.log.WarnContext(ctx, "stats: could not record the ticket's state", "err", err, "ticket", tk.Number)
	}
}

// ticketMetric names a ticket event for the Observer ("created" is
// "opened").
func ticketMetric(event string) string {
	if event == "created" {
		return "opened"
	}
	return event
}

// stats answers 統計 (stats), typed in the helpdesk channel with the bot
// mentioned, or its card's 更新 button: the funnel of the last 7 and 30
// days and the open tickets, for helpdesk members only.
func (h *Handler) stats(ctx context.Context, t Turn, ti turnInfo) (InvokeResult, error) {
	a := t.Incoming()
	hd := h.o.Helpdesk
	if hd == nil || h.o.Stats == nil {
		return InvokeResult{Text: cards.Text(ti.loc, "unknown.text")}, nil
	}
	if a.Conversation.ConversationType != "channel" {
		return InvokeResult{Text: cards.Text(ti.loc, "hd.stats.where")}, nil
	}
	ch, err := h.channel(ctx)
	if err != nil {
		return InvokeResult{}, err
	}
	if ch == nil {
		return InvokeResult{Text: cards.Text(ti.loc, "hd.stats.where")}, nil
	}
	if !h.authorized(ctx, ti, a, ch) {
		ti.log.WarnContext(ctx, "helpdesk: refused stats to a non-member", "from", a.From.ID, "aad", a.From.AadObjectID)
		return InvokeResult{Text: cards.Text(ti.loc, "hd.denied")}, nil
	}
	// Only in the helpdesk channel: another channel's members would see it.
	if here, want := channelID(a), strings.SplitN(ch.ConversationID, ";", 2)[0]; here != want {
		return InvokeResult{Text: cards.Text(ti.loc, "hd.stats.where")}, nil
	}
	v, err := h.statsView(ctx)
	if err != nil {
		return InvokeResult{}, err
	}
	return InvokeResult{Card: cards.Stats(v)}, nil
}

// sendStats answers the typed command with a new message.
func (h *Handler) sendStats(ctx context.Context, t Turn, ti turnInfo) error {
	res, err := h.stats(ctx, t, ti)
	if err != nil {
		t.Logger().ErrorContext(ctx, "stats failed", "err", err)
		res = InvokeResult{Text: cards.Text(ti.loc, "error.retry")}
	}
	a := schema.Activity{Type: schema.Message, Text: res.Text}
	if res.Card != nil {
		a = cardActivity(res.Card)
	}
	_, err = t.Send(ctx, a)
	return err
}

// statsView reads the counters of the last 30 days and the open tickets.
func (h *Handler) statsView(ctx context.Context) (cards.StatsView, error) {
	h.FlushStats(ctx) // this replica's latest counts first
	now := h.o.Now()
	today := now.In(tokyo)
	days := slices.Max(statsWindows)
	counts := make([]map[string]int64, days)
	tooks := make([][]time.Duration, days)
	for i := range days {
		c, took, err := h.o.Stats.DailyStats(ctx, statsDay(today.AddDate(0, 0, -i)))
		if err != nil {
			return cards.StatsView{}, err
		}
		counts[i], tooks[i] = c, took
	}
	open, err := h.o.Stats.CountOpenTickets(ctx, now)
	if err != nil {
		return cards.StatsView{}, err
	}
	v := cards.StatsView{AsOf: today.Format("2006-01-02 15:04"), OpenTickets: open}
	for _, id := range cards.StepIDs {
		v.StepTitles = append(v.StepTitles, h.stepTitle(id, cards.Japanese))
	}
	for _, n := range statsWindows {
		w := cards.StatsWindow{Days: n, Entered: make([]int64, len(cards.StepIDs))}
		var took []time.Duration
		for i := range n {
			c := counts[i]
			w.Started += c[statStarted]
			w.Completed += c[statCompleted]
			w.Lost += c[statLost]
			for j, id := range cards.StepIDs {
				w.Entered[j] += c[statEntered+id]
			}
			for k, x := range c {
				if strings.HasPrefix(k, statCancelled) {
					w.Cancelled += x
				}
			}
			took = append(took, tooks[i]...)
		}
		w.Median = median(took)
		v.Windows = append(v.Windows, w)
	}
	return v, nil
}

// median of ds (0 for none); of an even count, the mean of the middle two.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
