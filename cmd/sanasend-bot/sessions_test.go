//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/internal/fakeslack"
	"github.com/sanasend/sanasend-bot/internal/standin"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// The acceptance of issue 10, end to end: the real bot (serve), a fake
// Slack, the real stand-in with its fake Chromium trees.

// sessionEntry is one session of the stand-in's sessions file: the answer
// of Django's active-sessions API (examples/whatsapp-service/README.md).
type sessionEntry struct {
	SessionID    string `json:"session_id"`
	InstanceName string `json:"instance_name"`
	Restore      string `json:"restore"`
	Reason       string `json:"reason,omitempty"`
	After        string `json:"after,omitempty"`
	StepMS       int    `json:"step_ms,omitempty"`
	RSSMB        int    `json:"rss_mb,omitempty"`
}

// serviceDir is the stand-in copy of a test config.
func serviceDir(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "whatsapp-service")
}

// writeSessions replaces the stand-in copy's sessions file.
func writeSessions(t testing.TB, dir string, entries []sessionEntry) {
	t.Helper()
	data, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "active-sessions.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// addServiceEnv adds variables to the service's env in a test config.
func addServiceEnv(t testing.TB, configPath string, kv ...string) {
	t.Helper()
	data, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "      NPM_CONFIG_UPDATE_NOTIFIER: \"false\"\n"
	var add strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		add.WriteString("      " + kv[i] + ": \"" + kv[i+1] + "\"\n")
	}
	text := strings.Replace(string(data), anchor, anchor+add.String(), 1)
	if text == string(data) {
		t.Fatal("config has no service env to add to")
	}
	if err := os.WriteFile(configPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitSessions polls the service's sessions (as a bot process of its own
// would read them) until ok holds.
func waitSessions(t *testing.T, configPath string, timeout time.Duration, what string, ok func(whatsapp.SessionsReport) bool) whatsapp.SessionsReport {
	t.Helper()
	svc := adoptService(t, configPath)
	deadline := time.Now().Add(timeout)
	for {
		rep, err := svc.Sessions(context.Background())
		if err == nil && ok(rep) {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions: %s not within %s (err %v): restoration began %v, stop began %v, running %v, interrupted %v: %+v", what, timeout, err, rep.Restoration.StartedAt, rep.StopBegan, rep.Running, rep.Interrupted, rep.Sessions)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sessionIs(rep whatsapp.SessionsReport, id string, st whatsapp.SessionState) bool {
	v, ok := rep.Session(id)
	return ok && v.State == st
}

// waitPostJSON waits for a message posted to a response URL whose JSON
// (blocks included) contains want, and returns that JSON.
func waitPostJSON(t *testing.T, fake *fakeslack.Server, responseURL, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		posts := fake.ResponseURLPosts(responseURL)
		for i := len(posts) - 1; i >= 0; i-- {
			if text := messageText(posts[i]); strings.Contains(text, want) {
				return text
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no post containing %q to %s within %s; got %v", want, responseURL, timeout, posts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// confirmFromSlack types a command that asks for a confirmation, clicks
// its confirm button, and returns the final answer that contains want.
func confirmFromSlack(t *testing.T, f serveFixture, text, want string, timeout time.Duration) map[string]any {
	t.Helper()
	promptURL := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", text, promptURL)
	prompt := f.fake.WaitResponseURLPosts(t, promptURL, 1, 10*time.Second)[0]
	token := fakeslack.ButtonValue(t, prompt, "sanasend_confirm")
	clickURL := f.fake.NewResponseURL()
	click(t, f.base, "U0ALICE", "C0OPS", "sanasend_confirm", token, clickURL)
	return waitPost(t, f.fake, clickURL, want, timeout)
}

// startDecoy runs a second copy of the stand-in by hand, outside any bot,
// with its sessions failing, so that its browsers run on: processes that
// look like the service's but are not its. It returns the copy's dir.
func startDecoy(t *testing.T, entries []sessionEntry) string {
	t.Helper()
	dir := standin.Copy(t, filepath.Join(t.TempDir(), "decoy", "whatsapp-service"))
	writeSessions(t, dir, entries)
	cmd := exec.Command("node", "src/server.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT=0", "RESTORE_DELAY_MS=50", "RESTORE_STEP_MS=20", "FOLLOWUP_MS=20")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killUnder(t, dir) })
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-done })
	// Wait for its browsers: one per session.
	deadline := time.Now().Add(20 * time.Second)
	for len(browsersUnder(t, dir)) < len(entries) {
		if time.Now().After(deadline) {
			t.Fatalf("decoy: %d browsers, want %d:\n%s", len(browsersUnder(t, dir)), len(entries), psGrep(t, dir))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return dir
}

// browsersUnder returns the PIDs of the fake Chromium main processes whose
// profile is under dir.
func browsersUnder(t testing.TB, dir string) []int32 {
	t.Helper()
	var pids []int32
	for _, p := range procsUnder(t, dir) {
		if a, ok := whatsapp.ParseChromiumArgs(p.argv); ok && (a.Browser() || a.Type == "browser") {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

type procArgv struct {
	pid  int32
	argv []string
}

// procsUnder lists the live processes whose argv mentions dir.
func procsUnder(t testing.TB, dir string) []procArgv {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []procArgv
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		pid := int32(n)
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(data), dir) || !alive(pid) {
			continue
		}
		out = append(out, procArgv{pid: pid, argv: strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")})
	}
	return out
}

// killUnder SIGKILLs every process whose argv mentions dir.
func killUnder(t testing.TB, dir string) {
	for range 3 {
		ps := procsUnder(t, dir)
		if len(ps) == 0 {
			return
		}
		for _, p := range ps {
			_ = syscall.Kill(int(p.pid), syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSessionsAccountForEveryBrowser is the acceptance of issue 10's items
// 1 and 2 through Slack: a session whose auth dir was removed before the
// start is reported missing although Chromium has created it since;
// `sessions` lists each browser with its PID and flags the browser of the
// failed session; `sessions cleanup`, confirmed, ends exactly that browser
// tree: the restored sessions' browsers and a decoy copy's browsers
// survive, and the service stays healthy.
func TestSessionsAccountForEveryBrowser(t *testing.T) {
	entries := []sessionEntry{
		{SessionID: "user_1_instance_main", InstanceName: "main", Restore: "ok", After: "ready"},
		{SessionID: "user_2_instance_sales", InstanceName: "sales", Restore: "ok", After: "ready"},
		{SessionID: "user_3_instance_promo", InstanceName: "promo", Restore: "fail", Reason: "net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/"},
		{SessionID: "user_4_instance_gone", InstanceName: "gone", Restore: "ok", After: "ready"},
	}
	decoy := startDecoy(t, []sessionEntry{{SessionID: "user_3_instance_promo", InstanceName: "promo", Restore: "fail", Reason: "decoy"}})
	decoyBrowsers := browsersUnder(t, decoy)

	f := startServeWith(t, "monitor:\n  interval: 30s\n  timeout: 2s\n  restoration_timeout: 20s\n", func(configPath string) {
		writeSessions(t, serviceDir(configPath), entries)
	})
	dir := serviceDir(f.configPath)
	startFromSlack(t, f)
	waitSessions(t, f.configPath, 30*time.Second, "first restoration done", func(r whatsapp.SessionsReport) bool {
		return r.Restoration.Done() && sessionIs(r, "user_4_instance_gone", whatsapp.SessionReady)
	})
	confirmFromSlack(t, f, "stop", "stop whatsapp", 60*time.Second)

	// The auth dir of one session is removed before the next start.
	if err := os.RemoveAll(filepath.Join(dir, ".wwebjs_auth", "session-user_4_instance_gone")); err != nil {
		t.Fatal(err)
	}
	startFromSlack(t, f)
	rep := waitSessions(t, f.configPath, 30*time.Second, "second restoration settled", func(r whatsapp.SessionsReport) bool {
		return r.Restoration.Done() && !sessionIs(r, "user_4_instance_gone", whatsapp.SessionRestoredOnly) &&
			sessionIs(r, "user_3_instance_promo", whatsapp.SessionFailedState)
	})
	gone, _ := rep.Session("user_4_instance_gone")
	if gone.AuthBefore.State != whatsapp.AuthMissing {
		t.Errorf("auth dir before the start = %q, want missing (it was removed before the start)", gone.AuthBefore.State)
	}
	if gone.AuthNow.State == whatsapp.AuthMissing {
		t.Errorf("auth dir now = missing; the stand-in's Chromium should have created it")
	}
	failed, _ := rep.Session("user_3_instance_promo")
	if !failed.Idle || failed.Browser == nil {
		t.Fatalf("failed session's browser: idle %v, browser %+v; want an idle browser", failed.Idle, failed.Browser)
	}
	idlePIDs := slices.Clone(failed.Browser.PIDs)
	var keptPIDs []int32
	for _, id := range []string{"user_1_instance_main", "user_2_instance_sales", "user_4_instance_gone"} {
		v, _ := rep.Session(id)
		if v.Browser == nil || v.Idle {
			t.Fatalf("session %s: browser %+v idle %v; want a browser in use", id, v.Browser, v.Idle)
		}
		keptPIDs = append(keptPIDs, v.Browser.PIDs...)
	}

	// `sessions` in Slack: every browser's PID, the idle one flagged, the
	// missing auth dir said.
	sessURL := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "sessions", sessURL)
	view := waitPostJSON(t, f.fake, sessURL, "user_3_instance_promo", 20*time.Second)
	for _, id := range []string{"user_1_instance_main", "user_2_instance_sales", "user_3_instance_promo", "user_4_instance_gone"} {
		v, _ := rep.Session(id)
		if !strings.Contains(view, id) || !strings.Contains(view, strconv.Itoa(int(v.Browser.PID))) {
			t.Errorf("sessions view lacks %s or its browser PID %d", id, v.Browser.PID)
		}
	}
	for _, want := range []string{"missing", "sessions cleanup"} {
		if !strings.Contains(view, want) {
			t.Errorf("sessions view lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("sessions view: %s", view)
	}

	// `sessions cleanup`, confirmed: exactly the idle tree goes.
	reply := messageText(confirmFromSlack(t, f, "sessions cleanup", "sessions cleanup whatsapp", 30*time.Second))
	if !strings.Contains(reply, "user_3_instance_promo") {
		t.Errorf("cleanup reply does not name the session whose browser it ended: %s", reply)
	}
	for _, pid := range idlePIDs {
		if alive(pid) {
			t.Errorf("idle browser process %d survived the cleanup", pid)
		}
	}
	for _, pid := range keptPIDs {
		if !alive(pid) {
			t.Errorf("browser process %d of a session in use was ended", pid)
		}
	}
	for _, pid := range decoyBrowsers {
		if !alive(pid) {
			t.Errorf("the decoy copy's browser %d was ended", pid)
		}
	}
	st, err := adoptService(t, f.configPath).Status(context.Background())
	if err != nil || st.State != manager.StateHealthy {
		t.Errorf("after the cleanup: %s, %v; want healthy", st.State, err)
	}
	if t.Failed() {
		t.Logf("cleanup reply: %s", reply)
	}
}

// TestRestorationTimeoutNamesEachSessionThenFollowsUp: a restoration slower
// than restoration_timeout gets a summary that names the session being
// restored and the one not begun (known from its profile before the
// start); when the service completes later, the final counts follow in
// the summary's thread.
func TestRestorationTimeoutNamesEachSessionThenFollowsUp(t *testing.T) {
	entries := []sessionEntry{
		{SessionID: "user_1_instance_main", InstanceName: "main", Restore: "ok", After: "ready"},
		{SessionID: "user_2_instance_slow", InstanceName: "slow", Restore: "fail", Reason: "Navigation timeout of 30000 ms exceeded", StepMS: 6000},
		{SessionID: "user_3_instance_next", InstanceName: "next", Restore: "ok", After: "ready"},
	}
	f := startServeWith(t, "monitor:\n  interval: 30s\n  timeout: 2s\n  restoration_timeout: 3s\n", func(configPath string) {
		dir := serviceDir(configPath)
		writeSessions(t, dir, entries)
		// The not-begun session had a profile before the start.
		prof := filepath.Join(dir, ".wwebjs_auth", "session-user_3_instance_next", "Default")
		if err := os.MkdirAll(prof, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(prof, "Preferences"), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	startFromSlack(t, f)
	summary := waitAlertsChannel(t, f.fake, "user_2_instance_slow", 30*time.Second)
	text := summary.Form.Get("text") + blockTexts(summary)
	for _, want := range []string{"user_2_instance_slow", "user_3_instance_next", "not begun"} {
		if !strings.Contains(text, want) {
			t.Errorf("timed-out summary lacks %q", want)
		}
	}
	ts := summary.TS
	late := waitCall(t, f.fake, 30*time.Second, "the late completion in the summary's thread", func(c fakeslack.Call) bool {
		return c.Method == "chat.postMessage" && c.Form.Get("channel") == "C0ALERTS" && c.Form.Get("thread_ts") == ts && ts != ""
	})
	lt := late.Form.Get("text") + blockTexts(late)
	if !strings.Contains(lt, "1 failed") {
		t.Errorf("late completion %q lacks the final counts", lt)
	}
	t.Logf("timed-out summary: %s", text)
	t.Logf("late completion, in its thread: %s", lt)
}

// TestStopDuringRestorationReadsInterrupted: a stop while a session is
// being restored leaves a restoration that reads "interrupted", in
// `sessions` and in the summary, and the session is not blamed for the
// browser the stop closed.
func TestStopDuringRestorationReadsInterrupted(t *testing.T) {
	entries := []sessionEntry{
		{SessionID: "user_1_instance_main", InstanceName: "main", Restore: "ok", After: "ready"},
		{SessionID: "user_2_instance_slow", InstanceName: "slow", Restore: "ok", After: "ready", StepMS: 20000},
		{SessionID: "user_3_instance_next", InstanceName: "next", Restore: "ok", After: "ready"},
	}
	f := startServeWith(t, "monitor:\n  interval: 30s\n  timeout: 2s\n  restoration_timeout: 60s\n", func(configPath string) {
		writeSessions(t, serviceDir(configPath), entries)
	})
	startFromSlack(t, f)
	waitSessions(t, f.configPath, 30*time.Second, "slow session restoring", func(r whatsapp.SessionsReport) bool {
		return sessionIs(r, "user_2_instance_slow", whatsapp.SessionInRestore)
	})
	confirmFromSlack(t, f, "stop", "stop whatsapp", 60*time.Second)
	rep := waitSessions(t, f.configPath, 10*time.Second, "interrupted", func(r whatsapp.SessionsReport) bool { return r.Interrupted })
	if v, _ := rep.Session("user_2_instance_slow"); v.State != whatsapp.SessionInterrupted {
		t.Errorf("slow session = %q, want interrupted", v.State)
	}
	sessURL := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "sessions", sessURL)
	if view := waitPostJSON(t, f.fake, sessURL, "user_2_instance_slow", 20*time.Second); !strings.Contains(view, "interrupted") {
		t.Errorf("sessions view does not say interrupted: %s", view)
	}
	summary := waitAlertsChannel(t, f.fake, "interrupted", 20*time.Second)
	if text := summary.Form.Get("text") + blockTexts(summary); strings.Contains(text, "Navigating frame was detached") {
		t.Errorf("the interrupted summary blames the session for the stop: %s", text)
	}
}

// TestSessionMemoryLimitAlertsWithTheTopSession: one session's browser
// over monitor.session_memory_limit raises an alert that names it.
func TestSessionMemoryLimitAlertsWithTheTopSession(t *testing.T) {
	entries := []sessionEntry{
		{SessionID: "user_1_instance_main", InstanceName: "main", Restore: "ok", After: "ready"},
		{SessionID: "user_2_instance_heavy", InstanceName: "heavy", Restore: "ok", After: "ready", RSSMB: 400},
	}
	// Browsers without children (about 125 MiB a tree: browser and two
	// crash handlers, each a Node.js process); the heavy one holds 400 MiB
	// more.
	f := startServeWith(t, "monitor:\n  interval: 1s\n  timeout: 2s\n  failure_threshold: 2\n  restoration_timeout: 20s\n  session_memory_limit: 300MiB\n", func(configPath string) {
		writeSessions(t, serviceDir(configPath), entries)
		addServiceEnv(t, configPath, "FAKE_CHROMIUM_CHILDREN", "0")
	})
	startFromSlack(t, f)
	alert := waitAlertsChannel(t, f.fake, "user_2_instance_heavy", 60*time.Second)
	text := alert.Form.Get("text") + blockTexts(alert)
	for _, want := range []string{"user_2_instance_heavy's browser uses", "over the limit of 300.0 MiB per session"} {
		if !strings.Contains(text, want) {
			t.Errorf("memory alert %q lacks %q", text, want)
		}
	}
}
