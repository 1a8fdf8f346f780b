package slackbot

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/alerts/alertstest"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/bottest"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// -update rewrites the golden files. Registered only if another test file
// of the package has not already done so.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files")
	}
}

func blocksUpdating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

var (
	blocksNow   = time.Date(2026, 11, 28, 3, 10, 0, 0, time.UTC)
	blocksAlice = manager.Actor{ID: "U0ALICE", Name: "alice"}
)

// blocksGoldenJSON is what a golden file holds. An upload's content over
// 2 KiB is summarised: its exact text is checked by
// TestRenderLogsNeverCutSilently, and 100 KiB of generated log lines make
// a golden nobody reviews.
func blocksGoldenJSON(t *testing.T, m Message) []byte {
	t.Helper()
	g := struct {
		Text      string
		Blocks    []slack.Block
		Ephemeral bool
		Upload    *Upload
	}{m.Text, m.Blocks, m.Ephemeral, nil}
	if m.Upload != nil {
		u := *m.Upload
		if !utf8.ValidString(u.Content) {
			// A chart: JSON would mangle its bytes. Its exact content is
			// checked by TestRenderUptimeChart.
			u.Content = fmt.Sprintf("(%d bytes, not text, sha256 %x)", len(u.Content), sha256.Sum256([]byte(u.Content)))
		} else if len(u.Content) > 2048 {
			lines := strings.Split(strings.TrimSuffix(u.Content, "\n"), "\n")
			u.Content = fmt.Sprintf("(%d bytes, %d lines: %q … %q)", len(m.Upload.Content), len(lines),
				blocksCut(lines[0], 60), blocksCut(lines[len(lines)-1], 60))
		}
		g.Upload = &u
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // goldens show < and & as Slack receives them after decoding
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// blocksGolden compares m with testdata/<TestName>.golden.json, subtests'
// slashes becoming underscores.
func blocksGolden(t *testing.T, m Message) {
	t.Helper()
	got := blocksGoldenJSON(t, m)
	path := filepath.Join("testdata", strings.ReplaceAll(t.Name(), "/", "_")+".golden.json")
	if blocksUpdating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got\n%s\nwant\n%s", path, got, want)
	}
}

// --- fixtures (those of bot/console/render_test.go, and a few more) ---------

type blocksCase struct {
	name  string
	reply bot.Reply
}

var (
	blocksStarted     = blocksNow.Add(-2*time.Hour - 13*time.Minute)
	blocksRestoration = whatsapp.Restoration{
		StartedAt: blocksStarted.Add(5 * time.Second), Found: 4, Complete: true, Restored: 3, Failed: 1, Total: 4,
		CompletedAt: blocksStarted.Add(15 * time.Second),
		Sessions: []whatsapp.SessionOutcome{
			{ID: "user_12_instance_main", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady},
			{ID: "user_27_instance_sales", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady},
			{ID: "user_31_instance_support", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionQR},
			{ID: "user_45_instance_promo", Result: whatsapp.SessionFailed, Cause: "undefined"},
		},
	}
	blocksProcs = []manager.Process{
		{PID: 4242, PPID: 1, CPUPercent: 0.4, RSS: 58 << 20, Started: blocksStarted, Command: "npm start"},
		{PID: 4250, PPID: 4242, CPUPercent: 0, RSS: 2 << 20, Started: blocksStarted, Command: "sh -c node src/server.js"},
		{PID: 4251, PPID: 4250, CPUPercent: 3.2, RSS: 120 << 20, Started: blocksStarted, Command: "node src/server.js"},
		{PID: 4300, PPID: 4251, CPUPercent: 1.5, RSS: 300 << 20, Started: blocksStarted.Add(6 * time.Second), Command: "chrome --type=browser --user-data-dir=/srv/wa/.wwebjs_auth/session-user_12_instance_main"},
	}
)

// blocksLongLogLines are n log lines of about width bytes each.
func blocksLongLogLines(n, width int) []string {
	lines := make([]string, n)
	for i := range lines {
		head := fmt.Sprintf(`{"level":"info","message":"Restoring session: user_%d_instance_main (main) attempt %d`, i, i%7)
		pad := strings.Repeat("x", max(width-len(head)-60, 0))
		lines[i] = head + " " + pad + fmt.Sprintf(`","service":"whatsapp-service","timestamp":"2026-11-28 03:%02d:%02d"}`, i/60%60, i%60)
	}
	return lines
}

func blocksCases() []blocksCase {
	busy := &manager.BusyError{Service: "whatsapp", Action: manager.ActionStart, By: blocksAlice, Since: blocksNow.Add(-3 * time.Second)}
	return []blocksCase{
		{"status-healthy", bot.Reply{Kind: bot.KindStatus, Service: "whatsapp", Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateHealthy,
			Health: manager.Health{OK: true, StatusCode: 200, Status: "healthy", Latency: 1200 * time.Microsecond},
			Since:  blocksStarted, Uptime: blocksNow.Sub(blocksStarted), Processes: blocksProcs,
			LastAction:  &manager.ActionRecord{Action: manager.ActionRestart, By: blocksAlice, At: blocksStarted.Add(-time.Second), OK: true, Result: "stopped gracefully in 1.1s; healthy in 2.3s"},
			Restoration: &blocksRestoration,
			CheckedAt:   blocksNow.Add(-time.Second),
		}}},
		{"status-previous-run-maintenance", bot.Reply{Kind: bot.KindStatus, Service: "whatsapp", Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateHealthy,
			Health: manager.Health{OK: true, StatusCode: 200, Status: "healthy", Latency: 1200 * time.Microsecond},
			Since:  blocksNow.Add(-time.Minute), Uptime: time.Minute, Restoration: &blocksRestoration, CheckedAt: blocksNow,
		}, Maintenance: &bot.MaintenanceWindow{Until: blocksNow.Add(30 * time.Minute), By: blocksAlice, Reason: "deploy <!channel> & co"},
			Undelivered: &bot.Undelivered{Count: 2, Codes: []string{"not_in_channel"}}}},
		{"status-port-held", bot.Reply{Kind: bot.KindStatus, Service: "whatsapp", Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateUnhealthy,
			Health:     manager.Health{StatusCode: 404, Reason: "HTTP 404"},
			PortHolder: &manager.PortHolder{PID: 812, Command: "python3 -m http.server 3000 <&>"},
		}}},
		{"status-systemd", bot.Reply{Kind: bot.KindStatus, Service: "whatsapp", Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateHealthy,
			Health: manager.Health{OK: true, StatusCode: 200, Status: "healthy", Latency: 1200 * time.Microsecond},
			Since:  blocksStarted, Uptime: blocksNow.Sub(blocksStarted), Processes: blocksProcs[2:], Adopted: true,
			Controller: manager.ControllerInfo{Kind: manager.ControllerSystemd, Target: "whatsapp.service", Tree: manager.TreeUnitCgroup},
			Managed: &manager.Observation{Managed: true, Running: true, MainPID: 4251, State: "active/running", Restarts: 2,
				LastExit: &manager.Exit{Known: true, Code: -1, Signal: "SIGKILL"}},
		}}},
		{"status-adopted-by-port-cgroup", bot.Reply{Kind: bot.KindStatus, Service: "whatsapp", Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateHealthy,
			Health: manager.Health{OK: true, StatusCode: 200, Status: "healthy", Latency: 1200 * time.Microsecond},
			Since:  blocksStarted, Uptime: blocksNow.Sub(blocksStarted), Processes: blocksProcs, Adopted: true, AdoptedByPort: true,
			Controller: manager.ControllerInfo{Kind: manager.ControllerProcess, Tree: manager.TreeMarker,
				Why: "the bot may not create cgroups under /sys/fs/cgroup/system.slice/sanasend-bot.service: run it as root, or give its systemd unit Delegate=yes"},
		}}},
		{"status-root-gone", bot.Reply{Kind: bot.KindStatus, Service: "whatsapp", Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateHealthy,
			Health: manager.Health{OK: true, StatusCode: 200, Status: "healthy", Latency: 1200 * time.Microsecond},
			Since:  blocksStarted, Uptime: blocksNow.Sub(blocksStarted), Processes: blocksProcs[1:3], RootPID: 4250, RootGone: true,
		}}},
		{"status-stopped", bot.Reply{Kind: bot.KindStatus, Service: "whatsapp", Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateStopped,
			Health: manager.Health{Reason: "connection refused", Refused: true},
			Busy:   busy,
			LastAction: &manager.ActionRecord{Action: manager.ActionStop, By: manager.Actor{ID: "console:bob", Name: "bob"},
				At: blocksNow.Add(-10 * time.Minute), OK: false, Result: "1 process survived: pid 4300 (chrome)"},
		}}},
		{"status-unhealthy", bot.Reply{Kind: bot.KindStatus, Service: "whatsapp", Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateUnhealthy,
			Health: manager.Health{StatusCode: 503, Reason: "HTTP 503, status unhealthy"}, Since: blocksStarted, Uptime: blocksNow.Sub(blocksStarted),
			Processes: blocksProcs[:3], Adopted: true,
		}}},
		{"confirm", bot.Reply{Kind: bot.KindConfirm, Service: "whatsapp", Confirm: &bot.Pending{
			Token: "0123456789abcdef0123456789abcdef", Command: bot.Command{Verb: bot.VerbRestart}, Service: "whatsapp",
			Requester: "U0ALICE", Channel: "C0OPS", Expires: blocksNow.Add(2 * time.Minute),
		}}},
		{"outcome-restart", bot.Reply{Kind: bot.KindOutcome, Service: "whatsapp", Outcome: &bot.Outcome{
			Action: manager.ActionRestart, Service: "whatsapp", By: blocksAlice, Took: 6200 * time.Millisecond,
			Stop:  &manager.StopResult{WasRunning: true, Graceful: true, Duration: 1100 * time.Millisecond, Stopped: blocksProcs, Leftovers: blocksProcs[3:]},
			Start: &manager.StartResult{PID: 5000, Healthy: true, TimeToHealthy: 2300 * time.Millisecond, LocksRemoved: []string{"/srv/wa/.wwebjs_auth/session-x/SingletonLock"}},
		}}},
		{"outcome-start-crashed", bot.Reply{Kind: bot.KindOutcome, Service: "whatsapp", Outcome: &bot.Outcome{
			Action: manager.ActionStart, Service: "whatsapp", By: blocksAlice, Took: 900 * time.Millisecond,
			Start: &manager.StartResult{PID: 5000, Exited: true, ExitCode: 3, OutputPath: "/var/lib/sanasend/whatsapp/output.log",
				OutputTail: []string{"> whatsapp-service@1.0.0 start", "> node src/server.js", "Error: Cannot find module 'whatsapp-web.js'"}},
			Err: usererr.New(usererr.Unavailable, "start whatsapp: exited before it became healthy (exit code 3)"),
		}}},
		{"outcome-stop-forced-survivor", bot.Reply{Kind: bot.KindOutcome, Service: "whatsapp", Outcome: &bot.Outcome{
			Action: manager.ActionStop, Service: "whatsapp", By: blocksAlice, Took: 12 * time.Second,
			Stop: &manager.StopResult{WasRunning: true, Forced: true, Duration: 12 * time.Second, Stopped: blocksProcs,
				Survivors: blocksProcs[3:]},
			Err: usererr.New(usererr.Unavailable, "stop whatsapp: 1 processes survived: pid 4300 (chrome)"),
		}}},
		{"logs-short", bot.Reply{Kind: bot.KindLogs, Service: "whatsapp", LogQuery: manager.LogQuery{Lines: 3, Filter: "restore"},
			Logs: &manager.LogResult{Path: "/srv/wa/logs/combined.log", Lines: []string{"a restore line", "b restore line"}, Exhausted: true, Cut: 1, Searched: 44}}},
		{"logs-long", bot.Reply{Kind: bot.KindLogs, Service: "whatsapp", LogQuery: manager.LogQuery{Lines: 1000, IncludeHealth: true},
			Logs: &manager.LogResult{Path: "/srv/wa/logs/combined.log", Lines: blocksLongLogLines(1000, 250), Scanned: 250_000}}},
		{"logs-none", bot.Reply{Kind: bot.KindLogs, Service: "whatsapp", LogQuery: manager.LogQuery{Lines: 50, Filter: "ECONNREFUSED"},
			Logs: &manager.LogResult{Path: "/srv/wa/logs/combined.log", ScanLimit: true, Scanned: 256 << 20, Searched: 1_048_576}}},
		{"logs-no-match", bot.Reply{Kind: bot.KindLogs, Service: "whatsapp", LogQuery: manager.LogQuery{Lines: 5, Filter: "abc"},
			Logs: &manager.LogResult{Path: "/srv/wa/logs/combined.log", Exhausted: true, Searched: 44}}},
		{"ps", bot.Reply{Kind: bot.KindProcesses, Service: "whatsapp", Processes: blocksProcs, At: blocksNow}},
		{"ps-none", bot.Reply{Kind: bot.KindProcesses, Service: "whatsapp", At: blocksNow}},
		{"sessions", bot.Reply{Kind: bot.KindSessions, Service: "whatsapp", Sessions: func() *whatsapp.SessionsReport {
			rep := whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: blocksRestoration, HaveRestoration: true, Running: true,
				Dirs: []whatsapp.AuthDir{
					{SessionID: "user_12_instance_main", Size: 42 << 20, Files: 312, HasProfile: true, ModTime: blocksNow.Add(-time.Hour),
						Locks: []whatsapp.ChromiumLock{{SessionID: "user_12_instance_main", Path: "/srv/wa/.wwebjs_auth/session-user_12_instance_main/SingletonLock", Target: "host-999", Why: "pid 999 is not running", Stale: true}}},
					{SessionID: "user_45_instance_promo", Empty: true, ModTime: blocksNow.Add(-72 * time.Hour)},
				}})
			return &rep
		}()}},
		{"sessions-none", bot.Reply{Kind: bot.KindSessions, Service: "whatsapp", Sessions: &whatsapp.SessionsReport{}}},
		{"doctor", bot.Reply{Kind: bot.KindDoctor, Service: "whatsapp", Checks: []doctor.Check{
			{Name: "node", Verdict: doctor.VerdictOK, Detail: "v20.20.2 (/usr/bin/node)"},
			{Name: "disk space", Verdict: doctor.VerdictWarn, Detail: "12.0 GiB free of 80.0 GiB (15% free, 85% used) at /srv/wa"},
			{Name: "port 3000", Verdict: doctor.VerdictWarn, Detail: "nothing listens", Hint: "the service is down: `start` it"},
			{Name: "health", Verdict: doctor.VerdictFail, Detail: "connection refused", Hint: "`start` it"},
		}}},
		{"help", bot.Reply{Kind: bot.KindHelp, Help: []bot.HelpLine{
			{Usage: "status [service]", Text: "state, health, uptime, processes and last action"},
			{Usage: "start [service]", Text: "start the service and wait until it is healthy"},
			{Usage: "stop [service]", Text: "stop the whole process tree (asks for confirmation)"},
			{Usage: "restart [service]", Text: "stop, then start (asks for confirmation)"},
			{Usage: "logs [service] [all] [output] [N] [filter]", Text: "last N log lines (default 50, max 1000), optional case-insensitive filter; `all` includes the health-check lines, `output` reads the service's stdout/stderr"},
			{Usage: "ps [service]", Text: "the service's process tree: PID, PPID, CPU, memory, age, command"},
			{Usage: "sessions [service]", Text: "last session restoration, auth dirs, missing auth, stale Chromium locks"},
			{Usage: "doctor [service]", Text: "run the troubleshooting checks: node, npm, dir, port, log, health, disk"},
			{Usage: "help [command]", Text: "this list"},
		}}},
		{"help-logs", bot.Reply{Kind: bot.KindHelp, HelpTopic: bot.VerbLogs, Help: []bot.HelpLine{
			{Usage: "logs [service] [all] [output] [N] [filter]", Text: "last N log lines (default 50, max 1000), optional case-insensitive filter; `all` includes the health-check lines, `output` reads the service's stdout/stderr"},
		}}},
		{"refused", bot.Reply{Kind: bot.KindRefused, Text: "sorry, only SanaSend staff may use this command"}},
		{"usage", bot.Reply{Kind: bot.KindUsage, Text: "unexpected \"please\"; usage: stop [service]"}},
		{"rejected", bot.Reply{Kind: bot.KindRejected, Service: "whatsapp", Text: bot.ErrNotRequester.Error()}},
		{"busy", bot.Reply{Kind: bot.KindBusy, Service: "whatsapp", Text: busy.Error(), Err: busy}},
		{"error", bot.Reply{Kind: bot.KindError, Service: "whatsapp", Text: "status whatsapp: read /proc: permission denied"}},
		{"cancelled", bot.Reply{Kind: bot.KindCancelled, Service: "whatsapp", Text: "restart whatsapp cancelled by alice; nothing was done"}},
		{"maintenance-list", bot.Reply{Kind: bot.KindWindows, Windows: alertstest.Windows(blocksNow), At: blocksNow}},
		{"maintenance-list-none", bot.Reply{Kind: bot.KindWindows, At: blocksNow}},
		{"maintenance-list-fleet", bot.Reply{Kind: bot.KindWindows, Windows: alertstest.FleetWindows(blocksNow), Text: alertstest.WindowsNotes(blocksNow), At: blocksNow}},
	}
}

