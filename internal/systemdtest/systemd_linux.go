//go:build linux

package systemdtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/creack/pty"
	godbus "github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/sanasend/sanasend-bot/internal/syncbuf"
)

const (
	defaultBootTimeout = 30 * time.Second
	// cleanupTimeout bounds each wait of the cleanup: systemd's exit, the
	// cgroup's emptying, the removal of its directories.
	cleanupTimeout = 10 * time.Second
	// pollInterval is how often a wait re-checks its condition.
	pollInterval = 5 * time.Millisecond
	// maxSocketPath is the longest path a unix socket address may hold.
	maxSocketPath = 107
)

// Systemd is a running fixture. Its methods may be called from any
// goroutine while the test that started it runs.
type Systemd struct {
	root    string // temporary directory holding busDir, unitDir, ...
	busDir  string // the namespace's /run/dbus
	unitDir string // the namespace's /etc/systemd/system
	cgroup  string // host path of the fixture's cgroup
	console syncbuf.Buffer
	pid     int // host PID of systemd, PID 1 of the namespace
	// exited is closed when systemd has exited and been reaped.
	exited chan struct{}
	// consoleDone is closed when the console's reader has stopped.
	consoleDone chan struct{}
	ptm         *os.File // the console's master side
	// pts is the console's slave side, kept open while systemd runs: its
	// console is reopened at boot, and the master's reader would end at
	// the moment no one held the slave.
	pts *os.File
}

// Start boots a fixture for t and registers its cleanup. It skips t, with
// the reason, where the host cannot run it (not root, no writable cgroup v2
// hierarchy, no systemd or dbus), and fails t if the boot fails, with what
// systemd printed. It returns once the bus answers and the manager's
// SystemState is running or degraded.
func Start(t testing.TB, opts Options) *Systemd {
	t.Helper()
	if err := opts.validate(); err != nil {
		t.Fatalf("systemdtest: %v", err)
	}
	dbusUnits, reason := hostReady()
	if reason != "" {
		t.Skip("systemdtest: skipped: " + reason)
	}
	s := &Systemd{}
	t.Cleanup(func() { s.cleanup(t) })
	if reason, err := s.makeCgroup(); reason != "" {
		t.Skip("systemdtest: skipped: " + reason)
	} else if err != nil {
		t.Fatalf("systemdtest: %v", err)
	}
	cfg, err := s.makeDirs(opts.Units, dbusUnits)
	if err != nil {
		t.Fatalf("systemdtest: %v", err)
	}
	begin := time.Now()
	if reason, err := s.launch(cfg); reason != "" {
		t.Skip("systemdtest: skipped: " + reason)
	} else if err != nil {
		t.Fatalf("systemdtest: %v", err)
	}
	timeout := opts.BootTimeout
	if timeout == 0 {
		timeout = defaultBootTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	state, version, err := s.waitReady(ctx, timeout)
	if err != nil {
		t.Fatalf("systemdtest: boot: %v (the cleanup logs systemd's console)", err)
	}
	t.Logf("systemdtest: systemd %s booted in %v (state %s); cgroup %s; bus %s",
		version, time.Since(begin).Round(time.Millisecond), state, s.cgroup, s.BusAddress())
	return s
}

func (o Options) validate() error {
	for name := range o.Units {
		if err := checkUnitName(name); err != nil {
			return fmt.Errorf("options: units: %w", err)
		}
	}
	if o.BootTimeout < 0 {
		return fmt.Errorf("options: boot timeout %v is negative", o.BootTimeout)
	}
	return nil
}

func checkUnitName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || !strings.Contains(name, ".") {
		return fmt.Errorf("unit name %q is not a file name with a unit suffix", name)
	}
	return nil
}

