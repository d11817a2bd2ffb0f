package cards

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzStepContent feeds arbitrary bytes to ParseContent (what STEPS_FILE
// goes through at start-up), seeded with the embedded steps.json and
// mutations of it. ParseContent must never panic; a refusal must be a
// *ContentError naming the file; and content it accepts must describe every
// step of the procedure, and every card built from it must build and
// marshal without panicking, in both languages and with every option.
func FuzzStepContent(f *testing.F) {
	f.Add(embeddedSteps)
	for _, m := range contentMutations(f) {
		f.Add(m)
	}
	for _, s := range []string{"", "{", "null", "[]", `{"version":1}`, string(embeddedSteps) + "{}", string(embeddedSteps) + " ", "\xef\xbb\xbf" + string(embeddedSteps)} {
		f.Add([]byte(s))
	}

	const file = "fuzz-steps.json"
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseContent(file, data, StepIDs)
		if err != nil {
			var ce *ContentError
			if !errors.As(err, &ce) {
				t.Fatalf("refusal is a %T, not a *ContentError: %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), file+": ") {
				t.Fatalf("refusal does not name the file: %v", err)
			}
			if c != nil {
				t.Fatalf("content returned with an error")
			}
			return
		}
		for _, id := range StepIDs {
			if c.Step(id) == nil {
				t.Fatalf("accepted content has no step %q", id)
			}
		}
		checkContentCards(t, c)
	})
}

// checkContentCards builds every card that uses the content.
func checkContentCards(t *testing.T, c *Content) {
	t.Helper()
	devices := []Device{{Name: "iPhone SE (3rd generation)", Registered: "2024-01-02"}, {Name: "Pixel 8"}}
	for i, id := range StepIDs {
		ref := Ref{Dialog: "d", Step: id, Nonce: "n"}
		for _, loc := range []Locale{Japanese, English} {
			for _, v := range []StepView{
				{Ref: ref, Index: i + 1, Total: len(StepIDs)},
				{
					Ref: ref, Index: i + 1, Total: len(StepIDs), Notice: Text(loc, "stale.notice"),
					SecurityInfoURL: "http://127.0.0.1:3978/sandbox/security-info?user=u", Found: "iPhone 15",
					Devices: devices, Problem: Text(loc, "graph.down"), Checking: true, Retry: true, BotDelete: true,
				},
			} {
				card := Step(c, loc, v)
				if got := CardID(card); got != "step-"+id {
					t.Fatalf("step %s built card %q", id, got)
				}
				if _, err := json.Marshal(card); err != nil {
					t.Fatalf("step %s card does not marshal: %v", id, err)
				}
			}
		}
	}
	for _, loc := range []Locale{Japanese, English} {
		ref := Ref{Dialog: "d", Step: "old_phone", Nonce: "n"}
		for _, card := range []Card{
			Lost(c, loc, ref, 0), Lost(c, loc, ref, 42),
			HelpdeskInfo(c, loc, &ref, c.Step("open_page").Title.In(loc)), HelpdeskInfo(c, loc, nil, ""),
			TicketReceived(c, loc, 7, true, false, &ref), TicketReceived(c, loc, 7, false, true, nil),
		} {
			if _, err := json.Marshal(card); err != nil {
				t.Fatalf("card %s does not marshal: %v", CardID(card), err)
			}
		}
	}
}

// contentMutations are variants of the embedded steps.json: each breaks
// (or stretches) one rule of the format.
func contentMutations(tb testing.TB) [][]byte {
	var out [][]byte
	mutate := func(fn func(doc map[string]any)) {
		var doc map[string]any
		if err := json.Unmarshal(embeddedSteps, &doc); err != nil {
			tb.Fatal(err)
		}
		fn(doc)
		b, err := json.Marshal(doc)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	steps := func(doc map[string]any) []any { return doc["steps"].([]any) }
	step := func(doc map[string]any, i int) map[string]any { return steps(doc)[i].(map[string]any) }

	mutate(func(doc map[string]any) {}) // re-encoded, unchanged
	mutate(func(doc map[string]any) { doc["version"] = 2 })
	mutate(func(doc map[string]any) { doc["version"] = "1" })
	mutate(func(doc map[string]any) { doc["unknown"] = true })
	mutate(func(doc map[string]any) { doc["securityInfoUrl"] = "http://mysignins.microsoft.com/security-info" })
	mutate(func(doc map[string]any) { doc["securityInfoUrl"] = "https://" })
	mutate(func(doc map[string]any) { doc["helpdesk"] = map[string]any{"ja": "x"} })
	mutate(func(doc map[string]any) { doc["helpdesk"] = map[string]any{"ja": "x", "en": "y", "fr": "z"} })
	mutate(func(doc map[string]any) { doc["stores"] = []any{} })
	mutate(func(doc map[string]any) { doc["stores"].([]any)[0].(map[string]any)["id"] = "" })
	mutate(func(doc map[string]any) {
		doc["stores"].([]any)[0].(map[string]any)["url"] = "https://example.com/" + strings.Repeat("a", 3000)
	})
	mutate(func(doc map[string]any) { doc["steps"] = steps(doc)[1:] })                    // a step missing
	mutate(func(doc map[string]any) { doc["steps"] = append(steps(doc), steps(doc)[0]) }) // a step twice
	mutate(func(doc map[string]any) { step(doc, 2)["id"] = "no_such_step" })
	mutate(func(doc map[string]any) { step(doc, 2)["id"] = "" })
	mutate(func(doc map[string]any) { step(doc, 3)["lines"] = []any{} })
	mutate(func(doc map[string]any) { step(doc, 3)["lines"] = []any{map[string]any{"ja": "x"}} })
	mutate(func(doc map[string]any) { step(doc, 3)["title"] = map[string]any{"ja": " ", "en": "x"} })
	mutate(func(doc map[string]any) { step(doc, 4)["openUrl"] = map[string]any{"title": map[string]any{}} })
	mutate(func(doc map[string]any) {
		step(doc, 5)["images"] = []any{map[string]any{"url": "https://example.com/a.png", "alt": map[string]any{"ja": "画像", "en": "image"}}}
	})
	mutate(func(doc map[string]any) { step(doc, 5)["images"] = []any{map[string]any{"url": "javascript:alert(1)"}} })
	mutate(func(doc map[string]any) {
		for _, s := range steps(doc) { // every option on every step
			m := s.(map[string]any)
			m["showStores"] = true
			m["openUrl"] = map[string]any{"title": map[string]any{"ja": "開く", "en": "Open"}}
			m["images"] = []any{map[string]any{"url": "https://example.com/a.png", "alt": map[string]any{"ja": "画像", "en": "image"}}}
		}
	})
	mutate(func(doc map[string]any) { // only Japanese and English keys, minimal
		for _, s := range steps(doc) {
			m := s.(map[string]any)
			delete(m, "section")
			m["lines"] = []any{map[string]any{"ja": "一行", "en": "one line"}}
		}
	})
	return out
}