func TestRender(t *testing.T) {
	for _, tc := range blocksCases() {
		t.Run(tc.name, func(t *testing.T) {
			blocksGolden(t, Render(tc.reply, blocksNow))
		})
	}
	// Issue 10's and issue 11's messages, the same facts as the console's
	// goldens.
	for _, tc := range slices.Concat(bottest.Cases(), bottest.HistoryCases(), bottest.StatusHistoryCases()) {
		t.Run(tc.Name, func(t *testing.T) {
			blocksGolden(t, Render(tc.Reply, bottest.Now))
		})
	}
}

func TestOutcomeNotice(t *testing.T) {
	var restart *bot.Outcome
	for _, tc := range blocksCases() {
		if tc.name == "outcome-restart" {
			restart = tc.reply.Outcome
		}
	}
	t.Run("restart", func(t *testing.T) { blocksGolden(t, OutcomeNotice(restart, "U0ALICE")) })
	m := OutcomeNotice(restart, "")
	if want := "✓ restart whatsapp by <@U0ALICE> in 6.2s: "; !strings.HasPrefix(m.Text, want) || !strings.HasSuffix(m.Text, "healthy in 2.3s") {
		t.Errorf("OutcomeNotice(restart, \"\").Text = %q; want %q…healthy in 2.3s", m.Text, want)
	}
	console := *restart
	console.By = manager.Actor{ID: "console:bob", Name: "bob <!channel>"}
	if m := OutcomeNotice(&console, ""); !strings.Contains(m.Text, "by bob &lt;!channel&gt; in") {
		t.Errorf("OutcomeNotice by a console user: Text = %q; want the name, escaped", m.Text)
	}
}

