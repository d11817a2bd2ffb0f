package dialogs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
)

// Options configures a Handler. Store, Content and Directory are required.
type Options struct {
	Store     Store
	Content   *cards.Content
	Directory Directory
	// AllowDelete offers 「ボットで削除」: the bot deletes the old
	// registration itself (GRAPH_ALLOW_DELETE).
	AllowDelete bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SecurityInfoURL, when set, gives the security-info page for a user
	// (the sandbox's page in local mode) instead of the content file's.
	SecurityInfoURL func(userID string) string
	// CheckTimeout bounds a Graph check made inside a turn (default 5 s);
	// a slower answer continues after the acknowledgement.
	CheckTimeout time.Duration
	// PollFor bounds the wait for a new registration (default 2 min).
	PollFor time.Duration
	// PollEvery is the first pause between polls (default 2 s); pauses grow
	// by half each time, up to 15 s.
	PollEvery time.Duration
	// Reminders, when set, keeps conversation references and queues
	// reminders by Policy after every change of a dialog.
	Reminders ReminderStore
	Policy    ReminderPolicy
	// Logger receives what happens outside a turn (flushing statistics).
	Logger *slog.Logger
	// Helpdesk, when set, turns ヘルプデスクに相談 into tickets in a
	// helpdesk channel; without it the user is told how to reach the
	// helpdesk.
	Helpdesk *HelpdeskOptions
	// Observer is told of the funnel and of ticket events, for metrics
	// (default: no one).
	Observer Observer
	// Stats, when set, keeps the daily counters behind the helpdesk's
	// 統計 (stats) command.
	Stats StatsStore
}

// Handler is the conversation: it answers messages, card actions and
// installation events, keeping each user's dialog in the Store.
type Handler struct {
	o     Options
	batch statsBatch
}

// NewHandler returns the conversation handler. It does no I/O.
func NewHandler(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 5 * time.Second
	}
	if o.PollFor <= 0 {
		o.PollFor = 2 * time.Minute
	}
	if o.PollEvery <= 0 {
		o.PollEvery = 2 * time.Second
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	return &Handler{o: o}
}

// input is one thing the user did: a typed command or a pressed button, or
// the result of a poll the bot ran.
type input struct {
	verb string
	ref  *cards.Ref // nil for typed commands and buttons outside a dialog
	// obs is what a finished poll saw; observe then asks Graph nothing.
	obs *observation
}

// verbPollResult is the internal input of a finished poll.
const verbPollResult = "pollresult"

// observation is what Graph said during this turn, if it was asked.
type observation struct {
	asked   bool
	methods []Method
	err     error
	// deleted lists the ids the bot deleted in this turn.
	deleted []string
}

// outcome is what a decision leads to.
type outcome struct {
	next  *state     // nil: nothing to save
	card  cards.Card // what the user sees
	poll  bool       // start polling Graph for the new registration
	stale bool       // the input came from an old or forged card
	// due, when set, is the reminder to queue instead of the policy's
	// plan (あとで).
	due time.Time
	// lost: the user just said the old phone is lost; a ticket is opened.
	lost bool
}

// maxCASAttempts bounds the load-decide-save loop when turns of the same
// user race.
const maxCASAttempts = 4

// errNoUser is returned for an activity that names no user to key state on.
var errNoUser = errors.New("activity has no user id")

// turnInfo is what a decision needs to know of the activity.
type turnInfo struct {
	tenant, user string
	loc          cards.Locale
	tz           *time.Location
	tzName       string // as Teams sent it; "" when unknown or invalid
	log          *slog.Logger
}

func (h *Handler) info(a schema.Activity, log *slog.Logger) turnInfo {
	ti := turnInfo{tenant: tenantOf(a), user: userOf(a), loc: cards.LocaleFor(a.Locale), tz: tokyo, log: log}
	if tz := loadLocation(a.LocalTimezone); tz != nil {
		ti.tz, ti.tzName = tz, a.LocalTimezone
	}
	return ti
}

