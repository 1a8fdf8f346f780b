package bot

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/human"
)

// The words of `uptime` and `incidents`, for every front end.

// NoHistoryText is the answer of `uptime` and `incidents` where no history
// is kept and nothing better says why.
const NoHistoryText = "no history is kept here: only `sanasend-bot serve` keeps one (history.db in its state dir)"

// NoHistoryOpenText is why there is no history when the file could not be
// opened; reason is history.SafeMessage of the error.
func NoHistoryOpenText(reason string) string {
	return fmt.Sprintf("no history is kept: the history database could not be opened at start (%s); the bot supervises without it", reason)
}

// HistoryUnreadableText is the answer when the history could not be read.
func HistoryUnreadableText(service string, _ error) string {
	return fmt.Sprintf("the history of %s could not be read just now; the bot keeps supervising (its log has the details)", service)
}

// MaxCauseRunes bounds an incident's cause as a reply shows it.
const MaxCauseRunes = 300

// PeriodText names an uptime window: "last 24 hours", "last 7 days".
func PeriodText(d time.Duration) string {
	if d > 24*time.Hour && d%(24*time.Hour) == 0 {
		return "last " + human.Count(int(d/(24*time.Hour)), "day")
	}
	if d%time.Hour == 0 {
		return "last " + human.Count(int(d/time.Hour), "hour")
	}
	return "last " + human.Duration(d)
}

// UptimeHeadline is the first line of an uptime report: "whatsapp, last 24
// hours: 99.2% up".
func UptimeHeadline(r *history.Report) string {
	head := r.Service + ", " + PeriodText(r.To.Sub(r.From)) + ": "
	if !r.Known {
		return head + "uptime unknown: nothing but maintenance, or nothing at all, was observed"
	}
	return head + UptimePercent(r.Uptime) + " up"
}

// UptimePercent prints a ratio from 0 to 1 as a percentage that never
// rounds a downtime away: 0.9999 is "99.9%", not "100%".
func UptimePercent(ratio float64) string {
	s := human.Percent(ratio * 100)
	if ratio < 1 && s == "100%" {
		return "99.9%"
	}
	return s
}

// Fact is one labelled figure of a report.
type Fact struct{ Label, Value string }

// UptimeFacts are the figures of an uptime report, in the order shown:
// time by state, incidents, total outage, MTTR, restarts by who, response
// time.
func UptimeFacts(r *history.Report) []Fact {
	dur := func(d time.Duration) string {
		if d <= 0 {
			return "none"
		}
		return human.Duration(d)
	}
	unknown := dur(r.Unknown)
	if r.Unknown > 0 {
		unknown += ": the bot was not watching"
	}
	open := 0
	for _, in := range r.Incidents {
		if in.Open() {
			open++
		}
	}
	incidents := "none"
	if len(r.Incidents) > 0 {
		incidents = strconv.Itoa(len(r.Incidents))
	}
	if open > 0 {
		incidents += fmt.Sprintf(" (%d still open)", open)
	}
	mttr := "no incident resolved"
	if r.MTTR > 0 {
		mttr = human.Duration(r.MTTR)
	}
	response := "no check answered"
	if r.ResponseAvg > 0 {
		// As the status card shows a latency: to the tenth of a millisecond.
		response = r.ResponseAvg.Round(100*time.Microsecond).String() + " on average over " + human.Count(r.Checks, "check")
	}
	return []Fact{
		{"healthy", dur(r.Healthy)},
		{"unhealthy", dur(r.Unhealthy)},
		{"stopped", dur(r.Stopped)},
		{"maintenance", dur(r.Maintenance)},
		{"unknown", unknown},
		{"incidents", incidents},
		{"total outage", dur(r.Outage)},
		{"MTTR", mttr},
		{"restarts", RestartsText(r.Restarts)},
		{"response time", response},
	}
}

// maxRestarters bounds the names RestartsText lists.
const maxRestarters = 10

func restartsOf(by map[string]int, who []string) int {
	n := 0
	for _, w := range who {
		n += by[w]
	}
	return n
}

// RestartsText says who restarted how often, most first: "3 restarts: 2
// by alice, 1 by auto-restart"; "none". It names the ten who restarted
// most and sums up the others.
func RestartsText(by map[string]int) string {
	if len(by) == 0 {
		return "none"
	}
	who := make([]string, 0, len(by))
	total := 0
	for w, n := range by {
		who = append(who, w)
		total += n
	}
	sort.Slice(who, func(i, j int) bool {
		if by[who[i]] != by[who[j]] {
			return by[who[i]] > by[who[j]]
		}
		return who[i] < who[j]
	})
	parts := make([]string, 0, min(len(who), maxRestarters)+1)
	for i, w := range who {
		if i == maxRestarters {
			parts = append(parts, fmt.Sprintf("and %d by %d others", restartsOf(by, who[i:]), len(who)-i))
			break
		}
		name := w
		if name == "" {
			name = "someone unknown"
		}
		parts = append(parts, fmt.Sprintf("%d by %s", by[w], human.Cut(name, 60)))
	}
	return human.Count(total, "restart") + ": " + strings.Join(parts, ", ")
}

// ChartFailedNote says the chart could not be drawn.
const ChartFailedNote = "the chart could not be drawn this time; the figures above are complete"

// ChartSavedText names the file the console wrote a chart to.
func ChartSavedText(path string) string { return "chart written to " + path }

// ChartNotSavedText says why the console could not write a chart; the
// figures stand.
func ChartNotSavedText(reason string) string {
	return "the chart could not be written: " + reason + "; the figures above are complete"
}