func TestProgress(t *testing.T) {
	tests := []struct {
		name                string
		verb                bot.Verb
		service, user, step string
		wantText            string
	}{
		{"restart", bot.VerbRestart, "whatsapp", "U0ALICE", "stopping (SIGTERM to process group 4242)",
			"⏳ restart whatsapp by <@U0ALICE>: stopping (SIGTERM to process group 4242)…"},
		{"unknown-action", "", "", "U0ALICE", "starting", "⏳ <@U0ALICE>: starting…"},
		{"no-user", bot.VerbStart, "whatsapp", "", "ending 3 processes left by an earlier run",
			"⏳ start whatsapp: ending 3 processes left by an earlier run…"},
		{"hostile-step", bot.VerbStop, "whatsapp", "<!channel>", "<!here> & co...", "⏳ stop whatsapp: &lt;!here&gt; &amp; co..."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := Progress(tc.verb, tc.service, tc.user, tc.step)
			if m.Text != tc.wantText {
				t.Errorf("Progress(%q, %q, %q, %q).Text = %q; want %q", tc.verb, tc.service, tc.user, tc.step, m.Text, tc.wantText)
			}
			blocksGolden(t, m)
		})
	}
}

func TestConfirmClosed(t *testing.T) {
	p := bot.Pending{Token: "0123456789abcdef0123456789abcdef", Command: bot.Command{Verb: bot.VerbStop}, Service: "whatsapp",
		Requester: "U0ALICE", Expires: blocksNow.Add(2 * time.Minute)}
	t.Run("cancelled", func(t *testing.T) {
		m := ConfirmClosed(p, "stop whatsapp cancelled by alice; nothing was done")
		blocksGolden(t, m)
		if n := len(blocksButtons(m)); n != 0 {
			t.Errorf("ConfirmClosed has %d buttons; want none", n)
		}
	})
	t.Run("expired", func(t *testing.T) { blocksGolden(t, ConfirmClosed(p, "expired: type the command again")) })
}

