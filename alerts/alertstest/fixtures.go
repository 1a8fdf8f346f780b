// Package alertstest holds the notices every renderer of the alert path is
// tested with: one of each kind of alert, update, reminder, resolution,
// announcement, maintenance message, restoration summary and digest, and
// the worst cases (500 sessions, hostile and huge outside text). The Slack
// and the console golden tests both render these, so the two front ends
// are compared on the same facts.
package alertstest

import (
	"fmt"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Now is the time the fixtures are rendered at.
var Now = time.Date(2026, 11, 28, 15, 10, 0, 0, time.UTC)

// Case is one notice with a name for its golden file.
type Case struct {
	Name   string
	Notice alerts.Notice
	// ErrorLines are the log's last error lines when the alert is posted.
	ErrorLines []string
}

var (
	alice = manager.Actor{ID: "U0ALICE", Name: "alice"}
	bob   = manager.Actor{ID: "U0BOB", Name: "bob"}
)

const svc = "whatsapp"

func at(hms string) time.Time {
	t, err := time.Parse(time.TimeOnly, hms)
	if err != nil {
		panic(err)
	}
	return time.Date(Now.Year(), Now.Month(), Now.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

func open(id int, state manager.State, reason string) alerts.Incident {
	return alerts.Incident{Service: svc, ID: id, Open: true, State: state, Reason: reason, Since: at("15:00:00"), Failures: 2}
}

func ev(what alerts.EventKind) alerts.Event { return alerts.Event{What: what, Service: svc} }

// GiB is a gibibyte, for the memory figures of the fixtures.
const GiB = 1 << 30

// AuthRoot is the service's auth dir in the fixtures.
const AuthRoot = "/srv/wa/.wwebjs_auth"

// browser is the Chromium tree of one session: its main process pid and
// 6 children (zygotes, gpu, network and storage utilities, renderer), as
// the real service runs it.
func browser(id string, pid int32, rss uint64, started string) whatsapp.Browser {
	b := whatsapp.Browser{SessionID: id, UserDataDir: AuthRoot + "/session-" + id, PID: pid, Started: at(started),
		RSS: rss, CPUPercent: 1.5}
	for i := range int32(7) {
		b.PIDs = append(b.PIDs, pid+i)
	}
	return b
}

// authDir is a session's auth dir with files, last written at hms.
func authDir(id, hms string) whatsapp.AuthDir {
	return whatsapp.AuthDir{SessionID: id, Path: AuthRoot + "/session-" + id, ModTime: at(hms), Size: 48 << 20, Files: 310, HasProfile: true}
}

// join is the sessions report the monitor builds for a summary: the
// restoration joined with the snapshot before the start, the auth dirs
// and the browsers now.
func join(r whatsapp.Restoration, before []whatsapp.AuthDir, now []whatsapp.AuthDir, bs []whatsapp.Browser, running bool, stopBegan time.Time) whatsapp.SessionsReport {
	return whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: true,
		Before: whatsapp.TakeAuthSnapshot(at("15:07:58"), before), Dirs: now, Browsers: bs, Running: running, StopBegan: stopBegan})
}

// notice builds a notice the way the monitor does.
func notice(kind alerts.DecisionKind, inc *alerts.Incident, e alerts.Event) alerts.Notice {
	e.Service = svc
	n := alerts.Notice{Service: svc, Kind: kind, Event: e, Incident: inc}
	switch {
	case kind == alerts.DecisionOpen:
		n.ID = fmt.Sprintf("%s-incident-%d", svc, inc.ID)
	case inc != nil && kind != alerts.DecisionAnnounce:
		n.Ref = fmt.Sprintf("%s-incident-%d", svc, inc.ID)
		n.ID = n.Ref + "-" + string(kind) + "-" + string(e.What)
	default:
		n.ID = svc + "-announce-" + string(e.What)
		if inc != nil && inc.ID == 0 {
			n.Incident = nil
		}
	}
	return n
}

// Cases are the ordinary notices.
func Cases() []Case {
	stopped := open(1, manager.StateStopped, "connection refused")
	exited := open(2, manager.StateStopped, "")
	exited.Exit = &alerts.Exit{Known: true, Code: 137, ChildSignal: "SIGKILL"}
	exited.Failures = 1
	hostile := open(3, manager.StateUnhealthy, `HTTP 503: {"status":"<!channel> db down & <@U0BOB> <https://evil.example|click>"}`)
	acked := stopped
	acked.Acked = &alerts.Ack{By: alice, At: at("15:05:00")}
	acked.Updates = 1
	gaveUp := stopped
	gaveUp.GaveUp, gaveUp.AutoRestarts = true, 3
	resolved := stopped
	resolved.Open, resolved.ResolvedAt = false, at("15:04:12")
	byRestart := resolved
	byRestart.ResolvedBy = &alice
	window := &alerts.Window{Until: at("15:30:00"), By: alice, Reason: "deploy & migrate"}
	// An occurrence of a config window that restarts the service, and one
	// of a window added by a command.
	recurring := &alerts.Window{Until: at("16:00:00"), By: alerts.MaintenanceActor, Reason: "nightly restart <!channel> & Chromium",
		Recurring: "c1", Every: "0 15 * * *", Restart: true}
	added := &alerts.Window{Until: at("16:00:00"), By: bob, Reason: "weekly backup", Recurring: "3", Every: "sat 15:00"}

	restored := func(id string, c whatsapp.Connection) whatsapp.SessionOutcome {
		return whatsapp.SessionOutcome{ID: id, Result: whatsapp.SessionRestored, Connection: c}
	}
	four := whatsapp.Restoration{Found: 4, Restored: 3, Failed: 1, Complete: true, Total: -1, CompletedAt: at("15:09:30"),
		Sessions: []whatsapp.SessionOutcome{
			restored("user_12_instance_main", whatsapp.ConnectionReady),
			restored("user_18_instance_sales", whatsapp.ConnectionReady),
			restored("user_31_instance_support", whatsapp.ConnectionQR),
			{ID: "user_45_instance_promo", Result: whatsapp.SessionFailed, Cause: "Authentication failure"},
		}}
	allGood := whatsapp.Restoration{Found: 2, Restored: 2, Complete: true, Total: -1, CompletedAt: at("15:09:30"),
		Sessions: []whatsapp.SessionOutcome{restored("user_12_instance_main", whatsapp.ConnectionReady), restored("user_18_instance_sales", whatsapp.ConnectionReady)}}
	timedOut := whatsapp.Restoration{Found: 3, Restored: 1, Total: -1, StartedAt: at("15:08:00"),
		Sessions: []whatsapp.SessionOutcome{restored("user_12_instance_main", whatsapp.ConnectionReady), {ID: "user_18_instance_sales", Result: whatsapp.SessionRestoring}}}
	failedAll := whatsapp.Restoration{Found: -1, Total: -1, Error: "Failed to restore sessions: connect ECONNREFUSED 127.0.0.1:8000", CompletedAt: at("15:09:00")}
	restoration := func(name string, r whatsapp.Restoration, timedOut bool) Case {
		var dirs []whatsapp.AuthDir
		var bs []whatsapp.Browser
		for i, o := range r.Sessions {
			dirs = append(dirs, authDir(o.ID, "15:01:00"))
			if o.Result == whatsapp.SessionRestored || o.Result == whatsapp.SessionRestoring {
				bs = append(bs, browser(o.ID, int32(4100+100*i), 600<<20, "15:08:01"))
			}
		}
		return Case{Name: name, Notice: alerts.Notice{ID: svc + "-restoration-" + name, Service: svc, Kind: alerts.KindRestoration,
			Event: alerts.Event{What: alerts.EventRestoration, Service: svc, At: Now},
			Restoration: &alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: r, TimedOut: timedOut, Completed: !timedOut},
				Sessions: join(r, dirs, dirs, bs, true, time.Time{})}}}
	}

	// Five sessions, the restoration timed out: three failed on Chromium
	// errors with their browsers left running (1 GiB each: 3.0 GiB), one
	// restoring since 15:08:10, one not begun (named from the snapshot of
	// its auth dir taken before the start).
	fiveIDs := []string{"user_12_instance_main", "user_18_instance_sales", "user_31_instance_support", "user_45_instance_promo", "user_52_instance_ops"}
	failed := func(id, cause, hms string) whatsapp.SessionOutcome {
		return whatsapp.SessionOutcome{ID: id, Result: whatsapp.SessionFailed, Cause: cause, At: at(hms)}
	}
	fiveSoFar := whatsapp.Restoration{Found: 5, Failed: 3, Total: -1, StartedAt: at("15:08:00"), Sessions: []whatsapp.SessionOutcome{
		failed(fiveIDs[0], "net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/", "15:08:31"),
		failed(fiveIDs[1], "Navigation timeout of 30000 ms exceeded", "15:08:40"),
		failed(fiveIDs[2], "net::ERR_PROXY_CONNECTION_FAILED at https://web.whatsapp.com/", "15:08:52"),
		{ID: fiveIDs[3], Instance: "promo", Result: whatsapp.SessionRestoring, At: at("15:08:10")},
	}}
	var fiveDirs []whatsapp.AuthDir
	for _, id := range fiveIDs {
		fiveDirs = append(fiveDirs, authDir(id, "14:55:00"))
	}
	fiveBrowsers := []whatsapp.Browser{
		browser(fiveIDs[0], 4101, 1*GiB, "15:08:01"),
		browser(fiveIDs[1], 4201, 1*GiB, "15:08:02"),
		browser(fiveIDs[2], 4301, 1*GiB, "15:08:03"),
		browser(fiveIDs[3], 4401, 700<<20, "15:08:10"),
	}
	timedOutNamed := Case{Name: "restoration-timed-out-sessions", Notice: alerts.Notice{ID: svc + "-restoration-timed-out-sessions", Service: svc,
		Kind: alerts.KindRestoration, Event: alerts.Event{What: alerts.EventRestoration, Service: svc, At: at("15:10:00")},
		Restoration: &alerts.RestorationSummary{PID: 4001, Result: alerts.FollowResult{Restoration: fiveSoFar, TimedOut: true},
			Sessions: join(fiveSoFar, fiveDirs, fiveDirs, fiveBrowsers, true, time.Time{})}}}

	// The follow-up of that summary, in its thread: the service finished
	// 38 s after the timeout with 0 restored and 5 failed; the browsers of
	// the failed sessions still run.
	fiveDone := fiveSoFar
	fiveDone.Sessions = append(append([]whatsapp.SessionOutcome(nil), fiveSoFar.Sessions[:3]...),
		failed(fiveIDs[3], "Navigation timeout of 30000 ms exceeded", "15:10:20"),
		failed(fiveIDs[4], "undefined", "15:10:36"))
	fiveDone.Failed, fiveDone.Complete, fiveDone.CompletedAt = 5, true, at("15:10:38")
	fiveAll := append(append([]whatsapp.Browser(nil), fiveBrowsers...), browser(fiveIDs[4], 4501, 1*GiB, "15:10:12"))
	fiveAll[3].RSS = 1 * GiB
	late := Case{Name: "restoration-late", Notice: alerts.Notice{ID: svc + "-restoration-late", Ref: timedOutNamed.Notice.ID, Service: svc,
		Kind: alerts.KindRestoration, Event: alerts.Event{What: alerts.EventRestoration, Service: svc, At: at("15:10:38")},
		Restoration: &alerts.RestorationSummary{PID: 4001, Late: true, Result: alerts.FollowResult{Restoration: fiveDone, Completed: true},
			Sessions: join(fiveDone, fiveDirs, fiveDirs, fiveAll, true, time.Time{})}}}

	// A stop began at 15:08:20 during the restoration: one session was
	// ready before it, one failed after it (the SIGTERM's doing, not the
	// session's), one was restoring and one had not begun; the service is
	// stopped.
	stopAt := at("15:08:20")
	cut := whatsapp.Restoration{Found: 4, Restored: 1, Failed: 1, Total: -1, StartedAt: at("15:08:00"), Sessions: []whatsapp.SessionOutcome{
		{ID: fiveIDs[0], Instance: "main", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady, At: at("15:08:12")},
		failed(fiveIDs[1], "Navigating frame was detached", "15:08:21"),
		{ID: fiveIDs[2], Instance: "support", Result: whatsapp.SessionRestoring, At: at("15:08:14")},
	}}
	interrupted := Case{Name: "restoration-interrupted", Notice: alerts.Notice{ID: svc + "-restoration-interrupted", Service: svc,
		Kind: alerts.KindRestoration, Event: alerts.Event{What: alerts.EventRestoration, Service: svc, At: at("15:08:23")},
		Restoration: &alerts.RestorationSummary{PID: 4001, Result: alerts.FollowResult{Restoration: cut},
			Sessions: join(cut, fiveDirs[:4], fiveDirs[:4], nil, false, stopAt)}}}

	// A session whose auth dir was deleted before the start: missing before,
	// although Chromium has created a profile dir since.
	missingR := whatsapp.Restoration{Found: 2, Restored: 1, Failed: 1, Complete: true, Total: -1, StartedAt: at("15:08:00"), CompletedAt: at("15:08:40"),
		Sessions: []whatsapp.SessionOutcome{
			{ID: fiveIDs[0], Instance: "main", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady, At: at("15:08:12")},
			failed(fiveIDs[1], "undefined", "15:08:40"),
		}}
	missingNow := []whatsapp.AuthDir{authDir(fiveIDs[0], "15:08:12"), authDir(fiveIDs[1], "15:08:09")}
	missing := Case{Name: "restoration-auth-missing", Notice: alerts.Notice{ID: svc + "-restoration-auth-missing", Service: svc,
		Kind: alerts.KindRestoration, Event: alerts.Event{What: alerts.EventRestoration, Service: svc, At: at("15:08:41")},
		Restoration: &alerts.RestorationSummary{PID: 4001, Result: alerts.FollowResult{Restoration: missingR, Completed: true},
			Sessions: join(missingR, missingNow[:1], missingNow,
				[]whatsapp.Browser{browser(fiveIDs[0], 4101, 900<<20, "15:08:01"), browser(fiveIDs[1], 4201, 1*GiB, "15:08:02")}, true, time.Time{})}}}

	// Memory: the whole tree over monitor.memory_limit, and one session's
	// browser over monitor.session_memory_limit; Top the heaviest three.
	top := []whatsapp.Browser{browser(fiveIDs[2], 4301, 3*GiB+GiB/2, "15:01:03"), browser(fiveIDs[0], 4101, 1*GiB+GiB/4, "15:01:01"),
		browser(fiveIDs[1], 4201, 900<<20, "15:01:02")}
	treeBreach := &alerts.MemoryBreach{Limit: 6 * GiB, Used: 6*GiB + 700<<20, Top: top}
	sessionBreach := &alerts.MemoryBreach{Limit: 3 * GiB, Used: top[0].RSS, Session: fiveIDs[2], Top: top}
	memInc := func(id int, b *alerts.MemoryBreach) alerts.Incident {
		inc := open(id, manager.StateUnhealthy, "")
		inc.Memory = b
		return inc
	}
	memTree, memSession := memInc(4, treeBreach), memInc(5, sessionBreach)
	memResolved := memTree
	memResolved.Open, memResolved.ResolvedAt = false, at("15:06:00")

	idle := digestIdle(fiveBrowsers[:3], fiveDone, fiveDirs)
	digest := alerts.Digest{From: Now.Add(-24 * time.Hour), To: Now, Services: []alerts.ServiceDigest{{
		Service: svc, UptimePercent: 99.7083, Known: 24 * time.Hour, Incidents: 1, Downtime: 4*time.Minute + 12*time.Second,
		Longest:      4*time.Minute + 12*time.Second,
		Actions:      []alerts.ActionCount{{Action: manager.ActionRestart, By: "alice", Count: 2}, {Action: manager.ActionRestart, By: "auto-restart", Count: 1, Failed: 1}},
		AutoRestarts: 1, Restorations: 3,
		LastRestoration: &alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: four, Completed: true}},
		FailedSessions:  []string{"user_45_instance_promo"},
	}}}
	errorLines := []string{
		`2026-11-28T15:00:01Z error: {"level":"error","msg":"Protocol error (Runtime.callFunctionOn): Target closed.","stack":"Error: Protocol error` + strings.Repeat(" at CDPSession.send (/srv/wa/node_modules/puppeteer-core/lib/cjs/puppeteer/common/Connection.js:316:35)", 8) + `"}`,
		"2026-11-28T15:00:02Z error: & <!channel> ``` fence",
	}

	return []Case{
		{Name: "alert-stopped", Notice: notice(alerts.DecisionOpen, &stopped, alerts.Event{What: alerts.EventFailing, State: manager.StateStopped,
			Reason: "connection refused", Since: at("15:00:00"), Failures: 2}), ErrorLines: errorLines},
		{Name: "alert-exit-137", Notice: notice(alerts.DecisionOpen, &exited, alerts.Event{What: alerts.EventExited, State: manager.StateStopped,
			Exit: &alerts.Exit{Known: true, Code: 137, ChildSignal: "SIGKILL"}, Since: at("15:00:00"), Failures: 1, NextAutoRestartIn: 30 * time.Second})},
		{Name: "alert-hostile-health", Notice: notice(alerts.DecisionOpen, &hostile, alerts.Event{What: alerts.EventFailing, State: manager.StateUnhealthy,
			Reason: hostile.Reason, Since: at("15:00:00"), Failures: 2})},
		{Name: "update-acked", Notice: notice(alerts.DecisionUpdate, &acked, alerts.Event{What: alerts.EventAcked, By: &alice, At: at("15:05:00")})},
		{Name: "update-state-changed", Notice: notice(alerts.DecisionUpdate, &stopped, alerts.Event{What: alerts.EventStateChanged,
			State: manager.StateStopped, Reason: "connection refused"})},
		{Name: "update-killed", Notice: notice(alerts.DecisionUpdate, &exited, alerts.Event{What: alerts.EventExited, State: manager.StateStopped,
			Exit: &alerts.Exit{Known: true, Code: -1, Signal: "SIGKILL"}})},
		{Name: "update-action-failed", Notice: notice(alerts.DecisionUpdate, &stopped, alerts.Event{What: alerts.EventActionFailed,
			Action: manager.ActionRestart, By: &alice, Detail: "not healthy after 60s", NextAutoRestartIn: time.Minute})},
		{Name: "update-external-restart", Notice: notice(alerts.DecisionUpdate, &stopped, alerts.Event{What: alerts.EventExternalRestart,
			Uptime: 3 * time.Second, Expected: time.Hour + 30*time.Second, Count: 3})},
		{Name: "remind", Notice: notice(alerts.DecisionRemind, &stopped, alerts.Event{What: alerts.EventReminder, State: manager.StateStopped,
			Reason: "connection refused", Since: at("15:00:00"), Lasted: 10 * time.Minute})},
		{Name: "auto-restart", Notice: notice(alerts.DecisionAutoRestart, &stopped, alerts.Event{What: alerts.EventAutoRestart,
			Attempt: 1, Max: 3, Waited: 30 * time.Second})},
		{Name: "give-up", Notice: notice(alerts.DecisionGiveUp, &gaveUp, alerts.Event{What: alerts.EventGaveUp, Attempt: 3, Max: 3, State: manager.StateStopped})},
		{Name: "resolve-healed", Notice: notice(alerts.DecisionResolve, &resolved, alerts.Event{What: alerts.EventHealed, Lasted: 4*time.Minute + 12*time.Second})},
		{Name: "resolve-restart", Notice: notice(alerts.DecisionResolve, &byRestart, alerts.Event{What: alerts.EventActionDone,
			Action: manager.ActionRestart, By: &alice, Lasted: 4*time.Minute + 12*time.Second})},
		{Name: "resolve-stop", Notice: notice(alerts.DecisionResolve, &byRestart, alerts.Event{What: alerts.EventActionDone,
			Action: manager.ActionStop, By: &alice, Lasted: 4*time.Minute + 12*time.Second})},
		{Name: "announce-stop", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventActionBegun, Action: manager.ActionStop, By: &alice})},
		{Name: "announce-restart", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventActionBegun, Action: manager.ActionRestart, By: &alice})},
		{Name: "announce-external-restart", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventExternalRestart,
			Uptime: 12 * time.Second, Expected: 3*time.Hour + 30*time.Second, Count: 1})},
		{Name: "announce-restart-by-systemd", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventExternalRestart,
			Controller: manager.ControllerSystemd, Exit: &alerts.Exit{Known: true, Code: -1, Signal: "SIGKILL"}, Count: 1})},
		{Name: "announce-restart-by-pm2", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventExternalRestart,
			Controller: manager.ControllerPM2, Count: 1})},
		{Name: "announce-back-after-stop", Notice: notice(alerts.DecisionAnnounce, nil, ev(alerts.EventBackAfterStop))},
		{Name: "maintenance-on", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventMaintenanceOn, Window: window})},
		{Name: "maintenance-extended", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventMaintenanceExtended, Window: window})},
		{Name: "maintenance-ended", Notice: notice(alerts.DecisionAnnounce, &stopped, alerts.Event{What: alerts.EventMaintenanceEnded, By: &bob, Window: window,
			StillOpen: true, Summary: &alerts.MaintenanceSummary{Failures: 2, Down: 3*time.Minute + 10*time.Second,
				Actions: []alerts.ActionCount{{Action: manager.ActionRestart, By: "alice", Count: 1}}, External: 1}})},
		{Name: "maintenance-expired", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventMaintenanceEnded, Window: window,
			State: manager.StateStopped, Threshold: 2, Summary: &alerts.MaintenanceSummary{Exits: 1, Down: time.Minute + 50*time.Second}})},
		{Name: "maintenance-recurring-on", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventMaintenanceOn, Window: recurring})},
		{Name: "maintenance-recurring-added-on", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventMaintenanceOn, Window: added})},
		{Name: "maintenance-recurring-ended", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventMaintenanceEnded, Window: recurring,
			At: at("16:00:00"), Summary: &alerts.MaintenanceSummary{Failures: 3, Exits: 1, Down: 2*time.Minute + 5*time.Second,
				Actions: []alerts.ActionCount{{Action: manager.ActionRestart, By: alerts.MaintenanceActor.String(), Count: 1}}, End: manager.StateHealthy}})},
		{Name: "maintenance-none", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventNoMaintenance, By: &alice})},
		restoration("restoration-ok", allGood, false),
		restoration("restoration-failed-and-qr", four, false),
		restoration("restoration-timed-out", timedOut, true),
		restoration("restoration-error", failedAll, false),
		{Name: "digest", Notice: alerts.Notice{ID: "digest-2026-11-28", Kind: alerts.KindDigest, Event: alerts.Event{What: alerts.EventDigest, At: Now}, Digest: &digest}},
		timedOutNamed,
		late,
		interrupted,
		missing,
		{Name: "alert-memory", Notice: notice(alerts.DecisionOpen, &memTree, alerts.Event{What: alerts.EventFailing, State: manager.StateUnhealthy,
			Since: at("15:00:00"), Failures: 2, Memory: treeBreach})},
		{Name: "alert-memory-session", Notice: notice(alerts.DecisionOpen, &memSession, alerts.Event{What: alerts.EventFailing,
			State: manager.StateUnhealthy, Since: at("15:00:00"), Failures: 2, Memory: sessionBreach})},
		{Name: "remind-memory", Notice: notice(alerts.DecisionRemind, &memTree, alerts.Event{What: alerts.EventReminder, State: manager.StateUnhealthy,
			Since: at("15:00:00"), Lasted: 10 * time.Minute, Memory: treeBreach})},
		{Name: "resolve-memory", Notice: notice(alerts.DecisionResolve, &memResolved, alerts.Event{What: alerts.EventHealed, Lasted: 6 * time.Minute})},
		{Name: "digest-idle-browsers", Notice: alerts.Notice{ID: "digest-2026-11-28", Kind: alerts.KindDigest, Event: alerts.Event{What: alerts.EventDigest, At: Now},
			Digest: &idle}},
		weeklyDigest(digest, ""),
		{Name: "digest-empty", Notice: alerts.Notice{ID: "digest-2026-11-28", Kind: alerts.KindDigest, Event: alerts.Event{What: alerts.EventDigest, At: Now},
			Digest: &alerts.Digest{From: Now.Add(-24 * time.Hour), To: Now}}},
	}
}

