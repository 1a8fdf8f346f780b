package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// MarkerEnv is the environment variable the bot adds to every service it
// starts. Its value is "<service key>/<run id>". Every process of the
// service inherits it (npm, sh, node, and Chromium, which keeps its parent's
// environment), so the service's processes can be found again after they
// have been reparented to init, or after the bot itself restarted. This is
// the technique of Jenkins' ProcessTreeKiller.
const MarkerEnv = "SANASEND_SERVICE"

// procEntry is one row of a process-table snapshot.
type procEntry struct {
	pid, ppid, pgid int32
	created         time.Time
	marker          string // value of MarkerEnv, "" when absent or unreadable
	p               *process.Process
}

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
// the scan are skipped.
func scanProcesses(ctx context.Context) (*procTable, error) {
	pids, err := process.PidsWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	t := &procTable{
		byPID:    make(map[int32]*procEntry, len(pids)),
		children: make(map[int32][]int32, len(pids)),
		self:     make(map[int32]bool),
	}
	for _, pid := range pids {
		if pid <= 1 {
			continue
		}
		p, err := process.NewProcessWithContext(ctx, pid)
		if err != nil {
			continue
		}
		ppid, err := p.PpidWithContext(ctx)
		if err != nil {
			continue
		}
		ms, _ := p.CreateTimeWithContext(ctx)
		e := &procEntry{pid: pid, ppid: ppid, pgid: getpgid(pid), created: time.UnixMilli(ms), p: p}
		e.marker = readMarker(ctx, p)
		t.byPID[pid] = e
		t.children[ppid] = append(t.children[ppid], pid)
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

func readMarker(ctx context.Context, p *process.Process) string {
	env, err := p.EnvironWithContext(ctx)
	if err != nil {
		return ""
	}
	prefix := MarkerEnv + "="
	for _, kv := range env {
		if strings.HasPrefix(kv, prefix) {
			return kv[len(prefix):]
		}
	}
	return ""
}

// alive reports whether pid is in the table with the given start time. A
// zero start time matches any.
func (t *procTable) alive(pid int32, created time.Time) bool {
	e, ok := t.byPID[pid]
	if !ok {
		return false
	}
	return created.IsZero() || e.created.Equal(created)
}

// serviceMembers returns the processes that belong to the service whose
// marker key is key: those carrying the marker (any run), their descendants
// by PPID, and every member of their process groups, plus the descendants of
// those. extra PIDs (the root found through the pid file) are seeds too.
// The bot's own ancestry and process group are never included.
func (t *procTable) serviceMembers(key string, extra ...int32) map[int32]string {
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
	for _, pid := range extra {
		add(pid, "root")
	}
	prefix := key + "/"
	for pid, e := range t.byPID {
		if strings.HasPrefix(e.marker, prefix) {
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
		if g := t.byPID[pid].pgid; g > 1 && g != t.selfPGID && !groups[g] {
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

// processInfo fills the details shown by ps and the status card.
func processInfo(ctx context.Context, e *procEntry, why string) Process {
	pr := Process{PID: e.pid, PPID: e.ppid, PGID: e.pgid, Started: e.created, Why: why}
	if cpu, err := e.p.CPUPercentWithContext(ctx); err == nil {
		pr.CPUPercent = cpu
	}
	if mem, err := e.p.MemoryInfoWithContext(ctx); err == nil {
		pr.RSS = mem.RSS
	}
	if cmd, err := e.p.CmdlineWithContext(ctx); err == nil {
		pr.Command = capString(cmd, 300)
	}
	return pr
}

// isZombie reports whether the process has exited and waits to be reaped: it
// holds no resources and cannot be signalled away, so it counts as gone.
func isZombie(ctx context.Context, p *process.Process) bool {
	st, err := p.StatusWithContext(ctx)
	if err != nil {
		return errors.Is(err, process.ErrorProcessNotRunning)
	}
	return slices.Contains(st, process.Zombie)
}

func capString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
