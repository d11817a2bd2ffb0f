package dialogs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// Store keeps one dialog document per user with a revision number, written
// only if the revision has not moved (compare-and-set).
type Store interface {
	// LoadDialog returns the user's document and revision; (nil, 0) if none.
	LoadDialog(ctx context.Context, tenant, user string) (doc []byte, rev int64, err error)
	// SaveDialog writes doc if the stored revision is still prevRev; saved
	// is false when another turn changed the dialog first.
	SaveDialog(ctx context.Context, tenant, user string, doc []byte, prevRev int64) (rev int64, saved bool, err error)
}

// reminderQueue is what a change of a dialog needs of the reminder queue:
// its queued reminder follows the dialog's.
type reminderQueue interface {
	ScheduleReminder(ctx context.Context, user, id, replaces string, due time.Time) error
	CompleteReminder(ctx context.Context, user, id string) error
}

// userKey names whose dialog it is.
type userKey struct{ tenant, user string }

// maxCASAttempts bounds the load-decide-save loop when turns of the same
// user race.
const maxCASAttempts = 4

// errNoUser is returned for an activity that names no user to key state on.
var errNoUser = errors.New("activity has no user id")

// dialogs is the one path by which a user's dialog changes, for every
// caller: a turn, a poll's result, the helpdesk, the reminder worker.
type dialogs struct {
	store Store
	queue reminderQueue // nil: no reminders
	stats *Stats        // nil: nothing counted
	now   func() time.Time
	seen  decodedCache
}

// load returns the user's dialog and its revision; nil when there is none
// or it cannot be read (an unreadable document is replaced rather than
// trapping the user: the next start begins afresh).
func (d *dialogs) load(ctx context.Context, k userKey, log *slog.Logger) (_ *state, _ int64, err error) {
	if k.user == "" {
		return nil, 0, errNoUser
	}
	var doc []byte
	var rev int64
	if p, _ := ctx.Value(preloadedKey{}).(*preloaded); p != nil && p.k == k && p.used.CompareAndSwap(false, true) {
		doc, rev = p.doc, p.rev
	} else if doc, rev, err = d.store.LoadDialog(ctx, k.tenant, k.user); err != nil {
		return nil, rev, err
	}
	if doc == nil {
		return nil, rev, nil
	}
	if st := d.seen.get(k, rev, doc); st != nil {
		return st, rev, nil
	}
	st, err := decodeState(doc)
	if err != nil {
		log.WarnContext(ctx, "dropping unreadable dialog state", "err", err)
		return nil, rev, nil
	}
	d.seen.put(k, rev, doc, st)
	return st, rev, nil
}

// update decides a change of the user's dialog and saves it: load, decode,
// decide, encode, compare-and-set, and from the load again when another
// turn saved first. decide gets the stored dialog (nil for none) and
// returns the dialog to save, or nil to save nothing; it may run several
// times and must not change cur. Once saved, the change has its effects:
// the funnel counts it and the queued reminder follows the dialog's.
// update returns the stored dialog decide saw last and the one saved (nil
// when nothing was).
func (d *dialogs) update(ctx context.Context, k userKey, log *slog.Logger, decide func(cur *state) (*state, error)) (cur, saved *state, err error) {
	for range maxCASAttempts {
		cur, rev, err := d.load(ctx, k, log)
		if err != nil {
			return nil, nil, err
		}
		next, err := decide(cur)
		if err != nil || next == nil {
			return cur, nil, err
		}
		change := funnel(cur, next, d.now())
		doc, err := next.encode()
		if err != nil {
			return cur, nil, err
		}
		saved, ok, err := d.save(ctx, k, doc, rev)
		if err != nil {
			return cur, nil, err
		}
		if ok {
			d.seen.put(k, saved, doc, next)
			d.queueReminder(ctx, k, log, cur, next)
			d.stats.count(ctx, change)
			return cur, next, nil
		}
	}
	return nil, nil, fmt.Errorf("dialog kept changing: gave up after %d attempts", maxCASAttempts)
}

// save writes the dialog by compare-and-set. In the turn of a card press
// whose answer the decision has chosen (the turn's record in ctx, for this
// user), the same write marks the turn's delivery record done with that
// answer (the stored outcome rides on the save's round trip).
func (d *dialogs) save(ctx context.Context, k userKey, doc []byte, rev int64) (int64, bool, error) {
	rec, _ := ctx.Value(turnRecordKey{}).(*turnRecord)
	fs, can := d.store.(finishingStore)
	if rec == nil || !can || rec.used || rec.k != k || rec.pending == nil {
		return d.store.SaveDialog(ctx, k.tenant, k.user, doc, rev)
	}
	saved, ok, finished, err := fs.SaveDialogFinishing(ctx, k.tenant, k.user, doc, rev, rec.key, rec.token, rec.stored, rec.ttl)
	if ok {
		rec.used = true
		if finished {
			rec.done(rec.pending)
		}
	}
	return saved, ok, err
}

