package bot

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/delivery"
)

// maintenanceAlerts is fakeAlerts that can tell the window in force.
type maintenanceAlerts struct {
	fakeAlerts
	window MaintenanceWindow
	on     bool
}

func (a *maintenanceAlerts) MaintenanceWindow(service string) (MaintenanceWindow, bool) {
	return a.window, a.on && service == "whatsapp"
}

// TestStatusShowsMaintenance: a status reply carries the maintenance
// window in force when the alerts can tell it, and none otherwise.
func TestStatusShowsMaintenance(t *testing.T) {
	f := newRouterFixture(t)
	ctx := context.Background()
	if got := f.r.Handle(ctx, req(alice, "status")); got.Kind != KindStatus || got.Maintenance != nil {
		t.Fatalf("status without alerts = %s, maintenance %v; want a status and none", got.Kind, got.Maintenance)
	}
	a := &maintenanceAlerts{window: MaintenanceWindow{Until: f.clock.Now().Add(30 * time.Minute), By: alice, Reason: "deploy"}}
	f = newRouterFixtureAt(t, "", f.clock, a)
	if got := f.r.Handle(ctx, req(alice, "status")); got.Maintenance != nil {
		t.Errorf("status with no window in force: maintenance %v; want none", got.Maintenance)
	}
	a.on = true
	got := f.r.Handle(ctx, req(alice, "status"))
	if got.Maintenance == nil || *got.Maintenance != a.window {
		t.Errorf("status in a maintenance window: maintenance %v; want %v", got.Maintenance, a.window)
	}
}

func TestHelpTopic(t *testing.T) {
	f := newRouterFixture(t)
	got := f.r.Handle(context.Background(), req(alice, "help logs"))
	if got.Kind != KindHelp || got.HelpTopic != VerbLogs || len(got.Help) != 1 || got.Help[0].Usage[:5] != "logs " {
		t.Errorf("help logs = %s topic %q with %v; want the usage of logs only", got.Kind, got.HelpTopic, got.Help)
	}
}

// deadLetters is an outbox with dead letters.
type deadLetters []delivery.DeadItem

func (d deadLetters) Dead() []delivery.DeadItem { return d }

// TestStatusShowsUndelivered: a status reply counts the alerts the outbox
// gave up on, with Slack's reasons once each.
func TestStatusShowsUndelivered(t *testing.T) {
	tests := []struct {
		name string
		dead DeadLetters
		want *Undelivered
	}{
		{"no outbox", nil, nil},
		{"none", deadLetters{}, nil},
		{"two", deadLetters{{Code: "not_in_channel"}, {Code: "not_in_channel"}, {Code: "channel_not_found"}},
			&Undelivered{Count: 3, Codes: []string{"channel_not_found", "not_in_channel"}}},
	}
	for _, tt := range tests {
		f := newRouterFixture(t)
		f.r.dead = tt.dead
		got := f.r.Handle(context.Background(), req(alice, "status")).Undelivered
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Undelivered = %+v; want %+v", tt.name, got, tt.want)
		}
	}
}
