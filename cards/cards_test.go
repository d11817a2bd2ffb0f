package cards

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/google/go-cmp/cmp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the card builders")

const (
	securityInfoURL = "https://mysignins.microsoft.com/security-info"
	sandboxURL      = "https://sandbox.example.com/security-info"
	appStoreURL     = "https://apps.apple.com/app/microsoft-authenticator/id983156458"
	googlePlayURL   = "https://play.google.com/store/apps/details?id=com.azure.authenticator"
	maxCardBytes    = 80 * 1024
)

var locales = []Locale{Japanese, English}

// StepIDs are the procedure's steps as the embedded content file lists
// them, in its order. The procedure itself is the dialogs package's step
// table, which checks the embedded file against it; cards knows no steps.
var StepIDs = DefaultContent().StepIDs()

// testRef is the fixed Ref of the golden cards, for step.
func testRef(step string) Ref {
	return Ref{Dialog: "dlg-0123456789abcdef", Step: step, Nonce: "nonce-fedcba9876543210"}
}

// buttons are the titles every step card must show, spelled out here rather
// than read from the catalog so that a catalog change is caught.
var buttons = map[Locale]struct{ next, back, cancel, helpdesk string }{
	Japanese: {"次へ", "戻る", "中止", "ヘルプデスクに相談"},
	English:  {"Next", "Back", "Cancel", "Ask the helpdesk"},
}

// cardCase is one golden card.
type cardCase struct {
	name   string // file name part: testdata/<name>.<loc>.golden.json
	loc    Locale
	id     string // what CardID must return
	card   Card
	ref    *Ref // the Ref every Action.Execute must carry, if any
	step   *StepView
	stepID string
}

func (c cardCase) file() string {
	return filepath.Join("testdata", c.name+"."+string(c.loc)+".golden.json")
}

// cardCases builds every card of every builder in both locales.
func cardCases(t testing.TB) []cardCase {
	t.Helper()
	return cardCasesFrom(t, DefaultContent())
}

