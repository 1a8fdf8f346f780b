package bot

import (
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

var (
	textNow   = time.Date(2026, 11, 28, 15, 10, 0, 0, time.UTC)
	textAlice = manager.Actor{ID: "U0ALICE", Name: "alice"}
)

func textAt(h, m, s int) time.Time { return time.Date(2026, 11, 28, h, m, s, 0, time.UTC) }

// TestExitCause: issue 8, section 3 item 4. The cause is said once and in
// words: npm's 137 is its child killed by SIGKILL.
func TestExitCause(t *testing.T) {
	for _, tc := range []struct {
		exit alerts.Exit
		want string
	}{
		{alerts.Exit{Known: true, Code: 137, ChildSignal: "SIGKILL"}, "killed by SIGKILL (npm reports 128+9)"},
		{alerts.Exit{Known: true, Code: 143, ChildSignal: "SIGTERM"}, "killed by SIGTERM (npm reports 128+15)"},
		{alerts.Exit{Known: true, Code: 1}, "exited with code 1"},
		{alerts.Exit{Known: true, Code: 0}, "exited with code 0"},
		{alerts.Exit{Known: true, Code: -1, Signal: "SIGKILL"}, "killed by SIGKILL"},
		{alerts.Exit{Code: -1}, "exited (exit status unknown: the bot did not start this process)"},
	} {
		if got := ExitCause(tc.exit); got != tc.want {
			t.Errorf("ExitCause(%+v) = %q; want %q", tc.exit, got, tc.want)
		}
	}
}

func TestAlertLine(t *testing.T) {
	stopped := alerts.Incident{Service: "whatsapp", ID: 1, Open: true, State: manager.StateStopped, Reason: "connection refused",
		Since: textAt(15, 0, 0)}
	exited := stopped
	exited.Exit = &alerts.Exit{Known: true, Code: 137, ChildSignal: "SIGKILL"}
	acked := stopped
	acked.Acked = &alerts.Ack{By: textAlice, At: textAt(15, 5, 0)}
	yesterday := stopped
	yesterday.Since = textNow.Add(-25 * time.Hour)
	resolved := stopped
	resolved.Open, resolved.ResolvedAt, resolved.ResolvedBy = false, textAt(15, 4, 12), &textAlice
	for _, tc := range []struct {
		name string
		inc  alerts.Incident
		want string
	}{
		{"stopped", stopped, "whatsapp is STOPPED: connection refused, since 15:00:00 (10m)"},
		// The exit is the cause; "connection refused" is its consequence.
		{"exited", exited, "whatsapp is STOPPED: killed by SIGKILL (npm reports 128+9), since 15:00:00 (10m)"},
		{"acked", acked, "whatsapp is STOPPED: connection refused, since 15:00:00 (10m); acknowledged by alice at 15:05:00"},
		{"since yesterday", yesterday, "whatsapp is STOPPED: connection refused, since 2026-11-27 14:10:00 (25h)"},
		{"resolved", resolved, "whatsapp: resolved after 4m12s, by alice"},
	} {
		if got := AlertLine(tc.inc, textNow); got != tc.want {
			t.Errorf("%s: AlertLine = %q; want %q", tc.name, got, tc.want)
		}
	}
}

// TestEventLine: one sentence per fact (the wording the tracker used to
// build itself).
func TestEventLine(t *testing.T) {
	ev := func(e alerts.Event) alerts.Event { e.Service = "whatsapp"; return e }
	for _, tc := range []struct {
		e    alerts.Event
		want string
	}{
		{ev(alerts.Event{What: alerts.EventFailing, State: manager.StateUnhealthy, Reason: "HTTP 503", Since: textAt(15, 0, 30), Failures: 2}),
			"whatsapp is unhealthy: HTTP 503 (since 15:00:30, 2 failed checks)"},
		{ev(alerts.Event{What: alerts.EventFailing, State: manager.StateStopped, Reason: "connection refused", Since: textAt(15, 0, 0), Failures: 1,
			NextAutoRestartIn: 30 * time.Second}), "whatsapp is stopped: connection refused (since 15:00:00, 1 failed check); auto-restart in 30s"},
		{ev(alerts.Event{What: alerts.EventExited, Exit: &alerts.Exit{Known: true, Code: 137, ChildSignal: "SIGKILL"}}), "whatsapp exited unexpectedly: killed by SIGKILL (npm reports 128+9)"},
		{ev(alerts.Event{What: alerts.EventFailingAgain, State: manager.StateUnhealthy, Reason: "HTTP 503", Healthy: 1}),
			"whatsapp is unhealthy again after 1 healthy check: HTTP 503"},
		{ev(alerts.Event{What: alerts.EventHealed, Lasted: 90 * time.Second}), "resolved after 1m30s"},
		{ev(alerts.Event{What: alerts.EventHealed, Lasted: 150 * time.Second, By: &textAlice}), "resolved after 2m30s, after the restart by alice"},
		{ev(alerts.Event{What: alerts.EventActionDone, Action: manager.ActionRestart, By: &textAlice, Lasted: 7 * 24 * time.Hour}),
			"resolved after 7d, restarted by alice"},
		{ev(alerts.Event{What: alerts.EventActionFailed, Action: manager.ActionRestart, By: &textAlice, Detail: "exit code 1\nstack",
			NextAutoRestartIn: 2 * time.Minute}), "restart by alice failed: exit code 1; next auto-restart in 2m"},
		{ev(alerts.Event{What: alerts.EventReminder, State: manager.StateStopped, Reason: "connection refused", Since: textAt(15, 0, 0),
			Lasted: 30*time.Minute + 30*time.Second}), "whatsapp still stopped after 30m30s: connection refused (since 15:00:00, not acknowledged)"},
		{ev(alerts.Event{What: alerts.EventGaveUp, Attempt: 1, Max: 1, State: manager.StateStopped}),
			"auto-restart gave up: 1 restart in the last hour (at most 1) and whatsapp is still stopped; a person must act"},
		{ev(alerts.Event{What: alerts.EventExternalRestart, Uptime: 12 * time.Second, Expected: 3 * time.Hour, Count: 1}),
			"whatsapp restarted outside the bot: up 12s, expected about 3h"},
		{ev(alerts.Event{What: alerts.EventMaintenanceEnded, Window: &alerts.Window{Until: textAt(15, 10, 0), By: textAlice},
			Summary: &alerts.MaintenanceSummary{Failures: 3, Down: 9 * time.Minute}, State: manager.StateStopped, Threshold: 2}),
			"maintenance of whatsapp over (was until 15:10:00 by alice); during it: 3 failures, down 9m in all; whatsapp is still stopped: alert after 2 failed checks"},
	} {
		if got := EventLine(tc.e, textNow); got != tc.want {
			t.Errorf("EventLine(%s) = %q; want %q", tc.e.What, got, tc.want)
		}
	}
}

func TestRestorationLine(t *testing.T) {
	restored := func(c whatsapp.Connection) whatsapp.SessionOutcome {
		return whatsapp.SessionOutcome{Result: whatsapp.SessionRestored, Connection: c}
	}
	for _, tc := range []struct {
		name string
		r    whatsapp.Restoration
		want string
	}{
		{"the issue's line", whatsapp.Restoration{Found: 4, Restored: 3, Failed: 1, Complete: true, Total: -1,
			Sessions: []whatsapp.SessionOutcome{restored(whatsapp.ConnectionReady), restored(whatsapp.ConnectionReady), restored(whatsapp.ConnectionQR),
				{Result: whatsapp.SessionFailed}}}, "4 found: 3 restored (2 ready, 1 needs a QR scan), 1 failed"},
		{"all ready", whatsapp.Restoration{Found: 2, Restored: 2, Complete: true, Total: -1,
			Sessions: []whatsapp.SessionOutcome{restored(whatsapp.ConnectionReady), restored(whatsapp.ConnectionReady)}, CompletedAt: textAt(15, 9, 30)},
			"2 found: 2 restored (2 ready), 0 failed at 15:09:30"},
		{"two QR", whatsapp.Restoration{Found: 2, Restored: 2, Complete: true, Total: -1,
			Sessions: []whatsapp.SessionOutcome{restored(whatsapp.ConnectionQR), restored(whatsapp.ConnectionQR)}},
			"2 found: 2 restored (2 need a QR scan), 0 failed"},
	} {
		if got := RestorationLine(tc.r, time.UTC); got != tc.want {
			t.Errorf("%s: RestorationLine = %q; want %q", tc.name, got, tc.want)
		}
	}
}

// TestDigestLines: the digest's wording, as alerts.DigestText wrote it.
func TestDigestLines(t *testing.T) {
	from, to := textAt(9, 0, 0).Add(-24*time.Hour), textAt(9, 0, 0)
	last := whatsapp.Restoration{Found: 4, Restored: 3, Failed: 1, Complete: true, Total: -1,
		Sessions: []whatsapp.SessionOutcome{{ID: "user_45_instance_promo", Result: whatsapp.SessionFailed}}}
	d := alerts.Digest{From: from, To: to, Services: []alerts.ServiceDigest{
		{Service: "whatsapp", UptimePercent: 100 * (1 - 4.0/1440), Known: 24 * time.Hour, Incidents: 1,
			Downtime: 4*time.Minute + 12*time.Second, Longest: 4*time.Minute + 12*time.Second,
			Actions: []alerts.ActionCount{{Action: manager.ActionRestart, By: "alice", Count: 2},
				{Action: manager.ActionRestart, By: "auto-restart", Count: 1, Failed: 1},
				{Action: manager.ActionStart, By: "bob", Count: 1}, {Action: manager.ActionStop, By: "bob", Count: 1}},
			Restorations: 3, LastRestoration: &alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: last}},
			FailedSessions: []string{"user_45_instance_promo"}},
		{Service: "other", Known: 22 * time.Hour, UptimePercent: 99.999, OpenIncidents: 1, Incidents: 1, Downtime: time.Hour, Longest: time.Hour, GiveUps: 1},
		{Service: "none"},
	}}
	want := []string{
		"whatsapp: 99.72% up, 1 incident (down 4m12s in all, longest 4m12s); restarts: 2 by alice, 1 by auto-restart (1 failed); " +
			"starts: 1 by bob; stops: 1 by bob; 3 restorations, last: 4 found: 3 restored, 1 failed (user_45_instance_promo)",
		"other: 99.99% up (of 22h checked), 1 incident (down 1h in all, longest 1h, 1 still open); auto-restart gave up 1 time",
		"none: no health data, no incidents",
	}
	got := DigestLines(d, time.UTC)
	if len(got) != len(want) {
		t.Fatalf("DigestLines = %q; want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %q; want %q", i, got[i], want[i])
		}
	}
	if got, want := DigestTitle(d, time.UTC), "Daily digest 27 Nov 09:00 – 28 Nov 09:00"; got != want {
		t.Errorf("DigestTitle = %q; want %q", got, want)
	}
	if got := DigestLines(alerts.Digest{From: from, To: to}, time.UTC); len(got) != 1 || got[0] != "nothing recorded" {
		t.Errorf("empty digest = %q; want nothing recorded", got)
	}
}
