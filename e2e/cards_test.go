//go:build unix

package e2e

// Reading Adaptive Cards: their buttons in the order a person sees them, the
// id and the text of the bot's cards, and what Teams requires of every card.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// CardAction is a button of an Adaptive Card.
type CardAction struct {
	Type  string // "Action.Execute", "Action.Submit", "Action.OpenUrl", ...
	ID    string
	Title string
	Verb  string          // Action.Execute
	URL   string          // Action.OpenUrl
	Data  json.RawMessage // Action.Execute and Action.Submit
}

// CardActions lists the buttons of an Adaptive Card in the order a person
// sees them: the ActionSets of the body (containers, columns and
// Action.ShowCard cards included) from top to bottom, then the card's own
// actions. selectAction and fallback content are not buttons and are left out.
func CardActions(card json.RawMessage) ([]CardAction, error) {
	var root any
	dec := json.NewDecoder(bytes.NewReader(card))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("card is not JSON: %w", err)
	}
	var out []CardAction
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			typ, _ := v["type"].(string)
			if strings.HasPrefix(typ, "Action.") {
				a := CardAction{Type: typ}
				a.ID, _ = v["id"].(string)
				a.Title, _ = v["title"].(string)
				a.Verb, _ = v["verb"].(string)
				a.URL, _ = v["url"].(string)
				if d, ok := v["data"]; ok {
					a.Data, _ = json.Marshal(d)
				}
				out = append(out, a)
			}
			// Fixed order: what is shown first comes first.
			for _, k := range []string{"body", "items", "columns", "actions", "card"} {
				if x, ok := v[k]; ok {
					walk(x)
				}
			}
		}
	}
	walk(root)
	return out, nil
}

// FirstAction returns the first button of card whose type is one of types.
func FirstAction(card json.RawMessage, types ...string) (CardAction, bool) {
	actions, err := CardActions(card)
	if err != nil {
		return CardAction{}, false
	}
	for _, a := range actions {
		for _, t := range types {
			if a.Type == t {
				return a, true
			}
		}
	}
	return CardAction{}, false
}

func TestCardActionsOrder(t *testing.T) {
	card := json.RawMessage(`{"type":"AdaptiveCard","version":"1.5",
	  "actions":[{"type":"Action.Submit","title":"root","data":{"a":1}}],
	  "body":[
	    {"type":"TextBlock","text":"x","selectAction":{"type":"Action.Execute","verb":"not-a-button"}},
	    {"type":"Container","items":[{"type":"ActionSet","actions":[
	      {"type":"Action.Execute","title":"first","verb":"v1","data":{"n":1}},
	      {"type":"Action.ShowCard","title":"more","card":{"type":"AdaptiveCard","body":[],
	        "actions":[{"type":"Action.OpenUrl","title":"link","url":"https://example.invalid/"}]}}]}]},
	    {"type":"ColumnSet","columns":[{"type":"Column","items":[{"type":"ActionSet","actions":[
	      {"type":"Action.Submit","title":"col","data":"str"}]}]}]}
	  ]}`)
	got, err := CardActions(card)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, a := range got {
		titles = append(titles, a.Title)
	}
	if want := "first more link col root"; strings.Join(titles, " ") != want {
		t.Fatalf("titles %q, want %q", titles, want)
	}
	if got[0].Verb != "v1" || string(got[0].Data) != `{"n":1}` || got[2].URL != "https://example.invalid/" || string(got[3].Data) != `"str"` {
		t.Fatalf("fields not read: %+v", got)
	}
	if a, ok := FirstAction(card, "Action.Submit"); !ok || a.Title != "col" {
		t.Fatalf("FirstAction(Submit) = %+v, %v", a, ok)
	}
}

// cardIdentity is the id a card of the bot was built with: the id of its
// first body element without the "card:" prefix ("" when there is none).
func cardIdentity(card json.RawMessage) string {
	var c struct {
		Body []struct {
			ID string `json:"id"`
		} `json:"body"`
	}
	if card == nil || json.Unmarshal(card, &c) != nil || len(c.Body) == 0 {
		return ""
	}
	id, ok := strings.CutPrefix(c.Body[0].ID, "card:")
	if !ok {
		return ""
	}
	return id
}

// cardText is every text a person reads on the card (text, title, value and
// label strings, buttons included), one per line.
func cardText(card json.RawMessage) string {
	var root any
	if json.Unmarshal(card, &root) != nil {
		return ""
	}
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for _, k := range []string{"text", "title", "value", "label"} {
				if s, ok := v[k].(string); ok {
					b.WriteString(s)
					b.WriteByte('\n')
				}
			}
			for k, x := range v {
				if k != "data" {
					walk(x)
				}
			}
		}
	}
	walk(root)
	return b.String()
}

// actionTitles lists the titles of the card's buttons in order.
func actionTitles(card json.RawMessage) []string {
	actions, _ := CardActions(card)
	var out []string
	for _, a := range actions {
		out = append(out, a.Title)
	}
	return out
}

// findAction returns the button titled title, failing the test without one.
func findAction(t *testing.T, card json.RawMessage, title string) CardAction {
	t.Helper()
	actions, err := CardActions(card)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range actions {
		if a.Title == title {
			return a
		}
	}
	t.Fatalf("the card %q has no button %q; its buttons: %q\n%s", cardIdentity(card), title, actionTitles(card), card)
	return CardAction{}
}

// assertTeamsCard checks what Teams requires of every Adaptive Card a bot
// sends: a JSON object of type AdaptiveCard with a version no newer than 1.5.
func assertTeamsCard(t *testing.T, card json.RawMessage) {
	t.Helper()
	var c struct {
		Type    string `json:"type"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(card, &c); err != nil {
		t.Errorf("the card is not a JSON object: %v\n%s", err, card)
		return
	}
	if c.Type != "AdaptiveCard" {
		t.Errorf("card type %q, want AdaptiveCard", c.Type)
	}
	major, minor, ok := strings.Cut(c.Version, ".")
	maj, err1 := strconv.Atoi(major)
	mnr, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil || maj != 1 || mnr > 5 {
		t.Errorf("card version %q: Teams renders bot cards up to 1.5", c.Version)
	}
}
