package console

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts/alertstest"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var (
	now   = time.Date(2026, 11, 28, 3, 10, 0, 0, time.UTC)
	alice = manager.Actor{ID: "U0ALICE", Name: "alice"}
)

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if got != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
	}
}

func TestRenderGolden(t *testing.T) {
	started := now.Add(-2*time.Hour - 13*time.Minute)
	restoration := whatsapp.Restoration{
		StartedAt: started.Add(5 * time.Second), Found: 4, Complete: true, Restored: 3, Failed: 1, Total: 4,
		CompletedAt: started.Add(15 * time.Second),
		Sessions: []whatsapp.SessionOutcome{
			{ID: "user_12_instance_main", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady},
			{ID: "user_27_instance_sales", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady},
			{ID: "user_31_instance_support", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionQR},
			{ID: "user_45_instance_promo", Result: whatsapp.SessionFailed, Cause: "undefined"},
		},
	}
	procs := []manager.Process{
		{PID: 4242, PPID: 1, CPUPercent: 0.4, RSS: 58 << 20, Started: started, Command: "npm start"},
		{PID: 4250, PPID: 4242, CPUPercent: 0, RSS: 2 << 20, Started: started, Command: "sh -c node src/server.js"},
		{PID: 4251, PPID: 4250, CPUPercent: 3.2, RSS: 120 << 20, Started: started, Command: "node src/server.js"},
		{PID: 4300, PPID: 4251, CPUPercent: 1.5, RSS: 300 << 20, Started: started.Add(6 * time.Second), Command: "chrome --type=browser --user-data-dir=/srv/wa/.wwebjs_auth/session-user_12_instance_main"},
	}
	tests := []struct {
		name  string
		reply bot.Reply
	}{
		{"status-healthy", bot.Reply{Kind: bot.KindStatus, Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateHealthy,
			Health: manager.Health{OK: true, StatusCode: 200, Status: "healthy", Latency: 1200 * time.Microsecond},
			Since:  started, Uptime: now.Sub(started), Processes: procs,
			LastAction:  &manager.ActionRecord{Action: manager.ActionRestart, By: alice, At: started.Add(-time.Second), OK: true, Result: "stopped gracefully in 1.1s; healthy in 2.3s"},
			Restoration: &restoration,
		}}},
		{"status-port-held", bot.Reply{Kind: bot.KindStatus, Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateUnhealthy,
			Health:     manager.Health{StatusCode: 404, Reason: "HTTP 404"},
			PortHolder: &manager.PortHolder{PID: 812, Command: "python3 -m http.server 3000"},
		}}},
		{"status-pm2", bot.Reply{Kind: bot.KindStatus, Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateHealthy,
			Health: manager.Health{OK: true, StatusCode: 200, Status: "healthy", Latency: 1200 * time.Microsecond},
			Since:  started, Uptime: now.Sub(started), Processes: procs[2:], Adopted: true,
			Controller: manager.ControllerInfo{Kind: manager.ControllerPM2, Target: "whatsapp", Tree: manager.TreePM2},
			Managed:    &manager.Observation{Managed: true, Running: true, MainPID: 4251, State: "online", Restarts: 1},
		}}},
		{"status-cgroup", bot.Reply{Kind: bot.KindStatus, Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateHealthy,
			Health: manager.Health{OK: true, StatusCode: 200, Status: "healthy", Latency: 1200 * time.Microsecond},
			Since:  started, Uptime: now.Sub(started), Processes: procs, AdoptedByPort: true, Adopted: true,
			Controller: manager.ControllerInfo{Kind: manager.ControllerProcess, Tree: manager.TreeCgroup, Why: "cgroup v2 under /sys/fs/cgroup/system.slice/sanasend-bot.service"},
		}}},
		{"status-root-gone", bot.Reply{Kind: bot.KindStatus, Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateHealthy,
			Health: manager.Health{OK: true, StatusCode: 200, Status: "healthy", Latency: 1200 * time.Microsecond},
			Since:  started, Uptime: now.Sub(started), Processes: procs[1:], RootPID: 4250, RootGone: true,
		}}},
		{"status-stopped", bot.Reply{Kind: bot.KindStatus, Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateStopped,
			Health: manager.Health{Reason: "connection refused", Refused: true},
			Busy:   &manager.BusyError{Service: "whatsapp", Action: manager.ActionStart, By: alice, Since: now.Add(-3 * time.Second)},
		}}},
		{"status-unhealthy", bot.Reply{Kind: bot.KindStatus, Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateUnhealthy,
			Health: manager.Health{StatusCode: 503, Reason: "HTTP 503, status unhealthy"}, Since: started, Uptime: now.Sub(started),
			Processes: procs[:3], Adopted: true,
		}}},
		{"outcome-restart", bot.Reply{Kind: bot.KindOutcome, Outcome: &bot.Outcome{
			Action: manager.ActionRestart, Service: "whatsapp", By: alice, Took: 6200 * time.Millisecond,
			Stop:  &manager.StopResult{WasRunning: true, Graceful: true, Duration: 1100 * time.Millisecond, Stopped: procs, Leftovers: procs[3:]},
			Start: &manager.StartResult{PID: 5000, Healthy: true, TimeToHealthy: 2300 * time.Millisecond, LocksRemoved: []string{"/srv/wa/.wwebjs_auth/session-x/SingletonLock"}},
		}}},
		{"outcome-start-crashed", bot.Reply{Kind: bot.KindOutcome, Outcome: &bot.Outcome{
			Action: manager.ActionStart, Service: "whatsapp", By: alice, Took: 900 * time.Millisecond,
			Start: &manager.StartResult{PID: 5000, Exited: true, ExitCode: 3, OutputPath: "/var/lib/sanasend/whatsapp/output.log",
				OutputTail: []string{"> whatsapp-service@1.0.0 start", "> node src/server.js", "Error: Cannot find module 'whatsapp-web.js'"}},
			Err: usererr.New(usererr.Unavailable, "start whatsapp: exited before it became healthy (exit code 3)"),
		}}},
		{"outcome-stop-forced-survivor", bot.Reply{Kind: bot.KindOutcome, Outcome: &bot.Outcome{
			Action: manager.ActionStop, Service: "whatsapp", By: alice, Took: 12 * time.Second,
			Stop: &manager.StopResult{WasRunning: true, Forced: true, Duration: 12 * time.Second, Stopped: procs,
				Survivors: procs[3:]},
			Err: usererr.New(usererr.Unavailable, "stop whatsapp: 1 processes survived: pid 4300 (chrome)"),
		}}},
		{"logs", bot.Reply{Kind: bot.KindLogs, Service: "whatsapp", LogQuery: manager.LogQuery{Lines: 3, Filter: "restore"},
			Logs: &manager.LogResult{Path: "/srv/wa/logs/combined.log", Lines: []string{"a restore line", "b restore line"}, Exhausted: true, Cut: 1, Searched: 44}}},
		{"logs-no-match", bot.Reply{Kind: bot.KindLogs, Service: "whatsapp", LogQuery: manager.LogQuery{Lines: 5, Filter: "abc"},
			Logs: &manager.LogResult{Path: "/srv/wa/logs/combined.log", Exhausted: true, Searched: 44}}},
		{"status-previous-run-maintenance", bot.Reply{Kind: bot.KindStatus, Status: &manager.Status{
			Service: "whatsapp", URL: "http://127.0.0.1:3000", State: manager.StateHealthy,
			Health: manager.Health{OK: true, StatusCode: 200, Status: "healthy", Latency: 1200 * time.Microsecond},
			Since:  now.Add(-time.Minute), Uptime: time.Minute, Restoration: &restoration,
		}, Maintenance: &bot.MaintenanceWindow{Until: now.Add(30 * time.Minute), By: alice, Reason: "deploy"},
			Undelivered: &bot.Undelivered{Count: 2, Codes: []string{"not_in_channel"}}}},
		{"help", helpReply(t, "help")},
		{"help-logs", helpReply(t, "help logs")},
		{"processes", bot.Reply{Kind: bot.KindProcesses, Service: "whatsapp", Processes: procs}},
		{"processes-none", bot.Reply{Kind: bot.KindProcesses, Service: "whatsapp"}},
		{"sessions", bot.Reply{Kind: bot.KindSessions, Service: "whatsapp", Sessions: func() *whatsapp.SessionsReport {
			rep := whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: restoration, HaveRestoration: true, Running: true,
				Dirs: []whatsapp.AuthDir{
					{SessionID: "user_12_instance_main", Size: 42 << 20, Files: 312, HasProfile: true, ModTime: now.Add(-time.Hour),
						Locks: []whatsapp.ChromiumLock{{SessionID: "user_12_instance_main", Path: "/srv/wa/.wwebjs_auth/session-user_12_instance_main/SingletonLock", Target: "host-999", Why: "pid 999 is not running", Stale: true}}},
					{SessionID: "user_45_instance_promo", Empty: true, ModTime: now.Add(-72 * time.Hour)},
				}})
			return &rep
		}()}},
		{"doctor", bot.Reply{Kind: bot.KindDoctor, Service: "whatsapp", Checks: []doctor.Check{
			{Name: "node", Verdict: doctor.VerdictOK, Detail: "v20.20.2 (/usr/bin/node)"},
			{Name: "disk space", Verdict: doctor.VerdictWarn, Detail: "12.0 GiB free of 80.0 GiB (15% free, 85% used) at /srv/wa"},
			{Name: "port 3000", Verdict: doctor.VerdictWarn, Detail: "nothing listens", Hint: "the service is down: `start` it"},
			{Name: "health", Verdict: doctor.VerdictFail, Detail: "connection refused", Hint: "`start` it"},
		}}},
		{"usage", bot.Reply{Kind: bot.KindUsage, Text: "unexpected \"please\"; usage: stop [service]"}},
		{"refused", bot.Reply{Kind: bot.KindRefused, Text: "sorry, only SanaSend staff may use this command"}},
		{"maintenance-list", bot.Reply{Kind: bot.KindWindows, Windows: alertstest.Windows(now), At: now}},
		{"maintenance-list-none", bot.Reply{Kind: bot.KindWindows, At: now}},
		{"maintenance-list-fleet", bot.Reply{Kind: bot.KindWindows, Windows: alertstest.FleetWindows(now), Text: alertstest.WindowsNotes(now), At: now}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.name, Render(tc.reply, now))
		})
	}
}

