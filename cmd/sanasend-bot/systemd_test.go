//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/internal/fakeslack"
	"github.com/sanasend/sanasend-bot/internal/systemdtest"
)

// The bot serving a service whose controller is systemd: a real systemd
// (internal/systemdtest) runs the demo copy of the stand-in as
// whatsapp.service; the bot reaches it through DBUS_SYSTEM_BUS_ADDRESS and
// the config's controller: systemd, unit: whatsapp.service, as a host's
// bot would (the cgroup root is found, not configured).

// systemdUnitFor is a unit that runs the stand-in of the demo config at
// configPath, with that config's environment, restarted by systemd 100 ms
// after a failure.
func systemdUnitFor(t testing.TB, configPath string) string {
	t.Helper()
	data, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(configPath)
	tmp, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	var b strings.Builder
	fmt.Fprintf(&b, "[Service]\nWorkingDirectory=%s\nExecStart=/usr/bin/node src/server.js\nEnvironment=TMPDIR=%s\n",
		filepath.Join(root, "whatsapp-service"), tmp)
	// The service's env block of the demo config: `      KEY: "value"`.
	for _, m := range regexp.MustCompile(`(?m)^      ([A-Z_]+): "([^"]*)"$`).FindAllStringSubmatch(string(data), -1) {
		fmt.Fprintf(&b, "Environment=%s=%s\n", m[1], m[2])
	}
	out := filepath.Join(root, "unit-output.log")
	fmt.Fprintf(&b, "KillMode=control-group\nTimeoutStopSec=10\nRestart=on-failure\nRestartSec=100ms\n"+
		"StandardOutput=append:%s\nStandardError=append:%s\n", out, out)
	return b.String()
}

