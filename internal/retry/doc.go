// Package retry holds the two facts every outbound client of the bot
// (the Bot Connector, Microsoft Graph, the helpdesk webhook) needs when a
// server asks it to wait: how long a Retry-After header says, and a pause
// that ends with its context. It does no I/O and keeps no state.
package retry
