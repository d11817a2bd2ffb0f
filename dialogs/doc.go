// Package dialogs is the conversation of the smartphone-swap bot: what the
// bot answers to each message, card action and installation event.
//
// It implements bot.Handler's method set without importing bot (main wires
// the two), and depends only on small interfaces it declares itself.
package dialogs