// --- property checks, independent of the goldens ---------------------------

// blocksText is one text object of a message and where it sits.
type blocksText struct {
	where string // "section", "field", "header", "context", "button"
	obj   *slack.TextBlockObject
}

// blocksTexts lists every text object of m; a block type it does not know
// fails the test, so a new kind of block cannot slip past the checks.
func blocksTexts(t *testing.T, m Message) []blocksText {
	t.Helper()
	var out []blocksText
	for i, b := range m.Blocks {
		switch b := b.(type) {
		case *slack.SectionBlock:
			if b.Text != nil {
				out = append(out, blocksText{"section", b.Text})
			}
			for _, f := range b.Fields {
				out = append(out, blocksText{"field", f})
			}
			if b.Text == nil && len(b.Fields) == 0 {
				t.Errorf("block %d: section with neither text nor fields", i)
			}
			if len(b.Fields) > blocksMaxFields {
				t.Errorf("block %d: %d fields; Slack takes at most %d", i, len(b.Fields), blocksMaxFields)
			}
		case *slack.HeaderBlock:
			out = append(out, blocksText{"header", b.Text})
		case *slack.ContextBlock:
			if n := len(b.ContextElements.Elements); n == 0 || n > blocksMaxContext {
				t.Errorf("block %d: context with %d elements; Slack takes 1 to %d", i, n, blocksMaxContext)
			}
			for _, e := range b.ContextElements.Elements {
				obj, ok := e.(*slack.TextBlockObject)
				if !ok {
					t.Fatalf("block %d: context element %T", i, e)
				}
				out = append(out, blocksText{"context", obj})
			}
		case *slack.ActionBlock:
			for _, e := range b.Elements.ElementSet {
				btn, ok := e.(*slack.ButtonBlockElement)
				if !ok {
					t.Fatalf("block %d: action element %T", i, e)
				}
				out = append(out, blocksText{"button", btn.Text})
			}
		default:
			t.Fatalf("block %d: unexpected %T", i, b)
		}
	}
	return out
}