// hostReady says why the host cannot run a fixture, or returns the host's
// dbus unit files (name to text).
func hostReady() (map[string]string, string) {
	if euid := os.Geteuid(); euid != 0 {
		return nil, fmt.Sprintf("needs root to make namespaces and cgroups (euid %d)", euid)
	}
	if _, err := os.Stat(systemdPath); err != nil {
		return nil, fmt.Sprintf("no systemd: %v", err)
	}
	units := map[string]string{}
	for _, name := range hostDBusUnits() {
		var text []byte
		var err error
		for _, dir := range []string{"/lib/systemd/system", "/usr/lib/systemd/system"} {
			if text, err = os.ReadFile(filepath.Join(dir, name)); err == nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Sprintf("no %s for the system bus: %v", name, err)
		}
		units[name] = string(text)
	}
	return units, ""
}

// cgroup2Mount returns where the host's cgroup v2 hierarchy is mounted
// read-write, from /proc/self/mountinfo, or "" if it is not.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find cgroup2: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, sfields := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 6 || len(sfields) < 1 || sfields[0] != "cgroup2" {
			continue
		}
		if strings.Split(fields[5], ",")[0] != "rw" {
			continue
		}
		return unescapeMountPath(fields[4]), nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("find cgroup2: %w", err)
	}
	return "", nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+3 < len(p) {
			if n, err := strconv.ParseUint(p[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// makeCgroup makes the fixture's cgroup. It returns a reason to skip where
// the host has no writable cgroup v2 hierarchy or the kernel lacks
// cgroup.kill.
func (s *Systemd) makeCgroup() (string, error) {
	mnt, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	if mnt == "" {
		return "no cgroup v2 hierarchy mounted read-write (/proc/self/mountinfo)", nil
	}
	sweepStale(mnt)
	dir, err := os.MkdirTemp(mnt, cgroupPrefix)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return fmt.Sprintf("cgroup v2 hierarchy %s is not writable: %v", mnt, err), nil
	}
	if err != nil {
		return "", fmt.Errorf("make cgroup: %w", err)
	}
	s.cgroup = dir
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err != nil {
		return fmt.Sprintf("kernel has no cgroup.kill (Linux 5.14): %v", err), nil
	}
	return "", nil
}

// cgroupPrefix starts the name of each fixture's cgroup.
const cgroupPrefix = "sanasend-systemdtest-"

// staleAge is how long a fixture's cgroup must have been empty to be taken
// for the leftover of a test binary that was killed before its cleanup (a
// live fixture's cgroup is empty only for the moment before systemd starts).
const staleAge = time.Minute

// sweepStale removes the empty cgroups that killed test binaries left in
// the hierarchy mounted at mnt. Their processes died with them (Pdeathsig).
func sweepStale(mnt string) {
	entries, err := os.ReadDir(mnt)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), cgroupPrefix) {
			continue
		}
		dir := filepath.Join(mnt, e.Name())
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < staleAge {
			continue
		}
		if empty, _ := cgroupEmpty(dir); empty {
			_, _ = removeCgroupTree(dir)
		}
	}
}

