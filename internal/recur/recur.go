// Package recur parses when a recurring maintenance window begins: a
// weekday and a local time ("sun 03:00"), "daily 03:00", or a standard
// 5-field cron expression ("0 3 * * 0", parsed by robfig/cron). It is
// shared by the config, the alert monitor and the bot's commands, so the
// three accept the same words. It knows nothing of windows or services.
package recur

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is when a recurring window begins. The zero Schedule never
// begins.
type Schedule struct {
	spec  string
	sched cron.Schedule
}

// cronParser accepts exactly the 5 standard fields: no seconds, no
// descriptors (@daily) and no time zone prefix.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// weekdays maps a weekday's name (3 letters or whole) to cron's number.
func weekday(s string) (int, bool) {
	names := []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
	s = strings.ToLower(s)
	for i, n := range names {
		if s == n || s == n[:3] {
			return i, true
		}
	}
	return 0, false
}

// DayWord reports whether s is "daily" or a weekday's name: the first word
// of a two-word spec ("sun 03:00"), not of a cron expression.
func DayWord(s string) bool {
	_, ok := weekday(s)
	return ok || strings.EqualFold(s, "daily")
}

// ErrSyntax is wrapped by every error of Parse.
var ErrSyntax = errors.New(`use a weekday and a time ("sun 03:00"), "daily 03:00", or a 5-field cron expression ("0 3 * * 0")`)

// Parse reads spec: "sun 03:00" (a weekday, 3 letters or whole, and a
// local time HH:MM), "daily 03:00", or a 5-field cron expression. Its
// errors say what is wrong and wrap ErrSyntax.
func Parse(spec string) (Schedule, error) {
	fields := strings.Fields(spec)
	switch len(fields) {
	case 2:
		h, m, err := clock(fields[1])
		if err != nil {
			return Schedule{}, fmt.Errorf("%q: %w: %w", spec, err, ErrSyntax)
		}
		dow := "*"
		if strings.ToLower(fields[0]) != "daily" {
			d, ok := weekday(fields[0])
			if !ok {
				return Schedule{}, fmt.Errorf("%q: %q is not a weekday (sun to sat) or daily: %w", spec, fields[0], ErrSyntax)
			}
			dow = strconv.Itoa(d)
		}
		s, err := cronParser.Parse(fmt.Sprintf("%d %d * * %s", m, h, dow))
		if err != nil {
			return Schedule{}, fmt.Errorf("%q: %w: %w", spec, err, ErrSyntax)
		}
		return Schedule{spec: strings.Join(fields, " "), sched: s}, nil
	case 5:
		s, err := cronParser.Parse(strings.Join(fields, " "))
		if err != nil {
			return Schedule{}, fmt.Errorf("%q is not a cron expression (%v): %w", spec, err, ErrSyntax)
		}
		return Schedule{spec: strings.Join(fields, " "), sched: s}, nil
	}
	return Schedule{}, fmt.Errorf("%q: %w", spec, ErrSyntax)
}

// clock reads a local time of day, "3:00" or "03:00".
func clock(s string) (hour, minute int, err error) {
	hs, ms, ok := strings.Cut(s, ":")
	h, herr := strconv.Atoi(hs)
	m, merr := strconv.Atoi(ms)
	if !ok || herr != nil || merr != nil || len(hs) > 2 || len(ms) != 2 || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, 0, fmt.Errorf("%q is not a time of day (00:00 to 23:59)", s)
	}
	return h, m, nil
}

// String is the spec as parsed, its fields separated by one space.
func (s Schedule) String() string { return s.spec }

// IsZero reports whether s is the zero Schedule.
func (s Schedule) IsZero() bool { return s.sched == nil }

// Next is the first start after t, in t's location; zero when there is
// none within five years (as robfig/cron).
func (s Schedule) Next(t time.Time) time.Time {
	if s.sched == nil {
		return time.Time{}
	}
	return s.sched.Next(t)
}

// Open returns the start of the occurrence of a window of length d that is
// open at now (the latest start in (now-d, now]), and false when none is.
// Times are in now's location.
func (s Schedule) Open(now time.Time, d time.Duration) (time.Time, bool) {
	if s.sched == nil || d <= 0 {
		return time.Time{}, false
	}
	var start time.Time
	// Next is strictly after its argument: the first start after now-d.
	for t := s.sched.Next(now.Add(-d)); !t.IsZero() && !t.After(now); t = s.sched.Next(t) {
		start = t
	}
	return start, !start.IsZero()
}

// periodSample bounds MinPeriod's look ahead.
const (
	periodStarts = 500
	periodSpan   = 5 * 366 * 24 * time.Hour
)

// MinPeriod is the least time between two consecutive starts over the
// starts that follow from (at most 500 of them, within five years): a
// window must be shorter. 0 when fewer than two starts follow.
func (s Schedule) MinPeriod(from time.Time) time.Duration {
	if s.sched == nil {
		return 0
	}
	var least time.Duration
	prev := s.sched.Next(from)
	for i := 0; i < periodStarts && !prev.IsZero() && prev.Sub(from) < periodSpan; i++ {
		next := s.sched.Next(prev)
		if next.IsZero() {
			break
		}
		if gap := next.Sub(prev); least == 0 || gap < least {
			least = gap
		}
		prev = next
	}
	return least
}

// MaxDuration is the longest window accepted: a forgotten one must not
// mute alerts for ever.
const MaxDuration = 7 * 24 * time.Hour

// periodFrom is where CheckDuration measures the time between starts:
// fixed, so that a window is accepted the same any day, and in UTC, so that
// the period is the nominal one (a daily window is 24h apart, whatever a
// change to or from daylight saving time makes of one night).
var periodFrom = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// CheckDuration says why d cannot be the length of a window that begins on
// s: it must be positive, at most MaxDuration, and shorter than the least
// time between two starts, so that occurrences never overlap. nil when it
// can.
func (s Schedule) CheckDuration(d time.Duration) error {
	switch {
	case d <= 0:
		return fmt.Errorf("%s is not positive: give how long the window stays open, e.g. 1h", d)
	case d > MaxDuration:
		return fmt.Errorf("%s is too long: the most is %s", short(d), short(MaxDuration))
	}
	if p := s.MinPeriod(periodFrom); p > 0 && d >= p {
		return fmt.Errorf("%s is not shorter than the %s between two starts of %q", short(d), short(p), s.String())
	}
	return nil
}

// short is d as typed: "1h", "90m", "7d", "25h".
func short(d time.Duration) string {
	if d%(24*time.Hour) == 0 && d >= 48*time.Hour {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
