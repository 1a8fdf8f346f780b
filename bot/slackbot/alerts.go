package slackbot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/manager"
)

// The alert path in Slack: the facts of package alerts, worded by package
// bot, laid out in Block Kit through this package's block helpers (which
// escape outside text and keep Slack's limits). Every function here is
// pure: the same facts and now give the same message.

const (
	// alertsErrorSections is how many code sections an alert's error lines
	// may take: one, so an alert always fits with its buttons.
	alertsErrorSections = 1
	// alertsErrorLineRunes is where an error line is cut on an alert, so
	// that several lines show (`logs` shows them whole).
	alertsErrorLineRunes = 500
	// alertsTextLines is how many session lines the top-level text of a
	// restoration summary lists.
	alertsTextLines = 10
)

// AlertMessage is the alert of an incident: its state and cause, the last
// error lines of the log (cut to fit: each line and the whole), and while it
// is open the buttons Restart (with Slack's confirm dialog; restartToken ""
// leaves it out), Logs and Acknowledge (until acknowledged). blockKey makes
// the buttons' block_id: give each post and each chat.update its own
// (the notice ID does), so Slack never sees a block_id reused by an edit.
func AlertMessage(inc alerts.Incident, now time.Time, restartToken string, lastErrors []string, blockKey string) Message {
	line := alertIcon(inc) + " " + blocksEscape(bot.AlertLine(inc, now))
	blocks := []slack.Block{blocksSection(line)}
	if inc.Open && len(lastErrors) > 0 {
		cut := make([]string, len(lastErrors))
		shortened := 0
		for i, l := range lastErrors {
			if cut[i] = human.Cut(l, alertsErrorLineRunes); cut[i] != l {
				shortened++
			}
		}
		sections, shown, fitted := blocksCodeFit(cut, alertsErrorSections, true)
		shortened = max(shortened, fitted)
		blocks = append(blocks, blocksSection("*last error lines*"))
		blocks = append(blocks, sections...)
		var notes []string
		if shown < len(lastErrors) {
			notes = append(notes, fmt.Sprintf("the last %d of %s shown; `logs` shows more", shown, human.Count(len(lastErrors), "error line")))
		}
		if shortened > 0 {
			notes = append(notes, fmt.Sprintf("%s shortened to fit; `logs` shows them whole", human.Count(shortened, "line")))
		}
		if len(notes) > 0 {
			blocks = append(blocks, blocksContext(notes...))
		}
	}
	if inc.Open {
		var buttons []slack.BlockElement
		if restartToken != "" {
			restart := blocksButton(ActionConfirm, restartToken, "Restart", slack.StyleDanger)
			restart.Confirm = slack.NewConfirmationBlockObject(
				blocksPlain(blocksCut("Restart "+inc.Service+"?", 100)),
				blocksPlain("This stops every process of the service and starts it again; WhatsApp sessions disconnect meanwhile."),
				blocksPlain("Restart"), blocksPlain("Cancel"))
			restart.Confirm.WithStyle(slack.StyleDanger)
			buttons = append(buttons, restart)
		}
		buttons = append(buttons, blocksButton(ActionLogs, inc.Service, "Logs", slack.StyleDefault))
		if inc.Acked == nil {
			buttons = append(buttons, blocksButton(ActionAck, inc.Service, "Acknowledge", slack.StyleDefault))
		}
		blocks = append(blocks, slack.NewActionBlock(alertsBlockID(blockKey), buttons...))
	}
	return Message{Text: alertsTopText(line), Blocks: blocks}.fit()
}

// alertIcon shows an incident's state at a glance.
func alertIcon(inc alerts.Incident) string {
	switch {
	case !inc.Open:
		return "✅"
	case inc.State == manager.StateUnhealthy:
		return "🟡"
	}
	return "🔴"
}

// alertsBlockID is a block_id derived from key: the same for the same
// notice (a replay from the journal), another for every other one.
func alertsBlockID(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return "alert-" + hex.EncodeToString(sum[:8])
}

// alertsTopText is the top-level text of a message: escaped already,
// within Slack's limit.
func alertsTopText(escaped string) string {
	return blocksCutMrkdwn(escaped, blocksMaxMessage)
}

// EventMessage is one fact as a message of its own: a reply in an alert's
// thread (an update, a reminder, the resolution) or an announcement in the
// channel (maintenance, an action through the bot, a restart outside it).
func EventMessage(e alerts.Event, now time.Time, inThread bool) Message {
	text := bot.NoticeLine(e, now)
	if inThread {
		text = bot.EventLine(e, now)
	}
	line := eventIcon(e) + blocksEscape(text)
	return Message{Text: alertsTopText(line), Blocks: []slack.Block{blocksSection(line)}}.fit()
}

