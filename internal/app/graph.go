package app

import (
	"errors"
	"sync/atomic"

	"github.com/smartswap/mfabot/graph"
	"github.com/smartswap/mfabot/graph/sandbox"
	"github.com/smartswap/mfabot/internal/config"
)

// graphs is where the conversation checks users' registrations: Microsoft
// Graph with the configured credential, a loopback stand-in
// (GRAPH_BASE_URL without credentials), or the in-process sandbox. The
// sandbox answers on the bot's own listener, so in that mode the Graph
// client is made by Serve, once the listener's address is known; the
// sandbox's security-info page, shown to the user instead of Microsoft's,
// is on that listener too.
type graphs struct {
	opts    []graph.Option
	client  atomic.Pointer[graph.Client]
	sandbox *sandbox.Sandbox // sandbox mode only
	origin  atomic.Pointer[string]
}

// errSandboxNotServed is what Graph calls get in sandbox mode before Serve.
var errSandboxNotServed = errors.New("graph sandbox: the bot is not served yet (the sandbox answers on its listener)")

// openGraph builds the Graph side cfg asks for; in sandbox mode it mounts
// the sandbox on the bot's surface.
func (a *App) openGraph() (*graphs, error) {
	g := &graphs{opts: []graph.Option{graph.WithObserver(a.metrics)}}
	if a.opts.GraphTimeout > 0 {
		g.opts = append(g.opts, graph.WithTimeout(a.opts.GraphTimeout))
	}
	if a.opts.GraphCredential != nil {
		g.opts = append(g.opts, graph.WithCredential(a.opts.GraphCredential))
	}
	cfg := a.cfg
	switch cfg.GraphMode {
	case config.GraphModeSandbox:
		g.sandbox = sandbox.New(sandbox.Options{InitialPasskey: cfg.SandboxPasskey, PushOnly: cfg.SandboxPushOnly,
			// The users who talk to the bot are the directory 棚卸し sweeps.
			ListSeen: true})
		a.mounts[g.sandbox.BasePath()+"/"] = g.sandbox.Handler()
		return g, nil
	}
	c, err := newGraphClient(cfg, g.opts)
	if err != nil {
		return nil, err
	}
	g.client.Store(c)
	return g, nil
}

// errGraphSandbox is NewGraphClient's answer in sandbox mode.
var errGraphSandbox = &config.Error{Var: "GRAPH_BASE_URL",
	Problem: "is not set and no Graph credential is configured: the sandbox answers only inside the bot (set GRAPH_BASE_URL and the Graph credential)"}

// NewGraphClient builds the Graph client cfg describes, exactly as the bot
// does (the credential, or none for a loopback GRAPH_BASE_URL), for the
// commands that reach Graph without serving the bot (mfabot sweep). In
// sandbox mode there is no Graph to reach outside the bot: an error.
func NewGraphClient(cfg config.Config, opts ...graph.Option) (*graph.Client, error) {
	if cfg.GraphMode == config.GraphModeSandbox {
		return nil, errGraphSandbox
	}
	return newGraphClient(cfg, opts)
}

// newGraphClient adds the credential cfg names (credential mode only) and
// the base URL to opts and builds the client. It does no I/O.
func newGraphClient(cfg config.Config, opts []graph.Option) (*graph.Client, error) {
	opts = append([]graph.Option(nil), opts...)
	if cfg.GraphMode == config.GraphModeCredential {
		gc := cfg.GraphCredential
		cred, err := graph.NewCredential(graph.CredentialConfig{
			Kind: gc.Kind, TenantID: gc.TenantID, ClientID: gc.ClientID, ClientSecret: string(gc.ClientSecret),
			CertificatePath: gc.CertificatePath, CertificatePassword: string(gc.CertificatePassword),
			ManagedIdentityClientID: gc.ManagedIdentityClientID,
		})
		if err != nil {
			return nil, &config.Error{Var: "GRAPH_CREDENTIAL", Problem: err.Error()}
		}
		opts = append(opts, graph.WithCredential(cred))
	}
	c, err := graph.NewClient(append(opts, graph.WithBaseURL(cfg.GraphBaseURL))...)
	if err != nil {
		return nil, &config.Error{Var: "GRAPH_BASE_URL", Problem: err.Error()}
	}
	return c, nil
}

// serveSandbox points the Graph client at the sandbox on the bot's
// listener, reached at origin ("http://127.0.0.1:3978"); nothing to do
// outside sandbox mode.
func (g *graphs) serveSandbox(origin string) error {
	if g.sandbox == nil {
		return nil
	}
	c, err := graph.NewClient(append(g.opts, graph.WithBaseURL(g.sandbox.GraphBaseURL(origin)))...)
	if err != nil {
		return err
	}
	g.origin.Store(&origin)
	g.client.Store(c)
	return nil
}

// get returns the Graph client.
func (g *graphs) get() (*graph.Client, error) {
	if c := g.client.Load(); c != nil {
		return c, nil
	}
	return nil, errSandboxNotServed
}

// pageURL gives the sandbox's security-info page of a user, or nil outside
// sandbox mode (the content file's page, Microsoft's, is shown).
func (g *graphs) pageURL() func(userID string) string {
	if g.sandbox == nil {
		return nil
	}
	return func(userID string) string {
		origin := ""
		if o := g.origin.Load(); o != nil {
			origin = *o
		}
		return g.sandbox.PageURL(origin, userID)
	}
}

// closeIdleConnections closes the Graph client's idle connections.
func (g *graphs) closeIdleConnections() {
	if c := g.client.Load(); c != nil {
		c.CloseIdleConnections()
	}
}
