package console

import (
	"strings"
	"testing"

	"github.com/sanasend/sanasend-bot/alerts/alertstest"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/bottest"
)

// TestRenderFleetGolden: `status` of every service on a fleet, `hosts`,
// `hosts` on one host and an offline host's error, as the console prints
// them (one golden file, the facts of the Slack goldens).
func TestRenderFleetGolden(t *testing.T) {
	tests := []struct {
		name  string
		reply bot.Reply
	}{
		{"status-all", bot.Reply{Kind: bot.KindStatusAll, Lines: bottest.FleetLines(), At: bottest.Now,
			Undelivered: &bot.Undelivered{Count: 2, Codes: []string{"not_in_channel"}}}},
		{"hosts", bot.Reply{Kind: bot.KindHosts, Hosts: bottest.FleetHosts(), At: bottest.Now}},
		{"hosts-one-host", bot.Reply{Kind: bot.KindDone, Text: bot.OneHostText([]string{"whatsapp", "billing"})}},
		{"offline-error", bot.Reply{Kind: bot.KindError, Text: "web-2 is offline since 03:07:00 (last heard 3m ago)"}},
	}
	var all strings.Builder
	for _, tc := range tests {
		all.WriteString("# " + tc.name + "\n" + Render(tc.reply, bottest.Now))
	}
	golden(t, "fleet", all.String())
}

// TestAlertLinesFleetGolden: the hub's alert about an agent, its
// resolution, and notices observed on web-2, which name the service
// "web-2/whatsapp".
func TestAlertLinesFleetGolden(t *testing.T) {
	var all strings.Builder
	for _, tc := range bottest.FleetNotices() {
		all.WriteString("# " + tc.Name + "\n")
		lines := AlertLines(tc.Notice, alertstest.Now)
		if len(lines) == 0 {
			t.Errorf("%s: no lines", tc.Name)
		}
		for _, l := range lines {
			all.WriteString(l + "\n")
		}
		if tc.Notice.From != "" && tc.Notice.Service != "" && !strings.Contains(strings.Join(lines, "\n"), "web-2/"+tc.Notice.Service) {
			t.Errorf("%s: no line names web-2/%s:\n%s", tc.Name, tc.Notice.Service, strings.Join(lines, "\n"))
		}
	}
	golden(t, "alerts-fleet", all.String())
}

// TestRenderFleetPrintable: an agent's version or a service's health
// reason cannot drive the terminal.
func TestRenderFleetPrintable(t *testing.T) {
	hosts := bottest.FleetHosts()
	hosts[0].Version = "v1\x1b[2J\rboom"
	lines := bottest.FleetLines()
	lines[1].Status.Health.Reason = "bad\x1b]0;title\x07"
	for _, r := range []bot.Reply{{Kind: bot.KindHosts, Hosts: hosts}, {Kind: bot.KindStatusAll, Lines: lines}} {
		out := Render(r, bottest.Now)
		if strings.ContainsAny(out, "\x1b\r\x07") {
			t.Errorf("%s: a control character reached the terminal: %q", r.Kind, out)
		}
	}
}
