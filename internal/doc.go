// Package internal holds the project's packages that are not part of its
// surface: metrics (Prometheus collectors wired by main) and redistest (a
// real Redis server for tests).
package internal
