package dialogs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/smartswap/mfabot/cards"
)

// The embedded step content follows the procedure table, in its order, and
// a content file that lacks a step of the table, or has one the table does
// not know, is refused.
func TestContentFollowsTheProcedure(t *testing.T) {
	if got := cards.DefaultContent().StepIDs(); !slices.Equal(got, Steps()) {
		t.Fatalf("embedded steps %v, table %v", got, Steps())
	}
	DefaultContent() // does not panic

	var m map[string]any
	raw, _ := json.Marshal(cards.DefaultContent())
	json.Unmarshal(raw, &m)
	steps := m["steps"].([]any)
	m["steps"] = steps[1:]
	short, _ := json.Marshal(m)
	if _, err := LoadContent("steps.json", short); err == nil || !strings.Contains(err.Error(), string(StepCautions)+": is missing") {
		t.Errorf("content without the first step: %v", err)
	}
	extra := map[string]any{}
	for k, v := range steps[0].(map[string]any) {
		extra[k] = v
	}
	extra["id"] = "reboot_phone"
	m["steps"] = append(slices.Clone(steps), extra)
	long, _ := json.Marshal(m)
	if _, err := LoadContent("steps.json", long); err == nil || !strings.Contains(err.Error(), "not a step of the procedure") {
		t.Errorf("content with a step the table does not know: %v", err)
	}
}

// The table's rules: where 戻る goes, what is skipped and when, where a
// lost new phone is added again, where a pass resumes the dialog.
func TestProcedureTable(t *testing.T) {
	i, st := rowOf(StepOldPhone)
	if back(i, st, &state{}) != StepCautions || !st.Lost {
		t.Errorf("old_phone: back %q, lost %v", back(i, st, &state{}), st.Lost)
	}
	if i, st := rowOf(StepCautions); back(i, st, &state{}) != "" {
		t.Errorf("the first step has a 戻る: %q", back(i, st, &state{}))
	}
	// The passkey step is there only for a dialog whose old phone held a
	// passkey: counted, gone back to and gone through only then.
	i, st = rowOf(StepDeleteOld)
	if back(i, st, &state{}) != StepConfirmNew || back(i, st, &state{Passkey: true}) != StepAddPasskey {
		t.Errorf("delete_old goes back to %q (push only) and %q (with a passkey)", back(i, st, &state{}), back(i, st, &state{Passkey: true}))
	}
	if _, of := position(0, &state{}); of != len(procedure)-1 {
		t.Errorf("push only: %d steps, want %d", of, len(procedure)-1)
	}
	if _, of := position(0, &state{Passkey: true}); of != len(procedure) {
		t.Errorf("with a passkey: %d steps, want %d", of, len(procedure))
	}
	ci, _ := rowOf(StepConfirmNew)
	if to, _ := forward(ci, &state{Passkey: true, New: &device{ID: "n"}, Old: []device{{ID: "o"}}}); to.ID != StepAddPasskey {
		t.Errorf("with a passkey, confirm_new leads to %v", to)
	}
	if to, _ := forward(ci, &state{New: &device{ID: "n"}, Old: []device{{ID: "o"}}}); to.ID != StepDeleteOld {
		t.Errorf("push only, confirm_new leads to %v", to)
	}
	if _, st := rowOf(stepLost); st.Back != StepOldPhone {
		t.Errorf("the lost branch goes back to %q", st.Back)
	}
	if !forgetsNew(StepEnterNumber) || !forgetsNew(StepShowQR) || forgetsNew(StepConfirmNew) || forgetsNew(StepDeleteOld) {
		t.Error("going back before the new-device check must forget what it found, and only then")
	}

	found := &state{New: &device{ID: "new"}}
	i, _ = rowOf(StepConfirmNew)
	if to, skipped := forward(i, found); to.ID != StepRemoveAccount || skipped == nil || skipped.Note != "old.none" {
		t.Errorf("no old registration: forward to %v (skipped %v), want remove_account with old.none", to, skipped)
	}
	withOld := &state{New: &device{ID: "new"}, Old: []device{{ID: "old"}}}
	if to, skipped := forward(i, withOld); to.ID != StepDeleteOld || skipped != nil {
		t.Errorf("with an old registration: forward to %v (skipped %v)", to, skipped)
	}
	if to, _ := forward(len(procedure)-1, withOld); to != nil {
		t.Errorf("after the last step: %v", to)
	}
	if _, st := rowOf(StepDeleteOld); st.NewGone != StepAddMethod {
		t.Errorf("a deleted new phone is added again at %q", st.NewGone)
	}
	if signIn() != StepOpenPage {
		t.Errorf("a pass resumes at %q", signIn())
	}
	if (&state{Step: stepLost}).stepIndex() != 2 || (&state{Step: StepRemoveAccount}).stepIndex() != len(procedure)-1 ||
		(&state{Step: StepRemoveAccount, Passkey: true}).stepIndex() != len(procedure) {
		t.Error("step positions")
	}
}

