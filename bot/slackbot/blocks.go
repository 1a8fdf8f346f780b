package slackbot

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/manager"
)

// Message is a rendered reply, ready for chat.postMessage or a response_url.
type Message struct {
	// Text is the fallback text: notifications, screen readers, and what
	// tests grep. It is mrkdwn-escaped like the blocks: send it as is.
	Text   string
	Blocks []slack.Block
	// Ephemeral: only the requester sees it (refusals, usage errors,
	// rejected clicks).
	Ephemeral bool
	// Upload, when set, is also sent as a file: output too long for a
	// message. The message then says what it left out.
	Upload *Upload
}

// Upload is a text file to send along with a message.
type Upload struct{ Filename, Title, Content string }

// Slack's limits (https://api.slack.com/reference/block-kit/blocks) and the
// budgets this file keeps under them.
const (
	blocksMaxText       = 3000 // a section's text, a context element
	blocksMaxField      = 2000 // one field of a section
	blocksMaxHeader     = 150  // a header block's plain text
	blocksMaxButton     = 75   // a button's label
	blocksMaxFields     = 10   // fields of one section
	blocksMaxContext    = 10   // elements of one context block
	blocksMaxBlocks     = 50   // blocks of one message
	blocksCodeBudget    = 2900 // one fenced code section, fences included
	blocksCodeFence     = "```"
	blocksCodeSections  = 2  // code sections of a logs or ps reply before a file is attached
	blocksTextSections  = 4  // mrkdwn sections of one list before "N more"
	blocksStatusProcs   = 3  // processes listed on the status card
	blocksCommandRunes  = 60 // a process's command on the status card (as the console)
	blocksPSCommand     = 100
	blocksSurvivorRunes = 80
)

