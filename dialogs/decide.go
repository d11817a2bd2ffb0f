package dialogs

import (
	"context"
	"slices"
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
	var kinds []Kind
	switch {
	case in.verb == cards.VerbStart && !cur.active(), in.verb == cards.VerbRestart:
		kinds = wholePhone // the snapshot, best effort
	case cur.active() && in.ref != nil && (in.verb == cards.VerbNext || in.verb == cards.VerbCheck):
		i, st := rowOf(cur.Step)
		if st == nil {
			break
		}
		switch st.Leave {
		case checkSnapshot:
			if !cur.SnapOK {
				kinds = wholePhone
			}
		case checkNew, checkNewPasskey:
			if cur.waitsFor(st.Leave) {
				if cur.Checking && c.polling(ctx, ti, cur) {
					return observation{polling: true}
				}
				kinds = cur.kindsFor(st.Leave)
			}
		case checkDeleted:
			kinds = cur.kindsFor(checkDeleted)
		default:
			if to, _ := forward(i, cur); in.verb == cards.VerbNext && to != nil && to.Enter == checkNew && cur.New == nil {
				kinds = cur.kindsFor(checkNew)
			}
		}
	case cur.active() && in.ref != nil && in.verb == cards.VerbSweepStart && cur.Step == stepPickOld:
		kinds = []Kind{KindPush, KindPasskey} // the snapshot of the deletion step
	case cur.active() && in.ref != nil && in.verb == cards.VerbConfirmDelete && c.o.AllowDelete:
		if _, st := rowOf(cur.Step); st != nil && st.BotDelete {
			return c.deleteOld(ctx, ti, cur)
		}
	}
	if kinds == nil {
		return observation{}
	}
	cctx, cancel := context.WithTimeout(ctx, c.o.CheckTimeout)
	defer cancel()
	return c.list(cctx, ti, cur, kinds)
}

// waitsFor reports whether the dialog still waits for what check k looks
// for: the new phone's push registration, or its passkey.
func (s *state) waitsFor(k check) bool {
	if k == checkNewPasskey {
		return s.NewPasskey == nil
	}
	return s.New == nil
}

// kindsFor is what check k lists: the new phone's push registration (and
// its passkey, which signing in to Authenticator may add in the same go),
// the new passkey, or every credential the deletion step must see gone
// and the new ones it must see kept.
func (s *state) kindsFor(k check) []Kind {
	switch k {
	case checkNewPasskey:
		return []Kind{KindPasskey}
	case checkDeleted:
		kinds := []Kind{KindPush}
		if s.NewPasskey != nil || slices.ContainsFunc(s.Old, func(d device) bool { return d.kind() == KindPasskey }) {
			kinds = append(kinds, KindPasskey)
		}
		if s.OathAnswer == oathOnOld && len(s.Oath) > 0 {
			kinds = append(kinds, KindOath)
		}
		return kinds
	}
	if s.Passkey {
		return []Kind{KindPush, KindPasskey}
	}
	return []Kind{KindPush}
}

// list asks Graph for the user's credentials of kinds, for the check of
// cur. Kinds left out for lack of a permission are logged. Once the new
// phone's push registration is there, a Temporary Access Pass that the
// helpdesk issued for this dialog is deleted: it is no longer needed, and
// Entra offers it before anything else at sign-in.
func (c *Conversation) list(ctx context.Context, ti turnInfo, cur *state, kinds []Kind) observation {
	l, err := c.o.Directory.ListMethods(ctx, ti.user, kinds...)
	if err != nil {
		ti.log.WarnContext(ctx, "listing credentials failed", "err", err)
		return observation{asked: true, err: err}
	}
	logSkipped(ctx, ti, l)
	obs := observation{asked: true, list: l}
	if cur != nil && cur.TAP != nil && (cur.New != nil || newPush(cur, l) != nil) {
		obs.tapGone = c.deleteTAP(ctx, ti, cur)
	}
	return obs
}

// newPush is the push registration l lists that is not in the snapshot:
// of several, the most recently created; ties go to the last listed.
func newPush(s *state, l Listing) *Method {
	return newest(s, l.of(KindPush))
}

func newest(s *state, ms []Method) *Method {
	before := s.inSnapshot()
	var found *Method
	for i := range ms {
		m := &ms[i]
		if before[m.ID] {
			continue
		}
		if found == nil || m.Created == nil || (found.Created != nil && !m.Created.Before(*found.Created)) {
			found = m
		}
	}
	return found
}

