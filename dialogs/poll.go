package dialogs

import (
	"context"
	"time"
)

// startPoll looks for the new registration after the turn has been
// acknowledged: Graph is asked with growing pauses, a typing indicator
// shows while the user waits, and the result replaces the waiting card
// (cardID, the message the pressed card is in) or arrives as a new card.
func (c *Conversation) startPoll(t Turn, ti turnInfo, waiting *state, cardID string) {
	ref := waiting.ref()
	t.Later(func(ctx context.Context) {
		obs := c.poll(ctx, t, ti, waiting.Snapshot)
		out, err := c.handle(ctx, ti, input{verb: verbPollResult, ref: &ref, obs: &obs})
		if err != nil {
			t.Logger().ErrorContext(ctx, "saving the poll result failed", "err", err)
			return
		}
		if out.stale {
			return // the user moved on (cancelled, went back) meanwhile
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
// snapshot, or PollFor has passed.
func (c *Conversation) poll(ctx context.Context, t Turn, ti turnInfo, snapshot []string) observation {
	before := make(map[string]bool, len(snapshot))
	for _, id := range snapshot {
		before[id] = true
	}
	start := time.Now()
	var last observation
	for n := 0; ; n++ {
		if err := t.Typing(ctx); err != nil {
			t.Logger().DebugContext(ctx, "typing indicator not sent", "err", err)
		}
		timer := time.NewTimer(c.pause(n))
		select {
		case <-ctx.Done():
			timer.Stop()
			return last
		case <-timer.C:
		}
		cctx, cancel := context.WithTimeout(ctx, graphCallTimeout)
		methods, err := c.o.Directory.ListAuthenticatorMethods(cctx, ti.user)
		cancel()
		last = observation{asked: true, methods: methods, err: err}
		if err == nil {
			for _, m := range methods {
				if !before[m.ID] {
					return last
				}
			}
		} else {
			t.Logger().WarnContext(ctx, "polling authenticator methods failed", "err", err, "attempt", n+1)
		}
		if time.Since(start) >= c.o.PollFor {
			return last
		}
	}
}

// graphCallTimeout bounds one Graph call made after the acknowledgement:
// the authentication-methods APIs themselves give up at 60 s.
const graphCallTimeout = 60 * time.Second

// pause is the wait before poll attempt n (0-based).
func (c *Conversation) pause(n int) time.Duration {
	d := c.o.PollEvery
	for range n {
		d += d / 2
		if d >= 15*time.Second {
			return 15 * time.Second
		}
	}
	return d
}
