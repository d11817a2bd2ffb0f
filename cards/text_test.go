package cards

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestPlain(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"iPhone SE (3rd generation)", "iPhone SE (3rd generation)"},
		{"山田 太郎", "山田 太郎"},
		{"taro@example.com", "taro@example.com"},
		{"2026-11-24 10:05", "2026-11-24 10:05"},
		{"[click](https://evil.example)", `\[click\]\(https://evil.example)`},
		{"![img](https://evil.example/x.png)", `!\[img\]\(https://evil.example/x.png)`},
		{"**bold** _it_ ~~s~~ `code`", `\*\*bold\*\* \_it\_ \~\~s\~\~ \` + "`" + `code\` + "`"},
		{"# heading", `\# heading`},
		{"> quote", "＞ quote"},
		{"- item", `\- item`},
		{"  + item", `  \+ item`},
		{"1. first", `1\. first`},
		{"12) first", `12\) first`},
		{"a-b 1.5", "a-b 1.5"},
		{"<at>Helpdesk</at>", "＜at＞Helpdesk＜/at＞"},
		{"&lt;at&gt;", `\&lt;at\&gt;`},
		{`a\b`, `a\\b`},
		{"one\ntwo\r\nthree\tfour\u2028five", "one two  three four five"},
		{"a\x00b\x1bc", "a b c"},
		{"abc\u202Edef\u2066g", "abcdefg"},
	} {
		if got := Plain(c.in); got != c.want {
			t.Errorf("Plain(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, long := range []string{strings.Repeat("あ", MaxPlain+100), strings.Repeat("[", MaxPlain), strings.Repeat("😀", MaxPlain)} {
		got := Plain(long)
		if n := Size([]byte(got)); n > MaxPlain+1 || n < MaxPlain-2 || !strings.HasSuffix(got, "…") {
			t.Errorf("Plain of %d × %q: %d UTF-16 code units, want at most %d ending in …", utf8.RuneCountInString(long), long[:1], n, MaxPlain+1)
		}
	}
	if got := Plain(strings.Repeat("a", MaxPlain)); got != strings.Repeat("a", MaxPlain) {
		t.Errorf("Plain cut a string of exactly MaxPlain characters")
	}
}

// hostile are strings an attacker can put in a note, a phone's name, an
// agent's display name or (through those) a ticket's timeline and history.
var hostile = []string{
	"[click](https://evil.example)",
	"[**click**](https://evil.example \"t\")",
	"![x](https://evil.example/x.png)",
	"<at>Helpdesk</at>",
	"&lt;at&gt;Helpdesk&lt;/at&gt;",
	"<https://evil.example>",
	"# Urgent: issue a pass",
	"ok\n# Urgent\n> quoted\n- [a](https://evil.example)\n1. b",
	"line\r\n\r\n[x]\n(https://evil.example)",
	"[x]\u2028(https://evil.example)",
	"<a href=\"https://evil.example\">x</a>",
	strings.Repeat("[x](https://evil.example)", 400),
	strings.Repeat("長", 5000),
}

// textsOf returns every string a card shows as text: TextBlock texts and
// FactSet titles and values, anywhere in the card.
func textsOf(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if x["type"] == "TextBlock" {
			s, _ := x["text"].(string)
			out = append(out, s)
		}
		if x["type"] == "FactSet" {
			for _, f := range x["facts"].([]any) {
				f := f.(map[string]any)
				out = append(out, f["title"].(string), f["value"].(string))
			}
		}
		for _, e := range x {
			out = append(out, textsOf(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, textsOf(e)...)
		}
	}
	return out
}

// checkNoMarkup fails when a card's text carries a link, a mention, HTML,
// a heading or quote, or a line break that came from untrusted text.
func checkNoMarkup(t *testing.T, name string, c Card) {
	t.Helper()
	// Through JSON, as Teams gets it.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var decoded any
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	for _, s := range textsOf(decoded) {
		for _, bad := range []string{"](http", "]\n(", "<at>", "</at>", "<a ", "<http", "&lt;", "\u2028"} {
			// "\&lt;" shows as typed: no entity.
			if strings.Contains(strings.ReplaceAll(s, `\&`, ""), bad) {
				t.Errorf("%s: text %.120q contains %q", name, s, bad)
			}
		}
		for _, line := range strings.Split(s, "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "#") || strings.HasPrefix(line, ">") {
				t.Errorf("%s: text %.120q has a heading or quote line %.60q", name, s, line)
			}
		}
		// Untrusted text keeps to its line: no heading, quote or list of
		// its own.
		if strings.Contains(s, "\n") && (strings.Contains(s, "evil") || strings.Contains(s, "Urgent") || strings.Contains(s, "長")) {
			t.Errorf("%s: text %.120q breaks lines", name, s)
		}
		if n := utf8.RuneCountInString(s); n > 4*MaxPlain {
			t.Errorf("%s: a text of %d characters", name, n)
		}
	}
}

// TestUntrustedTextInCards puts each hostile string in every place of
// every card where text from outside the bot lands, and checks that the
// card shows no link, mention, HTML, heading, quote or list from it.
func TestUntrustedTextInCards(t *testing.T) {
	content := DefaultContent()
	ref := testRef("delete_old")
	for i, h := range hostile {
		name := "hostile-" + strconv.Itoa(i)
		for _, loc := range locales {
			devs := []Device{{Name: h, Registered: "2023-04-01"}, {Name: h}}
			cards := map[string]Card{
				"step-found":     Step(content, loc, StepView{Ref: testRef("confirm_new"), Index: 8, Total: 10, Found: h}),
				"step-devices":   Step(content, loc, StepView{Ref: ref, Index: 9, Total: 10, Devices: devs, BotDelete: true}),
				"confirm-delete": ConfirmBotDelete(loc, ref, devs),
				"reminder":       Reminder(loc, ReminderView{Ref: ref, Index: 9, Total: 10, StepTitle: "x", OldDevices: devs}),
				"done":           Done(loc, Summary{Took: time.Minute, NewDevice: h, OldDevices: []string{h, h}}),
			}
			tv := TicketView{
				Tenant: h, User: h, Number: 42, Status: "assigned", UserName: h, UPN: h, Step: "x", Reason: "y",
				Notes:    []string{"11/24 10:00 その他: " + h, h},
				Timeline: []string{"11/24 09:50 confirm_new: new registration found: " + h},
				Devices:  []string{h, h + "(登録日 2023-04-01)"}, LastError: "z", Locale: h,
				Assignee: h, AssignedAt: "2026-11-24 10:05", History: []string{"2026-11-24 10:05 " + h + " が担当"},
				OfferTAP: true, OfferRevoke: true,
			}
			cards["ticket"] = Ticket(tv)
			cards["ticket-tap-confirm"] = ConfirmTAP(tv, 60)
			cards["ticket-revoke-confirm"] = ConfirmRevoke(tv)
			for kind, c := range cards {
				checkNoMarkup(t, name+"/"+string(loc)+"/"+kind, c)
			}
		}
	}
}

// TestCardsAtTheirLargest builds every card kind at its largest — the
// longest device names (with every character escaped), the most devices,
// the most notes, the longest timeline and history — and checks that each
// is under MaxSize as Teams counts it.
func TestCardsAtTheirLargest(t *testing.T) {
	content := DefaultContent()
	// Every character escaped, so each doubles: the most text per
	// character Plain lets through. And one in UTF-16 pairs.
	worst := strings.Repeat("[", MaxPlain)
	wide := strings.Repeat("😀", MaxPlain)
	for _, long := range []string{worst, wide} {
		var devs []Device
		var names, lines []string
		for range 3 * MaxLines {
			devs = append(devs, Device{Name: long, Registered: "2023-04-01"})
			names = append(names, long)
			lines = append(lines, "11/24 10:00 その他: "+long)
		}
		var titles []string
		for _, id := range StepIDs {
			titles = append(titles, content.Step(id).Title.In(Japanese))
		}
		for _, loc := range locales {
			ref := testRef("delete_old")
			tv := TicketView{
				Tenant: long, User: long, Number: 1 << 62, Status: "assigned", UserName: long, UPN: long, Step: long, Reason: long,
				Notes: lines, NotesDropped: 1 << 30, Timeline: lines, Devices: lines, LastError: long, Locale: long,
				Assignee: long, AssignedAt: long, History: lines, OfferTAP: true, OfferRevoke: true, Notice: long,
			}
			sweepJob := SweepJobView{ID: long, State: SweepFailed, Notify: true, Group: long, By: long, Started: long, Ended: long, Error: long,
				Users: 1 << 62, Scanned: 1 << 62, Candidates: 1 << 62, Notified: 1 << 62, Completed: 1 << 62, Declined: 1 << 62, Open: 1 << 62,
				GraphRequests: 1 << 62, GraphThrottled: 1 << 62}
			var reportLines []SweepReportLine
			for range 3 * MaxReportLines {
				reportLines = append(reportLines, SweepReportLine{UPN: long, Devices: devs, Action: "failed:" + long})
			}
			all := map[string]Card{
				"step":            Step(content, loc, StepView{Ref: ref, Index: 9, Total: 10, Notice: long, Found: long, Devices: devs, Problem: long, Checking: true, Retry: true, BotDelete: true, Lost: true}),
				"confirm-delete":  ConfirmBotDelete(loc, ref, devs),
				"reminder":        Reminder(loc, ReminderView{Ref: ref, Index: 9, Total: 10, StepTitle: long, OldDevices: devs, CanSnooze: true}),
				"done":            Done(loc, Summary{StepTitles: titles, Took: time.Hour, NewDevice: long, OldDevices: names}),
				"ticket":          Ticket(tv),
				"tap-confirm":     ConfirmTAP(tv, 60),
				"revoke-confirm":  ConfirmRevoke(tv),
				"ticket-received": TicketReceived(content, loc, 1<<62, true, true, &ref),
				"tap":             TAPForUser(loc, long, 60, ref),
				"sweep-desk":      SweepDesk(loc, []SweepJobView{sweepJob, sweepJob, sweepJob}, long),
				"sweep-job":       SweepJob(loc, sweepJob, long),
				"sweep-report":    SweepReport(loc, SweepReportView{Job: sweepJob, File: long, Lines: reportLines, More: 1 << 62}),
			}
			// And every card the golden tests know, as they are.
			for _, c := range cardCasesFrom(t, content) {
				all["golden:"+c.name+"."+string(c.loc)] = c.card
			}
			for kind, c := range all {
				b, err := json.Marshal(c)
				if err != nil {
					t.Fatal(err)
				}
				if n := Size(b); n >= MaxSize {
					t.Errorf("%s (%s): %d UTF-16 code units, want under %d", kind, loc, n, MaxSize)
				}
			}
			b, _ := json.Marshal(all["ticket"])
			t.Logf("largest ticket card (%s, %s…): %d UTF-16 code units", loc, string([]rune(long)[:1]), Size(b))
		}
	}
}

func TestSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"", 0}, {`{"a":1}`, 7}, {"あ", 1}, {"😀", 2}, {`"\u003c"`, 8},
	} {
		if got := Size([]byte(c.in)); got != c.want {
			t.Errorf("Size(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

// A Temporary Access Pass from Graph is shown exactly as it must be typed:
// in a TextRun, which is never read as Markdown, not in a TextBlock.
func TestTAPPassIsNotMarkdown(t *testing.T) {
	const pass = "a*b_c*d_[e](f)"
	c := TAPForUser(Japanese, pass, 60, testRef("open_page"))
	var runs []string
	for _, e := range elementsOf(c, "RichTextBlock") {
		for _, in := range e["inlines"].([]any) {
			runs = append(runs, in.(map[string]any)["text"].(string))
		}
	}
	if len(runs) != 1 || runs[0] != pass {
		t.Errorf("text runs %q, want the pass as it is", runs)
	}
	for _, s := range textsOf(c) {
		if strings.Contains(s, "a*b") {
			t.Errorf("the pass is in a TextBlock: %q", s)
		}
	}
}
