package dialogs

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/smartswap/mfabot/cards"
)

// Every card is measured as it leaves: one over Teams' limit (which the
// builders never make) is replaced by the too-large card, as a message
// and as an invoke's answer; others go out as they are.
func TestCardsMeasuredBeforeTheyLeave(t *testing.T) {
	small := cards.Help(cards.Japanese)
	huge := cards.Help(cards.Japanese)
	huge["body"] = append(huge["body"].([]any), map[string]any{"type": "TextBlock", "text": strings.Repeat("😀", cards.MaxSize/2)})

	idOf := func(v any) string {
		var c cards.Card
		if err := json.Unmarshal(v.(json.RawMessage), &c); err != nil {
			t.Fatal(err)
		}
		return cards.CardID(c)
	}
	for _, c := range []struct {
		card any
		want string
	}{
		{small, "help"}, {render(small), "help"}, {huge, "too-large"}, {render(huge), "too-large"},
	} {
		a := cardActivity(c.card)
		got := a.Attachments[0].Content
		if id := idOf(got); id != c.want {
			t.Errorf("%T: sent card %q, want %q", c.card, id, c.want)
		}
		if n := cards.Size(got.(json.RawMessage)); n > cards.MaxSize {
			t.Errorf("%T: %d UTF-16 code units sent", c.card, n)
		}
	}
	if id := idOf(fit(render(huge))); id != "too-large" {
		t.Errorf("an invoke's answer over the limit: %q", id)
	}
	if fit(nil) != nil {
		t.Error("fit(nil) is not nil")
	}
}

// The names in a step's problem ("not deleted yet: <names>") are set by
// the phones' owners: shown as typed.
func TestStepCardProblemNamesArePlain(t *testing.T) {
	c := NewConversation(ConversationOptions{Content: DefaultContent()})
	s := &state{V: stateVersion, ID: newID(), Status: statusActive, Step: StepDeleteOld, Nonce: newID(),
		Problem: "delete.still", ProblemArg: "[x](https://evil.example)、<at>Helpdesk</at>\n# y"}
	got := string(c.stepCard(s, turnInfo{loc: cards.Japanese}, ""))
	for _, bad := range []string{"](http", "<at>", `\u003cat\u003e`, `\n#`} {
		if strings.Contains(got, bad) {
			t.Errorf("the step card holds %q: %s", bad, got)
		}
	}
	if !strings.Contains(got, `\\[x\\]\\(https://evil.example)`) {
		t.Errorf("the names are not shown as typed: %s", got)
	}
}
