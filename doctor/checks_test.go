package doctor

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// checkWriteScript writes an executable /bin/sh script for the test (production
// code never runs a shell).
func checkWriteScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkSkipOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("uses /bin/sh scripts and unix permissions")
	}
}

func findCheck(t *testing.T, checks []Check, name string) Check {
	t.Helper()
	for _, c := range checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, checks)
	return Check{}
}

// checkWant is what a test expects of one named check.
type checkWant struct {
	verdict Verdict
	detail  string // substring of Detail; "" = any
}

func assertChecks(t *testing.T, checks []Check, wants map[string]checkWant) {
	t.Helper()
	for name, w := range wants {
		c := findCheck(t, checks, name)
		if c.Verdict != w.verdict || !strings.Contains(c.Detail, w.detail) {
			t.Errorf("check %q = %s %q; want %s containing %q", name, c.Verdict, c.Detail, w.verdict, w.detail)
		}
		if c.Verdict != VerdictOK && c.Hint == "" {
			t.Errorf("check %q is %s with no hint", name, c.Verdict)
		}
		if c.Verdict == VerdictOK && c.Hint != "" {
			t.Errorf("check %q is ok with hint %q", name, c.Hint)
		}
		if strings.ContainsAny(c.Detail, "\n\r") {
			t.Errorf("check %q detail is not one line: %q", name, c.Detail)
		}
	}
}

// checkBaseEnv is a service that passes every precondition: a dir, a start
// command on a PATH of the test's own, a free port, a log dir to be created.
func checkBaseEnv(t *testing.T) (Env, string) {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "svc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "bin")
	checkWriteScript(t, bin, "fakestart", "exit 0")
	return Env{
		Dir:      dir,
		Start:    []string{"fakestart", "start"},
		Env:      []string{"HOME=" + base, "PATH=" + bin},
		HostPort: "127.0.0.1:" + checkFreePort(t),
		LogPath:  filepath.Join(dir, "logs", "combined.log"),
		Timeout:  10 * time.Second,
	}, base
}

