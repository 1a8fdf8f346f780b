package slackbot

import (
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/bottest"
)

// TestRenderUptimeChart: the chart goes as a PNG file, byte for byte; no
// chart, no file; a chart that failed is said.
func TestRenderUptimeChart(t *testing.T) {
	rep := bottest.UptimeReport()
	m := Render(bot.Reply{Kind: bot.KindUptime, Service: "whatsapp", Uptime: &rep, Chart: bottest.Chart}, bottest.Now)
	if m.Upload == nil || m.Upload.Content != string(bottest.Chart) || m.Upload.Filename != "whatsapp-uptime-24h.png" {
		t.Fatalf("upload %+v; want the chart as whatsapp-uptime-24h.png", m.Upload)
	}
	m = Render(bot.Reply{Kind: bot.KindUptime, Service: "whatsapp", Uptime: &rep}, bottest.Now)
	if m.Upload != nil {
		t.Errorf("upload %+v without a chart", m.Upload)
	}
	m = Render(bot.Reply{Kind: bot.KindUptime, Service: "whatsapp", Uptime: &rep, ChartFailed: true}, bottest.Now)
	if got := string(blocksGoldenJSON(t, m)); !strings.Contains(got, bot.ChartFailedNote) {
		t.Errorf("no word of the failed chart in %s", got)
	}
}

// TestRenderIncidentsNeverCutSilently: 100 incidents with causes of 2,000
// hostile bytes: those the message cannot hold are counted, and the file
// has every one of them.
func TestRenderIncidentsNeverCutSilently(t *testing.T) {
	tc := bottest.HistoryWorstCases()[0]
	m := Render(tc.Reply, bottest.Now)
	if m.Upload == nil {
		t.Fatal("no file: 100 incidents of 300-rune causes cannot fit one message")
	}
	file := strings.Split(strings.TrimSuffix(m.Upload.Content, "\n"), "\n")
	if len(file) != 1+len(tc.Reply.Incidents) {
		t.Errorf("file of %d lines; want a headline and %d incidents", len(file), len(tc.Reply.Incidents))
	}
	shown := strings.Count("\n"+strings.Join(blocksTextsOf(m), "\n"), "\n• ")
	note := blocksGoldenJSON(t, m)
	if !strings.Contains(string(note), "of 100 incidents; all of them are in the attached file") {
		t.Errorf("no note of the incidents left out (%d shown)", shown)
	}
	if shown == 0 || shown >= 100 {
		t.Errorf("%d incidents shown", shown)
	}
}

// blocksTextsOf is the text of every section of m.
func blocksTextsOf(m Message) []string {
	var out []string
	for _, b := range m.Blocks {
		if s, ok := b.(*slack.SectionBlock); ok && s.Text != nil {
			out = append(out, s.Text.Text)
		}
	}
	return out
}
