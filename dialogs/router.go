package dialogs

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
)

// Router is the conversation handler the bot calls: every typed message
// and card press goes through one table of verbs to the part that owns it
// (the procedure, the helpdesk), which says what to show; only the last
// step differs, a message's answer being sent and an invoke's returned as
// its HTTP answer.
type Router struct {
	conv   *Conversation
	help   *Helpdesk
	routes map[string]route
}

// action is what a person did: a typed command or a pressed button.
type action struct {
	verb string
	ref  *cards.Ref // the dialog card the button was on (nil: none)
	data map[string]any
}

// answer is what a turn shows: a card, or else a text. then, when set,
// runs once the answer has left, with the id of the message the answer
// replaced ("" when it went out as a new message).
type answer struct {
	card json.RawMessage
	text string
	then func(cardID string)
	// failed: the turn could not be handled; text says so politely.
	failed bool
}

// route is one verb's entry.
type route struct {
	// anywhere: also in channels and group chats; other verbs are for
	// the user's 1:1 chat only.
	anywhere bool
	run      func(ctx context.Context, t Turn, ti turnInfo, act action) (answer, error)
}

// NewRouter routes to the procedure and, when a helpdesk channel takes
// tickets (help not nil), to the helpdesk. It does no I/O.
func NewRouter(conv *Conversation, help *Helpdesk) *Router {
	r := &Router{conv: conv, help: help}
	r.routes = map[string]route{
		// The user's procedure: every verb it knows, and any other.
		"": {run: r.dialog},
	}
	if help == nil {
		unknown := route{anywhere: true, run: func(_ context.Context, _ Turn, ti turnInfo, _ action) (answer, error) {
			return answer{text: cards.Text(ti.loc, "unknown.text")}, nil
		}}
		r.routes[verbSetup], r.routes[cards.VerbStats] = unknown, unknown
		for verb := range ticketActions {
			r.routes[verb] = unknown
		}
		for verb := range sweepDeskActions {
			r.routes[verb] = unknown
		}
		r.routes[cards.VerbHelpdeskSubmit] = route{run: func(_ context.Context, _ Turn, ti turnInfo, _ action) (answer, error) {
			return answer{card: render(cards.HelpdeskInfo(conv.o.Content, ti.loc, nil, ""))}, nil
		}}
		return r
	}
	conv.tapDeleted = help.noteTAPDeleted
	r.routes[verbSetup] = route{anywhere: true, run: help.setup}
	r.routes[cards.VerbStats] = route{anywhere: true, run: help.stats}
	r.routes[cards.VerbHelpdeskSubmit] = route{run: help.submit}
	for verb, run := range ticketActions {
		r.routes[verb] = route{anywhere: true, run: help.onTicket(run)}
	}
	for verb, run := range sweepDeskActions {
		r.routes[verb] = route{anywhere: true, run: help.onSweepDesk(run)}
	}
	return r
}

// OnMessage answers typed text, and Action.Submit data from clients that
// send card actions as messages.
func (r *Router) OnMessage(ctx context.Context, t Turn) error {
	a := t.Incoming()
	ti := r.info(a, t.Logger())
	r.conv.remember(ctx, t, ti)
	act := action{verb: parseCommand(a.Text)}
	pressed := "" // the message of the card pressed (Action.Submit)
	if verb, ref, ok := actionFromValue(a.Value); ok {
		act = action{verb: verb, ref: ref, data: actionData(a.Value)}
		pressed = a.ReplyToID
	}
	ans := r.route(ctx, t, ti, act)
	if pressed != "" && ans.card != nil {
		// A press of Action.Submit: its answer replaces the pressed card,
		// as an Action.Execute press's does.
		err := t.Update(ctx, pressed, ans.activity())
		if err == nil {
			if ans.then != nil {
				ans.then(pressed)
			}
			return nil
		}
		ti.log.WarnContext(ctx, "could not update the pressed card in place; sending a new one", "err", err)
	}
	if _, err := t.Send(ctx, ans.activity()); err != nil {
		return err
	}
	if ans.then != nil {
		ans.then("")
	}
	return nil
}

