package dialogs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
	"github.com/smartswap/mfabot/dialogs"
	"github.com/smartswap/mfabot/dialogs/redisstore"
	"github.com/smartswap/mfabot/internal/redistest"
)

// fakeDirectory is the user's credentials, as a test sets them, with
// function hooks for failures.
type fakeDirectory struct {
	mu      sync.Mutex
	methods map[string][]dialogs.Method
	listErr error
	// denied are the kinds answered 403 (skipped, with the permission).
	denied  map[dialogs.Kind]bool
	deleted []string
	// onList runs before every list (tests add a device "later").
	onList func(n int)
	lists  int
}

var _ dialogs.Directory = (*fakeDirectory)(nil)

func (f *fakeDirectory) ListMethods(ctx context.Context, user string, kinds ...dialogs.Kind) (dialogs.Listing, error) {
	f.mu.Lock()
	f.lists++
	n, hook := f.lists, f.onList
	f.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return dialogs.Listing{}, f.listErr
	}
	var l dialogs.Listing
	for _, k := range kinds {
		if f.denied[k] {
			if l.Skipped == nil {
				l.Skipped = map[dialogs.Kind]string{}
			}
			l.Skipped[k] = "UserAuthMethod-" + string(k)
			continue
		}
		for _, m := range f.methods[user] {
			if m.Kind == k || m.Kind == "" && k == dialogs.KindPush {
				l.Methods = append(l.Methods, m)
			}
		}
	}
	return l, nil
}

func (f *fakeDirectory) DeleteMethod(ctx context.Context, user string, del dialogs.Method) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, m := range f.methods[user] {
		if m.ID == del.ID {
			f.methods[user] = append(f.methods[user][:i], f.methods[user][i+1:]...)
			f.deleted = append(f.deleted, del.ID)
			return nil
		}
	}
	return fmt.Errorf("404: no method %s", del.ID)
}

func (f *fakeDirectory) GetUser(ctx context.Context, user string) (dialogs.UserInfo, error) {
	return dialogs.UserInfo{DisplayName: "Test User", UPN: "test.user@example.com"}, nil
}

func (f *fakeDirectory) CreateTemporaryAccessPass(ctx context.Context, user string, lifetime time.Duration) (string, error) {
	return "", errors.New("not used in these tests")
}

func (f *fakeDirectory) RevokeSignInSessions(ctx context.Context, user string) error {
	return errors.New("not used in these tests")
}

func (f *fakeDirectory) set(user string, ms ...dialogs.Method) {
	f.mu.Lock()
	f.methods[user] = ms
	f.mu.Unlock()
}

func (f *fakeDirectory) add(user string, m dialogs.Method) {
	f.mu.Lock()
	f.methods[user] = append(f.methods[user], m)
	f.mu.Unlock()
}

func (f *fakeDirectory) fail(err error) {
	f.mu.Lock()
	f.listErr = err
	f.mu.Unlock()
}

// fakeTurn records what the dialog sends and runs deferred work at once in
// a goroutine that the test can wait for.
type fakeTurn struct {
	act     schema.Activity
	mu      sync.Mutex
	sent    []schema.Activity
	updated map[string]schema.Activity
	typing  int
	later   sync.WaitGroup
	log     *slog.Logger
}

func (f *fakeTurn) Incoming() schema.Activity { return f.act }
func (f *fakeTurn) Reference() schema.ConversationReference {
	return schema.ConversationReference{User: f.act.From, Bot: f.act.Recipient, Conversation: f.act.Conversation, ChannelID: f.act.ChannelID, ServiceURL: f.act.ServiceURL}
}
func (f *fakeTurn) Send(ctx context.Context, a schema.Activity) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, a)
	return "sent-" + fmt.Sprint(len(f.sent)), nil
}
func (f *fakeTurn) Update(ctx context.Context, id string, a schema.Activity) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updated[id] = a
	return nil
}
func (f *fakeTurn) Typing(ctx context.Context) error {
	f.mu.Lock()
	f.typing++
	f.mu.Unlock()
	return nil
}
func (f *fakeTurn) Later(fn func(ctx context.Context)) {
	f.later.Add(1)
	go func() { defer f.later.Done(); fn(context.Background()) }()
}
func (f *fakeTurn) Logger() *slog.Logger { return f.log }

var _ dialogs.Turn = (*fakeTurn)(nil)

const (
	tenant = "9f3a1c2e-5b7d-4e8f-a1b2-c3d4e5f60718"
	user   = "c5e99701-2a32-49c1-a660-4629ceeb8c61"
)

