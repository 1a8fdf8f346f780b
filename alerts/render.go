package alerts

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/manager"
)

// Button action IDs on an alert. They match bot/slackbot's: the Slack front
// end handles the clicks.
const (
	actionConfirm = "sanasend_confirm" // value: a confirmation token bound to the alert
	actionLogs    = "sanasend_logs"    // value: service name
	actionAck     = "sanasend_ack"     // value: service name
)

// AlertText is the alert as one line: state, reason, since when, ack.
func AlertText(inc Incident, now time.Time) string {
	if !inc.Open {
		by := ""
		if inc.ResolvedBy != nil {
			by = ", " + restartedBy(*inc.ResolvedBy)
		}
		return fmt.Sprintf("✅ %s: resolved after %s%s", inc.Service, humanDuration(inc.Lasted(now)), by)
	}
	icon := "🔴"
	if inc.State == manager.StateUnhealthy {
		icon = "🟡"
	}
	s := fmt.Sprintf("%s %s is %s: %s, since %s (%s)", icon, inc.Service, strings.ToUpper(string(inc.State)),
		reasonText(inc), inc.Since.In(now.Location()).Format("15:04:05"), humanDuration(inc.Lasted(now)))
	if inc.Acked != nil {
		s += fmt.Sprintf("; acknowledged by %s at %s", inc.Acked.By, inc.Acked.At.In(now.Location()).Format("15:04"))
	}
	if inc.GaveUp {
		s += "; auto-restart gave up"
	}
	return s
}

func reasonText(inc Incident) string {
	switch {
	case inc.Exit != "" && inc.Reason != "":
		return "exited (" + inc.Exit + "), then " + inc.Reason
	case inc.Exit != "":
		return "exited (" + inc.Exit + ")"
	case inc.Reason != "":
		return inc.Reason
	default:
		return "health check failing"
	}
}

func restartedBy(a manager.Actor) string { return "by " + a.String() }

// AlertBlocks renders an alert with its buttons: Restart (with Slack's
// confirm dialog: the token is bound to the alert, any staff may press it),
// Logs and Acknowledge. A resolved alert has no buttons.
func AlertBlocks(inc Incident, now time.Time, restartToken string, lastErrors []string) []slack.Block {
	text := AlertText(inc, now)
	blocks := []slack.Block{slack.NewSectionBlock(mrkdwn(escape(text)), nil, nil)}
	if len(lastErrors) > 0 && inc.Open {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn("*last error lines*\n```"+escapeCode(strings.Join(lastErrors, "\n"))+"```"), nil, nil))
	}
	if !inc.Open {
		return blocks
	}
	var buttons []slack.BlockElement
	if restartToken != "" {
		restart := slack.NewButtonBlockElement(actionConfirm, restartToken, plain("Restart"))
		restart.Style = slack.StyleDanger
		restart.Confirm = slack.NewConfirmationBlockObject(plain("Restart "+inc.Service+"?"),
			plain("This stops every process of the service and starts it again; WhatsApp sessions disconnect meanwhile."),
			plain("Restart"), plain("Cancel"))
		restart.Confirm.WithStyle(slack.StyleDanger)
		buttons = append(buttons, restart)
	}
	buttons = append(buttons, slack.NewButtonBlockElement(actionLogs, inc.Service, plain("Logs")))
	if inc.Acked == nil {
		buttons = append(buttons, slack.NewButtonBlockElement(actionAck, inc.Service, plain("Acknowledge")))
	}
	return append(blocks, slack.NewActionBlock("alert-"+inc.Service, buttons...))
}

// RestorationText summarises a restoration for the channel.
func RestorationText(service string, s *RestorationSummary) string {
	r := s.Result.Restoration
	var b strings.Builder
	switch {
	case r.Error != "":
		fmt.Fprintf(&b, "⚠️ %s: session restoration failed: %s", service, r.Error)
	case s.Result.TimedOut:
		fmt.Fprintf(&b, "⚠️ %s: session restoration did not complete in time; seen so far: %s", service, r.Summary())
	default:
		icon := "✅"
		if r.Failed > 0 || len(r.NeedQR()) > 0 {
			icon = "⚠️"
		}
		fmt.Fprintf(&b, "%s %s: session restoration: %s", icon, service, r.Summary())
	}
	for _, o := range r.FailedSessions() {
		hint := "auth dir present"
		if !s.AuthDir[o.ID] {
			hint = "no auth dir: a QR scan is needed"
		}
		fmt.Fprintf(&b, "\n• %s failed: %s (%s)", o.ID, o.LikelyCause(), hint)
	}
	for _, o := range r.NeedQR() {
		fmt.Fprintf(&b, "\n• %s needs a QR scan: its saved login is dead", o.ID)
	}
	return b.String()
}

func mrkdwn(s string) *slack.TextBlockObject {
	t := slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
	return t
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// escapeCode keeps a log line from closing its code block.
func escapeCode(s string) string {
	return strings.ReplaceAll(escape(s), "```", "ʼʼʼ")
}

func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
}
