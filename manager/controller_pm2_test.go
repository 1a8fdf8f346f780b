//go:build !windows

package manager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"github.com/shirou/gopsutil/v4/process"
	"golang.org/x/sys/unix"

	"github.com/sanasend/sanasend-bot/internal/pm2"
	"github.com/sanasend/sanasend-bot/internal/pm2/pm2test"
	"github.com/sanasend/sanasend-bot/internal/standin"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// The PM2 controller's tests run the real pm2 (pm2test installs it, a
// PM2_HOME per test, `pm2 kill` in cleanup) on copies of the real stand-in,
// registered the way operators run the WhatsApp service under PM2: `pm2
// start npm --name whatsapp -- start`.

func TestNewPM2ControllerValidates(t *testing.T) {
	client, err := pm2.New(pm2.Config{Home: "/srv/pm2home"})
	if err != nil {
		t.Fatal(err)
	}
	ok := PM2Config{App: "whatsapp", Client: client, Dir: "/srv/whatsapp-service"}
	for _, tc := range []struct {
		name   string
		mutate func(*PM2Config)
		want   string // "" means valid
	}{
		{"valid", func(*PM2Config) {}, ""},
		{"no app", func(c *PM2Config) { c.App = "" }, "no app name"},
		{"an app that is a number", func(c *PM2Config) { c.App = "0" }, "must not be a number"},
		{"all", func(c *PM2Config) { c.App = "all" }, `"all" names every app`},
		{"an option", func(c *PM2Config) { c.App = "--force" }, "must not begin with '-'"},
		{"no client", func(c *PM2Config) { c.Client = nil }, "a pm2 client is required"},
		{"no dir", func(c *PM2Config) { c.Dir = "" }, "is not an absolute path"},
		{"a relative dir", func(c *PM2Config) { c.Dir = "whatsapp-service" }, "is not an absolute path"},
		{"a negative cache", func(c *PM2Config) { c.Cache = -time.Second }, "cache -1s is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mutate(&cfg)
			ctl, err := NewPM2Controller(cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("NewPM2Controller: %v", err)
				}
				want := ControllerInfo{Kind: ControllerPM2, Target: "whatsapp", Tree: TreePM2}
				if got := ctl.Info(); got != want {
					t.Errorf("Info() = %+v; want %+v", got, want)
				}
				if got := ctl.(*pm2Controller).cache; got != DefaultPM2Cache {
					t.Errorf("cache = %v; want the default %v", got, DefaultPM2Cache)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewPM2Controller = %v; want an error with %q", err, tc.want)
			}
		})
	}
}

func TestPM2IdentityMatch(t *testing.T) {
	id := pm2Identity{home: "/srv/pm2home", app: "whatsapp"}
	for _, tc := range []struct {
		name      string
		home, app string
		hasID     bool
		want      bool
	}{
		{"the app's process", "/srv/pm2home", "whatsapp", true, true},
		{"a home written with a trailing slash", "/srv/pm2home/", "whatsapp", true, true},
		{"the daemon or the pm2 command (PM2_HOME only)", "/srv/pm2home", "", false, false},
		{"a shell that happens to have name=whatsapp", "/srv/pm2home", "whatsapp", false, false},
		{"another app of the same home", "/srv/pm2home", "decoy", true, false},
		{"the same app name in another home", "/home/other/.pm2", "whatsapp", true, false},
		{"no PM2_HOME", "", "whatsapp", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := id.match(tc.home, tc.app, tc.hasID); got != tc.want {
				t.Errorf("match(%q, %q, %v) = %v; want %v", tc.home, tc.app, tc.hasID, got, tc.want)
			}
		})
	}
}