// eventIcon marks the facts that want attention or bring relief.
func eventIcon(e alerts.Event) string {
	switch e.What {
	case alerts.EventHealed, alerts.EventActionDone:
		return "✅ "
	case alerts.EventReminder:
		return "⏰ "
	case alerts.EventGaveUp:
		return "🚨 "
	case alerts.EventAutoRestart:
		return "🔁 "
	case alerts.EventMaintenanceOn, alerts.EventMaintenanceExtended, alerts.EventMaintenanceEnded, alerts.EventNoMaintenance:
		return "🔧 "
	case alerts.EventExited, alerts.EventStateChanged, alerts.EventFailingAgain, alerts.EventExternalRestart:
		return "⚠️ "
	}
	return ""
}

// RestorationMessage is the restoration summary of a start: a headline,
// the sessions that need a person, and the browsers that serve nobody. At
// most a few sections of sessions are listed ("and N more"); when not all
// fit, the whole list goes as a file.
func RestorationMessage(service string, s alerts.RestorationSummary, now time.Time) Message {
	icon := "✅ "
	if bot.RestorationNeedsAttention(s) {
		icon = "⚠️ "
	}
	head := icon + blocksEscape(bot.RestorationHeadline(service, s, now.Location()))
	lines := bot.RestorationSessionLines(s, now)
	escaped := make([]string, len(lines))
	for i, l := range lines {
		escaped[i] = "• " + blocksEscape(l)
	}
	blocks := []slack.Block{blocksSection(head)}
	sections, shown := blocksTextFit(escaped, blocksTextSections)
	blocks = append(blocks, sections...)
	footer := bot.RestorationFooter(s)
	for _, l := range footer {
		blocks = append(blocks, blocksSection(blocksEscape(l)))
	}

	text := head
	for _, l := range escaped[:min(len(escaped), alertsTextLines)] {
		text += "\n" + l
	}
	if more := len(escaped) - min(len(escaped), alertsTextLines); more > 0 {
		text += fmt.Sprintf("\nand %d more", more)
	}
	for _, l := range footer {
		text += "\n" + blocksEscape(l)
	}
	m := Message{Text: alertsTopText(text)}
	if more := len(lines) - shown; more > 0 {
		blocks = append(blocks, blocksContext(fmt.Sprintf("and %d more: the attached file lists all %s", more, human.Count(len(lines), "session"))))
		m.Upload = &Upload{
			Filename: blocksFileName(service, "restoration"),
			Title:    bot.RestorationHeadline(service, s, now.Location()),
			Content:  strings.Join(lines, "\n") + "\n",
		}
	}
	m.Blocks = blocks
	return m.fit()
}

// DigestMessage is the daily digest: a header and a line per service.
func DigestMessage(d alerts.Digest, now time.Time) Message {
	return digestMessage("📊 "+bot.DigestTitle(d, now.Location()), d, now, nil)
}

// WeeklyDigestMessage is the weekly digest: a header, a line per service,
// and which services have no chart (noChart); the charts follow in its
// thread.
func WeeklyDigestMessage(d alerts.Digest, now time.Time, noChart []string) Message {
	var footer []slack.Block
	if l := bot.WeeklyNoChartLine(noChart); l != "" {
		footer = append(footer, blocksContext(blocksCut(blocksEscape(l), blocksMaxText)))
	}
	return digestMessage("📊 "+bot.WeeklyDigestTitle(d, now.Location()), d, now, footer)
}

// digestMessage is a digest titled title, with footer after its lines.
func digestMessage(title string, d alerts.Digest, now time.Time, footer []slack.Block) Message {
	lines := bot.DigestLines(d, now.Location())
	escaped := make([]string, len(lines))
	for i, l := range lines {
		escaped[i] = "• " + blocksEscape(l)
	}
	blocks := []slack.Block{slack.NewHeaderBlock(blocksPlain(blocksCut(title, blocksMaxHeader)))}
	sections, shown := blocksTextFit(escaped, blocksTextSections)
	blocks = append(blocks, sections...)
	if more := len(lines) - shown; more > 0 {
		blocks = append(blocks, blocksContext(fmt.Sprintf("and %s more", human.Count(more, "service"))))
	}
	blocks = append(blocks, footer...)
	return Message{Text: alertsTopText(blocksEscape(title) + "\n" + strings.Join(escaped, "\n")), Blocks: blocks}.fit()
}

// --- the notifier ----------------------------------------------------------

