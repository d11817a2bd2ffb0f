package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/internal/redistest"
	"github.com/smartswap/mfabot/sweep"
)

// 棚卸し (the tenant sweep) in the helpdesk channel, through the real
// handler: a helpdesk member starts, pauses, resumes and cancels sweeps
// with the desk card's buttons, and gets an ended sweep's report as a CSV
// attached to a card; anyone else is refused.

// agentThread is the conversation of the helpdesk channel's thread that
// agentPress presses cards in: what the bot sends during a press goes
// there.
const agentThread = helpdeskChannel + ";messageid=1"

// pressSweep presses the button verb of card as from, with data's job set
// to job when job is not "", and returns the card answered (failing the
// test on a text answer).
func (r *helpdeskRig) pressSweep(from string, card cards.Card, verb, job string) cards.Card {
	r.t.Helper()
	var inputs map[string]any
	if job != "" {
		inputs = map[string]any{cards.SweepJobData: job}
	}
	typ, v := r.agentPress(from, card, verb, inputs)
	if typ != bot.InvokeTypeCard {
		r.t.Fatalf("%s answered %s %v, want a card", verb, typ, v)
	}
	return asCard(r.t, v)
}

func TestSweepDesk(t *testing.T) {
	r, _ := newStatsRig(t)
	ctx := context.Background()
	store := r.bot.Store()
	jobs := func() []sweep.Job {
		t.Helper()
		js, err := store.Sweeps(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}

	// Anyone but a member is refused, and sees nothing.
	refused := r.channelSay(strangerAAD, helpdeskChannel, "棚卸し")
	if refused.Text != "この操作はヘルプデスクのメンバーだけが行えます。" || len(refused.Attachments) != 0 {
		t.Errorf("non-member got %+v", refused)
	}
	// In a user's 1:1 chat, the user is told where it works.
	a := r.activity(schema.Message)
	a.Text = "棚卸し"
	r.post(a)
	if got := r.conn.to("a:" + r.user); len(got) != 1 || !strings.Contains(got[0].Text, "ヘルプデスクのチャネル") {
		t.Errorf("棚卸し in a 1:1 chat: %+v", got)
	}

	// A member asks (棚卸し, 棚卸 or sweep) and starts a dry run.
	for _, typed := range []string{"棚卸", "sweep"} {
		wantCard(t, cardOf(t, r.channelSay(agentAAD, helpdeskChannel, typed)), "sweep-desk")
	}
	desk := cardOf(t, r.channelSay(agentAAD, helpdeskChannel, "棚卸し"))
	wantCard(t, desk, "sweep-desk")
	if !strings.Contains(text(desk), "まだ棚卸しはありません") {
		t.Errorf("empty desk: %s", text(desk))
	}
	if typ, v := r.agentPress(strangerAAD, desk, cards.VerbSweepDeskDryRun, nil); typ != bot.InvokeTypeMessage || !strings.Contains(v.(string), "ヘルプデスクのメンバーだけ") {
		t.Errorf("ドライランを開始 by a non-member: %s %v", typ, v)
	}
	if n := len(jobs()); n != 0 {
		t.Fatalf("a non-member's press started %d sweeps", n)
	}
	started := r.pressSweep(agentAAD, desk, cards.VerbSweepDeskDryRun, "")
	wantCard(t, started, "sweep-desk")
	js := jobs()
	if len(js) != 1 {
		t.Fatalf("%d sweeps after ドライランを開始, want 1", len(js))
	}
	dry := js[0]
	if dry.Spec.Notify || dry.Spec.By != "Agent a9e1" || dry.Spec.Tenant != convTenant || dry.Spec.Group != "" || dry.State != sweep.StateRunning {
		t.Errorf("the dry run: %+v", dry)
	}
	for _, want := range []string{"棚卸し " + dry.ID + " を開始しました", "実行中 · ドライラン", "Agent a9e1", "一時停止"} {
		if !strings.Contains(text(started), want) {
			t.Errorf("desk after the start lacks %q: %s", want, text(started))
		}
	}
	// One at a time: a second start is refused while it has not ended.
	busy := r.pressSweep(agentAAD, started, cards.VerbSweepDeskDryRun, "")
	if !strings.Contains(text(busy), "棚卸し "+dry.ID+" が実行中か一時停止中です") || len(jobs()) != 1 {
		t.Errorf("a second start while one runs: %d sweeps: %s", len(jobs()), text(busy))
	}

	// 一時停止 / 再開 / 中止 move its state; a non-member's press does not.
	if typ, _ := r.agentPress(strangerAAD, started, cards.VerbSweepDeskPause, map[string]any{cards.SweepJobData: dry.ID}); typ != bot.InvokeTypeMessage {
		t.Errorf("一時停止 by a non-member answered %s", typ)
	}
	state := func(want string) {
		t.Helper()
		j, err := store.LoadSweep(ctx, dry.ID)
		if err != nil || j.State != want {
			t.Fatalf("sweep %s is %q (%v), want %q", dry.ID, j.State, err, want)
		}
	}
	state(sweep.StateRunning)
	paused := r.pressSweep(agentAAD, started, cards.VerbSweepDeskPause, dry.ID)
	state(sweep.StatePaused)
	if !strings.Contains(text(paused), "一時停止しました") {
		t.Errorf("paused: %s", text(paused))
	}
	again := r.pressSweep(agentAAD, started, cards.VerbSweepDeskPause, dry.ID)
	if !strings.Contains(text(again), "「一時停止中」のため、この操作はできません") {
		t.Errorf("pausing a paused sweep: %s", text(again))
	}
	resumed := r.pressSweep(agentAAD, paused, cards.VerbSweepDeskResume, dry.ID)
	state(sweep.StateRunning)
	if !strings.Contains(text(resumed), "再開しました") {
		t.Errorf("resumed: %s", text(resumed))
	}
	cancelled := r.pressSweep(agentAAD, resumed, cards.VerbSweepDeskCancel, dry.ID)
	state(sweep.StateCancelled)
	if !strings.Contains(text(cancelled), "中止しました") || !strings.Contains(text(cancelled), "レポート") {
		t.Errorf("cancelled: %s", text(cancelled))
	}

	// 通知を開始 asks first; 戻る goes back, 実行 starts a sweep that notifies.
	confirm := r.pressSweep(agentAAD, cancelled, cards.VerbSweepDeskNotify, "")
	wantCard(t, confirm, "sweep-desk-confirm")
	if !strings.Contains(text(confirm), "全社員の候補者にカードを送ります。よろしいですか？") {
		t.Errorf("confirmation: %s", text(confirm))
	}
	wantCard(t, r.pressSweep(agentAAD, confirm, cards.VerbSweepDesk, ""), "sweep-desk")
	if n := len(jobs()); n != 1 {
		t.Fatalf("戻る started a sweep (%d)", n)
	}
	notifying := r.pressSweep(agentAAD, confirm, cards.VerbSweepDeskNotifyGo, "")
	js = jobs()
	if len(js) != 2 || !js[0].Spec.Notify || js[0].Spec.By != "Agent a9e1" || js[0].Spec.Tenant != convTenant {
		t.Fatalf("after 実行: %+v", js)
	}
	if !strings.Contains(text(notifying), "実行中 · 通知あり") {
		t.Errorf("desk after 実行: %s", text(notifying))
	}
	// Its report is not there before it ends.
	early := r.pressSweep(agentAAD, notifying, cards.VerbSweepDeskReport, js[0].ID)
	if !strings.Contains(text(early), "まだ終わっていません") {
		t.Errorf("report of a running sweep: %s", text(early))
	}
	r.pressSweep(agentAAD, notifying, cards.VerbSweepDeskCancel, js[0].ID)

	// Every start, pause, resume and cancel is in the member's audit stream.
	var events []string
	for _, e := range redistest.Client(t).XRange(ctx, r.prefixKey("{t:"+convTenant+":u:"+agentAAD+"}:audit"), "-", "+").Val() {
		if e.Values["by"] != agentAAD || e.Values["job"] == "" || e.Values["at"] == "" {
			t.Errorf("audit entry lacks who, which sweep or when: %v", e.Values)
		}
		events = append(events, e.Values["event"].(string))
	}
	if want := []string{"sweep_started", "sweep_paused", "sweep_resumed", "sweep_cancelled", "sweep_started", "sweep_cancelled"}; !slices.Equal(events, want) {
		t.Errorf("audit events %v, want %v", events, want)
	}

	// A sweep that ended (here taken through the store as the workers
	// would) answers レポート with its CSV attached next to a card.
	done := finishedSweep(t, r)
	before := len(r.conn.to(agentThread))
	answered := r.pressSweep(agentAAD, cancelled, cards.VerbSweepDeskReport, done.ID)
	wantCard(t, answered, "sweep-desk")
	sent := r.conn.to(agentThread)
	if len(sent) != before+1 {
		t.Fatalf("レポート sent %d messages to the thread, want 1", len(sent)-before)
	}
	report := sent[len(sent)-1]
	if len(report.Attachments) != 2 || report.Attachments[0].ContentType != cards.ContentType {
		t.Fatalf("report message: %+v", report)
	}
	reportCard := cardOf(t, schema.Activity{Attachments: report.Attachments[:1]})
	wantCard(t, reportCard, "sweep-report")
	for _, want := range []string{"two@example.com", "three@example.com", "iPhone 12", "sweep-" + done.ID + ".csv", "go run . sweep --resume " + done.ID + " --report file.csv"} {
		if !strings.Contains(text(reportCard), want) {
			t.Errorf("report card lacks %q: %s", want, text(reportCard))
		}
	}
	file := report.Attachments[1]
	if file.ContentType != "text/csv" || file.Name != "sweep-"+done.ID+".csv" {
		t.Errorf("attachment %s %q, want text/csv sweep-%s.csv", file.ContentType, file.Name, done.ID)
	}
	b64, ok := strings.CutPrefix(file.ContentURL, "data:text/csv;base64,")
	if !ok {
		t.Fatalf("attachment contentUrl %.60q… is not a base64 data URI", file.ContentURL)
	}
	csv, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(csv, []byte("\uFEFFオブジェクトID,UPN,表示名,部署,デバイス,デバイス数,対応\n")) {
		t.Errorf("CSV does not start with the BOM and the Japanese header: %q", csv[:min(len(csv), 80)])
	}
	if lines := strings.Split(strings.TrimSpace(string(csv)), "\n"); len(lines) != 3 {
		t.Errorf("CSV has %d lines, want the header and two candidates:\n%s", len(lines), csv)
	}
	if n := len(r.inChannel(http.MethodPost)); n != 0 {
		t.Errorf("the report went to the channel itself (%d posts), not the thread pressed in", n)
	}
}

// finishedSweep is a dry run taken to its end through the bot's store, as
// the sweep's workers would: three users listed and read, two candidates.
func finishedSweep(t *testing.T, r *helpdeskRig) sweep.Job {
	t.Helper()
	ctx := context.Background()
	store := r.bot.Store()
	now := time.Now()
	j, err := store.CreateSweep(ctx, sweep.Spec{Tenant: convTenant, By: "cli"}, now)
	if err != nil {
		t.Fatal(err)
	}
	users := []sweep.User{
		{ID: "u1", UPN: "one@example.com", DisplayName: "One"},
		{ID: "u2", UPN: "two@example.com", DisplayName: "Two", Department: "営業部"},
		{ID: "u3", UPN: "three@example.com", DisplayName: "Three"},
	}
	if _, ok, err := store.TakeLister(ctx, j.ID, "test", time.Minute); err != nil || !ok {
		t.Fatalf("take lister: %v %v", ok, err)
	}
	if err := store.AddPage(ctx, j.ID, "test", users, "", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	batches, err := store.ClaimBatches(ctx, j.ID, "test", now, time.Minute, 10)
	if err != nil || len(batches) != 1 {
		t.Fatalf("claim: %v %v", batches, err)
	}
	old, recent := time.Date(2023, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	devices := []sweep.Device{{Kind: sweep.KindPush, ID: "m1", Name: "iPhone 12", Created: &old}, {Kind: sweep.KindPush, ID: "m2", Name: "iPhone 15", Created: &recent}}
	out := sweep.BatchOutcome{Scanned: 3, Candidates: []sweep.Finding{{User: users[1], Devices: devices}, {User: users[2], Devices: devices}}}
	if ok, err := store.FinishBatch(ctx, j.ID, "test", batches[0], out); err != nil || !ok {
		t.Fatalf("finish batch: %v %v", ok, err)
	}
	if ok, err := store.FinishSweep(ctx, j.ID, now); err != nil || !ok {
		t.Fatalf("finish sweep: %v %v", ok, err)
	}
	return j
}

// TestSweepDeskGroup: the desk card's group input scopes the next sweep:
// anything but a GUID is refused with a clear line and starts nothing; a
// group's id reaches the job (dry run) and, through the confirmation, the
// notifying sweep.
func TestSweepDeskGroup(t *testing.T) {
	r, _ := newStatsRig(t)
	ctx := context.Background()
	store := r.bot.Store()
	desk := cardOf(t, r.channelSay(agentAAD, helpdeskChannel, "棚卸し"))
	for _, verb := range []string{cards.VerbSweepDeskDryRun, cards.VerbSweepDeskNotify} {
		typ, v := r.agentPress(agentAAD, desk, verb, map[string]any{cards.SweepGroupInput: "pilot group"})
		if typ != bot.InvokeTypeCard || !strings.Contains(text(asCard(t, v)), "グループのオブジェクト ID(GUID)を入力してください") {
			t.Errorf("%s with a bad group: %s %v", verb, typ, v)
		}
	}
	if js, _ := store.Sweeps(ctx, 10); len(js) != 0 {
		t.Fatalf("a bad group started %d sweeps", len(js))
	}
	const group = "0B1F2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"
	typ, v := r.agentPress(agentAAD, desk, cards.VerbSweepDeskNotify, map[string]any{cards.SweepGroupInput: " " + group + " "})
	confirm := asCard(t, v)
	if typ != bot.InvokeTypeCard || !strings.Contains(text(confirm), "グループ "+group+" のメンバーの候補者") {
		t.Fatalf("the confirmation does not name the group: %s", text(confirm))
	}
	// 実行 carries the group on (its data, not an input of this card).
	typ, _ = r.agentPress(agentAAD, confirm, cards.VerbSweepDeskNotifyGo, nil)
	js, err := store.Sweeps(ctx, 10)
	if typ != bot.InvokeTypeCard || err != nil || len(js) != 1 {
		t.Fatalf("after 実行: %s, %v, %+v", typ, err, js)
	}
	if !js[0].Spec.Notify || js[0].Spec.Group != strings.ToLower(group) {
		t.Errorf("the notifying sweep's spec %+v, want the group %s", js[0].Spec, strings.ToLower(group))
	}
}
