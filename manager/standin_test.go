//go:build !windows

package manager

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The helpers in this file run the real Node.js stand-in service
// (examples/whatsapp-service) the way production runs the real one: npm
// start, its own process group, detached fake Chromiums.

// standinDir copies the stand-in into a fresh directory, so every test has
// its own logs and auth dirs.
func standinDir(t testing.TB) string {
	t.Helper()
	requireNode(t)
	src, err := filepath.Abs("../examples/whatsapp-service")
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "whatsapp-service")
	for _, sub := range []string{"package.json", "src", "data"} {
		if err := copyTree(filepath.Join(src, sub), filepath.Join(dst, sub)); err != nil {
			t.Fatalf("copy stand-in: %v", err)
		}
	}
	return dst
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

func requireNode(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not on PATH: the tests run the real stand-in service (Node.js 20)", bin)
		}
	}
}

// freeTCPPort returns a loopback port nobody listens on right now.
func freeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// twoSessions makes the stand-in restore one session that works and one that
// fails (whose browser outlives a graceful stop): the smallest tree that has
// every kind of process, for tests that do not count sessions.
func twoSessions(t testing.TB) map[string]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.json")
	data := `[{"session_id":"user_1_instance_main","instance_name":"main","restore":"ok","after":"ready"},` +
		`{"session_id":"user_2_instance_old","instance_name":"old","restore":"fail","reason":"undefined"}]`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"SESSIONS_FILE": path}
}

func with(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// testService is a Service on a private copy of the stand-in, with fast
// timings. env adds knobs (FAKE_IGNORE_SIGTERM, ...). Cleanup stops it and
// fails the test if any process of its tree is left.
func testService(t testing.TB, env map[string]string, mutate ...func(*ServiceConfig)) *Service {
	t.Helper()
	dir := standinDir(t)
	cfg := testServiceConfig(t, dir, env)
	for _, m := range mutate {
		m(&cfg)
	}
	return newTestServiceFrom(t, cfg)
}

func testServiceConfig(t testing.TB, dir string, env map[string]string) ServiceConfig {
	t.Helper()
	port := freeTCPPort(t)
	// A short private TMPDIR: a killed fake Chromium leaves its socket dir
	// there, as the real one does, and socket paths are limited to 108 bytes.
	tmp, err := os.MkdirTemp("", "ss")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	e := map[string]string{
		"TMPDIR":                     tmp,
		"PORT":                       strconv.Itoa(port),
		"RESTORE_DELAY_MS":           "150",
		"RESTORE_STEP_MS":            "30",
		"FOLLOWUP_MS":                "50",
		"NPM_CONFIG_UPDATE_NOTIFIER": "false",
		// One child (the renderer) per browser, not Chromium's six: every
		// fake process is a Node.js start-up, and the tests start the
		// stand-in many times. A test that needs the faithful tree sets 6.
		"FAKE_CHROMIUM_CHILDREN": "1",
	}
	for k, v := range env {
		e[k] = v
	}
	return ServiceConfig{
		Name:          "whatsapp",
		Dir:           dir,
		URL:           "http://127.0.0.1:" + strconv.Itoa(port),
		Start:         []string{"npm", "start"},
		LogFile:       filepath.Join(dir, "logs", "combined.log"),
		AuthDir:       filepath.Join(dir, ".wwebjs_auth"),
		Env:           e,
		StartTimeout:  20 * time.Second,
		StopTimeout:   5 * time.Second,
		HealthTimeout: 2 * time.Second,
		StateDir:      filepath.Join(filepath.Dir(dir), "state"),
	}
}

func newTestServiceFrom(t testing.TB, cfg ServiceConfig) *Service {
	t.Helper()
	s, err := NewService(cfg, Options{Logger: zerolog.New(zerolog.NewTestWriter(t)), LeftoverGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupService(t, s) })
	return s
}

// cleanupService stops whatever is left of the service and fails the test
// when a process carrying its marker survives.
func cleanupService(t testing.TB, s *Service) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Stop(ctx, Actor{ID: "test-cleanup"}, nil); err != nil && !errors.Is(err, ErrAlreadyStopped) {
		t.Errorf("cleanup stop: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if left := markedProcesses(t, s.key); len(left) > 0 {
		t.Errorf("processes left after cleanup: %v", left)
		for _, pid := range left {
			_ = signalPID(pid, sigKill)
		}
	}
}

// markedProcesses lists the live processes that carry the service's marker.
func markedProcesses(t testing.TB, key string) []int32 {
	t.Helper()
	tab, err := scanProcesses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []int32
	for pid, e := range tab.byPID {
		if strings.HasPrefix(e.marker, key+"/") {
			out = append(out, pid)
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logContains reports whether the service's log holds substr.
func logContains(s *Service, substr string) bool {
	data, err := os.ReadFile(s.cfg.LogFile)
	return err == nil && strings.Contains(string(data), substr)
}

// commands returns the command lines of procs, for messages.
func commands(procs []Process) string {
	var b strings.Builder
	for _, p := range procs {
		b.WriteString("\n  " + strconv.Itoa(int(p.PID)) + " " + p.Command)
	}
	return b.String()
}

func countCommands(procs []Process, substr string) int {
	n := 0
	for _, p := range procs {
		if strings.Contains(p.Command, substr) {
			n++
		}
	}
	return n
}

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
