package dialogs

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smartswap/mfabot/cards"
)

// Observer is told what happens in conversations, for metrics (main wires
// it to Prometheus). Its methods must be quick and safe for concurrent use;
// each is called once the change it reports has been saved.
type Observer interface {
	// DialogStarted: a procedure started (start over starts a new one).
	DialogStarted()
	// StepEntered: a procedure reached step (one of Steps()) for the
	// first time; going back and forward again does not count twice.
	StepEntered(step string)
	// DialogCompleted: a procedure was completed, took after its start.
	DialogCompleted(took time.Duration)
	// DialogCancelled: a procedure was cancelled at step.
	DialogCancelled(step string)
	// LostPhone: a procedure took the lost or broken old phone path.
	LostPhone()
	// CredentialRemoved: the deletion step verified through Graph that an
	// old credential of kind (push, passkey, oath) is gone.
	CredentialRemoved(kind string)
	// TicketEvent: a helpdesk ticket event: opened, note_added, assigned,
	// resolved, reopened, tap_issued or sessions_revoked.
	TicketEvent(event string)
}

// nopObserver is the Observer of Stats given none.
type nopObserver struct{}

func (nopObserver) DialogStarted()                {}
func (nopObserver) StepEntered(string)            {}
func (nopObserver) DialogCompleted(time.Duration) {}
func (nopObserver) DialogCancelled(string)        {}
func (nopObserver) LostPhone()                    {}
func (nopObserver) CredentialRemoved(string)      {}
func (nopObserver) TicketEvent(string)            {}

// StatsStore keeps the counters behind the helpdesk's 統計 (stats) command:
// per day, in Redis, so that they survive restarts and add up across
// replicas. Days are dates in Asia/Tokyo, "2006-01-02".
type StatsStore interface {
	// AddDailyCounts adds counts to day's counters and keeps took as
	// completion times.
	AddDailyCounts(ctx context.Context, day string, counts map[string]int64, took []time.Duration) error
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
	statRemoved   = "removed:"   // + kind: old credentials verified gone
)

// statsWindows are the periods the stats card shows, in days (today
// included).
var statsWindows = []int{7, 30}

// funnelChange is what one saved change of a dialog means for the funnel.
type funnelChange struct {
	started   bool
	entered   StepID // a step reached for the first time
	lost      bool
	completed bool
	took      time.Duration // for completed: since the start
	cancelled StepID        // the step a dialog was cancelled at
	// removed counts the old credentials the deletion step verified gone,
	// by kind.
	removedPush, removedPasskey, removedOath int
}

func (f funnelChange) empty() bool { return f == funnelChange{} }

