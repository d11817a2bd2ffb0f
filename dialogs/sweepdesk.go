package dialogs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/sweep"
)

// The tenant sweep in the helpdesk channel (棚卸し). A helpdesk member who
// types 棚卸し (棚卸, sweep) there gets the desk card: the newest sweeps
// with their counts, buttons to start a dry run of the whole tenant or,
// after a confirmation, a sweep that notifies, and for each sweep 一時停止
// / 再開 / 中止 while it has not ended and レポート once it has. Every verb
// goes through one table (sweepDeskActions) behind one gate: helpdesk
// members, in the helpdesk channel. Each start, pause, resume, cancel and
// report is audited. The jobs themselves run in every replica's sweep
// worker; SweepProgress (sweepprogress.go) keeps one card per job in the
// channel.

// SweepJobs is what the helpdesk's 棚卸し needs of the sweep's store
// (redisstore.Store): start a job, read the newest, move one's state, and
// read its candidates for the report.
type SweepJobs interface {
	CreateSweep(ctx context.Context, spec sweep.Spec, now time.Time) (sweep.Job, error)
	LoadSweep(ctx context.Context, id string) (sweep.Job, error)
	// SetSweepState moves a job to state if it is in one of from, and
	// returns it as it is now.
	SetSweepState(ctx context.Context, id, state, reason string, from []string, now time.Time) (sweep.Job, error)
	// Sweeps returns the newest n jobs, newest first.
	Sweeps(ctx context.Context, n int) ([]sweep.Job, error)
	// Findings hands fn every candidate of the job with their action now.
	Findings(ctx context.Context, id string, fn func(sweep.Finding) error) error
}

// deskJobs is how many sweeps the desk card shows: the newest.
const deskJobs = 3

// deskTurn is a 棚卸し typed or a sweep card's button pressed, once the
// person is known to be a helpdesk member in the helpdesk channel.
type deskTurn struct {
	t  Turn
	a  schema.Activity
	ti turnInfo
	// job is the job the button acts on ("": none).
	job string
	// fromJob: pressed on the job's own card, which the answer redraws
	// (else the desk card).
	fromJob bool
	// group is the desk card's group input, trimmed: the scope of a sweep
	// to start ("": everyone).
	group string
}

// deskAction is one verb of the sweep's cards in the channel.
type deskAction func(h *Helpdesk, ctx context.Context, x *deskTurn) (answer, error)

// sweepDeskActions are the sweep's verbs in the helpdesk channel.
var sweepDeskActions = map[string]deskAction{
	cards.VerbSweepDesk: func(h *Helpdesk, ctx context.Context, x *deskTurn) (answer, error) {
		return h.deskAnswer(ctx, x, "")
	},
	cards.VerbSweepDeskDryRun: startSweep(false),
	cards.VerbSweepDeskNotify: func(h *Helpdesk, ctx context.Context, x *deskTurn) (answer, error) {
		if !validGroup(x.group) {
			return h.deskAnswer(ctx, x, cards.Text(x.ti.loc, "sweepdesk.group.bad"))
		}
		return answer{card: render(cards.SweepDeskConfirm(x.ti.loc, x.group))}, nil
	},
	cards.VerbSweepDeskNotifyGo: startSweep(true),
	cards.VerbSweepDeskPause: moveSweep(stateMove{
		to: sweep.StatePaused, from: []string{sweep.StateRunning}, event: "sweep_paused", notice: "sweepdesk.paused",
	}),
	cards.VerbSweepDeskResume: moveSweep(stateMove{
		to: sweep.StateRunning, from: []string{sweep.StatePaused}, event: "sweep_resumed", notice: "sweepdesk.resumed",
	}),
	cards.VerbSweepDeskCancel: moveSweep(stateMove{
		to: sweep.StateCancelled, from: []string{sweep.StateRunning, sweep.StatePaused}, event: "sweep_cancelled", notice: "sweepdesk.cancelled",
	}),
	cards.VerbSweepDeskReport: (*Helpdesk).sweepReport,
}

