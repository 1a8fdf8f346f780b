package chart

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden checksums in testdata/")

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// series makes n buckets of step from t0, with an outage in bucket bad.
func series(n int, step time.Duration, bad int) []Bucket {
	out := make([]Bucket, n)
	for i := range out {
		s := t0.Add(time.Duration(i) * step)
		out[i] = Bucket{Start: s, End: s.Add(step), Uptime: 1, Known: true, RespAvg: time.Duration(2+i%5) * time.Millisecond}
		if i == bad {
			out[i].Uptime = 0.4
		}
	}
	return out
}

func cases() map[string]Uptime {
	return map[string]Uptime{
		"24h-incident": {Service: "whatsapp", From: t0, To: t0.Add(24 * time.Hour), Buckets: series(24, time.Hour, 14),
			Incidents: []Span{{t0.Add(14*time.Hour + 10*time.Minute), t0.Add(14*time.Hour + 46*time.Minute)}}},
		"7d-maintenance": {Service: "whatsapp", From: t0, To: t0.Add(7 * 24 * time.Hour), Buckets: series(7, 24*time.Hour, -1),
			Maintenance: []Span{{t0.Add(5*24*time.Hour + 3*time.Hour), t0.Add(5*24*time.Hour + 4*time.Hour)}}},
		"90d": {Service: "whatsapp", From: t0, To: t0.Add(90 * 24 * time.Hour), Buckets: series(90, 24*time.Hour, 40),
			Incidents: []Span{{t0.Add(40 * 24 * time.Hour), t0.Add(40*24*time.Hour + 6*time.Hour)}}},
		"no-data": {Service: "whatsapp", From: t0, To: t0.Add(24 * time.Hour)},
	}
}

// pixels decodes a PNG and hashes its RGBA pixels (not the file, whose
// encoding may vary).
func pixels(t *testing.T, data []byte) (string, image.Rectangle) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Bounds(), img, img.Bounds().Min, draw.Src)
	sum := sha256.Sum256(rgba.Pix)
	return hex.EncodeToString(sum[:]), img.Bounds()
}

func TestRenderGolden(t *testing.T) {
	for name, u := range cases() {
		t.Run(name, func(t *testing.T) {
			data, err := Render(u, Options{})
			if err != nil {
				t.Fatal(err)
			}
			sum, bounds := pixels(t, data)
			if bounds.Dx() != 1200 || bounds.Dy() != 500 {
				t.Errorf("size %v; want 1200x500", bounds.Size())
			}
			again, err := Render(u, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if sum2, _ := pixels(t, again); sum2 != sum {
				t.Error("two renders of the same input differ")
			}
			golden := filepath.Join("testdata", name+".sha256")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(sum+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(os.TempDir(), "sanasend-chart-"+name+".png"), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update once)", err)
			}
			if got := strings.TrimSpace(string(want)); got != sum {
				t.Errorf("pixels changed: sha256 %s, golden %s (look at the PNG, then go test -update)", sum, got)
			}
		})
	}
}

func TestRenderDiffersWithTheData(t *testing.T) {
	u := cases()["24h-incident"]
	a, _ := Render(u, Options{})
	u.Incidents = nil
	b, _ := Render(u, Options{})
	if sa, _ := pixels(t, a); func() bool { sb, _ := pixels(t, b); return sa == sb }() {
		t.Error("the incident's shading does not show")
	}
}

func TestRenderRejects(t *testing.T) {
	ok := cases()["24h-incident"]
	tests := []struct {
		name string
		u    Uptime
		opts Options
		want string
	}{
		{"empty window", Uptime{From: t0, To: t0}, Options{}, "ends before it begins"},
		{"reversed window", Uptime{From: t0.Add(time.Hour), To: t0}, Options{}, "ends before it begins"},
		{"too many buckets", Uptime{From: t0, To: t0.Add(time.Hour), Buckets: make([]Bucket, MaxBuckets+1)}, Options{}, "at most 5000"},
		{"too large", ok, Options{Width: 10000, Height: 100}, "too large"},
	}
	for _, tc := range tests {
		if _, err := Render(tc.u, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want %q", tc.name, err, tc.want)
		}
	}
}

func TestRenderHostileName(t *testing.T) {
	u := cases()["no-data"]
	u.Service = strings.Repeat("<!channel> \x00\x1b[31m\xff", 100)
	data, err := Render(u, Options{Width: 300, Height: 200})
	if err != nil {
		t.Fatal(err)
	}
	if _, b := pixels(t, data); b.Dx() != 300 || b.Dy() != 200 {
		t.Errorf("size %v; want 300x200", b.Size())
	}
	if got := cut(u.Service); len([]rune(got)) != maxServiceRune+1 || strings.ContainsAny(got, "\x00\x1b") {
		t.Errorf("cut = %q", got)
	}
}

func BenchmarkRender90d(b *testing.B) {
	u := cases()["90d"]
	for b.Loop() {
		if _, err := Render(u, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
