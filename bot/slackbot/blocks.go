package slackbot

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// The budgets of the replies, under Slack's limits (blockkit.go).
const (
	blocksCodeSections  = 2  // code sections of a logs or ps reply before a file is attached
	blocksTextSections  = 4  // mrkdwn sections of one list before "N more"
	blocksStatusProcs   = 3  // processes listed on the status card
	blocksCommandRunes  = 60 // a process's command on the status card (as the console)
	blocksPSCommand     = 100
	blocksSurvivorRunes = 80
)

// Render turns a reply into a Slack message, fitted to Slack's limits. now
// is the clock for ages and the time zone of the times shown. Render is
// pure: the same reply and now give the same message.
func Render(r bot.Reply, now time.Time) Message {
	return render(r, now).fit()
}

func render(r bot.Reply, now time.Time) Message {
	switch r.Kind {
	case bot.KindHelp:
		return blocksHelp(r.Help, r.HelpTopic)
	case bot.KindStatus:
		if r.Status != nil {
			return blocksStatus(r.Status, r.Maintenance, r.Undelivered, r.History, now)
		}
	case bot.KindConfirm:
		if r.Confirm != nil {
			return blocksConfirm(*r.Confirm, now)
		}
	case bot.KindOutcome:
		if r.Outcome != nil {
			return blocksOutcome(r.Outcome)
		}
	case bot.KindLogs:
		if r.Logs != nil {
			return blocksLogs(r.Service, r.Logs, r.LogQuery)
		}
	case bot.KindProcesses:
		return blocksProcesses(r.Service, r.Processes, now)
	case bot.KindSessions:
		if r.Sessions != nil {
			return blocksSessions(r.Service, r.Sessions, now)
		}
	case bot.KindDoctor:
		return blocksDoctor(r.Service, r.Checks)
	case bot.KindWindows:
		return blocksWindows(r.Windows, r.Text, now)
	case bot.KindUptime:
		if r.Uptime != nil {
			return blocksUptime(r.Uptime, r.Chart, r.ChartFailed)
		}
	case bot.KindIncidents:
		return blocksIncidents(r.Service, r.Incidents, r.Asked, now)
	case bot.KindStatusAll:
		return blocksStatusAll(r.Lines, r.Undelivered, now)
	case bot.KindHosts:
		return blocksHosts(r.Hosts, now)
	case bot.KindRefused:
		return blocksShort("⛔ "+blocksEscape(r.Text), true)
	case bot.KindUsage, bot.KindRejected:
		return blocksShort("✗ "+blocksEscape(r.Text), true)
	case bot.KindBusy:
		var busy *manager.BusyError
		if errors.As(r.Err, &busy) {
			return blocksShort("✗ "+blocksBusyLine(busy, now, true), false)
		}
		return blocksShort("✗ "+blocksEscape(r.Text), false)
	case bot.KindError:
		return blocksShort("✗ "+blocksEscape(r.Text), false)
	case bot.KindCancelled, bot.KindDone:
		return blocksShort(blocksEscape(r.Text), false)
	}
	// An unknown kind, or a kind without its field: say what there is
	// rather than post nothing.
	text := r.Text
	if text == "" {
		text = fmt.Sprintf("(%s reply with nothing to show)", r.Kind)
	}
	return blocksShort(blocksEscape(text), false)
}

// OutcomeNotice is the one-line announcement of an action in the alerts
// channel: "✓ restart whatsapp by <@U0ALICE> in 6.2s: … healthy". userID is
// the Slack user to mention; "" (or not a Slack user ID) falls back to the
// outcome's actor.
func OutcomeNotice(o *bot.Outcome, userID string) Message {
	mention := blocksMention(o.By)
	if m, ok := blocksUserMention(userID); ok {
		mention = m
	}
	line := blocksOutcomeLine(o, mention)
	return Message{Text: blocksCutMrkdwn(line, blocksMaxText), Blocks: []slack.Block{blocksSection(line)}}.fit()
}

