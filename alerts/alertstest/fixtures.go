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
		return Case{Name: name, Notice: alerts.Notice{ID: svc + "-restoration-" + name, Service: svc, Kind: alerts.KindRestoration,
			Event:       alerts.Event{What: alerts.EventRestoration, Service: svc, At: Now},
			Restoration: &alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: r, TimedOut: timedOut, Completed: !timedOut}, AuthDir: map[string]bool{}}}}
	}
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
		{Name: "announce-back-after-stop", Notice: notice(alerts.DecisionAnnounce, nil, ev(alerts.EventBackAfterStop))},
		{Name: "maintenance-on", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventMaintenanceOn, Window: window})},
		{Name: "maintenance-extended", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventMaintenanceExtended, Window: window})},
		{Name: "maintenance-ended", Notice: notice(alerts.DecisionAnnounce, &stopped, alerts.Event{What: alerts.EventMaintenanceEnded, By: &bob, Window: window,
			StillOpen: true, Summary: &alerts.MaintenanceSummary{Failures: 2, Down: 3*time.Minute + 10*time.Second,
				Actions: []alerts.ActionCount{{Action: manager.ActionRestart, By: "alice", Count: 1}}, External: 1}})},
		{Name: "maintenance-expired", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventMaintenanceEnded, Window: window,
			State: manager.StateStopped, Threshold: 2, Summary: &alerts.MaintenanceSummary{Exits: 1, Down: time.Minute + 50*time.Second}})},
		{Name: "maintenance-none", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventNoMaintenance, By: &alice})},
		restoration("restoration-ok", allGood, false),
		restoration("restoration-failed-and-qr", four, false),
		restoration("restoration-timed-out", timedOut, true),
		restoration("restoration-error", failedAll, false),
		{Name: "digest", Notice: alerts.Notice{ID: "digest-2026-11-28", Kind: alerts.KindDigest, Event: alerts.Event{What: alerts.EventDigest, At: Now}, Digest: &digest}},
		{Name: "digest-empty", Notice: alerts.Notice{ID: "digest-2026-11-28", Kind: alerts.KindDigest, Event: alerts.Event{What: alerts.EventDigest, At: Now},
			Digest: &alerts.Digest{From: Now.Add(-24 * time.Hour), To: Now}}},
	}
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
	var services []alerts.ServiceDigest
	var failed []string
	for _, o := range sessions {
		failed = append(failed, o.ID)
	}
	for i := range 300 {
		services = append(services, alerts.ServiceDigest{Service: fmt.Sprintf("svc-%03d-%s", i, strings.Repeat("&<", 30)), Known: time.Hour,
			UptimePercent: 50, Incidents: 40, Downtime: time.Hour, Longest: time.Hour, Restorations: 2,
			Actions:         []alerts.ActionCount{{Action: manager.ActionRestart, By: long[:200], Count: 3}},
			LastRestoration: &alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: r}}, FailedSessions: failed})
	}
	hostileActor := manager.Actor{ID: "U0EVIL", Name: long[:300]}
	return []Case{
		{Name: "worst-alert", Notice: notice(alerts.DecisionOpen, &inc, alerts.Event{What: alerts.EventFailing, State: inc.State, Reason: long,
			Since: inc.Since, Failures: 2}), ErrorLines: lines},
		{Name: "worst-update", Notice: notice(alerts.DecisionUpdate, &inc, alerts.Event{What: alerts.EventActionFailed, Action: manager.ActionRestart,
			By: &hostileActor, Detail: strings.Repeat(long, 20)})},
		{Name: "worst-restoration", Notice: alerts.Notice{ID: "worst-restoration", Service: svc, Kind: alerts.KindRestoration,
			Event:       alerts.Event{What: alerts.EventRestoration, Service: svc},
			Restoration: &alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: r, Completed: true}, AuthDir: map[string]bool{}}}},
		{Name: "worst-digest", Notice: alerts.Notice{ID: "worst-digest", Kind: alerts.KindDigest, Event: alerts.Event{What: alerts.EventDigest},
			Digest: &alerts.Digest{From: Now.Add(-24 * time.Hour), To: Now, Services: services}}},
		{Name: "worst-maintenance", Notice: notice(alerts.DecisionAnnounce, nil, alerts.Event{What: alerts.EventMaintenanceEnded, By: &hostileActor,
			Window: &alerts.Window{Until: at("15:30:00"), By: hostileActor, Reason: long}, Summary: &alerts.MaintenanceSummary{Failures: 5,
				Actions: []alerts.ActionCount{{Action: manager.ActionRestart, By: long, Count: 2}}}})},
	}
}
