package alerts

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/manager"
)

// The tracker is fed plain time.Time values: every step of a case happens at
// trackerT0 + at, and the decisions it returns are compared exactly.

var (
	trackerT0 = time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	alice     = manager.Actor{ID: "U0ALICE", Name: "alice"}
	bob       = manager.Actor{ID: "U0BOB", Name: "bob"}
	carol     = manager.Actor{ID: "U0CAROL", Name: "carol"}
)

type trackerInput func(tr *Tracker, now time.Time) []Decision

func trackerOK(uptime time.Duration) trackerInput {
	return func(tr *Tracker, now time.Time) []Decision {
		return tr.Health(now, manager.StateHealthy, "", uptime)
	}
}

func trackerBad(reason string) trackerInput {
	return func(tr *Tracker, now time.Time) []Decision {
		return tr.Health(now, manager.StateUnhealthy, reason, 0)
	}
}

func trackerDown() trackerInput {
	return func(tr *Tracker, now time.Time) []Decision {
		return tr.Health(now, manager.StateStopped, "connection refused", 0)
	}
}

func trackerExit(code int, signal string) trackerInput {
	return func(tr *Tracker, now time.Time) []Decision { return tr.Exited(now, Exit{Code: code, Signal: signal}) }
}

func trackerRestartedBy(by manager.ControllerKind, signal string) trackerInput {
	return func(tr *Tracker, now time.Time) []Decision {
		return tr.RestartedOutside(now, by, Exit{Known: signal != "", Code: -1, Signal: signal})
	}
}

func trackerBegin(a manager.Action, by manager.Actor) trackerInput {
	return func(tr *Tracker, now time.Time) []Decision { return tr.ActionBegun(now, a, by) }
}

func trackerEnd(a manager.Action, by manager.Actor, ok bool, detail string) trackerInput {
	return func(tr *Tracker, now time.Time) []Decision { return tr.ActionEnded(now, a, by, ok, detail) }
}

func trackerAck(by manager.Actor) trackerInput {
	return func(tr *Tracker, now time.Time) []Decision {
		ds, err := tr.Acknowledge(now, by)
		if err != nil {
			return append(ds, Decision{Kind: "refused", Incident: Incident{Service: "whatsapp"},
				Event: Event{What: "ack_refused", Detail: err.Error()}})
		}
		return ds
	}
}

// trackerMaintUntil starts or extends maintenance until trackerT0 + until.
func trackerMaintUntil(until time.Duration, by manager.Actor, reason string) trackerInput {
	return func(tr *Tracker, now time.Time) []Decision {
		return tr.Maintenance(now, trackerT0.Add(until), by, reason)
	}
}

func trackerMaintOff(by manager.Actor) trackerInput {
	return func(tr *Tracker, now time.Time) []Decision { return tr.Maintenance(now, time.Time{}, by, "") }
}

func trackerTick() trackerInput {
	return func(tr *Tracker, now time.Time) []Decision { return tr.Tick(now) }
}

// trackerStep is one input at trackerT0 + at. want lists the decisions
// expected, in order: "kind" compares the kind only, "kind: fact" the kind
// and the fact as trackerFact writes it. check, when set, looks at more
// fields. A refused acknowledgement shows as "refused: ack_refused <error>".
type trackerStep struct {
	at    time.Duration
	in    trackerInput
	want  []string
	check func(t *testing.T, ds []Decision, snap Incident)
}

type trackerCase struct {
	name    string
	rules   *Rules // nil: trackerRules
	stopped bool
	steps   []trackerStep
}

var trackerRules = Rules{FailureThreshold: 2, SuccessThreshold: 1, RepeatInterval: 30 * time.Minute}

func trackerWith(f func(r *Rules)) *Rules {
	r := trackerRules
	f(&r)
	return &r
}

// trackerFact writes an event compactly for comparison: its kind, then each
// field that is set, as key=value; times as offsets from trackerT0.
func trackerFact(e Event) string {
	var b strings.Builder
	b.WriteString(string(e.What))
	add := func(k string, v any) { fmt.Fprintf(&b, " %s=%v", k, v) }
	at := func(t time.Time) string { return "+" + t.Sub(trackerT0).String() }
	if e.State != "" {
		add("state", e.State)
	}
	if e.Reason != "" {
		add("reason", fmt.Sprintf("%q", e.Reason))
	}
	if e.Exit != nil {
		add("exit", fmt.Sprintf("%d/%s", e.Exit.Code, e.Exit.Signal))
	}
	if !e.Since.IsZero() {
		add("since", at(e.Since))
	}
	if e.Failures != 0 {
		add("failures", e.Failures)
	}
	if e.Healthy != 0 {
		add("healthy", e.Healthy)
	}
	if e.Action != "" {
		add("action", e.Action)
	}
	if e.By != nil {
		add("by", e.By.Name)
	}
	if e.Detail != "" {
		add("detail", fmt.Sprintf("%q", e.Detail))
	}
	if e.Lasted != 0 {
		add("lasted", e.Lasted)
	}
	if e.Attempt != 0 {
		add("attempt", fmt.Sprintf("%d/%d", e.Attempt, e.Max))
	}
	if e.Waited != 0 {
		add("waited", e.Waited)
	}
	if e.NextAutoRestartIn != 0 {
		add("next", e.NextAutoRestartIn)
	}
	if e.Count != 0 && e.Controller == "" {
		add("uptime", fmt.Sprintf("%s/%s", e.Uptime, e.Expected))
	}
	if e.Controller != "" {
		add("by_controller", e.Controller)
	}
	if e.Count != 0 {
		add("count", e.Count)
	}
	if w := e.Window; w != nil {
		add("window", fmt.Sprintf("%s,%s,%q", at(w.Until), w.By.Name, w.Reason))
	}
	if m := e.Summary; m != nil {
		add("summary", fmt.Sprintf("{failures:%d exits:%d down:%s actions:%v external:%d}", m.Failures, m.Exits, m.Down, m.Actions, m.External))
	}
	if e.StillOpen {
		add("still_open", true)
	}
	if e.Threshold != 0 {
		add("threshold", e.Threshold)
	}
	if m := e.Memory; m != nil {
		add("memory", fmt.Sprintf("%q:%d>%d", m.Session, m.Used, m.Limit))
	}
	return b.String()
}