// tapSlack allows for clocks: a pass created this long before the dialog
// recorded issuing it is still the one it issued.
const tapSlack = 5 * time.Minute

// deleteTAP deletes the Temporary Access Pass the helpdesk issued for the
// dialog (a user has one at most; one created before it was issued is
// someone else's and stays) and reports whether none is left. The pass
// itself is never read, logged or shown.
func (c *Conversation) deleteTAP(ctx context.Context, ti turnInfo, cur *state) bool {
	l, err := c.o.Directory.ListMethods(ctx, ti.user, KindTAP)
	if err != nil {
		ti.log.WarnContext(ctx, "could not list the temporary access pass to delete it", "err", err)
		return false
	}
	if p, ok := l.Skipped[KindTAP]; ok {
		ti.log.WarnContext(ctx, "the temporary access pass was not deleted: Graph permission missing", "permission", p)
		return false
	}
	for _, m := range l.of(KindTAP) {
		if m.Created != nil && m.Created.Before(cur.TAP.Add(-tapSlack)) {
			continue
		}
		if err := c.o.Directory.DeleteMethod(ctx, ti.user, m); err != nil {
			ti.log.WarnContext(ctx, "could not delete the temporary access pass", "err", err)
			return false
		}
		ti.log.InfoContext(ctx, "audit: temporary access pass deleted by the bot once the new phone was verified",
			"audit", true, "event", "temporary_access_pass_deleted", "user", ti.user, "method_id", m.ID)
	}
	return true
}

// deleteOld deletes the old credentials on the user's behalf: only ids that
// Graph lists for this user right now with the kind the dialog recorded,
// that the dialog recorded as old, and never the new phone's.
func (c *Conversation) deleteOld(ctx context.Context, ti turnInfo, cur *state) observation {
	cctx, cancel := context.WithTimeout(ctx, c.o.CheckTimeout)
	defer cancel()
	kinds := cur.kindsFor(checkDeleted)
	l, err := c.o.Directory.ListMethods(cctx, ti.user, kinds...)
	if err != nil {
		return observation{asked: true, err: err}
	}
	listed := map[string]Kind{}
	for _, m := range l.Methods {
		listed[m.ID] = m.kind()
	}
	var deleted []string
	for _, old := range cur.required() {
		isNew := cur.New != nil && old.ID == cur.New.ID || cur.NewPasskey != nil && old.ID == cur.NewPasskey.ID
		if k, ok := listed[old.ID]; !ok || k != old.kind() || isNew || old.kind() == KindOtherPasskey {
			ti.log.WarnContext(ctx, "refused to delete a credential not listed for this user, of another kind, or the new phone's",
				"method_id", old.ID, "kind", string(old.kind()))
			continue
		}
		if err := c.o.Directory.DeleteMethod(cctx, ti.user, Method{ID: old.ID, Kind: old.kind(), DeviceName: old.Name}); err != nil {
			return observation{asked: true, err: err, deleted: deleted}
		}
		deleted = append(deleted, old.ID)
		// The turn's logger carries the tenant: naming it again would give
		// the line the key twice.
		ti.log.InfoContext(ctx, "audit: credential deleted by the bot at the user's request",
			"audit", true, "event", auditEvents[old.kind()], "user", ti.user,
			"method_id", old.ID, "kind", string(old.kind()), "device", old.Name)
	}
	l, err = c.o.Directory.ListMethods(cctx, ti.user, kinds...)
	return observation{asked: true, list: l, err: err, deleted: deleted}
}

// named is how a problem line names an old credential: a push
// registration by its device, as before kinds; a passkey or an OATH entry
// by its kind.
func (c *Conversation) named(d device, ti turnInfo) string {
	if d.kind() == KindPush {
		return d.Name
	}
	return cards.CredentialName(ti.loc, c.device(d, ti))
}

