package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// The wording shared by every front end: the console and Slack say the same
// things in the same words.

// RestorationLine summarises a restoration in one line, the one wording
// every message uses: "4 found: 3 restored (2 ready, 1 needs a QR scan),
// 1 failed at 15:04:05". The time is local, in loc.
func RestorationLine(r whatsapp.Restoration, loc *time.Location) string {
	switch {
	case r.Error != "":
		return "failed: " + human.Cut(r.Error, 120)
	case !r.Done() && r.StartedAt.IsZero() && len(r.Sessions) == 0:
		return "not begun yet (the service restores sessions a few seconds after it starts)"
	case !r.Done():
		return fmt.Sprintf("in progress: %d of %s sessions handled", handled(r), foundText(r.Found))
	}
	s := fmt.Sprintf("%s found: %d restored", foundText(r.Found), r.Restored)
	var parts []string
	if ready := len(r.RestoredSessions()) - len(r.Pending()) - len(r.NeedQR()); ready > 0 {
		parts = append(parts, fmt.Sprintf("%d ready", ready))
	}
	switch qr := len(r.NeedQR()); {
	case qr == 1:
		parts = append(parts, "1 needs a QR scan")
	case qr > 1:
		parts = append(parts, fmt.Sprintf("%d need a QR scan", qr))
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	s += fmt.Sprintf(", %d failed", r.Failed)
	if !r.CompletedAt.IsZero() {
		s += " at " + human.Clock(r.CompletedAt, r.CompletedAt, loc)
	}
	return s
}

// handled counts the sessions whose restoration has an outcome.
func handled(r whatsapp.Restoration) int {
	n := 0
	for _, o := range r.Sessions {
		if o.Result != whatsapp.SessionRestoring {
			n++
		}
	}
	return n
}

func foundText(n int) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

// OutcomeLine is the one-line summary of an action, as posted to the alerts
// channel: "restart whatsapp by alice: healthy in 2.3s".
func OutcomeLine(o *Outcome) string {
	mark := "✓"
	if !o.OK() {
		mark = "✗"
	}
	action := string(o.Action)
	if o.Action == manager.ActionCleanup {
		action = "sessions cleanup"
	}
	return fmt.Sprintf("%s %s %s by %s in %s: %s", mark, action, o.Service, o.By, human.Duration(o.Took), OutcomeDetail(o))
}

// OutcomeDetail says what an action did, each fact once: a restart of a
// stopped service says it started it only when a process was started.
func OutcomeDetail(o *Outcome) string {
	var parts []string
	if st := o.Stop; st != nil {
		switch {
		case !st.WasRunning && o.Action == manager.ActionRestart && o.Start != nil && o.Start.PID > 0:
			parts = append(parts, "was not running, started it")
		case !st.WasRunning:
			parts = append(parts, "was not running")
		case st.Forced:
			parts = append(parts, fmt.Sprintf("did not stop on SIGTERM within the stop timeout: killed (SIGKILL), %s in %s", human.Count(len(st.Stopped), "process"), human.Duration(st.Duration)))
		default:
			parts = append(parts, fmt.Sprintf("stopped gracefully, %s in %s", human.Count(len(st.Stopped), "process"), human.Duration(st.Duration)))
		}
		if len(st.IdleEnded) > 0 {
			parts = append(parts, fmt.Sprintf("ended at once %s: %s", idleOf(len(st.IdleEnded)),
				namesCapped(browserNames(st.IdleEnded), outcomeMaxNames)))
		}
		if len(st.Leftovers) > 0 {
			s := fmt.Sprintf("ended %s that outlived it", human.Count(len(st.Leftovers), "process"))
			if len(st.LeftoverBrowsers) > 0 {
				s += fmt.Sprintf(", among them the %s of %s", human.Plural(len(st.LeftoverBrowsers), "browser"),
					namesCapped(browserNames(st.LeftoverBrowsers), outcomeMaxNames))
			}
			parts = append(parts, s)
		}
		if len(st.LocksLeft) > 0 {
			profiles := LockProfiles(st.LocksLeft)
			parts = append(parts, fmt.Sprintf("left stale locks in %s: %s (the next start removes them)",
				human.Count(len(profiles), "profile"), namesCapped(profiles, outcomeMaxNames)))
		}
	}
	if c := o.Cleanup; c != nil && (o.Err == nil || len(c.Ended) > 0 || len(c.Survivors) > 0) {
		parts = append(parts, CleanupDetail(c)...)
	}
	if s := o.Start; s != nil && o.Action != manager.ActionStop && o.Action != manager.ActionCleanup {
		if len(s.LeftoversEnded) > 0 {
			parts = append(parts, fmt.Sprintf("ended %s left by an earlier run", human.Count(len(s.LeftoversEnded), "process")))
		}
		switch {
		case len(s.ProfilesUnlocked) > 0:
			parts = append(parts, fmt.Sprintf("removed stale Chromium locks of %s: %s", human.Count(len(s.ProfilesUnlocked), "profile"),
				namesCapped(s.ProfilesUnlocked, outcomeMaxNames)))
		case len(s.LocksRemoved) > 0:
			parts = append(parts, fmt.Sprintf("removed %s", human.Count(len(s.LocksRemoved), "stale Chromium lock")))
		}
		if s.PID > 0 && s.Output.Fallback {
			parts = append(parts, OutputCaptureNote(s.Output))
		}
		if s.Healthy {
			parts = append(parts, fmt.Sprintf("pid %d healthy in %s", s.PID, human.Duration(s.TimeToHealthy)))
		}
	}
	if o.Err != nil {
		parts = append(parts, usererr.Message(o.Err))
	}
	return strings.Join(parts, "; ")
}

// idleOf is "the browser of 1 session that served nobody", "the browsers
// of 3 sessions that served nobody".
func idleOf(n int) string {
	if n == 1 {
		return "the browser of 1 session that served nobody"
	}
	return fmt.Sprintf("the browsers of %d sessions that served nobody", n)
}

// outcomeMaxNames is how many sessions or profiles an outcome names.
const outcomeMaxNames = 10

// CleanupDetail says what `sessions cleanup` did: "ended 3 browsers of
// sessions that served nobody: user_1 (1.0 GiB), ...; 3.0 GiB freed",
// "kept 2 browsers of sessions in use", "the service keeps running".
func CleanupDetail(c *manager.CleanupResult) []string {
	var parts []string
	if len(c.Ended) > 0 {
		parts = append(parts, fmt.Sprintf("ended %s: %s; %s freed", idleOf(len(c.Ended)),
			namesCapped(browserNames(c.Ended), outcomeMaxNames), human.Bytes(whatsapp.RSS(c.Ended))))
	} else {
		parts = append(parts, "ended no browser")
	}
	if len(c.Kept) > 0 {
		parts = append(parts, fmt.Sprintf("kept %s of sessions in use", human.Count(len(c.Kept), "browser")))
	}
	if len(c.Survivors) > 0 {
		parts = append(parts, fmt.Sprintf("%s survived", human.Count(len(c.Survivors), "process")))
	}
	return append(parts, "the service keeps running")
}

// OutputCaptureNote says where the service's output went when the state
// dir could not take it: "the state dir cannot take the service's output
// (read-only file system): it goes to /srv/whatsapp/logs/sanasend-output.log"
// or "...: it is not captured".
func OutputCaptureNote(c manager.OutputCapture) string {
	where := "it is not captured"
	if c.Path != "" {
		where = "it goes to " + c.Path
	}
	return fmt.Sprintf("the state dir cannot take the service's output (%s): %s", c.Problem, where)
}

// ConfirmQuestion is the question of a confirmation prompt: "restart
// whatsapp? This stops ...", and for `sessions cleanup`, "End 3 browsers
// of failed sessions (3.0 GiB) in whatsapp: user_1 (1.0 GiB), ...? The
// service keeps running."
func ConfirmQuestion(p *Pending) string {
	if p.Command.Verb == VerbSessions && p.Command.Cleanup {
		if c := p.Cleanup; c != nil && len(c.Browsers) > 0 {
			return fmt.Sprintf("End %s of %s (%s) in %s: %s? The service keeps running.",
				human.Count(len(c.Browsers), "browser"), human.Plural(len(c.Browsers), c.Whose), human.Bytes(whatsapp.RSS(c.Browsers)),
				p.Service, namesCapped(browserNames(c.Browsers), confirmMaxNames))
		}
		return fmt.Sprintf("End the browsers of the sessions that serve nobody (failed, logged out) in %s? The service keeps running.", p.Service)
	}
	what := "stops every process of the service"
	if p.Command.Verb == VerbRestart {
		what = "stops every process of the service, then starts it again"
	}
	return fmt.Sprintf("%s %s? This %s; WhatsApp sessions disconnect meanwhile.", p.Command.Verb, p.Service, what)
}

// confirmMaxNames is how many sessions a cleanup prompt names.
const confirmMaxNames = 10

// ConfirmLabel is the label of a prompt's confirm button: "Yes, restart
// whatsapp", "Yes, end them".
func ConfirmLabel(p *Pending) string {
	if p.Command.Verb == VerbSessions && p.Command.Cleanup {
		if c := p.Cleanup; c != nil && len(c.Browsers) == 1 {
			return "Yes, end it"
		}
		return "Yes, end them"
	}
	return fmt.Sprintf("Yes, %s %s", p.Command.Verb, p.Service)
}

// browserNames are "user_1 (1.0 GiB)" for each browser.
func browserNames(bs []whatsapp.Browser) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		id := b.SessionID
		if id == "" {
			id = fmt.Sprintf("pid %d", b.PID)
		}
		out[i] = fmt.Sprintf("%s (%s)", id, human.Bytes(b.RSS))
	}
	return out
}