// A cached step card is the card the builder makes, with the dialog's own
// id and nonce, whatever look it has.
func TestStepCardsCacheIsTheBuiltCard(t *testing.T) {
	content := DefaultContent()
	var sc stepCards
	for _, loc := range []cards.Locale{cards.Japanese, cards.English} {
		for i, st := range procedure {
			for _, v := range []cards.StepView{
				{Index: i + 1, Total: len(procedure), Lost: st.Lost},
				{Index: i + 1, Total: len(procedure), Notice: "stale", Problem: "p", Retry: true, Checking: true, Found: "iPhone \"15\" <b>"},
				// The whole phone's looks: a found passkey, the decline
				// button, credentials by kind and the OATH question.
				{Index: i + 1, Total: len(procedure), FoundPasskey: "Pixel *9*", Decline: true, AskOath: 2,
					Devices: []cards.Device{{Name: "iPhone SE"}, {Kind: cards.KindPasskey, Name: "iPhone SE", Registered: "2026-09-12"}, {Kind: cards.KindOath}}},
			} {
				for n := range 2 {
					v.Ref = cards.Ref{Dialog: newID(), Step: string(st.ID), Nonce: newID()}
					got := sc.render(content, loc, v)
					want := render(cards.Step(content, loc, v))
					if string(got) != string(want) {
						t.Fatalf("%s %s (render %d): cached card differs:\n got %s\nwant %s", st.ID, loc, n, got, want)
					}
				}
			}
		}
	}
	if len(sc.m) != 2*3*len(procedure) {
		t.Errorf("%d looks cached, want %d", len(sc.m), 2*3*len(procedure))
	}
	// The new phone's name is filled in, not a look of its own.
	i, _ := rowOf(StepConfirmNew)
	for _, name := range []string{"Pixel 8", "iPhone <15> & \"Pro\"", "名前\n改行"} {
		v := cards.StepView{Ref: cards.Ref{Dialog: newID(), Step: string(StepConfirmNew), Nonce: newID()}, Index: i + 1, Total: len(procedure), Found: name}
		if got, want := sc.render(content, cards.Japanese, v), render(cards.Step(content, cards.Japanese, v)); string(got) != string(want) {
			t.Errorf("found %q:\n got %s\nwant %s", name, got, want)
		}
	}
	if len(sc.m) != 2*3*len(procedure)+1 {
		t.Errorf("%d looks cached after three device names, want one more", len(sc.m))
	}
	// So is each user's own page (the sandbox's).
	i, _ = rowOf(StepOpenPage)
	for _, user := range []string{"u1", "c5e99701-2a32-49c1-a660-4629ceeb8c61"} {
		v := cards.StepView{Ref: cards.Ref{Dialog: newID(), Step: string(StepOpenPage), Nonce: newID()}, Index: i + 1, Total: len(procedure),
			SecurityInfoURL: "http://127.0.0.1:3978/sandbox/security-info?user=" + user + "&x=<1>"}
		if got, want := sc.render(content, cards.English, v), render(cards.Step(content, cards.English, v)); string(got) != string(want) {
			t.Errorf("page of %s:\n got %s\nwant %s", user, got, want)
		}
	}
	if len(sc.m) != 2*3*len(procedure)+2 {
		t.Errorf("%d looks cached after two users' pages, want one more", len(sc.m))
	}
	// And the old phones' names and dates.
	i, _ = rowOf(StepDeleteOld)
	for _, devs := range [][]cards.Device{
		{{Name: "iPhone SE (3rd generation)"}, {Name: "Pixel 6", Registered: "2023-04-01"}},
		{{Name: "Galaxy <S9>"}, {Name: "Old & \"odd\"", Registered: "2020-01-02"}},
	} {
		v := cards.StepView{Ref: cards.Ref{Dialog: newID(), Step: string(StepDeleteOld), Nonce: newID()}, Index: i + 1, Total: len(procedure), Devices: devs, BotDelete: true}
		if got, want := sc.render(content, cards.Japanese, v), render(cards.Step(content, cards.Japanese, v)); string(got) != string(want) {
			t.Errorf("devices %v:\n got %s\nwant %s", devs, got, want)
		}
	}
	if len(sc.m) != 2*3*len(procedure)+3 {
		t.Errorf("%d looks cached after two lists of two devices, want one more", len(sc.m))
	}
	// Not JSON-safe as it is: built, not filled in.
	v := cards.StepView{Ref: cards.Ref{Dialog: `d"1`, Step: string(StepCautions), Nonce: "n"}, Index: 1, Total: 10}
	if got, want := sc.render(content, cards.Japanese, v), render(cards.Step(content, cards.Japanese, v)); string(got) != string(want) {
		t.Errorf("a reference that needs escaping:\n got %s\nwant %s", got, want)
	}
}

