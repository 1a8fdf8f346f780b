package alerts

import (
	"time"

	"github.com/sanasend/sanasend-bot/manager"
)

// EventKind says what happened: the fact a Decision or a Notice reports.
// The words for each are written once, in package bot (bot/alerttext.go);
// this package only says what happened, with its figures.
type EventKind string

const (
	// EventFailing: health checks fail (State, Reason, Since, Failures);
	// it opens an alert at the failure threshold. Memory is set when the
	// check failed because a memory limit was crossed (the service itself
	// answered healthy: State is unhealthy, Reason "").
	EventFailing EventKind = "failing"
	// EventExited: the service exited unexpectedly (Exit).
	EventExited EventKind = "exited"
	// EventStateChanged: an open incident's state changed (State, Reason).
	EventStateChanged EventKind = "state_changed"
	// EventFailingAgain: checks fail again after Healthy healthy ones.
	EventFailingAgain EventKind = "failing_again"
	// EventHealed: health resolved the incident (Lasted); By, when set, is
	// whose start or restart through the bot did it.
	EventHealed EventKind = "healed"
	// EventActionDone: a start or restart through the bot resolved the
	// incident, or a stop closed it on purpose (Action, By, Lasted).
	EventActionDone EventKind = "action_done"
	// EventActionBegun: an action through the bot began (Action, By). With
	// no open incident it raises no alert.
	EventActionBegun EventKind = "action_begun"
	// EventActionFailed: an action through the bot failed (Action, By,
	// Detail; NextAutoRestartIn when one is planned).
	EventActionFailed EventKind = "action_failed"
	// EventAcked: By acknowledged the incident.
	EventAcked EventKind = "acked"
	// EventReminder: the incident is still open and not acknowledged
	// (State, Reason, Since, Lasted).
	EventReminder EventKind = "reminder"
	// EventAutoRestart: auto-restart asks for attempt Attempt of at most
	// Max an hour, after waiting Waited.
	EventAutoRestart EventKind = "auto_restart"
	// EventGaveUp: auto-restart gave up after Attempt restarts in the last
	// hour (at most Max); the service is still State.
	EventGaveUp EventKind = "gave_up"
	// EventExternalRestart: the service restarted without the bot: its
	// uptime is Uptime where Expected was due, or its controller
	// (Controller) restarted it (Exit: how its main process ended, when
	// known). Count is how many restarts this notice reports (those held
	// back by the rate limit included).
	EventExternalRestart EventKind = "external_restart"
	// EventBackAfterStop: the service runs again although it was stopped
	// through the bot: alerts are on again.
	EventBackAfterStop EventKind = "back_after_stop"
	// EventMaintenanceOn: a maintenance window began (Window; for an
	// occurrence of a recurring window Window.Recurring is set, and
	// Window.Restart says the service is being restarted).
	EventMaintenanceOn EventKind = "maintenance_on"
	// EventMaintenanceExtended: the window changed (Window).
	EventMaintenanceExtended EventKind = "maintenance_extended"
	// EventMaintenanceEnded: the window ended, by By or (By nil) because it
	// expired; Summary is what happened during it. StillOpen: the alert is
	// still open; otherwise a State other than "" and healthy means the
	// service is still failing and alerts after Threshold checks.
	EventMaintenanceEnded EventKind = "maintenance_ended"
	// EventNoMaintenance: asked to end a window when none is on.
	EventNoMaintenance EventKind = "no_maintenance"
	// EventRestoration: the restoration summary of a start (Notice.Restoration).
	EventRestoration EventKind = "restoration"
	// EventDigest: the daily digest (Notice.Digest).
	EventDigest EventKind = "digest"
)

// Event is one fact with its figures. Which fields are set depends on What
// (see the EventKind constants); the rest are zero.
type Event struct {
	What    EventKind
	Service string

	State    manager.State
	Reason   string
	Since    time.Time
	Failures int
	// Healthy is the number of healthy checks before failing again.
	Healthy int
	Exit    *Exit

	Action manager.Action
	By     *manager.Actor
	// At is when the fact took place (an acknowledgement, for instance).
	At     time.Time
	Detail string
	Lasted time.Duration

	// Auto-restart: the attempt, the most in an hour, the wait before it,
	// and the wait before the next one (0: none planned).
	Attempt           int
	Max               int
	Waited            time.Duration
	NextAutoRestartIn time.Duration

	// External restarts: found by the service's uptime going back
	// (Uptime, Expected), or told by the service's controller (systemd,
	// PM2: Controller, and Exit when it recorded how the main process
	// ended).
	Uptime, Expected time.Duration
	Count            int
	Controller       manager.ControllerKind

	// Memory is the memory limit crossed, when a memory limit is the
	// failure (EventFailing, EventStateChanged, EventFailingAgain,
	// EventReminder); nil otherwise.
	Memory *MemoryBreach

	// Maintenance.
	Window    *Window
	Summary   *MaintenanceSummary
	StillOpen bool
	Threshold int
}

// Exit is how the service's root process (npm) ended, as the manager saw
// it: an exit code, the signal that killed it, or npm's 128+N report of
// its child killed by signal N; Known is false when the bot could not see
// it (an adopted service).
type Exit = manager.Exit

// Window is a maintenance window: until when, who asked, and why. An
// occurrence of a recurring window (RecurringWindow) also has its ID, its
// schedule and whether it restarts the service at its start.
type Window struct {
	Until  time.Time
	By     manager.Actor
	Reason string
	// Recurring is the ID of the recurring window this is an occurrence
	// of; "" for a window asked for once (maintenance 30m).
	Recurring string `json:",omitempty"`
	// Every is the recurring window's schedule ("sun 03:00").
	Every string `json:",omitempty"`
	// Restart: the occurrence restarts the service at its start.
	Restart bool `json:",omitempty"`
}

// MaintenanceSummary is what happened during a maintenance window.
type MaintenanceSummary struct {
	Failures int           // failed health checks
	Exits    int           // unexpected exits
	Down     time.Duration // time not healthy, in all
	// Actions are the actions through the bot, by action and person, in
	// the order first seen (Failed is not counted here).
	Actions []ActionCount
	// External counts the restarts outside the bot.
	External int
	// End is the service's state at the window's end, as the last check or
	// exit saw it; "" when nothing was seen.
	End manager.State `json:",omitempty"`
}
