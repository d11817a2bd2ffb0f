package dialogs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/sweep"
)

// SweepCards keeps each sweep's card in the helpdesk channel
// (redisstore.Store): a lease, so that one replica at a time looks after a
// job's card, and a small document saying where the card is and what it
// shows.
type SweepCards interface {
	// ActiveSweeps lists the running jobs.
	ActiveSweeps(ctx context.Context) ([]string, error)
	// TakeSweepCard takes or renews owner's lease on job id's card for
	// lease and returns its document (nil: no card yet); ok is false when
	// another owner holds the lease.
	TakeSweepCard(ctx context.Context, id, owner string, lease time.Duration) (doc []byte, ok bool, err error)
	// SaveSweepCard writes the document while owner holds the lease; false
	// when it no longer does.
	SaveSweepCard(ctx context.Context, id, owner string, doc []byte) (bool, error)
}

// SweepProgressOptions configures SweepProgress. Cards is required.
type SweepProgressOptions struct {
	Cards SweepCards
	// Owner names this replica in the cards' leases (default: random).
	Owner string
	// Tick is how often the cards are looked at (default 2 s).
	Tick time.Duration
	// Every is the least time between two updates of a card while its job
	// runs (default 10 s); the update that shows the end is not held back.
	Every time.Duration
	// Lease is how long a replica looks after a card without renewing
	// (default 30 s): a replica that stops hands the card on after it.
	Lease time.Duration
	// Recent is how long after its end a job is still looked at (default
	// 24 h): one that ended while no replica ran gets its summary then.
	Recent time.Duration
	// Logger receives what goes wrong (nothing is shown to anyone).
	Logger *slog.Logger
	// Now is the clock (default: the helpdesk's).
	Now func() time.Time
}

// SweepProgress keeps one card per sweep in the helpdesk channel: posted
// once when the job is first seen, updated in place while its counts
// change (at most every Every), and updated a last time, without waiting,
// into the job's summary when it ends (candidates, completed, declined,
// still open, why it failed). Every replica runs one: a lease per job lets
// one replica at a time post or update the card, and the card's activity id
// is kept in Redis, so that a restarted replica or another one updates the
// same card. Without a helpdesk channel it does nothing.
//
// A replica that dies between posting the card and writing down its id
// leaves a card that is never updated, and the next owner posts another:
// a duplicate card rather than a missing one.
type SweepProgress struct {
	h   *Helpdesk
	o   SweepProgressOptions
	loc cards.Locale
}

// sweepCard is where a job's card is and what it shows, as SweepCards
// keeps it.
type sweepCard struct {
	ServiceURL   string `json:"s,omitempty"`
	Conversation string `json:"c,omitempty"`
	ActivityID   string `json:"a,omitempty"`
	// Posted: the card was posted (ActivityID is "" when the connector gave
	// it no id, and it cannot be updated then).
	Posted bool `json:"p,omitempty"`
	// Shown is what the card shows (progressShown), At when it was last
	// posted or updated (Unix ms).
	Shown string `json:"shown,omitempty"`
	At    int64  `json:"at,omitempty"`
	// Final: the card shows the job's end; nothing more is done with it.
	Final bool `json:"final,omitempty"`
}

// progressJobs is how many of the newest jobs are looked at besides the
// running ones (a paused job is not running, and one just ended is not).
const progressJobs = 5

