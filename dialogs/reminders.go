package dialogs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
)

// ReminderQueue is the queue of due reminders shared by every replica:
// claims with a lease, and a mark that a reminder went out at most once.
type ReminderQueue interface {
	reminderQueue
	ClaimReminders(ctx context.Context, now time.Time, lease time.Duration, max int) ([]string, error)
	MarkReminderSent(ctx context.Context, id string) (bool, error)
	UnmarkReminderSent(ctx context.Context, id string) error
}

// SendLimiter is the rate of proactive sends shared by every replica, and
// the pause that a 429 from Teams imposes on all of them.
type SendLimiter interface {
	AllowSend(ctx context.Context, key string, perSecond int) (time.Duration, error)
	PauseSends(ctx context.Context, d time.Duration) error
	SendPause(ctx context.Context) (time.Duration, error)
}

// recipients finds, and forgets, users' 1:1 chats.
type recipients interface {
	LoadReference(ctx context.Context, tenant, user string) ([]byte, error)
	DeleteReference(ctx context.Context, tenant, user string) error
}

// ProactiveSender posts a message into a conversation the user is not
// talking in right now.
type ProactiveSender interface {
	SendToConversation(ctx context.Context, serviceURL, conversationID string, a schema.Activity) (string, error)
}

// Errors a ProactiveSender returns (wrapped) for the reminder worker.
var (
	// ErrRecipientGone: the app was uninstalled or blocked (403), or the
	// conversation no longer exists (404).
	ErrRecipientGone = errors.New("recipient gone")
)

// ThrottledError is returned (wrapped) by a ProactiveSender when Teams
// answered 429.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("throttled (retry after %s)", e.RetryAfter)
}

// ReminderPolicy is when reminders go out.
type ReminderPolicy struct {
	// Schedule: reminders after the last activity, e.g. 24h, 72h, 168h.
	Schedule []time.Duration
	// Hours: when reminders may arrive, in the user's time zone.
	Hours Window
	// Escalate: after the last reminder, hand the user to the helpdesk.
	Escalate bool
}

// DefaultSchedule is REMINDER_SCHEDULE's default.
var DefaultSchedule = []time.Duration{24 * time.Hour, 72 * time.Hour, 168 * time.Hour}

// maxSnoozes is how often あとで may put a reminder off by a day.
const maxSnoozes = 3

// snoozeFor is how long あとで puts a reminder off.
const snoozeFor = 24 * time.Hour

// reminder is the dialog's own record of its reminders.
type reminder struct {
	// Seq names the reminder queued now; a queued one with another Seq
	// is stale and dropped.
	Seq     int       `json:"seq"`
	Base    time.Time `json:"base"` // the last activity the schedule counts from
	Sent    int       `json:"sent"` // reminders sent since Base
	Snoozes int       `json:"snoozes,omitempty"`
	Due     time.Time `json:"due"`
}

// reminderID names a queued reminder: tenant, user, dialog and Seq.
func reminderID(tenant, user, dialog string, seq int) string {
	return tenant + "|" + user + "|" + dialog + "|" + strconv.Itoa(seq)
}

func parseReminderID(id string) (tenant, user, dialog string, seq int, ok bool) {
	p := strings.Split(id, "|")
	if len(p) != 4 {
		return "", "", "", 0, false
	}
	n, err := strconv.Atoi(p[3])
	if err != nil {
		return "", "", "", 0, false
	}
	return p[0], p[1], p[2], n, true
}

// plan sets the reminder the state calls for after the user's activity at
// now (nil when none is due: the dialog is over or its reminders are spent).
// It returns the due time to queue, or the zero time.
func (p ReminderPolicy) plan(s *state, now time.Time) time.Time {
	if !s.active() || len(p.Schedule) == 0 {
		return time.Time{}
	}
	seq := 1
	snoozes := 0
	due := p.Hours.Next(now.Add(p.Schedule[0]), s.location())
	if r := s.Remind; r != nil {
		// A user clicking through the steps would requeue the reminder on
		// every turn; while it is the first and moves by less than
		// keepWithin, the queued one stands.
		if r.Sent == 0 && r.Snoozes == 0 && absDuration(due.Sub(r.Due)) < keepWithin {
			return time.Time{}
		}
		seq = r.Seq + 1
		snoozes = r.Snoozes
	}
	s.Remind = &reminder{Seq: seq, Base: now, Due: due, Snoozes: snoozes}
	return due
}

