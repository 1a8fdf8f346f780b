package slackbot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/bottest"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// limitsEvil is outside text at its worst: a broadcast, a mention of
// someone else, a forged link, entities and bare ampersands, emoji (two
// UTF-16 units each), a code fence and non-ASCII letters.
const limitsEvil = "<!channel> <@U123> <https://evil.example|click> &amp; & a&b &lt; 🚀🔥 ``` über"

// limitsLine is about n bytes of outside text.
func limitsLine(i, n int) string {
	s := fmt.Sprintf("line %d %s ", i, limitsEvil)
	for len(s) < n {
		s += "& 🚀 <x> "
	}
	return s[:n-len("…")] + "…"
}

func limitsLines(count, n int) []string {
	out := make([]string, count)
	for i := range out {
		out[i] = limitsLine(i, n)
	}
	return out
}

// limitsCase is one kind of message, built from worst-case input.
type limitsCase struct {
	name string
	msg  func() Message
}

// limitsCases lists every kind of message the package sends, each fed
// worst-case input: 1,000 processes, 500 sessions, 1,000 log lines of
// 2,000 bytes, long doctor details, emoji, '&', "<!channel>" and "<@U123>"
// in every outside text. A new kind of message gets a row here.
func limitsCases() []limitsCase {
	procs := make([]manager.Process, 1000)
	for i := range procs {
		procs[i] = manager.Process{PID: int32(10000 + i), PPID: 4251, RSS: 100 << 20, CPUPercent: 1.5, Started: blocksStarted,
			Command: limitsLine(i, 2000)}
	}
	sessions := make([]whatsapp.SessionOutcome, 500)
	dirs := make([]whatsapp.AuthDir, 500)
	missing := make([]string, 500)
	locks := make([]whatsapp.ChromiumLock, 500)
	for i := range sessions {
		id := fmt.Sprintf("user_%d_%s", i, limitsEvil)
		sessions[i] = whatsapp.SessionOutcome{ID: id, Result: whatsapp.SessionFailed, Cause: limitsLine(i, 500)}
		dirs[i] = whatsapp.AuthDir{SessionID: id, HasProfile: true, Size: 1 << 20, Files: 40, ModTime: blocksNow.Add(-time.Hour)}
		missing[i] = id
		locks[i] = whatsapp.ChromiumLock{Path: "/srv/wa/" + id + "/SingletonLock", Target: limitsEvil, Why: limitsEvil}
	}
	restoration := whatsapp.Restoration{StartedAt: blocksStarted.Add(-time.Hour), Found: 500, Complete: true, Failed: 500, Total: 500,
		CompletedAt: blocksStarted, Sessions: sessions}
	checks := make([]doctor.Check, 60)
	for i := range checks {
		checks[i] = doctor.Check{Name: "check " + limitsEvil, Verdict: doctor.Verdict([]string{"ok", "warn", "fail"}[i%3]),
			Detail: limitsLine(i, 2000), Hint: limitsLine(i, 1000)}
	}
	evilActor := manager.Actor{ID: "console:" + limitsEvil, Name: limitsEvil}
	outcome := &bot.Outcome{Action: manager.ActionRestart, Service: "whatsapp", By: blocksAlice, Took: time.Minute,
		Start: &manager.StartResult{Exited: true, ExitCode: 137, OutputPath: "/srv/" + limitsEvil, OutputTail: limitsLines(1000, 2000)},
		Stop:  &manager.StopResult{WasRunning: true, Forced: true, Stopped: procs, Survivors: procs, Leftovers: procs},
		Err:   errors.New(strings.Repeat(limitsEvil, 300)),
	}
	pending := bot.Pending{Token: strings.Repeat("ab", 16), Command: bot.Command{Verb: bot.VerbRestart}, Service: limitsEvil + strings.Repeat("x", 200),
		Requester: "U0ALICE", Expires: blocksNow.Add(time.Minute)}
	help := make([]bot.HelpLine, 100)
	for i := range help {
		help[i] = bot.HelpLine{Usage: limitsEvil, Text: limitsLine(i, 500)}
	}
	status := &manager.Status{Service: "whatsapp", URL: "http://x/" + limitsEvil, State: manager.StateUnhealthy,
		Health: manager.Health{Reason: strings.Repeat(limitsEvil, 100)}, Since: blocksStarted, Uptime: 400 * 24 * time.Hour, Processes: procs,
		LastAction:  &manager.ActionRecord{Action: manager.ActionStop, By: evilActor, At: blocksStarted, Result: strings.Repeat(limitsEvil, 100)},
		Restoration: &restoration, Busy: &manager.BusyError{Service: limitsEvil, Action: manager.ActionStop, By: evilActor, Since: blocksStarted},
	}
	render := func(r bot.Reply) func() Message { return func() Message { return Render(r, blocksNow) } }
	long := strings.Repeat(limitsEvil, 1000)
	return append([]limitsCase{
		{"status", render(bot.Reply{Kind: bot.KindStatus, Service: "whatsapp", Status: status,
			Maintenance: &bot.MaintenanceWindow{Until: blocksNow.Add(time.Hour), By: evilActor, Reason: long}})},
		{"logs", render(bot.Reply{Kind: bot.KindLogs, Service: "whatsapp", LogQuery: manager.LogQuery{Lines: 1000, Filter: limitsEvil},
			Logs: &manager.LogResult{Path: "/srv/" + limitsEvil, Lines: limitsLines(1000, 2000), Cut: 1000, Searched: 5000, Exhausted: true}})},
		{"logs-none", render(bot.Reply{Kind: bot.KindLogs, Service: "whatsapp", LogQuery: manager.LogQuery{Lines: 5, Filter: limitsEvil},
			Logs: &manager.LogResult{Path: "/srv/" + limitsEvil, Searched: 44, Exhausted: true}})},
		{"ps", render(bot.Reply{Kind: bot.KindProcesses, Service: "whatsapp", Processes: procs, At: blocksNow})},
		{"sessions", render(bot.Reply{Kind: bot.KindSessions, Service: "whatsapp", Sessions: hostileSessions(restoration, dirs, locks, missing)})},
		{"doctor", render(bot.Reply{Kind: bot.KindDoctor, Service: "whatsapp", Checks: checks})},
		{"help", render(bot.Reply{Kind: bot.KindHelp, Help: help})},
		{"help-topic", render(bot.Reply{Kind: bot.KindHelp, HelpTopic: bot.VerbLogs, Help: help[:1]})},
		{"outcome", render(bot.Reply{Kind: bot.KindOutcome, Service: "whatsapp", Outcome: outcome})},
		{"confirm", render(bot.Reply{Kind: bot.KindConfirm, Confirm: &pending})},
		{"refused", render(bot.Reply{Kind: bot.KindRefused, Text: long})},
		{"maintenance-list", render(bot.Reply{Kind: bot.KindWindows, At: blocksNow, Text: strings.TrimSuffix(strings.Repeat(limitsEvil+"\n", 30), "\n"), Windows: func() []alerts.WindowInfo {
			ws := make([]alerts.WindowInfo, 500)
			for i := range ws {
				ws[i] = alerts.WindowInfo{RecurringWindow: alerts.RecurringWindow{ID: fmt.Sprint(i + 1), Every: "sun 03:00", Duration: time.Hour,
					Reason: limitsLine(i, 200), Services: []string{limitsEvil}, By: evilActor}, Next: blocksNow.Add(time.Hour)}
			}
			return ws
		}()})},
		{"usage", render(bot.Reply{Kind: bot.KindUsage, Text: long})},
		{"rejected", render(bot.Reply{Kind: bot.KindRejected, Text: long})},
		{"busy", render(bot.Reply{Kind: bot.KindBusy, Text: long, Err: status.Busy})},
		{"error", render(bot.Reply{Kind: bot.KindError, Text: long})},
		{"cancelled", render(bot.Reply{Kind: bot.KindCancelled, Text: long})},
		{"done", render(bot.Reply{Kind: bot.KindDone, Text: long})},
		{"unknown-kind", render(bot.Reply{Kind: "nonsense", Text: long})},
		{"OutcomeNotice", func() Message { return OutcomeNotice(outcome, "U0ALICE") }},
		{"OutcomeNotice-console", func() Message {
			o := *outcome
			o.By = evilActor
			return OutcomeNotice(&o, limitsEvil)
		}},
		{"Progress", func() Message { return Progress(bot.VerbRestart, limitsEvil, "U0ALICE", long) }},
		{"ConfirmClosed", func() Message { return ConfirmClosed(pending, long) }},
		{"withNote", func() Message { return withNote(Render(bot.Reply{Kind: bot.KindError, Text: long}, blocksNow), long) }},
		// A message built without the toolkit's care: raw outside text,
		// too many and too long blocks, buttons at the end. fit alone
		// must make it sendable.
		{"raw-literal", func() Message { return limitsRawMessage().fit() }},
		{"no-top-level-text", func() Message {
			return Message{Blocks: []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, "<!here> & co", false, false))}}.fit()
		}},
	}, append(alertsLimitsCases(), issue10LimitsCases()...)...) // bot/slackbot/alerts_test.go
}

