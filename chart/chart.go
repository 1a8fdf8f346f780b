// Package chart draws an uptime report as a PNG image, in pure Go.
//
// The input is a typed [Uptime] series; the output is PNG bytes of a fixed
// size: uptime bars per bucket, a response-time line on its own axis,
// incident spans shaded red and maintenance spans shaded grey. Rendering is
// deterministic: the same input gives the same pixels (no clock, no map
// order, only the embedded font). FromReport (report.go) builds the series
// from a history report, and Renderer is the bot's chart renderer.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	imgdraw "image/draw"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"git.sr.ht/~sbinet/gg"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Limits of the input and output.
const (
	// MaxBuckets is the largest number of buckets Render accepts.
	MaxBuckets = 5000
	// DefaultWidth and DefaultHeight are the image size when Options leaves it zero.
	DefaultWidth  = 1200
	DefaultHeight = 500
	// MaxSide bounds each side of the image, in pixels.
	MaxSide = 4000
	// maxServiceRunes is where the service name in the title is cut.
	maxServiceRunes = 60
)

// Uptime is the series one chart draws.
type Uptime struct {
	Service     string        // drawn in the title, never interpreted
	From, To    time.Time     // the window; From must be before To
	Bucket      time.Duration // the width of one bucket; > 0 when there are buckets
	Buckets     []Bucket
	Incidents   []Span         // shaded red
	Maintenance []Span         // shaded grey
	Loc         *time.Location // axis labels and title; nil is UTC
}

// Bucket is one bar of the chart.
type Bucket struct {
	Start   time.Time
	Uptime  float64 // 0..1; negative (or NaN) means no data
	RespAvg time.Duration
	HasResp bool
}

// Span is a stretch of time to shade.
type Span struct {
	Start, End time.Time
}

// Options changes how the chart is drawn. The zero value is the default.
type Options struct {
	Width, Height int // pixels; 0 means DefaultWidth / DefaultHeight
}

// Errors returned by Render for input it refuses.
var (
	ErrWindow     = errors.New("chart: the window's start is not before its end")
	ErrTooMany    = fmt.Errorf("chart: more than %d buckets", MaxBuckets)
	ErrBucket     = errors.New("chart: the bucket width is not positive")
	ErrImageSize  = fmt.Errorf("chart: image size out of range (1..%d pixels a side)", MaxSide)
	errNotDrawing = errors.New("chart: drawing failed")
)

// Colours of the chart.
var (
	colGood     = color.NRGBA{R: 0x2e, G: 0x9e, B: 0x4f, A: 0xff}
	colDegraded = color.NRGBA{R: 0xe0, G: 0xa1, B: 0x1b, A: 0xff}
	colBad      = color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}
	colResp     = color.NRGBA{R: 0x1f, G: 0x5f, B: 0xbf, A: 0xff}
	colIncident = color.NRGBA{R: 0xe5, G: 0x39, B: 0x35, A: 0x60}
	colMaint    = color.NRGBA{R: 0x60, G: 0x60, B: 0x60, A: 0x80}
)

