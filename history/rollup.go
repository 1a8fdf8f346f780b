package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// How long each resolution is kept. Retain deletes what is older.
const (
	RawRetention    = 48 * time.Hour
	MinuteRetention = 7 * 24 * time.Hour
	HourRetention   = 90 * 24 * time.Hour
	DayRetention    = 730 * 24 * time.Hour
)

// Rollup resolutions, in milliseconds. Buckets are aligned to UTC.
const (
	resMinute = int64(time.Minute / time.Millisecond)
	resHour   = int64(time.Hour / time.Millisecond)
	resDay    = 24 * resHour
)

// checkRow is a check as stored.
type checkRow struct {
	at    int64 // ms
	state int
	latUs int64
	rss   int64
	maint bool
}

// agg is what a rollup row holds: counts of checks by state, the time each
// state (or maintenance) covered, response times and the largest RSS.
type agg struct {
	count, healthy, unhealthy, stopped      int64
	healthyMs, unhealthyMs, stoppedMs, mtMs int64
	rtN, rtMinUs, rtMaxUs                   int64
	rtSumUs                                 float64
	rssMax                                  int64
}

func (a *agg) addCheck(c checkRow) {
	switch stateCode(c.state) {
	case Healthy:
		a.healthy++
	case Unhealthy:
		a.unhealthy++
	case Stopped:
		a.stopped++
	default:
		return
	}
	a.count++
	if c.latUs > 0 {
		if a.rtN == 0 || c.latUs < a.rtMinUs {
			a.rtMinUs = c.latUs
		}
		a.rtMaxUs = max(a.rtMaxUs, c.latUs)
		a.rtN++
		a.rtSumUs += float64(c.latUs)
	}
	a.rssMax = max(a.rssMax, c.rss)
}

// addTime adds ms of a check's state; maintenance time is maintenance only.
func (a *agg) addTime(state int, maint bool, ms int64) {
	if maint {
		a.mtMs += ms
		return
	}
	switch stateCode(state) {
	case Healthy:
		a.healthyMs += ms
	case Unhealthy:
		a.unhealthyMs += ms
	case Stopped:
		a.stoppedMs += ms
	}
}

// mergeScaled adds b, its times and counts scaled by f (0 < f <= 1), for a
// coarser row that only partly overlaps a window.
func (a *agg) mergeScaled(b agg, f float64) {
	sc := func(v int64) int64 {
		if f == 1 {
			return v
		}
		return int64(float64(v)*f + 0.5)
	}
	a.count += sc(b.count)
	a.healthy += sc(b.healthy)
	a.unhealthy += sc(b.unhealthy)
	a.stopped += sc(b.stopped)
	a.healthyMs += sc(b.healthyMs)
	a.unhealthyMs += sc(b.unhealthyMs)
	a.stoppedMs += sc(b.stoppedMs)
	a.mtMs += sc(b.mtMs)
	if b.rtN > 0 {
		if a.rtN == 0 || b.rtMinUs < a.rtMinUs {
			a.rtMinUs = b.rtMinUs
		}
		a.rtMaxUs = max(a.rtMaxUs, b.rtMaxUs)
		a.rtN += b.rtN
		a.rtSumUs += b.rtSumUs
	}
	a.rssMax = max(a.rssMax, b.rssMax)
}

func (a agg) observedMs() int64 { return a.healthyMs + a.unhealthyMs + a.stoppedMs + a.mtMs }
func (a agg) empty() bool       { return a.count == 0 && a.observedMs() == 0 }

func stateCode(code int) State {
	switch code {
	case 1:
		return Healthy
	case 2:
		return Unhealthy
	case 3:
		return Stopped
	}
	return ""
}

// segmentEnd is where the time check i covers ends: at the next check if it
// came within 2×interval; otherwise one interval after it (the rest of the
// gap is unknown); the last check covers up to now while it is no older
// than 2×interval.
func segmentEnd(checks []checkRow, i int, ivMs, nowMs int64) int64 {
	at := checks[i].at
	if i+1 < len(checks) {
		if next := checks[i+1].at; next-at <= 2*ivMs {
			return next
		}
		return at + ivMs
	}
	if nowMs-at <= 2*ivMs {
		return max(nowMs, at)
	}
	return at + ivMs
}

// bucketize spreads checks (sorted by time) over the buckets of width res
// from `from` (aligned by the caller) to `to`: each check counts in the
// bucket holding it, its time in every bucket its segment crosses.
func bucketize(checks []checkRow, from, to, res, ivMs, nowMs int64) []agg {
	if to <= from {
		return nil
	}
	out := make([]agg, (to-from+res-1)/res)
	spread(out, from, res, from, to, checks, ivMs, nowMs)
	return out
}

