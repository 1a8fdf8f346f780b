package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sanasend/sanasend-bot/history"
)

// History is what the history gauges read at scrape time.
// *history.Store implements it.
type History interface {
	Health() history.Health
	Uptime(ctx context.Context, service string, from, to time.Time, bucket time.Duration) (history.Report, error)
}

var _ History = (*history.Store)(nil)

type historyRef struct {
	h        History
	services []string
	now      func() time.Time
}

// historyWindows are the windows of the uptime and incident gauges.
var historyWindows = []struct {
	label string
	d     time.Duration
}{{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}}

// historyScrapeTimeout bounds the uptime queries of one scrape: a scrape
// never waits long on the database.
const historyScrapeTimeout = 2 * time.Second

type historyCollector struct {
	ref                                       *atomic.Pointer[historyRef]
	failing, queued, dropped, size, lastWrite *prometheus.Desc
	uptime, incidents, outage                 *prometheus.Desc
}

func newHistoryCollector(ref *atomic.Pointer[historyRef]) *historyCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
	}
	return &historyCollector{ref: ref,
		failing:   d("history_failing", "1 while the history's writer retries a failed write (disk full, damaged file), else 0."),
		queued:    d("history_queued", "Facts waiting to be written to the history."),
		dropped:   d("history_dropped_total", "Facts the history lost since the bot started (queue full, or not written by shutdown)."),
		size:      d("history_size_bytes", "Size of the history database and its write-ahead log."),
		lastWrite: d("history_last_write_timestamp_seconds", "When the history was last written (Unix time); absent before the first write."),
		uptime:    d("uptime_ratio", "Healthy time over observed time outside maintenance, from the history (absent when nothing was observed).", "service", "window"),
		incidents: d("incidents", "Incidents overlapping the window, from the history.", "service", "window"),
		outage:    d("outage_seconds", "Outage time inside the window, measured from each failure, from the history.", "service", "window"),
	}
}

func (c *historyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.failing, c.queued, c.dropped, c.size, c.lastWrite, c.uptime, c.incidents, c.outage} {
		ch <- d
	}
}

func (c *historyCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.ref.Load()
	if r == nil {
		return
	}
	h := r.h.Health()
	failing := 0.0
	if h.Failing {
		failing = 1
	}
	ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, failing)
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(h.Queued))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(h.Dropped))
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(h.FileSize))
	if !h.LastWrite.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.lastWrite, prometheus.GaugeValue, float64(h.LastWrite.UnixNano())/1e9)
	}
	ctx, cancel := context.WithTimeout(context.Background(), historyScrapeTimeout)
	defer cancel()
	now := r.now()
	for _, svc := range r.services {
		for _, w := range historyWindows {
			rep, err := r.h.Uptime(ctx, svc, now.Add(-w.d), now, w.d)
			if err != nil {
				continue // the history's own gauges say why
			}
			if rep.Known {
				ch <- prometheus.MustNewConstMetric(c.uptime, prometheus.GaugeValue, rep.Uptime, svc, w.label)
			}
			ch <- prometheus.MustNewConstMetric(c.incidents, prometheus.GaugeValue, float64(len(rep.Incidents)), svc, w.label)
			ch <- prometheus.MustNewConstMetric(c.outage, prometheus.GaugeValue, rep.Outage.Seconds(), svc, w.label)
		}
	}
}

// SetHistory makes the history gauges (history_*, and uptime_ratio,
// incidents and outage_seconds per service over 24h and 7d) read h at
// scrape time; until then they are absent.
func (m *Metrics) SetHistory(h History, services []string, now func() time.Time) {
	if m == nil || h == nil {
		return
	}
	if now == nil {
		now = time.Now
	}
	m.history.Store(&historyRef{h: h, services: services, now: now})
}
