package recur

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) // a Friday
	tests := []struct {
		spec   string
		next   time.Time // zero: an error is expected
		period time.Duration
	}{
		{"sun 03:00", time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC), 7 * 24 * time.Hour},
		{"Sunday 3:00", time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC), 7 * 24 * time.Hour},
		{"daily 03:30", time.Date(2026, 12, 5, 3, 30, 0, 0, time.UTC), 24 * time.Hour},
		{"fri 12:01", time.Date(2026, 12, 4, 12, 1, 0, 0, time.UTC), 7 * 24 * time.Hour},
		{"0 3 * * 0", time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC), 7 * 24 * time.Hour},
		{"*/15 * * * *", time.Date(2026, 12, 4, 12, 15, 0, 0, time.UTC), 15 * time.Minute},
		{"0 3 * * 1-5", time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC), 24 * time.Hour},
		{"sun 25:00", time.Time{}, 0},
		{"sun 03:60", time.Time{}, 0},
		{"sun 3", time.Time{}, 0},
		{"someday 03:00", time.Time{}, 0},
		{"0 3 * *", time.Time{}, 0},
		{"0 3 * * 8", time.Time{}, 0},
		{"@daily", time.Time{}, 0},
		{"0 0 3 * * 0", time.Time{}, 0},
		{"", time.Time{}, 0},
	}
	for _, tt := range tests {
		s, err := Parse(tt.spec)
		if tt.next.IsZero() {
			if err == nil || !errors.Is(err, ErrSyntax) {
				t.Errorf("Parse(%q) = %v, %v; want an error wrapping ErrSyntax", tt.spec, s, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.spec, err)
			continue
		}
		if got := s.Next(at); !got.Equal(tt.next) {
			t.Errorf("Parse(%q).Next(%v) = %v; want %v", tt.spec, at, got, tt.next)
		}
		if got := s.MinPeriod(at); got != tt.period {
			t.Errorf("Parse(%q).MinPeriod = %v; want %v", tt.spec, got, tt.period)
		}
	}
}

func TestOpen(t *testing.T) {
	s, err := Parse("sun 03:00")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		now  time.Time
		want time.Time // zero: closed
	}{
		{start.Add(-time.Second), time.Time{}},
		{start, start},
		{start.Add(59 * time.Minute), start},
		{start.Add(time.Hour), time.Time{}},
		{start.Add(7 * 24 * time.Hour), start.Add(7 * 24 * time.Hour)},
	}
	for _, tt := range tests {
		got, ok := s.Open(tt.now, time.Hour)
		if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
			t.Errorf("Open(%v, 1h) = %v, %v; want %v", tt.now, got, ok, tt.want)
		}
	}
}
