package bot

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/internal/human"
)

func TestParse(t *testing.T) {
	services := []string{"whatsapp", "billing"}
	tests := []struct {
		in   string
		want Command
	}{
		{"", Command{Verb: VerbHelp}},
		{"help", Command{Verb: VerbHelp}},
		{"HELP logs", Command{Verb: VerbHelp, Topic: VerbLogs}},
		{"status", Command{Verb: VerbStatus}},
		{"  Status   billing ", Command{Verb: VerbStatus, Service: "billing"}},
		{"restart whatsapp", Command{Verb: VerbRestart, Service: "whatsapp"}},
		{"logs", Command{Verb: VerbLogs, Lines: 50}},
		{"logs 20", Command{Verb: VerbLogs, Lines: 20}},
		{"logs whatsapp 20", Command{Verb: VerbLogs, Service: "whatsapp", Lines: 20}},
		{"logs all 100", Command{Verb: VerbLogs, Lines: 100, All: true}},
		{"logs output", Command{Verb: VerbLogs, Lines: 50, Output: true}},
		{"logs whatsapp output all 3 x", Command{Verb: VerbLogs, Service: "whatsapp", Lines: 3, All: true, Output: true, Filter: "x"}},
		{"logs all all", Command{Verb: VerbLogs, Lines: 50, All: true, Filter: "all"}},
		{"logs whatsapp ALL 5 Failed to restore", Command{Verb: VerbLogs, Service: "whatsapp", Lines: 5, All: true, Filter: "Failed to restore"}},
		{"logs 1000 error", Command{Verb: VerbLogs, Lines: 1000, Filter: "error"}},
		{"logs session user_12", Command{Verb: VerbLogs, Lines: 50, Filter: "session user_12"}},
		{"logs 20 whatsapp", Command{Verb: VerbLogs, Lines: 20, Filter: "whatsapp"}},
		{"logs .*( [a-z", Command{Verb: VerbLogs, Lines: 50, Filter: ".*( [a-z"}},
		{"ps", Command{Verb: VerbPS}},
		{"sessions billing", Command{Verb: VerbSessions, Service: "billing"}},
		{"sessions cleanup", Command{Verb: VerbSessions, Cleanup: true}},
		{"sessions CLEANUP billing", Command{Verb: VerbSessions, Service: "billing", Cleanup: true}},
		{"sessions billing cleanup", Command{Verb: VerbSessions, Service: "billing", Cleanup: true}},
		{"doctor", Command{Verb: VerbDoctor}},
		{"uptime", Command{Verb: VerbUptime, Period: 24 * time.Hour}},
		{"uptime 7d", Command{Verb: VerbUptime, Period: 7 * 24 * time.Hour}},
		{"UPTIME billing 90D", Command{Verb: VerbUptime, Service: "billing", Period: 90 * 24 * time.Hour}},
		{"uptime whatsapp 30d", Command{Verb: VerbUptime, Service: "whatsapp", Period: 30 * 24 * time.Hour}},
		{"uptime whatsapp", Command{Verb: VerbUptime, Service: "whatsapp", Period: 24 * time.Hour}},
		{"incidents", Command{Verb: VerbIncident, Count: 10}},
		{"incidents 1", Command{Verb: VerbIncident, Count: 1}},
		{"incidents whatsapp 100", Command{Verb: VerbIncident, Service: "whatsapp", Count: 100}},
		{"Incidents billing", Command{Verb: VerbIncident, Service: "billing", Count: 10}},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in, services)
		if err != nil {
			t.Errorf("Parse(%q) error %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Parse(%q) = %+v; want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	services := []string{"whatsapp"}
	tests := []struct {
		in   string
		want string // substring of the message
	}{
		{"reboot", `unknown command "reboot": try ` + "`help`"},
		{"restart now", `unknown service "now" (services: whatsapp); usage: restart [service]`},
		{"stop whatsapp please", `unexpected "please"; usage: stop [service]`},
		{"status whatsapp extra words", `unexpected "extra words"`},
		{"logs 0", "N must be between 1 and 1000, not 0"},
		{"logs 1001", "N must be between 1 and 1000, not 1001"},
		{"logs -5", "N must be between 1 and 1000, not -5"},
		{"logs 99999999999999999999", "N must be between 1 and 1000"},
		{"help me please", "help takes at most one command"},
		{"help reboot", `unknown command "reboot"`},
		{strings.Repeat("a", MaxCommandLen+1), "command too long"},
		{"rm -rf /; reboot", `unknown command "rm"`},
		{"sessions cleanup cleanup", `unknown service "cleanup" (services: whatsapp); usage: sessions [cleanup] [service]`},
		{"sessions cleanup now", `unknown service "now"`},
		{"status cleanup", `unknown service "cleanup"`},
		{"uptime 12h", `the window is 24h, 7d, 30d or 90d, not "12h"; usage: uptime [service] [24h|7d|30d|90d]`},
		{"uptime 1y", `the window is 24h, 7d, 30d or 90d, not "1y"`},
		{"uptime 7d extra", `unexpected "extra"`},
		{"uptime billing", `unknown service "billing" (services: whatsapp); usage: uptime`},
		{"uptime whatsapp 7d 30d", `unexpected "30d"`},
		{"incidents 0", "N must be between 1 and 100, not 0; usage: incidents [service] [N]"},
		{"incidents 101", "N must be between 1 and 100, not 101"},
		{"incidents -3", "N must be between 1 and 100, not -3"},
		{"incidents 99999999999999999999", "N must be between 1 and 100"},
		{"incidents ten", `unknown service "ten"`},
		{"incidents 5 6", `unexpected "6"`},
		{"incidents <!channel>", `N is a number between 1 and 100, not "<!channel>"`},
	}
	for _, tc := range tests {
		_, err := Parse(tc.in, services)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("Parse(%q) = %v; want a UsageError", human.Cut(tc.in, 30), err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %q; want it to contain %q", human.Cut(tc.in, 30), err, tc.want)
		}
	}
}

func TestCommandStringRoundTrips(t *testing.T) {
	services := []string{"whatsapp"}
	for _, in := range []string{"status", "logs whatsapp all 20 a b", "restart whatsapp", "help logs", "sessions cleanup", "sessions whatsapp cleanup",
		"uptime", "uptime whatsapp 90d", "incidents", "incidents whatsapp 7"} {
		c, err := Parse(in, services)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(c.String(), services)
		if err != nil || again != c {
			t.Errorf("Parse(%q).String() = %q parses to %+v, %v; want %+v", in, c.String(), again, err, c)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "status", "logs whatsapp all 20 err", "logs 1001", "restart x y", "help logs", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(in, []string{"whatsapp"})
		if err != nil {
			return
		}
		if _, ok := specOf(c.Verb); !ok {
			t.Fatalf("Parse(%q) gave unknown verb %q", in, c.Verb)
		}
		if c.Verb == VerbLogs && (c.Lines < 1 || c.Lines > maxLogLines) {
			t.Fatalf("Parse(%q) gave %d lines", in, c.Lines)
		}
		if c.Verb == VerbIncident && (c.Count < 1 || c.Count > MaxIncidents) {
			t.Fatalf("Parse(%q) gave %d incidents", in, c.Count)
		}
		if c.Verb == VerbUptime && UptimeBucket(c.Period) <= 0 || c.Verb == VerbUptime && c.Period < 24*time.Hour {
			t.Fatalf("Parse(%q) gave a window of %s", in, c.Period)
		}
	})
}