// OnInvoke answers an Action.Execute press with the card that replaces the
// pressed one.
func (r *Router) OnInvoke(ctx context.Context, t Turn) (InvokeResult, error) {
	a := t.Incoming()
	ti := r.info(a, t.Logger())
	if a.Name != "adaptiveCard/action" {
		return InvokeResult{Text: cards.Text(ti.loc, "unknown.text")}, nil
	}
	raw, _ := a.Value["action"].(map[string]any)
	verb, ref, ok := actionFromValue(raw)
	if !ok {
		verb, _ = raw["verb"].(string)
	}
	ans := r.route(ctx, t, ti, action{verb: verb, ref: ref, data: actionData(raw)})
	if ans.then != nil {
		ans.then(a.ReplyToID)
	}
	return InvokeResult{Card: fit(ans.card), Text: ans.text, Failed: ans.failed}, nil
}

// OnConversationUpdate welcomes a user when the bot is added to their
// personal chat.
func (r *Router) OnConversationUpdate(ctx context.Context, t Turn) error {
	a := t.Incoming()
	if !personal(a) {
		return nil
	}
	for _, m := range a.MembersAdded {
		if m.ID == a.Recipient.ID {
			ti := r.info(a, t.Logger())
			r.conv.remember(ctx, t, ti)
			_, err := t.Send(ctx, cardActivity(cards.Welcome(ti.loc)))
			return err
		}
	}
	return nil
}

// OnInstallationUpdate keeps the conversation reference on install and
// forgets it on uninstall (no reminders to a chat the user removed). The
// welcome goes with the conversationUpdate that accompanies an install.
func (r *Router) OnInstallationUpdate(ctx context.Context, t Turn) error {
	a := t.Incoming()
	ti := r.info(a, t.Logger())
	if strings.HasPrefix(a.Action, "remove") {
		return r.conv.forget(ctx, ti)
	}
	r.conv.remember(ctx, t, ti)
	return nil
}

// info is what a decision needs of activity a, in the configured language
// when one is set.
func (r *Router) info(a schema.Activity, log *slog.Logger) turnInfo {
	ti := infoOf(a, log)
	if l := r.conv.o.Language; l != "" {
		ti.loc = l
	}
	return ti
}

// route finds the verb's entry and runs it; an error becomes the person's
// polite message.
func (r *Router) route(ctx context.Context, t Turn, ti turnInfo, act action) answer {
	rt, ok := r.routes[act.verb]
	if !ok {
		rt = r.routes[""]
	}
	if !rt.anywhere && !personal(t.Incoming()) {
		return answer{text: cards.Text(ti.loc, "hd.setup.where")}
	}
	ans, err := rt.run(ctx, t, ti, act)
	if err != nil {
		return fail(ctx, ti, act, err)
	}
	return ans
}

// fail turns an error into what the person is told, and logs it: the
// one place that chooses the words of a failure.
func fail(ctx context.Context, ti turnInfo, act action, err error) answer {
	ti.log.ErrorContext(ctx, "turn failed", "verb", act.verb, "err", err)
	return answer{text: cards.Text(ti.loc, "error.retry"), failed: true}
}

// dialog runs a verb of the user's procedure.
func (r *Router) dialog(ctx context.Context, t Turn, ti turnInfo, act action) (answer, error) {
	out, err := r.conv.handle(ctx, ti, input{verb: act.verb, ref: act.ref, data: act.data})
	if err != nil {
		return answer{}, err
	}
	if out.lost && r.help != nil {
		out.card = r.help.afterLost(ctx, ti, out)
	}
	ans := answer{card: out.card}
	if out.poll {
		waiting := out.next
		ans.then = func(cardID string) { r.conv.startPoll(ctx, t, ti, waiting, cardID) }
	}
	return ans, nil
}

// activity is the answer as a message.
func (a answer) activity() schema.Activity {
	if a.card != nil {
		return cardActivity(a.card)
	}
	return schema.Activity{Type: schema.Message, Text: a.text}
}