// funnel works out what going from cur (nil for none) to next means for the
// funnel, and records in next the furthest step reached. Call it before
// next is saved, and count the change only once it is.
func funnel(cur, next *state, now time.Time) funnelChange {
	var f funnelChange
	fresh := cur == nil || cur.ID != next.ID
	f.started = fresh
	if i, _ := rowOf(next.Step); i >= 0 && i+1 > next.Reached {
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
	if _, st := rowOf(cur.stepOrNone()); !fresh && st != nil && st.Leave == checkDeleted && next.Step != cur.Step && next.Problem == "delete.ok" {
		for _, d := range next.required() {
			switch d.kind() {
			case KindPush:
				f.removedPush++
			case KindPasskey:
				f.removedPasskey++
			case KindOath:
				f.removedOath++
			}
		}
	}
	return f
}

// stepOrNone is s's step, "" for no dialog.
func (s *state) stepOrNone() StepID {
	if s == nil {
		return ""
	}
	return s.Step
}

// StatsOptions configures Stats.
type StatsOptions struct {
	// Observer is told of the funnel and of ticket events, for metrics
	// (default: no one).
	Observer Observer
	// Store, when set, keeps the daily counters behind the helpdesk's 統計.
	Store StatsStore
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives what happens outside a turn (flushing the counters).
	Logger *slog.Logger
}

// Stats counts what happens in conversations: the funnel of the procedure
// (each step once per dialog, each ending once) and the helpdesk's
// tickets, told to the Observer at once and gathered in memory for the
// daily counters, which Run writes to the StatsStore once a second.
type Stats struct {
	o     StatsOptions
	batch statsBatch
}

// NewStats assembles the counters. It does no I/O.
func NewStats(o StatsOptions) *Stats {
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Stats{o: o}
}

// count tells the Observer of a saved change and adds it to the day's
// counters. A counter that cannot be written is logged, never shown.
func (s *Stats) count(ctx context.Context, f funnelChange) {
	if s == nil || f.empty() {
		return
	}
	o := s.o.Observer
	var fields []string
	if f.started {
		o.DialogStarted()
		fields = append(fields, statStarted)
	}
	if f.entered != "" {
		o.StepEntered(string(f.entered))
		fields = append(fields, statEntered+string(f.entered))
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
		o.DialogCancelled(string(f.cancelled))
		fields = append(fields, statCancelled+string(f.cancelled))
	}
	for _, r := range []struct {
		kind Kind
		n    int
	}{{KindPush, f.removedPush}, {KindPasskey, f.removedPasskey}, {KindOath, f.removedOath}} {
		for range r.n {
			o.CredentialRemoved(string(r.kind))
			fields = append(fields, statRemoved+string(r.kind))
		}
	}
	if s.o.Store == nil {
		return
	}
	took := time.Duration(0)
	if f.completed {
		took = max(f.took, time.Second) // a completion always has a time
	}
	s.batch.add(statsDay(s.o.Now()), fields, took)
	if s.batch.due(time.Now()) {
		s.Flush(ctx)
	}
}

// ticketEvent tells the Observer of a ticket event.
func (s *Stats) ticketEvent(event string) {
	if s != nil {
		s.o.Observer.TicketEvent(ticketMetric(event))
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

// putBack returns counts that could not be written, for the next flush.
func (b *statsBatch) putBack(day string, d *dayCounts) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.days == nil {
		b.days = map[string]*dayCounts{}
	}
	if cur := b.days[day]; cur != nil {
		for f, n := range d.counts {
			cur.counts[f] += n
		}
		cur.took = append(cur.took, d.took...)
	} else {
		b.days[day] = d
	}
	if b.since.IsZero() {
		b.since = time.Now()
	}
}

// Flush writes the gathered daily counters to the StatsStore. Counts that
// cannot be written are put back for the next flush.
func (s *Stats) Flush(ctx context.Context) {
	if s == nil || s.o.Store == nil {
		return
	}
	for day, d := range s.batch.take() {
		if err := s.o.Store.AddDailyCounts(ctx, day, d.counts, d.took); err != nil {
			s.o.Logger.WarnContext(ctx, "stats: could not write the daily counters; keeping them for the next flush", "err", err)
			s.batch.putBack(day, d)
		}
	}
}

// Run flushes the daily counters every second until ctx ends, then once
// more. Run it in every replica.
func (s *Stats) Run(ctx context.Context) error {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.Flush(fctx)
			cancel()
			return nil
		case <-t.C:
			s.Flush(ctx)
		}
	}
}

// statsDay is the day a moment counts on: its date in Tokyo.
func statsDay(t time.Time) string { return t.In(tokyo).Format(time.DateOnly) }

// trackTicket keeps the open-ticket count in step with a ticket just
// saved.
func (s *Stats) trackTicket(ctx context.Context, log *slog.Logger, tk *ticket) {
	if s == nil || s.o.Store == nil {
		return
	}
	id := tk.Tenant + "|" + tk.User + "|" + strconv.FormatInt(tk.Number, 10)
	if err := s.o.Store.SetTicketOpen(ctx, id, tk.Status != ticketResolved, s.o.Now()); err != nil {
		log.WarnContext(ctx, "stats: could not record the ticket's state", "err", err, "ticket", tk.Number)
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

// enabled reports whether the daily counters are kept (the 統計 card).
func (s *Stats) enabled() bool { return s != nil && s.o.Store != nil }

// view reads the counters of the last 30 days and the open tickets, with
// this replica's latest counts written first. titles names the steps.
func (s *Stats) view(ctx context.Context, titles []string) (cards.StatsView, error) {
	s.Flush(ctx)
	now := s.o.Now()
	today := now.In(tokyo)
	days := slices.Max(statsWindows)
	counts := make([]map[string]int64, days)
	tooks := make([][]time.Duration, days)
	for i := range days {
		c, took, err := s.o.Store.DailyStats(ctx, statsDay(today.AddDate(0, 0, -i)))
		if err != nil {
			return cards.StatsView{}, err
		}
		counts[i], tooks[i] = c, took
	}
	open, err := s.o.Store.CountOpenTickets(ctx, now)
	if err != nil {
		return cards.StatsView{}, err
	}
	v := cards.StatsView{AsOf: today.Format("2006-01-02 15:04"), OpenTickets: open, StepTitles: titles}
	for _, n := range statsWindows {
		w := cards.StatsWindow{Days: n, Entered: make([]int64, len(procedure))}
		var took []time.Duration
		for i := range n {
			c := counts[i]
			w.Started += c[statStarted]
			w.Completed += c[statCompleted]
			w.Lost += c[statLost]
			w.RemovedPush += c[statRemoved+string(KindPush)]
			w.RemovedPasskey += c[statRemoved+string(KindPasskey)]
			w.RemovedOath += c[statRemoved+string(KindOath)]
			for j, st := range procedure {
				w.Entered[j] += c[statEntered+string(st.ID)]
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
