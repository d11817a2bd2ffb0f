package cards

// Verbs of the tenant sweep's card (「古いスマホの登録が残っている可能性があります」).
const (
	// VerbSweepStart starts the deletion part of the procedure with the
	// devices chosen in the card's SweepInput as the old phone.
	VerbSweepStart = "sweep_start"
	// VerbSweepBoth records 「これは両方使っています」: later sweeps do not
	// ask about these devices again.
	VerbSweepBoth = "sweep_both"
)

// SweepInput is the id of the sweep card's choice of old devices; a press
// of 選んだ登録を削除する carries the chosen device ids in it, separated by
// commas.
const SweepInput = "old"

// SweepChoice is one device the sweep found, offered as the old phone.
type SweepChoice struct {
	ID     string // the authentication method's id in Graph
	Device Device
}

// SweepNotice is the card the tenant sweep sends a user who holds two or
// more Microsoft Authenticator registrations (or two Authenticator
// passkeys): it names them, asks which are the old phone's, and offers to
// start deleting them, to say that both are in use, or to ask the
// helpdesk. problem, when set, is shown above the choice (a choice that
// was not accepted, or a Graph check that failed).
func SweepNotice(loc Locale, ref Ref, choices []SweepChoice, problem string) Card {
	body := []any{
		title(Text(loc, "sweep.title")),
		textBlock(Text(loc, "sweep.body")),
	}
	if problem != "" {
		body = append(body, notice(problem))
	}
	opts := make([]any, 0, len(choices))
	for _, c := range choices {
		opts = append(opts, map[string]any{"title": plainLine(loc, c.Device), "value": c.ID})
	}
	body = append(body,
		textBlock(Text(loc, "sweep.choose"), "weight", "Bolder"),
		map[string]any{
			"type": "Input.ChoiceSet", "id": SweepInput, "isMultiSelect": true, "style": "expanded",
			"choices": opts, "label": Text(loc, "sweep.choose.label"),
		},
		textBlock(Text(loc, "sweep.after"), "isSubtle", true),
	)
	return newCard("sweep", body, []any{
		execute(Text(loc, "btn.sweepstart"), VerbSweepStart, &ref, "positive"),
		execute(Text(loc, "btn.sweepboth"), VerbSweepBoth, &ref, ""),
		execute(Text(loc, "btn.helpdesk"), VerbHelpdesk, &ref, ""),
	})
}

// SweepDeclined confirms 「これは両方使っています」; ヘルプデスクに相談
// stays, for a user who pressed it by mistake.
func SweepDeclined(loc Locale, devices []Device) Card {
	body := []any{title(Text(loc, "sweep.both.title")), textBlock(Text(loc, "sweep.both.body"))}
	body = append(body, deviceLines(loc, devices)...)
	return newCard("sweep-both", body, []any{execute(Text(loc, "btn.helpdesk"), VerbHelpdesk, nil, "")})
}

// plainLine is deviceLine without Markdown, for a choice's title (which
// Teams shows as plain text).
func plainLine(loc Locale, d Device) string {
	date := Text(loc, "old.unknown")
	if d.Registered != "" {
		date = Text(loc, "old.registered", d.Registered)
	}
	kind := Text(loc, "sweep.kind.push")
	if d.Kind == KindPasskey {
		kind = Text(loc, "sweep.kind.passkey")
	}
	return kind + ": " + d.Name + " (" + date + ")"
}
