package app

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"

	"github.com/smartswap/mfabot/dialogs"
	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/sweep"
)

// SweepDirectory is the tenant sweep's view of Microsoft Graph over a
// Graph client: users page by page, registrations through $batch, and the
// app's installation; errors in the sweep's terms. get returns the client
// (in sandbox mode, once the bot is served).
type SweepDirectory struct {
	get        func() (*graph.Client, error)
	teamsAppID string
}

// NewSweepDirectory is the sweep's Graph over c; teamsAppID is the app's
// catalog id for --install ("" : installing fails with a clear error).
func NewSweepDirectory(c *graph.Client, teamsAppID string) *SweepDirectory {
	return &SweepDirectory{get: func() (*graph.Client, error) { return c, nil }, teamsAppID: teamsAppID}
}

var _ sweep.Directory = (*SweepDirectory)(nil)

// Users implements sweep.Directory.
func (d *SweepDirectory) Users(ctx context.Context, group, from string, page func([]sweep.User, string) error) error {
	c, err := d.get()
	if err != nil {
		return err
	}
	fn := func(us []graph.UserRef, next string) error {
		out := make([]sweep.User, len(us))
		for i, u := range us {
			out[i] = sweep.User{ID: u.ID, UPN: u.UPN, DisplayName: u.DisplayName, Department: u.Department}
		}
		return page(out, next)
	}
	if group != "" {
		err = c.ListGroupMembers(ctx, group, from, fn)
	} else {
		err = c.ListUsers(ctx, from, fn)
	}
	return sweepError(err)
}

// Registrations implements sweep.Directory with one $batch of two requests
// per user (push registrations and passkeys).
func (d *SweepDirectory) Registrations(ctx context.Context, userIDs []string) (map[string]sweep.Registrations, error) {
	c, err := d.get()
	if err != nil {
		return nil, err
	}
	res, err := c.BatchAuthenticatorAndFido2Methods(ctx, userIDs)
	if err != nil {
		return nil, sweepError(err)
	}
	out := make(map[string]sweep.Registrations, len(res))
	for id, r := range res {
		var ge *graph.Error
		switch {
		case r.Err == nil:
			out[id] = sweep.Registrations{Devices: sweepDevices(r)}
		case errors.As(r.Err, &ge) && ge.Kind == graph.KindThrottled:
			out[id] = sweep.Registrations{Throttled: true, RetryAfter: r.RetryAfter}
		case graph.IsNotFound(r.Err):
			out[id] = sweep.Registrations{Gone: true}
		default:
			out[id] = sweep.Registrations{Err: sweepError(r.Err)}
		}
	}
	return out, nil
}

// errNoTeamsAppID is --install's answer without SWEEP_TEAMS_APP_ID.
var errNoTeamsAppID = errors.New("installing the app needs SWEEP_TEAMS_APP_ID (the app's id in the Teams app catalog)")

// Install implements sweep.Directory.
func (d *SweepDirectory) Install(ctx context.Context, userID string) (bool, error) {
	if d.teamsAppID == "" {
		return false, errNoTeamsAppID
	}
	c, err := d.get()
	if err != nil {
		return false, err
	}
	ok, err := c.InstallApp(ctx, userID, d.teamsAppID)
	return ok, sweepError(err)
}

// sweepError turns Graph's refusals and throttling into the sweep's
// errors; others are returned as they are.
func sweepError(err error) error {
	var ge *graph.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ge) && ge.Kind == graph.KindForbidden:
		return &sweep.PermissionError{Op: ge.Op, Permission: ge.Permission()}
	case errors.As(err, &ge) && ge.Kind == graph.KindThrottled:
		return &sweep.ThrottledError{RetryAfter: ge.RetryAfter}
	}
	return err
}

// sweepDevices is a user's Authenticator registrations as the sweep counts
// them: every push registration and the passkeys kept in Microsoft
// Authenticator (other passkeys are left out).
func sweepDevices(r graph.BatchResult) []sweep.Device {
	var out []sweep.Device
	for _, m := range r.Authenticator {
		out = append(out, sweep.Device{Kind: sweep.KindPush, ID: m.ID, Name: m.DisplayName, Created: m.Created})
	}
	for _, m := range r.Fido2 {
		if graph.IsAuthenticatorPasskey(m.AAGUID) {
			out = append(out, sweep.Device{Kind: sweep.KindPasskey, ID: m.ID, Name: m.DisplayName, Created: m.Created})
		}
	}
	return out
}

// newSweepWorker is the replica's sweep worker: it lists, reads and sends
// the cards of every running sweep, with the other replicas and the CLI.
func (a *App) newSweepWorker(store *redisstore.Store, reminders *dialogs.Reminders) *sweep.Worker {
	dir := &SweepDirectory{get: a.graph.get, teamsAppID: a.cfg.Sweep.TeamsAppID}
	return sweep.NewWorker(sweep.WorkerOptions{
		Store: store, Directory: dir, Declines: store, Notifier: dialogs.NewSweepNotifier(reminders),
		Observer: a.metrics, Logger: a.logger.With("worker", "sweep"), Now: a.opts.Now,
		GraphRate: a.cfg.Sweep.GraphRate, Lease: a.cfg.Sweep.Lease, Tick: a.opts.SweepTick, InstallWait: a.opts.SweepInstallWait,
	})
}

// runSweeps runs the sweep worker under g until ctx ends.
func runSweeps(g *errgroup.Group, ctx context.Context, w *sweep.Worker) {
	g.Go(func() error { return w.Run(ctx) })
}
