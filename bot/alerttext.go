package bot

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// The words of the alert path: one sentence per fact of package alerts,
// written once and used by the Slack and the console renderers. They are
// plain text: a renderer escapes them for its medium. Times of day are
// local (human.Clock in now's location), durations and counts come from
// package human.

// AlertLine is the alert as one line: the state, the cause (said once),
// since when and for how long, who acknowledged it; or, once resolved, how
// long it lasted and who ended it.
//
//	whatsapp is STOPPED: killed by SIGKILL (npm reports 128+9), since 15:00:00 (4m12s)
//	whatsapp: resolved after 4m12s, by alice
func AlertLine(inc alerts.Incident, now time.Time) string {
	if !inc.Open {
		s := fmt.Sprintf("%s: resolved after %s", inc.Service, human.Duration(inc.Lasted(now)))
		if inc.ResolvedBy != nil {
			s += ", by " + inc.ResolvedBy.String()
		}
		return s
	}
	s := fmt.Sprintf("%s is %s: %s, since %s (%s)", inc.Service, StateName(inc.State), MemoryCause(inc.Exit, inc.Reason, inc.Memory),
		human.Clock(inc.Since, now, now.Location()), human.Duration(inc.Lasted(now)))
	if a := inc.Acked; a != nil {
		s += fmt.Sprintf("; acknowledged by %s at %s", a.By, human.Clock(a.At, now, now.Location()))
	}
	if inc.GaveUp {
		s += "; auto-restart gave up"
	}
	return s
}

// StateName is a state as alerts show it: "STOPPED", "UNHEALTHY".
func StateName(s manager.State) string {
	if s == "" {
		return "UNKNOWN"
	}
	return strings.ToUpper(string(s))
}

// StateLight is a state with the seed's green/yellow/red light, as the
// status card and the console show it: "🟢 healthy", "🟡 UNHEALTHY",
// "🔴 STOPPED". A bad state is in capitals, as in alerts.
func StateLight(s manager.State) string {
	switch s {
	case manager.StateHealthy:
		return "🟢 healthy"
	case manager.StateUnhealthy:
		return "🟡 " + StateName(s)
	}
	return "🔴 " + StateName(manager.StateStopped)
}

// AlertCause is the cause of an outage, said once: the exit when a process
// the bot started exited (the health reason is then only its consequence),
// the health check's reason otherwise.
func AlertCause(exit *alerts.Exit, reason string) string {
	switch {
	case exit != nil:
		return ExitCause(*exit)
	case reason != "":
		return reason
	}
	return "health check failing"
}

// MemoryCause is AlertCause for a failure that may be a memory limit
// crossed: the limit, when m is set, comes first.
func MemoryCause(exit *alerts.Exit, reason string, m *alerts.MemoryBreach) string {
	if m == nil {
		return AlertCause(exit, reason)
	}
	s := MemoryWords(*m)
	if exit != nil || reason != "" {
		s += "; " + AlertCause(exit, reason)
	}
	return s
}

// memoryTop is how many sessions a memory alert names.
const memoryTop = 3

// MemoryWords says which memory limit was crossed and which sessions weigh
// most: "memory 6.7 GiB over the limit 6.0 GiB; top sessions:
// user_31 3.5 GiB, user_12 1.2 GiB, user_18 900.0 MiB", and for one
// session's limit, "session user_31's browser uses 3.5 GiB, over the
// limit of 3.0 GiB per session; top sessions: ...".
func MemoryWords(m alerts.MemoryBreach) string {
	var s string
	if m.Session == "" {
		s = fmt.Sprintf("memory %s over the limit %s", human.Bytes(m.Used), human.Bytes(m.Limit))
	} else {
		s = fmt.Sprintf("session %s's browser uses %s, over the limit of %s per session", m.Session, human.Bytes(m.Used), human.Bytes(m.Limit))
	}
	if len(m.Top) == 0 {
		return s
	}
	top := make([]string, 0, memoryTop)
	for _, b := range m.Top[:min(len(m.Top), memoryTop)] {
		id := b.SessionID
		if id == "" {
			id = fmt.Sprintf("pid %d (no session)", b.PID)
		}
		top = append(top, id+" "+human.Bytes(b.RSS))
	}
	return s + "; top sessions: " + strings.Join(top, ", ")
}