// Progress is the message that stands for an action while it runs; the
// front end updates it in place as steps come: "⏳ restart whatsapp by
// <@U0ALICE>: stopping (SIGTERM to process group 4242)…". verb and service
// may be empty when the caller does not know them.
func Progress(verb bot.Verb, service, userID, step string) Message {
	what := strings.TrimSpace(string(verb) + " " + service)
	line := "⏳ " + blocksEscape(what)
	if m, ok := blocksUserMention(userID); ok {
		if what == "" {
			line += m
		} else {
			line += " by " + m
		}
	}
	if step = strings.TrimSpace(step); step != "" {
		if line != "⏳ " {
			line += ": "
		}
		line += blocksEscape(step)
	}
	if !strings.HasSuffix(line, "…") && !strings.HasSuffix(line, "...") {
		line += "…"
	}
	return Message{Text: blocksCutMrkdwn(line, blocksMaxText), Blocks: []slack.Block{blocksSection(line)}}.fit()
}

// ConfirmClosed replaces a confirmation prompt once it is dead (cancelled,
// expired, used) so that no live-looking button remains: the question
// stays, the buttons go, and why says what became of it ("cancelled by
// alice; nothing was done").
func ConfirmClosed(p bot.Pending, why string) Message {
	if why = strings.TrimSpace(why); why == "" {
		why = "closed"
	}
	// why often names the action already ("stop whatsapp cancelled by
	// alice"): do not say it twice.
	if what := fmt.Sprintf("%s %s", p.Command.Action(), p.Service); !strings.HasPrefix(why, what) {
		why = what + ": " + why
	}
	text := blocksEscape(why)
	return Message{
		Text: blocksCutMrkdwn(text, blocksMaxText),
		Blocks: []slack.Block{
			blocksSection("~" + blocksEscape(bot.ConfirmQuestion(&p)) + "~"),
			blocksContext("🔒 " + text),
		},
	}.fit()
}

// --- status -----------------------------------------------------------------

func blocksStatus(st *manager.Status, maint *bot.MaintenanceWindow, und *bot.Undelivered, hist *bot.HistoryCard, now time.Time) Message {
	loc := now.Location()
	title := st.Service + ": " + bot.StateLight(st.State)
	var fields []string
	field := func(name, value string) { fields = append(fields, "*"+name+"*\n"+value) }

	if st.Health.OK {
		field("health", blocksEscape(fmt.Sprintf("answered %q in %s", st.Health.Status, st.Health.Latency.Round(100*time.Microsecond))))
	} else {
		reason := st.Health.Reason
		if reason == "" {
			reason = "failing"
		}
		field("health", blocksEscape(reason))
	}
	if !st.Since.IsZero() {
		v := fmt.Sprintf("%s\nsince %s", human.Duration(st.Uptime), human.Clock(st.Since, now, loc))
		if line := bot.AdoptedLine(st); line != "" {
			v += "\n" + line
		}
		field("uptime", v)
	}
	if line := bot.ControllerLine(st); line != "" {
		field("controller", blocksEscape(line))
	}
	field("URL", blocksEscape(st.URL))
	if st.RootGone {
		field("note", blocksEscape(bot.RootGoneLine(st)))
	}
	if st.PortHolder != nil {
		field("port", "⚠️ "+blocksEscape(bot.PortHolderLine(st)))
	}
	if len(st.Processes) > 0 {
		var cpu float64
		var rss uint64
		for _, p := range st.Processes {
			cpu += p.CPUPercent
			rss += p.RSS
		}
		lines := []string{fmt.Sprintf("%d, %s CPU, %s RSS in all", len(st.Processes), human.Percent(cpu), human.Bytes(rss))}
		for i, p := range st.Processes {
			if i == blocksStatusProcs {
				lines = append(lines, fmt.Sprintf("…and %d more: `ps` lists them", len(st.Processes)-i))
				break
			}
			lines = append(lines, fmt.Sprintf("pid %d · %s · %s · %s", p.PID, human.Percent(p.CPUPercent), human.Bytes(p.RSS),
				blocksEscape(bot.ProcessWhat(p, blocksCommandRunes))))
		}
		field("processes", strings.Join(lines, "\n"))
	}
	if a := st.LastAction; a != nil {
		result := "✓ ok"
		if !a.OK {
			result = "✗ FAILED"
		}
		if a.Result != "" {
			result += ": " + blocksEscape(a.Result)
		}
		field("last action", fmt.Sprintf("%s by %s %s\n%s", a.Action, blocksName(a.By), human.Ago(a.At, now), result))
	}
	if r := st.Restoration; r != nil {
		field("last restoration", blocksEscape(bot.RestorationLine(*r, loc)+bot.RestorationRunNote(st, now)))
	}
	if l := bot.StatusSessionsLine(st); l != "" {
		field("sessions", blocksEscape(l))
	}
	if maint != nil {
		field("maintenance", blocksEscape(bot.MaintenanceLine(maint, now)))
	}
	if und != nil {
		field("alerts", "⚠️ "+blocksEscape(bot.UndeliveredLine(und)))
	}
	if st.Busy != nil {
		field("busy", blocksBusyLine(st.Busy, now, false))
	}

	section := slack.NewSectionBlock(nil, nil, nil)
	for _, f := range fields {
		section.Fields = append(section.Fields, blocksMrkdwn(blocksCutMrkdwn(f, blocksMaxField)))
	}
	checked := st.CheckedAt
	if checked.IsZero() {
		checked = now
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(blocksPlain(human.Cut(title, blocksMaxHeader))),
		section,
	}
	if hf := blocksStatusHistory(hist, now); len(hf) > 0 {
		// The history's figures: a section of their own, so that the
		// service's fields keep their room.
		hs := slack.NewSectionBlock(nil, nil, nil)
		for _, f := range hf {
			hs.Fields = append(hs.Fields, blocksMrkdwn(blocksCutMrkdwn(f, blocksMaxField)))
		}
		blocks = append(blocks, hs)
	}
	blocks = append(blocks,
		blocksContext("checked at "+human.Clock(checked, now, loc)),
		slack.NewActionBlock("",
			blocksButton(ActionRefresh, st.Service, "Refresh", slack.StyleDefault),
			blocksButton(ActionLogs, st.Service, "Logs", slack.StyleDefault),
			blocksButton(ActionRestart, st.Service, "Restart", slack.StyleDanger),
		),
	)
	return Message{Text: blocksEscape(title), Blocks: blocks}
}