// onSweepDesk runs a sweep verb for a helpdesk member in the helpdesk
// channel; anyone else is told where it works, or that it is for members.
func (h *Helpdesk) onSweepDesk(run deskAction) func(ctx context.Context, t Turn, ti turnInfo, act action) (answer, error) {
	return func(ctx context.Context, t Turn, ti turnInfo, act action) (answer, error) {
		if h.o.Sweeps == nil {
			return answer{text: cards.Text(ti.loc, "unknown.text")}, nil
		}
		a := t.Incoming()
		refusal, ok, err := h.inHelpdeskChannel(ctx, ti, a, "hd.sweep.where", act.verb)
		if err != nil || !ok {
			return refusal, err
		}
		job, _ := act.data[cards.SweepJobData].(string)
		from, _ := act.data[cards.SweepFromData].(string)
		group, _ := act.data[cards.SweepGroupInput].(string)
		return run(h, ctx, &deskTurn{t: t, a: a, ti: ti, job: job, fromJob: from == cards.SweepFromJob, group: strings.TrimSpace(group)})
	}
}

// deskAnswer is the card a press is answered with, noticeText on top: the
// job's own card when the press came from it, else the desk card.
func (h *Helpdesk) deskAnswer(ctx context.Context, x *deskTurn, noticeText string) (answer, error) {
	loc := x.ti.loc
	if x.fromJob && x.job != "" {
		j, err := h.o.Sweeps.LoadSweep(ctx, x.job)
		switch {
		case err == nil:
			return answer{card: render(cards.SweepJob(loc, jobView(j), noticeText))}, nil
		case !errors.Is(err, sweep.ErrNoSweep):
			return answer{}, err
		}
		noticeText = cards.Text(loc, "sweepdesk.notfound", x.job)
	}
	jobs, err := h.o.Sweeps.Sweeps(ctx, deskJobs)
	if err != nil {
		return answer{}, err
	}
	views := make([]cards.SweepJobView, len(jobs))
	for i, j := range jobs {
		views[i] = jobView(j)
	}
	return answer{card: render(cards.SweepDesk(loc, views, noticeText))}, nil
}

// groupID is the form of a group's object id (a GUID).
var groupID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// validGroup reports whether the desk's group input is empty (everyone)
// or a group's object id.
func validGroup(g string) bool { return g == "" || groupID.MatchString(g) }

// startSweep starts a sweep of the whole tenant (the channel's), or of the
// group the desk card names, by the member who pressed: a dry run, or one
// that notifies. One that has not ended yet is let finish first.
func startSweep(notify bool) deskAction {
	return func(h *Helpdesk, ctx context.Context, x *deskTurn) (answer, error) {
		loc := x.ti.loc
		x.fromJob = false
		if !validGroup(x.group) {
			return h.deskAnswer(ctx, x, cards.Text(loc, "sweepdesk.group.bad"))
		}
		jobs, err := h.o.Sweeps.Sweeps(ctx, deskJobs)
		if err != nil {
			return answer{}, err
		}
		for _, j := range jobs {
			if !sweep.Final(j.State) {
				return h.deskAnswer(ctx, x, cards.Text(loc, "sweepdesk.busy", j.ID))
			}
		}
		by := x.a.From.Name
		if by == "" {
			by = x.a.From.AadObjectID
		}
		j, err := h.o.Sweeps.CreateSweep(ctx, sweep.Spec{Notify: notify, Group: strings.ToLower(x.group), Tenant: x.ti.tenant, By: by}, h.now())
		if err != nil {
			return answer{}, err
		}
		h.auditSweep(ctx, x, "sweep_started", j)
		return h.deskAnswer(ctx, x, cards.Text(loc, "sweepdesk.begun", j.ID))
	}
}

// stateMove is a button that moves a job to another state: where to,
// from which states, the audit event and the notice (a catalog key).
type stateMove struct {
	to            string
	from          []string
	event, notice string
}

// moveSweep is the button of m: the job moves if it is in one of m.from,
// else the answer says what state it is in.
func moveSweep(m stateMove) deskAction {
	return func(h *Helpdesk, ctx context.Context, x *deskTurn) (answer, error) {
		loc := x.ti.loc
		j, ans, err := h.pressedJob(ctx, x)
		if ans != nil || err != nil {
			return *ans, err
		}
		unchanged := func(j sweep.Job) (answer, error) {
			return h.deskAnswer(ctx, x, cards.Text(loc, "sweepdesk.unchanged", j.ID, cards.SweepStateText(loc, j.State)))
		}
		if !slices.Contains(m.from, j.State) {
			return unchanged(j)
		}
		// The store moves it only if it is still in one of m.from.
		if j, err = h.o.Sweeps.SetSweepState(ctx, x.job, m.to, "", m.from, h.now()); err != nil {
			return answer{}, err
		}
		if j.State != m.to {
			return unchanged(j)
		}
		h.auditSweep(ctx, x, m.event, j)
		return h.deskAnswer(ctx, x, cards.Text(loc, m.notice, j.ID))
	}
}

