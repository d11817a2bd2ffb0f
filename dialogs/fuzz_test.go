package dialogs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/internal/redistest"
)

// FuzzCardAction feeds arbitrary card actions to the conversation: the
// value of an adaptiveCard/action invoke (Action.Execute) or of a message
// (Action.Submit, or typed text when the payload is not a JSON object),
// against a user whose dialog, stored in a real Redis, is at a step the
// input picks. The placeholders $DIALOG, $STEP and $NONCE in the payload
// are replaced by the stored dialog's id, step and nonce, so that the
// fuzzer can build valid references as well as forged ones.
//
// It checks that the handler never panics, always answers, and that a
// dialog never moves (changes step or nonce) unless the action carried the
// current card's reference, and never changes at all for an action that
// carries a reference that is not the current one.
func FuzzCardAction(f *testing.F) {
	rdb := redistest.Client(f)
	store := redisstore.New(rdb, redisstore.WithPrefix(redistest.Prefix(f)))
	h := NewRouter(NewConversation(ConversationOptions{
		Store: store, Content: DefaultContent(), Directory: fuzzDirectory{},
		AllowDelete: true, CheckTimeout: time.Second,
		PollEvery: time.Millisecond, PollFor: time.Millisecond,
		Policy: ReminderPolicy{Schedule: []time.Duration{24 * time.Hour}, Hours: fuzzWindow(f)},
	}), nil)
	const tenant, user = "fuzz-tenant", "fuzz-user"
	key := store.Prefix() + redisstore.UserTag(tenant, user) + ":dialog"
	f.Cleanup(func() { rdb.Del(context.Background(), key) })

	for _, s := range fuzzSeeds(f) {
		f.Add(s.sel, s.invoke, s.payload)
	}

	f.Fuzz(func(t *testing.T, sel uint8, invoke bool, payload []byte) {
		ctx := context.Background()
		// A fresh dialog for this input, or none.
		if err := rdb.Del(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		before := fuzzState(sel)
		if before != nil {
			doc, _ := before.encode()
			if _, saved, err := store.SaveDialog(ctx, tenant, user, doc, 0); err != nil || !saved {
				t.Fatalf("seeding the dialog: saved %v, %v", saved, err)
			}
		}
		// Whatever happens, the key does not outlive the fuzzing for long.
		defer rdb.PExpire(ctx, key, time.Minute)

		ph := [][2]string{{"$DIALOG", "d-none"}, {"$STEP", "cautions"}, {"$NONCE", "n-none"}}
		if before != nil {
			ph = [][2]string{{"$DIALOG", before.ID}, {"$STEP", string(before.Step)}, {"$NONCE", before.Nonce}}
		}
		for _, p := range ph {
			payload = bytes.ReplaceAll(payload, []byte(p[0]), []byte(p[1]))
		}

		a := schema.Activity{
			ID: "act", ChannelID: "msteams", ServiceURL: "https://smba.trafficmanager.net/jp/", Locale: "ja-JP",
			From:         schema.ChannelAccount{ID: "29:fuzz", AadObjectID: user},
			Recipient:    schema.ChannelAccount{ID: "28:bot"},
			Conversation: schema.ConversationAccount{ID: "a:fuzz", ConversationType: "personal", TenantID: tenant},
			ChannelData:  map[string]any{"tenant": map[string]any{"id": tenant}},
		}
		if sel&0x80 != 0 {
			a.Locale = "en-US"
		}
		if sel&0x40 != 0 {
			a.Conversation.ConversationType = "groupChat"
		}
		var value map[string]any
		isObject := json.Unmarshal(payload, &value) == nil && value != nil
		turn := &fuzzTurn{log: slog.New(slog.DiscardHandler)}
		if invoke {
			a.Type, a.Name, a.Value = schema.Invoke, "adaptiveCard/action", value
			turn.act = a
			res, err := h.OnInvoke(ctx, turn)
			if err != nil {
				t.Fatalf("OnInvoke: %v", err)
			}
			if res.Card == nil && res.Text == "" {
				t.Fatalf("OnInvoke answered nothing")
			}
			if res.Card != nil {
				if _, err := json.Marshal(res.Card); err != nil {
					t.Fatalf("answer card does not marshal: %v", err)
				}
			}
		} else {
			a.Type = schema.Message
			if isObject {
				a.Value = value
			} else {
				a.Text = string(payload)
			}
			turn.act = a
			if err := h.OnMessage(ctx, turn); err != nil {
				t.Fatalf("OnMessage: %v", err)
			}
			if len(turn.sent) != 1 {
				t.Fatalf("OnMessage sent %d activities, want 1", len(turn.sent))
			}
			if _, err := json.Marshal(turn.sent[0]); err != nil {
				t.Fatalf("sent activity does not marshal: %v", err)
			}
		}

		doc, rev, err := store.LoadDialog(ctx, tenant, user)
		if err != nil {
			t.Fatal(err)
		}
		var after *state
		if doc != nil {
			if after, err = decodeState(doc); err != nil {
				t.Fatalf("the stored dialog is unreadable after the turn: %v\n%s", err, doc)
			}
		}
		saved := before == nil && after != nil || before != nil && rev != 1
		checkFuzzMove(t, before, after, saved, invoke, value)
	})
}

// checkFuzzMove checks what the turn did to the dialog (saved: it was
// written) against what the action carried. The reference is read as the card protocol defines it:
// the action's data (the invoke's value.action.data, or value.data of a
// submit) when it is an object, else the action itself; its dialog, step
// and nonce.
func checkFuzzMove(t *testing.T, before, after *state, saved, invoke bool, value map[string]any) {
	t.Helper()
	var data map[string]any
	if invoke {
		data, _ = value["action"].(map[string]any)
	} else {
		data = value
	}
	if d, ok := data["data"].(map[string]any); ok {
		data = d
	}
	str := func(k string) string { s, _ := data[k].(string); return s }
	verb := str("verb")
	refGiven := verb != "" && (str("dialog") != "" || str("step") != "" || str("nonce") != "")
	refValid := before != nil && refGiven && str("dialog") == before.ID && str("step") == string(before.Step) && str("nonce") == before.Nonce

	if after == nil {
		if before != nil {
			t.Fatalf("the dialog disappeared")
		}
		return
	}
	fresh := before == nil || after.ID != before.ID
	if fresh {
		// Only a (re)start makes a dialog, and it begins at step 1.
		if string(after.Step) != Steps()[0] || !after.active() || after.ID == "" || after.Nonce == "" {
			t.Fatalf("a new dialog that is not at step 1: %+v", after)
		}
		if refGiven && !refValid {
			t.Fatalf("an action with a reference that is not the current one started a new dialog")
		}
		return
	}
	if refGiven && !refValid && saved {
		t.Fatalf("an action with a stale or forged reference changed the dialog:\nbefore %+v\nafter  %+v", before, after)
	}
	moved := after.Step != before.Step || after.Nonce != before.Nonce
	if moved && !refValid {
		t.Fatalf("the dialog moved from %s to %s without the current card's reference (data %v)", before.Step, after.Step, data)
	}
	if moved && after.Step != stepLost && !slices.Contains(Steps(), string(after.Step)) {
		t.Fatalf("the dialog moved to an unknown step %q", after.Step)
	}
}

// fuzzState is the dialog the input selects: sel's low nibble picks the
// step (10 = the lost pseudo-step, 11+ = no dialog), bits 4–5 the status.
func fuzzState(sel uint8) *state {
	pos := int(sel&0x0f) % (len(Steps()) + 2)
	if pos > len(Steps()) {
		return nil
	}
	step := stepLost
	if pos < len(Steps()) {
		step = StepID(Steps()[pos])
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, tokyo)
	s := &state{
		V: stateVersion, ID: newID(), Step: step, Nonce: newID(), Status: statusActive, Locale: "ja",
		Started: now.Add(-time.Hour), Updated: now.Add(-time.Minute),
		Timeline: []event{{At: now.Add(-time.Hour).Unix(), Step: first(), What: "started"}},
		Snapshot: []string{"old-1"}, SnapOK: pos > 2,
		Remind: &reminder{Seq: 1, Base: now, Due: now.Add(24 * time.Hour)},
	}
	switch (sel >> 4) & 3 {
	case 2:
		s.Status = statusDone
	case 3:
		s.Status = statusCancelled
	}
	// From confirm_new on, the new phone has been found (on confirm_new
	// only when bit 5 is clear: otherwise it is still being looked for).
	if step == "delete_old" || step == "remove_account" || step == "confirm_new" && sel&0x20 == 0 {
		s.New = &device{ID: "new-1", Name: "iPhone 15"}
		s.Old = []device{{ID: "old-1", Name: "iPhone SE (3rd generation)"}}
	}
	return s
}

func fuzzWindow(tb testing.TB) Window {
	w, err := ParseWindow("Mon-Fri 09:00-18:00")
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

type fuzzSeed struct {
	sel     uint8
	invoke  bool
	payload []byte
}

// fuzzSeeds are the actions of the bot's own cards, built with placeholder
// references (pressed as Action.Execute and sent as Action.Submit), forged
// and stale variants, typed commands and malformed values.
func fuzzSeeds(tb testing.TB) []fuzzSeed {
	content := cards.DefaultContent()
	ref := cards.Ref{Dialog: "$DIALOG", Step: "$STEP", Nonce: "$NONCE"}
	type built struct {
		sel  uint8
		card cards.Card
	}
	var all []built
	for i, id := range Steps() {
		for _, loc := range []cards.Locale{cards.Japanese, cards.English} {
			v := cards.StepView{Ref: cards.Ref{Dialog: ref.Dialog, Step: id, Nonce: ref.Nonce}, Index: i + 1, Total: len(procedure), Retry: true, BotDelete: true, Lost: procedure[i].Lost}
			sel := uint8(i)
			if loc == cards.English {
				sel |= 0x80
			}
			all = append(all, built{sel, cards.Step(content, loc, v)})
		}
	}
	all = append(all,
		built{10, cards.Lost(content, cards.Japanese, ref, 0)},
		built{3, cards.Resume(cards.Japanese, ref, 4, 10, "title")},
		built{5, cards.Status(cards.Japanese, ref, 6, 10, "title", "next")},
		built{8, cards.ConfirmBotDelete(cards.Japanese, ref, []cards.Device{{Name: "iPhone SE"}})},
		built{8, cards.Reminder(cards.Japanese, cards.ReminderView{Ref: ref, Index: 9, Total: 10, CanSnooze: true})},
		built{4, cards.Reminder(cards.Japanese, cards.ReminderView{Ref: ref, Index: 5, Total: 10, Abandoned: true, CanSnooze: true})},
		built{8, cards.Snoozed(cards.Japanese, ref, "later")},
		built{2, cards.HelpdeskForm(cards.Japanese, &ref)},
		built{11, cards.HelpdeskForm(cards.Japanese, nil)},
		built{2, cards.HelpdeskInfo(content, cards.Japanese, &ref, "title")},
		built{11, cards.Welcome(cards.Japanese)},
		built{11, cards.Help(cards.English)},
		built{0x2b, cards.Unknown(cards.Japanese)},
		built{0x31, cards.NoDialog(cards.Japanese)},
		built{0x21, cards.Cancelled(cards.Japanese)},
	)
	var seeds []fuzzSeed
	add := func(sel uint8, invoke bool, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, fuzzSeed{sel, invoke, b})
	}
	for _, b := range all {
		for _, act := range fuzzActions(b.card) {
			verb, _ := act["verb"].(string)
			data, _ := act["data"].(map[string]any)
			if verb == "" || data == nil {
				continue
			}
			// Pressed in Teams: an adaptiveCard/action invoke.
			add(b.sel, true, map[string]any{"action": map[string]any{"type": "Action.Execute", "id": "", "verb": verb, "data": data}, "trigger": "manual"})
			// From a client that sends Action.Submit as a message.
			add(b.sel, false, data)
		}
	}
	// Stale and forged references on the buttons that move.
	for _, verb := range []string{cards.VerbNext, cards.VerbBack, cards.VerbCheck, cards.VerbCancel, cards.VerbRestart, cards.VerbConfirmDelete} {
		for _, forged := range []map[string]any{
			{"verb": verb, "dialog": "$DIALOG", "step": "$STEP", "nonce": "0123456789abcdef01"},
			{"verb": verb, "dialog": "0123456789abcdef01", "step": "$STEP", "nonce": "$NONCE"},
			{"verb": verb, "dialog": "$DIALOG", "step": "remove_account", "nonce": "$NONCE"},
			{"verb": verb, "dialog": "$DIALOG", "step": "$STEP"},
			{"verb": verb, "nonce": "$NONCE"},
			{"verb": verb, "dialog": "$DIALOG", "step": "$STEP", "nonce": 7},
		} {
			add(4, true, map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": forged}})
			add(8, false, forged)
		}
		// The verb only outside the data.
		add(2, true, map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": map[string]any{"dialog": "$DIALOG", "step": "$STEP", "nonce": "$NONCE"}}})
	}
	// Typed text (payloads that are not JSON objects).
	for _, s := range []string{"スマホ交換", "ｽﾏﾎ交換", "キャンセル", "最初から", "状況", "ヘルプ", "続きから", "ヘルプデスク", "ヘルプデスク設定", "<at>bot</at> restart", "おはよう", "", "null", "[]", "\"next\""} {
		seeds = append(seeds, fuzzSeed{6, false, []byte(s)}, fuzzSeed{6, true, []byte(s)})
	}
	// Malformed values.
	for _, s := range []string{
		`{}`, `{"action":null}`, `{"action":"next"}`, `{"action":{"data":[]}}`, `{"action":{"verb":["next"]}}`,
		`{"action":{"data":{"verb":"next","dialog":{"$DIALOG":1}}}}`, `{"verb":"ticket_assign","ticket":"1"}`,
		`{"action":{"verb":"ticket_resolve","data":{"verb":"ticket_resolve","tenant":"x","user":"y","ticket":3}}}`,
		`{"verb":"helpdesk_submit","reason":"other","note":"x"}`, `{"data":{"verb":"snooze","dialog":"$DIALOG","step":"$STEP","nonce":"$NONCE"}}`,
	} {
		seeds = append(seeds, fuzzSeed{7, false, []byte(s)}, fuzzSeed{7, true, []byte(s)})
	}
	return seeds
}

// fuzzActions returns every action object of a card (top level, in
// ActionSets, and select actions).
func fuzzActions(card cards.Card) []map[string]any {
	b, _ := json.Marshal(card)
	var v any
	json.Unmarshal(b, &v)
	var out []map[string]any
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if typ, _ := x["type"].(string); typ == "Action.Execute" || typ == "Action.Submit" {
				out = append(out, x)
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// fuzzDirectory lists an old and a new registration and deletes nothing
// for real.
type fuzzDirectory struct{}

var fuzzCreated = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func (fuzzDirectory) ListMethods(ctx context.Context, user string, kinds ...Kind) (Listing, error) {
	var l Listing
	for _, k := range kinds {
		switch k {
		case KindPush:
			l.Methods = append(l.Methods, Method{ID: "old-1", Kind: k, DeviceName: "iPhone SE (3rd generation)"},
				Method{ID: "new-1", Kind: k, DeviceName: "iPhone 15", Created: &fuzzCreated})
		case KindPasskey:
			l.Methods = append(l.Methods, Method{ID: "old-pk", Kind: k, DeviceName: "iPhone SE (3rd generation)", Created: &fuzzCreated})
		case KindOath:
			l.Methods = append(l.Methods, Method{ID: "oath-1", Kind: k})
		}
	}
	return l, nil
}
func (fuzzDirectory) DeleteMethod(ctx context.Context, user string, m Method) error {
	return nil
}
func (fuzzDirectory) GetUser(ctx context.Context, user string) (UserInfo, error) {
	return UserInfo{DisplayName: "Fuzz User", UPN: "fuzz@example.com"}, nil
}
func (fuzzDirectory) CreateTemporaryAccessPass(ctx context.Context, user string, lifetime time.Duration) (string, error) {
	return "", errors.New("not in this test")
}
func (fuzzDirectory) RevokeSignInSessions(ctx context.Context, user string) error {
	return errors.New("not in this test")
}

// fuzzTurn records what the conversation sends; work deferred past the
// acknowledgement (the poll for a new registration) is not run: it is the
// bot's own input, not the user's.
type fuzzTurn struct {
	act      schema.Activity
	sent     []schema.Activity
	deferred atomic.Int32
	log      *slog.Logger
}

func (f *fuzzTurn) Incoming() schema.Activity { return f.act }
func (f *fuzzTurn) Reference() schema.ConversationReference {
	return schema.ConversationReference{User: f.act.From, Bot: f.act.Recipient, Conversation: f.act.Conversation, ChannelID: f.act.ChannelID, ServiceURL: f.act.ServiceURL}
}
func (f *fuzzTurn) Send(ctx context.Context, a schema.Activity) (string, error) {
	f.sent = append(f.sent, a)
	return "sent", nil
}
func (f *fuzzTurn) Update(ctx context.Context, id string, a schema.Activity) error {
	f.sent = append(f.sent, a)
	return nil
}
func (f *fuzzTurn) Typing(ctx context.Context) error   { return nil }
func (f *fuzzTurn) Later(fn func(ctx context.Context)) { f.deferred.Add(1) }
func (f *fuzzTurn) Logger() *slog.Logger               { return f.log }
