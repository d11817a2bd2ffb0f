// Command loadtest measures the real bot binary under load, on loopback only.
//
//	go run ./loadtest -users 64 -duration 20s
//	go run ./loadtest -users 1,16,64,256 -duration 20s -seed-dialogs 100000
//
// It builds the bot (go build -o <tmp>/mfabot . from the module root) unless
// -bot-bin names a binary, and starts, all on 127.0.0.1:
//
//   - a dedicated redis-server on a free port, keeping nothing on disk (no
//     snapshots, no append-only file), unless -redis-url names an existing
//     Redis; a shared Redis is never flushed: the tool deletes only the keys
//     of its own run;
//   - an OpenID metadata document and JWKS (an RS256 key generated at start,
//     endorsed for "msteams"), standing in for login.botframework.com;
//   - a token endpoint answering the client-credentials grant like Entra ID;
//   - a Bot Connector stand-in that answers POST/PUT
//     …/v3/conversations/{id}/activities[/{id}] with 201 {"id":…}, checks
//     the bot's bearer token, and notes when each reply arrives;
//   - the Graph sandbox (graph/sandbox) on its own loopback server, which the
//     bot reaches through GRAPH_BASE_URL with GRAPH_CREDENTIAL=none.
//
// Then, for each user count of -users, it starts the bot in Azure mode with
// inbound JWT verification on (a fresh process per user count, so that each
// peak RSS and time to ready is its own), waits for /readyz, and lets that
// many simulated Teams users (each its own aadObjectId and 1:1 conversation)
// go through the whole procedure over and over: the message スマホ交換, then
// 次へ on every step as an adaptiveCard/action invoke carrying the data of
// the button on the card the previous turn answered with. Before step 7's
// 次へ the user's new phone is added in the sandbox, before step 9's the old
// one is deleted there. Every request carries an RS256 bearer token for the
// bot's app id with the connector's serviceurl claim; each user keeps its
// token for the run, as the Bot Connector reuses one for about an hour.
// Users are closed loops with no think time: each sends its next turn as
// soon as the previous one is answered.
//
// A turn's latency runs from the request being sent to the answer: the
// invoke's HTTP response (which carries the next card), or, for a message,
// the reply's arrival at the connector stand-in. Errors are non-2xx answers,
// transport errors, replies that never arrive, cards other than the expected
// step, and replies nobody asked for. The bot's peak RSS is its VmHWM (and
// the largest VmRSS seen by polling /proc every 50 ms); CPU use comes from
// /proc/<pid>/stat for the bot and Redis and from getrusage for the load
// generator itself, which shares the machine's cores with them.
//
// With -seed-dialogs N every user count runs twice: once against an empty
// store, then, after N users have each started a dialog through the real bot
// (one signed スマホ交換 turn each), again, so that the table shows whether
// stored dialogs change the bot's memory. Redis memory per stored dialog is
// INFO used_memory after seeding minus before, divided by N: everything the
// bot writes for a user who starts the procedure (the dialog hash, the
// conversation reference, the queued reminder and the one-hour duplicate
// check key of the activity), with MEMORY USAGE of single keys alongside.
//
// The run is bounded: by -duration (after -warmup) or -turns per user count,
// and by -timeout for everything. The bot gets SIGTERM at the end of each user
// count and SIGKILL if it has not stopped 25 s later; the bot and redis-server
// are also killed if the tool dies. The bot runs in Azure mode with
// BIND_HOST=127.0.0.1, so it listens on loopback only.
//
// Flags:
//
//	-users 64            user counts to run, comma-separated (1,16,64,256)
//	-duration 20s        measured time per user count (after -warmup)
//	-warmup 2s           unmeasured time before it (connections, token cache)
//	-turns 0             if > 0: run this many turns per user count instead of -duration
//	-bot-bin PATH        the bot binary to run (default: build it)
//	-release             build as scripts/build.sh does (CGO_ENABLED=0 -trimpath -ldflags "-s -w")
//	-redis-url URL       use this Redis (redis://127.0.0.1:6379/15) instead of starting one
//	-seed-dialogs N      store N dialogs through the bot between two passes
//	-seed-workers 32     concurrent requests while seeding
//	-bot-env K=V         extra environment for the bot (repeatable), e.g. GOGC=200
//	-pprof-addr ADDR     a loopback net/http/pprof listener of the bot, if it has one
//	-cpuprofile FILE     with -pprof-addr: CPU profile of each measured window (and FILE.heap)
//	-timeout 15m         hard limit for the whole run
//	-json                print the report as JSON instead of markdown
//
// The exit status is 1 when any turn failed (a run with errors is not a
// measurement) or the run could not be set up, 0 otherwise; missed targets
// are reported, not turned into a failure.
package main
