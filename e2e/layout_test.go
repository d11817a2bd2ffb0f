package e2e

// Where things are on disk (the repository root, the Playground's package,
// the files beside this one), the Playground's mock tenant,
// .m365agentsplayground.yml, and the Node.js and Chromium the tests need.
// No build constraint: screenshots_test.go, which has none, uses it too.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	// modulePath identifies the repository root (its go.mod).
	modulePath = "github.com/smartswap/mfabot"
	// playgroundPkg is the Playground's directory under e2e/node_modules.
	playgroundPkg = "node_modules/@microsoft/m365agentsplayground"
	// configFile is the Playground's mock tenant, beside this file.
	configFile = ".m365agentsplayground.yml"
	// guardFile is preloaded into the Playground to keep it on loopback.
	guardFile = "loopback-guard.cjs"

	// installHint tells how to install what the tests need.
	installHint = "run the repository's test command ./scripts/test.sh (it runs `npm ci --prefix e2e`), " +
		"or `npm ci --prefix e2e` from the repository root, then run the tests again"
)

// PlaygroundConfig is .m365agentsplayground.yml (Playground config schema
// 0.1.1). The harness reads it as JSON, so keep the file in JSON.
type PlaygroundConfig struct {
	Version  string `json:"version"`
	TenantID string `json:"tenantId"`
	Bot      struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"bot"`
	CurrentUser  PlaygroundUser   `json:"currentUser"`
	Users        []PlaygroundUser `json:"users"`
	PersonalChat struct {
		ID string `json:"id"`
	} `json:"personalChat"`
	GroupChat struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"groupChat"`
	Team struct {
		ID         string `json:"id"` // also the id of the team's General channel
		Name       string `json:"name"`
		AADGroupID string `json:"aadGroupId"`
		Channels   []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"channels"`
	} `json:"team"`
}

// PlaygroundUser is a user of the mock tenant.
type PlaygroundUser struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	UserPrincipleName string `json:"userPrincipleName"` // sic: the schema's spelling
	AADObjectID       string `json:"aadObjectId"`
	GivenName         string `json:"givenName"`
	Surname           string `json:"surname"`
	Email             string `json:"email"`
}

// layout is where things are on disk.
type layout struct {
	Root   string // repository root (go.mod of modulePath)
	E2E    string // Root/e2e
	CLI    string // the Playground's cli.js
	Guard  string // loopback-guard.cjs
	Config string // .m365agentsplayground.yml
}

// findLayout locates the repository root by walking up from the working
// directory (go test runs a package's tests in the package's directory),
// failing the test without one.
func findLayout(t testing.TB) layout {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && goModModule(data) == modulePath {
			e2e := filepath.Join(dir, "e2e")
			return layout{
				Root:   dir,
				E2E:    e2e,
				CLI:    filepath.Join(e2e, playgroundPkg, "cli.js"),
				Guard:  filepath.Join(e2e, guardFile),
				Config: filepath.Join(e2e, configFile),
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod of module %s above the working directory", modulePath)
			return layout{}
		}
		dir = parent
	}
}

// goModModule returns the module path declared in a go.mod.
func goModModule(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// loadConfig reads the Playground configuration, failing the test when it
// cannot.
func loadConfig(t testing.TB, path string) PlaygroundConfig {
	t.Helper()
	var c PlaygroundConfig
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s must stay JSON (valid YAML) for the harness: %v", path, err)
	}
	return c
}

// requireNode returns the node executable ($MFABOT_E2E_NODE, default node
// on PATH), failing the test (never skipping) when it or one of the
// e2e/node_modules files is missing. purpose says what needs it.
func requireNode(t testing.TB, lay layout, purpose string, modules ...string) string {
	t.Helper()
	node := os.Getenv("MFABOT_E2E_NODE")
	if node == "" {
		node = "node"
	}
	p, err := exec.LookPath(node)
	if err != nil {
		t.Fatalf("Node.js is needed for %s: %v (install Node.js 20+, e.g. `apt-get install nodejs npm`, then %s)", purpose, err, installHint)
	}
	for _, m := range modules {
		if _, err := os.Stat(filepath.Join(lay.E2E, "node_modules", m)); err != nil {
			t.Fatalf("e2e/node_modules/%s is missing (%v): %s", m, err, installHint)
		}
	}
	return p
}

// requireChromium returns the Chromium the browser tests drive
// ($CHROMIUM_PATH, default Debian's /usr/bin/chromium, as in the e2e/*.js
// scripts), failing the test (never skipping) when it is missing.
func requireChromium(t testing.TB) string {
	t.Helper()
	chromium := os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is missing at %s (%v): install Debian's chromium and fonts-ipafont-gothic (./scripts/test.sh does), or set CHROMIUM_PATH", chromium, err)
	}
	return chromium
}