// Render draws u as a PNG image and returns its bytes.
// An empty series (no bucket with data) gives a chart that says "no data".
func Render(u Uptime, opts Options) ([]byte, error) {
	w, h := opts.Width, opts.Height
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	if w < 1 || h < 1 || w > MaxSide || h > MaxSide {
		return nil, fmt.Errorf("render uptime chart: %w", ErrImageSize)
	}
	if !u.From.Before(u.To) {
		return nil, fmt.Errorf("render uptime chart: %w", ErrWindow)
	}
	if len(u.Buckets) > MaxBuckets {
		return nil, fmt.Errorf("render uptime chart: %w (%d)", ErrTooMany, len(u.Buckets))
	}
	if len(u.Buckets) > 0 && u.Bucket <= 0 {
		return nil, fmt.Errorf("render uptime chart: %w", ErrBucket)
	}
	loc := u.Loc
	if loc == nil {
		loc = time.UTC
	}
	img, err := draw1(w, h, u, loc)
	if err != nil {
		return nil, fmt.Errorf("render uptime chart: %w", err)
	}
	var buf bytes.Buffer
	if err := encodePNG(&buf, img); err != nil {
		return nil, fmt.Errorf("render uptime chart: encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// series is u in plot coordinates: x in seconds since From, y in percent.
type series struct {
	u        Uptime
	span     float64 // seconds From..To
	maxResp  float64 // milliseconds at the top of the right axis
	hasData  bool
	hasResp  bool
	barWidth float64
	// img is the canvas's pixels, h its height: axis-aligned rectangles
	// are filled on it directly (pixel-aligned), not through the
	// anti-aliasing rasteriser, which costs as much per pixel as the whole
	// rest of the chart. nil: fill through the canvas.
	img *image.RGBA
	h   int
}

func (s *series) x(t time.Time) float64 { return t.Sub(s.u.From).Seconds() }

// respTop is a round number of milliseconds at or above the largest average.
func respTop(ms float64) float64 {
	if ms <= 0 {
		return 100
	}
	p := math.Pow(10, math.Floor(math.Log10(ms)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= ms {
			return m * p
		}
	}
	return 10 * p
}

func draw1(w, h int, u Uptime, loc *time.Location) (img image.Image, err error) {
	defer func() {
		// gonum/plot panics on some degenerate layouts (a tiny image); a chart
		// is never worth a crash.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errNotDrawing, r)
		}
	}()
	s := &series{u: u, span: u.To.Sub(u.From).Seconds(), barWidth: u.Bucket.Seconds()}
	var maxMS float64
	for _, b := range u.Buckets {
		if b.Uptime >= 0 { // false for NaN too
			s.hasData = true
		}
		if b.HasResp && b.RespAvg >= 0 {
			s.hasResp = true
			maxMS = math.Max(maxMS, float64(b.RespAvg)/float64(time.Millisecond))
		}
	}
	s.maxResp = respTop(maxMS)

	p := plot.New()
	p.BackgroundColor = nil // the canvas starts white: no second fill
	p.Title.Text = title(u.Service, u.From, u.To, loc)
	p.Title.TextStyle.Font.Size = vg.Points(15)
	p.X.Min, p.X.Max = 0, s.span
	p.Y.Min, p.Y.Max = 0, 112 // room above 100% for the legend
	p.X.Label.Text = "local time (" + loc.String() + ")"
	p.Y.Label.Text = "uptime %"
	p.X.Tick.Marker = timeTicks{from: u.From, to: u.To, loc: loc}
	p.Y.Tick.Marker = plot.TickerFunc(func(_, _ float64) []plot.Tick {
		var t []plot.Tick
		for v := 0; v <= 100; v += 20 {
			t = append(t, plot.Tick{Value: float64(v), Label: fmt.Sprintf("%d", v)})
		}
		return t
	})
	p.Add(s)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.ThumbnailWidth = vg.Points(14)
	p.Legend.Add("uptime", swatch(colGood))
	if s.hasResp {
		p.Legend.Add("response time", lineSwatch(colResp))
	}
	if len(u.Incidents) > 0 {
		p.Legend.Add("incident", swatch(colIncident))
	}
	if len(u.Maintenance) > 0 {
		p.Legend.Add("maintenance", swatch(colMaint))
	}

	// At 72 dpi one point is one pixel.
	// The image is drawn on in place (vgimg.New would allocate a second one
	// to copy into); the context is set up as vgimg sets up its own.
	s.img, s.h = image.NewRGBA(image.Rect(0, 0, w, h)), h
	ctx := gg.NewContextForRGBA(s.img)
	ctx.SetLineCapButt()
	ctx.InvertY()
	c := vgimg.NewWith(vgimg.UseImageWithContext(s.img, ctx), vgimg.UseDPI(72))
	const rightMargin = 70
	p.Draw(draw.Crop(draw.New(c), 0, -rightMargin, 0, 0))
	return c.Image(), nil
}

// Plot draws bars, spans, the response line and the right axis.
func (s *series) Plot(c draw.Canvas, p *plot.Plot) {
	yTop := c.Y(p.Y.Norm(100))
	if !s.hasData && !s.hasResp {
		sty := draw.TextStyle{Color: color.Gray{0x60}, Font: p.Title.TextStyle.Font, Handler: p.Title.TextStyle.Handler, XAlign: draw.XCenter, YAlign: draw.YCenter}
		sty.Font.Size = vg.Points(24)
		c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + yTop) / 2}, "no data")
	}
	for _, b := range s.u.Buckets {
		if !(b.Uptime >= 0) {
			continue
		}
		up := math.Min(b.Uptime, 1)
		a, e := math.Max(0, s.x(b.Start)), math.Min(s.span, s.x(b.Start)+s.barWidth)
		if !(a < e) {
			continue
		}
		x0, x1 := c.X(a/s.span), c.X(e/s.span)
		if gap := (x1 - x0) * 0.15; x1-x0 > 3 {
			x0, x1 = x0+gap/2, x1-gap/2
		}
		col := colGood
		switch {
		case up < 0.95:
			col = colBad
		case up < 0.999:
			col = colDegraded
		}
		s.fillRect(c, x0, c.Min.Y, x1, c.Y(p.Y.Norm(up*100)), col)
	}
	// Spans go over the bars, translucent, so that a full bar does not hide them.
	for _, sp := range []struct {
		spans []Span
		col   color.NRGBA
	}{{s.u.Maintenance, colMaint}, {s.u.Incidents, colIncident}} {
		for _, v := range sp.spans {
			a, b := math.Max(0, s.x(v.Start)), math.Min(s.span, s.x(v.End))
			if !(a < b) {
				continue
			}
			x0, x1 := c.X(a/s.span), c.X(b/s.span)
			if x1-x0 < 3 { // a short incident on a 90-day chart stays visible
				x0, x1 = (x0+x1)/2-1.5, (x0+x1)/2+1.5
			}
			s.fillRect(c, x0, c.Min.Y, x1, yTop, sp.col)
		}
	}
	// The response-time line, broken where a bucket has none.
	var lines [][]vg.Point
	var cur []vg.Point
	for _, b := range s.u.Buckets {
		if !b.HasResp || b.RespAvg < 0 {
			if len(cur) > 0 {
				lines, cur = append(lines, cur), nil
			}
			continue
		}
		mid := s.x(b.Start) + s.barWidth/2
		ms := float64(b.RespAvg) / float64(time.Millisecond)
		cur = append(cur, vg.Point{X: c.X(mid / s.span), Y: c.Y(p.Y.Norm(ms / s.maxResp * 100))})
	}
	if len(cur) > 0 {
		lines = append(lines, cur)
	}
	lsty := draw.LineStyle{Color: colResp, Width: vg.Points(1.5)}
	for _, l := range c.ClipLinesXY(lines...) {
		if len(l) == 1 {
			pt := l[0]
			fillRect(c, pt.X-1.5, pt.Y-1.5, pt.X+1.5, pt.Y+1.5, colResp)
			continue
		}
		c.StrokeLines(lsty, l)
	}
	// The right axis: response time in milliseconds.
	tsty := p.Y.Tick.Label
	tsty.Color = colResp
	tsty.XAlign = draw.XLeft
	tsty.YAlign = draw.YCenter
	x := c.Max.X + vg.Points(6)
	c.StrokeLine2(draw.LineStyle{Color: colResp, Width: vg.Points(0.5)}, c.Max.X, c.Min.Y, c.Max.X, yTop)
	for v := 0; v <= 100; v += 20 {
		y := c.Y(p.Y.Norm(float64(v)))
		c.StrokeLine2(draw.LineStyle{Color: colResp, Width: vg.Points(0.5)}, c.Max.X, y, c.Max.X+vg.Points(4), y)
		c.FillText(tsty, vg.Point{X: x, Y: y}, fmtMS(s.maxResp*float64(v)/100))
	}
	lab := p.Y.Label.TextStyle
	lab.Color = colResp
	lab.XAlign = draw.XLeft
	lab.YAlign = draw.YBottom
	c.FillText(lab, vg.Point{X: c.Max.X + vg.Points(2), Y: yTop + vg.Points(8)}, "response")
}

