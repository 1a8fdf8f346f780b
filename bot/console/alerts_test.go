package console

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/alerts/alertstest"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/manager"
)

// TestAlertLinesGolden: every alert, update, reminder, resolution,
// announcement, maintenance message, restoration summary and digest as the
// console prints it, from the same facts as the Slack goldens.
func TestAlertLinesGolden(t *testing.T) {
	var all strings.Builder
	for _, tc := range alertstest.Cases() {
		all.WriteString("# " + tc.Name + "\n")
		for _, l := range AlertLines(tc.Notice, alertstest.Now) {
			all.WriteString(l + "\n")
		}
	}
	golden(t, "alerts", all.String())
}

// TestAlertLinesWorstCase: outside text cannot drive the terminal, and a
// restoration of 500 sessions is listed up to a cap.
func TestAlertLinesWorstCase(t *testing.T) {
	for _, tc := range alertstest.WorstCases() {
		lines := AlertLines(tc.Notice, alertstest.Now)
		if len(lines) == 0 {
			t.Errorf("%s: no lines", tc.Name)
		}
		for _, l := range lines {
			if strings.ContainsAny(l, "\x1b\r\n") {
				t.Errorf("%s: a line has a control character: %q", tc.Name, l[:min(len(l), 80)])
			}
		}
		if tc.Notice.Restoration != nil {
			footer := bot.RestorationFooter(*tc.Notice.Restoration)
			if got, want := len(lines), 1+alertsMaxSessions+1+len(footer); got != want {
				t.Errorf("%s: %d lines; want %d (headline, %d sessions, and N more, %d after them)", tc.Name, got, want, alertsMaxSessions, len(footer))
			}
			if more := lines[1+alertsMaxSessions]; !strings.Contains(more, "and 480 more") {
				t.Errorf("%s: line %q; want it to say how many more", tc.Name, more)
			}
			if len(footer) == 0 || !strings.Contains(lines[len(lines)-1], "500 browsers of failed sessions are still running: 500.0 GiB") {
				t.Errorf("%s: last line %q; want the 500 idle browsers", tc.Name, lines[len(lines)-1])
			}
		}
	}
}

// TestAlertLinesQuietForActionsThroughTheBot: issue 8, section 4. A
// restart typed in the console with no open alert printed "ALERT restart
// by root (through the bot): no alert". Nothing is printed; with an open
// alert the action is an update of it.
func TestAlertLinesQuietForActionsThroughTheBot(t *testing.T) {
	root := manager.Actor{ID: "console:root", Name: "root"}
	for _, a := range []manager.Action{manager.ActionStart, manager.ActionRestart, manager.ActionStop} {
		n := alerts.Notice{ID: "x", Service: "whatsapp", Kind: alerts.DecisionAnnounce,
			Event: alerts.Event{What: alerts.EventActionBegun, Service: "whatsapp", Action: a, By: &root}}
		if got := AlertLines(n, alertstest.Now); len(got) != 0 {
			t.Errorf("%s with no open alert prints %q; want nothing", a, got)
		}
	}
	inc := alerts.Incident{Service: "whatsapp", ID: 1, Open: true, State: manager.StateStopped, Since: alertstest.Now}
	n := alerts.Notice{ID: "y", Ref: "whatsapp-incident-1", Service: "whatsapp", Kind: alerts.DecisionUpdate, Incident: &inc,
		Event: alerts.Event{What: alerts.EventActionBegun, Service: "whatsapp", Action: manager.ActionRestart, By: &root}}
	got := AlertLines(n, alertstest.Now)
	if len(got) != 1 || strings.Contains(got[0], "ALERT") || !strings.Contains(got[0], "restart of whatsapp by root") {
		t.Errorf("restart with an open alert prints %q; want one UPDATE line naming it", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestAlertNotifier(t *testing.T) {
	if _, err := NewAlertNotifier(nil, clockwork.NewFakeClock()); err == nil {
		t.Error("NewAlertNotifier(nil writer) = nil error; want one")
	}
	if _, err := NewAlertNotifier(&bytes.Buffer{}, nil); err == nil {
		t.Error("NewAlertNotifier(nil clock) = nil error; want one")
	}
	var out bytes.Buffer
	n, err := NewAlertNotifier(&out, clockwork.NewFakeClockAt(alertstest.Now))
	if err != nil {
		t.Fatal(err)
	}
	tc := alertstest.Cases()[0]
	if err := n.Notify(tc.Notice); err != nil {
		t.Fatal(err)
	}
	want := strings.Join(AlertLines(tc.Notice, alertstest.Now), "\n") + "\n"
	if got := out.String(); got != want {
		t.Errorf("printed %q; want %q", got, want)
	}
	bad, _ := NewAlertNotifier(failingWriter{}, clockwork.NewFakeClockAt(alertstest.Now))
	if err := bad.Notify(tc.Notice); err == nil {
		t.Error("Notify on a failing writer = nil error; want one")
	}
}
