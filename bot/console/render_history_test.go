package console

import (
	"strings"
	"testing"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/bottest"
)

// TestRenderHistoryGolden: `uptime` and `incidents` in console form.
func TestRenderHistoryGolden(t *testing.T) {
	for _, tc := range append(bottest.HistoryCases(), bottest.StatusHistoryCases()...) {
		t.Run(tc.Name, func(t *testing.T) {
			golden(t, tc.Name, Render(tc.Reply, bottest.Now))
		})
	}
}

// TestRenderHistoryWorstCase: 100 incidents with causes of 2,000 hostile
// bytes: every incident is listed on one line, its cause cut.
func TestRenderHistoryWorstCase(t *testing.T) {
	for _, tc := range bottest.HistoryWorstCases() {
		t.Run(tc.Name, func(t *testing.T) {
			out := Render(tc.Reply, bottest.Now)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			for _, l := range lines {
				if len(l) > 3000 {
					t.Errorf("a line of %d bytes: %.100q", len(l), l)
				}
			}
			if tc.Reply.Kind == bot.KindIncidents && len(lines) != 1+len(tc.Reply.Incidents) {
				t.Errorf("%d lines for %d incidents; want one each and a headline", len(lines), len(tc.Reply.Incidents))
			}
		})
	}
}
