package chart

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"image"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden checksums in testdata/")

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

// scripted builds a deterministic series: n buckets of width b ending at to,
// with a dip in uptime and a slower response where bad(i) is true and no data
// where gap(i) is true.
func scripted(svc string, to time.Time, n int, b time.Duration, bad, gap func(i int) bool) Uptime {
	from := to.Add(-time.Duration(n) * b)
	u := Uptime{Service: svc, From: from, To: to, Bucket: b, Loc: berlin}
	for i := range n {
		bk := Bucket{Start: from.Add(time.Duration(i) * b), Uptime: 1, RespAvg: time.Duration(120+(i*37)%80) * time.Millisecond, HasResp: true}
		if bad(i) {
			bk.Uptime = 0.8 - float64(i%3)*0.1
			bk.RespAvg = 900 * time.Millisecond
		}
		if gap(i) {
			bk = Bucket{Start: bk.Start, Uptime: -1}
		}
		u.Buckets = append(u.Buckets, bk)
	}
	return u
}

var end = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func never(int) bool { return false }

func cases() map[string]Uptime {
	day := scripted("whatsapp", end, 24, time.Hour, func(i int) bool { return i == 9 || i == 10 }, never)
	day.Incidents = []Span{{Start: day.From.Add(9*time.Hour + 20*time.Minute), End: day.From.Add(10*time.Hour + 45*time.Minute)}}

	week := scripted("whatsapp", end, 7*24, time.Hour, func(i int) bool { return i == 50 }, func(i int) bool { return i >= 100 && i < 104 })
	for d := range 7 {
		s := week.From.Add(time.Duration(d)*24*time.Hour + 3*time.Hour)
		week.Maintenance = append(week.Maintenance, Span{Start: s, End: s.Add(time.Hour)})
	}

	q := scripted("whatsapp-eu", end, 90, 24*time.Hour, func(i int) bool { return i%17 == 3 }, func(i int) bool { return i == 40 })
	q.Incidents = []Span{{Start: q.From.Add(3 * 24 * time.Hour), End: q.From.Add(3*24*time.Hour + 2*time.Hour)}}
	q.Maintenance = []Span{{Start: q.From.Add(60 * 24 * time.Hour), End: q.From.Add(61 * 24 * time.Hour)}}

	none := Uptime{Service: "whatsapp", From: end.Add(-24 * time.Hour), To: end, Bucket: time.Hour, Loc: berlin}
	return map[string]Uptime{"24h_incident": day, "7d_maintenance": week, "90d": q, "no_data": none}
}

// pixels decodes a PNG and returns its size and a checksum of its pixels.
func pixels(t testing.TB, b []byte) (image.Rectangle, string) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	rgba := image.NewNRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Bounds(), img, img.Bounds().Min, draw.Src)
	sum := sha256.Sum256(rgba.Pix)
	return img.Bounds(), hex.EncodeToString(sum[:])
}

func TestRenderGolden(t *testing.T) {
	for name, u := range cases() {
		t.Run(name, func(t *testing.T) {
			b, err := Render(u, Options{})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			r, sum := pixels(t, b)
			if r.Dx() != DefaultWidth || r.Dy() != DefaultHeight {
				t.Fatalf("size %v, want %dx%d", r.Size(), DefaultWidth, DefaultHeight)
			}
			golden := filepath.Join("testdata", name+".sha256")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(sum+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update): %v", err)
			}
			if got := strings.TrimSpace(string(want)); got != sum {
				saved := filepath.Join(os.TempDir(), "chart-"+name+".png")
				if err := os.WriteFile(saved, b, 0o644); err != nil {
					saved = err.Error()
				}
				t.Errorf("pixels changed: sha256 %s, golden %s; the new chart is %s (look at it, then -update)", sum, got, saved)
			}
		})
	}
}