// A cached step card shows a name from Graph as the builder does: through
// cards.Plain, so no link or mention from a phone's name.
func TestStepCardsCacheShowsNamesPlain(t *testing.T) {
	content := DefaultContent()
	var sc stepCards
	hostile := []string{"[click](https://evil.example)", "<at>Helpdesk</at>", "# x\n> y", strings.Repeat("[x](https://e)", 100)}
	for _, name := range hostile {
		for _, v := range []cards.StepView{
			{Ref: cards.Ref{Dialog: newID(), Step: string(StepConfirmNew), Nonce: newID()}, Index: 8, Total: len(procedure), Found: name},
			{Ref: cards.Ref{Dialog: newID(), Step: string(StepDeleteOld), Nonce: newID()}, Index: 9, Total: len(procedure),
				Devices: []cards.Device{{Name: name}, {Name: name, Registered: "2023-04-01"}}},
		} {
			got := sc.render(content, cards.Japanese, v)
			if want := render(cards.Step(content, cards.Japanese, v)); string(got) != string(want) {
				t.Errorf("name %q:\n got %s\nwant %s", name, got, want)
			}
			for _, bad := range []string{"](http", "<at>", `\u003cat\u003e`, `\n#`} {
				if strings.Contains(string(got), bad) {
					t.Errorf("name %q: the card holds %q: %s", name, bad, got)
				}
			}
		}
	}
}

// memStore is a Store in memory whose saves can be made to lose a race.
type memStore struct {
	doc     []byte
	rev     int64
	loads   int
	steal   int // the next steal saves lose against another turn
	saveErr error
}

func (m *memStore) LoadDialog(context.Context, string, string) ([]byte, int64, error) {
	m.loads++
	return m.doc, m.rev, nil
}

func (m *memStore) SaveDialog(_ context.Context, _, _ string, doc []byte, prev int64) (int64, bool, error) {
	if m.saveErr != nil {
		return 0, false, m.saveErr
	}
	if m.steal > 0 {
		m.steal--
		m.rev++ // another turn saved first
		return 0, false, nil
	}
	if prev != m.rev {
		return 0, false, nil
	}
	m.doc, m.rev = doc, m.rev+1
	return m.rev, true, nil
}

// The one state path: decide again on a lost race, give up after
// maxCASAttempts, return encode and save errors, count what was saved.
func TestUpdateIsTheOneStatePath(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	k := userKey{tenant: "t", user: "u"}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, tokyo)
	obs := &countingObserver{}
	store := &memStore{steal: 2}
	d := &dialogs{store: store, now: func() time.Time { return now }, stats: NewStats(StatsOptions{Observer: obs})}

	decisions := 0
	_, saved, err := d.update(ctx, k, log, func(cur *state) (*state, error) {
		decisions++
		return &state{V: stateVersion, ID: "d1", Step: first(), Nonce: "n", Status: statusActive, Started: now}, nil
	})
	if err != nil || saved == nil || decisions != 3 || store.loads != 3 {
		t.Fatalf("saved %v, err %v after %d decisions and %d loads; want saved on the third", saved, err, decisions, store.loads)
	}
	if obs.started != 1 || obs.entered != 1 {
		t.Errorf("funnel counted %+v, want one start and one step", obs)
	}

	store.steal = maxCASAttempts
	if _, _, err := d.update(ctx, k, log, func(cur *state) (*state, error) { return cur.clone(), nil }); err == nil || !strings.Contains(err.Error(), "kept changing") {
		t.Errorf("endless races: %v", err)
	}

	bad := &state{V: stateVersion, ID: "d1", Step: first(), Status: statusActive, Started: now}
	bad.Remind = &reminder{Due: time.Unix(math.MaxInt64, 0)} // a time encoding/json refuses
	if _, saved, err := d.update(ctx, k, log, func(*state) (*state, error) { return bad, nil }); err == nil || saved != nil {
		t.Errorf("a state that cannot be encoded: saved %v, err %v", saved, err)
	}

	store.saveErr = errors.New("redis down")
	if _, _, err := d.update(ctx, k, log, func(cur *state) (*state, error) { return cur.clone(), nil }); !errors.Is(err, store.saveErr) {
		t.Errorf("save error: %v", err)
	}
	store.saveErr = nil
	if cur, saved, err := d.update(ctx, k, log, func(*state) (*state, error) { return nil, nil }); err != nil || saved != nil || cur == nil {
		t.Errorf("nothing to save: cur %v saved %v err %v", cur, saved, err)
	}
}

