package bot_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/console"
	"github.com/sanasend/sanasend-bot/bot/slackbot"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
	"github.com/sanasend/sanasend-bot/manager"
)

type directory struct{ fakeservice.Directory }

func (d directory) Lookup(name string) (bot.Service, error) {
	s, err := d.Get(name)
	if err != nil {
		return nil, err
	}
	return s, nil
}

type everyone struct{}

func (everyone) Authorize(context.Context, manager.Actor, string) error { return nil }

// TestFullDiskReported: a real history whose writer fails on a full disk
// (the database at its size limit, SQLite's SQLITE_FULL, as
// history.TestFullDiskNeverBlocks does it): the status reply still comes
// back at once with its figures and says the writes fail and why, in the
// console's and Slack's words; doctor fails the history's line and says
// to free disk space.
func TestFullDiskReported(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(t0.Add(time.Hour))
	path := filepath.Join(t.TempDir(), "history.db")
	store, err := history.Open(path, history.Options{Clock: clock, CheckInterval: 30 * time.Second, MaxSize: 256 << 10, QueueSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	store.RecordIncidentOpened(history.IncidentOpened{ID: "i1", Service: "whatsapp", Cause: "exit code 137", FailedAt: t0, OpenedAt: t0})
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; !store.Health().Failing; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the history never reported a full disk: %+v", store.Health())
		}
		store.RecordCheck(history.Check{Service: "whatsapp", At: t0.Add(time.Duration(i+1) * time.Second), State: history.Healthy,
			Latency: time.Millisecond, TreeRSS: 1 << 30})
		if i%32 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	// The writer retries its failed batch: what comes now fills the queue
	// and the rest is dropped (doctor must say so).
	for i := 0; store.Health().Dropped == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the history never dropped a fact with its queue full: %+v", store.Health())
		}
		store.RecordCheck(history.Check{Service: "whatsapp", At: t0.Add(time.Hour + time.Duration(i)*time.Second), State: history.Healthy,
			Latency: time.Millisecond})
	}

	confirms, err := bot.NewConfirmStore(bot.ConfirmConfig{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r, err := bot.NewRouter(bot.RouterConfig{Services: directory{fakeservice.Directory{fakeservice.New("whatsapp")}}, Auth: everyone{},
		Confirms: confirms, Audit: zerolog.Nop(), Now: clock.Now, History: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	began := time.Now()
	reply := r.Handle(ctx, bot.Request{User: manager.Actor{ID: "U1", Name: "alice"}, Text: "status"})
	took := time.Since(began)
	if took > bot.StatusHistoryTimeout {
		t.Errorf("status took %s with the disk full; want under %s", took, bot.StatusHistoryTimeout)
	}
	t.Logf("status with the disk full answered in %s", took)
	c := reply.History
	if reply.Kind != bot.KindStatus || c == nil || c.Health == nil || !c.Health.Failing || c.Day == nil || c.Problem != "" {
		t.Fatalf("status reply %s, card %+v; want the figures and a failing writer", reply.Kind, c)
	}
	if c.Last == nil || c.Last.ID != "i1" || !c.Last.Open() {
		t.Errorf("last incident %+v; want i1, still open", c.Last)
	}
	text := console.Render(reply, clock.Now())
	slack, err := json.Marshal(slackbot.Render(reply, clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"console": text, "slack": string(slack)} {
		if !strings.Contains(out, "writes failing") || !strings.Contains(out, "the disk is full") || strings.Contains(out, path) {
			t.Errorf("%s status does not say the disk is full (or shows the path):\n%s", name, out)
		}
	}

	doc := r.Handle(ctx, bot.Request{User: manager.Actor{ID: "U1", Name: "alice"}, Text: "doctor"})
	var hc doctor.Check
	for _, ch := range doc.Checks {
		if ch.Name == doctor.HistoryCheckName {
			hc = ch
		}
	}
	if hc.Verdict != doctor.VerdictFail || !strings.Contains(hc.Detail, "the disk is full") || !strings.Contains(hc.Hint, "free disk space") ||
		!strings.Contains(hc.Detail, "B with its log") || !strings.Contains(hc.Detail, "dropped") {
		t.Errorf("doctor's history line %+v; want a failure: the disk is full, its size, what was dropped, free disk space", hc)
	}
	if out := console.Render(doc, clock.Now()); !strings.Contains(out, "✗ history") {
		t.Errorf("console doctor:\n%s", out)
	}
}

// TestStatusSurvivesRestart: the status card's figures come from the file:
// a history closed and opened again (a bot restart) still gives the last
// 24 hours' uptime and the latest incident, resolved by whom.
func TestStatusSurvivesRestart(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(t0.Add(2 * time.Hour))
	path := filepath.Join(t.TempDir(), "history.db")
	open := func() *history.Store {
		s, err := history.Open(path, history.Options{Clock: clock, CheckInterval: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	// Two hours of checks at 30 s: healthy, but unhealthy from 00:30 to
	// 00:45, an incident bob resolved.
	for at := t0; at.Before(t0.Add(2 * time.Hour)); at = at.Add(30 * time.Second) {
		st := history.Healthy
		if !at.Before(t0.Add(30*time.Minute)) && at.Before(t0.Add(45*time.Minute)) {
			st = history.Unhealthy
		}
		s.RecordCheck(history.Check{Service: "whatsapp", At: at, State: st, Latency: time.Millisecond})
	}
	s.RecordIncidentOpened(history.IncidentOpened{ID: "i1", Service: "whatsapp", Cause: "HTTP 503", FailedAt: t0.Add(30 * time.Minute),
		OpenedAt: t0.Add(31 * time.Minute)})
	s.RecordIncidentResolved("i1", "bob", t0.Add(45*time.Minute))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if h := s.Health(); h.Dropped != 0 {
		t.Fatalf("history dropped %d facts", h.Dropped)
	}

	s = open() // the bot restarted
	t.Cleanup(func() { _ = s.Close() })
	confirms, err := bot.NewConfirmStore(bot.ConfirmConfig{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r, err := bot.NewRouter(bot.RouterConfig{Services: directory{fakeservice.Directory{fakeservice.New("whatsapp")}}, Auth: everyone{},
		Confirms: confirms, Audit: zerolog.Nop(), Now: clock.Now, History: s})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Handle(context.Background(), bot.Request{User: manager.Actor{ID: "U1", Name: "alice"}, Text: "status"}).History
	if c == nil || c.Day == nil || c.Last == nil || c.Health != nil || c.Problem != "" {
		t.Fatalf("card after a restart %+v; want the day and the last incident", c)
	}
	// 15 minutes down out of 120 observed; the 22 hours before were not.
	if want := 105.0 / 120; c.Day.Uptime < want-0.001 || c.Day.Uptime > want+0.001 || !c.Day.Known {
		t.Errorf("uptime %v (known %v); want %v", c.Day.Uptime, c.Day.Known, want)
	}
	if got := bot.LastIncidentText(*c.Last, clock.Now()); got != "00:30:00 (1h30m ago), down 15m: HTTP 503; resolved by bob" {
		t.Errorf("last incident %q", got)
	}
	if got := bot.StatusDayLine(c.Day); got != "87.5% up over the 2h observed; 1 incident" {
		t.Errorf("day line %q", got)
	}
}
