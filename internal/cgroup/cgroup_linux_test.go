package cgroup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	copystandin "github.com/sanasend/sanasend-bot/internal/standin"
)

// writable returns the hierarchy the tests may use, or skips the test
// saying why there is none.
func writable(t testing.TB) Hierarchy {
	t.Helper()
	h, err := Find()
	var ue *UnavailableError
	if errors.As(err, &ue) {
		t.Skipf("no writable cgroup v2 hierarchy: %s (%v)", ue.Sentence(), err)
	}
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	return h
}

// testParent makes a cgroup of the test's own under the writable
// hierarchy and returns it as a Hierarchy (At), so that the tests' groups
// never mix with anything else; cleanup removes it.
func testParent(t testing.TB) Hierarchy {
	t.Helper()
	h := writable(t)
	p := newGroup(t, h, "sanasend-test-"+randomHex(t))
	sub, err := At(p.Path())
	if err != nil {
		t.Fatalf("At(%s): %v", p.Path(), err)
	}
	return sub
}

// newGroup creates a cgroup; cleanup kills what is in it, waits for it to
// be empty and removes it.
func newGroup(t testing.TB, h Hierarchy, name string) *Group {
	t.Helper()
	g, err := h.Create(name)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	t.Cleanup(func() {
		if err := g.Kill(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cleanup: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.WaitEmpty(ctx); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cleanup: %v", err)
		}
		if err := g.Remove(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return g
}

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// startInto starts cmd inside g (CLONE_INTO_CGROUP) in a process group of
// its own; cleanup kills the cgroup and reaps cmd.
func startInto(t testing.TB, g *Group, cmd *exec.Cmd) {
	t.Helper()
	f, err := g.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, UseCgroupFD: true, CgroupFD: int(f.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v into %s: %v", cmd.Args, g.Path(), err)
	}
	t.Cleanup(func() {
		_ = g.Kill()
		_ = cmd.Wait()
	})
}

// sleeper is the test binary as a process that ignores SIGTERM and sleeps
// until killed. ready returns once it ignores SIGTERM.
func sleeper(t testing.TB) (cmd *exec.Cmd, ready func()) {
	t.Helper()
	cmd = exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), helperEnv+"=sleep")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	return cmd, func() {
		t.Helper()
		line, err := bufio.NewReader(out).ReadString('\n')
		if line != "ready\n" {
			t.Fatalf("sleeper said %q, %v; want ready", line, err)
		}
	}
}

func TestFindThisHost(t *testing.T) {
	h := writable(t)
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(self), "0::"+h.Self+"\n") {
		t.Errorf("Find().Self = %q; /proc/self/cgroup is %q", h.Self, self)
	}
	for _, dir := range []string{h.Mount, h.Parent} {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			t.Errorf("%s: statfs type %#x, %v; want cgroup2", dir, st.Type, err)
		}
	}
	t.Logf("mount %s, bot's cgroup %s, parent %s", h.Mount, h.Self, h.Parent)
}

func TestAtRejects(t *testing.T) {
	h := writable(t)
	for _, parent := range []string{"relative/dir", "/tmp", h.Mount + "-elsewhere", filepath.Join(h.Mount, "no-such-cgroup-"+randomHex(t))} {
		if got, err := At(parent); err == nil {
			t.Errorf("At(%q) = %+v, nil; want an error", parent, got)
		}
	}
}

