package human

import (
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{0, "0s"},
		{40 * time.Millisecond, "0s"},
		{2340 * time.Millisecond, "2.3s"},
		{5 * time.Second, "5s"},
		{9960 * time.Millisecond, "10s"},
		{45 * time.Second, "45s"},
		{4*time.Minute + 12*time.Second, "4m12s"},
		{4 * time.Minute, "4m"},
		{59*time.Minute + 59*time.Second + 600*time.Millisecond, "1h"},
		{2*time.Hour + 13*time.Minute + 20*time.Second, "2h13m"},
		{2 * time.Hour, "2h"},
		{168 * time.Hour, "7d"},
		{76 * time.Hour, "3d4h"},
	}
	for _, tt := range tests {
		if got := Duration(tt.in); got != tt.want {
			t.Errorf("Duration(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestClock(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	now := time.Date(2026, 11, 28, 14, 0, 0, 0, loc)
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 28, 13, 4, 5, 0, time.UTC), "14:04:05"},
		{time.Date(2026, 11, 27, 23, 30, 0, 0, loc), "2026-11-27 23:30:00"},
	}
	for _, tt := range tests {
		if got := Clock(tt.in, now, loc); got != tt.want {
			t.Errorf("Clock(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestCountPlural(t *testing.T) {
	tests := []struct {
		n    int
		word string
		want string
	}{
		{1, "check", "1 check"},
		{0, "check", "0 checks"},
		{3, "process", "3 processes"},
		{2, "service", "2 services"},
		{2, "match", "2 matches"},
	}
	for _, tt := range tests {
		if got := Count(tt.n, tt.word); got != tt.want {
			t.Errorf("Count(%d, %q) = %q; want %q", tt.n, tt.word, got, tt.want)
		}
	}
}

func TestBytesPercent(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Bytes(512), "512 B"},
		{Bytes(1536), "1.5 KiB"},
		{Bytes(3 << 30), "3.0 GiB"},
		{Percent(99.52), "99.5%"},
		{Percent(100), "100%"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q; want %q", tt.got, tt.want)
		}
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 4, "hel…"},
		{"héllo wörld", 3, "hé…"},
		{"🙂🙂🙂", 2, "🙂…"},
		{"abc", 0, ""},
	}
	for _, tt := range tests {
		if got := Cut(tt.s, tt.n); got != tt.want {
			t.Errorf("Cut(%q, %d) = %q; want %q", tt.s, tt.n, got, tt.want)
		}
	}
	if got := CutBytes("héllo", 4); got != "h…" {
		t.Errorf("CutBytes = %q; want %q", got, "h…")
	}
	if got := CutBytes("abcdefgh", 8); got != "abcdefgh" {
		t.Errorf("CutBytes = %q", got)
	}
}
