package recorder

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type nopNotifier struct{ err error }

// fakeService answers health checks in 2 ms; the rest is never asked.
type fakeService struct{ alerts.Service }

func (fakeService) Name() string { return "whatsapp" }
func (fakeService) Health(context.Context) manager.Health {
	return manager.Health{OK: true, Latency: 2 * time.Millisecond}
}

func (n nopNotifier) Notify(alerts.Notice) error { return n.err }

// TestRecorderKeepsTheHistory feeds the facts of one outage (checks, the
// alert's open, acknowledgement and resolution notices, the restart that
// ended it, the restoration summary after it) through the recorder into a
// real SQLite file, and reads them back.
func TestRecorderKeepsTheHistory(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(t0)
	path := filepath.Join(t.TempDir(), "history.db")
	store, err := history.Open(path, history.Options{Clock: clock, CheckInterval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(store, clock)
	if err != nil {
		t.Fatal(err)
	}
	svc := r.WatchService(fakeService{})
	// Checks every 30 s: 1 min healthy, 1 min stopped, 1 min healthy, 1 min in maintenance.
	for i := range 8 {
		svc.Health(context.Background()) // the response time
		st := manager.StateHealthy
		if i == 2 || i == 3 {
			st = manager.StateStopped
		}
		r.RecordCheck(alerts.CheckResult{Service: "whatsapp", At: clock.Now(), State: st, Maintenance: i >= 6})
		clock.Advance(30 * time.Second)
	}
	alice := manager.Actor{ID: "U0ALICE", Name: "alice"}
	failed := t0.Add(time.Minute)
	inc := alerts.Incident{ID: 1, Service: "whatsapp", Open: true, Reason: "connection refused", Since: failed}
	n := r.Notifier(nopNotifier{})
	notices := []alerts.Notice{
		{ID: "whatsapp-incident-1", Service: "whatsapp", Kind: alerts.DecisionOpen, Incident: &inc,
			Event: alerts.Event{What: alerts.EventFailing, At: failed.Add(30 * time.Second)}},
	}
	acked := inc
	acked.Acked = &alerts.Ack{By: alice, At: failed.Add(40 * time.Second)}
	resolved := acked
	resolved.Open, resolved.ResolvedBy = false, &alice
	notices = append(notices,
		alerts.Notice{ID: "whatsapp-incident-1-ack", Ref: "whatsapp-incident-1", Service: "whatsapp", Kind: alerts.DecisionUpdate,
			Incident: &acked, Event: alerts.Event{What: alerts.EventAcked, At: failed.Add(40 * time.Second)}},
		alerts.Notice{ID: "whatsapp-incident-1-resolve", Ref: "whatsapp-incident-1", Service: "whatsapp", Kind: alerts.DecisionResolve,
			Incident: &resolved, Event: alerts.Event{What: alerts.EventActionDone, At: failed.Add(time.Minute)}})
	rest := whatsapp.Restoration{Found: 2, Complete: true, Total: -1, Sessions: []whatsapp.SessionOutcome{
		{ID: "a", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady},
		{ID: "b", Result: whatsapp.SessionFailed, Cause: "net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/"},
	}}
	notices = append(notices, alerts.Notice{ID: "whatsapp-restoration-1", Service: "whatsapp", Kind: alerts.KindRestoration,
		Event:       alerts.Event{What: alerts.EventRestoration, At: failed.Add(70 * time.Second)},
		Restoration: &alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: rest, Completed: true}, Sessions: whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: rest, HaveRestoration: true, Running: true})}})
	for _, no := range notices {
		if err := n.Notify(no); err != nil {
			t.Fatal(err)
		}
	}
	// A notice the next notifier refused is not history.
	refused := r.Notifier(nopNotifier{err: errors.New("journal full")})
	if err := refused.Notify(alerts.Notice{ID: "whatsapp-incident-2", Service: "whatsapp", Kind: alerts.DecisionOpen, Incident: &inc,
		Event: alerts.Event{At: t0}}); err == nil {
		t.Fatal("the next notifier's error was lost")
	}
	events := make(chan manager.Event, 2)
	events <- manager.Event{Service: "whatsapp", Kind: manager.EventActionBegun, Action: manager.ActionRestart, By: alice, At: failed.Add(50 * time.Second)}
	events <- manager.Event{Service: "whatsapp", Kind: manager.EventActionEnded, Action: manager.ActionRestart, By: alice, OK: true, At: failed.Add(53 * time.Second)}
	close(events)
	r.Actions(context.Background(), events)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store, err = history.Open(path, history.Options{Clock: clock, CheckInterval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	ctx := context.Background()
	incs, err := store.Incidents(ctx, "whatsapp", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 {
		t.Fatalf("incidents = %+v; want the one", incs)
	}
	got := incs[0]
	if got.ID != "whatsapp-incident-1" || got.Cause != "connection refused" || got.AckedBy != "alice" || got.ResolvedBy != "alice" || got.Duration != time.Minute {
		t.Errorf("incident = %+v; want acked and resolved by alice, cause said once, 1m outage", got)
	}
	rep, err := store.Uptime(ctx, "whatsapp", t0, t0.Add(4*time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Healthy != 2*time.Minute || rep.Stopped != time.Minute || rep.Maintenance != time.Minute || rep.Restarts["alice"] != 1 || rep.ResponseAvg != 2*time.Millisecond {
		t.Errorf("uptime: healthy %s, stopped %s, maintenance %s, restarts %v, response %s; want 2m, 1m, 1m, alice 1, 2ms",
			rep.Healthy, rep.Stopped, rep.Maintenance, rep.Restarts, rep.ResponseAvg)
	}
	last, ok, err := store.LastRestoration(ctx, "whatsapp")
	if err != nil || !ok {
		t.Fatalf("last restoration: %v, %v", ok, err)
	}
	if last.Found != 2 || last.Restored != 1 || last.Failed != 1 || len(last.Sessions) != 2 || last.Sessions[1].Detail != string(whatsapp.CauseDNS) {
		t.Errorf("restoration = %+v; want 2 found, 1 restored, 1 failed (dns)", last)
	}
}
