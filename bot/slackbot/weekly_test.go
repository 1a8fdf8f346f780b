package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/alerts/alertstest"
	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
)

// weeklyPNG is a chart's bytes: the PNG signature (0x89 is no UTF-8) and
// every byte value.
func weeklyPNG(service string) []byte {
	b := []byte("\x89PNG\r\n\x1a\n" + service)
	for i := range 256 {
		b = append(b, byte(i))
	}
	return b
}

// weeklyCharts draws weeklyPNG, or fails for the services in fail.
type weeklyCharts struct{ fail map[string]bool }

func (c weeklyCharts) RenderUptime(r history.Report, _ *time.Location) ([]byte, error) {
	if c.fail[r.Service] {
		return nil, errors.New("no font")
	}
	return weeklyPNG(r.Service), nil
}

func weeklyNotice() alerts.Notice {
	to := alertstest.Now
	from := to.AddDate(0, 0, -7)
	d := alerts.Digest{From: from, To: to, Services: []alerts.ServiceDigest{
		{Service: "other", UptimePercent: 100, Known: 7 * 24 * time.Hour},
		{Service: "whatsapp", UptimePercent: 99.5, Known: 7 * 24 * time.Hour, Incidents: 1, Downtime: time.Hour, Longest: time.Hour},
	}}
	w := alerts.Weekly{Reports: []history.Report{
		{Service: "other", From: from, To: to, Bucket: 24 * time.Hour, Known: true, Uptime: 1},
		{Service: "whatsapp", From: from, To: to, Bucket: 24 * time.Hour, Known: true, Uptime: 0.995},
	}}
	return alerts.Notice{ID: "weekly-digest-2026-11-28", Kind: alerts.KindWeeklyDigest,
		Event: alerts.Event{What: alerts.EventWeeklyDigest, At: to}, Digest: &d, Weekly: &w}
}

// TestWeeklyDigestChartsThroughTheJournal: the weekly digest and its
// charts are queued while the outbox does not run, the outbox is closed
// and opened again from its journal (a bot restart), and then delivered:
// each chart arrives in the digest's thread byte for byte; the chart that
// could not be drawn is named in the message.
func TestWeeklyDigestChartsThroughTheJournal(t *testing.T) {
	fake := fakeslack.New(t)
	dir := t.TempDir()
	queued, err := delivery.Open(delivery.Config{Dir: dir, Logger: zerolog.Nop()}, outboundSender(t, fake))
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewAlertNotifier(AlertNotifierConfig{Channel: "C0ALERTS", Queue: queued, Clock: clockwork.NewFakeClockAt(alertstest.Now),
		Charts: weeklyCharts{fail: map[string]bool{"other": true}}})
	if err != nil {
		t.Fatal(err)
	}
	no := weeklyNotice()
	if err := n.Notify(no); err != nil {
		t.Fatal(err)
	}
	if err := queued.Close(); err != nil {
		t.Fatal(err)
	}

	outbox, err := delivery.Open(delivery.Config{Dir: dir, Logger: zerolog.Nop()}, outboundSender(t, fake))
	if err != nil {
		t.Fatal(err)
	}
	if p := outbox.Pending(); p != 2 {
		t.Fatalf("%d items read back from the journal, want the digest and one chart", p)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	done := make(chan struct{})
	go func() { defer close(done); outbox.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		if err := outbox.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := outbox.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if dead := outbox.Dead(); len(dead) != 0 {
		t.Fatalf("dead letters: %+v", dead)
	}
	posts := fake.Calls("chat.postMessage")
	if len(posts) != 1 || !strings.Contains(posts[0].Param("text"), "Weekly digest") ||
		!strings.Contains(posts[0].Param("blocks"), "no chart for other this time") {
		t.Fatalf("posts = %+v; want the weekly digest naming the chart it lacks", posts)
	}
	_, ts, _ := outbox.TS(no.ID)
	ups := fake.Uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads, want the whatsapp chart", len(ups))
	}
	u := ups[0]
	if !bytes.Equal(u.Content, weeklyPNG("whatsapp")) {
		t.Errorf("chart arrived as %d bytes %q…; want the %d bytes drawn", len(u.Content), u.Content[:min(len(u.Content), 16)], len(weeklyPNG("whatsapp")))
	}
	if u.Filename != "whatsapp-uptime-week.png" || u.ThreadTS != ts || u.Channel != "C0ALERTS" || u.Title != "whatsapp, last 7 days: 99.5% up" {
		t.Errorf("upload %q %q in %s thread %q; want whatsapp-uptime-week.png in the digest's thread %q", u.Filename, u.Title, u.Channel, u.ThreadTS, ts)
	}
}

// TestUploadPayloadKeepsOldItems: an item queued by a version without
// Upload.Data decodes with its text Content.
func TestUploadPayloadKeepsOldItems(t *testing.T) {
	raw := []byte(`{"text":"x","file":{"Filename":"a.txt","Title":"a","Content":"line\n"}}`)
	var p Payload
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if p.File == nil || p.File.Content != "line\n" || p.File.Data != nil {
		t.Errorf("old payload decoded as %+v", p.File)
	}
}