// weeklyDigest is the weekly digest of d's services over the 7 days before
// Now, with a report by day for each service but noChart, and a quiet
// service without any.
func weeklyDigest(d alerts.Digest, noChart string) Case {
	d.From, d.To = Now.AddDate(0, 0, -7), Now
	d.Services = append([]alerts.ServiceDigest(nil), d.Services...)
	for i, s := range d.Services {
		if s.Known == 24*time.Hour { // a daily digest's service checked all day: all week
			d.Services[i].Known = 7 * 24 * time.Hour
		}
	}
	var w alerts.Weekly
	for _, s := range d.Services {
		if s.Service == noChart {
			continue
		}
		w.Reports = append(w.Reports, history.Report{Service: s.Service, From: d.From, To: d.To, Bucket: 24 * time.Hour,
			Known: s.Known > 0, Uptime: s.UptimePercent / 100})
	}
	// A service with nothing recorded and no report (names sort first).
	d.Services = append([]alerts.ServiceDigest{{Service: "quiet"}}, d.Services...)
	return Case{Name: "weekly-digest", Notice: alerts.Notice{ID: "weekly-digest-2026-11-28", Kind: alerts.KindWeeklyDigest,
		Event: alerts.Event{What: alerts.EventWeeklyDigest, At: Now}, Digest: &d, Weekly: &w}}
}

