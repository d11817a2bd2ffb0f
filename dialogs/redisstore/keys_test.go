package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/smartswap/mfabot/dialogs/redisstore"
)

// Two (tenant, user) pairs whose raw ids concatenate alike get separate
// keys, and every key of a user with a brace in an id stays on its tag's
// slot.
func TestUserKeysAreInjective(t *testing.T) {
	ctx := context.Background()
	s, _, prefix := newStore(t)
	a, b := [2]string{"T:u:A", "B"}, [2]string{"T", "A:u:B"}
	if redisstore.UserTag(a[0], a[1]) == redisstore.UserTag(b[0], b[1]) {
		t.Fatalf("both pairs have the tag %s", redisstore.UserTag(a[0], a[1]))
	}
	if _, ok, err := s.SaveDialog(ctx, a[0], a[1], []byte(`{"who":"a"}`), 0); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, ok, err := s.SaveDialog(ctx, b[0], b[1], []byte(`{"who":"b"}`), 0); !ok || err != nil {
		t.Fatalf("the second pair's first save found the first pair's dialog: %v %v", ok, err)
	}
	for _, p := range [][2]string{a, b} {
		doc, _, err := s.LoadDialog(ctx, p[0], p[1])
		if err != nil || string(doc) != `{"who":"`+map[string]string{"T:u:A": "a", "T": "b"}[p[0]]+`"}` {
			t.Errorf("%v: %s %v", p, doc, err)
		}
	}
	tag := redisstore.UserTag("t{1}", "u}x{")
	if slot(prefix+tag+":dialog") != slot(tag) || slot(prefix+tag+":ref") != slot(tag) {
		t.Errorf("a brace in an id moved a key off the user's slot: %s", tag)
	}
}

// A dialog, a reference and a ticket written under the tag of before ids
// were escaped are found, moved to the new key, and go on from there.
func TestLegacyKeysAreFoundAndMoved(t *testing.T) {
	ctx := context.Background()
	s, rdb, prefix := newStore(t)
	const tenant, user = "tenant-1", "29:1AbC-xyz" // a channel user id: it has a colon
	legacy := prefix + "{t:" + tenant + ":u:" + user + "}"
	rdb.HSet(ctx, legacy+":dialog", "rev", "3", "doc", `{"v":1,"step":"show_qr"}`)
	rdb.Set(ctx, legacy+":ref", `{"serviceUrl":"https://smba.trafficmanager.net/jp/"}`, time.Hour)
	rdb.HSet(ctx, legacy+":ticket:7", "rev", "1", "doc", `{"n":7}`)
	rdb.Set(ctx, legacy+":ticket:open", "7", time.Hour)
	t.Cleanup(func() {
		rdb.Del(context.Background(), legacy+":dialog", legacy+":ref", legacy+":ticket:7", legacy+":ticket:open")
	})

	doc, rev, err := s.LoadDialog(ctx, tenant, user)
	if err != nil || rev != 3 || string(doc) != `{"v":1,"step":"show_qr"}` {
		t.Fatalf("legacy dialog: %s rev %d %v", doc, rev, err)
	}
	if n := rdb.Exists(ctx, legacy+":dialog").Val(); n != 0 {
		t.Error("the legacy dialog key is still there")
	}
	if _, ok, err := s.SaveDialog(ctx, tenant, user, []byte(`{"v":1,"step":"enter_number"}`), rev); !ok || err != nil {
		t.Fatalf("saving over the moved dialog: %v %v", ok, err)
	}
	if doc, rev, _ := s.LoadDialog(ctx, tenant, user); rev != 4 || string(doc) != `{"v":1,"step":"enter_number"}` {
		t.Errorf("after the save: %s rev %d", doc, rev)
	}
	if ref, err := s.LoadReference(ctx, tenant, user); err != nil || string(ref) != `{"serviceUrl":"https://smba.trafficmanager.net/jp/"}` {
		t.Errorf("legacy reference: %s %v", ref, err)
	}
	if n, err := s.OpenTicket(ctx, tenant, user); n != 7 || err != nil {
		t.Errorf("legacy open ticket: %d %v", n, err)
	}
	if doc, rev, err := s.LoadTicket(ctx, tenant, user, 7); string(doc) != `{"n":7}` || rev != 1 || err != nil {
		t.Errorf("legacy ticket: %s %d %v", doc, rev, err)
	}
}

// The duplicate check's own read of the dialog finds a legacy dialog too.
func TestBeginLoadDialogFindsLegacyDialog(t *testing.T) {
	ctx := context.Background()
	s, rdb, prefix := newStore(t)
	const tenant, user = "tenant-2", "29:legacy"
	legacy := prefix + "{t:" + tenant + ":u:" + user + "}:dialog"
	rdb.HSet(ctx, legacy, "rev", "5", "doc", `{"v":1}`)
	t.Cleanup(func() { rdb.Del(context.Background(), legacy) })
	_, d, doc, rev, err := s.BeginLoadDialog(ctx, "seen:legacy", "tok", time.Hour, tenant, user)
	if err != nil || !d.First || rev != 5 || string(doc) != `{"v":1}` {
		t.Fatalf("%+v doc %s rev %d err %v", d, doc, rev, err)
	}
}
