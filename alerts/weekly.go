package alerts

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/sanasend/sanasend-bot/history"
)

// KindWeeklyDigest is the kind of the weekly digest's notice: Notice.Digest
// is the week's Digest and Notice.Weekly the facts of its charts.
const KindWeeklyDigest DecisionKind = "weekly_digest"

// EventWeeklyDigest: the weekly digest (Notice.Digest, Notice.Weekly).
const EventWeeklyDigest EventKind = "weekly_digest"

// weeklyDays is the span of the weekly digest: 7 days of local time.
const weeklyDays = 7

// ReportSource reports a service's uptime over [from, to) with a series of
// bucket-long steps: the facts of the weekly digest's charts.
// *history.Store implements it.
type ReportSource interface {
	Uptime(ctx context.Context, service string, from, to time.Time, bucket time.Duration) (history.Report, error)
}

// Weekly is what the weekly digest adds to its Digest: the charts' facts.
type Weekly struct {
	// Reports are the services' uptime over the week with a bucket per
	// day, by name. Empty without a ReportSource; a service whose report
	// could not be read is left out (logged).
	Reports []history.Report
}

// weeklyDayNames are the weekdays as the config names them, 3 letters or
// whole.
var weeklyDayNames = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// ParseWeeklyAt parses monitor.weekly_digest_at: a weekday (3 letters or
// whole, any case) and a local time "HH:MM", 24-hour: "mon 09:00".
func ParseWeeklyAt(at string) (day time.Weekday, hour, minute int, err error) {
	fields := strings.Fields(at)
	if len(fields) != 2 {
		return 0, 0, 0, fmt.Errorf("weekly digest time %q is not a weekday and a time, e.g. \"mon 09:00\"", at)
	}
	d := -1
	for i, n := range weeklyDayNames {
		if w := strings.ToLower(fields[0]); w == n || w == n[:3] {
			d = i
		}
	}
	if d < 0 {
		return 0, 0, 0, fmt.Errorf("weekly digest time %q: %q is not a weekday (mon to sun)", at, fields[0])
	}
	hour, minute, err = digestParse(fields[1])
	if err != nil {
		return 0, 0, 0, fmt.Errorf("weekly digest time %q: %w", at, err)
	}
	return time.Weekday(d), hour, minute, nil
}

// scheduleWeekly adds the weekly digest job when WeeklyDigestAt is set. The
// cron runs in the scheduler's location (time.Local).
func (m *Monitor) scheduleWeekly(ctx context.Context, sched gocron.Scheduler) error {
	if m.cfg.WeeklyDigestAt == "" {
		return nil
	}
	day, hour, minute, err := ParseWeeklyAt(m.cfg.WeeklyDigestAt)
	if err != nil {
		return err
	}
	_, err = sched.NewJob(gocron.CronJob(fmt.Sprintf("%d %d * * %d", minute, hour, int(day)), false),
		gocron.NewTask(func() { m.sendWeekly(ctx) }), gocron.WithName("weekly digest"),
		gocron.WithSingletonMode(gocron.LimitModeReschedule))
	return err
}

// sendWeekly posts the digest of the 7 local days before now, to the
// minute, with each service's report by day for its chart.
func (m *Monitor) sendWeekly(ctx context.Context) {
	to := m.clock.Now().Truncate(time.Minute)
	from := to.In(time.Local).AddDate(0, 0, -weeklyDays)
	d := m.digest(ctx, from, to)
	m.addIdleBrowsers(ctx, &d)
	w := &Weekly{Reports: m.weeklyReports(ctx, from, to)}
	if ctx.Err() != nil {
		return
	}
	n := Notice{ID: "weekly-digest-" + to.Format("2006-01-02"), Kind: KindWeeklyDigest,
		Event: Event{What: EventWeeklyDigest, At: to}, Digest: &d, Weekly: w}
	if err := m.notifier.Notify(n); err != nil {
		m.log.Error().Err(err).Str("notice", n.ID).Msg("notify weekly digest")
	}
}

// weeklyReports are the services' reports of [from, to) by day, by name;
// a service whose report fails is left out (logged).
func (m *Monitor) weeklyReports(ctx context.Context, from, to time.Time) []history.Report {
	if m.cfg.Reports == nil {
		return nil
	}
	var out []history.Report
	for _, name := range sortedNames(m.serviceNames()) {
		sctx, cancel := context.WithTimeout(ctx, digestTimeout)
		r, err := m.cfg.Reports.Uptime(sctx, name, from, to, 24*time.Hour)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				m.log.Error().Err(err).Str("service", name).Msg("weekly digest: no chart for the service")
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

func sortedNames(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return out
}
