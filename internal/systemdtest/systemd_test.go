//go:build linux

package systemdtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"

	"github.com/sanasend/sanasend-bot/internal/syncbuf"
)

// sleeper is a unit whose main process lives until it is stopped.
const sleeper = "[Unit]\nDescription=sleeper\n\n[Service]\nExecStart=/bin/sleep 1000\n"

// hostProc is a host process as seen at one moment: its PID and its start
// time, so that a reused PID is not taken for it.
type hostProc struct {
	pid   int
	start string
}

func procOf(t *testing.T, pid int) hostProc {
	t.Helper()
	start, err := startTime(pid)
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	return hostProc{pid, start}
}

// startTime reads field 22 of /proc/<pid>/stat.
func startTime(pid int) (string, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	_, rest, ok := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 20 {
		return "", fmt.Errorf("malformed stat %q", stat)
	}
	return f[19], nil
}

func (p hostProc) alive() bool {
	start, err := startTime(p.pid)
	return err == nil && start == p.start
}

// startUnit starts a unit and wants systemd's job result "done".
func startUnit(t *testing.T, conn *sddbus.Conn, name string) {
	t.Helper()
	job(t, name, "start", func(ctx context.Context, ch chan<- string) (int, error) {
		return conn.StartUnitContext(ctx, name, "replace", ch)
	})
}

func stopUnit(t *testing.T, conn *sddbus.Conn, name string) {
	t.Helper()
	job(t, name, "stop", func(ctx context.Context, ch chan<- string) (int, error) {
		return conn.StopUnitContext(ctx, name, "replace", ch)
	})
}

func job(t *testing.T, name, verb string, call func(context.Context, chan<- string) (int, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ch := make(chan string, 1)
	if _, err := call(ctx, ch); err != nil {
		t.Fatalf("%s %s: %v", verb, name, err)
	}
	select {
	case got := <-ch:
		if got != "done" {
			t.Fatalf("%s %s: job result %q; want done", verb, name, got)
		}
	case <-ctx.Done():
		t.Fatalf("%s %s: no job result: %v", verb, name, ctx.Err())
	}
}

// serviceProps reads a service's MainPID and ControlGroup.
func serviceProps(t *testing.T, conn *sddbus.Conn, name string) (mainPID int, controlGroup string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := conn.GetServicePropertyContext(ctx, name, "MainPID")
	if err != nil {
		t.Fatalf("MainPID of %s: %v", name, err)
	}
	pid, ok := p.Value.Value().(uint32)
	if !ok {
		t.Fatalf("MainPID of %s is %v; want a uint32", name, p.Value)
	}
	p, err = conn.GetServicePropertyContext(ctx, name, "ControlGroup")
	if err != nil {
		t.Fatalf("ControlGroup of %s: %v", name, err)
	}
	cg, _ := p.Value.Value().(string)
	return int(pid), cg
}

// hostCgroup is the host path of a host process's cgroup v2.
func hostCgroup(t *testing.T, pid int) string {
	t.Helper()
	mnt, err := cgroup2Mount()
	if err != nil || mnt == "" {
		t.Fatalf("cgroup2 mount: %q, %v", mnt, err)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return filepath.Join(mnt, rest)
		}
	}
	t.Fatalf("process %d has no cgroup v2 in %q", pid, b)
	return ""
}

func cmdline(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
}

// waitCmdline waits until a process runs want: systemd's job for a simple
// service is done once it forked, before the exec.
func waitCmdline(t *testing.T, pid int, want string) {
	t.Helper()
	var got string
	if err := waitFor(10*time.Second, func() (bool, error) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		got = strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
		return got == want, err
	}); err != nil {
		t.Fatalf("process %d runs %q; want %q: %v", pid, got, want, err)
	}
}

