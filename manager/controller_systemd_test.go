//go:build linux

package manager

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/internal/systemdtest"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// The systemd controller's tests drive a real systemd (internal/systemdtest:
// root and Linux only, skipped elsewhere with the reason) running the real
// stand-in as a unit.

// sdSleeper is a unit whose main process lives until it is stopped.
const sdSleeper = "[Service]\nExecStart=/bin/sleep 1000\nTimeoutStopSec=10\n"

// newSystemdTest returns a controller of unit on the fixture s, closed at
// the test's end.
func newSystemdTest(t testing.TB, s *systemdtest.Systemd, unit string) *systemdController {
	t.Helper()
	c, err := NewSystemdController(SystemdConfig{
		Unit:       unit,
		BusAddress: s.BusAddress(),
		CgroupRoot: s.Cgroup(),
		Timeout:    20 * time.Second,
		Logger:     zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*systemdController)
}

// standinUnit is the text of a unit that runs the stand-in copy in dir on
// port, with the fast timings of the manager's tests, env added.
func standinUnit(t testing.TB, dir string, port int, killMode string, env map[string]string) string {
	t.Helper()
	tmp, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	e := map[string]string{
		"PORT":                       strconv.Itoa(port),
		"TMPDIR":                     tmp,
		"RESTORE_DELAY_MS":           "150",
		"RESTORE_STEP_MS":            "30",
		"FOLLOWUP_MS":                "50",
		"FAKE_CHROMIUM_CHILDREN":     "1",
		"NPM_CONFIG_UPDATE_NOTIFIER": "false",
	}
	for k, v := range env {
		e[k] = v
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[Service]\nWorkingDirectory=%s\nExecStart=/usr/bin/node src/server.js\n", dir)
	for _, k := range slices.Sorted(maps.Keys(e)) {
		fmt.Fprintf(&b, "Environment=%s=%s\n", k, e[k])
	}
	out := filepath.Join(filepath.Dir(dir), "unit-output.log")
	fmt.Fprintf(&b, "KillMode=%s\nTimeoutStopSec=10\nRestart=on-failure\nRestartSec=100ms\n"+
		"StandardOutput=append:%s\nStandardError=append:%s\n", killMode, out, out)
	return b.String()
}

// healthy reports whether the stand-in on port answers /health with 200.
func healthy(port int) bool {
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// roles counts the fake browsers and crash handlers among pids.
func roles(pids []int32) (browsers, crashHandlers int) {
	for _, pid := range pids {
		argv, err := cmdlineOf(context.Background(), pid)
		if err != nil {
			continue
		}
		cmd := strings.Join(argv, " ")
		switch {
		case isFakeBrowser(cmd):
			browsers++
		case strings.Contains(cmd, "--type=crashpad-handler"):
			crashHandlers++
		}
	}
	return browsers, crashHandlers
}

// procsUnder lists the live processes whose working directory is under dir
// or whose argv names a path under it (browsers' --user-data-dir, crash
// handlers' --database), with their start times.
func procsUnder(t testing.TB, dir string) map[int32]time.Time {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]time.Time{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, _ := os.Readlink("/proc/" + e.Name() + "/cwd")
		argv, _ := cmdlineOf(context.Background(), int32(pid))
		if cwd == dir || strings.HasPrefix(cwd, dir+"/") || strings.Contains(strings.Join(argv, " "), dir+"/") {
			out[int32(pid)] = processCreated(context.Background(), int32(pid))
		}
	}
	return out
}

// waitRestored waits until the stand-in in dir has logged the end of its
// session restoration n times (once per run).
func waitRestored(t testing.TB, dir string, n int) {
	t.Helper()
	waitFor(t, "the stand-in's session restoration", 20*time.Second, func() bool {
		data, _ := os.ReadFile(filepath.Join(dir, "logs", "combined.log"))
		return strings.Count(string(data), "Session restoration complete") >= n
	})
}

// observe is Observe that fails the test on an error.
func observe(t testing.TB, c Controller) Observation {
	t.Helper()
	o, err := c.Observe(context.Background())
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	return o
}

// waitObserve polls Observe until cond holds, failing with the last
// observation after timeout.
func waitObserve(t testing.TB, c Controller, what string, timeout time.Duration, cond func(Observation) bool) Observation {
	t.Helper()
	var o Observation
	deadline := time.Now().Add(timeout)
	for {
		o = observe(t, c)
		if cond(o) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last observation %+v", timeout, what, o)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNewSystemdControllerValidates(t *testing.T) {
	valid := SystemdConfig{Unit: "whatsapp.service", BusAddress: "unix:path=/nonexistent/bus"}
	tests := []struct {
		name   string
		mutate func(*SystemdConfig)
		ok     bool
	}{
		{"valid", func(*SystemdConfig) {}, true},
		{"template instance", func(c *SystemdConfig) { c.Unit = "whatsapp@main.service" }, true},
		{"escaped", func(c *SystemdConfig) { c.Unit = `wa\x2dsvc.service` }, true},
		{"default bus and cgroup root", func(c *SystemdConfig) { c.BusAddress, c.CgroupRoot = "", "" }, true},
		{"cgroup root", func(c *SystemdConfig) { c.CgroupRoot = "/sys/fs/cgroup" }, true},
		{"timeout", func(c *SystemdConfig) { c.Timeout = time.Second }, true},
		{"empty unit", func(c *SystemdConfig) { c.Unit = "" }, false},
		{"no suffix", func(c *SystemdConfig) { c.Unit = "whatsapp" }, false},
		{"not a service", func(c *SystemdConfig) { c.Unit = "whatsapp.socket" }, false},
		{"only the suffix", func(c *SystemdConfig) { c.Unit = ".service" }, false},
		{"template without instance", func(c *SystemdConfig) { c.Unit = "whatsapp@.service" }, false},
		{"slash", func(c *SystemdConfig) { c.Unit = "../whatsapp.service" }, false},
		{"space", func(c *SystemdConfig) { c.Unit = "whats app.service" }, false},
		{"newline", func(c *SystemdConfig) { c.Unit = "whatsapp\n.service" }, false},
		{"too long", func(c *SystemdConfig) { c.Unit = strings.Repeat("a", 250) + ".service" }, false},
		{"relative cgroup root", func(c *SystemdConfig) { c.CgroupRoot = "sys/fs/cgroup" }, false},
		{"negative timeout", func(c *SystemdConfig) { c.Timeout = -time.Second }, false},
		{"bus address without a transport", func(c *SystemdConfig) { c.BusAddress = "/run/dbus/system_bus_socket" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.mutate(&cfg)
			c, err := NewSystemdController(cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewSystemdController(%+v) error = %v; want ok %v", cfg, err, tt.ok)
			}
			if c != nil {
				if got := c.Info(); got.Kind != ControllerSystemd || got.Target != cfg.Unit || got.Tree != TreeUnitCgroup {
					t.Errorf("Info() = %+v; want systemd, %s, unit cgroup", got, cfg.Unit)
				}
				if err := errors.Join(c.Close(), c.Close()); err != nil {
					t.Errorf("Close twice: %v", err)
				}
			}
		})
	}
}

// A bus that cannot be reached makes every call fail fast with
// ErrControllerUnavailable in the chain and a message safe to show.
func TestSystemdUnreachableBus(t *testing.T) {
	bus := "unix:path=" + filepath.Join(t.TempDir(), "no_bus_socket")
	c, err := NewSystemdController(SystemdConfig{Unit: "whatsapp.service", BusAddress: bus, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sd := c.(*systemdController)
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"start", func(ctx context.Context) error { _, err := c.Start(ctx, Launch{}); return err }},
		{"stop", func(ctx context.Context) error {
			_, err := c.Stop(ctx, Halt{Deadline: time.Now().Add(time.Second)})
			return err
		}},
		{"observe", func(ctx context.Context) error { _, err := c.Observe(ctx); return err }},
		{"finish", func(ctx context.Context) error { return c.Finish(ctx) }},
		{"changes", func(ctx context.Context) error { _, err := sd.Changes(ctx); return err }},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			begin := time.Now()
			err := tt.call(ctx)
			took := time.Since(begin)
			if !errors.Is(err, ErrControllerUnavailable) {
				t.Fatalf("%s: error %v; want ErrControllerUnavailable in its chain", tt.name, err)
			}
			want := "cannot reach systemd on the system bus: its socket does not exist"
			if got := usererr.Message(err); got != want {
				t.Errorf("%s: message %q; want %q", tt.name, got, want)
			}
			if strings.Contains(usererr.Message(err), "no_bus_socket") {
				t.Errorf("%s: message %q names the socket", tt.name, usererr.Message(err))
			}
			if took > 500*time.Millisecond {
				t.Errorf("%s took %v; want a fast failure", tt.name, took)
			}
		})
	}
	_ = c.Close()
	if _, err := c.Observe(context.Background()); err == nil {
		t.Error("observe after Close = nil error")
	}
}

// The whole run of the stand-in under systemd: start to healthy, its tree
// in the unit's cgroup, a kill of its main process signalled and restarted
// by systemd, and a stop that leaves nothing of the tree while a decoy copy
// of the stand-in outside the unit survives.
func TestSystemdStandinLifecycle(t *testing.T) {
	dir := standinDir(t)
	port := freeTCPPort(t)
	unit := standinUnit(t, dir, port, "control-group", twoSessions(t))
	s := systemdtest.Start(t, systemdtest.Options{Units: map[string]string{"whatsapp.service": unit}})
	c := newSystemdTest(t, s, "whatsapp.service")
	ctx := context.Background()

	decoyKey := startDecoy(t, sessionsEnv(t, `{"session_id":"user_9_instance_decoy","instance_name":"decoy","restore":"ok","after":"ready"}`))

	if o := observe(t, c); o.Running || o.MainPID != 0 || o.State != "inactive/dead" || len(o.Members) != 0 || !o.Managed {
		t.Fatalf("before the start: %+v; want managed, not running, inactive/dead, no members", o)
	}
	begin := time.Now()
	launched, err := c.Start(ctx, Launch{})
	startTook := time.Since(begin)
	if err != nil {
		t.Fatal(err)
	}
	if launched.Wait != nil || launched.PID <= 0 {
		t.Fatalf("Start = %+v; want a host PID and no Wait", launched)
	}

	// Running, its main process a live host process among the members with
	// the browsers and crash handlers of both sessions.
	waitRestored(t, dir, 1)
	o := waitObserve(t, c, "2 browsers and 4 crash handlers in the unit's cgroup", 20*time.Second, func(o Observation) bool {
		b, h := roles(o.Members)
		return b == 2 && h == 4
	})
	if !o.Running || o.State != "active/running" || o.MainPID != launched.PID || !slices.Contains(o.Members, o.MainPID) {
		t.Errorf("observation %+v; want active/running, MainPID %d among the members", o, launched.PID)
	}
	if o.LastExit != nil || o.Restarts != 0 || o.Since.IsZero() || time.Since(o.Since) > time.Minute || o.Since.After(time.Now()) {
		t.Errorf("observation: last exit %v, restarts %d, since %v; want none, 0, just now", o.LastExit, o.Restarts, o.Since)
	}
	if !processAlive(ctx, o.MainPID, processCreated(ctx, o.MainPID)) {
		t.Errorf("main PID %d is not a live host process", o.MainPID)
	}
	if argv, _ := cmdlineOf(ctx, o.MainPID); strings.Join(argv, " ") != "/usr/bin/node src/server.js" {
		t.Errorf("main PID %d runs %q; want /usr/bin/node src/server.js", o.MainPID, argv)
	}
	waitFor(t, "the stand-in's health", 10*time.Second, func() bool { return healthy(port) })
	decoys := map[int32]time.Time{}
	waitFor(t, "the decoy's browser and crash handlers", 20*time.Second, func() bool {
		pids := markedProcesses(t, decoyKey)
		b, h := roles(pids)
		return b == 1 && h == 2
	})
	for _, pid := range markedProcesses(t, decoyKey) {
		decoys[pid] = processCreated(ctx, pid)
	}

	// Observe's cost, as the watcher pays it on every change.
	const n = 50
	begin = time.Now()
	for range n {
		observe(t, c)
	}
	t.Logf("figure: Observe of a running stand-in (%d members) takes %v on average; Start took %v",
		len(o.Members), time.Since(begin)/n, startTook)

	// A kill of the main process: the watch signals it, systemd restarts
	// the unit (NRestarts+1, a new MainPID).
	changes, err := c.Changes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := syscall.Kill(int(o.MainPID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
		t.Logf("figure: the change signal came %v after the kill", time.Since(killed))
	case <-time.After(2 * time.Second):
		t.Fatal("no change signal within 2 s of the main process's kill")
	}
	old := o.MainPID
	o = waitObserve(t, c, "the restart by systemd", 10*time.Second, func(n Observation) bool {
		return n.Restarts == 1 && n.Running && n.MainPID != 0 && n.MainPID != old && n.State == "active/running"
	})
	t.Logf("figure: systemd's restart seen by Observe %v after the kill", time.Since(killed))
	if processAlive(ctx, old, time.Time{}) {
		t.Errorf("the killed main process %d is alive", old)
	}
	waitFor(t, "the restarted stand-in's health", 10*time.Second, func() bool { return healthy(port) })
	waitRestored(t, dir, 2)
	o = waitObserve(t, c, "the restarted run's browsers", 20*time.Second, func(o Observation) bool {
		b, h := roles(o.Members)
		return b == 2 && h == 4
	})

	// The stop: graceful, the cgroup empty, nothing of the tree left, the
	// decoy untouched.
	tree := o.Members
	begin = time.Now()
	halted, err := c.Stop(ctx, Halt{Deadline: time.Now().Add(10 * time.Second)})
	t.Logf("figure: Stop of the stand-in took %v", time.Since(begin))
	if err != nil {
		t.Fatal(err)
	}
	if !halted.Graceful || halted.Forced {
		t.Errorf("Stop = %+v; want graceful", halted)
	}
	o = observe(t, c)
	if o.Running || o.State != "inactive/dead" || o.MainPID != 0 || len(o.Members) != 0 {
		t.Errorf("after the stop: %+v; want inactive/dead, no main PID, no members", o)
	}
	if err := c.Finish(ctx); err != nil {
		t.Errorf("Finish after a clean stop: %v", err)
	}
	for _, pid := range tree {
		if _, err := os.Stat("/proc/" + strconv.Itoa(int(pid))); err == nil {
			argv, _ := cmdlineOf(ctx, pid)
			t.Errorf("process %d of the tree (%q) is left after the stop", pid, argv)
		}
	}
	if left := procsUnder(t, dir); len(left) > 0 {
		t.Errorf("processes under the stand-in's dir after the stop: %v", left)
	}
	for pid, created := range decoys {
		if !processAlive(ctx, pid, created) {
			t.Errorf("decoy process %d was killed by the stop", pid)
		}
	}
}

// How the main process ended reaches Start's error and Observe's LastExit.
func TestSystemdExits(t *testing.T) {
	units := map[string]string{
		"exit1.service":   "[Service]\nType=oneshot\nExecStart=/usr/bin/node -e \"process.exit(1)\"\n",
		"sleeper.service": sdSleeper,
	}
	s := systemdtest.Start(t, systemdtest.Options{Units: units})
	ctx := context.Background()

	t.Run("start fails", func(t *testing.T) {
		c := newSystemdTest(t, s, "exit1.service")
		_, err := c.Start(ctx, Launch{})
		want := "exit1.service failed to start: job failed; the unit is failed/failed, its main process exited with status 1"
		if got := usererr.Message(err); got != want {
			t.Fatalf("Start: %q (%v); want %q", got, err, want)
		}
		if errors.Is(err, ErrControllerUnavailable) {
			t.Errorf("a failed start is not an unavailable bus: %v", err)
		}
		o := observe(t, c)
		if o.Running || o.State != "failed/failed" || o.LastExit == nil || *o.LastExit != (Exit{Known: true, Code: 1}) {
			t.Errorf("after the failed start: %+v (last exit %v); want failed/failed, exit code 1", o, o.LastExit)
		}
	})
	t.Run("killed", func(t *testing.T) {
		c := newSystemdTest(t, s, "sleeper.service")
		l, err := c.Start(ctx, Launch{})
		if err != nil {
			t.Fatal(err)
		}
		nsPID, err := c.props(ctx, "test")
		if err != nil {
			t.Fatal(err)
		}
		if want, err := s.HostPID(int(nsPID.MainPID)); err != nil || int(l.PID) != want || l.PID == int32(nsPID.MainPID) {
			t.Errorf("Start's PID %d; want the host PID %d (%v) of namespace PID %d", l.PID, want, err, nsPID.MainPID)
		}
		if err := syscall.Kill(int(l.PID), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		o := waitObserve(t, c, "the unit failed", 10*time.Second, func(o Observation) bool { return o.State == "failed/failed" })
		if o.Running || o.MainPID != 0 || o.LastExit == nil || *o.LastExit != (Exit{Known: true, Code: -1, Signal: "SIGKILL"}) || !o.Since.IsZero() {
			t.Errorf("after SIGKILL: %+v (last exit %v); want not running, killed by SIGKILL", o, o.LastExit)
		}
		// A stop of a failed unit is done at once; the next start
		// clears the last exit.
		if h, err := c.Stop(ctx, Halt{}); err != nil || !h.Graceful {
			t.Errorf("Stop of a failed unit = %+v, %v; want graceful", h, err)
		}
		if _, err := c.Start(ctx, Launch{}); err != nil {
			t.Fatal(err)
		}
		if o := observe(t, c); !o.Running || o.LastExit != nil {
			t.Errorf("after a new start: %+v (last exit %v); want running, no last exit", o, o.LastExit)
		}
		if _, err := c.Stop(ctx, Halt{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown unit", func(t *testing.T) {
		c := newSystemdTest(t, s, "nothere.service")
		_, err := c.Start(ctx, Launch{})
		if got, want := usererr.Message(err), "systemd has no usable unit nothere.service (it is not-found)"; got != want {
			t.Errorf("Start: %q (%v); want %q", got, err, want)
		}
		if _, err := c.Observe(ctx); usererr.CodeOf(err) != usererr.NotFound {
			t.Errorf("Observe: %v; want not found", err)
		}
	})
}

// A unit that does not end on its KillSignal is SIGKILLed by systemd after
// TimeoutStopSec: the stop says it was forced.
func TestSystemdStopForced(t *testing.T) {
	s := systemdtest.Start(t, systemdtest.Options{Units: map[string]string{
		// sleep ignores SIGWINCH.
		"stubborn.service": "[Service]\nExecStart=/bin/sleep 1000\nKillSignal=SIGWINCH\nTimeoutStopSec=300ms\n",
	}})
	c := newSystemdTest(t, s, "stubborn.service")
	ctx := context.Background()
	if _, err := c.Start(ctx, Launch{}); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	h, err := c.Stop(ctx, Halt{Deadline: time.Now().Add(100 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Forced || h.Graceful || h.KilledAt.Before(begin) || h.KilledAt.After(time.Now()) {
		t.Errorf("Stop = %+v; want forced, killed between %v and now", h, begin)
	}
	if o := observe(t, c); o.Running || len(o.Members) != 0 {
		t.Errorf("after the forced stop: %+v; want stopped, no members", o)
	}
}

// KillMode=process leaves the main process's children (here the browser of
// the session that failed to restore, and crash handlers) in the cgroup
// after a stop; Finish ends them.
func TestSystemdFinishEmptiesKillModeProcess(t *testing.T) {
	dir := standinDir(t)
	port := freeTCPPort(t)
	unit := standinUnit(t, dir, port, "process", twoSessions(t))
	s := systemdtest.Start(t, systemdtest.Options{Units: map[string]string{"whatsapp.service": unit}})
	c := newSystemdTest(t, s, "whatsapp.service")
	ctx := context.Background()
	t.Cleanup(func() {
		for pid := range procsUnder(t, dir) {
			_ = syscall.Kill(int(pid), syscall.SIGKILL)
		}
	})
	if _, err := c.Start(ctx, Launch{}); err != nil {
		t.Fatal(err)
	}
	waitRestored(t, dir, 1)
	waitObserve(t, c, "2 browsers and 4 crash handlers", 20*time.Second, func(o Observation) bool {
		b, h := roles(o.Members)
		return b == 2 && h == 4
	})
	h, err := c.Stop(ctx, Halt{Deadline: time.Now().Add(10 * time.Second)})
	if err != nil || !h.Graceful {
		t.Fatalf("Stop = %+v, %v; want graceful", h, err)
	}
	o := waitObserve(t, c, "the unit inactive with the failed session's browser left", 10*time.Second, func(o Observation) bool {
		b, _ := roles(o.Members)
		return !o.Running && b == 1
	})
	left := o.Members
	t.Logf("left in the cgroup after the stop: %d processes", len(left))
	begin := time.Now()
	if err := c.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("figure: Finish emptied the cgroup of %d processes in %v", len(left), time.Since(begin))
	if o := observe(t, c); len(o.Members) != 0 {
		t.Errorf("members after Finish: %v", o.Members)
	}
	if procs := procsUnder(t, dir); len(procs) > 0 {
		t.Errorf("processes under the stand-in's dir after Finish: %v", procs)
	}
	if err := c.Finish(ctx); err != nil {
		t.Errorf("a second Finish: %v", err)
	}
}

// The watch ends when its context does or the controller is closed.
func TestSystemdChangesEnds(t *testing.T) {
	s := systemdtest.Start(t, systemdtest.Options{Units: map[string]string{"sleeper.service": sdSleeper}})
	c := newSystemdTest(t, s, "sleeper.service")
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := c.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A start is news.
	if _, err := c.Start(context.Background(), Launch{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no change signal for the start")
	}
	ch2, err := c.Changes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitClosed(t, "the watch after its context ended", ch)
	if _, err := c.Stop(context.Background(), Halt{}); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	waitClosed(t, "the watch after Close", ch2)
	if _, err := c.Changes(context.Background()); err == nil {
		t.Error("Changes after Close = nil error")
	}
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s: the channel is not closed after 5 s", what)
		}
	}
}

// BenchmarkSystemdObserve: one Observe of a running unit (one D-Bus call
// for the properties, the cgroup's members, the main PID's mapping).
func BenchmarkSystemdObserve(b *testing.B) {
	s := systemdtest.Start(b, systemdtest.Options{Units: map[string]string{"sleeper.service": sdSleeper}})
	c := newSystemdTest(b, s, "sleeper.service")
	if _, err := c.Start(context.Background(), Launch{}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Observe(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSystemdStartStop: a Start and a Stop of a unit whose process
// starts and ends at once (sleep): what systemd and the controller add to
// the service's own time.
func BenchmarkSystemdStartStop(b *testing.B) {
	s := systemdtest.Start(b, systemdtest.Options{Units: map[string]string{"sleeper.service": sdSleeper}})
	c := newSystemdTest(b, s, "sleeper.service")
	ctx := context.Background()
	var start, stop time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := c.Start(ctx, Launch{}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := c.Stop(ctx, Halt{}); err != nil {
			b.Fatal(err)
		}
		start, stop = start+t1.Sub(t0), stop+time.Since(t1)
	}
	b.ReportMetric(float64(start.Microseconds())/float64(b.N)/1000, "start-ms/op")
	b.ReportMetric(float64(stop.Microseconds())/float64(b.N)/1000, "stop-ms/op")
}

// A bus that breaks under the controller (the bus daemon killed; systemd's
// socket starts a new one at the next connection) is reached again: by the
// next Observe, and by the watch, which then signals (changes may have been
// missed).
func TestSystemdReconnectsAfterTheBusBroke(t *testing.T) {
	s := systemdtest.Start(t, systemdtest.Options{Units: map[string]string{"sleeper.service": sdSleeper}})
	c := newSystemdTest(t, s, "sleeper.service")
	ctx := context.Background()
	if _, err := c.Start(ctx, Launch{}); err != nil {
		t.Fatal(err)
	}
	changes, err := c.Changes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	before := observe(t, c)

	procs, err := os.ReadFile(filepath.Join(s.CgroupPath("/system.slice/dbus.service"), "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	daemons := strings.Fields(string(procs))
	if len(daemons) != 1 {
		t.Fatalf("dbus.service's processes: %q; want one bus daemon", daemons)
	}
	pid, _ := strconv.Atoi(daemons[0])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bus daemon's end", 5*time.Second, func() bool { return !processAlive(ctx, int32(pid), time.Time{}) })
	drain := true
	for drain {
		select {
		case <-changes:
		default:
			drain = false
		}
	}

	var after Observation
	waitFor(t, "an Observe on a new connection", 10*time.Second, func() bool {
		after, err = c.Observe(ctx)
		return err == nil
	})
	if after.MainPID != before.MainPID || !after.Running {
		t.Errorf("after the reconnection: %+v; want the same run as before, %+v", after, before)
	}
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch sent nothing after its reconnection")
	}
	// The new watch connection works: a stop is news.
	if _, err := c.Stop(ctx, Halt{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	case <-time.After(2 * time.Second):
		t.Fatal("no change signal for the stop after the reconnection")
	}
}

// The facts read from a unit's properties, without a systemd.
func TestSystemdUnitFacts(t *testing.T) {
	tests := []struct {
		name    string
		p       unitProps
		running bool
		exit    *Exit
	}{
		{"running", unitProps{ActiveState: "active", SubState: "running"}, true, nil},
		{"starting", unitProps{ActiveState: "activating", SubState: "start"}, true, nil},
		{"reloading", unitProps{ActiveState: "reloading", SubState: "reload"}, true, nil},
		{"stopping: its processes are still there", unitProps{ActiveState: "deactivating", SubState: "stop-sigterm"}, true, nil},
		{"waiting to be restarted", unitProps{ActiveState: "activating", SubState: "auto-restart", ExecMainCode: 2, ExecMainStatus: 9},
			false, &Exit{Known: true, Code: -1, Signal: "SIGKILL"}},
		{"stopped", unitProps{ActiveState: "inactive", SubState: "dead", ExecMainCode: 1}, false, &Exit{Known: true, Code: 0}},
		{"failed", unitProps{ActiveState: "failed", SubState: "failed", ExecMainCode: 1, ExecMainStatus: 3}, false, &Exit{Known: true, Code: 3}},
		{"npm's 128+9", unitProps{ActiveState: "failed", SubState: "failed", ExecMainCode: 1, ExecMainStatus: 137}, false,
			&Exit{Known: true, Code: 137, ChildSignal: "SIGKILL"}},
		{"core dump", unitProps{ActiveState: "failed", SubState: "failed", ExecMainCode: 3, ExecMainStatus: 11}, false,
			&Exit{Known: true, Code: -1, Signal: "SIGSEGV"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.running(); got != tt.running {
				t.Errorf("running() = %v; want %v", got, tt.running)
			}
			got := tt.p.lastExit()
			if (got == nil) != (tt.exit == nil) || got != nil && *got != *tt.exit {
				t.Errorf("lastExit() = %v; want %v", got, tt.exit)
			}
		})
	}
	for slice, want := range map[string]string{"system.slice": "/system.slice", "a-b-c.slice": "/a.slice/a-b.slice/a-b-c.slice", "-.slice": "", "": ""} {
		if got := sliceCgroup(slice); got != want {
			t.Errorf("sliceCgroup(%q) = %q; want %q", slice, got, want)
		}
	}
	self := int32(os.Getpid())
	for _, tt := range []struct {
		main    int32
		members []int32
		known   bool
		want    int32
	}{
		{self, []int32{self}, true, self},  // systemd in our PID namespace: the identity
		{self, []int32{1 << 30}, true, 0},  // not a member (gone meanwhile)
		{self, nil, false, self},           // members unknown: taken as it is
		{self + 1, []int32{self}, true, 0}, // a member, but another PID
	} {
		if got := mapMainPID(tt.main, tt.members, tt.known); got != tt.want {
			t.Errorf("mapMainPID(%d, %v, %v) = %d; want %d", tt.main, tt.members, tt.known, got, tt.want)
		}
	}
}

// A bus that breaks while a stop waits for its job ends the wait at once
// with the bus unavailable, not after the job's timeouts.
func TestSystemdJobWaitEndsWhenTheBusBreaks(t *testing.T) {
	s := systemdtest.Start(t, systemdtest.Options{Units: map[string]string{
		"stubborn.service": "[Service]\nExecStart=/bin/sleep 1000\nKillSignal=SIGWINCH\nTimeoutStopSec=20\n",
	}})
	c := newSystemdTest(t, s, "stubborn.service")
	ctx := context.Background()
	if _, err := c.Start(ctx, Launch{}); err != nil {
		t.Fatal(err)
	}
	type stopped struct {
		h   Halted
		err error
		at  time.Time
	}
	done := make(chan stopped, 1)
	go func() {
		h, err := c.Stop(ctx, Halt{})
		done <- stopped{h, err, time.Now()}
	}()
	waitObserve(t, c, "the stop under way", 5*time.Second, func(o Observation) bool { return o.State == "deactivating/stop-sigterm" })
	procs, err := os.ReadFile(filepath.Join(s.CgroupPath("/system.slice/dbus.service"), "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(procs)))
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if !errors.Is(r.err, ErrControllerUnavailable) {
			t.Errorf("Stop = %+v, %v; want the bus unavailable", r.h, r.err)
		}
		if took := r.at.Sub(killed); took > 2*time.Second {
			t.Errorf("Stop returned %v after the bus broke; want within a second", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop still waits 10 s after the bus broke")
	}
	// The stop goes on in systemd (SIGKILL after TimeoutStopSec); the
	// fixture's cleanup ends it.
}

// A controller without a CgroupRoot, against a systemd in namespaces of its
// own (the fixture: its "/" is a cgroup beneath the host's mount), finds
// the root by the bus socket's peer and lists the unit's members: its main
// process as a host PID among them.
func TestSystemdFindsItsCgroupRoot(t *testing.T) {
	s := systemdtest.Start(t, systemdtest.Options{Units: map[string]string{"sleeper.service": sdSleeper}})
	ctl, err := NewSystemdController(SystemdConfig{
		Unit:       "sleeper.service",
		BusAddress: s.BusAddress(),
		Timeout:    20 * time.Second,
		Logger:     zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctl.Close() })
	c := ctl.(*systemdController)
	launched, err := c.Start(context.Background(), Launch{})
	if err != nil {
		t.Fatal(err)
	}
	conn := s.Connect(t)
	p, err := conn.GetServicePropertyContext(context.Background(), "sleeper.service", "MainPID")
	if err != nil {
		t.Fatal(err)
	}
	host, err := s.HostPID(int(p.Value.Value().(uint32)))
	if err != nil {
		t.Fatal(err)
	}
	o := observe(t, c)
	if !slices.Equal(o.Members, []int32{int32(host)}) || o.MainPID != int32(host) || launched.PID != int32(host) {
		t.Errorf("members %v, main PID %d, started PID %d; want [%d] and %d", o.Members, o.MainPID, launched.PID, host, host)
	}
	c.mu.Lock()
	root, rootErr := c.root, c.rootErr
	c.mu.Unlock()
	if root != s.Cgroup() || rootErr != nil {
		t.Errorf("cgroup root %q (%v); want the fixture's %q", root, rootErr, s.Cgroup())
	}
}

// The parts of the root's search that need no systemd: the socket path of
// a bus address, a cgroup path beneath a mount's root.
func TestSystemdRootSearchParts(t *testing.T) {
	for _, tt := range []struct {
		addr string
		path string
		ok   bool
	}{
		{"unix:path=/run/dbus/system_bus_socket", "/run/dbus/system_bus_socket", true},
		{"unix:path=/tmp/a%20b/bus,guid=x", "/tmp/a b/bus", true},
		{"tcp:host=localhost,port=1;unix:path=/b", "/b", true},
		{"unix:abstract=/tmp/dbus-x", "", false},
		{"tcp:host=localhost,port=1", "", false},
		{"unix:path=/bad%2", "", false},
	} {
		if got, ok := unixSocketPath(tt.addr); got != tt.path || ok != tt.ok {
			t.Errorf("unixSocketPath(%q) = %q, %v; want %q, %v", tt.addr, got, ok, tt.path, tt.ok)
		}
	}
	for _, tt := range []struct {
		p, root, rel string
		ok           bool
	}{
		{"/", "/", "", true},
		{"/a/b", "/", "a/b", true},
		{"/a/b", "/a", "b", true},
		{"/a", "/a", "", true},
		{"/ab", "/a", "", false},
		{"/b", "/a", "", false},
	} {
		if rel, ok := cgroupWithin(tt.p, tt.root); rel != tt.rel || ok != tt.ok {
			t.Errorf("cgroupWithin(%q, %q) = %q, %v; want %q, %v", tt.p, tt.root, rel, ok, tt.rel, tt.ok)
		}
	}
}
