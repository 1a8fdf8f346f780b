package slackbot

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/manager"
)

// The Block Kit toolkit: the one place that knows Slack's limits and
// escaping. Every message the package sends, replies and alerts alike, is
// built with these helpers and passes Message.fit on its way out.

// Message is a rendered message, ready for chat.postMessage or a
// response_url.
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

// Upload is a file to send along with a message: text in Content, or
// binary (a PNG chart) in Data, which wins when set. In the outbox's JSON
// Data is base64, so its bytes survive the journal (a string holding a PNG
// would not: JSON replaces invalid UTF-8); items queued before Data existed
// still decode, with Content.
type Upload struct {
	Filename, Title, Content string
	Data                     []byte `json:",omitempty"`
}

// file fills p's file: Data as a reader, else Content.
func (u *Upload) file(p slack.UploadFileParameters) slack.UploadFileParameters {
	p.Filename, p.Title = u.Filename, u.Title
	if len(u.Data) > 0 {
		p.Reader, p.FileSize = bytes.NewReader(u.Data), len(u.Data)
		return p
	}
	p.Content, p.FileSize = u.Content, len(u.Content)
	return p
}

// Slack's documented limits (https://api.slack.com/reference/block-kit/blocks,
// .../composition-objects#text, chat.postMessage's text), counted as
// blocksLen counts, and the budgets this package keeps under them.
const (
	blocksMaxText     = 3000  // a section's text, a context element
	blocksMaxField    = 2000  // one field of a section
	blocksMaxHeader   = 150   // a header block's plain text
	blocksMaxButton   = 75    // a button's label
	blocksMaxFields   = 10    // fields of one section
	blocksMaxContext  = 10    // elements of one context block
	blocksMaxElements = 25    // elements of one actions block
	blocksMaxBlocks   = 50    // blocks of one message
	blocksMaxMessage  = 40000 // a message's top-level text; Slack truncates beyond
	// blocksMaxTotal bounds the text of all the blocks of one message.
	// Slack documents no such limit, but chat.postMessage answers
	// msg_blocks_too_long from about 12,000 characters of block text
	// (slackapi/bolt-js#2509, #2867): stay under it.
	blocksMaxTotal   = 11000
	blocksCodeBudget = 2900 // one fenced code section, fences included
	blocksCodeFence  = "```"
)

// fit is the last step of every outgoing message: it enforces Slack's
// limits on what the builders made, whoever made it, and makes sure that no
// '<', '>' or '&' reaches Slack unescaped except in an entity (&amp; &lt;
// &gt;), a user mention (<@U…>) or a channel link (<#C…>) — neither can
// ping a channel or forge a link. Text already escaped by blocksEscape is
// left as it is, so fit can run more than once: fit(fit(m)) == fit(m).
//
// What does not fit is cut with "…", or, for whole blocks, fields and
// context elements, replaced by "…and N more". Action blocks (buttons) are
// kept before any other block. plain_text objects (headers, buttons) are
// not parsed by Slack and are only cut. The blocks are copied, never
// changed in place.
func (m Message) fit() Message {
	var blocks []slack.Block
	for _, b := range m.Blocks {
		if b = blocksFitBlock(b); b != nil {
			blocks = append(blocks, b)
		}
	}
	blocks = blocksFitTotal(blocks)
	if len(blocks) > blocksMaxBlocks || blocksTotal(blocks) > blocksMaxTotal {
		blocks = blocksFitCount(blocks)
	}
	m.Blocks = blocks

	m.Text = blocksSanitize(m.Text)
	if strings.TrimSpace(m.Text) == "" {
		m.Text = blocksFallback(blocks)
	}
	m.Text = blocksCutMrkdwn(m.Text, blocksMaxMessage)
	return m
}

