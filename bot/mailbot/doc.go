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
// Wiring, when cfg.Notify.Email.Enabled():
//
//	host, _ := os.Hostname()
//	m, err := mailbot.Open(mailbot.Config{Email: cfg.Notify.Email, StateDir: cfg.StateDir,
//		Host: host, Logger: log, Tail: lastErrorLines(mgr, log)})
//	go m.Outbox.Serve(ctx)  // sends; closes the journal when ctx ends
//	// the monitor's Notifier fans out to Slack's and to m.Notifier;
//	// status shows m.Outbox.Dead(); check runs m.Check(ctx).
//
// The SMTP password never appears in an error or a log line of this
// package: every error the Sender returns has it hidden, even when the
// server quotes it back.
package mailbot
