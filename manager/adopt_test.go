//go:build linux

package manager

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/whatsapp"
)

// handStarted starts the stand-in of cfg as an admin would from a shell:
// `npm start` in its dir, in a process group of its own (job control), with
// no marker. Cleanup ends whatever is left of it: its group, and the
// processes whose command line or working directory is under its dir.
func handStarted(t *testing.T, cfg ServiceConfig) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("npm", "start")
	cmd.Dir = cfg.Dir
	cmd.Env = os.Environ()
	for k, v := range cfg.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		for _, pid := range processesUnder(t, cfg.Dir) {
			_ = syscall.Kill(int(pid), syscall.SIGKILL)
		}
		<-done
	})
	return cmd
}

// processesUnder lists the live processes whose working directory or a
// command-line argument lies under dir.
func processesUnder(t *testing.T, dir string) []int32 {
	t.Helper()
	tab, err := scanProcesses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []int32
	for pid := range tab.byPID {
		if tab.self[pid] {
			continue
		}
		cwd, _ := cwdOf(context.Background(), pid)
		argv, _ := cmdlineOf(context.Background(), pid)
		if strings.HasPrefix(cwd+"/", dir+"/") || strings.Contains(strings.Join(argv, " "), dir+"/") {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// TestAdoptAHandStartedService: a stand-in started by hand (no marker, no
// pid file) is found by the port it owns in the service's dir, with its
// descendants and the browsers under its auth dir; stop ends exactly that,
// and a decoy copy of the service in another dir survives.
func TestAdoptAHandStartedService(t *testing.T) {
	t.Parallel()
	env := with(twoSessions(t), map[string]string{"FAKE_CHROMIUM_CHILDREN": "2"})
	cfg := testServiceConfig(t, standinDir(t), env)
	decoyCfg := testServiceConfig(t, standinDir(t), env)
	handStarted(t, cfg)
	handStarted(t, decoyCfg)
	s := newTestServiceFrom(t, cfg)
	decoy := newTestServiceFrom(t, decoyCfg)

	var st Status
	waitFor(t, "the hand-started service, with its browsers and crash handlers", 40*time.Second, func() bool {
		var err error
		st, err = s.Status(context.Background())
		return err == nil && st.State == StateHealthy && countRole(st.Processes, roleBrowser) == 2 &&
			countRole(st.Processes, roleCrashpad) == 4 && countArg(pidsOf(st.Processes), "--type=crashpad-launcher") == 0
	})
	if !st.AdoptedByPort || !st.Adopted {
		t.Errorf("status adopted %v, by port %v; want both", st.Adopted, st.AdoptedByPort)
	}
	var decoyPIDs []int32
	waitFor(t, "the decoy's whole tree, settled", 40*time.Second, func() bool {
		// The crash handlers' launchers exit once they double-forked:
		// the tree is settled when the same processes are there twice
		// in a row, 4 crash handlers among them.
		before := processesUnder(t, decoyCfg.Dir)
		time.Sleep(200 * time.Millisecond)
		decoyPIDs = processesUnder(t, decoyCfg.Dir)
		return crashHandlers(decoyPIDs) == 4 && slices.Equal(before, decoyPIDs)
	})
	decoyArgv := make(map[int32]string)
	for _, pid := range decoyPIDs {
		argv, _ := cmdlineOf(context.Background(), pid)
		decoyArgv[pid] = strings.Join(argv, " ")
	}
	// The adopted tree is exactly what runs under the service's dir,
	// once both are read while nothing starts or ends.
	var mine, under []int32
	waitFor(t, "the adopted tree to be what runs under the service's dir", 10*time.Second, func() bool {
		st, _ = s.Status(context.Background())
		mine, under = pidsOf(st.Processes), processesUnder(t, cfg.Dir)
		return slices.Equal(mine, under)
	})
	for _, pid := range decoyPIDs {
		if slices.Contains(mine, pid) {
			t.Fatalf("the decoy's pid %d is among the service's: %s", pid, commands(st.Processes))
		}
	}
	whys := map[string]bool{}
	for _, p := range st.Processes {
		whys[p.Why] = true
	}
	if !whys["root"] || !whys["browser"] {
		t.Errorf("found by %v; want the root (npm, by its port and group) and orphaned browsers", slices.Sorted(maps.Keys(whys)))
	}

	stop, err := s.Stop(context.Background(), alice, nil)
	if err != nil || !stop.WasRunning || len(stop.Survivors) > 0 {
		t.Fatalf("stop: %v (was running %v, survivors %v)", err, stop.WasRunning, stop.Survivors)
	}
	if left := processesUnder(t, cfg.Dir); len(left) > 0 {
		t.Errorf("left under the service's dir after the stop: %v", left)
	}
	for _, pid := range decoyPIDs {
		if !processAlive(context.Background(), pid, time.Time{}) {
			t.Errorf("decoy process %d (%s) did not survive the stop", pid, decoyArgv[pid])
		}
	}
	if dst, err := decoy.Status(context.Background()); err != nil || dst.State != StateHealthy {
		t.Errorf("decoy status = %v, %v; want healthy", dst.State, err)
	}
}

// countArg counts the processes among pids that have arg in their argv.
func countArg(pids []int32, arg string) int {
	n := 0
	for _, pid := range pids {
		if argv, err := cmdlineOf(context.Background(), pid); err == nil && slices.Contains(argv, arg) {
			n++
		}
	}
	return n
}

// crashHandlers counts the Chromium crash handlers among pids.
func crashHandlers(pids []int32) int {
	n := 0
	for _, pid := range pids {
		argv, err := cmdlineOf(context.Background(), pid)
		if a, ok := whatsapp.ParseChromiumArgs(argv); err == nil && ok && a.Crashpad {
			n++
		}
	}
	return n
}
