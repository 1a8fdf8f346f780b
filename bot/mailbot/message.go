package mailbot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/internal/human"
)

const (
	// subjectRunes bounds a subject: mail clients show less anyway.
	subjectRunes = 200
	// errorLines and errorLineRunes bound the log's error lines in an
	// alert (`logs` shows them whole).
	errorLines     = 20
	errorLineRunes = 1000
	// listLines bounds the lines listed (sessions of a restoration,
	// services of a digest); `sessions` lists them all.
	listLines = 200
)

// Email is one email as the outbox carries it (the delivery.Item's
// Payload): what it says, not to whom (the Sender takes the addresses from
// the configuration at send time).
type Email struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
	// MessageID is the Message-ID without its angle brackets, derived from
	// the notice's ID: the same notice is the same email.
	MessageID string `json:"message_id"`
	// InReplyTo is the Message-ID of the alert this one is about (a
	// resolution, a reminder), so that mail clients thread them; "" for
	// none.
	InReplyTo string    `json:"in_reply_to,omitempty"`
	Date      time.Time `json:"date"`
	// Attachments are files sent along (the weekly digest's PNG charts);
	// their bytes are base64 in the outbox's JSON, so they survive it.
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Attachment is a file attached to an email.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Data        []byte `json:"data"`
}

// Kind is the kind of a notice as notify.email.kinds names it
// (config.EmailKind*), and "" for the notices never sent by email
// (updates in an alert's thread, announcements of actions).
func Kind(n alerts.Notice) string {
	switch {
	case n.Restoration != nil:
		return config.EmailKindRestoration
	case n.Digest != nil: // daily or weekly
		return config.EmailKindDigest
	}
	switch n.Event.What {
	case alerts.EventMaintenanceOn, alerts.EventMaintenanceExtended, alerts.EventMaintenanceEnded:
		return config.EmailKindMaintenance
	}
	if n.Incident == nil {
		return ""
	}
	switch n.Kind {
	case alerts.DecisionOpen, alerts.DecisionGiveUp:
		return config.EmailKindAlert
	case alerts.DecisionResolve:
		return config.EmailKindResolved
	case alerts.DecisionRemind:
		return config.EmailKindReminder
	}
	return ""
}

// body is what an email says, before it is framed as text or HTML: plain
// text from package bot, escaped only by the HTML template.
type body struct {
	Headline string
	// Paragraphs follow the headline.
	Paragraphs []string
	// List is a bulleted list (sessions, services).
	List []string
	// CodeTitle heads Code, lines shown as they are (the log's).
	CodeTitle string
	Code      []string
	// Notes follow the list.
	Notes  []string
	Footer string
}

// Render is the email of notice n at now, for kind Kind(n), sent from the
// bot on host; lastErrors are the log's last error lines, shown on a new
// alert. host also makes the Message-ID. Pure: the same facts give the
// same email.
func Render(n alerts.Notice, now time.Time, host string, lastErrors []string) Email {
	return render(n, now, host, lastErrors, nil)
}

// render is Render; notes follow the body's own (a weekly digest's
// services without a chart).
func render(n alerts.Notice, now time.Time, host string, lastErrors, notes []string) Email {
	host = oneLine(host)
	kind := Kind(n)
	subject, b := compose(n, kind, now, host, lastErrors)
	b.Notes = append(b.Notes, notes...)
	b.clean()
	b.Footer = fmt.Sprintf("sanasend-bot on %s · %s · %s", host, kind, human.Clock(now, now, now.Location()))
	e := Email{
		Subject:   human.Cut(oneLine("[sanasend] "+subject), subjectRunes),
		Text:      b.text(),
		HTML:      b.html(),
		MessageID: messageID(n.ID, host),
		Date:      now,
	}
	if n.Ref != "" {
		e.InReplyTo = messageID(n.Ref, host)
	}
	return e
}