func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := waitFor(10*time.Second, func() (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestBoot(t *testing.T) {
	s := Start(t, Options{})
	conn := s.Connect(t)
	p, err := conn.SystemStateContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Value.Value(); got != "running" && got != "degraded" {
		t.Errorf("SystemState = %v; want running or degraded", got)
	}

	// PID 1 of the namespace is systemd, a member of the fixture's cgroup,
	// in a PID namespace of its own.
	pid, err := s.HostPID(1)
	if err != nil {
		t.Fatal(err)
	}
	if got := cmdline(t, pid); !strings.Contains(got, "systemd --unit=fixture.target") {
		t.Errorf("PID 1 of the namespace (host %d) runs %q; want systemd", pid, got)
	}
	if pid == os.Getpid() {
		t.Errorf("HostPID(1) = the test's own PID")
	}
	if cg := hostCgroup(t, pid); !within(cg, s.Cgroup()) {
		t.Errorf("systemd's cgroup %s is not under the fixture's %s", cg, s.Cgroup())
	}
	for _, ns := range []string{"pid", "mnt", "uts", "ipc", "cgroup"} {
		mine, err1 := os.Readlink("/proc/self/ns/" + ns)
		its, err2 := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + ns)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		if mine == its {
			t.Errorf("systemd shares the test's %s namespace (%s)", ns, its)
		}
	}
	// Only the fixture's units are there: no generator ran, the host's
	// /lib/systemd/system is hidden.
	units, err := conn.ListUnitsContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range units {
		names = append(names, u.Name)
		if strings.HasSuffix(u.Name, ".service") && u.Name != "dbus.service" {
			t.Errorf("unexpected service %s (%s) in the fixture", u.Name, u.ActiveState)
		}
	}
	t.Logf("units: %s", strings.Join(names, " "))
	eventually(t, "systemd's banner on the console", func() bool {
		return strings.Contains(s.Console(), "running in system mode")
	})
	if _, err := os.Stat(strings.TrimPrefix(s.BusAddress(), "unix:path=")); err != nil {
		t.Errorf("bus socket: %v", err)
	}
}

func TestUnitLifecycle(t *testing.T) {
	s := Start(t, Options{Units: map[string]string{"sleeper.service": sleeper}})
	conn := s.Connect(t)
	startUnit(t, conn, "sleeper.service")

	nsPID, controlGroup := serviceProps(t, conn, "sleeper.service")
	if nsPID == 0 || controlGroup != "/system.slice/sleeper.service" {
		t.Fatalf("MainPID %d, ControlGroup %q; want a PID and /system.slice/sleeper.service", nsPID, controlGroup)
	}
	pid, err := s.HostPID(nsPID)
	if err != nil {
		t.Fatal(err)
	}
	if pid == nsPID {
		t.Errorf("host PID %d = namespace PID: not mapped", pid)
	}
	waitCmdline(t, pid, "/bin/sleep 1000")
	cg := s.CgroupPath(controlGroup)
	if got := hostCgroup(t, pid); got != cg {
		t.Errorf("cgroup of host PID %d = %s; want CgroupPath(%q) = %s", pid, got, controlGroup, cg)
	}
	if !within(cg, s.Cgroup()) {
		t.Errorf("CgroupPath(%q) = %s; not under %s", controlGroup, cg, s.Cgroup())
	}
	procs, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil || strings.TrimSpace(string(procs)) != strconv.Itoa(pid) {
		t.Errorf("%s/cgroup.procs = %q, %v; want %d", cg, procs, err, pid)
	}

	sleep := procOf(t, pid)
	stopUnit(t, conn, "sleeper.service")
	eventually(t, "sleeper's process gone after StopUnit", func() bool { return !sleep.alive() })
	if _, err := s.HostPID(nsPID); err == nil {
		t.Errorf("HostPID(%d) still finds a process after the stop", nsPID)
	}
	p, err := conn.GetUnitPropertyContext(context.Background(), "sleeper.service", "ActiveState")
	if err != nil || p.Value.Value() != "inactive" {
		t.Errorf("ActiveState after stop = %v, %v; want inactive", p, err)
	}
}

func TestWriteUnit(t *testing.T) {
	s := Start(t, Options{})
	conn := s.Connect(t)
	if err := s.WriteUnit("late.service", sleeper); err != nil {
		t.Fatal(err)
	}
	startUnit(t, conn, "late.service")
	nsPID, _ := serviceProps(t, conn, "late.service")
	pid, err := s.HostPID(nsPID)
	if err != nil {
		t.Fatal(err)
	}
	waitCmdline(t, pid, "/bin/sleep 1000")

	// A replaced unit is in force after the reload WriteUnit did.
	if err := s.WriteUnit("late.service", strings.Replace(sleeper, "1000", "2000", 1)); err != nil {
		t.Fatal(err)
	}
	job(t, "late.service", "restart", func(ctx context.Context, ch chan<- string) (int, error) {
		return conn.RestartUnitContext(ctx, "late.service", "replace", ch)
	})
	nsPID, _ = serviceProps(t, conn, "late.service")
	if pid, err = s.HostPID(nsPID); err != nil {
		t.Fatal(err)
	}
	waitCmdline(t, pid, "/bin/sleep 2000")

	for _, name := range []string{"", "a/b.service", "..", "noSuffix"} {
		if err := s.WriteUnit(name, sleeper); err == nil {
			t.Errorf("WriteUnit(%q) = nil; want an error", name)
		}
	}
}

// TestUnitOutput: a unit's output appended to a file of the test's is
// read from the host, as the controller's tests will read the stand-in's.
func TestUnitOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.log")
	s := Start(t, Options{Units: map[string]string{"hello.service": "[Service]\nType=oneshot\n" +
		"ExecStart=/bin/echo hello from the fixture\nStandardOutput=append:" + out + "\n"}})
	startUnit(t, s.Connect(t), "hello.service")
	got, err := os.ReadFile(out)
	if err != nil || string(got) != "hello from the fixture\n" {
		t.Errorf("%s = %q, %v; want the unit's line", out, got, err)
	}
}

