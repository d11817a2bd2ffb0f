// Package internal holds the project's packages that are not part of its
// surface: app (the composition root: the one constructor of the bot, which
// main and the tests share), config (the environment, read and checked
// once), loopback (the one "is this host this machine?" check), metrics
// (Prometheus collectors), webhook (signed JSON webhooks) and redistest (a
// real Redis server for tests).
package internal
