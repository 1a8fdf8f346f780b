package history_test

import (
	"context"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/chart"
	"github.com/sanasend/sanasend-bot/history"
)

// BenchmarkUptime90d is what `uptime 90d` costs the bot on a year of
// history for three services (BuildYear): the report over 90 days at the
// bucket the bot asks for, ending off the hour (query), its PNG chart (chart), and the two
// together as the router runs them (query+chart; the goal is under 50 ms).
// empty-chart is the reference: the chart of the same window with no data
// (title, axes, legend and encoding only); x-empty-chart is each
// sub-benchmark's time as a multiple of it, which varies less than ms/op
// on a shared machine.
func BenchmarkUptime90d(b *testing.B) {
	s, clock := history.BuildYear(b)
	ctx := context.Background()
	// The bot's window ends at now, on no hour or minute: so does this
	// one (BuildYear's now is a midnight, whose days would be read whole).
	now := clock.Now().Add(-(9*time.Hour + 22*time.Minute + 37*time.Second + 250*time.Millisecond))
	const window = 90 * 24 * time.Hour
	bucket := bot.UptimeBucket(window)
	var r chart.Renderer
	rep, err := s.Uptime(ctx, "whatsapp", now.Add(-window), now, bucket)
	if err != nil {
		b.Fatal(err)
	}
	if !rep.Known || len(rep.Series) != 90 {
		b.Fatalf("Uptime over 90 days: known %v, %d buckets; want 90", rep.Known, len(rep.Series))
	}
	empty := history.Report{Service: rep.Service, From: rep.From, To: rep.To, Bucket: rep.Bucket}

	var ref float64 // ms/op of the latest empty-chart
	msOp := func(b *testing.B) float64 {
		v := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N)
		b.ReportMetric(v, "ms/op")
		return v
	}
	report := func(b *testing.B) {
		if v := msOp(b); ref > 0 {
			b.ReportMetric(v/ref, "x-empty-chart")
		}
	}
	b.Run("empty-chart", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.RenderUptime(empty, time.UTC); err != nil {
				b.Fatal(err)
			}
		}
		ref = msOp(b)
	})
	b.Run("query", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Uptime(ctx, "whatsapp", now.Add(-window), now, bucket); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("chart", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.RenderUptime(rep, time.UTC); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("query+chart", func(b *testing.B) {
		for b.Loop() {
			rp, err := s.Uptime(ctx, "whatsapp", now.Add(-window), now, bucket)
			if err != nil {
				b.Fatal(err)
			}
			png, err := r.RenderUptime(rp, now.Location())
			if err != nil || len(png) == 0 {
				b.Fatalf("RenderUptime: %d bytes, %v", len(png), err)
			}
		}
		report(b)
	})
}
