package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// TestCauseWords: each cause the real service logs reads as what happened,
// the cause as logged, and what to do.
func TestCauseWords(t *testing.T) {
	tests := []struct {
		cause string
		want  []string
	}{
		{"net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/", []string{"WhatsApp Web's address did not resolve (net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/): check the host's DNS and internet access, then restart"}},
		{"getaddrinfo ENOTFOUND web.whatsapp.com", []string{"did not resolve", "check the host's DNS"}},
		{"TimeoutError: Navigation timeout of 30000 ms exceeded", []string{"loading WhatsApp Web timed out (TimeoutError: Navigation timeout of 30000 ms exceeded)", "then restart"}},
		{"net::ERR_TIMED_OUT at https://web.whatsapp.com/", []string{"timed out", "internet access"}},
		{"net::ERR_PROXY_CONNECTION_FAILED at https://web.whatsapp.com/", []string{"the proxy refused or failed", "proxy settings"}},
		{"net::ERR_INTERNET_DISCONNECTED", []string{"the host has no network", "network connection"}},
		{"connect ECONNREFUSED 157.240.1.1:443", []string{"refused or reset", "firewall"}},
		{"net::ERR_CERT_AUTHORITY_INVALID", []string{"TLS certificate", "clock, CA certificates"}},
		{"The browser is already running for /srv/wa/.wwebjs_auth/session-x. Use a different `userDataDir`", []string{"another Chromium holds the profile", "`sessions` shows it, a start removes stale locks"}},
		{"Failed to launch the browser process!\nlibnss3.so: cannot open shared object file", []string{"Chromium did not start (Failed to launch the browser process!)", "`doctor`"}},
		{"Protocol error (Runtime.callFunctionOn): Target closed.", []string{"browser died or was closed", "restart"}},
		{"undefined", []string{"no reason logged: the service's 30 s authentication timeout, so the saved login is probably dead: scan a QR code"}},
		{"", []string{"saved login is probably dead"}},
		{"LOGOUT", []string{"WhatsApp logged the device out (LOGOUT): scan a QR code"}},
		{"Something else entirely", []string{"Something else entirely"}},
		{strings.Repeat("x", 2000), []string{strings.Repeat("x", causeMaxRunes-1) + "…"}},
	}
	for _, tc := range tests {
		got := CauseWords(whatsapp.ClassifyCause(tc.cause), tc.cause)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("CauseWords(%.40q) = %q; want %q in it", tc.cause, got, w)
			}
		}
		if len(got) > 600 {
			t.Errorf("CauseWords(%.40q) is %d bytes", tc.cause, len(got))
		}
	}
}

// TestInterruptedBlamesNoSession: a stop during a restoration reads
// "interrupted by the stop", never "failed" nor "in progress", and the
// summary lists no session as failed for the stop's doing.
func TestInterruptedBlamesNoSession(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 15, 8, 0, 0, time.UTC)
	stop := t0.Add(20 * time.Second)
	r := whatsapp.Restoration{StartedAt: t0, Found: 3, Total: -1, Sessions: []whatsapp.SessionOutcome{
		{ID: "a", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady, At: t0.Add(5 * time.Second)},
		{ID: "b", Result: whatsapp.SessionFailed, Cause: "Navigating frame was detached", At: stop.Add(time.Second)},
		{ID: "c", Result: whatsapp.SessionRestoring, At: t0.Add(7 * time.Second)},
	}}
	rep := whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: true, StopBegan: stop})
	sum := alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: r}, Sessions: rep}
	head := RestorationHeadline("whatsapp", sum, time.UTC)
	if want := "session restoration of whatsapp interrupted by the stop at 15:08:20: 1 of 3 sessions restored before it, 2 not restored (the next start restores them)"; head != want {
		t.Errorf("headline %q; want %q", head, want)
	}
	exited := alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: r, Interrupted: true},
		Sessions: whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: true})}
	if got, want := RestorationHeadline("whatsapp", exited, time.UTC), "session restoration of whatsapp interrupted: the service stopped before it was done: 1 of 3 sessions restored before it, 2 not restored (the next start restores them)"; got != want {
		t.Errorf("headline of an exit = %q; want %q", got, want)
	}
	early := exited
	early.Result.Restoration = whatsapp.Restoration{Found: -1, Total: -1, StartedAt: exited.Result.Restoration.StartedAt}
	early.Sessions.Restoration = early.Result.Restoration
	if got, want := RestorationHeadline("whatsapp", early, time.UTC), "session restoration of whatsapp interrupted: the service stopped before it was done, before any session was restored (the next start restores them)"; got != want {
		t.Errorf("interrupted before Django answered = %q; want %q", got, want)
	}
	if lines := RestorationSessionLines(exited, stop); len(lines) != 0 {
		t.Errorf("session lines of an exit %q; want none", lines)
	}
	if lines := RestorationSessionLines(sum, stop); len(lines) != 0 {
		t.Errorf("session lines %q; want none: the stop is to blame", lines)
	}
	for _, v := range rep.Sessions[1:] {
		w := SessionOutcomeWords(v, rep.StopBegan, stop)
		if !strings.HasPrefix(w, "interrupted by the stop at 15:08:20") || strings.Contains(w, "failed") || strings.Contains(w, "detached") {
			t.Errorf("session %s: %q; want interrupted, without the stop's error", v.ID, w)
		}
	}
	if got := SessionsRestorationLine(&rep, stop); strings.Contains(got, "in progress") {
		t.Errorf("sessions view: %q; want no 'in progress' for a stopped service", got)
	}
}