// remember keeps the conversation reference of a personal chat, the
// address of reminders. It is written on installs and typed messages; card
// presses come from the same chat, so rewriting it on each of them would
// only cost a Redis write per turn.
func (h *Handler) remember(ctx context.Context, t Turn, ti turnInfo) {
	a := t.Incoming()
	if h.o.Reminders == nil || ti.user == "" || (a.Conversation.ConversationType != "" && a.Conversation.ConversationType != "personal") {
		return
	}
	if a.Type == schema.Invoke {
		return
	}
	// Only what a proactive send needs: names and the activity id would
	// double the key's size for nothing.
	r := t.Reference()
	b, err := json.Marshal(schema.ConversationReference{
		ServiceURL: r.ServiceURL, ChannelID: r.ChannelID,
		Conversation: schema.ConversationAccount{ID: r.Conversation.ID, ConversationType: r.Conversation.ConversationType, TenantID: r.Conversation.TenantID},
		User:         schema.ChannelAccount{ID: r.User.ID, AadObjectID: r.User.AadObjectID},
		Bot:          schema.ChannelAccount{ID: r.Bot.ID},
	})
	if err == nil {
		err = h.o.Reminders.SaveReference(ctx, ti.tenant, ti.user, b)
	}
	if err != nil {
		ti.log.WarnContext(ctx, "could not store the conversation reference", "err", err)
	}
}

// tokyo is the default time zone of the company.
var tokyo = func() *time.Location {
	l, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		return time.FixedZone("JST", 9*3600)
	}
	return l
}()

// OnMessage answers typed text, and Action.Submit data from clients that
// send card actions as messages.
func (h *Handler) OnMessage(ctx context.Context, t Turn) error {
	a := t.Incoming()
	ti := h.info(a, t.Logger())
	h.remember(ctx, t, ti)
	var in input
	if verb, ref, ok := actionFromValue(a.Value); ok {
		in = input{verb: verb, ref: ref}
	} else {
		in = input{verb: parseCommand(a.Text)}
	}
	if in.verb == verbSetup {
		return h.setupHelpdesk(ctx, t, ti)
	}
	if in.verb == cards.VerbStats && h.o.Helpdesk != nil && h.o.Stats != nil {
		return h.sendStats(ctx, t, ti)
	}
	if personal := a.Conversation.ConversationType == "" || a.Conversation.ConversationType == "personal"; !personal && !strings.HasPrefix(in.verb, "ticket_") {
		_, err := t.Send(ctx, schema.Activity{Type: schema.Message, Text: cards.Text(ti.loc, "hd.setup.where")})
		return err
	}
	if strings.HasPrefix(in.verb, "ticket_") || in.verb == cards.VerbHelpdeskSubmit {
		res, err := h.special(ctx, t, ti, in.verb, actionData(a.Value))
		if err != nil {
			return err
		}
		if res.Card != nil {
			_, err = t.Send(ctx, cardActivity(res.Card))
		} else {
			_, err = t.Send(ctx, schema.Activity{Type: schema.Message, Text: res.Text})
		}
		return err
	}
	out, err := h.handle(ctx, ti, in)
	if err != nil {
		t.Logger().ErrorContext(ctx, "dialog turn failed", "err", err)
		_, serr := t.Send(ctx, schema.Activity{Type: schema.Message, Text: cards.Text(ti.loc, "error.retry")})
		return serr
	}
	if out.lost {
		out.card = h.afterLost(ctx, ti, out)
	}
	if _, err := t.Send(ctx, cardActivity(out.card)); err != nil {
		return err
	}
	if out.poll {
		h.startPoll(t, ti, out.next, "")
	}
	return nil
}

// special handles the helpdesk form's submission and the agents' ticket
// buttons, which are not moves of the user's own dialog.
func (h *Handler) special(ctx context.Context, t Turn, ti turnInfo, verb string, data map[string]any) (InvokeResult, error) {
	if strings.HasPrefix(verb, "ticket_") {
		return h.onTicketAction(ctx, t, ti, verb, data)
	}
	if h.o.Helpdesk == nil {
		return InvokeResult{Card: cards.HelpdeskInfo(h.o.Content, ti.loc, nil, "")}, nil
	}
	card, err := h.submitHelpdesk(ctx, ti, t, data)
	if err != nil {
		t.Logger().ErrorContext(ctx, "helpdesk: ticket not opened", "err", err)
		return InvokeResult{Text: cards.Text(ti.loc, "error.retry")}, nil
	}
	return InvokeResult{Card: card}, nil
}