// trackerDescribe renders ds the way want is written: with the fact where
// want gives one at that position, the kind alone otherwise.
func trackerDescribe(ds []Decision, want []string) []string {
	got := make([]string, len(ds))
	for i, d := range ds {
		if i < len(want) && !strings.Contains(want[i], ": ") {
			got[i] = string(d.Kind)
			continue
		}
		got[i] = string(d.Kind) + ": " + trackerFact(d.Event)
	}
	return got
}

func trackerRun(t *testing.T, tc trackerCase) {
	t.Helper()
	r := trackerRules
	if tc.rules != nil {
		r = *tc.rules
	}
	tr := NewTracker("whatsapp", r, tc.stopped, trackerT0)
	for i, s := range tc.steps {
		now := trackerT0.Add(s.at)
		ds := s.in(tr, now)
		got := trackerDescribe(ds, s.want)
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", s.want) {
			t.Fatalf("step %d at +%s: decisions = %q; want %q", i, s.at, got, s.want)
		}
		for _, d := range ds {
			if d.Event.Service != "whatsapp" && d.Kind != "refused" {
				t.Fatalf("step %d at +%s: %s event names service %q; want %q", i, s.at, d.Kind, d.Event.Service, "whatsapp")
			}
		}
		for _, d := range ds {
			if d.Incident.Service != "whatsapp" {
				t.Fatalf("step %d at +%s: %s decision names service %q; want %q", i, s.at, d.Kind, d.Incident.Service, "whatsapp")
			}
		}
		if s.check != nil {
			s.check(t, ds, tr.Snapshot())
		}
	}
}

func trackerEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v; want %v", what, got, want)
	}
}

