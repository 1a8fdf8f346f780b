package slackbot

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/bottest"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
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

// reportHistory answers `uptime` with bottest's report.
type reportHistory struct{}

func (reportHistory) Uptime(_ context.Context, service string, from, to time.Time, bucket time.Duration) (history.Report, error) {
	r := bottest.UptimeReport()
	r.Service, r.From, r.To, r.Bucket = service, from, to, bucket
	return r, nil
}

func (reportHistory) Incidents(context.Context, string, int) ([]history.Incident, error) {
	return bottest.Incidents(), nil
}

func (reportHistory) Health() history.Health { return history.Health{} }

// pngChart draws bottest.Chart.
type pngChart struct{}

func (pngChart) RenderUptime(history.Report, *time.Location) ([]byte, error) {
	return bottest.Chart, nil
}

// TestUptimeChartGoesAsAFile: through the front end and the fake Web API,
// the chart arrives in the channel as a file, byte for byte (a NUL and
// bytes that are not UTF-8 included), and the answer has the figures.
func TestUptimeChartGoesAsAFile(t *testing.T) {
	f := newFrontFixture(t)
	confirms, err := bot.NewConfirmStore(bot.ConfirmConfig{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	router, err := bot.NewRouter(bot.RouterConfig{Services: directory{fakeservice.Directory{f.svc}}, Auth: allowAll{},
		Confirms: confirms, Audit: zerolog.New(f.audit), History: reportHistory{}, Chart: pngChart{}})
	if err != nil {
		t.Fatal(err)
	}
	front, err := New(Config{SigningSecret: secret, Command: "/sanasend", AlertsChannel: "C0ALERTS", Logger: zerolog.New(f.audit)},
		router, NewClient("xoxb-test", f.fake.APIURL()))
	if err != nil {
		t.Fatal(err)
	}
	g := *f
	g.srv, g.front, g.router = httptest.NewServer(front.Handler()), front, router
	t.Cleanup(func() {
		g.srv.Close()
		front.Wait()
	})
	post := f.fake.WaitResponseURLPosts(t, g.command(t, "U0ALICE", "uptime 7d"), 1, 5*time.Second)[0]
	front.Wait()
	ups := f.fake.Uploads()
	if len(ups) != 1 || ups[0].Channel != "C0OPS" || !bytes.Equal(ups[0].Content, bottest.Chart) || ups[0].Filename != "whatsapp-uptime-7d.png" {
		t.Fatalf("uploads = %+v; want the chart, byte for byte, as whatsapp-uptime-7d.png in the channel", ups)
	}
	if text := postText(post); !strings.Contains(text, "whatsapp, last 7 days: 98.9% up") || !strings.Contains(text, "*MTTR*") {
		t.Errorf("answer %s; want the headline and the figures", text)
	}
}
