package console

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/internal/human"
)

// alertsMaxSessions is how many sessions a restoration summary lists in
// the console; `sessions` lists them all.
const alertsMaxSessions = 20

// AlertLines are the lines the console prints for one notice of the
// monitor: the same facts and sentences as Slack, as plain text, each line
// starting with the time of day. None for an action through the bot with
// no open alert: whoever typed it sees its outcome already.
func AlertLines(n alerts.Notice, now time.Time) []string {
	stamp := "[" + human.Clock(now, now, now.Location()) + "] "
	n = bot.AddressedNotice(n)
	var lines []string
	switch {
	case n.Host != nil && (n.Kind == alerts.DecisionResolve || !n.Host.Back.IsZero()):
		lines = []string{"RESOLVED " + bot.HostNoticeLine(n, now)}
	case n.Host != nil:
		lines = []string{"ALERT " + bot.HostNoticeLine(n, now)}
	case n.Event.What == alerts.EventActionBegun && n.Incident == nil:
		return nil
	case n.Incident != nil && n.Kind == alerts.DecisionOpen:
		lines = []string{"ALERT " + bot.AlertLine(*n.Incident, now)}
	case n.Restoration != nil:
		label := "RESTORATION "
		if bot.RestorationNeedsAttention(*n.Restoration) {
			label = "RESTORATION ⚠ "
		}
		lines = []string{label + bot.RestorationHeadline(n.Service, *n.Restoration, now.Location())}
		sessions := bot.RestorationSessionLines(*n.Restoration, now)
		for _, l := range sessions[:min(len(sessions), alertsMaxSessions)] {
			lines = append(lines, "  • "+l)
		}
		if more := len(sessions) - alertsMaxSessions; more > 0 {
			lines = append(lines, fmt.Sprintf("  and %d more (`sessions` lists them all)", more))
		}
		for _, l := range bot.RestorationFooter(*n.Restoration) {
			lines = append(lines, "  "+l)
		}
	case n.Digest != nil:
		lines = []string{"DIGEST " + bot.DigestNoticeTitle(n, now.Location())}
		for _, l := range bot.DigestLines(*n.Digest, now.Location()) {
			lines = append(lines, "  • "+l)
		}
	default:
		lines = []string{alertsLabel(n) + bot.NoticeLine(n.Event, now)}
	}
	for i, l := range lines {
		lines[i] = stamp + alertsPrintable(l)
	}
	return lines
}

// alertsLabel is the word that starts a notice's line.
func alertsLabel(n alerts.Notice) string {
	switch n.Kind {
	case alerts.DecisionResolve:
		return "RESOLVED "
	case alerts.DecisionRemind:
		return "REMINDER "
	case alerts.DecisionGiveUp:
		return "ALERT "
	case alerts.DecisionAutoRestart:
		return "AUTO-RESTART "
	case alerts.DecisionUpdate:
		return "UPDATE "
	}
	return "NOTE "
}

// alertsPrintable keeps outside text from driving the terminal: control
// characters (escape sequences, carriage returns) become spaces.
func alertsPrintable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// AlertNotifier prints the monitor's notices in the console as whole
// lines, as they happen.
type AlertNotifier struct {
	clock clockwork.Clock

	mu  sync.Mutex
	out io.Writer
}

var _ alerts.Notifier = (*AlertNotifier)(nil)

// NewAlertNotifier returns a notifier writing to out; it does no I/O.
func NewAlertNotifier(out io.Writer, clock clockwork.Clock) (*AlertNotifier, error) {
	switch {
	case out == nil:
		return nil, errors.New("new console alert notifier: a writer is required")
	case clock == nil:
		return nil, errors.New("new console alert notifier: a clock is required")
	}
	return &AlertNotifier{out: out, clock: clock}, nil
}

// Notify prints the lines of one notice in one write.
func (c *AlertNotifier) Notify(n alerts.Notice) error {
	lines := AlertLines(n, c.clock.Now())
	if len(lines) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.out, strings.Join(lines, "\n")+"\n"); err != nil {
		return fmt.Errorf("print notice %s: %w", n.ID, err)
	}
	return nil
}
