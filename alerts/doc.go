// Package alerts watches services and decides what people must be told:
// the health monitor on a gocron scheduler, the alert state machine (a pure
// Tracker per service), session restoration summaries and the daily
// digest. The manager's event stream (manager.Service.Subscribe) is its
// input.
//
// It produces facts, never words: a Notice carries an Event (what
// happened, with its figures), the Incident as it is now, a
// RestorationSummary or a Digest. Package bot words them once
// (bot/alerttext.go); bot/slackbot and bot/console render and deliver them
// through a Notifier. It imports no Slack package; the outbox that carries
// alerts to Slack is package delivery.
package alerts
