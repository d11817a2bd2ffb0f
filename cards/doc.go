// Package cards builds the Adaptive Cards and texts the bot sends, in
// Japanese (the default) or English, from a message catalog.
//
// It is pure: no I/O, no logging, no clock. Every function maps its
// arguments to card JSON (as Go values ready for encoding/json).
package cards
