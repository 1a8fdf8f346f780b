//go:build linux

package manager

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes on dir (made if missing),
// read-only when ro, and unmounts it at the end of the test. It skips the
// test, saying why, when this process may not mount.
func mountTmpfs(t *testing.T, dir string, size int, ro bool) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs on the state dir needs root")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var flags uintptr = syscall.MS_NOSUID | syscall.MS_NODEV
	if ro {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, "size="+strconv.Itoa(size)); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("mounts are not allowed here (%v): the test needs a tmpfs on the state dir", err)
		}
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
}

// fillUp writes into dir until its file system is full.
func fillUp(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return
		}
	}
}

// A state dir that is read-only or full does not keep the service from
// starting: its output goes beside the service's own log, or nowhere when
// that is not possible either, and the start says which and why.
func TestStartWithAStateDirThatCannotTakeTheOutput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		full        bool // else read-only
		makeLogDir  bool
		wantProblem string
		wantBeside  bool
	}{
		{"read-only, beside the log", false, true, "read-only file system", true},
		{"full, beside the log", true, true, "no space left on device", true},
		{"read-only, no log dir yet", false, false, "read-only file system", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testServiceConfig(t, standinDir(t), twoSessions(t))
			if tc.full {
				mountTmpfs(t, cfg.StateDir, 64<<10, false)
				fillUp(t, cfg.StateDir)
			} else {
				mountTmpfs(t, cfg.StateDir, 16<<20, true)
			}
			if tc.makeLogDir {
				if err := os.MkdirAll(filepath.Dir(cfg.LogFile), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			s := newTestServiceFrom(t, cfg)
			res, err := s.Start(context.Background(), alice, nil)
			if err != nil || !res.Healthy {
				t.Fatalf("start = %+v, %v; want healthy", res, err)
			}
			beside := filepath.Join(filepath.Dir(cfg.LogFile), fallbackOutputName)
			want := OutputCapture{Fallback: true, Problem: tc.wantProblem}
			if tc.wantBeside {
				want.Path = beside
			}
			if res.Output != want || res.OutputPath != want.Path {
				t.Errorf("output = %+v, path %q; want %+v", res.Output, res.OutputPath, want)
			}
			if a := s.LastAction(); a == nil || !strings.Contains(a.Result, "(state dir: "+tc.wantProblem+")") {
				t.Errorf("last action = %+v; want its result to say where the output went and why", a)
			}
			if got := s.OutputPath(); got != want.Path {
				t.Errorf("OutputPath() = %q; want %q", got, want.Path)
			}
			if tc.wantBeside {
				// npm's banner is the first thing it writes.
				waitFor(t, "the output captured beside the log", 10*time.Second, func() bool {
					data, err := os.ReadFile(beside)
					return err == nil && strings.Contains(string(data), "src/server.js")
				})
			} else if _, err := os.Lstat(beside); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a capture file beside the log: %v; want none", err)
			}
		})
	}
}

// The capture file beside the log is never opened through a symbolic link
// planted in the service's dir.
func TestFallbackCaptureRefusesASymlink(t *testing.T) {
	t.Parallel()
	cfg := testServiceConfig(t, standinDir(t), nil)
	mountTmpfs(t, cfg.StateDir, 16<<20, true)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.LogFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(filepath.Dir(cfg.LogFile), fallbackOutputName)); err != nil {
		t.Fatal(err)
	}
	s := newTestServiceFrom(t, cfg)
	res, err := s.Start(context.Background(), alice, nil)
	if err != nil || !res.Healthy {
		t.Fatalf("start = %+v, %v; want healthy", res, err)
	}
	if res.Output.Path != "" || !res.Output.Fallback {
		t.Errorf("output = %+v; want none (the fallback is a symlink)", res.Output)
	}
	if data, _ := os.ReadFile(victim); string(data) != "secret\n" {
		t.Errorf("the symlink's target was written: %q", data)
	}
}

// decoy starts `sleep` in a session and process group of its own, without
// the marker, and ends it at the end of the test. It returns its PID and
// start time.
func decoy(t *testing.T) (int32, time.Time) {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	pid := int32(cmd.Process.Pid)
	var created time.Time
	waitFor(t, "the decoy's start time", 5*time.Second, func() bool {
		created = processCreated(context.Background(), pid)
		return !created.IsZero()
	})
	return pid, created
}

func requireAlive(t *testing.T, what string, pid int32, created time.Time) {
	t.Helper()
	if !processAlive(context.Background(), pid, created) {
		t.Fatalf("the decoy (pid %d) was killed %s", pid, what)
	}
}

// A pid file naming a process that is not the service's (its PID and exact
// start time, and a marker of the service that it does not carry) proves
// nothing: status, stop and start never take it for the service nor signal
// it.
func TestForgedPidFileNamingADecoy(t *testing.T) {
	t.Parallel()
	cfg := testServiceConfig(t, standinDir(t), twoSessions(t))
	first := newTestServiceFrom(t, cfg)
	pid, created := decoy(t)
	forged := persisted{Run: &runRecord{PID: pid, Created: created, PGID: pid, RunID: "forged",
		Marker: first.key + "/forged", Dir: cfg.Dir, Argv: cfg.Start, StartedAt: created}}
	if err := first.state.save(forged); err != nil {
		t.Fatal(err)
	}
	s := newTestServiceFrom(t, cfg)
	ctx := context.Background()

	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateStopped || st.RootPID != 0 || len(st.Processes) != 0 {
		t.Errorf("status = state %s, root %d, processes %s; want stopped, none", st.State, st.RootPID, commands(st.Processes))
	}
	requireAlive(t, "by status", pid, created)

	if _, err := s.Stop(ctx, alice, nil); !errors.Is(err, ErrAlreadyStopped) {
		t.Errorf("stop = %v; want ErrAlreadyStopped", err)
	}
	requireAlive(t, "by stop", pid, created)

	res, err := s.Start(ctx, alice, nil)
	if err != nil || !res.Healthy {
		t.Fatalf("start = %+v, %v; want healthy (the service was not running)", res, err)
	}
	requireAlive(t, "by start", pid, created)
	if _, err := s.Stop(ctx, alice, nil); err != nil {
		t.Fatalf("stop: %v", err)
	}
	requireAlive(t, "by the stop of the real service", pid, created)
}

// A pid file naming the real root but the decoy's process group: the group
// signalled is the root's own, never the one the file names.
func TestForgedPidFileNamingADecoysGroup(t *testing.T) {
	t.Parallel()
	cfg := testServiceConfig(t, standinDir(t), twoSessions(t))
	s := newTestServiceFrom(t, cfg)
	startHealthy(t, s)
	procs, err := s.Processes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pid, created := decoy(t)
	s.mu.Lock()
	p := s.persisted
	run := *p.Run
	run.PGID = pid
	p.Run = &run
	s.mu.Unlock()
	if err := s.state.save(p); err != nil {
		t.Fatal(err)
	}
	other := newTestServiceFrom(t, cfg)
	res, err := other.Stop(context.Background(), alice, nil)
	if err != nil || !res.WasRunning {
		t.Fatalf("stop = %+v, %v; want the service stopped", res, err)
	}
	requireAlive(t, "by the stop", pid, created)
	if left := aliveOf(procs); len(left) > 0 {
		t.Errorf("alive after stop:%s", commands(left))
	}
	for _, p := range res.Stopped {
		if p.PID == pid {
			t.Errorf("the decoy is among the stopped processes: %+v", p)
		}
	}
}
