// Package bot is the command layer shared by every chat front end: it parses
// what an operator typed, checks who may do it, asks for confirmation where
// an action is destructive, runs the command on a service and returns a
// structured Reply. It writes the audit record of every command, click and
// refusal, and keeps the confirmation tokens (ConfirmStore, durable in the
// state dir).
//
// It also holds the wording every front end shares, one sentence per fact
// (text.go for replies, alerttext.go for the alerts' facts, sessiontext.go
// for the sessions view and the causes of failed sessions, pstext.go for
// `ps`), so Slack and the console say the same things in the same words.
// Package bottest holds the facts behind the golden files of both.
//
// Front ends (bot/slackbot, bot/console) only translate their input into a
// Request and render the Reply; they hold no rules of their own. The package
// knows services only through the small interfaces below, so a service on
// another host can be plugged in behind them.
package bot