// digestIdle is a digest whose service has the browsers of failed sessions
// still running.
func digestIdle(bs []whatsapp.Browser, r whatsapp.Restoration, dirs []whatsapp.AuthDir) alerts.Digest {
	sum := &alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: r, Completed: true},
		Sessions: join(r, dirs, dirs, bs, true, time.Time{})}
	var ids []string
	for _, o := range r.FailedSessions() {
		ids = append(ids, o.ID)
	}
	return alerts.Digest{From: Now.Add(-24 * time.Hour), To: Now, Services: []alerts.ServiceDigest{{
		Service: svc, UptimePercent: 100, Known: 24 * time.Hour, Restorations: 1,
		Actions:         []alerts.ActionCount{{Action: manager.ActionRestart, By: "alice", Count: 1}},
		LastRestoration: sum, FailedSessions: ids, IdleBrowsers: sum.Sessions.IdleBrowsers(),
	}}}
}

// hostileText is outside text at its worst: entities, mentions, links,
// fences, emoji (two UTF-16 units each) and a control character.
const hostileText = "&&&& <!channel> <!here> <@U0BOB> <https://x.example|x> ``` 🔥🔥 \x1b[2J "

// WorstCases are the notices at their worst: 500 failed sessions with long
// causes, 1,000 error lines of 2,000 bytes, hostile text everywhere, 300
// services in a digest.
func WorstCases() []Case {
	long := strings.Repeat(hostileText, 2000/len(hostileText)+1)[:2000]
	var lines []string
	for i := range 1000 {
		lines = append(lines, fmt.Sprintf("%04d %s", i, long))
	}
	inc := alerts.Incident{Service: svc, ID: 9, Open: true, State: manager.StateUnhealthy, Reason: long, Since: at("15:00:00"), Failures: 2,
		Acked: nil}
	var sessions []whatsapp.SessionOutcome
	for i := range 500 {
		sessions = append(sessions, whatsapp.SessionOutcome{ID: fmt.Sprintf("user_%d_instance_%s", i, strings.Repeat("🔥&", 20)),
			Result: whatsapp.SessionFailed, Cause: long[:400]})
	}
	r := whatsapp.Restoration{Found: 500, Failed: 500, Complete: true, Total: -1, Sessions: sessions, CompletedAt: at("15:09:00")}
	// Every failed session's browser still runs: 500 idle browsers.
	var dirs []whatsapp.AuthDir
	var bs []whatsapp.Browser
	for i, o := range sessions {
		dirs = append(dirs, authDir(o.ID, "14:00:00"))
		bs = append(bs, browser(o.ID, int32(10000+10*i), 1*GiB, "15:08:00"))
	}
	worstSessions := join(r, dirs, dirs, bs, true, time.Time{})
	var services []alerts.ServiceDigest
	var failed []string
	for _, o := range sessions {
		failed = append(failed, o.ID)
	}
	for i := range 300 {
		services = append(services, alerts.ServiceDigest{Service: fmt.Sprintf("svc-%03d-%s", i, strings.Repeat("&<", 30)), Known: time.Hour,
			UptimePercent: 50, Incidents: 40, Downtime: time.Hour, Longest: time.Hour, Restorations: 2,
			Actions:         []alerts.ActionCount{{Action: manager.ActionRestart, By: long[:200], Count: 3}},
			LastRestoration: &alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: r}}, FailedSessions: failed,
			IdleBrowsers: bs[:20]})
	}
	hostileActor := manager.Actor{ID: "U0EVIL", Name: long[:300]}
	return []Case{
		{Name: "worst-alert", Notice: notice(alerts.DecisionOpen, &inc, alerts.Event{What: alerts.EventFailing, State: inc.State, Reason: long,
			Since: inc.Since, Failures: 2}), ErrorLines: lines},
		{Name: "worst-update", Notice: notice(alerts.DecisionUpdate, &inc, alerts.Event{What: alerts.EventActionFailed, Action: manager.ActionRestart,
			By: &hostileActor, Detail: strings.Repeat(long, 20)})},
		{Name: "worst-restoration", Notice: alerts.Notice{ID: "worst-restoration", Service: svc, Kind: alerts.KindRestoration,
			Event: alerts.Event{What: alerts.EventRestoration, Service: svc},
			Restoration: &alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: r, Completed: true},
				Sessions: worstSessions}}},
		{Name: "worst-digest", Notice: alerts.Notice{ID: "worst-digest", Kind: alerts.KindDigest, Event: alerts.Event{What: alerts.EventDigest},
			Digest: &alerts.Digest{From: Now.Add(-24 * time.Hour), To: Now, Services: services}}},
		func() Case {
			c := weeklyDigest(alerts.Digest{Services: services}, "")
			c.Name = "worst-weekly-digest"
			return c
		}(),
		{Name: "worst-maintenance", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventMaintenanceEnded, By: &hostileActor,
			Window: &alerts.Window{Until: at("15:30:00"), By: hostileActor, Reason: long}, Summary: &alerts.MaintenanceSummary{Failures: 5,
				Actions: []alerts.ActionCount{{Action: manager.ActionRestart, By: long, Count: 2}}}})},
	}
}

