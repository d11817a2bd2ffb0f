package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/bot"
	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/internal/app"
	"github.com/smartswap/mfabot/internal/redistest"
)

// 統計 (stats) in the helpdesk channel, through the real handler: the
// funnel counted in Redis as users go through the procedure, shown to
// helpdesk members only.

// newStatsRig is the helpdesk (channel from the environment, the agent a
// member of its team); the stats are kept in the store, as always.
func newStatsRig(t *testing.T) (*helpdeskRig, string) {
	prefix := redistest.Prefix(t)
	c := newUser(t)
	r := &helpdeskRig{chat: c, logs: &syncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.bot = c.startBot(prefix, helpdeskVars(c.conn), app.Options{Logger: logger})
	c.conn.member = func(conv, user string) bool { return conv == helpdeskTeam && user == "29:"+agentAAD }
	return r, prefix
}

// channelSay posts text, with the bot mentioned, as a new message in a
// channel of the helpdesk team (its conversation id, as Teams sends it,
// names the thread) as from, and returns what the bot sent back there.
func (r *helpdeskRig) channelSay(from, channel, text string) schema.Activity {
	r.t.Helper()
	return r.channelSayIn(from, channel, helpdeskTeam, text)
}

// channelSayIn is channelSay in a channel of team.
func (r *helpdeskRig) channelSayIn(from, channel, team, text string) schema.Activity {
	r.t.Helper()
	conv := channel + ";messageid=1700000000001"
	before := len(r.conn.to(conv))
	a := r.activity(schema.Message)
	a.Text = "<at>MFA Bot</at> " + text
	a.From = schema.ChannelAccount{ID: "29:" + from, AadObjectID: from, Name: "Agent " + from[len(from)-4:]}
	a.Conversation = schema.ConversationAccount{ID: conv, ConversationType: "channel", TenantID: convTenant}
	a.ChannelData = map[string]any{"tenant": map[string]any{"id": convTenant}, "team": map[string]any{"id": team}, "channel": map[string]any{"id": channel}}
	r.post(a)
	sent := r.conn.to(conv)
	if len(sent) != before+1 {
		r.t.Fatalf("%s in %s: the bot sent %d activities, want 1", text, channel, len(sent)-before)
	}
	return sent[len(sent)-1]
}

// statsRow returns the values (7 days, 30 days) of the stats card's row
// labelled label.
func statsRow(t testing.TB, card cards.Card, label string) []string {
	t.Helper()
	var found []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "ColumnSet" {
				var texts []string
				for _, col := range v["columns"].([]any) {
					items := col.(map[string]any)["items"].([]any)
					texts = append(texts, items[0].(map[string]any)["text"].(string))
				}
				if texts[0] == label {
					found = texts[1:]
				}
				return
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(map[string]any(card))
	if found == nil {
		t.Fatalf("stats card has no row %q: %s", label, text(card))
	}
	return found
}

func TestStatsCommand(t *testing.T) {
	r, prefix := newStatsRig(t)
	u1 := r.chat
	u2 := r.other("0d6c1f3e-7a2b-4c5d-9e8f-102132435465")
	u3 := r.other("1e7d2a4f-8b3c-4d6e-8f90-213243546576")
	u4 := r.other("2f8e3b5a-9c4d-4e7f-9a01-324354657687")

	// u1 reaches step 3, goes back and forward again (counted once), and
	// asks the helpdesk.
	step3 := u1.press(u1.press(u1.say("スマホ交換"), cards.VerbNext), cards.VerbNext)
	step3 = u1.press(u1.press(step3, cards.VerbBack), cards.VerbNext)
	wantCard(t, step3, stepCard("open_page"))
	wantCard(t, r.submitHelpdesk(step3, "qr", ""), "ticket-received")
	// u2 cancels at step 2.
	wantCard(t, u2.press(u2.press(u2.say("スマホ交換"), cards.VerbNext), cards.VerbCancel), "cancelled")
	// u3 completes.
	completeProcedure(t, u3)
	// u4 has lost the old phone: a ticket is opened.
	wantCard(t, u4.press(u4.press(u4.say("スマホ交換"), cards.VerbNext), cards.VerbLost), "lost")

	// Two tickets were opened; the agent resolves u1's.
	posted := r.inChannel(http.MethodPost)
	if len(posted) != 2 {
		t.Fatalf("%d tickets posted, want 2", len(posted))
	}
	if typ, _ := r.agentPress(agentAAD, cardOf(t, posted[0]), cards.VerbTicketResolve, nil); typ != bot.InvokeTypeCard {
		t.Fatalf("resolve answered %s", typ)
	}

	check := func(card cards.Card) {
		t.Helper()
		wantCard(t, card, "stats")
		for label, want := range map[string][]string{
			"項目":             {"直近 7 日", "直近 30 日"},
			"開始":             {"4", "4"},
			"完了":             {"1", "1"},
			"完了率":            {"25%", "25%"},
			"完了までの時間(中央値)":   {"1 分未満", "1 分未満"},
			"中止":             {"1", "1"},
			"紛失・故障":          {"1", "1"},
			"1．はじめに: 交換の注意点": {"4", "4"},
			"2．古いスマホは手元にありますか?":    {"4", "4"},
			"3．MFA デバイス管理画面にサインイン": {"2", "2"},
			"4．サインイン方法を追加":         {"1", "1"},
			// The table's rows, the passkey step (9) included, which these
			// push-only users did not reach.
			"9．新しいスマホの Authenticator にパスキーを登録": {"0", "0"},
			"10．古いスマホの登録を削除":                   {"1", "1"},
			"11．古いスマホのアプリからアカウントを削除":           {"1", "1"},
		} {
			if got := statsRow(t, card, label); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("row %s = %q, want %q", label, got, want)
			}
		}
		if !strings.Contains(text(card), `"未解決のチケット","value":"1 件"`) {
			t.Errorf("open tickets: %s", text(card))
		}
	}

	// A member asks in the helpdesk channel.
	answer := r.channelSay(agentAAD, helpdeskChannel, "統計")
	card := cardOf(t, answer)
	check(card)

	// Its 更新 button redraws it in place, for members only.
	typ, v := r.agentPress(agentAAD, card, cards.VerbStats, nil)
	if typ != bot.InvokeTypeCard {
		t.Fatalf("更新 answered %s %v", typ, v)
	}
	check(asCard(t, v))
	if typ, v := r.agentPress(strangerAAD, card, cards.VerbStats, nil); typ != bot.InvokeTypeMessage || !strings.Contains(v.(string), "ヘルプデスクのメンバーだけ") {
		t.Errorf("更新 by a non-member: %s %v", typ, v)
	}

	// A non-member is refused, and sees no numbers.
	refused := r.channelSay(strangerAAD, helpdeskChannel, "stats")
	if refused.Text != "この操作はヘルプデスクのメンバーだけが行えます。" || len(refused.Attachments) != 0 {
		t.Errorf("non-member got %+v", refused)
	}
	// Not in another channel, where others would see it.
	elsewhere := r.channelSay(agentAAD, "19:general@thread.tacv2", "統計")
	if len(elsewhere.Attachments) != 0 || !strings.Contains(elsewhere.Text, "ヘルプデスクのチャネル") {
		t.Errorf("stats in another channel: %+v", elsewhere)
	}
	// In a 1:1 chat, the user is told where it works.
	before := len(u1.conn.to("a:" + u1.user))
	a := u1.activity(schema.Message)
	a.Text = "統計"
	u1.post(a)
	if got := u1.conn.to("a:" + u1.user); len(got) != before+1 || !strings.Contains(got[len(got)-1].Text, "ヘルプデスクのチャネル") {
		t.Errorf("stats in a 1:1 chat: %+v", got[before:])
	}

	// The counts live in Redis: a restarted bot (or another replica) shows
	// the same.
	r.startBot(prefix, helpdeskVars(r.conn), app.Options{})
	check(cardOf(t, r.channelSay(agentAAD, helpdeskChannel, "stats")))
}

// The funnel is counted per day: what happened more than 7 days ago shows
// in the 30 days only.
func TestStatsWindows(t *testing.T) {
	r, _ := newStatsRig(t)
	now := time.Now()
	old := now.AddDate(0, 0, -10)
	// Counters of ten days ago, as the dialog writes them.
	day := old.In(time.FixedZone("JST", 9*3600)).Format(time.DateOnly)
	if err := r.bot.Store().AddDailyStats(t.Context(), day, []string{"started", "entered:cautions", "completed"}, 40*time.Minute); err != nil {
		t.Fatal(err)
	}
	r.say("スマホ交換")
	card := cardOf(t, r.channelSay(agentAAD, helpdeskChannel, "統計"))
	for label, want := range map[string]string{
		"開始":             "1|2",
		"完了":             "0|1",
		"完了率":            "0%|50%",
		"完了までの時間(中央値)":   "—|40 分",
		"1．はじめに: 交換の注意点": "1|2",
	} {
		if got := strings.Join(statsRow(t, card, label), "|"); got != want {
			t.Errorf("row %s = %s, want %s", label, got, want)
		}
	}
	b, _ := json.Marshal(card)
	if !strings.Contains(string(b), `"未解決のチケット","value":"0 件"`) {
		t.Errorf("open tickets: %s", b)
	}
}
