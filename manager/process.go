package manager

// The service's processes: Process, one look at the process table that finds
// the service's tree (snapshot, look), and Service.Processes.

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

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
	// Session is the WhatsApp session whose Chromium tree holds the
	// process (its browser's --user-data-dir is that session's profile
	// under the auth dir), "" for the service's own processes.
	Session string
	// Chromium is the process's role in a Chromium tree: "browser" for the
	// main process, else its --type ("renderer", "zygote", "gpu-process",
	// "utility", "crashpad-handler"); "" for a process that is not
	// Chromium's.
	Chromium string
}

// snapshot is one look at the service's processes.
type snapshot struct {
	tab *procTable
	// root is the service's top process while it runs: the process the
	// start command ran as (npm), or, when that one is gone (rootGone), the
	// oldest live process of its group (sh or node); the controller's main
	// process (systemd, PM2); a hand-started run's root (adopted). nil when
	// not running.
	root     *procEntry
	rootGone bool
	adopted  bool             // root was found by the port it owns (started by hand)
	run      runRef           // the run root belongs to; zero when not running
	members  map[int32]string // every process of the tree, with how it was found
	// own is the child this bot process started and has not reaped (its
	// PID cannot have been reused), 0 when none runs.
	own int32
	// obs is what the controller said of the service in this look.
	obs Observation
}

// look scans the process table, asks the controller what it knows, and
// finds the service's processes. The pid file is a hint only: its process
// is the root when it is alive (same PID, same start time) and carries the
// run's marker, whatever the file says about it; without such a process,
// the root is the run's marked group (npm gone, node running on), a marked
// process running the start command, the controller's main process
// (systemd, PM2), or a hand-started run that owns the service's port in its
// dir (adoptByPort). The members are the processes carrying the service's
// marker, the controller's members (a cgroup's), the descendants of those
// and the processes of the groups whose leader carries the marker: nothing
// else, so that a forged pid file cannot make the bot signal a process that
// is not the service's.
func (s *Service) look(ctx context.Context) (snapshot, error) {
	tab, err := scanProcesses(ctx)
	if err != nil {
		return snapshot{}, err
	}
	info := s.ctl.Info()
	obs, err := s.ctl.Observe(ctx)
	if err != nil {
		if s.proc == nil {
			// systemd or PM2 unreachable: the state is unknown, not
			// stopped.
			return snapshot{}, fmt.Errorf("ask %s: %w", info.Kind, err)
		}
		s.log.Warn().Err(err).Msg("read the service's cgroup: finding its processes by their marker")
	}
	snap := snapshot{tab: tab, obs: obs}
	s.mu.Lock()
	run := s.persisted.Run
	// This bot process's own child, not yet reaped: its PID cannot have
	// been reused, so it is the service's whether or not its marker can
	// be read.
	var own int32
	if s.child != nil {
		own = s.child.pid
	}
	s.mu.Unlock()
	if run != nil && tab.ours(s.key, run.Marker) {
		ref := runRef{pid: run.PID, created: run.Created, pgid: run.pgid(), marker: run.Marker}
		if e, ok := tab.byPID[run.PID]; ok && e.created.Equal(run.Created) && (e.marker == run.Marker || e.pid == own) && !tab.self[e.pid] {
			// The group is the one the root is in, not the one the
			// file names.
			ref.pgid = e.pgid
			snap.root, snap.run = e, ref
		} else if _, group := ref.find(tab); len(group) > 0 {
			// npm is gone, node runs on: the service is its marked
			// group, not npm's PID.
			snap.root, snap.run, snap.rootGone = oldest(group), ref, true
		}
	}
	if snap.root == nil {
		if e := s.findUnrecordedRoot(ctx, tab); e != nil {
			snap.root, snap.run = e, runRef{pid: e.pid, created: e.created, pgid: e.pgid, marker: e.marker}
		}
	}
	seeds := make(map[int32]string)
	if obs.Managed && snap.root == nil && obs.Running && obs.MainPID > 0 {
		if e, ok := tab.byPID[obs.MainPID]; ok && !tab.self[e.pid] {
			snap.root, snap.run = e, managedRun(info.Kind, e)
		}
	}
	for _, pid := range obs.Members {
		seeds[pid] = string(info.Tree)
	}
	if snap.root == nil && s.proc != nil && len(obs.Members) == 0 {
		if e, more := s.adoptByPort(ctx, tab); e != nil {
			s.mu.Lock()
			snap.root, snap.run, snap.adopted = e, *s.adopted, true
			s.mu.Unlock()
			maps.Copy(seeds, more)
		}
	}
	if snap.root != nil {
		s.ensureWatch(snap.run)
	}
	if _, ok := tab.byPID[own]; ok && own > 0 {
		seeds[own] = "root"
		snap.own = own
	}
	snap.members = tab.serviceMembers(s.key, seeds)
	if snap.root != nil {
		if _, ok := snap.members[snap.root.pid]; ok {
			snap.members[snap.root.pid] = "root"
		}
	}
	return snap, nil
}

// managedRun is the run of a controller's main process e: it has no marker
// of the bot's, so its identity is the controller, the PID and its start
// time.
func managedRun(kind ControllerKind, e *procEntry) runRef {
	return runRef{pid: e.pid, created: e.created, pgid: e.pgid,
		marker: fmt.Sprintf("%s:%d:%d", kind, e.pid, e.created.UnixNano())}
}

// findUnrecordedRoot finds a run of the service whose pid file is gone (a
// state dir wiped, a bot moved): the oldest marked process that runs the
// configured start command and whose parent is not itself marked.
func (s *Service) findUnrecordedRoot(ctx context.Context, tab *procTable) *procEntry {
	var best *procEntry
	prefix := s.key + "/"
	for _, e := range tab.byPID {
		if !strings.HasPrefix(e.marker, prefix) || tab.self[e.pid] {
			continue
		}
		if parent, ok := tab.byPID[e.ppid]; ok && strings.HasPrefix(parent.marker, prefix) {
			continue
		}
		cmd, err := cmdlineOf(ctx, e.pid)
		if err != nil || !commandMatches(cmd, s.cfg.Start) {
			continue
		}
		if best == nil || e.created.Before(best.created) {
			best = e
		}
	}
	return best
}

// commandMatches reports whether a process's argv is the start command:
// same program name and the same arguments. npm rewrites its title to
// "npm start", which this accepts too.
func commandMatches(got, start []string) bool {
	if len(got) == 1 && len(start) > 1 {
		got = strings.Fields(got[0])
	}
	if len(got) < len(start) || len(start) == 0 {
		return false
	}
	if filepath.Base(got[0]) != filepath.Base(start[0]) {
		return false
	}
	for i := 1; i < len(start); i++ {
		if got[i] != start[i] {
			return false
		}
	}
	return true
}

// Processes returns the service's process tree, root first, then in tree
// order; processes outside the root's tree (reparented Chromium helpers)
// follow.
func (s *Service) Processes(ctx context.Context) ([]Process, error) {
	snap, err := s.look(ctx)
	if err != nil {
		return nil, fmt.Errorf("processes %s: %w", s.cfg.Name, err)
	}
	return s.describe(ctx, snap), nil
}

// describe describes the members of snap, in tree order, with their
// sessions (see inspect).
func (s *Service) describe(ctx context.Context, snap snapshot) []Process {
	return s.inspect(ctx, snap).procs
}

func sortedPIDs(pids []int32) []int32 {
	out := slices.Clone(pids)
	slices.Sort(out)
	return out
}
