package metrics

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/history"
)

// TestHistoryGauges: the history's health and the uptime of each service
// over 24h and 7d are read from a real history file at scrape time.
func TestHistoryGauges(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(t0)
	store, err := history.Open(filepath.Join(t.TempDir(), "history.db"), history.Options{Clock: clock, CheckInterval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	// 3 minutes healthy, 1 minute stopped.
	for i := range 8 {
		st := history.Healthy
		if i >= 6 {
			st = history.Stopped
		}
		store.RecordCheck(history.Check{Service: "whatsapp", At: clock.Now(), State: st})
		clock.Advance(30 * time.Second)
	}
	store.RecordIncidentOpened(history.IncidentOpened{ID: "i1", Service: "whatsapp", FailedAt: t0.Add(3 * time.Minute), OpenedAt: t0.Add(3 * time.Minute), Cause: "connection refused"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := store.Flush(ctx); err != nil {
		t.Fatalf("%v: %+v", err, store.Health())
	}
	m := New()
	m.SetHistory(store, []string{"whatsapp"}, clock.Now)
	wantLines(t, scrape(t, m),
		`sanasend_history_failing 0`,
		`sanasend_history_queued 0`,
		`sanasend_history_dropped_total 0`,
		`sanasend_uptime_ratio{service="whatsapp",window="24h"} 0.75`,
		`sanasend_uptime_ratio{service="whatsapp",window="7d"} 0.75`,
		`sanasend_incidents{service="whatsapp",window="24h"} 1`,
		`sanasend_outage_seconds{service="whatsapp",window="24h"} 60`,
	)
}
