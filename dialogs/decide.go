package dialogs

import (
	"context"
	"strings"
	"time"

	"github.com/smartswap/mfabot/cards"
)

// valid reports whether in carries the reference of cur's current card.
func valid(cur *state, in input) bool {
	return in.ref == nil || (cur.active() && *in.ref == cur.ref())
}

// observe asks Graph what the decision about in needs, if anything: the
// check of the procedure table's row that the input would pass.
func (c *Conversation) observe(ctx context.Context, ti turnInfo, cur *state, in input) observation {
	if !valid(cur, in) {
		return observation{}
	}
	if in.obs != nil {
		return *in.obs
	}
	need := false
	switch {
	case in.verb == cards.VerbStart && !cur.active(), in.verb == cards.VerbRestart:
		need = true // the snapshot, best effort
	case cur.active() && in.ref != nil && (in.verb == cards.VerbNext || in.verb == cards.VerbCheck):
		i, st := rowOf(cur.Step)
		if st == nil {
			break
		}
		switch st.Leave {
		case checkSnapshot:
			need = !cur.SnapOK
		case checkNew:
			need = cur.New == nil
			if need && cur.Checking && c.polling(ctx, ti, cur) {
				return observation{polling: true}
			}
		case checkDeleted:
			need = true
		default:
			if to, _ := forward(i, cur); in.verb == cards.VerbNext && to != nil && to.Enter == checkNew {
				need = cur.New == nil
			}
		}
	case cur.active() && in.ref != nil && in.verb == cards.VerbConfirmDelete && c.o.AllowDelete:
		if _, st := rowOf(cur.Step); st != nil && st.BotDelete {
			return c.deleteOld(ctx, ti, cur)
		}
	}
	if !need {
		return observation{}
	}
	cctx, cancel := context.WithTimeout(ctx, c.o.CheckTimeout)
	defer cancel()
	methods, err := c.o.Directory.ListAuthenticatorMethods(cctx, ti.user)
	if err != nil {
		ti.log.WarnContext(ctx, "listing authenticator methods failed", "err", err)
	}
	return observation{asked: true, methods: methods, err: err}
}

// deleteOld deletes the old registrations on the user's behalf: only ids
// that Graph lists for this user right now, that the dialog recorded as
// old, and never the new phone's.
func (c *Conversation) deleteOld(ctx context.Context, ti turnInfo, cur *state) observation {
	cctx, cancel := context.WithTimeout(ctx, c.o.CheckTimeout)
	defer cancel()
	methods, err := c.o.Directory.ListAuthenticatorMethods(cctx, ti.user)
	if err != nil {
		return observation{asked: true, err: err}
	}
	listed := map[string]bool{}
	for _, m := range methods {
		listed[m.ID] = true
	}
	var deleted []string
	for _, old := range cur.Old {
		if !listed[old.ID] || (cur.New != nil && old.ID == cur.New.ID) {
			ti.log.WarnContext(ctx, "refused to delete a method not listed for this user or the new phone", "method_id", old.ID)
			continue
		}
		if err := c.o.Directory.DeleteAuthenticatorMethod(cctx, ti.user, old.ID); err != nil {
			return observation{asked: true, err: err, deleted: deleted}
		}
		deleted = append(deleted, old.ID)
		// The turn's logger carries the tenant: naming it again would give
		// the line the key twice.
		ti.log.InfoContext(ctx, "audit: authenticator method deleted by the bot at the user's request",
			"audit", true, "event", "authenticator_method_deleted", "user", ti.user,
			"method_id", old.ID, "device", old.Name)
	}
	methods, err = c.o.Directory.ListAuthenticatorMethods(cctx, ti.user)
	return observation{asked: true, methods: methods, err: err, deleted: deleted}
}