func TestCreateIsIdempotentAndRemoveEmpties(t *testing.T) {
	h := testParent(t)
	g, err := h.Create("whatsapp")
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.Create("whatsapp")
	if err != nil || again.Path() != g.Path() {
		t.Fatalf("second Create = %v, %v; want %s, nil", again, err, g.Path())
	}
	if want := filepath.Join(h.Parent, "whatsapp"); g.Path() != want {
		t.Errorf("Path() = %s; want %s", g.Path(), want)
	}
	procs, err := g.Procs()
	if err != nil || len(procs) != 0 {
		t.Errorf("Procs() = %v, %v; want none", procs, err)
	}
	if busy, err := g.Populated(); err != nil || busy {
		t.Errorf("Populated() = %v, %v; want false", busy, err)
	}
	if err := g.WaitEmpty(context.Background()); err != nil {
		t.Errorf("WaitEmpty on an empty group: %v", err)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(g.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Remove, stat %s: %v; want not exist", g.Path(), err)
	}
	if err := g.Remove(); err != nil {
		t.Errorf("second Remove: %v; want nil", err)
	}
	if _, err := h.Group("whatsapp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Group after Remove: %v; want fs.ErrNotExist", err)
	}
	if err := g.Kill(); err == nil || errors.Is(err, ErrNoKill) {
		t.Errorf("Kill of a removed group: %v; want an error that is not ErrNoKill", err)
	}
	for _, bad := range []string{"", "..", "a/b", "cgroup.procs"} {
		if _, err := h.Create(bad); err == nil {
			t.Errorf("Create(%q): nil error", bad)
		}
		if _, err := h.Group(bad); err == nil {
			t.Errorf("Group(%q): nil error", bad)
		}
	}
}

func TestPopulatedGroupIsRefusedThenKilled(t *testing.T) {
	h := testParent(t)
	g := newGroup(t, h, "whatsapp")
	cmd, ready := sleeper(t)
	startInto(t, g, cmd)
	ready()

	procs, err := g.Procs()
	if err != nil || !slices.Equal(procs, []int{cmd.Process.Pid}) {
		t.Fatalf("Procs() = %v, %v; want [%d]", procs, err, cmd.Process.Pid)
	}
	if busy, err := g.Populated(); err != nil || !busy {
		t.Errorf("Populated() = %v, %v; want true", busy, err)
	}
	if _, err := h.Create("whatsapp"); !errors.Is(err, ErrPopulated) {
		t.Errorf("Create of a populated group: %v; want ErrPopulated", err)
	}
	if err := g.Remove(); !errors.Is(err, ErrPopulated) {
		t.Errorf("Remove of a populated group: %v; want ErrPopulated", err)
	}
	found, err := h.Group("whatsapp")
	if err != nil || found.Path() != g.Path() {
		t.Errorf("Group = %v, %v; want %s", found, err, g.Path())
	}

	// SIGTERM does nothing to it; WaitEmpty gives up with the context.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := g.WaitEmpty(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitEmpty with the sleeper alive: %v; want context.DeadlineExceeded", err)
	}

	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := g.WaitEmpty(ctx2); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("sleeper's end: %v; want killed by SIGKILL", err)
	}
	if err := g.Remove(); err != nil {
		t.Errorf("Remove after the kill: %v", err)
	}
}

// TestDelegation runs the helper as an unprivileged user (nobody): Find
// refuses where the user has no delegated cgroup, and works in one
// delegated to it the way systemd's Delegate=yes does (the directory and
// its cgroup.procs, cgroup.subtree_control and cgroup.threads chowned).
func TestDelegation(t *testing.T) {
	h := testParent(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a helper as another user")
	}
	bin := unprivilegedCopy(t)
	const nobody = 65534

	run := func(g *Group) (string, int) {
		t.Helper()
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), helperEnv+"=delegated")
		cmd.Dir = "/"
		f, err := g.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody},
			UseCgroupFD: true, CgroupFD: int(f.Fd())}
		out, err := cmd.Output()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("run helper: %v", err)
		}
		return strings.TrimSpace(string(out)), cmd.ProcessState.ExitCode()
	}

	plain := newGroup(t, h, "not-delegated")
	out, code := run(plain)
	if want := fmt.Sprintf("unavailable %d the bot may not create cgroups under %s:", NoPermission, plain.Path()); code != 3 || !strings.HasPrefix(out, want) {
		t.Errorf("helper in a cgroup not delegated: exit %d, %q; want exit 3, %q...", code, out, want)
	}

	deleg := newGroup(t, h, "delegated")
	for _, p := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
		if err := os.Chown(filepath.Join(deleg.Path(), p), nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	out, code = run(deleg)
	if want := "ok " + deleg.Path(); code != 0 || out != want {
		t.Errorf("helper in a delegated cgroup: exit %d, %q; want exit 0, %q", code, out, want)
	}
}

