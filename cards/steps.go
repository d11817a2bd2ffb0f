package cards

import "strings"

// StepView is what the dialog knows of the step being shown.
type StepView struct {
	Ref Ref
	// Index is the 1-based position of the step; Total the number of steps.
	Index, Total int
	// Notice is an optional line shown above the title (an out-of-date
	// card, a retry after an error).
	Notice string
	// SecurityInfoURL replaces the content file's page (the sandbox's).
	SecurityInfoURL string
	// Found names the new device confirmed through Graph.
	Found string
	// Devices lists the old devices to delete (on the delete_old step).
	Devices []Device
	// Problem is shown in attention colour: a check that failed, said plainly.
	Problem string
	// Checking says the bot is checking through Graph (次へ checks again);
	// CheckingPasskey that it looks for the new phone's passkey.
	Checking, CheckingPasskey bool
	// Retry adds a 再確認 button (a check to run again).
	Retry bool
	// BotDelete adds the ボットで削除 button (GRAPH_ALLOW_DELETE).
	BotDelete bool
	// Lost adds the 紛失・故障した button (the step that asks whether the
	// old phone is at hand).
	Lost bool
	// FoundPasskey names the device of the new passkey confirmed through
	// Graph.
	FoundPasskey string
	// Decline adds the パスキーは使わない button.
	Decline bool
	// AskOath lists the other authenticator app entries (software OATH)
	// with the question whether they were on the old phone, and its two
	// buttons; OathOld says the user answered yes (they are then among
	// Devices).
	AskOath int
}

// Device is a credential of a phone as the user sees it.
type Device struct {
	// Kind is what the credential is: "" or "push" (Microsoft
	// Authenticator), "passkey" (a passkey in Authenticator), "oath"
	// (another authenticator app, which Graph gives no name).
	Kind string
	Name string
	// Registered is the registration date, already formatted; empty when
	// Graph does not know it.
	Registered string
}

// Kinds of Device.
const (
	KindPush    = "push"
	KindPasskey = "passkey"
	KindOath    = "oath"
)

func deviceLine(loc Locale, d Device) string {
	date := Text(loc, "old.unknown")
	if d.Registered != "" {
		date = Text(loc, "old.registered", d.Registered)
	}
	switch d.Kind {
	case KindPasskey:
		return Text(loc, "cred.passkey", "**"+Plain(d.Name)+"**", date)
	case KindOath:
		return Text(loc, "cred.oath")
	}
	return "**" + Plain(d.Name) + "**(" + date + ")"
}

// CredentialName names a credential in running text (a problem line, a
// reminder, the done card): 「iPhone SE の Authenticator」, 「iPhone SE の
// パスキー(2026-09-12 登録)」, 「その他の認証アプリ」. name is untrusted
// (a device name) and escaped here; registered is a formatted date or "".
func CredentialName(loc Locale, d Device) string {
	switch d.Kind {
	case KindPasskey:
		if d.Registered != "" {
			return Text(loc, "name.passkey.date", Plain(d.Name), d.Registered)
		}
		return Text(loc, "name.passkey", Plain(d.Name))
	case KindOath:
		return Text(loc, "cred.oath")
	}
	return Text(loc, "name.push", Plain(d.Name))
}

// deviceLines lists devices, one line each: the first MaxLines, then how
// many more there are.
func deviceLines(loc Locale, ds []Device) []any {
	var out []any
	for i, d := range ds {
		if i == MaxLines {
			out = append(out, textBlock(Text(loc, "more", len(ds)-i), "isSubtle", true))
			break
		}
		out = append(out, textBlock("- "+deviceLine(loc, d)))
	}
	return out
}