// AlertQueue is what the alert notifier needs of the durable outbox
// (*delivery.Outbox), the only way anything reaches the alerts channel.
type AlertQueue interface {
	Enqueue(it delivery.Item) error
}

// TokenIssuer issues the confirmation token behind an alert's Restart
// button: bound to the alert, usable once by any staff member.
type TokenIssuer interface {
	// AlertToken returns the token of the alert alertID's Restart button:
	// bound to the alert, usable once by any staff member while it is open.
	AlertToken(alertID, service string) string
	// EndAlert ends every token of the alert alertID: it was resolved.
	EndAlert(alertID string) (int, error)
}

// LogTail returns the last error lines of a service's log, for an alert.
type LogTail func(service string) []string

// AlertNotifierConfig configures an AlertNotifier.
type AlertNotifierConfig struct {
	Channel string          // the alerts channel; required
	Queue   AlertQueue      // required
	Clock   clockwork.Clock // required
	Tokens  TokenIssuer     // nil: alerts have no Restart button
	Tail    LogTail         // nil: alerts show no error lines
	// Charts draws the weekly digest's charts, one PNG per service in its
	// thread; nil: none.
	Charts bot.ChartRenderer
	Logger zerolog.Logger // failures to end a resolved alert's tokens
}

// AlertNotifier puts the monitor's notices in the outbox for the alerts
// channel: a new alert is a message with buttons; an update, reminder or
// resolution is a reply in its thread plus an edit of the alert to show
// the incident as it is now; anything else is a message of its own.
type AlertNotifier struct {
	cfg AlertNotifierConfig

	mu     sync.Mutex
	alerts map[string]alertsSeen // alert ID -> what its edits reuse
}

// alertsSeen is what an alert's edits show again: its Restart token and
// the error lines it was posted with.
type alertsSeen struct {
	token  string
	errors []string
}

var _ alerts.Notifier = (*AlertNotifier)(nil)

// NewAlertNotifier validates its configuration; it does no I/O.
func NewAlertNotifier(cfg AlertNotifierConfig) (*AlertNotifier, error) {
	switch {
	case cfg.Channel == "":
		return nil, errors.New("new alert notifier: a channel is required")
	case cfg.Queue == nil:
		return nil, errors.New("new alert notifier: an outbox is required")
	case cfg.Clock == nil:
		return nil, errors.New("new alert notifier: a clock is required")
	}
	return &AlertNotifier{cfg: cfg, alerts: map[string]alertsSeen{}}, nil
}

// alertPost is one message to enqueue: a message of its own (OpPost), a
// reply in the thread of Ref's message, an edit of it, or a file in its
// thread (OpFile).
type alertPost struct {
	ID, Ref string
	Op      delivery.Op
	Message Message
	// EditOnly: an edit that the reply before it already says, dropped
	// where the message is not in the chat (delivery.Item.EditOnly).
	EditOnly bool
}

// Notify enqueues the messages of one notice.
func (n *AlertNotifier) Notify(no alerts.Notice) error {
	for _, p := range n.posts(no) {
		if err := n.enqueue(p); err != nil {
			return fmt.Errorf("notify %s: %w", no.ID, err)
		}
	}
	return nil
}