// namesCapped joins names, at most n of them: "a, b, c and 4 more".
func namesCapped(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}

// LogsSummary says what a logs reply shows, of how many lines searched:
// `2 of 44 lines match "QR" (the whole log)`, `none of the 44 lines matches
// "abc" (the whole log)`, `the last 50 lines, found among the last 80 (30
// health checks hidden)`.
func LogsSummary(l *manager.LogResult, q manager.LogQuery) string {
	shown, searched := len(l.Lines), max(l.Searched, len(l.Lines))
	complete := l.Exhausted || l.ScanLimit // every line that could be read was searched
	scope := ""
	switch {
	case l.ScanLimit:
		scope = fmt.Sprintf(" (the last %s of the log only)", human.Bytes(uint64(l.Scanned)))
	case l.Exhausted:
		scope = " (the whole log)"
	}
	if searched == 0 {
		switch {
		case l.Exhausted && !l.ScanLimit:
			return "the log is empty"
		case q.Filter != "":
			return fmt.Sprintf("no line matches %q%s", q.Filter, scope)
		}
		return "no line to show" + scope
	}
	if q.Filter != "" {
		switch {
		case shown == 0:
			return fmt.Sprintf("none of the %s matches %q%s", human.Count(searched, "line"), q.Filter, scope)
		case complete:
			verb := "match"
			if shown == 1 {
				verb = "matches"
			}
			return fmt.Sprintf("%d of %s %s %q%s", shown, human.Count(searched, "line"), verb, q.Filter, scope)
		}
		return fmt.Sprintf("the last %s matching %q, found among the last %d", human.Count(shown, "line"), q.Filter, searched)
	}
	hidden := ""
	if n := searched - shown; n > 0 {
		hidden = fmt.Sprintf(" (%s hidden)", human.Count(n, "health check"))
	}
	switch {
	case complete && shown == searched && shown > 1:
		return fmt.Sprintf("all %s%s", human.Count(shown, "line"), scope)
	case complete && hidden != "":
		return fmt.Sprintf("%d of %s%s; %s", shown, human.Count(searched, "line"), strings.TrimSuffix(scope, ")"), hidden[2:])
	case complete:
		return fmt.Sprintf("%d of %s%s", shown, human.Count(searched, "line"), scope)
	case searched > shown:
		return fmt.Sprintf("the last %s, found among the last %d%s", human.Count(shown, "line"), searched, hidden)
	}
	return "the last " + human.Count(shown, "line")
}