// decide is the state machine: from the current state (nil when the user
// has none), one input and what Graph said, the state to save and the card.
func (c *Conversation) decide(cur *state, in input, obs observation, ti turnInfo) outcome {
	now := c.o.Now()
	loc := ti.loc
	if !valid(cur, in) {
		return outcome{card: c.stale(cur, ti), stale: true}
	}
	switch in.verb {
	case cards.VerbStart:
		if cur.active() {
			return outcome{card: c.resumeCard(cur, loc)}
		}
		return c.begin(now, obs, ti)
	case cards.VerbRestart:
		return c.begin(now, obs, ti)
	case cards.VerbResume:
		return c.show(cur, ti)
	case cards.VerbStatus:
		if !cur.active() {
			return outcome{card: render(cards.NoDialog(loc))}
		}
		return outcome{card: c.statusCard(cur, loc)}
	case cards.VerbHelp:
		return outcome{card: render(cards.Help(loc))}
	case cards.VerbHelpdesk:
		return outcome{card: c.helpdeskForm(cur, loc)}
	case cards.VerbCancel:
		if !cur.active() {
			return outcome{card: render(cards.NoDialog(loc))}
		}
		next := cur.clone()
		next.Status = statusCancelled
		next.Checking = false
		next.record(now, "cancelled")
		return outcome{next: next, card: render(cards.Cancelled(loc))}
	case cards.VerbSnooze:
		if !cur.active() {
			return outcome{card: render(cards.NoDialog(loc))}
		}
		next := cur.clone()
		if !c.o.Policy.snooze(next, now) {
			return outcome{card: render(cards.Snoozed(loc, cur.ref(), cards.Text(loc, "reminder.nosnooze")))}
		}
		next.record(now, "reminder put off")
		return outcome{next: next, card: render(cards.Snoozed(loc, next.ref(), cards.Text(loc, "reminder.snoozed"))), planned: true}
	case cards.VerbBotDelete:
		if !cur.active() || in.ref == nil || !c.botDelete(cur) {
			return c.show(cur, ti)
		}
		return outcome{card: render(cards.ConfirmBotDelete(loc, cur.ref(), c.devices(cur.Old, ti)))}
	case cards.VerbNext, cards.VerbBack, cards.VerbLost, cards.VerbCheck, cards.VerbConfirmDelete, verbPollResult:
		if !cur.active() {
			return outcome{card: render(cards.NoDialog(loc))}
		}
		if in.ref == nil {
			// Moving needs the button of the current card.
			return outcome{card: c.stepCard(cur, ti, "")}
		}
		return c.move(cur, in.verb, obs, now, ti)
	default:
		return outcome{card: render(cards.Unknown(loc))}
	}
}

// show re-renders the current card, or says there is no dialog.
func (c *Conversation) show(cur *state, ti turnInfo) outcome {
	if !cur.active() {
		return outcome{card: render(cards.NoDialog(ti.loc))}
	}
	return outcome{card: c.stepCard(cur, ti, "")}
}

// begin starts a new dialog at the first step, with the snapshot of the
// user's Authenticator registrations when Graph gave it.
func (c *Conversation) begin(now time.Time, obs observation, ti turnInfo) outcome {
	s := &state{
		V: stateVersion, ID: newID(), Step: first(), Nonce: newID(),
		Status: statusActive, Locale: string(ti.loc), Started: now,
	}
	if obs.asked && obs.err == nil {
		s.takeSnapshot(obs.methods)
	} else if obs.err != nil {
		s.LastError = problemKey(obs.err)
	}
	s.record(now, "started")
	return outcome{next: s, card: c.stepCard(s, ti, "")}
}

// move handles the buttons that change the step, by the procedure table:
// 紛失・故障した where a row offers it, 戻る to the row's Back, and 次へ
// (再確認, ボットで削除's confirmation, a poll's result) through the checks
// of the row being left and of the row being entered.
func (c *Conversation) move(cur *state, verb string, obs observation, now time.Time, ti turnInfo) outcome {
	stay := outcome{card: c.stepCard(cur, ti, "")}
	i, st := rowOf(cur.Step)
	if st == nil {
		return stay
	}
	next := cur.clone()
	next.Nonce = newID()
	next.Problem, next.ProblemArg = "", ""
	if obs.err != nil {
		next.LastError = problemKey(obs.err)
	}
	show := func(what string) outcome {
		next.record(now, what)
		return outcome{next: next, card: c.stepCard(next, ti, "")}
	}

	switch verb {
	case cards.VerbLost:
		if !st.Lost {
			return stay
		}
		next.Step = stepLost
		out := show("old phone lost or broken")
		out.lost = true
		return out
	case cards.VerbBack:
		to := back(i, st)
		if to == "" {
			return stay
		}
		next.Step = to
		next.Checking = false
		if forgetsNew(to) {
			// Going back before the check means checking again.
			next.New, next.Old = nil, nil
		}
		return show(verb)
	}

	// The check of the row being left, until it has passed.
	switch {
	case st.Leave == checkSnapshot && !cur.SnapOK && (verb == cards.VerbNext || verb == cards.VerbCheck):
		// Leaving needs the snapshot of the registrations as they were
		// before the new phone is added.
		if obs.err != nil || !obs.asked {
			next.Problem = problemKey(obs.err)
			return show("snapshot failed")
		}
		next.takeSnapshot(obs.methods)
		if verb == cards.VerbCheck {
			return show(verb) // stay on the step, now able to go on
		}
	case st.Leave == checkNew && cur.New == nil && (verb == cards.VerbNext || verb == cards.VerbCheck || verb == verbPollResult):
		if obs.polling {
			return stay // the poller's waiting card, unchanged
		}
		return c.checkNew(next, obs, verb, now, ti)
	case st.Leave == checkDeleted && (verb == cards.VerbNext || verb == cards.VerbCheck || verb == cards.VerbConfirmDelete):
		return c.checkDeleted(next, obs, now, ti)
	case verb != cards.VerbNext || i < 0:
		return stay
	}

	// On to the next row, and its check on arrival.
	to, skipped := forward(i, next)
	if to == nil {
		next.Status = statusDone
		next.record(now, "completed")
		return outcome{next: next, card: render(cards.Done(ti.loc, c.summary(next, now, ti.loc)))}
	}
	next.Step = to.ID
	if to.Enter == checkNew && next.New == nil {
		return c.checkNew(next, obs, verb, now, ti)
	}
	if skipped != nil {
		next.Problem = skipped.Note
		return show(skipped.Log)
	}
	return show(verb)
}

