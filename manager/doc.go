// Package manager supervises one or more Node.js services on this host: it
// starts, stops, restarts and inspects them, reads their logs and their
// WhatsApp session state, and publishes what happens as events.
//
// It owns the rules that keep a production service safe: one action at a time
// per service, argv only (never a shell), and never a signal to a process that
// is not in the service's tree. It knows nothing of Slack or of any other chat
// front end; those live in package bot.
package manager