// Render turns a reply into a Slack message. now is the clock for ages and
// the time zone of the times shown. Render is pure: the same reply and now
// give the same message.
func Render(r bot.Reply, now time.Time) Message {
	switch r.Kind {
	case bot.KindHelp:
		return blocksHelp(r.Help)
	case bot.KindStatus:
		if r.Status != nil {
			return blocksStatus(r.Status, now)
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
	return Message{Text: blocksCutMrkdwn(line, blocksMaxText), Blocks: []slack.Block{blocksSection(line)}}
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
	return Message{Text: blocksCutMrkdwn(line, blocksMaxText), Blocks: []slack.Block{blocksSection(line)}}
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
	if what := fmt.Sprintf("%s %s", p.Command.Verb, p.Service); !strings.HasPrefix(why, what) {
		why = what + ": " + why
	}
	text := blocksEscape(why)
	return Message{
		Text: blocksCutMrkdwn(text, blocksMaxText),
		Blocks: []slack.Block{
			blocksSection("~" + blocksEscape(bot.ConfirmQuestion(&p)) + "~"),
			blocksContext("🔒 " + text),
		},
	}
}

// --- status -----------------------------------------------------------------

// blocksIndicator is the seed's green/yellow/red light.
func blocksIndicator(s manager.State) string {
	switch s {
	case manager.StateHealthy:
		return "🟢 healthy"
	case manager.StateUnhealthy:
		return "🟡 unhealthy"
	default:
		return "🔴 stopped"
	}
}

func blocksStatus(st *manager.Status, now time.Time) Message {
	loc := now.Location()
	title := st.Service + ": " + blocksIndicator(st.State)
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
		v := fmt.Sprintf("%s\nsince %s", bot.HumanDuration(st.Uptime), st.Since.In(loc).Format("2006-01-02 15:04:05"))
		if st.Adopted {
			v += "\nadopted: not started by this bot process"
		}
		field("uptime", v)
	}
	field("URL", blocksEscape(st.URL))
	if len(st.Processes) > 0 {
		var cpu float64
		var rss uint64
		for _, p := range st.Processes {
			cpu += p.CPUPercent
			rss += p.RSS
		}
		lines := []string{fmt.Sprintf("%d, %.1f%% CPU, %s RSS in all", len(st.Processes), cpu, bot.HumanBytes(rss))}
		for i, p := range st.Processes {
			if i == blocksStatusProcs {
				lines = append(lines, fmt.Sprintf("…and %d more: `ps` lists them", len(st.Processes)-i))
				break
			}
			lines = append(lines, fmt.Sprintf("pid %d · %.1f%% · %s · %s", p.PID, p.CPUPercent, bot.HumanBytes(p.RSS),
				blocksEscape(blocksCut(p.Command, blocksCommandRunes))))
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
		field("last action", fmt.Sprintf("%s by %s %s ago\n%s", a.Action, blocksName(a.By), bot.HumanDuration(now.Sub(a.At)), result))
	}
	if r := st.Restoration; r != nil {
		field("last restoration", blocksEscape(bot.RestorationLine(*r, loc)))
	}
	if st.Busy != nil {
		field("busy", blocksBusyLine(st.Busy, now, false))
	}

	section := slack.NewSectionBlock(nil, nil, nil)
	for _, f := range fields {
		section.Fields = append(section.Fields, blocksMrkdwn(blocksCut(f, blocksMaxField)))
	}
	checked := st.CheckedAt
	if checked.IsZero() {
		checked = now
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(blocksPlain(blocksCut(title, blocksMaxHeader))),
		section,
		blocksContext("checked at " + checked.In(loc).Format("15:04:05")),
		slack.NewActionBlock("",
			blocksButton(ActionRefresh, st.Service, "Refresh", slack.StyleDefault),
			blocksButton(ActionLogs, st.Service, "Logs", slack.StyleDefault),
			blocksButton(ActionRestart, st.Service, "Restart", slack.StyleDanger),
		),
	}
	return Message{Text: blocksEscape(title), Blocks: blocks}
}

// blocksBusyLine says who is doing what since when. withService prefixes
// "<service> is busy: " as the busy reply does; the status card's field
// does without.
func blocksBusyLine(b *manager.BusyError, now time.Time, withService bool) string {
	s := fmt.Sprintf("%s by %s since %s (%s ago)", b.Action, blocksName(b.By),
		b.Since.In(now.Location()).Format("15:04:05"), bot.HumanDuration(now.Sub(b.Since)))
	if withService {
		s = blocksEscape(b.Service) + " is busy: " + s
	}
	return s
}

// --- confirmation -----------------------------------------------------------

func blocksConfirm(p bot.Pending, now time.Time) Message {
	question := blocksEscape(bot.ConfirmQuestion(&p))
	expires := p.Expires.In(now.Location()).Format("15:04")
	who := "the person who asked"
	if m, ok := blocksUserMention(p.Requester); ok {
		who = m
	}
	label := fmt.Sprintf("Yes, %s %s", p.Command.Verb, p.Service)
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
			notes = append(notes, fmt.Sprintf("showing the last %d of %s of the output (`logs output` reads more)", shown, bot.Plural(len(s.OutputTail), "line")))
		}
		if shortened > 0 {
			notes = append(notes, fmt.Sprintf("%s shortened here to fit a Slack message (`logs output` shows them whole)", bot.Plural(shortened, "line")))
		}
		if len(notes) > 0 {
			blocks = append(blocks, blocksContext(notes...))
		}
	}
	if st := o.Stop; st != nil && len(st.Survivors) > 0 {
		lines := make([]string, len(st.Survivors))
		for i, p := range st.Survivors {
			lines[i] = fmt.Sprintf("still alive: pid %d %s", p.PID, blocksEscape(blocksCut(p.Command, blocksSurvivorRunes)))
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
	what := "last " + bot.Plural(len(l.Lines), "line")
	if q.Filter != "" {
		what += fmt.Sprintf(" matching %q", q.Filter)
	}
	head := fmt.Sprintf("%s: %s of %s", svc, what, l.Path)
	blocks := []slack.Block{blocksSection("*" + blocksEscape(svc) + "*: " + blocksEscape(what+" of "+l.Path))}
	var notes []string
	var upload *Upload
	text := blocksEscape(head)
	if len(l.Lines) == 0 {
		none := "no line to show"
		if q.Filter != "" {
			none = fmt.Sprintf("no line matches %q", q.Filter)
		}
		blocks = append(blocks, blocksSection("_"+blocksEscape(none)+"_"))
	} else {
		code, shown, shortened := blocksCodeFit(l.Lines, blocksCodeSections, true)
		blocks = append(blocks, code...)
		if shown < len(l.Lines) || shortened > 0 {
			upload = &Upload{
				Filename: blocksFileName(svc, "logs"),
				Title:    fmt.Sprintf("%s: %s of %s", svc, what, filepath.Base(l.Path)),
				Content:  strings.Join(l.Lines, "\n") + "\n",
			}
		}
		if shown < len(l.Lines) {
			notes = append(notes, fmt.Sprintf("showing the last %d of %s; all of them are in the attached file", shown, bot.Plural(len(l.Lines), "line")))
			text += blocksEscape(fmt.Sprintf(" (showing the last %d; all of them are in the attached file)", shown))
		}
		if shortened > 0 {
			notes = append(notes, fmt.Sprintf("%s shortened here to fit a Slack message; the attached file has them whole", bot.Plural(shortened, "line")))
		}
	}
	if l.Exhausted && len(l.Lines) < q.Lines {
		notes = append(notes, fmt.Sprintf("start of file: only %s", bot.Plural(len(l.Lines), "line")))
	}
	if l.ScanLimit {
		notes = append(notes, fmt.Sprintf("searched the last %s of the log only", bot.HumanBytes(uint64(l.Scanned))))
	}
	if l.Cut > 0 {
		notes = append(notes, fmt.Sprintf("%s cut to %d bytes when read", bot.Plural(l.Cut, "long line"), manager.MaxLineBytes))
	}
	if !q.IncludeHealth {
		notes = append(notes, "health checks hidden (`logs all` shows them)")
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
	count := bot.Plural(len(ps), "process")
	header := fmt.Sprintf("%7s %7s %6s %9s %8s  %s", "PID", "PPID", "CPU%", "RSS", "AGE", "COMMAND")
	row := func(p manager.Process, command string) string {
		age := "?"
		if !p.Started.IsZero() {
			age = bot.HumanDuration(now.Sub(p.Started))
		}
		return fmt.Sprintf("%7d %7d %6.1f %9s %8s  %s", p.PID, p.PPID, p.CPUPercent, bot.HumanBytes(p.RSS), age, command)
	}
	shownRows := []string{header}
	fileRows := []string{header}
	for _, p := range ps {
		shownRows = append(shownRows, row(p, blocksCut(p.Command, blocksPSCommand)))
		fileRows = append(fileRows, row(p, p.Command))
	}
	blocks := []slack.Block{blocksSection("*" + blocksEscape(svc) + "*: " + count)}
	code, shown, shortened := blocksCodeFit(shownRows, blocksCodeSections, false)
	blocks = append(blocks, code...)
	msg := Message{Text: blocksEscape(svc + ": " + count)}
	if shown < len(shownRows) || shortened > 0 {
		msg.Upload = &Upload{
			Filename: blocksFileName(svc, "ps"),
			Title:    svc + ": " + count,
			Content:  strings.Join(fileRows, "\n") + "\n",
		}
		var notes []string
		if shown < len(shownRows) {
			notes = append(notes, fmt.Sprintf("showing the first %d of %s; all of them are in the attached file", max(shown-1, 0), count))
		}
		if shortened > 0 {
			notes = append(notes, fmt.Sprintf("%s shortened here to fit a Slack message; the attached file has them whole", bot.Plural(shortened, "row")))
		}
		blocks = append(blocks, blocksContext(notes...))
	}
	msg.Blocks = blocks
	return msg
}

// --- sessions ---------------------------------------------------------------

func blocksSessions(svc string, rep *manager.SessionsReport, now time.Time) Message {
	loc := now.Location()
	var blocks []slack.Block
	var file []string // the whole report as plain text, for the file when something does not fit
	var notes []string
	overflow := false
	table := func(title, what string, rows []string) {
		if title != "" {
			blocks = append(blocks, blocksSection(title))
		}
		code, shown, shortened := blocksCodeFit(rows, 1, false)
		blocks = append(blocks, code...)
		for _, r := range rows {
			file = append(file, "  "+r)
		}
		if shown < len(rows) {
			overflow = true
			notes = append(notes, fmt.Sprintf("showing the first %d of %d %s; all of them are in the attached file", shown, len(rows), what))
		}
		if shortened > 0 {
			overflow = true
			notes = append(notes, fmt.Sprintf("%s of %s shortened here; the attached file has them whole", bot.Plural(shortened, "row"), what))
		}
	}

	var text string
	if rep.HaveRestoration {
		r := rep.Restoration
		line := bot.RestorationLine(r, loc)
		text = fmt.Sprintf("%s: last restoration: %s", svc, line)
		blocks = append(blocks, blocksSection(fmt.Sprintf("*%s*: last restoration: %s", blocksEscape(svc), blocksEscape(line))))
		file = append(file, text)
		if len(r.Sessions) > 0 {
			rows := make([]string, len(r.Sessions))
			for i, o := range r.Sessions {
				rows[i] = fmt.Sprintf("%-32s %s", o.ID, bot.SessionState(o))
			}
			table("", "sessions", rows)
		}
	} else {
		text = svc + ": no session restoration in the log yet"
		blocks = append(blocks, blocksSection("*"+blocksEscape(svc)+"*: no session restoration in the log yet"))
		file = append(file, text)
	}

	if len(rep.AuthDirs) == 0 {
		blocks = append(blocks, blocksSection("*auth dirs*: none"))
		file = append(file, "auth dirs: none")
	} else {
		title := fmt.Sprintf("auth dirs (%d):", len(rep.AuthDirs))
		file = append(file, title)
		rows := make([]string, len(rep.AuthDirs))
		for i, d := range rep.AuthDirs {
			note := ""
			if d.Empty {
				note = "  EMPTY"
			} else if !d.HasProfile {
				note = "  no Default/ profile"
			}
			rows[i] = fmt.Sprintf("%-32s %9s  %5d files  changed %s ago%s", d.SessionID, bot.HumanBytes(uint64(d.Size)), d.Files,
				bot.HumanDuration(now.Sub(d.ModTime)), note)
		}
		table(fmt.Sprintf("*auth dirs* (%d)", len(rep.AuthDirs)), "auth dirs", rows)
	}

	if len(rep.MissingAuth) > 0 {
		const title = "*missing auth* (a QR scan will be needed): "
		file = append(file, "missing auth (a QR scan will be needed): "+strings.Join(rep.MissingAuth, ", "))
		ids := blocksEscape(strings.Join(rep.MissingAuth, ", "))
		if blocksLen(title)+blocksLen(ids) > blocksMaxText-100 {
			// Keep whole IDs: cut at the last separator that fits.
			fit := 0
			for i := range rep.MissingAuth {
				if blocksLen(title)+blocksLen(blocksEscape(strings.Join(rep.MissingAuth[:i+1], ", "))) > blocksMaxText-100 {
					break
				}
				fit = i + 1
			}
			ids = blocksEscape(strings.Join(rep.MissingAuth[:fit], ", ")) + fmt.Sprintf(" and %d more (in the attached file)", len(rep.MissingAuth)-fit)
			overflow = true
		}
		blocks = append(blocks, blocksSection(title+ids))
	}

	if len(rep.StaleLocks) > 0 {
		file = append(file, "stale Chromium locks (`start` removes them):")
		rows := make([]string, len(rep.StaleLocks))
		for i, l := range rep.StaleLocks {
			rows[i] = fmt.Sprintf("%s -> %s (%s)", l.Path, l.Target, l.Why)
		}
		table("*stale Chromium locks* (`start` removes them)", "stale locks", rows)
	}

	msg := Message{Text: blocksEscape(text)}
	if overflow {
		msg.Upload = &Upload{Filename: blocksFileName(svc, "sessions"), Title: svc + ": sessions", Content: strings.Join(file, "\n") + "\n"}
	}
	if len(notes) > 0 {
		blocks = append(blocks, blocksContext(notes...))
	}
	msg.Blocks = blocks
	return msg
}

// --- doctor -----------------------------------------------------------------

func blocksDoctor(svc string, checks []manager.Check) Message {
	lines := []string{"*" + blocksEscape(svc) + "*: doctor"}
	count := map[manager.Verdict]int{}
	for _, c := range checks {
		count[c.Verdict]++
		mark := map[manager.Verdict]string{manager.VerdictOK: "✓", manager.VerdictWarn: "!", manager.VerdictFail: "✗"}[c.Verdict]
		if mark == "" {
			mark = "?"
		}
		line := fmt.Sprintf("%s *%s* %s", mark, blocksEscape(c.Name), blocksEscape(c.Detail))
		if c.Hint != "" && c.Verdict != manager.VerdictOK {
			line += "\n      → " + blocksEscape(c.Hint)
		}
		lines = append(lines, line)
	}
	blocks, shown := blocksTextFit(lines, blocksTextSections)
	if shown < len(lines) {
		blocks = append(blocks, blocksContext(fmt.Sprintf("%s not shown here: run `sanasend-bot check` on the host", bot.Plural(len(lines)-shown, "check"))))
	}
	text := fmt.Sprintf("%s: doctor: %d ok, %s, %d failed", svc, count[manager.VerdictOK],
		bot.Plural(count[manager.VerdictWarn], "warning"), count[manager.VerdictFail])
	return Message{Text: blocksEscape(text), Blocks: blocks}
}

// --- help -------------------------------------------------------------------

func blocksHelp(help []bot.HelpLine) Message {
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
		blocks = append(blocks, blocksContext(fmt.Sprintf("%s not shown", bot.Plural(len(lines)-shown, "command"))))
	}
	return Message{Text: blocksEscape("/sanasend commands: " + strings.Join(verbs, ", ")), Blocks: blocks}
}

// --- building blocks ----------------------------------------------------------

// blocksShort is a one-line reply.
func blocksShort(line string, ephemeral bool) Message {
	return Message{Text: blocksCutMrkdwn(line, blocksMaxText), Blocks: []slack.Block{blocksSection(line)}, Ephemeral: ephemeral}
}

// blocksEscape escapes the three characters Slack's mrkdwn gives meaning
// to, in text that comes from outside (service names, errors, log lines):
// with them escaped, no text can ping @channel, mention anyone or forge a
// link. Mentions are added by this file only, after escaping.
func blocksEscape(s string) string {
	return blocksEscaper.Replace(s)
}

var blocksEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// blocksCodeLine prepares one line for a fenced code block. Slack decodes
// &amp; &lt; &gt; inside code blocks too, and parses <...> there, so the
// line is escaped like any text. Three backticks would end the block
// early: each run of three becomes ʼʼʼ (U+02BC, which looks alike). The
// file attached to long output keeps the lines as they are.
func blocksCodeLine(s string) string {
	return strings.ReplaceAll(blocksEscape(s), blocksCodeFence, "ʼʼʼ")
}

// blocksLen counts characters as Slack does (UTF-16 code units, which is
// also never less than the runes counted by slack-go's validation).
func blocksLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// blocksCut shortens s to at most n runes, "…" included.
func blocksCut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// blocksCutEscaped shortens s so that blocksCodeLine(s) plus "…" takes at
// most n characters, cutting on a rune so no escape is split.
func blocksCutEscaped(s string, n int) string {
	var b strings.Builder
	used := 0
	for _, r := range s {
		e := blocksCodeLine(string(r))
		if used+blocksLen(e)+1 > n {
			break
		}
		b.WriteString(e)
		used += blocksLen(e)
	}
	// Escaped rune by rune: a run of three backticks is replaced here
	// (same length).
	return strings.ReplaceAll(b.String(), blocksCodeFence, "ʼʼʼ") + "…"
}

// blocksCodeFit packs rows into at most maxSections fenced code sections
// of at most blocksCodeBudget characters each. When not all fit it keeps
// the last rows (keepLast: logs, output tails) or the first (tables).
// A row too long for a section on its own is shortened to fit and ends
// with "…". It returns the sections, how many rows they show and how many
// of those were shortened; the caller says what was left out.
func blocksCodeFit(rows []string, maxSections int, keepLast bool) (sections []slack.Block, shown, shortened int) {
	const room = blocksCodeBudget - len(blocksCodeFence+"\n") - len("\n"+blocksCodeFence)
	var groups [][]string
	var cur []string
	used := 0
	for i := range rows {
		idx := i
		if keepLast {
			idx = len(rows) - 1 - i
		}
		line := blocksCodeLine(rows[idx])
		cut := false
		if blocksLen(line) > room {
			line, cut = blocksCutEscaped(rows[idx], room), true
		}
		cost := blocksLen(line)
		if len(cur) > 0 {
			cost++ // the newline before it
		}
		if used+cost > room {
			groups = append(groups, cur)
			if len(groups) == maxSections {
				cur = nil
				break
			}
			cur, used, cost = nil, 0, blocksLen(line)
		}
		cur = append(cur, line)
		used += cost
		shown++
		if cut {
			shortened++
		}
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	if keepLast {
		for i, j := 0, len(groups)-1; i < j; i, j = i+1, j-1 {
			groups[i], groups[j] = groups[j], groups[i]
		}
		for _, g := range groups {
			for i, j := 0, len(g)-1; i < j; i, j = i+1, j-1 {
				g[i], g[j] = g[j], g[i]
			}
		}
	}
	for _, g := range groups {
		sections = append(sections, blocksSection(blocksCodeFence+"\n"+strings.Join(g, "\n")+"\n"+blocksCodeFence))
	}
	return sections, shown, shortened
}

// blocksTextFit packs mrkdwn lines, already escaped, into at most
// maxSections sections, keeping the first lines; a line too long for a
// section on its own is cut. It returns the sections and how many lines
// they show.
func blocksTextFit(lines []string, maxSections int) (sections []slack.Block, shown int) {
	var cur []string
	used := 0
	for _, line := range lines {
		line = blocksCutMrkdwn(line, blocksMaxText)
		cost := blocksLen(line)
		if len(cur) > 0 {
			cost++
		}
		if used+cost > blocksMaxText {
			sections = append(sections, blocksSection(strings.Join(cur, "\n")))
			if len(sections) == maxSections {
				return sections, shown
			}
			cur, used, cost = nil, 0, blocksLen(line)
		}
		cur = append(cur, line)
		used += cost
		shown++
	}
	if len(cur) > 0 {
		sections = append(sections, blocksSection(strings.Join(cur, "\n")))
	}
	return sections, shown
}

// blocksCutMrkdwn shortens escaped mrkdwn to at most n characters without
// splitting an entity (&amp; &lt; &gt;) or a mention (<@U…>).
func blocksCutMrkdwn(s string, n int) string {
	if blocksLen(s) <= n {
		return s
	}
	cut, used := 0, 0
	for i, r := range s {
		if used+utf16.RuneLen(r)+1 > n {
			break
		}
		used += utf16.RuneLen(r)
		cut = i + utf8.RuneLen(r)
	}
	s = s[:cut]
	if amp := strings.LastIndexByte(s, '&'); amp >= 0 && !strings.Contains(s[amp:], ";") {
		s = s[:amp]
	}
	if lt := strings.LastIndexByte(s, '<'); lt >= 0 && !strings.Contains(s[lt:], ">") {
		s = s[:lt]
	}
	return s + "…"
}

// blocksSection is a mrkdwn section, its text cut to Slack's limit.
func blocksSection(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(blocksMrkdwn(blocksCutMrkdwn(text, blocksMaxText)), nil, nil)
}

// blocksContext is a context block of mrkdwn notes, at most Slack's ten.
func blocksContext(notes ...string) *slack.ContextBlock {
	if len(notes) > blocksMaxContext {
		notes = append(notes[:blocksMaxContext-1], strings.Join(notes[blocksMaxContext-1:], "; "))
	}
	elements := make([]slack.MixedElement, len(notes))
	for i, n := range notes {
		elements[i] = blocksMrkdwn(blocksCutMrkdwn(n, blocksMaxText))
	}
	return slack.NewContextBlock("", elements...)
}

// blocksMrkdwn is a mrkdwn text object. verbatim keeps Slack from linking
// bare URLs and channel names and from parsing bare mentions in text that
// came from outside; the <@U…> mentions built here still work.
func blocksMrkdwn(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, true)
}

// blocksPlain is a plain_text object: Slack parses nothing in it.
func blocksPlain(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, text, true, false)
}

func blocksButton(actionID, value, label string, style slack.Style) *slack.ButtonBlockElement {
	return slack.NewButtonBlockElement(actionID, value, blocksPlain(blocksCut(label, blocksMaxButton))).WithStyle(style)
}

// blocksUserMention returns <@id> when id looks like a Slack user ID.
func blocksUserMention(id string) (string, bool) {
	if len(id) < 3 || len(id) > 30 || (id[0] != 'U' && id[0] != 'W') {
		return "", false
	}
	for _, c := range id {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", false
		}
	}
	return "<@" + id + ">", true
}

// blocksMention shows an actor: a mention for a Slack user, the escaped
// name otherwise (console users, the bot itself). A mention notifies: it
// is for the person a message is about (their own action, their own
// prompt), never for a third party named on a status card or in a busy
// answer, who would be pinged each time someone else asks.
func blocksMention(a manager.Actor) string {
	if m, ok := blocksUserMention(a.ID); ok {
		return m
	}
	return blocksName(a)
}

// blocksName shows an actor by name, escaped, without notifying them.
func blocksName(a manager.Actor) string {
	return blocksEscape(a.String())
}

// blocksFileName is "<service>-<what>.txt" with anything but letters,
// digits, '.', '-' and '_' replaced.
func blocksFileName(svc, what string) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, svc)
	if name == "" {
		name = "service"
	}
	return name + "-" + what + ".txt"
}
