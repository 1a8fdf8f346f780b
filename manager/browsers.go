package manager

// The Chromium trees among the service's processes: which session each
// browser serves (its --user-data-dir under the service's auth dir) and
// which processes its tree holds, from the same look that found the
// service's processes.

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Chromium roles of a Process (Process.Chromium).
const (
	roleBrowser  = "browser"
	roleCrashpad = "crashpad-handler"
)

// inspection is one description of the service's processes: every member
// with its details (tree order, as Processes returns them), and the
// Chromium trees among them, by session ID (strays, SessionID "", first).
type inspection struct {
	procs    []Process
	browsers []whatsapp.Browser
}

// rss sums the resident memory of every process.
func (in inspection) rss() uint64 {
	var n uint64
	for _, p := range in.procs {
		n += p.RSS
	}
	return n
}

// inspect describes the members of snap (one read of stat and one of
// cmdline per member, the reads ps needs anyway) and finds the Chromium
// trees among them. Only members are ever looked at: a browser outside the
// service's tree is nobody's business here.
func (s *Service) inspect(ctx context.Context, snap snapshot) inspection {
	var in inspection
	args := make(map[int32]whatsapp.ChromiumArgs)
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
		pr, argv := processInfo(ctx, snap.tab.byPID[pid], why)
		if a, isChromium := whatsapp.ParseChromiumArgs(argv); isChromium || a.Type != "" || a.Crashpad {
			args[pid] = a
		}
		in.procs = append(in.procs, pr)
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
	for _, pid := range sortedPIDs(mapKeys(snap.members)) {
		walk(pid) // cycles cannot happen, but never drop a member
	}
	in.browsers = chromiumTrees(snap, in.procs, args, s.authRoots())
	return in
}

func mapKeys[V any](m map[int32]V) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// authRoots are the service's auth dir as Chromium may name it in a
// --user-data-dir: absolute and clean, as configured and with its symlinks
// resolved (the auth dir itself may be a link). None when no auth dir is
// configured.
func (s *Service) authRoots() []string {
	if s.cfg.AuthDir == "" {
		return nil
	}
	dir, err := filepath.Abs(s.cfg.AuthDir)
	if err != nil {
		return nil
	}
	roots := []string{filepath.Clean(dir)}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != roots[0] {
		roots = append(roots, real)
	}
	return roots
}

// sessionOf is the session whose profile holds path, under any of roots.
func sessionOf(roots []string, path string) string {
	for _, r := range roots {
		if id, ok := whatsapp.SessionOfPath(r, path); ok {
			return id
		}
	}
	return ""
}

// chromiumTrees finds the Chromium trees among the members: each browser
// main process with its descendants, and the crash handlers whose database
// (or profile) lies within its profile, with theirs. It fills Session and
// Chromium on procs. A Chromium process outside every tree (a crash
// handler whose browser is gone) keeps its role and the session its own
// flags name.
func chromiumTrees(snap snapshot, procs []Process, args map[int32]whatsapp.ChromiumArgs, roots []string) []whatsapp.Browser {
	index := make(map[int32]int, len(procs))
	for i, p := range procs {
		index[p.PID] = i
	}
	var mains []int32
	for pid, a := range args {
		if a.Browser() { // no --type, or --type=browser (the older stand-in)
			mains = append(mains, pid)
		}
	}
	slices.Sort(mains)
	owner := make(map[int32]int32) // member -> main PID of its tree
	isMain := make(map[int32]bool, len(mains))
	for _, m := range mains {
		isMain[m] = true
	}
	claim := func(top, main int32) {
		queue := []int32{top}
		for len(queue) > 0 {
			pid := queue[0]
			queue = queue[1:]
			if _, taken := owner[pid]; taken {
				continue
			}
			if _, member := snap.members[pid]; !member || (isMain[pid] && pid != main) {
				continue
			}
			owner[pid] = main
			queue = append(queue, snap.tab.children[pid]...)
		}
	}
	for _, m := range mains {
		claim(m, m)
	}
	// Crash handlers live outside their browser's tree (double fork,
	// reparented to init): tied by the profile they name.
	var handlers []int32
	for pid, a := range args {
		if _, taken := owner[pid]; !taken && a.Crashpad {
			handlers = append(handlers, pid)
		}
	}
	slices.Sort(handlers)
	for _, h := range handlers {
		a := args[h]
		path := a.Database
		if path == "" {
			path = a.UserDataDir
		}
		for _, m := range mains {
			if pathWithin(args[m].UserDataDir, path) {
				claim(h, m)
				break
			}
		}
	}

	byMain := make(map[int32]*whatsapp.Browser, len(mains))
	var out []whatsapp.Browser
	for _, m := range mains {
		a := args[m]
		p := procs[index[m]]
		out = append(out, whatsapp.Browser{SessionID: sessionOf(roots, a.UserDataDir), UserDataDir: a.UserDataDir,
			PID: m, Started: p.Started})
	}
	for i := range out {
		byMain[out[i].PID] = &out[i]
	}
	for i := range procs {
		p := &procs[i]
		a, chromium := args[p.PID]
		if chromium {
			p.Chromium = a.Type
			if a.Crashpad {
				p.Chromium = roleCrashpad
			}
			if isMain[p.PID] {
				p.Chromium = roleBrowser
			}
		}
		m, inTree := owner[p.PID]
		if !inTree {
			if chromium {
				p.Session = sessionOf(roots, firstNonEmpty(a.UserDataDir, a.Database))
			}
			continue
		}
		b := byMain[m]
		p.Session = b.SessionID
		b.RSS += p.RSS
		b.CPUPercent += p.CPUPercent
		if p.PID != m {
			b.PIDs = append(b.PIDs, p.PID)
		}
	}
	for i := range out {
		out[i].PIDs = append([]int32{out[i].PID}, out[i].PIDs...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].SessionID != out[j].SessionID {
			return out[i].SessionID < out[j].SessionID
		}
		return out[i].PID < out[j].PID
	})
	return out
}

// pathWithin reports whether path is dir or lies beneath it; both must be
// absolute.
func pathWithin(dir, path string) bool {
	if dir == "" || path == "" || !filepath.IsAbs(dir) || !filepath.IsAbs(path) {
		return false
	}
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