// pressedJob loads the job a button acts on. When there is none to act on
// (no job named, or it expired) it returns the desk's answer instead;
// ans is not nil whenever err is not.
func (h *Helpdesk) pressedJob(ctx context.Context, x *deskTurn) (j sweep.Job, ans *answer, err error) {
	if x.job == "" {
		a, err := h.deskAnswer(ctx, x, "")
		return j, &a, err
	}
	j, err = h.o.Sweeps.LoadSweep(ctx, x.job)
	switch {
	case errors.Is(err, sweep.ErrNoSweep):
		a, err := h.deskAnswer(ctx, x, cards.Text(x.ti.loc, "sweepdesk.notfound", x.job))
		return j, &a, err
	case err != nil:
		return j, &answer{}, err
	}
	return j, nil, nil
}

// auditSweep writes who did what to which sweep to the member's audit
// stream and the log.
func (h *Helpdesk) auditSweep(ctx context.Context, x *deskTurn, event string, j sweep.Job) {
	a, ti := x.a, x.ti
	fields := map[string]string{
		"event": event, "at": h.now().UTC().Format(time.RFC3339),
		"by": a.From.AadObjectID, "by_name": a.From.Name,
		"tenant": ti.tenant, "job": j.ID, "notify": strconv.FormatBool(j.Spec.Notify),
	}
	if err := h.o.Store.Audit(ctx, ti.tenant, ti.user, fields); err != nil {
		ti.log.ErrorContext(ctx, "audit entry not written", "err", err, "event", event)
	}
	ti.log.InfoContext(ctx, "audit: "+event, "audit", true, "event", event, "by", a.From.AadObjectID,
		"by_name", a.From.Name, "job", j.ID, "notify", j.Spec.Notify)
}

// jobView is a job as the channel's cards show it, times in Japan time.
func jobView(j sweep.Job) cards.SweepJobView {
	c := j.Counts
	v := cards.SweepJobView{
		ID: j.ID, State: j.State, Notify: j.Spec.Notify, Group: j.Spec.Group, By: j.Spec.By,
		Started: j.Created.In(tokyo).Format("2006-01-02 15:04"), Error: j.Error, Listed: j.Listed,
		Users: c.Listed, Scanned: c.Scanned, Candidates: c.Candidates, Notified: c.Notified,
		Completed: c.Completed, Declined: c.BothInUse, Open: c.Open(),
		GraphRequests: c.GraphRequests, GraphThrottled: c.GraphThrottled,
	}
	if !j.Ended.IsZero() {
		v.Ended = j.Ended.In(tokyo).Format("2006-01-02 15:04")
	}
	return v
}

// sweepReport answers レポート on an ended job: its CSV report next to a
// short card, posted as a new message in the thread (an invoke's answer
// cannot carry a file), and the pressed card redrawn.
func (h *Helpdesk) sweepReport(ctx context.Context, x *deskTurn) (answer, error) {
	loc := x.ti.loc
	j, ans, err := h.pressedJob(ctx, x)
	if ans != nil || err != nil {
		return *ans, err
	}
	if !sweep.Final(j.State) {
		return h.deskAnswer(ctx, x, cards.Text(loc, "sweepdesk.unfinished", j.ID))
	}
	report, err := h.reportActivity(ctx, loc, j)
	if err != nil {
		return answer{}, err
	}
	if _, err := x.t.Send(ctx, report); err != nil {
		return answer{}, fmt.Errorf("send the sweep report: %w", err)
	}
	h.auditSweep(ctx, x, "sweep_report", j)
	return h.deskAnswer(ctx, x, "")
}

