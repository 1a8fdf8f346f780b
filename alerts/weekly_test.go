package alerts

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/history"
)

// fakeReports answers a report of the window asked, or an error.
type fakeReports struct{ err error }

func (f fakeReports) Uptime(_ context.Context, service string, from, to time.Time, bucket time.Duration) (history.Report, error) {
	if f.err != nil {
		return history.Report{}, f.err
	}
	return history.Report{Service: service, From: from, To: to, Bucket: bucket, Uptime: 0.5, Known: true}, nil
}

func TestParseWeeklyAt(t *testing.T) {
	for at, want := range map[string][3]int{"mon 09:00": {1, 9, 0}, "Sunday 23:59": {0, 23, 59}, "SAT  00:05": {6, 0, 5}} {
		d, h, m, err := ParseWeeklyAt(at)
		if err != nil || int(d) != want[0] || h != want[1] || m != want[2] {
			t.Errorf("ParseWeeklyAt(%q) = %s %d:%d, %v; want %v", at, d, h, m, err, want)
		}
	}
	for _, at := range []string{"", "09:00", "mo 09:00", "mon 9:00", "mon 24:00", "mon 09:00 utc"} {
		if _, _, _, err := ParseWeeklyAt(at); err == nil {
			t.Errorf("ParseWeeklyAt(%q) accepted", at)
		}
	}
	if _, err := NewMonitor(MonitorConfig{Interval: time.Minute, WeeklyDigestAt: "monday"}, nil, &digestNotifier{}); err == nil {
		t.Error("WeeklyDigestAt monday accepted")
	}
}

// TestMonitorWeeklyDigest runs the monitor from Monday 08:58 local: the
// weekly digest is sent once at 09:00 with the 7 days before and a report
// by day for the chart; with weekly_digest_at empty none is.
func TestMonitorWeeklyDigest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		at      string
		reports ReportSource
		timers  int
		want    int // weekly notices
		charts  int
	}{
		{"on", "mon 09:00", fakeReports{}, 3, 1, 1},
		{"on-report-fails", "mon 09:00", fakeReports{err: errors.New("database is locked")}, 3, 1, 0},
		{"off", "", fakeReports{}, 2, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			start := time.Date(2025, 12, 1, 8, 58, 0, 0, time.Local) // a Monday
			clock := clockwork.NewFakeClockAt(start)
			dm, cancel := startDigestMonitor(t, clock, MonitorConfig{WeeklyDigestAt: tc.at, Reports: tc.reports})
			defer cancel()
			defer dm.stop() // when the test failed before its own, checked stop
			rec, ctx := dm.rec, dm.ctx
			rec.wait(t, ctx, DecisionOpen) // the immediate check fails
			// Timers: the health poll, the tick and (when on) the weekly digest.
			if err := clock.BlockUntilContext(ctx, tc.timers); err != nil {
				t.Fatal(err)
			}
			clock.Advance(2 * time.Minute) // 09:00
			if tc.want > 0 {
				n := rec.wait(t, ctx, KindWeeklyDigest)
				to := start.Add(2 * time.Minute)
				if n.ID != "weekly-digest-2025-12-01" || n.Event.What != EventWeeklyDigest || n.Digest == nil || n.Weekly == nil ||
					!n.Digest.To.Equal(to) || !n.Digest.From.Equal(to.AddDate(0, 0, -7)) {
					t.Fatalf("weekly notice = %+v; want weekly-digest-2025-12-01 of the 7 days before %s", n, to)
				}
				if got := n.Weekly.Reports; len(got) != tc.charts || tc.charts > 0 && (got[0].Service != "whatsapp" ||
					got[0].Bucket != 24*time.Hour || !got[0].From.Equal(n.Digest.From) || !got[0].To.Equal(to)) {
					t.Errorf("reports = %+v; want %d of whatsapp by day over the week", got, tc.charts)
				}
			}
			// Every job is waiting again (next Monday's digest): no second one.
			if err := clock.BlockUntilContext(ctx, tc.timers); err != nil {
				t.Fatal(err)
			}
			if err := dm.stop(); err != nil {
				t.Fatal(err)
			}
			if c := rec.count(KindWeeklyDigest); c != tc.want {
				t.Errorf("%d weekly digest notices, want %d", c, tc.want)
			}
			if c := rec.count(KindDigest); c != 0 {
				t.Errorf("%d daily digest notices, want none", c)
			}
		})
	}
}
