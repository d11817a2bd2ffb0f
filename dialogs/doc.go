// Package dialogs is the conversation of the smartswap bot: what the bot
// answers to each message, card action and installation event, and what it
// does on its own (reminders, the helpdesk's tickets).
//
// Where things are:
//
//   - procedure.go: the company's procedure as one ordered table of steps,
//     each with the Graph check the bot makes before or after it (snapshot,
//     new-device check, deletion check), when it is passed over, where 戻る
//     goes and what a reminder at it says. Nothing else names a step; the
//     texts of each step's card are in the step content file (package
//     cards), which LoadContent checks against the table.
//   - statepath.go: the one path by which a user's dialog changes: load,
//     decide, compare-and-set, again on a lost race, then the effects of
//     the saved change (the funnel, the reminder queue).
//   - router.go: every message and card press goes through one table of
//     verbs to the part that owns it; one function turns an error into the
//     person's message.
//   - Conversation (conversation.go, decide.go, views.go, poll.go): the
//     procedure with one user. poll.go waits for the new registration
//     after the acknowledgement: one poller per dialog, held by a lease in
//     the store, stopped when the dialog stops waiting. Helpdesk (helpdesk.go, tickets.go): tickets
//     and the agents' buttons. Stats (stats.go): the funnel and the daily
//     counters. Reminders (reminders.go): the worker that reminds users
//     until their old phone is gone. The tenant sweep: sweep.go (a swept
//     user's card and their answers), sweepdesk.go (棚卸し in the helpdesk
//     channel: start, pause, resume, cancel, the CSV report) and
//     sweepprogress.go (SweepProgress: one card per sweep in the channel,
//     kept up to date by whichever replica holds its lease).
//
// It implements bot.Handler's method set (Router) without importing bot
// (the app wires the two), and depends only on small interfaces it
// declares itself: a Store of dialogs, a Directory (Microsoft Graph), a
// sender, the queues and counters in Redis. It does no I/O of its own.
package dialogs