// ExitCause says in words how the service's root process ended, from the
// manager's facts: "exited with code 1", "killed by SIGTERM", and for the
// 128+N codes that npm (or a shell) reports when its child was killed by
// signal N, "killed by SIGKILL (npm reports 128+9)".
func ExitCause(e alerts.Exit) string {
	switch {
	case !e.Known:
		return "exited (exit status unknown: the bot did not start this process)"
	case e.Signal != "":
		return "killed by " + e.Signal
	case e.ChildSignal != "":
		return fmt.Sprintf("killed by %s (npm reports 128+%d)", e.ChildSignal, e.Code-128)
	}
	return fmt.Sprintf("exited with code %d", e.Code)
}

// EventLine is the one sentence of a fact of the alert path. now gives the
// local day and zone of the times shown.
func EventLine(e alerts.Event, now time.Time) string {
	at := func(t time.Time) string { return human.Clock(t, now, now.Location()) }
	svc := e.Service
	by := func() string {
		if e.By == nil {
			return "someone"
		}
		return e.By.String()
	}
	autoIn := func(s, prefix string) string {
		if e.NextAutoRestartIn > 0 {
			s += "; " + prefix + " in " + human.Duration(e.NextAutoRestartIn)
		}
		return s
	}
	switch e.What {
	case alerts.EventFailing:
		return autoIn(fmt.Sprintf("%s is %s: %s (since %s, %s)", svc, e.State, MemoryCause(nil, e.Reason, e.Memory),
			at(e.Since), human.Count(e.Failures, "failed check")), "auto-restart")
	case alerts.EventExited:
		return autoIn(fmt.Sprintf("%s exited unexpectedly: %s", svc, AlertCause(e.Exit, "")), "auto-restart")
	case alerts.EventStateChanged:
		return fmt.Sprintf("%s is now %s: %s", svc, e.State, MemoryCause(nil, e.Reason, e.Memory))
	case alerts.EventFailingAgain:
		return fmt.Sprintf("%s is %s again after %s: %s", svc, e.State, human.Count(e.Healthy, "healthy check"), MemoryCause(nil, e.Reason, e.Memory))
	case alerts.EventHealed:
		s := "resolved after " + human.Duration(e.Lasted)
		if e.By != nil {
			s += ", after the restart by " + by()
		}
		return s
	case alerts.EventActionDone:
		if e.Action == manager.ActionStop {
			return fmt.Sprintf("closed after %s: stopped by %s through the bot, no alert until it is started again",
				human.Duration(e.Lasted), by())
		}
		return fmt.Sprintf("resolved after %s, %s by %s", human.Duration(e.Lasted), actionPast(e.Action), by())
	case alerts.EventActionBegun:
		s := fmt.Sprintf("%s of %s by %s (through the bot)", e.Action, svc, by())
		if e.Action == manager.ActionStop {
			s += ": no alert until it is started again"
		}
		return s
	case alerts.EventActionFailed:
		s := fmt.Sprintf("%s by %s failed", e.Action, by())
		if e.Detail != "" {
			s += ": " + human.Cut(human.FirstLine(e.Detail), 300)
		}
		return autoIn(s, "next auto-restart")
	case alerts.EventAcked:
		return "acknowledged by " + by()
	case alerts.EventReminder:
		return fmt.Sprintf("%s still %s after %s: %s (since %s, not acknowledged)", svc, e.State,
			human.Duration(e.Lasted), MemoryCause(e.Exit, e.Reason, e.Memory), at(e.Since))
	case alerts.EventAutoRestart:
		return fmt.Sprintf("auto-restart of %s, attempt %d (at most %d an hour), after %s", svc, e.Attempt, e.Max,
			human.Duration(e.Waited))
	case alerts.EventGaveUp:
		return fmt.Sprintf("auto-restart gave up: %s in the last hour (at most %d) and %s is still %s; a person must act",
			human.Count(e.Attempt, "restart"), e.Max, svc, e.State)
	case alerts.EventExternalRestart:
		s := fmt.Sprintf("%s restarted outside the bot: up %s, expected about %s", svc, human.Duration(e.Uptime), human.Duration(e.Expected))
		if e.Controller != "" {
			s = fmt.Sprintf("%s restarted outside the bot, by %s", svc, ControllerName(e.Controller))
			if e.Exit != nil {
				cause := ExitCause(*e.Exit)
				if strings.HasPrefix(cause, "killed") {
					cause = "was " + cause
				}
				s += " (its main process " + cause + ")"
			}
		}
		if e.Count > 1 {
			s += fmt.Sprintf(" (%s outside the bot since the last notice)", human.Count(e.Count, "restart"))
		}
		return s
	case alerts.EventBackAfterStop:
		return svc + " is running again although it was stopped through the bot: alerts are on again"
	case alerts.EventMaintenanceOn:
		s := fmt.Sprintf("maintenance of %s %s; alerts and reminders are muted", svc, windowText(e.Window, now))
		if e.Window != nil && e.Window.Restart {
			s += "; restarting " + svc + " now, as scheduled"
		}
		return s
	case alerts.EventMaintenanceExtended:
		return fmt.Sprintf("maintenance of %s extended %s", svc, windowText(e.Window, now))
	case alerts.EventMaintenanceEnded:
		var s string
		if e.By != nil {
			s = fmt.Sprintf("maintenance of %s ended by %s (was %s)", svc, by(), windowText(e.Window, now))
		} else {
			s = fmt.Sprintf("maintenance of %s over (was %s)", svc, windowText(e.Window, now))
		}
		if e.Summary != nil {
			s += "; during it: " + MaintenanceSummaryLine(*e.Summary)
		}
		switch {
		case e.StillOpen:
			s += fmt.Sprintf("; the alert for %s is still open", svc)
		case e.State != "" && e.State != manager.StateHealthy:
			s += fmt.Sprintf("; %s is still %s: alert after %s", svc, e.State, human.Count(e.Threshold, "failed check"))
		case e.Summary != nil && e.Summary.End == manager.StateHealthy:
			s += fmt.Sprintf("; %s is healthy", svc)
		}
		return s
	case alerts.EventNoMaintenance:
		return fmt.Sprintf("no maintenance of %s to end", svc)
	case alerts.EventRestoration:
		return "session restoration of " + svc
	case alerts.EventDigest:
		return "daily digest"
	case alerts.EventWeeklyDigest:
		return "weekly digest"
	}
	return fmt.Sprintf("%s: %s", svc, e.What)
}