// HealthHiddenNote says that the health-check lines were left out.
const HealthHiddenNote = "health-check lines hidden: `logs all` shows them"

// CutLinesNote says how many log lines were cut when read.
func CutLinesNote(n int) string {
	return fmt.Sprintf("%s cut to %d bytes when read", human.Count(n, "long line"), manager.MaxLineBytes)
}

// DoctorSummary counts a doctor report's verdicts: "5 ok, 1 warning, 2
// failed".
func DoctorSummary(checks []doctor.Check) string {
	count := map[doctor.Verdict]int{}
	for _, c := range checks {
		count[c.Verdict]++
	}
	return fmt.Sprintf("%d ok, %s, %d failed", count[doctor.VerdictOK], human.Count(count[doctor.VerdictWarn], "warning"),
		count[doctor.VerdictFail])
}

// DoctorMark is the one-character verdict of a check.
func DoctorMark(v doctor.Verdict) string {
	switch v {
	case doctor.VerdictOK:
		return "✓"
	case doctor.VerdictWarn:
		return "!"
	case doctor.VerdictFail:
		return "✗"
	}
	return "?"
}

// RestorationRunNote says whose the restoration st shows is when it is not
// the running process's: " (last run: the service is not running)" for a
// stopped service, " (previous run: this one started at 03:10:00 ...)" when
// it began before the running process started. It is "" otherwise.
func RestorationRunNote(st *manager.Status, now time.Time) string {
	r := st.Restoration
	if r != nil && st.Since.IsZero() && st.State != manager.StateHealthy {
		return " (last run: the service is not running)"
	}
	if r == nil || st.Since.IsZero() || r.StartedAt.IsZero() || !r.StartedAt.Before(st.Since) {
		return ""
	}
	return fmt.Sprintf(" (previous run: this one started at %s and has not restored sessions yet)",
		human.Clock(st.Since, now, now.Location()))
}

