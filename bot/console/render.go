package console

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Render turns a reply into terminal text. now is the clock for ages.
// Render is pure: a chart the reply carries is not written anywhere and
// not mentioned (the console writes it first: RenderWithChart).
func Render(r bot.Reply, now time.Time) string {
	return render(r, now, ChartFile{})
}

// ChartFile is what became of a reply's chart: the file it was written to,
// or why it was not.
type ChartFile struct {
	Path string
	Err  error
}

// RenderWithChart is Render, naming the file the reply's chart was written
// to (or saying why it was not) after the figures of `uptime`.
func RenderWithChart(r bot.Reply, now time.Time, chart ChartFile) string {
	return render(r, now, chart)
}

func render(r bot.Reply, now time.Time, chart ChartFile) string {
	var b strings.Builder
	switch r.Kind {
	case bot.KindHelp:
		renderHelp(&b, r.Help, r.HelpTopic)
	case bot.KindStatus:
		renderStatus(&b, r.Status, r.Maintenance, r.Undelivered, now)
		renderStatusHistory(&b, r.History, now)
	case bot.KindLogs:
		renderLogs(&b, r)
	case bot.KindProcesses:
		renderProcesses(&b, r.Service, r.Processes, now)
	case bot.KindSessions:
		renderSessions(&b, r.Service, r.Sessions, now)
	case bot.KindDoctor:
		renderChecks(&b, r.Service, r.Checks)
	case bot.KindWindows:
		b.WriteString(bot.WindowsHeadline(r.Windows) + "\n")
		for _, w := range r.Windows {
			b.WriteString("  " + bot.WindowLine(w, now) + "\n")
		}
		if r.Text != "" {
			b.WriteString("! " + strings.ReplaceAll(r.Text, "\n", "\n! ") + "\n")
		}
	case bot.KindUptime:
		if r.Uptime != nil {
			renderUptime(&b, r, chart)
		}
	case bot.KindIncidents:
		b.WriteString(bot.IncidentsHeadline(r.Service, r.Incidents, r.Asked) + "\n")
		for _, in := range r.Incidents {
			b.WriteString("  " + bot.IncidentLine(in, now) + "\n")
		}
	case bot.KindStatusAll:
		b.WriteString(bot.StatusAllHeadline(r.Lines) + "\n")
		for _, l := range r.Lines {
			// A service's health reason is outside text.
			b.WriteString("  " + alertsPrintable(bot.StatusLineText(l, now)) + "\n")
		}
		if r.Undelivered != nil {
			b.WriteString("  " + bot.UndeliveredLine(r.Undelivered) + "\n")
		}
	case bot.KindHosts:
		b.WriteString(bot.HostsHeadline(r.Hosts) + "\n")
		for _, h := range r.Hosts {
			// An agent's version is outside text.
			b.WriteString("  " + alertsPrintable(bot.HostLine(h, now)) + "\n")
		}
	case bot.KindOutcome:
		renderOutcome(&b, r.Outcome)
	case bot.KindConfirm:
		// The prompt itself is written by the console loop.
		b.WriteString(bot.ConfirmQuestion(r.Confirm))
	case bot.KindUsage, bot.KindRejected, bot.KindBusy, bot.KindError:
		fmt.Fprintf(&b, "✗ %s\n", r.Text)
	case bot.KindRefused:
		fmt.Fprintf(&b, "⛔ %s\n", r.Text)
	default:
		b.WriteString(r.Text + "\n")
	}
	return b.String()
}

// renderHelp lists the commands in two aligned columns, or, for `help
// <command>`, that command's usage and what it does.
func renderHelp(b *strings.Builder, help []bot.HelpLine, topic bot.Verb) {
	if topic != "" && len(help) == 1 {
		fmt.Fprintf(b, "Usage: %s\n  %s\n", help[0].Usage, help[0].Text)
		return
	}
	help = append(help[:len(help):len(help)], bot.HelpLine{Usage: "quit", Text: "leave the console"})
	width := 0
	for _, h := range help {
		width = max(width, utf8.RuneCountInString(h.Usage))
	}
	b.WriteString("Commands:\n")
	for _, h := range help {
		fmt.Fprintf(b, "  %s%s  %s\n", h.Usage, strings.Repeat(" ", width-utf8.RuneCountInString(h.Usage)), h.Text)
	}
}