// windowText is "until 15:30:00 by alice: deploy"; for an occurrence of
// a recurring window "until 04:00:00, every sun 03:00 (window c1): weekly
// restart" (a config window), "..., every sat 15:00 by alice (window 1):
// backup" (one added by a command).
func windowText(w *alerts.Window, now time.Time) string {
	if w == nil {
		return ""
	}
	s := "until " + human.Clock(w.Until, now, now.Location()) + " by " + w.By.String()
	if w.Recurring != "" {
		s = "until " + human.Clock(w.Until, now, now.Location()) + ", " + EveryText(w.Every)
		if w.By != alerts.MaintenanceActor {
			s += " by " + w.By.String()
		}
		s += " (window " + w.Recurring + ")"
	}
	if w.Reason != "" {
		s += ": " + human.Cut(w.Reason, 200)
	}
	return s
}

// WindowLine describes a recurring maintenance window for `maintenance
// list`: "1: every sat 15:00 for 1h30m, whatsapp; next Sat 5 Dec 15:00
// (in 1d 1h); added by alice: backup"; "c1: every sun 03:00 for 1h, all
// services, restarts at its start; open until 04:00:00; from the config:
// weekly restart".
func WindowLine(w alerts.WindowInfo, now time.Time) string {
	s := fmt.Sprintf("%s: %s for %s, ", w.ID, EveryText(w.Every), human.Duration(w.Duration))
	switch {
	case len(w.Services) == 0 && w.Host != "":
		s += "all services of " + w.Host
	case len(w.Services) == 0:
		s += "all services"
	default:
		s += strings.Join(w.Services, ", ")
	}
	if w.Restart {
		s += ", restarts at its start"
	}
	switch {
	case w.Open:
		s += "; open until " + human.Clock(w.Until, now, now.Location())
	case w.Next.IsZero():
		s += "; never begins again"
	default:
		s += "; next " + w.Next.In(now.Location()).Format("Mon 2 Jan 15:04") + " (in " + human.Duration(w.Next.Sub(now)) + ")"
	}
	if w.Config {
		s += "; from the config"
	} else {
		s += "; added by " + w.By.String()
	}
	if w.Reason != "" {
		s += ": " + human.Cut(w.Reason, 200)
	}
	return s
}

