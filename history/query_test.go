package history

import (
	"context"
	"math"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// figures is the part of a Report the scripted history pins down.
type figures struct {
	Healthy, Unhealthy, Stopped, Maintenance, Unknown time.Duration
	Uptime                                            float64
	Checks                                            int
	Incidents                                         []string
	Outage, MTTR                                      time.Duration
	Restarts                                          map[string]int
	MaintenanceSpans                                  []Span
}

func figuresOf(r Report) figures {
	f := figures{Healthy: r.Healthy, Unhealthy: r.Unhealthy, Stopped: r.Stopped, Maintenance: r.Maintenance, Unknown: r.Unknown,
		Uptime: math.Round(r.Uptime*1e6) / 1e6, Checks: r.Checks, Outage: r.Outage, MTTR: r.MTTR, Restarts: r.Restarts, MaintenanceSpans: r.MaintenanceSpans}
	for _, in := range r.Incidents {
		f.Incidents = append(f.Incidents, in.ID)
	}
	return f
}

// scriptHistory is scriptDays for 49 hours plus incidents and actions.
func scriptHistory(s *Store) time.Time {
	end := t0.Add(49 * time.Hour)
	scriptDays(s, "whatsapp", end)
	h := func(d time.Duration) time.Time { return t0.Add(d) }
	s.RecordIncidentOpened(IncidentOpened{ID: "i1", Service: "whatsapp", FailedAt: h(time.Hour), OpenedAt: h(time.Hour + time.Minute), Cause: "health endpoint failing"})
	s.RecordIncidentAcknowledged("i1", "U1", h(time.Hour+2*time.Minute))
	s.RecordIncidentResolved("i1", "U1", h(time.Hour+10*time.Minute))
	s.RecordIncidentOpened(IncidentOpened{ID: "i2", Service: "whatsapp", FailedAt: h(25 * time.Hour), OpenedAt: h(25*time.Hour + time.Minute), Cause: "health endpoint failing"})
	s.RecordIncidentResolved("i2", "bot", h(25*time.Hour+10*time.Minute))
	s.RecordIncidentOpened(IncidentOpened{ID: "i3", Service: "whatsapp", FailedAt: h(48*time.Hour + 30*time.Minute), OpenedAt: h(48*time.Hour + 31*time.Minute), Cause: "crashed"})
	s.RecordIncidentOpened(IncidentOpened{ID: "x", Service: "other", FailedAt: h(time.Hour), OpenedAt: h(time.Hour)})
	for _, a := range []Action{
		{Service: "whatsapp", At: h(time.Hour + 9*time.Minute), Who: "U1", What: "restart", Outcome: "ok"},
		{Service: "whatsapp", At: h(2 * time.Hour), Who: "U1", What: "stop", Outcome: "ok"},
		{Service: "whatsapp", At: h(25*time.Hour + 5*time.Minute), Who: "bot", What: "restart", Outcome: "ok"},
		{Service: "whatsapp", At: h(26 * time.Hour), Who: "bot", What: "restart", Outcome: "failed"},
		{Service: "other", At: h(26 * time.Hour), Who: "U2", What: "restart", Outcome: "ok"},
	} {
		s.RecordAction(a)
	}
	return end
}

func TestUptime(t *testing.T) {
	ctx := context.Background()
	// One day of the script, by hand: 86400 s less the gap (3600 s), the
	// unhealthy 10 minutes (600 s) and the maintenance (1800 s).
	day := figures{Healthy: 80400 * time.Second, Unhealthy: 600 * time.Second, Maintenance: 1800 * time.Second, Unknown: time.Hour,
		Uptime: math.Round(80400.0/81000*1e6) / 1e6, Checks: 2760}
	day0 := day
	day0.Incidents, day0.Outage, day0.MTTR, day0.Restarts = []string{"i1"}, 10*time.Minute, 10*time.Minute, map[string]int{"U1": 1}
	day0.MaintenanceSpans = []Span{{t0.Add(10 * time.Hour), t0.Add(10*time.Hour + 30*time.Minute)}}
	two := figures{Healthy: 2 * day.Healthy, Unhealthy: 2 * day.Unhealthy, Maintenance: 2 * day.Maintenance, Unknown: 2 * day.Unknown,
		Uptime: day.Uptime, Checks: 2 * day.Checks, Incidents: []string{"i1", "i2"}, Outage: 20 * time.Minute, MTTR: 10 * time.Minute,
		Restarts:         map[string]int{"U1": 1, "bot": 2},
		MaintenanceSpans: []Span{day0.MaintenanceSpans[0], {t0.Add(34 * time.Hour), t0.Add(34*time.Hour + 30*time.Minute)}}}
	// The day in progress at now (t0+49h): one healthy hour, i3 open for
	// its last 30 minutes; the rest of the day is future, not unknown.
	today := figures{Healthy: time.Hour, Uptime: 1, Checks: 120, Incidents: []string{"i3"}, Outage: 30 * time.Minute, Restarts: map[string]int{}}

	type query struct {
		name     string
		from, to time.Time
		bucket   time.Duration
		want     figures
	}
	queries := []query{
		{"first day by hour", t0, t0.Add(24 * time.Hour), time.Hour, day0},
		{"two days by day", t0, t0.Add(48 * time.Hour), 24 * time.Hour, two},
		{"today, partly future", t0.Add(48 * time.Hour), t0.Add(72 * time.Hour), time.Hour, today},
	}
	// The same window must read the same whatever data holds it: raw
	// checks only; after rollup and retention (checks for the last 48 h,
	// minutes before); 100 days on, when only day rollups are left.
	stages := []struct {
		name     string
		maintain bool
		advance  time.Duration
		queries  []query
	}{
		{"checks only", false, 0, queries},
		{"rolled up and retained", true, 0, queries},
		{"100 days on: day rollups", true, 100 * 24 * time.Hour, queries[:2]},
	}
	clock := clockwork.NewFakeClockAt(t0)
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clock, nil)
	end := scriptHistory(s)
	waitWritten(t, s)
	clock.Advance(end.Sub(clock.Now()))
	for _, st := range stages {
		clock.Advance(st.advance)
		if st.maintain {
			if err := s.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range st.queries {
			want := q.want
			if st.advance > 0 {
				want.MaintenanceSpans = dayResolution(want.MaintenanceSpans)
			}
			t.Run(st.name+"/"+q.name, func(t *testing.T) {
				r, err := s.Uptime(ctx, "whatsapp", q.from, q.to, q.bucket)
				if err != nil {
					t.Fatalf("Uptime = %v", err)
				}
				if got := figuresOf(r); !reflect.DeepEqual(got, want) {
					t.Errorf("Uptime(%s, %s, %s) =\n%+v\nwant\n%+v", q.from, q.to, q.bucket, got, want)
				}
				if n := int(q.to.Sub(q.from) / q.bucket); len(r.Series) != n {
					t.Fatalf("series has %d buckets; want %d", len(r.Series), n)
				}
				var sum time.Duration
				for _, b := range r.Series {
					sum += b.Healthy + b.Unhealthy + b.Stopped + b.Maintenance + b.Unknown
				}
				upto := q.to
				if clock.Now().Before(upto) {
					upto = clock.Now()
				}
				if observed := upto.Sub(q.from); sum != observed {
					t.Errorf("series adds up to %s; want the window up to now, %s", sum, observed)
				}
			})
		}
	}

	// The series of the first day by hour, from checks at the start.
	s2 := openTest(t, filepath.Join(t.TempDir(), "h2.db"), clockwork.NewFakeClockAt(end), nil)
	scriptHistory(s2)
	waitWritten(t, s2)
	r, err := s2.Uptime(ctx, "whatsapp", t0, t0.Add(24*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	series := []struct {
		hour int
		want Bucket
	}{
		{0, Bucket{Healthy: time.Hour, Uptime: 1, Known: true, ResponseAvg: 10 * time.Millisecond, Checks: 120}},
		{1, Bucket{Healthy: 50 * time.Minute, Unhealthy: 10 * time.Minute, Uptime: 5.0 / 6, Known: true,
			ResponseAvg: ((100*10*time.Millisecond + 20*2*time.Second) / 120).Truncate(time.Microsecond), Checks: 120}},
		{5, Bucket{Unknown: time.Hour}},
		{10, Bucket{Healthy: 30 * time.Minute, Maintenance: 30 * time.Minute, Uptime: 1, Known: true, ResponseAvg: 10 * time.Millisecond, Checks: 120}},
	}
	for _, tt := range series {
		got := r.Series[tt.hour]
		tt.want.Start = t0.Add(time.Duration(tt.hour) * time.Hour)
		if math.Abs(got.Uptime-tt.want.Uptime) < 1e-9 {
			got.Uptime = tt.want.Uptime
		}
		if got != tt.want {
			t.Errorf("series hour %d = %+v; want %+v", tt.hour, got, tt.want)
		}
	}
	if want := []Span{{t0.Add(time.Hour), t0.Add(time.Hour + 10*time.Minute)}}; !reflect.DeepEqual(r.IncidentSpans, want) {
		t.Errorf("incident spans = %v; want %v", r.IncidentSpans, want)
	}
}

// dayResolution widens spans to the days holding them: day rollups say
// only that a day had maintenance.
func dayResolution(spans []Span) []Span {
	var out []Span
	for _, sp := range spans {
		out = append(out, Span{sp.From.Truncate(24 * time.Hour), sp.From.Truncate(24 * time.Hour).Add(24 * time.Hour)})
	}
	return mergeSpans(out)
}

func TestUptimeValidates(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clockwork.NewFakeClockAt(t0), nil)
	tests := []struct {
		name     string
		service  string
		from, to time.Time
		bucket   time.Duration
	}{
		{"no service", "", t0, t0.Add(time.Hour), time.Minute},
		{"empty window", "whatsapp", t0, t0, time.Minute},
		{"no bucket", "whatsapp", t0, t0.Add(time.Hour), 0},
		{"too many buckets", "whatsapp", t0, t0.Add(365 * 24 * time.Hour), time.Minute},
	}
	for _, tt := range tests {
		if _, err := s.Uptime(context.Background(), tt.service, tt.from, tt.to, tt.bucket); err == nil {
			t.Errorf("%s: Uptime = nil error; want one", tt.name)
		}
	}
}

func TestIncidentsAndLastRestoration(t *testing.T) {
	ctx := context.Background()
	clock := clockwork.NewFakeClockAt(t0.Add(49 * time.Hour))
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clock, nil)
	scriptHistory(s)
	s.RecordRestoration(Restoration{Service: "whatsapp", At: t0, Found: 1, Restored: 1, Sessions: []SessionOutcome{{Session: "old", Outcome: "restored"}}})
	s.RecordRestoration(Restoration{Service: "whatsapp", At: t0.Add(time.Hour), Found: 2, Restored: 1, Failed: 1,
		Sessions: []SessionOutcome{{Session: "a", Outcome: "restored"}, {Session: "b", Outcome: "failed", Detail: "auth expired"}}})
	waitWritten(t, s)

	got, err := s.Incidents(ctx, "whatsapp", 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []Incident{
		{ID: "i3", Service: "whatsapp", Cause: "crashed", FailedAt: t0.Add(48*time.Hour + 30*time.Minute), OpenedAt: t0.Add(48*time.Hour + 31*time.Minute), Duration: 30 * time.Minute},
		{ID: "i2", Service: "whatsapp", Cause: "health endpoint failing", FailedAt: t0.Add(25 * time.Hour), OpenedAt: t0.Add(25*time.Hour + time.Minute),
			ResolvedAt: t0.Add(25*time.Hour + 10*time.Minute), ResolvedBy: "bot", Duration: 10 * time.Minute},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Incidents(whatsapp, 2) =\n%+v\nwant\n%+v", got, want)
	}
	if !got[0].Open() || got[1].Open() {
		t.Errorf("Open() = %v, %v; want true, false", got[0].Open(), got[1].Open())
	}
	all, err := s.Incidents(ctx, "whatsapp", 10)
	if err != nil || len(all) != 3 || all[2].AckedBy != "U1" || !all[2].AckedAt.Equal(t0.Add(time.Hour+2*time.Minute)) {
		t.Errorf("Incidents(whatsapp, 10) = %+v, %v; want 3, the oldest acknowledged by U1", all, err)
	}

	r, ok, err := s.LastRestoration(ctx, "whatsapp")
	wantR := Restoration{Service: "whatsapp", At: t0.Add(time.Hour), Found: 2, Restored: 1, Failed: 1,
		Sessions: []SessionOutcome{{Session: "a", Outcome: "restored"}, {Session: "b", Outcome: "failed", Detail: "auth expired"}}}
	if err != nil || !ok || !reflect.DeepEqual(r, wantR) {
		t.Errorf("LastRestoration = %+v, %v, %v; want %+v", r, ok, err, wantR)
	}
	if _, ok, err := s.LastRestoration(ctx, "other"); ok || err != nil {
		t.Errorf("LastRestoration(other) = ok %v, %v; want none", ok, err)
	}
}
