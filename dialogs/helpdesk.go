package dialogs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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
	// CountSubmission counts one helpdesk-form submission of the user and
	// returns how many there have been in the window per (this one too).
	CountSubmission(ctx context.Context, tenant, user string, per time.Duration) (int64, error)
}

// HelpdeskConnector is what the helpdesk needs of the Bot Connector: post
// and update the channel card, tell the user, and check membership.
type HelpdeskConnector interface {
	SendToConversation(ctx context.Context, serviceURL, conversationID string, a schema.Activity) (string, error)
	UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, a schema.Activity) (string, error)
	GetMember(ctx context.Context, serviceURL, conversationID, userID string) (schema.ChannelAccount, error)
}

// referenceLoader finds a user's 1:1 chat.
type referenceLoader interface {
	LoadReference(ctx context.Context, tenant, user string) ([]byte, error)
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

// HelpdeskOptions configures escalation to the helpdesk. Store, References,
// Connector, Directory and Dialogs are required.
type HelpdeskOptions struct {
	Store      HelpdeskStore
	References referenceLoader
	Connector  HelpdeskConnector
	Directory  Directory
	// Dialogs are the users' procedures: a ticket carries the dialog's
	// context, a lost phone's ticket is noted in it, and a Temporary
	// Access Pass resumes it.
	Dialogs *Conversation
	// Stats counts ticket events and open tickets, and answers 統計.
	Stats *Stats
	// Sweeps, when set, are the tenant sweep's jobs, which 棚卸し shows,
	// starts and stops (nil: 棚卸し is not known).
	Sweeps SweepJobs
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

// Helpdesk hands users to people: tickets with the user's context in a
// helpdesk channel, the agents' buttons on them, ヘルプデスク設定, 統計 and
// 棚卸し.
type Helpdesk struct {
	o    HelpdeskOptions
	conv *Conversation
	now  func() time.Time
}

// NewHelpdesk assembles the helpdesk. It does no I/O.
func NewHelpdesk(o HelpdeskOptions) *Helpdesk {
	return &Helpdesk{o: o, conv: o.Dialogs, now: o.Dialogs.o.Now}
}

// TicketEvent is what the webhook receives: no secrets.
type TicketEvent struct {
	Event    string    `json:"event"` // created, note_added, assigned, resolved, reopened, tap_issued, sessions_revoked, tap_deleted
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

// maxNote bounds a note from the helpdesk form, in characters.
const maxNote = 500

// maxNotes is how many notes a ticket keeps: the newest. With maxNote
// characters each, the ticket card stays far below Teams' size limit
// (cards.TestCardsAtTheirLargest); the card says how many were dropped.
const maxNotes = 20

// maxHistory is how many lines of the agents' history a ticket keeps.
const maxHistory = 50

// Helpdesk-form submissions are limited per user: maxSubmits in each
// submitWindow. One more is answered with the form again, filled in.
const (
	maxSubmits   = 5
	submitWindow = time.Minute
)

// submit opens a ticket from the reason form, or adds a note to the user's
// open one, and answers with the ticket number.
func (h *Helpdesk) submit(ctx context.Context, t Turn, ti turnInfo, act action) (answer, error) {
	reason, _ := act.data["reason"].(string)
	if cards.ReasonText(ti.loc, reason) == "" {
		reason = ""
	}
	note, _ := act.data["note"].(string)
	note = clip(strings.TrimSpace(note), maxNote)
	st, _, err := h.conv.dialogs.load(ctx, ti.userKey, ti.log)
	if err != nil {
		return answer{}, err
	}
	var ref *cards.Ref
	if st.active() {
		r := st.ref()
		ref = &r
	}
	// Too many in a short while: the form again, with the reason and the
	// note as sent, and nothing else changed. A count that cannot be
	// made lets the submission through (its ticket needs Redis anyway).
	if n, err := h.o.Store.CountSubmission(ctx, ti.tenant, ti.user, submitWindow); err != nil {
		ti.log.WarnContext(ctx, "helpdesk: submissions not counted", "err", err)
	} else if n > maxSubmits {
		ti.log.InfoContext(ctx, "helpdesk: form submission refused: too many", "count", n)
		return answer{card: render(cards.HelpdeskFormAgain(ti.loc, ref, cards.Text(ti.loc, "hd.ratelimited"), reason, note))}, nil
	}
	n, added, noChannel, err := h.openOrNote(ctx, ti, st, reason, note)
	if err != nil {
		return answer{}, err
	}
	return answer{card: render(cards.TicketReceived(h.conv.o.Content, ti.loc, n, added, noChannel, ref))}, nil
}

// afterLost opens the helpdesk ticket of a lost phone, notes its number in
// the dialog and shows it.
func (h *Helpdesk) afterLost(ctx context.Context, ti turnInfo, out outcome) json.RawMessage {
	if out.next == nil {
		return out.card
	}
	n, _, _, err := h.openOrNote(ctx, ti, out.next, "noold", "")
	if err != nil {
		ti.log.ErrorContext(ctx, "helpdesk: lost-phone ticket not opened", "err", err)
		return out.card
	}
	_, _, err = h.conv.dialogs.update(ctx, ti.userKey, ti.log, func(cur *state) (*state, error) {
		if cur == nil || cur.ID != out.next.ID {
			return nil, nil
		}
		next := cur.clone()
		next.Ticket = n
		return next, nil
	})
	if err != nil {
		ti.log.WarnContext(ctx, "helpdesk: the ticket number was not noted in the dialog", "err", err, "ticket", n)
	}
	return render(cards.Lost(h.conv.o.Content, ti.loc, out.next.ref(), n))
}

// Escalate opens a helpdesk ticket for a user whose old phone is still
// registered after the last reminder (REMINDER_ESCALATE).
func (h *Helpdesk) Escalate(ctx context.Context, tenant, user string) error {
	ti := turnInfo{userKey: userKey{tenant: tenant, user: user}, loc: cards.Japanese, tz: tokyo, log: slog.New(slog.DiscardHandler)}
	st, _, err := h.conv.dialogs.load(ctx, ti.userKey, ti.log)
	if err != nil {
		return err
	}
	if st != nil && st.Locale != "" {
		ti.loc = cards.Locale(st.Locale)
	}
	_, _, _, err = h.openOrNote(ctx, ti, st, "other", cards.Text(cards.Japanese, "hd.escalated"))
	return err
}

// openOrNote creates the user's ticket with its context, or adds a note to
// the open one; the channel card is posted or updated.
func (h *Helpdesk) openOrNote(ctx context.Context, ti turnInfo, st *state, reason, note string) (number int64, added, noChannel bool, err error) {
	store := h.o.Store
	now := h.now()
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
				if over := len(tk.Notes) - maxNotes; over > 0 {
					tk.Notes, tk.NotesDropped = slices.Clone(tk.Notes[over:]), tk.NotesDropped+over
				}
			}
			if st != nil {
				tk.Step = h.conv.stepTitle(st.Step, cards.Japanese)
				tk.Timeline = timelineLines(st)
			}
			return true
		})
		if err == nil && tk != nil {
			h.o.Stats.trackTicket(ctx, ti.log, tk)
			h.refreshCard(ctx, ti, tk)
			h.notify(ctx, "note_added", tk, "")
			return tk.Number, true, ch == nil, nil
		}
	}

	tk := &ticket{Status: ticketOpen, Tenant: ti.tenant, User: ti.user, Locale: string(ti.loc), Created: now}
	if reason != "" {
		tk.Reason = cards.ReasonText(cards.Japanese, reason)
	}
	tk.Lost = reason == "lost" || reason == "noold"
	if line != "" {
		tk.Notes = []string{line}
	}
	if st != nil {
		tk.Step = h.conv.stepTitle(st.Step, cards.Japanese)
		tk.Timeline = timelineLines(st)
		tk.LastError = problemText(st.LastError)
	}
	cctx, cancel := context.WithTimeout(ctx, h.conv.o.CheckTimeout)
	defer cancel()
	if u, err := h.o.Directory.GetUser(cctx, ti.user); err == nil {
		tk.UserName, tk.UPN = u.DisplayName, u.UPN
	} else {
		ti.log.WarnContext(ctx, "helpdesk: could not read the user's name", "err", err)
	}
	tk.Devices = h.devices(cctx, ti)
	if tk.Number, err = store.NextTicketNumber(ctx); err != nil {
		return 0, false, false, err
	}
	if ch != nil {
		a := cardActivity(cards.Ticket(h.view(tk)))
		a.Summary = cards.Text(cards.Japanese, "notify.ticket", tk.Number)
		if id, err := h.o.Connector.SendToConversation(ctx, ch.ServiceURL, ch.ConversationID, a); err != nil {
			ti.log.ErrorContext(ctx, "helpdesk: could not post the ticket to the channel", "err", err, "ticket", tk.Number)
		} else {
			tk.CardService, tk.CardConv, tk.CardID = ch.ServiceURL, ch.ConversationID, id
		}
	}
	doc, err := json.Marshal(tk)
	if err != nil {
		return 0, false, false, err
	}
	if _, _, err := store.SaveTicket(ctx, ti.tenant, ti.user, tk.Number, doc, 0, true); err != nil {
		return 0, false, false, err
	}
	h.o.Stats.trackTicket(ctx, ti.log, tk)
	ti.log.InfoContext(ctx, "helpdesk ticket opened", "ticket", tk.Number, "reason", tk.Reason)
	h.notify(ctx, "created", tk, "")
	return tk.Number, false, ch == nil, nil
}

