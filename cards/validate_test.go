package cards

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The golden cards are validated by Microsoft's Adaptive Cards library
// (npm adaptivecards, pinned in e2e/package.json) through
// e2e/validate-cards.js. These tests need node and e2e/node_modules: they
// fail, never skip, without them.

const setupHint = "run the README's test command (./scripts/test.sh), which installs node and runs npm ci --prefix e2e"

// validatorLine is one line of validate-cards.js's output.
type validatorLine struct {
	File    string `json:"file"`
	OK      bool   `json:"ok"`
	Version string `json:"version"`
	Bytes   int    `json:"bytes"`
	Events  []struct {
		Origin  string `json:"origin"`
		Type    string `json:"type"`
		Element string `json:"element"`
		Message string `json:"message"`
	} `json:"events"`
}

// repoRoot is the directory of the module's go.mod, above the test's
// working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = parent
	}
}

// runValidator runs e2e/validate-cards.js on args and returns its parsed
// output lines, its raw output and its exit code.
func runValidator(t *testing.T, args ...string) (lines []validatorLine, output string, code int) {
	t.Helper()
	root := repoRoot(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (%v): %s", err, setupHint)
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "node_modules", "adaptivecards", "package.json")); err != nil {
		t.Fatalf("the adaptivecards npm package is not installed in e2e/node_modules (%v): %s", err, setupHint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(root, "e2e", "validate-cards.js")}, args...)...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running the validator: %v\n%s", err, stderr.String())
	}
	output = stdout.String() + stderr.String()
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l validatorLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("validator output line %q: %v\n%s", sc.Text(), err, output)
		}
		lines = append(lines, l)
	}
	return lines, output, code
}

func TestCardsValidateWithAdaptiveCardsLibrary(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(root, "cards", "testdata")
	lines, output, code := runValidator(t, dir)
	if code != 0 {
		t.Fatalf("the Adaptive Cards library rejects cards (exit %d):\n%s", code, output)
	}

	// Every golden card was validated (TestGolden keeps testdata in step
	// with the builders).
	validated := map[string]bool{}
	largest, largestFile := 0, ""
	for _, l := range lines {
		if !l.OK || len(l.Events) > 0 {
			t.Errorf("%s: events %+v", l.File, l.Events)
		}
		if l.Version != Version {
			t.Errorf("%s: the library reads version %q, want %s", l.File, l.Version, Version)
		}
		validated[filepath.Base(l.File)] = true
		if l.Bytes > largest {
			largest, largestFile = l.Bytes, filepath.Base(l.File)
		}
	}
	for _, c := range cardCases(t) {
		if !validated[filepath.Base(c.file())] {
			t.Errorf("%s was not validated (run go test ./cards -update to write it)", c.file())
		}
	}
	t.Logf("%d cards valid for the Adaptive Cards library; largest %s, %d bytes", len(lines), largestFile, largest)
}

