package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/smartswap/mfabot/graph/sandbox"
)

// browserTools returns the repository root, the node binary and Chromium
// for a browser test, failing (never skipping) when one is missing.
func browserTools(t *testing.T) (root, nodeBin, chromium string) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	nodeBin = os.Getenv("MFABOT_E2E_NODE")
	if nodeBin == "" {
		nodeBin = "node"
	}
	if _, err := exec.LookPath(nodeBin); err != nil {
		t.Fatalf("Node.js (%s) is not on PATH: run the README's test command (./scripts/test.sh), which installs it", nodeBin)
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("e2e/node_modules/playwright-core is missing: run the README's test command (./scripts/test.sh), or npm ci --prefix e2e (%v)", err)
	}
	chromium = os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is missing at %s: run the README's test command (./scripts/test.sh), or apt-get install -y chromium (%v)", chromium, err)
	}
	return root, nodeBin, chromium
}

// runScript runs a page script with node from the repository root and
// returns what it printed, failing the test with its stderr when it fails.
func runScript(t *testing.T, root, nodeBin, chromium string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CHROMIUM_PATH="+chromium)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("node %s: %v\n%s", args[0], err, ee.Stderr)
		}
		t.Fatalf("node %s: %v", args[0], err)
	}
	return out
}

// TestBrowserSwap drives the security-info page in headless Chromium through
// e2e/sandbox-page.js: add a device through the UI, delete the old one
// (with the OK confirmation), and checks the result through Sandbox.Methods.
//
// It needs node, Chromium (/usr/bin/chromium, or CHROMIUM_PATH) and
// e2e/node_modules (npm ci --prefix e2e); without them it fails, never
// skips. MFABOT_SANDBOX_SCREENSHOT=path keeps the screenshot there.
func TestBrowserSwap(t *testing.T) {
	root, nodeBin, chromium := browserTools(t)
	script := filepath.Join(root, "e2e", "sandbox-page.js")

	sb := sandbox.New(sandbox.Options{})
	mux := http.NewServeMux()
	mux.Handle(sb.BasePath()+"/", sb.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	before := sb.Methods(userID)
	if len(before) != 1 || before[0].DisplayName != sandbox.DefaultInitialDevice {
		t.Fatalf("initial methods %+v", before)
	}
	shot := os.Getenv("MFABOT_SANDBOX_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "security-info.png")
	}
	const newDevice = `Galaxy S24 <b>"テスト"</b>`

	out := runScript(t, root, nodeBin, chromium, script, sb.PageURL(srv.URL, userID), newDevice, shot)

	var listed []struct{ ID, DisplayName string }
	if err := json.Unmarshal(out, &listed); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	after := sb.Methods(userID)
	if len(after) != 1 || after[0].DisplayName != newDevice || after[0].Created == nil {
		t.Fatalf("methods after the swap %+v, want only %q", after, newDevice)
	}
	if after[0].ID == before[0].ID {
		t.Fatal("the old device is still there")
	}
	if len(listed) != 1 || listed[0].ID != after[0].ID || listed[0].DisplayName != newDevice {
		t.Errorf("the page's final list %+v, want what Methods says: %+v", listed, after)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
}

// TestBrowserPasskeys drives the page in headless Chromium through
// testdata/passkey-page.js on a user who starts with a passkey in
// Authenticator: add a passkey on an Android phone and another
// authenticator app through the UI, delete the old passkey and the app
// (each with its OK confirmation), and check the result through Passkeys,
// SoftwareOath and Methods. Needs what TestBrowserSwap needs.
func TestBrowserPasskeys(t *testing.T) {
	root, nodeBin, chromium := browserTools(t)
	sb := sandbox.New(sandbox.Options{InitialPasskey: true})
	mux := http.NewServeMux()
	mux.Handle(sb.BasePath()+"/", sb.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	before := sb.Passkeys(userID)
	if len(before) != 1 || before[0].DisplayName != sandbox.DefaultInitialDevice {
		t.Fatalf("initial passkeys %+v", before)
	}
	const newDevice = `Pixel 9 <i>"テスト"</i>`
	shot := filepath.Join(t.TempDir(), "passkeys.png")
	out := runScript(t, root, nodeBin, chromium, filepath.Join("graph", "sandbox", "testdata", "passkey-page.js"),
		sb.PageURL(srv.URL, userID), newDevice, shot)

	var listed struct {
		Methods  []struct{ ID, DisplayName string }
		Passkeys []struct{ ID, DisplayName, Platform string }
		Oath     []string
	}
	if err := json.Unmarshal(out, &listed); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	after := sb.Passkeys(userID)
	if len(after) != 1 || after[0].DisplayName != newDevice || after[0].AAGUID != sandbox.AuthenticatorAndroidAAGUID || after[0].ID == before[0].ID {
		t.Fatalf("passkeys after the page %+v, want only %q on Android", after, newDevice)
	}
	if len(listed.Passkeys) != 1 || listed.Passkeys[0].ID != after[0].ID || listed.Passkeys[0].Platform != "Android" {
		t.Errorf("the page's final passkeys %+v, want what Passkeys says: %+v", listed.Passkeys, after)
	}
	if got := sb.SoftwareOath(userID); len(got) != 0 || len(listed.Oath) != 0 {
		t.Errorf("other authenticator apps left: %v (page: %v)", got, listed.Oath)
	}
	if got := sb.Methods(userID); len(got) != 1 || len(listed.Methods) != 1 || listed.Methods[0].ID != got[0].ID {
		t.Errorf("the Authenticator rows changed: %+v (page: %+v)", got, listed.Methods)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
}