// The four scripted charts differ from each other: a golden that ignored the
// input would pass the test above.
func TestRenderDiffers(t *testing.T) {
	seen := map[string]string{}
	for name, u := range cases() {
		b, err := Render(u, Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, sum := pixels(t, b)
		if other, ok := seen[sum]; ok {
			t.Errorf("%s and %s draw the same pixels", name, other)
		}
		seen[sum] = name
	}
}

func TestRenderDeterministic(t *testing.T) {
	u := cases()["7d_maintenance"]
	a, err := Render(u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render(u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, sa := pixels(t, a)
	_, sb := pixels(t, b)
	if sa != sb {
		t.Fatalf("two renders differ: %s vs %s", sa, sb)
	}
}

func TestRenderSize(t *testing.T) {
	for _, o := range []Options{{Width: 640, Height: 320}, {Width: 1600, Height: 900}} {
		b, err := Render(cases()["24h_incident"], o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		r, _ := pixels(t, b)
		if r.Dx() != o.Width || r.Dy() != o.Height {
			t.Errorf("size %v, want %dx%d", r.Size(), o.Width, o.Height)
		}
	}
}

func TestRenderMalformed(t *testing.T) {
	base := cases()["24h_incident"]
	mod := func(f func(u *Uptime)) Uptime {
		u := base
		u.Buckets = append([]Bucket(nil), base.Buckets...)
		f(&u)
		return u
	}
	tests := []struct {
		name    string
		u       Uptime
		opts    Options
		wantErr error // nil: a valid PNG is expected
	}{
		{"from equals to", mod(func(u *Uptime) { u.To = u.From }), Options{}, ErrWindow},
		{"from after to", mod(func(u *Uptime) { u.From, u.To = u.To, u.From }), Options{}, ErrWindow},
		{"zero window", Uptime{}, Options{}, ErrWindow},
		{"too many buckets", mod(func(u *Uptime) { u.Buckets = make([]Bucket, MaxBuckets+1) }), Options{}, ErrTooMany},
		{"zero bucket width", mod(func(u *Uptime) { u.Bucket = 0 }), Options{}, ErrBucket},
		{"negative size", base, Options{Width: -1, Height: 10}, ErrImageSize},
		{"huge size", base, Options{Width: MaxSide + 1}, ErrImageSize},
		{"max buckets", mod(func(u *Uptime) {
			u.Buckets = make([]Bucket, MaxBuckets)
			for i := range u.Buckets {
				u.Buckets[i] = Bucket{Start: u.From.Add(time.Duration(i) * u.Bucket / 200), Uptime: float64(i%10) / 10}
			}
			u.Bucket /= 200
		}), Options{}, nil},
		{"long service name", mod(func(u *Uptime) { u.Service = strings.Repeat("wa-", 500) }), Options{}, nil},
		{"odd unicode", mod(func(u *Uptime) { u.Service = "\xff\xfe\u202e\x00\t\n😀" + strings.Repeat("\u0301", 400) + "名前" }), Options{}, nil},
		{"nil location", mod(func(u *Uptime) { u.Loc = nil }), Options{}, nil},
		{"NaN and >1 uptime, negative resp", mod(func(u *Uptime) {
			u.Buckets[0].Uptime = math.NaN()
			u.Buckets[1].Uptime = 7
			u.Buckets[2].RespAvg = -time.Second
		}), Options{}, nil},
		{"buckets and spans outside the window", mod(func(u *Uptime) {
			u.Buckets = append(u.Buckets, Bucket{Start: u.To.Add(48 * time.Hour), Uptime: 1}, Bucket{Start: u.From.Add(-48 * time.Hour), Uptime: 1})
			u.Incidents = append(u.Incidents, Span{Start: u.To, End: u.From}, Span{Start: u.From.Add(-time.Hour), End: u.To.Add(time.Hour)})
		}), Options{}, nil},
		{"empty series", Uptime{From: base.From, To: base.To}, Options{}, nil},
		{"tiny image", base, Options{Width: 1, Height: 1}, nil},
		{"one minute window", Uptime{From: base.From, To: base.From.Add(time.Minute), Bucket: time.Second, Buckets: []Bucket{{Start: base.From, Uptime: 1, HasResp: true, RespAvg: time.Millisecond}}}, Options{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Render(tc.u, tc.opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if b != nil {
					t.Fatalf("bytes with an error")
				}
				return
			}
			if err != nil {
				if tc.name == "tiny image" && errors.Is(err, errNotDrawing) {
					return // refused without a panic: acceptable for a 1x1 image
				}
				t.Fatalf("Render: %v", err)
			}
			pixels(t, b)
		})
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"whatsapp", "whatsapp"},
		{"a\x00b\tc", "a?b c"},
		{"\xff", "?"},
		{"😀x", "?x"},
		{strings.Repeat("x", 61), strings.Repeat("x", 60) + "…"},
		{strings.Repeat("é", 60), strings.Repeat("é", 60)},
	}
	for _, tc := range tests {
		if got := cleanName(tc.in); got != tc.want {
			t.Errorf("cleanName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func BenchmarkRender90d(b *testing.B) {
	u := cases()["90d"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(u, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
