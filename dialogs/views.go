package dialogs

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/smartswap/mfabot/cards"
)

// noRetry are the problems that a 再確認 would not change: news of a
// check, not its failure.
var noRetry = []string{"delete.ok", "old.none", "delete.newgone", "delete.newpasskeygone", "tap.deleted", "passkey.declined", "oath.unanswered"}

// again is the answer of the turn that saved s, for a redelivery of its
// activity after that answer failed to leave: the card of the state it
// saved.
func (c *Conversation) again(s *state, ti turnInfo) outcome {
	switch s.Status {
	case statusDone:
		return outcome{card: render(cards.Done(ti.loc, c.summary(s, s.Updated, ti)))}
	case statusCancelled:
		return outcome{card: render(cards.Cancelled(ti.loc))}
	}
	return outcome{card: c.stepCard(s, ti, "")}
}

// stale answers a press on an old or forged card with the current step.
func (c *Conversation) stale(cur *state, ti turnInfo) json.RawMessage {
	if !cur.active() {
		return render(cards.NoDialogNotice(ti.loc, cards.Text(ti.loc, "stale.notice")))
	}
	return c.stepCard(cur, ti, cards.Text(ti.loc, "stale.notice"))
}

// stepCard is the card of the dialog's current step, as its row of the
// procedure table and what the checks found make it.
func (c *Conversation) stepCard(s *state, ti turnInfo, notice string) json.RawMessage {
	loc := ti.loc
	ref := s.ref()
	switch s.Step {
	case stepLost:
		return render(cards.Lost(c.o.Content, loc, ref, s.Ticket))
	case stepPickOld:
		return c.sweepCard(s, ti, notice)
	}
	_, st := rowOf(s.Step)
	v := cards.StepView{
		Ref: ref, Index: s.stepIndex(), Total: s.steps(),
		Notice: notice, Checking: s.Checking,
	}
	if c.o.SecurityInfoURL != nil {
		v.SecurityInfoURL = c.o.SecurityInfoURL(ti.user)
	}
	if s.Problem != "" {
		if s.ProblemArg != "" {
			// Device names, set by their owners.
			v.Problem = cards.Text(loc, s.Problem, cards.Plain(s.ProblemArg))
		} else {
			v.Problem = cards.Text(loc, s.Problem)
		}
		v.Retry = !slices.Contains(noRetry, s.Problem)
	}
	if st != nil {
		v.Lost = st.Lost
		v.Decline = st.Decline && s.NewPasskey == nil
		if st.Leave == checkNew && s.New != nil {
			v.Found = s.New.Name
		}
		if st.Leave == checkNewPasskey && s.NewPasskey != nil {
			v.FoundPasskey = s.NewPasskey.Name
		}
		v.CheckingPasskey = s.Checking && st.Leave == checkNewPasskey
		if st.Leave == checkDeleted {
			v.Devices = c.devices(s.required(), ti)
			v.BotDelete = c.botDelete(s)
			if s.OathAnswer == "" {
				v.AskOath = len(s.Oath)
			}
		}
	}
	return c.steps.render(c.o.Content, loc, v)
}

// botDelete reports whether ボットで削除 is offered at s's step.
func (c *Conversation) botDelete(s *state) bool {
	_, st := rowOf(s.Step)
	return st != nil && st.BotDelete && c.o.AllowDelete && len(s.required()) > 0
}

func (c *Conversation) devices(ds []device, ti turnInfo) []cards.Device {
	out := make([]cards.Device, 0, len(ds))
	for _, d := range ds {
		out = append(out, c.device(d, ti))
	}
	return out
}

// device is how the cards show a credential the dialog remembers.
func (c *Conversation) device(d device, ti turnInfo) cards.Device {
	cd := cards.Device{Name: d.Name}
	switch d.kind() {
	case KindPasskey:
		cd.Kind = cards.KindPasskey
	case KindOath:
		cd.Kind = cards.KindOath
	}
	if d.Created != nil {
		cd.Registered = d.Created.In(ti.tz).Format("2006-01-02")
	}
	return cd
}