// makeDirs lays out the temporary directories the namespace mounts and
// returns the init's configuration, less the console.
func (s *Systemd) makeDirs(units, dbusUnits map[string]string) (initConfig, error) {
	root, err := os.MkdirTemp("", "systemdtest-")
	if err != nil {
		return initConfig{}, fmt.Errorf("make dirs: %w", err)
	}
	s.root = root
	c := initConfig{
		BusDir:   filepath.Join(root, "bus"),
		UnitDir:  filepath.Join(root, "units"),
		LibDir:   filepath.Join(root, "lib"),
		EmptyDir: filepath.Join(root, "empty"),
		Hostname: "systemdtest",
	}
	s.busDir, s.unitDir = c.BusDir, c.UnitDir
	if n := len(s.BusAddress()) - len("unix:path="); n > maxSocketPath {
		return c, fmt.Errorf("make dirs: bus socket path under %s is %d bytes, more than a unix socket takes: set TMPDIR shorter", root, n)
	}
	for _, d := range []string{c.BusDir, c.UnitDir, c.LibDir, c.EmptyDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return c, fmt.Errorf("make dirs: %w", err)
		}
	}
	lib := libUnits()
	for name, text := range dbusUnits {
		lib[name] = text
	}
	for dir, files := range map[string]map[string]string{c.LibDir: lib, c.UnitDir: units} {
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				return c, fmt.Errorf("make dirs: %w", err)
			}
		}
	}
	c.LibTargets = existingDirs("/lib/systemd/system", "/usr/lib/systemd/system", "/usr/local/lib/systemd/system")
	c.Hidden = existingDirs(
		"/lib/systemd/system-generators", "/usr/lib/systemd/system-generators",
		"/usr/local/lib/systemd/system-generators", "/etc/systemd/system-generators",
		"/lib/systemd/system-environment-generators", "/usr/lib/systemd/system-environment-generators",
		"/usr/local/lib/systemd/system-environment-generators", "/etc/systemd/system-environment-generators",
		"/lib/modules", "/usr/lib/modules")
	return c, nil
}

// existingDirs returns those of dirs that exist, each directory once
// (/lib is often a link to /usr/lib).
func existingDirs(dirs ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		real, err := filepath.EvalSymlinks(d)
		if err != nil || seen[real] {
			continue
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			continue
		}
		seen[real] = true
		out = append(out, real)
	}
	return out
}

// launch starts the namespace's init (this binary, re-executed) in the
// fixture's cgroup with a pty as its console. It returns a reason to skip
// where the kernel refuses the namespaces.
func (s *Systemd) launch(c initConfig) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("launch: %w", err)
	}
	ptm, pts, err := pty.Open()
	if err != nil {
		return "", fmt.Errorf("launch: console: %w", err)
	}
	s.ptm, s.pts = ptm, pts
	s.consoleDone = make(chan struct{})
	go func() {
		defer close(s.consoleDone)
		// Ends with EIO once every holder of the slave side is gone:
		// the namespace's processes and then s.pts, in the cleanup.
		_, _ = io.Copy(&s.console, ptm)
	}()
	if _, err := os.Stat("/dev/console"); err == nil {
		c.Console = pts.Name()
	}
	config, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("launch: %w", err)
	}
	cg, err := unix.Open(s.cgroup, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("launch: open cgroup: %w", err)
	}
	defer unix.Close(cg)
	cmd := &exec.Cmd{
		Path:   exe,
		Args:   []string{"systemdtest-init"},
		Env:    []string{initEnv + "=" + string(config)},
		Stdin:  pts,
		Stdout: pts,
		Stderr: pts,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS |
				syscall.CLONE_NEWIPC | syscall.CLONE_NEWCGROUP,
			UseCgroupFD: true,
			CgroupFD:    cg,
			Setsid:      true,
			Setctty:     true,
			Ctty:        0,
			// Should the test binary die without its cleanup (a test
			// timeout's panic), the namespace dies with it.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	started := make(chan error, 1)
	s.exited = make(chan struct{})
	go func() {
		defer close(s.exited)
		// Pdeathsig fires when the thread that started the child ends,
		// not the process: keep this one until systemd is gone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
	}()
	if err := <-started; err != nil {
		if errors.Is(err, syscall.EPERM) {
			return fmt.Sprintf("the kernel refused the namespaces: %v", err), nil
		}
		return "", fmt.Errorf("launch: %w", err)
	}
	s.pid = cmd.Process.Pid
	return "", nil
}

