// Package cards builds the Adaptive Cards and texts the bot sends, in
// Japanese (the default) or English, from a message catalog.
//
// It is pure: no I/O, no logging, no clock. Every function maps its
// arguments to card JSON (as Go values ready for encoding/json).
//
// Text that comes from outside the bot (what a user typed, names from
// Graph or of helpdesk members, lines built from them) is put into a card
// or a text message only through Plain (text.go), so that it shows as
// typed: no link, mention or formatting of its own. Every card is bounded
// (MaxPlain, MaxLines) and measured with Size against MaxSize, under
// Teams' message size limit.
package cards