// blocksBusyLine says who is doing what since when. withService prefixes
// "<service> is busy: " as the busy reply does; the status card's field
// does without.
func blocksBusyLine(b *manager.BusyError, now time.Time, withService bool) string {
	s := fmt.Sprintf("%s by %s since %s (%s)", b.Action, blocksName(b.By),
		human.Clock(b.Since, now, now.Location()), human.Ago(b.Since, now))
	if withService {
		s = blocksEscape(b.Service) + " is busy: " + s
	}
	return s
}

// --- confirmation -----------------------------------------------------------

func blocksConfirm(p bot.Pending, now time.Time) Message {
	question := blocksEscape(bot.ConfirmQuestion(&p))
	expires := human.Clock(p.Expires, now, now.Location())
	who := "the person who asked"
	if m, ok := blocksUserMention(p.Requester); ok {
		who = m
	}
	label := bot.ConfirmLabel(&p)
	return Message{
		Text: fmt.Sprintf("%s (expires at %s)", question, expires),
		Blocks: []slack.Block{
			blocksSection(fmt.Sprintf("%s\nOnly %s can confirm or cancel; expires at %s.", question, who, expires)),
			// No Slack confirm dialog: this button is the confirmation,
			// and the token behind it is bound to the requester.
			slack.NewActionBlock("",
				blocksButton(ActionConfirm, p.Token, label, slack.StyleDanger),
				blocksButton(ActionCancel, p.Token, "Cancel", slack.StyleDefault),
			),
		},
	}
}

// --- outcome ----------------------------------------------------------------

// blocksOutcomeLine is bot.OutcomeLine, escaped, with the actor shown as
// mention: the wording stays the console's because it is the console's
// function that writes it.
func blocksOutcomeLine(o *bot.Outcome, mention string) string {
	// A private-use rune cannot come from a name and survives escaping.
	const placeholder = "\uE000"
	c := *o
	c.By = manager.Actor{Name: placeholder}
	return strings.Replace(blocksEscape(bot.OutcomeLine(&c)), placeholder, mention, 1)
}