func cardCasesFrom(t testing.TB, content *Content) []cardCase {
	t.Helper()
	var cases []cardCase
	for _, loc := range locales {
		add := func(name, id string, card Card, ref *Ref) {
			cases = append(cases, cardCase{name: name, loc: loc, id: id, card: card, ref: ref})
		}
		addStep := func(name string, v StepView) {
			ref := v.Ref
			cases = append(cases, cardCase{
				name: name, loc: loc, id: "step-" + v.Ref.Step, card: Step(content, loc, v),
				ref: &ref, step: &v, stepID: v.Ref.Step,
			})
		}
		for i, id := range StepIDs {
			// The dialog's step table offers 紛失・故障した where the old phone is asked about.
			addStep("step-"+id, StepView{Ref: testRef(id), Index: i + 1, Total: len(StepIDs), Lost: id == "old_phone"})
		}
		addStep("step-show_qr-notice", StepView{Ref: testRef("show_qr"), Index: 6, Total: 10, Notice: Text(loc, "stale.notice")})
		addStep("step-open_page-override", StepView{Ref: testRef("open_page"), Index: 3, Total: 10, SecurityInfoURL: sandboxURL})
		addStep("step-confirm_new-checking", StepView{Ref: testRef("confirm_new"), Index: 8, Total: 10, Checking: true})
		addStep("step-confirm_new-found", StepView{Ref: testRef("confirm_new"), Index: 8, Total: 10, Found: "iPhone 15"})
		addStep("step-confirm_new-problem", StepView{Ref: testRef("confirm_new"), Index: 8, Total: 10, Problem: Text(loc, "graph.forbidden"), Retry: true})
		oldDevices := []Device{{Name: "iPhone SE (3rd generation)"}, {Name: "Pixel 6", Registered: "2023-04-01"}}
		addStep("step-delete_old-devices", StepView{Ref: testRef("delete_old"), Index: 9, Total: 10, Devices: oldDevices, BotDelete: true})
		addStep("step-delete_old-still", StepView{Ref: testRef("delete_old"), Index: 9, Total: 10, Devices: oldDevices, Problem: Text(loc, "delete.still", "Pixel 6"), Retry: true})
		// The whole phone: the passkey step, and a deletion step naming a
		// passkey and asking about another authenticator app.
		addStep("step-add_passkey-decline", StepView{Ref: testRef("add_passkey"), Index: 9, Total: 11, Decline: true})
		addStep("step-add_passkey-checking", StepView{Ref: testRef("add_passkey"), Index: 9, Total: 11, Decline: true, Checking: true, CheckingPasskey: true})
		addStep("step-add_passkey-found", StepView{Ref: testRef("add_passkey"), Index: 9, Total: 11, FoundPasskey: "iPhone 15"})
		wholePhone := []Device{{Name: "iPhone SE (3rd generation)"}, {Kind: KindPasskey, Name: "iPhone SE (3rd generation)", Registered: "2026-09-12"}}
		addStep("step-delete_old-passkey", StepView{Ref: testRef("delete_old"), Index: 10, Total: 11, Devices: wholePhone, AskOath: 1, BotDelete: true,
			Problem: Text(loc, "delete.still", CredentialName(loc, wholePhone[1])), Retry: true})
		addStep("step-delete_old-oath", StepView{Ref: testRef("delete_old"), Index: 10, Total: 11, Devices: append(wholePhone, Device{Kind: KindOath})})

		title := func(step string) string { return content.Step(step).Title.In(loc) }
		ref := testRef("show_qr")
		add("welcome", "welcome", Welcome(loc), nil)
		add("help", "help", Help(loc), nil)
		add("unknown", "unknown", Unknown(loc), nil)
		add("resume", "resume", Resume(loc, ref, 6, 10, title("show_qr")), &ref)
		add("status", "status", Status(loc, ref, 6, 10, title("show_qr"), title("enter_number")), &ref)
		last := testRef("remove_account")
		add("status-last", "status", Status(loc, last, 10, 10, title("remove_account"), ""), &last)
		add("no-dialog", "no-dialog", NoDialog(loc), nil)
		add("no-dialog-notice", "no-dialog", NoDialogNotice(loc, Text(loc, "stale.notice")), nil)
		add("cancelled", "cancelled", Cancelled(loc), nil)
		add("too-large", "too-large", TooLarge(), nil)
		var titles []string
		for _, id := range StepIDs {
			titles = append(titles, title(id))
		}
		add("done", "done", Done(loc, Summary{StepTitles: titles, Took: 17*time.Minute + 40*time.Second}), nil)
		lost := testRef("old_phone")
		add("lost", "lost", Lost(content, loc, lost, 0), &lost)
		add("lost-ticket", "lost", Lost(content, loc, lost, 42), &lost)
		add("helpdesk-form", "helpdesk-form", HelpdeskForm(loc, &ref), &ref)
		add("helpdesk-form-no-dialog", "helpdesk-form", HelpdeskForm(loc, nil), nil)
		add("helpdesk-form-again", "helpdesk-form", HelpdeskFormAgain(loc, &ref, Text(loc, "hd.ratelimited"), "qr", "カメラが起動しません"), &ref)
		add("ticket-received", "ticket-received", TicketReceived(content, loc, 42, false, false, &ref), &ref)
		add("ticket-received-added-nochannel", "ticket-received", TicketReceived(content, loc, 42, true, true, nil), nil)
		rem := testRef("delete_old")
		add("reminder", "reminder", Reminder(loc, ReminderView{Ref: rem, Index: 9, Total: 10, StepTitle: title("delete_old"),
			OldDevices: []Device{{Name: "iPhone SE (3rd generation)"}}, CanSnooze: true}), &rem)
		add("reminder-abandoned", "reminder", Reminder(loc, ReminderView{Ref: ref, Index: 6, Total: 10, StepTitle: title("show_qr"), Abandoned: true}), &ref)
		add("snoozed", "snoozed", Snoozed(loc, rem, Text(loc, "reminder.snoozed")), &rem)
		signIn := testRef("open_page")
		add("tap", "tap", TAPForUser(loc, "Ab3$-example-pass", 60, signIn), &signIn)
		tv := TicketView{Tenant: "tenant-1", User: "user-1", Number: 42, Status: "open", UserName: "山田 太郎", UPN: "taro@example.com",
			Step: title("show_qr"), Reason: ReasonText(Japanese, "qr"), Notes: []string{"11/24 10:00 QR コードが読み取れない: カメラが起動しない"},
			Timeline: []string{"11/24 09:50 cautions: started"}, Devices: []string{"iPhone SE (3rd generation)"}, Locale: "ja"}
		add("ticket", "ticket", Ticket(tv), nil)
		lostTV := tv
		lostTV.Status, lostTV.Assignee, lostTV.AssignedAt, lostTV.Reason, lostTV.OfferTAP, lostTV.OfferRevoke = "assigned", "佐藤 花子", "2026-11-24 10:05", ReasonText(Japanese, "noold"), true, true
		add("ticket-lost-assigned", "ticket", Ticket(lostTV), nil)
		resolvedTV := tv
		resolvedTV.Status = "resolved"
		add("ticket-resolved", "ticket", Ticket(resolvedTV), nil)
		add("ticket-tap-confirm", "ticket-tap-confirm", ConfirmTAP(lostTV, 60), nil)
		add("ticket-revoke-confirm", "ticket-revoke-confirm", ConfirmRevoke(lostTV), nil)
		add("helpdesk", "helpdesk", HelpdeskInfo(content, loc, &ref, title("show_qr")), &ref)
		add("helpdesk-not-started", "helpdesk", HelpdeskInfo(content, loc, nil, ""), nil)
		del := testRef("delete_old")
		add("confirm-delete", "confirm-delete", ConfirmBotDelete(loc, del, []Device{{Name: "iPhone SE (3rd generation)"}}), &del)
		pick := testRef("pick_old")
		sweepChoices := []SweepChoice{{ID: "m1", Device: Device{Name: "iPhone SE (3rd generation)"}},
			{ID: "m2", Device: Device{Name: "iPhone 15", Registered: "2026-11-20"}},
			{ID: "p1", Device: Device{Kind: KindPasskey, Name: "iPhone SE (3rd generation)", Registered: "2026-09-12"}}}
		add("sweep", "sweep", SweepNotice(loc, pick, sweepChoices, ""), &pick)
		add("sweep-problem", "sweep", SweepNotice(loc, pick, sweepChoices, Text(loc, "sweep.pick.all")), &pick)
		add("sweep-both", "sweep-both", SweepDeclined(loc, []Device{{Name: "iPhone SE (3rd generation)"}, {Name: "iPhone 15"}}), nil)
		add("done-devices", "done", Done(loc, Summary{StepTitles: titles, Took: 9 * time.Minute, NewDevice: "iPhone 15", OldDevices: []string{"iPhone SE (3rd generation)"}}), nil)
		// The stats card is for the helpdesk channel, in Japanese whatever
		// the locale.
		sv := StatsView{AsOf: "2026-11-24 10:05", OpenTickets: 3, StepTitles: titles, Windows: []StatsWindow{
			{Days: 7, Started: 12, Completed: 5, Cancelled: 2, Lost: 1, Entered: []int64{12, 11, 10, 9, 9, 8, 7, 6, 5, 5}, Median: 17*time.Minute + 40*time.Second},
			{Days: 30, Started: 40, Completed: 29, Cancelled: 4, Lost: 2, Entered: []int64{40, 38, 35, 33, 33, 32, 31, 30, 28, 29}, Median: 26 * time.Hour},
		}}
		add("stats", "stats", Stats(sv), nil)
		add("stats-empty", "stats", Stats(StatsView{AsOf: "2026-11-24 10:05", StepTitles: titles, Windows: []StatsWindow{{Days: 7}, {Days: 30}}}), nil)
		// The tenant sweep in the helpdesk channel (棚卸し).
		running := SweepJobView{ID: "20261124-0a1b2c", State: SweepRunning, By: "佐藤 花子", Started: "2026-11-24 10:05",
			Users: 3000, Scanned: 1200, Candidates: 41, GraphRequests: 120, GraphThrottled: 2}
		paused := running
		paused.State, paused.Notify, paused.Group, paused.Listed, paused.Notified = SweepPaused, true, "5f0c2d1e-group", true, 30
		done := SweepJobView{ID: "20261120-3d4e5f", State: SweepDone, Notify: true, By: "cli", Started: "2026-11-20 09:00", Ended: "2026-11-20 11:40",
			Listed: true, Users: 3000, Scanned: 3000, Candidates: 97, Notified: 90, Completed: 52, Declined: 11, Open: 34, GraphRequests: 301}
		failed := SweepJobView{ID: "20261119-6a7b8c", State: SweepFailed, By: "cli", Started: "2026-11-19 09:00", Ended: "2026-11-19 09:01",
			Error: "Graph refused ListUsers (403): grant the application permission User.Read.All and give admin consent"}
		add("sweep-desk", "sweep-desk", SweepDesk(loc, []SweepJobView{running, done, failed}, ""), nil)
		add("sweep-desk-notice", "sweep-desk", SweepDesk(loc, []SweepJobView{paused}, Text(loc, "sweepdesk.paused", paused.ID)), nil)
		add("sweep-desk-empty", "sweep-desk", SweepDesk(loc, nil, ""), nil)
		add("sweep-desk-confirm", "sweep-desk-confirm", SweepDeskConfirm(loc, ""), nil)
		add("sweep-desk-confirm-group", "sweep-desk-confirm", SweepDeskConfirm(loc, "0b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"), nil)
		add("sweep-progress", "sweep-progress", SweepJob(loc, running, ""), nil)
		add("sweep-progress-paused", "sweep-progress", SweepJob(loc, paused, Text(loc, "sweepdesk.paused", paused.ID)), nil)
		add("sweep-summary", "sweep-summary", SweepJob(loc, done, ""), nil)
		add("sweep-summary-failed", "sweep-summary", SweepJob(loc, failed, ""), nil)
		reportLines := []SweepReportLine{
			{UPN: "taro@example.com", Devices: []Device{{Name: "iPhone SE (3rd generation)", Registered: "2023-04-01"}, {Name: "iPhone 15", Registered: "2026-11-20"}}, Action: "notified"},
			{UPN: "hanako@example.com", Devices: []Device{{Name: "Pixel 6"}, {Kind: KindPasskey, Name: "Pixel 6"}, {Kind: KindPasskey, Name: "Pixel 8", Registered: "2026-09-12"}}, Action: "both_in_use"},
			{UPN: "jiro@example.com", Devices: []Device{{Name: "Galaxy S21"}, {Name: "Galaxy S24"}}, Action: "failed:graph_forbidden"},
		}
		add("sweep-report", "sweep-report", SweepReport(loc, SweepReportView{Job: done, File: "sweep-" + done.ID + ".csv", Lines: reportLines, More: 94}), nil)
		add("sweep-report-toolarge", "sweep-report", SweepReport(loc, SweepReportView{Job: done, Lines: reportLines[:1], More: 96}), nil)
		add("sweep-report-none", "sweep-report", SweepReport(loc, SweepReportView{Job: SweepJobView{ID: "20261118-000000", State: SweepDone, By: "cli", Started: "2026-11-18 09:00", Listed: true}, File: "sweep-20261118-000000.csv"}), nil)
	}
	return cases
}

