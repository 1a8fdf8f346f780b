//go:build linux

package systemdtest

// fixtureTarget is the unit systemd boots into: the bus and nothing else.
const fixtureTarget = "fixture.target"

// libUnits replace /lib/systemd/system inside the namespace: the targets
// that services' default dependencies name, and the fixture's target. The
// dbus units are copied from the host (hostDBusUnits), so that they match
// its dbus-daemon.
func libUnits() map[string]string {
	return map[string]string{
		fixtureTarget: `[Unit]
Description=systemdtest fixture
Requires=dbus.socket
After=dbus.socket
`,
		"basic.target": `[Unit]
Description=Basic System
Requires=sysinit.target
Wants=sockets.target timers.target paths.target slices.target
After=sysinit.target sockets.target timers.target paths.target slices.target
`,
		"sysinit.target": `[Unit]
Description=System Initialization
`,
		"sockets.target": `[Unit]
Description=Socket Units
`,
		"paths.target": `[Unit]
Description=Path Units
`,
		"timers.target": `[Unit]
Description=Timer Units
DefaultDependencies=no
`,
		"slices.target": `[Unit]
Description=Slice Units
Wants=-.slice system.slice
After=-.slice system.slice
`,
	}
}

// hostDBusUnits are copied from the host's unit directory.
func hostDBusUnits() []string { return []string{"dbus.socket", "dbus.service"} }
