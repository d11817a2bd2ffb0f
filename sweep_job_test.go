package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
	"github.com/smartswap/mfabot/sweep"
)

// Users of the sweep tests: two in the pilot group (one with two phones),
// one outside it with two phones.
const (
	pilotGroup = "0b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	pilotTwo   = "11111111-1111-4111-8111-111111111111" // in the group, two phones
	pilotOne   = "22222222-2222-4222-8222-222222222222" // in the group, one phone
	outsideTwo = "33333333-3333-4333-8333-333333333333" // not in the group, two phones
)

// sweepRig is a bot with its sweep worker running, a sandbox directory and
// the users' chats (each has talked to the bot, so it can reach them).
type sweepRig struct {
	*chat
	prefix string
	vars   map[string]string
	users  map[string]*chat
}

func newSweepRig(t *testing.T) *sweepRig {
	t.Helper()
	c := newUser(t)
	prefix := redistest.Prefix(t)
	vars := map[string]string{"SWEEP_TENANT": convTenant}
	bot := c.startBot(prefix, vars, app.Options{SweepTick: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); bot.SweepWorker().Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	r := &sweepRig{chat: c, prefix: prefix, vars: c.vars(vars), users: map[string]*chat{}}
	for i, id := range []string{pilotTwo, pilotOne, outsideTwo} {
		c.sb.AddDirectoryUser(sandbox.DirectoryUser{ID: id, UPN: "user" + string(rune('a'+i)) + "@contoso.example",
			DisplayName: "社員 " + string(rune('A'+i)), Department: "営業部"})
		u := c.other(id)
		u.say("ヘルプ") // the bot keeps the chat's reference
		r.users[id] = u
	}
	c.sb.AddGroup(pilotGroup, pilotTwo, pilotOne)
	c.sb.AddMethod(pilotTwo, "iPhone 15")
	c.sb.AddMethod(outsideTwo, "Pixel 9")
	return r
}

// sweep runs `mfabot sweep args…` against the rig's Redis and sandbox and
// returns its stdout; it fails the test unless the command exits 0.
func (r *sweepRig) sweep(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := runSweep(ctx, args, env(r.vars), &stdout, &stderr,
		sweepDeps{redis: redistest.Client(t), prefix: r.prefix, tick: 20 * time.Millisecond})
	if code := exitCode(err); code != 0 {
		t.Fatalf("sweep %v: exit %d (%v); stderr:\n%s", args, code, err, stderr.String())
	}
	return stdout.String()
}

// jobID is the id the sweep's first stderr line names: the newest job.
func (r *sweepRig) newestJob(t *testing.T) sweep.Job {
	t.Helper()
	jobs, err := redisstore.New(redistest.Client(t), redisstore.WithPrefix(r.prefix)).Sweeps(context.Background(), 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("newest job: %v %v", jobs, err)
	}
	return jobs[0]
}

// sweepCards returns the sweep cards user id received.
func (r *sweepRig) sweepCards(t *testing.T, id string) []cards.Card {
	var out []cards.Card
	for _, a := range r.conn.to("a:" + id) {
		if len(a.Attachments) == 1 {
			if card := cardOf(t, a); cards.CardID(card) == "sweep" {
				if a.Summary != "古いスマホの登録が残っている可能性があります" {
					t.Errorf("sweep card's notification summary %q", a.Summary)
				}
				out = append(out, card)
			}
		}
	}
	return out
}

// readCSV reads a report: it must start with the BOM; the rows follow the
// header.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("\uFEFF")) {
		t.Fatalf("report has no UTF-8 BOM: %q", raw[:min(len(raw), 16)])
	}
	rows, err := csv.NewReader(bytes.NewReader(raw[3:])).ReadAll()
	if err != nil {
		t.Fatalf("report is not CSV: %v\n%s", err, raw)
	}
	if want := []string{"オブジェクトID", "UPN", "表示名", "部署", "デバイス", "デバイス数", "対応"}; strings.Join(rows[0], ",") != strings.Join(want, ",") {
		t.Errorf("header %q, want %q", rows[0], want)
	}
	return rows[1:]
}

