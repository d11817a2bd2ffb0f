package cards

import (
	"bytes"
	"encoding/json"
	"regexp"
)

// Card is an Adaptive Card as JSON-ready Go values.
type Card = map[string]any

// ContentType is the attachment content type of an Adaptive Card.
const ContentType = "application/vnd.microsoft.card.adaptive"

// Version is the Adaptive Card schema version used: Teams renders bot cards
// up to 1.5.
const Version = "1.5"

// Verbs of the Action.Execute buttons, which the dialog routes on.
const (
	VerbStart    = "start"
	VerbNext     = "next"
	VerbBack     = "back"
	VerbCancel   = "cancel"
	VerbHelpdesk = "helpdesk"
	VerbLost     = "lost"
	VerbResume   = "resume"
	VerbRestart  = "restart"
	VerbStatus   = "status"
	VerbHelp     = "help"
	// VerbCheck runs a Graph check again.
	VerbCheck = "check"
	// VerbBotDelete asks the bot to delete the old registration; it shows a
	// confirmation first.
	VerbBotDelete = "botdelete"
	// VerbConfirmDelete confirms the bot's delete.
	VerbConfirmDelete = "confirmdelete"
	// VerbSnooze puts a reminder off by a day (あとで).
	VerbSnooze = "snooze"
	// VerbDeclinePasskey goes on without a passkey on the new phone
	// (パスキーは使わない).
	VerbDeclinePasskey = "nopasskey"
	// VerbOathOld and VerbOathKept answer whether the other authenticator
	// app entries were on the old phone.
	VerbOathOld  = "oathold"
	VerbOathKept = "oathkept"
)

// Ref is carried in the data of every button of a dialog card, so that the
// dialog can tell a press on the current card from one on an old or forged
// card: the dialog's id, the step the card was made for and that card's nonce.
type Ref struct {
	Dialog string `json:"dialog"`
	Step   string `json:"step"`
	Nonce  string `json:"nonce"`
}

func newCard(id string, body []any, actions []any) Card {
	c := Card{
		"type":    "AdaptiveCard",
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"version": Version,
		"body":    body,
		"msteams": map[string]any{"width": "Full"},
	}
	// The card's identity, for tests and support: the id of its first element.
	if len(body) > 0 {
		if first, ok := body[0].(map[string]any); ok {
			first["id"] = cardIDPrefix + id
		}
	}
	if len(actions) > 0 {
		c["actions"] = actions
	}
	c["fallbackText"] = fallbackText(body)
	return c
}

// fallbackText is what a client that cannot show the card shows instead:
// its title (the first large text), else its first text.
func fallbackText(body []any) string {
	first := ""
	for _, el := range body {
		m, ok := el.(map[string]any)
		if !ok || m["type"] != "TextBlock" {
			continue
		}
		text, _ := m["text"].(string)
		if m["size"] == "Large" {
			return text
		}
		if first == "" {
			first = text
		}
	}
	if first == "" {
		return "スマホ交換 / Phone swap"
	}
	return first
}

// executeAction matches an Action.Execute button as encoding/json writes
// the maps of this package (keys sorted: type, then verb).
var executeAction = regexp.MustCompile(`"type":"Action\.Execute","verb":"[^"]*"`)

// AsSubmit turns every Action.Execute button of an encoded card into an
// Action.Submit with the same data (which carries the verb and the
// dialog's reference): the card style of CARD_ACTIONS=submit, for Teams
// clients where Action.Execute does not work. A press then arrives as a
// message whose value is the data.
func AsSubmit(card json.RawMessage) json.RawMessage {
	if !bytes.Contains(card, []byte(`"Action.Execute"`)) {
		return card
	}
	return executeAction.ReplaceAll(card, []byte(`"type":"Action.Submit"`))
}

func textBlock(text string, extra ...any) map[string]any {
	b := map[string]any{"type": "TextBlock", "text": text, "wrap": true}
	for i := 0; i+1 < len(extra); i += 2 {
		b[extra[i].(string)] = extra[i+1]
	}
	return b
}

func title(text string) map[string]any {
	return textBlock(text, "size", "Large", "weight", "Bolder")
}

func notice(text string) map[string]any {
	return textBlock(text, "color", "Attention", "weight", "Bolder")
}

// execute is an Action.Execute button; ref (when non-nil) is added to its data.
func execute(title, verb string, ref *Ref, style string) map[string]any {
	d := map[string]any{"verb": verb}
	if ref != nil {
		d["dialog"], d["step"], d["nonce"] = ref.Dialog, ref.Step, ref.Nonce
	}
	a := map[string]any{"type": "Action.Execute", "title": title, "verb": verb, "data": d}
	if style != "" {
		a["style"] = style
	}
	return a
}

func openURL(title, url string) map[string]any {
	return map[string]any{"type": "Action.OpenUrl", "title": title, "url": url}
}

const cardIDPrefix = "card:"

// CardID returns the id a card was built with ("" for a map that is not one
// of ours): the id of its first body element, without the "card:" prefix.
func CardID(c Card) string {
	body, _ := c["body"].([]any)
	if len(body) == 0 {
		return ""
	}
	first, _ := body[0].(map[string]any)
	id, _ := first["id"].(string)
	if len(id) > len(cardIDPrefix) && id[:len(cardIDPrefix)] == cardIDPrefix {
		return id[len(cardIDPrefix):]
	}
	return ""
}
