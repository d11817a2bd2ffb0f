package e2e

// Card screenshots: e2e/render-cards.js renders Adaptive Card JSON with
// Microsoft's Adaptive Cards library in headless Chromium. These tests run
// it on the cards shown in docs/ (scripts/screenshots.sh regenerates those)
// and on broken cards, which must make it fail.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"image"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// screenshotCards are the golden cards (cards/testdata/<name>.ja.golden.json)
// whose screenshots are in docs/.
var screenshotCards = []string{
	"welcome",
	"step-open_page",
	"step-install_app",
	"step-confirm_new-found",
	"step-delete_old-devices",
	"done-devices",
}

// renderedCard is one line of render-cards.js's output.
type renderedCard struct {
	File   string   `json:"file"`
	PNG    string   `json:"png"`
	OK     bool     `json:"ok"`
	Width  int      `json:"width"`
	Height int      `json:"height"`
	Errors []string `json:"errors"`
}

// renderCards runs e2e/render-cards.js --out outDir on files and returns its
// exit code, its result per card file and its stderr. What it needs is
// required: without it the test fails, it never skips.
func renderCards(t *testing.T, lay layout, outDir string, files ...string) (int, map[string]renderedCard, string) {
	t.Helper()
	root := lay.Root
	node := requireNode(t, lay, "the card screenshots", "playwright-core/package.json", "adaptivecards/dist/adaptivecards.min.js")
	requireChromium(t)

	args := append([]string{filepath.Join(root, "e2e", "render-cards.js"), "--out", outDir}, files...)
	cmd := exec.Command(node, args...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running render-cards.js: %v", err)
	}
	results := map[string]renderedCard{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r renderedCard
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("render-cards.js printed %q: %v\nstderr:\n%s", sc.Text(), err, stderr.String())
		}
		results[r.File] = r
	}
	if len(results) != len(files) {
		t.Fatalf("render-cards.js (exit %d) reported %d of %d cards\nstdout:\n%s\nstderr:\n%s", code, len(results), len(files), stdout.String(), stderr.String())
	}
	return code, results, stderr.String()
}

// checkScreenshot checks that a PNG exists, is not trivially small and is
// at least 400 px wide.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("no screenshot: %v", err)
		return
	}
	if len(data) <= 10*1024 {
		t.Errorf("%s is only %d bytes: the card looks empty", filepath.Base(path), len(data))
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || format != "png" {
		t.Errorf("%s is not a PNG (%s): %v", filepath.Base(path), format, err)
		return
	}
	if cfg.Width < 400 || cfg.Height < 100 {
		t.Errorf("%s is %dx%d, want at least 400 px wide", filepath.Base(path), cfg.Width, cfg.Height)
	}
	t.Logf("%s: %dx%d, %d bytes", filepath.Base(path), cfg.Width, cfg.Height, len(data))
}

func TestScreenshotCards(t *testing.T) {
	lay := findLayout(t)
	root := lay.Root
	out := t.TempDir()

	// Cards the library cannot render: each must fail the run and get no
	// screenshot, while the good cards in the same run still get theirs.
	brokenDir := t.TempDir()
	broken := map[string]string{
		"unknown-element.json": `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlok","text":"こんにちは"}]}`,
		"not-a-card.json":      `{"type":"Message","version":"1.5","body":[{"type":"TextBlock","text":"こんにちは"}]}`,
		"broken-image.json":    `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"Image","url":"data:image/png;base64,AAAA"}]}`,
		"remote-image.json":    `{"type":"AdaptiveCard","version":"1.5","body":[{"type":"Image","url":"https://example.com/qr.png"}]}`,
	}
	var files []string
	for name, card := range broken {
		p := filepath.Join(brokenDir, name)
		if err := os.WriteFile(p, []byte(card), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	for _, c := range screenshotCards {
		files = append(files, filepath.Join(root, "cards", "testdata", c+".ja.golden.json"))
	}

	code, results, stderr := renderCards(t, lay, out, files...)
	if code != 1 {
		t.Errorf("render-cards.js exited %d with broken cards among the input, want 1\nstderr:\n%s", code, stderr)
	}
	for name := range broken {
		p := filepath.Join(brokenDir, name)
		r := results[p]
		if r.OK || len(r.Errors) == 0 {
			t.Errorf("%s: rendered without an error (%+v)", name, r)
		}
		if !strings.Contains(stderr, p+": ") {
			t.Errorf("stderr does not name the broken card %s:\n%s", name, stderr)
		}
		png := filepath.Join(out, strings.TrimSuffix(name, ".json")+".png")
		if _, err := os.Stat(png); err == nil {
			t.Errorf("%s got a screenshot although it did not render", name)
		}
	}
	for _, c := range screenshotCards {
		r := results[filepath.Join(root, "cards", "testdata", c+".ja.golden.json")]
		if !r.OK {
			t.Errorf("%s did not render: %q", c, r.Errors)
			continue
		}
		want := filepath.Join(out, c+".ja.png")
		if r.PNG != want {
			t.Errorf("%s: screenshot at %s, want %s", c, r.PNG, want)
		}
		checkScreenshot(t, want)
	}
}

// TestScreenshotSucceeds checks the other side: a run of good cards only
// exits 0.
func TestScreenshotSucceeds(t *testing.T) {
	lay := findLayout(t)
	root := lay.Root
	out := t.TempDir()
	card := filepath.Join(root, "cards", "testdata", "step-install_app.ja.golden.json")
	code, results, stderr := renderCards(t, lay, out, card)
	if code != 0 || !results[card].OK {
		t.Fatalf("render-cards.js exited %d for a good card: %q\nstderr:\n%s", code, results[card].Errors, stderr)
	}
	checkScreenshot(t, filepath.Join(out, "step-install_app.ja.png"))
}
