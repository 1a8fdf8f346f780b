package manager

// Controller: what starts and stops a service and knows its run (the bot
// itself, systemd, PM2), and the facts it reports (ControllerInfo,
// Observation).

import (
	"context"
	"errors"
	"os"
	"time"
)

// ControllerKind names what starts and stops a service.
type ControllerKind string

const (
	// ControllerProcess: the bot runs the start command itself, in a
	// cgroup of the service's own where the host allows it.
	ControllerProcess ControllerKind = "process"
	// ControllerSystemd: a systemd unit, through systemd's D-Bus API.
	ControllerSystemd ControllerKind = "systemd"
	// ControllerPM2: a PM2 app, through the pm2 command.
	ControllerPM2 ControllerKind = "pm2"
)

// TreeMethod says how the processes of a service's tree are found.
type TreeMethod string

const (
	// TreeCgroup: the members of a cgroup the service was started into;
	// every process of its tree is one by construction.
	TreeCgroup TreeMethod = "cgroup"
	// TreeUnitCgroup: the members of the systemd unit's cgroup.
	TreeUnitCgroup TreeMethod = "unit cgroup"
	// TreeMarker: the environment marker the bot adds at a start
	// (MarkerEnv), the descendants and process groups of the marked.
	TreeMarker TreeMethod = "marker"
	// TreePM2: PM2's main process and its descendants, and the processes
	// that carry the app's PM2 environment or whose Chromium profile is
	// under the service's dir.
	TreePM2 TreeMethod = "pm2"
)

// ControllerInfo says which controller a service has and how its tree is
// found, for `status` and `doctor`.
type ControllerInfo struct {
	Kind ControllerKind
	// Target is what the controller controls: the unit ("whatsapp.service")
	// or the PM2 app ("whatsapp"); "" for the process controller.
	Target string
	Tree   TreeMethod
	// Why says why that method is in use, as a fact safe to show
	// ("cgroup v2 at /sys/fs/cgroup/…", "no writable cgroup v2: …"); "" when
	// there is nothing to explain.
	Why string
}

// Launch is what a process controller runs: the resolved program, its argv
// (Argv[0] as configured), working directory, environment (with the run's
// marker) and where its output goes (nil: nowhere). Controllers that start
// the service through a manager (systemd, PM2) ignore it: their unit or app
// says what runs.
type Launch struct {
	Path   string
	Argv   []string
	Dir    string
	Env    []string
	Output *os.File
	// RunID names the run; a process controller names the run's cgroup
	// after it.
	RunID string
}

// Launched is a run a controller started.
type Launched struct {
	// PID is the run's main process (npm for the process controller, the
	// unit's MainPID, PM2's pid); 0 when the controller does not know it
	// yet.
	PID int32
	// Wait, when set, waits for the main process (this bot's child) and
	// returns how it ended; nil when the process is not the bot's child.
	Wait func() Exit
	// Cgroup is the cgroup the run was started into, "" when none.
	Cgroup string
}

// Halt is what a stop asks of a controller: end the run's main part by
// deadline. Group is the main process group (PGID, its live members with
// their start times; Whole says the group may be signalled as one: its
// leader is the service's), Others the rest of the tree, which the bot ends
// after. Controllers that stop through a manager ignore the processes.
type Halt struct {
	PGID     int32
	Whole    bool
	Group    map[int32]time.Time
	Others   map[int32]time.Time
	Deadline time.Time
}

// Halted says how the main part went.
type Halted struct {
	Graceful bool // it ended on the controller's polite request
	Forced   bool // SIGKILL (or the manager's own kill) was needed
	// KilledAt is when the force was used; the leftovers' grace begins
	// then.
	KilledAt time.Time
}

// Observation is what a controller knows of the service now.
type Observation struct {
	// Managed is true when the controller itself knows whether the
	// service runs (systemd, PM2); false for the process controller, whose
	// runs the bot finds by their marker.
	Managed bool
	// Running: the controller says the service runs (active, activating,
	// reloading; PM2 online or launching).
	Running bool
	// Restarting: the controller is bringing the service back by itself
	// (systemd activating, an auto-restart pending; PM2 launching): an
	// exit of its main process now is part of a restart outside the bot.
	Restarting bool
	// MainPID is the run's main process as a PID of this host; 0 when none.
	MainPID int32
	// Since is when the current run began, by the controller's account
	// (zero when unknown or not running).
	Since time.Time
	// Restarts is the controller's restart count (systemd NRestarts, PM2
	// restart_time): when it grows without the bot, something outside
	// restarted the service.
	Restarts int
	// State is the controller's own word for the state ("active/running",
	// "failed/failed", "online", "stopped", "errored"), shown as is.
	State string
	// LastExit is how the main process last ended, when the controller
	// recorded it (systemd's ExecMainStatus); nil when unknown.
	LastExit *Exit
	// Members are the PIDs the controller counts as the service's tree
	// (a cgroup's members), nil when it has no such view. The bot adds
	// them to what its marker finds.
	Members []int32
}

// Controller starts and stops one service's main part and says what it knows
// of the current run. The Service keeps everything around it, the same
// whatever the controller: one action at a time, preconditions, ending what
// is left of a tree, stale locks, health, sessions, events and the audit
// record. Every method is bounded by ctx and by the controller's own
// timeouts, and never signals a process outside the service's tree.
type Controller interface {
	// Info says which controller this is and how the tree is found (a
	// process controller looks at the host's cgroups once, on first
	// need).
	Info() ControllerInfo
	// Start starts the service and returns once the controller says it
	// began (not once it is healthy: the Service waits for that).
	Start(ctx context.Context, l Launch) (Launched, error)
	// Stop ends the run's main part by h.Deadline: SIGTERM, then SIGKILL,
	// for the process controller; StopUnit or `pm2 stop` for the others.
	Stop(ctx context.Context, h Halt) (Halted, error)
	// Observe reports what the controller knows of the service now.
	Observe(ctx context.Context) (Observation, error)
	// Finish is the last step of a stop, once the bot ended what was
	// left: a cgroup.kill of whatever is still a member (a process that
	// forked meanwhile). Controllers without a cgroup of their own do
	// nothing.
	Finish(ctx context.Context) error
	// Close releases what the controller holds (a D-Bus connection).
	Close() error
}

// ErrControllerUnavailable is in the chain of a controller's error when the
// thing it talks to (systemd's bus, the pm2 command, its daemon) cannot be
// reached at all: the service's state is then unknown, not stopped.
var ErrControllerUnavailable = errors.New("controller unavailable")