// reminderCard is the reminder for the dialog's current state.
func (c *Conversation) reminderCard(s *state, ti turnInfo) cards.Card {
	v := cards.ReminderView{
		Ref: s.ref(), Index: s.stepIndex(), Total: s.steps(),
		StepTitle: c.stepTitle(s.Step, ti.loc), Abandoned: reminderAbout(s) == remindResume,
		CanSnooze: s.Remind != nil && s.Remind.Snoozes < maxSnoozes,
	}
	if !v.Abandoned {
		v.OldDevices = c.devices(s.required(), ti)
	}
	if s.Step == stepPickOld {
		// The sweep's card: which of these is the old phone is not known yet.
		v.StepTitle = cards.Text(ti.loc, "sweep.title")
		v.OldDevices = c.devices(s.Found, ti)
	}
	return cards.Reminder(ti.loc, v)
}

func (c *Conversation) resumeCard(s *state, loc cards.Locale) json.RawMessage {
	return render(cards.Resume(loc, s.ref(), s.stepIndex(), s.steps(), c.stepTitle(s.Step, loc)))
}

func (c *Conversation) statusCard(s *state, loc cards.Locale) json.RawMessage {
	next := ""
	switch i, st := rowOf(s.Step); {
	case s.Step == stepPickOld:
		next = c.stepTitle(StepDeleteOld, loc) // where choosing the old phone leads
	case s.Step != stepLost && st != nil:
		if to, _ := forward(i, s); to != nil {
			next = c.stepTitle(to.ID, loc)
		}
	}
	return render(cards.Status(loc, s.ref(), s.stepIndex(), s.steps(), c.stepTitle(s.Step, loc), next))
}

// stepTitle is a step's title as the content file gives it.
func (c *Conversation) stepTitle(step StepID, loc cards.Locale) string {
	switch step {
	case stepLost:
		return cards.Text(loc, "lost.title")
	case stepPickOld:
		return cards.Text(loc, "sweep.title")
	}
	if sc := c.o.Content.Step(string(step)); sc != nil {
		return sc.Title.In(loc)
	}
	return string(step)
}

// stepTitles are the titles of every step, in order.
func (c *Conversation) stepTitles(loc cards.Locale) []string {
	titles := make([]string, len(procedure))
	for i, st := range procedure {
		titles[i] = c.stepTitle(st.ID, loc)
	}
	return titles
}

// summary is what the done card says: the steps the user went through
// (not those passed over), the devices and the time it took. A push
// registration is named by its device, as before kinds; a passkey or an
// OATH entry by its kind.
func (c *Conversation) summary(s *state, now time.Time, ti turnInfo) cards.Summary {
	loc := ti.loc
	var titles []string
	for _, st := range procedure {
		if st.skipped(s) {
			continue
		}
		titles = append(titles, c.stepTitle(st.ID, loc))
	}
	sum := cards.Summary{StepTitles: titles, Took: now.Sub(s.Started)}
	if s.New != nil {
		sum.NewDevice = s.New.Name
	}
	for _, d := range s.required() {
		sum.OldDevices = append(sum.OldDevices, c.named(d, ti))
	}
	return sum
}

// helpdeskForm is what ヘルプデスクに相談 shows: the reason form, or how to
// reach the helpdesk when no helpdesk channel takes tickets.
func (c *Conversation) helpdeskForm(cur *state, loc cards.Locale) json.RawMessage {
	var ref *cards.Ref
	if cur.active() {
		r := cur.ref()
		ref = &r
	}
	if !c.o.Helpdesk {
		title := ""
		if ref != nil {
			title = c.stepTitle(cur.Step, loc)
		}
		return render(cards.HelpdeskInfo(c.o.Content, loc, ref, title))
	}
	return render(cards.HelpdeskForm(loc, ref))
}