func renderStatus(b *strings.Builder, st *manager.Status, maint *bot.MaintenanceWindow, und *bot.Undelivered, now time.Time) {
	fmt.Fprintf(b, "%s: %s\n", st.Service, bot.StateLight(st.State))
	row := func(k, format string, a ...any) { fmt.Fprintf(b, "  %-12s %s\n", k, fmt.Sprintf(format, a...)) }
	switch {
	case st.Health.OK:
		row("health", "%s answered %q in %s", st.URL+"/health", st.Health.Status, st.Health.Latency.Round(100*time.Microsecond))
	default:
		row("health", "%s: %s", st.URL+"/health", st.Health.Reason)
	}
	if !st.Since.IsZero() {
		who := ""
		if line := bot.AdoptedLine(st); line != "" {
			who = ", " + line
		}
		row("uptime", "%s (since %s%s)", human.Duration(st.Uptime), human.Clock(st.Since, now, now.Location()), who)
	}
	if line := bot.ControllerLine(st); line != "" {
		row("controller", "%s", line)
	}
	if st.RootGone {
		row("note", "%s", bot.RootGoneLine(st))
	}
	if st.PortHolder != nil {
		row("port", "%s", bot.PortHolderLine(st))
	}
	if len(st.Processes) > 0 {
		var cpu float64
		var rss uint64
		for _, p := range st.Processes {
			cpu += p.CPUPercent
			rss += p.RSS
		}
		row("processes", "%d, %s CPU, %s RSS in all (`ps` lists them)", len(st.Processes), human.Percent(cpu), human.Bytes(rss))
		for i, p := range st.Processes {
			if i == 3 {
				row("", "…")
				break
			}
			row("", "pid %-7d %5.1f%% %9s  %s", p.PID, p.CPUPercent, human.Bytes(p.RSS), human.Cut(p.Command, 60))
		}
	}
	if st.Busy != nil {
		row("busy", "%s", st.Busy.Error())
	}
	if a := st.LastAction; a != nil {
		result := "ok"
		if !a.OK {
			result = "FAILED"
		}
		row("last action", "%s by %s %s (%s: %s)", a.Action, a.By, human.Ago(a.At, now), result, a.Result)
	}
	if r := st.Restoration; r != nil {
		row("restoration", "%s%s", bot.RestorationLine(*r, now.Location()), bot.RestorationRunNote(st, now))
	}
	if l := bot.StatusSessionsLine(st); l != "" {
		row("sessions", "%s", l)
	}
	if maint != nil {
		row("maintenance", "%s", bot.MaintenanceLine(maint, now))
	}
	if und != nil {
		row("alerts", "%s", bot.UndeliveredLine(und))
	}
}

// renderStatusHistory adds the status card's rows from the history: the
// last 24 hours, the latest incident, and the history's trouble or why it
// has no figures. Nothing for a nil card.
func renderStatusHistory(b *strings.Builder, c *bot.HistoryCard, now time.Time) {
	if c == nil {
		return
	}
	row := func(k, v string) { fmt.Fprintf(b, "  %-12s %s\n", k, v) }
	if c.Day != nil {
		row("last 24h", bot.StatusDayLine(c.Day))
		if c.Last != nil {
			row("incident", "last at "+bot.LastIncidentText(*c.Last, now))
		}
	}
	if c.Problem != "" {
		row("history", "! "+c.Problem)
	}
	if c.Health != nil {
		row("history", "! "+bot.HistoryHealthLine(c.Health, now))
	}
}

