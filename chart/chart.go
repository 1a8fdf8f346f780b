// Package chart draws a service's uptime over a window as a PNG: uptime bars
// per bucket, the health check's response time as a line, incidents shaded
// red and maintenance shaded grey. It uses gonum.org/v1/plot (pure Go, its
// own embedded fonts), so the same input gives the same pixels on every
// platform. It knows nothing of the bot: its input is a type of its own.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"time"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Uptime is what a chart shows.
type Uptime struct {
	Service  string
	From, To time.Time
	Buckets  []Bucket
	// Incidents and Maintenance are shaded; parts outside [From, To) are
	// clipped.
	Incidents, Maintenance []Span
	// Loc is the time zone of the labels; nil means UTC.
	Loc *time.Location
}

// Bucket is one step of the series.
type Bucket struct {
	Start, End time.Time
	// Uptime is 0..1; Known is false when nothing was observed (no bar).
	Uptime float64
	Known  bool
	// RespAvg is the mean response time of the health checks; 0: none.
	RespAvg time.Duration
}

// Span is a stretch of time.
type Span struct{ From, To time.Time }

// Options size the PNG; zero values mean 1200x500 pixels.
type Options struct{ Width, Height int }

// Limits of Render.
const (
	MaxBuckets     = 5000
	maxServiceRune = 60
	dpi            = 96
)

var (
	barColour   = color.RGBA{R: 0x2e, G: 0x9e, B: 0x5b, A: 0xff}
	lineColour  = color.RGBA{R: 0x1f, G: 0x5f, B: 0xbf, A: 0xff}
	redShade    = color.NRGBA{R: 0xe0, G: 0x30, B: 0x30, A: 0x60}
	greyShade   = color.NRGBA{R: 0x80, G: 0x80, B: 0x80, A: 0x60}
	errBadRange = errors.New("chart: the window ends before it begins")
)

// Render draws u as a PNG.
func Render(u Uptime, opts Options) ([]byte, error) {
	if !u.From.Before(u.To) {
		return nil, errBadRange
	}
	if len(u.Buckets) > MaxBuckets {
		return nil, fmt.Errorf("chart: %d buckets, at most %d", len(u.Buckets), MaxBuckets)
	}
	w, h := opts.Width, opts.Height
	if w <= 0 {
		w = 1200
	}
	if h <= 0 {
		h = 500
	}
	if w > 4000 || h > 4000 {
		return nil, fmt.Errorf("chart: %dx%d pixels is too large", w, h)
	}
	loc := u.Loc
	if loc == nil {
		loc = time.UTC
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: uptime %s – %s", cut(u.Service), u.From.In(loc).Format("2006-01-02 15:04"), u.To.In(loc).Format("2006-01-02 15:04 MST"))
	p.X.Min, p.X.Max = unix(u.From), unix(u.To)
	p.Y.Min, p.Y.Max = 0, 100
	p.Y.Label.Text = "uptime %"
	p.X.Tick.Marker = plot.TimeTicks{Format: tickFormat(u.To.Sub(u.From)), Time: plot.UnixTimeIn(loc)}
	p.Add(plotter.NewGrid())

	clip := func(s Span) (float64, float64, bool) {
		a, b := math.Max(unix(s.From), p.X.Min), math.Min(unix(s.To), p.X.Max)
		return a, b, b > a
	}
	var maxResp time.Duration
	known := 0
	for _, b := range u.Buckets {
		maxResp = max(maxResp, b.RespAvg)
		if !b.Known {
			continue
		}
		known++
		a, e, ok := clip(Span{b.Start, b.End})
		if !ok {
			continue
		}
		width := e - a
		a, e = a+width*0.1, e-width*0.1 // a gap between bars
		if err := addRect(p, a, e, 0, 100*math.Max(0, math.Min(1, b.Uptime)), barColour); err != nil {
			return nil, err
		}
	}
	// The spans over the bars, translucent, so that a short one shows.
	for _, spans := range []struct {
		ss []Span
		c  color.Color
	}{{u.Maintenance, greyShade}, {u.Incidents, redShade}} {
		for _, s := range spans.ss {
			a, b, ok := clip(s)
			if !ok {
				continue
			}
			if err := addRect(p, a, b, 0, 100, spans.c); err != nil {
				return nil, err
			}
		}
	}
	if maxResp > 0 {
		var pts plotter.XYs
		for _, b := range u.Buckets {
			if b.RespAvg <= 0 {
				continue
			}
			mid := unix(b.Start) + (unix(b.End)-unix(b.Start))/2
			if mid < p.X.Min || mid > p.X.Max {
				continue
			}
			pts = append(pts, plotter.XY{X: mid, Y: 100 * float64(b.RespAvg) / float64(maxResp)})
		}
		if len(pts) > 0 {
			l, err := plotter.NewLine(pts)
			if err != nil {
				return nil, fmt.Errorf("chart: %w", err)
			}
			l.Color, l.Width = lineColour, vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("response time (top = %s)", maxResp.Round(time.Microsecond)), l)
			p.Legend.Top = true
		}
	}
	if known == 0 {
		p.Title.Text += ": no data"
	}

	c := vgimg.NewWith(vgimg.UseWH(vg.Length(w)*vg.Inch/dpi, vg.Length(h)*vg.Inch/dpi), vgimg.UseDPI(dpi))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	// Fast compression: a chart is posted once, its drawing is what costs.
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, c.Image()); err != nil {
		return nil, fmt.Errorf("chart: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// addRect adds a filled rectangle.
func addRect(p *plot.Plot, x0, x1, y0, y1 float64, c color.Color) error {
	poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	poly.Color = c
	poly.LineStyle.Width = 0
	p.Add(poly)
	return nil
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// tickFormat labels hours for a day or less, days beyond.
func tickFormat(d time.Duration) string {
	if d <= 36*time.Hour {
		return "15:04"
	}
	return "Jan 2"
}

// cut keeps a service name printable and short: control characters become
// spaces, invalid UTF-8 goes, and it is cut to maxServiceRune runes.
func cut(s string) string {
	var out []rune
	for _, r := range s {
		if len(out) == maxServiceRune {
			return string(out) + "…"
		}
		switch {
		case r == utf8.RuneError:
			continue
		case r < 0x20 || r == 0x7f:
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