// afterLost opens the helpdesk ticket of a lost phone and shows its number.
func (h *Handler) afterLost(ctx context.Context, ti turnInfo, out outcome) cards.Card {
	if h.o.Helpdesk == nil || out.next == nil {
		return out.card
	}
	n, _, _, err := h.openOrNote(ctx, ti, out.next, "noold", "")
	if err != nil {
		ti.log.ErrorContext(ctx, "helpdesk: lost-phone ticket not opened", "err", err)
		return out.card
	}
	for range maxCASAttempts {
		doc, rev, err := h.o.Store.LoadDialog(ctx, ti.tenant, ti.user)
		if err != nil || doc == nil {
			break
		}
		st, err := decodeState(doc)
		if err != nil || st.ID != out.next.ID {
			break
		}
		st.Ticket = n
		b, _ := st.encode()
		if _, saved, err := h.o.Store.SaveDialog(ctx, ti.tenant, ti.user, b, rev); err != nil || saved {
			break
		}
	}
	return cards.Lost(h.o.Content, ti.loc, out.next.ref(), n)
}

// Escalate opens a helpdesk ticket for a user whose old phone is still
// registered after the last reminder (REMINDER_ESCALATE).
func (h *Handler) Escalate(ctx context.Context, tenant, user string) error {
	if h.o.Helpdesk == nil {
		return errors.New("helpdesk escalation is not configured")
	}
	ti := turnInfo{tenant: tenant, user: user, loc: cards.Japanese, tz: tokyo, log: slog.New(slog.DiscardHandler)}
	st, err := h.loadState(ctx, ti)
	if err != nil {
		return err
	}
	if st != nil && st.Locale != "" {
		ti.loc = cards.Locale(st.Locale)
	}
	_, _, _, err = h.openOrNote(ctx, ti, st, "other", "自動エスカレーション: リマインダーをすべて送った後も古いスマホの登録が残っています。")
	return err
}

// OnInvoke answers an Action.Execute press with the card that replaces the
// pressed one.
func (h *Handler) OnInvoke(ctx context.Context, t Turn) (InvokeResult, error) {
	a := t.Incoming()
	ti := h.info(a, t.Logger())
	h.remember(ctx, t, ti)
	if a.Name != "adaptiveCard/action" {
		return InvokeResult{Text: cards.Text(ti.loc, "unknown.text")}, nil
	}
	action, _ := a.Value["action"].(map[string]any)
	verb, ref, ok := actionFromValue(action)
	if !ok {
		verb, _ = action["verb"].(string)
	}
	if strings.HasPrefix(verb, "ticket_") || verb == cards.VerbHelpdeskSubmit {
		return h.special(ctx, t, ti, verb, actionData(action))
	}
	if verb == cards.VerbStats {
		return h.stats(ctx, t, ti)
	}
	out, err := h.handle(ctx, ti, input{verb: verb, ref: ref})
	if err != nil {
		t.Logger().ErrorContext(ctx, "dialog turn failed", "err", err)
		return InvokeResult{Text: cards.Text(ti.loc, "error.retry")}, nil
	}
	if out.lost {
		out.card = h.afterLost(ctx, ti, out)
	}
	if out.poll {
		h.startPoll(t, ti, out.next, a.ReplyToID)
	}
	return InvokeResult{Card: out.card}, nil
}

// OnConversationUpdate welcomes a user when the bot is added to their
// personal chat.
func (h *Handler) OnConversationUpdate(ctx context.Context, t Turn) error {
	a := t.Incoming()
	if a.Conversation.ConversationType != "" && a.Conversation.ConversationType != "personal" {
		return nil
	}
	for _, m := range a.MembersAdded {
		if m.ID == a.Recipient.ID {
			h.remember(ctx, t, h.info(a, t.Logger()))
			loc := cards.LocaleFor(a.Locale)
			_, err := t.Send(ctx, cardActivity(cards.Welcome(loc)))
			return err
		}
	}
	return nil
}

