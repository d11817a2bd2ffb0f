//go:build unix

package e2e

// Where things are on disk (the repository root, the Playground's package,
// the files beside this one), the Playground's mock tenant,
// .m365agentsplayground.yml, and the Node.js the tests' helpers need.

import (
	"encoding/json"
	"fmt"
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
// directory (go test runs a package's tests in the package's directory).
func findLayout() (layout, error) {
	dir, err := os.Getwd()
	if err != nil {
		return layout{}, err
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
			}, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return layout{}, fmt.Errorf("no go.mod of module %s above the working directory", modulePath)
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

// loadConfig reads the Playground configuration.
func loadConfig(path string) (PlaygroundConfig, error) {
	var c PlaygroundConfig
	data, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%s must stay JSON (valid YAML) for the harness: %w", path, err)
	}
	return c, nil
}

// requireNode returns the node executable, failing the test (never skipping)
// when it or one of the e2e/node_modules files is missing.
func requireNode(t *testing.T, lay layout, modules ...string) string {
	t.Helper()
	node := os.Getenv("MFABOT_E2E_NODE")
	if node == "" {
		node = "node"
	}
	p, err := exec.LookPath(node)
	if err != nil {
		t.Fatalf("Node.js is needed by these tests (card validation, the sandbox page in Chromium): %v (install Node.js 20+, then %s)", err, installHint)
	}
	for _, m := range modules {
		if _, err := os.Stat(filepath.Join(lay.E2E, "node_modules", m)); err != nil {
			t.Fatalf("e2e/node_modules/%s is missing (%v): %s", m, err, installHint)
		}
	}
	return p
}
