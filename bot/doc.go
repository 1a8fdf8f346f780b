// Package bot is the command layer shared by every chat front end: it parses
// what an operator typed, checks who may do it, asks for confirmation where
// an action is destructive, runs the command on a service and returns a
// structured Reply. It writes the audit record of every command, click and
// refusal.
//
// Front ends (bot/console today, Slack next) only translate their input into
// a Request and render the Reply; they hold no rules of their own. The
// package knows services only through the small interfaces below, so a
// service on another host can be plugged in behind them.
package bot