func TestPM2Members(t *testing.T) {
	const dir = "/srv/whatsapp-service"
	roots := []string{dir, "/data/whatsapp-service"} // as configured, and the link resolved
	// A host: PM2's daemon (10) running the app (npm 20 > sh 21 > node 22 >
	// browser 23 > renderer 24) and a decoy app (30 > 31, its browser 32
	// under its own dir); orphans of an earlier run, by environment (40,
	// 41 its child) and by profile only (50 a browser whose environment
	// was not readable, 51 its crash handler by --database, 52 a Chromium
	// under the resolved dir); the bot (60, whose parent 59 carries the
	// app's identity: never a member), unrelated processes.
	procs := []pm2Proc{
		{pid: 10, ppid: 1, daemon: true},
		{pid: 20, ppid: 10, ident: true},
		{pid: 21, ppid: 20, ident: true},
		{pid: 22, ppid: 21},
		{pid: 23, ppid: 22, profile: dir + "/.wwebjs_auth/session-a"},
		{pid: 24, ppid: 23, profile: dir + "/.wwebjs_auth/session-a"},
		{pid: 30, ppid: 10},
		{pid: 31, ppid: 30},
		{pid: 32, ppid: 31, profile: "/srv/decoy/.wwebjs_auth/session-a"},
		{pid: 33, ppid: 1, profile: "/srv/whatsapp-service-copy/.wwebjs_auth/session-a"},
		{pid: 40, ppid: 1, ident: true},
		{pid: 41, ppid: 40},
		{pid: 50, ppid: 1, profile: dir + "/.wwebjs_auth/session-b"},
		{pid: 51, ppid: 1, profile: dir + "/.wwebjs_auth/session-b/Crash Reports"},
		{pid: 52, ppid: 1, profile: "/data/whatsapp-service/.wwebjs_auth/session-c"},
		{pid: 53, ppid: 1, profile: "relative/.wwebjs_auth/session-d"},
		{pid: 59, ppid: 1, ident: true},
		{pid: 60, ppid: 59},
		{pid: 61, ppid: 60, ident: true}, // a child of the bot's that the bot did not exclude itself
		{pid: 70, ppid: 1},
	}
	self := map[int32]bool{60: true, 59: true}
	for _, tc := range []struct {
		name string
		main int32
		want []int32
	}{
		{"running", 20, []int32{20, 21, 22, 23, 24, 40, 41, 50, 51, 52, 61}},
		{"stopped: the leftovers only", 0, []int32{20, 21, 22, 23, 24, 40, 41, 50, 51, 52, 61}},
		{"PM2's pid that carries nothing", 30, []int32{20, 21, 22, 23, 24, 30, 31, 32, 40, 41, 50, 51, 52, 61}},
		{"PM2's pid is the daemon (never)", 10, []int32{20, 21, 22, 23, 24, 40, 41, 50, 51, 52, 61}},
		{"PM2's pid is gone", 99, []int32{20, 21, 22, 23, 24, 40, 41, 50, 51, 52, 61}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pm2Members(procs, tc.main, roots, self)
			if !slices.Equal(got, tc.want) {
				t.Errorf("pm2Members(main %d) = %v; want %v", tc.main, got, tc.want)
			}
		})
	}
}