// indented is a card as written in a golden file: indented, and without
// HTML escaping so that "**>**" stays readable.
func indented(t testing.TB, c Card) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		t.Fatalf("encoding card: %v", err)
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	cases := cardCases(t)
	want := map[string]bool{}
	for _, c := range cases {
		file := c.file()
		if want[file] {
			t.Fatalf("two cases write %s", file)
		}
		want[file] = true
		got := indented(t, c.card)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		golden, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("%v (run go test ./cards -update to create it)", err)
			continue
		}
		if bytes.Equal(got, golden) {
			continue
		}
		var g, w any
		if err := json.Unmarshal(golden, &w); err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(w, g); d != "" {
			t.Errorf("%s differs from the builder's card (-golden +built); if the change is intended, run go test ./cards -update:\n%s", file, d)
		} else {
			t.Errorf("%s: same JSON but different bytes (formatting); run go test ./cards -update", file)
		}
	}

	// Stale golden files would still be fed to the Adaptive Cards validator.
	files, err := filepath.Glob(filepath.Join("testdata", "*.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if want[f] {
			continue
		}
		if *update {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s has no card case: delete it or run go test ./cards -update", f)
	}
}

// Builders must return fresh values: a caller (or the JSON encoder's
// consumer) scribbling on one card must not change the next one.
func TestBuildersReturnFreshValues(t *testing.T) {
	content := DefaultContent()
	for _, c := range cardCasesFrom(t, content) {
		scribble(c.card)
	}
	want := cardCases(t)
	for i, c := range cardCasesFrom(t, content) {
		if !bytes.Equal(indented(t, c.card), indented(t, want[i].card)) {
			t.Errorf("%s.%s changed after an earlier card was modified", c.name, c.loc)
		}
	}
}