// waitReady waits until the bus answers and the manager's SystemState is
// running or degraded; it returns that state and systemd's version.
func (s *Systemd) waitReady(ctx context.Context, timeout time.Duration) (state, version string, err error) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var conn *sddbus.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	last := errors.New("no answer yet")
	for {
		select {
		case <-s.exited:
			return "", "", fmt.Errorf("systemd (host PID %d) exited while booting; last check: %v", s.pid, last)
		case <-ctx.Done():
			return "", "", fmt.Errorf("not running after %v; last check: %v", timeout, last)
		case <-tick.C:
		}
		if conn == nil {
			if conn, err = s.dial(ctx); err != nil {
				conn, last = nil, fmt.Errorf("connect to the bus: %w", err)
				continue
			}
		}
		p, err := conn.SystemStateContext(ctx)
		if err != nil {
			// Dial again: the bus may have gone away under this one.
			conn.Close()
			conn, last = nil, fmt.Errorf("read SystemState: %w", err)
			continue
		}
		state, _ = p.Value.Value().(string)
		switch state {
		case "running", "degraded":
			version, _ = conn.GetManagerProperty("Version")
			if v, err := strconv.Unquote(version); err == nil {
				version = v
			}
			return state, version, nil
		case "maintenance", "stopping", "offline":
			return "", "", fmt.Errorf("SystemState is %s", state)
		}
		last = fmt.Errorf("SystemState is %s", state)
	}
}

