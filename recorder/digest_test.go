package recorder

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// digestBot is one bot process writing to the history at path: a store and
// a recorder on the shared fake clock.
type digestBot struct {
	store *history.Store
	rec   *Recorder
	clock *clockwork.FakeClock
}

func startDigestBot(t *testing.T, path string, clock *clockwork.FakeClock) digestBot {
	t.Helper()
	store, err := history.Open(path, history.Options{Clock: clock, CheckInterval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	rec, err := New(store, clock)
	if err != nil {
		t.Fatal(err)
	}
	return digestBot{store: store, rec: rec, clock: clock}
}

// checks records a check every 30 s from the clock's time until to
// (excluded), advancing the clock; state and maintenance say what each is.
func (b digestBot) checks(to time.Time, state func(time.Time) manager.State, maint func(time.Time) bool) {
	for now := b.clock.Now(); now.Before(to); now = b.clock.Now() {
		b.rec.RecordCheck(alerts.CheckResult{Service: "whatsapp", At: now, State: state(now), Maintenance: maint != nil && maint(now)})
		b.clock.Advance(30 * time.Second)
	}
}

func (b digestBot) notify(t *testing.T, ns ...alerts.Notice) {
	t.Helper()
	n := b.rec.Notifier(nopNotifier{})
	for _, no := range ns {
		if err := n.Notify(no); err != nil {
			t.Fatal(err)
		}
	}
}

func (b digestBot) actions(es ...manager.Event) {
	ch := make(chan manager.Event, len(es))
	for _, e := range es {
		ch <- e
	}
	close(ch)
	b.rec.Actions(context.Background(), ch)
}

func restorationNotice(id string, at time.Time, r whatsapp.Restoration) alerts.Notice {
	return alerts.Notice{ID: id, Service: "whatsapp", Kind: alerts.KindRestoration, Event: alerts.Event{What: alerts.EventRestoration, At: at},
		Restoration: &alerts.RestorationSummary{Result: alerts.FollowResult{Restoration: r, Completed: true},
			Sessions: whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: true, Running: true})}}
}

func between(a, b time.Time) func(time.Time) bool {
	return func(t time.Time) bool { return !t.Before(a) && t.Before(b) }
}

