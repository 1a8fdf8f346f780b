package chart

import (
	"math"
	"time"

	"github.com/sanasend/sanasend-bot/history"
)

// FromReport is the chart of a history report.
func FromReport(r history.Report, loc *time.Location) Uptime {
	u := Uptime{Service: r.Service, From: r.From, To: r.To, Bucket: r.Bucket, Loc: loc}
	for _, b := range r.Series {
		up := b.Uptime
		if !b.Known {
			up = math.NaN() // no data: no bar
		}
		u.Buckets = append(u.Buckets, Bucket{Start: b.Start, Uptime: up, RespAvg: b.ResponseAvg, HasResp: b.ResponseAvg > 0})
	}
	for _, s := range r.IncidentSpans {
		u.Incidents = append(u.Incidents, Span{Start: s.From, End: s.To})
	}
	for _, s := range r.MaintenanceSpans {
		u.Maintenance = append(u.Maintenance, Span{Start: s.From, End: s.To})
	}
	return u
}

// Renderer draws history reports: the bot's chart renderer.
type Renderer struct{ Options Options }

// RenderUptime draws r as a PNG, its times in loc.
func (c Renderer) RenderUptime(r history.Report, loc *time.Location) ([]byte, error) {
	return Render(FromReport(r, loc), c.Options)
}