type harness struct {
	t     *testing.T
	h     *dialogs.Router
	dir   *fakeDirectory
	logs  *bytes.Buffer
	logMu sync.Mutex
	last  *fakeTurn
}

func newHarness(t *testing.T, allowDelete bool) *harness {
	store := redisstore.New(redistest.Client(t), redisstore.WithPrefix(redistest.Prefix(t)))
	dir := &fakeDirectory{methods: map[string][]dialogs.Method{}}
	hs := &harness{t: t, dir: dir, logs: &bytes.Buffer{}}
	hs.h = dialogs.NewRouter(dialogs.NewConversation(dialogs.ConversationOptions{
		Store: store, Content: dialogs.DefaultContent(), Directory: dir, AllowDelete: allowDelete,
		PollEvery: 10 * time.Millisecond, PollFor: 300 * time.Millisecond,
	}), nil)
	return hs
}

func (hs *harness) turn(a schema.Activity) *fakeTurn {
	a.ChannelID = "msteams"
	a.Locale = "ja-JP"
	a.From = schema.ChannelAccount{ID: "29:u", AadObjectID: user}
	a.Recipient = schema.ChannelAccount{ID: "28:bot"}
	a.Conversation = schema.ConversationAccount{ID: "a:1", ConversationType: "personal", TenantID: tenant}
	ft := &fakeTurn{act: a, updated: map[string]schema.Activity{}, log: slog.New(slog.NewJSONHandler(lockedWriter{hs}, nil))}
	hs.last = ft
	return ft
}

type lockedWriter struct{ hs *harness }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.hs.logMu.Lock()
	defer w.hs.logMu.Unlock()
	return w.hs.logs.Write(p)
}

func (hs *harness) say(text string) cards.Card {
	hs.t.Helper()
	ft := hs.turn(schema.Activity{Type: schema.Message, Text: text})
	if err := hs.h.OnMessage(context.Background(), ft); err != nil {
		hs.t.Fatal(err)
	}
	if len(ft.sent) != 1 || len(ft.sent[0].Attachments) != 1 {
		hs.t.Fatalf("say %q: sent %+v", text, ft.sent)
	}
	return asCard(hs.t, ft.sent[0].Attachments[0].Content)
}

func (hs *harness) press(card cards.Card, verb string) cards.Card {
	hs.t.Helper()
	data := dataOf(hs.t, card, verb)
	ft := hs.turn(schema.Activity{Type: schema.Invoke, Name: "adaptiveCard/action", ReplyToID: "card-msg-1",
		Value: map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}}})
	res, err := hs.h.OnInvoke(context.Background(), ft)
	if err != nil || res.Card == nil {
		hs.t.Fatalf("press %s: %v %+v", verb, err, res)
	}
	return asCard(hs.t, res.Card)
}

// asCard reads a card the bot answered with (its JSON) as a map.
func asCard(t *testing.T, v any) cards.Card {
	t.Helper()
	raw, ok := v.(json.RawMessage)
	if !ok {
		t.Fatalf("the answer carries a %T, not a card's JSON", v)
	}
	var c cards.Card
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("the answer is not a card: %v", err)
	}
	return c
}

func dataOf(t *testing.T, card cards.Card, verb string) map[string]any {
	t.Helper()
	for _, a := range card["actions"].([]any) {
		a := a.(map[string]any)
		if a["verb"] == verb {
			return a["data"].(map[string]any)
		}
	}
	t.Fatalf("card %s has no %q button: %s", cards.CardID(card), verb, js(card))
	return nil
}

func hasButton(card cards.Card, verb string) bool {
	acts, _ := card["actions"].([]any)
	for _, a := range acts {
		if a.(map[string]any)["verb"] == verb {
			return true
		}
	}
	return false
}

func js(c cards.Card) string { b, _ := json.Marshal(c); return string(b) }

func must(t *testing.T, card cards.Card, id string, texts ...string) {
	t.Helper()
	if got := cards.CardID(card); got != id {
		t.Fatalf("card %q, want %q: %s", got, id, js(card))
	}
	for _, s := range texts {
		if !strings.Contains(js(card), s) {
			t.Errorf("card %s lacks %q: %s", id, s, js(card))
		}
	}
}

var (
	oldDate = time.Date(2023, 4, 1, 3, 0, 0, 0, time.UTC)
	newDate = time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	oldSE   = dialogs.Method{ID: "6803c096-c096-6803-96c0-036896c00368", DeviceName: "iPhone SE (3rd generation)"}
	old12   = dialogs.Method{ID: "11111111-c096-6803-96c0-036896c00368", DeviceName: "Pixel 6", Created: &oldDate}
	new15   = dialogs.Method{ID: "22222222-c096-6803-96c0-036896c00368", DeviceName: "iPhone 15", Created: &newDate}
)