// TestDigestSurvivesRestart writes one day of a service's history from two
// bot processes with an hour's gap between them, and reads the digest of
// the day from a third: the figures are the whole day's, computed by hand.
func TestDigestSurvivesRestart(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	h := func(d time.Duration) time.Time { return t0.Add(d) }
	clock := clockwork.NewFakeClockAt(t0)
	path := filepath.Join(t.TempDir(), "history.db")
	alice := manager.Actor{ID: "U0ALICE", Name: "alice"}
	bob := manager.Actor{ID: "U0BOB", Name: "bob"}

	// Bot 1, 09:00 to 19:00: healthy but for 11:00–11:10, incident 1
	// (failed 11:00, resolved by alice's restart at 11:10), an auto-restart
	// that failed at 12:00, a restoration that restored all.
	b1 := startDigestBot(t, path, clock)
	down1 := between(h(2*time.Hour), h(2*time.Hour+10*time.Minute))
	b1.checks(h(10*time.Hour), func(at time.Time) manager.State {
		if down1(at) {
			return manager.StateUnhealthy
		}
		return manager.StateHealthy
	}, nil)
	inc1 := alerts.Incident{ID: 1, Service: "whatsapp", Open: true, Reason: "connection refused", Since: h(2 * time.Hour)}
	res1 := inc1
	res1.Open, res1.ResolvedBy = false, &alice
	b1.notify(t,
		alerts.Notice{ID: "whatsapp-incident-1", Service: "whatsapp", Kind: alerts.DecisionOpen, Incident: &inc1,
			Event: alerts.Event{What: alerts.EventFailing, At: h(2*time.Hour + time.Minute)}},
		alerts.Notice{ID: "whatsapp-incident-1-resolve", Ref: "whatsapp-incident-1", Service: "whatsapp", Kind: alerts.DecisionResolve,
			Incident: &res1, Event: alerts.Event{What: alerts.EventActionDone, At: h(2*time.Hour + 10*time.Minute)}},
		restorationNotice("r1", h(2*time.Hour+11*time.Minute), whatsapp.Restoration{Found: 1, Restored: 1, Complete: true, Total: -1,
			Sessions: []whatsapp.SessionOutcome{{ID: "user_a", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady}}}))
	b1.actions(
		manager.Event{Service: "whatsapp", Kind: manager.EventActionBegun, Action: manager.ActionRestart, By: alice, At: h(2*time.Hour + 9*time.Minute)},
		manager.Event{Service: "whatsapp", Kind: manager.EventActionEnded, Action: manager.ActionRestart, By: alice, OK: true, At: h(2*time.Hour + 10*time.Minute)},
		manager.Event{Service: "whatsapp", Kind: manager.EventActionEnded, Action: manager.ActionRestart, By: alerts.AutoRestartActor, At: h(3 * time.Hour)},
	)
	if err := b1.store.Close(); err != nil {
		t.Fatal(err)
	}

	// The bot is down 19:00–20:00. Bot 2, 20:00 to 09:00: bob's
	// maintenance 21:00–21:30 (a stop and a start), a restoration with a
	// failed session at 21:31, incident 2 from 08:30, still open.
	clock.Advance(time.Hour)
	b2 := startDigestBot(t, path, clock)
	maint := between(h(12*time.Hour), h(12*time.Hour+30*time.Minute))
	down2 := between(h(23*time.Hour+30*time.Minute), h(24*time.Hour))
	b2.checks(h(24*time.Hour), func(at time.Time) manager.State {
		switch {
		case maint(at):
			return manager.StateStopped
		case down2(at):
			return manager.StateUnhealthy
		}
		return manager.StateHealthy
	}, maint)
	b2.actions(
		manager.Event{Service: "whatsapp", Kind: manager.EventActionEnded, Action: manager.ActionStop, By: bob, OK: true, At: h(12 * time.Hour)},
		manager.Event{Service: "whatsapp", Kind: manager.EventActionEnded, Action: manager.ActionStart, By: bob, OK: true, At: h(12*time.Hour + 29*time.Minute)},
	)
	inc2 := alerts.Incident{ID: 2, Service: "whatsapp", Open: true, Reason: "connection refused", Since: h(23*time.Hour + 30*time.Minute)}
	b2.notify(t,
		restorationNotice("r2", h(12*time.Hour+31*time.Minute), whatsapp.Restoration{Found: 3, Restored: 2, Failed: 1, Complete: true, Total: -1,
			Sessions: []whatsapp.SessionOutcome{
				{ID: "user_a", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady},
				{ID: "user_b", Result: whatsapp.SessionFailed, Cause: "net::ERR_NAME_NOT_RESOLVED"},
				{ID: "user_c", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady},
			}}),
		alerts.Notice{ID: "whatsapp-incident-2", Service: "whatsapp", Kind: alerts.DecisionOpen, Incident: &inc2,
			Event: alerts.Event{What: alerts.EventFailing, At: h(23*time.Hour + 31*time.Minute)}})
	if err := b2.store.Close(); err != nil {
		t.Fatal(err)
	}

	// Bot 3 sends the digest at 09:00.
	b3 := startDigestBot(t, path, clock)
	ds := b3.rec.Digests()
	if ds == nil {
		t.Fatal("a recorder on a history store has no digests")
	}
	d, err := ds.Digest(context.Background(), []string{"whatsapp", "quiet"}, t0, h(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// By hand: 24 h less the hour the bot was down (unknown) and the 30
	// minutes of maintenance is 22h30m judged; 10 + 30 minutes of it
	// unhealthy.
	want := alerts.Digest{From: t0, To: h(24 * time.Hour), NoGiveUps: true, Services: []alerts.ServiceDigest{{
		Service: "whatsapp", UptimePercent: 100 * float64(1310) / 1350, Known: 22*time.Hour + 30*time.Minute,
		Incidents: 2, OpenIncidents: 1, Downtime: 40 * time.Minute, Longest: 30 * time.Minute,
		Actions: []alerts.ActionCount{
			{Action: manager.ActionRestart, By: "alice", Count: 1},
			{Action: manager.ActionRestart, By: "auto-restart", Count: 1, Failed: 1},
			{Action: manager.ActionStart, By: "bob", Count: 1},
			{Action: manager.ActionStop, By: "bob", Count: 1},
		},
		AutoRestarts: 1, Restorations: 2,
		LastRestoration: &alerts.RestorationSummary{Result: alerts.FollowResult{Completed: true,
			Restoration: whatsapp.Restoration{Found: 3, Restored: 2, Failed: 1, Complete: true, Total: -1}}},
		FailedSessions: []string{"user_b"},
	}}}
	if got := d.Services; len(got) == 1 {
		if diff := got[0].UptimePercent - want.Services[0].UptimePercent; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("uptime %v%%, want %v%%", got[0].UptimePercent, want.Services[0].UptimePercent)
		}
		got[0].UptimePercent = want.Services[0].UptimePercent
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("digest after the restart:\n got %+v\nwant %+v", d, want)
	}
}

type failingReader struct{ Reader }

func (failingReader) Uptime(context.Context, string, time.Time, time.Time, time.Duration) (history.Report, error) {
	return history.Report{}, errors.New("database disk image is malformed")
}

func TestDigestErrors(t *testing.T) {
	if _, err := NewDigests(nil); err == nil {
		t.Error("digests without a history")
	}
	var r *Recorder
	if r.Digests() != nil {
		t.Error("a nil recorder has digests")
	}
	ds, err := NewDigests(failingReader{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Digest(context.Background(), []string{"whatsapp"}, stateT0, stateT0.Add(time.Hour)); err == nil {
		t.Error("a failing read made a digest")
	}
	if _, err := ds.Digest(context.Background(), []string{"whatsapp"}, stateT0, stateT0); err == nil {
		t.Error("an empty window made a digest")
	}
}
