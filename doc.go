// Command mfabot is the smartphone-swap Teams bot (スマホ交換ボット): it serves
// the Bot Framework endpoint for Microsoft Teams and walks employees through
// replacing the phone they use for MFA, checking each result through
// Microsoft Graph, reminding them until the old phone is gone, and handing
// them to the helpdesk when they are stuck.
//
// Usage:
//
//	mfabot                       serve (configuration from the environment; see README.md)
//	mfabot manifest -out app.zip build the Teams app package
//
// The package main is only the entry point: run reads the configuration
// once (internal/config), has internal/app assemble the bot (app.New, the
// one constructor, which the tests use too) and serves it until a signal
// (App.Serve). cmd_manifest.go is the manifest subcommand. The tests here
// are the bot's scenarios, end to end through its HTTP handler; their
// shared stand-ins and helpers are in harness_test.go.
package main
