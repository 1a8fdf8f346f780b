package slackbot

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/alerts/alertstest"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/bottest"
	"github.com/sanasend/sanasend-bot/delivery"
)

// TestRenderFleet: `status` of every service on a fleet (an offline host,
// a host never heard from, a status that failed, hostile health text) and
// `hosts`, as Slack shows them (golden files).
func TestRenderFleet(t *testing.T) {
	tests := []struct {
		name  string
		reply bot.Reply
	}{
		{"status-all", bot.Reply{Kind: bot.KindStatusAll, Lines: bottest.FleetLines(), At: bottest.Now}},
		{"status-all-undelivered", bot.Reply{Kind: bot.KindStatusAll, Lines: bottest.FleetLines()[:1], At: bottest.Now,
			Undelivered: &bot.Undelivered{Count: 2, Codes: []string{"not_in_channel"}}}},
		{"hosts", bot.Reply{Kind: bot.KindHosts, Hosts: bottest.FleetHosts(), At: bottest.Now}},
		{"hosts-one-host", bot.Reply{Kind: bot.KindDone, Text: bot.OneHostText([]string{"whatsapp", "billing"})}},
		{"offline-error", bot.Reply{Kind: bot.KindError, Text: "web-2 is offline since 03:07:00 (last heard 3m ago)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := Render(tc.reply, bottest.Now)
			blocksGolden(t, m)
			if strings.Contains(string(blocksGoldenJSON(t, m)), "<!channel>") {
				t.Error("hostile text reached Slack unescaped")
			}
		})
	}
}

// TestRenderFleetManyServices: 300 services on 50 hosts fit Slack's limits
// and say how many are not shown.
func TestRenderFleetManyServices(t *testing.T) {
	var lines []bot.ServiceLine
	for i := range 300 {
		l := bottest.FleetLines()[i%5]
		l.Name = strings.Repeat("h", 40) + "-" + string(rune('a'+i%26)) + "/" + l.Name
		lines = append(lines, l)
	}
	m := Render(bot.Reply{Kind: bot.KindStatusAll, Lines: lines, At: bottest.Now}, bottest.Now)
	alertsCheckLimits(t, alertPost{Op: delivery.OpPost, Message: m})
	if !strings.Contains(string(blocksGoldenJSON(t, m)), "more not shown here") {
		t.Error("a cut list does not say so")
	}
}

// TestAlertMessagesFleet: the hub's alert about an agent that stopped
// reporting, its resolution (a reply and an edit of the alert), and the
// notices observed on another host, which name the service
// "web-2/whatsapp" in their words, buttons and tokens (golden files).
func TestAlertMessagesFleet(t *testing.T) {
	for _, tc := range bottest.FleetNotices() {
		t.Run(tc.Name, func(t *testing.T) {
			n, _ := alertsNotifier(t, tc.ErrorLines)
			if tc.Notice.Ref != "" && tc.Notice.Host == nil {
				n.seen(tc.Notice.Ref, bot.NoticeService(tc.Notice), true)
			}
			posts := n.posts(tc.Notice)
			alertsGolden(t, posts)
			for _, p := range posts {
				alertsCheckLimits(t, p)
			}
			if tc.Notice.Host != nil && tc.Notice.Ref != "" {
				if len(posts) != 2 || posts[0].Op != delivery.OpReply || posts[1].Op != delivery.OpUpdate || posts[1].Ref != tc.Notice.Ref {
					t.Errorf("posts = %+v; want a reply in the alert's thread and an edit of it", posts)
				}
			}
		})
	}
}

// tailRecorder records which services an alert's error lines are read of.
type tailRecorder struct {
	mu    sync.Mutex
	names []string
}

func (r *tailRecorder) tail(service string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names = append(r.names, service)
	return []string{"Error: boom on " + service}
}

// TestAlertNotifierFromAddress: an alert observed on web-2 binds its
// Restart token to "web-2/whatsapp" (what the hub's Directory resolves)
// and asks the log tail of that address, never of the hub's own
// "whatsapp"; a notice of this host (no From) is as before.
func TestAlertNotifierFromAddress(t *testing.T) {
	var open alerts.Notice
	for _, c := range alertstest.Cases() {
		if c.Name == "alert-stopped" {
			open = c.Notice
		}
	}
	tests := []struct {
		from, want string
	}{
		{"", open.Service},
		{"web-2", "web-2/" + open.Service},
	}
	for _, tc := range tests {
		rec := &tailRecorder{}
		n, err := NewAlertNotifier(AlertNotifierConfig{Channel: "C0ALERTS", Queue: &alertsQueue{},
			Clock: clockwork.NewFakeClockAt(alertstest.Now), Tokens: &alertsTokens{}, Tail: rec.tail})
		if err != nil {
			t.Fatal(err)
		}
		no := open
		no.From = tc.from
		posts := n.posts(no)
		if !slices.Equal(rec.names, []string{tc.want}) {
			t.Errorf("from %q: tail asked for %q; want %q", tc.from, rec.names, tc.want)
		}
		js := string(blocksGoldenJSON(t, posts[0].Message))
		if !strings.Contains(js, `"tok-`+tc.want+`"`) || !strings.Contains(js, "boom on "+tc.want) {
			t.Errorf("from %q: the alert has no token or error lines of %q:\n%s", tc.from, tc.want, js)
		}
		if no.Service != open.Service {
			t.Error("posts changed the caller's notice")
		}
	}
}
