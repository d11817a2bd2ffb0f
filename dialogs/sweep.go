package dialogs

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/sweep"
)

// The tenant sweep's part of the procedure. A sweep that finds a user with
// two or more Authenticator registrations sends them a card (NotifySweep)
// from a dialog of its own, at the stop stepPickOld: which of these is the
// old phone? Choosing starts the deletion part of the procedure directly
// (delete_old, checked through Graph, then remove_account and 完了);
// 「これは両方使っています」 is recorded so that later sweeps do not ask
// again. Reminders follow as for a user who stopped at the deletion step.

// stepPickOld is the sweep's stop: not a row of the procedure (it counts as
// the deletion step), the card that asks which device is the old phone.
const stepPickOld StepID = "pick_old"

// pickOldBranch is stepPickOld's row: it leads to the deletion step and
// is reminded about as the old phone still registered.
var pickOldBranch = step{ID: stepPickOld, Section: "2.1", Back: StepDeleteOld, Remind: remindOldPhone}

// SweepRecords is where the dialogs record what a swept user answered: the
// job's candidate's action (redisstore.Store's RecordSweepAction), and the
// devices a user said they use both of.
type SweepRecords interface {
	RecordSweepAction(ctx context.Context, job, user, action string) error
	SaveSweepDecline(ctx context.Context, tenant, user string, deviceIDs []string) error
	SweepDeclined(ctx context.Context, tenant, user string, deviceIDs []string) (bool, error)
}

// sweepChoices is the sweep card's list of the devices found.
func (c *Conversation) sweepChoices(s *state, ti turnInfo) []cards.SweepChoice {
	out := make([]cards.SweepChoice, 0, len(s.Found))
	for _, d := range s.Found {
		out = append(out, cards.SweepChoice{ID: d.ID, Device: c.device(d, ti)})
	}
	return out
}

// sweepCard is the card of a dialog at stepPickOld.
func (c *Conversation) sweepCard(s *state, ti turnInfo, notice string) json.RawMessage {
	problem := notice
	if s.Problem != "" {
		problem = cards.Text(ti.loc, s.Problem)
	}
	return render(cards.SweepNotice(ti.loc, s.ref(), c.sweepChoices(s, ti), problem))
}

// chosenOld reads the sweep card's choice: the found devices whose ids the
// press carries, or the catalog key of what is wrong with it.
func chosenOld(s *state, data map[string]any) ([]device, string) {
	raw, _ := data[cards.SweepInput].(string)
	var chosen []device
	for _, id := range strings.Split(raw, ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		i := slices.IndexFunc(s.Found, func(d device) bool { return d.ID == id })
		if i < 0 {
			return nil, "sweep.pick.unknown"
		}
		if !slices.ContainsFunc(chosen, func(d device) bool { return d.ID == id }) {
			chosen = append(chosen, s.Found[i])
		}
	}
	if len(chosen) == 0 {
		return nil, "sweep.pick.none"
	}
	// The phone in use keeps an Authenticator: at least one push
	// registration stays when there was one.
	keeps := slices.ContainsFunc(s.Found, func(d device) bool {
		return d.kind() == KindPush && !slices.ContainsFunc(chosen, func(c device) bool { return c.ID == d.ID })
	})
	hasPush := slices.ContainsFunc(s.Found, func(d device) bool { return d.kind() == KindPush })
	if hasPush && !keeps || len(chosen) == len(s.Found) {
		return nil, "sweep.pick.all"
	}
	return chosen, ""
}

