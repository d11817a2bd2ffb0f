// Package sweep holds the findings of the tenant sweep (issue 16) and the
// reports made of them: who is a candidate (a user still holding two or more
// Microsoft Authenticator push registrations, or two or more Authenticator
// passkeys, most often an old phone left registered), the CSV report that
// Excel in Japan opens (UTF-8 with a BOM, a Japanese or English header) and
// the JSON lines report for scripts, and the sweep's summary counts.
//
// It is pure: no I/O of its own beyond the io.Writer it is given, no Graph,
// no Redis, no clock, no logging. The sweep job itself (paging users from
// Graph, reading registrations through $batch, the job and its work items in
// Redis, notifying candidates) comes next and builds its Findings from
// graph.AuthenticatorMethod (KindPush) and from the graph.Fido2Method entries
// for which graph.IsAuthenticatorPasskey holds (KindPasskey); it passes them
// to Candidate and to the writers here.
//
// Text that comes from the directory (names, departments, device names) is
// written to the CSV as data only: a cell that a spreadsheet would read as a
// formula gets a leading apostrophe (see WriteCSV).
package sweep