// TestCleanup runs a fixture in a subtest and checks that its end left no
// process, cgroup or directory behind.
func TestCleanup(t *testing.T) {
	var procs []hostProc
	var cgroup, root string
	t.Run("fixture", func(t *testing.T) {
		s := Start(t, Options{Units: map[string]string{"sleeper.service": sleeper}})
		conn := s.Connect(t)
		startUnit(t, conn, "sleeper.service")
		cgroup, root = s.Cgroup(), s.root
		nsPID, _ := serviceProps(t, conn, "sleeper.service")
		for _, n := range []int{1, nsPID} {
			pid, err := s.HostPID(n)
			if err != nil {
				t.Fatal(err)
			}
			procs = append(procs, procOf(t, pid))
		}
	})
	if t.Failed() || cgroup == "" {
		t.Skip("the fixture did not run")
	}
	for _, p := range procs {
		if p.alive() {
			t.Errorf("process %d (%s) outlived the fixture", p.pid, cmdline(t, p.pid))
		}
	}
	for _, dir := range []string{cgroup, root} {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left behind (stat: %v)", dir, err)
		}
	}
}

// TestParallel runs two fixtures at once: each has its own cgroup, bus and
// namespace, and the same unit name in each maps to its own process.
func TestParallel(t *testing.T) {
	type seen struct{ cgroup, bus, unitCgroup string }
	results := make([]seen, 2)
	t.Run("group", func(t *testing.T) {
		for i := range results {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				s := Start(t, Options{Units: map[string]string{"sleeper.service": sleeper}})
				conn := s.Connect(t)
				startUnit(t, conn, "sleeper.service")
				nsPID, cg := serviceProps(t, conn, "sleeper.service")
				pid, err := s.HostPID(nsPID)
				if err != nil {
					t.Fatal(err)
				}
				got := hostCgroup(t, pid)
				if got != s.CgroupPath(cg) {
					t.Errorf("sleeper's host cgroup %s; want %s", got, s.CgroupPath(cg))
				}
				results[i] = seen{s.Cgroup(), s.BusAddress(), got}
			})
		}
	})
	if results[0].cgroup == "" || results[1].cgroup == "" {
		t.Skip("the fixtures did not run")
	}
	a, b := results[0], results[1]
	if a.cgroup == b.cgroup || a.bus == b.bus || a.unitCgroup == b.unitCgroup {
		t.Errorf("two fixtures share a cgroup or a bus: %+v and %+v", a, b)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero", Options{}, true},
		{"units", Options{Units: map[string]string{"a.service": sleeper, "b.socket": ""}, BootTimeout: time.Second}, true},
		{"empty name", Options{Units: map[string]string{"": sleeper}}, false},
		{"slash", Options{Units: map[string]string{"../a.service": sleeper}}, false},
		{"no suffix", Options{Units: map[string]string{"a": sleeper}}, false},
		{"negative timeout", Options{BootTimeout: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.validate()
			if (err == nil) != tt.ok {
				t.Errorf("validate() = %v; want ok %v", err, tt.ok)
			}
		})
	}
}