// finishingStore is a Store that can save a dialog and mark the turn's
// delivery record done in one write.
type finishingStore interface {
	SaveDialogFinishing(ctx context.Context, tenant, user string, doc []byte, prevRev int64, recorded, token string, answer []byte, ttl time.Duration) (rev int64, saved, finished bool, err error)
}

// WithTurnRecord returns ctx carrying the delivery record of a card
// press's turn by (tenant, user): the key and token the protocol layer
// recorded it under, how long a done record is kept, what the done record
// holds (stored: for a card press, a mark that its answer is given again
// from the saved dialog, since a redelivered press answers from the state
// its first delivery saved and moves nothing), and whom to tell which card
// the save recorded as the answer (done). The turn's first save of that
// user's dialog marks the record done in the same write; the protocol
// layer then makes no write of its own unless the turn answers otherwise.
func WithTurnRecord(ctx context.Context, tenant, user, key, token string, ttl time.Duration, stored []byte, done func(card json.RawMessage)) context.Context {
	return context.WithValue(ctx, turnRecordKey{}, &turnRecord{
		k: userKey{tenant: tenant, user: user}, key: key, token: token, ttl: ttl, stored: stored, done: done,
	})
}

type turnRecordKey struct{}

// turnRecord is the record of the turn running in a context; a turn runs
// its decisions one after the other, so it needs no lock.
type turnRecord struct {
	k          userKey
	key, token string
	ttl        time.Duration
	stored     []byte
	done       func(card json.RawMessage)
	// pending is the card the turn's decision chose (set by handle before
	// the save); used says the record was marked by a save.
	pending json.RawMessage
	used    bool
}

// choose records the card a decision chose as the turn's answer, for the
// save that follows.
func choose(ctx context.Context, card json.RawMessage) {
	if rec, _ := ctx.Value(turnRecordKey{}).(*turnRecord); rec != nil && !rec.used {
		rec.pending = card
	}
}

// queueReminder makes the queue hold the reminder the saved dialog plans,
// in place of the one it planned before; with none planned, the old one
// goes. A failure is logged: the dialog is saved, and the worker drops a
// reminder that no longer matches its dialog.
func (d *dialogs) queueReminder(ctx context.Context, k userKey, log *slog.Logger, cur, next *state) {
	if d.queue == nil {
		return
	}
	prev, want := "", ""
	if cur != nil && cur.Remind != nil {
		prev = reminderID(k.tenant, k.user, cur.ID, cur.Remind.Seq)
	}
	if next.active() && next.Remind != nil {
		want = reminderID(k.tenant, k.user, next.ID, next.Remind.Seq)
	}
	var err error
	switch {
	case want == prev:
		// The queued reminder still stands (its time barely moved).
	case want != "":
		err = d.queue.ScheduleReminder(ctx, k.user, want, prev, next.Remind.Due)
	case prev != "":
		err = d.queue.CompleteReminder(ctx, k.user, prev)
	}
	if err != nil {
		log.WarnContext(ctx, "could not queue the reminder", "err", err)
	}
}

// WillLoad reports whose dialog the turn of activity a reads first, if any:
// a message or card press in a user's 1:1 chat.
func WillLoad(a schema.Activity) (tenant, user string, ok bool) {
	if (a.Type != schema.Message && a.Type != schema.Invoke) || !personal(a) {
		return "", "", false
	}
	user = userOf(a)
	return tenantOf(a), user, user != ""
}

// WithLoaded returns ctx carrying the dialog of (tenant, user) as it was
// just read, at rev (doc nil: none), with the turn's duplicate check: the
// turn's first load takes it instead of asking the store again. A load
// after a lost race asks the store.
func WithLoaded(ctx context.Context, tenant, user string, doc []byte, rev int64) context.Context {
	return context.WithValue(ctx, preloadedKey{}, &preloaded{k: userKey{tenant: tenant, user: user}, doc: doc, rev: rev})
}

type preloadedKey struct{}

type preloaded struct {
	k    userKey
	doc  []byte
	rev  int64
	used atomic.Bool
}

// decodedCache keeps the last dialog this replica read or wrote for each
// user, decoded: a user's next turn usually finds the document it left,
// and decoding it again was most of the cost of a load. An entry is used
// only for the same revision and the very same bytes, so a change made by
// another replica is always decoded. Dialogs in it are shared and never
// changed (update's deciders clone what they change).
type decodedCache struct {
	mu sync.Mutex
	m  map[userKey]decoded
}

type decoded struct {
	rev int64
	doc []byte
	st  *state
}

// maxDecoded bounds the cache (about 2 KB an entry); when full it starts
// afresh.
const maxDecoded = 1024

func (c *decodedCache) get(k userKey, rev int64, doc []byte) *state {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || e.rev != rev || !bytes.Equal(e.doc, doc) {
		return nil
	}
	return e.st
}

func (c *decodedCache) put(k userKey, rev int64, doc []byte, st *state) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxDecoded {
		c.m = make(map[userKey]decoded, 64)
	}
	c.m[k] = decoded{rev: rev, doc: doc, st: st}
}
