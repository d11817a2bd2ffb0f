package dialogs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
)

// HelpdeskStore keeps tickets, the helpdesk channel, the membership cache
// and the audit stream.
type HelpdeskStore interface {
	NextTicketNumber(ctx context.Context) (int64, error)
	SaveTicket(ctx context.Context, tenant, user string, number int64, doc []byte, prevRev int64, open bool) (int64, bool, error)
	LoadTicket(ctx context.Context, tenant, user string, number int64) ([]byte, int64, error)
	OpenTicket(ctx context.Context, tenant, user string) (int64, error)
	SaveHelpdeskChannel(ctx context.Context, doc []byte) error
	LoadHelpdeskChannel(ctx context.Context) ([]byte, error)
	CacheMember(ctx context.Context, team, user string, member bool, ttl time.Duration) error
	CachedMember(ctx context.Context, team, user string) (bool, bool, error)
	Audit(ctx context.Context, tenant, user string, fields map[string]string) error
	LoadReference(ctx context.Context, tenant, user string) ([]byte, error)
}

// HelpdeskConnector is what the helpdesk needs of the Bot Connector: post
// and update the channel card, tell the user, and check membership.
type HelpdeskConnector interface {
	SendToConversation(ctx context.Context, serviceURL, conversationID string, a schema.Activity) (string, error)
	UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, a schema.Activity) (string, error)
	GetMember(ctx context.Context, serviceURL, conversationID, userID string) (schema.ChannelAccount, error)
}

// Channel is where tickets go: a Teams channel.
type Channel struct {
	ServiceURL     string `json:"serviceUrl"`
	ConversationID string `json:"conversationId"`
	// TeamID is the team whose members may act on tickets (the channel's
	// conversation id when unknown).
	TeamID string `json:"teamId,omitempty"`
	Tenant string `json:"tenant,omitempty"`
	// FromEnv: set by HELPDESK_CONVERSATION_ID, not by ヘルプデスク設定.
	FromEnv bool `json:"-"`
}

// HelpdeskOptions configures escalation to the helpdesk.
type HelpdeskOptions struct {
	Store     HelpdeskStore
	Connector HelpdeskConnector
	// Channel, when set, is fixed by the environment; otherwise the one
	// stored by ヘルプデスク設定 is used.
	Channel *Channel
	// Admins are aadObjectIds allowed to act without being team members.
	Admins []string
	// TAPEnabled offers 一時アクセスパスを発行 on lost-phone tickets.
	TAPEnabled  bool
	TAPLifetime time.Duration
	// Notify receives ticket events (the webhook); it runs after the
	// turn and must never be given a pass.
	Notify func(ctx context.Context, e TicketEvent)
}