// Windows are the recurring maintenance windows `maintenance list` shows
// at now: a config window open now that restarts the service, one added
// by a command with a hostile reason, a cron one for every service, and
// one that never begins again.
func Windows(now time.Time) []alerts.WindowInfo {
	return []alerts.WindowInfo{
		{RecurringWindow: alerts.RecurringWindow{ID: "c1", Every: "daily 03:00", Duration: time.Hour, Reason: "nightly restart",
			Services: []string{svc}, Restart: true, Config: true, By: alerts.MaintenanceActor}, Open: true, Until: now.Add(50 * time.Minute),
			Next: now.Add(24*time.Hour - 10*time.Minute)},
		{RecurringWindow: alerts.RecurringWindow{ID: "3", Every: "sat 15:00", Duration: 90 * time.Minute,
			Reason: "backup <!channel> & <https://evil.example|click>", Services: []string{svc}, By: bob, Added: now.Add(-48 * time.Hour)},
			Next: now.Add(11*time.Hour + 50*time.Minute)},
		{RecurringWindow: alerts.RecurringWindow{ID: "4", Every: "*/30 2-4 * * 1-5", Duration: 5 * time.Minute, By: alice},
			Next: now.Add(2*24*time.Hour + 20*time.Minute)},
		{RecurringWindow: alerts.RecurringWindow{ID: "5", Every: "0 3 30 2 *", Duration: time.Hour, By: alice}},
	}
}