// OnInstallationUpdate keeps the conversation reference on install and
// forgets it on uninstall (no reminders to a chat the user removed). The
// welcome goes with the conversationUpdate that accompanies an install.
func (h *Handler) OnInstallationUpdate(ctx context.Context, t Turn) error {
	a := t.Incoming()
	ti := h.info(a, t.Logger())
	if strings.HasPrefix(a.Action, "remove") {
		if h.o.Reminders != nil && ti.user != "" {
			return h.o.Reminders.DeleteReference(ctx, ti.tenant, ti.user)
		}
		return nil
	}
	h.remember(ctx, t, ti)
	return nil
}

// handle runs one input through the user's dialog: load, ask Graph what the
// step needs, decide, save with compare-and-set; retried when another turn
// of the same user won.
func (h *Handler) handle(ctx context.Context, ti turnInfo, in input) (outcome, error) {
	if ti.user == "" {
		return outcome{}, errNoUser
	}
	for range maxCASAttempts {
		doc, rev, err := h.o.Store.LoadDialog(ctx, ti.tenant, ti.user)
		if err != nil {
			return outcome{}, err
		}
		var cur *state
		if doc != nil {
			if cur, err = decodeState(doc); err != nil {
				// An unreadable document is replaced rather than trapping
				// the user: the next start begins afresh.
				ti.log.WarnContext(ctx, "dropping unreadable dialog state", "err", err)
				cur = nil
			}
		}
		obs := h.observe(ctx, ti, cur, in)
		out := h.decide(cur, in, obs, ti)
		if out.next == nil {
			return out, nil
		}
		if ti.tzName != "" {
			out.next.TZ = ti.tzName
		}
		change := funnel(cur, out.next, h.o.Now())
		due := out.due
		if h.o.Reminders != nil && due.IsZero() {
			due = h.o.Policy.plan(out.next, h.o.Now())
		}
		newDoc, err := out.next.encode()
		if err != nil {
			return outcome{}, err
		}
		_, saved, err := h.o.Store.SaveDialog(ctx, ti.tenant, ti.user, newDoc, rev)
		if err != nil {
			return outcome{}, err
		}
		if saved {
			h.queueReminder(ctx, ti, cur, out.next, due)
			h.count(ctx, ti, change)
			return out, nil
		}
	}
	return outcome{}, fmt.Errorf("dialog kept changing: gave up after %d attempts", maxCASAttempts)
}

// queueReminder puts the reminder the new state calls for in the queue, in
// place of the one the old state had; with none due, the old one goes.
func (h *Handler) queueReminder(ctx context.Context, ti turnInfo, cur, next *state, due time.Time) {
	if h.o.Reminders == nil {
		return
	}
	prev, want := "", ""
	if cur != nil && cur.Remind != nil {
		prev = reminderID(ti.tenant, ti.user, cur.ID, cur.Remind.Seq)
	}
	if next.active() && next.Remind != nil {
		want = reminderID(ti.tenant, ti.user, next.ID, next.Remind.Seq)
	}
	var err error
	switch {
	case want == prev:
		// The queued reminder still stands (its time barely moved).
	case !due.IsZero() && want != "":
		err = h.o.Reminders.ScheduleReminder(ctx, ti.user, want, prev, due)
	case prev != "":
		err = h.o.Reminders.CompleteReminder(ctx, ti.user, prev)
	}
	if err != nil {
		ti.log.WarnContext(ctx, "could not queue the reminder", "err", err)
	}
}

// valid reports whether in carries the reference of cur's current card.
func valid(cur *state, in input) bool {
	return in.ref == nil || (cur.active() && *in.ref == cur.ref())
}