// spread adds checks into out, whose bucket i is [base+i*res,
// base+(i+1)*res), counting only what lies in [lo, hi).
func spread(out []agg, base, res, lo, hi int64, checks []checkRow, ivMs, nowMs int64) {
	for i, c := range checks {
		if c.at >= lo && c.at < hi {
			out[(c.at-base)/res].addCheck(c)
		}
		a, z := max(c.at, lo), min(segmentEnd(checks, i, ivMs, nowMs), hi)
		for a < z {
			b := (a - base) / res
			end := min(base+(b+1)*res, z)
			out[b].addTime(c.state, c.maint, end-a)
			a = end
		}
	}
}

func floorTo(t, res int64) int64 {
	if t >= 0 {
		return t - t%res
	}
	return t - (res+t%res)%res
}

func ceilTo(t, res int64) int64 { return -floorTo(-t, res) }

// Rollup folds what is complete into rollups: checks into minutes (up to
// 2×interval before now, so each minute's last check knows its successor),
// minutes into hours, hours into days. It starts where the previous call
// stopped; calling it again with the same now changes nothing, and a minute
// rolled up twice from the same checks has the same row.
func (s *Store) Rollup(ctx context.Context, now time.Time) error {
	nowMs := now.UnixMilli()
	ivMs := s.opts.CheckInterval.Milliseconds()
	if err := s.rollupMinutes(ctx, nowMs, ivMs); err != nil {
		return fmt.Errorf("history rollup: minutes: %w", err)
	}
	if err := s.rollupCoarser(ctx, resMinute, resHour); err != nil {
		return fmt.Errorf("history rollup: hours: %w", err)
	}
	if err := s.rollupCoarser(ctx, resHour, resDay); err != nil {
		return fmt.Errorf("history rollup: days: %w", err)
	}
	return nil
}

func watermark(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, res int64) (int64, bool, error) {
	var upto int64
	err := q.QueryRowContext(ctx, `SELECT upto FROM watermarks WHERE res = ?`, res).Scan(&upto)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return upto, err == nil, err
}

func (s *Store) rollupMinutes(ctx context.Context, nowMs, ivMs int64) error {
	end := floorTo(nowMs-2*ivMs, resMinute)
	start, ok, err := watermark(ctx, s.wdb, resMinute)
	if err != nil {
		return err
	}
	if !ok {
		var first sql.NullInt64
		if err := s.wdb.QueryRowContext(ctx, `SELECT MIN(at) FROM checks`).Scan(&first); err != nil {
			return err
		}
		if !first.Valid {
			return nil
		}
		start = floorTo(first.Int64, resMinute)
	}
	for cs := start; cs < end; {
		ce := min(cs+resDay, end)
		if err := s.rollupMinuteChunk(ctx, cs, ce, nowMs, ivMs); err != nil {
			return err
		}
		cs = ce
	}
	return nil
}

// rollupMinuteChunk recomputes the minutes in [cs, ce) for every service in
// one transaction and moves the minute watermark to ce.
func (s *Store) rollupMinuteChunk(ctx context.Context, cs, ce, nowMs, ivMs int64) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	services, err := distinctServices(ctx, tx, cs-2*ivMs, ce)
	if err != nil {
		return err
	}
	for _, svc := range services {
		checks, err := loadChecks(ctx, tx, svc, cs-2*ivMs, ce+2*ivMs+1)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM rollups WHERE service = ? AND res = ? AND start >= ? AND start < ?`, svc, resMinute, cs, ce); err != nil {
			return err
		}
		for i, a := range bucketize(checks, cs, ce, resMinute, ivMs, nowMs) {
			if a.empty() {
				continue
			}
			if err := insertRollup(ctx, tx, svc, resMinute, cs+int64(i)*resMinute, a); err != nil {
				return err
			}
		}
	}
	if err := setWatermark(ctx, tx, resMinute, ce); err != nil {
		return err
	}
	return tx.Commit()
}

type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

func distinctServices(ctx context.Context, q querier, from, to int64) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT service FROM checks WHERE at >= ? AND at < ? ORDER BY service`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func loadChecks(ctx context.Context, q querier, service string, from, to int64) ([]checkRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT at, state, latency_us, rss, maint FROM checks WHERE service = ? AND at >= ? AND at < ? ORDER BY at`, service, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []checkRow
	for rows.Next() {
		var c checkRow
		if err := rows.Scan(&c.at, &c.state, &c.latUs, &c.rss, &c.maint); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func insertRollup(ctx context.Context, tx *sql.Tx, service string, res, start int64, a agg) error {
	avg := 0.0
	if a.rtN > 0 {
		avg = a.rtSumUs / float64(a.rtN)
	}
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO rollups (service, res, start, count, healthy, unhealthy, stopped,
		healthy_ms, unhealthy_ms, stopped_ms, maint_ms, rt_n, rt_min_us, rt_avg_us, rt_max_us, rss_max)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		service, res, start, a.count, a.healthy, a.unhealthy, a.stopped,
		a.healthyMs, a.unhealthyMs, a.stoppedMs, a.mtMs, a.rtN, a.rtMinUs, avg, a.rtMaxUs, a.rssMax)
	return err
}

func setWatermark(ctx context.Context, tx *sql.Tx, res, upto int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO watermarks (res, upto) VALUES (?, ?) ON CONFLICT (res) DO UPDATE SET upto = excluded.upto`, res, upto)
	return err
}

