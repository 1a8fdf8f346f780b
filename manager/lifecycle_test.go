//go:build !windows

package manager

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/whatsapp"
)

var alice = Actor{ID: "U0ALICE", Name: "alice"}

// startHealthy starts s and waits for its session restoration to finish,
// so that every fake Chromium exists.
func startHealthy(t *testing.T, s *Service) StartResult {
	t.Helper()
	res, err := s.Start(context.Background(), alice, nil)
	if err != nil {
		t.Fatalf("start: %v (output: %q)", err, res.OutputTail)
	}
	if !res.Healthy || res.PID == 0 {
		t.Fatalf("start = %+v; want healthy with a pid", res)
	}
	waitFor(t, "session restoration to complete", 40*time.Second, func() bool {
		return logContains(s, "Session restoration complete")
	})
	return res
}

// aliveOf returns the processes of procs still running (same PID, same start).
func aliveOf(procs []Process) []Process {
	var out []Process
	for _, p := range procs {
		if processAlive(context.Background(), p.PID, p.Started) {
			out = append(out, p)
		}
	}
	return out
}

func TestStartThenGracefulStopLeavesNothing(t *testing.T) {
	t.Parallel()
	s := testService(t, nil)
	res := startHealthy(t, s)

	st, err := s.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateHealthy || st.Adopted {
		t.Fatalf("status = %s (adopted %v); want healthy, not adopted", st.State, st.Adopted)
	}
	if st.Processes[0].PID != res.PID {
		t.Errorf("first process = %d; want the root %d", st.Processes[0].PID, res.PID)
	}
	var procs []Process
	waitFor(t, "4 fake browsers with their children and two crash handlers each", 20*time.Second, func() bool {
		st, _ := s.Status(context.Background())
		procs = st.Processes
		return countRole(procs, roleBrowser) == 4 && countRole(procs, roleCrashpad) == 8 &&
			treesComplete(st, append(slices.Clone(restoredSessions), failedSession)...)
	})
	for _, want := range []string{"npm", "sh -c", "node src/server.js"} {
		if countCommands(procs, want) == 0 {
			t.Errorf("ps lacks %q:%s", want, commands(procs))
		}
	}
	// The crash handlers double-forked: their parent is not a browser.
	for _, p := range procs {
		if p.Chromium == roleCrashpad && p.Why != "marker" {
			t.Errorf("crash handler %d found by %q; want by its marker", p.PID, p.Why)
		}
	}

	stop, err := s.Stop(context.Background(), alice, nil)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !stop.WasRunning || !stop.Graceful || stop.Forced {
		t.Errorf("stop = %+v; want graceful", stop)
	}
	// The browser of the session that failed to restore outlives a graceful
	// shutdown of the service: it is ended alongside it, by session, and
	// is no leftover.
	if len(stop.IdleEnded) != 1 || stop.IdleEnded[0].SessionID != "user_45_instance_promo" {
		t.Errorf("idle ended = %+v; want the failed session's browser", stop.IdleEnded)
	}
	if countRole(stop.Leftovers, roleBrowser) != 0 || len(stop.LeftoverBrowsers) != 0 {
		t.Errorf("leftovers = %s (browsers %+v); want none: the idle browser went with the shutdown",
			commands(stop.Leftovers), stop.LeftoverBrowsers)
	}
	if len(stop.LocksLeft) != 0 {
		t.Errorf("locks left after a graceful stop = %+v; want none", stop.LocksLeft)
	}
	if left := aliveOf(procs); len(left) > 0 {
		t.Errorf("alive after stop:%s", commands(left))
	}
	if left := markedProcesses(t, s.key); len(left) > 0 {
		t.Errorf("marked processes after stop: %v", left)
	}
	st, _ = s.Status(context.Background())
	if st.State != StateStopped {
		t.Errorf("status after stop = %s; want stopped", st.State)
	}
	if !s.StoppedOnPurpose() {
		t.Error("StoppedOnPurpose = false after a stop through the bot")
	}
}

func TestStopForcedWhenServiceIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	s := testService(t, with(twoSessions(t), map[string]string{"FAKE_IGNORE_SIGTERM": "1"}), func(c *ServiceConfig) {
		c.StopTimeout = time.Second
	})
	startHealthy(t, s)
	procs, _ := s.Processes(context.Background())

	began := time.Now()
	stop, err := s.Stop(context.Background(), alice, nil)
	took := time.Since(began)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !stop.Forced || stop.Graceful {
		t.Errorf("stop = forced %v graceful %v; want forced", stop.Forced, stop.Graceful)
	}
	// SPEC: one budget. The whole stop, leftovers included, ends within
	// stop_timeout + 1 s.
	t.Logf("forced stop of a tree that ignores SIGTERM took %s (stop_timeout %s)", took.Round(time.Millisecond), s.cfg.StopTimeout)
	if limit := s.cfg.StopTimeout + time.Second; took > limit || stop.Duration > limit {
		t.Errorf("stop took %s (duration %s); want under %s", took, stop.Duration, limit)
	}
	if left := aliveOf(procs); len(left) > 0 {
		t.Errorf("alive after forced stop:%s", commands(left))
	}
}

