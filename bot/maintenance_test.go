package bot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

func TestParseMaintenanceRecurring(t *testing.T) {
	services := []string{"whatsapp", "billing"}
	tests := []struct {
		in   string
		want Command
		err  string // substring of the UsageError; "" when it parses
	}{
		{in: "maintenance every sun 03:00 1h weekly restart", want: Command{Verb: VerbMaint, Every: "sun 03:00", Window: time.Hour, Reason: "weekly restart"}},
		{in: "maintenance billing every Sunday 3:00 90m", want: Command{Verb: VerbMaint, Service: "billing", Every: "Sunday 3:00", Window: 90 * time.Minute}},
		{in: "maintenance every daily 03:00 30m nightly", want: Command{Verb: VerbMaint, Every: "daily 03:00", Window: 30 * time.Minute, Reason: "nightly"}},
		{in: "maintenance every 0 3 * * 0 2h cron one", want: Command{Verb: VerbMaint, Every: "0 3 * * 0", Window: 2 * time.Hour, Reason: "cron one"}},
		{in: "MAINTENANCE LIST", want: Command{Verb: VerbMaint, List: true}},
		{in: "maintenance cancel 3", want: Command{Verb: VerbMaint, Cancel: "3"}},
		{in: "maintenance cancel C1", want: Command{Verb: VerbMaint, Cancel: "c1"}},
		{in: "maintenance cancel Web-2/3", want: Command{Verb: VerbMaint, Cancel: "web-2/3"}},
		{in: "maintenance cancel web-2/c1", want: Command{Verb: VerbMaint, Cancel: "web-2/c1"}},
		{in: "maintenance 30m deploy", want: Command{Verb: VerbMaint, Window: 30 * time.Minute, Reason: "deploy"}},
		{in: "maintenance off", want: Command{Verb: VerbMaint, Off: true}},
		{in: "maintenance every", err: "say when and for how long, e.g. `maintenance every sun 03:00 1h weekly restart`"},
		{in: "maintenance every sun 03:00", err: "say when and for how long"},
		{in: "maintenance every sun 25:00 1h", err: `"sun 25:00": "25:00" is not a time of day (00:00 to 23:59)`},
		{in: "maintenance every 0 3 * * 9 1h", err: `"0 3 * * 9" is not a cron expression`},
		{in: "maintenance every 0 3 * * 0", err: "say when and for how long"},
		{in: "maintenance every sun 03:00 soon", err: `"soon" is not a duration (e.g. 30m, 1h, 2h30m)`},
		{in: "maintenance every daily 03:00 25h", err: `25h is not shorter than the 24h between two starts of "daily 03:00"`},
		{in: "maintenance every sun 03:00 200h", err: "200h is too long: the most is 7d"},
		{in: "maintenance every sun 03:00 -1h", err: "-1h0m0s is not positive"},
		{in: "maintenance list all", err: "`maintenance list` takes nothing more"},
		{in: "maintenance whatsapp list", err: "`maintenance list` takes nothing more"},
		{in: "maintenance cancel", err: "say which window, e.g. `maintenance cancel 2`"},
		{in: "maintenance cancel 1 2", err: "say which window"},
		{in: "maintenance cancel <!channel>", err: "say which window"},
		{in: "maintenance cancel -web/3", err: "say which window"},
		{in: "maintenance cancel web-2/", err: "say which window"},
		{in: "maintenance cancel a/b/3", err: "say which window"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, services)
		if tt.err != "" {
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "usage: maintenance") {
				t.Errorf("Parse(%q) = %+v, %v; want a UsageError with %q and the usage", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if again, err := Parse(got.String(), services); err != nil || again.Every != got.Every || again.Window != got.Window ||
			again.List != got.List || again.Cancel != got.Cancel {
			t.Errorf("Parse(%q).String() = %q parses to %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

// recurringAlerts is fakeAlerts that keeps recurring windows.
type recurringAlerts struct {
	fakeAlerts
	windows []alerts.RecurringWindow
	missing error // what Windows could not list
}

func (a *recurringAlerts) AddWindow(_ context.Context, service, every string, d time.Duration, by manager.Actor, reason string) (alerts.RecurringWindow, error) {
	w := alerts.RecurringWindow{ID: "1", Every: every, Duration: d, Reason: reason, Services: []string{service}, By: by}
	a.windows = append(a.windows, w)
	return w, nil
}

func (a *recurringAlerts) Windows(context.Context) ([]alerts.WindowInfo, error) {
	var out []alerts.WindowInfo
	for _, w := range a.windows {
		out = append(out, alerts.WindowInfo{RecurringWindow: w})
	}
	return out, a.missing
}

func (a *recurringAlerts) CancelWindow(_ context.Context, id string, _ manager.Actor) (alerts.RecurringWindow, error) {
	if id == "c1" {
		return alerts.RecurringWindow{}, usererr.New(usererr.Conflict, "maintenance window c1 lives in the config file (maintenance:): change it there")
	}
	for i, w := range a.windows {
		if w.ID == id {
			a.windows = append(a.windows[:i], a.windows[i+1:]...)
			return w, nil
		}
	}
	return alerts.RecurringWindow{}, usererr.New(usererr.NotFound, "no maintenance window %s", id)
}

// TestRouterRecurringMaintenance: `maintenance every` adds a window for
// the service, `list` lists them, `cancel` removes one or says why not;
// each is audited; none needs a confirmation.
func TestRouterRecurringMaintenance(t *testing.T) {
	a := &recurringAlerts{}
	f := newRouterFixtureAt(t, "", newFakeClock(), a)
	ctx := context.Background()
	got := f.r.Handle(ctx, req(alice, "maintenance every sun 03:00 1h weekly restart"))
	if want := "maintenance window 1 added by alice: whatsapp muted every sun 03:00 for 1h: weekly restart (`maintenance cancel 1` removes it)"; got.Kind != KindDone || got.Text != want {
		t.Errorf("every = %s %q; want done %q", got.Kind, got.Text, want)
	}
	got = f.r.Handle(ctx, req(alice, "maintenance list"))
	if got.Kind != KindWindows || len(got.Windows) != 1 || got.Windows[0].Every != "sun 03:00" || got.Windows[0].Services[0] != "whatsapp" {
		t.Errorf("list = %+v; want the window", got)
	}
	got = f.r.Handle(ctx, req(alice, "maintenance cancel c1"))
	if got.Kind != KindError || !strings.Contains(got.Text, "lives in the config file") {
		t.Errorf("cancel c1 = %s %q; want the config's word", got.Kind, got.Text)
	}
	got = f.r.Handle(ctx, req(alice, "maintenance cancel 1"))
	if want := "maintenance window 1 (every sun 03:00) cancelled by alice"; got.Kind != KindDone || got.Text != want {
		t.Errorf("cancel 1 = %s %q; want %q", got.Kind, got.Text, want)
	}
	if got := f.r.Handle(ctx, req(eve, "maintenance list")); got.Kind != KindRefused {
		t.Errorf("list by eve = %s; want refused", got.Kind)
	}
	var cmds []string
	for _, l := range f.auditLines(t) {
		cmds = append(cmds, l["command"].(string)+" → "+l["outcome"].(string))
	}
	want := []string{"maintenance every sun 03:00 1h0m0s weekly restart → ok", "maintenance list → ok", "maintenance cancel c1 → error",
		"maintenance cancel 1 → ok"}
	if len(cmds) < len(want) || strings.Join(cmds[:len(want)], "|") != strings.Join(want, "|") {
		t.Errorf("audit = %q; want %q first", cmds, want)
	}

	// In a fleet, hosts that cannot be asked are named under the list,
	// a line each, and the list is still an answer.
	clock := newFakeClock()
	a = &recurringAlerts{windows: []alerts.RecurringWindow{{ID: "web-2/1", Every: "sun 03:00", Duration: time.Hour}},
		missing: errors.Join(&fleet.OfflineError{Host: "web-3", Since: clock.Now().Add(-3 * time.Minute)},
			usererr.New(usererr.Unavailable, "web-4 did not answer windows within 10s"))}
	f = newRouterFixtureAt(t, "", clock, a)
	got = f.r.Handle(ctx, req(alice, "maintenance list"))
	wantNotes := []string{
		"web-3 is offline since " + clock.Now().Add(-3*time.Minute).Format("15:04:05") + " (last heard 3m ago): its maintenance windows are not listed",
		"web-4 did not answer windows within 10s: its maintenance windows are not listed",
	}
	if got.Kind != KindWindows || len(got.Windows) != 1 || got.Text != strings.Join(wantNotes, "\n") {
		t.Errorf("list with hosts missing = %s %d windows, notes %q; want 1 window and notes %q", got.Kind, len(got.Windows), got.Text, wantNotes)
	}

	// Without a monitor that keeps windows, every one says so.
	f = newRouterFixtureAt(t, "", newFakeClock(), &fakeAlerts{})
	for _, text := range []string{"maintenance list", "maintenance cancel 1", "maintenance every sun 03:00 1h"} {
		if got := f.r.Handle(ctx, req(alice, text)); got.Kind != KindError || got.Text != "alerts are not running in this mode" {
			t.Errorf("%q without recurring windows = %s %q", text, got.Kind, got.Text)
		}
	}
}