func TestPreconditions(t *testing.T) {
	checkSkipOnWindows(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, e *Env, base string) map[string]checkWant
	}{
		{"all ok", func(t *testing.T, e *Env, base string) map[string]checkWant {
			_, port, _ := net.SplitHostPort(e.HostPort)
			return map[string]checkWant{
				"service dir":      {VerdictOK, e.Dir},
				"start command":    {VerdictOK, "fakestart start (" + filepath.Join(base, "bin", "fakestart") + ")"},
				"port " + port:     {VerdictOK, "is free"},
				"log dir writable": {VerdictOK, "does not exist yet; " + e.Dir + " is writable"},
			}
		}},
		{"missing dir", func(t *testing.T, e *Env, base string) map[string]checkWant {
			e.Dir = filepath.Join(base, "nope")
			return map[string]checkWant{"service dir": {VerdictFail, e.Dir + " does not exist"}}
		}},
		{"dir is a file", func(t *testing.T, e *Env, base string) map[string]checkWant {
			e.Dir = filepath.Join(base, "file")
			if err := os.WriteFile(e.Dir, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return map[string]checkWant{"service dir": {VerdictFail, e.Dir + " is not a directory"}}
		}},
		{"start binary missing from PATH", func(t *testing.T, e *Env, base string) map[string]checkWant {
			e.Start = []string{"npmx", "start"}
			return map[string]checkWant{"start command": {VerdictFail, "npmx not found on PATH (PATH=" + filepath.Join(base, "bin") + ")"}}
		}},
		{"no PATH in the service env", func(t *testing.T, e *Env, base string) map[string]checkWant {
			e.Env = nil
			return map[string]checkWant{"start command": {VerdictFail, "fakestart not found: PATH is empty"}}
		}},
		{"no start command", func(t *testing.T, e *Env, base string) map[string]checkWant {
			e.Start = nil
			return map[string]checkWant{"start command": {VerdictFail, "no start command"}}
		}},
		{"relative start resolved against Dir", func(t *testing.T, e *Env, base string) map[string]checkWant {
			p := checkWriteScript(t, e.Dir, "run.sh", "exit 0")
			e.Start = []string{"./run.sh"}
			return map[string]checkWant{"start command": {VerdictOK, "./run.sh (" + p + ")"}}
		}},
		{"relative start missing", func(t *testing.T, e *Env, base string) map[string]checkWant {
			e.Start = []string{"./run.sh"}
			return map[string]checkWant{"start command": {VerdictFail, "./run.sh not found in " + e.Dir}}
		}},
		{"relative start not executable", func(t *testing.T, e *Env, base string) map[string]checkWant {
			if err := os.WriteFile(filepath.Join(e.Dir, "run.sh"), []byte("#!/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			e.Start = []string{"./run.sh"}
			return map[string]checkWant{"start command": {VerdictFail, "./run.sh is not executable"}}
		}},
		{"port in use by this process", func(t *testing.T, e *Env, base string) map[string]checkWant {
			_, port := checkListenLocal(t)
			e.HostPort = "127.0.0.1:" + port
			return map[string]checkWant{"port " + port: {VerdictFail, fmt.Sprintf("in use by pid %d (", os.Getpid())}}
		}},
		{"log dir under a regular file", func(t *testing.T, e *Env, base string) map[string]checkWant {
			f := filepath.Join(base, "file")
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			e.LogPath = filepath.Join(f, "logs", "combined.log")
			return map[string]checkWant{"log dir writable": {VerdictFail, f + " is not a directory"}}
		}},
		{"log path is a directory", func(t *testing.T, e *Env, base string) map[string]checkWant {
			if err := os.MkdirAll(e.LogPath, 0o755); err != nil {
				t.Fatal(err)
			}
			return map[string]checkWant{"log dir writable": {VerdictFail, e.LogPath + " is a directory"}}
		}},
		{"log dir exists", func(t *testing.T, e *Env, base string) map[string]checkWant {
			if err := os.MkdirAll(filepath.Dir(e.LogPath), 0o755); err != nil {
				t.Fatal(err)
			}
			return map[string]checkWant{"log dir writable": {VerdictOK, filepath.Dir(e.LogPath)}}
		}},
		{"unwritable log dir", func(t *testing.T, e *Env, base string) map[string]checkWant {
			if os.Geteuid() == 0 {
				t.Skip("root can write anyway; the regular-file parent case covers the failure")
			}
			logs := filepath.Dir(e.LogPath)
			if err := os.Mkdir(logs, 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(logs, 0o755) })
			return map[string]checkWant{"log dir writable": {VerdictFail, logs + " is not writable"}}
		}},
		{"unwritable parent of an absent log dir", func(t *testing.T, e *Env, base string) map[string]checkWant {
			if os.Geteuid() == 0 {
				t.Skip("root can write anyway")
			}
			if err := os.Chmod(e.Dir, 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(e.Dir, 0o755) })
			return map[string]checkWant{"log dir writable": {VerdictFail, "does not exist and " + e.Dir + " is not writable"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, base := checkBaseEnv(t)
			wants := tt.setup(t, &e, base)
			got := Preconditions(context.Background(), e)
			if len(got) != 4 {
				t.Fatalf("Preconditions returned %d checks; want 4: %+v", len(got), got)
			}
			assertChecks(t, got, wants)
			// Everything not named in wants passes, so each failure is named
			// on its own.
			for _, c := range got {
				if _, named := wants[c.Name]; !named && c.Verdict != VerdictOK {
					t.Errorf("check %q = %s %q; want ok", c.Name, c.Verdict, c.Detail)
				}
			}
			if _, err := os.Stat(filepath.Dir(e.LogPath)); err == nil && tt.name == "all ok" {
				t.Errorf("Preconditions created %s", filepath.Dir(e.LogPath))
			}
		})
	}
}

func TestCheckFailed(t *testing.T) {
	in := []Check{
		{Name: "a", Verdict: VerdictOK},
		{Name: "b", Verdict: VerdictFail},
		{Name: "c", Verdict: VerdictWarn},
		{Name: "d", Verdict: VerdictFail},
	}
	got := Failed(in)
	if len(got) != 2 || got[0].Name != "b" || got[1].Name != "d" {
		t.Errorf("Failed(%v) = %v; want b, d", in, got)
	}
	if got := Failed(in[:1]); got != nil {
		t.Errorf("Failed(all ok) = %v; want nil", got)
	}
}

func TestCheckLookPathIn(t *testing.T) {
	checkSkipOnWindows(t)
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	good := checkWriteScript(t, b, "tool", "exit 0")
	if err := os.Mkdir(a, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, "tool"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(a, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	checkWriteScript(t, b, "adir", "exit 0")
	checkWriteScript(t, filepath.Join(base, "rel"), "reltool", "exit 0")
	link := filepath.Join(base, "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	pathAB := "PATH=" + a + string(filepath.ListSeparator) + b

	tests := []struct {
		file, dir string
		env       []string
		want      string // path, or "error: <substring>"
	}{
		{"tool", "", []string{pathAB}, good},                      // skips a non-executable file
		{"adir", "", []string{pathAB}, filepath.Join(b, "adir")},  // skips a directory
		{"tool", "", []string{"PATH=/nonexistent", pathAB}, good}, // the last PATH wins
		{"tool", "", []string{pathAB, "PATH=/nonexistent"}, "error: not found on PATH (PATH=/nonexistent)"},
		{"reltool", base, []string{"PATH=rel:."}, "error: reltool not found on PATH"}, // relative entries skipped
		{good, "", nil, good},
		{link, "", nil, link},
		{"b/tool", base, nil, good},
		{"./b/tool", base, nil, good},
		{"../b/tool", a, nil, good},
		{filepath.Join(a, "tool"), "", nil, "error: is not executable"},
		{filepath.Join(a, "adir"), "", nil, "error: is not executable"},
		{"./missing", base, nil, "error: ./missing not found in " + base},
		{"", base, []string{pathAB}, "error: empty command"},
	}
	for _, tt := range tests {
		got, err := LookPathIn(tt.file, tt.dir, tt.env)
		if msg, isErr := strings.CutPrefix(tt.want, "error: "); isErr {
			if err == nil || !strings.Contains(err.Error(), msg) {
				t.Errorf("LookPathIn(%q, %q, %q) = %q, %v; want error containing %q", tt.file, tt.dir, tt.env, got, err, msg)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("LookPathIn(%q, %q, %q) = %q, %v; want %q", tt.file, tt.dir, tt.env, got, err, tt.want)
		}
	}
}

func TestDoctorChecksRealNodeAndNPM(t *testing.T) {
	for _, name := range []string{"node", "npm"} {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s is not installed: %v", name, err)
		}
	}
	e := Env{
		Dir:      t.TempDir(),
		Start:    []string{"npm", "start"},
		Env:      os.Environ(),
		HostPort: "127.0.0.1:" + checkFreePort(t),
		LogPath:  filepath.Join(t.TempDir(), "combined.log"),
		Timeout:  30 * time.Second,
	}
	got := HostChecks(context.Background(), e)
	version := regexp.MustCompile(`^v?\d+\.\d+\.\d+\S* \(/.+\)$`)
	for _, name := range []string{"node", "npm"} {
		c := findCheck(t, got, name)
		if c.Verdict != VerdictOK || !version.MatchString(c.Detail) {
			t.Errorf("check %q = %s %q; want ok with a version and a path", name, c.Verdict, c.Detail)
		}
	}
	names := make([]string, len(got))
	for i, c := range got {
		names[i] = c.Name
	}
	_, port, _ := net.SplitHostPort(e.HostPort)
	wantNames := []string{"node", "npm", "service dir", "start command", "port " + port, "log file", "log dir writable", "disk space"}
	if strings.Join(names, ",") != strings.Join(wantNames, ",") {
		t.Errorf("HostChecks names = %q; want %q", names, wantNames)
	}
}

func TestDoctorNodeAndNPMVersions(t *testing.T) {
	checkSkipOnWindows(t)
	tests := []struct {
		name     string
		node     string // script body; "" = no node on PATH
		npm      string
		timeout  time.Duration
		nodeWant checkWant
		npmWant  checkWant
	}{
		{"node 16 is too old", "echo v16.0.0", "echo 8.19.4", 0,
			checkWant{VerdictWarn, "v16.0.0 ("}, checkWant{VerdictOK, "8.19.4 ("}},
		{"node 20", "echo v20.20.2", "echo 10.9.0", 0,
			checkWant{VerdictOK, "v20.20.2 ("}, checkWant{VerdictOK, "10.9.0 ("}},
		{"node 18 is too old", "echo v18.20.0", "echo 10.9.0", 0,
			checkWant{VerdictWarn, "v18.20.0 ("}, checkWant{VerdictOK, "10.9.0"}},
		{"garbage", "echo hello", "echo; echo 'npm WARN x' >&2; echo 10.1.0", 0,
			checkWant{VerdictWarn, `--version printed "hello"`}, checkWant{VerdictOK, "10.1.0"}},
		{"fails", "echo boom >&2; exit 3", "exit 1", 0,
			checkWant{VerdictFail, "node --version: exit status 3: boom"}, checkWant{VerdictFail, "npm --version: exit status 1"}},
		{"missing", "", "echo 10.0.0", 0,
			checkWant{VerdictFail, "node not found on PATH (PATH="}, checkWant{VerdictOK, "10.0.0"}},
		// The shell's child keeps the pipe open after the shell is killed:
		// WaitDelay must end the wait.
		{"hangs", "SLEEP 5; echo v20.0.0", "SLEEP 5", 300 * time.Millisecond,
			checkWant{VerdictFail, "node --version: no answer after 300ms"}, checkWant{VerdictFail, "npm --version: no answer after 300ms"}},
		{"npm gets the update notifier off and no stdin", "echo v20.0.0",
			`[ "$NPM_CONFIG_UPDATE_NOTIFIER" = false ] || { echo notifier on; exit 1; }; read line && exit 2; echo 11.0.0`, 0,
			checkWant{VerdictOK, "v20.0.0"}, checkWant{VerdictOK, "11.0.0"}},
		{"floods its output", "i=0; while [ $i -lt 2000 ]; do echo v20.0.0-$i; i=$((i+1)); done", "echo 10.0.0", 0,
			checkWant{VerdictOK, "v20.0.0-0 ("}, checkWant{VerdictOK, "10.0.0"}},
	}
	// The service env's PATH holds only the fakes: the scripts name sleep by
	// its path.
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, base := checkBaseEnv(t)
			bin := filepath.Join(base, "bin")
			if tt.node != "" {
				checkWriteScript(t, bin, "node", strings.ReplaceAll(tt.node, "SLEEP", sleep))
			}
			checkWriteScript(t, bin, "npm", strings.ReplaceAll(tt.npm, "SLEEP", sleep))
			e.Timeout = tt.timeout
			start := time.Now()
			got := HostChecks(context.Background(), e)
			if tt.timeout > 0 {
				if d := time.Since(start); d > 6*time.Second {
					t.Errorf("HostChecks took %s with a %s timeout", d, tt.timeout)
				}
			}
			assertChecks(t, got, map[string]checkWant{"node": tt.nodeWant, "npm": tt.npmWant})
		})
	}
}

func TestDoctorLogFile(t *testing.T) {
	now := time.Date(2026, 11, 28, 14, 12, 0, 0, time.Local)
	tests := []struct {
		name  string
		setup func(t *testing.T, logPath string)
		want  checkWant
	}{
		{"missing", func(t *testing.T, p string) {}, checkWant{VerdictWarn, "no log yet"}},
		{"present", func(t *testing.T, p string) {
			if err := os.WriteFile(p, make([]byte, 2048), 0o644); err != nil {
				t.Fatal(err)
			}
			mod := now.Add(-2*time.Minute - 10*time.Second)
			if err := os.Chtimes(p, mod, mod); err != nil {
				t.Fatal(err)
			}
		}, checkWant{VerdictOK, "2.0 KiB, last written 2m10s ago (14:09:50)"}},
		{"a directory", func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}, checkWant{VerdictFail, "is a directory"}},
		{"a fifo is not opened", func(t *testing.T, p string) {
			if runtime.GOOS == "windows" {
				t.Skip("no fifos")
			}
			if err := exec.Command("mkfifo", p).Run(); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		}, checkWant{VerdictFail, "combined.log is a FIFO, not a file; the bot will not read it"}},
		{"a symlink out of the service's dir", func(t *testing.T, p string) {
			if runtime.GOOS == "windows" {
				t.Skip("symlinks need privileges")
			}
			if err := os.Symlink("/etc/passwd", p); err != nil {
				t.Fatal(err)
			}
		}, checkWant{VerdictFail, "combined.log is a symlink out of the service's dir (to /etc/passwd): refused"}},
		{"a symlink inside the service's dir", func(t *testing.T, p string) {
			if runtime.GOOS == "windows" {
				t.Skip("symlinks need privileges")
			}
			if err := os.WriteFile(p+".real", make([]byte, 2048), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Base(p)+".real", p); err != nil {
				t.Fatal(err)
			}
		}, checkWant{VerdictOK, "2.0 KiB"}},
		{"unreadable", func(t *testing.T, p string) {
			if runtime.GOOS == "windows" || os.Geteuid() == 0 {
				t.Skip("root reads anything")
			}
			if err := os.WriteFile(p, []byte("x"), 0o200); err != nil {
				t.Fatal(err)
			}
		}, checkWant{VerdictFail, "permission denied"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := checkBaseEnv(t)
			e.LogPath = filepath.Join(e.Dir, "combined.log")
			e.Clock = clockwork.NewFakeClockAt(now)
			tt.setup(t, e.LogPath)
			got := HostChecks(context.Background(), e)
			assertChecks(t, got, map[string]checkWant{"log file": tt.want})
		})
	}
}

func TestDoctorPort(t *testing.T) {
	e, _ := checkBaseEnv(t)
	_, port, _ := net.SplitHostPort(e.HostPort)
	assertChecks(t, HostChecks(context.Background(), e), map[string]checkWant{
		"port " + port: {VerdictWarn, "nothing listens on " + e.HostPort},
	})

	_, port = checkListenLocal(t)
	e.HostPort = "127.0.0.1:" + port
	assertChecks(t, HostChecks(context.Background(), e), map[string]checkWant{
		"port " + port: {VerdictOK, fmt.Sprintf("in use by pid %d (", os.Getpid())},
	})
}

func TestDoctorDiskSpace(t *testing.T) {
	e, _ := checkBaseEnv(t)
	c := findCheck(t, HostChecks(context.Background(), e), "disk space")
	if !strings.Contains(c.Detail, " free of ") || !strings.HasSuffix(c.Detail, " at "+e.Dir) {
		t.Errorf("disk space = %s %q; want \"<n> free of <m> (<p>%% free, <q>%% used) at %s\"", c.Verdict, c.Detail, e.Dir)
	}
	// A service dir not created yet: its nearest parent's filesystem.
	e.Dir = filepath.Join(e.Dir, "not", "yet")
	c = findCheck(t, HostChecks(context.Background(), e), "disk space")
	if !strings.HasSuffix(c.Detail, " at "+filepath.Dir(filepath.Dir(e.Dir))) {
		t.Errorf("disk space for a missing dir = %s %q; want its parent's", c.Verdict, c.Detail)
	}
}

func TestCheckDiskVerdict(t *testing.T) {
	const (
		mib = uint64(1) << 20
		gib = uint64(1) << 30
	)
	tests := []struct {
		free, used, inodesTotal, inodesFree uint64
		want                                Verdict
		detail                              string
	}{
		{50 * gib, 50 * gib, 1000, 900, VerdictOK, "50.0 GiB free of 100.0 GiB (50% free, 50% used)"},
		{11 * gib, 89 * gib, 0, 0, VerdictOK, "11.0 GiB free of 100.0 GiB (11% free, 89% used)"},
		{5 * gib, 95 * gib, 0, 0, VerdictWarn, "5.0 GiB free of 100.0 GiB (5% free, 95% used)"},
		{1 * gib, 99 * gib, 0, 0, VerdictFail, "1.0 GiB free of 100.0 GiB (1% free, 99% used)"},
		{300 * mib, 724 * mib, 0, 0, VerdictFail, "300.0 MiB free of 1.0 GiB (29% free, 71% used)"}, // < 500 MiB
		{600 * mib, 424 * mib, 0, 0, VerdictOK, "600.0 MiB free of 1.0 GiB (59% free, 41% used)"},
		{50 * gib, 50 * gib, 1000, 50, VerdictWarn, "of 100.0 GiB (50% free, 50% used), inodes 5% free"},
		{50 * gib, 50 * gib, 1000, 10, VerdictFail, "of 100.0 GiB (50% free, 50% used), inodes 1% free"},
		{5 * gib, 95 * gib, 1000, 50, VerdictWarn, "of 100.0 GiB (5% free, 95% used), inodes 5% free"},
		{1 * gib, 99 * gib, 1000, 50, VerdictFail, "of 100.0 GiB (1% free, 99% used), inodes 5% free"},
	}
	for _, tt := range tests {
		got, detail := diskVerdict(tt.free, tt.used, tt.inodesTotal, tt.inodesFree)
		if got != tt.want || !strings.Contains(detail, tt.detail) {
			t.Errorf("diskVerdict(%d, %d, %d, %d) = %s %q; want %s containing %q",
				tt.free, tt.used, tt.inodesTotal, tt.inodesFree, got, detail, tt.want, tt.detail)
		}
	}
}

func TestCheckParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		version string
		major   int
		ok      bool
	}{
		{"v20.20.2\n", "v20.20.2", 20, true},
		{"11.19.1\n", "11.19.1", 11, true},
		{"v16.0.0", "v16.0.0", 16, true},
		{"v22.0.0-nightly20240101abc\n", "v22.0.0-nightly20240101abc", 22, true},
		{"npm WARN something\n10.2.3\n", "10.2.3", 10, true},
		{"", "", 0, false},
		{"hello", "", 0, false},
		{"v20", "", 0, false},
		{"version v20.1.1", "", 0, false},
	}
	for _, tt := range tests {
		v, major, ok := checkParseVersion(tt.in)
		if v != tt.version || major != tt.major || ok != tt.ok {
			t.Errorf("checkParseVersion(%q) = %q, %d, %v; want %q, %d, %v", tt.in, v, major, ok, tt.version, tt.major, tt.ok)
		}
	}
}

func TestCheckOutputCaps(t *testing.T) {
	w := checkOutput{max: 10}
	for _, s := range []string{"12345", "67890abc", "def"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v; want %d, nil", s, n, err, len(s))
		}
	}
	if got := w.String(); got != "1234567890" || w.dropped != 6 {
		t.Errorf("capped output = %q (dropped %d); want %q (dropped 6)", got, w.dropped, "1234567890")
	}
}