// AdoptedLine says who started a running service the bot did not start in
// this process, "" when it did: "adopted: started by hand, found by its
// port in the service's dir".
func AdoptedLine(st *manager.Status) string {
	switch {
	case st.AdoptedByPort:
		return "adopted: started by hand, found by its port in the service's dir"
	case st.Managed != nil:
		return "" // systemd or PM2 started it: ControllerLine says so
	case st.Adopted:
		return "adopted: not started by this bot process"
	}
	return ""
}

// ControllerName is a controller as people call it: "systemd", "PM2".
func ControllerName(k manager.ControllerKind) string {
	if k == manager.ControllerPM2 {
		return "PM2"
	}
	return string(k)
}

// ControllerLine says what controls the service and how its tree is found:
// "systemd unit whatsapp.service: active/running, restarted 2 times by
// systemd", "PM2 app whatsapp: online", "the bot, tree by cgroup (cgroup v2
// under /sys/fs/cgroup/…)", "the bot, tree by marker (no cgroup: …)".
func ControllerLine(st *manager.Status) string {
	c := st.Controller
	if c.Kind == "" {
		return ""
	}
	var b strings.Builder
	switch c.Kind {
	case manager.ControllerSystemd:
		fmt.Fprintf(&b, "systemd unit %s", c.Target)
	case manager.ControllerPM2:
		fmt.Fprintf(&b, "PM2 app %s", c.Target)
	default:
		b.WriteString("the bot")
	}
	if m := st.Managed; m != nil {
		if m.State != "" {
			b.WriteString(": " + m.State)
		}
		if m.Restarts > 0 {
			fmt.Fprintf(&b, ", restarted %s by %s", human.Count(m.Restarts, "time"), ControllerName(c.Kind))
		}
		if m.LastExit != nil && m.LastExit.Known && !m.Running {
			b.WriteString(", its main process last " + ExitCause(*m.LastExit))
		}
		return b.String()
	}
	fmt.Fprintf(&b, ", tree by %s", c.Tree)
	if c.Why != "" {
		b.WriteString(" (" + c.Why + ")")
	}
	return b.String()
}

// RootGoneLine says that the start command's process is gone while the
// service runs on: "npm (pid 863) is gone; node and the browsers still run
// and serve".
func RootGoneLine(st *manager.Status) string {
	return fmt.Sprintf("the start command's process (pid %d) is gone; the rest of the service still runs", st.RootPID)
}

// PortHolderLine says what holds a stopped service's port: "port 3000 is
// held by pid 812 (python3 -m http.server 3000), not by this service".
func PortHolderLine(st *manager.Status) string {
	h := st.PortHolder
	who := "a process the bot cannot see (another user's)"
	if h.PID > 0 {
		who = fmt.Sprintf("pid %d", h.PID)
		if h.Command != "" {
			who += " (" + human.Cut(h.Command, 80) + ")"
		}
	}
	if h.Ours {
		return "its port is held by " + who + ", a leftover of this service: `start` ends it first"
	}
	return "its port is held by " + who + ", which is not this service: stop that program, or change the service's port"
}

// UndeliveredLine says what the outbox gave up on: "2 alerts could not be
// delivered: not_in_channel".
func UndeliveredLine(u *Undelivered) string {
	s := human.Count(u.Count, "alert") + " could not be delivered"
	if len(u.Codes) > 0 {
		s += ": " + strings.Join(u.Codes, ", ")
	}
	return s + " (the bot's log has each; `check` says how to fix it)"
}

// MaintenanceLine describes a maintenance window in force: "alerts muted
// until 03:40:00 (30m left) by alice: deploy".
func MaintenanceLine(w *MaintenanceWindow, now time.Time) string {
	s := fmt.Sprintf("alerts muted until %s (%s left)", human.Clock(w.Until, now, now.Location()), human.Duration(w.Until.Sub(now)))
	if w.By != (manager.Actor{}) {
		s += " by " + w.By.String()
	}
	if w.Reason != "" {
		s += ": " + w.Reason
	}
	return s
}