// WindowsHeadline heads `maintenance list`: "2 recurring maintenance
// windows" or "no recurring maintenance windows: add one with `maintenance
// every sun 03:00 1h <reason>`".
func WindowsHeadline(ws []alerts.WindowInfo) string {
	if len(ws) == 0 {
		return "no recurring maintenance windows: add one with `maintenance every sun 03:00 1h <reason>`"
	}
	return human.Count(len(ws), "recurring maintenance window")
}

// WindowsNotListedText says why a host's windows are missing from
// `maintenance list`, after why it could not be asked: "web-3 is offline
// since 14:02:05 (last heard 3m ago): its maintenance windows are not
// listed".
func WindowsNotListedText(why string) string {
	return why + ": its maintenance windows are not listed"
}

// WindowAddedText confirms `maintenance every`: "maintenance window 1
// added by alice: whatsapp muted every sun 03:00 for 1h: weekly restart
// (`maintenance cancel 1` removes it)"; service "" is "every service".
func WindowAddedText(w alerts.RecurringWindow, service string) string {
	if service == "" {
		service = "every service"
	}
	s := fmt.Sprintf("maintenance window %s added by %s: %s muted %s for %s", w.ID, w.By, service, EveryText(w.Every), human.Duration(w.Duration))
	if w.Reason != "" {
		s += ": " + human.Cut(w.Reason, 200)
	}
	return s + fmt.Sprintf(" (`maintenance cancel %s` removes it)", w.ID)
}

// WindowCancelledText confirms `maintenance cancel`: "maintenance window 1
// (every sun 03:00) cancelled by alice".
func WindowCancelledText(w alerts.RecurringWindow, by manager.Actor) string {
	return fmt.Sprintf("maintenance window %s (%s) cancelled by %s", w.ID, EveryText(w.Every), by)
}

// EveryText says when a recurring window begins: "every sun 03:00",
// "daily at 03:00", and for a cron expression "on cron 0 3 * * 0".
func EveryText(every string) string {
	f := strings.Fields(every)
	switch {
	case len(f) == 2 && strings.EqualFold(f[0], "daily"):
		return "daily at " + f[1]
	case len(f) == 2:
		return "every " + every
	}
	return "on cron " + every
}

// MaintenanceSummaryLine says what happened during a maintenance window:
// "2 failures, down 3m10s in all, 1 restart by alice".
func MaintenanceSummaryLine(m alerts.MaintenanceSummary) string {
	var parts []string
	if m.Failures > 0 || m.Exits == 0 {
		parts = append(parts, human.Count(m.Failures, "failure"))
	}
	if m.Exits > 0 {
		parts = append(parts, human.Count(m.Exits, "unexpected exit"))
	}
	if m.Down > 0 {
		parts = append(parts, "down "+human.Duration(m.Down)+" in all")
	}
	for _, c := range m.Actions {
		parts = append(parts, human.Count(c.Count, string(c.Action))+" by "+c.By)
	}
	if m.External > 0 {
		parts = append(parts, human.Count(m.External, "restart")+" outside the bot")
	}
	return strings.Join(parts, ", ")
}

// actionPast is the participle of an action: "restarted".
func actionPast(a manager.Action) string {
	switch a {
	case manager.ActionStop:
		return "stopped"
	case manager.ActionStart:
		return "started"
	case manager.ActionRestart:
		return "restarted"
	case manager.ActionCleanup:
		return "idle browsers ended"
	}
	return string(a) + " done"
}

