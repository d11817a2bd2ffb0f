package dialogs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
)

// Ticket statuses.
const (
	ticketOpen     = "open"
	ticketAssigned = "assigned"
	ticketResolved = "resolved"
)

// ticket is stored per user, hash-tagged, for 90 days.
type ticket struct {
	Number     int64    `json:"n"`
	Status     string   `json:"status"`
	Tenant     string   `json:"tenant"`
	User       string   `json:"user"`
	UserName   string   `json:"name,omitempty"`
	UPN        string   `json:"upn,omitempty"`
	Locale     string   `json:"loc,omitempty"`
	Step       string   `json:"step,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	Lost       bool     `json:"lost,omitempty"`
	Notes      []string `json:"notes,omitempty"`
	Timeline   []string `json:"tl,omitempty"`
	Devices    []string `json:"devices,omitempty"`
	LastError  string   `json:"lastError,omitempty"`
	Assignee   string   `json:"assignee,omitempty"`
	AssignedAt string   `json:"assignedAt,omitempty"`
	History    []string `json:"history,omitempty"`
	// Where the card is in the helpdesk channel, to update it in place.
	CardService string    `json:"cardService,omitempty"`
	CardConv    string    `json:"cardConv,omitempty"`
	CardID      string    `json:"cardId,omitempty"`
	Created     time.Time `json:"created"`

	// NotesDropped counts the older notes no longer kept (maxNotes).
	NotesDropped int `json:"notesDropped,omitempty"`
}

func (h *Helpdesk) view(tk *ticket) cards.TicketView {
	return cards.TicketView{
		Tenant: tk.Tenant, User: tk.User, Number: tk.Number, Status: tk.Status,
		UserName: tk.UserName, UPN: tk.UPN, Step: tk.Step, Reason: tk.Reason,
		Notes: tk.Notes, NotesDropped: tk.NotesDropped, Timeline: tk.Timeline, Devices: tk.Devices, LastError: tk.LastError,
		Locale: tk.Locale, Assignee: tk.Assignee, AssignedAt: tk.AssignedAt, History: tk.History,
		OfferTAP: h.o.TAPEnabled && tk.Lost, OfferRevoke: tk.Lost,
	}
}

// ticketTurn is an agent's press on a ticket card, once the agent is known
// to be a helpdesk member and the ticket has been found.
type ticketTurn struct {
	a      schema.Activity
	ti     turnInfo // the agent's
	user   turnInfo // the ticket's user
	data   map[string]any
	cur    ticket
	actor  string
	now    string // when, as the history says it
	number int64
}

// ticketChange is what an agent's action does to a ticket: the history
// line, the event for the webhook and audit, and what the user is told.
type ticketChange struct {
	event   string
	history string // catalog key, with the time and the actor
	tell    string // "" tells the user nothing
	apply   func(tk *ticket)
	audited bool // the action wrote its own audit entry
}

// ticketAction is one of the agents' buttons: it answers at once (answer)
// or changes the ticket (change).
type ticketAction func(h *Helpdesk, ctx context.Context, x *ticketTurn) (answer, *ticketChange, error)

// ticketActions are the agents' buttons on a ticket card, by verb.
var ticketActions = map[string]ticketAction{
	cards.VerbTicketView: func(h *Helpdesk, _ context.Context, x *ticketTurn) (answer, *ticketChange, error) {
		return answer{card: render(cards.Ticket(h.view(&x.cur)))}, nil, nil
	},
	cards.VerbTicketAssign: func(_ *Helpdesk, _ context.Context, x *ticketTurn) (answer, *ticketChange, error) {
		return answer{}, &ticketChange{
			event: "assigned", history: "hd.history.assigned",
			// The agent's display name is theirs to set: Plain, in the
			// user's chat as on the card.
			tell: cards.Text(x.user.loc, "hd.notify.assigned", x.cur.Number, cards.Plain(x.actor)),
			apply: func(tk *ticket) {
				tk.Status, tk.Assignee, tk.AssignedAt = ticketAssigned, x.actor, x.now
			},
		}, nil
	},
	cards.VerbTicketResolve: func(_ *Helpdesk, _ context.Context, x *ticketTurn) (answer, *ticketChange, error) {
		return answer{}, &ticketChange{
			event: "resolved", history: "hd.history.resolved",
			tell:  cards.Text(x.user.loc, "hd.notify.resolved", x.cur.Number),
			apply: func(tk *ticket) { tk.Status = ticketResolved },
		}, nil
	},
	cards.VerbTicketReopen: func(_ *Helpdesk, _ context.Context, x *ticketTurn) (answer, *ticketChange, error) {
		return answer{}, &ticketChange{
			event: "reopened", history: "hd.history.reopened",
			tell: cards.Text(x.user.loc, "hd.notify.reopened", x.cur.Number),
			apply: func(tk *ticket) {
				tk.Status = ticketOpen
				if tk.Assignee != "" {
					tk.Status = ticketAssigned
				}
			},
		}, nil
	},
	cards.VerbTicketTAP: func(h *Helpdesk, _ context.Context, x *ticketTurn) (answer, *ticketChange, error) {
		if !h.o.TAPEnabled || !x.cur.Lost {
			return answer{card: render(cards.Ticket(h.view(&x.cur)))}, nil, nil
		}
		return answer{card: render(cards.ConfirmTAP(h.view(&x.cur), h.tapMinutes()))}, nil, nil
	},
	cards.VerbTicketTAPGo: func(h *Helpdesk, ctx context.Context, x *ticketTurn) (answer, *ticketChange, error) {
		if !h.o.TAPEnabled || !x.cur.Lost {
			return answer{card: render(cards.Ticket(h.view(&x.cur)))}, nil, nil
		}
		if v, _ := x.data["verified"].(string); v != "true" {
			view := h.view(&x.cur)
			view.Notice = cards.Text(cards.Japanese, "hd.tap.verify")
			return answer{card: render(cards.ConfirmTAP(view, h.tapMinutes()))}, nil, nil
		}
		if err := h.issueTAP(ctx, x); err != nil {
			x.ti.log.ErrorContext(ctx, "helpdesk: TAP not issued", "err", err, "ticket", x.cur.Number)
			view := h.view(&x.cur)
			view.Notice = cards.Text(cards.Japanese, "hd.tap.failed", agentProblem(err))
			return answer{card: render(cards.Ticket(view))}, nil, nil
		}
		return answer{}, &ticketChange{event: "tap_issued", history: "hd.history.tap", audited: true}, nil
	},
	cards.VerbTicketRevoke: func(h *Helpdesk, _ context.Context, x *ticketTurn) (answer, *ticketChange, error) {
		return answer{card: render(cards.ConfirmRevoke(h.view(&x.cur)))}, nil, nil
	},
	cards.VerbTicketRevokeGo: func(h *Helpdesk, ctx context.Context, x *ticketTurn) (answer, *ticketChange, error) {
		cctx, cancel := context.WithTimeout(ctx, h.conv.o.CheckTimeout)
		err := h.o.Directory.RevokeSignInSessions(cctx, x.user.user)
		cancel()
		if err != nil {
			x.ti.log.ErrorContext(ctx, "helpdesk: sessions not revoked", "err", err, "ticket", x.cur.Number)
			view := h.view(&x.cur)
			view.Notice = cards.Text(cards.Japanese, "hd.revoke.failed", agentProblem(err))
			return answer{card: render(cards.Ticket(view))}, nil, nil
		}
		return answer{}, &ticketChange{
			event: "sessions_revoked", history: "hd.history.revoked",
			tell: cards.Text(x.user.loc, "hd.notify.revoked"),
		}, nil
	},
}

// onTicket runs an agent's button: only for helpdesk members, on a ticket
// that exists; a change is saved, audited, told to the user and the
// webhook, and the channel's card is updated in place for every member.
func (h *Helpdesk) onTicket(run ticketAction) func(ctx context.Context, t Turn, ti turnInfo, act action) (answer, error) {
	return func(ctx context.Context, t Turn, ti turnInfo, act action) (answer, error) {
		a := t.Incoming()
		tenant, _ := act.data["tenant"].(string)
		user, _ := act.data["user"].(string)
		number, _ := strconv.ParseInt(fmt.Sprint(act.data["ticket"]), 10, 64)
		ch, err := h.channel(ctx)
		if err != nil {
			return answer{}, err
		}
		if !h.authorized(ctx, ti, a, ch) {
			ti.log.WarnContext(ctx, "helpdesk: refused a ticket action from a non-member", "from", a.From.ID, "aad", a.From.AadObjectID, "verb", act.verb)
			return answer{text: cards.Text(ti.loc, "hd.denied")}, nil
		}
		doc, _, err := h.o.Store.LoadTicket(ctx, tenant, user, number)
		if err != nil {
			return answer{}, err
		}
		if doc == nil {
			return answer{text: cards.Text(ti.loc, "hd.ticket.notfound")}, nil
		}
		x := &ticketTurn{a: a, ti: ti, data: act.data, number: number, now: h.now().In(tokyo).Format("2006-01-02 15:04")}
		if err := json.Unmarshal(doc, &x.cur); err != nil {
			return answer{}, fmt.Errorf("decode ticket: %w", err)
		}
		x.actor = a.From.Name
		if x.actor == "" {
			x.actor = a.From.AadObjectID
		}
		x.user = turnInfo{userKey: userKey{tenant: tenant, user: user}, loc: cards.LocaleFor(x.cur.Locale), tz: tokyo, log: ti.log}
		ans, change, err := run(h, ctx, x)
		if err != nil || change == nil {
			return ans, err
		}
		return h.applyTicket(ctx, x, change)
	}
}

// applyTicket saves an agent's change of a ticket and tells everyone.
func (h *Helpdesk) applyTicket(ctx context.Context, x *ticketTurn, c *ticketChange) (answer, error) {
	line := cards.Text(cards.Japanese, c.history, x.now, x.actor)
	tk, err := h.updateTicket(ctx, x.user.tenant, x.user.user, x.number, func(tk *ticket) bool {
		if c.apply != nil {
			c.apply(tk)
		}
		tk.History = append(tk.History, line)
		if over := len(tk.History) - maxHistory; over > 0 {
			tk.History = slices.Clone(tk.History[over:])
		}
		return true
	})
	if err != nil || tk == nil {
		return answer{}, fmt.Errorf("update ticket %d: %w", x.number, err)
	}
	h.o.Stats.trackTicket(ctx, x.ti.log, tk)
	if !c.audited {
		h.audit(ctx, x.user, c.event, x.a, tk.Number)
	}
	if c.tell != "" {
		if err := h.tellUser(ctx, x.user.tenant, x.user.user, schema.Activity{Type: schema.Message, Text: c.tell}); err != nil {
			x.ti.log.WarnContext(ctx, "helpdesk: could not tell the user", "err", err, "ticket", tk.Number)
		}
	}
	h.notify(ctx, c.event, tk, x.actor)
	// The answer replaces the card for the agent who pressed; the update
	// makes sure every member of the channel sees who took it.
	h.refreshCard(ctx, x.ti, tk)
	return answer{card: render(cards.Ticket(h.view(tk)))}, nil
}

func (h *Helpdesk) tapMinutes() int { return int(h.o.TAPLifetime / time.Minute) }

// updateTicket applies change to a ticket with compare-and-set; change
// returns false to leave it unchanged. It returns the ticket as saved (or
// as found, when unchanged), nil when there is no such ticket.
func (h *Helpdesk) updateTicket(ctx context.Context, tenant, user string, number int64, change func(*ticket) bool) (*ticket, error) {
	store := h.o.Store
	for range maxCASAttempts {
		doc, rev, err := store.LoadTicket(ctx, tenant, user, number)
		if err != nil || doc == nil {
			return nil, err
		}
		var tk ticket
		if err := json.Unmarshal(doc, &tk); err != nil {
			return nil, fmt.Errorf("decode ticket: %w", err)
		}
		if !change(&tk) {
			return &tk, nil
		}
		b, err := json.Marshal(&tk)
		if err != nil {
			return nil, err
		}
		_, saved, err := store.SaveTicket(ctx, tenant, user, number, b, rev, tk.Status != ticketResolved)
		if err != nil {
			return nil, err
		}
		if saved {
			return &tk, nil
		}
	}
	return nil, errors.New("ticket kept changing")
}

// refreshCard updates the ticket's card in the helpdesk channel in place.
func (h *Helpdesk) refreshCard(ctx context.Context, ti turnInfo, tk *ticket) {
	if tk.CardID == "" {
		return
	}
	a := cardActivity(cards.Ticket(h.view(tk)))
	if _, err := h.o.Connector.UpdateActivity(ctx, tk.CardService, tk.CardConv, tk.CardID, a); err != nil {
		ti.log.WarnContext(ctx, "helpdesk: could not update the ticket card", "err", err, "ticket", tk.Number)
	}
}

// issueTAP creates a Temporary Access Pass, delivers it only in the
// user's 1:1 chat, and resumes the user's dialog at signing in (2.0 (1)).
// The pass is never logged, stored, or shown anywhere else.
func (h *Helpdesk) issueTAP(ctx context.Context, x *ticketTurn) error {
	ti := x.user
	ref, err := h.userChat(ctx, ti.tenant, ti.user)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, h.conv.o.CheckTimeout)
	pass, err := h.o.Directory.CreateTemporaryAccessPass(cctx, ti.user, h.o.TAPLifetime)
	cancel()
	if err != nil {
		return err
	}
	h.audit(ctx, ti, "tap_issued", x.a, x.cur.Number)

	var cardRef cards.Ref
	if st := h.resumeAtSignIn(ctx, ti); st != nil {
		cardRef = st.ref()
	}
	card := cards.TAPForUser(ti.loc, pass, h.tapMinutes(), cardRef)
	a := cardActivity(card)
	a.Summary = cards.Text(ti.loc, "notify.tap")
	if _, err := h.o.Connector.SendToConversation(ctx, ref.ServiceURL, ref.Conversation.ID, a); err != nil {
		return fmt.Errorf("deliver the pass to the user's chat: %w", err)
	}
	ti.log.InfoContext(ctx, "helpdesk: temporary access pass delivered to the user's 1:1 chat", "ticket", x.cur.Number, "by", x.actor)
	return nil
}

// noteTAPDeleted notes in a lost phone's ticket that the bot deleted the
// Temporary Access Pass once the new phone was verified, and updates the
// ticket's card in the channel.
func (h *Helpdesk) noteTAPDeleted(ctx context.Context, ti turnInfo, number int64) {
	line := cards.Text(cards.Japanese, "hd.history.tapdeleted", h.now().In(tokyo).Format("2006-01-02 15:04"))
	tk, err := h.updateTicket(ctx, ti.tenant, ti.user, number, func(tk *ticket) bool {
		tk.History = append(tk.History, line)
		if over := len(tk.History) - maxHistory; over > 0 {
			tk.History = slices.Clone(tk.History[over:])
		}
		return true
	})
	if err != nil || tk == nil {
		ti.log.WarnContext(ctx, "helpdesk: the pass's deletion was not noted in the ticket", "err", err, "ticket", number)
		return
	}
	h.notify(ctx, "tap_deleted", tk, "")
	h.refreshCard(ctx, ti, tk)
}

// resumeAtSignIn moves (or starts) the user's dialog at the step that
// takes the snapshot first: signing in to the security-info page, with
// the pass.
func (h *Helpdesk) resumeAtSignIn(ctx context.Context, ti turnInfo) *state {
	now := h.now()
	_, saved, err := h.conv.dialogs.update(ctx, ti.userKey, ti.log, func(cur *state) (*state, error) {
		var next *state
		if cur.active() {
			next = cur.clone()
		} else {
			next = &state{V: stateVersion, ID: newID(), Status: statusActive, Locale: string(ti.loc), Started: now}
		}
		next.Step, next.Nonce, next.Problem, next.ProblemArg = signIn(), newID(), "", ""
		// The pass is deleted once the new phone is verified.
		issued := now
		next.TAP = &issued
		next.record(now, "temporary access pass issued by the helpdesk")
		return next, nil
	})
	if err != nil {
		ti.log.WarnContext(ctx, "helpdesk: the dialog was not resumed at signing in", "err", err)
		return nil
	}
	return saved
}
