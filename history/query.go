package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Span is a stretch of time, To excluded.
type Span struct{ From, To time.Time }

// Bucket is one step of a Report's series.
type Bucket struct {
	Start time.Time
	// Time by state; Maintenance is time in a maintenance window whatever
	// the state; Unknown is time without a check (the bot was down), up to
	// now: a bucket in the future has none.
	Healthy, Unhealthy, Stopped, Maintenance, Unknown time.Duration
	// Uptime is Healthy / (Healthy + Unhealthy + Stopped); Known is false
	// (and Uptime 0) when that sum is zero.
	Uptime      float64
	Known       bool
	ResponseAvg time.Duration // mean health-check response time; 0 when none
	Checks      int
}

// Incident is an incident as recorded.
type Incident struct {
	ID, Service, Cause string
	FailedAt, OpenedAt time.Time
	AckedBy            string
	AckedAt            time.Time // zero: not acknowledged
	ResolvedAt         time.Time // zero: still open
	ResolvedBy         string
	// Duration is the outage: from FailedAt to ResolvedAt, or to now while
	// the incident is open.
	Duration time.Duration
}

// Open reports whether the incident is not resolved.
func (i Incident) Open() bool { return i.ResolvedAt.IsZero() }

// Report is a service's uptime over a window.
type Report struct {
	Service  string
	From, To time.Time
	Bucket   time.Duration
	// Uptime is healthy time / (observed time - maintenance time); Known
	// is false when nothing but maintenance or nothing at all was observed.
	Uptime float64
	Known  bool
	// The window's time by state, as in Bucket; they add up to the part of
	// the window up to now.
	Healthy, Unhealthy, Stopped, Maintenance, Unknown time.Duration
	Checks                                            int
	ResponseAvg                                       time.Duration
	// Incidents that overlap the window, oldest first.
	Incidents []Incident
	// Outage is the incidents' time inside the window (from the failure).
	Outage time.Duration
	// MTTR is the mean outage of the window's resolved incidents; 0 when
	// none was resolved.
	MTTR time.Duration
	// Restarts counts the window's "restart" actions by who.
	Restarts map[string]int
	// Series has one Bucket per Bucket-long step from From.
	Series []Bucket
	// IncidentSpans are the incidents clipped to the window;
	// MaintenanceSpans the maintenance time, at the resolution of the data
	// for that part of the window (a minute, an hour or a day for rollups).
	IncidentSpans, MaintenanceSpans []Span
}

// maxBuckets bounds a Report's series.
const maxBuckets = 10_000