// blocksFitBlock fits one block: a copy, or nil for a block with nothing
// to show.
func blocksFitBlock(b slack.Block) slack.Block {
	switch b := b.(type) {
	case *slack.SectionBlock:
		c := *b
		c.Text = blocksFitText(c.Text, blocksMaxText)
		if len(c.Fields) > blocksMaxFields {
			more := len(c.Fields) - (blocksMaxFields - 1)
			c.Fields = append(c.Fields[:blocksMaxFields-1:blocksMaxFields-1], blocksMrkdwn(fmt.Sprintf("…and %d more", more)))
		}
		fields := make([]*slack.TextBlockObject, 0, len(c.Fields))
		for _, f := range c.Fields {
			if f = blocksFitText(f, blocksMaxField); f != nil {
				fields = append(fields, f)
			}
		}
		c.Fields = fields
		if len(c.Fields) == 0 {
			c.Fields = nil
		}
		if a := c.Accessory; a != nil && a.ButtonElement != nil {
			btn := *a.ButtonElement
			btn.Text = blocksFitText(btn.Text, blocksMaxButton)
			c.Accessory = &slack.Accessory{ButtonElement: &btn}
		}
		if c.Text == nil && c.Fields == nil {
			return nil
		}
		return &c
	case *slack.HeaderBlock:
		c := *b
		if c.Text = blocksFitText(c.Text, blocksMaxHeader); c.Text == nil {
			return nil
		}
		return &c
	case *slack.ContextBlock:
		els := b.ContextElements.Elements
		if len(els) > blocksMaxContext {
			more := len(els) - (blocksMaxContext - 1)
			els = append(els[:blocksMaxContext-1:blocksMaxContext-1], blocksMrkdwn(fmt.Sprintf("…and %d more", more)))
		}
		out := make([]slack.MixedElement, 0, len(els))
		for _, e := range els {
			if t, ok := e.(*slack.TextBlockObject); ok {
				if t = blocksFitText(t, blocksMaxText); t == nil {
					continue
				}
				e = t
			}
			out = append(out, e)
		}
		if len(out) == 0 {
			return nil
		}
		return slack.NewContextBlock(b.BlockID, out...)
	case *slack.ActionBlock:
		if b.Elements == nil || len(b.Elements.ElementSet) == 0 {
			return nil
		}
		els := b.Elements.ElementSet
		if len(els) > blocksMaxElements {
			els = els[:blocksMaxElements]
		}
		out := make([]slack.BlockElement, len(els))
		for i, e := range els {
			if btn, ok := e.(*slack.ButtonBlockElement); ok {
				c := *btn
				c.Text = blocksFitText(c.Text, blocksMaxButton)
				e = &c
			}
			out[i] = e
		}
		return slack.NewActionBlock(b.BlockID, out...)
	}
	return b
}

// blocksFitText is a copy of t, sanitised when it is mrkdwn, cut to limit;
// nil when t is nil or empty.
func blocksFitText(t *slack.TextBlockObject, limit int) *slack.TextBlockObject {
	if t == nil || strings.TrimSpace(t.Text) == "" {
		return nil
	}
	c := *t
	if c.Type == slack.MarkdownType {
		c.Text = blocksCutCode(blocksSanitize(c.Text), limit)
	} else if blocksLen(c.Text) > limit {
		c.Text = blocksCutUnits(c.Text, limit-1) + human.Ellipsis
	}
	return &c
}

// blocksFitTotal shortens the longest mrkdwn texts until all the block text
// of the message fits blocksMaxTotal.
func blocksFitTotal(blocks []slack.Block) []slack.Block {
	var texts []*slack.TextBlockObject // the copies made by blocksFitBlock
	total := 0
	for _, b := range blocks {
		for _, t := range blocksTextObjects(b) {
			total += blocksLen(t.Text)
			if t.Type == slack.MarkdownType {
				texts = append(texts, t)
			}
		}
	}
	for total > blocksMaxTotal {
		var longest *slack.TextBlockObject
		for _, t := range texts {
			if longest == nil || blocksLen(t.Text) > blocksLen(longest.Text) {
				longest = t
			}
		}
		n := blocksLen(longest.Text)
		if n <= 200 {
			break // nothing worth cutting is left; the count of blocks is bounded too
		}
		want := max(n-(total-blocksMaxTotal), n/2, 200)
		longest.Text = blocksCutCode(longest.Text, want)
		total -= n - blocksLen(longest.Text)
	}
	return blocks
}

