package bot

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
		{2345 * time.Millisecond, "2.3s"},
		{4*time.Minute + 12*time.Second, "4m12s"},
		{2*time.Hour + 13*time.Minute + 20*time.Second, "2h13m"},
		{3*24*time.Hour + 4*time.Hour, "3d4h"},
	}
	for _, tc := range tests {
		if got := HumanDuration(tc.in); got != tc.want {
			t.Errorf("HumanDuration(%s) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestPlural(t *testing.T) {
	tests := []struct {
		n    int
		word string
		want string
	}{
		{1, "process", "1 process"},
		{2, "process", "2 processes"},
		{0, "line", "0 lines"},
		{1, "stale Chromium lock", "1 stale Chromium lock"},
	}
	for _, tc := range tests {
		if got := Plural(tc.n, tc.word); got != tc.want {
			t.Errorf("Plural(%d, %q) = %q; want %q", tc.n, tc.word, got, tc.want)
		}
	}
}
