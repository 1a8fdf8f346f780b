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
}

// snapshot is one look at the service's processes.
type snapshot struct {
	tab *procTable
	// root is the service's top process while it runs: the process the
	// start command ran as (npm), or, when that one is gone (rootGone), the
	// oldest live process of its group (sh or node). nil when not running.
	root     *procEntry
	rootGone bool
	run      runRef           // the run root belongs to; zero when not running
	members  map[int32]string // every process of the tree, with how it was found
}

// look scans the process table and finds the service's processes: the root
// from the pid file (same PID and same start time, so a reused PID is never
// mistaken for it) or, without a usable pid file, a marked process running
// the start command; then every process carrying the marker, their
// descendants and their process groups.
func (s *Service) look(ctx context.Context) (snapshot, error) {
	tab, err := scanProcesses(ctx)
	if err != nil {
		return snapshot{}, err
	}
	snap := snapshot{tab: tab}
	s.mu.Lock()
	run := s.persisted.Run
	s.mu.Unlock()
	if run != nil {
		ref := runRef{pid: run.PID, created: run.Created, pgid: run.pgid(), marker: run.Marker}
		if e, ok := tab.byPID[run.PID]; ok && e.created.Equal(run.Created) && (e.marker == run.Marker || e.marker == "") {
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
	var seeds []int32
	if snap.root != nil {
		seeds = append(seeds, snap.root.pid)
		s.ensureWatch(snap.run)
	}
	snap.members = tab.serviceMembers(s.key, seeds...)
	return snap, nil
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

func (s *Service) describe(ctx context.Context, snap snapshot) []Process {
	var out []Process
	seen := make(map[int32]bool, len(snap.members))
	var walk func(pid int32)
	walk = func(pid int32) {
		if seen[pid] {
			return
		}
		why, ok := snap.members[pid]
		if !ok {
			return
		}
		seen[pid] = true
		out = append(out, processInfo(ctx, snap.tab.byPID[pid], why))
		for _, c := range sortedPIDs(snap.tab.children[pid]) {
			walk(c)
		}
	}
	if snap.root != nil {
		walk(snap.root.pid)
	}
	// The rest: tops of their own trees (parent not a member), by PID.
	var rest []int32
	for pid := range snap.members {
		if !seen[pid] {
			if _, parentIsMember := snap.members[snap.tab.byPID[pid].ppid]; !parentIsMember {
				rest = append(rest, pid)
			}
		}
	}
	for _, pid := range sortedPIDs(rest) {
		walk(pid)
	}
	for _, pid := range slices.Sorted(maps.Keys(snap.members)) {
		walk(pid) // cycles cannot happen, but never drop a member
	}
	return out
}

func sortedPIDs(pids []int32) []int32 {
	out := slices.Clone(pids)
	slices.Sort(out)
	return out
}