// toEnterNumber starts and walks to the 2-digit-number step.
func (hs *harness) toEnterNumber() cards.Card {
	card := hs.say("スマホ交換")
	for _, step := range dialogs.Steps()[:6] {
		must(hs.t, card, "step-"+step)
		card = hs.press(card, cards.VerbNext)
	}
	must(hs.t, card, "step-enter_number")
	return card
}

func TestNewDeviceFoundByIDAndOldOneDeleted(t *testing.T) {
	hs := newHarness(t, false)
	hs.dir.set(user, oldSE, old12)
	card := hs.toEnterNumber()
	hs.dir.add(user, new15)
	card = hs.press(card, cards.VerbNext)
	must(t, card, "step-confirm_new", "iPhone 15」の登録を確認しました")
	card = hs.press(card, cards.VerbNext)
	// Both old registrations named, with the date where Graph knows it.
	must(t, card, "step-delete_old", "iPhone SE (3rd generation)", "登録日不明", "Pixel 6", "登録日: 2023-04-01")
	if hasButton(card, cards.VerbBotDelete) {
		t.Error("ボットで削除 offered although GRAPH_ALLOW_DELETE is off")
	}

	// Pressing 次へ before deleting: not yet.
	card = hs.press(card, cards.VerbNext)
	must(t, card, "step-delete_old", "まだ削除されていません", "iPhone SE (3rd generation)、Pixel 6")
	if !hasButton(card, cards.VerbCheck) {
		t.Error("no 再確認 button")
	}
	hs.dir.set(user, old12, new15)
	card = hs.press(card, cards.VerbCheck)
	must(t, card, "step-delete_old", "まだ削除されていません: Pixel 6")
	hs.dir.set(user, new15)
	card = hs.press(card, cards.VerbCheck)
	must(t, card, "step-remove_account", "古いスマホの登録が削除されたことを確認しました")
	card = hs.press(card, cards.VerbNext)
	must(t, card, "done", "iPhone 15", "削除した古い登録: iPhone SE (3rd generation)", "削除した古い登録: Pixel 6")
}

func TestNoAuthenticatorBeforeSkipsDeletion(t *testing.T) {
	hs := newHarness(t, false)
	card := hs.toEnterNumber()
	hs.dir.add(user, new15)
	card = hs.press(hs.press(card, cards.VerbNext), cards.VerbNext)
	must(t, card, "step-remove_account", "以前の Microsoft Authenticator の登録はありませんでした")
	card = hs.press(card, cards.VerbNext)
	must(t, card, "done")
	if strings.Contains(js(card), "古いスマホの登録を削除") {
		t.Errorf("summary lists the skipped deletion step: %s", js(card))
	}
}

func TestNewDeviceDeletedByMistakeGoesBackToAdding(t *testing.T) {
	hs := newHarness(t, false)
	hs.dir.set(user, oldSE)
	card := hs.toEnterNumber()
	hs.dir.add(user, new15)
	card = hs.press(hs.press(card, cards.VerbNext), cards.VerbNext)
	must(t, card, "step-delete_old")
	hs.dir.set(user, oldSE) // the user deleted the new one instead
	card = hs.press(card, cards.VerbNext)
	must(t, card, "step-add_method", "新しいスマホ「iPhone 15」の登録が削除されています")
	// Adding again is recognised against the fresh snapshot.
	for range 3 {
		card = hs.press(card, cards.VerbNext)
	}
	must(t, card, "step-enter_number")
	again := dialogs.Method{ID: "33333333-0000-0000-0000-000000000000", DeviceName: "iPhone 15"}
	hs.dir.add(user, again)
	card = hs.press(card, cards.VerbNext)
	must(t, card, "step-confirm_new", "iPhone 15」の登録を確認しました")
	card = hs.press(card, cards.VerbNext)
	must(t, card, "step-delete_old", "iPhone SE (3rd generation)")
}

func TestNothingNewAfterTheWait(t *testing.T) {
	hs := newHarness(t, false)
	hs.dir.set(user, oldSE)
	card := hs.press(hs.toEnterNumber(), cards.VerbNext)
	must(t, card, "step-confirm_new", "確認しています")
	ft := hs.last
	ft.later.Wait()
	got, ok := ft.updated["card-msg-1"]
	if !ok {
		t.Fatalf("the waiting card was not updated; sent %+v", ft.sent)
	}
	res := asCard(t, got.Attachments[0].Content)
	must(t, res, "step-confirm_new", "まだ見つかりません", "再確認", "ヘルプデスクに相談")
	if ft.typing == 0 {
		t.Error("no typing indicator while waiting")
	}
	// Later the device appears and 再確認 finds it.
	hs.dir.add(user, new15)
	must(t, hs.press(res, cards.VerbCheck), "step-confirm_new", "iPhone 15」の登録を確認しました")
}

