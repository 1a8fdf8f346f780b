package metrics

import (
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeConn struct {
	mu    sync.Mutex
	up    bool
	since time.Time
}

func (c *fakeConn) SlackConnected() (bool, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up, c.since
}

func (c *fakeConn) set(up bool, since time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up, c.since = up, since
}

// TestSlackConnection: the connection gauges are absent until a connection
// is set (HTTP mode), then follow it at scrape time.
func TestSlackConnection(t *testing.T) {
	m := New()
	if text := scrape(t, m); strings.Contains(text, "sanasend_slack_connected") {
		t.Errorf("slack_connected exported without a connection:\n%s", grepSanasend(text))
	}
	conn := &fakeConn{since: time.Unix(1700000000, 0)}
	m.SetSlackConnection(conn)
	wantLines(t, scrape(t, m), "sanasend_slack_connected 0", "sanasend_slack_connection_changed_timestamp_seconds 1.7e+09")
	conn.set(true, time.Unix(1700000060, 0))
	wantLines(t, scrape(t, m), "sanasend_slack_connected 1", "sanasend_slack_connection_changed_timestamp_seconds 1.70000006e+09")
	var nilMetrics *Metrics
	nilMetrics.SetSlackConnection(conn) // safe on nil, like every method
}