// helpReply is the real router's answer to text.
func helpReply(t *testing.T, text string) bot.Reply {
	t.Helper()
	confirms, err := bot.NewConfirmStore(bot.ConfirmConfig{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r, err := bot.NewRouter(bot.RouterConfig{Services: noServices{}, Auth: allowAll{}, Confirms: confirms, Audit: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return r.Handle(context.Background(), bot.Request{User: alice, Channel: "console", Text: text})
}

type noServices struct{}

func (noServices) Names() []string                         { return nil }
func (noServices) Lookup(name string) (bot.Service, error) { return nil, errors.New("no service") }

type allowAll struct{}

func (allowAll) Authorize(context.Context, manager.Actor, string) error { return nil }

// TestHelpColumnsAlign: every command's description starts in the same
// column, and `help <command>` shows that command only.
func TestHelpColumnsAlign(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(Render(helpReply(t, "help"), now), "\n"), "\n")[1:]
	if len(lines) < 10 {
		t.Fatalf("help lists %d commands; want them all", len(lines))
	}
	col := -1
	for _, l := range lines {
		// The usage ends at the first run of two spaces after the indent.
		i := strings.Index(strings.TrimPrefix(l, "  "), "  ")
		if i < 0 {
			t.Fatalf("help line %q has no column gap", l)
		}
		rest := strings.TrimLeft(strings.TrimPrefix(l, "  ")[i:], " ")
		at := len([]rune(l)) - len([]rune(rest))
		if col < 0 {
			col = at
		}
		if at != col {
			t.Errorf("help line %q: description at column %d; want %d", l, at, col)
		}
	}
	one := Render(helpReply(t, "help logs"), now)
	if !strings.HasPrefix(one, "Usage: logs ") || strings.Count(one, "\n") != 2 {
		t.Errorf("help logs = %q; want the usage of logs only", one)
	}
}

// scripted answers as a router would, recording what the console asked.
type scripted struct {
	asked []string
}

func (s *scripted) Handle(_ context.Context, r bot.Request) bot.Reply {
	s.asked = append(s.asked, "handle "+r.Text+" as "+r.User.ID)
	if r.Text == "stop" {
		return bot.Reply{Kind: bot.KindConfirm, Confirm: &bot.Pending{Token: "t1", Command: bot.Command{Verb: bot.VerbStop}, Service: "whatsapp"}}
	}
	return bot.Reply{Kind: bot.KindHelp}
}

func (s *scripted) Confirm(_ context.Context, r bot.Request, token string) bot.Reply {
	s.asked = append(s.asked, "confirm "+token)
	return bot.Reply{Kind: bot.KindCancelled, Text: "confirmed"}
}

func (s *scripted) Cancel(_ context.Context, r bot.Request, token string) bot.Reply {
	s.asked = append(s.asked, "cancel "+token)
	return bot.Reply{Kind: bot.KindCancelled, Text: "cancelled"}
}

func TestConsoleAsksBeforeDestructiveActions(t *testing.T) {
	tests := []struct {
		input string
		want  []string
	}{
		{"stop\ny\nquit\n", []string{"handle stop as U0ALICE", "confirm t1"}},
		{"stop\nYES\n", []string{"handle stop as U0ALICE", "confirm t1"}},
		{"stop\n\n", []string{"handle stop as U0ALICE", "cancel t1"}},
		{"stop\nnope\nhelp\n", []string{"handle stop as U0ALICE", "cancel t1", "handle help as U0ALICE"}},
		{"stop\n", []string{"handle stop as U0ALICE", "cancel t1"}}, // end of input is a no
		{"\n  \nhelp\nquit\nstop\n", []string{"handle help as U0ALICE"}},
	}
	for _, tc := range tests {
		s := &scripted{}
		var out bytes.Buffer
		if err := runScript(t, s, tc.input, &out); err != nil {
			t.Fatal(err)
		}
		if strings.Join(s.asked, "|") != strings.Join(tc.want, "|") {
			t.Errorf("input %q: asked %q; want %q", tc.input, s.asked, tc.want)
		}
		if strings.Contains(tc.input, "stop") && !strings.Contains(out.String(), "[y/N]") && len(tc.want) > 1 {
			t.Errorf("input %q: no [y/N] prompt in %q", tc.input, out.String())
		}
	}
}