func blocksOutcome(o *bot.Outcome) Message {
	line := blocksOutcomeLine(o, blocksMention(o.By))
	blocks := []slack.Block{blocksSection(line)}
	if s := o.Start; s != nil && s.Exited && len(s.OutputTail) > 0 {
		blocks = append(blocks, blocksSection("last output ("+blocksEscape(s.OutputPath)+"):"))
		code, shown, shortened := blocksCodeFit(s.OutputTail, 1, true)
		blocks = append(blocks, code...)
		var notes []string
		if shown < len(s.OutputTail) {
			notes = append(notes, fmt.Sprintf("showing the last %d of %s of the output (`logs output` reads more)", shown, human.Count(len(s.OutputTail), "line")))
		}
		if shortened > 0 {
			notes = append(notes, fmt.Sprintf("%s shortened here to fit a Slack message (`logs output` shows them whole)", human.Count(shortened, "line")))
		}
		if len(notes) > 0 {
			blocks = append(blocks, blocksContext(notes...))
		}
	}
	var survivors []manager.Process
	if st := o.Stop; st != nil {
		survivors = st.Survivors
	}
	if c := o.Cleanup; c != nil {
		survivors = append(survivors[:len(survivors):len(survivors)], c.Survivors...)
	}
	if len(survivors) > 0 {
		lines := make([]string, len(survivors))
		for i, p := range survivors {
			lines[i] = fmt.Sprintf("still alive: pid %d %s", p.PID, blocksEscape(bot.ProcessWhat(p, blocksSurvivorRunes)))
		}
		sections, shown := blocksTextFit(lines, 1)
		blocks = append(blocks, sections...)
		if shown < len(lines) {
			blocks = append(blocks, blocksContext(fmt.Sprintf("and %d more still alive: `ps` lists them", len(lines)-shown)))
		}
	}
	return Message{Text: blocksCutMrkdwn(line, blocksMaxText), Blocks: blocks}
}

// --- logs -------------------------------------------------------------------

func blocksLogs(svc string, l *manager.LogResult, q manager.LogQuery) Message {
	summary := bot.LogsSummary(l, q)
	head := fmt.Sprintf("%s, %s: %s", svc, l.Path, summary)
	blocks := []slack.Block{blocksSection("*" + blocksEscape(svc) + "*, " + blocksEscape(l.Path+": "+summary))}
	var notes []string
	var upload *Upload
	text := blocksEscape(head)
	if len(l.Lines) > 0 {
		code, shown, shortened := blocksCodeFit(l.Lines, blocksCodeSections, true)
		blocks = append(blocks, code...)
		if shown < len(l.Lines) || shortened > 0 {
			upload = &Upload{
				Filename: blocksFileName(svc, "logs"),
				Title:    fmt.Sprintf("%s, %s: %s", svc, filepath.Base(l.Path), summary),
				Content:  strings.Join(l.Lines, "\n") + "\n",
			}
		}
		if shown < len(l.Lines) {
			notes = append(notes, fmt.Sprintf("showing the last %d of %s; all of them are in the attached file", shown, human.Count(len(l.Lines), "line")))
			text += blocksEscape(fmt.Sprintf(" (showing the last %d; all of them are in the attached file)", shown))
		}
		if shortened > 0 {
			notes = append(notes, fmt.Sprintf("%s shortened here to fit a Slack message; the attached file has them whole", human.Count(shortened, "line")))
		}
	}
	if l.Cut > 0 {
		notes = append(notes, bot.CutLinesNote(l.Cut))
	}
	if !q.IncludeHealth {
		notes = append(notes, bot.HealthHiddenNote)
	}
	if len(notes) > 0 {
		blocks = append(blocks, blocksContext(notes...))
	}
	return Message{Text: text, Blocks: blocks, Upload: upload}
}

// --- ps ---------------------------------------------------------------------

