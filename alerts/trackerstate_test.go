package alerts

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/manager"
)

// trackerTimed is one input at trackerT0 + at.
type trackerTimed struct {
	at time.Duration
	in trackerInput
}

// TestTrackerStateRoundTrip: for each history, the tracker's State, through
// JSON and RestoreTracker, makes exactly the decisions the original makes
// for the same next inputs. A fresh tracker must decide differently on the
// same next inputs, or the case would prove nothing.
func TestTrackerStateRoundTrip(t *testing.T) {
	auto := trackerWith(func(r *Rules) {
		r.FailureThreshold, r.AutoRestart, r.AutoRestartMax, r.AutoRestartBackoff = 1, true, 3, 30*time.Second
	})
	cases := []struct {
		name    string
		rules   *Rules
		stopped bool
		history []trackerTimed
		next    []trackerTimed
	}{
		{
			name:    "open incident",
			history: []trackerTimed{{0, trackerOK(time.Hour)}, {30 * time.Second, trackerBad("HTTP 500")}, {time.Minute, trackerDown()}},
			next: []trackerTimed{{90 * time.Second, trackerBad("HTTP 503")}, {2 * time.Minute, trackerOK(time.Second)},
				{3 * time.Minute, trackerDown()}},
		},
		{
			name:    "failures below the threshold",
			history: []trackerTimed{{0, trackerOK(time.Hour)}, {30 * time.Second, trackerDown()}},
			next:    []trackerTimed{{time.Minute, trackerDown()}},
		},
		{
			name: "acknowledged",
			history: []trackerTimed{{0, trackerDown()}, {30 * time.Second, trackerDown()},
				{time.Minute, trackerAck(alice)}},
			next: []trackerTimed{{45 * time.Minute, trackerTick()}, {46 * time.Minute, trackerAck(bob)},
				{47 * time.Minute, trackerOK(time.Second)}},
		},
		{
			name: "reminder due",
			history: []trackerTimed{{0, trackerDown()}, {30 * time.Second, trackerDown()},
				{31 * time.Minute, trackerTick()}},
			next: []trackerTimed{{61 * time.Minute, trackerTick()}, {62 * time.Minute, trackerTick()},
				{91 * time.Minute, trackerTick()}},
		},
		{
			name: "maintenance with counts",
			history: []trackerTimed{{0, trackerOK(time.Hour)}, {time.Minute, trackerMaintUntil(30*time.Minute, bob, "upgrade")},
				{2 * time.Minute, trackerDown()}, {3 * time.Minute, trackerExit(1, "")},
				{4 * time.Minute, trackerBegin(manager.ActionRestart, bob)},
				{5 * time.Minute, trackerEnd(manager.ActionRestart, bob, true, "")},
				{6 * time.Minute, trackerOK(time.Minute)}, {7 * time.Minute, trackerDown()}},
			next: []trackerTimed{{10 * time.Minute, trackerDown()}, {20 * time.Minute, trackerTick()},
				{31 * time.Minute, trackerTick()}, {32 * time.Minute, trackerDown()}},
		},
		{
			name:  "auto-restart with attempts",
			rules: auto,
			history: []trackerTimed{{0, trackerExit(1, "")}, {31 * time.Second, trackerTick()},
				{32 * time.Second, trackerBegin(manager.ActionRestart, AutoRestartActor)},
				{40 * time.Second, trackerEnd(manager.ActionRestart, AutoRestartActor, false, "exit code 1")}},
			next: []trackerTimed{{time.Minute, trackerTick()}, {101 * time.Second, trackerTick()},
				{102 * time.Second, trackerBegin(manager.ActionRestart, AutoRestartActor)},
				{110 * time.Second, trackerEnd(manager.ActionRestart, AutoRestartActor, false, "exit code 1")},
				{10 * time.Minute, trackerTick()},
				{10*time.Minute + time.Second, trackerBegin(manager.ActionRestart, AutoRestartActor)},
				{10*time.Minute + 5*time.Second, trackerEnd(manager.ActionRestart, AutoRestartActor, false, "exit code 1")}},
		},
		{
			name: "stopped on purpose",
			history: []trackerTimed{{0, trackerOK(time.Hour)}, {time.Minute, trackerBegin(manager.ActionStop, alice)},
				{70 * time.Second, trackerEnd(manager.ActionStop, alice, true, "")}},
			next: []trackerTimed{{2 * time.Minute, trackerDown()}, {3 * time.Minute, trackerDown()},
				{4 * time.Minute, trackerOK(time.Second)}},
		},
		{
			name: "restart outside the bot, rate-limited",
			history: []trackerTimed{{0, trackerOK(time.Hour)}, {30 * time.Second, trackerOK(5 * time.Second)},
				{time.Minute, trackerOK(35 * time.Second)}},
			next: []trackerTimed{{90 * time.Second, trackerOK(2 * time.Second)}, {6 * time.Minute, trackerOK(time.Second)}},
		},
		{
			name:    "resolved incidents: the next ID continues",
			history: []trackerTimed{{0, trackerDown()}, {30 * time.Second, trackerDown()}, {time.Minute, trackerOK(time.Second)}},
			next:    []trackerTimed{{2 * time.Minute, trackerDown()}, {150 * time.Second, trackerDown()}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := trackerRules
			if tc.rules != nil {
				r = *tc.rules
			}
			orig := NewTracker("whatsapp", r, tc.stopped, trackerT0)
			for _, s := range tc.history {
				s.in(orig, trackerT0.Add(s.at))
			}
			data, err := json.Marshal(orig.State())
			if err != nil {
				t.Fatal(err)
			}
			var st TrackerState
			if err := json.Unmarshal(data, &st); err != nil {
				t.Fatal(err)
			}
			restoredAt := trackerT0.Add(tc.next[0].at - time.Second)
			restored := RestoreTracker("whatsapp", r, st, restoredAt)
			fresh := NewTracker("whatsapp", r, false, restoredAt)
			if got, want := trackerStateJSON(t, restored), string(data); got != want {
				t.Fatalf("restored state = %s; want %s", got, want)
			}
			differs := false
			for i, s := range tc.next {
				now := trackerT0.Add(s.at)
				want := trackerDecisionsJSON(t, s.in(orig, now))
				got := trackerDecisionsJSON(t, s.in(restored, now))
				if got != want {
					t.Errorf("next input %d at +%s: restored decided %s; want %s", i, s.at, got, want)
				}
				if trackerDecisionsJSON(t, s.in(fresh, now)) != want {
					differs = true
				}
			}
			if got, want := trackerStateJSON(t, restored), trackerStateJSON(t, orig); got != want {
				t.Errorf("state after the next inputs = %s; want %s", got, want)
			}
			if !differs {
				t.Errorf("a fresh tracker decides as the original does: the case does not test the state")
			}
		})
	}
}

// TestRestoreTrackerDropsAction: an action through the bot running when the
// state was taken is not restored (its end will never come), so failures
// after the restore alert.
func TestRestoreTrackerDropsAction(t *testing.T) {
	tr := NewTracker("whatsapp", trackerRules, false, trackerT0)
	tr.Health(trackerT0, manager.StateHealthy, "", time.Hour)
	tr.ActionBegun(trackerT0.Add(time.Second), manager.ActionRestart, alice)
	restored := RestoreTracker("whatsapp", trackerRules, tr.State(), trackerT0.Add(time.Minute))
	var kinds []DecisionKind
	for i := 1; i <= 2; i++ {
		for _, d := range restored.Health(trackerT0.Add(time.Duration(i)*time.Minute), manager.StateStopped, "connection refused", 0) {
			kinds = append(kinds, d.Kind)
		}
	}
	if len(kinds) != 1 || kinds[0] != DecisionOpen {
		t.Errorf("decisions after two failed checks = %v; want [open]", kinds)
	}
}

func trackerStateJSON(t *testing.T, tr *Tracker) string {
	t.Helper()
	data, err := json.Marshal(tr.State())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func trackerDecisionsJSON(t *testing.T, ds []Decision) string {
	t.Helper()
	data, err := json.Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
