package cards

import (
	"net/url"
	"strconv"
)

// Helpdesk verbs: the user's form, and the agents' buttons on a ticket.
const (
	VerbHelpdeskSubmit = "helpdesk_submit"
	VerbTicketAssign   = "ticket_assign"
	VerbTicketResolve  = "ticket_resolve"
	VerbTicketReopen   = "ticket_reopen"
	VerbTicketView     = "ticket_view"
	VerbTicketTAP      = "ticket_tap"
	VerbTicketTAPGo    = "ticket_tap_confirm"
	VerbTicketRevoke   = "ticket_revoke"
	VerbTicketRevokeGo = "ticket_revoke_confirm"
)

// Reason keys of the helpdesk form, in the order shown.
var Reasons = []string{"qr", "number", "lost", "other"}

// ReasonText is the label of a reason key ("noold" for the lost-phone path).
func ReasonText(loc Locale, key string) string {
	switch key {
	case "qr":
		return Text(loc, "hd.reason.qr")
	case "number":
		return Text(loc, "hd.reason.number")
	case "lost":
		return Text(loc, "hd.reason.lost")
	case "other":
		return Text(loc, "hd.reason.other")
	case "noold":
		return Text(loc, "hd.reason.noold")
	}
	return ""
}

// HelpdeskForm asks what is wrong before a ticket is opened. ref is the
// dialog's current card (nil outside a procedure).
func HelpdeskForm(loc Locale, ref *Ref) Card { return HelpdeskFormAgain(loc, ref, "", "", "") }

// HelpdeskFormAgain is the form shown again with a notice on top (sent
// too often) and what the user had chosen and typed filled in, so that
// nothing they wrote is lost.
func HelpdeskFormAgain(loc Locale, ref *Ref, noticeText, reason, note string) Card {
	var choices []any
	for _, r := range Reasons {
		choices = append(choices, map[string]any{"title": ReasonText(loc, r), "value": r})
	}
	choice := map[string]any{"type": "Input.ChoiceSet", "id": "reason", "label": Text(loc, "hd.reason.label"), "style": "expanded", "choices": choices}
	if reason != "" {
		choice["value"] = reason
	}
	input := map[string]any{"type": "Input.Text", "id": "note", "label": Text(loc, "hd.note.label"), "isMultiline": true, "maxLength": 500}
	if note != "" {
		input["value"] = note
	}
	body := []any{title(Text(loc, "hd.form.title"))}
	if noticeText != "" {
		body = append(body, notice(noticeText))
	}
	body = append(body, textBlock(Text(loc, "hd.form.body")), choice, input)
	actions := []any{execute(Text(loc, "btn.send"), VerbHelpdeskSubmit, ref, "positive")}
	if ref != nil {
		actions = append(actions, execute(Text(loc, "btn.back"), VerbResume, ref, ""))
	} else {
		actions = append(actions, execute(Text(loc, "btn.start"), VerbStart, nil, ""))
	}
	return newCard("helpdesk-form", body, actions)
}

// TicketReceived tells the user their ticket number. contact is shown when
// no helpdesk channel is set up.
func TicketReceived(c *Content, loc Locale, number int64, added, noChannel bool, ref *Ref) Card {
	key := "hd.received.body"
	if added {
		key = "hd.added.body"
	}
	body := []any{title(Text(loc, "hd.received.title")), textBlock(Text(loc, key, number))}
	if noChannel {
		body = append(body, textBlock(Text(loc, "hd.nochannel"), "color", "Attention"), textBlock(c.Helpdesk.In(loc), "weight", "Bolder"))
	}
	var actions []any
	if ref != nil {
		actions = append(actions, execute(Text(loc, "btn.resume"), VerbResume, ref, "positive"))
	} else {
		actions = append(actions, execute(Text(loc, "btn.start"), VerbStart, nil, ""))
	}
	return newCard("ticket-received", body, actions)
}

// TicketView is what the helpdesk channel's card shows of a ticket.
type TicketView struct {
	Tenant, User string // the user's tenant and aadObjectId
	Number       int64
	Status       string // open, assigned, resolved
	UserName     string
	UPN          string
	Step         string
	Reason       string
	Notes        []string
	// NotesDropped counts older notes the ticket no longer keeps.
	NotesDropped int
	Timeline     []string
	Devices      []string
	LastError    string
	Locale       string
	Assignee     string
	AssignedAt   string
	History      []string // what agents did, newest last
	// Actions offered for a lost phone (TAP_ENABLED).
	OfferTAP, OfferRevoke bool
	// Notice is shown on top (a refusal, a missing confirmation).
	Notice string
}

func (v TicketView) data(verb string) map[string]any {
	return map[string]any{"verb": verb, "tenant": v.Tenant, "user": v.User, "ticket": strconv.FormatInt(v.Number, 10)}
}

func (v TicketView) action(title, verb, style string) map[string]any {
	a := map[string]any{"type": "Action.Execute", "title": title, "verb": verb, "data": v.data(verb)}
	if style != "" {
		a["style"] = style
	}
	return a
}

// MaxLines is the most lines a section of the ticket card shows (notes,
// devices, timeline, history): the newest ones. With MaxPlain characters a
// line, the largest ticket card stays well under MaxSize.
const MaxLines = 20

// statusText is a ticket status in words.
func statusText(s string) string {
	switch s {
	case "assigned":
		return "対応中"
	case "resolved":
		return "解決済み"
	}
	return "未対応"
}

