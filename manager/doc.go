// Package manager supervises one or more Node.js services on this host: it
// starts, stops, restarts and inspects them, reads their logs and their
// WhatsApp session state, and publishes what happens as events.
//
// It owns the rules that keep a production service safe: one action at a time
// per service, argv only (never a shell), and never a signal to a process that
// is not in the service's tree. It produces facts (typed values) and knows
// nothing of Slack or of any other chat front end; those live in package bot.
//
// The service's protocol (log lines, the restoration block, auth dirs and
// Chromium locks) is package whatsapp's; the host checks run before a start
// and by `doctor` are package doctor's. manager imports both.
//
// Where things are:
//   - manager.go: Manager, the services of this host.
//   - service.go: Service, ServiceConfig, Options, NewService.
//   - action.go: Actor, Action, ActionRecord, BusyError, the action slot.
//   - lifecycle.go: Start, Stop, Restart.
//   - status.go: State, Status, PortHolder, Service.Status.
//   - health.go: Health, the health check, ParseHealth.
//   - process.go, proctable.go, proc_*.go, platform_*.go: the service's
//     processes, the host's process table, signals.
//   - watch*.go: watching a run until it exits; events.go: Event, Exit.
//   - logs.go: reading the end of a log; Service.Logs and Output.
//   - browsers.go: the Chromium trees among the service's processes, by
//     session (Process.Session and Chromium, Status.Browsers).
//   - sessions.go: Service.LastRestoration, Sessions, CleanupBrowsers.
//   - doctor.go: Service.Doctor and HostChecks.
//   - persist.go: what is kept in the state dir.
//
// Every time a Service records (action times and durations, BusyError.Since,
// Status.CheckedAt and Uptime, event times, health latency) is read from
// Options.Clock. Waits on processes and requests are bounded in real time
// (a fake clock would never end them), and a process's CPU share is
// measured against the OS's own clock.
package manager