// startSystemdServe boots a systemd fixture with the stand-in as
// whatsapp.service and runs serve with the service's controller systemd.
func startSystemdServe(t *testing.T, extra string) (serveFixture, *systemdtest.Systemd) {
	t.Helper()
	var sd *systemdtest.Systemd
	f := startServeWith(t, extra, func(configPath string) {
		sd = systemdtest.Start(t, systemdtest.Options{Units: map[string]string{"whatsapp.service": systemdUnitFor(t, configPath)}})
		t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", sd.BusAddress())
		data, err := os.ReadFile(configPath)
		if err != nil {
			t.Fatal(err)
		}
		const at = "    dir: whatsapp-service\n"
		if !strings.Contains(string(data), at) {
			t.Fatalf("no %q in the demo config", at)
		}
		data = []byte(strings.Replace(string(data), at, at+"    controller: systemd\n    unit: whatsapp.service\n", 1))
		if err := os.WriteFile(configPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	return f, sd
}

// mainPID is the unit's MainPID as systemd sees it and as the host does.
func mainPID(t *testing.T, sd *systemdtest.Systemd) (ns, host int) {
	t.Helper()
	p, err := sd.Connect(t).GetServicePropertyContext(context.Background(), "whatsapp.service", "MainPID")
	if err != nil {
		t.Fatal(err)
	}
	ns = int(p.Value.Value().(uint32))
	if ns == 0 {
		return 0, 0
	}
	host, err = sd.HostPID(ns)
	if err != nil {
		t.Fatal(err)
	}
	return ns, host
}

// waitQuiet waits until no message came to the alerts channel for quiet,
// up to timeout, and returns what came since since.
func waitQuiet(t *testing.T, fake *fakeslack.Server, since time.Time, quiet, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	n, changed := -1, time.Now()
	for {
		got := alertsSince(fake, since)
		if len(got) != n {
			n, changed = len(got), time.Now()
		}
		if time.Since(changed) >= quiet {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the alerts channel did not go quiet for %s within %s: %q", quiet, timeout, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// systemdMonitor checks health every 2 s: the check that sees the service
// back after a restart comes within the 5 s of quiet waitQuiet waits for.
const systemdMonitor = "monitor:\n  interval: 2s\n  timeout: 2s\n  failure_threshold: 2\n  restoration_timeout: 20s\n"

// TestServeSystemdService: /sanasend start and restart through systemd
// (a new MainPID, healthy), the restoration summary after the start, and a
// kill -9 of the main process (systemd restarts the unit) alerted within
// 2 s from its exit, with the signal systemd recorded (a health check could
// not have failed twice by then, nor known the signal). What the alerts
// channel shows after the kill is logged, until it is quiet for 5 s.
func TestServeSystemdService(t *testing.T) {
	f, sd := startSystemdServe(t, systemdMonitor)

	begin := time.Now()
	startThroughBot(t, f)
	summary := waitAlertsChannel(t, f.fake, "session restoration", 30*time.Second)
	if text := summary.Param("text"); !strings.Contains(text, "4 found") || !strings.Contains(text, "3 restored") || summary.At.Before(begin) {
		t.Errorf("restoration summary %q at %v; want the demo's 4 found, 3 restored, after the start at %v", text, summary.At, begin)
	}
	nsBefore, _ := mainPID(t, sd)
	if nsBefore == 0 {
		t.Fatal("the unit has no main process after /sanasend start")
	}

	// /sanasend restart, confirmed: systemd runs a new main process.
	if final := messageText(confirmedRestart(t, f)); !strings.Contains(final, "healthy") {
		t.Errorf("restart answered %s; want healthy", final)
	}
	nsAfter, host := mainPID(t, sd)
	if nsAfter == 0 || nsAfter == nsBefore {
		t.Errorf("main PID %d after the restart; want a new one (was %d)", nsAfter, nsBefore)
	}
	waitAlertsChannelN(t, f.fake, "session restoration", 2, 30*time.Second)

	// kill -9 of the main process: alerted within 2 s; systemd restarts it.
	killed := time.Now()
	if err := syscall.Kill(host, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The words are the alert path's (a restart by systemd is one notice);
	// the fact that must be in them is the signal systemd recorded.
	alert := waitAlertSince(t, f.fake, "SIGKILL", killed, 10*time.Second)
	t.Logf("figure: kill -9 of the unit's main process to its alert: %v", alert.At.Sub(killed))
	if latency := alert.At.Sub(killed); latency > 2*time.Second {
		t.Errorf("alert %q %v after the kill; want within 2 s", alert.Param("text"), latency)
	}
	afterKill := waitQuiet(t, f.fake, killed, 5*time.Second, 60*time.Second)
	t.Logf("alerts channel after the kill -9 (systemd restarts the unit; %d messages):\n%s", len(afterKill), strings.Join(afterKill, "\n"))
}

// TestServeSystemdRestartOutside: a restart of the unit outside the bot
// (systemctl restart: RestartUnit over the test's own connection) is
// reported in the alerts channel. What the channel shows is logged, until
// it is quiet for 5 s.
func TestServeSystemdRestartOutside(t *testing.T) {
	f, sd := startSystemdServe(t, systemdMonitor)
	startThroughBot(t, f)
	waitAlertsChannel(t, f.fake, "session restoration", 30*time.Second)
	ns, _ := mainPID(t, sd)

	outside := time.Now()
	done := make(chan string, 1)
	if _, err := sd.Connect(t).RestartUnitContext(context.Background(), "whatsapp.service", "replace", done); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r != "done" {
		t.Fatalf("RestartUnit: job %s", r)
	}
	if now, _ := mainPID(t, sd); now == ns || now == 0 {
		t.Fatalf("main PID %d after RestartUnit; want a new one (was %d)", now, ns)
	}
	got := waitQuiet(t, f.fake, outside, 5*time.Second, 60*time.Second)
	t.Logf("alerts channel after a restart outside the bot (%d messages):\n%s", len(got), strings.Join(got, "\n"))
	if len(got) == 0 || !strings.Contains(got[0], "systemd") {
		t.Errorf("alerts channel after a restart outside the bot: %q; want it reported, naming systemd", got)
	}
}