func TestPollFindsTheDeviceWhenItAppears(t *testing.T) {
	hs := newHarness(t, false)
	hs.dir.set(user, oldSE)
	card := hs.toEnterNumber()
	hs.dir.onList = func(n int) {
		if n == 3 { // shortly after the user pressed 次へ
			hs.dir.add(user, new15)
		}
	}
	before := hs.dir.lists
	card = hs.press(card, cards.VerbNext)
	_ = before
	must(t, card, "step-confirm_new", "確認しています")
	hs.last.later.Wait()
	res := asCard(t, hs.last.updated["card-msg-1"].Attachments[0].Content)
	must(t, res, "step-confirm_new", "iPhone 15」の登録を確認しました")
	// The updated card's 次へ is live.
	must(t, hs.press(res, cards.VerbNext), "step-delete_old")
}

func TestGraphFailuresSaidPlainlyNeverSuccess(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"forbidden": {fmt.Errorf("list: %w", dialogs.ErrDirectoryForbidden), "権限がありません"},
		"throttled": {fmt.Errorf("list: %w", dialogs.ErrDirectoryThrottled), "混み合っています"},
		"down":      {errors.New("dial tcp: connection refused"), "接続できませんでした"},
	} {
		t.Run(name, func(t *testing.T) {
			hs := newHarness(t, false)
			hs.dir.set(user, oldSE)
			card := hs.toEnterNumber()
			hs.dir.add(user, new15)
			hs.dir.fail(tc.err)
			card = hs.press(card, cards.VerbNext)
			must(t, card, "step-confirm_new", tc.want, "再確認", "ヘルプデスクに相談")
			if strings.Contains(js(card), "確認しました") {
				t.Fatalf("claimed success while Graph fails: %s", js(card))
			}
			// 次へ does not skip the check either.
			card = hs.press(card, cards.VerbNext)
			must(t, card, "step-confirm_new", tc.want)
			hs.dir.fail(nil)
			must(t, hs.press(card, cards.VerbCheck), "step-confirm_new", "iPhone 15」の登録を確認しました")
		})
	}
}

func TestSnapshotRequiredBeforeAdding(t *testing.T) {
	hs := newHarness(t, false)
	hs.dir.set(user, oldSE)
	hs.dir.fail(errors.New("graph down"))
	card := hs.press(hs.press(hs.say("スマホ交換"), cards.VerbNext), cards.VerbNext)
	must(t, card, "step-open_page")
	card = hs.press(card, cards.VerbNext)
	must(t, card, "step-open_page", "接続できませんでした")
	hs.dir.fail(nil)
	must(t, hs.press(card, cards.VerbNext), "step-add_method")
}

func TestBotDeleteOnlyListedOldMethods(t *testing.T) {
	hs := newHarness(t, true)
	hs.dir.set(user, oldSE, old12)
	card := hs.toEnterNumber()
	hs.dir.add(user, new15)
	card = hs.press(hs.press(card, cards.VerbNext), cards.VerbNext)
	must(t, card, "step-delete_old")
	confirm := hs.press(card, cards.VerbBotDelete)
	must(t, confirm, "confirm-delete", "iPhone SE (3rd generation)", "Pixel 6", "削除する")
	if len(hs.dir.deleted) != 0 {
		t.Fatal("deleted before the confirmation")
	}
	// Pixel 6 vanished on its own meanwhile: only what Graph lists now is deleted.
	hs.dir.set(user, oldSE, new15)
	card = hs.press(confirm, cards.VerbConfirmDelete)
	must(t, card, "step-remove_account", "古いスマホの登録が削除されたことを確認しました")
	if len(hs.dir.deleted) != 1 || hs.dir.deleted[0] != oldSE.ID {
		t.Fatalf("deleted %v, want only %s", hs.dir.deleted, oldSE.ID)
	}
	hs.logMu.Lock()
	logs := hs.logs.String()
	hs.logMu.Unlock()
	if !strings.Contains(logs, `"event":"authenticator_method_deleted"`) || !strings.Contains(logs, oldSE.ID) {
		t.Errorf("no audit entry for the delete: %s", logs)
	}
	if !strings.Contains(logs, "refused to delete") || !strings.Contains(logs, old12.ID) {
		t.Errorf("the unlisted id was not refused in the log: %s", logs)
	}
}
