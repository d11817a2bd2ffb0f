package dialogs

import (
	"context"
	"sync"
	"time"
)

// One poller per dialog. A press of 次へ at the new-device check that
// finds nothing new sets the dialog's Checking and starts a poller, which
// asks Graph for the new registration after the acknowledgement, with
// growing pauses and typing indicators, then saves what it saw through the
// state path and updates the card in place.
//
// The poller holds a lease keyed on the dialog (Leases: a Redis key under
// the user's hash tag, so it holds across replicas). The turn that starts
// the poller takes it before the turn ends, so that the next press, on any
// replica, finds it taken; if it is taken already, no second poller
// starts. While it is held and the dialog is Checking, a press at the
// check answers with the waiting card and changes nothing: no Graph call,
// no save, no new poller (observe's one extra Redis read is made only for
// a dialog that is Checking, never on the ordinary turn path).
//
// Before each typing indicator and before each Graph call, the poller
// renews the lease and re-reads the dialog. It stops, releasing the lease,
// when the lease is no longer its own or the dialog is no longer the same
// dialog at the same step with Checking set (中止, 戻る, 最初から, or a
// result saved by a press); so after 中止 it sends no typing indicator and
// makes no Graph call once the pause or call in progress ends. A poller
// whose replica died holds the lease for at most pollLeaseTTL; after that
// a press checks Graph itself and starts a new poller.

// Leases are short exclusive claims in the shared store, one per name of
// a user's, each held by an owner token until released or its TTL runs
// out; renewing and releasing compare the owner first.
type Leases interface {
	TryLease(ctx context.Context, tenant, user, name, owner string, ttl time.Duration) (bool, error)
	RenewLease(ctx context.Context, tenant, user, name, owner string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, tenant, user, name, owner string) error
	LeaseHeld(ctx context.Context, tenant, user, name string) (bool, error)
}

// pollLeaseTTL is how long a poller's lease lasts after each renewal: it
// renews before every pause (at most maxPause) and every Graph call (at
// most graphCallTimeout), with a margin for Redis and the scheduler.
const pollLeaseTTL = maxPause + graphCallTimeout + 15*time.Second

// maxPause is the longest pause between two polls.
const maxPause = 15 * time.Second

// leaseOpTimeout bounds the release of a lease, made with a context that
// outlives the poll's.
const leaseOpTimeout = 5 * time.Second

// pollLease names the lease of the poller of dialog id.
func pollLease(dialogID string) string { return "poll:" + dialogID }

// polling reports whether a poller waits for cur's new registration; on a
// store error it says no, and the press checks Graph itself.
func (c *Conversation) polling(ctx context.Context, ti turnInfo, cur *state) bool {
	held, err := c.leases.LeaseHeld(ctx, ti.tenant, ti.user, pollLease(cur.ID))
	if err != nil {
		ti.log.WarnContext(ctx, "could not read the poller's lease", "err", err)
		return false
	}
	return held
}

// poller is one run of the wait for a dialog's new registration.
type poller struct {
	c     *Conversation
	t     Turn
	ti    turnInfo
	owner string // the lease's owner token
	// waiting is the dialog as last read: the poller adopts its nonce
	// (a press that found no poller may have moved it) and its snapshot.
	waiting *state
	// check is what the poller waits for: the new phone's push
	// registration (checkNew) or its passkey (checkNewPasskey).
	check check
}

// found reports whether l lists what the poller waits for.
func (p *poller) found(l Listing) bool {
	if p.check == checkNewPasskey {
		if _, skipped := l.Skipped[KindPasskey]; skipped {
			return true // nothing to wait for: the result says so
		}
		return newest(p.waiting, l.of(KindPasskey)) != nil
	}
	return newPush(p.waiting, l) != nil
}

// startPoll takes the dialog's poller lease within the turn and, if it
// got it, looks for the new registration after the turn has been
// acknowledged: see the comment at the top of this file. cardID is the
// message the pressed card is in ("" when the result goes as a new card).
func (c *Conversation) startPoll(ctx context.Context, t Turn, ti turnInfo, waiting *state, cardID string) {
	p := &poller{c: c, t: t, ti: ti, owner: newID(), waiting: waiting, check: checkNew}
	if _, st := rowOf(waiting.Step); st != nil && st.Leave.polled() {
		p.check = st.Leave
	}
	name := pollLease(waiting.ID)
	got, err := c.leases.TryLease(ctx, ti.tenant, ti.user, name, p.owner, pollLeaseTTL)
	if err != nil {
		ti.log.WarnContext(ctx, "could not take the poller's lease; not polling", "err", err)
		return
	}
	if !got {
		ti.log.DebugContext(ctx, "a poller already waits for this dialog")
		return
	}
	t.Later(func(ctx context.Context) {
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseOpTimeout)
			defer cancel()
			if err := c.leases.ReleaseLease(rctx, ti.tenant, ti.user, name, p.owner); err != nil {
				t.Logger().WarnContext(ctx, "could not release the poller's lease", "err", err)
			}
		}()
		obs, ok := p.poll(ctx)
		if !ok {
			return // the dialog moved on (cancelled, went back) or another poller took over
		}
		ref := p.waiting.ref()
		out, err := c.handle(ctx, ti, input{verb: verbPollResult, ref: &ref, obs: &obs})
		if err != nil {
			t.Logger().ErrorContext(ctx, "saving the poll result failed", "err", err)
			return
		}
		if out.stale {
			return // the user moved on meanwhile
		}
		a := cardActivity(out.card)
		if cardID != "" {
			if err := t.Update(ctx, cardID, a); err == nil {
				return
			} else {
				t.Logger().WarnContext(ctx, "could not update the card in place; sending a new one", "err", err)
			}
		}
		if _, err := t.Send(ctx, a); err != nil {
			t.Logger().ErrorContext(ctx, "sending the poll result failed", "err", err)
		}
	})
}