// FleetWindows are windows of a hub's `maintenance list` in a fleet: the
// hub's own and an agent's, addressed "host/...", with Host set.
func FleetWindows(now time.Time) []alerts.WindowInfo {
	return []alerts.WindowInfo{
		{RecurringWindow: alerts.RecurringWindow{ID: "web-1/c1", Every: "daily 03:00", Duration: time.Hour, Reason: "nightly restart",
			Services: []string{"web-1/" + svc}, Restart: true, Config: true, By: alerts.MaintenanceActor}, Host: "web-1",
			Next: now.Add(24*time.Hour - 10*time.Minute)},
		{RecurringWindow: alerts.RecurringWindow{ID: "web-2/1", Every: "sun 03:00", Duration: time.Hour,
			Reason: "kernel <!here> updates", By: bob}, Host: "web-2", Next: now.Add(3 * 24 * time.Hour)},
	}
}

// WindowsNotes are the notes under a fleet's `maintenance list` naming the
// hosts whose windows are missing, one a line (one with a hostile word).
func WindowsNotes(now time.Time) string {
	return "web-3 is offline since " + now.Add(-3*time.Minute).Format("15:04:05") + " (last heard 3m ago): its maintenance windows are not listed\n" +
		"web-4 refused windows (<!channel>): its maintenance windows are not listed"
}