// posts turns a notice into the messages to enqueue, in order.
func (n *AlertNotifier) posts(no alerts.Notice) []alertPost {
	now := n.cfg.Clock.Now()
	// A notice from another host names its service "host/service"
	// everywhere: in its words, its buttons and its tokens.
	no = bot.AddressedNotice(no)
	switch {
	case no.Host != nil && no.Kind == alerts.DecisionOpen:
		return []alertPost{{ID: no.ID, Op: delivery.OpPost, Message: HostMessage(no, now)}}
	case no.Host != nil && no.Ref != "":
		m := HostMessage(no, now)
		return []alertPost{
			{ID: no.ID, Ref: no.Ref, Op: delivery.OpReply, Message: m},
			{ID: no.ID + "-edit", Ref: no.Ref, Op: delivery.OpUpdate, Message: m, EditOnly: true},
		}
	case no.Host != nil:
		return []alertPost{{ID: no.ID, Op: delivery.OpPost, Message: HostMessage(no, now)}}
	case no.Incident != nil && no.Kind == alerts.DecisionOpen:
		seen := n.seen(no.ID, no.Service, true)
		return []alertPost{{ID: no.ID, Op: delivery.OpPost, Message: AlertMessage(*no.Incident, now, seen.token, seen.errors, no.ID)}}
	case no.Incident != nil && no.Ref != "":
		seen := n.seen(no.Ref, no.Service, false)
		if !no.Incident.Open {
			n.forget(no.Ref)
		}
		return []alertPost{
			{ID: no.ID, Ref: no.Ref, Op: delivery.OpReply, Message: EventMessage(no.Event, now, true)},
			// A resolved alert's card is dropped where it is not in the
			// chat (the hub that posted it died): the reply says it. An
			// open one's comes as a new card, with its buttons.
			{ID: no.ID + "-edit", Ref: no.Ref, Op: delivery.OpUpdate, EditOnly: !no.Incident.Open,
				Message: AlertMessage(*no.Incident, now, seen.token, seen.errors, no.ID+"-edit")},
		}
	case no.Restoration != nil:
		// A follow-up (the late completion of a summary that timed
		// out) is a reply in the thread of the first summary.
		m := RestorationMessage(no.Service, *no.Restoration, now)
		first := alertPost{ID: no.ID, Op: delivery.OpPost, Message: m}
		thread := no.ID
		if no.Ref != "" {
			first.Ref, first.Op, thread = no.Ref, delivery.OpReply, no.Ref
		}
		ps := []alertPost{first}
		if m.Upload != nil {
			ps = append(ps, alertPost{ID: no.ID + "-file", Ref: thread, Op: delivery.OpFile, Message: Message{Upload: m.Upload}})
			ps[0].Message.Upload = nil
		}
		return ps
	case no.Weekly != nil && no.Digest != nil:
		return n.weeklyPosts(no, now)
	case no.Digest != nil:
		return []alertPost{{ID: no.ID, Op: delivery.OpPost, Message: DigestMessage(*no.Digest, now)}}
	}
	return []alertPost{{ID: no.ID, Op: delivery.OpPost, Message: EventMessage(no.Event, now, false)}}
}

// weeklyPosts are the weekly digest's message and, in its thread, a PNG
// chart per service whose report it has; a chart that cannot be drawn is
// logged and named in the message.
func (n *AlertNotifier) weeklyPosts(no alerts.Notice, now time.Time) []alertPost {
	drawn := map[string]bool{}
	var files []alertPost
	for i, r := range no.Weekly.Reports {
		if n.cfg.Charts == nil {
			break
		}
		png, err := n.cfg.Charts.RenderUptime(r, now.Location())
		if err != nil || len(png) == 0 {
			n.cfg.Logger.Error().Err(err).Str("service", r.Service).Msg("weekly digest: chart not drawn")
			continue
		}
		drawn[r.Service] = true
		files = append(files, alertPost{ID: fmt.Sprintf("%s-chart-%d", no.ID, i), Ref: no.ID, Op: delivery.OpFile,
			Message: Message{Upload: &Upload{Filename: strings.TrimSuffix(blocksFileName(r.Service, "uptime-week"), ".txt") + ".png",
				Title: bot.WeeklyChartTitle(&r), Data: png}}})
	}
	var noChart []string
	for _, s := range no.Digest.Services {
		if !drawn[s.Service] {
			noChart = append(noChart, s.Service)
		}
	}
	return append([]alertPost{{ID: no.ID, Op: delivery.OpPost, Message: WeeklyDigestMessage(*no.Digest, now, noChart)}}, files...)
}

// seen returns what the alert alertID shows again on every edit; open
// records it when the alert is posted.
func (n *AlertNotifier) seen(alertID, service string, open bool) alertsSeen {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.alerts[alertID]; ok {
		return s
	}
	var s alertsSeen
	if n.cfg.Tokens != nil {
		s.token = n.cfg.Tokens.AlertToken(alertID, service)
	}
	if open && n.cfg.Tail != nil {
		s.errors = n.cfg.Tail(service)
	}
	n.alerts[alertID] = s
	return s
}

// forget drops what an alert's edits reuse, once it is resolved, and ends
// its Restart token: the resolved alert has no buttons, and an old copy of
// the button must not restart a healthy service.
func (n *AlertNotifier) forget(alertID string) {
	n.mu.Lock()
	delete(n.alerts, alertID)
	n.mu.Unlock()
	if n.cfg.Tokens != nil {
		if _, err := n.cfg.Tokens.EndAlert(alertID); err != nil {
			n.cfg.Logger.Error().Err(err).Str("alert", alertID).Msg("end the tokens of a resolved alert")
		}
	}
}

// enqueue puts one message in the outbox.
func (n *AlertNotifier) enqueue(p alertPost) error {
	payload, err := EncodePayload(p.Message)
	if err != nil {
		return err
	}
	return n.cfg.Queue.Enqueue(delivery.Item{ID: p.ID, Ref: p.Ref, Channel: n.cfg.Channel, Op: p.Op,
		Payload: payload, Enqueued: n.cfg.Clock.Now(), EditOnly: p.EditOnly})
}
