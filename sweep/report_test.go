package sweep_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/smartswap/mfabot/sweep"
)

const bom = "\uFEFF"

// findings is a report's worth of candidates, with names that test quoting
// and formula injection.
func findings() []sweep.Finding {
	return []sweep.Finding{
		{
			User: sweep.User{ID: "11111111-aaaa", UPN: "taro@example.co.jp", DisplayName: "山田 太郎", Department: "経理部"},
			Devices: []sweep.Device{
				{Kind: sweep.KindPasskey, ID: "pk1", Name: "Pixel 8", Created: at("2026-09-11T16:30:00Z")}, // 2026-09-12 in Japan
				{Kind: sweep.KindPush, ID: "p1", Name: "iPhone SE (3rd generation)"},
				{Kind: sweep.KindPush, ID: "p2", Name: "iPhone 15", Created: at("2024-03-01T01:00:00Z")},
			},
			Action: sweep.ActionNotified,
		},
		{
			User: sweep.User{ID: "22222222-bbbb", UPN: "hanako@example.co.jp", DisplayName: "=HYPERLINK(\"http://x\",\"click\")", Department: "+81 営業, \"東京\"\n第二課"},
			Devices: []sweep.Device{
				{Kind: sweep.KindPush, ID: "p3", Name: "-Galaxy, \"S24\"\nUltra", Created: at("2025-01-01T00:00:00Z")},
				{Kind: sweep.KindPush, ID: "p4", Name: ""},
			},
			Action: sweep.ActionNoConversation,
		},
		{
			User:    sweep.User{ID: "33333333-cccc", UPN: "@jiro@example.co.jp", DisplayName: "\tTab", Department: ""},
			Devices: []sweep.Device{{Kind: sweep.KindPasskey, ID: "pk2", Name: "\rA"}, {Kind: sweep.KindPasskey, ID: "pk3", Name: "B"}},
			Action:  sweep.Failed("graph_forbidden"),
		},
	}
}

// readCSV checks the BOM and parses the rest of a CSV report.
func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	s, ok := strings.CutPrefix(string(b), bom)
	if !ok {
		t.Fatalf("CSV does not start with the UTF-8 BOM: % x", b[:min(len(b), 8)])
	}
	r := csv.NewReader(strings.NewReader(s))
	r.FieldsPerRecord = 7
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v\n%s", err, s)
	}
	return recs
}

func TestWriteCSVJapanese(t *testing.T) {
	var b bytes.Buffer
	if err := sweep.WriteCSV(&b, findings(), sweep.Japanese); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b.Bytes(), []byte{0xEF, 0xBB, 0xBF}) {
		t.Fatalf("no BOM")
	}
	want := [][]string{
		{"オブジェクトID", "UPN", "表示名", "部署", "デバイス", "デバイス数", "対応"},
		{"11111111-aaaa", "taro@example.co.jp", "山田 太郎", "経理部",
			"Authenticator: iPhone 15 (2024-03-01); パスキー: Pixel 8 (2026-09-12); Authenticator: iPhone SE (3rd generation) (登録日不明)",
			"3", "notified"},
		{"22222222-bbbb", "hanako@example.co.jp", "'=HYPERLINK(\"http://x\",\"click\")", "'+81 営業, \"東京\"\n第二課",
			"Authenticator: -Galaxy, \"S24\"\nUltra (2025-01-01); Authenticator: (名前なし) (登録日不明)",
			"2", "no_conversation"},
		{"33333333-cccc", "'@jiro@example.co.jp", "'\tTab", "",
			"パスキー: \rA (登録日不明); パスキー: B (登録日不明)",
			"2", "failed:graph_forbidden"},
	}
	got := readCSV(t, b.Bytes())
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CSV cells (-want +got):\n%s", diff)
	}
}