// TicketEvent is what the webhook receives: no secrets.
type TicketEvent struct {
	Event    string    `json:"event"` // created, note_added, assigned, resolved, reopened, tap_issued, sessions_revoked
	At       time.Time `json:"at"`
	Ticket   int64     `json:"ticket"`
	Status   string    `json:"status"`
	Tenant   string    `json:"tenant"`
	User     string    `json:"user"`
	UserName string    `json:"userName,omitempty"`
	UPN      string    `json:"upn,omitempty"`
	Step     string    `json:"step,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Actor    string    `json:"actor,omitempty"`
}

// memberCacheTTL is how long a membership answer is trusted.
const memberCacheTTL = 10 * time.Minute

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
}

func (tk *ticket) view(h *Handler) cards.TicketView {
	hd := h.o.Helpdesk
	return cards.TicketView{
		Tenant: tk.Tenant, User: tk.User, Number: tk.Number, Status: tk.Status,
		UserName: tk.UserName, UPN: tk.UPN, Step: tk.Step, Reason: tk.Reason,
		Notes: tk.Notes, Timeline: tk.Timeline, Devices: tk.Devices, LastError: tk.LastError,
		Locale: tk.Locale, Assignee: tk.Assignee, AssignedAt: tk.AssignedAt, History: tk.History,
		OfferTAP: hd != nil && hd.TAPEnabled && tk.Lost, OfferRevoke: tk.Lost,
	}
}

// helpdeskForm is what ヘルプデスクに相談 shows: the reason form.
func (h *Handler) helpdeskForm(cur *state, loc cards.Locale) cards.Card {
	if h.o.Helpdesk == nil {
		if !cur.active() {
			return cards.HelpdeskInfo(h.o.Content, loc, nil, "")
		}
		ref := cur.ref()
		return cards.HelpdeskInfo(h.o.Content, loc, &ref, h.stepTitle(cur.Step, loc))
	}
	if !cur.active() {
		return cards.HelpdeskForm(loc, nil)
	}
	ref := cur.ref()
	return cards.HelpdeskForm(loc, &ref)
}

// submitHelpdesk opens a ticket, or adds a note to the user's open one,
// and answers with the ticket number.
func (h *Handler) submitHelpdesk(ctx context.Context, ti turnInfo, t Turn, data map[string]any) (cards.Card, error) {
	reason, _ := data["reason"].(string)
	if cards.ReasonText(ti.loc, reason) == "" {
		reason = ""
	}
	note, _ := data["note"].(string)
	note = strings.TrimSpace(note)
	if len([]rune(note)) > 500 {
		note = string([]rune(note)[:500])
	}
	st, err := h.loadState(ctx, ti)
	if err != nil {
		return nil, err
	}
	n, added, noChannel, err := h.openOrNote(ctx, ti, st, reason, note)
	if err != nil {
		return nil, err
	}
	var ref *cards.Ref
	if st.active() {
		r := st.ref()
		ref = &r
	}
	return cards.TicketReceived(h.o.Content, ti.loc, n, added, noChannel, ref), nil
}

func (h *Handler) loadState(ctx context.Context, ti turnInfo) (*state, error) {
	doc, _, err := h.o.Store.LoadDialog(ctx, ti.tenant, ti.user)
	if err != nil || doc == nil {
		return nil, err
	}
	st, err := decodeState(doc)
	if err != nil {
		return nil, nil
	}
	return st, nil
}

// openOrNote creates the user's ticket with its context, or adds a note to
// the open one; the channel card is posted or updated.
func (h *Handler) openOrNote(ctx context.Context, ti turnInfo, st *state, reason, note string) (number int64, added, noChannel bool, err error) {
	hd := h.o.Helpdesk
	store := hd.Store
	now := h.o.Now()
	line := ""
	if reason != "" {
		line = cards.ReasonText(cards.Japanese, reason)
	}
	if note != "" {
		if line != "" {
			line += ": "
		}
		line += note
	}
	if line != "" {
		line = now.In(tokyo).Format("01/02 15:04") + " " + line
	}

	open, err := store.OpenTicket(ctx, ti.tenant, ti.user)
	if err != nil {
		return 0, false, false, err
	}
	ch, err := h.channel(ctx)
	if err != nil {
		return 0, false, false, err
	}
	if open > 0 {
		tk, err := h.updateTicket(ctx, ti.tenant, ti.user, open, func(tk *ticket) bool {
			if line != "" {
				tk.Notes = append(tk.Notes, line)
			}
			if st != nil {
				tk.Step = h.stepTitle(st.Step, cards.Japanese)
				tk.Timeline = timelineLines(st)
			}
			return true
		})
		if err == nil && tk != nil {
			h.trackTicket(ctx, ti, tk)
			h.refreshCard(ctx, ti, tk)
			h.notify(ctx, "note_added", tk, "")
			return tk.Number, true, ch == nil, nil
		}
	}

	tk := &ticket{Status: "open", Tenant: ti.tenant, User: ti.user, Locale: string(ti.loc), Created: now}
	if reason != "" {
		tk.Reason = cards.ReasonText(cards.Japanese, reason)
	}
	tk.Lost = reason == "lost" || reason == "noold"
	if line != "" {
		tk.Notes = []string{line}
	}
	if st != nil {
		tk.Step = h.stepTitle(st.Step, cards.Japanese)
		tk.Timeline = timelineLines(st)
		tk.LastError = st.LastError
	}
	cctx, cancel := context.WithTimeout(ctx, h.o.CheckTimeout)
	defer cancel()
	if u, err := h.o.Directory.GetUser(cctx, ti.user); err == nil {
		tk.UserName, tk.UPN = u.DisplayName, u.UPN
	} else {
		ti.log.WarnContext(ctx, "helpdesk: could not read the user's name", "err", err)
	}
	if ms, err := h.o.Directory.ListAuthenticatorMethods(cctx, ti.user); err == nil {
		for _, m := range ms {
			d := m.DeviceName
			if m.Created != nil {
				d += "(登録日 " + m.Created.In(tokyo).Format("2006-01-02") + ")"
			}
			tk.Devices = append(tk.Devices, d)
		}
		if len(ms) == 0 {
			tk.Devices = []string{"(なし)"}
		}
	} else {
		tk.Devices = []string{"(取得できませんでした: " + err.Error() + ")"}
	}
	if tk.Number, err = store.NextTicketNumber(ctx); err != nil {
		return 0, false, false, err
	}
	if ch != nil {
		a := cardActivity(cards.Ticket(tk.view(h)))
		if id, err := hd.Connector.SendToConversation(ctx, ch.ServiceURL, ch.ConversationID, a); err != nil {
			ti.log.ErrorContext(ctx, "helpdesk: could not post the ticket to the channel", "err", err, "ticket", tk.Number)
		} else {
			tk.CardService, tk.CardConv, tk.CardID = ch.ServiceURL, ch.ConversationID, id
		}
	}
	doc, _ := json.Marshal(tk)
	if _, _, err := store.SaveTicket(ctx, ti.tenant, ti.user, tk.Number, doc, 0, true); err != nil {
		return 0, false, false, err
	}
	h.trackTicket(ctx, ti, tk)
	ti.log.InfoContext(ctx, "helpdesk ticket opened", "ticket", tk.Number, "reason", tk.Reason)
	h.notify(ctx, "created", tk, "")
	return tk.Number, false, ch == nil, nil
}

func timelineLines(st *state) []string {
	var out []string
	from := max(0, len(st.Timeline)-12)
	for _, e := range st.Timeline[from:] {
		out = append(out, time.Unix(e.At, 0).In(tokyo).Format("01/02 15:04")+" "+e.Step+": "+e.What)
	}
	return out
}

// channel returns where tickets go, or nil when none is set up.
func (h *Handler) channel(ctx context.Context) (*Channel, error) {
	hd := h.o.Helpdesk
	if hd.Channel != nil {
		return hd.Channel, nil
	}
	b, err := hd.Store.LoadHelpdeskChannel(ctx)
	if err != nil || b == nil {
		return nil, err
	}
	var ch Channel
	if err := json.Unmarshal(b, &ch); err != nil || ch.ConversationID == "" {
		return nil, nil
	}
	return &ch, nil
}

// updateTicket applies change to a ticket with compare-and-set; change
// returns false to leave it unchanged. It returns the ticket as saved (or
// as found, when unchanged), nil when there is no such ticket.
func (h *Handler) updateTicket(ctx context.Context, tenant, user string, number int64, change func(*ticket) bool) (*ticket, error) {
	store := h.o.Helpdesk.Store
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
		b, _ := json.Marshal(&tk)
		_, saved, err := store.SaveTicket(ctx, tenant, user, number, b, rev, tk.Status != "resolved")
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
func (h *Handler) refreshCard(ctx context.Context, ti turnInfo, tk *ticket) {
	if tk.CardID == "" {
		return
	}
	a := cardActivity(cards.Ticket(tk.view(h)))
	if _, err := h.o.Helpdesk.Connector.UpdateActivity(ctx, tk.CardService, tk.CardConv, tk.CardID, a); err != nil {
		ti.log.WarnContext(ctx, "helpdesk: could not update the ticket card", "err", err, "ticket", tk.Number)
	}
}

func (h *Handler) notify(ctx context.Context, event string, tk *ticket, actor string) {
	h.o.Observer.TicketEvent(ticketMetric(event))
	if h.o.Helpdesk.Notify == nil {
		return
	}
	h.o.Helpdesk.Notify(ctx, TicketEvent{
		Event: event, At: h.o.Now(), Ticket: tk.Number, Status: tk.Status, Tenant: tk.Tenant, User: tk.User,
		UserName: tk.UserName, UPN: tk.UPN, Step: tk.Step, Reason: tk.Reason, Actor: actor,
	})
}

// tellUser sends text to the user's 1:1 chat.
func (h *Handler) tellUser(ctx context.Context, ti turnInfo, tenant, user string, a schema.Activity) error {
	hd := h.o.Helpdesk
	b, err := hd.Store.LoadReference(ctx, tenant, user)
	if err != nil {
		return err
	}
	var ref schema.ConversationReference
	if b == nil || json.Unmarshal(b, &ref) != nil || ref.Conversation.ID == "" {
		return errors.New("no conversation reference for the user")
	}
	_, err = hd.Connector.SendToConversation(ctx, ref.ServiceURL, ref.Conversation.ID, a)
	return err
}

// authorized reports whether the activity's sender may act on tickets:
// a HELPDESK_ADMINS id, or a member of the helpdesk team (asked of the
// connector, cached).
func (h *Handler) authorized(ctx context.Context, ti turnInfo, a schema.Activity, ch *Channel) bool {
	hd := h.o.Helpdesk
	if a.From.AadObjectID != "" && slices.Contains(hd.Admins, a.From.AadObjectID) {
		return true
	}
	if ch == nil || a.From.ID == "" {
		return false
	}
	team := ch.TeamID
	if team == "" {
		team = ch.ConversationID
	}
	if m, known, err := hd.Store.CachedMember(ctx, team, a.From.ID); err == nil && known {
		return m
	}
	_, err := hd.Connector.GetMember(ctx, ch.ServiceURL, team, a.From.ID)
	member := err == nil
	if err != nil {
		ti.log.InfoContext(ctx, "helpdesk: membership not confirmed", "err", err, "from", a.From.ID)
	}
	if cerr := hd.Store.CacheMember(ctx, team, a.From.ID, member, memberCacheTTL); cerr != nil {
		ti.log.WarnContext(ctx, "helpdesk: could not cache membership", "err", cerr)
	}
	return member
}

// onTicketAction handles a helpdesk agent's button on a ticket card.
func (h *Handler) onTicketAction(ctx context.Context, t Turn, ti turnInfo, verb string, data map[string]any) (InvokeResult, error) {
	a := t.Incoming()
	hd := h.o.Helpdesk
	if hd == nil {
		return InvokeResult{Text: cards.Text(ti.loc, "unknown.text")}, nil
	}
	tenant, _ := data["tenant"].(string)
	user, _ := data["user"].(string)
	number, _ := strconv.ParseInt(fmt.Sprint(data["ticket"]), 10, 64)
	ch, err := h.channel(ctx)
	if err != nil {
		return InvokeResult{}, err
	}
	if !h.authorized(ctx, ti, a, ch) {
		ti.log.WarnContext(ctx, "helpdesk: refused a ticket action from a non-member", "from", a.From.ID, "aad", a.From.AadObjectID, "verb", verb)
		return InvokeResult{Text: cards.Text(ti.loc, "hd.denied")}, nil
	}
	doc, _, err := hd.Store.LoadTicket(ctx, tenant, user, number)
	if err != nil {
		return InvokeResult{}, err
	}
	if doc == nil {
		return InvokeResult{Text: "チケットが見つかりません(90 日を過ぎたものは削除されます)。"}, nil
	}
	var cur ticket
	json.Unmarshal(doc, &cur)
	actor := a.From.Name
	if actor == "" {
		actor = a.From.AadObjectID
	}
	now := h.o.Now().In(tokyo).Format("2006-01-02 15:04")
	userTI := turnInfo{tenant: tenant, user: user, loc: cards.LocaleFor(cur.Locale), tz: tokyo, log: ti.log}

	var event, tell string
	var change func(*ticket) bool
	switch verb {
	case cards.VerbTicketView:
		return InvokeResult{Card: cards.Ticket(cur.view(h))}, nil
	case cards.VerbTicketAssign:
		event, tell = "assigned", cards.Text(userTI.loc, "hd.notify.assigned", cur.Number, actor)
		change = func(tk *ticket) bool {
			tk.Status, tk.Assignee, tk.AssignedAt = "assigned", actor, now
			tk.History = append(tk.History, now+" "+actor+" が担当")
			return true
		}
	case cards.VerbTicketResolve:
		event, tell = "resolved", cards.Text(userTI.loc, "hd.notify.resolved", cur.Number)
		change = func(tk *ticket) bool {
			tk.Status = "resolved"
			tk.History = append(tk.History, now+" "+actor+" が解決済みに")
			return true
		}
	case cards.VerbTicketReopen:
		event, tell = "reopened", cards.Text(userTI.loc, "hd.notify.reopened", cur.Number)
		change = func(tk *ticket) bool {
			tk.Status = "open"
			if tk.Assignee != "" {
				tk.Status = "assigned"
			}
			tk.History = append(tk.History, now+" "+actor+" が再オープン")
			return true
		}
	case cards.VerbTicketTAP:
		if !hd.TAPEnabled || !cur.Lost {
			return InvokeResult{Card: cards.Ticket(cur.view(h))}, nil
		}
		return InvokeResult{Card: cards.ConfirmTAP(cur.view(h), int(hd.TAPLifetime/time.Minute))}, nil
	case cards.VerbTicketTAPGo:
		if !hd.TAPEnabled || !cur.Lost {
			return InvokeResult{Card: cards.Ticket(cur.view(h))}, nil
		}
		if v, _ := data["verified"].(string); v != "true" {
			view := cur.view(h)
			view.Notice = "本人確認を行ったことを確認欄でチェックしてから発行してください。"
			return InvokeResult{Card: cards.ConfirmTAP(view, int(hd.TAPLifetime/time.Minute))}, nil
		}
		if err := h.issueTAP(ctx, userTI, &cur, a, actor); err != nil {
			view := cur.view(h)
			view.Notice = "一時アクセスパスを発行できませんでした: " + plainGraphProblem(err)
			ti.log.ErrorContext(ctx, "helpdesk: TAP not issued", "err", err, "ticket", cur.Number)
			return InvokeResult{Card: cards.Ticket(view)}, nil
		}
		event = "tap_issued"
		change = func(tk *ticket) bool {
			tk.History = append(tk.History, now+" "+actor+" が一時アクセスパスを発行(ユーザーの 1:1 チャットにのみ送信)")
			return true
		}
	case cards.VerbTicketRevoke:
		return InvokeResult{Card: cards.ConfirmRevoke(cur.view(h))}, nil
	case cards.VerbTicketRevokeGo:
		cctx, cancel := context.WithTimeout(ctx, h.o.CheckTimeout)
		err := h.o.Directory.RevokeSignInSessions(cctx, user)
		cancel()
		if err != nil {
			view := cur.view(h)
			view.Notice = "サインアウトできませんでした: " + plainGraphProblem(err)
			ti.log.ErrorContext(ctx, "helpdesk: sessions not revoked", "err", err, "ticket", cur.Number)
			return InvokeResult{Card: cards.Ticket(view)}, nil
		}
		h.audit(ctx, userTI, "sessions_revoked", a, cur.Number)
		event, tell = "sessions_revoked", cards.Text(userTI.loc, "hd.notify.revoked")
		change = func(tk *ticket) bool {
			tk.History = append(tk.History, now+" "+actor+" がすべてのセッションをサインアウト")
			return true
		}
	default:
		return InvokeResult{Card: cards.Ticket(cur.view(h))}, nil
	}
	tk, err := h.updateTicket(ctx, tenant, user, number, change)
	if err != nil || tk == nil {
		return InvokeResult{}, fmt.Errorf("update ticket %d: %w", number, err)
	}
	h.trackTicket(ctx, ti, tk)
	if event != "tap_issued" {
		h.audit(ctx, userTI, event, a, tk.Number)
	}
	if tell != "" {
		if err := h.tellUser(ctx, ti, tenant, user, schema.Activity{Type: schema.Message, Text: tell}); err != nil {
			ti.log.WarnContext(ctx, "helpdesk: could not tell the user", "err", err, "ticket", tk.Number)
		}
	}
	h.notify(ctx, event, tk, actor)
	// The answer replaces the card for the agent who pressed; the update
	// makes sure every member of the channel sees who took it.
	h.refreshCard(ctx, ti, tk)
	return InvokeResult{Card: cards.Ticket(tk.view(h))}, nil
}

// issueTAP creates a Temporary Access Pass, delivers it only in the
// user's 1:1 chat, and resumes the user's dialog at signing in (2.0 (1)).
// The pass is never logged, stored, or shown anywhere else.
func (h *Handler) issueTAP(ctx context.Context, ti turnInfo, tk *ticket, a schema.Activity, actor string) error {
	hd := h.o.Helpdesk
	b, err := hd.Store.LoadReference(ctx, ti.tenant, ti.user)
	if err != nil || b == nil {
		return errors.New("the user's 1:1 chat is unknown (the app is not installed for them)")
	}
	var ref schema.ConversationReference
	if err := json.Unmarshal(b, &ref); err != nil || ref.Conversation.ID == "" {
		return errors.New("the user's 1:1 chat is unknown")
	}
	cctx, cancel := context.WithTimeout(ctx, h.o.CheckTimeout)
	pass, err := h.o.Directory.CreateTemporaryAccessPass(cctx, ti.user, hd.TAPLifetime)
	cancel()
	if err != nil {
		return err
	}
	h.audit(ctx, ti, "tap_issued", a, tk.Number)

	// Resume the user's dialog at 2.0 (1), signing in with the pass.
	st := h.resumeAtSignIn(ctx, ti)
	var cardRef cards.Ref
	if st != nil {
		cardRef = st.ref()
	}
	card := cards.TAPForUser(ti.loc, pass, int(hd.TAPLifetime/time.Minute), cardRef)
	if _, err := hd.Connector.SendToConversation(ctx, ref.ServiceURL, ref.Conversation.ID, cardActivity(card)); err != nil {
		return fmt.Errorf("deliver the pass to the user's chat: %w", err)
	}
	ti.log.InfoContext(ctx, "helpdesk: temporary access pass delivered to the user's 1:1 chat", "ticket", tk.Number, "by", actor)
	return nil
}

// resumeAtSignIn moves (or starts) the user's dialog at the sign-in step.
func (h *Handler) resumeAtSignIn(ctx context.Context, ti turnInfo) *state {
	now := h.o.Now()
	for range maxCASAttempts {
		doc, rev, err := h.o.Store.LoadDialog(ctx, ti.tenant, ti.user)
		if err != nil {
			return nil
		}
		var cur *state
		if doc != nil {
			cur, _ = decodeState(doc)
		}
		var next *state
		if cur.active() {
			next = cur.clone()
		} else {
			next = &state{V: stateVersion, ID: newID(), Status: statusActive, Locale: string(ti.loc), Started: now}
		}
		next.Step, next.Nonce, next.Problem, next.ProblemArg = "open_page", newID(), "", ""
		next.record(now, "temporary access pass issued by the helpdesk")
		change := funnel(cur, next, now)
		b, _ := next.encode()
		_, saved, err := h.o.Store.SaveDialog(ctx, ti.tenant, ti.user, b, rev)
		if err != nil {
			return nil
		}
		if saved {
			h.count(ctx, ti, change)
			return next
		}
	}
	return nil
}

// audit writes who did what for whom to the user's audit stream and log.
func (h *Handler) audit(ctx context.Context, ti turnInfo, event string, a schema.Activity, number int64) {
	fields := map[string]string{
		"event": event, "at": h.o.Now().UTC().Format(time.RFC3339),
		"by": a.From.AadObjectID, "by_name": a.From.Name,
		"tenant": ti.tenant, "user": ti.user, "ticket": strconv.FormatInt(number, 10),
	}
	if err := h.o.Helpdesk.Store.Audit(ctx, ti.tenant, ti.user, fields); err != nil {
		ti.log.ErrorContext(ctx, "audit entry not written", "err", err, "event", event)
	}
	ti.log.InfoContext(ctx, "audit: "+event, "audit", true, "event", event, "by", a.From.AadObjectID,
		"by_name", a.From.Name, "user", ti.user, "ticket", number)
}

// plainGraphProblem says a Graph failure in words for the agent.
func plainGraphProblem(err error) string {
	switch {
	case errors.Is(err, ErrDirectoryForbidden):
		return "ボットに Graph の権限がありません(UserAuthenticationMethod.ReadWrite.All / User.RevokeSessions.All と管理者の同意が必要です)。"
	case errors.Is(err, ErrDirectoryThrottled):
		return "Graph が混み合っています。少し待ってからもう一度。"
	}
	return err.Error()
}

// setupHelpdesk handles ヘルプデスク設定 typed in a team channel.
func (h *Handler) setupHelpdesk(ctx context.Context, t Turn, ti turnInfo) error {
	a := t.Incoming()
	hd := h.o.Helpdesk
	reply := func(text string) error {
		_, err := t.Send(ctx, schema.Activity{Type: schema.Message, Text: text})
		return err
	}
	if hd == nil {
		return reply(cards.Text(ti.loc, "unknown.text"))
	}
	if hd.Channel != nil {
		return reply(cards.Text(ti.loc, "hd.setup.env"))
	}
	if a.Conversation.ConversationType != "channel" {
		return reply(cards.Text(ti.loc, "hd.setup.where"))
	}
	cur, err := h.channel(ctx)
	if err != nil {
		return err
	}
	if !h.authorized(ctx, ti, a, cur) {
		ti.log.WarnContext(ctx, "helpdesk: refused ヘルプデスク設定 from a non-member", "from", a.From.ID, "aad", a.From.AadObjectID)
		return reply(cards.Text(ti.loc, "hd.denied"))
	}
	ch := Channel{ServiceURL: a.ServiceURL, ConversationID: channelID(a), TeamID: teamID(a), Tenant: ti.tenant}
	b, _ := json.Marshal(ch)
	if err := hd.Store.SaveHelpdeskChannel(ctx, b); err != nil {
		return err
	}
	ti.log.InfoContext(ctx, "audit: helpdesk channel set", "audit", true, "event", "helpdesk_channel_set",
		"by", a.From.AadObjectID, "channel", ch.ConversationID, "team", ch.TeamID)
	return reply(cards.Text(ti.loc, "hd.setup.done"))
}

// channelID is the channel a message came from, without the thread suffix.
func channelID(a schema.Activity) string {
	if c, ok := a.ChannelData["channel"].(map[string]any); ok {
		if id, _ := c["id"].(string); id != "" {
			return id
		}
	}
	id, _, _ := strings.Cut(a.Conversation.ID, ";")
	return id
}

func teamID(a schema.Activity) string {
	if t, ok := a.ChannelData["team"].(map[string]any); ok {
		if id, _ := t["id"].(string); id != "" {
			return id
		}
	}
	return ""
}