// Step builds the card of one step of the procedure: progress, title, the
// instructions in the procedure's words, and the buttons 次へ, 戻る (not on
// the first step), 中止 and ヘルプデスクに相談.
func Step(c *Content, loc Locale, v StepView) Card {
	sc := c.Step(v.Ref.Step)
	if sc == nil {
		return Help(loc)
	}
	var body []any
	body = append(body, textBlock(Text(loc, "progress", v.Index, v.Total), "isSubtle", true, "size", "Small"))
	if v.Notice != "" {
		body = append(body, notice(v.Notice))
	}
	body = append(body, title(sc.Title.In(loc)))
	for i, l := range sc.Lines {
		body = append(body, textBlock(numbered(i, len(sc.Lines), l.In(loc))))
	}
	for _, im := range sc.Images {
		body = append(body, map[string]any{"type": "Image", "url": im.URL, "altText": im.Alt.In(loc)})
	}
	if sc.ShowStores {
		body = append(body, storeColumns(c, loc))
	}
	if v.Found != "" {
		body = append(body, textBlock("✅ "+Text(loc, "check.found", Plain(v.Found)), "weight", "Bolder", "color", "Good"))
	}
	if v.FoundPasskey != "" {
		body = append(body, textBlock("✅ "+Text(loc, "check.passkey.found", Plain(v.FoundPasskey)), "weight", "Bolder", "color", "Good"))
	}
	if len(v.Devices) > 0 {
		body = append(body, textBlock(Text(loc, "old.title"), "weight", "Bolder"))
		body = append(body, deviceLines(loc, v.Devices)...)
	}
	if v.AskOath > 0 {
		// The question with its answers next to it: the card's own
		// actions are at Teams' limit already.
		ref := v.Ref
		body = append(body, textBlock(Text(loc, "oath.ask", v.AskOath), "weight", "Bolder"),
			map[string]any{"type": "ActionSet", "actions": []any{
				execute(Text(loc, "btn.oathold"), VerbOathOld, &ref, ""),
				execute(Text(loc, "btn.oathkept"), VerbOathKept, &ref, ""),
			}})
	}
	if v.Checking {
		waiting := "check.waiting"
		if v.CheckingPasskey {
			waiting = "check.waiting.passkey"
		}
		body = append(body, textBlock("⏳ "+Text(loc, waiting), "weight", "Bolder"))
	}
	if v.Problem != "" {
		body = append(body, textBlock(v.Problem, "color", "Attention"))
	}

	ref := v.Ref
	var actions []any
	if sc.OpenURL != nil {
		u := c.SecurityInfoURL
		if v.SecurityInfoURL != "" {
			u = v.SecurityInfoURL
		}
		actions = append(actions, openURL(sc.OpenURL.Title.In(loc), u))
	}
	actions = append(actions, execute(Text(loc, "btn.next"), VerbNext, &ref, "positive"))
	// 再確認 runs the same check as 次へ; it is left out where the card
	// would otherwise pass Teams' limit of actions (ボットで削除 or
	// パスキーは使わない take its place).
	if v.Retry && !v.BotDelete && !v.Decline {
		actions = append(actions, execute(Text(loc, "btn.retry"), VerbCheck, &ref, ""))
	}
	if v.BotDelete {
		actions = append(actions, execute(Text(loc, "btn.botdelete"), VerbBotDelete, &ref, ""))
	}
	if v.Lost {
		actions = append(actions, execute(Text(loc, "btn.lost"), VerbLost, &ref, ""))
	}
	if v.Decline {
		actions = append(actions, execute(Text(loc, "btn.nopasskey"), VerbDeclinePasskey, &ref, ""))
	}

	if v.Index > 1 {
		actions = append(actions, execute(Text(loc, "btn.back"), VerbBack, &ref, ""))
	}
	actions = append(actions,
		execute(Text(loc, "btn.cancel"), VerbCancel, &ref, "destructive"),
		execute(Text(loc, "btn.helpdesk"), VerbHelpdesk, &ref, ""),
	)
	return newCard("step-"+sc.ID, body, actions)
}

// numbered prefixes instruction lines with (1), (2)… when there are several.
func numbered(i, n int, s string) string {
	if n < 2 {
		return s
	}
	return "(" + itoa(i+1) + ") " + s
}

func itoa(i int) string {
	var b strings.Builder
	if i >= 10 {
		b.WriteString(itoa(i / 10))
	}
	b.WriteByte(byte('0' + i%10))
	return b.String()
}

// storeColumns shows a QR code and a link per app store, side by side.
func storeColumns(c *Content, loc Locale) map[string]any {
	var cols []any
	for _, s := range c.Stores {
		name := s.Name.In(loc)
		cols = append(cols, map[string]any{
			"type":  "Column",
			"width": "stretch",
			"items": []any{
				textBlock("**"+name+"**", "horizontalAlignment", "Center"),
				map[string]any{
					"type": "Image", "url": c.qr[s.ID], "altText": Text(loc, "store.qr", name),
					// 160 px: Teams draws "Medium" at 52 px, too small to scan.
					"width": "160px", "horizontalAlignment": "Center",
					"selectAction": map[string]any{"type": "Action.OpenUrl", "url": s.URL, "title": Text(loc, "store.link", name)},
				},
				textBlock("["+Text(loc, "store.link", name)+"]("+s.URL+")", "horizontalAlignment", "Center", "size", "Small"),
			},
		})
	}
	return map[string]any{"type": "ColumnSet", "columns": cols}
}
