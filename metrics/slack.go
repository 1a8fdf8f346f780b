package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SlackConnection is the state of the bot's Socket Mode connection to
// Slack; *slackbot.Front implements it.
type SlackConnection interface {
	// SlackConnected reports whether the connection is up, and since when
	// it is up or down.
	SlackConnected() (connected bool, since time.Time)
}

type slackConnRef struct{ c SlackConnection }

// slackConnCollector exports slack_connected and
// slack_connection_changed_timestamp_seconds from the SlackConnection set
// by SetSlackConnection; nothing until then (HTTP mode has no connection).
type slackConnCollector struct {
	conn      *atomic.Pointer[slackConnRef]
	connected *prometheus.Desc
	changed   *prometheus.Desc
}

func newSlackConnCollector(conn *atomic.Pointer[slackConnRef]) *slackConnCollector {
	return &slackConnCollector{conn: conn,
		connected: prometheus.NewDesc(namespace+"_slack_connected",
			"1 while the Socket Mode connection to Slack is up, 0 while it is down (absent in HTTP mode).", nil, nil),
		changed: prometheus.NewDesc(namespace+"_slack_connection_changed_timestamp_seconds",
			"When the Socket Mode connection to Slack last went up or down (Unix time; the bot's start until it first connects).", nil, nil),
	}
}

func (c *slackConnCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.connected
	ch <- c.changed
}

func (c *slackConnCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.conn.Load()
	if r == nil {
		return
	}
	up, since := r.c.SlackConnected()
	v := 0.0
	if up {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, v)
	ch <- prometheus.MustNewConstMetric(c.changed, prometheus.GaugeValue, float64(since.UnixNano())/1e9)
}

// SetSlackConnection makes slack_connected and
// slack_connection_changed_timestamp_seconds read c at scrape time; until
// then they are absent.
func (m *Metrics) SetSlackConnection(c SlackConnection) {
	if m == nil || c == nil {
		return
	}
	m.slackConn.Store(&slackConnRef{c: c})
}
