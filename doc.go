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
// The package main is only wiring: run reads the configuration once
// (internal/config), builds the Redis store, the Graph directory (or the local
// sandbox), the conversation (dialogs) and the protocol layer (bot), and
// adapts one to the other (handler.go, directory.go, proactive.go).
package main
