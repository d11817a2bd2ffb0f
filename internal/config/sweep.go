package config

import (
	"fmt"
	"strconv"
	"time"
)

// Sweep is SWEEP_*: the tenant sweep's settings.
type Sweep struct {
	// GraphRate is the Graph requests per second that every replica's
	// sweep worker together may send (SWEEP_GRAPH_RATE, default 100); a
	// $batch of n requests counts n. Graph's own limits are per app and
	// tenant; leave room for the bot's turns.
	GraphRate int
	// TeamsAppID is the app's id in the Teams app catalog, which --install
	// needs (SWEEP_TEAMS_APP_ID).
	TeamsAppID string
	// Tenant is the Entra tenant whose users a sweep run from the command
	// line notifies (SWEEP_TENANT; default MicrosoftAppTenantId).
	Tenant string
	// Lease is how long a worker holds a batch or a card it claimed before
	// another worker may take it (SWEEP_LEASE, default 2m): how soon the
	// work of a replica that died is taken over. It must outlast a batch's
	// Graph call and a card's send, throttling waits included.
	Lease time.Duration
}

// maxSweepGraphRate bounds SWEEP_GRAPH_RATE under Graph's global limit of
// one app (130,000 requests per 10 s); the service's own limits for
// authentication methods are lower and not published, which is why the
// default is 100 and a 429 pauses every worker.
const maxSweepGraphRate = 10000

func loadSweep(get func(string) string, appTenant string) (Sweep, error) {
	s := Sweep{GraphRate: 100, TeamsAppID: get("SWEEP_TEAMS_APP_ID"), Tenant: get("SWEEP_TENANT"), Lease: 2 * time.Minute}
	if v := get("SWEEP_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > time.Hour {
			return s, &Error{"SWEEP_LEASE", fmt.Sprintf("%q is not a Go duration from 1s to 1h (e.g. 2m)", v)}
		}
		s.Lease = d
	}
	if s.Tenant == "" {
		s.Tenant = appTenant
	}
	if s.Tenant != "" && !guidPattern.MatchString(s.Tenant) {
		return s, &Error{"SWEEP_TENANT", "is not a GUID (the Entra tenant id)"}
	}
	if v := get("SWEEP_GRAPH_RATE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxSweepGraphRate {
			return s, &Error{"SWEEP_GRAPH_RATE", fmt.Sprintf("%q is not a number of Graph requests per second from 1 to %d", v, maxSweepGraphRate)}
		}
		s.GraphRate = n
	}
	return s, nil
}
