package cards

// Card is an Adaptive Card as JSON-ready Go values.
type Card = map[string]any

// ContentType is the attachment content type of an Adaptive Card.
const ContentType = "application/vnd.microsoft.card.adaptive"

// Version is the Adaptive Card schema version used: Teams renders bot cards
// up to 1.5.
const Version = "1.5"

func newCard(body []any, actions []any) Card {
	c := Card{
		"type":    "AdaptiveCard",
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"version": Version,
		"body":    body,
		"msteams": map[string]any{"width": "Full"},
	}
	if len(actions) > 0 {
		c["actions"] = actions
	}
	return c
}

func textBlock(text string, extra map[string]any) map[string]any {
	b := map[string]any{"type": "TextBlock", "text": text, "wrap": true}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func execute(title, verb string, data map[string]any) map[string]any {
	d := map[string]any{"verb": verb}
	for k, v := range data {
		d[k] = v
	}
	return map[string]any{"type": "Action.Execute", "title": title, "verb": verb, "data": d}
}

// Start is the card that offers to begin the procedure.
func Start(loc Locale) Card {
	return newCard(
		[]any{
			textBlock(Text(loc, "start.title"), map[string]any{"size": "Large", "weight": "Bolder"}),
			textBlock(Text(loc, "start.body"), nil),
		},
		[]any{execute(Text(loc, "start.button"), "start", nil)},
	)
}