func scribble(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			scribble(x)
			if s, ok := x.(string); ok {
				v[k] = s + "!"
			}
		}
	case []any:
		for _, x := range v {
			scribble(x)
		}
	}
}

// actionsOf returns every action of a card: its buttons and the
// selectActions of its elements, with where each was found.
func actionsOf(v any) (buttons, all []map[string]any) {
	var walk func(v any, buttonList bool)
	walk = func(v any, buttonList bool) {
		switch v := v.(type) {
		case map[string]any:
			if typ, _ := v["type"].(string); strings.HasPrefix(typ, "Action.") {
				all = append(all, v)
				if buttonList {
					buttons = append(buttons, v)
				}
			}
			for k, x := range v {
				if k == "data" {
					continue
				}
				walk(x, k == "actions")
			}
		case []any:
			for _, x := range v {
				walk(x, buttonList)
			}
		}
	}
	walk(v, false)
	return buttons, all
}

// elementsOf returns every element of a card with the given type.
func elementsOf(v any, typ string) []map[string]any {
	var out []map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == typ {
				out = append(out, v)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return out
}

func titles(actions []map[string]any) []string {
	var out []string
	for _, a := range actions {
		s, _ := a["title"].(string)
		out = append(out, s)
	}
	return out
}

func TestCardStructure(t *testing.T) {
	largest, largestName := 0, ""
	for _, c := range cardCases(t) {
		t.Run(c.name+"."+string(c.loc), func(t *testing.T) {
			if c.card["type"] != "AdaptiveCard" {
				t.Errorf("type = %v, want AdaptiveCard", c.card["type"])
			}
			v, _ := c.card["version"].(string)
			if v != "1.5" {
				t.Errorf("version = %q, want 1.5 (Teams renders bot cards up to 1.5)", v)
			}
			if major, minor, ok := strings.Cut(v, "."); !ok || major != "1" {
				t.Errorf("version %q is not 1.x", v)
			} else if n, err := strconv.Atoi(minor); err != nil || n > 5 {
				t.Errorf("version %q is above 1.5", v)
			}
			if w := c.card["msteams"]; !cmp.Equal(w, map[string]any{"width": "Full"}) {
				t.Errorf("msteams = %v, want width Full", w)
			}

			wire, err := json.Marshal(c.card)
			if err != nil {
				t.Fatal(err)
			}
			if len(wire) > maxCardBytes {
				t.Errorf("card is %d bytes, over the %d-byte budget", len(wire), maxCardBytes)
			}
			if len(wire) > largest {
				largest, largestName = len(wire), c.name+"."+string(c.loc)
			}

			if got := CardID(c.card); got != c.id {
				t.Errorf("CardID = %q, want %q", got, c.id)
			}

			btns, all := actionsOf(c.card)
			if len(btns) == 0 && c.id != "done" {
				t.Error("card has no buttons")
			}
			for _, a := range all {
				switch a["type"] {
				case "Action.Execute":
					checkExecute(t, a, c.ref)
				case "Action.OpenUrl":
					if u, _ := a["url"].(string); !strings.HasPrefix(u, "https://") {
						t.Errorf("Action.OpenUrl %q: url %q is not https", a["title"], u)
					}
				default:
					t.Errorf("unexpected action type %v", a["type"])
				}
			}
			for _, b := range btns {
				if s, _ := b["title"].(string); strings.TrimSpace(s) == "" {
					t.Errorf("button %v has no title", b)
				}
			}

			// Raw catalog keys in a card mean a key missing from the catalog.
			for _, s := range stringsOf(c.card) {
				if _, ok := catalog[s]; ok {
					t.Errorf("card shows the catalog key %q instead of its text", s)
				}
			}

			if c.step != nil {
				checkStepCard(t, c, btns)
			}
		})
	}
	t.Logf("largest card: %s, %d bytes of JSON (budget %d)", largestName, largest, maxCardBytes)
}

// checkExecute checks an Action.Execute: a verb, repeated in its data, and
// the card's Ref (or none on cards made outside a dialog).
func checkExecute(t *testing.T, a map[string]any, ref *Ref) {
	t.Helper()
	verb, _ := a["verb"].(string)
	if verb == "" {
		t.Errorf("Action.Execute %q has no verb", a["title"])
		return
	}
	data, ok := a["data"].(map[string]any)
	if !ok {
		t.Errorf("Action.Execute %q has no data", a["title"])
		return
	}
	if data["verb"] != verb {
		t.Errorf("Action.Execute %q: data.verb = %v, want %q", a["title"], data["verb"], verb)
	}
	if strings.HasPrefix(verb, "ticket_") {
		// Ticket buttons name the ticket, not a dialog.
		for _, k := range []string{"tenant", "user", "ticket"} {
			if v, _ := data[k].(string); v == "" {
				t.Errorf("Action.Execute %q: no %s in %v", a["title"], k, data)
			}
		}
		if len(data) != 4 {
			t.Errorf("Action.Execute %q: unexpected data %v", a["title"], data)
		}
		return
	}
	if strings.HasPrefix(verb, VerbSweepDesk) {
		// The sweep's buttons name the job they act on (and, on a job's
		// own card, where they were pressed), not a dialog.
		want := map[string]any{"verb": verb}
		if job, _ := data[SweepJobData].(string); job != "" {
			want[SweepJobData] = job
		}
		if data[SweepFromData] != nil {
			want[SweepFromData] = SweepFromJob
		}
		if verb == VerbSweepDeskNotifyGo && data[SweepGroupInput] != nil {
			// The confirmation carries the group the desk card named.
			want[SweepGroupInput] = "0b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
		}
		if d := cmp.Diff(want, data); d != "" {
			t.Errorf("Action.Execute %q data (-want +got):\n%s", a["title"], d)
		}
		return
	}
	want := map[string]any{"verb": verb}
	if ref != nil {
		want["dialog"], want["step"], want["nonce"] = ref.Dialog, ref.Step, ref.Nonce
	}
	if d := cmp.Diff(want, data); d != "" {
		t.Errorf("Action.Execute %q data (-want +got):\n%s", a["title"], d)
	}
}

func checkStepCard(t *testing.T, c cardCase, btns []map[string]any) {
	t.Helper()
	want := buttons[c.loc]
	got := titles(btns)
	for _, title := range []string{want.next, want.cancel, want.helpdesk} {
		if !slices.Contains(got, title) {
			t.Errorf("buttons %q lack %q", got, title)
		}
	}
	if first := c.step.Index == 1; slices.Contains(got, want.back) == first {
		t.Errorf("step %d: buttons %q: %q must appear on every step but the first", c.step.Index, got, want.back)
	}
	verbs := map[string]string{want.next: VerbNext, want.back: VerbBack, want.cancel: VerbCancel, want.helpdesk: VerbHelpdesk}
	for _, b := range btns {
		if v, ok := verbs[b["title"].(string)]; ok && b["verb"] != v {
			t.Errorf("button %q has verb %v, want %s", b["title"], b["verb"], v)
		}
	}

	body, _ := c.card["body"].([]any)
	wantProgress := fmt.Sprintf(map[Locale]string{Japanese: "ステップ %d / %d", English: "Step %d of %d"}[c.loc], c.step.Index, c.step.Total)
	if len(body) == 0 || body[0].(map[string]any)["text"] != wantProgress {
		t.Errorf("first element is not the progress %q", wantProgress)
	}
	if c.step.Notice != "" && !slices.Contains(stringsOf(c.card), c.step.Notice) {
		t.Errorf("notice %q is not shown", c.step.Notice)
	}

	var urls []string
	for _, b := range btns {
		if b["type"] == "Action.OpenUrl" {
			urls = append(urls, b["url"].(string))
		}
	}
	switch {
	case c.stepID == "open_page" && c.step.SecurityInfoURL != "":
		if !slices.Equal(urls, []string{c.step.SecurityInfoURL}) {
			t.Errorf("Action.OpenUrl urls = %q, want the override %q", urls, c.step.SecurityInfoURL)
		}
	case c.stepID == "open_page":
		if !slices.Equal(urls, []string{securityInfoURL}) {
			t.Errorf("Action.OpenUrl urls = %q, want %q", urls, securityInfoURL)
		}
	case len(urls) > 0:
		t.Errorf("unexpected Action.OpenUrl buttons %q", urls)
	}

	if c.stepID == "old_phone" {
		lost := map[Locale]string{Japanese: "紛失・故障した", English: "Lost or broken"}[c.loc]
		i := slices.Index(got, lost)
		if i < 0 || btns[i]["verb"] != VerbLost {
			t.Errorf("old_phone buttons %q lack %q with verb %s", got, lost, VerbLost)
		}
	}

	images := elementsOf(c.card, "Image")
	if c.stepID != "install_app" {
		if len(images) != 0 {
			t.Errorf("%d images on a step without store QR codes", len(images))
		}
		return
	}
	checkStoreQRCodes(t, c, images)
}

// checkStoreQRCodes checks the install_app card: one QR code per store, each
// a PNG that decodes to the store's URL, with a link to the same URL.
func checkStoreQRCodes(t *testing.T, c cardCase, images []map[string]any) {
	t.Helper()
	stores := []string{appStoreURL, googlePlayURL}
	if len(images) != len(stores) {
		t.Fatalf("%d images, want %d QR codes", len(images), len(stores))
	}
	for i, im := range images {
		u, _ := im["url"].(string)
		const prefix = "data:image/png;base64,"
		if !strings.HasPrefix(u, prefix) {
			t.Errorf("QR %d url %.40q… is not a PNG data URI", i, u)
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(u[len(prefix):])
		if err != nil {
			t.Errorf("QR %d: base64: %v", i, err)
			continue
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Errorf("QR %d: not a PNG: %v", i, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != qrSize || b.Dy() != qrSize {
			t.Errorf("QR %d is %dx%d, want %dx%d", i, b.Dx(), b.Dy(), qrSize, qrSize)
		}
		if got := decodeQR(t, img); got != stores[i] {
			t.Errorf("QR %d decodes to %q, want %q", i, got, stores[i])
		}
		if alt, _ := im["altText"].(string); alt == "" {
			t.Errorf("QR %d has no altText", i)
		}
		sel, _ := im["selectAction"].(map[string]any)
		if sel["type"] != "Action.OpenUrl" || sel["url"] != stores[i] {
			t.Errorf("QR %d selectAction = %v, want Action.OpenUrl to %s", i, sel, stores[i])
		}
	}
	text := strings.Join(stringsOf(c.card), "\n")
	for _, u := range stores {
		if !strings.Contains(text, "]("+u+")") {
			t.Errorf("no markdown link to %s", u)
		}
	}
}

func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("QR bitmap: %v", err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Errorf("QR code does not decode: %v", err)
		return ""
	}
	return res.GetText()
}

// stringsOf returns every string value in a card.
func stringsOf(v any) []string {
	var out []string
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case map[string]any:
		for _, x := range v {
			out = append(out, stringsOf(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, stringsOf(x)...)
		}
	}
	return out
}

func TestStepUnknownIDShowsHelp(t *testing.T) {
	c := Step(DefaultContent(), English, StepView{Ref: testRef("no_such_step"), Index: 1, Total: 10})
	if got := CardID(c); got != "help" {
		t.Errorf("CardID = %q, want help", got)
	}
}

func TestCardIDOfForeignCards(t *testing.T) {
	for name, c := range map[string]Card{
		"empty":        {},
		"no body":      {"type": "AdaptiveCard"},
		"empty body":   {"body": []any{}},
		"not a map":    {"body": []any{"text"}},
		"no id":        {"body": []any{map[string]any{"type": "TextBlock"}}},
		"foreign id":   {"body": []any{map[string]any{"id": "title"}}},
		"bare prefix":  {"body": []any{map[string]any{"id": "card:"}}},
		"id not a str": {"body": []any{map[string]any{"id": 7}}},
	} {
		if got := CardID(c); got != "" {
			t.Errorf("%s: CardID = %q, want empty", name, got)
		}
	}
}

func isJapanese(r rune) bool {
	return unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Han)
}

var verbRE = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

func TestCatalog(t *testing.T) {
	for key, texts := range catalog {
		ja, en := texts[Japanese], texts[English]
		if strings.TrimSpace(ja) == "" || strings.TrimSpace(en) == "" {
			t.Errorf("%s: ja %q, en %q: both are required", key, ja, en)
			continue
		}
		if !strings.ContainsFunc(ja, isJapanese) {
			t.Errorf("%s: the ja text %q has no Japanese characters", key, ja)
		}
		if strings.ContainsFunc(en, isJapanese) {
			t.Errorf("%s: the en text %q has Japanese characters", key, en)
		}
		// The same arguments are passed to both texts, in the same order.
		if j, e := verbRE.FindAllString(ja, -1), verbRE.FindAllString(en, -1); !slices.Equal(j, e) {
			t.Errorf("%s: format verbs differ: ja %q, en %q", key, j, e)
		}
		for loc := range texts {
			if loc != Japanese && loc != English {
				t.Errorf("%s: unexpected locale %q", key, loc)
			}
		}
	}
	if got := Text(English, "no.such.key"); got != "no.such.key" {
		t.Errorf("Text of a missing key = %q, want the key", got)
	}
	if got := Text(Japanese, "progress", 3, 10); got != "ステップ 3 / 10" {
		t.Errorf("Text(ja, progress) = %q", got)
	}
	if got := Text(English, "progress", 3, 10); got != "Step 3 of 10" {
		t.Errorf("Text(en, progress) = %q", got)
	}
	if got := Text(Locale("fr"), "btn.next"); got != "次へ" {
		t.Errorf("Text(fr, btn.next) = %q, want the Japanese text", got)
	}
}

// Every key the builders ask for is in the catalog (Text would otherwise
// show the key to the user).
func TestCatalogHasEveryKeyUsed(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`Text\([a-zA-Z]+, "([^"]+)"`)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			n++
			if _, ok := catalog[m[1]]; !ok {
				t.Errorf("%s uses the key %q, which is not in the catalog", f, m[1])
			}
		}
	}
	if n == 0 {
		t.Error("found no Text calls: the pattern is out of date")
	}
}