// keepWithin is how far a reminder's due time may drift before it is
// queued again: a reminder 24 h after the last activity may come up to
// this much earlier than that.
const keepWithin = 10 * time.Minute

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// after plans the reminder that follows one just sent; zero when the
// schedule is spent.
func (p ReminderPolicy) after(s *state) time.Time {
	r := s.Remind
	if reminderAbout(s) == remindResume || r.Sent >= len(p.Schedule) {
		// Before the new device was confirmed, one reminder is enough.
		return time.Time{}
	}
	r.Seq++
	r.Due = p.Hours.Next(r.Base.Add(p.Schedule[r.Sent]), s.location())
	return r.Due
}

// snooze puts the reminder off by a day; false when the snoozes are spent.
func (p ReminderPolicy) snooze(s *state, now time.Time) bool {
	if s.Remind == nil || s.Remind.Snoozes >= maxSnoozes {
		return false
	}
	s.Remind.Snoozes++
	s.Remind.Seq++
	s.Remind.Due = p.Hours.Next(now.Add(snoozeFor), s.location())
	return true
}

// ReminderStats counts what the reminder worker did, by outcome.
type ReminderStats struct {
	Scheduled, Sent, Escalated int64
	// Skipped by reason: moved_on, already_done, duplicate, no_reference.
	Skipped map[string]int64
	// Failed by reason: recipient_gone, throttled, error.
	Failed map[string]int64
}

type reminderCounters struct {
	mu sync.Mutex
	s  ReminderStats
}

func (c *reminderCounters) add(f func(*ReminderStats)) {
	c.mu.Lock()
	if c.s.Skipped == nil {
		c.s.Skipped, c.s.Failed = map[string]int64{}, map[string]int64{}
	}
	f(&c.s)
	c.mu.Unlock()
}

func (c *reminderCounters) snapshot() ReminderStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.s
	out.Skipped, out.Failed = map[string]int64{}, map[string]int64{}
	for k, v := range c.s.Skipped {
		out.Skipped[k] = v
	}
	for k, v := range c.s.Failed {
		out.Failed[k] = v
	}
	return out
}

// ReminderOptions configures the reminder worker. Dialogs, Queue,
// Recipients, Limiter and Sender are required.
type ReminderOptions struct {
	// Dialogs are the users' procedures the reminders are about.
	Dialogs    *Conversation
	Queue      ReminderQueue
	Recipients recipients
	Limiter    SendLimiter
	Sender     ProactiveSender
	Policy     ReminderPolicy
	Logger     *slog.Logger
	// Rate is the proactive sends per second allowed to all replicas
	// together (REMINDER_RATE; Teams allows 50 per app per tenant).
	Rate int
	// Tick is how often the queue is looked at (default 1 s).
	Tick time.Duration
	// Lease is how long a claimed reminder is held before it comes back
	// for another worker (default 1 min).
	Lease time.Duration
	// Batch is how many reminders one claim takes (default 50).
	Batch int
	// Escalate, when set, hands the user to the helpdesk after the last
	// reminder (REMINDER_ESCALATE).
	Escalate func(ctx context.Context, tenant, user string) error
}

// Reminders is the worker that sends due reminders. Run one in every
// replica: claims are atomic with a lease, the send is marked at most once,
// and the rate limit is shared through Redis.
type Reminders struct {
	o     ReminderOptions
	stats reminderCounters
}

