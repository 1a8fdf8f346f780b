// Package alerts will watch services and tell people when they fail: the
// health monitor on a gocron scheduler, the alert state machine, session
// restoration summaries and the outbox that never drops a message. The
// manager's event stream (manager.Service.Subscribe) is its input.
//
// It is empty until its issue is built; nothing here is wired yet.
package alerts
