package bot

import (
	"errors"
	"time"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Kind says what a Reply holds and so how a front end renders it.
type Kind string

const (
	KindHelp      Kind = "help"
	KindUsage     Kind = "usage"    // the command could not be parsed: Text says why
	KindRefused   Kind = "refused"  // the user may not use the bot here
	KindRejected  Kind = "rejected" // a confirmation click that does nothing: Text says why, Confirm what for (when known)
	KindBusy      Kind = "busy"     // another action runs: Text says who, what, since when
	KindError     Kind = "error"
	KindConfirm   Kind = "confirm" // ask the requester to confirm Confirm
	KindCancelled Kind = "cancelled"
	KindDone      Kind = "done"    // a small command did what was asked: Text says what
	KindOutcome   Kind = "outcome" // an action ran: Outcome
	KindStatus    Kind = "status"
	KindLogs      Kind = "logs"
	KindProcesses Kind = "processes"
	KindSessions  Kind = "sessions"
	KindDoctor    Kind = "doctor"
	KindWindows   Kind = "windows"    // `maintenance list`: Windows
	KindUptime    Kind = "uptime"     // `uptime`: Uptime, and Chart when one was drawn
	KindIncidents Kind = "incidents"  // `incidents`: Incidents, Asked
	KindStatusAll Kind = "status-all" // `status` with no name and several services: Lines
	KindHosts     Kind = "hosts"      // `hosts` in a fleet: Hosts
)

// Reply is the structured answer to a Request. Exactly the fields of its
// Kind are set.
type Reply struct {
	Kind    Kind
	Service string
	Text    string
	Err     error
	At      time.Time

	Help      []HelpLine
	HelpTopic Verb // help: the command asked about, "" for all of them
	Confirm   *Pending
	Outcome   *Outcome
	Status    *manager.Status
	Logs      *manager.LogResult
	LogQuery  manager.LogQuery
	Processes []manager.Process
	Sessions  *whatsapp.SessionsReport
	Checks    []doctor.Check
	// Maintenance is the service's active maintenance window, on a status
	// reply, when the alerts know of one.
	Maintenance *MaintenanceWindow
	// Windows are the recurring maintenance windows, for `maintenance
	// list`; At is when they were listed.
	Windows []alerts.WindowInfo
	// Undelivered, on a status reply, counts the messages for the alerts
	// channel that the outbox gave up on (dead letters); nil when none.
	Undelivered *Undelivered
	// History, on a status reply, is what the history says of the service
	// (HistoryCard); nil where no history is kept by design.
	History *HistoryCard
	// Uptime is the report of `uptime`; Chart its PNG chart, nil when no
	// chart renderer is set or drawing failed (ChartFailed).
	Uptime      *history.Report
	Chart       []byte
	ChartFailed bool
	// Incidents are the last incidents, newest first, for `incidents`;
	// Asked is how many were asked for.
	Incidents []history.Incident
	Asked     int
	// Lines are the services of `status` with no name, grouped by host;
	// At is when they were asked (Undelivered may be set too).
	Lines []ServiceLine
	// Hosts are the fleet's hosts for `hosts`, by name; At is when.
	Hosts []HostInfo
}

// Undelivered is what the outbox could not deliver: how many messages, and
// Slack's reasons (distinct, sorted), such as "not_in_channel".
type Undelivered struct {
	Count int
	Codes []string
}

// MaintenanceWindow is a maintenance window in force: alerts are muted
// until Until.
type MaintenanceWindow struct {
	Until  time.Time
	By     manager.Actor
	Reason string
}

// HelpLine is one command of the help.
type HelpLine struct{ Usage, Text string }

// Outcome is what an action did.
type Outcome struct {
	Action  manager.Action
	Service string
	By      manager.Actor
	Took    time.Duration
	Start   *manager.StartResult
	Stop    *manager.StopResult
	// Cleanup is set for `sessions cleanup` (Action manager.ActionCleanup).
	Cleanup *manager.CleanupResult
	Err     error
}

// OK reports whether the action reached its goal.
func (o *Outcome) OK() bool {
	if o.Err != nil {
		return false
	}
	if o.Action == manager.ActionStop {
		return o.Stop != nil && len(o.Stop.Survivors) == 0
	}
	if o.Action == manager.ActionCleanup {
		return o.Cleanup != nil && len(o.Cleanup.Survivors) == 0
	}
	return o.Start != nil && o.Start.Healthy
}

// outcome is the audit word for a reply.
func (r Reply) outcome() string {
	switch r.Kind {
	case KindConfirm:
		return "confirmation_requested"
	case KindOutcome:
		if r.Outcome.OK() {
			return "ok"
		}
		var pre *manager.PreconditionError
		if errors.As(r.Outcome.Err, &pre) || errors.Is(r.Outcome.Err, manager.ErrAlreadyRunning) {
			return "refused"
		}
		return "failed"
	case KindError:
		return "error"
	case KindBusy:
		return "busy"
	case KindUsage:
		return "usage"
	case KindRefused:
		return "refused"
	default:
		return "ok"
	}
}
