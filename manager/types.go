package manager

import (
	"fmt"
	"time"

	"github.com/sanasend/sanasend-bot/whatsapp"
)

// State is the health of a service as SPEC.md section 5 defines it.
type State string

const (
	// StateHealthy: GET /health answered 200 with status "healthy".
	StateHealthy State = "healthy"
	// StateUnhealthy: a process of the service or its port is alive, but the
	// health check fails (slow, non-200, malformed, not "healthy").
	StateUnhealthy State = "unhealthy"
	// StateStopped: no process of the service and the port refuses connections.
	StateStopped State = "stopped"
)

// Actor is whoever asked for an action: a Slack user, a console operator, or
// the bot itself (auto-restart).
type Actor struct {
	ID   string // Slack user ID, "console:<user>", or "bot"
	Name string // display name, e.g. "alice"
}

func (a Actor) String() string {
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}

// Action names what is being done to a service.
type Action string

const (
	ActionStart   Action = "start"
	ActionStop    Action = "stop"
	ActionRestart Action = "restart"
)

// ActionRecord remembers the last action done through the bot on a service.
type ActionRecord struct {
	Action   Action        `json:"action"`
	By       Actor         `json:"by"`
	At       time.Time     `json:"at"`
	Duration time.Duration `json:"duration"`
	OK       bool          `json:"ok"`
	Result   string        `json:"result"` // one line: "healthy in 2.1s", "forced after 10s"
}

// Health is the outcome of one GET <url>/health.
type Health struct {
	OK         bool          // 200 and status "healthy"
	StatusCode int           // 0 when no HTTP answer
	Status     string        // the "status" field of the answer
	Uptime     time.Duration // the service's own uptime, from the answer
	Latency    time.Duration
	// Reason explains a failure in words an on-call engineer reads at 3 a.m.:
	// "connection refused", "timeout after 5s", "HTTP 503", "bad JSON: ...".
	Reason string
	// Refused is true when nothing listens on the port.
	Refused bool
}

// State is the state this health check alone shows: healthy, stopped
// when nothing listens, unhealthy otherwise. Status refines it with the
// processes (a running process with a refused port is unhealthy).
func (h Health) State() State {
	switch {
	case h.OK:
		return StateHealthy
	case h.Refused:
		return StateStopped
	default:
		return StateUnhealthy
	}
}

// Process is one process of a service's tree.
type Process struct {
	PID        int32
	PPID       int32
	PGID       int32
	CPUPercent float64 // average over the process's life
	RSS        uint64  // bytes
	Started    time.Time
	Command    string // the command line, capped
	// Why says how it was found: "root", "marker", "child", "group".
	Why string
}

// Status is everything the status card shows.
type Status struct {
	Service   string
	URL       string
	State     State
	Health    Health
	Since     time.Time     // when the run's root (npm) started, even once it is gone; zero if stopped
	Uptime    time.Duration // since Since
	Processes []Process     // the service's tree, root first
	Adopted   bool          // running but not started by this bot process
	// RootPID is the PID the start command ran as (npm), while the
	// service runs. RootGone is true when that process is gone but the rest
	// of its process group (node) runs on and the service with it: Since
	// and Uptime are still the run's.
	RootPID  int32
	RootGone bool
	// PortHolder is set when no process of the service runs but its port
	// does not refuse connections (a start was refused because of it):
	// what listens there, and whether it is a process of the service.
	// Restoration is then nil when it is not ours.
	PortHolder *PortHolder
	// Busy is set while an action runs.
	Busy       *BusyError
	LastAction *ActionRecord
	// Restoration is the latest session restoration found in the log.
	Restoration *whatsapp.Restoration
	CheckedAt   time.Time
}

// PortHolder is what listens on a service's port.
type PortHolder struct {
	PID     int32  // 0 when the listener's process cannot be seen (another user's)
	Command string // its command line, capped; "" when unknown
	Ours    bool   // a process of the service (a leftover), found by its marker
}

// BusyError is returned when an action is requested while another one runs on
// the same service. Its message says who is doing what, since when.
type BusyError struct {
	Service string
	Action  Action
	By      Actor
	Since   time.Time
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%s is busy: %s by %s since %s", e.Service, e.Action, e.By, e.Since.Format("15:04:05"))
}
