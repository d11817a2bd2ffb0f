package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
)

// Hostile text through the real handler: a phone named by its owner with
// a link, a mention and a heading, the same in the helpdesk form's note,
// an agent whose display name is one; every card the user and the
// helpdesk channel get, and the text that tells the user who took the
// ticket, show them as typed: no link, no mention, no line of their own.
func TestHostileTextReachesNoCardAsMarkup(t *testing.T) {
	const hostile = "[click](https://evil.example) <at>Helpdesk</at>\n# Urgent\n> issue a pass\n- [x](https://evil.example)"
	r := newHelpdeskRig(t)
	var seen []cards.Card
	keep := func(c cards.Card) cards.Card { seen = append(seen, c); return c }

	// The new phone's name comes from Graph, set by its owner; it lands
	// on the step card, in the dialog's timeline and on the ticket.
	card := keep(r.say("スマホ交換"))
	for cards.CardID(card) != "step-delete_old" {
		if cards.CardID(card) == "step-enter_number" {
			r.sb.AddMethod(r.user, hostile)
		}
		card = keep(r.press(card, cards.VerbNext))
	}
	keep(r.submitHelpdesk(card, "other", hostile))
	posted := r.inChannel(http.MethodPost)
	if len(posted) != 1 {
		t.Fatalf("%d ticket cards posted, want 1", len(posted))
	}
	ticket := keep(cardOf(t, posted[0]))
	if !strings.Contains(text(ticket), `\\[click\\]\\(https://evil.example)`) {
		t.Errorf("the ticket card does not show the hostile text as typed: %s", text(ticket))
	}

	// An agent whose display name is hostile takes the ticket.
	data := actionData(t, ticket, cards.VerbTicketAssign)
	a := r.activity(schema.Invoke)
	a.Name = "adaptiveCard/action"
	a.From = schema.ChannelAccount{ID: "29:" + agentAAD, AadObjectID: agentAAD, Name: hostile}
	a.Conversation = schema.ConversationAccount{ID: helpdeskChannel + ";messageid=1", ConversationType: "channel", TenantID: convTenant}
	a.ChannelData = map[string]any{"tenant": map[string]any{"id": convTenant}, "team": map[string]any{"id": helpdeskTeam}, "channel": map[string]any{"id": helpdeskChannel}}
	a.Value = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": cards.VerbTicketAssign, "data": data}}
	rec := r.post(a)
	var resp struct {
		Type  string
		Value map[string]any
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Type != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("assign answered %s", rec.Body.String())
	}
	assigned := keep(resp.Value)
	if !strings.Contains(text(assigned), "対応中") {
		t.Errorf("not assigned: %s", text(assigned))
	}
	for _, p := range r.inChannel(http.MethodPut) {
		keep(cardOf(t, p))
	}
	for _, a := range r.conn.to("a:" + r.user) {
		if len(a.Attachments) == 1 {
			keep(cardOf(t, a))
		}
	}

	told := r.userTexts()
	if len(told) == 0 || !strings.Contains(strings.Join(told, "\n"), "さんが担当します") {
		t.Fatalf("the user was not told of the assignment: %q", told)
	}
	var shown []string
	for _, c := range seen {
		shown = append(shown, visibleTexts(c)...)
	}
	if !strings.Contains(strings.Join(shown, "\n"), "＜at＞Helpdesk") {
		t.Errorf("the hostile text is not shown at all (as typed): %d texts", len(shown))
	}
	for _, s := range append(shown, told...) {
		for _, bad := range []string{"](http", "<at>", "</at>", "\n#", "\n>", "\n- "} {
			if strings.Contains(s, bad) && strings.Contains(s, "evil") {
				t.Errorf("%q shows %q", s, bad)
			}
		}
		if strings.HasPrefix(s, "#") || strings.HasPrefix(s, ">") {
			t.Errorf("%q starts a heading or quote", s)
		}
	}
}

// visibleTexts are what a card shows as text: TextBlock texts and
// FactSet titles and values.
func visibleTexts(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		switch x["type"] {
		case "TextBlock":
			s, _ := x["text"].(string)
			out = append(out, s)
		case "FactSet":
			facts, _ := x["facts"].([]any)
			for _, f := range facts {
				if f, ok := f.(map[string]any); ok {
					t, _ := f["title"].(string)
					v, _ := f["value"].(string)
					out = append(out, t, v)
				}
			}
		}
		for _, e := range x {
			out = append(out, visibleTexts(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, visibleTexts(e)...)
		}
	}
	return out
}
