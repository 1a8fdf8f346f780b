package history

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// benchServices are the services of the year-long history.
var benchServices = [...]string{"whatsapp", "api", "worker"}

// genDay makes one day of checks every 30 s for a service: healthy with a
// response time of 5-50 ms and 80-400 MB; an outage of 2-20 minutes every
// third day or so, the bot down for an hour once a week, 30 minutes of
// maintenance on Sundays.
func genDay(rng *rand.Rand, day time.Time) []checkRow {
	out := make([]checkRow, 0, 2880)
	outageAt, outageLen := time.Duration(-1), time.Duration(0)
	if rng.IntN(3) == 0 {
		outageAt = time.Duration(rng.IntN(23*60)) * time.Minute
		outageLen = time.Duration(2+rng.IntN(19)) * time.Minute
	}
	down := day.Weekday() == time.Wednesday
	maint := day.Weekday() == time.Sunday
	for tod := time.Duration(0); tod < 24*time.Hour; tod += 30 * time.Second {
		if down && tod >= 4*time.Hour && tod < 5*time.Hour {
			continue
		}
		c := checkRow{at: day.Add(tod).UnixMilli(), state: 1, latUs: int64(5_000 + rng.IntN(45_000)), rss: int64(80+rng.IntN(320)) << 20}
		switch {
		case maint && tod >= 3*time.Hour && tod < 3*time.Hour+30*time.Minute:
			c.state, c.latUs, c.maint = 3, 0, true
		case tod >= outageAt && tod < outageAt+outageLen:
			c.state, c.latUs = 2, 0
		}
		out = append(out, c)
	}
	return out
}

func insertChecks(ctx context.Context, tx *sql.Tx, service string, checks []checkRow) error {
	st, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO checks (service, at, state, latency_us, rss, maint) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, c := range checks {
		if _, err := st.ExecContext(ctx, service, c.at, c.state, c.latUs, c.rss, c.maint); err != nil {
			return err
		}
	}
	return nil
}

// buildYear stores one year of checks at a 30 s interval for three
// services as retention keeps them: day rollups for the year, hour rollups
// for 90 days, minute rollups for 7 days and the checks of the last 48 h.
// The part older than 7 days is folded in memory by the same code Rollup
// uses (bucketize); the last 7 days go in as checks and through Rollup and
// Retain themselves. It returns the store and now.
func buildYear(b *testing.B) (*Store, *clockwork.FakeClock) {
	b.Helper()
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(now)
	s, err := Open(filepath.Join(b.TempDir(), "history.db"), Options{Clock: clock, CheckInterval: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	rng := rand.New(rand.NewPCG(11, 30))
	start := now.Add(-365 * 24 * time.Hour)
	recent := now.Add(-MinuteRetention)
	const iv = 30_000
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	for day := start; day.Before(now); day = day.Add(24 * time.Hour) {
		for _, svc := range benchServices {
			checks := genDay(rng, day)
			if !day.Before(recent) {
				if err := insertChecks(ctx, tx, svc, checks); err != nil {
					b.Fatal(err)
				}
				continue
			}
			ds, de := day.UnixMilli(), day.Add(24*time.Hour).UnixMilli()
			for i, a := range bucketize(checks, ds, de, resDay, iv, de+resDay) {
				if err := insertRollup(ctx, tx, svc, resDay, ds+int64(i)*resDay, a); err != nil {
					b.Fatal(err)
				}
			}
			if day.Before(now.Add(-HourRetention)) {
				continue
			}
			for i, a := range bucketize(checks, ds, de, resHour, iv, de+resDay) {
				if !a.empty() {
					if err := insertRollup(ctx, tx, svc, resHour, ds+int64(i)*resHour, a); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		// Incidents and restarts: one a week per service.
		if day.Weekday() == time.Monday {
			for _, svc := range benchServices {
				id := fmt.Sprintf("%s-%d", svc, day.Unix())
				at := day.Add(9 * time.Hour).UnixMilli()
				if _, err := tx.ExecContext(ctx, `INSERT INTO incidents (id, service, failed_at, opened_at, cause, resolved_at, resolved_by, outage_ms) VALUES (?, ?, ?, ?, 'crashed', ?, 'bot', 300000)`,
					id, svc, at, at+60_000, at+300_000); err != nil {
					b.Fatal(err)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO actions (service, at, who, what, outcome, duration_ms) VALUES (?, ?, 'bot', 'restart', 'ok', 4000)`, svc, at+120_000); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	for _, res := range []int64{resMinute, resHour, resDay} {
		if err := setWatermark(ctx, tx, res, recent.UnixMilli()); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if err := s.Maintain(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := s.wdb.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	return s, clock
}

func reportSize(b *testing.B, s *Store) {
	b.Helper()
	if _, err := s.wdb.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "db-MiB")
}

// BenchmarkHistoryYear: a year of history for three services, as retention
// keeps it. uptime-90d is one Uptime over 90 days by day, the window ending
// at midnight (whole days are read; BenchmarkUptime90d has the bot's
// window, which ends off the hour, and the chart); rollup-day is one day's rollup job (Rollup and Retain after a day
// of new checks); db-MiB is the file's size (the goal is under 50 MiB).
func BenchmarkHistoryYear(b *testing.B) {
	s, clock := buildYear(b)
	ctx := context.Background()
	var rows int
	if err := s.rdb.QueryRow(`SELECT (SELECT COUNT(*) FROM checks) + (SELECT COUNT(*) FROM rollups)`).Scan(&rows); err != nil {
		b.Fatal(err)
	}

	b.Run("uptime-90d", func(b *testing.B) {
		now := clock.Now()
		for b.Loop() {
			r, err := s.Uptime(ctx, "whatsapp", now.Add(-90*24*time.Hour), now, 24*time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			if !r.Known || r.Checks < 90*2700 {
				b.Fatalf("Uptime over 90 days: known %v, %d checks; want about %d", r.Known, r.Checks, 90*2880)
			}
		}
		reportSize(b, s)
		b.ReportMetric(float64(rows), "rows")
	})

	b.Run("uptime-90d-hourly", func(b *testing.B) {
		now := clock.Now()
		for b.Loop() {
			r, err := s.Uptime(ctx, "whatsapp", now.Add(-90*24*time.Hour), now, time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			if len(r.Series) != 90*24 {
				b.Fatalf("Uptime over 90 days by hour: %d buckets; want %d", len(r.Series), 90*24)
			}
		}
	})

	b.Run("rollup-day", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(12, 31))
		for b.Loop() {
			b.StopTimer()
			day := clock.Now()
			tx, err := s.wdb.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, svc := range benchServices {
				if err := insertChecks(ctx, tx, svc, genDay(rng, day)); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			clock.Advance(24 * time.Hour)
			b.StartTimer()
			if err := s.Maintain(ctx); err != nil {
				b.Fatal(err)
			}
		}
		reportSize(b, s)
	})
}