// rollupCoarser folds the complete `to`-sized buckets of the `from` rows,
// up to the `from` watermark, into rows of resolution `to`, in one
// transaction.
func (s *Store) rollupCoarser(ctx context.Context, from, to int64) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	fineUpto, ok, err := watermark(ctx, tx, from)
	if err != nil || !ok {
		return err
	}
	end := floorTo(fineUpto, to)
	start, ok, err := watermark(ctx, tx, to)
	if err != nil {
		return err
	}
	if !ok {
		var first sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MIN(start) FROM rollups WHERE res = ?`, from).Scan(&first); err != nil {
			return err
		}
		if !first.Valid {
			return nil
		}
		start = floorTo(first.Int64, to)
	}
	if start >= end {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM rollups WHERE res = ? AND start >= ? AND start < ?`, to, start, end); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO rollups (service, res, start, count, healthy, unhealthy, stopped,
		healthy_ms, unhealthy_ms, stopped_ms, maint_ms, rt_n, rt_min_us, rt_avg_us, rt_max_us, rss_max)
		SELECT service, ?, start - (start % ?), SUM(count), SUM(healthy), SUM(unhealthy), SUM(stopped),
			SUM(healthy_ms), SUM(unhealthy_ms), SUM(stopped_ms), SUM(maint_ms), SUM(rt_n),
			COALESCE(MIN(CASE WHEN rt_n > 0 THEN rt_min_us END), 0),
			COALESCE(SUM(rt_avg_us * rt_n) / NULLIF(SUM(rt_n), 0), 0),
			MAX(rt_max_us), MAX(rss_max)
		FROM rollups WHERE res = ? AND start >= ? AND start < ?
		GROUP BY service, start - (start % ?)`, to, to, from, start, end, to); err != nil {
		return err
	}
	if err := setWatermark(ctx, tx, to, end); err != nil {
		return err
	}
	return tx.Commit()
}

// Retain deletes what the retention no longer keeps: checks older than
// RawRetention, minute, hour and day rollups older than MinuteRetention,
// HourRetention and DayRetention, and incidents (resolved), actions and
// restorations older than DayRetention. It never deletes what has not been
// rolled up into the next resolution yet.
func (s *Store) Retain(ctx context.Context, now time.Time) error {
	nowMs := now.UnixMilli()
	ivMs := s.opts.CheckInterval.Milliseconds()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("history retain: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	wm := map[int64]int64{}
	for _, res := range []int64{resMinute, resHour, resDay} {
		v, _, err := watermark(ctx, tx, res)
		if err != nil {
			return fmt.Errorf("history retain: %w", err)
		}
		wm[res] = v
	}
	old := nowMs - DayRetention.Milliseconds()
	stmts := []struct {
		q    string
		args []any
	}{
		{`DELETE FROM checks WHERE at < ?`, []any{min(nowMs-RawRetention.Milliseconds(), wm[resMinute]-2*ivMs)}},
		{`DELETE FROM rollups WHERE res = ? AND start < ?`, []any{resMinute, min(nowMs-MinuteRetention.Milliseconds(), wm[resHour])}},
		{`DELETE FROM rollups WHERE res = ? AND start < ?`, []any{resHour, min(nowMs-HourRetention.Milliseconds(), wm[resDay])}},
		{`DELETE FROM rollups WHERE res = ? AND start < ?`, []any{resDay, old}},
		{`DELETE FROM incidents WHERE resolved_at IS NOT NULL AND resolved_at < ?`, []any{old}},
		{`DELETE FROM actions WHERE at < ?`, []any{old}},
		{`DELETE FROM restorations WHERE at < ?`, []any{old}},
	}
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
			return fmt.Errorf("history retain: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("history retain: %w", err)
	}
	return nil
}

// Schedule registers the rollup-and-retention job on sch, to run every
// `every` (a minute is right: each run only folds what is new). The job
// reads the time from the Store's clock and logs its errors. The caller
// starts and shuts down the scheduler.
func (s *Store) Schedule(sch gocron.Scheduler, every time.Duration) (gocron.Job, error) {
	if every <= 0 {
		return nil, fmt.Errorf("schedule history rollup: interval %s: must be positive", every)
	}
	j, err := sch.NewJob(gocron.DurationJob(every), gocron.NewTask(func(ctx context.Context) {
		if err := s.Maintain(ctx); err != nil {
			s.log.Error().Err(err).Msg("history: rollup and retention failed")
		}
	}), gocron.WithSingletonMode(gocron.LimitModeReschedule), gocron.WithName("history rollup and retention"))
	if err != nil {
		return nil, fmt.Errorf("schedule history rollup: %w", err)
	}
	return j, nil
}

// Maintain runs Rollup then Retain at the Store clock's now: the job
// Schedule registers.
func (s *Store) Maintain(ctx context.Context) error {
	now := s.clock.Now()
	return errors.Join(s.Rollup(ctx, now), s.Retain(ctx, now))
}