// unprivilegedCopy copies the test binary where any user may run it.
func unprivilegedCopy(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "cgroup.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestStandinTreeIsMemberAndKilled starts the real stand-in with three
// sessions straight into a cgroup: its 28 processes (node, and per session
// a detached browser, 6 children and 2 crash handlers double-forked to
// init) are all members by construction, every one of them survives
// SIGTERM, and cgroup.kill ends them all.
func TestStandinTreeIsMemberAndKilled(t *testing.T) {
	h := testParent(t)
	g := newGroup(t, h, "whatsapp")
	marker := "SANASEND_CGROUP_TEST=" + randomHex(t)
	cmd, ignoring := standin(t, marker)
	startInto(t, g, cmd)

	const sessions, want = 3, 1 + 3*(1+6+2)
	var procs []int
	waitFor(t, "the stand-in's whole tree", 60*time.Second, func() bool {
		procs, _ = g.Procs()
		// The crash handlers' launchers have exited: the handlers are
		// orphans.
		if len(procs) != want || count(procs, "--type=crashpad-handler") != 2*sessions ||
			count(procs, "--type=crashpad-launcher") != 0 {
			return false
		}
		// And each one has run the preload: it ignores SIGTERM.
		for _, pid := range procs {
			if _, err := os.Stat(filepath.Join(ignoring, strconv.Itoa(pid))); err != nil {
				return false
			}
		}
		return true
	})

	marked := markedPIDs(t, marker)
	slices.Sort(procs)
	if !slices.Equal(procs, marked) {
		t.Fatalf("cgroup.procs %v; the processes with the marker are %v", procs, marked)
	}
	var orphans, leaders int
	for _, pid := range procs {
		if procStatus(t, pid)["PPid"] == "1" {
			orphans++
		}
		if sid, _ := unix.Getsid(pid); sid == pid {
			leaders++
		}
	}
	// The crash handlers are orphans leading their own sessions; the
	// browsers lead theirs (detached).
	if orphans != 2*sessions || leaders != 3*sessions {
		t.Errorf("%d orphans and %d session leaders among the members; want %d and %d", orphans, leaders, 2*sessions, 3*sessions)
	}

	names := map[int]string{}
	for _, pid := range procs {
		names[pid] = cmdline(pid)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, pid := range procs {
				t.Logf("%d: %.150s", pid, names[pid])
			}
		}
	})
	for _, pid := range procs {
		if err := unix.Kill(pid, unix.SIGTERM); err != nil {
			t.Fatalf("SIGTERM %d: %v", pid, err)
		}
	}
	// Each one has taken its SIGTERM (none pending) and lives on.
	waitFor(t, "every member to take its SIGTERM", 10*time.Second, func() bool {
		for _, pid := range procs {
			st := procStatus(t, pid)
			if sigterm(t, st["SigPnd"]) || sigterm(t, st["ShdPnd"]) {
				return false
			}
		}
		return true
	})
	if after, err := g.Procs(); err != nil || len(after) != want {
		t.Fatalf("after SIGTERM to every member, Procs() = %d pids, %v; want %d", len(after), err, want)
	}

	start := time.Now()
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.WaitEmpty(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("cgroup.kill emptied %d processes that ignore SIGTERM in %v", want, took)
	if left := markedPIDs(t, marker); len(left) > 0 {
		t.Errorf("processes left after the kill: %v", left)
	}
	if err := cmd.Wait(); err == nil {
		t.Errorf("the stand-in exited 0 after cgroup.kill")
	}
}