// RestorationHeadline is the first line of a restoration summary:
// "session restoration of whatsapp: 4 found: 3 restored (2 ready, 1 needs a
// QR scan), 1 failed"; "session restoration of whatsapp did not complete in
// time: 5 found: 3 failed, 1 restoring, 1 not begun"; "session restoration
// of whatsapp interrupted by the stop at 15:08:20: 1 of 4 handled, 3
// sessions not restored"; and for the follow-up of a timed-out summary,
// "session restoration of whatsapp completed late, at 15:10:38 (2m38s after
// it began): 0 restored, 5 failed".
func RestorationHeadline(service string, s alerts.RestorationSummary, loc *time.Location) string {
	r := s.Result.Restoration
	rep := restorationReport(s)
	switch {
	case r.Error != "":
		return fmt.Sprintf("session restoration of %s failed: %s", service, human.Cut(human.FirstLine(r.Error), 300))
	case rep.Interrupted || s.Result.Interrupted:
		return fmt.Sprintf("session restoration of %s %s", service, InterruptedLine(r, rep.StopBegan, clockNow(rep.StopBegan, loc)))
	case s.Late:
		when := ""
		if !r.CompletedAt.IsZero() {
			when = ", at " + human.Clock(r.CompletedAt, r.CompletedAt, loc)
			if !r.StartedAt.IsZero() && r.CompletedAt.After(r.StartedAt) {
				when += " (" + human.Duration(r.CompletedAt.Sub(r.StartedAt)) + " after it began)"
			}
		}
		return fmt.Sprintf("session restoration of %s completed late%s: %d restored, %d failed", service, when, r.Restored, r.Failed)
	case s.Result.TimedOut:
		return fmt.Sprintf("session restoration of %s did not complete in time: %s", service, timedOutLine(r, rep))
	}
	return fmt.Sprintf("session restoration of %s: %s", service, RestorationLine(r, loc))
}

// clockNow is a "now" for human.Clock that shows t as a time of day.
func clockNow(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.Local
	}
	return t.In(loc)
}

// timedOutLine is what a restoration that timed out had done: "5 found:
// 3 failed, 1 restoring, 1 not begun".
func timedOutLine(r whatsapp.Restoration, rep whatsapp.SessionsReport) string {
	s := foundText(r.Found) + " found: "
	if len(rep.Sessions) == 0 {
		return s + fmt.Sprintf("%d of them handled", handled(r))
	}
	s += SessionCounts(rep.Sessions)
	if rep.Unnamed > 0 {
		s += fmt.Sprintf(", %d not named yet", rep.Unnamed)
	}
	return s
}

// restorationReport is the summary's sessions, or, for a summary without
// them (a start the monitor saw without the snapshot), the restoration
// alone joined.
func restorationReport(s alerts.RestorationSummary) whatsapp.SessionsReport {
	if s.Sessions.HaveRestoration || len(s.Sessions.Sessions) > 0 {
		return s.Sessions
	}
	return whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: s.Result.Restoration, HaveRestoration: true, Running: true})
}

// RestorationNeedsAttention reports whether a restoration summary asks
// for a person: an error, a timeout, an interruption, a failed or
// logged-out session, a QR scan, an idle browser.
func RestorationNeedsAttention(s alerts.RestorationSummary) bool {
	r := s.Result.Restoration
	rep := restorationReport(s)
	return r.Error != "" || s.Result.TimedOut || rep.Interrupted || s.Result.Interrupted || r.Failed > 0 || len(r.NeedQR()) > 0 ||
		len(r.FailedSessions()) > 0 || len(rep.IdleBrowsers()) > 0 ||
		slices.ContainsFunc(rep.Sessions, func(v whatsapp.SessionView) bool { return v.State == whatsapp.SessionLoggedOut })
}

// restorationOrder is the order in which a summary lists the sessions
// that need a person.
var restorationOrder = []whatsapp.SessionState{whatsapp.SessionFailedState, whatsapp.SessionLoggedOut,
	whatsapp.SessionNeedsQR, whatsapp.SessionInRestore, whatsapp.SessionNotBegun}