// auditEvents names the audit event of a deletion, by kind.
var auditEvents = map[Kind]string{
	KindPush:    "authenticator_method_deleted",
	KindPasskey: "passkey_deleted",
	KindOath:    "software_oath_deleted",
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
	case cards.VerbSweepStart, cards.VerbSweepBoth:
		if !cur.active() || in.ref == nil || cur.Step != stepPickOld {
			return c.show(cur, ti)
		}
		if in.verb == cards.VerbSweepBoth {
			return c.sweepBoth(cur, now, ti)
		}
		return c.sweepStart(cur, in, obs, now, ti)
	case cards.VerbNext, cards.VerbBack, cards.VerbLost, cards.VerbCheck, cards.VerbConfirmDelete, verbPollResult,
		cards.VerbDeclinePasskey, cards.VerbOathOld, cards.VerbOathKept:
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
		s.takeSnapshot(obs.list)
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
		to := back(i, st, cur)
		if to == "" {
			return stay
		}
		next.Step = to
		next.Checking = false
		if forgetsNew(to) {
			// Going back before the check means checking again.
			next.New, next.Old, next.Oath, next.OathAnswer = nil, nil, nil, ""
		}
		if forgetsNewPasskey(to) {
			next.NewPasskey, next.PasskeyDeclined = nil, false
		}
		return show(verb)
	case cards.VerbDeclinePasskey:
		if !st.Decline {
			return stay
		}
		next.PasskeyDeclined = true
		next.Checking = false
		next.record(now, "passkey declined")
		return c.onward(next, i, obs, verb, now, ti, "passkey.declined")
	case cards.VerbOathOld, cards.VerbOathKept:
		if st.Leave != checkDeleted || len(cur.Oath) == 0 {
			return stay
		}
		next.OathAnswer = oathKept
		if verb == cards.VerbOathOld {
			next.OathAnswer = oathOnOld
		}
		return show("other authenticator app: " + next.OathAnswer)
	}

	// The check of the row being left, until it has passed.
	checks := verb == cards.VerbNext || verb == cards.VerbCheck || verb == verbPollResult
	switch {
	case st.Leave == checkSnapshot && !cur.SnapOK && (verb == cards.VerbNext || verb == cards.VerbCheck):
		// Leaving needs the snapshot of the registrations as they were
		// before the new phone is added.
		if obs.err != nil || !obs.asked {
			next.Problem = problemKey(obs.err)
			return show("snapshot failed")
		}
		next.takeSnapshot(obs.list)
		if verb == cards.VerbCheck {
			return show(verb) // stay on the step, now able to go on
		}
	case st.Leave.polled() && cur.waitsFor(st.Leave) && checks && !(st.Decline && cur.PasskeyDeclined):
		if obs.polling {
			return stay // the poller's waiting card, unchanged
		}
		if st.Leave == checkNewPasskey {
			return c.checkNewPasskey(next, obs, verb, now, ti)
		}
		return c.checkNew(next, obs, verb, now, ti)
	case st.Leave == checkDeleted && (verb == cards.VerbNext || verb == cards.VerbCheck || verb == cards.VerbConfirmDelete):
		return c.checkDeleted(next, obs, now, ti)
	case verb != cards.VerbNext || i < 0:
		return stay
	}
	return c.onward(next, i, obs, verb, now, ti, "")
}

// onward moves next from row i to the next row the dialog has, with that
// row's check on arrival; note, when set, is what the next card says of
// the move.
func (c *Conversation) onward(next *state, i int, obs observation, verb string, now time.Time, ti turnInfo, note string) outcome {
	show := func(what string) outcome {
		next.record(now, what)
		return outcome{next: next, card: c.stepCard(next, ti, "")}
	}
	to, skipped := forward(i, next)
	if to == nil {
		next.Status = statusDone
		next.record(now, "completed")
		return outcome{next: next, card: render(cards.Done(ti.loc, c.summary(next, now, ti)))}
	}
	next.Step = to.ID
	if to.Enter == checkNew && next.New == nil {
		return c.checkNew(next, obs, verb, now, ti)
	}
	if skipped != nil {
		next.Problem = skipped.Note
		return show(skipped.Log)
	}
	next.Problem = note
	return show(verb)
}

// checkNew looks for a push registration that was not in the snapshot:
// the new phone. What it finds fixes what the old phone left: the
// snapshot's push registrations still listed and its Authenticator
// passkeys (phone-bound: to delete), and its other authenticator app
// entries (to ask about). A passkey added with the push registration (by
// signing in to Authenticator) is the new phone's passkey.
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
	found := newPush(next, obs.list)
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
	before := next.inSnapshot()
	var old []device
	for _, m := range obs.list.of(KindPush) {
		if before[m.ID] {
			old = append(old, deviceOf(m))
		}
	}
	_, passkeysListed := obs.list.Skipped[KindPasskey]
	passkeysListed = !passkeysListed && slices.Contains(next.kindsFor(checkNew), KindPasskey)
	if passkeysListed {
		for _, m := range obs.list.of(KindPasskey) {
			if before[m.ID] {
				old = append(old, deviceOf(m))
			}
		}
		if pk := newest(next, obs.list.of(KindPasskey)); pk != nil {
			d := deviceOf(*pk)
			next.NewPasskey = &d
		}
	} else {
		old = append(old, next.snapOf(KindPasskey)...)
	}
	next.New = &device{ID: found.ID, Kind: KindPush, Name: found.DeviceName, Created: found.Created}
	next.Old = old
	next.Oath = next.snapOf(KindOath)
	tapDeleted := obs.tapGone && next.TAP != nil
	if tapDeleted {
		next.TAP = nil
		next.Problem = "tap.deleted"
		next.record(now, "temporary access pass deleted")
	}
	out := show("new registration found: " + found.DeviceName)
	out.tapDeleted = tapDeleted
	return out
}

