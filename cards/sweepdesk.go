package cards

import "strings"

// Verbs of the tenant sweep's cards in the helpdesk channel (棚卸し). The
// buttons that act on one job carry its id in their data (SweepJobData),
// and, on a job's own card, where the press came from (SweepFromJob).
const (
	// VerbSweepDesk shows the desk card (棚卸し, typed, and its 更新).
	VerbSweepDesk = "sweepdesk"
	// VerbSweepDeskDryRun starts a dry run of the whole tenant.
	VerbSweepDeskDryRun = "sweepdesk_dryrun"
	// VerbSweepDeskNotify asks to confirm a sweep that notifies;
	// VerbSweepDeskNotifyGo is the confirmation (実行).
	VerbSweepDeskNotify   = "sweepdesk_notify"
	VerbSweepDeskNotifyGo = "sweepdesk_notify_confirm"
	// VerbSweepDeskPause, VerbSweepDeskResume and VerbSweepDeskCancel
	// act on a job; VerbSweepDeskReport answers with its report.
	VerbSweepDeskPause  = "sweepdesk_pause"
	VerbSweepDeskResume = "sweepdesk_resume"
	VerbSweepDeskCancel = "sweepdesk_cancel"
	VerbSweepDeskReport = "sweepdesk_report"
)

// Keys of the data of the sweep cards' buttons.
const (
	// SweepJobData is the job a button acts on.
	SweepJobData = "job"
	// SweepFromData is set to SweepFromJob on the buttons of a job's own
	// card, whose press is answered with that card again rather than the
	// desk.
	SweepFromData = "from"
	SweepFromJob  = "job"
)

// MaxReportLines is how many candidates the report card lists; the rest
// are in the attached CSV.
const MaxReportLines = 20

// The states of a sweep, as SweepJobView.State holds them (the values of
// package sweep's states).
const (
	SweepRunning   = "running"
	SweepPaused    = "paused"
	SweepDone      = "done"
	SweepCancelled = "cancelled"
	SweepFailed    = "failed"
)

// SweepJobView is one tenant sweep as the helpdesk channel shows it.
type SweepJobView struct {
	ID string
	// State is one of SweepRunning, SweepPaused, SweepDone,
	// SweepCancelled and SweepFailed.
	State string
	// Notify: the sweep sends candidates the card; false is a dry run.
	Notify bool
	// Group is the group swept ("": every enabled member user).
	Group string
	// By names who started it; Started and Ended ("" while it runs) are
	// times already formatted.
	By, Started, Ended string
	// Error says why a failed sweep failed.
	Error string
	// Listed: every user has been listed, so Users is the total.
	Listed bool
	// Users listed, users scanned, candidates found, cards sent, and what
	// the candidates did: completed the deletion, declined (they use both
	// devices), neither (Open).
	Users, Scanned, Candidates, Notified, Completed, Declined, Open int64
	// GraphRequests and GraphThrottled are Graph's load ($batch counts one).
	GraphRequests, GraphThrottled int64
}

// final reports whether the job has ended.
func (v SweepJobView) final() bool {
	return v.State == SweepDone || v.State == SweepCancelled || v.State == SweepFailed
}

// heading is the job's id, state and mode in one line.
func (v SweepJobView) heading(loc Locale) string {
	mode := Text(loc, "sweepdesk.mode.dryrun")
	if v.Notify {
		mode = Text(loc, "sweepdesk.mode.notify")
	}
	return Text(loc, "sweepdesk.job", v.ID, SweepStateText(loc, v.State)+" · "+mode)
}

// SweepStateText is a sweep's state in words.
func SweepStateText(loc Locale, state string) string {
	if k := "sweepdesk.state." + state; Known(k) {
		return Text(loc, k)
	}
	return Plain(state)
}

// details are the job's lines under its heading: who started it and when,
// its scope, its end, why it failed, and its counts.
func (v SweepJobView) details(loc Locale) []any {
	mode := Text(loc, "sweepdesk.mode.dryrun")
	if v.Notify {
		mode = Text(loc, "sweepdesk.mode.notify")
	}
	out := []any{textBlock(Text(loc, "sweepdesk.started", Plain(v.By), v.Started, mode), "isSubtle", true, "spacing", "None")}
	if v.Group != "" {
		out = append(out, textBlock(Text(loc, "sweepdesk.group", Plain(v.Group)), "isSubtle", true, "spacing", "None"))
	}
	if v.Ended != "" {
		out = append(out, textBlock(Text(loc, "sweepdesk.ended", v.Ended), "isSubtle", true, "spacing", "None"))
	}
	if v.Error != "" {
		out = append(out, notice(Text(loc, "sweepdesk.error", Plain(v.Error))))
	}
	scanned := Text(loc, "sweepdesk.scanned", v.Scanned, v.Users)
	if !v.Listed {
		scanned = Text(loc, "sweepdesk.scanned.listing", v.Scanned, v.Users)
	}
	count := func(n int64) string { return Text(loc, "sweepdesk.count", n) }
	return append(out, map[string]any{"type": "FactSet", "facts": []any{
		fact(Text(loc, "sweepdesk.fact.scanned"), scanned),
		fact(Text(loc, "sweepdesk.fact.candidates"), count(v.Candidates)),
		fact(Text(loc, "sweepdesk.fact.notified"), count(v.Notified)),
		fact(Text(loc, "sweepdesk.fact.completed"), count(v.Completed)),
		fact(Text(loc, "sweepdesk.fact.both"), count(v.Declined)),
		fact(Text(loc, "sweepdesk.fact.open"), count(v.Open)),
		fact(Text(loc, "sweepdesk.fact.graph"), Text(loc, "sweepdesk.graph", v.GraphRequests, v.GraphThrottled)),
	}})
}

