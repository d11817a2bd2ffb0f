package dialogs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
)

// ReferenceStore keeps the conversation reference of each user's 1:1 chat:
// the address of reminders, ticket updates and a Temporary Access Pass.
type ReferenceStore interface {
	SaveReference(ctx context.Context, tenant, user string, ref []byte) error
	LoadReference(ctx context.Context, tenant, user string) ([]byte, error)
	DeleteReference(ctx context.Context, tenant, user string) error
}

// ConversationOptions configures a Conversation. Store, Content and
// Directory are required.
type ConversationOptions struct {
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
	// CheckTimeout bounds the Graph checks of one turn together, token
	// fetch included (default 3 s of Teams' 15 s): when Graph or Entra does
	// not answer, the turn still saves the dialog and answers with the
	// "could not check, 再確認" card well within its budget. Polling after
	// the acknowledgement has its own, longer limit.
	CheckTimeout time.Duration
	// PollFor bounds the wait for a new registration (default 2 min).
	PollFor time.Duration
	// PollEvery is the first pause between polls (default 2 s); pauses grow
	// by half each time, up to 15 s.
	PollEvery time.Duration
	// Leases holds the one poller per dialog across replicas (poll.go);
	// nil: within this process only.
	Leases Leases
	// References, when set, keeps the conversation reference of each
	// user's 1:1 chat (installs and typed messages), and forgets it on
	// uninstall.
	References ReferenceStore
	// Reminders, when set, queues a reminder by Policy after every change
	// of a dialog.
	Reminders reminderQueue
	Policy    ReminderPolicy
	// Stats counts the funnel (nil: nothing is counted).
	Stats *Stats
	// Helpdesk says that a helpdesk channel takes tickets: ヘルプデスクに相談
	// opens the reason form instead of saying how to reach the helpdesk.
	Helpdesk bool
	// Logger receives what happens outside a turn.
	Logger *slog.Logger
	// Language, when set, is the language of every answer, whatever the
	// activity's locale (BOT_LANGUAGE); "" follows the locale.
	Language cards.Locale
	// Sweeps, when set, records what users answer to the tenant sweep's
	// card.
	Sweeps SweepRecords
}

// Conversation is the procedure with one user: it moves the user's dialog
// through the steps of the procedure table on their typed commands and
// card presses, checking each result through the Directory.
type Conversation struct {
	o       ConversationOptions
	dialogs *dialogs
	steps   stepCards
	leases  Leases
	// tapDeleted, when set (the helpdesk), is told that the pass of a lost
	// phone's ticket was deleted, once the change is saved.
	tapDeleted func(ctx context.Context, ti turnInfo, ticket int64)
}

// NewConversation assembles the conversation. It does no I/O.
func NewConversation(o ConversationOptions) *Conversation {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 3 * time.Second
	}
	if o.PollFor <= 0 {
		o.PollFor = 2 * time.Minute
	}
	if o.PollEvery <= 0 {
		o.PollEvery = 2 * time.Second
	}
	d := &dialogs{store: o.Store, stats: o.Stats, now: o.Now}
	if o.Reminders != nil {
		d.queue = o.Reminders
	}
	c := &Conversation{o: o, dialogs: d, leases: o.Leases}
	if c.leases == nil {
		c.leases = &localLeases{}
	}
	return c
}

// input is one thing the user did: a typed command or a pressed button, or
// the result of a poll the bot ran.
type input struct {
	verb string
	ref  *cards.Ref // nil for typed commands and buttons outside a dialog
	// data is the pressed button's data with the card's inputs (the sweep
	// card's choice).
	data map[string]any
	// obs is what a finished poll saw; observe then asks Graph nothing.
	obs *observation
}

// verbPollResult is the internal input of a finished poll.
const verbPollResult = "pollresult"

// observation is what Graph said during this turn, if it was asked.
type observation struct {
	asked bool
	list  Listing
	err   error
	// deleted lists the ids the bot deleted in this turn.
	deleted []string
	// tapGone: the helpdesk's Temporary Access Pass of this dialog is no
	// longer listed (the bot deleted it once the new phone was found).
	tapGone bool
	// polling: Graph was not asked, since a poller already waits for the
	// new registration; the press answers with its waiting card.
	polling bool
}