// issue10LimitsCases are the rows of issue 10's messages at their worst
// (bot/bottest: 500 sessions with hostile IDs, causes of 2,000 bytes,
// 500 idle browsers) and as the goldens show them.
func issue10LimitsCases() []limitsCase {
	var out []limitsCase
	for _, tc := range append(bottest.WorstCases(), bottest.Cases()...) {
		r := tc.Reply
		out = append(out, limitsCase{tc.Name, func() Message { return Render(r, bottest.Now) }})
	}
	return out
}

// limitsRawMessage breaks every rule fit enforces.
func limitsRawMessage() Message {
	// Without "<@U123>": fit lets user mentions through, since it cannot
	// tell them from those the package builds; and without "```", whose
	// pairing it cannot know. blocksEscape handles both.
	evil := strings.NewReplacer("<@U123>", "", "```", "").Replace(limitsEvil)
	raw := strings.Repeat(evil+" ", 200)
	fields := make([]*slack.TextBlockObject, 14)
	for i := range fields {
		fields[i] = slack.NewTextBlockObject(slack.MarkdownType, raw, false, false)
	}
	elements := make([]slack.MixedElement, 15)
	for i := range elements {
		elements[i] = slack.NewTextBlockObject(slack.MarkdownType, raw, false, false)
	}
	buttons := make([]slack.BlockElement, 30)
	for i := range buttons {
		buttons[i] = slack.NewButtonBlockElement(fmt.Sprintf("a%d", i), "v", slack.NewTextBlockObject(slack.PlainTextType, raw, false, false))
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, raw, true, false)),
		slack.NewSectionBlock(nil, fields, nil),
		slack.NewContextBlock("", elements...),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "", false, false), nil, nil),
	}
	for range 60 {
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "```\n"+raw+"\n```", false, false), nil, nil))
	}
	blocks = append(blocks, slack.NewActionBlock("", buttons...))
	return Message{Text: strings.Repeat(raw, 10), Blocks: blocks}
}

