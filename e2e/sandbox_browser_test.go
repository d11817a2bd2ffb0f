//go:build unix

package e2e

// The procedure with the user's part done on the sandbox's security-info
// page in headless Chromium (e2e/sandbox-steps.js), at the URL the step-3
// card opens, rather than through the page's API.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSandboxPageDrivenInBrowser is the procedure with the user's part on
// the sandbox's security-info page in headless Chromium (e2e/sandbox-steps.js),
// at the URL the step-3 card's 「セキュリティ情報を開く」 opens: 「Pixel 9」
// added on the page while the chat is at step 7, the old
// 「iPhone SE (3rd generation)」 deleted on the page at step 9, and the bot
// must see both through Graph.
func TestSandboxPageDrivenInBrowser(t *testing.T) {
	t.Parallel()
	browser := requireBrowser(t, findLayout(t))
	f := startSwap(t, nil)
	logMark := f.env.Bot.OutputMark()
	start := time.Now()

	f.begin()
	f.next(2)
	f.next(3)
	pageURL := f.checkOpenURL()
	u, err := url.Parse(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host; got != f.env.Bot.URL || u.Path != "/sandbox/security-info" || u.Query().Get("user") != f.env.Config.CurrentUser.AADObjectID {
		t.Fatalf("the OpenUrl %s is not the bot's (%s) /sandbox/security-info for user %s", pageURL, f.env.Bot.URL, f.env.Config.CurrentUser.AADObjectID)
	}
	for n := 4; n <= 7; n++ {
		f.next(n)
	}

	// Step 7: the user adds the new phone on the page, then presses 次へ.
	list := browser.run(pageURL, "add", "Pixel 9").Methods
	if !hasDevice(list, "Pixel 9") || !hasDevice(list, swapOldDevice) {
		t.Fatalf("after adding on the page, its list is %+v; want Pixel 9 and %s", list, swapOldDevice)
	}
	f.press("次へ")
	f.settle("confirm_new")
	f.expectStep(8)
	if want := "新しいスマホ「Pixel 9」の登録を確認しました"; !strings.Contains(cardText(f.card), want) {
		t.Fatalf("step 8 does not name the phone added on the page (%q):\n%s", want, f.card)
	}

	f.next(9)
	if !strings.Contains(cardText(f.card), swapOldDevice) {
		t.Fatalf("step 9 does not list the old phone %q:\n%s", swapOldDevice, f.card)
	}

	// Step 9: the user deletes the old phone on the page, then presses 次へ.
	list = browser.run(pageURL, "delete-old").Methods
	if len(list) != 1 || list[0].DisplayName != "Pixel 9" {
		t.Fatalf("after deleting on the page, its list is %+v; want only Pixel 9", list)
	}
	f.next(10)
	if !strings.Contains(cardText(f.card), swapDeletedOK) {
		t.Fatalf("step 10 does not confirm the deletion (%q):\n%s", swapDeletedOK, f.card)
	}

	f.finish("Pixel 9")
	t.Logf("procedure with the page in Chromium: %d cards in %v", f.cards, time.Since(start).Round(time.Millisecond))
	assertNoBotErrorLogs(t, f.env, logMark)
}

// sandboxBrowser runs e2e/sandbox-steps.js.
type sandboxBrowser struct {
	t        *testing.T
	node     string
	script   string
	chromium string
	shots    string // directory for the screenshots
	runs     int
}

// requireBrowser checks node, playwright-core and Chromium, failing (never
// skipping) without them.
func requireBrowser(t *testing.T, lay layout) *sandboxBrowser {
	t.Helper()
	node := requireNode(t, lay, "the sandbox page in Chromium", "playwright-core/package.json")
	chromium := requireChromium(t)
	return &sandboxBrowser{t: t, node: node, script: filepath.Join(lay.E2E, "sandbox-steps.js"), chromium: chromium, shots: t.TempDir()}
}

// sandboxPageList is the page's list as sandbox-steps.js prints it: the
// Authenticator rows and the passkey rows.
type sandboxPageList struct {
	Methods  []sandboxMethod  `json:"methods"`
	Passkeys []sandboxPasskey `json:"passkeys"`
}

// sandboxPasskey is a passkey row of the page.
type sandboxPasskey struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Platform    string `json:"platform"` // "iOS", "Android", "" for a security key
	Created     string `json:"created"`  // createdDateTime, RFC 3339
}

// run does one of sandbox-steps.js's modes on the page and returns the
// page's list afterwards.
func (b *sandboxBrowser) run(pageURL string, args ...string) sandboxPageList {
	b.t.Helper()
	b.runs++
	shot := filepath.Join(b.shots, fmt.Sprintf("page-%d-%s.png", b.runs, args[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.node, append([]string{b.script, pageURL}, args...)...)
	cmd.Dir = filepath.Dir(b.script)
	cmd.Env = append(os.Environ(), "CHROMIUM_PATH="+b.chromium, "SANDBOX_STEPS_SHOT="+shot,
		"NO_PROXY=*", "no_proxy=*") // the page is on loopback
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		b.t.Fatalf("node e2e/sandbox-steps.js %s %s: %s\n(screenshot, if any: %s)", pageURL, strings.Join(args, " "), errorText(err), shot)
	}
	var list sandboxPageList
	if err := json.Unmarshal(out, &list); err != nil || list.Methods == nil || list.Passkeys == nil {
		b.t.Fatalf("sandbox-steps.js %s printed %q: %v", strings.Join(args, " "), out, err)
	}
	b.t.Logf("on the page in Chromium: %s (%v); list now %+v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), list)
	return list
}

func hasDevice(list []sandboxMethod, name string) bool {
	for _, m := range list {
		if m.DisplayName == name {
			return true
		}
	}
	return false
}