// NewReminders assembles the worker. It does no I/O.
func NewReminders(o ReminderOptions) *Reminders {
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Batch <= 0 {
		o.Batch = 50
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Reminders{o: o}
}

// Stats returns the counters.
func (r *Reminders) Stats() ReminderStats { return r.stats.snapshot() }

// Run sends due reminders until ctx ends.
func (r *Reminders) Run(ctx context.Context) error {
	t := time.NewTicker(r.o.Tick)
	defer t.Stop()
	for {
		for {
			n, err := r.RunOnce(ctx)
			if err != nil {
				r.o.Logger.WarnContext(ctx, "reminder round failed", "err", err)
				break
			}
			if n < r.o.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce claims one batch of due reminders and handles them; it returns
// how many it claimed.
func (r *Reminders) RunOnce(ctx context.Context) (int, error) {
	now := r.o.Dialogs.o.Now()
	ids, err := r.o.Queue.ClaimReminders(ctx, now, r.o.Lease, r.o.Batch)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return len(ids), nil
		}
		r.handle(ctx, id)
	}
	return len(ids), nil
}

// handle sends one claimed reminder, or drops it, or gives it back.
func (r *Reminders) handle(ctx context.Context, id string) {
	log := r.o.Logger.With("reminder", id)
	tenant, user, dialogID, seq, ok := parseReminderID(id)
	if !ok {
		log.WarnContext(ctx, "dropping malformed reminder")
		r.complete(ctx, user, id)
		return
	}
	conv := r.o.Dialogs
	key := userKey{tenant: tenant, user: user}
	st, _, err := conv.dialogs.load(ctx, key, log)
	if err != nil {
		log.WarnContext(ctx, "reminder: load dialog failed; it will come back", "err", err)
		return // the lease ends and the reminder comes back
	}
	if !st.remindedBy(dialogID, seq) {
		r.skip(ctx, "moved_on", user, id)
		return
	}
	refDoc, err := r.o.Recipients.LoadReference(ctx, tenant, user)
	if err != nil {
		log.WarnContext(ctx, "reminder: load reference failed", "err", err)
		return
	}
	var ref schema.ConversationReference
	if refDoc == nil || json.Unmarshal(refDoc, &ref) != nil || ref.ServiceURL == "" || ref.Conversation.ID == "" {
		r.skip(ctx, "no_reference", user, id)
		return
	}
	now := conv.o.Now()
	// Outside the user's hours (a time zone learnt since scheduling): later.
	if next := r.o.Policy.Hours.Next(now, st.location()); next.After(now) {
		r.retry(ctx, user, id, next)
		return
	}
	if pause, err := r.o.Limiter.SendPause(ctx); err == nil && pause > 0 {
		r.retry(ctx, user, id, now.Add(pause))
		return
	}
	ti := turnInfo{userKey: key, loc: cards.Locale(st.Locale), tz: st.location(), log: log}
	if ti.loc == "" {
		ti.loc = cards.Japanese
	}

	// Ask Graph first: an old phone already gone means the procedure is
	// done, whatever step the user stopped at.
	if st.Step == stepPickOld {
		// A swept user who has not chosen yet: done if Graph no longer
		// lists two registrations of a kind.
		if l, err := conv.o.Directory.ListMethods(ctx, user, KindPush, KindPasskey); err == nil && sweepResolved(l) {
			r.completeQuietly(ctx, ti, ref, id, dialogID, seq)
			return
		} else if err != nil {
			log.WarnContext(ctx, "reminder: Graph check failed; reminding anyway", "err", err)
		}
	} else if reminderAbout(st) == remindOldPhone {
		if l, err := conv.o.Directory.ListMethods(ctx, user, st.kindsFor(checkDeleted)...); err == nil && oldGone(st, l) {
			r.completeQuietly(ctx, ti, ref, id, dialogID, seq)
			return
		} else if err != nil {
			log.WarnContext(ctx, "reminder: Graph check failed; reminding anyway", "err", err)
		}
	}

	if !r.waitForRate(ctx, ref.Conversation.ID) {
		r.retry(ctx, user, id, now.Add(time.Second))
		return
	}
	first, err := r.o.Queue.MarkReminderSent(ctx, id)
	if err != nil {
		log.WarnContext(ctx, "reminder: mark failed", "err", err)
		return
	}
	if !first {
		r.skip(ctx, "duplicate", user, id)
		return
	}
	card := conv.reminderCard(st, ti)
	a := cardActivity(card)
	// What the phone's notification says (otherwise "sent a card").
	a.Summary = cards.Text(ti.loc, "notify.reminder.old")
	if st.Step == stepPickOld {
		a.Summary = cards.Text(ti.loc, "notify.sweep")
	} else if reminderAbout(st) == remindResume {
		a.Summary = cards.Text(ti.loc, "notify.reminder.resume")
	}
	if _, err := r.o.Sender.SendToConversation(ctx, ref.ServiceURL, ref.Conversation.ID, a); err != nil {
		r.notSent(ctx, log, key, id, now, err)
		return
	}
	r.stats.add(func(s *ReminderStats) { s.Sent++ })
	log.InfoContext(ctx, "reminder sent", "tenant", tenant, "step", st.Step, "count", st.Remind.Sent+1)
	r.complete(ctx, user, id)
	r.afterSend(ctx, ti, dialogID, seq)
}

// notSent handles a reminder Teams did not take: a recipient gone drops
// the user's reminders; a 429 pauses every replica's proactive sends; any
// other failure tries again in a minute.
func (r *Reminders) notSent(ctx context.Context, log *slog.Logger, k userKey, id string, now time.Time, err error) {
	var throttled *ThrottledError
	switch {
	case errors.Is(err, ErrRecipientGone):
		log.WarnContext(ctx, "reminder: the app was uninstalled or blocked; dropping this user's reminders", "err", err)
		r.stats.add(func(s *ReminderStats) { s.Failed["recipient_gone"]++ })
		if derr := r.o.Recipients.DeleteReference(ctx, k.tenant, k.user); derr != nil {
			log.WarnContext(ctx, "reminder: could not drop the reference", "err", derr)
		}
		r.complete(ctx, k.user, id)
	case errors.As(err, &throttled):
		wait := max(throttled.RetryAfter, time.Second)
		log.WarnContext(ctx, "reminder: Teams throttled; pausing proactive sends", "retry_after", wait)
		r.stats.add(func(s *ReminderStats) { s.Failed["throttled"]++ })
		r.o.Limiter.PauseSends(ctx, wait)
		r.o.Queue.UnmarkReminderSent(ctx, id)
		r.retry(ctx, k.user, id, now.Add(wait))
	default:
		log.WarnContext(ctx, "reminder: send failed; retrying later", "err", err)
		r.stats.add(func(s *ReminderStats) { s.Failed["error"]++ })
		r.o.Queue.UnmarkReminderSent(ctx, id)
		r.retry(ctx, k.user, id, now.Add(time.Minute))
	}
}

// remindedBy reports whether s is the active dialog that queued reminder
// seq; otherwise the user acted meanwhile and has a fresh schedule.
func (s *state) remindedBy(dialogID string, seq int) bool {
	return s.active() && s.ID == dialogID && s.Remind != nil && s.Remind.Seq == seq
}

// afterSend records the reminder in the dialog, which queues the next one
// (or escalates after the last).
func (r *Reminders) afterSend(ctx context.Context, ti turnInfo, dialogID string, seq int) {
	conv := r.o.Dialogs
	escalate := false
	_, saved, err := conv.dialogs.update(ctx, ti.userKey, ti.log, func(cur *state) (*state, error) {
		if !cur.remindedBy(dialogID, seq) {
			return nil, nil
		}
		next := cur.clone()
		next.Remind.Sent++
		next.record(conv.o.Now(), fmt.Sprintf("reminder %d sent", next.Remind.Sent))
		due := r.o.Policy.after(next)
		escalate = due.IsZero() && reminderAbout(next) == remindOldPhone && r.o.Policy.Escalate && r.o.Escalate != nil
		return next, nil
	})
	if err != nil {
		ti.log.WarnContext(ctx, "reminder: could not record the reminder", "err", err)
		return
	}
	if saved == nil {
		return
	}
	if saved.Remind.Seq != seq {
		r.stats.add(func(s *ReminderStats) { s.Scheduled++ })
	}
	if escalate {
		if err := r.o.Escalate(ctx, ti.tenant, ti.user); err != nil {
			ti.log.WarnContext(ctx, "reminder: escalation failed", "err", err)
		} else {
			r.stats.add(func(s *ReminderStats) { s.Escalated++ })
		}
	}
}

// completeQuietly closes a dialog whose old phone Graph no longer lists,
// with one short message instead of a reminder.
func (r *Reminders) completeQuietly(ctx context.Context, ti turnInfo, ref schema.ConversationReference, id, dialogID string, seq int) {
	conv := r.o.Dialogs
	_, saved, err := conv.dialogs.update(ctx, ti.userKey, ti.log, func(cur *state) (*state, error) {
		if !cur.remindedBy(dialogID, seq) {
			return nil, nil
		}
		next := cur.clone()
		next.Status = statusDone
		next.record(conv.o.Now(), "completed: Graph shows the old registration gone")
		return next, nil
	})
	if err != nil || saved == nil {
		return // the lease ends and the reminder is looked at again
	}
	conv.afterSweep(ctx, ti, saved, "")
	r.skip(ctx, "already_done", ti.user, id)
	if r.waitForRate(ctx, ref.Conversation.ID) {
		msg := schema.Activity{Type: schema.Message, Text: cards.Text(ti.loc, "reminder.confirmed")}
		if _, err := r.o.Sender.SendToConversation(ctx, ref.ServiceURL, ref.Conversation.ID, msg); err != nil {
			ti.log.WarnContext(ctx, "could not send the completion message", "err", err)
		}
	}
}

// oldGone: every old registration is gone and the new one is still there.
func oldGone(st *state, l Listing) bool {
	listed := map[string]bool{}
	for _, m := range l.Methods {
		listed[m.ID] = true
	}
	if st.New == nil || !listed[st.New.ID] || len(st.Oath) > 0 && st.OathAnswer == "" {
		return false
	}
	for _, d := range st.required() {
		if _, skipped := l.Skipped[d.kind()]; !skipped && listed[d.ID] {
			return false
		}
	}
	return true
}

// waitForRate takes a send from the shared limits (all proactive sends;
// this conversation), waiting while they say so; false when ctx ended.
func (r *Reminders) waitForRate(ctx context.Context, conversationID string) bool {
	for _, lim := range []struct {
		key  string
		rate int
	}{{"proactive", r.o.Rate}, {"conv:" + conversationID, perConversationRate}} {
		for {
			wait, err := r.o.Limiter.AllowSend(ctx, lim.key, lim.rate)
			if err != nil {
				r.o.Logger.WarnContext(ctx, "rate limit unavailable", "err", err)
				return false
			}
			if wait <= 0 {
				break
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return false
			case <-t.C:
			}
		}
	}
	return true
}

// perConversationRate is Teams' limit of sends to one conversation a second.
const perConversationRate = 7

func (r *Reminders) skip(ctx context.Context, reason, user, id string) {
	r.stats.add(func(s *ReminderStats) { s.Skipped[reason]++ })
	r.complete(ctx, user, id)
}

func (r *Reminders) complete(ctx context.Context, user, id string) {
	if err := r.o.Queue.CompleteReminder(ctx, user, id); err != nil {
		r.o.Logger.WarnContext(ctx, "could not complete a reminder; it will come back", "reminder", id, "err", err)
	}
}

func (r *Reminders) retry(ctx context.Context, user, id string, due time.Time) {
	if err := r.o.Queue.ScheduleReminder(ctx, user, id, "", due); err != nil {
		r.o.Logger.WarnContext(ctx, "could not put a reminder back", "reminder", id, "err", err)
	}
}