// devices lists the user's credentials as Graph shows them now, by kind,
// for the ticket (a failure is said in words, never as raw error text; a
// kind the bot may not read is left out, and the log names the permission).
func (h *Helpdesk) devices(ctx context.Context, ti turnInfo) []string {
	l, err := h.o.Directory.ListMethods(ctx, ti.user, inventory...)
	if err != nil {
		ti.log.WarnContext(ctx, "helpdesk: could not list the user's registrations", "err", err)
		return []string{cards.Text(cards.Japanese, "hd.devices.unknown", agentProblem(err))}
	}
	logSkipped(ctx, ti, l)
	ms := l.Methods
	if len(ms) == 0 {
		return []string{cards.Text(cards.Japanese, "hd.devices.none")}
	}
	// Bounded as the card shows them: at most cards.MaxLines lines (the
	// last one saying how many more there are when they do not fit), each
	// name at most maxNote characters.
	out := make([]string, 0, min(len(ms), cards.MaxLines))
	for i, m := range ms {
		if i == cards.MaxLines-1 && len(ms) > cards.MaxLines {
			out = append(out, cards.Text(cards.Japanese, "more", len(ms)-i))
			break
		}
		d := clip(m.DeviceName, maxNote)
		if m.Created != nil {
			d = cards.Text(cards.Japanese, "hd.device.registered", d, m.Created.In(tokyo).Format("2006-01-02"))
		}
		out = append(out, cards.Text(cards.Japanese, "hd.cred."+string(m.kind()), d))
	}
	return out
}

