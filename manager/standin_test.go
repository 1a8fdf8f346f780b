//go:build !windows

package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/standin"
)

// The helpers in this file run the real Node.js stand-in service
// (examples/whatsapp-service) the way production runs the real one: npm
// start, its own process group, detached fake Chromiums.

// standinDir copies the stand-in into a fresh directory, so every test has
// its own logs and auth dirs.
func standinDir(t testing.TB) string {
	t.Helper()
	requireNode(t)
	return standin.Dir(t)
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
		// The marker finds the tree: the cgroup's tests
		// (controller_process_test.go) set a cgroup of their own.
		Cgroup: CgroupOff,
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

// ---------------------------------------------------------------------------
// The stand-in itself: is it as faithful as the real service?
// ---------------------------------------------------------------------------

// sessionsEnv writes entries (JSON objects of the stand-in's sessions file,
// the "Django answer") to a file and returns the env that points the
// stand-in at it.
func sessionsEnv(t testing.TB, entries ...string) map[string]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.json")
	if err := os.WriteFile(path, []byte("["+strings.Join(entries, ",\n")+"]"), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"SESSIONS_FILE": path}
}

// isFakeBrowser reports whether a command line (Process.Command, capped, or
// a whole argv joined) is a fake Chromium's browser main process: the
// fake-chromium script without --type (a real Chromium's browser process has
// none; its children's --type comes first in their argv).
func isFakeBrowser(command string) bool {
	return strings.Contains(command, "fake-chromium.js") && !strings.Contains(command, "--type=")
}

// countBrowsers counts the fake Chromium browser main processes of procs.
func countBrowsers(procs []Process) int {
	n := 0
	for _, p := range procs {
		if isFakeBrowser(p.Command) {
			n++
		}
	}
	return n
}

// treeProc is a live process carrying a service's marker, with its whole
// argv (Process.Command is capped, and a browser's --user-data-dir comes
// after puppeteer's many flags, as with the real one).
type treeProc struct {
	pid, ppid, pgid, sid int32
	argv                 []string
}