// A sweep's report in the channel is a message with two attachments: the
// report card, and the CSV (UTF-8 with a BOM, the Japanese header, as the
// CLI writes it) as a data URI:
//
//	{"contentType":"text/csv","name":"sweep-<id>.csv","contentUrl":"data:text/csv;base64,…"}
//
// Teams lets a bot send files through the Bot Framework only in a personal
// chat, with the file consent card (the user accepts, the bot uploads to
// their OneDrive); a channel has no such flow short of Graph and the
// team's SharePoint. Whether and how Teams channel clients (desktop, web,
// mobile) show a data-URI attachment is UNVERIFIED: it may show as a file,
// as a broken link, or not at all. The card therefore lists the first
// candidates itself and names the command that writes the same CSV.
//
// The whole message must stay under Teams' limit for a bot message
// (cards.MaxSize; Teams answers 413 to a larger one), and base64 makes the
// file a third larger: a report that does not fit is not attached, and
// the card says so and names the command. The CSV is never held in memory
// beyond what could be attached (maxReportCSV).
const maxReportCSV = cards.MaxSize * 3 / 4

// errReportFull: the report grew past maxReportCSV.
var errReportFull = errors.New("sweep report too large to attach")

// errEnoughLines ends the walk over a too-large report's candidates once
// the card's lines are gathered.
var errEnoughLines = errors.New("enough report lines")

// reportActivity is job j's report message: the card, and the CSV attached
// when it fits.
func (h *Helpdesk) reportActivity(ctx context.Context, loc cards.Locale, j sweep.Job) (schema.Activity, error) {
	var buf bytes.Buffer
	cw, err := sweep.NewCSVWriter(&cappedWriter{w: &buf, left: maxReportCSV}, sweep.Japanese)
	if err != nil {
		return schema.Activity{}, err
	}
	var lines []cards.SweepReportLine
	full := false
	err = h.o.Sweeps.Findings(ctx, j.ID, func(f sweep.Finding) error {
		if len(lines) < cards.MaxReportLines {
			lines = append(lines, reportLine(f))
		}
		if !full {
			if err := cw.Write(f); errors.Is(err, errReportFull) {
				full = true
			} else if err != nil {
				return err
			}
		}
		if full && len(lines) >= cards.MaxReportLines {
			return errEnoughLines
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnoughLines) {
		return schema.Activity{}, err
	}
	if !full {
		if err := cw.Flush(); errors.Is(err, errReportFull) {
			full = true
		} else if err != nil {
			return schema.Activity{}, err
		}
	}
	v := cards.SweepReportView{Job: jobView(j), Lines: lines, More: max(j.Counts.Candidates-int64(len(lines)), 0)}
	message := func() schema.Activity {
		a := cardActivity(cards.SweepReport(loc, v))
		a.Summary = cards.Text(loc, "sweepdesk.report.title", j.ID)
		return a
	}
	if !full {
		v.File = "sweep-" + j.ID + ".csv"
		a := message()
		a.Attachments = append(a.Attachments, schema.Attachment{
			ContentType: "text/csv", Name: v.File,
			ContentURL: "data:text/csv;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
		})
		if b, err := json.Marshal(a); err == nil && cards.Size(b) <= cards.MaxSize {
			return a, nil
		}
		v.File = ""
	}
	return message(), nil
}

// reportLine is a candidate as the report card lists them: devices oldest
// first, dates in Japan time.
func reportLine(f sweep.Finding) cards.SweepReportLine {
	l := cards.SweepReportLine{UPN: f.User.UPN, Action: f.Action}
	if l.UPN == "" {
		l.UPN = f.User.ID
	}
	for _, d := range sweep.Ordered(f.Devices) {
		cd := cards.Device{Kind: d.Kind, Name: d.Name}
		if d.Created != nil {
			cd.Registered = d.Created.In(tokyo).Format(time.DateOnly)
		}
		l.Devices = append(l.Devices, cd)
	}
	return l
}

// cappedWriter writes to w until left bytes are spent; a write that does
// not fit whole fails with errReportFull and writes nothing.
type cappedWriter struct {
	w    *bytes.Buffer
	left int
}

// Write writes p whole, or nothing and errReportFull when it does not fit.
func (c *cappedWriter) Write(p []byte) (int, error) {
	if len(p) > c.left {
		c.left = 0
		return 0, errReportFull
	}
	c.left -= len(p)
	return c.w.Write(p)
}
