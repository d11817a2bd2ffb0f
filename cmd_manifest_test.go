package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"image"
	_ "image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	manifestTestAppID  = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	manifestTestDomain = "mfabot.example.com"
)

func manifestEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// readAppPackage opens the zip at path and returns its file names in order
// and their contents.
func readAppPackage(t *testing.T, path string) ([]string, map[string][]byte) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("%s is not a zip: %v", path, err)
	}
	defer zr.Close()
	var names []string
	files := map[string][]byte{}
	for _, f := range zr.File {
		names = append(names, f.Name)
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		files[f.Name] = b.Bytes()
	}
	return names, files
}

func TestManifestCommandWritesPackage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "app.zip")
	var stdout, stderr bytes.Buffer
	env := manifestEnv(map[string]string{"MicrosoftAppId": " " + manifestTestAppID + "\n", "BOT_DOMAIN": manifestTestDomain})
	if err := runManifest([]string{"-out", out}, env, &stdout, &stderr); err != nil {
		t.Fatalf("runManifest: %v\nstderr: %s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "wrote "+out) {
		t.Errorf("stdout = %q, want it to name the zip written", stdout.String())
	}
	names, files := readAppPackage(t, out)
	if want := []string{"manifest.json", "color.png", "outline.png", "en-us.json"}; !slices.Equal(names, want) {
		t.Fatalf("app package files = %q, want %q", names, want)
	}
	var m struct {
		ID   string `json:"id"`
		Bots []struct {
			BotID string `json:"botId"`
		} `json:"bots"`
		ValidDomains []string `json:"validDomains"`
	}
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	if m.ID != manifestTestAppID || len(m.Bots) != 1 || m.Bots[0].BotID != manifestTestAppID || !slices.Equal(m.ValidDomains, []string{manifestTestDomain}) {
		t.Errorf("manifest.json: id %q, bots %+v, validDomains %q; want the app id and domain from the environment", m.ID, m.Bots, m.ValidDomains)
	}
	for name, size := range map[string]int{"color.png": 192, "outline.png": 32} {
		cfg, _, err := image.DecodeConfig(bytes.NewReader(files[name]))
		if err != nil || cfg.Width != size || cfg.Height != size {
			t.Errorf("%s: %dx%d (%v), want %dx%d", name, cfg.Width, cfg.Height, err, size, size)
		}
	}
	// No temporary file is left beside the zip.
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("the output directory holds %d entries, want only app.zip", len(entries))
	}
}

func TestManifestCommandDefaultOutViaRun(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	env := manifestEnv(map[string]string{"MicrosoftAppId": manifestTestAppID, "BOT_DOMAIN": manifestTestDomain})
	var stdout, stderr bytes.Buffer
	// run dispatches `mfabot manifest` before reading any configuration:
	// nothing else of the bot's configuration is needed.
	if err := run(context.Background(), []string{"mfabot", "manifest"}, env, &stdout, &stderr); err != nil {
		t.Fatalf("run manifest: %v\nstderr: %s", err, stderr.String())
	}
	if names, _ := readAppPackage(t, filepath.Join(dir, "app.zip")); len(names) != 4 {
		t.Errorf("app.zip holds %q", names)
	}
}

func TestManifestCommandErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no app id", nil, map[string]string{"BOT_DOMAIN": manifestTestDomain}, "manifest: MicrosoftAppId is not set"},
		{"bad app id", nil, map[string]string{"MicrosoftAppId": "mfabot", "BOT_DOMAIN": manifestTestDomain}, `manifest: MicrosoftAppId "mfabot" is not a GUID`},
		{"no domain", nil, map[string]string{"MicrosoftAppId": manifestTestAppID}, "manifest: BOT_DOMAIN is not set"},
		{"domain is a URL", nil, map[string]string{"MicrosoftAppId": manifestTestAppID, "BOT_DOMAIN": "https://mfabot.example.com/"}, "manifest: BOT_DOMAIN \"https://mfabot.example.com/\" must be a host name only"},
		{"unknown flag", []string{"-output", "x.zip"}, map[string]string{"MicrosoftAppId": manifestTestAppID, "BOT_DOMAIN": manifestTestDomain}, "flag provided but not defined: -output"},
		{"stray argument", []string{"app.zip"}, map[string]string{"MicrosoftAppId": manifestTestAppID, "BOT_DOMAIN": manifestTestDomain}, `unexpected argument "app.zip"`},
		{"unwritable", []string{"-out", filepath.Join(t.TempDir(), "missing", "app.zip")}, map[string]string{"MicrosoftAppId": manifestTestAppID, "BOT_DOMAIN": manifestTestDomain}, "no such file or directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"mfabot", "manifest"}, c.args...), manifestEnv(c.env), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want one containing %q", err, c.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a failed run left %d file(s) in the working directory", len(entries))
			}
		})
	}
}

func TestManifestCommandHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runManifest([]string{"-h"}, manifestEnv(nil), &stdout, &stderr); err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"usage: mfabot manifest", "MicrosoftAppId", "BOT_DOMAIN", "-out"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help text lacks %q:\n%s", want, stderr.String())
		}
	}
}
