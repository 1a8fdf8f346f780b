package manager

// Adopting a service started by hand: no marker, no controller of its own.
// It is found by the owner of the service's port whose working directory is
// the service's dir; its tree is that process, its descendants, its process
// group when the group's leader is an ancestor started in the same dir (npm
// run from a shell), and the Chromium processes whose profile is under the
// auth dir, with their descendants. Nothing else: a copy of the service in
// another dir is not the service.

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// adoptProbe bounds the connection that tells whether anything listens on
// the port before the (costlier) search for its owner.
const adoptProbe = 200 * time.Millisecond

// adoptedMarkerPrefix begins the run identity of an adopted run, which has
// no marker of its own.
const adoptedMarkerPrefix = "adopted:"

// adoptByPort finds a hand-started run of the service in tab: its root and
// the seeds of its tree, by why they belong. It returns nil when nothing
// listens on the port or what listens is not the service's (another dir).
// The last adoption is remembered so that its root is not searched again
// while it lives.
func (s *Service) adoptByPort(ctx context.Context, tab *procTable) (*procEntry, map[int32]string) {
	s.mu.Lock()
	prev := s.adopted
	s.mu.Unlock()
	var root *procEntry
	if prev != nil {
		if e, ok := tab.byPID[prev.pid]; ok && e.created.Equal(prev.created) {
			root = e
		}
	}
	if root == nil {
		root = s.findPortOwnerRoot(ctx, tab)
		if root == nil {
			return nil, nil
		}
		s.mu.Lock()
		s.adopted = &runRef{pid: root.pid, created: root.created, pgid: root.pgid,
			marker: adoptedMarkerPrefix + strconv.Itoa(int(root.pid)) + ":" + strconv.FormatInt(root.created.UnixNano(), 10)}
		s.mu.Unlock()
		s.log.Info().Int32("pid", root.pid).Msg("adopted a service started by hand: it owns the port and runs in the service's dir")
	}
	seeds := map[int32]string{root.pid: "port"}
	if g := root.pgid; g == root.pid {
		for pid, e := range tab.byPID {
			if e.pgid == g && !tab.self[pid] && pid != root.pid {
				seeds[pid] = "group"
			}
		}
	}
	for pid, e := range tab.byPID {
		if e.ppid != 1 || tab.self[pid] {
			continue
		}
		if _, ok := seeds[pid]; ok {
			continue
		}
		if argv, err := cmdlineOf(ctx, pid); err == nil && s.chromiumOfService(argv) {
			seeds[pid] = "browser"
		}
	}
	return root, seeds
}

// findPortOwnerRoot is the root of a hand-started run: the process that
// listens on the service's port, when its working directory is the
// service's dir, or the leader of its process group when that leader is
// its ancestor, runs in the same dir and does not lead a session (npm run
// by a shell's job control; never the shell).
func (s *Service) findPortOwnerRoot(ctx context.Context, tab *procTable) *procEntry {
	conn, err := net.DialTimeout("tcp", s.hostPort, adoptProbe)
	if err != nil {
		return nil // nothing listens (or it does not answer): nothing to adopt
	}
	conn.Close()
	ctx, cancel := context.WithTimeout(ctx, portHolderTimeout)
	defer cancel()
	pid, _, ok, err := doctor.PortOwner(ctx, s.hostPort)
	if err != nil || !ok {
		return nil
	}
	owner, live := tab.byPID[pid]
	if !live || tab.self[pid] || tab.ours(s.key, owner.marker) || !s.inServiceDir(ctx, pid) {
		// Not there, the bot's own, a leftover of a run of the bot's
		// (found by its marker), or not the service's.
		return nil
	}
	leader, live := tab.byPID[owner.pgid]
	if !live || leader.pid == owner.pid || tab.self[leader.pid] || sessionLeader(leader.pid) ||
		!tab.ancestor(leader.pid, owner.pid) || !s.inServiceDir(ctx, leader.pid) {
		return owner
	}
	return leader
}

// inServiceDir reports whether process pid's working directory is the
// service's dir.
func (s *Service) inServiceDir(ctx context.Context, pid int32) bool {
	cwd, err := cwdOf(ctx, pid)
	return err == nil && filepath.Clean(cwd) == filepath.Clean(s.cfg.Dir)
}

// chromiumOfService reports whether argv is a Chromium process (a browser or
// a crash handler) whose profile lies under the service's auth dir.
func (s *Service) chromiumOfService(argv []string) bool {
	a, ok := whatsapp.ParseChromiumArgs(argv)
	if !ok {
		return false
	}
	for _, p := range []string{a.UserDataDir, a.Database} {
		if p == "" {
			continue
		}
		if rel, err := filepath.Rel(filepath.Clean(s.cfg.AuthDir), filepath.Clean(p)); err == nil && rel != "." && filepath.IsLocal(rel) {
			return true
		}
	}
	return false
}

// ancestor reports whether a is an ancestor of pid in the table.
func (t *procTable) ancestor(a, pid int32) bool {
	for seen := 0; seen < 64; seen++ {
		e, ok := t.byPID[pid]
		if !ok || e.ppid <= 1 {
			return false
		}
		if e.ppid == a {
			return true
		}
		pid = e.ppid
	}
	return false
}