// observe asks Graph what the decision about in needs, if anything.
func (h *Handler) observe(ctx context.Context, ti turnInfo, cur *state, in input) observation {
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
		switch cur.Step {
		case "open_page", "add_method", "install_app":
			need = !cur.SnapOK
		case "enter_number", "confirm_new":
			need = cur.New == nil
		case "delete_old":
			need = true
		}
	case cur.active() && in.ref != nil && in.verb == cards.VerbConfirmDelete && cur.Step == "delete_old" && h.o.AllowDelete:
		return h.deleteOld(ctx, ti, cur)
	}
	if !need {
		return observation{}
	}
	cctx, cancel := context.WithTimeout(ctx, h.o.CheckTimeout)
	defer cancel()
	methods, err := h.o.Directory.ListAuthenticatorMethods(cctx, ti.user)
	if err != nil {
		ti.log.WarnContext(ctx, "listing authenticator methods failed", "err", err)
	}
	return observation{asked: true, methods: methods, err: err}
}

// deleteOld deletes the old registrations on the user's behalf: only ids
// that Graph lists for this user right now, that the dialog recorded as
// old, and never the new phone's.
func (h *Handler) deleteOld(ctx context.Context, ti turnInfo, cur *state) observation {
	cctx, cancel := context.WithTimeout(ctx, h.o.CheckTimeout)
	defer cancel()
	methods, err := h.o.Directory.ListAuthenticatorMethods(cctx, ti.user)
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
		if err := h.o.Directory.DeleteAuthenticatorMethod(cctx, ti.user, old.ID); err != nil {
			return observation{asked: true, err: err, deleted: deleted}
		}
		deleted = append(deleted, old.ID)
		ti.log.InfoContext(ctx, "audit: authenticator method deleted by the bot at the user's request",
			"audit", true, "event", "authenticator_method_deleted", "tenant", ti.tenant, "user", ti.user,
			"method_id", old.ID, "device", old.Name)
	}
	methods, err = h.o.Directory.ListAuthenticatorMethods(cctx, ti.user)
	return observation{asked: true, methods: methods, err: err, deleted: deleted}
}

// decide is the state machine: from the current state (nil when the user
// has none), one input and what Graph said, the state to save and the card.
func (h *Handler) decide(cur *state, in input, obs observation, ti turnInfo) outcome {
	now := h.o.Now()
	loc := ti.loc
	if !valid(cur, in) {
		return outcome{card: h.stale(cur, ti), stale: true}
	}
	switch in.verb {
	case cards.VerbStart:
		if cur.active() {
			return outcome{card: h.resumeCard(cur, loc)}
		}
		return h.begin(now, obs, ti)
	case cards.VerbRestart:
		return h.begin(now, obs, ti)
	case cards.VerbResume:
		if !cur.active() {
			return outcome{card: cards.NoDialog(loc)}
		}
		return outcome{card: h.stepCard(cur, ti, "")}
	case cards.VerbStatus:
		if !cur.active() {
			return outcome{card: cards.NoDialog(loc)}
		}
		return outcome{card: h.statusCard(cur, loc)}
	case cards.VerbHelp:
		return outcome{card: cards.Help(loc)}
	case cards.VerbHelpdesk:
		return outcome{card: h.helpdeskForm(cur, loc)}
	case cards.VerbCancel:
		if !cur.active() {
			return outcome{card: cards.NoDialog(loc)}
		}
		next := cur.clone()
		next.Status = statusCancelled
		next.Checking = false
		next.record(now, "cancelled")
		return outcome{next: next, card: cards.Cancelled(loc)}
	case cards.VerbSnooze:
		if !cur.active() {
			return outcome{card: cards.NoDialog(loc)}
		}
		next := cur.clone()
		due, ok := h.o.Policy.snooze(next, now)
		if !ok {
			return outcome{card: cards.Snoozed(loc, cur.ref(), cards.Text(loc, "reminder.nosnooze"))}
		}
		next.record(now, "reminder put off")
		return outcome{next: next, card: cards.Snoozed(loc, next.ref(), cards.Text(loc, "reminder.snoozed")), due: due}
	case cards.VerbBotDelete:
		if !cur.active() || in.ref == nil || cur.Step != "delete_old" || !h.o.AllowDelete || len(cur.Old) == 0 {
			return h.show(cur, ti)
		}
		return outcome{card: cards.ConfirmBotDelete(loc, cur.ref(), h.devices(cur.Old, ti))}
	case cards.VerbNext, cards.VerbBack, cards.VerbLost, cards.VerbCheck, cards.VerbConfirmDelete, verbPollResult:
		if !cur.active() {
			return outcome{card: cards.NoDialog(loc)}
		}
		if in.ref == nil {
			// Moving needs the button of the current card.
			return outcome{card: h.stepCard(cur, ti, "")}
		}
		return h.move(cur, in.verb, obs, now, ti)
	default:
		return outcome{card: cards.Unknown(loc)}
	}
}

