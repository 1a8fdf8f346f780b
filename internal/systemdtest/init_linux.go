//go:build linux

package systemdtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// initEnv names the environment variable that turns a re-executed test
// binary into the namespace's init; its value is the JSON of an initConfig.
const initEnv = "SANASEND_SYSTEMDTEST_INIT"

// systemdPath is the systemd binary the fixture boots.
const systemdPath = "/lib/systemd/systemd"

// initConfig is what the host hands the namespace's init: host paths to
// mount inside the namespace.
type initConfig struct {
	// BusDir is mounted on /run/dbus.
	BusDir string
	// UnitDir is mounted over /etc/systemd/system.
	UnitDir string
	// LibDir (the targets and dbus units) is mounted over each of
	// LibTargets.
	LibDir     string
	LibTargets []string
	// EmptyDir is mounted over each of Hidden (generators, modules).
	EmptyDir string
	Hidden   []string
	// Console is the pty's slave (/dev/pts/N), mounted on /dev/console;
	// empty when the host has no /dev/console.
	Console  string
	Hostname string
}

// init runs the namespace's init when the test binary was re-executed as
// one by Start, and never returns then: it executes systemd or exits.
func init() {
	v, ok := os.LookupEnv(initEnv)
	if !ok {
		return
	}
	err := nsInit(v)
	// Stderr is the fixture's console: Start shows it.
	fmt.Fprintf(os.Stderr, "systemdtest init: %v\n", err)
	os.Exit(127)
}

// nsInit prepares the namespace's mounts and executes systemd; it returns
// only an error.
func nsInit(config string) error {
	var c initConfig
	if err := json.Unmarshal([]byte(config), &c); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if os.Getpid() != 1 {
		return fmt.Errorf("not PID 1 of a new PID namespace (PID %d)", os.Getpid())
	}
	// Nothing done here propagates to the host's mounts.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	const nodevexec = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("proc", "/proc", "proc", nodevexec, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	// The host's /sys/fs/cgroup (v1 hierarchies, or v2 rooted at the host's
	// root) goes; a cgroup2 mounted from the new cgroup namespace is rooted
	// at the fixture's cgroup.
	_ = unix.Unmount("/sys/fs/cgroup", unix.MNT_DETACH)
	if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", nodevexec, ""); err != nil {
		return fmt.Errorf("mount cgroup2 on /sys/fs/cgroup: %w", err)
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs on /run: %w", err)
	}
	if err := os.Mkdir("/run/dbus", 0o755); err != nil {
		return fmt.Errorf("make /run/dbus: %w", err)
	}
	binds := [][2]string{{c.BusDir, "/run/dbus"}, {c.UnitDir, "/etc/systemd/system"}}
	for _, t := range c.LibTargets {
		binds = append(binds, [2]string{c.LibDir, t})
	}
	for _, t := range c.Hidden {
		binds = append(binds, [2]string{c.EmptyDir, t})
	}
	if c.Console != "" {
		binds = append(binds, [2]string{c.Console, "/dev/console"})
	}
	for _, b := range binds {
		if err := unix.Mount(b[0], b[1], "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", b[0], b[1], err)
		}
	}
	if err := unix.Mount("/proc/sys", "/proc/sys", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind /proc/sys: %w", err)
	}
	for _, p := range []string{"/sys", "/proc/sys"} {
		if err := readOnly(p); err != nil {
			return err
		}
	}
	if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	argv := []string{filepath.Base(systemdPath), "--unit=" + fixtureTarget,
		"--log-target=console", "--log-level=info", "--log-color=no", "--show-status=no"}
	// container= tells systemd it is not the host's init: it leaves the
	// kernel's clock, modules and other host-wide settings alone.
	env := []string{"container=sanasend-systemdtest", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if err := syscall.Exec(systemdPath, argv, env); err != nil {
		return fmt.Errorf("exec %s: %w", systemdPath, err)
	}
	return nil
}

// readOnly remounts the mount at path read-only, keeping its other flags.
func readOnly(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("read-only %s: %w", path, err)
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY)
	for _, f := range [][2]uintptr{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_RELATIME, unix.MS_RELATIME},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME},
	} {
		if uintptr(st.Flags)&f[0] != 0 {
			flags |= f[1]
		}
	}
	if err := unix.Mount("", path, "", flags, ""); err != nil {
		return fmt.Errorf("read-only %s: %w", path, err)
	}
	return nil
}
