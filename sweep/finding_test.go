package sweep_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/smartswap/mfabot/sweep"
)

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func kinds(ks ...string) []sweep.Device {
	out := make([]sweep.Device, len(ks))
	for i, k := range ks {
		out[i] = sweep.Device{Kind: k, ID: k + string(rune('a'+i))}
	}
	return out
}

func TestCandidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		devices []sweep.Device
		want    bool
	}{
		{"none", nil, false},
		{"one push", kinds(sweep.KindPush), false},
		{"two push", kinds(sweep.KindPush, sweep.KindPush), true},
		{"three push", kinds(sweep.KindPush, sweep.KindPush, sweep.KindPush), true},
		{"one push one passkey", kinds(sweep.KindPush, sweep.KindPasskey), false},
		{"one passkey", kinds(sweep.KindPasskey), false},
		{"two passkeys", kinds(sweep.KindPasskey, sweep.KindPasskey), true},
		{"two passkeys one push", kinds(sweep.KindPasskey, sweep.KindPush, sweep.KindPasskey), true},
		{"other kinds ignored", kinds("fido2", "fido2", "oath", "oath", "phone", "tap", ""), false},
		{"one push among others", kinds(sweep.KindPush, "oath", "fido2", "phone"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sweep.Candidate(tc.devices); got != tc.want {
				t.Errorf("Candidate(%v) = %v, want %v", tc.devices, got, tc.want)
			}
		})
	}
}

func TestOrdered(t *testing.T) {
	in := []sweep.Device{
		{ID: "u1"},
		{ID: "new", Created: at("2026-09-12T10:00:00Z")},
		{ID: "u2"},
		{ID: "old", Created: at("2023-01-02T03:04:05Z")},
		{ID: "tieA", Created: at("2024-05-05T00:00:00Z")},
		{ID: "tieB", Created: at("2024-05-05T09:00:00+09:00")}, // the same instant
		{ID: "u3"},
	}
	before := append([]sweep.Device(nil), in...)
	var got []string
	for _, d := range sweep.Ordered(in) {
		got = append(got, d.ID)
	}
	want := []string{"old", "tieA", "tieB", "new", "u1", "u2", "u3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Ordered (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, in); diff != "" {
		t.Errorf("Ordered changed its argument (-before +after):\n%s", diff)
	}
	if got := sweep.Ordered(nil); len(got) != 0 {
		t.Errorf("Ordered(nil) = %v", got)
	}
}

func TestSummary(t *testing.T) {
	s := sweep.Summary{Scanned: 100}
	for _, a := range []string{sweep.ActionNone, sweep.ActionNotified, sweep.ActionNotified,
		sweep.ActionNoConversation, sweep.ActionBothInUse, sweep.Failed("graph_forbidden"), sweep.ActionCompleted} {
		s.Count(sweep.Finding{Action: a})
	}
	want := sweep.Summary{Scanned: 100, Candidates: 7, Notified: 2, NoConversation: 1, BothInUse: 1, Failed: 1, Completed: 1, Open: 5}
	if s != want {
		t.Fatalf("Summary = %+v, want %+v", s, want)
	}
	if got, want := s.String(sweep.Japanese), "確認したユーザー 100 人、候補 7 人（通知 2、会話なし 1、両方使用中 1、失敗 1）、完了 1 人、未対応 5 人"; got != want {
		t.Errorf("String(ja) = %q, want %q", got, want)
	}
	if got, want := s.String(sweep.English), "100 users scanned, 7 candidates (2 notified, 1 without a conversation, 1 using both, 1 failed), 1 completed, 5 still open"; got != want {
		t.Errorf("String(en) = %q, want %q", got, want)
	}
	if got := s.String("fr"); got != s.String(sweep.Japanese) {
		t.Errorf("String(fr) = %q, want the Japanese", got)
	}
}
