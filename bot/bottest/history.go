package bottest

import (
	"fmt"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/history"
)

// Evil is text that tries to ping, link or break out of a code block.
const Evil = "<!channel> <!here|here> <@U0EVIL> <https://evil.example|click> &amp; ``` end `` ` ````"

// Chart stands for a PNG chart: its signature, a NUL and bytes that are
// not UTF-8, so that a front end that mangles binary content shows it.
var Chart = []byte("\x89PNG\r\n\x1a\n\x00\xfe\xff chart")

// UptimeReport is whatsapp's last 24 hours to Now: 22h30m healthy, 12m
// unhealthy, 3m stopped, 30m in maintenance, 45m unknown (the bot was
// down); two incidents (one acknowledged and resolved by people, one that
// healed itself), restarts by alice and the monitor.
func UptimeReport() history.Report {
	from := Now.Add(-24 * time.Hour)
	healthy, unhealthy, stopped := 22*time.Hour+30*time.Minute, 12*time.Minute, 3*time.Minute
	return history.Report{
		Service: "whatsapp", From: from, To: Now, Bucket: time.Hour,
		Uptime: float64(healthy) / float64(healthy+unhealthy+stopped), Known: true,
		Healthy: healthy, Unhealthy: unhealthy, Stopped: stopped, Maintenance: 30 * time.Minute, Unknown: 45 * time.Minute,
		Checks: 2580, ResponseAvg: 4200 * time.Microsecond,
		Incidents: Incidents()[1:],
		Outage:    15 * time.Minute, MTTR: 7*time.Minute + 30*time.Second,
		Restarts: map[string]int{"alice": 1, "auto-restart": 2},
	}
}

// Incidents are whatsapp's last three incidents, newest first: one still
// open and acknowledged, one resolved by bob after alice acknowledged it,
// one that healed itself yesterday.
func Incidents() []history.Incident {
	return []history.Incident{
		{ID: "i3", Service: "whatsapp", Cause: "HTTP 503, status unhealthy: " + Evil, FailedAt: at("03:01:00"), OpenedAt: at("03:02:00"),
			AckedBy: "alice", AckedAt: at("03:04:00"), Duration: 9 * time.Minute},
		{ID: "i2", Service: "whatsapp", Cause: "exited with code 137\n(killed: out of memory?)", FailedAt: at("01:20:00"), OpenedAt: at("01:21:00"),
			AckedBy: "alice", AckedAt: at("01:22:00"), ResolvedAt: at("01:32:00"), ResolvedBy: "bob", Duration: 12 * time.Minute},
		{ID: "i1", Service: "whatsapp", Cause: "connection refused", FailedAt: at("23:57:00").Add(-24 * time.Hour),
			OpenedAt: at("23:58:00").Add(-24 * time.Hour), ResolvedAt: at("00:00:00"), Duration: 3 * time.Minute},
	}
}

// HistoryCases are the replies of `uptime` and `incidents`.
func HistoryCases() []Case {
	rep := UptimeReport()
	week := rep
	week.From, week.Bucket = Now.Add(-7*24*time.Hour), 24*time.Hour
	unknown := history.Report{Service: "whatsapp", From: Now.Add(-24 * time.Hour), To: Now, Bucket: time.Hour,
		Unknown: 24 * time.Hour, Restarts: map[string]int{}}
	return []Case{
		{"uptime-24h", bot.Reply{Kind: bot.KindUptime, Service: "whatsapp", Uptime: &rep, At: Now}},
		{"uptime-7d-chart", bot.Reply{Kind: bot.KindUptime, Service: "whatsapp", Uptime: &week, Chart: Chart, At: Now}},
		{"uptime-chart-failed", bot.Reply{Kind: bot.KindUptime, Service: "whatsapp", Uptime: &rep, ChartFailed: true, At: Now}},
		{"uptime-unknown", bot.Reply{Kind: bot.KindUptime, Service: "whatsapp", Uptime: &unknown, At: Now}},
		{"incidents", bot.Reply{Kind: bot.KindIncidents, Service: "whatsapp", Incidents: Incidents(), Asked: 10, At: Now}},
		{"incidents-one", bot.Reply{Kind: bot.KindIncidents, Service: "whatsapp", Incidents: Incidents()[:1], Asked: 1, At: Now}},
		{"incidents-none", bot.Reply{Kind: bot.KindIncidents, Service: "whatsapp", Asked: 10, At: Now}},
		{"no-history", bot.Reply{Kind: bot.KindError, Service: "whatsapp", Text: bot.NoHistoryText}},
	}
}

// HistoryWorstCases are `uptime` and `incidents` at their largest and most
// hostile: 100 incidents with causes of 2,000 hostile bytes, restarts by
// 100 hostile names, a hostile service name.
func HistoryWorstCases() []Case {
	incs := make([]history.Incident, 100)
	cause := strings.Repeat(Evil+" ", 2000/len(Evil)+1)[:2000]
	for i := range incs {
		incs[i] = history.Incident{ID: fmt.Sprint(i), Service: "whatsapp", Cause: cause,
			FailedAt: Now.Add(-time.Duration(i+1) * time.Hour), AckedBy: Evil, ResolvedBy: Evil,
			ResolvedAt: Now.Add(-time.Duration(i+1)*time.Hour + 10*time.Minute), Duration: 10 * time.Minute}
	}
	rep := UptimeReport()
	rep.Service = "wa" + Evil
	rep.Incidents = incs
	rep.Restarts = map[string]int{}
	for i := range 100 {
		rep.Restarts[fmt.Sprintf("%s %d", Evil, i)] = i + 1
	}
	return []Case{
		{"incidents-hostile-100", bot.Reply{Kind: bot.KindIncidents, Service: "whatsapp", Incidents: incs, Asked: 100, At: Now}},
		{"uptime-hostile", bot.Reply{Kind: bot.KindUptime, Service: rep.Service, Uptime: &rep, Chart: Chart, At: Now}},
	}
}