func blocksProcesses(svc string, ps []manager.Process, now time.Time) Message {
	if len(ps) == 0 {
		line := blocksEscape(svc) + ": no process is running"
		return Message{Text: line, Blocks: []slack.Block{blocksSection("*" + blocksEscape(svc) + "*: no process is running")}}
	}
	headline := bot.ProcessesHeadline(ps)
	header := fmt.Sprintf("%7s %7s %6s %9s %8s  %s", "PID", "PPID", "CPU%", "RSS", "AGE", "COMMAND")
	row := func(p manager.Process, command string) string {
		return fmt.Sprintf("%7d %7d %6.1f %9s %8s  %s", p.PID, p.PPID, p.CPUPercent, human.Bytes(p.RSS), bot.ProcessAge(p, now), command)
	}
	shownRows := []string{header}
	fileRows := []string{header}
	for _, g := range bot.GroupProcesses(ps) {
		if g.Session != "" {
			line := "── " + bot.ProcessGroupLine(g)
			shownRows = append(shownRows, line)
			fileRows = append(fileRows, line)
		}
		for _, p := range g.Processes {
			full := p.Command
			if p.Chromium != "" { // the file has room for the command too
				full = bot.ProcessWhat(p, 1000) + "  " + p.Command
			}
			shownRows = append(shownRows, row(p, bot.ProcessWhat(p, blocksPSCommand)))
			fileRows = append(fileRows, row(p, full))
		}
	}
	blocks := []slack.Block{blocksSection("*" + blocksEscape(svc) + "*: " + blocksEscape(headline))}
	code, shown, shortened := blocksCodeFit(shownRows, blocksCodeSections, false)
	blocks = append(blocks, code...)
	msg := Message{Text: blocksEscape(svc + ": " + headline)}
	if shown < len(shownRows) || shortened > 0 {
		msg.Upload = &Upload{
			Filename: blocksFileName(svc, "ps"),
			Title:    svc + ": " + headline,
			Content:  strings.Join(fileRows, "\n") + "\n",
		}
		var notes []string
		if shown < len(shownRows) {
			of := human.Count(len(ps), "process")
			if len(shownRows)-1 > len(ps) {
				of = fmt.Sprintf("%d rows (%s under their sessions)", len(shownRows)-1, of)
			}
			notes = append(notes, fmt.Sprintf("showing the first %d of %s; all of them are in the attached file", max(shown-1, 0), of))
		}
		if shortened > 0 {
			notes = append(notes, fmt.Sprintf("%s shortened here to fit a Slack message; the attached file has them whole", human.Count(shortened, "row")))
		}
		blocks = append(blocks, blocksContext(notes...))
	}
	msg.Blocks = blocks
	return msg
}

// --- sessions ---------------------------------------------------------------

func blocksSessions(svc string, rep *whatsapp.SessionsReport, now time.Time) Message {
	headline := bot.SessionsHeadline(svc, rep)
	restoration := bot.SessionsRestorationLine(rep, now)
	blocks := []slack.Block{blocksSection("*" + blocksEscape(headline) + "*\n" + blocksEscape(restoration))}
	entries := make([]string, len(rep.Sessions))
	for i, v := range rep.Sessions {
		e := "• *" + blocksEscape(v.ID) + "* " + blocksEscape(bot.SessionOutcomeWords(v, rep.StopBegan, now))
		for _, d := range bot.SessionDetails(v, now) {
			mark := "↳ "
			if v.Idle && v.Browser != nil && strings.HasPrefix(d, "browser ") {
				mark = "↳ ⚠️ "
			}
			e += "\n      " + mark + blocksEscape(d)
		}
		entries[i] = e
	}
	sections, shown := blocksTextFit(entries, blocksTextSections)
	blocks = append(blocks, sections...)

	text := headline
	var notes []string
	if idle := bot.IdleBrowsersLine(rep); idle != "" {
		blocks = append(blocks, blocksSection("⚠️ "+blocksEscape(idle)))
		text += "; " + idle
	}
	if rep.Unnamed > 0 {
		notes = append(notes, blocksEscape(bot.UnnamedLine(rep.Unnamed)))
	}
	strays := make([]string, 0, len(rep.Strays))
	for _, b := range rep.Strays {
		strays = append(strays, blocksEscape(bot.StrayLine(b)))
	}
	if len(strays) > 0 {
		ss, n := blocksTextFit(strays, 1)
		blocks = append(blocks, ss...)
		if n < len(strays) {
			notes = append(notes, fmt.Sprintf("and %d more browsers of no session: `ps` lists them", len(strays)-n))
		}
	}
	notes = append(notes, blocksEscape(bot.AuthDirsLine(rep.AuthDirs)))
	msg := Message{Text: blocksEscape(text)}
	if more := len(entries) - shown; more > 0 {
		notes = append(notes, fmt.Sprintf("showing %d of %s; all of them are in the attached file", shown, human.Count(len(entries), "session")))
		msg.Upload = &Upload{Filename: blocksFileName(svc, "sessions"), Title: svc + ": sessions",
			Content: strings.Join(bot.SessionsText(svc, rep, now), "\n") + "\n"}
	}
	blocks = append(blocks, blocksContext(notes...))
	msg.Blocks = blocks
	return msg
}

