// Package redisstore keeps the bot's state in Redis through go-redis's
// UniversalClient (standalone, Sentinel or Cluster): the idempotency
// records of delivered activities (deliveries.go: in progress with a
// lease, or done with the turn's answer), dialog state, tickets, the
// reminder queue and the daily statistics.
//
// Keys that belong to one user carry the hash tag {t:<tenant>:u:<aadObjectId>}
// so that every multi-key operation of one user stays on one Cluster slot.
// Leases (lease.go) are one key each under the user's hash tag, holding
// their owner's token: SET NX to take one, a compare-and-renew and a
// compare-and-delete script to renew and release it.
// The daily counters of the helpdesk's stats (stats.go) are per day under
// stats:{day:YYYY-MM-DD}, for StatsTTL.
// The package does no logging; callers decide what an error means.
package redisstore