func fmtMS(ms float64) string {
	if ms >= 1000 {
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", ms/1000), "0"), ".") + " s"
	}
	return fmt.Sprintf("%.0f ms", ms)
}

func fillRect(c draw.Canvas, x0, y0, x1, y1 vg.Length, col color.Color) {
	if y1 <= y0 {
		return
	}
	c.SetColor(col)
	r := vg.Rectangle{Min: vg.Point{X: x0, Y: y0}, Max: vg.Point{X: x1, Y: y1}}
	c.Fill(r.Path())
}

// fillRect fills the rectangle in the canvas's pixels when it has them (at
// 72 dpi a point is a pixel; y grows upwards in the canvas, downwards in
// the image), opaque colours replacing and translucent ones blending.
func (s *series) fillRect(c draw.Canvas, x0, y0, x1, y1 vg.Length, col color.NRGBA) {
	if s.img == nil {
		fillRect(c, x0, y0, x1, y1, col)
		return
	}
	if y1 <= y0 {
		return
	}
	px := func(v vg.Length) int { return int(math.Round(float64(v))) }
	r := image.Rect(px(x0), s.h-px(y1), px(x1), s.h-px(y0))
	if r.Dx() == 0 { // a sliver still shows
		r.Max.X++
	}
	op := imgdraw.Over
	if col.A == 0xff {
		op = imgdraw.Src
	}
	imgdraw.Draw(s.img, r, image.NewUniform(col), image.Point{}, op)
}