// --- doctor -----------------------------------------------------------------

func blocksDoctor(svc string, checks []doctor.Check) Message {
	lines := []string{"*" + blocksEscape(svc) + "*: doctor"}
	for _, c := range checks {
		line := fmt.Sprintf("%s *%s* %s", bot.DoctorMark(c.Verdict), blocksEscape(c.Name), blocksEscape(c.Detail))
		if c.Hint != "" && c.Verdict != doctor.VerdictOK {
			line += "\n      → " + blocksEscape(c.Hint)
		}
		lines = append(lines, line)
	}
	blocks, shown := blocksTextFit(lines, blocksTextSections)
	if shown < len(lines) {
		blocks = append(blocks, blocksContext(fmt.Sprintf("…and %d more not shown here: run `sanasend-bot check` on the host", len(lines)-shown)))
	}
	text := fmt.Sprintf("%s: doctor: %s", svc, bot.DoctorSummary(checks))
	return Message{Text: blocksEscape(text), Blocks: blocks}
}

// --- maintenance list -------------------------------------------------------

// blocksWindows is `maintenance list`: a headline and one line per
// recurring window, "…and N more" past the budget.
// blocksWindows is `maintenance list`; notes (lines) say whose windows
// are missing from it.
func blocksWindows(ws []alerts.WindowInfo, notes string, now time.Time) Message {
	head := "🔧 " + blocksEscape(bot.WindowsHeadline(ws))
	lines := []string{head}
	for _, w := range ws {
		lines = append(lines, "• "+blocksEscape(bot.WindowLine(w, now)))
	}
	blocks, shown := blocksTextFit(lines, blocksTextSections)
	if shown < len(lines) {
		blocks = append(blocks, blocksContext(fmt.Sprintf("…and %d more not shown here", len(lines)-shown)))
	}
	if notes != "" {
		var ns []string
		for _, n := range strings.Split(notes, "\n") {
			ns = append(ns, "⚠️ "+blocksEscape(n))
		}
		blocks = append(blocks, blocksContext(ns...))
	}
	return Message{Text: head, Blocks: blocks}
}

// --- help -------------------------------------------------------------------

func blocksHelp(help []bot.HelpLine, topic bot.Verb) Message {
	if topic != "" && len(help) == 1 {
		h := help[0]
		line := fmt.Sprintf("*usage*: `/sanasend %s`\n%s", blocksEscape(h.Usage), blocksEscape(h.Text))
		return Message{Text: blocksEscape("/sanasend " + h.Usage), Blocks: []slack.Block{blocksSection(line)}}
	}
	lines := []string{"*`/sanasend` commands*"}
	verbs := make([]string, 0, len(help))
	for _, h := range help {
		lines = append(lines, fmt.Sprintf("`%s` %s", blocksEscape(h.Usage), blocksEscape(h.Text)))
		if f := strings.Fields(h.Usage); len(f) > 0 {
			verbs = append(verbs, f[0])
		}
	}
	blocks, shown := blocksTextFit(lines, blocksTextSections)
	if shown < len(lines) {
		blocks = append(blocks, blocksContext(fmt.Sprintf("…and %d more not shown", len(lines)-shown)))
	}
	return Message{Text: blocksEscape("/sanasend commands: " + strings.Join(verbs, ", ")), Blocks: blocks}
}