func TestTrackerTransitions(t *testing.T) {
	open := func(at time.Duration) trackerStep {
		return trackerStep{at: at, in: trackerDown(), want: []string{"open"}}
	}
	cases := []trackerCase{
		{
			name: "healthy->failing below threshold: a blip raises nothing",
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				{at: 30 * time.Second, in: trackerOK(10 * time.Second)},
				{at: 60 * time.Second, in: trackerBad("HTTP 503")},
				{at: 90 * time.Second, in: trackerOK(70 * time.Second)},
				{at: 120 * time.Second, in: trackerTick()},
			},
		},
		{
			name: "failing->open at the failure threshold, since the first failure",
			steps: []trackerStep{
				{at: 0, in: trackerOK(time.Hour)},
				{at: 30 * time.Second, in: trackerBad("timeout after 5s")},
				{at: 60 * time.Second, in: trackerBad("HTTP 503"),
					want: []string{`open: failing state=unhealthy reason="HTTP 503" since=+30s failures=2`},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						inc := ds[0].Incident
						trackerEqual(t, "ID", inc.ID, 1)
						trackerEqual(t, "Open", inc.Open, true)
						trackerEqual(t, "State", inc.State, manager.StateUnhealthy)
						trackerEqual(t, "Reason", inc.Reason, "HTTP 503")
						trackerEqual(t, "Since", inc.Since, trackerT0.Add(30*time.Second))
						trackerEqual(t, "Failures", inc.Failures, 2)
						trackerEqual(t, "NextAutoRestart", inc.NextAutoRestart, time.Time{})
						trackerEqual(t, "Snapshot ID", snap.ID, 1)
					}},
			},
		},
		{
			name:  "open->resolved after the success threshold, with the duration from since; next incident gets the next ID",
			rules: trackerWith(func(r *Rules) { r.SuccessThreshold = 2 }),
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				{at: 30 * time.Second, in: trackerDown(),
					want: []string{`open: failing state=stopped reason="connection refused" since=+0s failures=2`}},
				{at: 60 * time.Second, in: trackerOK(5 * time.Second)},
				{at: 90 * time.Second, in: trackerOK(35 * time.Second), want: []string{"resolve: healed lasted=1m30s"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						inc := ds[0].Incident
						trackerEqual(t, "ID", inc.ID, 1)
						trackerEqual(t, "Open", inc.Open, false)
						trackerEqual(t, "ResolvedAt", inc.ResolvedAt, trackerT0.Add(90*time.Second))
						trackerEqual(t, "ResolvedBy == nil", inc.ResolvedBy == nil, true)
						trackerEqual(t, "Lasted", inc.Lasted(trackerT0.Add(time.Hour)), 90*time.Second)
						trackerEqual(t, "Snapshot ID", snap.ID, 0)
						trackerEqual(t, "Snapshot Open", snap.Open, false)
						trackerEqual(t, "Snapshot Service", snap.Service, "whatsapp")
					}},
				{at: 120 * time.Second, in: trackerDown()},
				{at: 150 * time.Second, in: trackerDown(), want: []string{"open"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "ID", ds[0].Incident.ID, 2)
						trackerEqual(t, "Since", ds[0].Incident.Since, trackerT0.Add(120*time.Second))
					}},
			},
		},
		{
			name:  "flapping with success threshold 2: one incident, updates, no duplicate opens",
			rules: trackerWith(func(r *Rules) { r.SuccessThreshold = 2 }),
			steps: []trackerStep{
				{at: 0, in: trackerBad("HTTP 503")},
				{at: 30 * time.Second, in: trackerBad("HTTP 503"), want: []string{"open"}},
				{at: 60 * time.Second, in: trackerOK(0)},
				{at: 90 * time.Second, in: trackerBad("HTTP 503"),
					want: []string{`update: failing_again state=unhealthy reason="HTTP 503" healthy=1`}},
				{at: 120 * time.Second, in: trackerBad("HTTP 503")},
				{at: 150 * time.Second, in: trackerOK(0)},
				{at: 180 * time.Second, in: trackerBad("HTTP 503"), want: []string{"update"}},
				{at: 210 * time.Second, in: trackerOK(0)},
				{at: 240 * time.Second, in: trackerOK(0), want: []string{"resolve: healed lasted=4m0s"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						inc := ds[0].Incident
						trackerEqual(t, "ID", inc.ID, 1)
						trackerEqual(t, "Updates", inc.Updates, 2)
						trackerEqual(t, "Failures", inc.Failures, 5)
					}},
			},
		},
		{
			name: "open unhealthy->stopped is an update; a new reason alone is not",
			steps: []trackerStep{
				{at: 0, in: trackerBad("HTTP 503")},
				{at: 30 * time.Second, in: trackerBad("HTTP 503"), want: []string{"open"}},
				{at: 60 * time.Second, in: trackerBad("timeout after 5s"),
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "Reason", snap.Reason, "timeout after 5s")
						trackerEqual(t, "Updates", snap.Updates, 0)
					}},
				{at: 90 * time.Second, in: trackerDown(), want: []string{`update: state_changed state=stopped reason="connection refused"`},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "State", ds[0].Incident.State, manager.StateStopped)
						trackerEqual(t, "Updates", ds[0].Incident.Updates, 1)
						trackerEqual(t, "Failures", ds[0].Incident.Failures, 4)
					}},
				{at: 120 * time.Second, in: trackerDown()},
			},
		},
		{
			name: "open->remind every repeat interval from the open and the last reminder; acknowledged->no reminders",
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				open(30 * time.Second),
				{at: 30*time.Minute + 29*time.Second, in: trackerTick()},
				{at: 30*time.Minute + 30*time.Second, in: trackerTick(),
					want: []string{`remind: reminder state=stopped reason="connection refused" since=+0s lasted=30m30s`}},
				{at: 45 * time.Minute, in: trackerTick()},
				{at: 60*time.Minute + 29*time.Second, in: trackerTick()},
				{at: 60*time.Minute + 30*time.Second, in: trackerTick(), want: []string{"remind"}},
				{at: 61 * time.Minute, in: trackerAck(alice), want: []string{"update: acked by=alice"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						if snap.Acked == nil {
							t.Fatalf("Snapshot().Acked = nil; want alice")
						}
						trackerEqual(t, "Acked.By", snap.Acked.By, alice)
						trackerEqual(t, "Acked.At", snap.Acked.At, trackerT0.Add(61*time.Minute))
						trackerEqual(t, "decision Acked", ds[0].Incident.Acked != nil, true)
					}},
				{at: 95 * time.Minute, in: trackerTick()},
				{at: 200 * time.Minute, in: trackerTick()},
				{at: 201 * time.Minute, in: trackerAck(bob), want: []string{`refused: ack_refused detail="already acknowledged by alice"`}},
			},
		},
		{
			name:  "open->no reminders when the repeat interval is zero",
			rules: trackerWith(func(r *Rules) { r.RepeatInterval = 0 }),
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				open(30 * time.Second),
				{at: time.Hour, in: trackerTick()},
				{at: 5 * time.Hour, in: trackerTick()},
			},
		},
		{
			name: "acknowledge without an open incident: nothing to acknowledge",
			steps: []trackerStep{
				{at: 0, in: trackerAck(alice), want: []string{`refused: ack_refused detail="nothing to acknowledge: whatsapp has no open alert"`},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "ID", ds[0].Incident.ID, 0)
					}},
				{at: 30 * time.Second, in: trackerDown()},
				open(60 * time.Second),
				{at: 90 * time.Second, in: trackerOK(time.Second), want: []string{"resolve"}},
				{at: 2 * time.Minute, in: trackerAck(alice), want: []string{`refused: ack_refused detail="nothing to acknowledge: whatsapp has no open alert"`}},
			},
		},
		{
			name: "maintenance on->off: no alert, failures and actions summarised at its end",
			steps: []trackerStep{
				{at: 0, in: trackerMaintUntil(30*time.Minute, alice, "deploy"),
					want: []string{`announce: maintenance_on window=+30m0s,alice,"deploy"`}},
				{at: 1 * time.Minute, in: trackerDown()},
				{at: 2 * time.Minute, in: trackerDown()},
				{at: 2*time.Minute + 30*time.Second, in: trackerBegin(manager.ActionRestart, alice)},
				{at: 3 * time.Minute, in: trackerDown()},
				{at: 3*time.Minute + 40*time.Second, in: trackerEnd(manager.ActionRestart, alice, true, "healthy in 70s")},
				{at: 4*time.Minute + 10*time.Second, in: trackerOK(30 * time.Second)},
				{at: 20 * time.Minute, in: trackerTick()},
				{at: 31 * time.Minute, in: trackerTick(),
					want: []string{`announce: maintenance_ended window=+30m0s,alice,"deploy" summary={failures:2 exits:0 down:3m10s actions:[{restart alice 1 0}] external:0}`}},
				{at: 32 * time.Minute, in: trackerTick()},
			},
		},
		{
			name: "maintenance ends while still down: thresholds apply from its end",
			steps: []trackerStep{
				{at: 0, in: trackerOK(time.Hour)},
				{at: 30 * time.Second, in: trackerMaintUntil(10*time.Minute, alice, ""),
					want: []string{`announce: maintenance_on window=+10m0s,alice,""`}},
				{at: 1 * time.Minute, in: trackerDown()},
				{at: 5 * time.Minute, in: trackerDown()},
				{at: 9*time.Minute + 30*time.Second, in: trackerDown()},
				{at: 10*time.Minute + 30*time.Second, in: trackerDown(),
					want: []string{`announce: maintenance_ended state=stopped window=+10m0s,alice,"" summary={failures:3 exits:0 down:9m0s actions:[] external:0} threshold=2`}},
				{at: 11 * time.Minute, in: trackerDown(),
					want: []string{`open: failing state=stopped reason="connection refused" since=+10m30s failures=2`}},
			},
		},
		{
			name: "maintenance over an open incident: no reminder nor update during it, reminders count from its end",
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				open(30 * time.Second),
				{at: 10 * time.Minute, in: trackerMaintUntil(40*time.Minute, bob, "db"),
					want: []string{`announce: maintenance_on window=+40m0s,bob,"db"`}},
				{at: 31 * time.Minute, in: trackerTick()},
				{at: 35 * time.Minute, in: trackerBad("HTTP 503")},
				{at: 40 * time.Minute, in: trackerTick(),
					want: []string{`announce: maintenance_ended window=+40m0s,bob,"db" summary={failures:1 exits:0 down:30m0s actions:[] external:0} still_open=true`}},
				{at: 69*time.Minute + 59*time.Second, in: trackerTick()},
				{at: 70 * time.Minute, in: trackerTick(),
					want: []string{`remind: reminder state=unhealthy reason="HTTP 503" since=+0s lasted=1h10m0s`}},
			},
		},
		{
			name: "maintenance off without one, extended, then ended by hand",
			steps: []trackerStep{
				{at: 0, in: trackerMaintOff(alice), want: []string{"announce: no_maintenance by=alice"}},
				{at: time.Minute, in: trackerMaintUntil(31*time.Minute, alice, "deploy"), want: []string{"announce"}},
				{at: 2 * time.Minute, in: trackerMaintUntil(61*time.Minute, bob, "longer deploy"),
					want: []string{`announce: maintenance_extended window=+1h1m0s,bob,"longer deploy"`}},
				{at: 40 * time.Minute, in: trackerTick()},
				{at: 45 * time.Minute, in: trackerMaintOff(carol),
					want: []string{`announce: maintenance_ended by=carol window=+1h1m0s,bob,"longer deploy" summary={failures:0 exits:0 down:0s actions:[] external:0}`}},
				{at: 70 * time.Minute, in: trackerTick()},
			},
		},
		{
			name: "exit during maintenance: muted, summarised",
			steps: []trackerStep{
				{at: 0, in: trackerMaintUntil(10*time.Minute, alice, "deploy"), want: []string{"announce"}},
				{at: 10 * time.Second, in: trackerExit(1, "")},
				{at: 2 * time.Minute, in: trackerOK(time.Minute)},
				{at: 10 * time.Minute, in: trackerTick(),
					want: []string{`announce: maintenance_ended window=+10m0s,alice,"deploy" summary={failures:0 exits:1 down:1m50s actions:[] external:0}`}},
			},
		},
		{
			name: "intended stop: announced, quiet while it runs and after; start clears the intent",
			steps: []trackerStep{
				{at: 0, in: trackerOK(time.Hour)},
				{at: 30 * time.Second, in: trackerBegin(manager.ActionStop, alice),
					want: []string{"announce: action_begun action=stop by=alice"}},
				{at: 35 * time.Second, in: trackerExit(-1, "SIGTERM")},
				{at: 40 * time.Second, in: trackerDown()},
				{at: 45 * time.Second, in: trackerEnd(manager.ActionStop, alice, true, "graceful in 15s")},
				{at: time.Minute, in: trackerDown()},
				{at: 2 * time.Minute, in: trackerDown()},
				{at: 3 * time.Minute, in: trackerDown()},
				{at: 2 * time.Hour, in: trackerTick()},
				{at: 3 * time.Hour, in: trackerBegin(manager.ActionStart, alice),
					want: []string{"announce: action_begun action=start by=alice"}},
				{at: 3*time.Hour + time.Minute, in: trackerEnd(manager.ActionStart, alice, false, "exit code 1")},
				{at: 3*time.Hour + 2*time.Minute, in: trackerDown()},
				{at: 3*time.Hour + 3*time.Minute, in: trackerDown(),
					want: []string{`open: failing state=stopped reason="connection refused" since=+3h2m0s failures=2`}},
			},
		},
		{
			name:    "stopped on purpose at bot start: quiet until started through the bot",
			stopped: true,
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				{at: 30 * time.Second, in: trackerDown()},
				{at: time.Hour, in: trackerDown()},
				{at: time.Hour, in: trackerTick()},
				{at: 2 * time.Hour, in: trackerBegin(manager.ActionStart, bob), want: []string{"announce: action_begun action=start by=bob"}},
				{at: 2*time.Hour + time.Minute, in: trackerEnd(manager.ActionStart, bob, true, "healthy in 40s")},
				{at: 2*time.Hour + 2*time.Minute, in: trackerOK(time.Minute)},
				{at: 2*time.Hour + 3*time.Minute, in: trackerDown()},
				{at: 2*time.Hour + 4*time.Minute, in: trackerDown(), want: []string{"open"}},
			},
		},
		{
			name: "found stopped at bot start, not on purpose: down, alert after the thresholds",
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				{at: 30 * time.Second, in: trackerDown(),
					want: []string{`open: failing state=stopped reason="connection refused" since=+0s failures=2`}},
			},
		},
		{
			name:    "stopped on purpose but found healthy: intent cleared and said, alerts back on",
			stopped: true,
			steps: []trackerStep{
				{at: 0, in: trackerOK(2 * time.Hour),
					want: []string{"announce: back_after_stop"}},
				{at: 30 * time.Second, in: trackerDown()},
				{at: 60 * time.Second, in: trackerDown(), want: []string{"open"}},
			},
		},
		{
			name: "restart through the bot without an incident: announced, no alert, no external-restart report",
			steps: []trackerStep{
				{at: 0, in: trackerOK(3 * time.Hour)},
				{at: 30 * time.Second, in: trackerBegin(manager.ActionRestart, alice),
					want: []string{"announce: action_begun action=restart by=alice"}},
				{at: 40 * time.Second, in: trackerDown()},
				{at: 45 * time.Second, in: trackerExit(-1, "SIGTERM")},
				{at: 50 * time.Second, in: trackerOK(2 * time.Second)},
				{at: 55 * time.Second, in: trackerEnd(manager.ActionRestart, alice, true, "healthy in 5s")},
				{at: 60 * time.Second, in: trackerOK(7 * time.Second)},
				{at: 90 * time.Second, in: trackerOK(37 * time.Second)},
				{at: 2 * time.Hour, in: trackerTick()},
			},
		},
		{
			name: "open->resolved by a restart through the bot: restarted by alice",
			steps: []trackerStep{
				{at: 30 * time.Second, in: trackerDown()},
				open(60 * time.Second),
				{at: 4 * time.Minute, in: trackerBegin(manager.ActionRestart, alice),
					want: []string{"update: action_begun action=restart by=alice"}},
				{at: 4*time.Minute + 10*time.Second, in: trackerDown()},
				{at: 4*time.Minute + 42*time.Second, in: trackerEnd(manager.ActionRestart, alice, true, "healthy in 30s"),
					want: []string{"resolve: action_done action=restart by=alice lasted=4m12s"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						inc := ds[0].Incident
						if inc.ResolvedBy == nil {
							t.Fatalf("ResolvedBy = nil; want alice")
						}
						trackerEqual(t, "ResolvedBy", *inc.ResolvedBy, alice)
						trackerEqual(t, "ResolvedAt", inc.ResolvedAt, trackerT0.Add(4*time.Minute+42*time.Second))
						trackerEqual(t, "Updates", inc.Updates, 1)
					}},
				{at: 5 * time.Minute, in: trackerOK(18 * time.Second)},
				{at: 40 * time.Minute, in: trackerTick()},
			},
		},
		{
			name: "open->restart through the bot fails->healthy at the next check: resolved, crediting the restart",
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				open(30 * time.Second),
				{at: time.Minute, in: trackerBegin(manager.ActionRestart, alice), want: []string{"update"}},
				{at: 2 * time.Minute, in: trackerEnd(manager.ActionRestart, alice, false, "not healthy after 60s"),
					want: []string{`update: action_failed action=restart by=alice detail="not healthy after 60s"`}},
				{at: 2*time.Minute + 30*time.Second, in: trackerOK(80 * time.Second),
					want: []string{"resolve: healed by=alice lasted=2m30s"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						if by := ds[0].Incident.ResolvedBy; by == nil || *by != alice {
							t.Errorf("ResolvedBy = %v; want alice", by)
						}
					}},
			},
		},
		{
			name: "open->stop through the bot: closed on purpose, quiet afterwards",
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				open(30 * time.Second),
				{at: 2 * time.Minute, in: trackerBegin(manager.ActionStop, alice), want: []string{"update: action_begun action=stop by=alice"}},
				{at: 2*time.Minute + 5*time.Second, in: trackerEnd(manager.ActionStop, alice, true, "forced after 10s"),
					want: []string{"resolve: action_done action=stop by=alice lasted=2m5s"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "State", ds[0].Incident.State, manager.StateStopped)
						trackerEqual(t, "Open", ds[0].Incident.Open, false)
					}},
				{at: 3 * time.Minute, in: trackerDown()},
				{at: 4 * time.Minute, in: trackerDown()},
				{at: 40 * time.Minute, in: trackerTick()},
			},
		},
		{
			name: "healthy->restarted outside the bot (uptime went backwards): announced once, no incident",
			steps: []trackerStep{
				{at: 0, in: trackerOK(2*time.Hour + 59*time.Minute + 30*time.Second)},
				{at: 30 * time.Second, in: trackerOK(3 * time.Hour)},
				{at: 60 * time.Second, in: trackerOK(12 * time.Second),
					want: []string{"announce: external_restart uptime=12s/3h0m30s count=1"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "ID", ds[0].Incident.ID, 0)
					}},
				{at: 90 * time.Second, in: trackerOK(42 * time.Second)},
				{at: 120 * time.Second, in: trackerOK(72 * time.Second)},
			},
		},
		{
			name: "restarted by its controller (systemd): announced once, not an outage; the new run's uptime is not a second restart",
			steps: []trackerStep{
				{at: 0, in: trackerOK(3 * time.Hour)},
				{at: 10 * time.Second, in: trackerRestartedBy(manager.ControllerSystemd, "SIGKILL"),
					want: []string{"announce: external_restart exit=-1/SIGKILL by_controller=systemd count=1"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "ID", ds[0].Incident.ID, 0)
					}},
				{at: 11 * time.Second, in: trackerOK(500 * time.Millisecond)},
				{at: 40 * time.Second, in: trackerOK(30 * time.Second)},
				// The next restart outside the bot counts one: the
				// controller's was not held back as a second.
				{at: 7 * time.Minute, in: trackerOK(5 * time.Second), want: []string{"announce: external_restart uptime=5s/6m49.5s count=1"}},
			},
		},
		{
			name: "restarted by PM2 while the bot restarts it: the action's, nothing",
			steps: []trackerStep{
				{at: 0, in: trackerOK(time.Hour)},
				{at: 10 * time.Second, in: trackerBegin(manager.ActionRestart, alice), want: []string{"announce: action_begun action=restart by=alice"}},
				{at: 11 * time.Second, in: trackerRestartedBy(manager.ControllerPM2, "")},
			},
		},
		{
			name: "a run restarted by its controller that then fails its checks: an incident",
			steps: []trackerStep{
				{at: 0, in: trackerOK(time.Hour)},
				{at: 10 * time.Second, in: trackerRestartedBy(manager.ControllerPM2, ""), want: []string{"announce: external_restart by_controller=pm2 count=1"}},
				{at: 40 * time.Second, in: trackerDown()},
				{at: 70 * time.Second, in: trackerDown(), want: []string{"open"}},
			},
		},
		{
			// Issue 8, section 3 item 11: an uptime that flips between a
			// large and a small value (two answers behind /health) made 10
			// notices in 20 s. The start moved once: one notice.
			name: "uptime flipping between two values every 2s: one notice for the one restart",
			steps: func() []trackerStep {
				steps := []trackerStep{{at: 0, in: trackerOK(3 * time.Hour)}}
				for i := 1; i <= 10; i++ {
					at := time.Duration(i) * 2 * time.Second
					up := 3*time.Hour + at // the old process
					if i%2 == 1 {
						up = at - time.Second // a process started at +1s
					}
					s := trackerStep{at: at, in: trackerOK(up)}
					if i == 1 {
						s.want = []string{"announce: external_restart uptime=1s/3h0m2s count=1"}
					}
					steps = append(steps, s)
				}
				return steps
			}(),
		},
		{
			name: "restarts outside the bot within 5m: held back, counted into the next notice",
			steps: []trackerStep{
				{at: 0, in: trackerOK(time.Hour)},
				{at: 30 * time.Second, in: trackerOK(10 * time.Second), want: []string{"announce: external_restart uptime=10s/1h0m30s count=1"}},
				{at: time.Minute, in: trackerOK(40 * time.Second)},
				{at: 2 * time.Minute, in: trackerOK(5 * time.Second)}, // held back
				{at: 3 * time.Minute, in: trackerOK(6 * time.Second)}, // held back
				{at: 5*time.Minute + 29*time.Second, in: trackerOK(2*time.Minute + 35*time.Second)},
				{at: 5*time.Minute + 31*time.Second, in: trackerOK(time.Second),
					want: []string{"announce: external_restart uptime=1s/2m37s count=3"}},
			},
		},
		{
			name:  "a restart outside the bot while an alert is open goes into its thread",
			rules: trackerWith(func(r *Rules) { r.SuccessThreshold = 3 }),
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				{at: 30 * time.Second, in: trackerDown(), want: []string{"open"}},
				{at: 60 * time.Second, in: trackerOK(time.Hour)},
				{at: 90 * time.Second, in: trackerOK(3 * time.Second), want: []string{"update: external_restart uptime=3s/1h0m30s count=1"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "ID", ds[0].Incident.ID, 1)
						trackerEqual(t, "Updates", snap.Updates, 1)
					}},
			},
		},
		{
			name: "healthy->restarted outside the bot (uptime behind by more than the slack)",
			steps: []trackerStep{
				{at: 0, in: trackerOK(10 * time.Second)},
				{at: 30 * time.Second, in: trackerOK(25 * time.Second),
					want: []string{"announce: external_restart uptime=25s/40s count=1"}},
				{at: 60 * time.Second, in: trackerOK(51 * time.Second)}, // 4s behind: within the slack
			},
		},
		{
			name: "unknown uptime or a failure in between: no restart report",
			steps: []trackerStep{
				{at: 0, in: trackerOK(0)},
				{at: 30 * time.Second, in: trackerOK(time.Hour)},
				{at: 60 * time.Second, in: trackerOK(0)},
				{at: 90 * time.Second, in: trackerOK(5 * time.Second)},
				{at: 120 * time.Second, in: trackerDown()},
				{at: 150 * time.Second, in: trackerOK(2 * time.Second)},
			},
		},
		{
			name:  "healthy->unexpected exit: open at once whatever the thresholds",
			rules: trackerWith(func(r *Rules) { r.FailureThreshold = 5 }),
			steps: []trackerStep{
				{at: 0, in: trackerOK(time.Hour)},
				{at: 10 * time.Second, in: trackerExit(1, ""),
					want: []string{"open: exited state=stopped exit=1/ since=+10s failures=1"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						inc := ds[0].Incident
						trackerEqual(t, "Exit", *inc.Exit, Exit{Code: 1})
						trackerEqual(t, "State", inc.State, manager.StateStopped)
						trackerEqual(t, "Since", inc.Since, trackerT0.Add(10*time.Second))
						trackerEqual(t, "Failures", inc.Failures, 1)
					}},
				{at: 30 * time.Second, in: trackerDown()},
				{at: 60 * time.Second, in: trackerOK(5 * time.Second), want: []string{"resolve: healed lasted=50s"}},
			},
		},
		{
			name: "open->unexpected exit: update with the exit",
			steps: []trackerStep{
				{at: 0, in: trackerBad("HTTP 503")},
				{at: 30 * time.Second, in: trackerBad("HTTP 503"), want: []string{"open"}},
				{at: 40 * time.Second, in: trackerExit(-1, "SIGKILL"),
					want: []string{"update: exited state=stopped exit=-1/SIGKILL since=+0s failures=3"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "Exit", *snap.Exit, Exit{Code: -1, Signal: "SIGKILL"})
						trackerEqual(t, "State", snap.State, manager.StateStopped)
						trackerEqual(t, "ID", snap.ID, 1)
					}},
			},
		},
		{
			name: "exit while an action runs: intended, nothing",
			steps: []trackerStep{
				{at: 0, in: trackerBegin(manager.ActionRestart, bob), want: []string{"announce"}},
				{at: time.Second, in: trackerExit(-1, "SIGTERM")},
				{at: 20 * time.Second, in: trackerEnd(manager.ActionRestart, bob, true, "healthy in 19s")},
				{at: 30 * time.Second, in: trackerOK(10 * time.Second)},
			},
		},
		{
			name: "auto-restart: backoff doubles, each announced, at most N an hour, then gives up once",
			rules: trackerWith(func(r *Rules) {
				r.RepeatInterval = 0
				r.AutoRestart, r.AutoRestartMax, r.AutoRestartBackoff = true, 3, 30*time.Second
			}),
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				{at: 30 * time.Second, in: trackerDown(),
					want: []string{`open: failing state=stopped reason="connection refused" since=+0s failures=2 next=30s`},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "NextAutoRestart", ds[0].Incident.NextAutoRestart, trackerT0.Add(60*time.Second))
					}},
				{at: 59 * time.Second, in: trackerTick()},
				{at: 60 * time.Second, in: trackerTick(),
					want: []string{"auto_restart: auto_restart attempt=1/3 waited=30s"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "Waited", ds[0].Event.Waited, 30*time.Second)
						trackerEqual(t, "AutoRestarts", ds[0].Incident.AutoRestarts, 1)
					}},
				{at: 60 * time.Second, in: trackerBegin(manager.ActionRestart, AutoRestartActor),
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "NextAutoRestart while in flight", snap.NextAutoRestart, time.Time{})
					}},
				{at: 70 * time.Second, in: trackerDown()},
				{at: 80 * time.Second, in: trackerEnd(manager.ActionRestart, AutoRestartActor, false, "not healthy after 10s"),
					want: []string{`update: action_failed action=restart by=auto-restart detail="not healthy after 10s" next=1m0s`},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "NextAutoRestart", snap.NextAutoRestart, trackerT0.Add(140*time.Second))
					}},
				{at: 139 * time.Second, in: trackerTick()},
				{at: 140 * time.Second, in: trackerTick(), want: []string{"auto_restart"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "Waited", ds[0].Event.Waited, time.Minute)
					}},
				{at: 140 * time.Second, in: trackerBegin(manager.ActionRestart, AutoRestartActor)},
				{at: 150 * time.Second, in: trackerEnd(manager.ActionRestart, AutoRestartActor, false, "exit code 1"),
					want: []string{`update: action_failed action=restart by=auto-restart detail="exit code 1" next=2m0s`}},
				{at: 269 * time.Second, in: trackerTick()},
				{at: 270 * time.Second, in: trackerTick(),
					want: []string{"auto_restart: auto_restart attempt=3/3 waited=2m0s"}},
				{at: 270 * time.Second, in: trackerBegin(manager.ActionRestart, AutoRestartActor)},
				{at: 280 * time.Second, in: trackerEnd(manager.ActionRestart, AutoRestartActor, false, "exit code 1"),
					want: []string{
						`update: action_failed action=restart by=auto-restart detail="exit code 1"`,
						"give_up: gave_up state=stopped attempt=3/3",
					},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "GaveUp", snap.GaveUp, true)
						trackerEqual(t, "AutoRestarts", snap.AutoRestarts, 3)
					}},
				{at: 5 * time.Minute, in: trackerDown()}, // a failure since: no credit to the restarts
				{at: 10 * time.Minute, in: trackerTick()},
				{at: 2 * time.Hour, in: trackerTick()},
				{at: 2*time.Hour + time.Minute, in: trackerOK(time.Second), want: []string{"resolve: healed lasted=2h1m0s"}},
			},
		},
		{
			name: "auto-restart brings it back: resolved by auto-restart, backoff reset for the next incident",
			rules: trackerWith(func(r *Rules) {
				r.RepeatInterval = 0
				r.AutoRestart, r.AutoRestartMax, r.AutoRestartBackoff = true, 3, 30*time.Second
			}),
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				{at: 30 * time.Second, in: trackerDown(), want: []string{"open"}},
				{at: 60 * time.Second, in: trackerTick(), want: []string{"auto_restart"}},
				{at: 60 * time.Second, in: trackerBegin(manager.ActionRestart, AutoRestartActor)},
				{at: 75 * time.Second, in: trackerEnd(manager.ActionRestart, AutoRestartActor, true, "healthy in 15s"),
					want: []string{"resolve: action_done action=restart by=auto-restart lasted=1m15s"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						if by := ds[0].Incident.ResolvedBy; by == nil || *by != AutoRestartActor {
							t.Errorf("ResolvedBy = %v; want %v", by, AutoRestartActor)
						}
					}},
				{at: 2 * time.Minute, in: trackerDown()},
				{at: 2*time.Minute + 30*time.Second, in: trackerDown(),
					want: []string{`open: failing state=stopped reason="connection refused" since=+2m0s failures=2 next=30s`},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "ID", ds[0].Incident.ID, 2)
					}},
				{at: 3 * time.Minute, in: trackerTick(),
					want: []string{"auto_restart: auto_restart attempt=1/3 waited=30s"}},
			},
		},
		{
			name: "auto-restart limit counts restarts in any sliding hour, across incidents",
			rules: trackerWith(func(r *Rules) {
				r.RepeatInterval = 0
				r.AutoRestart, r.AutoRestartMax, r.AutoRestartBackoff = true, 1, 30*time.Second
			}),
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				{at: 30 * time.Second, in: trackerDown(), want: []string{"open"}},
				{at: 60 * time.Second, in: trackerTick(), want: []string{"auto_restart"}},
				{at: 60 * time.Second, in: trackerBegin(manager.ActionRestart, AutoRestartActor)},
				{at: 70 * time.Second, in: trackerEnd(manager.ActionRestart, AutoRestartActor, true, ""), want: []string{"resolve"}},
				{at: 10 * time.Minute, in: trackerDown()},
				{at: 10*time.Minute + 30*time.Second, in: trackerDown(),
					want: []string{
						`open: failing state=stopped reason="connection refused" since=+10m0s failures=2`,
						"give_up: gave_up state=stopped attempt=1/1",
					}},
				{at: 11 * time.Minute, in: trackerTick()},
				{at: 12 * time.Minute, in: trackerOK(time.Minute), want: []string{"resolve"}},
				{at: 70 * time.Minute, in: trackerDown()},
				{at: 70*time.Minute + 30*time.Second, in: trackerDown(), want: []string{"open"}},
				{at: 71 * time.Minute, in: trackerTick(), want: []string{"auto_restart"}},
			},
		},
		{
			name: "auto-restart waits for a person's action and for maintenance",
			rules: trackerWith(func(r *Rules) {
				r.RepeatInterval = 0
				r.AutoRestart, r.AutoRestartMax, r.AutoRestartBackoff = true, 3, 30*time.Second
			}),
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				{at: 30 * time.Second, in: trackerDown(), want: []string{"open"}},
				{at: 50 * time.Second, in: trackerBegin(manager.ActionRestart, alice), want: []string{"update"}},
				{at: 60 * time.Second, in: trackerTick()},
				{at: 65 * time.Second, in: trackerEnd(manager.ActionRestart, alice, false, "exit code 1"),
					want: []string{`update: action_failed action=restart by=alice detail="exit code 1" next=30s`}},
				{at: 95 * time.Second, in: trackerTick(),
					want: []string{"auto_restart: auto_restart attempt=1/3 waited=30s"}},
				{at: 95 * time.Second, in: trackerBegin(manager.ActionRestart, AutoRestartActor)},
				{at: 100 * time.Second, in: trackerEnd(manager.ActionRestart, AutoRestartActor, false, "exit code 1"), want: []string{"update"}},
				{at: 110 * time.Second, in: trackerMaintUntil(20*time.Minute, alice, ""), want: []string{"announce"}},
				{at: 160 * time.Second, in: trackerTick()},
				{at: 20 * time.Minute, in: trackerTick(), want: []string{"announce"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "NextAutoRestart", snap.NextAutoRestart, trackerT0.Add(21*time.Minute))
					}},
				{at: 21 * time.Minute, in: trackerTick(),
					want: []string{"auto_restart: auto_restart attempt=2/3 waited=1m0s"}},
			},
		},
		{
			name: "auto-restart asked for but never begun (the monitor could not): asked again after the doubled backoff, gives up at the limit",
			rules: trackerWith(func(r *Rules) {
				r.RepeatInterval = 0
				r.AutoRestart, r.AutoRestartMax, r.AutoRestartBackoff = true, 2, 30*time.Second
			}),
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				{at: 30 * time.Second, in: trackerDown(), want: []string{"open"}},
				{at: 60 * time.Second, in: trackerTick(), want: []string{"auto_restart"}},
				{at: 119 * time.Second, in: trackerTick()},
				{at: 120 * time.Second, in: trackerTick(),
					want: []string{"auto_restart: auto_restart attempt=2/2 waited=1m0s"}},
				{at: 240 * time.Second, in: trackerTick(),
					want: []string{"give_up: gave_up state=stopped attempt=2/2"}},
				{at: 2 * time.Hour, in: trackerTick()},
			},
		},
		{
			name: "auto-restart: health recovers before it is due, no restart",
			rules: trackerWith(func(r *Rules) {
				r.AutoRestart, r.AutoRestartMax, r.AutoRestartBackoff = true, 3, 30*time.Second
			}),
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				{at: 30 * time.Second, in: trackerDown(), want: []string{"open"}},
				{at: 45 * time.Second, in: trackerOK(5 * time.Second), want: []string{"resolve: healed lasted=45s"}},
				{at: 60 * time.Second, in: trackerTick()},
				{at: 10 * time.Minute, in: trackerTick()},
			},
		},
		{
			name:  "auto-restart off: never",
			rules: trackerWith(func(r *Rules) { r.RepeatInterval = 0 }),
			steps: []trackerStep{
				{at: 0, in: trackerDown()},
				{at: 30 * time.Second, in: trackerDown(), want: []string{"open"},
					check: func(t *testing.T, ds []Decision, snap Incident) {
						trackerEqual(t, "NextAutoRestart", snap.NextAutoRestart, time.Time{})
					}},
				{at: time.Minute, in: trackerTick()},
				{at: time.Hour, in: trackerTick()},
				{at: 5 * time.Hour, in: trackerTick()},
			},
		},
		{
			name:  "zero rules: one failure alerts, one success resolves",
			rules: &Rules{},
			steps: []trackerStep{
				{at: 0, in: trackerBad("bad JSON: unexpected EOF"),
					want: []string{`open: failing state=unhealthy reason="bad JSON: unexpected EOF" since=+0s failures=1`}},
				{at: 30 * time.Second, in: trackerOK(time.Minute), want: []string{"resolve: healed lasted=30s"}},
				{at: 5 * time.Hour, in: trackerTick()},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { trackerRun(t, tc) })
	}
}