// inventory is what the helpdesk's ticket lists of a user's credentials.
var inventory = []Kind{KindPush, KindPasskey, KindOtherPasskey, KindOath, KindPhone, KindTAP}

// clip cuts s to at most n characters.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

func timelineLines(st *state) []string {
	var out []string
	from := max(0, len(st.Timeline)-12)
	for _, e := range st.Timeline[from:] {
		out = append(out, time.Unix(e.At, 0).In(tokyo).Format("01/02 15:04")+" "+string(e.Step)+": "+e.What)
	}
	return out
}

// channel returns where tickets go, or nil when none is set up.
func (h *Helpdesk) channel(ctx context.Context) (*Channel, error) {
	if h.o.Channel != nil {
		return h.o.Channel, nil
	}
	b, err := h.o.Store.LoadHelpdeskChannel(ctx)
	if err != nil || b == nil {
		return nil, err
	}
	var ch Channel
	if err := json.Unmarshal(b, &ch); err != nil || ch.ConversationID == "" {
		return nil, nil
	}
	return &ch, nil
}

func (h *Helpdesk) notify(ctx context.Context, event string, tk *ticket, actor string) {
	h.o.Stats.ticketEvent(event)
	if h.o.Notify == nil {
		return
	}
	h.o.Notify(ctx, TicketEvent{
		Event: event, At: h.now(), Ticket: tk.Number, Status: tk.Status, Tenant: tk.Tenant, User: tk.User,
		UserName: tk.UserName, UPN: tk.UPN, Step: tk.Step, Reason: tk.Reason, Actor: actor,
	})
}

// errNoChat: the user's 1:1 chat is unknown (the app is not installed for
// them), so nothing can be sent to it.
var errNoChat = errors.New("no conversation reference for the user")

