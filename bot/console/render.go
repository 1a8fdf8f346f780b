package console

import (
	"fmt"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/manager"
)

// Render turns a reply into terminal text. now is the clock for ages.
func Render(r bot.Reply, now time.Time) string {
	var b strings.Builder
	switch r.Kind {
	case bot.KindHelp:
		b.WriteString("Commands:\n")
		for _, h := range r.Help {
			fmt.Fprintf(&b, "  %-36s %s\n", h.Usage, h.Text)
		}
		b.WriteString("  quit                                 leave the console\n")
	case bot.KindStatus:
		renderStatus(&b, r.Status, now)
	case bot.KindLogs:
		renderLogs(&b, r)
	case bot.KindProcesses:
		renderProcesses(&b, r.Service, r.Processes, now)
	case bot.KindSessions:
		renderSessions(&b, r.Service, r.Sessions, now)
	case bot.KindDoctor:
		renderChecks(&b, r.Service, r.Checks)
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

func indicator(s manager.State) string {
	switch s {
	case manager.StateHealthy:
		return "🟢 healthy"
	case manager.StateUnhealthy:
		return "🟡 UNHEALTHY"
	default:
		return "🔴 STOPPED"
	}
}

func renderStatus(b *strings.Builder, st *manager.Status, now time.Time) {
	fmt.Fprintf(b, "%s: %s\n", st.Service, indicator(st.State))
	row := func(k, format string, a ...any) { fmt.Fprintf(b, "  %-12s %s\n", k, fmt.Sprintf(format, a...)) }
	switch {
	case st.Health.OK:
		row("health", "%s answered %q in %s", st.URL+"/health", st.Health.Status, st.Health.Latency.Round(100*time.Microsecond))
	default:
		row("health", "%s: %s", st.URL+"/health", st.Health.Reason)
	}
	if !st.Since.IsZero() {
		who := ""
		if st.Adopted {
			who = ", adopted: not started by this bot process"
		}
		row("uptime", "%s (since %s%s)", bot.HumanDuration(st.Uptime), st.Since.In(now.Location()).Format("2006-01-02 15:04:05"), who)
	}
	if len(st.Processes) > 0 {
		var cpu float64
		var rss uint64
		for _, p := range st.Processes {
			cpu += p.CPUPercent
			rss += p.RSS
		}
		row("processes", "%d, %.1f%% CPU, %s RSS in all (`ps` lists them)", len(st.Processes), cpu, bot.HumanBytes(rss))
		for i, p := range st.Processes {
			if i == 3 {
				row("", "…")
				break
			}
			row("", "pid %-7d %5.1f%% %9s  %s", p.PID, p.CPUPercent, bot.HumanBytes(p.RSS), cutText(p.Command, 60))
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
		row("last action", "%s by %s %s ago (%s: %s)", a.Action, a.By, bot.HumanDuration(now.Sub(a.At)), result, a.Result)
	}
	if r := st.Restoration; r != nil {
		row("restoration", "%s", bot.RestorationLine(*r, now.Location()))
	}
}

func renderLogs(b *strings.Builder, r bot.Reply) {
	l := r.Logs
	what := fmt.Sprintf("last %d lines", len(l.Lines))
	if r.LogQuery.Filter != "" {
		what += fmt.Sprintf(" matching %q", r.LogQuery.Filter)
	}
	if !r.LogQuery.IncludeHealth {
		what += ", health checks hidden (`logs all` shows them)"
	}
	fmt.Fprintf(b, "%s: %s of %s\n", r.Service, what, l.Path)
	for _, line := range l.Lines {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if l.Exhausted && len(l.Lines) < r.LogQuery.Lines {
		fmt.Fprintf(b, "(start of file: only %s)\n", bot.Plural(len(l.Lines), "line"))
	}
	if l.ScanLimit {
		fmt.Fprintf(b, "(searched the last %s of the log only)\n", bot.HumanBytes(uint64(l.Scanned)))
	}
	if l.Cut > 0 {
		fmt.Fprintf(b, "(%s cut to %d bytes)\n", bot.Plural(l.Cut, "long line"), manager.MaxLineBytes)
	}
}

func renderProcesses(b *strings.Builder, svc string, ps []manager.Process, now time.Time) {
	if len(ps) == 0 {
		fmt.Fprintf(b, "%s: no process is running\n", svc)
		return
	}
	fmt.Fprintf(b, "%s: %s\n", svc, bot.Plural(len(ps), "process"))
	fmt.Fprintf(b, "%7s %7s %6s %9s %8s  %s\n", "PID", "PPID", "CPU%", "RSS", "AGE", "COMMAND")
	for _, p := range ps {
		fmt.Fprintf(b, "%7d %7d %6.1f %9s %8s  %s\n", p.PID, p.PPID, p.CPUPercent, bot.HumanBytes(p.RSS),
			bot.HumanDuration(now.Sub(p.Started)), cutText(p.Command, 100))
	}
}

func renderSessions(b *strings.Builder, svc string, rep *manager.SessionsReport, now time.Time) {
	if rep.HaveRestoration {
		r := rep.Restoration
		fmt.Fprintf(b, "%s: last restoration: %s\n", svc, bot.RestorationLine(r, now.Location()))
		for _, o := range r.Sessions {
			fmt.Fprintf(b, "  %-32s %s\n", o.ID, bot.SessionState(o))
		}
	} else {
		fmt.Fprintf(b, "%s: no session restoration in the log yet\n", svc)
	}
	if len(rep.AuthDirs) == 0 {
		b.WriteString("auth dirs: none\n")
	} else {
		fmt.Fprintf(b, "auth dirs (%d):\n", len(rep.AuthDirs))
		for _, d := range rep.AuthDirs {
			note := ""
			if d.Empty {
				note = "  EMPTY"
			} else if !d.HasProfile {
				note = "  no Default/ profile"
			}
			fmt.Fprintf(b, "  %-32s %9s  %5d files  changed %s ago%s\n", d.SessionID, bot.HumanBytes(uint64(d.Size)), d.Files,
				bot.HumanDuration(now.Sub(d.ModTime)), note)
		}
	}
	if len(rep.MissingAuth) > 0 {
		fmt.Fprintf(b, "missing auth (a QR scan will be needed): %s\n", strings.Join(rep.MissingAuth, ", "))
	}
	if len(rep.StaleLocks) > 0 {
		fmt.Fprintf(b, "stale Chromium locks (`start` removes them):\n")
		for _, l := range rep.StaleLocks {
			fmt.Fprintf(b, "  %s -> %s (%s)\n", l.Path, l.Target, l.Why)
		}
	}
}

func renderChecks(b *strings.Builder, svc string, checks []manager.Check) {
	fmt.Fprintf(b, "%s: doctor\n", svc)
	for _, c := range checks {
		mark := map[manager.Verdict]string{manager.VerdictOK: "✓", manager.VerdictWarn: "!", manager.VerdictFail: "✗"}[c.Verdict]
		fmt.Fprintf(b, "  %s %-16s %s\n", mark, c.Name, c.Detail)
		if c.Hint != "" && c.Verdict != manager.VerdictOK {
			fmt.Fprintf(b, "    %-16s → %s\n", "", c.Hint)
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
			fmt.Fprintf(b, "  still alive: pid %d %s\n", p.PID, cutText(p.Command, 80))
		}
	}
}

func cutText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
