//go:build unix

package e2e

// A user's first turns with the bot: installing the app brings a welcome,
// and スマホ交換 brings a card whose first button the bot answers.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestInstallBringsWelcome: installing the app in the personal chat brings
// a welcome message from the bot.
func TestInstallBringsWelcome(t *testing.T) {
	t.Parallel()
	env := Start(t, Options{})
	chat := env.PersonalChat()
	logMark := env.Bot.OutputMark()
	start := time.Now()

	chat.InstallApp()
	welcome := chat.WaitFor(func(m Message) bool { return m.Text != "" || len(m.Attachments) > 0 }, 0)
	t.Logf("welcome after %v: %s", time.Since(start).Round(time.Millisecond), welcome)

	// Both install activities reached the bot and were acknowledged.
	for _, name := range []string{"installationUpdate", "conversationUpdate"} {
		l, ok := env.waitLog(0, env.Timeout, func(l LogEntry) bool { return l.ToBot() && l.ActivityName == name })
		switch {
		case !ok:
			t.Errorf("the Playground never sent %s to the bot", name)
		case l.ResponseStatus < 200 || l.ResponseStatus > 299:
			t.Errorf("the bot answered %s with %d %s", name, l.ResponseStatus, l.ResponseBody)
		}
	}
	// Teams sends both activities on install; note it if the bot greets twice.
	chat.Quiet(500 * time.Millisecond)
	if msgs := chat.BotMessages(0); len(msgs) > 1 {
		t.Logf("note: the bot sent %d messages on install:\n%s", len(msgs), indent(messageStrings(msgs)))
	}
	assertNoBotErrorLogs(t, env, logMark)
}

// TestSwapCommandCardAndFirstAction: typing スマホ交換 brings an Adaptive
// Card, and pressing its first Action.Execute or Action.Submit button
// reaches the bot's turn handler, which answers with something that is not
// an error.
func TestSwapCommandCardAndFirstAction(t *testing.T) {
	t.Parallel()
	env := Start(t, Options{})
	chat := env.PersonalChat()

	// As in Teams, the app is installed before the user types. Let both
	// install turns end, so that their messages (a welcome card, perhaps)
	// are not taken for the answer to the text.
	chat.InstallApp()
	chat.WaitFor(func(Message) bool { return true }, 0)
	chat.Quiet(500 * time.Millisecond)

	logMark := env.Bot.OutputMark()
	start := time.Now()
	chat.SendText("スマホ交換")
	cardMsg := chat.WaitFor(func(m Message) bool { return m.Card() != nil }, 0)
	t.Logf("card after %v: %s", time.Since(start).Round(time.Millisecond), cardMsg)
	card := cardMsg.Card()
	assertTeamsCard(t, card)

	action, ok := FirstAction(card, "Action.Execute", "Action.Submit")
	if !ok {
		t.Fatalf("the card has no Action.Execute or Action.Submit button:\n%s", card)
	}
	t.Logf("pressing %s %q (verb %q, data %s)", action.Type, action.Title, action.Verb, action.Data)
	if action.Type == "Action.Execute" && action.Verb == "" {
		t.Errorf("Action.Execute %q has no verb: the Playground (and Teams' Universal Actions) refuse it", action.Title)
	}

	start = time.Now()
	res := chat.Press(cardMsg.ID, action, nil)
	if res != nil { // Action.Execute: the answer is the invoke response
		t.Logf("invoke answered after %v: %s", time.Since(start).Round(time.Millisecond), res)
		if res.Status != 200 {
			t.Fatalf("the invoke failed: %s", res)
		}
		if res.BotStatus != 0 && (res.BotStatus < 200 || res.BotStatus > 299) {
			t.Errorf("the bot answered the invoke with HTTP %d", res.BotStatus)
		}
		var bot struct {
			StatusCode int `json:"statusCode"`
		}
		if res.BotBody != nil && (json.Unmarshal(res.BotBody, &bot) != nil || bot.StatusCode != 200) {
			t.Errorf("the bot's invoke response should carry statusCode 200: %s", res.BotBody)
		}
		switch res.Type {
		case ContentTypeAdaptiveCard:
			assertTeamsCard(t, res.Value)
		case "application/vnd.microsoft.activity.message":
			var text string
			if json.Unmarshal(res.Value, &text) != nil || strings.TrimSpace(text) == "" {
				t.Errorf("a message invoke response needs a text value: %s", res.Value)
			}
		default:
			t.Errorf("the invoke response type %q is neither a card nor a message (an error?): %s", res.Type, res)
		}
	} else { // Action.Submit: the answer is a new message
		reply := chat.WaitFor(func(m Message) bool { return m.Text != "" || len(m.Attachments) > 0 }, 0)
		t.Logf("submit answered after %v: %s", time.Since(start).Round(time.Millisecond), reply)
		if c := reply.Card(); c != nil {
			assertTeamsCard(t, c)
		}
		l, ok := env.waitLog(0, env.Timeout, func(l LogEntry) bool {
			return l.ToBot() && l.ActivityName == "message" && strings.Contains(string(l.RequestBody), `"replyToId":"`+cardMsg.ID+`"`)
		})
		if !ok || l.ResponseStatus < 200 || l.ResponseStatus > 299 {
			t.Errorf("the bot did not acknowledge the submit with 2xx: %s", l.String(0))
		}
	}
	assertNoBotErrorLogs(t, env, logMark)
}