func blocksButtons(m Message) []*slack.ButtonBlockElement {
	var out []*slack.ButtonBlockElement
	for _, b := range m.Blocks {
		if a, ok := b.(*slack.ActionBlock); ok {
			for _, e := range a.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					out = append(out, btn)
				}
			}
		}
	}
	return out
}

// blocksCodeTexts returns the fenced code sections of m, fences removed.
func blocksCodeTexts(m Message) []string {
	var out []string
	for _, b := range m.Blocks {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil && strings.HasPrefix(s.Text.Text, "```\n") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(s.Text.Text, "```\n"), "\n```"))
		}
	}
	return out
}

// blocksHostileCases are replies full of text that tries to ping, link or
// break out of a code block, and replies too long for one message.
func blocksHostileCases() []blocksCase {
	evil := "<!channel> <!here|here> <@U0EVIL> <https://evil.example|click> &amp; ``` end `` ` ````"
	procs := make([]manager.Process, 500)
	for i := range procs {
		procs[i] = manager.Process{PID: int32(10000 + i), PPID: 4251, RSS: 100 << 20, Started: blocksStarted,
			Command: "chrome --type=renderer " + evil + strings.Repeat(" --flag", 40)}
	}
	sessions := make([]whatsapp.SessionOutcome, 400)
	dirs := make([]whatsapp.AuthDir, 400)
	missing := make([]string, 400)
	locks := make([]whatsapp.ChromiumLock, 100)
	for i := range sessions {
		id := fmt.Sprintf("user_%d_instance_%s", i, evil)
		sessions[i] = whatsapp.SessionOutcome{ID: id, Result: whatsapp.SessionError, Cause: evil}
		dirs[i] = whatsapp.AuthDir{SessionID: id, HasProfile: true, ModTime: blocksNow.Add(-time.Hour)}
		missing[i] = id
	}
	for i := range locks {
		locks[i] = whatsapp.ChromiumLock{Path: "/srv/wa/" + evil + "/SingletonLock", Target: evil, Why: evil}
	}
	checks := make([]doctor.Check, 60)
	for i := range checks {
		checks[i] = doctor.Check{Name: "check " + evil, Verdict: doctor.VerdictFail, Detail: evil + strings.Repeat(" detail", 20), Hint: evil}
	}
	r := blocksRestoration
	r.Sessions = sessions
	r.Error = evil
	return []blocksCase{
		{"hostile-logs", bot.Reply{Kind: bot.KindLogs, Service: "whatsapp", LogQuery: manager.LogQuery{Lines: 3, Filter: evil},
			Logs: &manager.LogResult{Path: "/srv/wa/logs/" + evil, Lines: []string{evil, "ok line", evil}}}},
		{"logs-one-huge-line", bot.Reply{Kind: bot.KindLogs, Service: "whatsapp", LogQuery: manager.LogQuery{Lines: 2},
			Logs: &manager.LogResult{Path: "/srv/wa/logs/combined.log", Lines: []string{"first", strings.Repeat("<&>", 2000/3) + "…"}, Cut: 1}}},
		{"logs-backticks", bot.Reply{Kind: bot.KindLogs, Service: "whatsapp", LogQuery: manager.LogQuery{Lines: 1},
			Logs: &manager.LogResult{Path: "/srv/wa/logs/combined.log", Lines: []string{strings.Repeat("`", 2000)}}}},
		{"hostile-status", bot.Reply{Kind: bot.KindStatus, Status: &manager.Status{
			Service: "wa" + evil, URL: "http://x/" + evil, State: manager.StateUnhealthy,
			Health: manager.Health{Reason: evil + strings.Repeat(" reason", 500)}, Since: blocksStarted, Processes: procs,
			LastAction:  &manager.ActionRecord{Action: manager.ActionStop, By: manager.Actor{ID: "console:" + evil, Name: evil}, Result: evil},
			Restoration: &r,
			Busy:        &manager.BusyError{Service: evil, Action: manager.ActionStop, By: manager.Actor{Name: evil}},
		}}},
		{"hostile-ps", bot.Reply{Kind: bot.KindProcesses, Service: "whatsapp", Processes: procs}},
		{"hostile-sessions", bot.Reply{Kind: bot.KindSessions, Service: "whatsapp", Sessions: hostileSessions(r, dirs, locks, missing)}},
		{"hostile-doctor", bot.Reply{Kind: bot.KindDoctor, Service: "whatsapp", Checks: checks}},
		{"hostile-outcome", bot.Reply{Kind: bot.KindOutcome, Outcome: &bot.Outcome{
			Action: manager.ActionStop, Service: "whatsapp", By: manager.Actor{ID: "console:x", Name: evil},
			Start: &manager.StartResult{Exited: true, OutputPath: evil, OutputTail: blocksLongLogLines(300, 400)},
			Stop:  &manager.StopResult{WasRunning: true, Forced: true, Survivors: procs},
			Err:   usererr.New(usererr.Internal, "%s", evil+strings.Repeat(" error", 1000)),
		}}},
		{"hostile-error", bot.Reply{Kind: bot.KindError, Text: evil}},
		{"hostile-usage", bot.Reply{Kind: bot.KindUsage, Text: "unknown command \"" + evil + "\": try `help`"}},
		{"hostile-busy", bot.Reply{Kind: bot.KindBusy, Text: evil, Err: &manager.BusyError{Service: evil, Action: manager.ActionStart, By: manager.Actor{Name: evil}}}},
		{"hostile-confirm", bot.Reply{Kind: bot.KindConfirm, Confirm: &bot.Pending{Token: "t", Command: bot.Command{Verb: bot.VerbStop},
			Service: evil + strings.Repeat("x", 100), Requester: evil}}},
	}
}

