package slackbot

import (
	"fmt"
	"strings"

	"time"

	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/human"
)

// blocksUptime is the reply of `uptime`: the headline, the figures as
// fields, and the chart, when drawn, as a PNG file sent along (an Upload's
// Content is sent byte for byte: a string holds the PNG unchanged).
func blocksUptime(r *history.Report, chart []byte, chartFailed bool) Message {
	head := bot.UptimeHeadline(r)
	blocks := []slack.Block{blocksSection("📈 *" + blocksEscape(r.Service) + "*" + blocksEscape(strings.TrimPrefix(head, r.Service)))}
	var fields []*slack.TextBlockObject
	for _, f := range bot.UptimeFacts(r) {
		fields = append(fields, blocksMrkdwn(blocksCutMrkdwn("*"+blocksEscape(f.Label)+"*\n"+blocksEscape(f.Value), blocksMaxField)))
		if len(fields) == blocksMaxFields {
			blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
			fields = nil
		}
	}
	if len(fields) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	}
	m := Message{Text: blocksEscape(head)}
	switch {
	case len(chart) > 0:
		period := bot.PeriodWord(r.To.Sub(r.From))
		m.Upload = &Upload{
			Filename: strings.TrimSuffix(blocksFileName(r.Service, "uptime-"+period), ".txt") + ".png",
			Title:    head,
			Content:  string(chart),
		}
	case chartFailed:
		blocks = append(blocks, blocksContext(blocksEscape(bot.ChartFailedNote)))
	}
	if len(r.Incidents) > 0 {
		blocks = append(blocks, blocksContext(blocksEscape(fmt.Sprintf("`incidents %s` lists them", r.Service))))
	}
	m.Blocks = blocks
	return m
}

// blocksIncidents is the reply of `incidents`: one line per incident,
// newest first; those that do not fit one message are in an attached text
// file with every incident.
func blocksIncidents(svc string, list []history.Incident, asked int, now time.Time) Message {
	head := bot.IncidentsHeadline(svc, list, asked)
	lines := []string{"🧾 " + blocksEscape(head)}
	file := []string{head}
	for _, in := range list {
		line := bot.IncidentLine(in, now)
		lines = append(lines, "• "+blocksEscape(line))
		file = append(file, line)
	}
	blocks, shown := blocksTextFit(lines, blocksTextSections)
	m := Message{Text: blocksEscape(head)}
	if shown < len(lines) {
		blocks = append(blocks, blocksContext(blocksEscape(fmt.Sprintf("showing %d of %s; all of them are in the attached file",
			shown-1, human.Count(len(list), "incident")))))
		m.Upload = &Upload{Filename: blocksFileName(svc, "incidents"), Title: head, Content: strings.Join(file, "\n") + "\n"}
	}
	m.Blocks = blocks
	return m
}

// blocksStatusHistory are the status card's fields from the history: the
// last 24 hours, the latest incident, and the history's trouble or why it
// has no figures. None for a nil card.
func blocksStatusHistory(c *bot.HistoryCard, now time.Time) []string {
	if c == nil {
		return nil
	}
	var fields []string
	field := func(name, value string) { fields = append(fields, "*"+name+"*\n"+value) }
	if c.Day != nil {
		field("last 24 hours", blocksEscape(bot.StatusDayLine(c.Day)))
		if c.Last != nil {
			field("last incident", blocksEscape(bot.LastIncidentText(*c.Last, now)))
		}
	}
	if c.Problem != "" {
		field("history", "⚠️ "+blocksEscape(c.Problem))
	}
	if c.Health != nil {
		field("history writes", "⚠️ "+blocksEscape(bot.HistoryHealthLine(c.Health, now)))
	}
	return fields
}