// show re-renders the current card, or says there is no dialog.
func (h *Handler) show(cur *state, ti turnInfo) outcome {
	if !cur.active() {
		return outcome{card: cards.NoDialog(ti.loc)}
	}
	return outcome{card: h.stepCard(cur, ti, "")}
}

// begin starts a new dialog at the first step, with the snapshot of the
// user's Authenticator registrations when Graph gave it.
func (h *Handler) begin(now time.Time, obs observation, ti turnInfo) outcome {
	s := &state{
		V: stateVersion, ID: newID(), Step: cards.StepIDs[0], Nonce: newID(),
		Status: statusActive, Locale: string(ti.loc), Started: now,
	}
	if obs.asked && obs.err == nil {
		s.takeSnapshot(obs.methods)
	} else if obs.err != nil {
		s.LastError = obs.err.Error()
	}
	s.record(now, "started")
	return outcome{next: s, card: h.stepCard(s, ti, "")}
}

// move handles the buttons that change the step.
func (h *Handler) move(cur *state, verb string, obs observation, now time.Time, ti turnInfo) outcome {
	next := cur.clone()
	next.Nonce = newID()
	next.Problem, next.ProblemArg = "", ""
	if obs.err != nil {
		next.LastError = obs.err.Error()
	}
	i := indexOf(cur.Step)
	switch {
	case verb == cards.VerbLost && cur.Step == "old_phone":
		next.Step = stepLost
		next.record(now, "old phone lost or broken")
		return outcome{next: next, card: h.stepCard(next, ti, ""), lost: true}
	case verb == cards.VerbBack && cur.Step == stepLost:
		next.Step = "old_phone"
	case verb == cards.VerbBack && i > 0:
		next.Step = cards.StepIDs[i-1]
		next.Checking = false
		if next.Step == "enter_number" {
			// Going back before the check means checking again.
			next.New, next.Old = nil, nil
		}
	case verb == cards.VerbBack || verb == cards.VerbLost:
		return outcome{card: h.stepCard(cur, ti, "")}

	// Leaving the sign-in step needs the snapshot of the registrations
	// as they were before the new phone is added.
	case (verb == cards.VerbNext || verb == cards.VerbCheck) && !cur.SnapOK && (cur.Step == "open_page" || cur.Step == "add_method" || cur.Step == "install_app"):
		if obs.err != nil || !obs.asked {
			next.Problem = problemKey(obs.err)
			next.record(now, "snapshot failed")
			return outcome{next: next, card: h.stepCard(next, ti, "")}
		}
		next.takeSnapshot(obs.methods)
		if verb == cards.VerbCheck {
			break // stay on the step, now able to go on
		}
		next.Step = cards.StepIDs[i+1]

	// The new registration: found by an id the snapshot lacked.
	case cur.Step == "enter_number" && verb == cards.VerbNext,
		cur.Step == "confirm_new" && cur.New == nil && (verb == cards.VerbNext || verb == cards.VerbCheck || verb == verbPollResult):
		next.Step = "confirm_new"
		return h.checkNew(next, obs, verb, now, ti)
	case cur.Step == "confirm_new" && verb == cards.VerbNext:
		if len(cur.Old) == 0 {
			next.Step = "remove_account"
			next.Problem = "old.none"
			next.record(now, "no old registration: deletion skipped")
			return outcome{next: next, card: h.stepCard(next, ti, "")}
		}
		next.Step = "delete_old"

	// The old registration: verified gone, and the new one still there.
	case cur.Step == "delete_old" && (verb == cards.VerbNext || verb == cards.VerbCheck || verb == cards.VerbConfirmDelete):
		return h.checkDeleted(next, obs, now, ti)

	case verb == cards.VerbNext && i == len(cards.StepIDs)-1:
		next.Status = statusDone
		next.record(now, "completed")
		return outcome{next: next, card: cards.Done(ti.loc, h.summary(next, now, ti.loc))}
	case verb == cards.VerbNext && i >= 0:
		next.Step = cards.StepIDs[i+1]
	default:
		return outcome{card: h.stepCard(cur, ti, "")}
	}
	next.record(now, verb)
	return outcome{next: next, card: h.stepCard(next, ti, "")}
}