// blocksTextObjects lists the text objects of a block fitted by
// blocksFitBlock, buttons' labels included.
func blocksTextObjects(b slack.Block) []*slack.TextBlockObject {
	var out []*slack.TextBlockObject
	switch b := b.(type) {
	case *slack.SectionBlock:
		if b.Text != nil {
			out = append(out, b.Text)
		}
		out = append(out, b.Fields...)
		if a := b.Accessory; a != nil && a.ButtonElement != nil && a.ButtonElement.Text != nil {
			out = append(out, a.ButtonElement.Text)
		}
	case *slack.HeaderBlock:
		out = append(out, b.Text)
	case *slack.ContextBlock:
		for _, e := range b.ContextElements.Elements {
			if t, ok := e.(*slack.TextBlockObject); ok {
				out = append(out, t)
			}
		}
	case *slack.ActionBlock:
		for _, e := range b.Elements.ElementSet {
			if btn, ok := e.(*slack.ButtonBlockElement); ok && btn.Text != nil {
				out = append(out, btn.Text)
			}
		}
	}
	return out
}

// blocksTotal is the length of all the text of blocks.
func blocksTotal(blocks []slack.Block) int {
	n := 0
	for _, b := range blocks {
		for _, t := range blocksTextObjects(b) {
			n += blocksLen(t.Text)
		}
	}
	return n
}

// blocksFitCount drops the last blocks but the action blocks until what is
// left, and a note of how many were left out, fits blocksMaxBlocks and
// blocksMaxTotal.
func blocksFitCount(blocks []slack.Block) []slack.Block {
	const noteRoom = 200
	out := append([]slack.Block(nil), blocks...)
	total := blocksTotal(out)
	dropped := 0
	for len(out) > blocksMaxBlocks-1 || total > blocksMaxTotal-noteRoom {
		i := len(out) - 1
		for ; i >= 0; i-- {
			if _, ok := out[i].(*slack.ActionBlock); !ok {
				break
			}
		}
		if i < 0 {
			break
		}
		total -= blocksTotal(out[i : i+1])
		out = append(out[:i], out[i+1:]...)
		dropped++
	}
	if len(out) > blocksMaxBlocks-1 {
		out = out[:blocksMaxBlocks-1]
	}
	return append(out, blocksContext(fmt.Sprintf("…and %d more not shown: too long for one Slack message", dropped)))
}

// blocksFallback makes a top-level text from the first text of the blocks.
func blocksFallback(blocks []slack.Block) string {
	for _, b := range blocks {
		if texts := blocksTextObjects(b); len(texts) > 0 {
			s := texts[0].Text
			if texts[0].Type != slack.MarkdownType {
				s = blocksEscape(s)
			}
			return blocksCutMrkdwn(s, blocksMaxText)
		}
	}
	return "(empty message)"
}

