package cgroup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Find locates the cgroup v2 hierarchy and the bot's own cgroup (from
// /proc/self/mountinfo and /proc/self/cgroup) and checks that the bot may
// create service cgroups under it and start processes into them: as root,
// or in a subtree delegated to it (systemd's Delegate=yes chowns the unit's
// cgroup directory and its cgroup.procs to the unit's user). When it may
// not, the error is an *UnavailableError that says why, and the Hierarchy
// is what was found (zero when no v2 hierarchy holds the bot).
func Find() (Hierarchy, error) {
	h, err := locate()
	if err != nil {
		return Hierarchy{}, err
	}
	return h, check(h, h.Parent)
}

// At is Find with a configured parent: an existing directory of the v2
// hierarchy under which the bot creates service cgroups instead of its own
// cgroup. The same checks apply, the move from the bot's cgroup included.
func At(parent string) (Hierarchy, error) {
	h, err := locate()
	if err != nil {
		return Hierarchy{}, err
	}
	selfDir := h.Parent
	if !filepath.IsAbs(parent) {
		return Hierarchy{}, fmt.Errorf("cgroup parent %q: not an absolute path", parent)
	}
	parent = filepath.Clean(parent)
	if _, ok := within(parent, h.Mount); !ok {
		return Hierarchy{}, fmt.Errorf("cgroup parent %s: not under the cgroup v2 mount %s", parent, h.Mount)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(parent, &st); err != nil {
		return Hierarchy{}, fmt.Errorf("cgroup parent %s: %w", parent, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return Hierarchy{}, fmt.Errorf("cgroup parent %s: not a cgroup v2 directory", parent)
	}
	h.Parent = parent
	return h, check(h, selfDir)
}

func locate() (Hierarchy, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return Hierarchy{}, fmt.Errorf("find cgroup: %w", err)
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Hierarchy{}, fmt.Errorf("find cgroup: %w", err)
	}
	h, err := Parse(bytes.NewReader(mi), bytes.NewReader(self))
	if err != nil {
		return Hierarchy{}, err
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Hierarchy{}, fmt.Errorf("find cgroup: uname: %w", err)
	}
	if rel := unix.ByteSliceToString(u.Release[:]); !kernelAtLeast(rel, 5, 14) {
		return Hierarchy{}, &UnavailableError{Reason: OldKernel, Detail: rel}
	}
	return h, nil
}

// kernelAtLeast compares a release such as "6.18.44-fc" with major.minor.
func kernelAtLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// check applies, for the bot in selfDir, the kernel's rules for creating a
// cgroup under h.Parent and starting a process into it (cgroup-v2.rst,
// "Delegation Containment" and "No Internal Process Constraint"): write
// access to the parent directory; write access to cgroup.procs of the
// common ancestor of the bot's cgroup and the new one; and a parent that,
// unless it is the mount's root, does not have both processes and
// controllers enabled for its children. (For a domain cgroup the kernel
// itself refuses that last state, so it shows only for threaded ones; what
// the rule means in practice is the converse: while the bot lives in the
// parent, its children get no controller, and cgroup.procs, cgroup.events
// and cgroup.kill, all this package uses, need none.)
func check(h Hierarchy, selfDir string) error {
	if err := unix.Access(h.Parent, unix.W_OK|unix.X_OK); err != nil {
		return denied(h, h.Parent, err)
	}
	anc := commonAncestor(selfDir, h.Parent)
	if err := unix.Access(filepath.Join(anc, "cgroup.procs"), unix.W_OK); err != nil {
		return denied(h, anc, err)
	}
	if h.Parent == h.Mount {
		return nil // the root is exempt from the no-internal-process rule
	}
	ctrl, err := os.ReadFile(filepath.Join(h.Parent, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("check cgroup %s: %w", h.Parent, err)
	}
	procs, err := os.ReadFile(filepath.Join(h.Parent, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("check cgroup %s: %w", h.Parent, err)
	}
	if len(bytes.TrimSpace(ctrl)) > 0 && len(bytes.TrimSpace(procs)) > 0 {
		return &UnavailableError{Reason: InternalProcesses, Path: h.Parent,
			Detail: string(bytes.TrimSpace(ctrl))}
	}
	return nil
}

func denied(h Hierarchy, p string, err error) error {
	if errors.Is(err, unix.EROFS) {
		return &UnavailableError{Reason: ReadOnly, Path: h.Mount, Err: err}
	}
	return &UnavailableError{Reason: NoPermission, Path: p, Err: err}
}

// commonAncestor of two clean absolute paths.
func commonAncestor(a, b string) string {
	for {
		if _, ok := within(b, a); ok {
			return a
		}
		a = filepath.Dir(a)
	}
}

// Create makes the cgroup name under h.Parent for one service and returns
// it. A cgroup of that name that exists and is empty is taken as it is; one
// that has processes is refused with ErrPopulated (Group returns it).
func (h Hierarchy) Create(name string) (*Group, error) {
	if err := ValidName(name); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	g := &Group{dir: filepath.Join(h.Parent, name)}
	err := os.Mkdir(g.dir, 0o755)
	if err == nil {
		return g, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	busy, err := g.Populated()
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s: exists: %w", g.dir, err)
	}
	if busy {
		return nil, fmt.Errorf("create cgroup %s: %w", g.dir, ErrPopulated)
	}
	return g, nil
}

// Group returns the existing cgroup name under h.Parent, populated or not
// (a service still running from before the bot restarted). It wraps
// fs.ErrNotExist when there is none.
func (h Hierarchy) Group(name string) (*Group, error) {
	if err := ValidName(name); err != nil {
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	g := &Group{dir: filepath.Join(h.Parent, name)}
	if _, err := os.Stat(filepath.Join(g.dir, "cgroup.procs")); err != nil {
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	return g, nil
}

// Group is one service's cgroup.
type Group struct {
	dir string
}

// Path is the cgroup's directory.
func (g *Group) Path() string { return g.dir }

// Open returns the cgroup's directory opened for exec.Cmd:
//
//	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
//
// The process then starts inside the cgroup (CLONE_INTO_CGROUP), and so does
// every process it starts. The caller closes f once Start has returned.
func (g *Group) Open() (*os.File, error) {
	fd, err := unix.Open(g.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", g.dir, err)
	}
	return os.NewFile(uintptr(fd), g.dir), nil
}

// Procs lists the processes in the cgroup (cgroup.procs), in the kernel's
// order.
func (g *Group) Procs() ([]int, error) {
	data, err := os.ReadFile(filepath.Join(g.dir, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("cgroup procs: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("cgroup procs %s: %q is not a pid", g.dir, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// Populated reports whether a process is in the cgroup or a descendant of
// it ("populated 1" in cgroup.events).
func (g *Group) Populated() (bool, error) {
	data, err := os.ReadFile(filepath.Join(g.dir, "cgroup.events"))
	if err != nil {
		return false, fmt.Errorf("cgroup events: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "populated "); ok {
			return v == "1", nil
		}
	}
	return false, fmt.Errorf("cgroup events %s: no populated line", g.dir)
}

// Kill sends SIGKILL to every process in the cgroup and its descendants at
// once (cgroup.kill), a process forking meanwhile included. It returns at
// once; WaitEmpty waits for the processes to be gone. Without cgroup.kill
// (before Linux 5.14) it returns ErrNoKill.
func (g *Group) Kill() error {
	err := os.WriteFile(filepath.Join(g.dir, "cgroup.kill"), []byte("1"), 0)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(g.dir); serr == nil {
			err = ErrNoKill
		}
	}
	if err != nil {
		return fmt.Errorf("kill cgroup %s: %w", g.dir, err)
	}
	return nil
}

// WaitEmpty returns when the cgroup has no process left, or with ctx's
// error. It waits on inotify for cgroup.events to change (the kernel
// modifies it when "populated" flips), so it wakes within a few
// milliseconds of the last exit and does not poll.
func (g *Group) WaitEmpty(ctx context.Context) error {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("wait for cgroup %s: inotify: %w", g.dir, err)
	}
	// A non-blocking fd in an *os.File is read through the runtime's
	// poller, so deadlines work on it.
	f := os.NewFile(uintptr(ifd), "inotify")
	defer f.Close()
	if _, err := unix.InotifyAddWatch(ifd, filepath.Join(g.dir, "cgroup.events"), unix.IN_MODIFY); err != nil {
		return fmt.Errorf("wait for cgroup %s: watch: %w", g.dir, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 4096)
	for {
		busy, err := g.Populated()
		if err != nil {
			return fmt.Errorf("wait for cgroup: %w", err)
		}
		if !busy {
			return nil
		}
		if _, err := f.Read(buf); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("wait for cgroup %s to empty: %w", g.dir, ctx.Err())
			}
			return fmt.Errorf("wait for cgroup %s: read inotify: %w", g.dir, err)
		}
	}
}

// Remove deletes the cgroup. It refuses with ErrPopulated while a process
// is in it; a cgroup already gone is not an error.
func (g *Group) Remove() error {
	busy, err := g.Populated()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	if busy {
		return fmt.Errorf("remove cgroup %s: %w", g.dir, ErrPopulated)
	}
	if err := unix.Rmdir(g.dir); err != nil && !errors.Is(err, unix.ENOENT) {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("remove cgroup %s: %w (or it has child cgroups)", g.dir, ErrPopulated)
		}
		return fmt.Errorf("remove cgroup %s: %w", g.dir, err)
	}
	return nil
}