// TestAuthBeforeNotJudgedAfter: a session whose auth dir was missing
// before the start reads missing, although Chromium has since created it.
func TestAuthBeforeNotJudgedAfter(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 15, 8, 0, 0, time.UTC)
	r := whatsapp.Restoration{StartedAt: t0, Found: 1, Failed: 1, Complete: true, Total: 1, CompletedAt: t0.Add(40 * time.Second),
		Sessions: []whatsapp.SessionOutcome{{ID: "a", Result: whatsapp.SessionFailed, Cause: "undefined", At: t0.Add(39 * time.Second)}}}
	now := []whatsapp.AuthDir{{SessionID: "a", Size: 3 << 20, Files: 20, HasProfile: true, ModTime: t0.Add(9 * time.Second)}}
	rep := whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: true, Running: true,
		Before: whatsapp.TakeAuthSnapshot(t0.Add(-time.Second), nil), Dirs: now})
	lines := RestorationSessionLines(alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: r, Completed: true}, Sessions: rep}, t0.Add(time.Minute))
	if len(lines) != 1 || !strings.HasSuffix(lines[0], "; auth dir was missing before the start: a QR scan is needed") {
		t.Errorf("lines %q; want the auth dir missing before the start", lines)
	}
	if strings.Contains(strings.Join(lines, "\n"), "present") {
		t.Errorf("lines %q say present", lines)
	}
}

// TestStatusSessionsLine: the status line counts sessions by state and the
// idle browsers' memory, from the restoration and the browsers alone.
func TestStatusSessionsLine(t *testing.T) {
	rep := cleanupReport()
	st := &manager.Status{State: manager.StateHealthy, Restoration: &rep.Restoration, Browsers: rep.Browsers}
	if got, want := StatusSessionsLine(st), "1 ready, 1 QR scan needed, 1 failed, 1 logged out; 2 idle browsers 2.0 GiB"; got != want {
		t.Errorf("StatusSessionsLine = %q; want %q", got, want)
	}
	if got := StatusSessionsLine(&manager.Status{State: manager.StateStopped, Restoration: &rep.Restoration}); got != "" {
		t.Errorf("stopped, no browser: %q; want nothing (the restoration line tells the last run)", got)
	}
	if got := StatusSessionsLine(&manager.Status{}); got != "" {
		t.Errorf("without a restoration or a browser: %q; want nothing", got)
	}
}

// TestOutcomeNamesSessions: a stop names the idle browsers it ended and
// the leftovers by session, and the profiles whose locks it left; a start
// counts profiles, not lock files.
func TestOutcomeNamesSessions(t *testing.T) {
	b := func(id string) whatsapp.Browser { return whatsapp.Browser{SessionID: id, PID: 1, RSS: 1 << 30} }
	o := &Outcome{Action: manager.ActionRestart, Service: "whatsapp",
		Stop: &manager.StopResult{WasRunning: true, Graceful: true, IdleEnded: []whatsapp.Browser{b("a"), b("b")},
			Leftovers: []manager.Process{{PID: 9}}, LeftoverBrowsers: []whatsapp.Browser{b("c")},
			LocksLeft: []whatsapp.ChromiumLock{{SessionID: "c", Path: "/x/session-c/SingletonLock"}, {SessionID: "c", Path: "/x/session-c/SingletonSocket"}, {SessionID: "d"}}},
		Start: &manager.StartResult{PID: 5, Healthy: true, LocksRemoved: make([]string, 9), ProfilesUnlocked: []string{"e", "f", "g"}}}
	got := OutcomeDetail(o)
	for _, want := range []string{"ended at once the browsers of 2 sessions that served nobody: a (1.0 GiB), b (1.0 GiB)",
		"ended 1 process that outlived it, among them the browser of c (1.0 GiB)",
		"left stale locks in 2 profiles: c, d (the next start removes them)",
		"removed stale Chromium locks of 3 profiles: e, f, g"} {
		if !strings.Contains(got, want) {
			t.Errorf("OutcomeDetail = %q; want %q in it", got, want)
		}
	}
	if strings.Contains(got, "9 stale") {
		t.Errorf("OutcomeDetail = %q counts lock files", got)
	}
}

// TestMemoryWords: the limit crossed, and the heaviest sessions.
func TestMemoryWords(t *testing.T) {
	top := []whatsapp.Browser{{SessionID: "a", RSS: 2100 << 20}, {SessionID: "b", RSS: 1900 << 20}, {SessionID: "c", RSS: 1200 << 20}, {SessionID: "d", RSS: 1 << 20}}
	tree := alerts.MemoryBreach{Limit: 6 << 30, Used: 6554 << 20, Top: top}
	if got, want := MemoryWords(tree), "memory 6.4 GiB over the limit 6.0 GiB; top sessions: a 2.1 GiB, b 1.9 GiB, c 1.2 GiB"; got != want {
		t.Errorf("MemoryWords = %q; want %q", got, want)
	}
	one := alerts.MemoryBreach{Limit: 2 << 30, Used: 2100 << 20, Session: "a", Top: top[:1]}
	if got, want := MemoryWords(one), "session a's browser uses 2.1 GiB, over the limit of 2.0 GiB per session; top sessions: a 2.1 GiB"; got != want {
		t.Errorf("MemoryWords = %q; want %q", got, want)
	}
	inc := alerts.Incident{Service: "whatsapp", Open: true, State: manager.StateUnhealthy, Memory: &tree}
	if got := AlertLine(inc, time.Now()); !strings.HasPrefix(got, "whatsapp is UNHEALTHY: memory 6.4 GiB over the limit 6.0 GiB; top sessions: a 2.1 GiB") {
		t.Errorf("AlertLine = %q", got)
	}
}
