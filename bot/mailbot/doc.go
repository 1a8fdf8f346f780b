// Package mailbot is the email front end of the alert path: a second
// alerts.Notifier beside Slack's, for the kinds of notices notify.email
// names. It words nothing itself: every sentence comes from package bot
// (bot.AlertLine, bot.EventLine, the restoration and digest lines); this
// package writes only the email's framing (subject, headings, footer), as
// plain text and as HTML escaped by html/template.
//
// Emails go through their own durable outbox (package delivery), journaled
// in <state_dir>/email/outbox.jsonl, one queue ("email") delivered in
// order, with the notice's ID as the item's ID. The Sender sends each with
// github.com/wneessen/go-mail, one SMTP conversation per attempt: a 4xx
// reply or a network failure is retried with the outbox's backoff, a 5xx
// reply is a dead letter (delivery.Outbox.Dead). Check connects and
// authenticates without sending, for `sanasend-bot check`.
//
// The SMTP password never appears in an error or a log line of this
// package: every error the Sender returns has it hidden, even when the
// server quotes it back.
package mailbot
