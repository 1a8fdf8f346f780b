package manager

// The host's process table (procTable, scanProcesses) and which of its
// processes belong to a service: the marker (MarkerEnv), descendants, groups.

import (
	"context"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// MarkerEnv is the environment variable the bot adds to every service it
// starts. Its value is "<service key>/<run id>". Every process of the
// service inherits it (npm, sh, node, and Chromium, which keeps its parent's
// environment), so the service's processes can be found again after they
// have been reparented to init, or after the bot itself restarted. This is
// the technique of Jenkins' ProcessTreeKiller.
const MarkerEnv = "SANASEND_SERVICE"

// procRow is one row of a process-table snapshot.
type procRow struct {
	pid, ppid, pgid int32
	created         time.Time
	zombie          bool
	marker          string // value of MarkerEnv, "" when absent or unreadable
}

// procEntry is a live process of a snapshot.
type procEntry = procRow

// procTable is one scan of the host's process table: enough to find a
// service's processes without a recursive walk (a PPID map, not a walk of
// /proc/<pid>/task/*/children).
type procTable struct {
	byPID    map[int32]*procEntry
	children map[int32][]int32
	self     map[int32]bool // this bot and its ancestors: never part of a service
	selfPGID int32
}

// scanProcesses reads the process table once. Processes that vanish during
// the scan, and zombies (exited, waiting to be reaped: nothing to stop),
// are left out.
func scanProcesses(ctx context.Context) (*procTable, error) {
	rows, err := listProcs(ctx)
	if err != nil {
		return nil, err
	}
	t := &procTable{
		byPID:    make(map[int32]*procEntry, len(rows)),
		children: make(map[int32][]int32, len(rows)),
		self:     make(map[int32]bool),
	}
	for i := range rows {
		e := &rows[i]
		if e.zombie {
			continue
		}
		t.byPID[e.pid] = e
		t.children[e.ppid] = append(t.children[e.ppid], e.pid)
	}
	// The bot's own ancestry is excluded from every service, whatever its
	// environment says: a bot started from a shell that happens to carry the
	// marker must never signal itself or its parents.
	for pid := int32(os.Getpid()); pid > 1; {
		t.self[pid] = true
		e, ok := t.byPID[pid]
		if !ok {
			break
		}
		pid = e.ppid
	}
	t.selfPGID = getpgid(int32(os.Getpid()))
	return t, nil
}

// ours reports whether marker is a marker of the service whose marker key
// is key ("<key>/<run id>").
func (t *procTable) ours(key, marker string) bool {
	return strings.HasPrefix(marker, key+"/") && len(marker) > len(key)+1
}

// marked reports whether the live process pid carries a marker of the
// service whose marker key is key, and is not this bot or its ancestry.
func (t *procTable) marked(key string, pid int32) bool {
	e, ok := t.byPID[pid]
	return ok && !t.self[pid] && t.ours(key, e.marker)
}

// serviceMembers returns the processes that belong to the service whose
// marker key is key: those carrying the marker (any run), their descendants
// by PPID, and the members of the process groups whose leader carries the
// marker, plus the descendants of those. seeds are processes known to be
// the service's without their marker, by why (the child this bot process
// started and has not reaped, "root"; the members of the service's cgroup;
// a hand-started run's port owner): seeds too, with their descendants. A
// process is never a member by what a file says about it (a forged pid
// file names any process), and a group whose leader is not marked adds
// nothing: its marked processes are members one by one. The bot's own
// ancestry and process group are never included.
func (t *procTable) serviceMembers(key string, seeds map[int32]string) map[int32]string {
	why := make(map[int32]string)
	var queue []int32
	add := func(pid int32, reason string) {
		if _, seen := why[pid]; seen || t.self[pid] || pid <= 1 {
			return
		}
		if _, ok := t.byPID[pid]; !ok {
			return
		}
		why[pid] = reason
		queue = append(queue, pid)
	}
	for _, pid := range slices.Sorted(maps.Keys(seeds)) {
		add(pid, seeds[pid])
	}
	for pid, e := range t.byPID {
		if t.ours(key, e.marker) {
			add(pid, "marker")
		}
	}
	groups := make(map[int32]bool)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, child := range t.children[pid] {
			add(child, "child")
		}
		if g := t.byPID[pid].pgid; g > 1 && g != t.selfPGID && !groups[g] && t.marked(key, g) {
			groups[g] = true
			for p2, e := range t.byPID {
				if e.pgid == g {
					add(p2, "group")
				}
			}
		}
	}
	return why
}

// processInfo fills the details shown by ps and the status card, and
// returns the process's argv (read with its command line, nil when
// unreadable).
func processInfo(ctx context.Context, e *procEntry, why string) (Process, []string) {
	pr := Process{PID: e.pid, PPID: e.ppid, PGID: e.pgid, Started: e.created, Why: why}
	argv := processDetails(ctx, &pr)
	return pr, argv
}

// processAlive reports whether pid runs and is the process that started at
// created (a reused PID is another process), not counting zombies. A zero
// created matches any start time.
func processAlive(ctx context.Context, pid int32, created time.Time) bool {
	started, zombie, ok := procState(ctx, pid)
	if !ok || zombie {
		return false
	}
	return created.IsZero() || started.Equal(created)
}
