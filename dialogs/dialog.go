package dialogs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
)

// Options configures a Handler. Store and Content are required.
type Options struct {
	Store   Store
	Content *cards.Content
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SecurityInfoURL replaces the security-info page of the content file
	// (the sandbox's page in local mode).
	SecurityInfoURL string
}

// Handler is the conversation: it answers messages, card actions and
// installation events, keeping each user's dialog in the Store.
type Handler struct {
	store   Store
	content *cards.Content
	now     func() time.Time
	secURL  string
}

// NewHandler returns the conversation handler. It does no I/O.
func NewHandler(o Options) *Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Handler{store: o.Store, content: o.Content, now: o.Now, secURL: o.SecurityInfoURL}
}

// input is one thing the user did: a typed command or a pressed button.
type input struct {
	verb string
	ref  *cards.Ref // nil for typed commands and buttons outside a dialog
}

// maxCASAttempts bounds the load-decide-save loop when turns of the same
// user race.
const maxCASAttempts = 4

// errNoUser is returned for an activity that names no user to key state on.
var errNoUser = errors.New("activity has no user id")

// OnMessage answers typed text, and Action.Submit data from clients that
// send card actions as messages.
func (h *Handler) OnMessage(ctx context.Context, t Turn) error {
	a := t.Incoming()
	loc := cards.LocaleFor(a.Locale)
	var in input
	if verb, ref, ok := actionFromValue(a.Value); ok {
		in = input{verb: verb, ref: ref}
	} else {
		in = input{verb: parseCommand(a.Text)}
	}
	card, err := h.handle(ctx, a, in)
	if err != nil {
		t.Logger().ErrorContext(ctx, "dialog turn failed", "err", err)
		card = nil
		_, serr := t.Send(ctx, schema.Activity{Type: schema.Message, Text: cards.Text(loc, "error.retry")})
		return serr
	}
	_, err = t.Send(ctx, cardActivity(card))
	return err
}

// OnInvoke answers an Action.Execute press with the card that replaces the
// pressed one.
func (h *Handler) OnInvoke(ctx context.Context, t Turn) (InvokeResult, error) {
	a := t.Incoming()
	loc := cards.LocaleFor(a.Locale)
	if a.Name != "adaptiveCard/action" {
		return InvokeResult{Text: cards.Text(loc, "unknown.text")}, nil
	}
	action, _ := a.Value["action"].(map[string]any)
	verb, ref, ok := actionFromValue(action)
	if !ok {
		verb, _ = action["verb"].(string)
	}
	card, err := h.handle(ctx, a, input{verb: verb, ref: ref})
	if err != nil {
		t.Logger().ErrorContext(ctx, "dialog turn failed", "err", err)
		return InvokeResult{Text: cards.Text(loc, "error.retry")}, nil
	}
	return InvokeResult{Card: card}, nil
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
			loc := cards.LocaleFor(a.Locale)
			_, err := t.Send(ctx, cardActivity(cards.Welcome(loc)))
			return err
		}
	}
	return nil
}

// OnInstallationUpdate is acknowledged; the welcome goes with the
// conversationUpdate that accompanies an installation.
func (h *Handler) OnInstallationUpdate(ctx context.Context, t Turn) error { return nil }

// handle runs one input through the user's dialog: load, decide, save with
// compare-and-set, retried when another turn of the same user won.
func (h *Handler) handle(ctx context.Context, a schema.Activity, in input) (cards.Card, error) {
	tenant, user := tenantOf(a), userOf(a)
	if user == "" {
		return nil, errNoUser
	}
	loc := cards.LocaleFor(a.Locale)
	for range maxCASAttempts {
		doc, rev, err := h.store.LoadDialog(ctx, tenant, user)
		if err != nil {
			return nil, err
		}
		var cur *state
		if doc != nil {
			if cur, err = decodeState(doc); err != nil {
				// An unreadable document is replaced rather than trapping
				// the user: the next start begins afresh.
				cur = nil
			}
		}
		next, card := h.decide(cur, in, loc)
		if next == nil {
			return card, nil
		}
		newDoc, err := next.encode()
		if err != nil {
			return nil, err
		}
		_, saved, err := h.store.SaveDialog(ctx, tenant, user, newDoc, rev)
		if err != nil {
			return nil, err
		}
		if saved {
			return card, nil
		}
	}
	return nil, fmt.Errorf("dialog of %s kept changing: gave up after %d attempts", user, maxCASAttempts)
}

