//go:build !windows

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/internal/fakeslack"
)

// The acceptance of issue 8's section 2 on the real stand-in: the alert
// state survives the bot. Each case runs a bot process, stops it (SIGTERM,
// a graceful stop, or SIGKILL, no goodbye at all) and runs another over the
// same config and state dir.

// restartMonitor is a monitor section with 1 s health checks.
const restartMonitor = "monitor:\n  interval: 1s\n  timeout: 1s\n  failure_threshold: 2\n  restoration_timeout: 20s\n"

func TestAlertStateSurvivesABotRestart(t *testing.T) {
	bin := buildBot(t)
	cases := []struct {
		name  string
		extra string
		run   func(t *testing.T, h *botHarness, sig syscall.Signal)
	}{
		{"outage after a restart is a new alert", restartMonitor, newOutageAfterRestart},
		{"open incident resolved in its own thread", restartMonitor, openIncidentAcrossRestart},
		{"maintenance still mutes", restartMonitor, maintenanceAcrossRestart},
		{"replayed alert has working buttons", restartMonitor, replayedAlertButtons},
		{"acknowledged stays acknowledged", restartMonitor + "  repeat_interval: 1s\n", ackAcrossRestart},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
				t.Run(signalName(sig), func(t *testing.T) {
					c.run(t, newBotHarness(t, bin, c.extra), sig)
				})
			}
		})
	}
}

// newOutageAfterRestart: an outage resolved by one bot process, then
// another outage seen by the next: a new alert in a new message (the issue
// saw none: incident ids started again at 1 and the outbox dropped
// "whatsapp-incident-1" as already delivered).
func newOutageAfterRestart(t *testing.T, h *botHarness, sig syscall.Signal) {
	h.start(t)
	startThroughBot(t, h.serveFixture)
	first := waitTopAlert(t, h.fake, "STOPPED", killService(t, h.configPath), 10*time.Second)
	restarted := time.Now()
	startThroughBot(t, h.serveFixture)
	waitAlertSince(t, h.fake, "resolved after", restarted, 20*time.Second)
	h.stop(t, sig)

	h.start(t)
	// The new process must have seen the service healthy first.
	waitBotChecks(t, h.base, 2, 10*time.Second)
	second := waitTopAlert(t, h.fake, "STOPPED", killService(t, h.configPath), 10*time.Second)
	if second.TS == first.TS || second.TS == "" {
		t.Errorf("the second outage's alert has ts %q; want a new message (the first is %q)", second.TS, first.TS)
	}
}

// openIncidentAcrossRestart: an incident open when a bot process stops is
// still open in the next one; its resolution goes into the alert's thread
// and measures the whole outage, from the exit.
func openIncidentAcrossRestart(t *testing.T, h *botHarness, sig syscall.Signal) {
	h.start(t)
	startThroughBot(t, h.serveFixture)
	killed := killService(t, h.configPath)
	alert := waitTopAlert(t, h.fake, "STOPPED", killed, 10*time.Second)
	// Down long enough for a measure taken from the next process's first
	// check to come out short: three checks of this process.
	waitBotChecks(t, h.base, botChecks(t, h.base)+3, 10*time.Second)
	h.stop(t, sig)

	h.start(t)
	if reply := slash(t, h.serveFixture, "ack"); !strings.Contains(reply, "acknowledged the alert") {
		t.Errorf("ack after the bot restart answered %s; want the open alert acknowledged", reply)
	}
	restarted := time.Now()
	startThroughBot(t, h.serveFixture)
	resolved := waitAlertSince(t, h.fake, "resolved after", restarted, 20*time.Second)
	if th := resolved.Param("thread_ts"); th != alert.TS {
		t.Errorf("resolution %q went to thread %q; want the alert's, %q", resolved.Param("text"), th, alert.TS)
	}
	checkOutage(t, resolved, killed, restarted)
	if n := len(topAlerts(h.fake, "STOPPED", killed)); n != 1 {
		t.Errorf("%d alerts for one outage; want 1", n)
	}
}

