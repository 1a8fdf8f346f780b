package history

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
)

func TestBucketize(t *testing.T) {
	const iv = 30_000
	s := func(sec int64) int64 { return sec * 1000 }
	h, u, st := 1, 2, 3
	tests := []struct {
		name   string
		checks []checkRow
		now    int64
		want   []agg
	}{
		{
			name: "states, maintenance, a gap, the last check",
			checks: []checkRow{
				{at: s(0), state: h, latUs: 1000}, {at: s(30), state: h, latUs: 3000},
				{at: s(60), state: u}, {at: s(90), state: u, rss: 7},
				{at: s(120), state: st, maint: true}, // gap after it: 30 s maintenance, 150 s unknown
				{at: s(300), state: h},               // last, older than 2×interval at now: 30 s
			},
			now: s(400),
			want: []agg{
				{count: 2, healthy: 2, healthyMs: s(60), rtN: 2, rtMinUs: 1000, rtMaxUs: 3000, rtSumUs: 4000},
				{count: 2, unhealthy: 2, unhealthyMs: s(60), rssMax: 7},
				{count: 1, stopped: 1, mtMs: s(30)},
				{}, {},
				{count: 1, healthy: 1, healthyMs: s(30)},
				{},
			},
		},
		{
			name:   "a segment across buckets, the current check runs to now",
			checks: []checkRow{{at: s(50), state: h}, {at: s(100), state: u}, {at: s(150), state: h}},
			now:    s(170),
			want: []agg{
				{count: 1, healthy: 1, healthyMs: s(10)},
				{count: 1, unhealthy: 1, healthyMs: s(40), unhealthyMs: s(20)},
				{count: 1, healthy: 1, unhealthyMs: s(30), healthyMs: s(20)},
				{},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bucketize(tt.checks, 0, int64(len(tt.want))*resMinute, resMinute, iv, tt.now)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("bucketize =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// scriptDays records checks every 30 s from t0 until end: healthy (10 ms,
// 100 MB) except unhealthy (2 s) 01:00–01:10 each day, no checks 05:00–06:00
// (the bot was down), stopped in maintenance 10:00–10:30, 500 MB at 01:05.
func scriptDays(s *Store, service string, end time.Time) int {
	n := 0
	for at := t0; at.Before(end); at = at.Add(30 * time.Second) {
		tod := at.Sub(at.Truncate(24 * time.Hour))
		c := Check{Service: service, At: at, State: Healthy, Latency: 10 * time.Millisecond, TreeRSS: 100 << 20}
		switch {
		case tod >= 5*time.Hour && tod < 6*time.Hour:
			continue
		case tod >= time.Hour && tod < time.Hour+10*time.Minute:
			c.State, c.Latency = Unhealthy, 2*time.Second
			if tod == time.Hour+5*time.Minute {
				c.TreeRSS = 500 << 20
			}
		case tod >= 10*time.Hour && tod < 10*time.Hour+30*time.Minute:
			c.State, c.Latency, c.Maintenance = Stopped, 0, true
		}
		s.RecordCheck(c)
		n++
	}
	return n
}

func dumpRollups(t *testing.T, s *Store) string {
	t.Helper()
	rows, err := s.rdb.Query(`SELECT service, res, start, count, healthy, unhealthy, stopped, healthy_ms, unhealthy_ms, stopped_ms, maint_ms, rt_n, rt_min_us, rt_avg_us, rt_max_us, rss_max FROM rollups ORDER BY service, res, start`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		v := make([]any, 16)
		p := make([]any, 16)
		for i := range v {
			p[i] = &v[i]
		}
		if err := rows.Scan(p...); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, v...)
	}
	return b.String()
}

func TestRollup(t *testing.T) {
	ctx := context.Background()
	clock := clockwork.NewFakeClockAt(t0)
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clock, nil)
	now := t0.Add(49 * time.Hour)
	scriptDays(s, "whatsapp", now)
	s.RecordCheck(Check{Service: "other", At: t0, State: Stopped})
	waitWritten(t, s)
	if err := s.Rollup(ctx, now); err != nil {
		t.Fatalf("Rollup = %v", err)
	}

	type row struct {
		count, healthy, unhealthy, stopped, healthyMs, unhealthyMs, stoppedMs, maintMs, rtN, rtMin, rtMax, rss int64
		rtAvg                                                                                                  float64
	}
	get := func(service string, res int64, start time.Time) (row, bool) {
		var r row
		err := s.rdb.QueryRow(`SELECT count, healthy, unhealthy, stopped, healthy_ms, unhealthy_ms, stopped_ms, maint_ms, rt_n, rt_min_us, rt_max_us, rss_max, rt_avg_us
			FROM rollups WHERE service = ? AND res = ? AND start = ?`, service, res, start.UnixMilli()).
			Scan(&r.count, &r.healthy, &r.unhealthy, &r.stopped, &r.healthyMs, &r.unhealthyMs, &r.stoppedMs, &r.maintMs, &r.rtN, &r.rtMin, &r.rtMax, &r.rss, &r.rtAvg)
		return r, err == nil
	}
	// Hand-computed: a day has 2880 slots of 30 s; 120 fall in the gap.
	day := row{count: 2760, healthy: 2680, unhealthy: 20, stopped: 60,
		healthyMs: (86400 - 3600 - 600 - 1800) * 1000, unhealthyMs: 600_000, maintMs: 1_800_000,
		rtN: 2700, rtMin: 10_000, rtMax: 2_000_000, rss: 500 << 20,
		rtAvg: (2680*10_000 + 20*2_000_000) / 2700.0}
	tests := []struct {
		name    string
		service string
		res     int64
		start   time.Time
		want    row
		present bool
	}{
		{"first day", "whatsapp", resDay, t0, day, true},
		{"second day", "whatsapp", resDay, t0.Add(24 * time.Hour), day, true},
		{"third day is not complete", "whatsapp", resDay, t0.Add(48 * time.Hour), row{}, false},
		{"the unhealthy hour", "whatsapp", resHour, t0.Add(time.Hour), row{count: 120, healthy: 100, unhealthy: 20,
			healthyMs: 3_000_000, unhealthyMs: 600_000, rtN: 120, rtMin: 10_000, rtMax: 2_000_000, rss: 500 << 20,
			rtAvg: (100*10_000 + 20*2_000_000) / 120.0}, true},
		{"the hour before the gap: its last check covers 30 s", "whatsapp", resHour, t0.Add(4 * time.Hour), row{count: 120, healthy: 120,
			healthyMs: 3_600_000, rtN: 120, rtMin: 10_000, rtMax: 10_000, rss: 100 << 20, rtAvg: 10_000}, true},
		{"the gap has no row", "whatsapp", resHour, t0.Add(5 * time.Hour), row{}, false},
		{"maintenance minute", "whatsapp", resMinute, t0.Add(10 * time.Hour), row{count: 2, stopped: 2, maintMs: 60_000, rss: 100 << 20}, true},
		{"last complete minute: now less 2×interval", "whatsapp", resMinute, now.Add(-2 * time.Minute), row{count: 2, healthy: 2,
			healthyMs: 60_000, rtN: 2, rtMin: 10_000, rtMax: 10_000, rss: 100 << 20, rtAvg: 10_000}, true},
		{"the minute still open", "whatsapp", resMinute, now.Add(-time.Minute), row{}, false},
		{"another service: one lone check, 30 s", "other", resMinute, t0, row{count: 1, stopped: 1, stoppedMs: 30_000}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := get(tt.service, tt.res, tt.start)
			if ok != tt.present || got != tt.want {
				t.Errorf("rollup %s res %d at %s = %+v, present %v; want %+v, present %v", tt.service, tt.res, tt.start, got, ok, tt.want, tt.present)
			}
		})
	}

	// Idempotent: again with the same now, and again from scratch.
	before := dumpRollups(t, s)
	if err := s.Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	if after := dumpRollups(t, s); after != before {
		t.Fatalf("a second Rollup changed the rollups")
	}
	if _, err := s.wdb.Exec(`DELETE FROM watermarks`); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	if after := dumpRollups(t, s); after != before {
		t.Fatalf("rolling up from scratch gave other rollups:\n%s\nwant\n%s", after, before)
	}
}

func TestRetain(t *testing.T) {
	ctx := context.Background()
	clock := clockwork.NewFakeClockAt(t0)
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clock, nil)
	end := t0.Add(49 * time.Hour)
	total := scriptDays(s, "whatsapp", end)
	s.RecordIncidentOpened(IncidentOpened{ID: "old", Service: "whatsapp", FailedAt: t0, OpenedAt: t0})
	s.RecordIncidentResolved("old", "bot", t0.Add(time.Minute))
	s.RecordIncidentOpened(IncidentOpened{ID: "open", Service: "whatsapp", FailedAt: t0, OpenedAt: t0})
	s.RecordAction(Action{Service: "whatsapp", At: t0, Who: "U1", What: "restart"})
	s.RecordRestoration(Restoration{Service: "whatsapp", At: t0, Sessions: []SessionOutcome{{Session: "a"}}})
	waitWritten(t, s)

	count := func(q string) int {
		var n int
		if err := s.rdb.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	minutes := `SELECT COUNT(*) FROM rollups WHERE res = 60000`
	hours := `SELECT COUNT(*) FROM rollups WHERE res = 3600000`
	days := `SELECT COUNT(*) FROM rollups WHERE res = 86400000`
	// Each step advances the clock, rolls up, retains, and counts (in order).
	steps := []struct {
		name                   string
		now                    time.Time
		checks, mins, hrs, dys int
		incidents, actions     int
		sessions               int
	}{
		// 49 h of minutes less the gaps (2 × 60) and the minute still open.
		{"at the end of the script: checks older than 48 h go", end, total - 120, 49*60 - 120 - 1, 48 - 2 + 0, 2, 2, 1, 1},
		{"100 days on: only days are left", t0.Add(100 * 24 * time.Hour), 0, 0, 0, 3, 2, 1, 1},
		{"800 days on: nothing but the open incident", t0.Add(800 * 24 * time.Hour), 0, 0, 0, 0, 1, 0, 0},
	}
	for _, st := range steps {
		clock.Advance(st.now.Sub(clock.Now()))
		if err := s.Maintain(ctx); err != nil {
			t.Fatalf("%s: Maintain = %v", st.name, err)
		}
		got := []int{count(`SELECT COUNT(*) FROM checks`), count(minutes), count(hours), count(days),
			count(`SELECT COUNT(*) FROM incidents`), count(`SELECT COUNT(*) FROM actions`), count(`SELECT COUNT(*) FROM restoration_sessions`)}
		want := []int{st.checks, st.mins, st.hrs, st.dys, st.incidents, st.actions, st.sessions}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: checks, minutes, hours, days, incidents, actions, sessions = %v; want %v", st.name, got, want)
		}
	}
}

func TestSchedule(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0)
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clock, nil)
	scriptDays(s, "whatsapp", t0.Add(time.Hour))
	waitWritten(t, s)
	sch, err := gocron.NewScheduler(gocron.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sch.Shutdown() }()
	if _, err := s.Schedule(sch, 0); err == nil {
		t.Error("Schedule(0) = nil error; want one")
	}
	if _, err := s.Schedule(sch, time.Minute); err != nil {
		t.Fatal(err)
	}
	sch.Start()
	clock.Advance(time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := s.rdb.QueryRow(`SELECT COUNT(*) FROM rollups WHERE res = ?`, resHour).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled job did not roll up the hour: %d hour rows", n)
		}
		clock.Advance(time.Minute)
		time.Sleep(5 * time.Millisecond)
	}
}