// decide is the state machine: from the current state (nil when the user
// has none) and one input, the state to save (nil: unchanged) and the card
// to show.
func (h *Handler) decide(cur *state, in input, loc cards.Locale) (*state, cards.Card) {
	now := h.now()
	if in.ref != nil {
		if !cur.active() || *in.ref != cur.ref() {
			return nil, h.stale(cur, loc)
		}
	}
	switch in.verb {
	case cards.VerbStart:
		if cur.active() {
			return nil, h.resumeCard(cur, loc)
		}
		return h.begin(now, loc)
	case cards.VerbRestart:
		return h.begin(now, loc)
	case cards.VerbResume:
		if !cur.active() {
			return nil, cards.NoDialog(loc)
		}
		return nil, h.stepCard(cur, loc, "")
	case cards.VerbStatus:
		if !cur.active() {
			return nil, cards.NoDialog(loc)
		}
		return nil, h.statusCard(cur, loc)
	case cards.VerbHelp:
		return nil, cards.Help(loc)
	case cards.VerbHelpdesk:
		if !cur.active() {
			return nil, cards.HelpdeskInfo(h.content, loc, nil, "")
		}
		ref := cur.ref()
		return nil, cards.HelpdeskInfo(h.content, loc, &ref, h.stepTitle(cur.Step, loc))
	case cards.VerbCancel:
		if !cur.active() {
			return nil, cards.NoDialog(loc)
		}
		next := *cur
		next.Status = statusCancelled
		next.record(now, "cancelled")
		return &next, cards.Cancelled(loc)
	case cards.VerbNext, cards.VerbBack, cards.VerbLost:
		if !cur.active() {
			return nil, cards.NoDialog(loc)
		}
		if in.ref == nil {
			// Moving needs the button of the current card.
			return nil, h.stepCard(cur, loc, "")
		}
		return h.move(cur, in.verb, now, loc)
	default:
		return nil, cards.Unknown(loc)
	}
}

// begin starts a new dialog at the first step.
func (h *Handler) begin(now time.Time, loc cards.Locale) (*state, cards.Card) {
	s := &state{
		V: stateVersion, ID: newID(), Step: cards.StepIDs[0], Nonce: newID(),
		Status: statusActive, Locale: string(loc), Started: now,
	}
	s.record(now, "started")
	return s, h.stepCard(s, loc, "")
}

// move goes forward, back, or to the lost-phone path.
func (h *Handler) move(cur *state, verb string, now time.Time, loc cards.Locale) (*state, cards.Card) {
	next := *cur
	next.Timeline = slices.Clone(cur.Timeline)
	next.Nonce = newID()
	i := slices.Index(cards.StepIDs, cur.Step)
	switch {
	case verb == cards.VerbLost && cur.Step == "old_phone":
		next.Step = stepLost
		next.record(now, "old phone lost or broken")
		return &next, cards.Lost(h.content, loc, next.ref())
	case verb == cards.VerbBack && cur.Step == stepLost:
		next.Step = "old_phone"
	case verb == cards.VerbBack && i > 0:
		next.Step = cards.StepIDs[i-1]
	case verb == cards.VerbNext && i >= 0 && i == len(cards.StepIDs)-1:
		next.Status = statusDone
		next.record(now, "completed")
		return &next, cards.Done(loc, h.summary(&next, now, loc))
	case verb == cards.VerbNext && i >= 0:
		next.Step = cards.StepIDs[i+1]
	default:
		// A verb that does not apply here (lost outside old_phone, next on
		// the lost path, back on the first step): show the step again.
		return nil, h.stepCard(cur, loc, "")
	}
	next.record(now, verb)
	return &next, h.stepCard(&next, loc, "")
}

// stale answers a press on an old or forged card with the current step.
func (h *Handler) stale(cur *state, loc cards.Locale) cards.Card {
	if !cur.active() {
		return cards.NoDialogNotice(loc, cards.Text(loc, "stale.notice"))
	}
	return h.stepCard(cur, loc, cards.Text(loc, "stale.notice"))
}

func (h *Handler) stepCard(s *state, loc cards.Locale, notice string) cards.Card {
	if s.Step == stepLost {
		return cards.Lost(h.content, loc, s.ref())
	}
	return cards.Step(h.content, loc, cards.StepView{
		Ref: s.ref(), Index: s.stepIndex(), Total: len(cards.StepIDs),
		Notice: notice, SecurityInfoURL: h.secURL,
	})
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
	if sc := h.content.Step(step); sc != nil {
		return sc.Title.In(loc)
	}
	return step
}

func (h *Handler) summary(s *state, now time.Time, loc cards.Locale) cards.Summary {
	var titles []string
	for _, id := range cards.StepIDs {
		titles = append(titles, h.stepTitle(id, loc))
	}
	return cards.Summary{StepTitles: titles, Took: now.Sub(s.Started)}
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