// TestSweepDryRunThenPilotGroupThenBothInUse: a dry run sends nothing; a
// notifying sweep of the pilot group reaches only its candidate, once; who
// answers 「これは両方使っています」 is not asked again by the next sweep
// of everyone, which reaches the other candidate.
func TestSweepDryRunThenPilotGroupThenBothInUse(t *testing.T) {
	r := newSweepRig(t)
	dir := t.TempDir()
	sent := len(r.conn.sent)

	out := r.sweep(t, "--group", pilotGroup, "--report", filepath.Join(dir, "dry.csv"))
	if !strings.Contains(out, "確認したユーザー 2 人、候補 1 人（通知 0") {
		t.Errorf("dry run summary %q", out)
	}
	if len(r.conn.sent) != sent {
		t.Fatalf("the dry run sent %d activities", len(r.conn.sent)-sent)
	}
	rows := readCSV(t, filepath.Join(dir, "dry.csv"))
	if len(rows) != 1 || rows[0][0] != pilotTwo || rows[0][5] != "2" || !strings.Contains(rows[0][4], "iPhone 15") {
		t.Fatalf("dry run report rows %q, want the pilot's candidate with two devices", rows)
	}

	out = r.sweep(t, "--group", pilotGroup, "--notify")
	if !strings.Contains(out, "候補 1 人（通知 1") {
		t.Errorf("pilot summary %q", out)
	}
	if n := len(r.sweepCards(t, pilotTwo)); n != 1 {
		t.Fatalf("the pilot candidate got %d sweep cards, want 1", n)
	}
	if n := len(r.sweepCards(t, outsideTwo)) + len(r.sweepCards(t, pilotOne)); n != 0 {
		t.Fatalf("%d sweep cards outside the pilot's candidate", n)
	}

	card := r.sweepCards(t, pilotTwo)[0]
	both := r.users[pilotTwo].press(card, cards.VerbSweepBoth)
	wantCard(t, both, "sweep-both")

	out = r.sweep(t, "--notify", "--report", filepath.Join(dir, "all.csv"))
	if !strings.Contains(out, "確認したユーザー 3 人、候補 2 人（通知 1、会話なし 0、両方使用中 1") {
		t.Errorf("second sweep summary %q", out)
	}
	if n := len(r.sweepCards(t, pilotTwo)); n != 1 {
		t.Errorf("the user who uses both got %d sweep cards in all, want 1", n)
	}
	if n := len(r.sweepCards(t, outsideTwo)); n != 1 {
		t.Errorf("the other candidate got %d sweep cards, want 1", n)
	}
	actions := map[string]string{}
	for _, row := range readCSV(t, filepath.Join(dir, "all.csv")) {
		actions[row[0]] = row[6]
	}
	if actions[pilotTwo] != sweep.ActionBothInUse || actions[outsideTwo] != sweep.ActionNotified || len(actions) != 2 {
		t.Errorf("report actions %v", actions)
	}
}

// TestSweepCardStartsTheDeletion: the card's start button, with the old
// phone chosen, goes to the deletion step; the bot sees the old phone gone
// through Graph, the procedure ends at 完了, and the report written again
// (--resume) says so.
func TestSweepCardStartsTheDeletion(t *testing.T) {
	r := newSweepRig(t)
	r.sweep(t, "--notify")
	job := r.newestJob(t)
	u := r.users[outsideTwo]
	cs := r.sweepCards(t, outsideTwo)
	if len(cs) != 1 {
		t.Fatalf("%d sweep cards", len(cs))
	}
	var old sandbox.Method
	for _, m := range r.sb.Methods(outsideTwo) {
		if m.DisplayName != "Pixel 9" {
			old = m
		}
	}
	data := actionData(t, cs[0], cards.VerbSweepStart)

	// Nothing chosen, then everything chosen: both refused, nothing moves.
	card := u.invoke(data)
	wantCard(t, card, "sweep")
	if !strings.Contains(text(card), "削除する登録を選んでください") {
		t.Errorf("no choice: %s", text(card))
	}
	all := actionData(t, card, cards.VerbSweepStart)
	all[cards.SweepInput] = strings.Join([]string{old.ID, r.sb.Methods(outsideTwo)[1].ID}, ",")
	card = u.invoke(all)
	wantCard(t, card, "sweep")
	if !strings.Contains(text(card), "今使っているスマホの Authenticator は残してください") {
		t.Errorf("everything chosen: %s", text(card))
	}

	pick := actionData(t, card, cards.VerbSweepStart)
	pick[cards.SweepInput] = old.ID
	card = u.invoke(pick)
	wantCard(t, card, stepCard("delete_old"))
	if !strings.Contains(text(card), "iPhone SE") {
		t.Errorf("the deletion step does not name the old phone: %s", text(card))
	}
	card = u.press(card, cards.VerbNext)
	wantCard(t, card, stepCard("delete_old")) // still registered: Graph says so
	if !strings.Contains(text(card), "まだ削除されていません") {
		t.Errorf("not deleted yet: %s", text(card))
	}
	r.sb.DeleteMethod(outsideTwo, old.ID)
	card = u.press(card, cards.VerbNext)
	wantCard(t, card, stepCard("remove_account"))
	card = u.press(card, cards.VerbNext)
	wantCard(t, card, "done")

	dir := t.TempDir()
	out := r.sweep(t, "--resume", job.ID, "--report", filepath.Join(dir, "after.csv"))
	if !strings.Contains(out, "完了 1 人") {
		t.Errorf("summary after completion %q", out)
	}
	rows := readCSV(t, filepath.Join(dir, "after.csv"))
	var action string
	for _, row := range rows {
		if row[0] == outsideTwo {
			action = row[6]
		}
	}
	if action != sweep.ActionCompleted {
		t.Errorf("report action of the user who finished %q, want %q", action, sweep.ActionCompleted)
	}
}