// hostileSessions joins hostile sessions, dirs and locks as the manager
// does; missing (the old field) is kept too.
func hostileSessions(r whatsapp.Restoration, dirs []whatsapp.AuthDir, locks []whatsapp.ChromiumLock, missing []string) *whatsapp.SessionsReport {
	dirs = append([]whatsapp.AuthDir(nil), dirs...)
	for i := range dirs {
		if i < len(locks) {
			l := locks[i]
			l.SessionID, l.Stale = dirs[i].SessionID, true
			dirs[i].Locks = []whatsapp.ChromiumLock{l}
		}
	}
	r.Error = "" // a restoration that failed as a whole names no session
	rep := whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: true, Dirs: dirs, Running: true})
	rep.MissingAuth = missing
	return &rep
}

func blocksAllMessages() map[string]Message {
	out := map[string]Message{}
	for _, tc := range append(blocksCases(), blocksHostileCases()...) {
		out["Render "+tc.name] = Render(tc.reply, blocksNow)
	}
	for _, tc := range slices.Concat(bottest.Cases(), bottest.WorstCases(), bottest.HistoryCases(), bottest.HistoryWorstCases(), bottest.StatusHistoryCases()) {
		out["Render "+tc.Name] = Render(tc.Reply, bottest.Now)
	}
	o := blocksHostileCases()[7].reply.Outcome
	out["OutcomeNotice hostile"] = OutcomeNotice(o, "<!channel>")
	out["Progress hostile"] = Progress("<!here>", "<!channel>", "U0ALICE", strings.Repeat("<!channel>", 1000))
	out["ConfirmClosed hostile"] = ConfirmClosed(bot.Pending{Service: "<!channel>"}, "<!here>")
	return out
}

// blocksMentionRE matches what may follow '<' in rendered mrkdwn: a user
// mention built by this package, nothing else.
var blocksMentionRE = regexp.MustCompile(`^<@U0ALICE>`)

func TestRenderLimits(t *testing.T) {
	for name, m := range blocksAllMessages() {
		if m.Text == "" || blocksLen(m.Text) > blocksMaxText {
			t.Errorf("%s: fallback text of %d characters; want 1 to %d", name, blocksLen(m.Text), blocksMaxText)
		}
		if len(m.Blocks) == 0 || len(m.Blocks) > blocksMaxBlocks {
			t.Errorf("%s: %d blocks; want 1 to %d", name, len(m.Blocks), blocksMaxBlocks)
		}
		total := blocksLen(m.Text)
		for _, tx := range blocksTexts(t, m) {
			limit := map[string]int{"section": blocksMaxText, "field": blocksMaxField, "header": blocksMaxHeader,
				"context": blocksMaxText, "button": blocksMaxButton}[tx.where]
			if n := blocksLen(tx.obj.Text); n == 0 || n > limit {
				t.Errorf("%s: %s text of %d characters; want 1 to %d: %.80q", name, tx.where, n, limit, tx.obj.Text)
			}
			if err := tx.obj.Validate(); err != nil {
				t.Errorf("%s: %s text: %v", name, tx.where, err)
			}
			if tx.where == "header" || tx.where == "button" {
				if tx.obj.Type != slack.PlainTextType {
					t.Errorf("%s: %s text is %s; Slack wants plain_text", name, tx.where, tx.obj.Type)
				}
			} else if tx.obj.Type != slack.MarkdownType || !tx.obj.Verbatim {
				t.Errorf("%s: %s text is %s verbatim=%v; want verbatim mrkdwn", name, tx.where, tx.obj.Type, tx.obj.Verbatim)
			}
			total += blocksLen(tx.obj.Text)
		}
		// Slack answers msg_blocks_too_long from about 12k characters.
		if total > blocksMaxTotal+blocksMaxText {
			t.Errorf("%s: %d characters of text; want at most %d", name, total, blocksMaxTotal+blocksMaxText)
		}
		t.Run(name, func(t *testing.T) { checkSlackLimits(t, m) })
	}
}

