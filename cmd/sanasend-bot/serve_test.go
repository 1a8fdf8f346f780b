//go:build !windows

package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
	"github.com/sanasend/sanasend-bot/manager"
)

const testSigningSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// signedPost sends body to url signed as Slack signs its requests.
func signedPost(t testing.TB, target, contentType, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	signRequest(req, body, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// signRequest signs req as Slack does, with the test signing secret.
func signRequest(req *http.Request, body string, at time.Time) {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(testSigningSecret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
}

func slashCommand(t testing.TB, base, user, channel, text, responseURL string) {
	t.Helper()
	form := url.Values{"command": {"/sanasend"}, "text": {text}, "user_id": {user}, "user_name": {strings.ToLower(user)},
		"channel_id": {channel}, "response_url": {responseURL}, "team_id": {"T0TEAM"}}
	if resp := signedPost(t, base+"/slack/commands", "application/x-www-form-urlencoded", form.Encode()); resp.StatusCode != 200 {
		t.Fatalf("slash command %q: HTTP %d", text, resp.StatusCode)
	}
}

func click(t *testing.T, base, user, channel, actionID, value, responseURL string) {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": user, "name": strings.ToLower(user)},
		"channel":      map[string]any{"id": channel},
		"response_url": responseURL,
		"actions":      []map[string]any{{"action_id": actionID, "block_id": "b1", "value": value, "type": "button"}},
	})
	form := url.Values{"payload": {string(payload)}}
	if resp := signedPost(t, base+"/slack/interactions", "application/x-www-form-urlencoded", form.Encode()); resp.StatusCode != 200 {
		t.Fatalf("click %s: HTTP %d", actionID, resp.StatusCode)
	}
}

func messageText(m map[string]any) string {
	data, _ := json.Marshal(m)
	return string(data)
}

// serveFixture runs `sanasend-bot serve` against a fake Slack and a copy
// of the stand-in.
type serveFixture struct {
	fake       *fakeslack.Server
	base       string
	configPath string
	logs       *syncbuf.Buffer
}

func startServe(t testing.TB) serveFixture {
	t.Helper()
	return startServeWith(t, "", nil)
}

// serveConfig starts a fake Slack and writes a serve config for a copy of
// the demo: HTTP mode on a free local port, the fake's API, U0ALICE as
// staff, the confirmation timeout given ("" for the default) and extra YAML
// (a monitor section).
func serveConfig(t testing.TB, confirmTimeout time.Duration, extra string) (fake *fakeslack.Server, listen, configPath string) {
	t.Helper()
	fake = fakeslack.New(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen = l.Addr().String()
	l.Close()
	timeout := ""
	if confirmTimeout > 0 {
		timeout = fmt.Sprintf("  confirm_timeout: %s\n", confirmTimeout)
	}
	configPath = demoCopyWith(t, fmt.Sprintf(`state_dir: sanasend-state
slack:
  bot_token: xoxb-test
  signing_secret: %s
  api_url: %s
  listen: %s
  alerts_channel: C0ALERTS
%s  staff:
    users: [U0ALICE]
`, testSigningSecret, fake.APIURL(), listen, timeout)+extra)
	return fake, listen, configPath
}

// startServeWith runs serve with extra YAML in the config (a monitor
// section); before, when set, runs once the config exists and before the
// bot starts.
func startServeWith(t testing.TB, extra string, before func(configPath string)) serveFixture {
	t.Helper()
	fake, listen, configPath := serveConfig(t, 0, extra)
	if before != nil {
		before(configPath)
	}
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "-config", configPath}, strings.NewReader(""), logs, logs) }()
	f := serveFixture{fake: fake, base: "http://" + listen, configPath: configPath, logs: logs}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		// The bot never stops the service on exit: stop it here.
		stopService(t, configPath)
		if strings.Contains(logs.String(), testSigningSecret) || strings.Contains(logs.String(), "xoxb-test") {
			t.Error("a secret appears in the bot's log")
		}
		if t.Failed() {
			t.Logf("bot log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(f.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer /healthz: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f
}

// stopService stops the stand-in through a manager of its own, as a new bot
// process would (adoption), and fails if anything is left. A service
// startServeAdopting starts the service through another manager (as a bot
// process before this one would), then runs serve, which adopts it.
func startServeAdopting(t testing.TB, extra string) (serveFixture, *manager.Service) {
	t.Helper()
	var other *manager.Service
	f := startServeWith(t, extra, func(configPath string) {
		other = adoptService(t, configPath)
		if _, err := other.Start(context.Background(), manager.Actor{ID: "U0BOB", Name: "bob"}, nil); err != nil {
			t.Fatal(err)
		}
	})
	return f, other
}

// already stopped (a test killed or stopped it) is no failure.
func stopService(t testing.TB, configPath string) {
	t.Helper()
	s := adoptService(t, configPath)
	if _, err := s.Stop(context.Background(), manager.Actor{ID: "test"}, nil); err != nil && !errors.Is(err, manager.ErrAlreadyStopped) {
		t.Errorf("stop after the test: %v", err)
	}
	if left := psGrep(t, filepath.Dir(configPath)); left != "" {
		t.Errorf("processes left:\n%s", left)
	}
}

func adoptService(t testing.TB, configPath string) *manager.Service {
	t.Helper()
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := newManager(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Lookup("")
	if err != nil {
		t.Fatal(err)
	}
	// Its looks may start a watcher (and systemd's controller a bus
	// connection): Close ends them when the test does.
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func alive(pid int32) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && i+2 < len(data) && data[i+2] != 'Z'
}

// TestServeRestartFromSlack is the path of the issue: /sanasend restart,
// a click on the danger button, the real stand-in restarted (new PID, old
// tree gone), and the outcome posted where it was typed and in the alerts
// channel.
func TestServeRestartFromSlack(t *testing.T) {
	f := startServe(t)

	startURL := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "start", startURL)
	posts := f.fake.WaitResponseURLPosts(t, startURL, 1, 30*time.Second)
	waitPost(t, f.fake, startURL, "start whatsapp", 30*time.Second)
	_ = posts

	before, err := adoptService(t, f.configPath).Processes(context.Background())
	if err != nil || len(before) == 0 {
		t.Fatalf("processes before restart: %v, %v", before, err)
	}

	final := confirmedRestart(t, f)
	if !strings.Contains(messageText(final), "healthy") {
		t.Errorf("outcome %s: want healthy", messageText(final))
	}

	after, err := adoptService(t, f.configPath).Status(context.Background())
	if err != nil || after.State != manager.StateHealthy {
		t.Fatalf("status after restart = %s, %v", after.State, err)
	}
	if after.Processes[0].PID == before[0].PID {
		t.Errorf("restart kept pid %d", before[0].PID)
	}
	for _, p := range before {
		if alive(p.PID) {
			t.Errorf("old process alive after restart: %d %s", p.PID, p.Command)
		}
	}
	// The outcome of each action, besides the monitor's announcements.
	var notices []string
	for _, c := range f.fake.WaitCalls(t, "chat.postMessage", 2, 10*time.Second) {
		if text := c.Form.Get("text"); c.Form.Get("channel") == "C0ALERTS" && strings.HasPrefix(text, "✓") {
			notices = append(notices, text)
		}
	}
	if len(notices) != 2 || !strings.Contains(notices[1], "restart whatsapp") || !strings.Contains(notices[1], "U0ALICE") {
		t.Errorf("alerts channel got %q; want the start and the restart by alice", notices)
	}
}

// waitPost waits for a message posted to a response URL that contains want.
func waitPost(t *testing.T, fake *fakeslack.Server, responseURL, want string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		posts := fake.ResponseURLPosts(responseURL)
		for i := len(posts) - 1; i >= 0; i-- {
			if text, _ := posts[i]["text"].(string); strings.Contains(text, want) && !strings.Contains(text, "⏳") {
				return posts[i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no post containing %q to %s within %s; got %v", want, responseURL, timeout, posts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashAlerts: kill -9 the service the bot started -> an alert within
// 3 s although the health interval is 30 s (the exit is a fact); press
// Restart on the alert -> the service is back and the alert is resolved;
// after the start a restoration summary with the right counts and failed
// IDs.
func TestCrashAlerts(t *testing.T) {
	f := startServeWith(t, "monitor:\n  interval: 30s\n  timeout: 2s\n  failure_threshold: 2\n  restoration_timeout: 20s\n", nil)
	startURL := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "start", startURL)
	waitPost(t, f.fake, startURL, "start whatsapp", 30*time.Second)

	// The restoration summary of the stand-in's demo sessions.
	summary := waitAlertsChannel(t, f.fake, "session restoration", 30*time.Second)
	for _, want := range []string{"4 found", "3 restored", "1 failed", "user_45_instance_promo", "Authentication failure", "user_31_instance_support needs a QR scan"} {
		if !strings.Contains(summary.Form.Get("text"), want) {
			t.Errorf("restoration summary %q lacks %q", summary.Form.Get("text"), want)
		}
	}

	procs, err := adoptService(t, f.configPath).Processes(context.Background())
	if err != nil || len(procs) == 0 {
		t.Fatalf("processes: %v, %v", procs, err)
	}
	killed := time.Now()
	if err := syscall.Kill(-int(procs[0].PGID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	alert := waitAlertsChannel(t, f.fake, "STOPPED", 10*time.Second)
	latency := alert.At.Sub(killed)
	t.Logf("crash to alert (started by the bot, interval 30s): %s", latency)
	if latency > 3*time.Second {
		t.Errorf("alert %s after the crash; want within 3s", latency)
	}
	if text := alert.Form.Get("text"); !strings.Contains(text, "killed") {
		t.Errorf("alert %q does not say how it died", text)
	}

	// Restart from the alert's button: any staff member, after Slack's
	// confirm dialog.
	var token string
	for _, b := range alert.Blocks() {
		for _, el := range anySlice(b["elements"]) {
			if m, ok := el.(map[string]any); ok && m["action_id"] == "sanasend_confirm" {
				token, _ = m["value"].(string)
				if m["confirm"] == nil {
					t.Error("the alert's Restart button has no confirm dialog")
				}
			}
		}
	}
	if token == "" {
		t.Fatalf("no Restart button on the alert: %v", alert.Blocks())
	}
	clickURL := f.fake.NewResponseURL()
	click(t, f.base, "U0ALICE", "C0ALERTS", "sanasend_confirm", token, clickURL)
	waitPost(t, f.fake, clickURL, "restart whatsapp", 60*time.Second)
	resolved := waitAlertsChannel(t, f.fake, "resolved after", 20*time.Second)
	if resolved.Form.Get("thread_ts") == "" {
		t.Errorf("resolution %q not in the alert's thread", resolved.Form.Get("text"))
	}
	// The restart through the bot gets one summary, not a second one for
	// a "detected" start.
	waitAlertsChannelN(t, f.fake, "session restoration", 2, 30*time.Second)
	if n := countAlerts(f.fake, "session restoration"); n != 2 {
		t.Errorf("%d restoration summaries; want 2 (the start and the restart)", n)
	}
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// waitAlertsChannel waits for a message in the alerts channel containing
// want.
func waitAlertsChannel(t *testing.T, fake *fakeslack.Server, want string, timeout time.Duration) fakeslack.Call {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, c := range fake.Calls("chat.postMessage") {
			if c.Param("channel") == "C0ALERTS" && strings.Contains(c.Param("text"), want) {
				return c
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, c := range fake.Calls("chat.postMessage") {
				seen = append(seen, c.Param("text"))
			}
			t.Fatalf("no message with %q in the alerts channel within %s; seen %q", want, timeout, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashOfAdoptedServiceAlerts: a service the bot did not start (it was
// running before the bot) is watched by health checks alone: kill -9 ->
// alert within interval x failure_threshold + timeout.
func TestCrashOfAdoptedServiceAlerts(t *testing.T) {
	const interval, threshold, timeout = 2 * time.Second, 2, 2 * time.Second
	// Started by another bot process before this one: this one adopts it.
	f, other := startServeAdopting(t, fmt.Sprintf("monitor:\n  interval: %s\n  timeout: %s\n  failure_threshold: %d\n", interval, timeout, threshold))
	procs, err := other.Processes(context.Background())
	if err != nil || len(procs) == 0 {
		t.Fatalf("processes: %v, %v", procs, err)
	}
	// The bot must have seen it healthy first: wait for its first checks
	// (the poll runs at once, then every interval).
	waitHealthChecks(t, f, 2, 3*interval)
	killed := time.Now()
	if err := syscall.Kill(-int(procs[0].PGID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	alert := waitAlertsChannel(t, f.fake, "STOPPED", 3*interval*threshold)
	latency := alert.At.Sub(killed)
	limit := interval*threshold + timeout
	t.Logf("crash to alert (adopted, interval %s, threshold %d): %s", interval, threshold, latency)
	if latency > limit {
		t.Errorf("alert %s after the crash; want within %s", latency, limit)
	}

	// Started again outside this bot: detected, resolved, and its sessions
	// summarised.
	if _, err := other.Start(context.Background(), manager.Actor{ID: "U0BOB", Name: "bob"}, nil); err != nil {
		t.Fatal(err)
	}
	waitAlertsChannel(t, f.fake, "resolved after", 3*interval*threshold)
	summary := waitAlertsChannel(t, f.fake, "session restoration", 30*time.Second)
	if text := summary.Param("text"); !strings.Contains(text, "4 found") {
		t.Errorf("summary of the start done outside the bot = %q", text)
	}
	if n := countAlerts(f.fake, "session restoration"); n != 1 {
		t.Errorf("%d restoration summaries; want 1", n)
	}
}

func countAlerts(fake *fakeslack.Server, want string) int {
	n := 0
	for _, c := range fake.Calls("chat.postMessage") {
		if c.Param("channel") == "C0ALERTS" && strings.Contains(c.Param("text"), want) {
			n++
		}
	}
	return n
}

// waitHealthChecks waits until the stand-in logged n health requests.
func waitHealthChecks(t *testing.T, f serveFixture, n int, timeout time.Duration) {
	t.Helper()
	logPath := filepath.Join(filepath.Dir(f.configPath), "whatsapp-service", "logs", "combined.log")
	deadline := time.Now().Add(timeout)
	for {
		data, _ := os.ReadFile(logPath)
		if strings.Count(string(data), `"GET /health"`) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d health checks in %s", n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAlertsChannelN waits for n messages in the alerts channel containing want.
func waitAlertsChannelN(t *testing.T, fake *fakeslack.Server, want string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for countAlerts(fake, want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d messages with %q in the alerts channel within %s", n, want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsAfterRestart is the acceptance of GET /metrics: after a start
// and a restart through the bot, the same listener as /healthz shows the
// action, the state, the health checks and the alerts.
func TestMetricsAfterRestart(t *testing.T) {
	f := startServe(t)
	startURL := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "start", startURL)
	waitPost(t, f.fake, startURL, "start whatsapp", 30*time.Second)
	// The restart comes after the first restoration is summarised: one
	// that it interrupted would count as interrupted.
	waitAlertsChannel(t, f.fake, "session restoration", 30*time.Second)

	confirmedRestart(t, f)

	scrape := func() string {
		t.Helper()
		resp, err := http.Get(f.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: HTTP %d, %v", resp.StatusCode, err)
		}
		return string(body)
	}
	// The events and notices are recorded asynchronously: the restoration
	// summary comes a few seconds after the restart.
	var text string
	var missing []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		text = scrape()
		missing = missing[:0]
		for _, line := range []string{
			`sanasend_actions_total{action="restart",outcome="ok",service="whatsapp"} 1`,
			`sanasend_actions_total{action="start",outcome="ok",service="whatsapp"} 1`,
			`sanasend_service_state{service="whatsapp",state="healthy"} 1`,
			`sanasend_service_state{service="whatsapp",state="stopped"} 0`,
			`sanasend_alerts_sent_total{kind="restoration"} 2`,
			`sanasend_restorations_total{result="complete",service="whatsapp"} 2`,
			`sanasend_restoration_sessions{result="restored",service="whatsapp"} 3`,
			`sanasend_history_failing 0`,
			`sanasend_incidents{service="whatsapp",window="24h"} 0`,
		} {
			if !strings.Contains(text, line+"\n") {
				missing = append(missing, line)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Errorf("/metrics lacks %q; got:\n%s", missing, text)
	}
	const checks = `sanasend_health_check_duration_seconds_count{service="whatsapp"} `
	count := -1.0
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, checks); ok {
			count, _ = strconv.ParseFloat(v, 64)
		}
	}
	if count <= 0 {
		t.Errorf("health check histogram count = %v; want > 0", count)
	}
	for _, name := range []string{"sanasend_alerts_queued ", "sanasend_alerts_dead ", "go_goroutines "} {
		if !strings.Contains(text, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if strings.Contains(text, "xoxb-test") || strings.Contains(text, testSigningSecret) {
		t.Error("a secret appears in /metrics")
	}
}

// botProcess is one run of `sanasend-bot serve`: a bot process that a test
// stops (its context cancelled, as SIGTERM does) and runs again over the
// same config and state dir, as an upgrade or restart of the bot would.
type botProcess struct {
	cancel context.CancelFunc
	done   chan error
}

// restartableServe writes a config like startServeWith's, with the
// confirmation timeout given and extra YAML (a monitor section), and
// returns what a test needs to run bot processes on it. The cleanup stops
// the last bot and the service.
func restartableServe(t *testing.T, confirmTimeout time.Duration, extra string) (f serveFixture, start func() *botProcess) {
	t.Helper()
	fake, listen, configPath := serveConfig(t, confirmTimeout, extra)
	f = serveFixture{fake: fake, base: "http://" + listen, configPath: configPath, logs: &syncbuf.Buffer{}}
	var last *botProcess
	t.Cleanup(func() {
		if last != nil {
			last.stop(t)
		}
		stopService(t, configPath)
		if strings.Contains(f.logs.String(), testSigningSecret) || strings.Contains(f.logs.String(), "xoxb-test") {
			t.Error("a secret appears in the bot's log")
		}
		if t.Failed() {
			t.Logf("bot log:\n%s", f.logs.String())
		}
	})
	start = func() *botProcess {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		b := &botProcess{cancel: cancel, done: make(chan error, 1)}
		go func() {
			b.done <- run(ctx, []string{"serve", "-config", configPath}, strings.NewReader(""), f.logs, f.logs)
		}()
		last = b
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get(f.base + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return b
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("serve did not answer /healthz: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return f, start
}

// stop ends the bot process and waits for it; the service keeps running.
func (b *botProcess) stop(t *testing.T) {
	t.Helper()
	if b.cancel == nil {
		return
	}
	b.cancel()
	b.cancel = nil
	if err := <-b.done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// startFromSlack starts the service with `/sanasend start` as U0ALICE and
// returns its processes once the answer is posted.
func startFromSlack(t *testing.T, f serveFixture) []manager.Process {
	t.Helper()
	startURL := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "start", startURL)
	waitPost(t, f.fake, startURL, "start whatsapp", 30*time.Second)
	procs, err := adoptService(t, f.configPath).Processes(context.Background())
	if err != nil || len(procs) == 0 {
		t.Fatalf("processes after start: %v, %v", procs, err)
	}
	return procs
}

// TestServeConfirmationSurvivesABotRestart is the acceptance of issue 8's
// section 3 item 7: a restart prompt issued by one bot process is
// confirmed in the next one (the real stand-in restarts, once); the second
// click, in a third process, is refused; a prompt that expired meanwhile
// and a forged token are refused and their prompts replaced by the
// reason; the state file is 0600 and holds no token.
func TestServeConfirmationSurvivesABotRestart(t *testing.T) {
	const confirmTimeout = 15 * time.Second
	f, start := restartableServe(t, confirmTimeout, "")
	first := start()
	before := startFromSlack(t, f)

	// Two prompts from the first bot process: one confirmed after the
	// restart, one left to expire.
	promptURL, lateURL := f.fake.NewResponseURL(), f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "restart", promptURL)
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "restart", lateURL)
	token := fakeslack.ButtonValue(t, f.fake.WaitResponseURLPosts(t, promptURL, 1, 10*time.Second)[0], "sanasend_confirm")
	late := fakeslack.ButtonValue(t, f.fake.WaitResponseURLPosts(t, lateURL, 1, 10*time.Second)[0], "sanasend_confirm")
	issued := time.Now() // the late prompt expires within confirmTimeout of this
	first.stop(t)

	second := start()
	clickURL := f.fake.NewResponseURL()
	click(t, f.base, "U0ALICE", "C0OPS", "sanasend_confirm", token, clickURL)
	if final := waitPost(t, f.fake, clickURL, "restart whatsapp", 60*time.Second); !strings.Contains(messageText(final), "healthy") {
		t.Fatalf("outcome after a bot restart %s: want healthy", messageText(final))
	}
	after, err := adoptService(t, f.configPath).Status(context.Background())
	if err != nil || after.State != manager.StateHealthy || len(after.Processes) == 0 {
		t.Fatalf("status after the restart = %s, %v", after.State, err)
	}
	if after.Processes[0].PID == before[0].PID {
		t.Errorf("the confirmed restart kept pid %d", before[0].PID)
	}
	second.stop(t)

	start()
	againURL := f.fake.NewResponseURL()
	click(t, f.base, "U0ALICE", "C0OPS", "sanasend_confirm", token, againURL)
	if again := f.fake.WaitResponseURLPosts(t, againURL, 1, 10*time.Second)[0]; !strings.Contains(messageText(again), "already used by") {
		t.Errorf("second click, after another bot restart, answered %s; want already used", messageText(again))
	}
	forgedURL := f.fake.NewResponseURL()
	click(t, f.base, "U0ALICE", "C0OPS", "sanasend_confirm", strings.Repeat("ab", 16), forgedURL)
	if forged := f.fake.WaitResponseURLPosts(t, forgedURL, 1, 10*time.Second)[0]; forged["replace_original"] != true ||
		!strings.Contains(messageText(forged), "not valid") || strings.Contains(messageText(forged), "sanasend_confirm") {
		t.Errorf("a forged token answered %s; want its prompt replaced by the reason", messageText(forged))
	}
	// The late prompt's expiry is a fact of the wall clock: wait for it.
	for time.Since(issued) <= confirmTimeout+time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	expiredURL := f.fake.NewResponseURL()
	click(t, f.base, "U0ALICE", "C0OPS", "sanasend_confirm", late, expiredURL)
	if expired := f.fake.WaitResponseURLPosts(t, expiredURL, 1, 10*time.Second)[0]; expired["replace_original"] != true ||
		!strings.Contains(messageText(expired), "expired") || strings.Contains(messageText(expired), "sanasend_confirm") ||
		!strings.Contains(messageText(expired), "restart whatsapp") {
		t.Errorf("an expired token answered %s; want its prompt replaced by the reason", messageText(expired))
	}
	now, err := adoptService(t, f.configPath).Status(context.Background())
	if err != nil || len(now.Processes) == 0 || now.Processes[0].PID != after.Processes[0].PID {
		t.Errorf("a refused click touched the service: pid %v, %v; want %d", now.Processes, err, after.Processes[0].PID)
	}

	// The tokens live in the history (no confirmation file), by hash:
	// neither the database nor its log holds a token.
	stateDir := filepath.Join(filepath.Dir(f.configPath), "sanasend-state")
	if _, err := os.Stat(filepath.Join(stateDir, bot.ConfirmFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (%v); want the tokens in the history only", bot.ConfirmFile, err)
	}
	for _, name := range []string{HistoryFile, HistoryFile + "-wal"} {
		data, err := os.ReadFile(filepath.Join(stateDir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		for _, tok := range []string{token, late} {
			if strings.Contains(string(data), tok) {
				t.Errorf("%s holds the token %s", name, tok)
			}
		}
	}
}

// TestServeAlertButtonSurvivesABotRestart: the Restart button of an alert
// posted by one bot process works in the next one, once.
func TestServeAlertButtonSurvivesABotRestart(t *testing.T) {
	f, start := restartableServe(t, 2*time.Minute, "monitor:\n  interval: 30s\n  timeout: 2s\n  failure_threshold: 2\n")
	first := start()
	procs := startFromSlack(t, f)
	if err := syscall.Kill(-int(procs[0].PGID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	alert := waitAlertsChannel(t, f.fake, "STOPPED", 10*time.Second)
	var token string
	for _, b := range alert.Blocks() {
		for _, el := range anySlice(b["elements"]) {
			if m, ok := el.(map[string]any); ok && m["action_id"] == "sanasend_confirm" {
				token, _ = m["value"].(string)
			}
		}
	}
	if token == "" {
		t.Fatalf("no Restart button on the alert: %v", alert.Blocks())
	}
	first.stop(t)

	start()
	clickURL := f.fake.NewResponseURL()
	click(t, f.base, "U0ALICE", "C0ALERTS", "sanasend_confirm", token, clickURL)
	if final := waitPost(t, f.fake, clickURL, "restart whatsapp", 60*time.Second); !strings.Contains(messageText(final), "healthy") {
		t.Fatalf("the alert's Restart after a bot restart answered %s; want healthy", messageText(final))
	}
	againURL := f.fake.NewResponseURL()
	click(t, f.base, "U0ALICE", "C0ALERTS", "sanasend_confirm", token, againURL)
	again := f.fake.WaitResponseURLPosts(t, againURL, 1, 10*time.Second)[0]
	if !strings.Contains(messageText(again), "already used by") || again["response_type"] != "ephemeral" {
		t.Errorf("second press answered %s; want a private already used", messageText(again))
	}
}
