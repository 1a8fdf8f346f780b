package history

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// readWindowEach is readWindow as it was before coarser rollups stood in
// for finer ones and SQLite summed rows: every row of the finest rollups
// read and spread one by one. It is the oracle of TestUptimeSummedRollups.
func (s *Store) readWindowEach(ctx context.Context, tx *sql.Tx, service string, buckets []agg, f, e, res, nowMs int64) ([]Span, error) {
	ivMs := s.opts.CheckInterval.Milliseconds()
	wm := map[int64]int64{}
	for _, r := range []int64{resMinute, resHour, resDay} {
		v, ok, err := watermark(ctx, tx, r)
		if err != nil {
			return nil, err
		}
		if !ok {
			v = f
		}
		wm[r] = v
	}
	rawLo := min(ceilTo(nowMs-RawRetention.Milliseconds()+2*ivMs, resMinute), wm[resMinute])
	minLo := min(ceilTo(nowMs-MinuteRetention.Milliseconds(), resHour), wm[resHour], rawLo)
	hourLo := min(ceilTo(nowMs-HourRetention.Milliseconds(), resDay), wm[resDay], minLo)
	var spans []Span
	for _, part := range []struct{ res, lo, hi int64 }{
		{resDay, f, hourLo}, {resHour, hourLo, minLo}, {resMinute, minLo, rawLo},
	} {
		lo, hi := max(part.lo, f), min(part.hi, e)
		if lo >= hi {
			continue
		}
		sp, err := readRollupsEach(ctx, tx, service, part.res, lo, hi, buckets, f, res)
		if err != nil {
			return nil, err
		}
		spans = append(spans, sp...)
	}
	if lo := max(rawLo, f); lo < e {
		checks, err := loadChecks(ctx, tx, service, lo-2*ivMs, e)
		if err != nil {
			return nil, err
		}
		spread(buckets, f, res, lo, e, checks, ivMs, nowMs)
		for i, c := range checks {
			if !c.maint {
				continue
			}
			a, z := max(c.at, lo), min(segmentEnd(checks, i, ivMs, nowMs), e)
			if a < z {
				spans = append(spans, Span{time.UnixMilli(a).UTC(), time.UnixMilli(z).UTC()})
			}
		}
	}
	return mergeSpans(spans), nil
}

func readRollupsEach(ctx context.Context, tx *sql.Tx, service string, rres, lo, hi int64, buckets []agg, f, res int64) ([]Span, error) {
	rows, err := tx.QueryContext(ctx, `SELECT start, count, healthy, unhealthy, stopped, healthy_ms, unhealthy_ms, stopped_ms, maint_ms,
		rt_n, rt_min_us, rt_avg_us, rt_max_us, rss_max
		FROM rollups WHERE service = ? AND res = ? AND start < ? AND start > ? ORDER BY start`, service, rres, hi, lo-rres)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var spans []Span
	for rows.Next() {
		var st int64
		var a agg
		var avg float64
		if err := rows.Scan(&st, &a.count, &a.healthy, &a.unhealthy, &a.stopped, &a.healthyMs, &a.unhealthyMs, &a.stoppedMs, &a.mtMs,
			&a.rtN, &a.rtMinUs, &avg, &a.rtMaxUs, &a.rssMax); err != nil {
			return nil, err
		}
		a.rtSumUs = avg * float64(a.rtN)
		for x, z := max(st, lo), min(st+rres, hi); x < z; {
			b := (x - f) / res
			end := min(f+(b+1)*res, z)
			buckets[b].mergeScaled(a, float64(end-x)/float64(rres))
			x = end
		}
		if a.mtMs > 0 {
			spans = append(spans, Span{time.UnixMilli(max(st, lo)).UTC(), time.UnixMilli(min(st+rres, hi)).UTC()})
		}
	}
	return spans, rows.Err()
}