// Uptime reports service's uptime over [from, to) with a series of
// bucket-long steps. Each part of the window is read from the finest data
// retention keeps for it: checks for the last 48 hours, then minute, hour
// and day rollups. Time after now is neither up, down nor unknown.
func (s *Store) Uptime(ctx context.Context, service string, from, to time.Time, bucket time.Duration) (Report, error) {
	switch {
	case service == "":
		return Report{}, errors.New("history uptime: no service")
	case !to.After(from):
		return Report{}, fmt.Errorf("history uptime %s: window %s to %s is empty", service, from, to)
	case bucket < time.Second:
		return Report{}, fmt.Errorf("history uptime %s: bucket %s: must be at least a second", service, bucket)
	case to.Sub(from)/bucket > maxBuckets:
		return Report{}, fmt.Errorf("history uptime %s: %s in %s buckets is more than %d", service, to.Sub(from), bucket, maxBuckets)
	}
	now := s.clock.Now()
	r := Report{Service: service, From: from, To: to, Bucket: bucket, Restarts: map[string]int{}}
	f, t, nowMs := from.UnixMilli(), to.UnixMilli(), now.UnixMilli()
	e := min(t, nowMs)
	res := bucket.Milliseconds()
	buckets := make([]agg, (t-f+res-1)/res)
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return r, fmt.Errorf("history uptime %s: %w", service, err)
	}
	defer func() { _ = tx.Rollback() }()

	var mspans []Span
	if e > f {
		if mspans, err = s.readWindow(ctx, tx, service, buckets, f, e, res, nowMs); err != nil {
			return r, fmt.Errorf("history uptime %s: %w", service, err)
		}
	}
	r.MaintenanceSpans = mspans

	var total agg
	for i, a := range buckets {
		b := Bucket{Start: from.Add(time.Duration(i) * bucket), Checks: int(a.count),
			Healthy: ms(a.healthyMs), Unhealthy: ms(a.unhealthyMs), Stopped: ms(a.stoppedMs), Maintenance: ms(a.mtMs)}
		bs, be := f+int64(i)*res, min(f+int64(i+1)*res, t)
		if span := min(be, e) - bs; span > 0 {
			b.Unknown = ms(max(span-a.observedMs(), 0))
		}
		b.Uptime, b.Known = ratio(a)
		if a.rtN > 0 {
			b.ResponseAvg = time.Duration(a.rtSumUs/float64(a.rtN)) * time.Microsecond
		}
		r.Series = append(r.Series, b)
		r.Unknown += b.Unknown
		total.mergeScaled(a, 1)
	}
	r.Healthy, r.Unhealthy, r.Stopped, r.Maintenance = ms(total.healthyMs), ms(total.unhealthyMs), ms(total.stoppedMs), ms(total.mtMs)
	r.Checks = int(total.count)
	r.Uptime, r.Known = ratio(total)
	if total.rtN > 0 {
		r.ResponseAvg = time.Duration(total.rtSumUs/float64(total.rtN)) * time.Microsecond
	}

	if err := s.readIncidents(ctx, tx, &r, f, e, now); err != nil {
		return r, fmt.Errorf("history uptime %s: incidents: %w", service, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT who, COUNT(*) FROM actions WHERE service = ? AND what = 'restart' AND at >= ? AND at < ? GROUP BY who`, service, f, t)
	if err != nil {
		return r, fmt.Errorf("history uptime %s: actions: %w", service, err)
	}
	defer rows.Close()
	for rows.Next() {
		var who string
		var n int
		if err := rows.Scan(&who, &n); err != nil {
			return r, fmt.Errorf("history uptime %s: actions: %w", service, err)
		}
		r.Restarts[who] = n
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("history uptime %s: actions: %w", service, err)
	}
	return r, nil
}

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

func ratio(a agg) (float64, bool) {
	judged := a.healthyMs + a.unhealthyMs + a.stoppedMs
	if judged == 0 {
		return 0, false
	}
	return float64(a.healthyMs) / float64(judged), true
}

// readWindow adds [f, e) of service into buckets (bucket i starts at
// f+i*res): day rollups, then hour, then minute, then checks, each part
// from the finest data retention keeps for it. It returns the maintenance
// spans, at the resolution of that finest data.
//
// Inside the rollup parts, a coarser row stands in for the finer rows it
// sums wherever it lies wholly inside one bucket and has been rolled up:
// a 90-day report by day reads whole days and hours where it can, and
// minutes only around bucket edges that are not on an hour. The figures
// are those of the finest rows (a rollup is their sum).
func (s *Store) readWindow(ctx context.Context, tx *sql.Tx, service string, buckets []agg, f, e, res, nowMs int64) ([]Span, error) {
	ivMs := s.opts.CheckInterval.Milliseconds()
	wm := map[int64]int64{}
	for _, r := range []int64{resMinute, resHour, resDay} {
		v, ok, err := watermark(ctx, tx, r)
		if err != nil {
			return nil, err
		}
		if !ok {
			v = f // nothing rolled up at this resolution: use finer data
		}
		wm[r] = v
	}
	// Where each resolution takes over, coarse to fine.
	rawLo := min(ceilTo(nowMs-RawRetention.Milliseconds()+2*ivMs, resMinute), wm[resMinute])
	minLo := min(ceilTo(nowMs-MinuteRetention.Milliseconds(), resHour), wm[resHour], rawLo)
	hourLo := min(ceilTo(nowMs-HourRetention.Milliseconds(), resDay), wm[resDay], minLo)
	plan := readPlan{}
	for _, part := range []struct{ res, lo, hi int64 }{
		{resDay, f, hourLo}, {resHour, hourLo, minLo}, {resMinute, minLo, rawLo},
	} {
		lo, hi := max(part.lo, f), min(part.hi, e)
		for lo < hi { // bucket by bucket
			z := min(f+((lo-f)/res+1)*res, hi)
			plan.cover(lo, z, resDay, part.res, wm)
			lo = z
		}
	}
	var spans []Span
	refine := readPlan{}
	for _, r := range []int64{resDay, resHour, resMinute} {
		if len(plan[r]) == 0 {
			continue
		}
		sp, err := readRollups(ctx, tx, service, r, plan[r], buckets, f, res, refine)
		if err != nil {
			return nil, err
		}
		spans = append(spans, sp...)
	}
	for _, r := range []int64{resHour, resMinute} {
		if len(refine[r]) == 0 {
			continue
		}
		sp, err := maintenanceSpans(ctx, tx, service, r, refine[r])
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

// rollupRange is a stretch [lo, hi) to read from rollups of one
// resolution; fine is the finest resolution kept there, whose rows give
// the maintenance spans.
type rollupRange struct{ lo, hi, fine int64 }

// readPlan is what to read from each resolution of rollups, in time order.
type readPlan map[int64][]rollupRange

func finer(r int64) int64 {
	if r == resDay {
		return resHour
	}
	return resMinute
}

// cover plans [a, z), which lies inside one bucket and whose finest rows
// are of resolution fine: rows of resolution r (from resDay down) where
// they fit wholly inside it and have been rolled up (below wm[r]), finer
// rows for the rest, and rows of resolution fine, partly inside or not,
// for what is left.
func (p readPlan) cover(a, z, r, fine int64, wm map[int64]int64) {
	if a >= z {
		return
	}
	if r <= fine {
		p.add(fine, a, z, fine)
		return
	}
	ca, cz := ceilTo(a, r), min(floorTo(z, r), wm[r])
	if ca >= cz {
		p.cover(a, z, finer(r), fine, wm)
		return
	}
	p.cover(a, ca, finer(r), fine, wm)
	p.add(r, ca, cz, fine)
	p.cover(cz, z, finer(r), fine, wm)
}

// add appends [lo, hi) to the rows of resolution r, joining it to the
// previous stretch when they meet.
func (p readPlan) add(r, lo, hi, fine int64) {
	rs := p[r]
	if n := len(rs); n > 0 && rs[n-1].hi == lo && rs[n-1].fine == fine {
		rs[n-1].hi = hi
		return
	}
	p[r] = append(rs, rollupRange{lo, hi, fine})
}

// rangesJSON is ranges as the JSON array of [lo, hi, fine] that the
// queries read with json_each.
func rangesJSON(ranges []rollupRange) string {
	b := make([]byte, 0, 48*len(ranges)+2)
	b = append(b, '[')
	for i, r := range ranges {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, r.lo, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.hi, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.fine, 10)
		b = append(b, ']')
	}
	return string(append(b, ']'))
}

// readRollups adds the rows of resolution rres overlapping the ranges into
// buckets, each scaled by the share of it inside its range and each
// bucket, and returns the maintenance spans of the rows that are the
// finest there. A coarser row with maintenance time adds its stretch to
// refine[fine], to be read at that finer resolution (maintenanceSpans).
//
// The rows that lie wholly inside a range and inside one bucket are summed
// by SQLite, one row a bucket; only the others (at most one at each end of
// a range or bucket) and those with maintenance time come back one by one.
func readRollups(ctx context.Context, tx *sql.Tx, service string, rres int64, ranges []rollupRange, buckets []agg, f, res int64, refine readPlan) ([]Span, error) {
	// ?1 the ranges, ?2 f, ?3 res, ?4 service, ?5 rres; a range starts at
	// or after f, so the divisions are of non-negative numbers.
	const (
		with   = `WITH r (lo, hi, fine) AS MATERIALIZED (SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1)) `
		from   = ` FROM r CROSS JOIN rollups ON rollups.service = ?4 AND rollups.res = ?5 AND start < r.hi AND start > r.lo - ?5`
		inside = `(start >= r.lo AND start + ?5 <= r.hi AND (start - ?2) / ?3 = (start + ?5 - 1 - ?2) / ?3)`
	)
	args := []any{rangesJSON(ranges), f, res, service, rres}
	rows, err := tx.QueryContext(ctx, with+`SELECT (start - ?2) / ?3, SUM(count), SUM(healthy), SUM(unhealthy), SUM(stopped),
		SUM(healthy_ms), SUM(unhealthy_ms), SUM(stopped_ms), SUM(maint_ms), SUM(rt_n),
		COALESCE(MIN(CASE WHEN rt_n > 0 THEN rt_min_us END), 0), SUM(rt_avg_us * rt_n), MAX(rt_max_us), MAX(rss_max)`+
		from+` WHERE `+inside+` GROUP BY 1`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var b int64
		var a agg
		if err := rows.Scan(&b, &a.count, &a.healthy, &a.unhealthy, &a.stopped, &a.healthyMs, &a.unhealthyMs, &a.stoppedMs, &a.mtMs,
			&a.rtN, &a.rtMinUs, &a.rtSumUs, &a.rtMaxUs, &a.rssMax); err != nil {
			_ = rows.Close()
			return nil, err
		}
		if b < 0 || b >= int64(len(buckets)) {
			_ = rows.Close()
			return nil, fmt.Errorf("rollup sum for bucket %d of %d", b, len(buckets))
		}
		buckets[b].mergeScaled(a, 1)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = tx.QueryContext(ctx, with+`SELECT r.lo, r.hi, r.fine, start, `+inside+`,
		count, healthy, unhealthy, stopped, healthy_ms, unhealthy_ms, stopped_ms, maint_ms,
		rt_n, rt_min_us, rt_avg_us, rt_max_us, rss_max`+
		from+` WHERE NOT `+inside+` OR maint_ms > 0 ORDER BY start`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var spans []Span
	for rows.Next() {
		var lo, hi, fine, st int64
		var summed bool
		var a agg
		var avg float64
		if err := rows.Scan(&lo, &hi, &fine, &st, &summed, &a.count, &a.healthy, &a.unhealthy, &a.stopped, &a.healthyMs, &a.unhealthyMs, &a.stoppedMs, &a.mtMs,
			&a.rtN, &a.rtMinUs, &avg, &a.rtMaxUs, &a.rssMax); err != nil {
			return nil, err
		}
		a.rtSumUs = avg * float64(a.rtN)
		// Spread the row over the buckets it overlaps inside its range.
		for x, z := max(st, lo), min(st+rres, hi); !summed && x < z; {
			b := (x - f) / res
			end := min(f+(b+1)*res, z)
			buckets[b].mergeScaled(a, float64(end-x)/float64(rres))
			x = end
		}
		if a.mtMs <= 0 {
			continue
		}
		from, to := max(st, lo), min(st+rres, hi)
		if fine == rres {
			spans = append(spans, Span{time.UnixMilli(from).UTC(), time.UnixMilli(to).UTC()})
		} else {
			refine.add(fine, from, to, fine)
		}
	}
	return spans, rows.Err()
}

// maintenanceSpans returns the stretches of the rows of resolution rres
// inside the ranges that have maintenance time.
func maintenanceSpans(ctx context.Context, tx *sql.Tx, service string, rres int64, ranges []rollupRange) ([]Span, error) {
	rows, err := tx.QueryContext(ctx, `WITH r (lo, hi) AS MATERIALIZED (SELECT value ->> 0, value ->> 1 FROM json_each(?1))
		SELECT start FROM r CROSS JOIN rollups ON rollups.service = ?2 AND rollups.res = ?3 AND start >= r.lo AND start < r.hi
		WHERE maint_ms > 0 ORDER BY start`, rangesJSON(ranges), service, rres)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var spans []Span
	for rows.Next() {
		var st int64
		if err := rows.Scan(&st); err != nil {
			return nil, err
		}
		spans = append(spans, Span{time.UnixMilli(st).UTC(), time.UnixMilli(st + rres).UTC()})
	}
	return spans, rows.Err()
}

func mergeSpans(spans []Span) []Span {
	sort.Slice(spans, func(i, j int) bool { return spans[i].From.Before(spans[j].From) })
	var out []Span
	for _, sp := range spans {
		if n := len(out); n > 0 && !sp.From.After(out[n-1].To) {
			if sp.To.After(out[n-1].To) {
				out[n-1].To = sp.To
			}
			continue
		}
		out = append(out, sp)
	}
	return out
}

const incidentColumns = `id, service, cause, failed_at, opened_at, acked_by, acked_at, resolved_at, resolved_by`

func scanIncident(rows *sql.Rows, now time.Time) (Incident, error) {
	var in Incident
	var failed, opened int64
	var acked, resolved sql.NullInt64
	if err := rows.Scan(&in.ID, &in.Service, &in.Cause, &failed, &opened, &in.AckedBy, &acked, &resolved, &in.ResolvedBy); err != nil {
		return in, err
	}
	in.FailedAt, in.OpenedAt = time.UnixMilli(failed).UTC(), time.UnixMilli(opened).UTC()
	if acked.Valid {
		in.AckedAt = time.UnixMilli(acked.Int64).UTC()
	}
	end := now
	if resolved.Valid {
		in.ResolvedAt = time.UnixMilli(resolved.Int64).UTC()
		end = in.ResolvedAt
	}
	in.Duration = max(end.Sub(in.FailedAt), 0)
	return in, nil
}

func (s *Store) readIncidents(ctx context.Context, tx *sql.Tx, r *Report, f, e int64, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+incidentColumns+` FROM incidents
		WHERE service = ? AND failed_at < ? AND (resolved_at IS NULL OR resolved_at > ?) ORDER BY failed_at, id`, r.Service, e, f)
	if err != nil {
		return err
	}
	defer rows.Close()
	var resolved int
	var repair time.Duration
	for rows.Next() {
		in, err := scanIncident(rows, now)
		if err != nil {
			return err
		}
		r.Incidents = append(r.Incidents, in)
		end := in.FailedAt.Add(in.Duration)
		a, z := max(in.FailedAt.UnixMilli(), f), min(end.UnixMilli(), e)
		if a < z {
			r.Outage += ms(z - a)
			r.IncidentSpans = append(r.IncidentSpans, Span{time.UnixMilli(a).UTC(), time.UnixMilli(z).UTC()})
		}
		if !in.Open() {
			resolved++
			repair += in.Duration
		}
	}
	if resolved > 0 {
		r.MTTR = repair / time.Duration(resolved)
	}
	return rows.Err()
}

// Incidents returns service's last n incidents, newest first.
func (s *Store) Incidents(ctx context.Context, service string, n int) ([]Incident, error) {
	if n <= 0 {
		return nil, fmt.Errorf("history incidents %s: n %d: must be positive", service, n)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE service = ? ORDER BY failed_at DESC, id DESC LIMIT ?`, service, n)
	if err != nil {
		return nil, fmt.Errorf("history incidents %s: %w", service, err)
	}
	defer rows.Close()
	now := s.clock.Now()
	var out []Incident
	for rows.Next() {
		in, err := scanIncident(rows, now)
		if err != nil {
			return nil, fmt.Errorf("history incidents %s: %w", service, err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history incidents %s: %w", service, err)
	}
	return out, nil
}

// LastRestoration returns service's latest restoration with its sessions'
// outcomes; ok is false when none is recorded.
func (s *Store) LastRestoration(ctx context.Context, service string) (r Restoration, ok bool, err error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return r, false, fmt.Errorf("history last restoration %s: %w", service, err)
	}
	defer func() { _ = tx.Rollback() }()
	var id, at int64
	err = tx.QueryRowContext(ctx, `SELECT id, service, at, found, restored, failed FROM restorations WHERE service = ? ORDER BY at DESC, id DESC LIMIT 1`, service).
		Scan(&id, &r.Service, &at, &r.Found, &r.Restored, &r.Failed)
	if errors.Is(err, sql.ErrNoRows) {
		return Restoration{}, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("history last restoration %s: %w", service, err)
	}
	r.At = time.UnixMilli(at).UTC()
	rows, err := tx.QueryContext(ctx, `SELECT session, outcome, detail FROM restoration_sessions WHERE restoration_id = ? ORDER BY rowid`, id)
	if err != nil {
		return r, false, fmt.Errorf("history last restoration %s: sessions: %w", service, err)
	}
	defer rows.Close()
	for rows.Next() {
		var so SessionOutcome
		if err := rows.Scan(&so.Session, &so.Outcome, &so.Detail); err != nil {
			return r, false, fmt.Errorf("history last restoration %s: sessions: %w", service, err)
		}
		r.Sessions = append(r.Sessions, so)
	}
	if err := rows.Err(); err != nil {
		return r, false, fmt.Errorf("history last restoration %s: sessions: %w", service, err)
	}
	return r, true, nil
}