func TestUnescapeMountPath(t *testing.T) {
	for in, want := range map[string]string{
		"/sys/fs/cgroup":          "/sys/fs/cgroup",
		`/mnt/a\040b`:             "/mnt/a b",
		`/mnt/tab\011and\134back`: "/mnt/tab\tand\\back",
		`/mnt/odd\04`:             `/mnt/odd\04`,
	} {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("unescapeMountPath(%q) = %q; want %q", in, got, want)
		}
	}
}

// holdEnv makes TestHold, in a child test binary, start a fixture and hold
// it until its stdin closes.
const holdEnv = "SYSTEMDTEST_TEST_HOLD"

// TestHold is the child of TestKilledTestBinary; it is skipped otherwise.
func TestHold(t *testing.T) {
	if os.Getenv(holdEnv) == "" {
		t.Skip("only run by TestKilledTestBinary")
	}
	s := Start(t, Options{Units: map[string]string{"sleeper.service": sleeper}})
	conn := s.Connect(t)
	startUnit(t, conn, "sleeper.service")
	nsPID, _ := serviceProps(t, conn, "sleeper.service")
	pid, err := s.HostPID(nsPID)
	if err != nil {
		t.Fatal(err)
	}
	systemd, err := s.HostPID(1)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("HOLD %d %d %s %s\n", systemd, pid, s.Cgroup(), s.root)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// TestKilledTestBinary kills a test binary that holds a fixture, so that no
// cleanup runs: systemd and its services must die with it (Pdeathsig). The
// empty cgroup and the temporary directory are left; this test removes them.
func TestKilledTestBinary(t *testing.T) {
	if _, reason := hostReady(); reason != "" {
		t.Skip("systemdtest: skipped: " + reason)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHold$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), holdEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string)
	var output syncbuf.Buffer
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			output.Write([]byte(sc.Text() + "\n"))
			if strings.HasPrefix(sc.Text(), "HOLD ") {
				lines <- sc.Text()
			}
		}
	}()
	var hold string
	select {
	case hold = <-lines:
	case <-time.After(60 * time.Second):
	}
	if strings.Contains(output.String(), "--- SKIP: TestHold") {
		t.Skipf("the child skipped:\n%s", output.String())
	}
	f := strings.Fields(hold)
	if len(f) != 5 {
		t.Fatalf("child said %q; output:\n%s\n%s", hold, output.String(), stderr.String())
	}
	cgroup, root := f[3], f[4]
	t.Cleanup(func() {
		// Should anything have survived, it ends here.
		_ = os.WriteFile(filepath.Join(cgroup, "cgroup.kill"), []byte("1"), 0)
		_ = waitFor(10*time.Second, func() (bool, error) { return cgroupEmpty(cgroup) })
		if ok, err := removeCgroupTree(cgroup); !ok {
			t.Errorf("remove %s: %v", cgroup, err)
		}
		os.RemoveAll(root)
	})
	var procs []hostProc
	for _, p := range f[1:3] {
		pid, _ := strconv.Atoi(p)
		procs = append(procs, procOf(t, pid))
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		eventually(t, fmt.Sprintf("process %d gone with the test binary", p.pid), func() bool { return !p.alive() })
	}
	eventually(t, "the fixture's cgroup empty", func() bool { ok, _ := cgroupEmpty(cgroup); return ok })
	stdin.Close()
	for range lines {
	}
}

// TestSweepStale: Start removes the empty cgroups of fixtures whose test
// binary was killed (older than staleAge) and leaves recent ones alone.
func TestSweepStale(t *testing.T) {
	if _, reason := hostReady(); reason != "" {
		t.Skip("systemdtest: skipped: " + reason)
	}
	mnt, err := cgroup2Mount()
	if err != nil || mnt == "" {
		t.Skipf("systemdtest: skipped: no cgroup v2 (%v)", err)
	}
	stale, err := os.MkdirTemp(mnt, cgroupPrefix)
	if err != nil {
		t.Skipf("systemdtest: skipped: %v", err)
	}
	recent, err := os.MkdirTemp(mnt, cgroupPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range []string{stale, recent} {
			if ok, err := removeCgroupTree(d); !ok {
				t.Errorf("remove %s: %v", d, err)
			}
		}
	})
	old := time.Now().Add(-2 * staleAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	Start(t, Options{})
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale cgroup %s still there (stat: %v)", stale, err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("recent cgroup %s: %v; want it left alone", recent, err)
	}
}