func TestRenderEscapes(t *testing.T) {
	for name, m := range blocksAllMessages() {
		texts := []string{m.Text}
		for _, tx := range blocksTexts(t, m) {
			if tx.obj.Type == slack.MarkdownType {
				texts = append(texts, tx.obj.Text)
			}
		}
		for _, s := range texts {
			for i := strings.IndexByte(s, '<'); i >= 0; i = blocksNextLT(s, i) {
				if !blocksMentionRE.MatchString(s[i:]) {
					t.Errorf("%s: unescaped %.30q in %.120q", name, s[i:], s)
				}
			}
			for _, e := range []string{"&", "&a", "&am", "&l", "&g"} {
				if strings.HasSuffix(s, e) || strings.HasSuffix(s, e+"…") {
					t.Errorf("%s: entity cut in two at the end of %.120q", name, s)
				}
			}
			if strings.Count(s, "```")%2 != 0 {
				t.Errorf("%s: odd number of ``` in %.200q", name, s)
			}
		}
		for _, code := range blocksCodeTexts(m) {
			if strings.Contains(code, "```") {
				t.Errorf("%s: ``` inside a code block would end it: %.200q", name, code)
			}
		}
	}
	// The log line itself, as Slack receives it.
	m := Render(blocksHostileCases()[0].reply, blocksNow)
	code := strings.Join(blocksCodeTexts(m), "\n")
	want := "&lt;!channel&gt; &lt;!here|here&gt; &lt;@U0EVIL&gt; &lt;https://evil.example|click&gt; &amp;amp; ʼʼʼ end `` ` ʼʼʼ`"
	if !strings.Contains(code, want) {
		t.Errorf("hostile log line rendered as %q; want it to contain %q", code, want)
	}
}

func blocksNextLT(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '<')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// TestRenderLogsNeverCutSilently checks, for many sizes, that either every
// line read is in the message, or the message shows the last lines in
// order, says how many of how many, and attaches them all.
func TestRenderLogsNeverCutSilently(t *testing.T) {
	noteRE := regexp.MustCompile(`showing the last (\d+) of (\d+) lines?; all of them are in the attached file`)
	for _, n := range []int{1, 5, 11, 12, 20, 23, 24, 25, 40, 100, 1000} {
		for _, width := range []int{10, 120, 250, 1000, 2000} {
			lines := blocksLongLogLines(n, width)
			name := fmt.Sprintf("%d lines of %d bytes", n, width)
			m := Render(bot.Reply{Kind: bot.KindLogs, Service: "whatsapp", LogQuery: manager.LogQuery{Lines: n},
				Logs: &manager.LogResult{Path: "/srv/wa/logs/combined.log", Lines: lines}}, blocksNow)
			var shown []string
			for _, c := range blocksCodeTexts(m) {
				shown = append(shown, strings.Split(c, "\n")...)
			}
			var notes []string
			for _, tx := range blocksTexts(t, m) {
				if tx.where == "context" {
					notes = append(notes, tx.obj.Text)
				}
			}
			note := noteRE.FindStringSubmatch(strings.Join(notes, "\n"))
			if m.Upload == nil {
				if len(shown) != n || note != nil {
					t.Errorf("%s: no file, %d lines shown, note %q; want all %d lines and no note", name, len(shown), note, n)
					continue
				}
			} else {
				if want := strings.Join(lines, "\n") + "\n"; m.Upload.Content != want {
					t.Errorf("%s: file content of %d bytes; want every line read (%d bytes)", name, len(m.Upload.Content), len(want))
				}
				if m.Upload.Filename != "whatsapp-logs.txt" || !strings.HasPrefix(m.Upload.Title, "whatsapp, combined.log: ") {
					t.Errorf("%s: upload named %q, %q", name, m.Upload.Filename, m.Upload.Title)
				}
				if note == nil || note[1] != fmt.Sprint(len(shown)) || note[2] != fmt.Sprint(n) {
					if len(shown) < n {
						t.Errorf("%s: %d of %d lines shown, note %q; want \"showing the last %d of %d lines\"", name, len(shown), n, note, len(shown), n)
					}
				}
				if !strings.Contains(m.Text, "attached file") {
					t.Errorf("%s: fallback text %q does not mention the file", name, m.Text)
				}
			}
			// What is shown is the end of what was read, in order (a line
			// shortened to fit ends with "…" and its start matches).
			for i, s := range shown {
				want := blocksCodeLine(lines[n-len(shown)+i])
				if s != want && !(strings.HasSuffix(s, "…") && strings.HasPrefix(want, strings.TrimSuffix(s, "…"))) {
					t.Errorf("%s: shown line %d = %.60q; want %.60q", name, i, s, want)
					break
				}
			}
		}
	}
}