func TestWriteCSVEnglish(t *testing.T) {
	var b bytes.Buffer
	if err := sweep.WriteCSV(&b, findings()[:1], sweep.English); err != nil {
		t.Fatal(err)
	}
	got := readCSV(t, b.Bytes())
	want := [][]string{
		{"Object ID", "UPN", "Display name", "Department", "Devices", "Device count", "Action"},
		{"11111111-aaaa", "taro@example.co.jp", "山田 太郎", "経理部",
			"Authenticator: iPhone 15 (2024-03-01); passkey: Pixel 8 (2026-09-12); Authenticator: iPhone SE (3rd generation) (registration date unknown)",
			"3", "notified"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CSV cells (-want +got):\n%s", diff)
	}
}

func TestWriteCSVEmptyHasHeader(t *testing.T) {
	var b bytes.Buffer
	if err := sweep.WriteCSV(&b, nil, sweep.Japanese); err != nil {
		t.Fatal(err)
	}
	if got := readCSV(t, b.Bytes()); len(got) != 1 || got[0][0] != "オブジェクトID" {
		t.Errorf("empty report = %q, want the header row only", got)
	}
	if strings.Count(b.String(), bom) != 1 {
		t.Errorf("BOM written %d times", strings.Count(b.String(), bom))
	}
}

func TestWriteCSVUnknownLanguage(t *testing.T) {
	var b bytes.Buffer
	if err := sweep.WriteCSV(&b, findings(), "english"); err == nil {
		t.Fatal("WriteCSV with an unknown language: no error")
	}
	if b.Len() != 0 {
		t.Errorf("wrote %q before failing", b.String())
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestWriteCSVWriteError(t *testing.T) {
	for n := range 2 {
		if err := sweep.WriteCSV(&failWriter{n: n}, findings(), sweep.Japanese); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("after %d writes: err = %v, want the writer's", n, err)
		}
	}
}

func TestNeutralize(t *testing.T) {
	for in, want := range map[string]string{
		"":          "",
		"=1+1":      "'=1+1",
		"+81":       "'+81",
		"-2":        "'-2",
		"@SUM(A1)":  "'@SUM(A1)",
		"\tx":       "'\tx",
		"\rx":       "'\rx",
		"a=b":       "a=b",
		"山田":        "山田",
		"'already":  "'already",
		" =spaced":  " =spaced",
		"user@corp": "user@corp",
	} {
		if got := sweep.Neutralize(in); got != want {
			t.Errorf("Neutralize(%q) = %q, want %q", in, got, want)
		}
	}
}

// line is what a JSON lines report's line must decode to, field for field.
type line struct {
	UserID      string `json:"user_id"`
	UPN         string `json:"upn"`
	DisplayName string `json:"display_name"`
	Department  string `json:"department"`
	Devices     []struct {
		Kind    string     `json:"kind"`
		ID      string     `json:"id"`
		Name    string     `json:"name"`
		Created *time.Time `json:"created"`
	} `json:"devices"`
	Action string `json:"action"`
}

func TestWriteJSONL(t *testing.T) {
	var b bytes.Buffer
	if err := sweep.WriteJSONL(&b, findings()); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&b)
	var got []line
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var l line
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %d %s: %v", len(got)+1, sc.Bytes(), err)
		}
		if dec.More() {
			t.Fatalf("line %d holds more than one value", len(got)+1)
		}
		// Every field is present, even when empty.
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw) != 6 {
			t.Errorf("line %d has fields %v, want 6", len(got)+1, raw)
		}
		got = append(got, l)
	}
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3", len(got))
	}
	f := findings()
	for i, l := range got {
		if l.UserID != f[i].User.ID || l.UPN != f[i].User.UPN || l.DisplayName != f[i].User.DisplayName ||
			l.Department != f[i].User.Department || l.Action != f[i].Action {
			t.Errorf("line %d = %+v, want %+v", i+1, l, f[i])
		}
		want := sweep.Ordered(f[i].Devices)
		if len(l.Devices) != len(want) {
			t.Fatalf("line %d devices = %+v, want %+v", i+1, l.Devices, want)
		}
		for j, d := range l.Devices {
			w := want[j]
			if d.Kind != w.Kind || d.ID != w.ID || d.Name != w.Name || (d.Created == nil) != (w.Created == nil) ||
				(d.Created != nil && !d.Created.Equal(*w.Created)) {
				t.Errorf("line %d device %d = %+v, want %+v", i+1, j, d, w)
			}
		}
	}
	if got[0].Devices[0].ID != "p2" || got[0].Devices[2].ID != "p1" {
		t.Errorf("devices not oldest first: %+v", got[0].Devices)
	}
}

func TestWriteJSONLShape(t *testing.T) {
	var b bytes.Buffer
	f := sweep.Finding{
		User:    sweep.User{ID: "id", UPN: "u@x", DisplayName: "A & B <c>"},
		Devices: []sweep.Device{{Kind: sweep.KindPush, ID: "p", Name: "n", Created: at("2024-03-01T09:00:00+09:00")}, {Kind: sweep.KindPush, ID: "q", Name: "m"}},
	}
	if err := sweep.WriteJSONL(&b, []sweep.Finding{f, {User: sweep.User{ID: "none"}}}); err != nil {
		t.Fatal(err)
	}
	want := `{"user_id":"id","upn":"u@x","display_name":"A & B <c>","department":"","devices":[{"kind":"push","id":"p","name":"n","created":"2024-03-01T00:00:00Z"},{"kind":"push","id":"q","name":"m","created":null}],"action":""}` + "\n" +
		`{"user_id":"none","upn":"","display_name":"","department":"","devices":[],"action":""}` + "\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("JSONL (-want +got):\n%s", diff)
	}
}

// TestDeterministic writes the same findings, with their devices given in
// other orders, and wants the same bytes.
func TestDeterministic(t *testing.T) {
	write := func(fs []sweep.Finding) (string, string) {
		var c, j bytes.Buffer
		if err := sweep.WriteCSV(&c, fs, sweep.Japanese); err != nil {
			t.Fatal(err)
		}
		if err := sweep.WriteJSONL(&j, fs); err != nil {
			t.Fatal(err)
		}
		return c.String(), j.String()
	}
	c1, j1 := write(findings())
	shuffled := findings()
	for i := range shuffled {
		d := shuffled[i].Devices
		for a, b := 0, len(d)-1; a < b; a, b = a+1, b-1 {
			d[a], d[b] = d[b], d[a]
		}
	}
	// Devices without a date keep the order given (Ordered is stable), so
	// put the third user's two undated passkeys back as they were.
	shuffled[2].Devices[0], shuffled[2].Devices[1] = shuffled[2].Devices[1], shuffled[2].Devices[0]
	for range 3 {
		c2, j2 := write(shuffled)
		if c1 != c2 {
			t.Errorf("CSV differs:\n%s\n---\n%s", c1, c2)
		}
		if j1 != j2 {
			t.Errorf("JSONL differs:\n%s\n---\n%s", j1, j2)
		}
	}
}

// TestCSVWriterStreams writes findings one at a time and wants the same
// bytes as WriteCSV.
func TestCSVWriterStreams(t *testing.T) {
	var all, one bytes.Buffer
	if err := sweep.WriteCSV(&all, findings(), sweep.English); err != nil {
		t.Fatal(err)
	}
	cw, err := sweep.NewCSVWriter(&one, sweep.English)
	if err != nil {
		t.Fatal(err)
	}
	if one.Len() != 0 {
		t.Fatalf("NewCSVWriter wrote %q", one.String())
	}
	for _, f := range findings() {
		if err := cw.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	if all.String() != one.String() {
		t.Errorf("streamed CSV differs:\n%q\n%q", all.String(), one.String())
	}
}