// userChat returns the conversation reference of the user's 1:1 chat.
func (h *Helpdesk) userChat(ctx context.Context, tenant, user string) (schema.ConversationReference, error) {
	var ref schema.ConversationReference
	b, err := h.o.References.LoadReference(ctx, tenant, user)
	if err != nil {
		return ref, err
	}
	if b == nil || json.Unmarshal(b, &ref) != nil || ref.Conversation.ID == "" {
		return ref, errNoChat
	}
	return ref, nil
}

// tellUser sends a to the user's 1:1 chat.
func (h *Helpdesk) tellUser(ctx context.Context, tenant, user string, a schema.Activity) error {
	ref, err := h.userChat(ctx, tenant, user)
	if err != nil {
		return err
	}
	_, err = h.o.Connector.SendToConversation(ctx, ref.ServiceURL, ref.Conversation.ID, a)
	return err
}

// authorized reports whether the activity's sender may act on tickets:
// a HELPDESK_ADMINS id, or a member of the helpdesk team (asked of the
// connector, cached).
func (h *Helpdesk) authorized(ctx context.Context, ti turnInfo, a schema.Activity, ch *Channel) bool {
	return h.admin(a) || h.member(ctx, ti, a, ch)
}

// admin reports whether the activity's sender is in HELPDESK_ADMINS.
func (h *Helpdesk) admin(a schema.Activity) bool {
	return a.From.AadObjectID != "" && slices.Contains(h.o.Admins, strings.ToLower(a.From.AadObjectID))
}

// member reports whether the activity's sender belongs to the team of ch
// (asked of the connector, cached).
func (h *Helpdesk) member(ctx context.Context, ti turnInfo, a schema.Activity, ch *Channel) bool {
	if ch == nil || a.From.ID == "" {
		return false
	}
	team := ch.TeamID
	if team == "" {
		team = ch.ConversationID
	}
	if m, known, err := h.o.Store.CachedMember(ctx, team, a.From.ID); err == nil && known {
		return m
	}
	_, err := h.o.Connector.GetMember(ctx, ch.ServiceURL, team, a.From.ID)
	member := err == nil
	if err != nil {
		ti.log.InfoContext(ctx, "helpdesk: membership not confirmed", "err", err, "from", a.From.ID)
	}
	if cerr := h.o.Store.CacheMember(ctx, team, a.From.ID, member, memberCacheTTL); cerr != nil {
		ti.log.WarnContext(ctx, "helpdesk: could not cache membership", "err", cerr)
	}
	return member
}

// audit writes who did what for whom to the user's audit stream and log.
func (h *Helpdesk) audit(ctx context.Context, ti turnInfo, event string, a schema.Activity, number int64) {
	fields := map[string]string{
		"event": event, "at": h.now().UTC().Format(time.RFC3339),
		"by": a.From.AadObjectID, "by_name": a.From.Name,
		"tenant": ti.tenant, "user": ti.user, "ticket": strconv.FormatInt(number, 10),
	}
	if err := h.o.Store.Audit(ctx, ti.tenant, ti.user, fields); err != nil {
		ti.log.ErrorContext(ctx, "audit entry not written", "err", err, "event", event)
	}
	ti.log.InfoContext(ctx, "audit: "+event, "audit", true, "event", event, "by", a.From.AadObjectID,
		"by_name", a.From.Name, "user", ti.user, "ticket", number)
}

// agentProblem says a failure in words for the helpdesk staff: the log
// has the error itself.
func agentProblem(err error) string {
	switch {
	case errors.Is(err, ErrDirectoryForbidden):
		return cards.Text(cards.Japanese, "hd.graph.forbidden")
	case errors.Is(err, ErrDirectoryThrottled):
		return cards.Text(cards.Japanese, "hd.graph.throttled")
	case errors.Is(err, errNoChat):
		return cards.Text(cards.Japanese, "hd.tap.nochat")
	}
	return cards.Text(cards.Japanese, "hd.graph.down")
}

// problemText is the words of a dialog's last problem for the ticket card
// (a catalog key; anything else was stored by an older version).
func problemText(key string) string {
	if key == "" {
		return ""
	}
	if !cards.Known(key) {
		key = "graph.down"
	}
	return cards.Text(cards.Japanese, key)
}