func TestRenderPSNeverCutSilently(t *testing.T) {
	for _, n := range []int{1, 10, 30, 500} {
		procs := make([]manager.Process, n)
		for i := range procs {
			procs[i] = manager.Process{PID: int32(i + 1), Started: blocksStarted, Command: "chrome " + strings.Repeat("--flag ", 30)}
		}
		m := Render(bot.Reply{Kind: bot.KindProcesses, Service: "whatsapp", Processes: procs}, blocksNow)
		rows := 0
		for _, c := range blocksCodeTexts(m) {
			rows += len(strings.Split(c, "\n"))
		}
		rows-- // the header
		switch {
		case m.Upload == nil && rows != n:
			t.Errorf("%d processes: %d rows shown and no file", n, rows)
		case m.Upload != nil && !strings.Contains(blocksJoinTexts(t, m), fmt.Sprintf("showing the first %d of %d processes", rows, n)):
			t.Errorf("%d processes: %d rows shown, file attached, but no note saying so", n, rows)
		case m.Upload != nil && strings.Count(m.Upload.Content, "\n") != n+1:
			t.Errorf("%d processes: file of %d lines; want %d", n, strings.Count(m.Upload.Content, "\n"), n+1)
		}
	}
}

func blocksJoinTexts(t *testing.T, m Message) string {
	var b strings.Builder
	for _, tx := range blocksTexts(t, m) {
		b.WriteString(tx.obj.Text + "\n")
	}
	return b.String()
}

func TestRenderButtons(t *testing.T) {
	for _, tc := range append(blocksCases(), blocksHostileCases()...) {
		m := Render(tc.reply, blocksNow)
		buttons := blocksButtons(m)
		switch tc.reply.Kind {
		case bot.KindConfirm:
			if len(buttons) != 2 {
				t.Fatalf("%s: %d buttons; want confirm and cancel", tc.name, len(buttons))
			}
			for _, b := range buttons {
				if b.Value != tc.reply.Confirm.Token {
					t.Errorf("%s: button %s carries %q; want the token %q", tc.name, b.ActionID, b.Value, tc.reply.Confirm.Token)
				}
				if b.Confirm != nil {
					t.Errorf("%s: button %s has a Slack confirm dialog; the button is the confirmation", tc.name, b.ActionID)
				}
			}
			if buttons[0].ActionID != ActionConfirm || buttons[0].Style != slack.StyleDanger {
				t.Errorf("%s: first button %s style %q; want %s, danger", tc.name, buttons[0].ActionID, buttons[0].Style, ActionConfirm)
			}
			if buttons[1].ActionID != ActionCancel || buttons[1].Style == slack.StyleDanger {
				t.Errorf("%s: second button %s style %q; want %s, not danger", tc.name, buttons[1].ActionID, buttons[1].Style, ActionCancel)
			}
			if tc.name == "confirm" && buttons[0].Text.Text != "Yes, restart whatsapp" {
				t.Errorf("%s: confirm button says %q", tc.name, buttons[0].Text.Text)
			}
		case bot.KindStatus:
			want := []string{ActionRefresh, ActionLogs, ActionRestart}
			if len(buttons) != len(want) {
				t.Fatalf("%s: %d buttons; want %v", tc.name, len(buttons), want)
			}
			for i, b := range buttons {
				if b.ActionID != want[i] || b.Value != tc.reply.Status.Service {
					t.Errorf("%s: button %d = %s %q; want %s %q", tc.name, i, b.ActionID, b.Value, want[i], tc.reply.Status.Service)
				}
				if destructive := b.ActionID == ActionRestart; destructive != (b.Style == slack.StyleDanger) {
					t.Errorf("%s: button %s style %q", tc.name, b.ActionID, b.Style)
				}
			}
		default:
			if len(buttons) != 0 {
				t.Errorf("%s: %d buttons; want none", tc.name, len(buttons))
			}
		}
	}
}

func TestRenderEphemeral(t *testing.T) {
	for _, tc := range blocksCases() {
		want := tc.reply.Kind == bot.KindRefused || tc.reply.Kind == bot.KindUsage || tc.reply.Kind == bot.KindRejected
		if got := Render(tc.reply, blocksNow).Ephemeral; got != want {
			t.Errorf("%s: Ephemeral = %v; want %v", tc.name, got, want)
		}
	}
}

// TestRenderBlocksRoundTrip sends every message through slack-go's own
// decoder: what it cannot read back, Slack would not take either.
func TestRenderBlocksRoundTrip(t *testing.T) {
	for name, m := range blocksAllMessages() {
		first, err := json.Marshal(slack.Blocks{BlockSet: m.Blocks})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var back slack.Blocks
		if err := json.Unmarshal(first, &back); err != nil {
			t.Fatalf("%s: json.Unmarshal into slack.Blocks: %v", name, err)
		}
		if len(back.BlockSet) != len(m.Blocks) {
			t.Errorf("%s: %d blocks came back; sent %d", name, len(back.BlockSet), len(m.Blocks))
		}
		second, err := json.Marshal(back)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(first, second) {
			t.Errorf("%s: blocks changed on the way through slack-go:\n%s\n%s", name, first, second)
		}
	}
}