// outcome is what a decision leads to.
type outcome struct {
	next  *state          // nil: nothing to save
	card  json.RawMessage // what the user sees
	poll  bool            // start polling Graph for the new registration
	stale bool            // the input came from an old or forged card
	// lost: the user just said the old phone is lost; a ticket is opened.
	lost bool
	// planned: the decision planned the reminder itself (あとで).
	planned bool
	// tapDeleted: the helpdesk's Temporary Access Pass of this dialog was
	// deleted (the new phone is verified).
	tapDeleted bool
	// sweepAction is what the turn means for the sweep that opened the
	// dialog (sweep.ActionStarted, sweep.ActionBothInUse), recorded once
	// the change is saved.
	sweepAction string
}

// turnInfo is what a decision needs to know of the activity.
type turnInfo struct {
	userKey
	activity string // activityDigest of the turn's activity
	loc      cards.Locale
	tz       *time.Location
	tzName   string // as Teams sent it; "" when unknown or invalid
	log      *slog.Logger
}

func infoOf(a schema.Activity, log *slog.Logger) turnInfo {
	ti := turnInfo{userKey: userKey{tenant: tenantOf(a), user: userOf(a)}, loc: cards.LocaleFor(a.Locale), tz: tokyo, log: log,
		activity: activityDigest(a.Conversation.ID, a.ID)}
	if tz := loadLocation(a.LocalTimezone); tz != nil {
		ti.tz, ti.tzName = tz, a.LocalTimezone
	}
	return ti
}

// handle runs one input through the user's dialog: ask Graph what the step
// needs, decide, and save through the one state path.
func (c *Conversation) handle(ctx context.Context, ti turnInfo, in input) (outcome, error) {
	if ti.user == "" {
		return outcome{}, errNoUser
	}
	var out outcome
	// The turn's Graph budget, shared by every attempt of the decision
	// (a lost compare-and-set decides again).
	gctx, cancel := context.WithTimeout(ctx, c.o.CheckTimeout)
	defer cancel()
	_, saved, err := c.dialogs.update(ctx, ti.userKey, ti.log, func(cur *state) (*state, error) {
		if in.obs == nil && ti.activity != "" && cur != nil && cur.By == ti.activity {
			// Teams redelivers an activity whose turn saved this state but
			// failed to answer: answer from the state, move nothing.
			out = c.again(cur, ti)
			return nil, nil
		}
		obs := c.observe(gctx, ti, cur, in)
		out = c.decide(cur, in, obs, ti)
		if out.next == nil {
			return nil, nil
		}
		if in.obs == nil {
			choose(ctx, out.card)
		}
		if in.obs == nil {
			out.next.By = ti.activity
		}
		if ti.tzName != "" {
			out.next.TZ = ti.tzName
		}
		if c.o.Reminders != nil && !out.planned {
			c.o.Policy.plan(out.next, c.o.Now())
		}
		return out.next, nil
	})
	if err != nil {
		return outcome{}, err
	}
	if out.tapDeleted && out.next != nil && out.next.Ticket != 0 && c.tapDeleted != nil {
		c.tapDeleted(ctx, ti, out.next.Ticket)
	}
	c.afterSweep(ctx, ti, saved, out.sweepAction)
	return out, nil
}

// remember keeps the conversation reference of a personal chat, the
// address of reminders. It is written on installs and typed messages; card
// presses come from the same chat, so rewriting it on each of them would
// only cost a Redis write per turn.
func (c *Conversation) remember(ctx context.Context, t Turn, ti turnInfo) {
	a := t.Incoming()
	if c.o.References == nil || ti.user == "" || !personal(a) || a.Type == schema.Invoke {
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
		err = c.o.References.SaveReference(ctx, ti.tenant, ti.user, b)
	}
	if err != nil {
		ti.log.WarnContext(ctx, "could not store the conversation reference", "err", err)
	}
}

// forget drops the reference of a user who removed the app: no reminders
// to a chat the user removed.
func (c *Conversation) forget(ctx context.Context, ti turnInfo) error {
	if c.o.References == nil || ti.user == "" {
		return nil
	}
	return c.o.References.DeleteReference(ctx, ti.tenant, ti.user)
}

// personal reports whether an activity comes from a 1:1 chat with the bot.
func personal(a schema.Activity) bool {
	return a.Conversation.ConversationType == "" || a.Conversation.ConversationType == "personal"
}

// tokyo is the default time zone of the company.
var tokyo = func() *time.Location {
	l, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		return time.FixedZone("JST", 9*3600)
	}
	return l
}()

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
