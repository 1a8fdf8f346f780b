// Package systemdtest is a test fixture: a real systemd (the host's
// /lib/systemd/systemd) booted as PID 1 of its own PID, mount, UTS, IPC and
// cgroup namespaces, inside a fresh cgroup v2 child of the host's writable
// hierarchy, with a private /run and a D-Bus system bus that the test reaches
// from the host through a socket in a temporary directory. The systemd
// controller's tests drive it over D-Bus like a real host's systemd.
//
// It runs on Linux as root only; elsewhere Start skips the test with the
// reason. The namespace's init is the test binary itself, re-executed: the
// package's init function recognises it by an environment variable, does
// the mounts in Go and executes systemd, so a test binary needs nothing
// beyond importing this package. It must not be imported by production code.
//
// Only /run, /etc/systemd/system, /lib/systemd/system (with the targets
// and the dbus units), the generators' and modules' directories, /proc and
// /sys/fs/cgroup differ from the host's; /sys and /proc/sys are read-only.
// The rest of the file system and the network are the host's: a unit runs
// the host's binaries on a test's files, listens on a port the test
// reaches, and writes its output where the test reads it (there is no
// journal: StandardOutput=append:<a file under t.TempDir()>).
//
// Nothing outlives the test: the cleanup kills the fixture's cgroup
// (cgroup.kill), waits until it is empty, removes it and the temporary
// directories. The mounts live in the fixture's private mount namespace and
// vanish with it.
package systemdtest

import "time"

// Options configures a fixture.
type Options struct {
	// Units are written to the fixture's /etc/systemd/system before boot:
	// file name (e.g. "whatsapp.service") to unit text. None is started at
	// boot; the test starts what it needs over D-Bus.
	Units map[string]string
	// BootTimeout bounds the boot, from the start of the namespace's init
	// to a running manager. Zero means 30 seconds.
	BootTimeout time.Duration
}