// compose is the subject and the body of n.
func compose(n alerts.Notice, kind string, now time.Time, host string, lastErrors []string) (string, body) {
	svc := n.Service
	on := " on " + host
	switch {
	case n.Restoration != nil:
		s := *n.Restoration
		b := body{Headline: bot.RestorationHeadline(svc, s, now.Location())}
		b.List, b.Notes = capList(bot.RestorationSessionLines(s, now), "session", "`sessions` lists them all")
		b.Notes = append(b.Notes, bot.RestorationFooter(s)...)
		subject := svc + " session restoration" + on
		if bot.RestorationNeedsAttention(s) {
			subject = svc + " session restoration needs attention" + on
		}
		return subject, b
	case n.Digest != nil: // daily or weekly
		title := bot.DigestNoticeTitle(n, now.Location())
		b := body{Headline: title}
		b.List, b.Notes = capList(bot.DigestLines(*n.Digest, now.Location()), "service", "")
		return title + on, b
	case kind == config.EmailKindMaintenance:
		b := body{Headline: bot.NoticeLine(n.Event, now)}
		switch n.Event.What {
		case alerts.EventMaintenanceOn:
			return svc + " is in MAINTENANCE" + on, b
		case alerts.EventMaintenanceExtended:
			return svc + " maintenance changed" + on, b
		}
		return svc + " maintenance ended" + on, b
	case n.Incident != nil:
		inc := *n.Incident
		state := bot.StateName(inc.State)
		switch n.Kind {
		case alerts.DecisionOpen:
			b := body{Headline: bot.AlertLine(inc, now)}
			if len(lastErrors) > 0 {
				b.CodeTitle = "Last error lines of the log"
				shown := lastErrors[max(0, len(lastErrors)-errorLines):]
				for _, l := range shown {
					b.Code = append(b.Code, human.Cut(l, errorLineRunes))
				}
				if len(shown) < len(lastErrors) {
					b.Notes = append(b.Notes, fmt.Sprintf("the last %d of %s shown; `logs` shows more", len(shown), human.Count(len(lastErrors), "error line")))
				}
			}
			return svc + " is " + state + on, b
		case alerts.DecisionResolve:
			b := body{Headline: bot.NoticeLine(n.Event, now)}
			return fmt.Sprintf("%s resolved%s (after %s)", svc, on, human.Duration(inc.Lasted(now))), b
		case alerts.DecisionRemind:
			b := body{Headline: bot.NoticeLine(n.Event, now), Paragraphs: []string{bot.AlertLine(inc, now)}}
			return svc + " is still " + state + on, b
		case alerts.DecisionGiveUp:
			b := body{Headline: bot.NoticeLine(n.Event, now), Paragraphs: []string{bot.AlertLine(inc, now)}}
			return svc + " is " + state + on + ": auto-restart gave up", b
		}
	}
	// Not a kind sent by email; rendered all the same for whoever asks.
	return svc + on, body{Headline: bot.NoticeLine(n.Event, now)}
}

// capList keeps at most listLines of lines, and says how many more there
// are (and where to see them) in a note.
func capList(lines []string, noun, where string) (list, notes []string) {
	if len(lines) <= listLines {
		return lines, nil
	}
	more := fmt.Sprintf("and %s more", human.Count(len(lines)-listLines, noun))
	if where != "" {
		more += ": " + where
	}
	return lines[:listLines], []string{more}
}

// messageID is the Message-ID (without <>) of the notice id sent from
// host: stable, so that a resend is the same email and a reply threads.
func messageID(id, host string) string {
	domain := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return -1
	}, host)
	if domain = strings.Trim(domain, ".-"); domain == "" {
		domain = "localhost"
	}
	local := strings.Map(func(r rune) rune {
		if r > ' ' && r < 0x7f && !strings.ContainsRune(`()<>[]:;@\,."`, r) {
			return r
		}
		return '-'
	}, id)
	return local + "@" + domain + ".sanasend-bot"
}

// oneLine keeps outside text from breaking a header: control characters
// (CR, LF, escapes) become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// clean keeps outside text from driving a terminal or a mail client:
// control characters (escapes, carriage returns) become spaces.
func (b *body) clean() {
	b.Headline = oneLine(b.Headline)
	for _, list := range [][]string{b.Paragraphs, b.List, b.Code, b.Notes} {
		for i, l := range list {
			list[i] = oneLine(l)
		}
	}
}

// text is the plain-text part.
func (b body) text() string {
	var w strings.Builder
	w.WriteString(b.Headline + "\n")
	for _, p := range b.Paragraphs {
		w.WriteString("\n" + p + "\n")
	}
	if len(b.List) > 0 {
		w.WriteString("\n")
		for _, l := range b.List {
			w.WriteString("  • " + l + "\n")
		}
	}
	if len(b.Code) > 0 {
		w.WriteString("\n" + b.CodeTitle + ":\n")
		for _, l := range b.Code {
			w.WriteString("    " + l + "\n")
		}
	}
	for _, n := range b.Notes {
		w.WriteString("\n" + n + "\n")
	}
	w.WriteString("\n-- \n" + b.Footer + "\n")
	return w.String()
}

// htmlTemplate frames a body as HTML; html/template escapes every value.
var htmlTemplate = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; font-size: 14px; color: #1d1c1d;">
<p style="font-size: 16px;"><strong>{{.Headline}}</strong></p>
{{- range .Paragraphs}}
<p>{{.}}</p>
{{- end}}
{{- if .List}}
<ul>
{{- range .List}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- if .Code}}
<p><strong>{{.CodeTitle}}</strong></p>
<pre style="background: #f6f6f6; padding: 8px; white-space: pre-wrap;">
{{- range $i, $l := .Code}}{{if $i}}
{{end}}{{$l}}{{end}}</pre>
{{- end}}
{{- range .Notes}}
<p>{{.}}</p>
{{- end}}
<p style="color: #616061; font-size: 12px;">{{.Footer}}</p>
</body></html>
`))

// html is the HTML part.
func (b body) html() string {
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, b); err != nil {
		// Not reachable: the template only prints strings.
		return "<pre>" + template.HTMLEscapeString(b.text()) + "</pre>"
	}
	return buf.String()
}

// encode is e as an Item's Payload.
func (e Email) encode() (json.RawMessage, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode email: %w", err)
	}
	return data, nil
}
