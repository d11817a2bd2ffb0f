// Package internal holds the project's packages that are not part of its
// surface: loopback (the one "is this host this machine?" check), metrics
// (Prometheus collectors wired by main), webhook (signed JSON webhooks) and
// redistest (a real Redis server for tests).
package internal