// RestorationSessionLines are the sessions of a restoration that need a
// person, one line each, failed ones first; on a timeout, those still
// restoring and those not begun. A session interrupted by a stop is not
// listed: the headline says the stop cut the restoration short.
//
//	user_1 failed: WhatsApp Web's address did not resolve (net::ERR_NAME_NOT_RESOLVED): check ...; auth dir was missing before the start: a QR scan is needed
//	user_2 needs a QR scan: its saved login is dead
//	user_3 restoring since 16:12:10
//	user_4 not begun
func RestorationSessionLines(s alerts.RestorationSummary, now time.Time) []string {
	rep := restorationReport(s)
	order := restorationOrder
	cut := rep.Interrupted || s.Result.Interrupted
	if cut {
		order = order[:3] // those cut short are no session's fault
	}
	var lines []string
	for _, st := range order {
		for _, v := range rep.Sessions {
			if v.State != st || cut && v.CauseKind == whatsapp.CauseBrowserGone {
				// A browser gone in a restoration cut short is the
				// stop's doing, not the session's.
				continue
			}
			var line string
			switch st {
			case whatsapp.SessionNeedsQR:
				line = v.ID + " needs a QR scan: its saved login is dead"
			case whatsapp.SessionFailedState, whatsapp.SessionLoggedOut:
				line = v.ID + " " + SessionOutcomeWords(v, rep.StopBegan, now)
				if v.AuthBefore.State != whatsapp.AuthUnknown {
					line += "; " + AuthBeforeWords(v.AuthBefore, now)
				}
			default:
				line = v.ID + " " + SessionOutcomeWords(v, rep.StopBegan, now)
			}
			lines = append(lines, line)
		}
	}
	return lines
}

// RestorationFooter are the lines after a summary's sessions: the
// browsers that serve nobody, the sessions not named yet.
func RestorationFooter(s alerts.RestorationSummary) []string {
	rep := restorationReport(s)
	var out []string
	if s := IdleBrowsersLine(&rep); s != "" {
		out = append(out, s)
	}
	if rep.Unnamed > 0 && !s.Result.Restoration.Done() {
		out = append(out, UnnamedLine(rep.Unnamed))
	}
	return out
}

// DigestTitle is the title of a digest: "Daily digest 27 Nov 09:00 – 28 Nov
// 09:00", in local time.
func DigestTitle(d alerts.Digest, loc *time.Location) string {
	if loc == nil {
		loc = time.Local
	}
	return fmt.Sprintf("Daily digest %s – %s", d.From.In(loc).Format("2 Jan 15:04"), d.To.In(loc).Format("2 Jan 15:04"))
}

// WeeklyDigestTitle is the title of the weekly digest: "Weekly digest 24
// Nov 09:00 – 1 Dec 09:00", in local time.
func WeeklyDigestTitle(d alerts.Digest, loc *time.Location) string {
	if loc == nil {
		loc = time.Local
	}
	return fmt.Sprintf("Weekly digest %s – %s", d.From.In(loc).Format("2 Jan 15:04"), d.To.In(loc).Format("2 Jan 15:04"))
}

// DigestNoticeTitle is the title of a digest's notice: weekly or daily.
// n.Digest must be set.
func DigestNoticeTitle(n alerts.Notice, loc *time.Location) string {
	if n.Weekly != nil {
		return WeeklyDigestTitle(*n.Digest, loc)
	}
	return DigestTitle(*n.Digest, loc)
}

// WeeklyChartTitle is the title of a service's chart in the weekly
// digest: the uptime command's headline ("whatsapp, last 7 days: 99.5% up").
func WeeklyChartTitle(r *history.Report) string { return UptimeHeadline(r) }

// WeeklyNoChartLine says which services of the weekly digest have no
// chart (their history could not be read, or the chart drawn); "" for
// none.
func WeeklyNoChartLine(services []string) string {
	if len(services) == 0 {
		return ""
	}
	return fmt.Sprintf("no chart for %s this time (the history could not be read or the chart drawn); the figures above are complete",
		strings.Join(services, ", "))
}