// Ticket is the card in the helpdesk channel: summary, details and the
// buttons 担当する / 解決済みにする / 再オープン / ユーザーとチャット (and, for a
// lost phone, 一時アクセスパスを発行 and すべてのセッションをサインアウト).
// Helpdesk staff read Japanese.
func Ticket(v TicketView) Card {
	var body []any
	body = append(body, title("チケット #"+strconv.FormatInt(v.Number, 10)+"【"+statusText(v.Status)+"】"))
	if v.Notice != "" {
		body = append(body, notice(v.Notice))
	}
	// Every value but the ticket's own number, status and step words comes
	// from the user, Graph or an agent: Plain.
	facts := []any{
		fact("ユーザー", Plain(v.UserName)),
		fact("UPN", Plain(v.UPN)),
		fact("aadObjectId", Plain(v.User)),
		fact("ステップ", v.Step),
		fact("理由", v.Reason),
		fact("言語", Plain(v.Locale)),
	}
	if v.Assignee != "" {
		facts = append(facts, fact("担当", Plain(v.Assignee)+"("+Plain(v.AssignedAt)+")"))
	}
	body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	// A section shows its last MaxLines lines and says how many older ones
	// are not shown (dropped: those the ticket no longer keeps).
	section := func(head string, lines []string, dropped int) {
		if len(lines) == 0 && dropped == 0 {
			return
		}
		body = append(body, textBlock(head, "weight", "Bolder"))
		if over := len(lines) - MaxLines; over > 0 {
			lines, dropped = lines[over:], dropped+over
		}
		if dropped > 0 {
			body = append(body, textBlock("(古い "+strconv.Itoa(dropped)+" 件は省略)", "isSubtle", true, "spacing", "None"))
		}
		for _, l := range lines {
			body = append(body, textBlock("- "+Plain(l), "spacing", "None"))
		}
	}
	section("ユーザーからのメモ", v.Notes, v.NotesDropped)
	section("Graph に登録されている Authenticator(現在)", v.Devices, 0)
	if v.LastError != "" {
		section("最後のエラー", []string{v.LastError}, 0)
	}
	section("経過", v.Timeline, 0)
	section("対応履歴", v.History, 0)

	var actions []any
	if v.Status != "resolved" {
		if v.Status != "assigned" {
			actions = append(actions, v.action("担当する", VerbTicketAssign, "positive"))
		}
		actions = append(actions, v.action("解決済みにする", VerbTicketResolve, ""))
	} else {
		actions = append(actions, v.action("再オープン", VerbTicketReopen, ""))
	}
	if v.UPN != "" {
		actions = append(actions, openURL("ユーザーとチャット", "https://teams.microsoft.com/l/chat/0/0?users="+url.QueryEscape(v.UPN)))
	}
	if v.Status != "resolved" && v.OfferTAP {
		actions = append(actions, v.action("一時アクセスパスを発行", VerbTicketTAP, ""))
	}
	if v.Status != "resolved" && v.OfferRevoke {
		actions = append(actions, v.action("すべてのセッションをサインアウト", VerbTicketRevoke, "destructive"))
	}
	return newCard("ticket", body, actions)
}

func fact(t, v string) map[string]any {
	if v == "" {
		v = "—"
	}
	return map[string]any{"title": t, "value": v}
}

// ConfirmTAP asks the agent to confirm that they verified the user's
// identity before a Temporary Access Pass is issued.
func ConfirmTAP(v TicketView, lifetimeMinutes int) Card {
	body := []any{
		title("一時アクセスパスの発行: チケット #" + strconv.FormatInt(v.Number, 10)),
		textBlock(Plain(v.UserName) + "(" + Plain(v.UPN) + ")に、1 回だけ使える一時アクセスパス(" + strconv.Itoa(lifetimeMinutes) + " 分間有効)を発行します。パスはユーザーの 1:1 チャットにだけ届き、このチャネルには表示されません。"),
	}
	if v.Notice != "" {
		body = append(body, notice(v.Notice))
	}
	body = append(body, map[string]any{"type": "Input.Toggle", "id": "verified", "title": "ユーザーの本人確認を行いました(電話・対面など)", "valueOn": "true", "valueOff": "false", "value": "false"})
	return newCard("ticket-tap-confirm", body, []any{
		v.action("発行する", VerbTicketTAPGo, "destructive"),
		v.action("戻る", VerbTicketView, ""),
	})
}

// ConfirmRevoke asks the agent to confirm signing the user out everywhere.
func ConfirmRevoke(v TicketView) Card {
	return newCard("ticket-revoke-confirm", []any{
		title("すべてのセッションをサインアウト: チケット #" + strconv.FormatInt(v.Number, 10)),
		textBlock(Plain(v.UserName) + "(" + Plain(v.UPN) + ")のすべてのサインイン セッションを無効にします(反映まで数分かかることがあります)。紛失した端末からのサインインを止めるために使います。"),
	}, []any{
		v.action("サインアウトする", VerbTicketRevokeGo, "destructive"),
		v.action("戻る", VerbTicketView, ""),
	})
}

// TAPForUser delivers a Temporary Access Pass in the user's 1:1 chat only.
func TAPForUser(loc Locale, pass string, lifetimeMinutes int, ref Ref) Card {
	return newCard("tap", []any{
		title(Text(loc, "tap.title")),
		textBlock(Text(loc, "tap.body", lifetimeMinutes)),
		// A TextRun is shown as it is, never as Markdown: a pass from
		// Graph with "*" or "_" in it reads exactly as it must be typed.
		map[string]any{"type": "RichTextBlock", "inlines": []any{
			map[string]any{"type": "TextRun", "text": pass, "size": "ExtraLarge", "weight": "Bolder", "fontType": "Monospace"},
		}},
		textBlock(Text(loc, "tap.next")),
	}, []any{execute(Text(loc, "btn.resume"), VerbResume, &ref, "positive")})
}