// poll waits until Graph lists a registration that is not in the
// snapshot, or PollFor has passed (ok), or stops early (not ok) when the
// dialog is no longer waiting for this poller.
func (p *poller) poll(ctx context.Context) (obs observation, ok bool) {
	c, t, ti := p.c, p.t, p.ti
	start := time.Now()
	var last observation
	for n := 0; ; n++ {
		if !p.stillWaiting(ctx) {
			return last, false
		}
		if err := t.Typing(ctx); err != nil {
			t.Logger().DebugContext(ctx, "typing indicator not sent", "err", err)
		}
		timer := time.NewTimer(c.pause(n))
		select {
		case <-ctx.Done():
			timer.Stop()
			return last, true
		case <-timer.C:
		}
		if !p.stillWaiting(ctx) {
			return last, false
		}
		cctx, cancel := context.WithTimeout(ctx, graphCallTimeout)
		last = c.list(cctx, ti, p.waiting, p.waiting.kindsFor(p.check))
		cancel()
		if last.err == nil {
			if p.found(last.list) {
				return last, true
			}
		} else {
			t.Logger().WarnContext(ctx, "polling credentials failed", "err", last.err, "attempt", n+1)
		}
		if time.Since(start) >= c.o.PollFor {
			return last, true
		}
	}
}

// stillWaiting renews the lease and re-reads the dialog: false when the
// lease is no longer this poller's, or the dialog is no longer the same
// dialog at the same step, Checking. A store error is logged and the poll
// goes on: it is bounded by PollFor, and its result is saved by
// compare-and-set against whatever the dialog has become.
func (p *poller) stillWaiting(ctx context.Context) bool {
	ti, log := p.ti, p.t.Logger()
	held, err := p.c.leases.RenewLease(ctx, ti.tenant, ti.user, pollLease(p.waiting.ID), p.owner, pollLeaseTTL)
	if err != nil {
		log.WarnContext(ctx, "could not renew the poller's lease", "err", err)
		return true
	}
	if !held {
		log.InfoContext(ctx, "the poller's lease ran out; stopping")
		return false
	}
	cur, _, err := p.c.dialogs.load(ctx, ti.userKey, log)
	if err != nil {
		log.WarnContext(ctx, "could not re-read the dialog while polling", "err", err)
		return true
	}
	if !cur.active() || cur.ID != p.waiting.ID || cur.Step != p.waiting.Step || !cur.Checking || !cur.waitsFor(p.check) {
		return false
	}
	p.waiting = cur
	return true
}

// graphCallTimeout bounds one Graph call made after the acknowledgement:
// the authentication-methods APIs themselves give up at 60 s.
const graphCallTimeout = 60 * time.Second

// pause is the wait before poll attempt n (0-based).
func (c *Conversation) pause(n int) time.Duration {
	d := c.o.PollEvery
	for range n {
		d += d / 2
		if d >= maxPause {
			return maxPause
		}
	}
	return d
}

// localLeases are the leases of a Conversation without a shared store
// (ConversationOptions.Leases nil): one poller per dialog within this
// process only.
type localLeases struct {
	mu sync.Mutex
	m  map[string]localLease
}

type localLease struct {
	owner string
	until time.Time
}

func (l *localLeases) held(key string, now time.Time) (localLease, bool) {
	e, ok := l.m[key]
	return e, ok && now.Before(e.until)
}

func (l *localLeases) TryLease(_ context.Context, tenant, user, name, owner string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now, key := time.Now(), tenant+"\x00"+user+"\x00"+name
	if _, ok := l.held(key, now); ok {
		return false, nil
	}
	if l.m == nil {
		l.m = map[string]localLease{}
	}
	for k, e := range l.m {
		if !now.Before(e.until) {
			delete(l.m, k)
		}
	}
	l.m[key] = localLease{owner: owner, until: now.Add(ttl)}
	return true, nil
}

func (l *localLeases) RenewLease(_ context.Context, tenant, user, name, owner string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now, key := time.Now(), tenant+"\x00"+user+"\x00"+name
	if e, ok := l.held(key, now); !ok || e.owner != owner {
		return false, nil
	}
	l.m[key] = localLease{owner: owner, until: now.Add(ttl)}
	return true, nil
}

func (l *localLeases) ReleaseLease(_ context.Context, tenant, user, name, owner string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := tenant + "\x00" + user + "\x00" + name
	if e, ok := l.m[key]; ok && e.owner == owner {
		delete(l.m, key)
	}
	return nil
}

func (l *localLeases) LeaseHeld(_ context.Context, tenant, user, name string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.held(tenant+"\x00"+user+"\x00"+name, time.Now())
	return ok, nil
}