// setup handles ヘルプデスク設定 typed in a team channel. The first set-up
// (no channel yet) is for HELPDESK_ADMINS. Moving the channel is too: it
// moves the team whose members may issue Temporary Access Passes, so a
// member of today's team may not do it; they are told who can.
func (h *Helpdesk) setup(ctx context.Context, t Turn, ti turnInfo, _ action) (answer, error) {
	a := t.Incoming()
	say := func(key string) (answer, error) { return answer{text: cards.Text(ti.loc, key)}, nil }
	if h.o.Channel != nil {
		return say("hd.setup.env")
	}
	if a.Conversation.ConversationType != "channel" {
		return say("hd.setup.where")
	}
	cur, err := h.channel(ctx)
	if err != nil {
		return answer{}, err
	}
	ch := Channel{ServiceURL: a.ServiceURL, ConversationID: channelID(a), TeamID: teamID(a), Tenant: ti.tenant}
	if !h.admin(a) {
		if cur != nil && h.member(ctx, ti, a, cur) {
			ti.log.WarnContext(ctx, "helpdesk: refused to move the helpdesk channel: not in HELPDESK_ADMINS", "event", "helpdesk_channel_move_refused",
				"by", a.From.AadObjectID, "channel", cur.ConversationID, "requested_channel", ch.ConversationID, "requested_team", ch.TeamID)
			return say("hd.setup.admins")
		}
		ti.log.WarnContext(ctx, "helpdesk: refused ヘルプデスク設定 from a non-member", "from", a.From.ID, "aad", a.From.AadObjectID)
		return say("hd.denied")
	}
	b, err := json.Marshal(ch)
	if err != nil {
		return answer{}, err
	}
	if err := h.o.Store.SaveHelpdeskChannel(ctx, b); err != nil {
		return answer{}, err
	}
	attrs := []any{"audit", true, "event", "helpdesk_channel_set", "by", a.From.AadObjectID, "channel", ch.ConversationID, "team", ch.TeamID}
	if cur != nil {
		attrs = append(attrs, "previous_channel", cur.ConversationID)
	}
	ti.log.InfoContext(ctx, "audit: helpdesk channel set", attrs...)
	return say("hd.setup.done")
}

// stats answers 統計 (stats), typed in the helpdesk channel with the bot
// mentioned, or its card's 更新 button: the funnel of the last 7 and 30
// days and the open tickets, for helpdesk members only.
func (h *Helpdesk) stats(ctx context.Context, t Turn, ti turnInfo, _ action) (answer, error) {
	if !h.o.Stats.enabled() {
		return answer{text: cards.Text(ti.loc, "unknown.text")}, nil
	}
	refusal, ok, err := h.inHelpdeskChannel(ctx, ti, t.Incoming(), "hd.stats.where", "stats")
	if err != nil || !ok {
		return refusal, err
	}
	v, err := h.o.Stats.view(ctx, h.conv.stepTitles(cards.Japanese))
	if err != nil {
		return answer{}, err
	}
	return answer{card: render(cards.Stats(v))}, nil
}

// inHelpdeskChannel lets a helpdesk member act in the helpdesk channel: ok
// then; otherwise refusal is what the person is told, where it works (the
// catalog key where) or that it is for members only. what names the
// action in the log.
func (h *Helpdesk) inHelpdeskChannel(ctx context.Context, ti turnInfo, a schema.Activity, where, what string) (refusal answer, ok bool, err error) {
	elsewhere := answer{text: cards.Text(ti.loc, where)}
	if a.Conversation.ConversationType != "channel" {
		return elsewhere, false, nil
	}
	ch, err := h.channel(ctx)
	if err != nil {
		return answer{}, false, err
	}
	if ch == nil {
		return elsewhere, false, nil
	}
	if !h.authorized(ctx, ti, a, ch) {
		ti.log.WarnContext(ctx, "helpdesk: refused "+what+" to a non-member", "from", a.From.ID, "aad", a.From.AadObjectID)
		return answer{text: cards.Text(ti.loc, "hd.denied")}, false, nil
	}
	// Only in the helpdesk channel: another channel's members would see it.
	if here, want := channelID(a), strings.SplitN(ch.ConversationID, ";", 2)[0]; here != want {
		return elsewhere, false, nil
	}
	return answer{}, true, nil
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