// buttons are what can be done with the job now: pause or resume and
// cancel while it has not ended, its report once it has. fromJob marks
// them as pressed on the job's own card.
func (v SweepJobView) buttons(loc Locale, fromJob bool) []any {
	b := func(key, verb, style string) map[string]any {
		d := map[string]any{"verb": verb, SweepJobData: v.ID}
		if fromJob {
			d[SweepFromData] = SweepFromJob
		}
		a := map[string]any{"type": "Action.Execute", "title": Text(loc, key), "verb": verb, "data": d}
		if style != "" {
			a["style"] = style
		}
		return a
	}
	switch v.State {
	case SweepRunning:
		return []any{b("btn.sweepdesk.pause", VerbSweepDeskPause, ""), b("btn.cancel", VerbSweepDeskCancel, "destructive")}
	case SweepPaused:
		return []any{b("btn.sweepdesk.resume", VerbSweepDeskResume, "positive"), b("btn.cancel", VerbSweepDeskCancel, "destructive")}
	}
	return []any{b("btn.sweepdesk.report", VerbSweepDeskReport, "")}
}

// SweepDesk is the card 棚卸し answers with in the helpdesk channel: the
// newest sweeps with their counts and buttons (一時停止 / 再開 / 中止 while
// one runs, レポート once it has ended), and buttons to start a dry run of
// the whole tenant or, after a confirmation, a sweep that notifies.
// noticeText, when set, is shown on top (what the last press did).
func SweepDesk(loc Locale, jobs []SweepJobView, noticeText string) Card {
	body := []any{title(Text(loc, "sweepdesk.title"))}
	if noticeText != "" {
		body = append(body, notice(noticeText))
	}
	body = append(body, textBlock(Text(loc, "sweepdesk.intro"), "isSubtle", true))
	if len(jobs) == 0 {
		body = append(body, textBlock(Text(loc, "sweepdesk.none")))
	}
	for _, j := range jobs {
		body = append(body, textBlock(j.heading(loc), "weight", "Bolder", "size", "Medium", "separator", true))
		body = append(body, j.details(loc)...)
		body = append(body, map[string]any{"type": "ActionSet", "actions": j.buttons(loc, false)})
	}
	// The scope of the next sweep: a group's transitive members (a pilot
	// group), or everyone when left empty.
	body = append(body, map[string]any{"type": "Input.Text", "id": SweepGroupInput, "separator": true,
		"label": Text(loc, "sweepdesk.group.label"), "placeholder": Text(loc, "sweepdesk.group.placeholder"), "maxLength": 64})
	return newCard("sweep-desk", body, []any{
		execute(Text(loc, "btn.sweepdesk.dryrun"), VerbSweepDeskDryRun, nil, "positive"),
		execute(Text(loc, "btn.sweepdesk.notify"), VerbSweepDeskNotify, nil, ""),
		execute(Text(loc, "btn.sweepdesk.refresh"), VerbSweepDesk, nil, ""),
	})
}

// SweepGroupInput is the desk card's input of a group's object id: the
// start buttons carry it, and the confirmation's 実行 carries it on.
const SweepGroupInput = "group"

// SweepDeskConfirm asks a helpdesk member to confirm a sweep that sends
// the card to every candidate in the tenant, or among the members of
// group when it is set.
func SweepDeskConfirm(loc Locale, group string) Card {
	body := textBlock(Text(loc, "sweepdesk.confirm.body"), "weight", "Bolder")
	if group != "" {
		body = textBlock(Text(loc, "sweepdesk.confirm.group", group), "weight", "Bolder")
	}
	goBtn := execute(Text(loc, "btn.sweepdesk.go"), VerbSweepDeskNotifyGo, nil, "destructive")
	if group != "" {
		goBtn["data"].(map[string]any)[SweepGroupInput] = group
	}
	return newCard("sweep-desk-confirm", []any{
		title(Text(loc, "sweepdesk.confirm.title")),
		body,
		textBlock(Text(loc, "sweepdesk.confirm.note")),
	}, []any{
		goBtn,
		execute(Text(loc, "btn.back"), VerbSweepDesk, nil, ""),
	})
}