// checkNew looks for a registration that was not in the snapshot.
func (h *Handler) checkNew(next *state, obs observation, verb string, now time.Time, ti turnInfo) outcome {
	next.Checking = false
	if !obs.asked {
		// Nothing was asked (a poll that timed out without an answer).
		next.Problem = "check.notfound"
		next.record(now, "new registration not found")
		return outcome{next: next, card: h.stepCard(next, ti, "")}
	}
	if obs.err != nil {
		next.Problem = problemKey(obs.err)
		next.record(now, "check failed")
		return outcome{next: next, card: h.stepCard(next, ti, "")}
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
			next.record(now, "new registration not found")
			return outcome{next: next, card: h.stepCard(next, ti, "")}
		}
		next.Checking = true
		next.record(now, "waiting for the new registration")
		return outcome{next: next, card: h.stepCard(next, ti, ""), poll: true}
	}
	next.New = &device{ID: found.ID, Name: found.DeviceName, Created: found.Created}
	next.Old = old
	next.record(now, "new registration found: "+found.DeviceName)
	return outcome{next: next, card: h.stepCard(next, ti, "")}
}

// checkDeleted verifies that the old registrations are gone and the new
// one is not.
func (h *Handler) checkDeleted(next *state, obs observation, now time.Time, ti turnInfo) outcome {
	if obs.err != nil || !obs.asked {
		next.Problem = problemKey(obs.err)
		next.record(now, "deletion check failed")
		return outcome{next: next, card: h.stepCard(next, ti, "")}
	}
	listed := map[string]bool{}
	for _, m := range obs.methods {
		listed[m.ID] = true
	}
	if next.New != nil && !listed[next.New.ID] {
		// The new phone was deleted by mistake: back to adding it, with a
		// fresh snapshot so that the next registration is recognised.
		next.Problem, next.ProblemArg = "delete.newgone", next.New.Name
		next.Step = "add_method"
		next.New, next.Old = nil, nil
		next.takeSnapshot(obs.methods)
		next.record(now, "new registration deleted by mistake")
		return outcome{next: next, card: h.stepCard(next, ti, "")}
	}
	var still []device
	for _, d := range next.Old {
		if listed[d.ID] {
			still = append(still, d)
		}
	}
	if len(still) > 0 {
		names := ""
		for i, d := range still {
			if i > 0 {
				names += "、"
			}
			names += d.Name
		}
		next.Problem, next.ProblemArg = "delete.still", names
		next.record(now, "old registration still present")
		return outcome{next: next, card: h.stepCard(next, ti, "")}
	}
	next.Step = "remove_account"
	next.Problem = "delete.ok"
	next.record(now, "old registration deleted")
	return outcome{next: next, card: h.stepCard(next, ti, "")}
}

// stale answers a press on an old or forged card with the current step.
func (h *Handler) stale(cur *state, ti turnInfo) cards.Card {
	if !cur.active() {
		return cards.NoDialogNotice(ti.loc, cards.Text(ti.loc, "stale.notice"))
	}
	return h.stepCard(cur, ti, cards.Text(ti.loc, "stale.notice"))
}

