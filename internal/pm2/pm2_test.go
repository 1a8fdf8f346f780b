//go:build !windows

package pm2

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"
	"golang.org/x/sys/unix"

	"github.com/sanasend/sanasend-bot/internal/pm2/pm2test"
	copystandin "github.com/sanasend/sanasend-bot/internal/standin"
)

// These tests run the real pm2 (pm2test installs it) on a copy of the real
// Node.js stand-in (examples/whatsapp-service), started the way operators
// run the WhatsApp service under PM2: `pm2 start npm --name whatsapp --
// start`.

// standin is one copy of the stand-in with its port and environment.
type standin struct {
	dir  string
	port int
	env  []string // the pm2 CLI's environment, which the app inherits
}

// newStandin copies the stand-in into a fresh directory. Its cleanup,
// which runs after the PM2_HOME's (register it first), SIGKILLs every
// process left whose working directory or argv lies under the copy: what
// `pm2 kill` did not end.
func newStandin(t *testing.T) *standin {
	t.Helper()
	dir := copystandin.Dir(t)
	// Two sessions: one restored, one failed (whose browser the service
	// never closes): the smallest set with every kind of process.
	sessions := filepath.Join(dir, "sessions.json")
	data := `[{"session_id":"user_1_instance_main","instance_name":"main","restore":"ok","after":"ready"},` +
		`{"session_id":"user_2_instance_old","instance_name":"old","restore":"fail","reason":"undefined"}]`
	if err := os.WriteFile(sessions, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	// A short TMPDIR: the fake Chromium's socket path must fit 108 bytes.
	tmp, err := os.MkdirTemp("", "ss")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	s := &standin{dir: dir, port: port}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PM2_HOME=") {
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env,
		"PORT="+strconv.Itoa(port),
		"TMPDIR="+tmp,
		"SESSIONS_FILE="+sessions,
		"RESTORE_DELAY_MS=150",
		"RESTORE_STEP_MS=30",
		"FOLLOWUP_MS=50",
		"FAKE_CHROMIUM_CHILDREN=1",
		"NPM_CONFIG_UPDATE_NOTIFIER=false",
	)
	t.Cleanup(func() {
		for _, p := range processesUnder(dir) {
			_ = unix.Kill(int(p.pid), unix.SIGKILL)
		}
		os.RemoveAll(tmp)
	})
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newClient is a Client of a fresh PM2_HOME, for the stand-in s; kill is
// its KillTimeout.
func newClient(t *testing.T, s *standin, kill time.Duration) *Client {
	t.Helper()
	bin := pm2test.Bin(t)
	home := pm2test.Home(t, bin)
	c, err := New(Config{Bin: bin, Home: home, Env: s.env, Timeout: 30 * time.Second, KillTimeout: kill})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// proc is a process seen from the host.
type proc struct {
	pid, ppid int32
	argv      string
	cwd       string
	env       []string
}

// String names the process by its kind: for a fake Chromium, its --type
// (none: the browser) and its session.
func (p proc) String() string {
	if !isFakeChromium(p) {
		a := p.argv
		if len(a) > 60 {
			a = a[:60] + "…"
		}
		return fmt.Sprintf("%d (ppid %d) %s", p.pid, p.ppid, a)
	}
	kind, session := "browser", ""
	for _, f := range strings.Fields(p.argv) {
		if v, ok := strings.CutPrefix(f, "--type="); ok {
			kind = v
		}
		if i := strings.Index(f, "/session-"); i >= 0 && session == "" {
			session, _, _ = strings.Cut(f[i+1:], "/")
		}
	}
	return fmt.Sprintf("%d (ppid %d) fake-chromium %s of %s", p.pid, p.ppid, kind, session)
}

// processesUnder lists the live processes whose working directory or argv
// lies under dir.
func processesUnder(dir string) []proc {
	procs, err := process.Processes()
	if err != nil {
		return nil
	}
	var out []proc
	for _, p := range procs {
		argv, _ := p.Cmdline()
		cwd, _ := p.Cwd()
		if !strings.Contains(argv, dir) && cwd != dir && !strings.HasPrefix(cwd, dir+"/") {
			continue
		}
		if st, err := p.Status(); err == nil && slices.Contains(st, process.Zombie) {
			continue
		}
		ppid, _ := p.Ppid()
		env, _ := p.Environ()
		out = append(out, proc{pid: p.Pid, ppid: ppid, argv: argv, cwd: cwd, env: env})
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func healthy(port int) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// app reads the app from pm2 and fails the test when pm2 does not know it.
func app(t *testing.T, c *Client, name string) App {
	t.Helper()
	a, ok, err := c.App(context.Background(), name)
	if err != nil {
		t.Fatalf("App(%s): %v", name, err)
	}
	if !ok {
		t.Fatalf("App(%s): PM2 does not know it", name)
	}
	return a
}

// waitApp polls pm2 until cond holds for the app.
func waitApp(t *testing.T, c *Client, name, what string, timeout time.Duration, cond func(App) bool) App {
	t.Helper()
	var last App
	waitFor(t, what, timeout, func() bool {
		last = app(t, c, name)
		return cond(last)
	})
	return last
}

func exeName(pid int) string {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		if p, err := process.NewProcess(int32(pid)); err == nil {
			exe, _ = p.Exe()
		}
	}
	return filepath.Base(exe)
}

// restorationDone reports whether the stand-in logged the end of its
// session restoration at least n times (once per run).
func restorationDone(dir string, n int) bool {
	data, err := os.ReadFile(filepath.Join(dir, "logs", "combined.log"))
	return err == nil && strings.Count(string(data), "Session restoration complete") >= n
}

func isFakeChromium(p proc) bool { return strings.Contains(p.argv, "/src/fake-chromium.js") }

func TestStartStopRestartUnderPM2(t *testing.T) {
	s := newStandin(t)
	// Long enough for the stand-in to close its browsers: PM2's 1.6 s is
	// not, and its SIGKILL then ends the tree.
	c := newClient(t, s, 10*time.Second)
	ctx := context.Background()

	if err := c.Start(ctx, "whatsapp"); !errors.Is(err, ErrUnknownApp) {
		t.Errorf("Start of an app PM2 does not know = %v; want ErrUnknownApp", err)
	}
	if err := c.Stop(ctx, "whatsapp"); !errors.Is(err, ErrUnknownApp) {
		t.Errorf("Stop of an app PM2 does not know = %v; want ErrUnknownApp", err)
	}

	before := time.Now()
	if err := c.StartCommand(ctx, "whatsapp", s.dir, []string{"npm", "start"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stand-in to answer /health", 20*time.Second, func() bool { return healthy(s.port) })
	t.Logf("StartCommand to healthy: %v", time.Since(before).Round(time.Millisecond))
	a := app(t, c, "whatsapp")
	if a.Status != StatusOnline || a.PID <= 0 || a.Restarts != 0 || a.Dir != s.dir {
		t.Errorf("after StartCommand: %+v; want online, a pid, 0 restarts, dir %s", a, s.dir)
	}
	if got := exeName(a.PID); got != "node" {
		t.Errorf("the app's pid %d runs %q; want node (npm runs in node)", a.PID, got)
	}
	if a.Started.Before(before.Add(-time.Second)) || a.Started.After(time.Now()) {
		t.Errorf("Started = %v; want between %v and now", a.Started, before)
	}
	if a.KillTimeout != 10*time.Second {
		t.Errorf("KillTimeout = %v; want the 10s StartCommand gave PM2", a.KillTimeout)
	}
	if a.OutLog == "" || !strings.HasPrefix(a.OutLog, c.Home()) {
		t.Errorf("OutLog = %q; want a file under the PM2_HOME %s", a.OutLog, c.Home())
	}
	if err := c.Start(ctx, "whatsapp"); !errors.Is(err, ErrAppOnline) {
		t.Errorf("Start of the online app = %v; want ErrAppOnline", err)
	}
	if err := c.StartCommand(ctx, "whatsapp", s.dir, []string{"npm", "start"}); !errors.Is(err, ErrAppExists) {
		t.Errorf("a second StartCommand = %v; want ErrAppExists", err)
	}

	// How long a List takes (the reason callers must cache it).
	var total time.Duration
	const lists = 3
	for range lists {
		start := time.Now()
		if _, err := c.List(ctx); err != nil {
			t.Fatal(err)
		}
		total += time.Since(start)
	}
	t.Logf("pm2 jlist: %v on average over %d calls", (total / lists).Round(time.Millisecond), lists)

	waitFor(t, "the first restoration", 20*time.Second, func() bool { return restorationDone(s.dir, 1) })
	start := time.Now()
	if err := c.Restart(ctx, "whatsapp"); err != nil {
		t.Fatal(err)
	}
	restartCmd := time.Since(start)
	waitFor(t, "the stand-in to answer /health after the restart", 20*time.Second, func() bool { return healthy(s.port) })
	t.Logf("pm2 restart: the command took %v, healthy again after %v", restartCmd.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	r := app(t, c, "whatsapp")
	if r.Status != StatusOnline || r.Restarts != a.Restarts+1 || r.PID == a.PID || r.PID <= 0 || !r.Started.After(a.Started) {
		t.Errorf("after Restart: %+v; want online, restarts %d, a pid other than %d, a later start than %v", r, a.Restarts+1, a.PID, a.Started)
	}
	if a.UniqueID == "" || r.UniqueID != a.UniqueID {
		t.Errorf("UniqueID %q before the restart, %q after; want one, kept", a.UniqueID, r.UniqueID)
	}

	waitFor(t, "the second restoration", 20*time.Second, func() bool { return restorationDone(s.dir, 2) })
	start = time.Now()
	if err := c.Stop(ctx, "whatsapp"); err != nil {
		t.Fatal(err)
	}
	t.Logf("pm2 stop: %v", time.Since(start).Round(time.Millisecond))
	if logPM2Kills(t, c.Home()) {
		t.Errorf("PM2 SIGKILLed the tree despite a kill timeout of 10 s")
	}
	st := app(t, c, "whatsapp")
	if st.Status != StatusStopped || st.PID != 0 || st.Restarts != r.Restarts {
		t.Errorf("after Stop: %+v; want stopped, pid 0, restarts %d", st, r.Restarts)
	}
	if healthy(s.port) {
		t.Errorf("the stand-in still answers after Stop")
	}
	// A graceful stop: PM2's SIGINT reaches every process still below the
	// service (the failed session's browser included), and each crash
	// handler exits after its browser's clean exit.
	waitFor(t, "every process of the stand-in to end after a graceful pm2 stop", 5*time.Second, func() bool {
		return len(processesUnder(s.dir)) == 0
	})

	if err := c.Start(ctx, "whatsapp"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stand-in to answer /health after Start", 20*time.Second, func() bool { return healthy(s.port) })
	again := app(t, c, "whatsapp")
	// A stop and a start are not a restart for PM2.
	if again.Status != StatusOnline || again.PID <= 0 || again.PID == r.PID || again.Restarts != st.Restarts {
		t.Errorf("after Start of the stopped app: %+v; want online with a new pid, restarts still %d", again, st.Restarts)
	}
}

// TestCrashRestartedByPM2LeavesBrowsers: a SIGKILL of the service (node
// src/server.js, PM2's pid being npm) makes PM2 restart the app by itself,
// which the bot sees as a restart_time it did not ask for; the killed run's
// browsers, reparented away from PM2's tree, survive the restart and then
// `pm2 stop`: what the pm2 controller must end itself.
func TestCrashRestartedByPM2LeavesBrowsers(t *testing.T) {
	s := newStandin(t)
	c := newClient(t, s, 0)
	ctx := context.Background()
	if err := c.StartCommand(ctx, "whatsapp", s.dir, []string{"npm", "start"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first restoration", 20*time.Second, func() bool { return restorationDone(s.dir, 1) })
	a := app(t, c, "whatsapp")
	var server proc
	var firstBrowsers []proc
	for _, p := range processesUnder(s.dir) {
		switch {
		case strings.HasSuffix(p.argv, "node src/server.js"):
			server = p
		case isFakeChromium(p):
			firstBrowsers = append(firstBrowsers, p)
		}
	}
	if server.pid == 0 || len(firstBrowsers) == 0 {
		t.Fatalf("no service or no browser under %s: %v", s.dir, processesUnder(s.dir))
	}

	killed := time.Now()
	if err := unix.Kill(int(server.pid), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := waitApp(t, c, "whatsapp", "PM2 to restart the app by itself", 10*time.Second, func(x App) bool {
		return x.Restarts > a.Restarts && x.Status == StatusOnline && x.PID != a.PID
	})
	waitFor(t, "the restarted stand-in to answer /health", 20*time.Second, func() bool { return healthy(s.port) })
	t.Logf("SIGKILL of the service to healthy again under PM2's autorestart: %v (restart_time %d -> %d)",
		time.Since(killed).Round(time.Millisecond), a.Restarts, r.Restarts)
	waitFor(t, "the second restoration", 20*time.Second, func() bool { return restorationDone(s.dir, 2) })

	if err := c.Stop(ctx, "whatsapp"); err != nil {
		t.Fatal(err)
	}
	// Let PM2's SIGINT do what it does, then see what is left.
	var left []proc
	waitFor(t, "the stopped tree to settle", 5*time.Second, func() bool {
		left = processesUnder(s.dir)
		return !slices.ContainsFunc(left, func(p proc) bool { return !isFakeChromium(p) })
	})
	var lines []string
	for _, p := range left {
		lines = append(lines, "  "+p.String())
	}
	t.Logf("left after pm2 stop (%d):\n%s", len(left), strings.Join(lines, "\n"))
	for _, b := range firstBrowsers {
		if !slices.ContainsFunc(left, func(p proc) bool { return p.pid == b.pid }) {
			t.Errorf("the killed run's %v did not survive pm2 stop: PM2's tree kill reached it", b)
		}
	}
	if len(left) == 0 {
		t.Errorf("nothing survived pm2 stop; want the killed run's browsers")
	}
	// What finds them: PM2's variables in their environment, and their
	// working directory.
	for _, p := range left {
		for _, kv := range []string{"unique_id=" + a.UniqueID, "PM2_HOME=" + c.Home(), "name=whatsapp"} {
			if !slices.Contains(p.env, kv) {
				t.Errorf("%v: no %s in its environment", p, kv)
			}
		}
		if p.cwd != s.dir {
			t.Errorf("%v: working directory %s; want the service's %s", p, p.cwd, s.dir)
		}
	}
}

// TestKillOfPM2PIDOrphansTheService: PM2's pid for `npm start` is npm; a
// SIGKILL of it is counted as a restart, but the service below npm lives
// on, orphaned, holding the port, so every restarted copy fails and PM2
// gives up after its max_restarts while the old service still answers.
func TestKillOfPM2PIDOrphansTheService(t *testing.T) {
	s := newStandin(t)
	c := newClient(t, s, 0)
	ctx := context.Background()
	if err := c.StartCommand(ctx, "whatsapp", s.dir, []string{"npm", "start"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stand-in to answer /health", 20*time.Second, func() bool { return healthy(s.port) })
	a := app(t, c, "whatsapp")
	if err := unix.Kill(a.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := waitApp(t, c, "whatsapp", "PM2 to count a restart", 10*time.Second, func(x App) bool { return x.Restarts > a.Restarts })
	t.Logf("after SIGKILL of npm (pid %d): %s, pid %d, restart_time %d, unstable %d", a.PID, r.Status, r.PID, r.Restarts, r.UnstableRestarts)
	orphan := slices.ContainsFunc(processesUnder(s.dir), func(p proc) bool {
		return strings.HasSuffix(p.argv, "node src/server.js") && p.ppid != int32(r.PID)
	})
	if !orphan || !healthy(s.port) {
		t.Errorf("want the first run's service alive and answering after npm's SIGKILL (orphan %v): %v", orphan, processesUnder(s.dir))
	}
	e := waitApp(t, c, "whatsapp", "PM2 to give up (errored)", 30*time.Second, func(x App) bool { return x.Status == StatusErrored })
	t.Logf("PM2 gave up: %s after %d restarts (%d unstable), while the orphaned service answers: %v", e.Status, e.Restarts, e.UnstableRestarts, healthy(s.port))
}

// logPM2Kills logs what PM2's daemon says of its kills (pm2.log): whether
// the tree went at PM2's SIGINT or needed its SIGKILL after kill_timeout.
// It reports whether PM2 sent a SIGKILL.
func logPM2Kills(t *testing.T, home string) (sigkill bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(home, "pm2.log"))
	if err != nil {
		t.Fatalf("pm2.log: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "SIGKILL") || strings.Contains(line, "tree killed") || strings.Contains(line, "exited with code") {
			t.Logf("pm2.log: %s", line)
		}
		if strings.Contains(line, "sending SIGKILL") {
			sigkill = true
		}
	}
	return sigkill
}