// SweepJob is one sweep's card in the helpdesk channel, posted once and
// updated in place: its progress while it runs or is paused ("sweep-
// progress"), its summary once it has ended ("sweep-summary"), with the
// buttons of the desk for that job. noticeText, when set, is shown on top.
func SweepJob(loc Locale, v SweepJobView, noticeText string) Card {
	id, key := "sweep-progress", "sweepdesk.progress.title"
	if v.final() {
		id, key = "sweep-summary", "sweepdesk.summary.title"
	}
	body := []any{title(Text(loc, key, v.ID))}
	if noticeText != "" {
		body = append(body, notice(noticeText))
	}
	body = append(body, textBlock(SweepStateText(loc, v.State), "weight", "Bolder"))
	body = append(body, v.details(loc)...)
	return newCard(id, body, v.buttons(loc, true))
}

// SweepReportLine is one candidate as the report card lists them.
type SweepReportLine struct {
	UPN     string
	Devices []Device
	// Action is what was done (a package sweep action: "", "notified", …,
	// "failed:<reason>").
	Action string
}

// SweepReportView is what the report card shows.
type SweepReportView struct {
	Job SweepJobView
	// File names the CSV attached next to the card; "" when it was too
	// large to attach.
	File string
	// Lines are the first candidates, at most MaxReportLines of them
	// shown; More counts the others.
	Lines []SweepReportLine
	More  int64
}

// maxReportDevices is how many devices a report line names, and
// maxReportName how many characters of a name or UPN it shows: the card
// stays small next to its attachment.
const (
	maxReportDevices = 4
	maxReportName    = 64
)

// SweepActionText is what was done about a candidate, in words.
func SweepActionText(loc Locale, action string) string {
	if reason, ok := strings.CutPrefix(action, "failed:"); ok {
		return Text(loc, "sweepdesk.action.failed", Plain(cut(reason, maxReportName)))
	}
	if k := "sweepdesk.action." + action; Known(k) {
		return Text(loc, k)
	}
	return Plain(cut(action, maxReportName))
}

// SweepReport is the card next to a sweep's CSV report: the counts, the
// file attached (or, when it was too large, the command that writes it),
// and the first candidates, so that it is of use where a client does not
// show the attachment.
func SweepReport(loc Locale, v SweepReportView) Card {
	body := []any{title(Text(loc, "sweepdesk.report.title", v.Job.ID))}
	body = append(body, textBlock(v.Job.heading(loc), "weight", "Bolder"))
	body = append(body, v.Job.details(loc)...)
	if v.File != "" {
		body = append(body, textBlock(Text(loc, "sweepdesk.report.attached", Plain(v.File)), "separator", true))
		body = append(body, textBlock(Text(loc, "sweepdesk.report.cli", v.Job.ID), "isSubtle", true))
	} else {
		body = append(body, textBlock(Text(loc, "sweepdesk.report.toolarge", v.Job.ID), "color", "Attention", "separator", true))
	}
	lines := v.Lines
	more := v.More
	if over := len(lines) - MaxReportLines; over > 0 {
		lines, more = lines[:MaxReportLines], more+int64(over)
	}
	if len(lines) == 0 {
		body = append(body, textBlock(Text(loc, "sweepdesk.report.none")))
	} else {
		body = append(body, textBlock(Text(loc, "sweepdesk.report.first", len(lines)), "weight", "Bolder"))
	}
	for _, l := range lines {
		body = append(body, textBlock("- "+reportLine(loc, l), "spacing", "None"))
	}
	if more > 0 {
		body = append(body, textBlock(Text(loc, "more", more), "isSubtle", true, "spacing", "None"))
	}
	return newCard("sweep-report", body, []any{execute(Text(loc, "btn.sweepdesk.list"), VerbSweepDesk, nil, "")})
}

// reportLine is a candidate in one line: UPN, devices (oldest first, as
// given), and what was done.
func reportLine(loc Locale, l SweepReportLine) string {
	devs := make([]string, 0, min(len(l.Devices), maxReportDevices)+1)
	for i, d := range l.Devices {
		if i == maxReportDevices {
			devs = append(devs, Text(loc, "more", len(l.Devices)-i))
			break
		}
		kind := Text(loc, "sweep.kind.push")
		if d.Kind == KindPasskey {
			kind = Text(loc, "sweep.kind.passkey")
		}
		date := Text(loc, "old.unknown")
		if d.Registered != "" {
			date = Text(loc, "old.registered", d.Registered)
		}
		devs = append(devs, kind+": "+Plain(cut(d.Name, maxReportName))+" ("+date+")")
	}
	return "**" + Plain(cut(l.UPN, maxReportName)) + "** — " + strings.Join(devs, ", ") + " — " + SweepActionText(loc, l.Action)
}

// cut shortens s to at most n characters, ending in "…" when it was cut.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
