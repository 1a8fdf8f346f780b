package slackbot

import (
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
)

// The fleet's messages: `status` of every service, `hosts`, and the hub's
// alert about an agent that stopped reporting. Host and service names are
// validated, but go through blocksEscape like any outside text.

// blocksStatusAll is `status` with no name: a headline and a line per
// service, grouped by host.
func blocksStatusAll(lines []bot.ServiceLine, und *bot.Undelivered, now time.Time) Message {
	head := "*" + blocksEscape(bot.StatusAllHeadline(lines)) + "*"
	rows := []string{head}
	for _, l := range lines {
		rows = append(rows, "• "+blocksEscape(bot.StatusLineText(l, now)))
	}
	blocks, shown := blocksTextFit(rows, blocksTextSections)
	if shown < len(rows) {
		blocks = append(blocks, blocksContext(fmt.Sprintf("…and %d more not shown here; `status <host/service>` shows one", len(rows)-shown)))
	}
	if und != nil {
		blocks = append(blocks, blocksContext("⚠️ "+blocksEscape(bot.UndeliveredLine(und))))
	}
	return Message{Text: head, Blocks: blocks}
}

// blocksHosts is `hosts`: a headline and a line per host.
func blocksHosts(hosts []bot.HostInfo, now time.Time) Message {
	head := "🖥️ *" + blocksEscape(bot.HostsHeadline(hosts)) + "*"
	rows := []string{head}
	for _, h := range hosts {
		rows = append(rows, "• "+blocksEscape(bot.HostLine(h, now)))
	}
	blocks, shown := blocksTextFit(rows, blocksTextSections)
	if shown < len(rows) {
		blocks = append(blocks, blocksContext(fmt.Sprintf("…and %d more not shown here", len(rows)-shown)))
	}
	return Message{Text: head, Blocks: blocks}
}

// HostMessage is the hub's alert that an agent stopped reporting
// (DecisionOpen) or, edited in place and replied in its thread, that it is
// back (DecisionResolve). It has no buttons: the agent is not a service
// the bot can restart; its icon is not an incident's.
func HostMessage(n alerts.Notice, now time.Time) Message {
	icon := "📡 "
	if n.Kind == alerts.DecisionResolve || !n.Host.Back.IsZero() {
		icon = "✅ "
	}
	line := icon + blocksEscape(bot.HostNoticeLine(n, now))
	return Message{Text: alertsTopText(line), Blocks: []slack.Block{blocksSection(line)}}.fit()
}