func TestStopNeverTouchesADecoy(t *testing.T) {
	t.Parallel()
	s := testService(t, twoSessions(t))
	// A `node src/server.js` of the same stand-in in another directory,
	// started by hand: same command, not ours.
	decoyDir := standinDir(t)
	port := freeTCPPort(t)
	decoy := exec.Command("node", "src/server.js")
	decoy.Dir = decoyDir
	decoy.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "RESTORE_DELAY_MS=100000")
	decoy.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := decoy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = decoy.Process.Kill()
		_ = decoy.Wait()
	})
	startHealthy(t, s)
	if _, err := s.Stop(context.Background(), alice, nil); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := decoy.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the decoy node server.js was killed: %v", err)
	}
}

func TestRestartGivesNewPIDAndEndsOldTree(t *testing.T) {
	t.Parallel()
	s := testService(t, twoSessions(t))
	first := startHealthy(t, s)
	old, _ := s.Processes(context.Background())

	var steps []string
	res, err := s.Restart(context.Background(), alice, func(step string) { steps = append(steps, step) })
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if !res.Start.Healthy || res.Start.PID == first.PID {
		t.Fatalf("restart start = %+v; want healthy with a new pid (old %d)", res.Start, first.PID)
	}
	if left := aliveOf(old); len(left) > 0 {
		t.Errorf("old tree alive after restart:%s", commands(left))
	}
	joined := strings.Join(steps, " | ")
	for _, want := range []string{"stopping", "starting", "healthy in"} {
		if !strings.Contains(joined, want) {
			t.Errorf("progress %q lacks %q", joined, want)
		}
	}
	if a := s.LastAction(); a == nil || a.Action != ActionRestart || !a.OK || a.By != alice {
		t.Errorf("last action = %+v; want a successful restart by alice", a)
	}
}

func TestRestartOfStoppedServiceStartsIt(t *testing.T) {
	t.Parallel()
	s := testService(t, twoSessions(t))
	res, err := s.Restart(context.Background(), alice, nil)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if res.Stop.WasRunning || !res.Start.Healthy {
		t.Errorf("restart = %+v; want was-not-running then healthy", res)
	}
}

func TestSecondManagerAdoptsAndStops(t *testing.T) {
	t.Parallel()
	dir := standinDir(t)
	cfg := testServiceConfig(t, dir, twoSessions(t))
	first := newTestServiceFrom(t, cfg)
	res := startHealthy(t, first)
	procs, _ := first.Processes(context.Background())

	for _, tc := range []struct {
		name        string
		dropPidFile bool
	}{
		{"pid file", false},
		{"marker only", true},
	} {
		if tc.dropPidFile {
			if err := os.Remove(first.state.path); err != nil {
				t.Fatal(err)
			}
		}
		second := newTestServiceFrom(t, cfg)
		st, err := second.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.State != StateHealthy || !st.Adopted || len(st.Processes) == 0 || st.Processes[0].PID != res.PID {
			t.Fatalf("%s: adopted status = %s adopted=%v procs=%s; want healthy, adopted, root %d",
				tc.name, st.State, st.Adopted, commands(st.Processes), res.PID)
		}
		if _, err := second.Start(context.Background(), alice, nil); !errors.Is(err, ErrAlreadyRunning) {
			t.Errorf("%s: start of an adopted service = %v; want ErrAlreadyRunning", tc.name, err)
		}
	}
	// The last one (marker only) stops it.
	third := newTestServiceFrom(t, cfg)
	stop, err := third.Stop(context.Background(), alice, nil)
	if err != nil || !stop.WasRunning {
		t.Fatalf("adopted stop = %+v, %v", stop, err)
	}
	if left := aliveOf(procs); len(left) > 0 {
		t.Errorf("alive after adopted stop:%s", commands(left))
	}
}

func TestStartThatCrashesReportsExitCodeAndOutput(t *testing.T) {
	t.Parallel()
	s := testService(t, map[string]string{"FAKE_CRASH": "1"})
	res, err := s.Start(context.Background(), alice, nil)
	if err == nil {
		t.Fatal("start of a crashing service succeeded")
	}
	if !res.Exited || res.ExitCode == 0 {
		t.Fatalf("start = exited %v code %d; want an early exit with a non-zero code", res.Exited, res.ExitCode)
	}
	if out := strings.Join(res.OutputTail, "\n"); !strings.Contains(out, "Cannot find module") {
		t.Errorf("output tail = %q; want the stand-in's stderr", out)
	}
	if !strings.Contains(err.Error(), "exited before it became healthy") {
		t.Errorf("error = %q", err)
	}
}