// Uptime reads coarser rollups for finer ones where they lie inside one
// bucket, and lets SQLite sum the rows inside one bucket: on windows and buckets aligned to nothing (so that rows straddle
// bucket edges and the window's ends), over minute, hour and day rollups,
// each bucket and the maintenance spans equal those of reading every row.
func TestUptimeSummedRollups(t *testing.T) {
	ctx := context.Background()
	end := t0.Add(10 * 24 * time.Hour)
	clock := clockwork.NewFakeClockAt(t0)
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clock, nil)
	// The checks of scriptDays, stored in one transaction: through the
	// writer, ten days take too long under the race detector.
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := insertChecks(ctx, tx, "whatsapp", scriptRows(end)); err != nil {
		t.Fatal(err)
	}
	if err := insertChecks(ctx, tx, "other", scriptRows(t0.Add(24*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	odd := 17*time.Minute + 23*time.Second + 456*time.Millisecond
	windows := []struct {
		name     string
		from, to time.Duration // from now
		bucket   time.Duration
	}{
		{"9 days by day", -9*24*time.Hour + odd, 0, 24 * time.Hour},
		{"9 days by 7 h, partly future", -9*24*time.Hour + odd, 5 * time.Hour, 7 * time.Hour},
		{"a week by hour", -8*24*time.Hour - odd, -24 * time.Hour, time.Hour},
		{"by 90 minutes", -10*24*time.Hour + odd, -odd, 90 * time.Minute},
		{"one bucket", -10 * 24 * time.Hour, 0, 10 * 24 * time.Hour},
		{"aligned days", -9 * 24 * time.Hour, 0, 24 * time.Hour},
	}
	for _, st := range []struct {
		name    string
		advance time.Duration
	}{{"minute rollups", 0}, {"hour rollups", 8 * 24 * time.Hour}, {"day rollups", 100 * 24 * time.Hour}} {
		clock.Advance(end.Add(st.advance).Sub(clock.Now()))
		if err := s.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		now := clock.Now()
		for _, w := range windows {
			t.Run(st.name+"/"+w.name, func(t *testing.T) {
				f, to := now.Add(w.from-st.advance).UnixMilli(), now.Add(w.to-st.advance).UnixMilli()
				if st.advance > 0 && w.to > 0 {
					to = now.Add(w.to).UnixMilli()
				}
				res := w.bucket.Milliseconds()
				e := min(to, now.UnixMilli())
				type reader func(ctx context.Context, tx *sql.Tx, service string, buckets []agg, f, e, res, nowMs int64) ([]Span, error)
				read := func(r reader) ([]agg, []Span) {
					buckets := make([]agg, (to-f+res-1)/res)
					tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
					if err != nil {
						t.Fatal(err)
					}
					defer func() { _ = tx.Rollback() }()
					spans, err := r(ctx, tx, "whatsapp", buckets, f, e, res, now.UnixMilli())
					if err != nil {
						t.Fatalf("readWindow: %v", err)
					}
					return buckets, spans
				}
				got, gotSpans := read(s.readWindow)
				want, wantSpans := read(s.readWindowEach)
				var checks int64
				for i := range want {
					checks += want[i].count
					if math.Abs(got[i].rtSumUs-want[i].rtSumUs) <= 1e-6*math.Abs(want[i].rtSumUs) {
						got[i].rtSumUs = want[i].rtSumUs
					}
					if got[i] != want[i] {
						t.Errorf("bucket %d:\n%+v\nwant\n%+v", i, got[i], want[i])
					}
				}
				if checks == 0 {
					t.Fatalf("the window read no data")
				}
				if !reflect.DeepEqual(gotSpans, wantSpans) {
					t.Errorf("maintenance spans:\n%v\nwant\n%v", gotSpans, wantSpans)
				}
			})
		}
	}
}

// scriptRows are the checks scriptDays records from t0 until end, as
// stored.
func scriptRows(end time.Time) []checkRow {
	var out []checkRow
	for at := t0; at.Before(end); at = at.Add(30 * time.Second) {
		tod := at.Sub(at.Truncate(24 * time.Hour))
		c := checkRow{at: at.UnixMilli(), state: Healthy.code(), latUs: 10_000, rss: 100 << 20}
		switch {
		case tod >= 5*time.Hour && tod < 6*time.Hour:
			continue
		case tod >= time.Hour && tod < time.Hour+10*time.Minute:
			c.state, c.latUs = Unhealthy.code(), 2_000_000
			if tod == time.Hour+5*time.Minute {
				c.rss = 500 << 20
			}
		case tod >= 10*time.Hour && tod < 10*time.Hour+30*time.Minute:
			c.state, c.latUs, c.maint = Stopped.code(), 0, true
		}
		out = append(out, c)
	}
	return out
}