// sweepStart moves a dialog from the sweep's card to the deletion step:
// the devices chosen are the old phone's, the newest push registration and
// passkey left are the new phone's, and Graph's listing of this turn is the
// snapshot. Devices chosen that Graph no longer lists are already gone.
func (c *Conversation) sweepStart(cur *state, in input, obs observation, now time.Time, ti turnInfo) outcome {
	next := cur.clone()
	next.Nonce = newID()
	next.Problem = ""
	chosen, problem := chosenOld(cur, in.data)
	if problem == "" && (obs.err != nil || !obs.asked) {
		problem = problemKey(obs.err)
	}
	if problem != "" {
		next.Problem = problem
		next.record(now, "sweep: choice not accepted ("+problem+")")
		return outcome{next: next, card: c.sweepCard(next, ti, "")}
	}
	next.takeSnapshot(obs.list)
	next.Passkey = false // the new phone's passkey is not asked for here
	listed := map[string]Method{}
	for _, m := range obs.list.Methods {
		listed[m.ID] = m
	}
	next.Old = next.Old[:0]
	for _, d := range chosen {
		if _, ok := listed[d.ID]; ok {
			next.Old = append(next.Old, d)
		}
	}
	var kept []Method
	for _, m := range obs.list.Methods {
		if !slices.ContainsFunc(chosen, func(d device) bool { return d.ID == m.ID }) {
			kept = append(kept, m)
		}
	}
	next.New, next.NewPasskey = nil, nil
	if m := newestOf(kept, KindPush); m != nil {
		d := deviceOf(*m)
		next.New = &d
	}
	if m := newestOf(kept, KindPasskey); m != nil {
		d := deviceOf(*m)
		next.NewPasskey = &d
	}
	if next.New == nil {
		// Nothing left to keep: the check would have nothing to hold on
		// to. Graph changed since the card; choose again.
		next.Problem = "sweep.pick.all"
		return outcome{next: next, card: c.sweepCard(next, ti, "")}
	}
	next.Step = StepDeleteOld
	next.record(now, "sweep: old phone chosen")
	note := ""
	if len(next.Old) == 0 {
		// Already deleted: on to removing the account from the old phone.
		i, _ := rowOf(StepDeleteOld)
		if to, _ := forward(i, next); to != nil {
			next.Step = to.ID
		}
		note = cards.Text(ti.loc, "delete.ok")
	}
	return outcome{next: next, card: c.stepCard(next, ti, note), sweepAction: sweep.ActionStarted}
}

// newestOf is the most recently registered of ms of kind k (the last
// listed among those without a date), or nil.
func newestOf(ms []Method, k Kind) *Method {
	var found *Method
	for i := range ms {
		m := &ms[i]
		if m.kind() != k {
			continue
		}
		switch {
		case found == nil, found.Created == nil:
			found = m
		case m.Created != nil && !m.Created.Before(*found.Created):
			found = m
		}
	}
	return found
}

// sweepBoth closes a sweep's dialog on 「これは両方使っています」.
func (c *Conversation) sweepBoth(cur *state, now time.Time, ti turnInfo) outcome {
	next := cur.clone()
	next.Status = statusDone
	next.Checking = false
	next.record(now, "sweep: the user uses both devices")
	return outcome{next: next, card: render(cards.SweepDeclined(ti.loc, c.devices(cur.Found, ti))), sweepAction: sweep.ActionBothInUse}
}

// afterSweep records, once the turn's change is saved, what a swept user's
// answer means for the sweep: started, completed, both in use (and the
// devices not to ask about again).
func (c *Conversation) afterSweep(ctx context.Context, ti turnInfo, saved *state, action string) {
	if saved == nil || saved.Sweep == "" || c.o.Sweeps == nil {
		return
	}
	if action == "" && saved.Status == statusDone {
		action = sweep.ActionCompleted
	}
	if action == "" {
		return
	}
	if action == sweep.ActionBothInUse {
		ids := make([]string, len(saved.Found))
		for i, d := range saved.Found {
			ids[i] = d.ID
		}
		if err := c.o.Sweeps.SaveSweepDecline(ctx, ti.tenant, ti.user, ids); err != nil {
			ti.log.WarnContext(ctx, "sweep: could not record 「両方使っています」", "err", err)
		}
	}
	if err := c.o.Sweeps.RecordSweepAction(ctx, saved.Sweep, ti.user, action); err != nil {
		ti.log.WarnContext(ctx, "sweep: could not record the candidate's action", "job", saved.Sweep, "action", action, "err", err)
	}
}

// sweepResolved reports whether Graph's listing shows a swept user with no
// more than one Authenticator registration of each kind: they cleaned up
// on their own, and the dialog ends.
func sweepResolved(l Listing) bool {
	var ds []sweep.Device
	for _, m := range l.Methods {
		switch m.kind() {
		case KindPush:
			ds = append(ds, sweep.Device{Kind: sweep.KindPush, ID: m.ID})
		case KindPasskey:
			ds = append(ds, sweep.Device{Kind: sweep.KindPasskey, ID: m.ID})
		}
	}
	return !sweep.Candidate(ds)
}

// SweepNotifier sends the tenant sweep's cards (sweep.Notifier) through
// the reminder worker's queue, limits and sender: a card is a proactive
// message like a reminder, and counts against the same Teams rate.
type SweepNotifier struct {
	r *Reminders
}

// NewSweepNotifier is the sweep's notifier on the reminder worker r.
func NewSweepNotifier(r *Reminders) *SweepNotifier { return &SweepNotifier{r: r} }

