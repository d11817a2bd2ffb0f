package app

// This file is the app's one contact with package dialogs, its Redis store
// (dialogs/redisstore) and the step content (cards): every line of wiring
// that names them is here, so that a change of their API changes this file
// only. The rest of the app sees a *conversation and the App methods at the
// bottom.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
	"golang.org/x/sync/errgroup"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/dialogs"
	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/internal/config"
	"github.com/smartswap/mfabot/internal/metrics"
	"github.com/smartswap/mfabot/internal/webhook"
	"github.com/smartswap/mfabot/sweep"
)

var _ dialogs.Observer = (*metrics.Metrics)(nil)

// webhookTimeout bounds one ticket event's delivery, retries included.
const webhookTimeout = 5 * time.Minute

// conversation is the dialogs side of one replica: its store, the
// procedure, the helpdesk, the statistics, the router in front of them,
// and the reminder worker.
type conversation struct {
	store     *redisstore.Store
	router    *dialogs.Router
	stats     *dialogs.Stats
	reminders *dialogs.Reminders
	sweeps    *sweep.Worker
	// progress keeps each sweep's card in the helpdesk channel; nil
	// without a helpdesk.
	progress *dialogs.SweepProgress
	submit   bool // CARD_ACTIONS=submit
}

// loadContent is the step content: STEPS_FILE's, or the embedded one;
// either is checked against the procedure's steps.
func loadContent(path string) (*cards.Content, error) {
	if path == "" {
		return dialogs.DefaultContent(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &config.Error{Var: "STEPS_FILE", Problem: err.Error()}
	}
	content, err := dialogs.LoadContent(path, data)
	if err != nil {
		return nil, fmt.Errorf("STEPS_FILE: %w", err)
	}
	return content, nil
}

// newConversation wires the conversation to the store, Graph, the
// connectors, the helpdesk (its channel, its webhook) and the metrics.
func (a *App) newConversation(content *cards.Content) (*conversation, error) {
	cfg := a.cfg
	var storeOpts []redisstore.Option
	if a.opts.KeyPrefix != "" {
		storeOpts = append(storeOpts, redisstore.WithPrefix(a.opts.KeyPrefix))
	}
	store := redisstore.New(a.rdb, storeOpts...)
	a.metrics.InitSteps(dialogs.Steps())
	dir := graphDirectory{g: a.graph, missing: a.metrics.PermissionMissing}

	policy := dialogs.ReminderPolicy{Schedule: cfg.Reminders.Schedule, Hours: cfg.Reminders.Hours, Escalate: cfg.Reminders.Escalate}
	stats := dialogs.NewStats(dialogs.StatsOptions{Observer: a.metrics, Store: store, Now: a.opts.Now, Logger: a.logger})
	hd, err := a.helpdesk(store)
	if err != nil {
		return nil, err
	}
	conv := dialogs.NewConversation(dialogs.ConversationOptions{
		Store: store, Content: content, Directory: dir,
		AllowDelete: cfg.GraphAllowDelete, SecurityInfoURL: a.graph.pageURL(),
		References: store, Reminders: store, Leases: store, Policy: policy, Stats: stats, Helpdesk: hd != nil,
		Logger: a.logger, Now: a.opts.Now, CheckTimeout: a.opts.CheckTimeout, PollEvery: a.opts.PollEvery, PollFor: a.opts.PollFor,
		Language: cards.Locale(cfg.Language), Sweeps: store,
	})
	var help *dialogs.Helpdesk
	var escalate func(ctx context.Context, tenant, user string) error
	var progress *dialogs.SweepProgress
	if hd != nil {
		hd.References, hd.Directory, hd.Dialogs, hd.Stats, hd.Sweeps = store, dir, conv, stats, store
		help = dialogs.NewHelpdesk(*hd)
		escalate = help.Escalate
		progress = dialogs.NewSweepProgress(help, dialogs.SweepProgressOptions{
			Cards: store, Logger: a.logger.With("worker", "sweep-progress"), Now: a.opts.Now,
		})
	}
	rate := cfg.Reminders.Rate
	if a.opts.ReminderRate > 0 {
		rate = a.opts.ReminderRate
	}
	reminders := dialogs.NewReminders(dialogs.ReminderOptions{
		Dialogs: conv, Queue: store, Recipients: store, Limiter: store, Sender: proactiveSender{a.proactiveOut},
		Policy: policy, Logger: a.logger.With("worker", "reminders"), Rate: rate, Batch: a.opts.ReminderBatch,
		Escalate: escalate,
	})
	a.metrics.CollectReminders(reminderCounts(reminders))
	return &conversation{store: store, router: dialogs.NewRouter(conv, help), stats: stats, reminders: reminders,
		sweeps: a.newSweepWorker(store, reminders), progress: progress, submit: cfg.SubmitActions}, nil
}

// helpdesk is the helpdesk's wiring: tickets in the store, the channel
// fixed by the environment (else the one set with ヘルプデスク設定), and
// ticket events POSTed to HELPDESK_WEBHOOK_URL in the background, tracked
// so that a shutdown waits for them.
func (a *App) helpdesk(store *redisstore.Store) (*dialogs.HelpdeskOptions, error) {
	if a.opts.WithoutHelpdesk {
		return nil, nil
	}
	hc := a.cfg.Helpdesk
	hd := &dialogs.HelpdeskOptions{
		Store: store, Connector: a.out, Admins: hc.Admins,
		TAPEnabled: hc.TAPEnabled, TAPLifetime: hc.TAPLifetime,
	}
	if hc.ConversationID != "" {
		hd.Channel = &dialogs.Channel{
			ServiceURL: hc.ServiceURL, ConversationID: hc.ConversationID,
			TeamID: hc.TeamID, FromEnv: true,
		}
	}
	if hc.WebhookURL != "" {
		hook, err := webhook.New(webhook.Options{URL: hc.WebhookURL, Secret: string(hc.WebhookSecret)})
		if err != nil {
			return nil, &config.Error{Var: "HELPDESK_WEBHOOK_URL", Problem: err.Error()}
		}
		hd.Notify = func(_ context.Context, e dialogs.TicketEvent) {
			// After the turn, retried with back-off; a failure is logged,
			// never shown to the user.
			a.tasks.goRun(func(ctx context.Context) {
				ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
				defer cancel()
				if err := hook.Send(ctx, e); err != nil {
					a.logger.Warn("helpdesk webhook not delivered", "err", err, "ticket", e.Ticket, "event", e.Event)
				}
			})
		}
	}
	return hd, nil
}

// turns is the conversation as the protocol layer's turn handler.
func (c *conversation) turns() bot.Handler { return turnHandler{d: c.router, submit: c.submit} }

// ping is the store's readiness check.
func (c *conversation) ping(ctx context.Context) error { return c.store.Ping(ctx) }

// dedupe is the store as the protocol layer's duplicate check, which also
// reads the user's dialog for a turn that will use it (one round trip).
func (c *conversation) dedupe() bot.Deduper { return dedupe{c.store} }

// dedupe records handled activities in the store; for a message or card
// press in a user's 1:1 chat it reads the user's dialog in the same round
// trip and hands it to the turn.
type dedupe struct{ *redisstore.Store }

var _ bot.Prefetcher = dedupe{}

func (d dedupe) Begin(ctx context.Context, key, token string, lease time.Duration) (bot.Delivery, error) {
	r, err := d.Store.Begin(ctx, key, token, lease)
	return bot.Delivery(r), err
}

func (d dedupe) BeginPrefetch(ctx context.Context, key, token string, lease time.Duration, a schema.Activity) (context.Context, string, bot.Delivery, error) {
	tenant, user, ok := dialogs.WillLoad(a)
	if !ok {
		r, err := d.Begin(ctx, key, token, lease)
		return ctx, key, r, err
	}
	recorded, r, doc, rev, err := d.BeginLoadDialog(ctx, key, token, lease, tenant, user)
	if err != nil || !r.First {
		return ctx, recorded, bot.Delivery(r), err
	}
	ctx = dialogs.WithLoaded(ctx, tenant, user, doc, rev)
	if tr := bot.TurnRecordFrom(ctx); tr != nil && a.Type == schema.Invoke {
		// A card press's answer is the card its decision chose: the save
		// of the dialog marks the record done in the same write, holding
		// only the mark that a redelivery is answered again from the saved
		// dialog (the card itself is 5–12 KB; keeping it an hour per press
		// cost Redis memory and a few percent of throughput).
		ctx = dialogs.WithTurnRecord(ctx, tenant, user, recorded, token, bot.RecordTTL, []byte(bot.ReplayAnswer),
			func(card json.RawMessage) { tr.MarkedDone(bot.StoredAnswer(bot.CardInvokeResponse(card))) })
	}
	return ctx, recorded, bot.Delivery(r), nil
}

// run starts the replica's long-lived work under g, until ctx ends: the
// reminder worker, the sweep worker and the sweeps' cards in the helpdesk
// channel, and the flusher of the daily statistics (which flushes once
// more as it stops).
func (c *conversation) run(g *errgroup.Group, ctx context.Context) {
	g.Go(func() error { return c.reminders.Run(ctx) })
	runSweeps(g, ctx, c.sweeps)
	if c.progress != nil {
		g.Go(func() error { return c.progress.Run(ctx) })
	}
	g.Go(func() error { return c.stats.Run(ctx) })
}

// Store is the replica's Redis store, for tests that look at or seed the
// state directly (claims, queued reminders, daily counters, key prefix).
func (a *App) Store() *redisstore.Store { return a.conv.store }

// SendDueReminders runs one round of the reminder worker, as Serve does
// every second: it claims a batch of due reminders, handles them, and
// returns how many it claimed.
func (a *App) SendDueReminders(ctx context.Context) (int, error) {
	return a.conv.reminders.RunOnce(ctx)
}

// ReminderCounts is what this replica's reminder worker has done so far.
func (a *App) ReminderCounts() metrics.ReminderCounts { return reminderCounts(a.conv.reminders)() }

// reminderCounts reads the reminder worker's counters for the metrics.
func reminderCounts(r *dialogs.Reminders) func() metrics.ReminderCounts {
	return func() metrics.ReminderCounts {
		s := r.Stats()
		return metrics.ReminderCounts{
			Scheduled: s.Scheduled, Sent: s.Sent, Escalated: s.Escalated,
			Skipped: s.Skipped, Failed: s.Failed,
		}
	}
}

// turnHandler adapts the conversation (dialogs) to the protocol layer (bot),
// so that neither package imports the other.
type turnHandler struct {
	d *dialogs.Router
	// submit: an invoke's card answer has Action.Submit buttons too (a
	// press on a card sent before CARD_ACTIONS changed).
	submit bool
}

var _ bot.Handler = turnHandler{}

func (h turnHandler) OnMessage(ctx context.Context, t *bot.Turn) error {
	return h.d.OnMessage(ctx, t)
}

func (h turnHandler) OnInvoke(ctx context.Context, t *bot.Turn) (bot.InvokeResponse, error) {
	res, err := h.d.OnInvoke(ctx, t)
	if err != nil {
		return bot.InvokeResponse{}, err
	}
	if res.Failed && bot.Replaying(ctx) {
		// A redelivered press answered again must get the card it got the
		// first time, not an apology: Teams is asked to retry.
		return bot.InvokeResponse{}, errReplayFailed
	}
	if res.Card != nil {
		if h.submit {
			return bot.CardInvokeResponse(cards.AsSubmit(res.Card)), nil
		}
		return bot.CardInvokeResponse(res.Card), nil
	}
	return bot.MessageInvokeResponse(res.Text), nil
}

func (h turnHandler) OnConversationUpdate(ctx context.Context, t *bot.Turn) error {
	return h.d.OnConversationUpdate(ctx, t)
}

func (h turnHandler) OnInstallationUpdate(ctx context.Context, t *bot.Turn) error {
	return h.d.OnInstallationUpdate(ctx, t)
}

// errReplayFailed: a redelivered press could not be answered again.
var errReplayFailed = errors.New("the press could not be answered again; Teams will retry")

// graphDirectory adapts the Graph client to what the dialog needs, and
// translates Graph's error kinds into the dialog's.
type graphDirectory struct {
	g *graphs
	// missing counts a kind skipped for a missing permission (metrics).
	missing func(kind, permission string)
}

var _ dialogs.Directory = graphDirectory{}

// ListMethods lists the kinds asked for, one Graph call each, at the same
// time (the snapshot asks for three; one after the other they added a
// round trip to Graph each to the first answer). A kind other than push
// that Graph refuses (403) is skipped, named with its permission and
// counted for the operator; any other failure fails the listing, since a
// check must not pass on what it could not see.
func (d graphDirectory) ListMethods(ctx context.Context, userID string, kinds ...dialogs.Kind) (dialogs.Listing, error) {
	c, err := d.g.get()
	if err != nil {
		return dialogs.Listing{}, err
	}
	type listed struct {
		ms  []dialogs.Method
		err error
	}
	got := make([]listed, len(kinds))
	if len(kinds) == 1 {
		got[0].ms, got[0].err = listKind(ctx, c, userID, kinds[0])
	} else {
		var wg sync.WaitGroup
		for i, k := range kinds {
			wg.Go(func() { got[i].ms, got[i].err = listKind(ctx, c, userID, k) })
		}
		wg.Wait()
	}
	var l dialogs.Listing
	for i, k := range kinds {
		ms, err := got[i].ms, got[i].err
		var ge *graph.Error
		if err != nil && k != dialogs.KindPush && graph.IsForbidden(err) && errors.As(err, &ge) {
			if l.Skipped == nil {
				l.Skipped = map[dialogs.Kind]string{}
			}
			l.Skipped[k] = ge.Permission()
			if d.missing != nil {
				d.missing(string(k), ge.Permission())
			}
			continue
		}
		if err != nil {
			return dialogs.Listing{}, classify(err)
		}
		l.Methods = append(l.Methods, ms...)
	}
	return l, nil
}

// listKind lists one kind of credential. Passkeys are split by provider:
// Authenticator's (by AAGUID) are phone-bound, others are only listed.
func listKind(ctx context.Context, c *graph.Client, userID string, k dialogs.Kind) ([]dialogs.Method, error) {
	var out []dialogs.Method
	switch k {
	case dialogs.KindPush:
		ms, err := c.ListAuthenticatorMethods(ctx, userID)
		for _, m := range ms {
			out = append(out, dialogs.Method{ID: m.ID, Kind: k, DeviceName: m.DisplayName, Created: m.Created})
		}
		return out, err
	case dialogs.KindPasskey, dialogs.KindOtherPasskey:
		ms, err := c.ListFido2Methods(ctx, userID)
		for _, m := range ms {
			kind := dialogs.KindOtherPasskey
			if graph.IsAuthenticatorPasskey(m.AAGUID) {
				kind = dialogs.KindPasskey
			}
			if kind == k {
				out = append(out, dialogs.Method{ID: m.ID, Kind: kind, DeviceName: m.DisplayName, Created: m.Created})
			}
		}
		return out, err
	case dialogs.KindOath:
		ms, err := c.ListSoftwareOathMethods(ctx, userID)
		for _, m := range ms {
			out = append(out, dialogs.Method{ID: m.ID, Kind: k})
		}
		return out, err
	case dialogs.KindPhone:
		ms, err := c.ListPhoneMethods(ctx, userID)
		for _, m := range ms {
			out = append(out, dialogs.Method{ID: m.ID, Kind: k, DeviceName: m.PhoneType})
		}
		return out, err
	case dialogs.KindTAP:
		ms, err := c.ListTemporaryAccessPassMethods(ctx, userID)
		for _, m := range ms {
			out = append(out, dialogs.Method{ID: m.ID, Kind: k, Created: m.Created})
		}
		return out, err
	}
	return nil, fmt.Errorf("list credentials: unknown kind %q", k)
}

// DeleteMethod deletes one credential by its kind; an Authenticator
// passkey is a fido2 method, and another provider's passkey is never
// deleted.
func (d graphDirectory) DeleteMethod(ctx context.Context, userID string, m dialogs.Method) error {
	c, err := d.g.get()
	if err != nil {
		return err
	}
	switch m.Kind {
	case dialogs.KindPush, "":
		err = c.DeleteAuthenticatorMethod(ctx, userID, m.ID)
	case dialogs.KindPasskey:
		err = c.DeleteFido2Method(ctx, userID, m.ID)
	case dialogs.KindOath:
		err = c.DeleteSoftwareOathMethod(ctx, userID, m.ID)
	case dialogs.KindTAP:
		err = c.DeleteTemporaryAccessPassMethod(ctx, userID, m.ID)
	default:
		return fmt.Errorf("delete credential: kind %q is never deleted", m.Kind)
	}
	return classify(err)
}

func (d graphDirectory) GetUser(ctx context.Context, userID string) (dialogs.UserInfo, error) {
	c, err := d.g.get()
	if err != nil {
		return dialogs.UserInfo{}, err
	}
	u, err := c.GetUser(ctx, userID)
	if err != nil {
		return dialogs.UserInfo{}, classify(err)
	}
	return dialogs.UserInfo{DisplayName: u.DisplayName, UPN: u.UserPrincipalName}, nil
}

func (d graphDirectory) CreateTemporaryAccessPass(ctx context.Context, userID string, lifetime time.Duration) (string, error) {
	c, err := d.g.get()
	if err != nil {
		return "", err
	}
	tap, err := c.CreateTemporaryAccessPass(ctx, userID, lifetime, true)
	if err != nil {
		return "", classify(err)
	}
	return tap.Pass, nil
}

func (d graphDirectory) RevokeSignInSessions(ctx context.Context, userID string) error {
	c, err := d.g.get()
	if err != nil {
		return err
	}
	return classify(c.RevokeSignInSessions(ctx, userID))
}

// classify wraps Graph errors with the dialog's kinds; the text (with the
// missing permission, for a 403) stays for the log.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case graph.IsForbidden(err):
		return fmt.Errorf("%w: %w", dialogs.ErrDirectoryForbidden, err)
	case graph.IsThrottled(err):
		return fmt.Errorf("%w: %w", dialogs.ErrDirectoryThrottled, err)
	default:
		return err
	}
}

// proactiveSender adapts the connector to the reminder worker, translating
// the connector's errors into the ones the worker acts on.
type proactiveSender struct{ c cardSender }

var _ dialogs.ProactiveSender = proactiveSender{}

func (p proactiveSender) SendToConversation(ctx context.Context, serviceURL, conversationID string, a schema.Activity) (string, error) {
	id, err := p.c.SendToConversation(ctx, serviceURL, conversationID, a)
	var ce *bot.ConnectorError
	switch {
	case err == nil:
		return id, nil
	case errors.As(err, &ce) && (ce.Status == http.StatusForbidden || ce.Status == http.StatusNotFound):
		return "", fmt.Errorf("%w: %w", dialogs.ErrRecipientGone, err)
	case errors.As(err, &ce) && ce.Status == http.StatusTooManyRequests:
		return "", fmt.Errorf("%w: %w", &dialogs.ThrottledError{RetryAfter: ce.RetryAfter}, err)
	default:
		return "", err
	}
}

// SweepWorker is the replica's sweep worker, which Serve runs; tests run
// it (or its Step) themselves.
func (a *App) SweepWorker() *sweep.Worker { return a.conv.sweeps }