// digestMaxSessions is how many failed sessions a digest line names.
const digestMaxSessions = 5

// DigestLines are the lines of a digest, one per service ("nothing
// recorded" when it has none):
//
//	whatsapp: 99.72% up, 1 incident (down 4m12s in all, longest 4m12s); restarts: 2 by alice; 3 restorations, last: 4 found: 3 restored, 1 failed (user_45_instance_promo)
func DigestLines(d alerts.Digest, loc *time.Location) []string {
	if len(d.Services) == 0 {
		return []string{"nothing recorded"}
	}
	window := d.To.Sub(d.From)
	var lines []string
	for _, s := range d.Services {
		var b strings.Builder
		b.WriteString(s.Service + ": ")
		if s.Known == 0 {
			b.WriteString("no health data")
		} else {
			b.WriteString(digestPercent(s.UptimePercent) + " up")
			if s.Known < window*99/100 {
				fmt.Fprintf(&b, " (of %s checked)", human.Duration(s.Known))
			}
		}
		if s.Incidents == 0 {
			b.WriteString(", no incidents")
		} else {
			fmt.Fprintf(&b, ", %s (down %s in all, longest %s", human.Count(s.Incidents, "incident"),
				human.Duration(s.Downtime), human.Duration(s.Longest))
			if s.OpenIncidents > 0 {
				fmt.Fprintf(&b, ", %d still open", s.OpenIncidents)
			}
			b.WriteString(")")
		}
		for _, a := range []manager.Action{manager.ActionRestart, manager.ActionStart, manager.ActionStop} {
			var parts []string
			for _, c := range s.Actions {
				if c.Action != a {
					continue
				}
				p := fmt.Sprintf("%d by %s", c.Count, c.By)
				if c.Failed > 0 {
					p += fmt.Sprintf(" (%d failed)", c.Failed)
				}
				parts = append(parts, p)
			}
			if len(parts) > 0 {
				fmt.Fprintf(&b, "; %s: %s", human.Plural(2, string(a)), strings.Join(parts, ", "))
			}
		}
		if s.GiveUps > 0 {
			fmt.Fprintf(&b, "; auto-restart gave up %s", human.Count(s.GiveUps, "time"))
		}
		if idle := s.IdleBrowsers; len(idle) > 0 {
			whose := "idle session"
			if l := s.LastRestoration; l != nil {
				rep := restorationReport(*l)
				whose = idleWhose(&rep)
			}
			fmt.Fprintf(&b, "; %s (`sessions cleanup` ends %s)", idleSentence(len(idle), whose, whatsapp.RSS(idle)), pronoun(len(idle)))
		}
		if l := s.LastRestoration; l != nil {
			line := RestorationLine(l.Result.Restoration, loc)
			if l.Result.TimedOut && l.Result.Restoration.Error == "" {
				line = "did not complete in time, seen: " + line
			}
			if f := s.FailedSessions; len(f) > 0 {
				shown := f[:min(len(f), digestMaxSessions)]
				line += " (" + strings.Join(shown, ", ")
				if more := len(f) - len(shown); more > 0 {
					line += fmt.Sprintf(" and %d more", more)
				}
				line += ")"
			}
			if s.Restorations == 1 {
				b.WriteString("; 1 restoration: " + line)
			} else {
				fmt.Fprintf(&b, "; %d restorations, last: %s", s.Restorations, line)
			}
		}
		lines = append(lines, b.String())
	}
	return lines
}

// digestPercent shows an uptime with two decimals, never rounding a
// downtime away to 100%.
func digestPercent(p float64) string {
	s := fmt.Sprintf("%.2f%%", p)
	if s == "100.00%" && p < 100 {
		return "99.99%"
	}
	return s
}

// NoticeLine is EventLine for a message read on its own (the console, an
// announcement): it names the service first when the sentence does not.
func NoticeLine(e alerts.Event, now time.Time) string {
	s := EventLine(e, now)
	if e.Service != "" && !strings.Contains(s, e.Service) {
		s = e.Service + ": " + s
	}
	return s
}
