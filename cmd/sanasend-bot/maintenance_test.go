package main

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/config"
)

// nopNotifier drops notices.
type nopNotifier struct{}

func (nopNotifier) Notify(alerts.Notice) error { return nil }

// TestMonitorTakesConfigWindows: the config's maintenance: list reaches the
// monitor, named c1, c2... in its order, with its fields; `maintenance
// list` (Monitor.Windows) shows them.
func TestMonitorTakesConfigWindows(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`
services:
  - name: whatsapp
    dir: `+dir+`
state_dir: `+dir+`/state
maintenance:
  - every: "sun 03:00"
    duration: 1h
    reason: weekly restart
    services: [whatsapp]
    restart: true
  - every: "0 4 * * *"
    duration: 30m
`), dir+"/sanasend-bot.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	m, err := newManager(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	store, err := alerts.NewFileStateStore(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	mon, err := newMonitor(cfg, m, nopNotifier{}, zerolog.Nop(), nil, nil, store)
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := mon.Windows(context.Background())
	if len(ws) != 2 {
		t.Fatalf("Windows() = %+v; want the config's two", ws)
	}
	if w := ws[0]; w.ID != "c1" || !w.Config || w.Every != "sun 03:00" || w.Duration != time.Hour || w.Reason != "weekly restart" ||
		!w.Restart || len(w.Services) != 1 || w.Services[0] != "whatsapp" || w.Next.IsZero() {
		t.Errorf("window c1 = %+v", w)
	}
	if w := ws[1]; w.ID != "c2" || w.Every != "0 4 * * *" || w.Duration != 30*time.Minute || w.Restart || len(w.Services) != 0 {
		t.Errorf("window c2 = %+v", w)
	}
}