// dial connects to the fixture's bus; ctx bounds the connection's life.
func (s *Systemd) dial(ctx context.Context) (*sddbus.Conn, error) {
	return sddbus.NewConnection(func() (*godbus.Conn, error) {
		c, err := godbus.Dial(s.BusAddress(), godbus.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		if err := c.Auth([]godbus.Auth{godbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			c.Close()
			return nil, err
		}
		if err := c.Hello(); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	})
}

// BusAddress is the D-Bus address of the fixture's system bus, for
// DBUS_SYSTEM_BUS_ADDRESS or godbus.Dial.
func (s *Systemd) BusAddress() string {
	return "unix:path=" + filepath.Join(s.busDir, "system_bus_socket")
}

// Cgroup is the host path of the fixture's cgroup: the root of the
// namespace's cgroup tree.
func (s *Systemd) Cgroup() string { return s.cgroup }

// CgroupPath returns the host path of a cgroup of the namespace, such as a
// unit's ControlGroup ("/system.slice/whatsapp.service"). It never leads
// outside the fixture's cgroup.
func (s *Systemd) CgroupPath(controlGroup string) string {
	return filepath.Join(s.cgroup, filepath.Clean("/"+controlGroup))
}

// Console returns what systemd has printed on its console so far.
func (s *Systemd) Console() string { return s.console.String() }

// HostPID maps a PID of the namespace (a unit's MainPID) to the host's: it
// looks for the process among the members of the fixture's cgroup tree
// whose innermost PID (NSpid: in /proc/<pid>/status) is nsPID.
func (s *Systemd) HostPID(nsPID int) (int, error) {
	if nsPID <= 0 {
		return 0, fmt.Errorf("systemdtest: host PID of %d: not a PID", nsPID)
	}
	found := 0
	err := filepath.WalkDir(s.cgroup, func(dir string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a cgroup removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(procs)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if inner, ok := innermostPID(pid); ok && inner == nsPID {
				found = pid
				return fs.SkipAll
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("systemdtest: host PID of %d: %w", nsPID, err)
	}
	if found == 0 {
		return 0, fmt.Errorf("systemdtest: host PID of %d: no such process in %s", nsPID, s.cgroup)
	}
	return found, nil
}

// innermostPID reads the PID of a host process in its innermost PID
// namespace, the last field of NSpid: in /proc/<pid>/status.
func innermostPID(pid int) (int, bool) {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(status)) {
		rest, ok := strings.CutPrefix(line, "NSpid:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.Atoi(f[len(f)-1])
		return n, err == nil
	}
	return 0, false
}

// WriteUnit writes (or replaces) a unit file in the fixture's
// /etc/systemd/system and makes systemd reload its units (daemon-reload),
// which is done when WriteUnit returns.
func (s *Systemd) WriteUnit(name, text string) error {
	if err := checkUnitName(name); err != nil {
		return fmt.Errorf("systemdtest: write unit: %w", err)
	}
	tmp := filepath.Join(s.unitDir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return fmt.Errorf("systemdtest: write unit %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(s.unitDir, name)); err != nil {
		return fmt.Errorf("systemdtest: write unit %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultBootTimeout)
	defer cancel()
	conn, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("systemdtest: write unit %s: reload: %w", name, err)
	}
	defer conn.Close()
	if err := conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("systemdtest: write unit %s: reload: %w", name, err)
	}
	return nil
}

// Connect returns a connection to the fixture's systemd over its bus,
// closed when t ends (before the fixture stops).
func (s *Systemd) Connect(t testing.TB) *sddbus.Conn {
	t.Helper()
	conn, err := s.dial(context.Background())
	if err != nil {
		t.Fatalf("systemdtest: connect to %s: %v", s.BusAddress(), err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// cleanup kills everything in the fixture's cgroup, waits for it to be
// empty and removes it and the temporary directories. It reports what it
// could not undo as errors of t.
func (s *Systemd) cleanup(t testing.TB) {
	if s.exited != nil {
		if err := os.WriteFile(filepath.Join(s.cgroup, "cgroup.kill"), []byte("1"), 0); err != nil {
			t.Errorf("systemdtest: cleanup: %v", err)
		}
		if s.pid > 0 {
			// PID 1's death ends its namespace too, should cgroup.kill
			// have failed.
			_ = syscall.Kill(s.pid, syscall.SIGKILL)
		}
		select {
		case <-s.exited:
		case <-time.After(cleanupTimeout):
			t.Errorf("systemdtest: cleanup: systemd (host PID %d) still running after %v", s.pid, cleanupTimeout)
		}
	}
	if s.cgroup != "" {
		if err := waitFor(cleanupTimeout, func() (bool, error) { return cgroupEmpty(s.cgroup) }); err != nil {
			t.Errorf("systemdtest: cleanup: cgroup %s not empty: %v", s.cgroup, err)
		} else if err := waitFor(cleanupTimeout, func() (bool, error) { return removeCgroupTree(s.cgroup) }); err != nil {
			t.Errorf("systemdtest: cleanup: remove cgroup %s: %v", s.cgroup, err)
		}
	}
	if s.ptm != nil {
		s.pts.Close()
		select {
		case <-s.consoleDone:
		case <-time.After(cleanupTimeout):
			t.Errorf("systemdtest: cleanup: the console's reader did not end in %v", cleanupTimeout)
		}
		s.ptm.Close()
	}
	if t.Failed() {
		t.Logf("systemdtest: console of systemd:\n%s", s.console.String())
	}
	if s.root != "" {
		if err := os.RemoveAll(s.root); err != nil {
			t.Errorf("systemdtest: cleanup: %v", err)
		}
	}
}

// waitFor polls cond until it is true, fails, or timeout passes.
func waitFor(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		select {
		case <-deadline.C:
			if err == nil {
				err = errors.New("timed out")
			}
			return fmt.Errorf("after %v: %w", timeout, err)
		case <-tick.C:
		}
	}
}

// cgroupEmpty says whether no process is left in the cgroup's tree
// (cgroup.events: populated 0).
func cgroupEmpty(dir string) (bool, error) {
	events, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for line := range strings.Lines(string(events)) {
		if strings.TrimSpace(line) == "populated 0" {
			return true, nil
		}
	}
	return false, errors.New("populated")
}

// removeCgroupTree removes an empty cgroup and its descendants, deepest
// first; false with the error while a removal fails (a dying cgroup is
// briefly busy).
func removeCgroupTree(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.IsDir() {
			if ok, err := removeCgroupTree(filepath.Join(dir, e.Name())); !ok {
				return false, err
			}
		}
	}
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return false, fmt.Errorf("rmdir %s: %w", dir, err)
	}
	return true, nil
}
