//go:build !linux

package systemdtest

import (
	"errors"
	"runtime"
	"testing"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
)

// Systemd is a running fixture; on this system there is never one.
type Systemd struct{}

// errUnsupported is what the methods of a fixture would say here.
var errUnsupported = errors.New("systemdtest: systemd fixtures run on Linux only")

// Start skips t: the fixture needs Linux namespaces and cgroup v2.
func Start(t testing.TB, opts Options) *Systemd {
	t.Helper()
	t.Skipf("systemdtest: skipped: needs Linux namespaces and cgroup v2, not %s", runtime.GOOS)
	return nil
}

// BusAddress is the D-Bus address of the fixture's system bus.
func (s *Systemd) BusAddress() string { return "" }

// Cgroup is the host path of the fixture's cgroup.
func (s *Systemd) Cgroup() string { return "" }

// CgroupPath returns the host path of a cgroup of the namespace.
func (s *Systemd) CgroupPath(controlGroup string) string { return "" }

// Console returns what systemd has printed on its console so far.
func (s *Systemd) Console() string { return "" }

// HostPID maps a PID of the namespace to the host's.
func (s *Systemd) HostPID(nsPID int) (int, error) { return 0, errUnsupported }

// WriteUnit writes a unit file and reloads systemd's units.
func (s *Systemd) WriteUnit(name, text string) error { return errUnsupported }

// Connect returns a connection to the fixture's systemd.
func (s *Systemd) Connect(t testing.TB) *sddbus.Conn {
	t.Helper()
	t.Fatal(errUnsupported)
	return nil
}