func TestPM2LogSaysKilled(t *testing.T) {
	// The lines pm2 7.0.4 writes to pm2.log during a stop.
	graceful := "2026-12-04T21:40:01: PM2 log: Stopping app:whatsapp id:0\n" +
		"2026-12-04T21:40:01: PM2 log: App [whatsapp:0] exited with code [0] via signal [SIGINT]\n" +
		"2026-12-04T21:40:01: PM2 log: pid=4242 msg=process tree killed (9 pids)\n"
	forced := "2026-12-04T21:40:02: PM2 log: Stopping app:whatsapp id:0\n" +
		"2026-12-04T21:40:04: PM2 log: Process with pid 4242 still alive after 1600ms, sending SIGKILL to 3 remaining pids...\n" +
		"2026-12-04T21:40:04: PM2 log: pid=4242 msg=process tree killed (9 pids)\n"
	other := strings.ReplaceAll(forced, "4242", "42421")
	for _, tc := range []struct {
		name    string
		before  string // in the log before the stop
		after   string // appended during it
		rotated bool   // the log was truncated meanwhile
		want    bool
	}{
		{"graceful", forced, graceful, false, false},
		{"forced", graceful, forced, false, true},
		{"another pid's kill", "", other, false, false},
		{"an earlier kill before the offset", forced, graceful, false, false},
		{"rotated during the stop", graceful + graceful + graceful, forced, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pm2.log")
			if err := os.WriteFile(path, []byte(tc.before), 0o644); err != nil {
				t.Fatal(err)
			}
			off := int64(len(tc.before))
			data := tc.before + tc.after
			if tc.rotated {
				data = tc.after
			}
			if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := pm2LogSaysKilled(path, off, 4242)
			if err != nil || got != tc.want {
				t.Errorf("pm2LogSaysKilled = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if _, err := pm2LogSaysKilled(filepath.Join(t.TempDir(), "none.log"), 0, 4242); err == nil {
		t.Errorf("pm2LogSaysKilled of a missing log: no error")
	}
}

// pm2App is one copy of the stand-in registered as a PM2 app.
type pm2App struct {
	name   string
	dir    string
	port   int
	client *pm2.Client // with the app's environment: the app inherits it
}

// pm2Host is a PM2_HOME of the test's with its pm2.
type pm2Host struct {
	bin, home string
}

// newPM2Host installs pm2 when needed and makes a PM2_HOME, after copying
// the stand-in for each of names (dirs first: their removal must come after
// every process in them ended). Cleanup, in this order: pm2 kill (which
// ends every app of the home and its daemon), then SIGKILL of whatever
// carries the home in its environment or runs in one of the copies.
func newPM2Host(t testing.TB, names ...string) (*pm2Host, []*pm2App) {
	t.Helper()
	requireNode(t)
	var apps []*pm2App
	for _, name := range names {
		apps = append(apps, &pm2App{name: name, dir: standin.Dir(t), port: freeTCPPort(t)})
	}
	h := &pm2Host{bin: pm2test.Bin(t)}
	t.Cleanup(func() {
		var dirs []string
		for _, a := range apps {
			dirs = append(dirs, a.dir)
		}
		killPM2Leftovers(t, h.home, dirs)
	})
	h.home = pm2test.Home(t, h.bin)
	for _, a := range apps {
		a.client = h.client(t, a)
	}
	return h, apps
}

// client is a pm2 client of the home with a's environment: its port, two
// sessions (one restored, one failed), fast timings, one child per fake
// Chromium, a short TMPDIR (socket paths), PM2's kill_timeout of 10 s.
func (h *pm2Host) client(t testing.TB, a *pm2App) *pm2.Client {
	t.Helper()
	sessions := twoSessions(t)["SESSIONS_FILE"]
	tmp, err := os.MkdirTemp("", "ss")
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
	env = append(env, "PORT="+strconv.Itoa(a.port), "TMPDIR="+tmp, "SESSIONS_FILE="+sessions,
		"RESTORE_DELAY_MS=150", "RESTORE_STEP_MS=30", "FOLLOWUP_MS=50", "FAKE_CHROMIUM_CHILDREN=1",
		"NPM_CONFIG_UPDATE_NOTIFIER=false")
	c, err := pm2.New(pm2.Config{Bin: h.bin, Home: h.home, Env: env, Timeout: 30 * time.Second, KillTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// register runs `pm2 start npm --name <app> --cwd <dir> -- start` and waits
// for the app's first session restoration (its browsers all exist then).
func (a *pm2App) register(t testing.TB) {
	t.Helper()
	if err := a.client.StartCommand(context.Background(), a.name, a.dir, []string{"npm", "start"}); err != nil {
		t.Fatal(err)
	}
	a.waitRestored(t, 1)
}

// waitRestored waits until the app answers /health and logged the end of
// its n-th session restoration.
func (a *pm2App) waitRestored(t testing.TB, n int) {
	t.Helper()
	waitFor(t, a.name+" to answer /health", 20*time.Second, func() bool { return answersHealth(a.port) })
	waitFor(t, fmt.Sprintf("%s's restoration #%d", a.name, n), 20*time.Second, func() bool {
		data, err := os.ReadFile(filepath.Join(a.dir, "logs", "combined.log"))
		return err == nil && strings.Count(string(data), "Session restoration complete") >= n
	})
}

func answersHealth(port int) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// hostProc is a live process as the test sees it.
type hostProc struct {
	pid, ppid int32
	argv, cwd string
	env       []string
}

func (p hostProc) String() string {
	a := p.argv
	if i := strings.Index(a, "/src/fake-chromium.js"); i >= 0 {
		kind := "browser"
		for _, f := range strings.Fields(a) {
			if v, ok := strings.CutPrefix(f, "--type="); ok {
				kind = v
			}
		}
		a = "fake-chromium " + kind
	} else if len(a) > 50 {
		a = a[:50] + "…"
	}
	return fmt.Sprintf("%d(ppid %d) %s", p.pid, p.ppid, a)
}

func (p hostProc) chromium() bool { return strings.Contains(p.argv, "/src/fake-chromium.js") }

func (p hostProc) crashHandler() bool {
	return p.chromium() && strings.Contains(p.argv, "--type=crashpad-handler")
}

// hostProcsUnder lists the live processes whose working directory or argv
// lies under dir.
func hostProcsUnder(dir string) []hostProc {
	return hostProcsWhere(func(p hostProc) bool {
		return strings.Contains(p.argv, dir+"/") || p.cwd == dir || strings.HasPrefix(p.cwd, dir+"/")
	})
}

func hostProcsWhere(keep func(hostProc) bool) []hostProc {
	procs, err := process.Processes()
	if err != nil {
		return nil
	}
	var out []hostProc
	for _, p := range procs {
		if st, err := p.Status(); err == nil && slices.Contains(st, process.Zombie) {
			continue
		}
		argv, _ := p.Cmdline()
		cwd, _ := p.Cwd()
		env, _ := p.Environ()
		ppid, _ := p.Ppid()
		hp := hostProc{pid: p.Pid, ppid: ppid, argv: argv, cwd: cwd, env: env}
		if keep(hp) {
			out = append(out, hp)
		}
	}
	return out
}

// killPM2Leftovers SIGKILLs every process that carries home in its
// environment or runs under one of dirs, until none is left.
func killPM2Leftovers(t testing.TB, home string, dirs []string) {
	t.Helper()
	left := func() []hostProc {
		return hostProcsWhere(func(p hostProc) bool {
			if home != "" && slices.Contains(p.env, "PM2_HOME="+home) {
				return true
			}
			return slices.ContainsFunc(dirs, func(d string) bool {
				return strings.Contains(p.argv, d+"/") || p.cwd == d || strings.HasPrefix(p.cwd, d+"/")
			})
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs := left()
		if len(procs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes left after cleanup: %v", procs)
			return
		}
		for _, p := range procs {
			if p.pid > 1 && p.pid != int32(os.Getpid()) {
				_ = unix.Kill(int(p.pid), unix.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pm2Observer observes a controller with a fake clock: every look first
// lets the cache expire.
type pm2Observer struct {
	t     *testing.T
	ctl   *pm2Controller
	clock *clockwork.FakeClock
}

func newPM2Observer(t *testing.T, a *pm2App, cache time.Duration) *pm2Observer {
	t.Helper()
	clock := clockwork.NewFakeClock()
	ctl, err := NewPM2Controller(PM2Config{App: a.name, Client: a.client, Dir: a.dir, Cache: cache, Clock: clock,
		Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	return &pm2Observer{t: t, ctl: ctl.(*pm2Controller), clock: clock}
}

// fresh observes after the cache expired.
func (o *pm2Observer) fresh() Observation {
	o.t.Helper()
	o.clock.Advance(o.ctl.cache)
	obs, err := o.ctl.Observe(context.Background())
	if err != nil {
		o.t.Fatalf("Observe: %v", err)
	}
	return obs
}

// waitObs observes until cond holds.
func (o *pm2Observer) waitObs(what string, timeout time.Duration, cond func(Observation) bool) Observation {
	o.t.Helper()
	var last Observation
	waitFor(o.t, what, timeout, func() bool {
		last = o.fresh()
		return cond(last)
	})
	return last
}

// missing lists the pids of procs that are not in members.
func missing(procs []hostProc, members []int32) []hostProc {
	var out []hostProc
	for _, p := range procs {
		if !slices.Contains(members, p.pid) {
			out = append(out, p)
		}
	}
	return out
}

func TestPM2ControllerLifecycle(t *testing.T) {
	_, apps := newPM2Host(t, "whatsapp", "decoy")
	app, decoy := apps[0], apps[1]
	// Both apps at once: the stand-ins restore their sessions together.
	for _, a := range apps {
		if err := a.client.StartCommand(context.Background(), a.name, a.dir, []string{"npm", "start"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range apps {
		a.waitRestored(t, 1)
	}
	o := newPM2Observer(t, app, 500*time.Millisecond)
	ctl, ctx := o.ctl, context.Background()

	decoyMembers := func(members []int32) []hostProc {
		var out []hostProc
		for _, p := range hostProcsUnder(decoy.dir) {
			if slices.Contains(members, p.pid) {
				out = append(out, p)
			}
		}
		return out
	}

	// Running: PM2's pid and everything under the dir, browsers and crash
	// handlers included; nothing of the decoy's.
	start := time.Now()
	obs, err := ctl.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	uncached := time.Since(start)
	start = time.Now()
	if _, err := ctl.Observe(ctx); err != nil {
		t.Fatal(err)
	}
	cached := time.Since(start)
	t.Logf("Observe: %v with a jlist, %v from the cache (the process table read each time); %d members",
		uncached.Round(time.Millisecond), cached.Round(100*time.Microsecond), len(obs.Members))
	pa, _, err := app.client.App(ctx, app.name)
	if err != nil {
		t.Fatal(err)
	}
	if !obs.Managed || !obs.Running || obs.State != "online" || obs.MainPID != int32(pa.PID) || obs.MainPID <= 0 ||
		obs.Restarts != 0 || obs.Since.IsZero() || !obs.Since.Equal(pa.Started) {
		t.Fatalf("Observe of the online app = %+v; want managed, running, online, MainPID %d, 0 restarts, Since %v", obs, pa.PID, pa.Started)
	}
	if !processAlive(ctx, obs.MainPID, time.Time{}) {
		t.Errorf("MainPID %d is not alive", obs.MainPID)
	}
	under := hostProcsUnder(app.dir)
	if n := len(slices.DeleteFunc(slices.Clone(under), func(p hostProc) bool { return !p.crashHandler() })); n < 2 {
		t.Fatalf("%d crash handlers under %s; want some: %v", n, app.dir, under)
	}
	if m := missing(under, obs.Members); len(m) > 0 {
		t.Errorf("processes of the app that are not members: %v", m)
	}
	if d := decoyMembers(obs.Members); len(d) > 0 {
		t.Errorf("the decoy's processes are members: %v", d)
	}
	for _, pid := range obs.Members {
		if !slices.ContainsFunc(under, func(p hostProc) bool { return p.pid == pid }) {
			t.Errorf("member %d is not a process of the app (its dir or argv): %v", pid, hostProcsWhere(func(p hostProc) bool { return p.pid == pid }))
		}
	}

	// kill -9 of PM2's pid (npm): PM2 restarts the app. The killed run's
	// service (orphaned, holding the port, so that PM2's new runs fail) and
	// browsers live on.
	firstRun := hostProcsUnder(app.dir)
	if err := unix.Kill(int(obs.MainPID), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	restarted := o.waitObs("PM2 to restart the app", 10*time.Second, func(x Observation) bool {
		return x.Restarts > obs.Restarts && x.MainPID > 0 && x.MainPID != obs.MainPID
	})
	// PM2 records the kill -9 as exit code 0 (unknown: nil); a restarted
	// run that failed on the port meanwhile exited 1.
	if x := restarted.LastExit; x != nil && *x != (Exit{Known: true, Code: 1}) {
		t.Errorf("LastExit after a kill -9 = %+v; want unknown, or the code 1 of a run that failed on the port", *x)
	}
	t.Logf("kill -9 of PM2's pid %d: Observe saw restart_time %d, pid %d (%s) after %v", obs.MainPID,
		restarted.Restarts, restarted.MainPID, restarted.State, time.Since(killed).Round(time.Millisecond))

	// Stop: PM2 says stopped; the first run's processes (but npm) are
	// still alive, every one of them a member; the decoy's are not.
	before := ctl.lists.Load()
	start = time.Now()
	halted, err := ctl.Stop(ctx, Halt{Deadline: time.Now().Add(15 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop (a restart loop): %v, %+v", time.Since(start).Round(time.Millisecond), halted)
	stopped, err := ctl.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ctl.lists.Load() != before+2 {
		t.Errorf("%d jlists for the Stop and the Observe after it; want two (Stop reads PM2's pid; it drops the cache, refilled by Observe)", ctl.lists.Load()-before)
	}
	if stopped.Running || stopped.State != "stopped" || stopped.MainPID != 0 || !stopped.Since.IsZero() {
		t.Errorf("Observe after Stop = %+v; want stopped, no MainPID, no Since", stopped)
	}
	var orphans []hostProc
	for _, p := range hostProcsUnder(app.dir) {
		if slices.ContainsFunc(firstRun, func(f hostProc) bool { return f.pid == p.pid }) {
			orphans = append(orphans, p)
		}
	}
	chromiums := slices.DeleteFunc(slices.Clone(orphans), func(p hostProc) bool { return !p.chromium() })
	if !slices.ContainsFunc(chromiums, hostProc.crashHandler) || !slices.ContainsFunc(chromiums, func(p hostProc) bool { return !p.crashHandler() }) {
		t.Errorf("after kill -9 of npm and pm2 stop, the first run's browsers and crash handlers should be alive: %v", orphans)
	}
	if m := missing(hostProcsUnder(app.dir), stopped.Members); len(m) > 0 {
		t.Errorf("leftovers after Stop that are not members (the Service would not end them): %v", m)
	}
	if d := decoyMembers(stopped.Members); len(d) > 0 {
		t.Errorf("the decoy's processes are members after Stop: %v", d)
	}
	t.Logf("after Stop: %d leftovers, all members: %v", len(orphans), orphans)

	// What the Service does with them: end the members. The decoy lives.
	for _, pid := range stopped.Members {
		_ = unix.Kill(int(pid), unix.SIGKILL)
	}
	waitFor(t, "the leftovers to end", 5*time.Second, func() bool { return len(hostProcsUnder(app.dir)) == 0 })
	if !answersHealth(decoy.port) || len(hostProcsUnder(decoy.dir)) == 0 {
		t.Errorf("the decoy did not survive the end of the app's leftovers")
	}

	// Start: PM2's new pid, running, healthy.
	logPath := filepath.Join(app.dir, "logs", "combined.log")
	runs := strings.Count(string(must(os.ReadFile(logPath))), "Session restoration complete")
	start = time.Now()
	launched, err := ctl.Start(ctx, Launch{})
	if err != nil {
		t.Fatal(err)
	}
	startTook := time.Since(start)
	app.waitRestored(t, runs+1)
	t.Logf("Start: %v (pm2 start and two jlists), healthy and restored after %v", startTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	again := o.fresh()
	if launched.PID <= 0 || launched.PID != again.MainPID || !again.Running || again.State != "online" || launched.Wait != nil {
		t.Errorf("Start = %+v, then Observe = %+v; want PM2's pid, running", launched, again)
	}
	if m := missing(hostProcsUnder(app.dir), again.Members); len(m) > 0 {
		t.Errorf("processes of the started app that are not members: %v", m)
	}

	// A stop within PM2's kill_timeout (10 s) is graceful; the stand-in
	// closes its browsers: nothing is left. The service's own time: until
	// the last process of PM2's tree (PM2's pid and its descendants, the
	// processes PM2 waits for) is gone.
	procs := hostProcsUnder(app.dir)
	tree := []int32{again.MainPID}
	for grew := true; grew; {
		grew = false
		for _, p := range procs {
			if slices.Contains(tree, p.ppid) && !slices.Contains(tree, p.pid) {
				tree, grew = append(tree, p.pid), true
			}
		}
	}
	treeGone := make(chan time.Time, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		for watchCtx.Err() == nil && slices.ContainsFunc(tree, func(pid int32) bool { return processAlive(watchCtx, pid, time.Time{}) }) {
			time.Sleep(5 * time.Millisecond)
		}
		treeGone <- time.Now()
	}()
	start = time.Now()
	halted, err = ctl.Stop(ctx, Halt{Deadline: time.Now().Add(15 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	stopTook := time.Since(start)
	own := (<-treeGone).Sub(start)
	t.Logf("Stop (graceful): %v; PM2's tree of %d processes gone after %v: the controller's share %v", stopTook.Round(time.Millisecond),
		len(tree), own.Round(time.Millisecond), (stopTook - own).Round(time.Millisecond))
	if !halted.Graceful || halted.Forced || !halted.KilledAt.IsZero() {
		t.Errorf("Stop = %+v; want graceful", halted)
	}
	waitFor(t, "nothing left of the app after a graceful stop", 5*time.Second, func() bool { return len(hostProcsUnder(app.dir)) == 0 })
	st := o.fresh()
	if st.Running || st.State != "stopped" || len(st.Members) != 0 {
		t.Errorf("Observe after a graceful stop = %+v; want stopped, no member", st)
	}
	if !answersHealth(decoy.port) {
		t.Errorf("the decoy stopped answering")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestPM2ControllerCache: Observe runs one jlist per cfg.Cache, shared by
// concurrent callers; Start and Stop drop it.
func TestPM2ControllerCache(t *testing.T) {
	_, apps := newPM2Host(t, "whatsapp")
	app := apps[0]
	app.register(t)
	const cache = 2 * time.Second
	o := newPM2Observer(t, app, cache)
	ctl, ctx := o.ctl, context.Background()
	observe := func() Observation {
		t.Helper()
		obs, err := ctl.Observe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return obs
	}
	lists := func(want int64, what string) {
		t.Helper()
		if got := ctl.lists.Load(); got != want {
			t.Errorf("%s: %d jlists so far; want %d", what, got, want)
		}
	}
	first := observe()
	lists(1, "the first Observe")
	o.clock.Advance(cache - time.Millisecond)
	second := observe()
	lists(1, "a second Observe within the cache's life")
	if second.MainPID != first.MainPID || second.Restarts != first.Restarts {
		t.Errorf("the cached Observe = %+v; want the first's %+v", second, first)
	}
	o.clock.Advance(time.Millisecond)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ctl.Observe(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	lists(2, "three concurrent Observes once the cache expired")

	// Stop reads PM2's pid anew and drops the cache (the clock has not
	// moved).
	if _, err := ctl.Stop(ctx, Halt{}); err != nil {
		t.Fatal(err)
	}
	n := ctl.lists.Load()
	lists(3, "Stop with a fresh cache")
	if obs := observe(); obs.Running || obs.State != "stopped" {
		t.Errorf("Observe right after Stop = %+v; want stopped (a fresh jlist)", obs)
	}
	lists(n+1, "Observe after Stop")
	if _, err := ctl.Start(ctx, Launch{}); err != nil {
		t.Fatal(err)
	}
	n = ctl.lists.Load()
	if obs := observe(); !obs.Running {
		t.Errorf("Observe right after Start = %+v; want running", obs)
	}
	lists(n, "Observe after Start (Start's own jlist is fresh)")
}

// TestPM2ControllerErrors: an app PM2 does not know gets a safe message
// saying how to register it; a pm2 that cannot be run is
// ErrControllerUnavailable.
func TestPM2ControllerErrors(t *testing.T) {
	h, apps := newPM2Host(t, "nosuch")
	app := apps[0]
	ctx := context.Background()
	ctl, err := NewPM2Controller(PM2Config{App: "nosuch", Client: app.client, Dir: app.dir})
	if err != nil {
		t.Fatal(err)
	}
	want := "PM2 (PM2_HOME " + h.home + ") has no app called nosuch: register it once, in " + app.dir +
		", with `PM2_HOME=" + h.home + " pm2 start <the script npm start runs> --name nosuch --kill-timeout 10000`, then `pm2 save`"
	_, errObserve := ctl.Observe(ctx)
	_, errStart := ctl.Start(ctx, Launch{})
	_, errStop := ctl.Stop(ctx, Halt{})
	for what, err := range map[string]error{"Observe": errObserve, "Start": errStart, "Stop": errStop} {
		if !errors.Is(err, pm2.ErrUnknownApp) || usererr.Message(err) != want || errors.Is(err, ErrControllerUnavailable) {
			t.Errorf("%s of an unknown app = %v (shown: %q); want ErrUnknownApp shown as %q", what, err, usererr.Message(err), want)
		}
	}

	missingBin, err := pm2.New(pm2.Config{Bin: filepath.Join(t.TempDir(), "pm2"), Home: h.home})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err = NewPM2Controller(PM2Config{App: "whatsapp", Client: missingBin, Dir: app.dir})
	if err != nil {
		t.Fatal(err)
	}
	_, errObserve = ctl.Observe(ctx)
	_, errStart = ctl.Start(ctx, Launch{})
	_, errStop = ctl.Stop(ctx, Halt{})
	for what, err := range map[string]error{"Observe": errObserve, "Start": errStart, "Stop": errStop} {
		msg := usererr.Message(err)
		if !errors.Is(err, ErrControllerUnavailable) || usererr.CodeOf(err) != usererr.Unavailable || !strings.Contains(msg, "pm2") {
			t.Errorf("%s with a missing pm2 = %v (shown: %q); want ErrControllerUnavailable with a safe message", what, err, msg)
		}
	}
	t.Logf("shown for a missing pm2: %q", usererr.Message(errObserve))

	// A caller's cancellation is its own, not the controller's
	// unavailability.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	ctl, err = NewPM2Controller(PM2Config{App: "nosuch", Client: app.client, Dir: app.dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Observe(cancelled); !errors.Is(err, context.Canceled) || errors.Is(err, ErrControllerUnavailable) {
		t.Errorf("Observe with a cancelled ctx = %v; want context.Canceled, not unavailable", err)
	}
}

// TestPM2ControllerForcedStop: an app that ignores PM2's SIGINT is
// SIGKILLed by PM2 after its kill_timeout, and Stop says so (pm2.log).
func TestPM2ControllerForcedStop(t *testing.T) {
	h, apps := newPM2Host(t, "stubborn")
	app := apps[0]
	const kill = 300 * time.Millisecond
	client, err := pm2.New(pm2.Config{Bin: h.bin, Home: h.home, Timeout: 30 * time.Second, KillTimeout: kill})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A node that ignores SIGINT, in the app's dir (its cwd: the cleanup
	// finds it there).
	script := "process.on('SIGINT', () => {}); setInterval(() => {}, 1000)"
	if err := client.StartCommand(ctx, app.name, app.dir, []string{"node", "-e", script}); err != nil {
		t.Fatal(err)
	}
	ctl, err := NewPM2Controller(PM2Config{App: app.name, Client: client, Dir: app.dir,
		Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	var obs Observation
	waitFor(t, "the app to run", 10*time.Second, func() bool {
		obs, err = ctl.Observe(ctx)
		return err == nil && obs.Running && obs.MainPID > 0
	})
	began := time.Now()
	halted, err := ctl.Stop(ctx, Halt{Deadline: time.Now().Add(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("forced Stop: %v, %+v", time.Since(began).Round(time.Millisecond), halted)
	if !halted.Forced || halted.Graceful || halted.KilledAt.Before(began.Add(kill-50*time.Millisecond)) || halted.KilledAt.After(time.Now()) {
		t.Errorf("Stop of an app that ignores SIGINT = %+v; want forced, killed %v after %v", halted, kill, began)
	}
	if processAlive(ctx, obs.MainPID, time.Time{}) {
		t.Errorf("the app's pid %d is alive after the forced stop", obs.MainPID)
	}
}

// TestPM2ControllerErrored: an app that exits 3 at once is restarted by PM2
// until it gives up: Observe says errored, not running, and the exit code.
func TestPM2ControllerErrored(t *testing.T) {
	h, apps := newPM2Host(t, "crashing")
	app := apps[0]
	client, err := pm2.New(pm2.Config{Bin: h.bin, Home: h.home, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.StartCommand(ctx, app.name, app.dir, []string{"node", "-e", "process.exit(3)"}); err != nil {
		t.Fatal(err)
	}
	o := newPM2Observer(t, &pm2App{name: app.name, dir: app.dir, client: client}, time.Second)
	obs := o.waitObs("PM2 to give up", 30*time.Second, func(x Observation) bool { return x.State == "errored" })
	want := Exit{Known: true, Code: 3}
	if obs.Running || obs.MainPID != 0 || obs.Restarts == 0 || obs.LastExit == nil || *obs.LastExit != want || len(obs.Members) != 0 {
		t.Errorf("Observe of an errored app = %+v (last exit %v); want not running, no pid, restarts, exit 3, no member", obs, obs.LastExit)
	}
}

// TestPM2ControllerTransitions: what Observe makes of the states PM2 goes
// through during a stop, a `pm2 restart` and a crash's restart (pm2 7's
// God: a stopped process's pid is zeroed as soon as it exits, while the app
// stays "stopping" until the rest of its tree is gone; a crashed process
// keeps its pid while "stopped" until PM2's restart, a loop turn later). A
// fake pm2 answers jlist from a file; answers between two states are never
// reused.
func TestPM2ControllerTransitions(t *testing.T) {
	requireNode(t)
	home := t.TempDir()
	bin := filepath.Join(t.TempDir(), "pm2")
	fake := "#!/usr/bin/env node\nprocess.stdout.write(require('fs').readFileSync(process.env.PM2_HOME + '/jlist.json'));\n"
	if err := os.WriteFile(bin, []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	client, err := pm2.New(pm2.Config{Bin: bin, Home: home})
	if err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClock()
	c, err := NewPM2Controller(PM2Config{App: "whatsapp", Client: client, Dir: t.TempDir(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctl := c.(*pm2Controller)
	alive := os.Getpid() // a pid that runs (never a member: the test itself)
	const dead = 1 << 22 // above pid_max's default: no process
	// created_at and pm_uptime (ms): registered at 1000, the process
	// started at 2000; a `pm2 restart` began at 3000, its new process
	// started at 4000.
	for _, step := range []struct {
		name             string
		status           string
		pid, starts      int
		created, started int
		main             int32
		running          bool
		restarting       bool
		reused           bool // a second Observe runs no jlist
	}{
		{"online", "online", alive, 3, 1000, 2000, int32(alive), true, false, true},
		{"stopping (pm2 stop), the process still running", "stopping", alive, 3, 1000, 2000, int32(alive), false, false, false},
		{"stopping (pm2 stop), the process exited (pid 0)", "stopping", 0, 3, 1000, 2000, int32(alive), false, false, false},
		{"stopped by pm2 stop", "stopped", 0, 3, 1000, 2000, 0, false, false, true},
		{"online after pm2 start", "online", alive, 3, 1000, 2500, int32(alive), true, false, true},
		{"stopping for pm2 restart", "stopping", alive, 3, 3000, 2500, int32(alive), false, true, false},
		{"stopping for pm2 restart, the process exited", "stopping", 0, 3, 3000, 2500, int32(alive), false, true, false},
		{"launching (pm2 restart's start)", "launching", alive, 4, 3000, 4000, int32(alive), true, true, false},
		{"online again", "online", alive, 4, 3000, 4000, int32(alive), true, false, true},
		{"stopped with the pid of a crash, restart pending", "stopped", dead, 4, 3000, 4000, 0, false, true, false},
		{"waiting restart", "waiting restart", 0, 5, 3000, 4000, 0, false, true, false},
		{"errored", "errored", dead, 9, 3000, 4000, 0, false, false, true},
	} {
		t.Run(step.name, func(t *testing.T) {
			jlist := fmt.Sprintf(`[{"name":"whatsapp","pm_id":0,"pid":%d,"pm2_env":{"status":%q,"restart_time":%d,"created_at":%d,"pm_uptime":%d}}]`,
				step.pid, step.status, step.starts, step.created, step.started)
			if err := os.WriteFile(filepath.Join(home, "jlist.json"), []byte(jlist), 0o644); err != nil {
				t.Fatal(err)
			}
			clock.Advance(ctl.cache) // the last answer expired
			obs, err := ctl.Observe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if obs.MainPID != step.main || obs.Running != step.running || obs.Restarting != step.restarting || obs.State != step.status || obs.Restarts != step.starts {
				t.Errorf("Observe = main %d, running %v, restarting %v, state %q, restarts %d; want %d, %v, %v, %q, %d",
					obs.MainPID, obs.Running, obs.Restarting, obs.State, obs.Restarts, step.main, step.running, step.restarting, step.status, step.starts)
			}
			n := ctl.lists.Load()
			if _, err := ctl.Observe(context.Background()); err != nil {
				t.Fatal(err)
			}
			if reused := ctl.lists.Load() == n; reused != step.reused {
				t.Errorf("a second Observe reused the answer: %v; want %v", reused, step.reused)
			}
		})
	}
}
