package bot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
)

// TestStatusReadsHistory: the status card carries the last 24 hours and
// the latest incident from the history, the history's trouble when there
// is some, one line why when it could not be opened or read or did not
// answer in time (and then the reply comes at the deadline), and nothing
// where no history is kept by design. Doctor gains the history's line.
func TestStatusReadsHistory(t *testing.T) {
	now := time.Date(2026, 11, 28, 3, 10, 0, 0, time.UTC)
	rep := history.Report{Uptime: 0.95, Known: true, Healthy: 19 * time.Hour, Unhealthy: time.Hour}
	incs := []history.Incident{{ID: "i2", Service: "whatsapp", Cause: "exit code 137", FailedAt: now.Add(-time.Hour)}}
	failing := history.Health{Path: "/state/history.db", Failing: true, LastError: "the disk is full (or the database reached its size limit)",
		LastErrorAt: now, Dropped: 3}
	const timeout = 100 * time.Millisecond
	tests := []struct {
		name      string
		hist      *fakeHistory // nil: no history
		noHistory string
		asked     string
		wantCard  bool
		day, last bool
		health    bool
		problem   string // substring of the card's Problem; "" for none
		doctor    doctor.Verdict
		slow      bool
	}{
		{name: "no history by design"},
		{name: "history not opened", noHistory: NoHistoryOpenText("the database file is damaged"), wantCard: true,
			problem: "could not be opened at start (the database file is damaged)", doctor: doctor.VerdictFail},
		{name: "fine", hist: &fakeHistory{report: rep, incidents: incs, health: history.Health{Path: "/state/history.db", LastWrite: now}},
			asked: "uptime whatsapp 2026-11-27T03:10:00Z 2026-11-28T03:10:00Z 1h0m0s; incidents whatsapp 1", wantCard: true, day: true, last: true,
			doctor: doctor.VerdictOK},
		{name: "no incident yet", hist: &fakeHistory{report: rep},
			asked: "uptime whatsapp 2026-11-27T03:10:00Z 2026-11-28T03:10:00Z 1h0m0s; incidents whatsapp 1", wantCard: true, day: true,
			doctor: doctor.VerdictOK},
		{name: "writer failing", hist: &fakeHistory{report: rep, incidents: incs, health: failing},
			asked: "uptime whatsapp 2026-11-27T03:10:00Z 2026-11-28T03:10:00Z 1h0m0s; incidents whatsapp 1", wantCard: true, day: true, last: true,
			health: true, doctor: doctor.VerdictFail},
		{name: "unreadable", hist: &fakeHistory{err: errors.New("sqlite: database disk image is malformed /var/lib/secret")},
			asked: "uptime whatsapp 2026-11-27T03:10:00Z 2026-11-28T03:10:00Z 1h0m0s", wantCard: true,
			problem: "could not be read just now", doctor: doctor.VerdictOK},
		{name: "locked: no answer in time", hist: &fakeHistory{slow: true, health: failing}, wantCard: true, health: true,
			problem: HistoryTimeoutText, doctor: doctor.VerdictFail, slow: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store, err := NewConfirmStore(ConfirmConfig{TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			cfg := RouterConfig{Services: fakeDirectory{fakeservice.Directory{fakeservice.New("whatsapp")}},
				Auth: allowList{alice.ID: true}, Confirms: store, Audit: zerolog.Nop(), Now: func() time.Time { return now },
				NoHistory: tc.noHistory, HistoryTimeout: timeout}
			if tc.hist != nil {
				cfg.History = tc.hist
			}
			r, err := NewRouter(cfg)
			if err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			reply := r.Handle(context.Background(), req(alice, "status"))
			took := time.Since(began)
			if reply.Kind != KindStatus {
				t.Fatalf("kind %s (%q); want status", reply.Kind, reply.Text)
			}
			if tc.slow && (took < timeout || took > timeout+2*time.Second) {
				t.Errorf("status took %s with a locked history; want the deadline, %s", took, timeout)
			}
			if tc.hist != nil {
				tc.hist.mu.Lock()
				asked := strings.Join(tc.hist.asked, "; ")
				tc.hist.mu.Unlock()
				if asked != tc.asked {
					t.Errorf("history asked %q; want %q", asked, tc.asked)
				}
			}
			c := reply.History
			if (c != nil) != tc.wantCard {
				t.Fatalf("card %+v; want one: %v", c, tc.wantCard)
			}
			if c == nil {
				return
			}
			if (c.Day != nil) != tc.day || (c.Last != nil) != tc.last || (c.Health != nil) != tc.health {
				t.Errorf("card day %v, last %v, health %v; want %v, %v, %v", c.Day != nil, c.Last != nil, c.Health != nil, tc.day, tc.last, tc.health)
			}
			if c.Day != nil && (c.Day.Uptime != 0.95 || c.Day.To.Sub(c.Day.From) != StatusWindow) {
				t.Errorf("card day %+v; want the fake's 24 hours", c.Day)
			}
			if c.Last != nil && c.Last.ID != "i2" {
				t.Errorf("card last incident %+v; want i2", c.Last)
			}
			if (tc.problem == "") != (c.Problem == "") || !strings.Contains(c.Problem, tc.problem) {
				t.Errorf("card problem %q; want %q", c.Problem, tc.problem)
			}
			if strings.Contains(c.Problem, "malformed") || strings.Contains(c.Problem, "/var/lib") {
				t.Errorf("card problem %q shows the raw error", c.Problem)
			}

			doc := r.Handle(context.Background(), req(alice, "doctor"))
			var hc *doctor.Check
			for i, ch := range doc.Checks {
				if ch.Name == doctor.HistoryCheckName {
					hc = &doc.Checks[i]
				}
			}
			if hc == nil || hc.Verdict != tc.doctor {
				t.Errorf("doctor's history line %+v; want verdict %q", hc, tc.doctor)
			}
		})
	}
	t.Run("no history by design: no doctor line", func(t *testing.T) {
		store, _ := NewConfirmStore(ConfirmConfig{TTL: time.Minute})
		r, err := NewRouter(RouterConfig{Services: fakeDirectory{fakeservice.Directory{fakeservice.New("whatsapp")}},
			Auth: allowList{alice.ID: true}, Confirms: store})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range r.Handle(context.Background(), req(alice, "doctor")).Checks {
			if c.Name == doctor.HistoryCheckName {
				t.Errorf("doctor without a history has a history line: %+v", c)
			}
		}
	})
}