type countingObserver struct {
	nopObserver
	started, entered int
}

func (o *countingObserver) DialogStarted()     { o.started++ }
func (o *countingObserver) StepEntered(string) { o.entered++ }

// A dialog read with the turn's duplicate check serves the turn's first
// load only, and only for that user; a load after a lost race asks the
// store.
func TestPreloadedDialogServesTheFirstLoad(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, tokyo)
	st := &state{V: stateVersion, ID: "d1", Step: StepShowQR, Nonce: "n", Status: statusActive, Started: now}
	doc, _ := st.encode()
	store := &memStore{doc: doc, rev: 7}
	d := &dialogs{store: store, now: func() time.Time { return now }}
	ctx := WithLoaded(context.Background(), "t", "u", doc, 7)

	if cur, rev, err := d.load(ctx, userKey{"t", "other"}, log); err != nil || store.loads != 1 || cur.ID != "d1" || rev != 7 {
		t.Fatalf("another user's load: %v %d %v, %d store loads", cur, rev, err, store.loads)
	}
	if cur, rev, err := d.load(ctx, userKey{"t", "u"}, log); err != nil || store.loads != 1 || cur == nil || cur.Step != StepShowQR || rev != 7 {
		t.Fatalf("the first load: %v %d %v, %d store loads", cur, rev, err, store.loads)
	}
	if _, _, err := d.load(ctx, userKey{"t", "u"}, log); err != nil || store.loads != 2 {
		t.Fatalf("the second load did not ask the store (%d loads): %v", store.loads, err)
	}
	empty := WithLoaded(context.Background(), "t", "u", nil, 0)
	if cur, rev, err := d.load(empty, userKey{"t", "u"}, log); err != nil || cur != nil || rev != 0 || store.loads != 2 {
		t.Fatalf("no dialog preloaded: %v %d %v", cur, rev, err)
	}

	a := schema.Activity{Type: schema.Message, From: schema.ChannelAccount{ID: "29:x", AadObjectID: "u"},
		Conversation: schema.ConversationAccount{ConversationType: "personal", TenantID: "t"}}
	if tenant, user, ok := WillLoad(a); !ok || tenant != "t" || user != "u" {
		t.Errorf("a message in a 1:1 chat: %q %q %v", tenant, user, ok)
	}
	a.Conversation.ConversationType = "channel"
	if _, _, ok := WillLoad(a); ok {
		t.Error("a channel message reads no user's dialog")
	}
	a.Conversation.ConversationType, a.Type = "personal", schema.ConversationUpdate
	if _, _, ok := WillLoad(a); ok {
		t.Error("a conversation update reads no dialog")
	}
}

// Every field of a step view is either filled into a hole or part of the
// look: a view that differs from a cached one in any single field gets the
// card the builder makes for it, not the cached one. (A field missing from
// the look once served the poll's result from the waiting card's cache.)
func TestStepCardsCacheKeysEveryField(t *testing.T) {
	content := DefaultContent()
	var sc stepCards
	i, _ := rowOf(StepDeleteOld)
	base := cards.StepView{Ref: cards.Ref{Dialog: newID(), Step: string(StepDeleteOld), Nonce: newID()}, Index: i + 1, Total: len(procedure)}
	sc.render(content, cards.Japanese, base)
	typ := reflect.TypeOf(base)
	for f := range typ.NumField() {
		field := typ.Field(f)
		v := base
		fv := reflect.ValueOf(&v).Elem().Field(f)
		switch fv.Kind() {
		case reflect.String:
			fv.SetString("x")
		case reflect.Bool:
			fv.SetBool(true)
		case reflect.Int:
			fv.SetInt(int64(fv.Int() + 2))
		case reflect.Slice:
			fv.Set(reflect.ValueOf([]cards.Device{{Kind: cards.KindPasskey, Name: "n", Registered: "2026-09-12"}}))
		default:
			continue // Ref: holes and the step, covered above
		}
		got, want := sc.render(content, cards.Japanese, v), render(cards.Step(content, cards.Japanese, v))
		if string(got) != string(want) {
			t.Errorf("a view differing in %s got another look's card:\n got %s\nwant %s", field.Name, got, want)
		}
	}
}