// IncidentsHeadline is the first line of `incidents`: "whatsapp: the last
// 3 incidents" or "whatsapp: no incident recorded".
func IncidentsHeadline(service string, list []history.Incident, asked int) string {
	switch {
	case len(list) == 0:
		return service + ": no incident recorded"
	case len(list) < asked:
		return fmt.Sprintf("%s: %s recorded, newest first", service, human.Count(len(list), "incident"))
	case len(list) == 1:
		return service + ": the last incident"
	}
	return fmt.Sprintf("%s: the last %d incidents, newest first", service, len(list))
}

// IncidentLine is one incident: "03:01:12, down 4m12s: exit code 137;
// acknowledged by alice; resolved by bob", or "still open". The cause is
// cut to MaxCauseRunes and stays on one line.
func IncidentLine(in history.Incident, now time.Time) string {
	var b strings.Builder
	b.WriteString(human.Clock(in.FailedAt, now, now.Location()))
	if in.Open() {
		fmt.Fprintf(&b, ", down for %s so far", human.Duration(in.Duration))
	} else {
		fmt.Fprintf(&b, ", down %s", human.Duration(in.Duration))
	}
	cause := strings.Join(strings.Fields(in.Cause), " ")
	if cause == "" {
		cause = "no cause recorded"
	}
	b.WriteString(": " + human.Cut(cause, MaxCauseRunes))
	if in.AckedBy != "" {
		b.WriteString("; acknowledged by " + human.Cut(in.AckedBy, 60))
	}
	switch {
	case in.Open():
		b.WriteString("; still open")
	case in.ResolvedBy != "":
		b.WriteString("; resolved by " + human.Cut(in.ResolvedBy, 60))
	default:
		b.WriteString("; recovered on its own")
	}
	return b.String()
}

// The words of the status card's history (Reply.History).

// HistoryTimeoutText is the card's line when the history did not answer
// within the status card's deadline.
const HistoryTimeoutText = "the history did not answer in time (a busy or locked database?); the rest of the card is current"

// StatusDayLine sums up the card's last 24 hours: "99.2% up; 2 incidents
// (1 still open)", "100% up; no incident", "20% up over the 5s observed
// (4s stopped); no incident", "unknown: nothing observed".
func StatusDayLine(r *history.Report) string {
	if !r.Known {
		return "unknown: nothing but maintenance, or nothing at all, was observed"
	}
	open := 0
	for _, in := range r.Incidents {
		if in.Open() {
			open++
		}
	}
	s := UptimePercent(r.Uptime) + " up"
	if r.Unknown > 0 {
		// Part of the day was not watched (a new install, the bot down):
		// say over how much the share is.
		s += " over the " + human.Duration(r.Healthy+r.Unhealthy+r.Stopped) + " observed"
	}
	if r.Stopped > 0 {
		// Stopped counts as down (nobody was served); say how much of
		// the down time was a stop rather than a failure.
		s += " (" + human.Duration(r.Stopped) + " stopped)"
	}
	s += "; "
	if len(r.Incidents) == 0 {
		return s + "no incident"
	}
	s += human.Count(len(r.Incidents), "incident")
	if open > 0 {
		s += fmt.Sprintf(" (%d still open)", open)
	}
	return s
}

// statusCauseRunes bounds an incident's cause on the status card.
const statusCauseRunes = 80

// LastIncidentText is the card's latest incident: "03:01:00 (2h9m ago),
// down 12m: exit code 137; resolved by bob", "...; still open".
func LastIncidentText(in history.Incident, now time.Time) string {
	var b strings.Builder
	b.WriteString(human.Clock(in.FailedAt, now, now.Location()) + " (" + human.Ago(in.FailedAt, now) + ")")
	if in.Open() {
		fmt.Fprintf(&b, ", down for %s so far", human.Duration(in.Duration))
	} else {
		fmt.Fprintf(&b, ", down %s", human.Duration(in.Duration))
	}
	if cause := strings.Join(strings.Fields(in.Cause), " "); cause != "" {
		b.WriteString(": " + human.Cut(cause, statusCauseRunes))
	}
	switch {
	case in.Open() && in.AckedBy != "":
		b.WriteString("; still open, acknowledged by " + human.Cut(in.AckedBy, 60))
	case in.Open():
		b.WriteString("; still open")
	case in.ResolvedBy != "":
		b.WriteString("; resolved by " + human.Cut(in.ResolvedBy, 60))
	default:
		b.WriteString("; recovered on its own")
	}
	return b.String()
}

// HistoryHealthLine says what is wrong with the history: "writes failing
// since 19:30:12 (5m ago): the disk is full (...); retrying; the bot keeps
// supervising; 12 facts queued, 340 dropped". Since is the last write that
// succeeded. h.LastError is safe to show (history.SafeMessage).
func HistoryHealthLine(h *history.Health, now time.Time) string {
	var s string
	switch {
	case h.Failing:
		s = "writes failing"
		if !h.LastWrite.IsZero() {
			s += " since " + human.Clock(h.LastWrite, now, now.Location()) + " (" + human.Ago(h.LastWrite, now) + ")"
		}
		s += ": " + h.LastError + "; retrying, and the bot keeps supervising"
	case h.LastError != "":
		s = "a write was refused: " + h.LastError
	default:
		s = "writes succeed"
	}
	var counts []string
	if h.Queued > 0 {
		counts = append(counts, human.Count(h.Queued, "fact")+" queued")
	}
	if h.Dropped > 0 {
		counts = append(counts, human.Count(int(min(h.Dropped, 1<<31)), "fact")+" dropped since start")
	}
	if len(counts) > 0 {
		s += "; " + strings.Join(counts, ", ")
	}
	return s
}