// checkNew looks for a registration that was not in the snapshot.
func (c *Conversation) checkNew(next *state, obs observation, verb string, now time.Time, ti turnInfo) outcome {
	next.Checking = false
	show := func(what string) outcome {
		next.record(now, what)
		return outcome{next: next, card: c.stepCard(next, ti, "")}
	}
	if !obs.asked {
		// Nothing was asked (a poll that timed out without an answer).
		next.Problem = "check.notfound"
		return show("new registration not found")
	}
	if obs.err != nil {
		next.Problem = problemKey(obs.err)
		return show("check failed")
	}
	before := map[string]bool{}
	for _, id := range next.Snapshot {
		before[id] = true
	}
	var found *Method
	var old []device
	for i := range obs.methods {
		m := &obs.methods[i]
		if before[m.ID] {
			old = append(old, device{ID: m.ID, Name: m.DeviceName, Created: m.Created})
			continue
		}
		// Of several new ones, the most recently created; ties go to the
		// last listed.
		if found == nil || m.Created == nil || (found.Created != nil && !m.Created.Before(*found.Created)) {
			found = m
		}
	}
	if found == nil {
		if verb == verbPollResult {
			next.Problem = "check.notfound"
			return show("new registration not found")
		}
		next.Checking = true
		out := show("waiting for the new registration")
		out.poll = true
		return out
	}
	next.New = &device{ID: found.ID, Name: found.DeviceName, Created: found.Created}
	next.Old = old
	return show("new registration found: " + found.DeviceName)
}

// checkDeleted verifies that the old registrations are gone and the new
// one is not.
func (c *Conversation) checkDeleted(next *state, obs observation, now time.Time, ti turnInfo) outcome {
	show := func(what string) outcome {
		next.record(now, what)
		return outcome{next: next, card: c.stepCard(next, ti, "")}
	}
	if obs.err != nil || !obs.asked {
		next.Problem = problemKey(obs.err)
		return show("deletion check failed")
	}
	listed := map[string]bool{}
	for _, m := range obs.methods {
		listed[m.ID] = true
	}
	if next.New != nil && !listed[next.New.ID] {
		// The new phone was deleted by mistake: back to adding it, with a
		// fresh snapshot so that the next registration is recognised.
		next.Problem, next.ProblemArg = "delete.newgone", next.New.Name
		_, st := rowOf(next.Step)
		next.Step = st.NewGone
		next.New, next.Old = nil, nil
		next.takeSnapshot(obs.methods)
		return show("new registration deleted by mistake")
	}
	var still []string
	for _, d := range next.Old {
		if listed[d.ID] {
			still = append(still, d.Name)
		}
	}
	if len(still) > 0 {
		next.Problem, next.ProblemArg = "delete.still", strings.Join(still, "、")
		return show("old registration still present")
	}
	i, _ := rowOf(next.Step)
	to, _ := forward(i, next)
	if to != nil {
		next.Step = to.ID
	}
	next.Problem = "delete.ok"
	return show("old registration deleted")
}