// blocksSanitize escapes every '<', '>' and '&' of s that does not belong to
// an entity (&amp; &lt; &gt;), a user mention (<@U…>, <@W…>) or a channel
// link (<#C…>): what blocksEscape leaves, and the mentions this package
// builds. It is idempotent.
func blocksSanitize(s string) string {
	if !strings.ContainsAny(s, "<>&") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&':
			if e := blocksEntityAt(s[i:]); e > 0 {
				b.WriteString(s[i : i+e])
				i += e - 1
				continue
			}
			b.WriteString("&amp;")
		case '<':
			if n := blocksMentionAt(s[i:]); n > 0 {
				b.WriteString(s[i : i+n])
				i += n - 1
				continue
			}
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// blocksEntityAt is the length of the entity s starts with, or 0.
func blocksEntityAt(s string) int {
	for _, e := range []string{"&amp;", "&lt;", "&gt;"} {
		if strings.HasPrefix(s, e) {
			return len(e)
		}
	}
	return 0
}

// blocksMentionAt is the length of the user mention or channel link s
// starts with ("<@U0ALICE>", "<#C0OPS>"), or 0.
func blocksMentionAt(s string) int {
	if len(s) < 4 || s[0] != '<' || !(s[1] == '@' && (s[2] == 'U' || s[2] == 'W') || s[1] == '#' && s[2] == 'C') {
		return 0
	}
	for i := 3; i < len(s) && i < 40; i++ {
		c := s[i]
		switch {
		case c == '>' && i > 4:
			return i + 1
		case c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
		default:
			return 0
		}
	}
	return 0
}

// blocksShort is a one-line reply.
func blocksShort(line string, ephemeral bool) Message {
	return Message{Text: blocksCutMrkdwn(line, blocksMaxText), Blocks: []slack.Block{blocksSection(line)}, Ephemeral: ephemeral}
}

// blocksEscape escapes the three characters Slack's mrkdwn gives meaning
// to, in text that comes from outside (service names, errors, log lines):
// with them escaped, no text can ping @channel, mention anyone or forge a
// link. Mentions are added by this package only, after escaping. Runs of
// three backticks are broken too, so outside text cannot open a code block.
func blocksEscape(s string) string {
	return blocksEscaper.Replace(s)
}

// Three backticks would open or close a code block and swallow the rest of
// the text: each run of three becomes ʼʼʼ (U+02BC, which looks alike).
var blocksEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", blocksCodeFence, "ʼʼʼ")

// blocksCodeLine prepares one line for a fenced code block. Slack decodes
// &amp; &lt; &gt; inside code blocks too, and parses <...> there, so the
// line is escaped like any text. Three backticks would end the block
// early: each run of three becomes ʼʼʼ (U+02BC, which looks alike). The
// file attached to long output keeps the lines as they are.
func blocksCodeLine(s string) string {
	return blocksEscape(s)
}

// blocksLen counts characters as Slack counts them for its limits. Slack's
// documentation says "characters" and does not define them; this counts
// UTF-16 code units, as JavaScript's String.length does (Slack's clients
// and Block Kit Builder): the same as characters for text in the Basic
// Multilingual Plane, and 2 for an emoji or any rune beyond it, so it is
// never less than a count of code points either. Entities count as sent
// ("&amp;" is 5).
func blocksLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// blocksCutUnits is the longest prefix of s, cut on a rune, of at most n
// UTF-16 code units.
func blocksCutUnits(s string, n int) string {
	used := 0
	for i, r := range s {
		if used+utf16.RuneLen(r) > n {
			return s[:i]
		}
		used += utf16.RuneLen(r)
	}
	return s
}

// blocksCut shortens s to at most n runes, "…" included (human.Cut).
func blocksCut(s string, n int) string { return human.Cut(s, n) }

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
	return strings.ReplaceAll(b.String(), blocksCodeFence, "ʼʼʼ") + human.Ellipsis
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
	s = blocksCutUnits(s, n-1)
	if amp := strings.LastIndexByte(s, '&'); amp >= 0 && !strings.Contains(s[amp:], ";") {
		s = s[:amp]
	}
	if lt := strings.LastIndexByte(s, '<'); lt >= 0 && !strings.Contains(s[lt:], ">") {
		s = s[:lt]
	}
	return s + human.Ellipsis
}

// blocksCutCode is blocksCutMrkdwn that keeps a fenced code section fenced:
// its lines are cut, and the closing fence stays.
func blocksCutCode(s string, n int) string {
	if blocksLen(s) <= n {
		return s
	}
	const open, closing = blocksCodeFence + "\n", "\n" + blocksCodeFence
	if !strings.HasPrefix(s, open) || !strings.HasSuffix(s, closing) || n < len(open+closing)+2 {
		return blocksCutMrkdwn(s, n)
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(s, open), closing)
	return open + blocksCutMrkdwn(inner, n-len(open+closing)) + closing
}

// blocksSection is a mrkdwn section, its text cut to Slack's limit.
func blocksSection(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(blocksMrkdwn(blocksCutMrkdwn(text, blocksMaxText)), nil, nil)
}

// blocksContext is a context block of mrkdwn notes, at most Slack's ten.
func blocksContext(notes ...string) *slack.ContextBlock {
	if len(notes) > blocksMaxContext {
		notes = append(notes[:blocksMaxContext-1:blocksMaxContext-1], strings.Join(notes[blocksMaxContext-1:], "; "))
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
	return slack.NewButtonBlockElement(actionID, value, blocksPlain(human.Cut(label, blocksMaxButton))).WithStyle(style)
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
