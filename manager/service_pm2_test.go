//go:build !windows

package manager

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/sanasend/sanasend-bot/doctor"
)

// The Service with the PM2 controller, on the real pm2 and the real
// stand-in, registered the way the README tells operators to:
// `pm2 start src/server.js --name <app> --kill-timeout 10000` in the
// service's dir (the script npm start runs, not npm).

// pm2Service registers one copy of the stand-in per name as a PM2 app of one
// PM2_HOME (pm2test), waits for their first session restoration, then
// stops the first app with pm2, so that the Service starts it; the others
// (decoys) run on. It returns a Service of the first app with a PM2
// controller timed by clock (nil: the real clock, with PM2's default
// cache), and the apps. Cleanup stops the Service, then kills PM2 and
// whatever is left in the copies (newPM2Host).
func pm2Service(t testing.TB, clock clockwork.Clock, names ...string) (*Service, []*pm2App) {
	t.Helper()
	_, apps := newPM2Host(t, names...)
	ctx := context.Background()
	for _, a := range apps {
		if err := a.client.StartCommand(ctx, a.name, a.dir, []string{"src/server.js"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range apps {
		a.waitRestored(t, 1)
	}
	app := apps[0]
	if err := app.client.Stop(ctx, app.name); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stopped app's processes to end", 10*time.Second, func() bool { return len(hostProcsUnder(app.dir)) == 0 })
	log := zerolog.New(zerolog.NewTestWriter(t))
	ctl, err := NewPM2Controller(PM2Config{App: app.name, Client: app.client, Dir: app.dir, Clock: clock, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testServiceConfig(t, app.dir, nil)
	cfg.URL = "http://127.0.0.1:" + strconv.Itoa(app.port)
	cfg.Env = nil // the app's environment is PM2's (the pm2 client's at registration)
	// PM2's kill_timeout (10 s) decides a stop's timing: the stop's budget
	// must hold it.
	cfg.StopTimeout = 15 * time.Second
	s, err := NewService(cfg, Options{Logger: log, LeftoverGrace: time.Second, Controller: ctl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupService(t, s) })
	return s, apps
}

// statusUntil calls Status until cond holds.
func statusUntil(t *testing.T, s *Service, what string, timeout time.Duration, cond func(Status) bool) Status {
	t.Helper()
	var last Status
	waitFor(t, what, timeout, func() bool {
		st, err := s.Status(context.Background())
		if err != nil {
			t.Logf("status: %v", err)
			return false
		}
		last = st
		return cond(st)
	})
	return last
}

// nextExit returns the next EventExited within d, failing the test when
// there is none.
func nextExit(t *testing.T, events <-chan Event, d time.Duration) Event {
	t.Helper()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		select {
		case e := <-events:
			if e.Kind == EventExited {
				return e
			}
		case <-timeout.C:
			t.Fatalf("no %s event within %v", EventExited, d)
		}
	}
}

// exitsWithin collects the EventExited events published within d.
func exitsWithin(events <-chan Event, d time.Duration) []Event {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	var out []Event
	for {
		select {
		case e := <-events:
			if e.Kind == EventExited {
				out = append(out, e)
			}
		case <-timeout.C:
			return out
		}
	}
}

// drain empties events.
func drain(events <-chan Event) {
	for {
		select {
		case <-events:
		default:
			return
		}
	}
}

// alivePIDs are the pids of procs that still run.
func alivePIDs(procs []hostProc) []int32 {
	var out []int32
	for _, p := range procs {
		if processAlive(context.Background(), p.pid, time.Time{}) {
			out = append(out, p.pid)
		}
	}
	return out
}

func TestPM2ServiceLifecycle(t *testing.T) {
	s, apps := pm2Service(t, nil, "whatsapp", "decoy")
	app, decoy := apps[0], apps[1]
	ctx := context.Background()
	events, unsubscribe := s.Subscribe(256)
	defer unsubscribe()
	decoyProcs := hostProcsUnder(decoy.dir)
	decoyIntact := func(when string) {
		t.Helper()
		if !answersHealth(decoy.port) {
			t.Errorf("%s: the decoy app stopped answering /health", when)
		}
		if alive := alivePIDs(decoyProcs); len(alive) != len(decoyProcs) {
			t.Errorf("%s: %d of the decoy's %d processes are left: %v", when, len(alive), len(decoyProcs), decoyProcs)
		}
	}

	// Start: PM2 starts the app; healthy; the status card has PM2's view
	// and the tree found by "pm2"; the restoration is the new run's.
	began := time.Now()
	res, err := s.Start(ctx, alice, nil)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if !res.Healthy || res.PID <= 0 {
		t.Fatalf("start = %+v; want healthy with PM2's pid", res)
	}
	t.Logf("Start through PM2: healthy after %v", time.Since(began).Round(time.Millisecond))
	app.waitRestored(t, 2)
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantInfo := ControllerInfo{Kind: ControllerPM2, Target: app.name, Tree: TreePM2}
	if st.State != StateHealthy || st.Controller != wantInfo || st.RootPID != res.PID || st.Adopted || st.AdoptedByPort {
		t.Errorf("status after start: state %s, controller %+v, root %d, adopted %v/%v; want healthy, %+v, root %d, not adopted",
			st.State, st.Controller, st.RootPID, st.Adopted, st.AdoptedByPort, wantInfo, res.PID)
	}
	if m := st.Managed; m == nil || !m.Managed || !m.Running || m.State != "online" || m.MainPID != res.PID || m.Members != nil {
		t.Fatalf("status.Managed after start = %+v; want PM2 online with pid %d, members left out", m, res.PID)
	}
	restartsAtStart := st.Managed.Restarts
	if countRole(st.Processes, "browser") < 1 || countRole(st.Processes, "crashpad-handler") < 1 {
		t.Errorf("status processes: want browsers and crash handlers:%s", commands(st.Processes))
	}
	for _, p := range st.Processes {
		want := string(TreePM2)
		if p.PID == res.PID {
			want = "root"
		}
		if p.Why != want {
			t.Errorf("process %d (%s) found by %q; want %q", p.PID, p.Command, p.Why, want)
		}
	}
	if m := missing(hostProcsUnder(app.dir), pidsOf(st.Processes)); len(m) > 0 {
		t.Errorf("processes of the app missing from the status: %v", m)
	}
	if r := st.Restoration; r == nil || !r.Complete || r.StartedAt.Before(began.Truncate(time.Second)) || r.Restored != 1 || r.Failed != 1 {
		t.Errorf("status restoration = %+v; want the new run's (after %v), complete, 1 restored, 1 failed", r, began)
	}

	// Doctor's controller check names PM2 and the app.
	var cc *doctor.Check
	checks := s.Doctor(ctx)
	for i := range checks {
		if checks[i].Name == "controller" {
			cc = &checks[i]
		}
	}
	if cc == nil || cc.Verdict != doctor.VerdictOK || !strings.HasPrefix(cc.Detail, "pm2 "+app.name+": online, ") {
		t.Errorf("doctor's controller check = %+v; want ok, naming pm2 %s online", cc, app.name)
	} else {
		t.Logf("doctor: %s", cc.Detail)
	}

	// Restart through the bot: a new tree, the old one gone; its exit is
	// intended, not PM2's restart.
	drain(events)
	oldTree := hostProcsUnder(app.dir)
	rr, err := s.Restart(ctx, alice, nil)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if !rr.Start.Healthy || rr.Start.PID == res.PID || rr.Start.PID <= 0 || !rr.Stop.WasRunning {
		t.Errorf("restart = stop %+v, start pid %d healthy %v; want a new pid (old %d), healthy", rr.Stop.WasRunning, rr.Start.PID, rr.Start.Healthy, res.PID)
	}
	if alive := alivePIDs(oldTree); len(alive) > 0 {
		t.Errorf("processes of the tree before the restart still alive: %v", alive)
	}
	if e := nextExit(t, events, 5*time.Second); !e.Intended || e.RestartedBy != "" || e.PID != res.PID {
		t.Errorf("exit event of a restart through the bot = %+v; want intended, pid %d, no RestartedBy", e, res.PID)
	}
	app.waitRestored(t, 3)
	decoyIntact("after the restart")

	// kill -9 of PM2's pid (node): PM2 restarts it; the Service says it
	// was restarted by PM2 within 2 s of the kill.
	st = statusUntil(t, s, "the restarted run to be watched", 10*time.Second, func(x Status) bool {
		return x.State == StateHealthy && x.RootPID == rr.Start.PID
	})
	drain(events)
	firstRun := hostProcsUnder(app.dir)
	main := st.Managed.MainPID
	if err := unix.Kill(int(main), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	st = expectRestartedByPM2(t, s, events, "a kill -9", main, restartsAtStart, 2*time.Second)
	t.Logf("kill -9 of node %d: restarted by PM2, seen %v after the kill", main, time.Since(killed).Round(time.Millisecond))
	app.waitRestored(t, 4)
	if r, ok, err := s.LastRestoration(); err == nil && ok {
		t.Logf("restoration of the run PM2 started after the kill -9: %d restored, %d failed, sessions %+v", r.Restored, r.Failed, r.Sessions)
	}
	// The killed run's browsers and crash handlers, orphaned to init, are
	// the service's still.
	var orphans []hostProc
	for _, p := range firstRun {
		if p.pid != main && processAlive(ctx, p.pid, time.Time{}) {
			orphans = append(orphans, p)
		}
	}
	if !slices.ContainsFunc(orphans, hostProc.crashHandler) {
		t.Errorf("no crash handler of the killed run survived (the Service's stop is to end them): %v", orphans)
	}
	if m := missing(orphans, pidsOf(st.Processes)); len(m) > 0 {
		t.Errorf("orphans of the killed run missing from the status: %v", m)
	}

	// `pm2 restart` outside the bot: reported once, as PM2's.
	restarts, main := st.Managed.Restarts, st.Managed.MainPID
	if err := app.client.Restart(ctx, app.name); err != nil {
		t.Fatal(err)
	}
	st = expectRestartedByPM2(t, s, events, "`pm2 restart`", main, restarts, 15*time.Second)

	// Stop through the bot: PM2 stops the app, the Service ends what PM2
	// left (the killed run's orphans): nothing of the app is left; the
	// decoy app runs on.
	app.waitRestored(t, 5)
	leftover := alivePIDs(orphans)
	sr, err := s.Stop(ctx, alice, nil)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("Stop through PM2: %v, graceful %v, forced %v; %d processes ended, %d of them leftovers; %d idle browsers ended early; %d orphans of the killed run alive before",
		sr.Duration, sr.Graceful, sr.Forced, len(sr.Stopped), len(sr.Leftovers), len(sr.IdleEnded), len(leftover))
	if len(leftover) == 0 {
		t.Errorf("no orphan of the killed run was alive before the stop: the stop's end of what PM2 leaves is not tested")
	}
	if left := hostProcsUnder(app.dir); len(left) > 0 {
		t.Errorf("processes of the app left after the stop: %v", left)
	}
	if alive := alivePIDs(orphans); len(alive) > 0 {
		t.Errorf("orphans of the killed run alive after the stop: %v", alive)
	}
	for _, pid := range leftover {
		if !slices.Contains(pidsOf(sr.Stopped), pid) {
			t.Errorf("orphan %d of the killed run is not among the processes the stop ended", pid)
		}
	}
	st, err = s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateStopped || st.Managed == nil || st.Managed.State != "stopped" || len(st.Processes) != 0 {
		t.Errorf("status after stop: %s, managed %+v, %d processes; want stopped, PM2 stopped, none", st.State, st.Managed, len(st.Processes))
	}
	decoyIntact("after the stop")

	// `pm2 stop` outside the bot: an exit, not a restart.
	if _, err := s.Start(ctx, alice, nil); err != nil {
		t.Fatalf("start: %v", err)
	}
	app.waitRestored(t, 6)
	st = statusUntil(t, s, "the started run to be watched", 10*time.Second, func(x Status) bool { return x.State == StateHealthy })
	drain(events)
	main = st.Managed.MainPID
	if err := app.client.Stop(ctx, app.name); err != nil {
		t.Fatal(err)
	}
	e := nextExit(t, events, 15*time.Second)
	if e.RestartedBy != "" || e.Intended || e.PID != main {
		t.Errorf("exit event of `pm2 stop` = %+v; want no RestartedBy, not intended, pid %d", e, main)
	}
	if more := exitsWithin(events, restartWait+500*time.Millisecond); len(more) > 0 {
		t.Errorf("more exit events after `pm2 stop`: %+v", more)
	}
	decoyIntact("at the end")
}

// BenchmarkPM2ServiceStatus measures Service.Status of the stand-in under
// PM2 (two sessions, one restored, one failed: 9 processes), with PM2's
// answer from the controller's cache and with a `pm2 jlist` every time
// (the cache expired: the controller's fake clock moves past it). Run:
//
//	go test -run '^$' -bench BenchmarkPM2ServiceStatus -benchtime 20x ./manager/
func BenchmarkPM2ServiceStatus(b *testing.B) {
	clock := clockwork.NewFakeClock()
	s, apps := pm2Service(b, clock, "whatsapp")
	app, ctx := apps[0], context.Background()
	if res, err := s.Start(ctx, alice, nil); err != nil || !res.Healthy {
		b.Fatalf("start = %+v, %v", res, err)
	}
	app.waitRestored(b, 2)
	ctl := s.ctl.(*pm2Controller)
	for _, bc := range []struct {
		name   string
		expire bool
	}{{"cached", false}, {"jlist", true}} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := s.Status(ctx); err != nil {
				b.Fatal(err)
			}
			lists := ctl.lists.Load()
			b.ResetTimer()
			for range b.N {
				if bc.expire {
					clock.Advance(ctl.cache)
				}
				st, err := s.Status(ctx)
				if err != nil || st.State != StateHealthy || st.Managed == nil {
					b.Fatalf("status = %s, %+v, %v", st.State, st.Managed, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(ctl.lists.Load()-lists)/float64(b.N), "jlists/op")
		})
	}
}

// BenchmarkPM2RestartVsPM2 measures Service.Restart of the stand-in under
// PM2 (the whole call: its look at the processes and sessions, `pm2 stop`,
// the end of what PM2 left, `pm2 start`, healthy) against PM2 alone doing
// the same: `pm2 restart <app>` and a wait for /health (polled every 5 ms),
// each from a run whose restoration is done. It reports both and their
// difference, the bot's share. Run:
//
//	go test -run '^$' -bench BenchmarkPM2RestartVsPM2 -benchtime 3x ./manager/
func BenchmarkPM2RestartVsPM2(b *testing.B) {
	s, apps := pm2Service(b, nil, "whatsapp")
	app, ctx := apps[0], context.Background()
	if res, err := s.Start(ctx, alice, nil); err != nil || !res.Healthy {
		b.Fatalf("start = %+v, %v", res, err)
	}
	runs := 2
	app.waitRestored(b, runs)
	var restart, pm2Only time.Duration
	b.StopTimer()
	for range b.N {
		began := time.Now()
		res, err := s.Restart(ctx, alice, nil)
		took := time.Since(began)
		restart += took
		if err != nil || !res.Start.Healthy {
			b.Fatalf("restart = %+v, %v", res, err)
		}
		runs++
		app.waitRestored(b, runs)

		began = time.Now()
		if err := app.client.Restart(ctx, app.name); err != nil {
			b.Fatal(err)
		}
		returned := time.Since(began)
		for !answersHealth(app.port) {
			if time.Since(began) > 30*time.Second {
				b.Fatal("not healthy 30 s after pm2 restart")
			}
			time.Sleep(5 * time.Millisecond)
		}
		alone := time.Since(began)
		pm2Only += alone
		runs++
		app.waitRestored(b, runs)
		b.Logf("Service.Restart %v (stop %v, start to healthy %v); pm2 restart %v (returned after %v)",
			took.Round(time.Millisecond), res.Stop.Duration.Round(time.Millisecond), res.Start.TimeToHealthy.Round(time.Millisecond),
			alone.Round(time.Millisecond), returned.Round(time.Millisecond))
	}
	r, p := restart/time.Duration(b.N), pm2Only/time.Duration(b.N)
	b.ReportMetric(float64(r.Microseconds())/1000, "restart-ms")
	b.ReportMetric(float64(p.Microseconds())/1000, "pm2-restart-ms")
	b.ReportMetric(float64((r-p).Microseconds())/1000, "diff-ms")
}

// expectRestartedByPM2 checks that what (a kill, `pm2 restart`) of the run
// whose main process was main is one exit event within the given time,
// restarted by PM2 and not intended, followed by a healthy new run with a
// grown restart count and no other exit event; it returns that status.
func expectRestartedByPM2(t *testing.T, s *Service, events <-chan Event, what string, main int32, restarts int, within time.Duration) Status {
	t.Helper()
	e := nextExit(t, events, within)
	if e.RestartedBy != ControllerPM2 || e.Intended || e.PID != main {
		t.Errorf("exit event of %s = %+v; want RestartedBy pm2, not intended, pid %d", what, e, main)
	}
	st := statusUntil(t, s, "healthy again after "+what, 20*time.Second, func(x Status) bool {
		return x.State == StateHealthy && x.Managed != nil && x.Managed.MainPID > 0 && x.Managed.MainPID != main
	})
	if st.Managed.Restarts <= restarts {
		t.Errorf("Managed.Restarts after %s = %d; want more than %d", what, st.Managed.Restarts, restarts)
	}
	if more := exitsWithin(events, restartWait+500*time.Millisecond); len(more) > 0 {
		t.Errorf("more exit events after %s: %+v", what, more)
	}
	return st
}