func (h *Handler) stepCard(s *state, ti turnInfo, notice string) cards.Card {
	loc := ti.loc
	ref := s.ref()
	if s.Step == stepLost {
		return cards.Lost(h.o.Content, loc, ref, s.Ticket)
	}
	v := cards.StepView{
		Ref: ref, Index: s.stepIndex(), Total: len(cards.StepIDs),
		Notice: notice, Checking: s.Checking,
	}
	if h.o.SecurityInfoURL != nil {
		v.SecurityInfoURL = h.o.SecurityInfoURL(ti.user)
	}
	if s.Problem != "" {
		if s.ProblemArg != "" {
			v.Problem = cards.Text(loc, s.Problem, s.ProblemArg)
		} else {
			v.Problem = cards.Text(loc, s.Problem)
		}
		v.Retry = s.Problem != "delete.ok" && s.Problem != "old.none" && s.Problem != "delete.newgone"
	}
	switch s.Step {
	case "confirm_new":
		if s.New != nil {
			v.Found = s.New.Name
		}
	case "delete_old":
		v.Devices = h.devices(s.Old, ti)
		v.BotDelete = h.o.AllowDelete && len(s.Old) > 0
	}
	return cards.Step(h.o.Content, loc, v)
}

func (h *Handler) devices(ds []device, ti turnInfo) []cards.Device {
	out := make([]cards.Device, 0, len(ds))
	for _, d := range ds {
		cd := cards.Device{Name: d.Name}
		if d.Created != nil {
			cd.Registered = d.Created.In(ti.tz).Format("2006-01-02")
		}
		out = append(out, cd)
	}
	return out
}

// reminderCard is the reminder for the dialog's current state.
func (h *Handler) reminderCard(s *state, ti turnInfo) cards.Card {
	v := cards.ReminderView{
		Ref: s.ref(), Index: s.stepIndex(), Total: len(cards.StepIDs),
		StepTitle: h.stepTitle(s.Step, ti.loc), Abandoned: s.New == nil,
		CanSnooze: s.Remind != nil && s.Remind.Snoozes < maxSnoozes,
	}
	if s.New != nil {
		v.OldDevices = h.devices(s.Old, ti)
	}
	return cards.Reminder(ti.loc, v)
}

func (h *Handler) resumeCard(s *state, loc cards.Locale) cards.Card {
	return cards.Resume(loc, s.ref(), s.stepIndex(), len(cards.StepIDs), h.stepTitle(s.Step, loc))
}

func (h *Handler) statusCard(s *state, loc cards.Locale) cards.Card {
	i := s.stepIndex()
	next := ""
	if s.Step != stepLost && i < len(cards.StepIDs) {
		next = h.stepTitle(cards.StepIDs[i], loc)
	}
	return cards.Status(loc, s.ref(), i, len(cards.StepIDs), h.stepTitle(s.Step, loc), next)
}

func (h *Handler) stepTitle(step string, loc cards.Locale) string {
	if step == stepLost {
		return cards.Text(loc, "lost.title")
	}
	if sc := h.o.Content.Step(step); sc != nil {
		return sc.Title.In(loc)
	}
	return step
}

func (h *Handler) summary(s *state, now time.Time, loc cards.Locale) cards.Summary {
	var titles []string
	for _, id := range cards.StepIDs {
		if id == "delete_old" && s.skippedDelete() {
			continue
		}
		titles = append(titles, h.stepTitle(id, loc))
	}
	sum := cards.Summary{StepTitles: titles, Took: now.Sub(s.Started)}
	if s.New != nil {
		sum.NewDevice = s.New.Name
	}
	for _, d := range s.Old {
		sum.OldDevices = append(sum.OldDevices, d.Name)
	}
	return sum
}

// newID returns a random identifier for dialogs and card nonces.
func newID() string {
	b := make([]byte, 9)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func tenantOf(a schema.Activity) string {
	if tenant, ok := a.ChannelData["tenant"].(map[string]any); ok {
		if id, ok := tenant["id"].(string); ok && id != "" {
			return id
		}
	}
	return a.Conversation.TenantID
}

// userOf keys state on the Entra object id, falling back to the channel's
// user id for channels that send none.
func userOf(a schema.Activity) string {
	if a.From.AadObjectID != "" {
		return a.From.AadObjectID
	}
	return a.From.ID
}