type swatch color.NRGBA

func (s swatch) Thumbnail(c *draw.Canvas) {
	c.SetColor(color.NRGBA(s))
	c.Fill(c.Rectangle.Path())
}

type lineSwatch color.NRGBA

func (s lineSwatch) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(draw.LineStyle{Color: color.NRGBA(s), Width: vg.Points(1.5)}, c.Min.X, y, c.Max.X, y)
}

// title is the chart's title: the (cleaned, cut) service and the window.
func title(service string, from, to time.Time, loc *time.Location) string {
	name := cleanName(service)
	if name == "" {
		name = "service"
	}
	const layout = "2 Jan 2006 15:04"
	return fmt.Sprintf("%s: uptime %s – %s (%s)", name, from.In(loc).Format(layout), to.In(loc).Format(layout), to.In(loc).Format("MST"))
}

// cleanName makes a service name safe to draw: valid UTF-8, printable runes
// only (each other rune becomes '?', whitespace a space), at most
// maxServiceRunes runes with an ellipsis when cut.
func cleanName(s string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case unicode.IsSpace(r):
			r = ' '
		case r == utf8.RuneError || !unicode.IsGraphic(r) || r > 0xFFFF:
			r = '?'
		}
		if n == maxServiceRunes {
			b.WriteRune('…')
			break
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// timeTicks labels the x axis in local time at round steps.
type timeTicks struct {
	from, to time.Time
	loc      *time.Location
}

var tickSteps = [...]time.Duration{
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 30 * 24 * time.Hour,
}

// Ticks implements plot.Ticker; min and max are seconds since from.
func (t timeTicks) Ticks(_, _ float64) []plot.Tick {
	span := t.to.Sub(t.from)
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= 12 {
			step = s
			break
		}
	}
	if span < time.Hour {
		step = 10 * time.Minute
	}
	layout := "15:04"
	if step >= 24*time.Hour {
		layout = "2 Jan"
	} else if span > 24*time.Hour {
		layout = "2 Jan 15:04"
	}
	// First tick: the local midnight before from, stepped forward.
	f := t.from.In(t.loc)
	cur := time.Date(f.Year(), f.Month(), f.Day(), 0, 0, 0, 0, t.loc)
	var ticks []plot.Tick
	for i := 0; i < 1000 && !cur.After(t.to); i++ {
		if !cur.Before(t.from) {
			ticks = append(ticks, plot.Tick{Value: cur.Sub(t.from).Seconds(), Label: cur.In(t.loc).Format(layout)})
		}
		if step >= 24*time.Hour {
			cur = cur.AddDate(0, 0, int(step/(24*time.Hour))) // local days across DST
		} else {
			cur = cur.Add(step)
		}
	}
	return ticks
}