func TestStartPreconditionsNameEachFailure(t *testing.T) {
	t.Parallel()
	busy, err := listenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().String()[strings.LastIndex(busy.Addr().String(), ":")+1:]

	tests := []struct {
		name   string
		mutate func(*ServiceConfig)
		want   []string // names of failed checks
	}{
		{"missing dir", func(c *ServiceConfig) { c.Dir = filepath.Join(c.Dir, "nope") }, []string{"service dir"}},
		{"start binary not on PATH", func(c *ServiceConfig) { c.Start = []string{"npm-does-not-exist", "start"} }, []string{"start command"}},
		{"port in use", func(c *ServiceConfig) { c.URL = "http://127.0.0.1:" + busyPort }, []string{"port " + busyPort}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testService(t, nil, tc.mutate)
			_, err := s.Start(context.Background(), alice, nil)
			var pre *PreconditionError
			if !errors.As(err, &pre) {
				t.Fatalf("start = %v; want a PreconditionError", err)
			}
			var got []string
			for _, c := range pre.Failed {
				got = append(got, c.Name)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("failed checks = %v; want %v (%v)", got, tc.want, err)
			}
			if _, err := os.Stat(s.state.path); err == nil {
				if p, _ := s.state.load(); p.Run != nil {
					t.Error("a refused start recorded a run")
				}
			}
		})
	}
}

func TestSecondActionIsToldWhoHoldsTheService(t *testing.T) {
	t.Parallel()
	s := testService(t, with(twoSessions(t), map[string]string{"FAKE_START_DELAY_MS": "1500"}))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := s.Start(context.Background(), alice, nil); err != nil {
			t.Errorf("start: %v", err)
		}
	}()
	waitFor(t, "the start to hold the service", 5*time.Second, func() bool { return s.Busy() != nil })
	_, err := s.Stop(context.Background(), Actor{ID: "U0BOB", Name: "bob"}, nil)
	var busy *BusyError
	if !errors.As(err, &busy) {
		t.Fatalf("stop during start = %v; want BusyError", err)
	}
	if busy.Action != ActionStart || busy.By != alice || busy.Since.IsZero() {
		t.Errorf("busy = %+v; want start by alice with a time", busy)
	}
	for _, want := range []string{"start", "alice", "since"} {
		if !strings.Contains(busy.Error(), want) {
			t.Errorf("busy message %q lacks %q", busy.Error(), want)
		}
	}
	wg.Wait()
}

func TestStartEndsLeftoversOfACrashAndRemovesStaleLocks(t *testing.T) {
	t.Parallel()
	s := testService(t, twoSessions(t))
	first := startHealthy(t, s)
	waitFor(t, "fake browsers", 10*time.Second, func() bool {
		procs, _ := s.Processes(context.Background())
		return countRole(procs, roleBrowser) == 2
	})
	events, unsubscribe := s.Subscribe(16)
	defer unsubscribe()
	// A crash: the main group dies at once, every Chromium survives.
	if err := signalGroup(getpgid(first.PID), sigKill); err != nil {
		t.Fatal(err)
	}
	exit := waitEvent(t, events, EventExited)
	if exit.Intended || exit.PID != first.PID || exit.Signal == "" {
		t.Errorf("exit event = %+v; want unintended, killed by a signal", exit)
	}
	// Kill the browsers too, as an OOM killer would: their locks go stale.
	procs, _ := s.Processes(context.Background())
	for _, p := range procs {
		if p.Chromium == roleBrowser {
			_ = signalPID(p.PID, sigKill)
		}
	}
	waitFor(t, "browsers to die", 5*time.Second, func() bool {
		procs, _ := s.Processes(context.Background())
		return countRole(procs, roleBrowser) == 0
	})

	res, err := s.Start(context.Background(), alice, nil)
	if err != nil {
		t.Fatalf("start after crash: %v", err)
	}
	if len(res.LeftoversEnded) == 0 {
		t.Error("start ended no leftovers; the crash left renderers and crash handlers")
	}
	if len(res.LocksRemoved) == 0 {
		t.Error("start removed no stale lock; the killed browsers left theirs")
	}
	for _, l := range res.LocksRemoved {
		if !strings.Contains(filepath.Base(l), "Singleton") {
			t.Errorf("removed %s: not a Chromium singleton lock", l)
		}
	}
	// Counted by profile, not by file: both sessions' browsers were killed.
	if want := []string{"user_1_instance_main", "user_2_instance_old"}; !slices.Equal(res.ProfilesUnlocked, want) {
		t.Errorf("profiles unlocked = %v (locks %v); want %v", res.ProfilesUnlocked, res.LocksRemoved, want)
	}
	if !res.AuthBefore.Taken() || res.AuthBefore.Of("user_1_instance_main").State != whatsapp.AuthPresent {
		t.Errorf("auth before = %+v; want a snapshot with both profiles", res.AuthBefore)
	}
}

// countRole counts the processes of a Chromium role (Process.Chromium).
func countRole(procs []Process, role string) int {
	n := 0
	for _, p := range procs {
		if p.Chromium == role {
			n++
		}
	}
	return n
}

func waitEvent(t *testing.T, events <-chan Event, kind EventKind) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Kind == kind {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event within 10s", kind)
		}
	}
}