// flag returns the value of argv's first --name=value.
func (p treeProc) flag(name string) string {
	for _, a := range p.argv {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

func (p treeProc) String() string {
	return fmt.Sprintf("%d (ppid %d, pgid %d, sid %d) %s", p.pid, p.ppid, p.pgid, p.sid, human.Cut(strings.Join(p.argv, " "), 160))
}

func (p treeProc) browser() bool { return isFakeBrowser(strings.Join(p.argv, " ")) }

// session is the session id of a browser or child (from --user-data-dir) or
// of a crash handler (from --database), "" for the service's own processes.
func (p treeProc) session() string {
	dir := p.flag("user-data-dir")
	if db := p.flag("database"); db != "" {
		dir = filepath.Dir(db)
	}
	id, _ := strings.CutPrefix(filepath.Base(dir), "session-")
	if dir == "" {
		return ""
	}
	return id
}

// standinTree lists the live processes that carry s's marker, sorted by PID.
func standinTree(t testing.TB, s *Service) []treeProc {
	t.Helper()
	tab, err := scanProcesses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []treeProc
	for pid, e := range tab.byPID {
		if !strings.HasPrefix(e.marker, s.key+"/") {
			continue
		}
		argv, err := cmdlineOf(context.Background(), pid)
		sid, serr := unix.Getsid(int(pid))
		if err != nil || serr != nil || len(argv) == 0 {
			continue // gone meanwhile, or exiting (its argv is gone with its memory)
		}
		out = append(out, treeProc{pid: pid, ppid: e.ppid, pgid: e.pgid, sid: int32(sid), argv: argv})
	}
	slices.SortFunc(out, func(a, b treeProc) int { return int(a.pid - b.pid) })
	return out
}

// waitTree waits until the service's processes satisfy cond and returns
// them; on a timeout it fails with the tree it saw last.
func waitTree(t testing.TB, s *Service, what string, timeout time.Duration, cond func([]treeProc) bool) []treeProc {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tree := standinTree(t, s)
		if cond(tree) {
			return tree
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; the tree:\n%s", timeout, what, treeString(tree))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func treeString(tree []treeProc) string {
	var b strings.Builder
	for _, p := range tree {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

// logEntry is one winston JSON line of the stand-in's combined.log.
type logEntry struct {
	Level     string `json:"level"`
	Message   string `json:"message"`
	Stack     string `json:"stack"`
	Timestamp string `json:"timestamp"`
}

func logEntries(t testing.TB, s *Service) []logEntry {
	t.Helper()
	data, err := os.ReadFile(s.cfg.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []logEntry
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		var e logEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// logIndex is the index of the first entry whose message is msg, -1 if none.
func logIndex(entries []logEntry, msg string) int {
	return slices.IndexFunc(entries, func(e logEntry) bool { return e.Message == msg })
}

func logMessages(entries []logEntry) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString("\n  " + e.Level + ": " + e.Message)
	}
	return b.String()
}

// sigtermService sends SIGTERM to the service's main group (npm, sh, node),
// as a terminal's Ctrl-C or an init system does, not through the bot, and
// waits until the service has shut down.
func sigtermService(t testing.TB, s *Service, res StartResult) {
	t.Helper()
	pgid := getpgid(res.PID)
	if pgid <= 1 {
		t.Fatalf("no process group for %d", res.PID)
	}
	if err := signalGroup(pgid, sigTerm); err != nil {
		t.Fatal(err)
	}
	waitTree(t, s, "the service's shutdown", 15*time.Second, func(tree []treeProc) bool {
		return !slices.ContainsFunc(tree, func(p treeProc) bool { return p.pgid == pgid }) && logContains(s, "Shutdown complete")
	})
}

// browsersBySession maps session id -> browser main process.
func browsersBySession(tree []treeProc) map[string]treeProc {
	out := map[string]treeProc{}
	for _, p := range tree {
		if p.browser() {
			out[p.session()] = p
		}
	}
	return out
}

// With Chromium's six children per browser, three sessions make the 30
// processes of the real service: npm, sh, node, and per session a browser
// (its --user-data-dir LocalAuth's, no --type) with two zygotes, the GPU
// process, the network and storage services and a renderer forked by the
// zygote, all in the browser's group, plus two crash handlers reparented to
// init in their own sessions. A SIGTERM to the service closes the browser of
// the restored session and leaves the failed sessions' trees running.
func TestStandinTreeIsChromiums(t *testing.T) {
	t.Parallel()
	ids := []string{"user_1_instance_main", "user_2_instance_dns", "user_3_instance_slow"}
	s := testService(t, with(sessionsEnv(t,
		`{"session_id":"user_1_instance_main","instance_name":"main","restore":"ok","after":"ready"}`,
		`{"session_id":"user_2_instance_dns","instance_name":"dns","restore":"fail","reason":"net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/"}`,
		`{"session_id":"user_3_instance_slow","instance_name":"slow","restore":"error","reason":"Navigation timeout of 30000 ms exceeded"}`,
	), map[string]string{"FAKE_CHROMIUM_CHILDREN": "6"}))
	res := startHealthy(t, s)
	tree := waitTree(t, s, "30 processes", 20*time.Second, func(tree []treeProc) bool { return len(tree) == 30 })

	byPID := map[int32]treeProc{}
	for _, p := range tree {
		byPID[p.pid] = p
	}
	var server treeProc
	for _, p := range tree {
		if slices.Contains(p.argv, "src/server.js") {
			server = p
		}
	}
	if server.pid == 0 || server.pgid != getpgid(res.PID) {
		t.Fatalf("no node src/server.js in the main group:\n%s", treeString(tree))
	}
	browsers := browsersBySession(tree)
	if len(browsers) != len(ids) {
		t.Fatalf("browsers for %d sessions; want %d:\n%s", len(browsers), len(ids), treeString(tree))
	}
	for _, id := range ids {
		b, ok := browsers[id]
		if !ok {
			t.Errorf("no browser for %s", id)
			continue
		}
		if want := filepath.Join(s.cfg.AuthDir, "session-"+id); b.flag("user-data-dir") != want {
			t.Errorf("browser %d: --user-data-dir=%q; want %q", b.pid, b.flag("user-data-dir"), want)
		}
		if b.ppid != server.pid || b.pgid != b.pid || b.sid != b.pid {
			t.Errorf("browser %s; want a child of node %d, leading its own session and group", b, server.pid)
		}
	}

	// An orphan's new parent is init or the nearest subreaper, which is an
	// ancestor of this test (the service runs beneath it).
	tab, err := scanProcesses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reaper := func(pid int32) bool { return pid == 1 || tab.self[pid] }

	// Each browser's descendants: Chromium's six, in its group.
	kinds := map[string][]string{}
	handlers := map[string]int{}
	for _, p := range tree {
		id := p.session()
		if id == "" || p.browser() {
			continue
		}
		kind := p.flag("type")
		if sub := p.flag("utility-sub-type"); sub != "" {
			kind += " " + sub
		}
		if slices.Contains(p.argv, "--no-zygote-sandbox") {
			kind += " unsandboxed"
		}
		if kind == "crashpad-handler" {
			handlers[id]++
			if want := filepath.Join(s.cfg.AuthDir, "session-"+id, "Crash Reports"); p.flag("database") != want || p.flag("user-data-dir") != "" {
				t.Errorf("crash handler %s; want --database=%s and no --user-data-dir", p, want)
			}
			if !reaper(p.ppid) || p.sid != p.pid || p.pgid != p.pid {
				t.Errorf("crash handler %s; want reparented to init (or a subreaper), in its own session and group", p)
			}
			continue
		}
		kinds[id] = append(kinds[id], kind)
		b := browsers[id]
		if p.pgid != b.pid || p.flag("user-data-dir") != b.flag("user-data-dir") {
			t.Errorf("child %s; want in the group of browser %d with its --user-data-dir", p, b.pid)
		}
		parent := byPID[p.ppid]
		switch {
		case kind == "renderer":
			if parent.flag("type") != "zygote" || slices.Contains(parent.argv, "--no-zygote-sandbox") {
				t.Errorf("renderer %s; want forked by the sandboxed zygote of its browser", p)
			}
		case p.ppid != b.pid:
			t.Errorf("child %s; want a child of browser %d", p, b.pid)
		}
	}
	wantKinds := []string{"gpu-process", "renderer", "utility network.mojom.NetworkService",
		"utility storage.mojom.StorageService", "zygote", "zygote unsandboxed"}
	for _, id := range ids {
		slices.Sort(kinds[id])
		if !slices.Equal(kinds[id], wantKinds) {
			t.Errorf("children of %s = %q; want %q", id, kinds[id], wantKinds)
		}
		if handlers[id] != 2 {
			t.Errorf("%s has %d crash handlers; want 2", id, handlers[id])
		}
	}

	// The service's SIGTERM closes only the restored session's browser.
	sigtermService(t, s, res)
	failed := func(p treeProc) bool { return p.session() == ids[1] || p.session() == ids[2] }
	var wantLeft []treeProc
	for _, p := range tree {
		if failed(p) {
			wantLeft = append(wantLeft, p)
		}
	}
	left := waitTree(t, s, "the restored session's tree to end", 10*time.Second, func(tree []treeProc) bool {
		return !slices.ContainsFunc(tree, func(p treeProc) bool { return p.session() == ids[0] })
	})
	if len(left) != 18 || !slices.EqualFunc(left, wantLeft, func(a, b treeProc) bool { return a.pid == b.pid }) {
		t.Errorf("after the service's SIGTERM:\n%swant the failed sessions' 18 processes, unchanged:\n%s", treeString(left), treeString(wantLeft))
	}
}

// The causes are logged as whatsapp-web.js and puppeteer 24 produce them:
// a failed restore is a warning with the message, a restore that throws is
// an error whose stack begins with the error's class and message.
func TestStandinCauses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		entry       string // restore and reason of the sessions-file entry
		level, msg  string // msg after "✗ Failed to restore session <id>: " or "✗ Error restoring session <id>: "
		stackPrefix string // "" when the line has no stack
	}{
		{`"restore":"fail","reason":"net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/"`, "warn",
			"net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/", ""},
		{`"restore":"fail","reason":"net::ERR_TIMED_OUT at https://web.whatsapp.com/"`, "warn",
			"net::ERR_TIMED_OUT at https://web.whatsapp.com/", ""},
		{`"restore":"fail","reason":"net::ERR_PROXY_CONNECTION_FAILED at https://web.whatsapp.com/"`, "warn",
			"net::ERR_PROXY_CONNECTION_FAILED at https://web.whatsapp.com/", ""},
		{`"restore":"fail"`, "warn", "undefined", ""},
		{`"restore":"error","reason":"net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/"`, "error",
			"net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/",
			"Error: net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/\n    at navigate ("},
		{`"restore":"error","reason":"Navigation timeout of 30000 ms exceeded"`, "error",
			"Navigation timeout of 30000 ms exceeded", "TimeoutError: Navigation timeout of 30000 ms exceeded\n    at new Deferred ("},
		{`"restore":"error","reason":"Protocol error (Runtime.callFunctionOn): Target closed"`, "error",
			"Protocol error (Runtime.callFunctionOn): Target closed", "ProtocolError: Protocol error (Runtime.callFunctionOn): Target closed\n    at "},
		{`"restore":"error"`, "error",
			"Protocol error (Runtime.callFunctionOn): Target closed.", "ProtocolError: Protocol error (Runtime.callFunctionOn): Target closed.\n"},
		{`"restore":"error","reason":"Evaluation failed: TypeError: Cannot read properties of undefined (reading 'default')"`, "error",
			"Evaluation failed: TypeError: Cannot read properties of undefined (reading 'default')",
			"Error: Evaluation failed: TypeError: Cannot read properties of undefined (reading 'default')\n    at https://"},
		{`"restore":"ok","after":"later"`, "error", `Invalid after "later" for session %s`, "Error: "},
		{`"restore":"ok","step_ms":-5`, "error", `Invalid step_ms -5 for session %s: an integer between 0 and 9007199254740991`, "Error: "},
		{`"restore":"ok","rss_mb":"big"`, "error", `Invalid rss_mb "big" for session %s: an integer between 0 and 65536`, "Error: "},
	}
	var entries []string
	for i, tc := range tests {
		entries = append(entries, fmt.Sprintf(`{"session_id":"case_%d","instance_name":"c",%s}`, i, tc.entry))
	}
	s := testService(t, with(sessionsEnv(t, entries...), map[string]string{"FAKE_CHROMIUM_CHILDREN": "0"}))
	startHealthy(t, s)
	log := logEntries(t, s)
	for i, tc := range tests {
		id := fmt.Sprintf("case_%d", i)
		msg := tc.msg
		if strings.Contains(msg, "%s") {
			msg = fmt.Sprintf(msg, id)
		}
		want := "✗ Failed to restore session " + id + ": " + msg
		if tc.level == "error" {
			want = "✗ Error restoring session " + id + ": " + msg
		}
		at := logIndex(log, want)
		if at < 0 {
			t.Errorf("%s: no line %q in the log:%s", tc.entry, want, logMessages(log))
			continue
		}
		e := log[at]
		if e.Level != tc.level || !strings.HasPrefix(e.Stack, tc.stackPrefix) || (tc.stackPrefix == "") != (e.Stack == "") {
			t.Errorf("%s: %s %q with stack %q; want %s with a stack beginning %q", tc.entry, e.Level, e.Message,
				human.Cut(e.Stack, 200), tc.level, tc.stackPrefix)
		}
	}
}

// A SIGTERM while a session is restoring closes its browser; the session is
// logged failed with puppeteer's "Navigating frame was detached" after the
// shutdown began, the next session is never begun, and no summary is
// logged: the real service exits first.
func TestStandinStopDuringRestorationDetachesTheFrame(t *testing.T) {
	t.Parallel()
	s := testService(t, sessionsEnv(t,
		`{"session_id":"first","instance_name":"a","restore":"ok","after":"ready"}`,
		`{"session_id":"slow","instance_name":"b","restore":"ok","after":"ready","step_ms":60000}`,
		`{"session_id":"never","instance_name":"c","restore":"ok","after":"ready"}`,
	))
	res, err := s.Start(context.Background(), alice, nil)
	if err != nil || !res.Healthy {
		t.Fatalf("start = %+v, %v; want healthy", res, err)
	}
	waitTree(t, s, "the slow session's browser", 20*time.Second, func(tree []treeProc) bool {
		_, ok := browsersBySession(tree)["slow"]
		return ok
	})
	sigtermService(t, s, res)
	waitTree(t, s, "every browser to end", 10*time.Second, func(tree []treeProc) bool { return len(tree) == 0 })

	log := logEntries(t, s)
	term := logIndex(log, "Received SIGTERM, shutting down gracefully...")
	detached := logIndex(log, "✗ Failed to restore session slow: Navigating frame was detached")
	done := logIndex(log, "Shutdown complete")
	if term < 0 || detached < term || done < detached || log[detached].Level != "warn" {
		t.Errorf("want SIGTERM, then the slow session failed (warn) with the detached frame, then shutdown complete:%s", logMessages(log))
	}
	for _, never := range []string{"Restoring session: never (c)", "Session restoration complete: 1 restored, 1 failed"} {
		if logIndex(log, never) >= 0 {
			t.Errorf("log has %q after a stop during restoration:%s", never, logMessages(log))
		}
	}
}

// step_ms makes one session slow; the sessions after it wait their turn (the
// restoration is sequential, as the real service's is).
func TestStandinSlowSessionKeepsTheNextWaiting(t *testing.T) {
	t.Parallel()
	s := testService(t, sessionsEnv(t,
		`{"session_id":"slow","instance_name":"a","restore":"ok","after":"ready","step_ms":2500}`,
		`{"session_id":"next","instance_name":"b","restore":"ok","after":"ready"}`,
	))
	if res, err := s.Start(context.Background(), alice, nil); err != nil || !res.Healthy {
		t.Fatalf("start = %+v, %v; want healthy", res, err)
	}
	// The slow session's browser is up: its step runs, the next one has not begun.
	waitTree(t, s, "the slow session's browser", 20*time.Second, func(tree []treeProc) bool {
		_, ok := browsersBySession(tree)["slow"]
		return ok
	})
	if _, ok := browsersBySession(standinTree(t, s))["next"]; ok || logContains(s, "Restoring session: next") {
		t.Error("the next session began while the slow one was restoring")
	}
	waitFor(t, "the restoration", 20*time.Second, func() bool { return logContains(s, "Session restoration complete") })

	log := logEntries(t, s)
	order := []string{"Restoring session: slow (a)", "✓ Session restored: slow", "Restoring session: next (b)", "✓ Session restored: next",
		"Session restoration complete: 2 restored, 0 failed"}
	prev := -1
	for _, msg := range order {
		i := logIndex(log, msg)
		if i <= prev {
			t.Fatalf("want in this order %q:%s", order, logMessages(log))
		}
		prev = i
	}
	// Log timestamps have one-second resolution: a 2.5 s step spans at least 2.
	began, err1 := time.Parse(time.DateTime, log[logIndex(log, order[0])].Timestamp)
	ended, err2 := time.Parse(time.DateTime, log[logIndex(log, order[1])].Timestamp)
	if err1 != nil || err2 != nil || ended.Sub(began) < 2*time.Second {
		t.Errorf("the slow session took %s by the log (%v, %v); want its step_ms of 2.5 s", ended.Sub(began), err1, err2)
	}
}

// The session list is the source of truth: a listed session whose auth dir
// is missing or empty is attempted with a fresh profile (a QR scan, not
// "ready"), and a profile on disk that is not listed is never touched.
func TestStandinSessionListIsTheSourceOfTruth(t *testing.T) {
	t.Parallel()
	s := testService(t, with(sessionsEnv(t,
		`{"session_id":"saved","instance_name":"a","restore":"ok","after":"ready"}`,
		`{"session_id":"gone","instance_name":"b","restore":"ok","after":"ready"}`,
		`{"session_id":"empty","instance_name":"c","restore":"ok","after":"ready"}`,
	), map[string]string{"FAKE_CHROMIUM_CHILDREN": "0"}))
	for _, p := range []string{"session-saved/Default", "session-empty", "session-decoy/Default"} {
		if err := os.MkdirAll(filepath.Join(s.cfg.AuthDir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	decoyFile := filepath.Join(s.cfg.AuthDir, "session-decoy", "Default", "Cookies")
	if err := os.WriteFile(decoyFile, []byte("SQLite format 3\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	decoyBefore := dirListing(t, filepath.Join(s.cfg.AuthDir, "session-decoy"))

	startHealthy(t, s)
	waitFor(t, "the follow-ups", 10*time.Second, func() bool {
		return logContains(s, "Client saved is ready") && logContains(s, "QR code generated for session gone") &&
			logContains(s, "QR code generated for session empty")
	})
	log := logEntries(t, s)
	if logIndex(log, "Found 3 sessions to restore") < 0 {
		t.Errorf("want the three listed sessions found:%s", logMessages(log))
	}
	for _, never := range []string{"Client gone is ready", "Client empty is ready", "QR code generated for session saved"} {
		if logIndex(log, never) >= 0 {
			t.Errorf("log has %q:%s", never, logMessages(log))
		}
	}
	tree := standinTree(t, s)
	if browsers := browsersBySession(tree); len(browsers) != 3 {
		t.Errorf("browsers %v; want one per listed session:\n%s", slices.Collect(maps.Keys(browsers)), treeString(tree))
	}
	for _, p := range tree {
		if strings.Contains(strings.Join(p.argv, " "), "session-decoy") {
			t.Errorf("a process on the unlisted profile: %s", p)
		}
	}
	if after := dirListing(t, filepath.Join(s.cfg.AuthDir, "session-decoy")); !slices.Equal(after, decoyBefore) {
		t.Errorf("unlisted profile changed:\n%q\nwas\n%q", after, decoyBefore)
	}
}

// dirListing describes every entry beneath dir: path, size, mode, mtime.
func dirListing(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %d %s %s", p, info.Size(), info.Mode(), info.ModTime().Format(time.RFC3339Nano)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A session logged out after it was ready is forgotten by the service: its
// browser survives the service's SIGTERM, like a failed session's.
func TestStandinLoggedOutSessionKeepsItsBrowser(t *testing.T) {
	t.Parallel()
	s := testService(t, sessionsEnv(t,
		`{"session_id":"out","instance_name":"a","restore":"ok","after":"logout"}`,
		`{"session_id":"on","instance_name":"b","restore":"ok","after":"ready"}`,
	))
	res := startHealthy(t, s)
	waitFor(t, "the logout", 10*time.Second, func() bool { return logContains(s, "Client out disconnected: LOGOUT") })
	log := logEntries(t, s)
	ready, logout := logIndex(log, "Client out is ready"), logIndex(log, "Client out disconnected: LOGOUT")
	if ready < 0 || logout < ready || log[logout].Level != "warn" {
		t.Errorf("want ready, then a LOGOUT warning:%s", logMessages(log))
	}
	before := browsersBySession(standinTree(t, s))
	sigtermService(t, s, res)
	after := waitTree(t, s, "the connected session's browser to end", 10*time.Second, func(tree []treeProc) bool {
		_, ok := browsersBySession(tree)["on"]
		return !ok
	})
	if got := browsersBySession(after)["out"]; got.pid == 0 || got.pid != before["out"].pid {
		t.Errorf("the logged-out session's browser %d did not survive the service's SIGTERM:\n%s", before["out"].pid, treeString(after))
	}
}

// rss_mb makes one session's browser heavy; the others stay as light as a
// Node.js process.
func TestStandinHeavySession(t *testing.T) {
	t.Parallel()
	const heavyMB = 96
	s := testService(t, with(sessionsEnv(t,
		fmt.Sprintf(`{"session_id":"heavy","instance_name":"a","restore":"ok","after":"ready","rss_mb":%d}`, heavyMB),
		`{"session_id":"light","instance_name":"b","restore":"ok","after":"ready"}`,
	), map[string]string{"FAKE_CHROMIUM_CHILDREN": "0"}))
	startHealthy(t, s)
	browsers := browsersBySession(standinTree(t, s))
	procs, err := s.Processes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := countBrowsers(procs); n != 2 {
		t.Errorf("ps shows %d browsers; want 2:%s", n, commands(procs))
	}
	rss := map[string]uint64{}
	for _, p := range procs {
		for id, b := range browsers {
			if p.PID == b.pid {
				rss[id] = p.RSS
			}
		}
	}
	if rss["heavy"] == 0 || rss["light"] == 0 || rss["heavy"] < rss["light"]+(heavyMB-6)<<20 {
		t.Errorf("browser RSS heavy %s, light %s; want heavy about %d MiB more", human.Bytes(rss["heavy"]), human.Bytes(rss["light"]), heavyMB)
	}
}

// A typo in a fake Chromium knob stops the service at once, before it
// listens.
func TestStandinRejectsBadChromiumKnobs(t *testing.T) {
	t.Parallel()
	dir := standinDir(t)
	for _, kv := range []string{"FAKE_CHROMIUM_CHILDREN=11", "FAKE_CHROMIUM_CHILDREN=-1", "FAKE_CHROMIUM_CHILDREN=six", "FAKE_CHROMIUM_RSS_MB=70000"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, "node", "src/server.js")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PORT=0", "LOG_DIR="+t.TempDir(), "RESTORE_DELAY_MS=60000", kv)
		out, err := cmd.CombinedOutput()
		cancel()
		name, _, _ := strings.Cut(kv, "=")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), name) {
			t.Errorf("%s: %v, output %q; want exit code 1 naming %s", kv, err, out, name)
		}
	}
}

// pidsOf lists the PIDs of procs, in order.
func pidsOf(procs []Process) []int32 {
	out := make([]int32, 0, len(procs))
	for _, p := range procs {
		out = append(out, p.PID)
	}
	slices.Sort(out)
	return out
}
