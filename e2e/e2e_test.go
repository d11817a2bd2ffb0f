//go:build unix

package e2e

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// guidRE is a GUID in its usual 8-4-4-4-12 form.
var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// TestPlaygroundConfig checks .m365agentsplayground.yml against the rules
// of the Playground's schema 0.1.1 and what the bot needs from it: real
// GUIDs for the tenant and the users' Entra object ids (the Playground's
// built-in defaults are one digit too long).
func TestPlaygroundConfig(t *testing.T) {
	lay, err := findLayout()
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(lay.Config)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != "0.1.1" {
		t.Errorf("version %q, want 0.1.1", c.Version)
	}
	if !guidRE.MatchString(c.TenantID) {
		t.Errorf("tenantId %q is not a GUID", c.TenantID)
	}
	if c.Bot.ID == "" || c.Bot.Name == "" || len(c.Bot.Name) > 42 {
		t.Errorf("bot needs an id and a name of at most 42 characters: %+v", c.Bot)
	}
	if len(c.Users) != 5 {
		t.Errorf("%d users, the schema wants exactly 5", len(c.Users))
	}
	ids := map[string]bool{}
	for i, u := range append([]PlaygroundUser{c.CurrentUser}, c.Users...) {
		if u.ID == "" || u.Name == "" || u.UserPrincipleName == "" || u.GivenName == "" || u.Surname == "" || u.Email == "" {
			t.Errorf("user %d lacks a required field: %+v", i, u)
		}
		if !guidRE.MatchString(u.AADObjectID) {
			t.Errorf("user %d (%s) aadObjectId %q is not a GUID", i, u.ID, u.AADObjectID)
		}
		if ids[u.ID] || ids[u.AADObjectID] {
			t.Errorf("user %d (%s) repeats an id", i, u.ID)
		}
		ids[u.ID], ids[u.AADObjectID] = true, true
	}
	convs := []string{c.PersonalChat.ID, c.GroupChat.ID, c.Team.ID}
	if len(c.Team.Channels) > 1 {
		t.Errorf("%d extra channels, the schema allows 1 besides General", len(c.Team.Channels))
	}
	for _, ch := range c.Team.Channels {
		convs = append(convs, ch.ID)
	}
	seen := map[string]bool{}
	for _, id := range convs {
		if id == "" || seen[id] {
			t.Errorf("conversation ids must be set and unique: %q", convs)
		}
		seen[id] = true
	}
	if !guidRE.MatchString(c.Team.AADGroupID) {
		t.Errorf("team aadGroupId %q is not a GUID", c.Team.AADGroupID)
	}
}

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

// assertNoBotErrorLogs fails the test if the bot logged at level ERROR since mark.
func assertNoBotErrorLogs(t *testing.T, env *Env, mark int) {
	t.Helper()
	if lines := env.Bot.ErrorLogLines(mark); len(lines) > 0 {
		t.Errorf("the bot logged errors:\n%s", indent(lines))
	}
}

func messageStrings(msgs []Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.String())
	}
	return out
}