// staticToken is a Graph credential whose token the test can look for.
type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestSweepReportsAndLogsHoldNoSecret: the Graph token reaches Graph and
// nothing else, through failures too. A sweep whose first batches fail
// (500, warnings on stderr), then one refused for a permission (403, the
// error line), and a sweep that finishes with its reports: the token is in
// none of stdout, stderr, the CSV and the JSON lines.
func TestSweepReportsAndLogsHoldNoSecret(t *testing.T) {
	const token = "eyJ0eXAiOiJKV1QiLCJzd2VlcC1zZWNyZXQtdG9rZW4ifQ.c2lnbmF0dXJl"
	sb := sandbox.New(sandbox.Options{Population: 60, TwoPhonesEvery: 5})
	var seen atomic.Int32
	base := serveGraph(t, sb, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+token {
			seen.Add(1)
		}
		sb.Handler().ServeHTTP(w, r)
	}))
	dir := t.TempDir()
	var all bytes.Buffer
	sweepOnce := func(args ...string) error {
		var stdout, stderr bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := runSweep(ctx, args, env(map[string]string{"GRAPH_BASE_URL": base, "LOG_LEVEL": "debug"}), &stdout, &stderr,
			sweepDeps{redis: redistest.Client(t), prefix: redistest.Prefix(t), tick: 10 * time.Millisecond,
				graphOpts: []graph.Option{graph.WithCredential(staticToken(token))}})
		all.Write(stdout.Bytes())
		all.Write(stderr.Bytes())
		if err != nil {
			all.WriteString(err.Error())
		}
		return err
	}
	sb.SetFault(sandbox.Fault{Status: http.StatusInternalServerError, Count: 2, Only: "$batch"})
	if err := sweepOnce("--report", filepath.Join(dir, "r.csv"), "--jsonl", filepath.Join(dir, "r.jsonl")); err != nil {
		t.Fatalf("sweep: %v\n%s", err, all.String())
	}
	sb.SetFault(sandbox.Fault{Status: http.StatusForbidden, Count: -1, Only: "$batch"})
	if err := sweepOnce(); exitCode(err) != 1 || !strings.Contains(err.Error(), "UserAuthenticationMethod.Read.All") {
		t.Fatalf("a refused sweep: %v", err)
	}
	if seen.Load() == 0 {
		t.Fatal("Graph never saw the token: the test proves nothing")
	}
	for name, b := range map[string][]byte{"output": all.Bytes(), "csv": readFile(t, filepath.Join(dir, "r.csv")), "jsonl": readFile(t, filepath.Join(dir, "r.jsonl"))} {
		if bytes.Contains(b, []byte(token)) || bytes.Contains(b, []byte("sweep-secret")) || bytes.Contains(b, []byte("Bearer")) {
			t.Errorf("the token appears in the %s:\n%s", name, b)
		}
	}
	if rows := readCSV(t, filepath.Join(dir, "r.csv")); len(rows) == 0 {
		t.Error("the report is empty: nothing was checked")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSweepDialogAnswersCommands: a swept user who types instead of
// pressing is answered about the sweep's card: 状況 names it and the
// deletion step after it, スマホ交換 offers to resume it rather than
// starting over, and 続きから shows the card again.
func TestSweepDialogAnswersCommands(t *testing.T) {
	r := newSweepRig(t)
	r.sweep(t, "--notify")
	u := r.users[outsideTwo]
	status := u.say("状況")
	if s := text(status); !strings.Contains(s, ": 古いスマホの登録が残っている可能性があります") || !strings.Contains(s, "次は: 古いスマホの登録を削除") {
		t.Errorf("状況 of a swept user: %s", s)
	}
	resume := u.say("スマホ交換")
	if s := text(resume); !strings.Contains(s, "古いスマホの登録が残っている可能性があります") {
		t.Errorf("スマホ交換 of a swept user: %s", s)
	}
	wantCard(t, u.say("続きから"), "sweep")
}
