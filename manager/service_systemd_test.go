//go:build linux

package manager

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/systemdtest"
)

// The Service driven through the systemd controller: a real systemd (the
// fixture) runs the real stand-in as whatsapp.service, in the Service's dir.

// systemdService is a Service whose controller is systemd's, for a unit that
// runs the stand-in in the service's dir on its port, with env added; the
// controller finds systemd's cgroup root itself (CgroupRoot "").
func systemdService(t testing.TB, env map[string]string) (*Service, *systemdtest.Systemd) {
	t.Helper()
	cfg := testServiceConfig(t, standinDir(t), env)
	unit := standinUnit(t, cfg.Dir, freeTCPPortOf(t, cfg), "control-group", with(cfg.Env, env))
	sd := systemdtest.Start(t, systemdtest.Options{Units: map[string]string{"whatsapp.service": unit}})
	log := zerolog.New(zerolog.NewTestWriter(t))
	ctl, err := NewSystemdController(SystemdConfig{Unit: "whatsapp.service", BusAddress: sd.BusAddress(),
		Timeout: 20 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewService(cfg, Options{Logger: log, LeftoverGrace: time.Second, Controller: ctl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupService(t, s) })
	return s, sd
}

// freeTCPPortOf is the port of cfg's URL, which testServiceConfig chose
// free.
func freeTCPPortOf(t testing.TB, cfg ServiceConfig) int {
	t.Helper()
	n, err := strconv.Atoi(cfg.Env["PORT"])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitStatus polls Status until cond holds, failing with the last status
// after timeout.
func waitStatus(t *testing.T, s *Service, what string, timeout time.Duration, cond func(Status) bool) Status {
	t.Helper()
	var st Status
	var err error
	deadline := time.Now().Add(timeout)
	for {
		st, err = s.Status(context.Background())
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last status %s (err %v), managed %+v, %d processes",
				timeout, what, st.State, err, st.Managed, len(st.Processes))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fullTree: the service's two sessions' browsers and crash handlers are
// all in st, found by the unit's cgroup.
func fullTree(st Status) bool {
	return countRole(st.Processes, roleBrowser) == 2 && countRole(st.Processes, roleCrashpad) == 4
}

// mustEvent waits up to timeout for an event of kind, failing otherwise.
func mustEvent(t *testing.T, events <-chan Event, kind EventKind, timeout time.Duration) Event {
	t.Helper()
	e, ok := nextEvent(t, events, timeout, kind)
	if !ok {
		t.Fatalf("no %s event within %v", kind, timeout)
	}
	return e
}

// TestSystemdService: start, status, doctor, restart, a kill of the main
// process that systemd restarts, a restart by systemctl outside the bot,
// and a stop that leaves nothing of the tree while a decoy copy survives.
func TestSystemdService(t *testing.T) {
	s, sd := systemdService(t, twoSessions(t))
	ctx := context.Background()
	decoyKey := startDecoy(t, sessionsEnv(t, `{"session_id":"user_9_instance_decoy","instance_name":"decoy","restore":"ok","after":"ready"}`))
	waitFor(t, "the decoy's browser and crash handlers", 20*time.Second, func() bool {
		b, h := roles(markedProcesses(t, decoyKey))
		return b == 1 && h == 2
	})
	decoys := map[int32]time.Time{}
	for _, pid := range markedProcesses(t, decoyKey) {
		decoys[pid] = processCreated(ctx, pid)
	}
	events, unsubscribe := s.Subscribe(64)
	defer unsubscribe()

	// Start: healthy, the tree found by the unit's cgroup.
	began := time.Now()
	res := startHealthy(t, s)
	st := waitStatus(t, s, "2 browsers and 4 crash handlers", 20*time.Second, fullTree)
	if st.State != StateHealthy || st.Controller.Kind != ControllerSystemd || st.Controller.Target != "whatsapp.service" ||
		st.Controller.Tree != TreeUnitCgroup {
		t.Errorf("status %s, controller %+v; want healthy, systemd whatsapp.service by unit cgroup", st.State, st.Controller)
	}
	if st.Managed == nil || !st.Managed.Running || st.Managed.State != "active/running" || st.Managed.MainPID != res.PID ||
		st.Managed.Members != nil {
		t.Fatalf("managed %+v; want running, active/running, main PID %d, members left out", st.Managed, res.PID)
	}
	if st.RootPID != res.PID || st.Adopted || st.Since.Before(began.Add(-time.Second)) {
		t.Errorf("root %d (adopted %v) since %v; want %d started here after %v", st.RootPID, st.Adopted, st.Since, res.PID, began)
	}
	for _, p := range st.Processes {
		if want := string(TreeUnitCgroup); p.PID != res.PID && p.Why != want {
			t.Errorf("process %d (%s) found by %q; want %q", p.PID, p.Command, p.Why, want)
		}
	}
	if r := st.Restoration; r == nil || !r.Complete || r.StartedAt.Before(began.Truncate(time.Second)) {
		t.Errorf("restoration %+v; want complete, begun after the start at %v", st.Restoration, began)
	}
	if c := s.controllerCheck(ctx); c.Verdict != doctor.VerdictOK || !strings.Contains(c.Detail, "systemd whatsapp.service: active/running") {
		t.Errorf("doctor's controller check = %+v; want ok, naming the unit", c)
	}
	if a := mustEvent(t, events, EventActionBegun, time.Second); a.Action != ActionStart || a.PID != res.PID {
		t.Errorf("first event %+v; want the start of %d", a, res.PID)
	}

	// Restart through the bot: a new tree, no PID in common.
	before := pidsOf(st.Processes)
	rr, err := s.Restart(ctx, alice, nil)
	if err != nil || !rr.Start.Healthy || !rr.Stop.Graceful || len(rr.Stop.Survivors) > 0 {
		t.Fatalf("restart = %+v, %v; want a graceful stop and a healthy start", rr, err)
	}
	if e := mustEvent(t, events, EventExited, 5*time.Second); !e.Intended || e.PID != res.PID {
		t.Errorf("exit on the restart %+v; want intended, of %d", e, res.PID)
	}
	waitRestored(t, s.cfg.Dir, 2)
	st = waitStatus(t, s, "the restarted tree", 20*time.Second, fullTree)
	if st.Managed.MainPID == res.PID || st.Managed.MainPID != rr.Start.PID {
		t.Errorf("main PID after the restart %d; want the new %d, not %d", st.Managed.MainPID, rr.Start.PID, res.PID)
	}
	if common := slices.DeleteFunc(pidsOf(st.Processes), func(p int32) bool { return !slices.Contains(before, p) }); len(common) > 0 {
		t.Errorf("PIDs in both trees: %v", common)
	}

	// kill -9 of the main process: an unintended exit within 2 s, systemd
	// restarts the unit, the Service sees it healthy with the count grown.
	restarts := st.Managed.Restarts
	killedPID := st.Managed.MainPID
	killed := time.Now()
	if err := syscall.Kill(int(killedPID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e := mustEvent(t, events, EventExited, 2*time.Second)
	t.Logf("figure: EventExited %v after the kill of the main process", time.Since(killed))
	if e.Intended || e.PID != killedPID || e.Exit != (Exit{Known: true, Code: -1, Signal: "SIGKILL"}) || e.RestartedBy != ControllerSystemd {
		t.Errorf("exit %+v; want unintended, of %d, by SIGKILL (systemd's record), restarted by systemd", e, killedPID)
	}
	// Seen through the controller alone: the Service is not asked, so only
	// its following of systemd's news can make it watch the new run.
	o := waitObserve(t, s.ctl, "systemd's restart", 10*time.Second, func(o Observation) bool {
		return o.Running && o.Restarts > restarts && o.MainPID != 0 && o.MainPID != killedPID
	})
	waitFor(t, "health after systemd's restart", 20*time.Second, func() bool { return healthy(freeTCPPortOf(t, s.cfg)) })
	t.Logf("figure: healthy again %v after the kill (restarts %d -> %d)", time.Since(killed), restarts, o.Restarts)
	waitRestored(t, s.cfg.Dir, 3)
	waitFor(t, "the watch of systemd's new run", 5*time.Second, func() bool {
		return strings.HasPrefix(s.watchedRun(), "systemd:"+strconv.Itoa(int(o.MainPID))+":")
	})

	// systemctl restart outside the bot: an unintended exit within 2 s,
	// then Since moves.
	st, err = s.Status(ctx)
	if err != nil || st.State != StateHealthy || st.Managed.Restarts != o.Restarts || st.Managed.MainPID != o.MainPID {
		t.Fatalf("status after systemd's restart %s (%v), managed %+v; want healthy, main PID %d, restarts %d",
			st.State, err, st.Managed, o.MainPID, o.Restarts)
	}
	since, main := st.Since, st.Managed.MainPID
	conn := sd.Connect(t)
	done := make(chan string, 1)
	outside := time.Now()
	if _, err := conn.RestartUnitContext(ctx, "whatsapp.service", "replace", done); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r != "done" {
		t.Fatalf("RestartUnit: job %s", r)
	}
	e = mustEvent(t, events, EventExited, 2*time.Second)
	t.Logf("figure: EventExited %v after RestartUnit was sent", time.Since(outside))
	if e.Intended || e.PID != main || e.Exit != (Exit{Known: true, Code: 0}) || e.RestartedBy != ControllerSystemd {
		t.Errorf("exit on the outside restart %+v; want unintended, of %d, status 0 (the stand-in's clean shutdown), restarted by systemd", e, main)
	}
	st = waitStatus(t, s, "the run restarted outside the bot", 20*time.Second, func(st Status) bool {
		return st.State == StateHealthy && st.Since.After(since) && st.Managed.MainPID != main
	})
	if !st.Adopted {
		t.Errorf("a run started outside the bot is not adopted: %+v", st)
	}
	waitRestored(t, s.cfg.Dir, 4)
	st = waitStatus(t, s, "the outside restart's tree", 20*time.Second, fullTree)

	// Stop: nothing of the tree left, the decoy untouched.
	tree := st.Processes
	stop, err := s.Stop(ctx, alice, nil)
	if err != nil || len(stop.Survivors) > 0 || !stop.Graceful {
		t.Fatalf("stop = %+v, %v; want graceful, no survivors", stop, err)
	}
	if left := aliveOf(tree); len(left) > 0 {
		t.Errorf("processes of the tree left after the stop: %v", pidsOf(left))
	}
	if left := procsUnder(t, s.cfg.Dir); len(left) > 0 {
		t.Errorf("processes under the service's dir after the stop: %v", left)
	}
	st, err = s.Status(ctx)
	if err != nil || st.State != StateStopped || st.Managed == nil || st.Managed.Running || len(st.Processes) > 0 {
		t.Errorf("status after the stop %s (%v), managed %+v, %d processes; want stopped", st.State, err, st.Managed, len(st.Processes))
	}
	for pid, created := range decoys {
		if !processAlive(ctx, pid, created) {
			t.Errorf("decoy process %d was killed by the stop", pid)
		}
	}
}

// timedController times the Start and Stop of the controller it wraps:
// what the controller itself takes, the service's own shutdown included.
type timedController struct {
	Controller
	start, stop time.Duration
}

func (c *timedController) Start(ctx context.Context, l Launch) (Launched, error) {
	began := time.Now()
	defer func() { c.start = time.Since(began) }()
	return c.Controller.Start(ctx, l)
}

func (c *timedController) Stop(ctx context.Context, h Halt) (Halted, error) {
	began := time.Now()
	defer func() { c.stop = time.Since(began) }()
	return c.Controller.Stop(ctx, h)
}

// benchControllers are the services the controller benchmarks compare:
// the process controller with its cgroup (the default where the host
// allows it) and systemd's, on the same stand-in with two sessions.
func benchControllers() []struct {
	name string
	make func(b *testing.B) *Service
} {
	return []struct {
		name string
		make func(b *testing.B) *Service
	}{
		{"process", func(b *testing.B) *Service { return cgroupBenchService(b, twoSessions(b)) }},
		{"systemd", func(b *testing.B) *Service {
			s, _ := systemdService(b, twoSessions(b))
			return s
		}},
	}
}

// BenchmarkControllerStatus measures Service.Status of a healthy stand-in
// per controller (p50 and p99): the health request, the process scan, and
// for systemd the unit's properties over D-Bus and its cgroup.
//
//	go test ./manager/ -run '^$' -bench BenchmarkControllerStatus -benchtime 200x
func BenchmarkControllerStatus(b *testing.B) {
	for _, c := range benchControllers() {
		b.Run(c.name, func(b *testing.B) { benchStatus(b, c.make(b)) })
	}
}

// BenchmarkControllerRestart measures Service.Restart per controller and
// what it adds to the service's own time: the total, less the time to
// healthy (the service's boot, from the controller's start on), less the
// controller's stop (the main part's own shutdown after SIGTERM, and for
// systemd its job), is the bot's own share ("beyond-ms": its looks, the
// sessions, the leftovers, the controller's start call).
//
//	go test ./manager/ -run '^$' -bench BenchmarkControllerRestart -benchtime 5x
func BenchmarkControllerRestart(b *testing.B) {
	for _, c := range benchControllers() {
		b.Run(c.name, func(b *testing.B) {
			s := c.make(b)
			timed := &timedController{Controller: s.ctl}
			s.ctl = timed
			ctx := context.Background()
			if _, err := s.Start(ctx, alice, nil); err != nil {
				b.Fatal(err)
			}
			var total, healthy, stop, beyond time.Duration
			for b.Loop() {
				n := restorations(s) + 1
				b.StopTimer()
				waitRestorations(b, s, n-1)
				b.StartTimer()
				began := time.Now()
				res, err := s.Restart(ctx, alice, nil)
				took := time.Since(began)
				if err != nil || !res.Start.Healthy {
					b.Fatalf("restart = %+v, %v", res, err)
				}
				total += took
				healthy += res.Start.TimeToHealthy
				stop += timed.stop
				beyond += took - res.Start.TimeToHealthy - timed.stop
				b.StopTimer()
				waitRestorations(b, s, n)
				b.StartTimer()
			}
			per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(per(total), "restart-ms")
			b.ReportMetric(per(healthy), "healthy-ms")
			b.ReportMetric(per(stop), "ctlstop-ms")
			b.ReportMetric(per(beyond), "beyond-ms")
		})
	}
}