// NewSweepProgress assembles the cards of the sweeps of h's channel, in
// the conversation's language (Japanese unless one is configured, as the
// helpdesk's other channel cards). It does no I/O.
func NewSweepProgress(h *Helpdesk, o SweepProgressOptions) *SweepProgress {
	if o.Owner == "" {
		o.Owner = newID()
	}
	if o.Tick <= 0 {
		o.Tick = 2 * time.Second
	}
	if o.Every <= 0 {
		o.Every = 10 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Recent <= 0 {
		o.Recent = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = h.now
	}
	loc := h.conv.o.Language
	if loc == "" {
		loc = cards.Japanese
	}
	return &SweepProgress{h: h, o: o, loc: loc}
}

// Run looks after the cards every Tick until ctx ends. Run it in every
// replica.
func (p *SweepProgress) Run(ctx context.Context) error {
	t := time.NewTicker(p.o.Tick)
	defer t.Stop()
	for {
		if err := p.RunOnce(ctx); err != nil && ctx.Err() == nil {
			p.o.Logger.WarnContext(ctx, "sweep progress: cards not brought up to date", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce brings the card of every job it finds up to date, as far as this
// replica holds their leases: the running jobs, and the newest ones that
// are paused or ended within Recent. A card that cannot be posted or
// updated is logged and tried again next time.
func (p *SweepProgress) RunOnce(ctx context.Context) error {
	h := p.h
	if h.o.Sweeps == nil {
		return nil
	}
	ch, err := h.channel(ctx)
	if err != nil || ch == nil {
		return err
	}
	jobs, err := p.jobs(ctx)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if err := p.tend(ctx, ch, j); err != nil {
			p.o.Logger.WarnContext(ctx, "sweep progress: card not brought up to date", "job", j.ID, "err", err)
		}
	}
	return nil
}

// jobs are the jobs whose cards may need posting or updating.
func (p *SweepProgress) jobs(ctx context.Context) ([]sweep.Job, error) {
	newest, err := p.h.o.Sweeps.Sweeps(ctx, progressJobs)
	if err != nil {
		return nil, err
	}
	active, err := p.o.Cards.ActiveSweeps(ctx)
	if err != nil {
		return nil, err
	}
	now := p.o.Now()
	var out []sweep.Job
	for _, j := range newest {
		if !sweep.Final(j.State) || now.Sub(j.Ended) <= p.o.Recent {
			out = append(out, j)
		}
	}
	for _, id := range active {
		if slices.ContainsFunc(newest, func(j sweep.Job) bool { return j.ID == id }) {
			continue
		}
		j, err := p.h.o.Sweeps.LoadSweep(ctx, id)
		if err != nil {
			return out, err
		}
		out = append(out, j)
	}
	return out, nil
}

// tend posts job j's card in ch, or updates it, when this replica holds
// its lease and what it would show changed: at once at the job's end,
// otherwise no sooner than Every after the last time.
func (p *SweepProgress) tend(ctx context.Context, ch *Channel, j sweep.Job) error {
	doc, ok, err := p.o.Cards.TakeSweepCard(ctx, j.ID, p.o.Owner, p.o.Lease)
	if err != nil || !ok {
		return err
	}
	var c sweepCard
	if doc != nil {
		if err := json.Unmarshal(doc, &c); err != nil {
			return fmt.Errorf("decode the sweep's card: %w", err)
		}
	}
	final, shown, now := sweep.Final(j.State), progressShown(j), p.o.Now()
	switch {
	case c.Final, c.Posted && c.Shown == shown:
		return nil
	case c.Posted && c.ActivityID == "" && !final:
		return nil // cannot be updated; the end gets a card of its own
	case c.Posted && c.ActivityID != "" && !final && now.Sub(time.UnixMilli(c.At)) < p.o.Every:
		return nil
	}
	a := cardActivity(cards.SweepJob(p.loc, jobView(j), ""))
	a.Summary = cards.Text(p.loc, "notify.sweepdesk", j.ID, cards.SweepStateText(p.loc, j.State))
	con := p.h.o.Connector
	if c.ActivityID != "" {
		if _, err := con.UpdateActivity(ctx, c.ServiceURL, c.Conversation, c.ActivityID, a); err != nil {
			return fmt.Errorf("update the sweep's card: %w", err)
		}
	} else {
		id, err := con.SendToConversation(ctx, ch.ServiceURL, ch.ConversationID, a)
		if err != nil {
			return fmt.Errorf("post the sweep's card: %w", err)
		}
		c.ServiceURL, c.Conversation, c.ActivityID, c.Posted = ch.ServiceURL, ch.ConversationID, id, true
	}
	c.Shown, c.At, c.Final = shown, now.UnixMilli(), final
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	saved, err := p.o.Cards.SaveSweepCard(ctx, j.ID, p.o.Owner, b)
	if err != nil {
		return err
	}
	if !saved {
		p.o.Logger.WarnContext(ctx, "sweep progress: the card's lease ran out before its id was kept", "job", j.ID, "activity", c.ActivityID)
	}
	return nil
}

// progressShown is what a job's card shows, to tell whether it changed:
// the state and every count (the card shows no clock).
func progressShown(j sweep.Job) string {
	return fmt.Sprintf("%s|%t|%q|%+v", j.State, j.Listed, j.Error, j.Counts)
}
