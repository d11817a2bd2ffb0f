// Package sweep is the tenant sweep (issue 16): finding every employee
// whose old phone is probably still registered (a user holding two or more
// Microsoft Authenticator push registrations, or two or more Authenticator
// passkeys) and bringing them through the deletion part of the procedure.
//
// It holds the findings and their reports (Candidate; the CSV report that
// Excel in Japan opens, UTF-8 with a BOM and a Japanese or English header;
// the JSON lines report; the Summary), the job (Job, Spec, Counts) and the
// Worker that does a job's work on every replica: it lists users page by
// page through a Directory (Graph), reads their registrations a Batch of
// UsersPerBatch users at a time (one Graph $batch), records candidates,
// and sends their cards through a Notifier (the bot's dialogs). Every item
// is claimed from the Store (Redis: dialogs/redisstore) with a lease, so a
// worker that dies loses nothing and a card goes out at most once per job.
//
// The package does no I/O of its own: Graph, Redis and Teams are behind
// the Directory, Store and Notifier interfaces.
//
// Text that comes from the directory (names, departments, device names) is
// written to the CSV as data only: a cell that a spreadsheet would read as a
// formula gets a leading apostrophe (see WriteCSV).
package sweep
