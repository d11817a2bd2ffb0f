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

// TestBrowserSwap drives the security-info page in headless Chromium through
// e2e/sandbox-page.js: add a device through the UI, delete the old one
// (with the OK confirmation), and checks the result through Sandbox.Methods.
//
// It needs node, Chromium (/usr/bin/chromium, or CHROMIUM_PATH) and
// e2e/node_modules (npm ci --prefix e2e); without them it fails, never
// skips. MFABOT_SANDBOX_SCREENSHOT=path keeps the screenshot there.
func TestBrowserSwap(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "e2e", "sandbox-page.js")
	nodeBin := os.Getenv("MFABOT_E2E_NODE")
	if nodeBin == "" {
		nodeBin = "node"
	}
	if _, err := exec.LookPath(nodeBin); err != nil {
		t.Fatalf("Node.js (%s) is not on PATH: run the README's test command (./scripts/test.sh), which installs it", nodeBin)
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("e2e/node_modules/playwright-core is missing: run the README's test command (./scripts/test.sh), or npm ci --prefix e2e (%v)", err)
	}
	chromium := os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is missing at %s: run the README's test command (./scripts/test.sh), or apt-get install -y chromium (%v)", chromium, err)
	}

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

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, script, sb.PageURL(srv.URL, userID), newDevice, shot)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CHROMIUM_PATH="+chromium)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("node e2e/sandbox-page.js: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("node e2e/sandbox-page.js: %v", err)
	}

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