// standin is the stand-in's server run by node directly (no npm, no shell:
// every process of its tree is Node.js with the SIGTERM-ignoring preload),
// on a private copy with three sessions that restore.
// Each process creates a file named by its pid in the returned directory
// once it ignores SIGTERM.
func standin(t *testing.T, marker string) (cmd *exec.Cmd, ignoring string) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not on PATH: the test runs the real stand-in service (Node.js 20)")
	}
	dir := copystandin.Dir(t)
	sessions := filepath.Join(dir, "sessions.json")
	var entries []string
	for i := 1; i <= 3; i++ {
		entries = append(entries, fmt.Sprintf(`{"session_id":"user_%d_instance_main","instance_name":"main","restore":"ok","after":"ready"}`, i))
	}
	if err := os.WriteFile(sessions, []byte("["+strings.Join(entries, ",")+"]"), 0o644); err != nil {
		t.Fatal(err)
	}
	preload, err := filepath.Abs("cgrouptest/ignore-sigterm.js") // cgrouptest imports this package
	if err != nil {
		t.Fatal(err)
	}
	// A short private TMPDIR: a killed fake Chromium leaves its socket
	// dir there, and socket paths are limited to 108 bytes.
	tmp, err := os.MkdirTemp("", "cg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	ignoring = t.TempDir()
	cmd = exec.Command("node", "src/server.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), marker,
		"NODE_OPTIONS=--require="+preload,
		"IGNORING_SIGTERM_DIR="+ignoring,
		"TMPDIR="+tmp,
		"PORT="+strconv.Itoa(port),
		"SESSIONS_FILE="+sessions,
		"RESTORE_DELAY_MS=50",
		"RESTORE_STEP_MS=30",
		"FOLLOWUP_MS=50",
		"FAKE_CHROMIUM_CHILDREN=6",
	)
	return cmd, ignoring
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// markedPIDs lists the live processes whose environment holds marker.
func markedPIDs(t testing.TB, marker string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue // gone, or a zombie
		}
		if slices.ContainsFunc(bytes.Split(env, []byte{0}), func(v []byte) bool { return string(v) == marker }) {
			pids = append(pids, pid)
		}
	}
	// ReadDir sorts by name ("1003" before "673"): order them as numbers.
	slices.Sort(pids)
	return pids
}

func procStatus(t testing.TB, pid int) map[string]string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// sigterm reports whether a signal mask from /proc/<pid>/status holds
// SIGTERM.
func sigterm(t testing.TB, mask string) bool {
	t.Helper()
	v, err := strconv.ParseUint(mask, 16, 64)
	if err != nil {
		t.Fatalf("signal mask %q: %v", mask, err)
	}
	return v&(1<<(unix.SIGTERM-1)) != 0
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(b), "\x00", " ")
}

func count(pids []int, substr string) int {
	n := 0
	for _, pid := range pids {
		if strings.Contains(cmdline(pid), substr) {
			n++
		}
	}
	return n
}

// BenchmarkSpawn compares exec.Cmd.Start of a plain process with a start
// straight into a cgroup (CLONE_INTO_CGROUP), alternating the two in each
// iteration; the exits are reaped outside the timing.
//
//	go test ./internal/cgroup -run '^$' -bench Spawn -benchtime 300x
func BenchmarkSpawn(b *testing.B) {
	h := testParent(b)
	g := newGroup(b, h, "spawn")
	f, err := g.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bin, err := exec.LookPath("true")
	if err != nil {
		b.Fatal(err)
	}
	var plain, into time.Duration
	spawn := func(attr *syscall.SysProcAttr) time.Duration {
		cmd := exec.Command(bin)
		cmd.SysProcAttr = attr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
		return took
	}
	n := 0
	for b.Loop() {
		plain += spawn(&syscall.SysProcAttr{})
		into += spawn(&syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())})
		n++
	}
	b.ReportMetric(float64(plain.Microseconds())/float64(n), "plain-µs/spawn")
	b.ReportMetric(float64(into.Microseconds())/float64(n), "cgroup-µs/spawn")
	b.ReportMetric(float64(into)/float64(plain), "cgroup/plain")
	b.Logf("%d spawns each: plain %v, into the cgroup %v a spawn", n, plain/time.Duration(n), into/time.Duration(n))
}

func TestKernelAtLeast(t *testing.T) {
	tests := []struct {
		release string
		want    bool
	}{
		{"6.18.44-fc-v1252", true},
		{"5.14.0-362.el9.x86_64", true},
		{"5.15.0-91-generic", true},
		{"5.13.19", false},
		{"5.10.0-28-amd64", false},
		{"4.19.0", false},
		{"10.0", true},
		{"6.1+", true},
		{"", false},
		{"six", false},
	}
	for _, tt := range tests {
		if got := kernelAtLeast(tt.release, 5, 14); got != tt.want {
			t.Errorf("kernelAtLeast(%q, 5, 14) = %v; want %v", tt.release, got, tt.want)
		}
	}
}
