//go:build linux

package manager

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/internal/cgroup/cgrouptest"
)

// cgroupService is a Service whose process controller starts the stand-in
// into a cgroup under a parent of the test's own.
func cgroupService(t *testing.T, env map[string]string, mutate ...func(*ServiceConfig)) (*Service, ServiceConfig) {
	t.Helper()
	parent := cgrouptest.Parent(t)
	cfg := testServiceConfig(t, standinDir(t), env)
	cfg.Cgroup, cfg.CgroupParent = CgroupAuto, parent
	for _, m := range mutate {
		m(&cfg)
	}
	return newTestServiceFrom(t, cfg), cfg
}

// cgroupProcs reads the members of the service's cgroup (none once a stop
// removed it).
func cgroupProcs(t *testing.T, s *Service) []int32 {
	t.Helper()
	g := s.proc.current()
	if g == nil {
		return nil // removed once empty
	}
	data, err := os.ReadFile(filepath.Join(g.Path(), "cgroup.procs"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed once empty
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []int32
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, int32(pid))
	}
	slices.Sort(out)
	return out
}

// TestCgroupHoldsTheWholeTree: started into its cgroup, every process of
// the stand-in's tree (detached browsers and double-forked crash handlers
// included) is a member by construction; ps reads the tree from the
// cgroup, it is exactly what the marker finds, and a stop empties the
// cgroup and removes it.
func TestCgroupHoldsTheWholeTree(t *testing.T) {
	t.Parallel()
	s, _ := cgroupService(t, with(twoSessions(t), map[string]string{"FAKE_CHROMIUM_CHILDREN": "6"}))
	if info := s.ctl.Info(); info.Kind != ControllerProcess || info.Tree != TreeCgroup {
		t.Fatalf("controller = %+v; want the process controller with the cgroup", info)
	}
	if c := s.controllerCheck(context.Background()); c.Verdict != "ok" || !strings.Contains(c.Detail, "cgroup of its own") {
		t.Errorf("doctor's controller check = %+v; want ok, by cgroup", c)
	}
	res := startHealthy(t, s)
	var st Status
	waitFor(t, "2 browsers with 2 crash handlers each", 20*time.Second, func() bool {
		st, _ = s.Status(context.Background())
		return countRole(st.Processes, roleBrowser) == 2 && countRole(st.Processes, roleCrashpad) == 4
	})
	if st.Controller.Tree != TreeCgroup || st.Managed != nil {
		t.Errorf("status controller = %+v, managed %v; want the cgroup, not managed", st.Controller, st.Managed)
	}
	for _, p := range st.Processes {
		if want := "cgroup"; p.PID == res.PID {
			if p.Why != "root" {
				t.Errorf("root %d found by %q; want root", p.PID, p.Why)
			}
		} else if p.Why != want {
			t.Errorf("process %d (%s) found by %q; want %q", p.PID, p.Command, p.Why, want)
		}
	}
	members, marked := cgroupProcs(t, s), markedProcesses(t, s.key)
	slices.Sort(marked)
	if got := pidsOf(st.Processes); !slices.Equal(got, members) || !slices.Equal(members, marked) {
		t.Fatalf("ps %v; cgroup.procs %v; marked %v: want all three equal", got, members, marked)
	}

	stop, err := s.Stop(context.Background(), alice, nil)
	if err != nil || len(stop.Survivors) > 0 {
		t.Fatalf("stop: %v, survivors %v", err, stop.Survivors)
	}
	if left := cgroupProcs(t, s); len(left) > 0 {
		t.Errorf("cgroup.procs after the stop: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(s.cfg.CgroupParent, "sanasend-*")); len(left) > 0 {
		t.Errorf("cgroups left after the stop: %v", left)
	}
}

// TestCgroupKillEndsWhatIgnoresSIGTERM: every process of the tree ignores
// SIGTERM; the stop forces, and nothing of the tree is left in the cgroup
// or anywhere else.
func TestCgroupKillEndsWhatIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	ignoring := t.TempDir()
	s, _ := cgroupService(t, with(twoSessions(t), map[string]string{
		"NODE_OPTIONS":         "--require=" + cgrouptest.IgnoreSIGTERM(),
		"IGNORING_SIGTERM_DIR": ignoring,
	}), func(c *ServiceConfig) { c.StopTimeout = time.Second })
	startHealthy(t, s)
	waitFor(t, "every process of the tree to ignore SIGTERM", 20*time.Second, func() bool {
		st, _ := s.Status(context.Background())
		if countRole(st.Processes, roleCrashpad) != 4 {
			return false
		}
		for _, pid := range cgroupProcs(t, s) {
			// Every Node.js process (npm, node, the fake Chromiums)
			// runs the preload; npm's `sh -c` is not one.
			if argv, _ := cmdlineOf(context.Background(), pid); len(argv) > 0 && filepath.Base(argv[0]) == "sh" {
				continue
			}
			if _, err := os.Stat(filepath.Join(ignoring, strconv.Itoa(int(pid)))); err != nil {
				return false
			}
		}
		return true
	})
	stop, err := s.Stop(context.Background(), alice, nil)
	if err != nil || len(stop.Survivors) > 0 {
		t.Fatalf("stop: %v, survivors %v", err, stop.Survivors)
	}
	if stop.Graceful || !stop.Forced {
		t.Errorf("stop graceful %v, forced %v; want forced: nothing ends on SIGTERM", stop.Graceful, stop.Forced)
	}
	if left := cgroupProcs(t, s); len(left) > 0 {
		t.Errorf("cgroup.procs after the stop: %v", left)
	}
	if left := markedProcesses(t, s.key); len(left) > 0 {
		t.Errorf("processes of the tree left: %v", left)
	}
}

// TestCgroupResumedByTheNextBot: a bot that closes while the service runs
// leaves its cgroup; the next bot (a new Service on the same state dir)
// finds the tree in it and stops it.
func TestCgroupResumedByTheNextBot(t *testing.T) {
	t.Parallel()
	s, cfg := cgroupService(t, twoSessions(t))
	startHealthy(t, s)
	before := cgroupProcs(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	next := newTestServiceFrom(t, cfg)
	st, err := next.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateHealthy || !st.Adopted {
		t.Fatalf("the next bot's status = %s (adopted %v); want healthy, adopted", st.State, st.Adopted)
	}
	var byCgroup int
	for _, p := range st.Processes {
		if p.Why == "cgroup" {
			byCgroup++
		}
	}
	if byCgroup == 0 || len(st.Processes) < len(before)-2 {
		t.Errorf("the next bot found %d processes (%d by the cgroup); the cgroup had %d", len(st.Processes), byCgroup, len(before))
	}
	if _, err := next.Stop(context.Background(), alice, nil); err != nil {
		t.Fatal(err)
	}
	if left := cgroupProcs(t, next); len(left) > 0 {
		t.Errorf("cgroup.procs after the next bot's stop: %v", left)
	}
}
