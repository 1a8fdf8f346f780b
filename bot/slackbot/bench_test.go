package slackbot

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkSlashCommandAck measures the acknowledgement of signed
// `/sanasend status` requests through the HTTP handler, in parallel: the
// time ServeHTTP takes (verification, parsing, dispatch) and its
// allocations. The status work itself runs after the ack, on the workers,
// and competes for the CPU as it would in production.
func BenchmarkSlashCommandAck(b *testing.B) {
	f := newFrontFixture(b)
	h := f.front.Handler()
	var mu sync.Mutex
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			body := commandBody("U0ALICE", "status", f.fake.NewResponseURL())
			req := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			sign(req, body, time.Now())
			rec := httptest.NewRecorder()
			began := time.Now()
			h.ServeHTTP(rec, req)
			mine = append(mine, time.Since(began))
			if rec.Code != http.StatusOK {
				b.Errorf("HTTP %d", rec.Code)
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	f.front.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
