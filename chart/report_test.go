package chart

import (
	"math"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/history"
)

func TestFromReport(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := history.Report{Service: "whatsapp", From: t0, To: t0.Add(2 * time.Hour), Bucket: time.Hour,
		Series: []history.Bucket{
			{Start: t0, Uptime: 0.5, Known: true, ResponseAvg: 3 * time.Millisecond},
			{Start: t0.Add(time.Hour)},
		},
		IncidentSpans:    []history.Span{{From: t0.Add(10 * time.Minute), To: t0.Add(40 * time.Minute)}},
		MaintenanceSpans: []history.Span{{From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour)}},
	}
	u := FromReport(r, time.UTC)
	if u.Bucket != time.Hour || len(u.Buckets) != 2 || u.Buckets[0].Uptime != 0.5 || !u.Buckets[0].HasResp ||
		!math.IsNaN(u.Buckets[1].Uptime) || u.Buckets[1].HasResp {
		t.Errorf("buckets = %+v; want 50%% with a response time, then no data", u.Buckets)
	}
	if len(u.Incidents) != 1 || !u.Incidents[0].Start.Equal(t0.Add(10*time.Minute)) || len(u.Maintenance) != 1 {
		t.Errorf("spans = %+v, %+v", u.Incidents, u.Maintenance)
	}
	png, err := Renderer{}.RenderUptime(r, time.UTC)
	if err != nil || len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Errorf("RenderUptime: %d bytes, %v; want a PNG", len(png), err)
	}
}