// TestTrackerDecisionsAreCopies: a returned Decision never changes when the
// tracker moves on, so a renderer may keep it.
func TestTrackerDecisionsAreCopies(t *testing.T) {
	tr := NewTracker("whatsapp", trackerRules, false, trackerT0)
	tr.Health(trackerT0, manager.StateStopped, "connection refused", 0)
	opened := tr.Health(trackerT0.Add(30*time.Second), manager.StateStopped, "connection refused", 0)
	acked, err := tr.Acknowledge(trackerT0.Add(time.Minute), alice)
	if err != nil {
		t.Fatal(err)
	}
	snap := tr.Snapshot()
	resolved := tr.ActionEnded(trackerT0.Add(2*time.Minute), manager.ActionRestart, bob, true, "")

	if len(opened) != 1 || opened[0].Incident.Acked != nil || opened[0].Incident.Updates != 0 {
		t.Fatalf("open decision changed afterwards: %+v", opened)
	}
	if len(acked) != 1 || acked[0].Incident.Acked == nil || acked[0].Incident.Acked == snap.Acked {
		t.Fatalf("ack decision shares its Ack with the snapshot: %+v", acked)
	}
	snap.Acked.By = bob
	if acked[0].Incident.Acked.By != alice {
		t.Errorf("changing a snapshot changed a decision: Acked.By = %v; want alice", acked[0].Incident.Acked.By)
	}
	if len(resolved) != 1 || resolved[0].Incident.Acked == nil || resolved[0].Incident.Acked.By != alice {
		t.Errorf("resolve decision = %+v; want the incident acked by alice", resolved)
	}
	if got := tr.Snapshot(); got.ID != 0 || got.Open || got.Service != "whatsapp" {
		t.Errorf("Snapshot() after resolve = %+v; want no incident", got)
	}
}