func TestSlackLimits(t *testing.T) {
	for _, tc := range limitsCases() {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.msg()
			checkSlackLimits(t, m)
			// fit changes nothing more in a fitted message.
			again := m.fit()
			if a, b := limitsJSON(t, m), limitsJSON(t, again); !bytes.Equal(a, b) {
				t.Errorf("fit is not idempotent:\n%s\n%s", a, b)
			}
		})
	}
}

// TestFitKeepsButtons: a message far over every limit keeps all its
// buttons (up to Slack's 25 an actions block) and says how much it left
// out.
func TestFitKeepsButtons(t *testing.T) {
	m := limitsRawMessage().fit()
	var buttons int
	var note bool
	for _, b := range m.Blocks {
		switch b := b.(type) {
		case *slack.ActionBlock:
			buttons += len(b.Elements.ElementSet)
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if t, ok := e.(*slack.TextBlockObject); ok && strings.Contains(t.Text, "more not shown") {
					note = true
				}
			}
		}
	}
	if buttons != blocksMaxElements || !note {
		t.Errorf("fitted message has %d buttons and note %v; want %d buttons and an \"and N more\" note", buttons, note, blocksMaxElements)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a & b", "a &amp; b"},
		{"&amp; &lt; &gt; &quot;", "&amp; &lt; &gt; &amp;quot;"},
		{"<!channel> <!here> <https://x|y>", "&lt;!channel&gt; &lt;!here&gt; &lt;https://x|y&gt;"},
		{"by <@U0ALICE> in <#C0OPS>", "by <@U0ALICE> in <#C0OPS>"},
		{"<@U0ALICE|alice> <@u0alice> <@U0> <@U0ALICE", "&lt;@U0ALICE|alice&gt; &lt;@u0alice&gt; &lt;@U0&gt; &lt;@U0ALICE"},
		{"> quote", "&gt; quote"},
	}
	for _, tc := range tests {
		if got := blocksSanitize(tc.in); got != tc.want {
			t.Errorf("blocksSanitize(%q) = %q; want %q", tc.in, got, tc.want)
		}
		if got := blocksSanitize(blocksSanitize(tc.in)); got != tc.want {
			t.Errorf("blocksSanitize twice (%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// limitsPayload is what chat.postMessage and a response URL receive.
type limitsPayload struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks"`
}

func limitsJSON(t *testing.T, m Message) []byte {
	t.Helper()
	b, err := json.Marshal(limitsPayload{Text: m.Text, Blocks: m.Blocks})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// checkSlackLimits marshals m as Slack receives it and checks Slack's
// limits on the JSON: top-level text, number of blocks, section text and
// fields, headers, context elements, buttons, the block text in all; and
// that every '<', '>' and '&' of mrkdwn and of the top-level text belongs
// to an entity or to a mention of <@U0ALICE> (the only person the test
// messages mean to mention): outside text never reaches Slack unescaped.
// Lengths are counted as blocksLen counts, in UTF-16 units.
func checkSlackLimits(t *testing.T, m Message) {
	t.Helper()
	var p struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	if err := json.Unmarshal(limitsJSON(t, m), &p); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	units := func(s string) int { return len(utf16.Encode([]rune(s))) }
	mrkdwn := []string{p.Text}
	total := 0
	text := func(where string, v any, limit int, plainOnly bool) {
		t.Helper()
		obj, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: text object %T", where, v)
			return
		}
		s, _ := obj["text"].(string)
		if n := units(s); n == 0 || n > limit {
			t.Errorf("%s: %d characters; Slack takes 1 to %d: %.80q", where, n, limit, s)
		}
		total += units(s)
		switch obj["type"] {
		case "mrkdwn":
			if plainOnly {
				t.Errorf("%s: mrkdwn; Slack wants plain_text", where)
			}
			mrkdwn = append(mrkdwn, s)
		case "plain_text":
		default:
			t.Errorf("%s: text type %v", where, obj["type"])
		}
	}
	if n := units(p.Text); n == 0 || n > blocksMaxMessage {
		t.Errorf("top-level text of %d characters; want 1 to %d", n, blocksMaxMessage)
	}
	if n := len(p.Blocks); n == 0 || n > blocksMaxBlocks {
		t.Errorf("%d blocks; Slack takes 1 to %d", n, blocksMaxBlocks)
	}
	for i, b := range p.Blocks {
		where := fmt.Sprintf("block %d (%v)", i, b["type"])
		switch b["type"] {
		case "section":
			fields, _ := b["fields"].([]any)
			if b["text"] == nil && len(fields) == 0 {
				t.Errorf("%s: neither text nor fields", where)
			}
			if b["text"] != nil {
				text(where+" text", b["text"], blocksMaxText, false)
			}
			if len(fields) > blocksMaxFields {
				t.Errorf("%s: %d fields; Slack takes %d", where, len(fields), blocksMaxFields)
			}
			for j, f := range fields {
				text(fmt.Sprintf("%s field %d", where, j), f, blocksMaxField, false)
			}
			if a, ok := b["accessory"].(map[string]any); ok {
				text(where+" accessory", a["text"], blocksMaxButton, true)
			}
		case "header":
			text(where, b["text"], blocksMaxHeader, true)
		case "context":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > blocksMaxContext {
				t.Errorf("%s: %d elements; Slack takes 1 to %d", where, len(els), blocksMaxContext)
			}
			for j, e := range els {
				text(fmt.Sprintf("%s element %d", where, j), e, blocksMaxText, false)
			}
		case "actions":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > blocksMaxElements {
				t.Errorf("%s: %d elements; Slack takes 1 to %d", where, len(els), blocksMaxElements)
			}
			for j, e := range els {
				btn, _ := e.(map[string]any)
				text(fmt.Sprintf("%s button %d", where, j), btn["text"], blocksMaxButton, true)
			}
		case "divider":
		default:
			t.Errorf("%s: a block type checkSlackLimits does not know: teach it", where)
		}
	}
	if total > blocksMaxTotal {
		t.Errorf("%d characters of block text; want at most %d (msg_blocks_too_long)", total, blocksMaxTotal)
	}
	for _, s := range mrkdwn {
		rest := strings.ReplaceAll(s, "<@U0ALICE>", "")
		for _, e := range []string{"&amp;", "&lt;", "&gt;"} {
			rest = strings.ReplaceAll(rest, e, "")
		}
		if i := strings.IndexAny(rest, "<>&"); i >= 0 {
			t.Errorf("unescaped %.20q in %.120q", rest[i:], s)
		}
		if strings.Count(s, blocksCodeFence)%2 != 0 {
			t.Errorf("odd number of ``` in %.120q", s)
		}
	}
}
