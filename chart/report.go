package chart

import (
	"time"

	"github.com/sanasend/sanasend-bot/history"
)

// FromReport is the chart of a history report.
func FromReport(r history.Report, loc *time.Location) Uptime {
	u := Uptime{Service: r.Service, From: r.From, To: r.To, Loc: loc}
	for _, b := range r.Series {
		u.Buckets = append(u.Buckets, Bucket{Start: b.Start, End: b.Start.Add(r.Bucket), Uptime: b.Uptime, Known: b.Known, RespAvg: b.ResponseAvg})
	}
	for _, s := range r.IncidentSpans {
		u.Incidents = append(u.Incidents, Span{From: s.From, To: s.To})
	}
	for _, s := range r.MaintenanceSpans {
		u.Maintenance = append(u.Maintenance, Span{From: s.From, To: s.To})
	}
	return u
}

// Renderer draws history reports: the bot's chart renderer.
type Renderer struct{ Options Options }

// RenderUptime draws r as a PNG, its times in loc.
func (c Renderer) RenderUptime(r history.Report, loc *time.Location) ([]byte, error) {
	return Render(FromReport(r, loc), c.Options)
}
