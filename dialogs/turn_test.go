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
