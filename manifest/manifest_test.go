package manifest

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite color.png and outline.png from ColorIcon and OutlineIcon")

const (
	testBotID     = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	testBotDomain = "mfabot.example.com"
)

// ---------------------------------------------------------------------------
// Icons

func TestManifestIcons(t *testing.T) {
	icons := []struct {
		file   string
		render func() *image.NRGBA
		size   int
	}{
		{"color.png", ColorIcon, ColorIconSize},
		{"outline.png", OutlineIcon, OutlineIconSize},
	}
	for _, ic := range icons {
		t.Run(ic.file, func(t *testing.T) {
			want := ic.render()
			if *update {
				var buf bytes.Buffer
				enc := png.Encoder{CompressionLevel: png.BestCompression}
				if err := enc.Encode(&buf, want); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(ic.file, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(ic.file)
			if err != nil {
				t.Fatalf("%v (generate it with `go test ./manifest -run TestManifestIcons -update`)", err)
			}
			got := decodePNG(t, ic.file, data)
			if b := got.Bounds(); b.Dx() != ic.size || b.Dy() != ic.size {
				t.Fatalf("%s is %dx%d, want %dx%d", ic.file, b.Dx(), b.Dy(), ic.size, ic.size)
			}
			diff, first := 0, ""
			for y := 0; y < ic.size; y++ {
				for x := 0; x < ic.size; x++ {
					g := color.NRGBAModel.Convert(got.At(x, y)).(color.NRGBA)
					w := want.NRGBAAt(x, y)
					if g.A == 0 && w.A == 0 {
						continue // fully transparent: the colour does not matter
					}
					if g != w {
						if diff == 0 {
							first = fmt.Sprintf("(%d,%d): file %v, generator %v", x, y, g, w)
						}
						diff++
					}
				}
			}
			if diff > 0 {
				t.Errorf("%s differs from what the generator renders in %d pixel(s), first at %s; "+
					"run `go test ./manifest -run TestManifestIcons -update` after changing icons.go", ic.file, diff, first)
			}
		})
	}
}

// TestManifestIconRules checks Teams' rules on the rendered icons.
func TestManifestIconRules(t *testing.T) {
	t.Run("color", func(t *testing.T) {
		img := ColorIcon()
		checkColorIcon(t, img)
	})
	t.Run("outline", func(t *testing.T) {
		img := OutlineIcon()
		checkOutlineIcon(t, img)
	})
}

// checkColorIcon: 192×192, a solid background, and every pixel outside the
// central 96×96 is that background (the symbol keeps its 48 px padding).
func checkColorIcon(t *testing.T, img image.Image) {
	t.Helper()
	b := img.Bounds()
	if b.Dx() != ColorIconSize || b.Dy() != ColorIconSize {
		t.Fatalf("color icon is %dx%d, want 192x192", b.Dx(), b.Dy())
	}
	bg := color.NRGBAModel.Convert(img.At(b.Min.X, b.Min.Y)).(color.NRGBA)
	if bg.A != 255 && bg.A != 0 {
		t.Fatalf("color icon background %v is neither solid nor transparent", bg)
	}
	outside, inside := 0, 0
	for y := 0; y < ColorIconSize; y++ {
		for x := 0; x < ColorIconSize; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			central := x >= 48 && x < 144 && y >= 48 && y < 144
			switch {
			case !central && c != bg:
				if outside == 0 {
					t.Errorf("pixel (%d,%d) outside the central 96x96 is %v, not the background %v", x, y, c, bg)
				}
				outside++
			case central && c != bg:
				inside++
			}
		}
	}
	if outside > 0 {
		t.Errorf("%d pixel(s) of the symbol fall into the 48 px padding", outside)
	}
	if inside < 96*96/4 {
		t.Errorf("only %d pixel(s) of the central 96x96 differ from the background: the symbol is missing or tiny", inside)
	}
}

// checkOutlineIcon: 32×32, every pixel opaque white or fully transparent,
// and a reasonable amount of both.
func checkOutlineIcon(t *testing.T, img image.Image) {
	t.Helper()
	b := img.Bounds()
	if b.Dx() != OutlineIconSize || b.Dy() != OutlineIconSize {
		t.Fatalf("outline icon is %dx%d, want 32x32", b.Dx(), b.Dy())
	}
	opaque, bad := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			switch {
			case c.A == 0:
			case c == color.NRGBA{255, 255, 255, 255}:
				opaque++
			default:
				if bad == 0 {
					t.Errorf("outline pixel (%d,%d) is %v: only opaque white (255,255,255,255) or alpha 0 is allowed", x, y, c)
				}
				bad++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d outline pixel(s) are neither opaque white nor fully transparent", bad)
	}
	if total := b.Dx() * b.Dy(); opaque < total/8 || opaque > total*3/4 {
		t.Errorf("%d of %d outline pixels are white: the symbol is missing or fills the icon", opaque, total)
	}
}

func decodePNG(t *testing.T, name string, data []byte) image.Image {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if format != "png" {
		t.Fatalf("%s is %s, not PNG", name, format)
	}
	return img
}

// ---------------------------------------------------------------------------
// The template

func readJSONFile(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// lookup follows a path such as "bots[0].commandLists[1].commands[0].title"
// (the localization file's key syntax) through decoded JSON.
func lookup(v any, key string) (any, bool) {
	for _, part := range strings.Split(key, ".") {
		name, idx := part, []int(nil)
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			for _, m := range regexp.MustCompile(`\[(\d+)\]`).FindAllStringSubmatch(part[i:], -1) {
				n, _ := strconv.Atoi(m[1])
				idx = append(idx, n)
			}
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[name]; !ok {
			return nil, false
		}
		for _, n := range idx {
			arr, ok := v.([]any)
			if !ok || n >= len(arr) {
				return nil, false
			}
			v = arr[n]
		}
	}
	return v, true
}

func mustLookup(t *testing.T, m map[string]any, key string) any {
	t.Helper()
	v, ok := lookup(m, key)
	if !ok {
		t.Fatalf("manifest.json has no %s", key)
	}
	return v
}

func TestManifestTemplate(t *testing.T) {
	m := readJSONFile(t, "manifest.json")
	for key, want := range map[string]any{
		"$schema":                             "https://developer.microsoft.com/json-schemas/teams/v1.30/MicrosoftTeams.schema.json",
		"manifestVersion":                     "1.30",
		"id":                                  botIDPlaceholder,
		"bots[0].botId":                       botIDPlaceholder,
		"webApplicationInfo.id":               botIDPlaceholder,
		"webApplicationInfo.resource":         "api://" + botDomainPlaceholder + "/" + botIDPlaceholder,
		"validDomains[0]":                     botDomainPlaceholder,
		"localizationInfo.defaultLanguageTag": "ja-jp",
		"localizationInfo.additionalLanguages[0].languageTag": "en-us",
		"localizationInfo.additionalLanguages[0].file":        "en-us.json",
		"icons.color":   "color.png",
		"icons.outline": "outline.png",
		"accentColor":   fmt.Sprintf("#%02X%02X%02X", AccentColor.R, AccentColor.G, AccentColor.B),
	} {
		if got := mustLookup(t, m, key); got != want {
			t.Errorf("manifest.json %s = %v, want %v", key, got, want)
		}
	}
	if got := mustLookup(t, m, "validDomains").([]any); len(got) != 1 {
		t.Errorf("validDomains = %v, want only the bot's domain", got)
	}
	scopes := mustLookup(t, m, "bots[0].scopes").([]any)
	if !slices.Equal(scopes, []any{"personal", "team"}) {
		t.Errorf("bots[0].scopes = %v, want [personal team]", scopes)
	}
	// The commands the bot understands, as Teams lists them.
	wantCommands := map[string][]string{
		"personal": {"スマホ交換", "状況", "ヘルプ"},
		"team":     {"ヘルプデスク設定"},
	}
	lists := mustLookup(t, m, "bots[0].commandLists").([]any)
	if len(lists) != len(wantCommands) {
		t.Fatalf("%d command lists, want %d", len(lists), len(wantCommands))
	}
	for i := range lists {
		scope := mustLookup(t, m, fmt.Sprintf("bots[0].commandLists[%d].scopes[0]", i)).(string)
		cmds := mustLookup(t, m, fmt.Sprintf("bots[0].commandLists[%d].commands", i)).([]any)
		var titles []string
		for j := range cmds {
			titles = append(titles, mustLookup(t, m, fmt.Sprintf("bots[0].commandLists[%d].commands[%d].title", i, j)).(string))
			if d, _ := lookup(m, fmt.Sprintf("bots[0].commandLists[%d].commands[%d].description", i, j)); d == nil || d == "" {
				t.Errorf("command %d of list %d has no description", j, i)
			}
		}
		if !slices.Equal(titles, wantCommands[scope]) {
			t.Errorf("%s commands = %v, want %v", scope, titles, wantCommands[scope])
		}
	}

	// The placeholders occur nowhere else, and no other placeholder exists.
	data, _ := os.ReadFile("manifest.json")
	for _, ph := range regexp.MustCompile(`\$\{\{[^}]*\}\}`).FindAllString(string(data), -1) {
		if ph != botIDPlaceholder && ph != botDomainPlaceholder {
			t.Errorf("manifest.json has the placeholder %s, which Build does not fill", ph)
		}
	}
}

// localizable are the manifest strings a localization file translates.
func localizable(t *testing.T, m map[string]any) []string {
	keys := []string{"name.short", "name.full", "description.short", "description.full"}
	lists := mustLookup(t, m, "bots[0].commandLists").([]any)
	for i := range lists {
		cmds := mustLookup(t, m, fmt.Sprintf("bots[0].commandLists[%d].commands", i)).([]any)
		for j := range cmds {
			for _, f := range []string{"title", "description"} {
				keys = append(keys, fmt.Sprintf("bots[0].commandLists[%d].commands[%d].%s", i, j, f))
			}
		}
	}
	return keys
}

func TestManifestEnglish(t *testing.T) {
	m := readJSONFile(t, "manifest.json")
	en := readJSONFile(t, "en-us.json")
	if got, want := en["$schema"], "https://developer.microsoft.com/json-schemas/teams/v1.30/MicrosoftTeams.Localization.schema.json"; got != want {
		t.Errorf("en-us.json $schema = %v, want %v (the same version as manifest.json)", got, want)
	}
	// Every string of the manifest is translated...
	keys := localizable(t, m)
	for _, k := range keys {
		if _, ok := en[k]; !ok {
			t.Errorf("en-us.json has no %q (manifest.json: %v)", k, mustLookup(t, m, k))
		}
	}
	// ...and every translation is of a string the manifest has.
	for k, v := range en {
		if k == "$schema" {
			continue
		}
		if !slices.Contains(keys, k) {
			t.Errorf("en-us.json key %q is not a localizable string of manifest.json", k)
		}
		if s, _ := v.(string); strings.TrimSpace(s) == "" {
			t.Errorf("en-us.json %q is empty", k)
		}
	}
}

// ---------------------------------------------------------------------------
// Build

// unzip returns the package's files by name, in zip order.
func unzip(t *testing.T, data []byte) ([]string, map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("the app package is not a zip: %v", err)
	}
	var names []string
	contents := map[string][]byte{}
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.FileInfo().IsDir() {
			t.Errorf("the app package has a directory entry %q", f.Name)
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		contents[f.Name] = buf.Bytes()
	}
	return names, contents
}

func buildPackage(t *testing.T, botID, domain string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Build(&buf, botID, domain); err != nil {
		t.Fatalf("Build: %v", err)
	}
	return buf.Bytes()
}

func TestManifestBuild(t *testing.T) {
	data := buildPackage(t, strings.ToUpper(testBotID), "MFABot.Example.com")
	names, files := unzip(t, data)
	if !slices.Equal(names, []string{"manifest.json", "color.png", "outline.png", "en-us.json"}) {
		t.Fatalf("package files = %q, want exactly manifest.json, color.png, outline.png, en-us.json", names)
	}
	for _, n := range names {
		if strings.ContainsAny(n, `/\`) {
			t.Errorf("%q is not at the root of the zip", n)
		}
	}

	raw := files["manifest.json"]
	if bytes.Contains(raw, []byte("${{")) {
		t.Errorf("manifest.json still has a placeholder:\n%s", raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest.json in the package: %v", err)
	}
	for key, want := range map[string]string{
		"id":                          testBotID, // lower case
		"bots[0].botId":               testBotID,
		"webApplicationInfo.id":       testBotID,
		"webApplicationInfo.resource": "api://mfabot.example.com/" + testBotID,
		"validDomains[0]":             "mfabot.example.com",
	} {
		if got := mustLookup(t, m, key); got != want {
			t.Errorf("manifest.json %s = %v, want %v", key, got, want)
		}
	}

	checkColorIcon(t, decodePNG(t, "color.png", files["color.png"]))
	checkOutlineIcon(t, decodePNG(t, "outline.png", files["outline.png"]))
	if en, _ := os.ReadFile("en-us.json"); !bytes.Equal(files["en-us.json"], en) {
		t.Error("en-us.json in the package differs from manifest/en-us.json")
	}

	// The same inputs give the same bytes.
	if again := buildPackage(t, strings.ToUpper(testBotID), "MFABot.Example.com"); !bytes.Equal(again, data) {
		t.Error("two builds with the same inputs differ")
	}
}

func TestManifestBuildRejects(t *testing.T) {
	cases := []struct {
		id, domain string
		wantVar    string
		wantText   string
	}{
		{"", testBotDomain, "MicrosoftAppId", "not set"},
		{"not-a-guid", testBotDomain, "MicrosoftAppId", "not a GUID"},
		{"{" + testBotID + "}", testBotDomain, "MicrosoftAppId", "not a GUID"},
		{testBotID + " ", testBotDomain, "MicrosoftAppId", "not a GUID"},
		{testBotID, "", "BOT_DOMAIN", "not set"},
		{testBotID, "https://mfabot.example.com", "BOT_DOMAIN", "without scheme"},
		{testBotID, "mfabot.example.com/api/messages", "BOT_DOMAIN", "without scheme, port or path"},
		{testBotID, "mfabot.example.com:443", "BOT_DOMAIN", "without scheme, port or path"},
		{testBotID, "localhost", "BOT_DOMAIN", "not a public DNS host name"},
		{testBotID, "10.0.0.1", "BOT_DOMAIN", "IP address"},
		{testBotID, "-mfabot.example.com", "BOT_DOMAIN", "not a valid DNS host name"},
		{testBotID, "mfa_bot.example.com", "BOT_DOMAIN", "not a valid DNS host name"},
		{testBotID, "mfabot.example.com.", "BOT_DOMAIN", "not a valid DNS host name"},
		{testBotID, "mfabot .example.com", "BOT_DOMAIN", "not a valid DNS host name"},
		{testBotID, `mfa"bot.example.com`, "BOT_DOMAIN", "not a valid DNS host name"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		err := Build(&buf, c.id, c.domain)
		if err == nil {
			t.Errorf("Build(%q, %q) succeeded, want an error about %s", c.id, c.domain, c.wantVar)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.wantVar+" ") || !strings.Contains(err.Error(), c.wantText) {
			t.Errorf("Build(%q, %q) = %q, want an error starting with %s and saying %q", c.id, c.domain, err, c.wantVar, c.wantText)
		}
		if buf.Len() != 0 {
			t.Errorf("Build(%q, %q) wrote %d bytes despite the error", c.id, c.domain, buf.Len())
		}
	}
}

// ---------------------------------------------------------------------------
// Offline schema validation with the official schemas (e2e/validate-manifest.js)

// validation is one line of validate-manifest.js's output.
type validation struct {
	File   string `json:"file"`
	OK     bool   `json:"ok"`
	Schema string `json:"schema"`
	Errors []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (v validation) String() string {
	var b strings.Builder
	for _, e := range v.Errors {
		fmt.Fprintf(&b, "\n    %s: %s", e.Path, e.Message)
	}
	return b.String()
}

// validateManifests runs e2e/validate-manifest.js on files and returns its
// exit code and the result per file. Node and e2e/node_modules are required:
// without them the test fails, it never skips.
func validateManifests(t *testing.T, files ...string) (int, map[string]validation) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: the manifest is validated with Node.js (20 or newer) and the official schemas; install it (./scripts/test.sh does)")
	}
	e2e, err := filepath.Abs(filepath.Join("..", "e2e"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range []string{"@microsoft/app-manifest/build/json-schemas/teams/v1.30/MicrosoftTeams.schema.json", "ajv-draft-04/package.json"} {
		if _, err := os.Stat(filepath.Join(e2e, "node_modules", dep)); err != nil {
			t.Fatalf("e2e/node_modules/%s is missing: run `npm ci --prefix e2e` (./scripts/test.sh does)", dep)
		}
	}
	cmd := exec.Command(node, append([]string{filepath.Join(e2e, "validate-manifest.js")}, files...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running validate-manifest.js: %v", err)
	}
	results := map[string]validation{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v validation
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("validate-manifest.js printed %q: %v\nstderr: %s", sc.Text(), err, stderr.String())
		}
		results[v.File] = v
	}
	if len(results) != len(files) {
		t.Fatalf("validate-manifest.js (exit %d) reported %d of %d files\nstdout: %s\nstderr: %s", code, len(results), len(files), stdout.String(), stderr.String())
	}
	return code, results
}

// unpack builds the package and writes its files into a new directory.
func unpack(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	_, files := unzip(t, buildPackage(t, testBotID, testBotDomain))
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

func TestManifestSchema(t *testing.T) {
	dir, _ := unpack(t)
	manifest, english := filepath.Join(dir, "manifest.json"), filepath.Join(dir, "en-us.json")
	code, res := validateManifests(t, manifest, english)
	for _, f := range []string{manifest, english} {
		if !res[f].OK {
			t.Errorf("%s is not valid:%s", filepath.Base(f), res[f])
		}
	}
	if res[manifest].Schema != "v1.30/MicrosoftTeams.schema.json" || res[english].Schema != "v1.30/MicrosoftTeams.Localization.schema.json" {
		t.Errorf("validated against %q and %q, want the v1.30 manifest and localization schemas", res[manifest].Schema, res[english].Schema)
	}
	if code != 0 {
		t.Errorf("validate-manifest.js exited %d for a valid package", code)
	}
}

// TestManifestSchemaRejects shows that the validator fails: each case breaks
// one thing in a copy of the built package.
func TestManifestSchemaRejects(t *testing.T) {
	cases := []struct {
		name     string
		file     string // the file to change and validate
		change   func(m map[string]any)
		remove   string // a file to delete from the package instead
		wantPath string // an error must be at this path...
		wantText string // ...and say this
	}{
		{name: "bad accent colour", file: "manifest.json", change: func(m map[string]any) { m["accentColor"] = "blue" },
			wantPath: "/accentColor", wantText: "pattern"},
		{name: "misspelt bot field", file: "manifest.json", change: func(m map[string]any) {
			m["bots"].([]any)[0].(map[string]any)["commandList"] = []any{}
		}, wantPath: "/bots/0", wantText: `"commandList"`},
		{name: "unknown scope", file: "manifest.json", change: func(m map[string]any) {
			m["bots"].([]any)[0].(map[string]any)["scopes"] = []any{"personal", "channel"}
		}, wantPath: "/bots/0/scopes/1", wantText: "allowed values"},
		{name: "app id not a GUID", file: "manifest.json", change: func(m map[string]any) { m["id"] = "mfabot" },
			wantPath: "/id", wantText: "pattern"},
		{name: "short name too long", file: "manifest.json", change: func(m map[string]any) {
			m["name"].(map[string]any)["short"] = strings.Repeat("長", 31)
		}, wantPath: "/name/short", wantText: "more than 30"},
		{name: "wrong manifest version", file: "manifest.json", change: func(m map[string]any) { m["manifestVersion"] = "1.29" },
			wantPath: "/manifestVersion", wantText: "constant"},
		{name: "outline icon missing", file: "manifest.json", remove: "outline.png",
			wantPath: "/icons/outline", wantText: "not in the package"},
		{name: "misspelt localization key", file: "en-us.json", change: func(m map[string]any) { m["name.shrt"] = "Phone swap" },
			wantPath: "", wantText: `"name.shrt"`},
		{name: "empty localized name", file: "en-us.json", change: func(m map[string]any) { m["name.short"] = "" },
			wantPath: "/name.short", wantText: "must match pattern"},
		{name: "remote schema", file: "manifest.json", change: func(m map[string]any) {
			m["$schema"] = "https://example.com/MicrosoftTeams.schema.json"
		}, wantPath: "/$schema", wantText: "expected https://developer.microsoft.com"},
		{name: "schema not bundled", file: "manifest.json", change: func(m map[string]any) {
			m["$schema"] = "https://developer.microsoft.com/json-schemas/teams/v9.99/MicrosoftTeams.schema.json"
		}, wantPath: "/$schema", wantText: "refusing to fetch"},
	}
	var paths []string
	byPath := map[string]int{}
	for i, c := range cases {
		dir, files := unpack(t)
		if c.remove != "" {
			if err := os.Remove(filepath.Join(dir, c.remove)); err != nil {
				t.Fatal(err)
			}
		}
		if c.change != nil {
			var m map[string]any
			if err := json.Unmarshal(files[c.file], &m); err != nil {
				t.Fatal(err)
			}
			c.change(m)
			data, _ := json.MarshalIndent(m, "", "  ")
			if err := os.WriteFile(filepath.Join(dir, c.file), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, c.file)
		paths = append(paths, p)
		byPath[p] = i
	}
	code, res := validateManifests(t, paths...)
	if code != 1 {
		t.Errorf("validate-manifest.js exited %d for invalid files, want 1", code)
	}
	for _, p := range paths {
		c := cases[byPath[p]]
		v := res[p]
		if v.OK {
			t.Errorf("%s: the validator accepted it", c.name)
			continue
		}
		found := false
		for _, e := range v.Errors {
			if e.Path == c.wantPath && strings.Contains(e.Message, c.wantText) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no error at %q saying %q; got:%s", c.name, c.wantPath, c.wantText, v)
		}
	}
}