// The same cards in the Action.Submit style (CARD_ACTIONS=submit): every
// one valid, with no Action.Execute left, each declaring its version and a
// fallbackText.
func TestSubmitCardsValidateWithAdaptiveCardsLibrary(t *testing.T) {
	out := t.TempDir()
	n := 0
	for _, c := range cardCases(t) {
		b, err := json.Marshal(c.card)
		if err != nil {
			t.Fatal(err)
		}
		sub := AsSubmit(b)
		var m map[string]any
		if err := json.Unmarshal(sub, &m); err != nil {
			t.Fatalf("%s in the submit style is not JSON: %v", c.file(), err)
		}
		if bytes.Contains(sub, []byte("Action.Execute")) || (bytes.Contains(b, []byte("Action.Execute")) && !bytes.Contains(sub, []byte(`"Action.Submit"`))) {
			t.Errorf("%s: Action.Execute left in the submit style", c.file())
		}
		if m["version"] != Version || m["fallbackText"] == "" || m["fallbackText"] == nil {
			t.Errorf("%s: version %v, fallbackText %q", c.file(), m["version"], m["fallbackText"])
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(c.file())), sub, 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	lines, output, code := runValidator(t, out)
	if code != 0 || len(lines) != n {
		t.Fatalf("the Adaptive Cards library: exit %d, %d of %d cards:\n%s", code, len(lines), n, output)
	}
	for _, l := range lines {
		if !l.OK || len(l.Events) > 0 {
			t.Errorf("%s: events %+v", l.File, l.Events)
		}
	}
}

// The validator must be able to fail: broken cards are reported, each for
// the expected reason, and a good card alone passes.
func TestValidatorRejectsBrokenCards(t *testing.T) {
	dir := t.TempDir()
	good := func() map[string]any {
		return map[string]any{
			"type":    "AdaptiveCard",
			"version": "1.5",
			"body":    []any{map[string]any{"type": "TextBlock", "text": "hello", "wrap": true}},
			"actions": []any{map[string]any{"type": "Action.Execute", "title": "Next", "verb": "next", "data": map[string]any{"verb": "next"}}},
			"msteams": map[string]any{"width": "Full"},
		}
	}
	broken := map[string]struct {
		card any
		want string // in the message of one of the card's events
	}{
		"unknown-element": {
			card: func() any { c := good(); c["body"] = []any{map[string]any{"type": "Foo"}}; return c }(),
			want: `Unknown element type "Foo"`,
		},
		"unknown-action": {
			card: func() any {
				c := good()
				c["actions"] = []any{map[string]any{"type": "Action.Bar", "title": "x"}}
				return c
			}(),
			want: `Unknown action type "Action.Bar"`,
		},
		"execute-without-title": {
			card: func() any {
				c := good()
				c["actions"] = []any{map[string]any{"type": "Action.Execute", "verb": "next", "data": map[string]any{"verb": "next"}}}
				return c
			}(),
			want: "has no title",
		},
		"execute-without-verb": {
			card: func() any {
				c := good()
				c["actions"] = []any{map[string]any{"type": "Action.Execute", "title": "Next"}}
				return c
			}(),
			want: "has no verb",
		},
		"bad-version": {
			card: func() any { c := good(); c["version"] = "one point five"; return c }(),
			want: `Invalid version string "one point five"`,
		},
		"version-above-teams": {
			card: func() any { c := good(); c["version"] = "1.6"; return c }(),
			want: "above 1.5",
		},
		"no-version": {
			card: func() any { c := good(); delete(c, "version"); return c }(),
			want: `no "version"`,
		},
		"not-a-card": {
			card: func() any { c := good(); c["type"] = "Card"; return c }(),
			want: "Invalid or missing card type",
		},
		"misspelt-property": {
			card: func() any {
				c := good()
				c["body"] = []any{map[string]any{"type": "TextBlock", "text": "hello", "wrapp": true}}
				return c
			}(),
			want: `Unknown property "wrapp" on TextBlock`,
		},
		"invalid-value": {
			card: func() any {
				c := good()
				c["body"] = []any{map[string]any{"type": "TextBlock", "text": "hello", "color": "Purple"}}
				return c
			}(),
			want: `Invalid value "Purple" for property "color"`,
		},
		"duplicate-id": {
			card: func() any {
				c := good()
				c["body"] = []any{
					map[string]any{"type": "TextBlock", "text": "a", "id": "x"},
					map[string]any{"type": "TextBlock", "text": "b", "id": "x"},
				}
				return c
			}(),
			want: `Duplicate Id "x"`,
		},
		"open-url-without-url": {
			card: func() any {
				c := good()
				c["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "Open"}}
				return c
			}(),
			want: `"url" must be set`,
		},
		"not-json": {card: json.RawMessage(`{"type": "AdaptiveCard",`), want: "JSON"},
	}
	write := func(name string, card any) string {
		var b []byte
		if raw, ok := card.(json.RawMessage); ok {
			b = raw
		} else {
			var err error
			if b, err = json.Marshal(card); err != nil {
				t.Fatal(err)
			}
		}
		file := filepath.Join(dir, name+".json")
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	for name, tc := range broken {
		write(name, tc.card)
	}
	goodFile := write("good", good())

	lines, output, code := runValidator(t, dir)
	if code != 1 {
		t.Errorf("validator exit code %d on broken cards, want 1:\n%s", code, output)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		name := strings.TrimSuffix(filepath.Base(l.File), ".json")
		seen[name] = true
		if name == "good" {
			if !l.OK || len(l.Events) != 0 {
				t.Errorf("the good card has events: %+v", l.Events)
			}
			continue
		}
		tc, ok := broken[name]
		if !ok {
			t.Errorf("unexpected validator line for %s", l.File)
			continue
		}
		found := false
		for _, e := range l.Events {
			found = found || strings.Contains(e.Message, tc.want)
		}
		if l.OK || !found {
			t.Errorf("%s: ok=%v events %+v, want an event containing %q", name, l.OK, l.Events, tc.want)
		}
	}
	for name := range broken {
		if !seen[name] {
			t.Errorf("no validator line for %s:\n%s", name, output)
		}
	}

	if _, output, code := runValidator(t, goodFile); code != 0 {
		t.Errorf("validator exit code %d on the good card alone, want 0:\n%s", code, output)
	}
	if _, output, code := runValidator(t, t.TempDir()); code != 2 {
		t.Errorf("validator exit code %d on a directory without cards, want 2:\n%s", code, output)
	}
}
