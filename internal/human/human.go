// Package human formats numbers, sizes, durations and times the way the
// bot's messages show them. It is the one place these formats live: every
// front end and every domain package that must write a figure for a person
// uses it, so "4m12s" reads the same in a Slack alert, a console reply and a
// doctor check. It does no I/O and reads no clock: times come with the call.
package human

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Duration prints d the way people read it: "0s", "2.3s" (under 10 s, to
// the tenth), "45s", "4m12s", "4m" (under an hour, to the second), "2h13m",
// "2h" (under two days, to the minute), "3d4h", "3d". Negative durations
// print as "0s". It never prints Go's "168h0m0s".
func Duration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < 10*time.Second {
		s := d.Round(100 * time.Millisecond).Seconds()
		return strings.TrimSuffix(fmt.Sprintf("%.1f", s), ".0") + "s"
	}
	if d = d.Round(time.Second); d < time.Hour {
		m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
		switch {
		case m == 0:
			return fmt.Sprintf("%ds", s)
		case s == 0:
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm%ds", m, s)
	}
	if d = d.Round(time.Minute); d < 48*time.Hour {
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	d = d.Round(time.Hour)
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, h)
}

// Ago says how long before now t was: "12s ago", "4m12s ago"; a t after now
// by more than a second reads "in the future (clock skew?)".
func Ago(t, now time.Time) string {
	d := now.Sub(t)
	if d < -time.Second {
		return "in the future (clock skew?)"
	}
	return Duration(d) + " ago"
}

// Clock prints t in loc as the time of day, "15:04:05", when it is on the
// same local day as now, and as "2006-01-02 15:04:05" otherwise. Every
// time of day in a message goes through here: local time, never UTC RFC
// 3339. A nil loc means time.Local.
func Clock(t, now time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.Local
	}
	t, now = t.In(loc), now.In(loc)
	y, m, d := t.Date()
	if y2, m2, d2 := now.Date(); y == y2 && m == m2 && d == d2 {
		return t.Format(time.TimeOnly)
	}
	return t.Format(time.DateTime)
}

// Count prints n and word, plural when n is not 1: "1 check", "2 checks",
// "3 processes", "0 sessions".
func Count(n int, word string) string {
	return fmt.Sprintf("%d %s", n, Plural(n, word))
}

// Plural is word for n: "check" for 1, "checks" otherwise; words ending in
// s, x, ch or sh take "es" ("processes").
func Plural(n int, word string) string {
	if n == 1 || n == -1 {
		return word
	}
	for _, suf := range []string{"s", "x", "ch", "sh"} {
		if strings.HasSuffix(word, suf) {
			return word + "es"
		}
	}
	return word + "s"
}

// Bytes prints a size in binary units: "512 B", "1.5 KiB", "3.0 GiB".
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Percent prints a share from 0 to 100 with at most one decimal: "99.5%",
// "100%".
func Percent(p float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", p), ".0") + "%"
}

// Ellipsis marks text that was cut.
const Ellipsis = "…"

// Cut shortens s to at most n runes, the Ellipsis included, cutting on a
// rune boundary. n below 1 gives "".
func Cut(s string, n int) string {
	if n < 1 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, k := 0, 0
	for i = range s {
		if k == n-1 {
			break
		}
		k++
	}
	return s[:i] + Ellipsis
}

// CutBytes shortens s to at most n bytes, the Ellipsis included, cutting on
// a rune boundary: for bounding untrusted text before it is logged or kept.
func CutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len(Ellipsis)
	if cut <= 0 {
		return ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + Ellipsis
}

// FirstLine is the first line of s, trimmed.
func FirstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}
