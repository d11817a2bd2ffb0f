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
// Configuration and Node.js tools:
//
//   - .m365agentsplayground.yml: the Playground's mock tenant (JSON, which is
//     valid YAML): tenant, bot, current user and exactly five other users, the
//     personal chat, one group chat, and one team with its General channel and
//     one more channel ("Helpdesk"). Its schema (0.1.1) is the one bundled in
//     the Playground; see README.md beside this file.
//   - loopback-guard.cjs: preloaded into the Playground so that it listens on
//     127.0.0.1 only and cannot reach anything but loopback (it otherwise
//     calls Azure telemetry endpoints even with --disable-telemetry).
//   - package.json, package-lock.json: the Node packages (npm ci --prefix e2e).
//   - validate-cards.js: checks Adaptive Card JSON with Microsoft's Adaptive
//     Cards library (also used by the cards package's tests).
//   - render-cards.js: renders cards to PNG in headless Chromium (the
//     screenshots in docs/, scripts/screenshots.sh).
//   - validate-manifest.js: checks Teams app manifests offline against the
//     bundled schemas (used by the manifest package's tests).
//   - sandbox-browser.js: opens the Graph sandbox's security-info page in
//     headless Chromium for sandbox-steps.js (one step on the page: add or
//     delete an Authenticator or a passkey, for sandbox_browser_test.go and
//     wholephone_test.go) and sandbox-page.js (the whole of the user's part,
//     for graph/sandbox's browser test).
//
// The harness, one subject a file:
//
//   - harness_test.go: Start, Options, Env.
//   - layout_test.go: paths, the mock tenant's config, the Node.js and
//     Chromium checks (no build constraint: screenshots_test.go uses it).
//   - bot_test.go: building and starting the bot, TestMain, its error logs.
//   - playground_test.go: starting the Playground, and the facts about it the
//     harness relies on.
//   - process_test.go: child processes and their output.
//   - streams_test.go: the WebSocket streams (Message, LogEntry).
//   - chat_test.go: Chat, the user's side of the Playground's HTTP API, and
//     WaitFor.
//   - cards_test.go: reading cards (CardActions, cardIdentity, cardText) and
//     what Teams requires of them.
//   - report_test.go: the end-of-test check and report, text helpers.
//
// Shared by several tests:
//
//   - locale_test.go: the ja-JP locale shim for the Playground.
//   - swapflow_test.go: swapFlow, the procedure in the personal chat, its
//     buttons pressed as Action.Execute or (CARD_ACTIONS=submit)
//     Action.Submit.
//   - sandbox_api_test.go: the sandbox's security-info page API.
//
// The tests, one scenario a file:
//
//   - config_test.go: the mock tenant's config is valid.
//   - first_turns_test.go: install brings a welcome; スマホ交換 brings a card
//     whose first button works.
//   - procedure_test.go: the whole procedure, button by button, with
//     Action.Execute and with Action.Submit (each press updating the card
//     in place).
//   - reminders_test.go: a reminder arrives and resumes the procedure.
//   - sandbox_browser_test.go: the procedure with the page in Chromium.
//   - wholephone_test.go: the procedure for an old phone with Authenticator
//     push and a passkey (SANDBOX_PASSKEY=true), the page in Chromium.
//   - helpdesk_test.go: a helpdesk ticket from the chat to the channel.
//   - screenshots_test.go: card screenshots with render-cards.js.
package e2e