// checkNewPasskey looks for an Authenticator passkey that was not in the
// snapshot: the new phone's.
func (c *Conversation) checkNewPasskey(next *state, obs observation, verb string, now time.Time, ti turnInfo) outcome {
	next.Checking = false
	show := func(what string) outcome {
		next.record(now, what)
		return outcome{next: next, card: c.stepCard(next, ti, "")}
	}
	if !obs.asked {
		next.Problem = "check.passkey.notfound"
		return show("new passkey not found")
	}
	if obs.err != nil {
		next.Problem = problemKey(obs.err)
		return show("passkey check failed")
	}
	if _, skipped := obs.list.Skipped[KindPasskey]; skipped {
		// Without the permission the bot cannot confirm it: the user goes
		// on, and the operator sees the missing permission in the log.
		next.PasskeyDeclined = true
		i, _ := rowOf(next.Step)
		return c.onward(next, i, obs, cards.VerbNext, now, ti, "")
	}
	pk := newest(next, obs.list.of(KindPasskey))
	if pk == nil {
		if verb == verbPollResult {
			next.Problem = "check.passkey.notfound"
			return show("new passkey not found")
		}
		next.Checking = true
		out := show("waiting for the new passkey")
		out.poll = true
		return out
	}
	d := deviceOf(*pk)
	next.NewPasskey = &d
	return show("new passkey found: " + pk.DeviceName)
}

// checkDeleted verifies that the old credentials the user must delete are
// gone and the new ones are not.
func (c *Conversation) checkDeleted(next *state, obs observation, now time.Time, ti turnInfo) outcome {
	show := func(what string) outcome {
		next.record(now, what)
		return outcome{next: next, card: c.stepCard(next, ti, "")}
	}
	if obs.err != nil || !obs.asked {
		next.Problem = problemKey(obs.err)
		return show("deletion check failed")
	}
	tapDeleted := obs.tapGone && next.TAP != nil
	if tapDeleted {
		next.TAP = nil
		next.record(now, "temporary access pass deleted")
	}
	show = func(what string) outcome {
		next.record(now, what)
		return outcome{next: next, card: c.stepCard(next, ti, ""), tapDeleted: tapDeleted}
	}
	listed := map[string]bool{}
	for _, m := range obs.list.Methods {
		listed[m.ID] = true
	}
	checked := func(k Kind) bool {
		_, skipped := obs.list.Skipped[k]
		return !skipped && slices.Contains(next.kindsFor(checkDeleted), k)
	}
	if next.New != nil && !listed[next.New.ID] {
		// The new phone was deleted by mistake: back to adding it, with a
		// fresh snapshot so that the next registration is recognised.
		next.Problem, next.ProblemArg = "delete.newgone", next.New.Name
		_, st := rowOf(next.Step)
		next.Step = st.NewGone
		next.New, next.Old, next.Oath, next.OathAnswer = nil, nil, nil, ""
		next.NewPasskey, next.PasskeyDeclined = nil, false
		next.takeSnapshot(obs.list)
		return show("new registration deleted by mistake")
	}
	if next.NewPasskey != nil && checked(KindPasskey) && !listed[next.NewPasskey.ID] {
		next.Problem, next.ProblemArg = "delete.newpasskeygone", next.NewPasskey.Name
		next.Step = StepAddPasskey
		next.NewPasskey = nil
		return show("new passkey deleted by mistake")
	}
	if len(next.Oath) > 0 && next.OathAnswer == "" {
		next.Problem = "oath.unanswered"
		return show("other authenticator app not answered")
	}
	var still []string
	for _, d := range next.required() {
		if checked(d.kind()) && listed[d.ID] {
			still = append(still, c.named(d, ti))
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