func renderLogs(b *strings.Builder, r bot.Reply) {
	l := r.Logs
	fmt.Fprintf(b, "%s, %s: %s\n", r.Service, l.Path, bot.LogsSummary(l, r.LogQuery))
	for _, line := range l.Lines {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if l.Cut > 0 {
		fmt.Fprintf(b, "(%s)\n", bot.CutLinesNote(l.Cut))
	}
	if !r.LogQuery.IncludeHealth {
		fmt.Fprintf(b, "(%s)\n", bot.HealthHiddenNote)
	}
}

func renderProcesses(b *strings.Builder, svc string, ps []manager.Process, now time.Time) {
	if len(ps) == 0 {
		fmt.Fprintf(b, "%s: no process is running\n", svc)
		return
	}
	fmt.Fprintf(b, "%s: %s\n", svc, bot.ProcessesHeadline(ps))
	fmt.Fprintf(b, "%7s %7s %6s %9s %8s  %s\n", "PID", "PPID", "CPU%", "RSS", "AGE", "COMMAND")
	for _, g := range bot.GroupProcesses(ps) {
		if g.Session != "" {
			b.WriteString(bot.ProcessGroupLine(g) + "\n")
		}
		for _, p := range g.Processes {
			fmt.Fprintf(b, "%7d %7d %6.1f %9s %8s  %s\n", p.PID, p.PPID, p.CPUPercent, human.Bytes(p.RSS),
				bot.ProcessAge(p, now), bot.ProcessWhat(p, 100))
		}
	}
}

func renderSessions(b *strings.Builder, svc string, rep *whatsapp.SessionsReport, now time.Time) {
	for _, l := range bot.SessionsText(svc, rep, now) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
}

func renderChecks(b *strings.Builder, svc string, checks []doctor.Check) {
	fmt.Fprintf(b, "%s: doctor: %s\n", svc, bot.DoctorSummary(checks))
	width := 0
	for _, c := range checks {
		width = max(width, utf8.RuneCountInString(c.Name))
	}
	pad := func(s string) string { return s + strings.Repeat(" ", width-utf8.RuneCountInString(s)) }
	for _, c := range checks {
		fmt.Fprintf(b, "  %s %s  %s\n", bot.DoctorMark(c.Verdict), pad(c.Name), c.Detail)
		if c.Hint != "" && c.Verdict != doctor.VerdictOK {
			fmt.Fprintf(b, "    %s  → %s\n", pad(""), c.Hint)
		}
	}
}

func renderOutcome(b *strings.Builder, o *bot.Outcome) {
	b.WriteString(bot.OutcomeLine(o))
	b.WriteByte('\n')
	if s := o.Start; s != nil && s.Exited && len(s.OutputTail) > 0 {
		fmt.Fprintf(b, "last output (%s):\n", s.OutputPath)
		for _, l := range s.OutputTail {
			b.WriteString("  " + l + "\n")
		}
	}
	if st := o.Stop; st != nil {
		for _, p := range st.Survivors {
			fmt.Fprintf(b, "  still alive: pid %d %s\n", p.PID, bot.ProcessWhat(p, 80))
		}
	}
	if c := o.Cleanup; c != nil {
		for _, p := range c.Survivors {
			fmt.Fprintf(b, "  still alive: pid %d %s\n", p.PID, bot.ProcessWhat(p, 80))
		}
	}
}

// renderUptime prints an uptime report: the headline and its figures in
// aligned rows, then where its chart was written (or why it was not).
func renderUptime(b *strings.Builder, r bot.Reply, chart ChartFile) {
	b.WriteString(bot.UptimeHeadline(r.Uptime) + "\n")
	facts := bot.UptimeFacts(r.Uptime)
	width := 0
	for _, f := range facts {
		width = max(width, utf8.RuneCountInString(f.Label))
	}
	for _, f := range facts {
		fmt.Fprintf(b, "  %s%s  %s\n", f.Label, strings.Repeat(" ", width-utf8.RuneCountInString(f.Label)), f.Value)
	}
	switch {
	case r.ChartFailed:
		fmt.Fprintf(b, "  (%s)\n", bot.ChartFailedNote)
	case chart.Err != nil:
		fmt.Fprintf(b, "  (%s)\n", bot.ChartNotSavedText(chart.Err.Error()))
	case chart.Path != "":
		fmt.Fprintf(b, "  %s\n", bot.ChartSavedText(chart.Path))
	}
}