// Notify implements sweep.Notifier. It opens the user's sweep dialog
// (stepPickOld, with a reminder queued) unless they are in the procedure
// already, then sends its card. A user who said they use both devices, or
// whom the bot cannot reach, gets nothing.
func (n *SweepNotifier) Notify(ctx context.Context, nt sweep.Notice, mark func(context.Context) (bool, error)) (string, error) {
	r := n.r
	conv := r.o.Dialogs
	user := nt.Finding.User.ID
	key := userKey{tenant: nt.Tenant, user: user}
	log := r.o.Logger.With("job", nt.Job, "user", user)
	ids := make([]string, len(nt.Finding.Devices))
	for i, d := range nt.Finding.Devices {
		ids[i] = d.ID
	}
	if conv.o.Sweeps != nil {
		declined, err := conv.o.Sweeps.SweepDeclined(ctx, nt.Tenant, user, ids)
		if err != nil {
			return "", err
		}
		if declined {
			return sweep.ActionBothInUse, nil
		}
	}
	refDoc, err := r.o.Recipients.LoadReference(ctx, nt.Tenant, user)
	if err != nil {
		return "", err
	}
	var ref schema.ConversationReference
	if refDoc == nil || json.Unmarshal(refDoc, &ref) != nil || ref.ServiceURL == "" || ref.Conversation.ID == "" {
		return sweep.ActionNoConversation, nil
	}
	now := conv.o.Now()
	inProcedure := false
	saved, _, err := conv.dialogs.update(ctx, key, log, func(cur *state) (*state, error) {
		if cur.active() && cur.Sweep == nt.Job {
			return nil, nil // opened by an earlier try of this card
		}
		if cur.active() {
			inProcedure = true
			return nil, nil
		}
		s := &state{
			V: stateVersion, ID: newID(), Step: stepPickOld, Nonce: newID(),
			Status: statusActive, Locale: string(conv.o.Language), Started: now, Sweep: nt.Job,
		}
		if cur != nil {
			s.TZ, s.Locale = cur.TZ, cur.Locale
		}
		for _, d := range sweep.Ordered(nt.Finding.Devices) {
			kind := KindPush
			if d.Kind == sweep.KindPasskey {
				kind = KindPasskey
			}
			s.Found = append(s.Found, device{ID: d.ID, Kind: kind, Name: d.Name, Created: d.Created})
		}
		s.record(now, "sweep "+nt.Job+": card sent")
		r.o.Policy.plan(s, now)
		return s, nil
	})
	if err != nil {
		return "", err
	}
	if inProcedure {
		return sweep.ActionInProcedure, nil
	}
	if saved == nil || !saved.active() || saved.Sweep != nt.Job {
		return "", errors.New("sweep dialog not saved")
	}
	if pause, err := r.o.Limiter.SendPause(ctx); err == nil && pause > 0 {
		return "", &sweep.RetryError{After: pause}
	}
	if !r.waitForRate(ctx, ref.Conversation.ID) {
		return "", &sweep.RetryError{After: time.Second}
	}
	first, err := mark(ctx)
	if err != nil {
		return "", err
	}
	if !first {
		log.InfoContext(ctx, "sweep: the card was marked sent by an earlier try; not sent again")
		return sweep.ActionNotified, nil
	}
	ti := turnInfo{userKey: key, loc: cards.Locale(saved.Locale), tz: saved.location(), log: log}
	if ti.loc == "" {
		ti.loc = cards.Japanese
	}
	a := cardActivity(conv.sweepCard(saved, ti, ""))
	a.Summary = cards.Text(ti.loc, "notify.sweep")
	if _, err := r.o.Sender.SendToConversation(ctx, ref.ServiceURL, ref.Conversation.ID, a); err != nil {
		var throttled *ThrottledError
		switch {
		case errors.Is(err, ErrRecipientGone):
			if derr := r.o.Recipients.DeleteReference(ctx, nt.Tenant, user); derr != nil {
				log.WarnContext(ctx, "sweep: could not drop the reference", "err", derr)
			}
			return sweep.ActionUnreachable, nil
		case errors.As(err, &throttled):
			wait := max(throttled.RetryAfter, time.Second)
			r.o.Limiter.PauseSends(ctx, wait)
			return "", &sweep.RetryError{After: wait}
		}
		return "", err
	}
	log.InfoContext(ctx, "sweep card sent")
	return sweep.ActionNotified, nil
}

var _ sweep.Notifier = (*SweepNotifier)(nil)
