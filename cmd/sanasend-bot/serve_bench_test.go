//go:build !windows

package main

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/manager"
)

// BenchmarkServeStatusAck sends signed `/sanasend status` requests, in
// parallel over loopback, to `sanasend-bot serve` supervising a healthy
// stand-in, and measures the time to Slack's acknowledgement (the HTTP
// answer). Each status (health request, process scan, the answer through
// the response URL) runs after the ack and competes for the same 2 CPUs.
// allocs/op counts the whole process: client, server and the status work.
func BenchmarkServeStatusAck(b *testing.B) {
	f := startServe(b)
	s := adoptService(b, f.configPath)
	if _, err := s.Start(context.Background(), manager.Actor{ID: "bench"}, nil); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var mu sync.Mutex
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			body := url.Values{"command": {"/sanasend"}, "text": {"status"}, "user_id": {"U0ALICE"}, "user_name": {"alice"},
				"channel_id": {"C0OPS"}, "response_url": {f.fake.NewResponseURL()}}.Encode()
			req, _ := http.NewRequest(http.MethodPost, f.base+"/slack/commands", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			signRequest(req, body, time.Now())
			began := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			mine = append(mine, time.Since(began))
			if resp.StatusCode != 200 {
				b.Errorf("HTTP %d", resp.StatusCode)
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(lat)), "requests")
}