// maintenanceAcrossRestart: `maintenance 30m` in one bot process still
// mutes the next one; ending it there alerts on what is still down.
func maintenanceAcrossRestart(t *testing.T, h *botHarness, sig syscall.Signal) {
	h.start(t)
	startThroughBot(t, h.serveFixture)
	asked := time.Now()
	if reply := slash(t, h.serveFixture, "maintenance 30m upgrade"); !strings.Contains(reply, "muted until") {
		t.Fatalf("maintenance 30m answered %s", reply)
	}
	// The window reaches the history's file by its writer, without the
	// reply waiting for it: a SIGKILL in the instant between loses it (as
	// documented). Kill once it is written.
	deadline := time.Now().Add(10 * time.Second)
	for {
		queued, _ := metricValue(t, h.base, "sanasend_history_queued")
		last, ok := metricValue(t, h.base, "sanasend_history_last_write_timestamp_seconds")
		if queued == 0 && ok && last >= float64(asked.UnixNano())/1e9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the maintenance window was not written to the history within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.stop(t, sig)

	h.start(t)
	waitBotChecks(t, h.base, 2, 10*time.Second)
	killed := killService(t, h.configPath)
	// Three checks after the crash: an exit alerts at once and two failed
	// checks would be enough.
	waitBotChecks(t, h.base, botChecks(t, h.base)+3, 10*time.Second)
	if got := alertTexts(h.fake, "STOPPED", killed); len(got) > 0 {
		t.Errorf("alerts during maintenance set before the bot restart: %q", got)
	}
	if reply := slash(t, h.serveFixture, "maintenance off"); !strings.Contains(reply, "ended by") {
		t.Fatalf("maintenance off answered %s", reply)
	}
	// The control: the same crash alerts once the window is over.
	waitTopAlert(t, h.fake, "STOPPED", killed, 10*time.Second)
}

// replayedAlertButtons: an alert that one bot process could not deliver
// (Slack answered 429 with a long Retry-After) is delivered from the
// journal by the next one, and its Restart button works there, once.
func replayedAlertButtons(t *testing.T, h *botHarness, sig syscall.Signal) {
	h.start(t)
	startThroughBot(t, h.serveFixture)
	// Everything about the start is out before the crash.
	waitAlertsChannel(t, h.fake, "session restoration", 30*time.Second)
	h.fake.FailNext("chat.postMessage", fakeslack.Answer{Status: http.StatusTooManyRequests, RetryAfter: 600})
	killed := killService(t, h.configPath)
	waitCall(t, h.fake, 10*time.Second, "the alert refused with 429", func(c fakeslack.Call) bool {
		return c.Method == "chat.postMessage" && c.Status == http.StatusTooManyRequests && strings.Contains(c.Param("text"), "STOPPED")
	})
	h.stop(t, sig)

	h.start(t)
	alert := waitTopAlert(t, h.fake, "STOPPED", killed, 10*time.Second)
	token := fakeslack.ButtonValue(t, alert.Blocks(), "sanasend_confirm")
	clickURL := h.fake.NewResponseURL()
	click(t, h.base, "U0ALICE", "C0ALERTS", "sanasend_confirm", token, clickURL)
	if final := waitPost(t, h.fake, clickURL, "restart whatsapp", 60*time.Second); !strings.Contains(messageText(final), "healthy") {
		t.Fatalf("the replayed alert's Restart answered %s; want healthy", messageText(final))
	}
	againURL := h.fake.NewResponseURL()
	click(t, h.base, "U0ALICE", "C0ALERTS", "sanasend_confirm", token, againURL)
	if again := h.fake.WaitResponseURLPosts(t, againURL, 1, 10*time.Second)[0]; !strings.Contains(messageText(again), "already used by") {
		t.Errorf("second press answered %s; want already used", messageText(again))
	}
}

// ackAcrossRestart: an incident acknowledged in one bot process stays
// acknowledged in the next: no reminder, and a second ack says who did.
func ackAcrossRestart(t *testing.T, h *botHarness, sig syscall.Signal) {
	h.start(t)
	startThroughBot(t, h.serveFixture)
	alert := waitTopAlert(t, h.fake, "STOPPED", killService(t, h.configPath), 10*time.Second)
	// The control: reminders go out while nobody acknowledged it.
	waitCall(t, h.fake, 20*time.Second, "a reminder", func(c fakeslack.Call) bool {
		return isReminder(c, alert.TS)
	})
	if reply := slash(t, h.serveFixture, "ack"); !strings.Contains(reply, "acknowledged the alert") {
		t.Fatalf("ack answered %s", reply)
	}
	waitHistoryWritten(t, h.base) // the acknowledgement is committed
	h.stop(t, sig)

	h.start(t)
	if reply := slash(t, h.serveFixture, "ack"); !strings.Contains(reply, "already acknowledged by") {
		t.Errorf("ack after the bot restart answered %s; want already acknowledged", reply)
	}
	// Reminders queued before the ack may still come out of the journal:
	// count from here, over 7 s (7 checks): more than the monitor's 5 s
	// between looks at reminders plus the 1 s repeat interval.
	waitBotChecks(t, h.base, botChecks(t, h.base)+1, 10*time.Second)
	before := countCalls(h.fake, func(c fakeslack.Call) bool { return isReminder(c, alert.TS) })
	waitBotChecks(t, h.base, botChecks(t, h.base)+7, 20*time.Second)
	if after := countCalls(h.fake, func(c fakeslack.Call) bool { return isReminder(c, alert.TS) }); after != before {
		t.Errorf("%d reminders after the bot restart of an acknowledged incident; want none", after-before)
	}
}

// isReminder says whether c is a reminder in the thread of the alert ts.
func isReminder(c fakeslack.Call, ts string) bool {
	return c.Method == "chat.postMessage" && c.Error == "" && c.Param("thread_ts") == ts &&
		strings.Contains(c.Param("text"), "not acknowledged")
}

// botHarness runs `sanasend-bot serve` as a real process, one after the
// other, over one config and state dir, against the fake Slack.
type botHarness struct {
	serveFixture
	bin     string
	logPath string
	cmd     *exec.Cmd
	done    chan error
}

// buildBot builds the sanasend-bot binary into a directory of t's.
func buildBot(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: this test runs the bot as a process: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "sanasend-bot")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// newBotHarness writes a config like startServeWith's, with extra YAML (a
// monitor section). The cleanup ends the bot process running, if any, and
// the service.
func newBotHarness(t *testing.T, bin, extra string) *botHarness {
	t.Helper()
	fake, listen, configPath := serveConfig(t, 0, extra)
	h := &botHarness{
		serveFixture: serveFixture{fake: fake, base: "http://" + listen, configPath: configPath},
		bin:          bin,
		logPath:      filepath.Join(filepath.Dir(configPath), "bot.log"),
	}
	t.Cleanup(func() {
		if h.cmd != nil {
			h.stop(t, syscall.SIGTERM)
		}
		stopService(t, configPath)
		logs, _ := os.ReadFile(h.logPath)
		if strings.Contains(string(logs), testSigningSecret) || strings.Contains(string(logs), "xoxb-test") {
			t.Error("a secret appears in the bot's log")
		}
		if t.Failed() {
			t.Logf("bot log:\n%s", logs)
		}
	})
	return h
}

// start runs a bot process and waits until it answers /healthz.
func (h *botHarness) start(t *testing.T) {
	t.Helper()
	if h.cmd != nil {
		t.Fatal("a bot process is running already")
	}
	logFile, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the process has its own copy
	cmd := exec.Command(h.bin, "serve", "-config", h.configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	h.cmd, h.done = cmd, done
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(h.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			h.cmd = nil
			t.Fatalf("the bot process ended before it answered /healthz: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bot process did not answer /healthz: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig to the bot process and waits for it to end: after SIGTERM
// it must exit 0 within its shutdown time, after SIGKILL it is killed.
func (h *botHarness) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	cmd := h.cmd
	h.cmd = nil
	if err := cmd.Process.Signal(sig); err != nil {
		t.Errorf("signal the bot: %v", err)
	}
	var err error
	select {
	case err = <-h.done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-h.done
		t.Fatalf("the bot process did not end within 30s of %s", signalName(sig))
	}
	var exit *exec.ExitError
	switch {
	case sig == syscall.SIGTERM && err != nil:
		t.Errorf("bot process after SIGTERM: %v; want exit status 0", err)
	case sig == syscall.SIGKILL && (!errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL):
		t.Errorf("bot process after SIGKILL: %v; want killed", err)
	}
}

func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	}
	return sig.String()
}

// startThroughBot starts the service with /sanasend start and waits for
// the outcome.
func startThroughBot(t *testing.T, f serveFixture) {
	t.Helper()
	u := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "start", u)
	if got := messageText(waitPost(t, f.fake, u, "start whatsapp", 30*time.Second)); !strings.Contains(got, "healthy") {
		t.Fatalf("start answered %s; want healthy", got)
	}
}

// slash runs a command that answers at once and returns its reply.
func slash(t *testing.T, f serveFixture, text string) string {
	t.Helper()
	u := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", text, u)
	return messageText(f.fake.WaitResponseURLPosts(t, u, 1, 10*time.Second)[0])
}

// killService kills the service's process group with SIGKILL and returns
// when.
func killService(t *testing.T, configPath string) time.Time {
	t.Helper()
	procs, err := adoptService(t, configPath).Processes(context.Background())
	if err != nil || len(procs) == 0 {
		t.Fatalf("processes: %v, %v", procs, err)
	}
	at := time.Now()
	if err := syscall.Kill(-int(procs[0].PGID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return at
}

// topAlerts returns the messages delivered to the alerts channel since
// since, outside any thread, that contain want.
func topAlerts(fake *fakeslack.Server, want string, since time.Time) []fakeslack.Call {
	var out []fakeslack.Call
	for _, c := range fake.Calls("chat.postMessage") {
		if c.Error == "" && !c.At.Before(since) && c.Param("channel") == "C0ALERTS" && c.Param("thread_ts") == "" &&
			strings.Contains(c.Param("text"), want) {
			out = append(out, c)
		}
	}
	return out
}

// alertTexts returns the text of every message delivered to the alerts
// channel since since that contains want, in threads or not.
func alertTexts(fake *fakeslack.Server, want string, since time.Time) []string {
	var out []string
	for _, c := range fake.Calls("chat.postMessage") {
		if c.Error == "" && !c.At.Before(since) && c.Param("channel") == "C0ALERTS" && strings.Contains(c.Param("text"), want) {
			out = append(out, c.Param("text"))
		}
	}
	return out
}

// waitTopAlert waits for the first top-level message with want in the
// alerts channel since since (a bot may alert a service it finds stopped
// at its start, before the test's outage), and returns it.
func waitTopAlert(t *testing.T, fake *fakeslack.Server, want string, since time.Time, timeout time.Duration) fakeslack.Call {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got := topAlerts(fake, want, since); len(got) > 0 {
			return got[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert with %q in the alerts channel within %s; seen %q", want, timeout, seenPosts(fake))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAlertSince waits for a message with want in the alerts channel, in a
// thread or not, since since.
func waitAlertSince(t *testing.T, fake *fakeslack.Server, want string, since time.Time, timeout time.Duration) fakeslack.Call {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, c := range fake.Calls("chat.postMessage") {
			if c.Error == "" && !c.At.Before(since) && c.Param("channel") == "C0ALERTS" && strings.Contains(c.Param("text"), want) {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message with %q in the alerts channel within %s; seen %q", want, timeout, seenPosts(fake))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seenPosts describes every chat.postMessage the fake received.
func seenPosts(fake *fakeslack.Server) []string {
	var seen []string
	for _, c := range fake.Calls("chat.postMessage") {
		seen = append(seen, fmt.Sprintf("[%s thread %q %s] %s", c.At.Format("15:04:05.000"), c.Param("thread_ts"), c.Error, c.Param("text")))
	}
	return seen
}

// waitCall waits for a Web API call that ok accepts.
func waitCall(t *testing.T, fake *fakeslack.Server, timeout time.Duration, what string, ok func(fakeslack.Call) bool) fakeslack.Call {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, c := range fake.Calls("") {
			if ok(c) {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countCalls(fake *fakeslack.Server, ok func(fakeslack.Call) bool) int {
	n := 0
	for _, c := range fake.Calls("") {
		if ok(c) {
			n++
		}
	}
	return n
}

// resolvedAfter parses the duration in "resolved after 4m12s, ...".
func resolvedAfter(t *testing.T, text string) time.Duration {
	t.Helper()
	_, rest, ok := strings.Cut(text, "resolved after ")
	if !ok {
		t.Fatalf("%q does not say resolved after", text)
	}
	word, _, _ := strings.Cut(rest, ",")
	word = strings.Fields(word + " ")[0]
	d, err := time.ParseDuration(word)
	if err != nil {
		t.Fatalf("resolved after %q: %v", word, err)
	}
	return d
}

// checkOutage checks the "resolved after X" of resolution, an outage that
// began when the service was killed: X covers the time it was down (until
// it was restarted, at least), and is measured from the exit, not from a
// later health check, so it comes within the rounding (a tenth of a
// second under 10 s, a second above) of the time from the kill to the
// resolution.
func checkOutage(t *testing.T, resolution fakeslack.Call, killed, restarted time.Time) {
	t.Helper()
	lasted := resolvedAfter(t, resolution.Param("text"))
	posted := resolution.At.Sub(killed)
	t.Logf("outage: down for at least %s, resolution posted %s after the kill, says %s", restarted.Sub(killed), posted, lasted)
	if lasted < restarted.Sub(killed)-500*time.Millisecond || lasted < posted-700*time.Millisecond || lasted > posted+500*time.Millisecond {
		t.Errorf("resolved after %s; want the outage from the exit: at least %s (down until the restart), about %s (until the resolution)",
			lasted, restarted.Sub(killed), posted)
	}
}

// botChecks is the number of health checks the running bot process has
// made, from its /metrics.
func botChecks(t *testing.T, base string) int {
	t.Helper()
	n, _ := metricValue(t, base, `sanasend_health_check_duration_seconds_count{service="whatsapp"}`)
	return int(n)
}

// metricValue is the value of the series name (with its labels) on the
// bot's /metrics; false when it has none.
func metricValue(t *testing.T, base, name string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metrics %q: %v", sc.Text(), err)
			}
			return n, true
		}
	}
	return 0, false
}

// waitHistoryWritten waits until the bot's history has nothing left to
// write (its queue and its pending state changes committed): what a SIGKILL
// from then on cannot lose. A change is handed to the history's writer
// without waiting for it (nothing in the alert path waits on SQLite), so a
// SIGKILL in the milliseconds before its commit loses that one change.
func waitHistoryWritten(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, ok := metricValue(t, base, "sanasend_history_queued"); ok && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the bot's history still has facts or state to write after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitBotChecks waits until the running bot process has made n health
// checks.
func waitBotChecks(t *testing.T, base string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for botChecks(t, base) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the bot made fewer than %d health checks within %s", n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alertsSince are the texts posted to the alerts channel since since, with
// their thread.
func alertsSince(fake *fakeslack.Server, since time.Time) []string {
	var out []string
	for _, c := range fake.Calls("chat.postMessage") {
		if c.Error == "" && !c.At.Before(since) && c.Param("channel") == "C0ALERTS" {
			thread := ""
			if c.Param("thread_ts") != "" {
				thread = "(in thread) "
			}
			out = append(out, fmt.Sprintf("+%s %s%s", c.At.Sub(since).Round(time.Millisecond), thread, c.Param("text")))
		}
	}
	return out
}

// confirmedRestart types `/sanasend restart` as U0ALICE, clicks the
// prompt's confirm button and returns the final message of the restart.
func confirmedRestart(t *testing.T, f serveFixture) map[string]any {
	t.Helper()
	promptURL := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "restart", promptURL)
	prompt := f.fake.WaitResponseURLPosts(t, promptURL, 1, 10*time.Second)[0]
	token := fakeslack.ButtonValue(t, prompt, "sanasend_confirm")
	clickURL := f.fake.NewResponseURL()
	click(t, f.base, "U0ALICE", "C0OPS", "sanasend_confirm", token, clickURL)
	return waitPost(t, f.fake, clickURL, "restart whatsapp", 60*time.Second)
}
