// Package e2e holds the end-to-end tests of the bot: they drive the real
// Microsoft 365 Agents Playground (npm @microsoft/m365agentsplayground, the
// Teams emulator, pinned in package.json) against the real bot binary, both
// on 127.0.0.1 only.
//
// Each test builds the bot once (go build from the repository root), starts it
// in local mode (no MicrosoftAppId, no REDIS_URL: embedded Redis, no inbound
// auth, no outbound token) on a free port, starts a Playground wired to it on
// another free port, and talks to the Playground over its own HTTP API, the
// one its web page uses, the way a person in Teams would: install the app,
// type a text, press a card button. What the bot sends to the chat is read
// from the Playground's WebSocket streams.
//
// # Running
//
// The Node packages must be installed first; the repository's test script
// does it (`npm ci --prefix e2e` from the repository root):
//
//	./scripts/test.sh             # everything, as CI runs it
//	npm ci --prefix e2e && go test ./e2e/ -v
//
// Without e2e/node_modules the tests fail (they never skip) with a message
// saying so. Node.js 20 or newer must be on PATH.
//
// Environment knobs, all optional:
//
//	MFABOT_E2E_BOT_BIN    run this bot binary instead of building the repository
//	MFABOT_E2E_NODE       the node executable (default: node on PATH)
//	MFABOT_E2E_TIMEOUT    default wait for a bot message, a Go duration (default 20s)
//
// # Files
//
//   - .m365agentsplayground.yml: the Playground's mock tenant (JSON, which is
//     valid YAML): tenant, bot, current user and exactly five other users, the
//     personal chat, one group chat, and one team with its General channel and
//     one more channel ("Helpdesk"). Its schema (0.1.1) is the one bundled in
//     the Playground; see README.md beside this file.
//   - loopback-guard.cjs: preloaded into the Playground so that it listens on
//     127.0.0.1 only and cannot reach anything but loopback (it otherwise
//     calls Azure telemetry endpoints even with --disable-telemetry).
//   - The harness, one subject a file: harness_test.go (Start, Options, Env),
//     layout_test.go (paths, the mock tenant's config), bot_test.go (building
//     and starting the bot, TestMain), playground_test.go (starting the
//     Playground, and the facts about it the harness relies on),
//     process_test.go (child processes and their output), streams_test.go
//     (the WebSocket streams: Message, LogEntry), chat_test.go (Chat: the
//     user's side of the Playground's HTTP API, WaitFor), cards_test.go
//     (CardActions), report_test.go (the end-of-test check and report, text
//     helpers).
//   - e2e_test.go: the tests.
package e2e
