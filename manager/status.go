package manager

// The status card's facts: State, Status, PortHolder, and Service.Status and
// Stopped, which build them from one look at the processes and one health check.

import (
	"context"
	"fmt"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
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
	// AdoptedByPort is true when the running service was started by hand
	// and found by the port it owns in the service's dir (no marker, no
	// controller of its own).
	AdoptedByPort bool
	// Controller says what starts and stops the service and how its tree
	// is found; Managed is what systemd or PM2 said of it (nil for the
	// process controller; its Members are left out).
	Controller ControllerInfo
	Managed    *Observation
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
	// RSS is the resident memory of the whole tree, summed.
	RSS uint64
	// Browsers are the Chromium trees among the processes, one per
	// session, by session ID (SessionID "" for a browser whose profile is
	// not a session's).
	Browsers  []whatsapp.Browser
	CheckedAt time.Time
}

// PortHolder is what listens on a service's port.
type PortHolder struct {
	PID     int32  // 0 when the listener's process cannot be seen (another user's)
	Command string // its command line, capped; "" when unknown
	Ours    bool   // a process of the service (a leftover), found by its marker
}

// Status reports the service's state, health and processes.
func (s *Service) Status(ctx context.Context) (Status, error) {
	healthc := make(chan Health, 1)
	go func() { healthc <- s.Health(ctx) }()
	snap, err := s.look(ctx)
	h := <-healthc
	if err != nil {
		return Status{}, fmt.Errorf("status %s: %w", s.cfg.Name, err)
	}
	in := s.inspect(ctx, snap)
	st := Status{
		Service:    s.cfg.Name,
		URL:        s.cfg.URL,
		Health:     h,
		Busy:       s.Busy(),
		LastAction: s.LastAction(),
		CheckedAt:  s.now(),
		Processes:  in.procs,
		RSS:        in.rss(),
		Browsers:   in.browsers,
	}
	st.Controller = s.ctl.Info()
	if snap.obs.Managed {
		obs := snap.obs
		obs.Members = nil
		st.Managed = &obs
	}
	if r, ok, err := s.LastRestoration(); err == nil && ok {
		st.Restoration = &r
	}
	if snap.root != nil {
		st.Since = snap.run.created
		st.Uptime = s.now().Sub(snap.run.created).Round(time.Second)
		st.RootPID, st.RootGone = snap.run.pid, snap.rootGone
		s.mu.Lock()
		st.Adopted = s.startedMarker != snap.run.marker
		s.mu.Unlock()
		st.AdoptedByPort = snap.adopted
	} else if !h.Refused {
		// Nothing of ours runs, yet something answers on the port (or
		// does not refuse): say what.
		st.PortHolder = s.portHolder(ctx, snap)
		if !st.PortHolder.Ours {
			st.Restoration = nil // not ours: its sessions are not the service's
		}
	}
	switch {
	case h.OK:
		st.State = StateHealthy
	case snap.root != nil || !h.Refused:
		st.State = StateUnhealthy
	default:
		st.State = StateStopped
	}
	return st, nil
}

// Stopped reports whether no process of the service runs, not even one left
// by an earlier run: a stop would do nothing (Stop refuses with
// ErrAlreadyStopped). It reads the process table only.
func (s *Service) Stopped(ctx context.Context) (bool, error) {
	snap, err := s.look(ctx)
	if err != nil {
		return false, fmt.Errorf("stopped %s: %w", s.cfg.Name, err)
	}
	return len(snap.members) == 0, nil
}

// portHolderTimeout bounds the search for what holds a service's port.
const portHolderTimeout = 2 * time.Second

// portHolder says what listens on the service's port while none of its
// processes runs.
func (s *Service) portHolder(ctx context.Context, snap snapshot) *PortHolder {
	ctx, cancel := context.WithTimeout(ctx, portHolderTimeout)
	defer cancel()
	pid, cmd, ok, err := doctor.PortOwner(ctx, s.hostPort)
	if err != nil {
		s.log.Debug().Err(err).Msg("port holder")
	}
	h := &PortHolder{}
	if ok {
		h.PID, h.Command = pid, cmd
		_, h.Ours = snap.members[pid]
	}
	return h
}