func TestLocaleFor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Locale
	}{
		{"ja-JP", Japanese},
		{"ja", Japanese},
		{"en-US", English},
		{"en", English},
		{"EN-gb", English},
		{"en_US", English},
		{"fr-FR", Japanese},
		{"eng", Japanese},
		{"", Japanese},
	} {
		if got := LocaleFor(tc.in); got != tc.want {
			t.Errorf("LocaleFor(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLocalizedIn(t *testing.T) {
	l := Localized{Japanese: "はい", English: "yes"}
	if l.In(English) != "yes" || l.In(Japanese) != "はい" || l.In("fr") != "はい" {
		t.Errorf("In: %q %q %q", l.In(English), l.In(Japanese), l.In("fr"))
	}
	if got := (Localized{Japanese: "はい", English: ""}).In(English); got != "はい" {
		t.Errorf("empty en: In(en) = %q, want the Japanese text", got)
	}
}

func TestDefaultContent(t *testing.T) {
	c := DefaultContent()
	if c.Version != 1 || c.SecurityInfoURL != securityInfoURL {
		t.Errorf("version %d, securityInfoUrl %q", c.Version, c.SecurityInfoURL)
	}
	if len(c.Steps) != len(StepIDs) {
		t.Errorf("%d steps, want %d", len(c.Steps), len(StepIDs))
	}
	for i, id := range StepIDs {
		s := c.Step(id)
		if s == nil {
			t.Errorf("step %s is missing", id)
			continue
		}
		if c.Steps[i].ID != id {
			t.Errorf("steps[%d] is %s, want %s (the procedure's order)", i, c.Steps[i].ID, id)
		}
		for _, loc := range locales {
			if s.Title.In(loc) == "" || len(s.Lines) == 0 {
				t.Errorf("step %s (%s) has no title or lines", id, loc)
			}
		}
	}
	if got := c.Step("no_such_step"); got != nil {
		t.Errorf("Step(no_such_step) = %v, want nil", got)
	}
	var urls []string
	for _, s := range c.Stores {
		urls = append(urls, s.URL)
	}
	if !slices.Equal(urls, []string{appStoreURL, googlePlayURL}) {
		t.Errorf("store urls = %q", urls)
	}
	if c.Step("open_page").OpenURL == nil || !c.Step("install_app").ShowStores {
		t.Error("open_page needs its openUrl button and install_app its store QR codes")
	}
}

// mutated returns the embedded content file, changed by edit.
func mutated(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(embeddedSteps, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func stepAt(m map[string]any, i int) map[string]any {
	return m["steps"].([]any)[i].(map[string]any)
}

func TestParseContentErrors(t *testing.T) {
	const file = "/etc/mfabot/steps.json"
	for _, tc := range []struct {
		name               string
		data               func(t *testing.T) []byte
		step, field, inMsg string
	}{
		{
			name:  "invalid JSON",
			data:  func(*testing.T) []byte { return []byte(`{"version": 1,`) },
			inMsg: "not valid step content JSON",
		},
		{
			name:  "trailing data",
			data:  func(t *testing.T) []byte { return append(mutated(t, func(map[string]any) {}), "{}"...) },
			inMsg: "trailing data",
		},
		{
			name:  "unknown field",
			data:  func(t *testing.T) []byte { return mutated(t, func(m map[string]any) { m["colour"] = "red" }) },
			inMsg: `unknown field "colour"`,
		},
		{
			name:  "unknown field in a step",
			data:  func(t *testing.T) []byte { return mutated(t, func(m map[string]any) { stepAt(m, 3)["titel"] = "x" }) },
			inMsg: `unknown field "titel"`,
		},
		{
			name:  "version 2",
			data:  func(t *testing.T) []byte { return mutated(t, func(m map[string]any) { m["version"] = 2 }) },
			field: "version", inMsg: "is 2, want 1",
		},
		{
			name: "missing step",
			data: func(t *testing.T) []byte {
				return mutated(t, func(m map[string]any) {
					steps := m["steps"].([]any)
					m["steps"] = append(steps[:6:6], steps[7:]...) // enter_number
				})
			},
			step: "enter_number", inMsg: "is missing",
		},
		{
			name: "unknown step id",
			data: func(t *testing.T) []byte {
				return mutated(t, func(m map[string]any) {
					extra := map[string]any{}
					for k, v := range stepAt(m, 0) {
						extra[k] = v
					}
					extra["id"] = "reboot_phone"
					m["steps"] = append(m["steps"].([]any), extra)
				})
			},
			step: "reboot_phone", field: "id", inMsg: "not a step of the procedure",
		},
		{
			name: "duplicate id",
			data: func(t *testing.T) []byte {
				return mutated(t, func(m map[string]any) { stepAt(m, 6)["id"] = "show_qr" })
			},
			step: "show_qr", field: "id", inMsg: "appears twice",
		},
		{
			name: "empty step id",
			data: func(t *testing.T) []byte {
				return mutated(t, func(m map[string]any) { stepAt(m, 4)["id"] = "" })
			},
			field: "steps[4].id", inMsg: "is empty",
		},
		{
			name: "empty ja title",
			data: func(t *testing.T) []byte {
				return mutated(t, func(m map[string]any) { stepAt(m, 2)["title"].(map[string]any)["ja"] = " " })
			},
			step: "open_page", field: "title", inMsg: "Japanese text (ja) is required",
		},
		{
			name: "missing en line",
			data: func(t *testing.T) []byte {
				return mutated(t, func(m map[string]any) {
					delete(stepAt(m, 4)["lines"].([]any)[1].(map[string]any), "en")
				})
			},
			step: "install_app", field: "lines[1]", inMsg: "English text (en) is required",
		},
		{
			name: "no lines",
			data: func(t *testing.T) []byte {
				return mutated(t, func(m map[string]any) { stepAt(m, len(StepIDs)-1)["lines"] = []any{} })
			},
			step: "remove_account", field: "lines", inMsg: "at least one line",
		},
		{
			name: "unknown language",
			data: func(t *testing.T) []byte {
				return mutated(t, func(m map[string]any) { stepAt(m, 1)["title"].(map[string]any)["fr"] = "x" })
			},
			step: "old_phone", field: "title", inMsg: `unknown language "fr"`,
		},
		{
			name: "empty openUrl title",
			data: func(t *testing.T) []byte {
				return mutated(t, func(m map[string]any) {
					stepAt(m, 2)["openUrl"] = map[string]any{"title": map[string]any{"ja": "開く"}}
				})
			},
			step: "open_page", field: "openUrl.title", inMsg: "English text (en) is required",
		},
		{
			name: "http image",
			data: func(t *testing.T) []byte {
				return mutated(t, func(m map[string]any) {
					stepAt(m, 5)["images"] = []any{map[string]any{"url": "http://example.com/a.png", "alt": map[string]any{"ja": "画面", "en": "screen"}}}
				})
			},
			step: "show_qr", field: "images[0].url", inMsg: "not an https URL",
		},
		{
			name: "http store URL",
			data: func(t *testing.T) []byte {
				return mutated(t, func(m map[string]any) {
					m["stores"].([]any)[1].(map[string]any)["url"] = "http://play.google.com/store/apps/details?id=com.azure.authenticator"
				})
			},
			field: "stores[1].url", inMsg: "not an https URL",
		},
		{
			name:  "no stores",
			data:  func(t *testing.T) []byte { return mutated(t, func(m map[string]any) { m["stores"] = []any{} }) },
			field: "stores", inMsg: "at least one app store",
		},
		{
			name: "bad securityInfoUrl",
			data: func(t *testing.T) []byte {
				return mutated(t, func(m map[string]any) { m["securityInfoUrl"] = "mysignins.microsoft.com/security-info" })
			},
			field: "securityInfoUrl", inMsg: "not an https URL",
		},
		{
			name:  "no helpdesk",
			data:  func(t *testing.T) []byte { return mutated(t, func(m map[string]any) { delete(m, "helpdesk") }) },
			field: "helpdesk", inMsg: "Japanese text (ja) is required",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseContent(file, tc.data(t), StepIDs)
			if err == nil {
				t.Fatalf("ParseContent accepted the file: %+v", c)
			}
			var ce *ContentError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *ContentError", err, err)
			}
			if ce.File != file || ce.Step != tc.step || ce.Field != tc.field {
				t.Errorf("ContentError{File: %q, Step: %q, Field: %q}, want {%q, %q, %q}", ce.File, ce.Step, ce.Field, file, tc.step, tc.field)
			}
			msg := err.Error()
			for _, part := range []string{file, tc.step, tc.field, tc.inMsg} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q does not contain %q", msg, part)
				}
			}
		})
	}
}

func TestParseContentAcceptsTheEmbeddedFile(t *testing.T) {
	c, err := ParseContent("steps.json", mutated(t, func(map[string]any) {}), StepIDs)
	if err != nil {
		t.Fatal(err)
	}
	if c.Step("cautions") == nil {
		t.Error("no cautions step")
	}
}
