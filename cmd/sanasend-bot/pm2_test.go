//go:build !windows

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/sanasend/sanasend-bot/internal/pm2"
	"github.com/sanasend/sanasend-bot/internal/pm2/pm2test"
	"github.com/sanasend/sanasend-bot/manager"
)

// The bot with a service that runs as a PM2 app (controller: pm2), on the
// real pm2 and the real stand-in, through the fake Slack.

// pm2Fixture is a serve config whose service is the PM2 app "whatsapp" of
// a PM2_HOME of the test's, registered and stopped (the bot starts it).
type pm2Fixture struct {
	serveFixture
	start  func() *botProcess
	client *pm2.Client // the test's pm2, with the app's environment
	dir    string      // the service's dir
}

// pm2Monitor has 30 s between health checks: an exit reported within 2 s
// comes from the service's exit event, not a poll.
const pm2Monitor = "monitor:\n  interval: 30s\n  timeout: 2s\n  failure_threshold: 2\n  restoration_timeout: 20s\n"

var configPort = regexp.MustCompile(`url: http://127\.0\.0\.1:(\d+)`)

// pm2Serve writes a config like restartableServe's for the service under
// PM2 (controller: pm2, pm2_app, pm2_home, pm2: the test's pm2), registers
// the stand-in as the README says (`pm2 start src/server.js --name whatsapp
// --kill-timeout 10000` in its dir), waits for its first restoration and
// stops it. Cleanup, in this order: the bot and the service stop (through a
// manager of the config, as restartableServe does; it fails the test if a
// process is left), `pm2 kill`, then SIGKILL of anything left in the dir or
// with the PM2_HOME in its environment.
func pm2Serve(t *testing.T, extra string) pm2Fixture {
	t.Helper()
	bin := pm2test.Bin(t)
	var home, dir string
	t.Cleanup(func() { killPM2Leftovers(t, home, dir) })
	home = pm2test.Home(t, bin)
	f, start := restartableServe(t, 0, extra)
	dir = filepath.Join(filepath.Dir(f.configPath), "whatsapp-service")
	data, err := os.ReadFile(f.configPath)
	if err != nil {
		t.Fatal(err)
	}
	m := configPort.FindSubmatch(data)
	if m == nil {
		t.Fatalf("no service url in the config:\n%s", data)
	}
	port, _ := strconv.Atoi(string(m[1]))
	keys := fmt.Sprintf("    stop_timeout: 15s\n    controller: pm2\n    pm2_app: whatsapp\n    pm2_home: %s\n    pm2: %s\n", home, bin)
	cfg := strings.Replace(string(data), "    stop_timeout: 5s\n", keys, 1)
	if cfg == string(data) {
		t.Fatalf("no stop_timeout to replace in the config:\n%s", data)
	}
	if err := os.WriteFile(f.configPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	tmp, err := os.MkdirTemp("", "ss") // short: the fake Chromiums' socket paths
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PM2_HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "PORT="+strconv.Itoa(port), "TMPDIR="+tmp, "RESTORE_DELAY_MS=100", "RESTORE_STEP_MS=20",
		"FOLLOWUP_MS=30", "NPM_CONFIG_UPDATE_NOTIFIER=false")
	client, err := pm2.New(pm2.Config{Bin: bin, Home: home, Env: env, Timeout: 30 * time.Second, KillTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.StartCommand(ctx, "whatsapp", dir, []string{"src/server.js"}); err != nil {
		t.Fatal(err)
	}
	waitRestorationAfter(t, dir, 0, 30*time.Second)
	if err := client.Stop(ctx, "whatsapp"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for psGrep(t, dir) != "" {
		if time.Now().After(deadline) {
			t.Fatalf("the registered app's processes are left after pm2 stop:\n%s", psGrep(t, dir))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return pm2Fixture{serveFixture: f, start: start, client: client, dir: dir}
}

// serviceLog is the service's log file in dir.
func serviceLog(dir string) string { return filepath.Join(dir, "logs", "combined.log") }

// logOffset is the length of the service's log now: restorations after it
// are of a run that begins later.
func logOffset(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile(serviceLog(dir))
	if err != nil {
		t.Fatalf("the service's log: %v", err)
	}
	return len(data)
}

// waitRestorationAfter waits until the service's log holds the end of a
// session restoration beyond byte off (a run that began after off). On a
// timeout it prints every restoration line of the whole log, its end and
// the service's processes.
func waitRestorationAfter(t *testing.T, dir string, off int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		data, _ := os.ReadFile(serviceLog(dir))
		if len(data) >= off && strings.Contains(string(data[off:]), "Session restoration complete") {
			return
		}
		if time.Now().After(deadline) {
			var restoration []string
			for _, line := range strings.Split(string(data), "\n") {
				if strings.Contains(line, "estor") || strings.Contains(line, "Starting") || strings.Contains(line, "browser") {
					restoration = append(restoration, line)
				}
			}
			t.Fatalf("no session restoration ended after byte %d of %s's log within %s; its restoration lines:\n%s\nits end:\n%s\nits processes:\n%s",
				off, dir, timeout, strings.Join(restoration, "\n"), lastLines(string(data), 30), psGrep(t, dir))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// killPM2Leftovers SIGKILLs whatever runs in dir or carries home as its
// PM2_HOME, until nothing does (10 s at most).
func killPM2Leftovers(t *testing.T, home, dir string) {
	t.Helper()
	if home == "" && dir == "" {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs, _ := process.Processes()
		var left []int32
		for _, p := range procs {
			if p.Pid == int32(os.Getpid()) {
				continue
			}
			if st, err := p.Status(); err == nil && len(st) > 0 && st[0] == process.Zombie {
				continue
			}
			cmd, _ := p.Cmdline()
			cwd, _ := p.Cwd()
			env, _ := p.Environ()
			ours := dir != "" && (strings.Contains(cmd, dir+"/") || cwd == dir || strings.HasPrefix(cwd, dir+"/"))
			for _, kv := range env {
				ours = ours || (home != "" && kv == "PM2_HOME="+home)
			}
			if ours {
				left = append(left, p.Pid)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes of the PM2 app left after cleanup: %v", left)
			return
		}
		for _, pid := range left {
			_ = syscall.Kill(int(pid), syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// answers reports whether the service answers its /health now.
func answers(t *testing.T, f pm2Fixture) bool {
	t.Helper()
	return adoptService(t, f.configPath).Health(context.Background()).OK
}

// pm2Status is the service's status through a manager of the config.
func pm2Status(t *testing.T, f pm2Fixture) manager.Status {
	t.Helper()
	st, err := adoptService(t, f.configPath).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPM2ServeRestartAndKill: with controller: pm2, the start through the
// bot is summarised; `/sanasend restart` confirmed through the fake Slack
// gives the app a new pid and says healthy; a kill -9 of PM2's main
// process, which PM2 restarts, is in the alerts channel within 2 s, as a
// restart outside the bot by PM2, not an outage.
func TestPM2ServeRestartAndKill(t *testing.T) {
	f := pm2Serve(t, pm2Monitor)
	f.start()
	began := time.Now()
	startThroughBot(t, f.serveFixture)
	summary := waitAlertSince(t, f.fake, "session restoration", began, 30*time.Second)
	if text := summary.Param("text"); !strings.Contains(text, "4 found") || !strings.Contains(text, "3 restored") {
		t.Errorf("restoration summary after the start = %q; want the stand-in's 4 found, 3 restored", text)
	}
	before := pm2Status(t, f)
	if before.State != manager.StateHealthy || before.Controller.Kind != manager.ControllerPM2 || before.Managed == nil || before.Managed.MainPID <= 0 {
		t.Fatalf("status after the start: %s, controller %+v, managed %+v; want healthy, PM2's pid", before.State, before.Controller, before.Managed)
	}
	t.Logf("alerts channel after the start:\n%s", strings.Join(alertsSince(f.fake, began), "\n"))

	// /sanasend restart, confirmed.
	restarted := time.Now()
	final := messageText(confirmedRestart(t, f.serveFixture))
	if !strings.Contains(final, "healthy") {
		t.Errorf("the restart's final message %s; want healthy", final)
	}
	after := pm2Status(t, f)
	if after.State != manager.StateHealthy || after.Managed == nil || after.Managed.MainPID <= 0 || after.Managed.MainPID == before.Managed.MainPID {
		t.Fatalf("status after the restart: %s, managed %+v; want healthy with a new pid (was %d)", after.State, after.Managed, before.Managed.MainPID)
	}
	for _, p := range before.Processes {
		if alive(p.PID) {
			t.Errorf("a process of the run before the restart is alive: %d %s", p.PID, p.Command)
		}
	}
	waitAlertsChannelN(t, f.fake, "session restoration", 2, 30*time.Second)
	t.Logf("alerts channel after the restart:\n%s", strings.Join(alertsSince(f.fake, restarted), "\n"))

	// kill -9 of node, PM2's pid: PM2 restarts it.
	main := after.Managed.MainPID
	off := logOffset(t, f.dir)
	killed := time.Now()
	if err := syscall.Kill(int(main), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	notice := waitAlertSince(t, f.fake, "restarted outside the bot", killed, 10*time.Second)
	latency := notice.At.Sub(killed)
	t.Logf("kill -9 of PM2's pid %d to the notice: %v", main, latency.Round(time.Millisecond))
	if latency > 2*time.Second {
		t.Errorf("the kill -9 was reported %v after it; want within 2 s", latency)
	}
	if text := notice.Param("text"); !strings.Contains(text, "whatsapp restarted outside the bot, by PM2") {
		t.Errorf("notice of the kill -9 = %q; want a restart outside the bot by PM2", text)
	}
	// Back: healthy under a new pid of PM2's; no outage alerted meanwhile.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := pm2Status(t, f)
		if st.State == manager.StateHealthy && st.Managed != nil && st.Managed.MainPID > 0 && st.Managed.MainPID != main {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not healthy under a new pid after PM2's restart: %s, %+v", st.State, st.Managed)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The monitor's next checks (every 30 s) are not waited for: the
	// restoration of the run PM2 started shows the exit's follow-up.
	waitRestorationAfter(t, f.dir, off, 30*time.Second)
	if got := topAlerts(f.fake, "STOPPED", killed); len(got) > 0 {
		t.Errorf("the kill -9 that PM2 restarted was alerted as an outage: %q", got[0].Param("text"))
	}
	if n := len(alertTexts(f.fake, "restarted outside the bot", killed)); n != 1 {
		t.Errorf("%d notices of the restart outside the bot; want 1", n)
	}
	t.Logf("alerts channel after the kill -9:\n%s", strings.Join(alertsSince(f.fake, killed), "\n"))
}

// pm2RestartMonitor checks every second and tolerates 4 failed checks:
// PM2's restart of the stand-in (its stop, PM2's wait for the tree, the
// start) keeps the port closed for about 2 s, which a threshold of 2 checks
// a second apart would alert as an outage, in an incident of its own.
const pm2RestartMonitor = "monitor:\n  interval: 1s\n  timeout: 1s\n  failure_threshold: 4\n  restoration_timeout: 20s\n"

// TestPM2ServeRestartOutsideOnce: `pm2 restart whatsapp` run by someone
// else is reported once in the alerts channel, as PM2's; the monitor's
// checks that follow (every second) see the uptime go back and add
// nothing.
func TestPM2ServeRestartOutsideOnce(t *testing.T) {
	f := pm2Serve(t, pm2RestartMonitor)
	f.start()
	began := time.Now()
	startThroughBot(t, f.serveFixture)
	summary := waitAlertSince(t, f.fake, "session restoration", began, 30*time.Second)
	t.Logf("the start's restoration summary: %s", summary.Param("text"))
	before := pm2Status(t, f)
	if before.Managed == nil || before.Managed.MainPID <= 0 {
		t.Fatalf("status after the start: %+v; want PM2's pid", before.Managed)
	}

	off := logOffset(t, f.dir)
	at := time.Now()
	if err := f.client.Restart(context.Background(), "whatsapp"); err != nil {
		t.Fatal(err)
	}
	notice := waitAlertSince(t, f.fake, "restarted outside the bot", at, 20*time.Second)
	t.Logf("`pm2 restart` to the notice: %v (pm2 restart returned after %v)", notice.At.Sub(at).Round(time.Millisecond), time.Since(at).Round(time.Millisecond))
	if text := notice.Param("text"); !strings.Contains(text, "whatsapp restarted outside the bot, by PM2") {
		t.Errorf("notice of `pm2 restart` = %q; want a restart outside the bot by PM2", text)
	}
	// How long the port stayed closed, for the threshold above.
	for !answers(t, f) {
		if time.Since(at) > 20*time.Second {
			t.Fatalf("not answering /health 20 s after `pm2 restart`")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("`pm2 restart` to /health answering again: %v", time.Since(at).Round(10*time.Millisecond))
	// Healthy again, then five more checks: the uptime that went back is
	// this restart, not another.
	// The restoration of the run `pm2 restart` began (counting every
	// restoration in the log failed in CI: one of an earlier run had not
	// ended). 45 s: a browser that never announces itself fails the restore
	// after the stand-in's 30 s launch timeout, and the restoration still ends.
	waitRestorationAfter(t, f.dir, off, 45*time.Second)
	waitBotChecks(t, f.base, botChecks(t, f.base)+5, 20*time.Second)
	if st := pm2Status(t, f); st.State != manager.StateHealthy || st.Managed.MainPID == before.Managed.MainPID {
		t.Errorf("status after `pm2 restart`: %s, managed %+v; want healthy under a new pid", st.State, st.Managed)
	}
	if n := len(alertTexts(f.fake, "restarted outside", at)); n != 1 {
		t.Errorf("%d notices of one `pm2 restart`; want 1: %q", n, alertTexts(f.fake, "restarted outside", at))
	}
	if got := topAlerts(f.fake, "STOPPED", at); len(got) > 0 {
		t.Errorf("`pm2 restart` was alerted as an outage: %q", got[0].Param("text"))
	}
	t.Logf("alerts channel after `pm2 restart`:\n%s", strings.Join(alertsSince(f.fake, at), "\n"))
}
