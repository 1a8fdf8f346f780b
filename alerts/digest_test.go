package alerts

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

var (
	digestFrom = time.Date(2025, 11, 27, 9, 0, 0, 0, time.UTC)
	digestTo   = digestFrom.Add(24 * time.Hour)
)

// digestChecks records a check every 30 s over the whole window, unhealthy
// where down says so and skipped where skip says so.
func digestChecks(h *History, service string, down, skip func(time.Time) bool) {
	for at := digestFrom; !at.After(digestTo); at = at.Add(30 * time.Second) {
		if skip != nil && skip(at) {
			continue
		}
		h.Check(service, at, down == nil || !down(at))
	}
}

func digestBetween(a, b time.Time) func(time.Time) bool {
	return func(t time.Time) bool { return !t.Before(a) && t.Before(b) }
}

func digestAt(hh, mm, ss int) time.Time {
	return time.Date(2025, 11, 27, hh, mm, ss, 0, time.UTC)
}

func TestHistoryUptimeWithOutage(t *testing.T) {
	h := NewHistory(func() time.Time { return digestTo }, 30*time.Second)
	digestChecks(h, "whatsapp", digestBetween(digestAt(10, 0, 0), digestAt(10, 4, 0)), nil)

	d := h.Digest(digestTo)
	if !d.From.Equal(digestFrom) || !d.To.Equal(digestTo) || len(d.Services) != 1 {
		t.Fatalf("digest = %+v", d)
	}
	s := d.Services[0]
	if s.Known != 24*time.Hour {
		t.Errorf("known = %s, want 24h", s.Known)
	}
	want := 100 * (1 - 4.0/1440)
	if diff := s.UptimePercent - want; diff > 1e-9 || diff < -1e-9 {
		t.Errorf("uptime = %v, want %v", s.UptimePercent, want)
	}
	if s.Incidents != 0 || s.LastRestoration != nil {
		t.Errorf("incidents %d, last restoration %v; want none", s.Incidents, s.LastRestoration)
	}
}

func TestHistoryGapIsUnknownNotDown(t *testing.T) {
	h := NewHistory(func() time.Time { return digestTo }, 30*time.Second)
	// The bot was down 12:00-14:00: no checks at all in between.
	digestChecks(h, "whatsapp", nil, func(at time.Time) bool { return at.After(digestAt(12, 0, 0)) && at.Before(digestAt(14, 0, 0)) })
	s := h.Digest(digestTo).Services[0]
	if s.Known != 22*time.Hour || s.UptimePercent != 100 {
		t.Fatalf("known %s, uptime %v; want 22h, 100", s.Known, s.UptimePercent)
	}

	// A gap of up to 3 intervals still counts, with the earlier state.
	h = NewHistory(func() time.Time { return digestTo }, 30*time.Second)
	digestChecks(h, "whatsapp", digestBetween(digestAt(12, 0, 0), digestAt(12, 0, 1)),
		func(at time.Time) bool { return at.After(digestAt(12, 0, 0)) && at.Before(digestAt(12, 1, 30)) })
	s = h.Digest(digestTo).Services[0]
	if s.Known != 24*time.Hour || s.UptimePercent != 100*(1-1.5/1440) {
		t.Fatalf("known %s, uptime %v; want 24h and 90 s down", s.Known, s.UptimePercent)
	}

	// The latest check holds until now, unless it is older than 3 intervals.
	now := digestAt(9, 3, 0)
	h = NewHistory(func() time.Time { return now }, time.Minute)
	h.Check("whatsapp", digestAt(9, 0, 0), true)
	h.Check("whatsapp", digestAt(9, 1, 0), false)
	if s := h.Digest(now).Services[0]; s.Known != 3*time.Minute || s.UptimePercent < 33.3 || s.UptimePercent > 33.4 {
		t.Errorf("fresh latest check: known %s, uptime %v; want 3m, 33.33", s.Known, s.UptimePercent)
	}
	now = digestAt(9, 10, 0)
	if s := h.Digest(now).Services[0]; s.Known != time.Minute || s.UptimePercent != 100 {
		t.Errorf("stale latest check: known %s, uptime %v; want 1m, 100", s.Known, s.UptimePercent)
	}
}

func TestHistoryIncidentsActionsAndRestorations(t *testing.T) {
	h := NewHistory(func() time.Time { return digestTo }, 30*time.Second)
	digestChecks(h, "whatsapp", digestBetween(digestAt(10, 0, 0), digestAt(10, 4, 0)), nil)
	alice := manager.Actor{ID: "U1", Name: "alice"}
	bob := manager.Actor{ID: "U2", Name: "bob"}

	inc := Incident{Service: "whatsapp", ID: 7, Open: true, Since: digestAt(10, 0, 0)}
	h.Decision(digestAt(10, 0, 0), Decision{Kind: DecisionOpen, Incident: inc})
	inc.AutoRestarts = 1
	h.Decision(digestAt(10, 1, 0), Decision{Kind: DecisionAutoRestart, Incident: inc})
	inc.Open, inc.ResolvedAt, inc.ResolvedBy = false, digestAt(10, 4, 12), &alice
	h.Decision(digestAt(10, 4, 12), Decision{Kind: DecisionResolve, Incident: inc})
	h.Decision(digestAt(11, 0, 0), Decision{Kind: DecisionAnnounce, Incident: Incident{Service: "whatsapp"}})

	h.Action(digestAt(10, 1, 30), "whatsapp", manager.ActionRestart, AutoRestartActor, false)
	h.Action(digestAt(10, 4, 0), "whatsapp", manager.ActionRestart, alice, true)
	h.Action(digestAt(15, 0, 0), "whatsapp", manager.ActionRestart, alice, true)
	h.Action(digestAt(16, 0, 0), "whatsapp", manager.ActionStop, bob, true)
	h.Action(digestAt(16, 5, 0), "whatsapp", manager.ActionStart, bob, true)
	h.Action(digestFrom.Add(-time.Minute), "whatsapp", manager.ActionRestart, bob, true) // before the window

	ok := whatsapp.Restoration{Found: 2, Restored: 2, Complete: true, Total: -1}
	last := whatsapp.Restoration{Found: 4, Restored: 3, Failed: 1, Complete: true, Total: -1,
		Sessions: []whatsapp.SessionOutcome{{ID: "user_45_instance_promo", Result: whatsapp.SessionFailed}}}
	h.Restoration(digestAt(10, 2, 0), "whatsapp", &RestorationSummary{Result: FollowResult{Restoration: ok}})
	h.Restoration(digestAt(10, 5, 0), "whatsapp", &RestorationSummary{Result: FollowResult{Restoration: ok}})
	h.Restoration(digestAt(16, 6, 0), "whatsapp", &RestorationSummary{Result: FollowResult{Restoration: last}})

	d := h.Digest(digestTo)
	s := d.Services[0]
	if s.Incidents != 1 || s.Downtime != 4*time.Minute+12*time.Second || s.Longest != s.Downtime || s.OpenIncidents != 0 {
		t.Errorf("incidents %d (open %d), down %s, longest %s", s.Incidents, s.OpenIncidents, s.Downtime, s.Longest)
	}
	if s.AutoRestarts != 1 || s.Restorations != 3 || len(s.FailedSessions) != 1 || s.FailedSessions[0] != "user_45_instance_promo" {
		t.Errorf("auto-restarts %d, restorations %d, failed %v", s.AutoRestarts, s.Restorations, s.FailedSessions)
	}
	wantActions := []ActionCount{
		{Action: manager.ActionRestart, By: "alice", Count: 2},
		{Action: manager.ActionRestart, By: "auto-restart", Count: 1, Failed: 1},
		{Action: manager.ActionStart, By: "bob", Count: 1},
		{Action: manager.ActionStop, By: "bob", Count: 1},
	}
	if len(s.Actions) != len(wantActions) {
		t.Fatalf("actions = %+v", s.Actions)
	}
	for i := range wantActions {
		if s.Actions[i] != wantActions[i] {
			t.Errorf("action %d = %+v, want %+v", i, s.Actions[i], wantActions[i])
		}
	}
	if l := s.LastRestoration; l == nil || l.Result.Restoration.Found != 4 || l.Result.Restoration.Failed != 1 {
		t.Errorf("last restoration = %+v; want the one with 4 found, 1 failed", l)
	}
}

func TestHistoryDigestOpenIncidentAndOneRestoration(t *testing.T) {
	h := NewHistory(func() time.Time { return digestTo }, time.Minute)
	since := digestTo.Add(-time.Hour)
	inc := Incident{Service: "whatsapp", ID: 1, Open: true, Since: since}
	h.Decision(since, Decision{Kind: DecisionOpen, Incident: inc})
	h.Decision(since.Add(10*time.Minute), Decision{Kind: DecisionGiveUp, Incident: inc})
	h.Restoration(since, "whatsapp", &RestorationSummary{Result: FollowResult{TimedOut: true,
		Restoration: whatsapp.Restoration{Found: 3, Restored: 1, Total: -1}}})
	// An incident resolved before the window is not in it.
	old := Incident{Service: "whatsapp", ID: 9, Since: digestFrom.Add(-3 * time.Hour), ResolvedAt: digestFrom.Add(-2 * time.Hour)}
	h.Decision(old.ResolvedAt, Decision{Kind: DecisionResolve, Incident: old})

	d := h.Digest(digestTo)
	if len(d.Services) != 1 {
		t.Fatalf("digest = %+v; want one service", d)
	}
	s := d.Services[0]
	if s.Known != 0 || s.Incidents != 1 || s.OpenIncidents != 1 || s.Downtime != time.Hour || s.Longest != time.Hour ||
		s.GiveUps != 1 || s.Restorations != 1 || s.LastRestoration == nil || !s.LastRestoration.Result.TimedOut {
		t.Errorf("service digest = %+v; want no health data, 1 open incident of 1h, 1 give-up, 1 timed-out restoration", s)
	}
}

func TestHistoryPrunesAfter48h(t *testing.T) {
	now := digestFrom
	h := NewHistory(func() time.Time { return now }, time.Minute)
	h.Check("whatsapp", now, true)
	h.Action(now, "whatsapp", manager.ActionStop, manager.Actor{Name: "bob"}, true)
	now = now.Add(49 * time.Hour)
	h.Check("whatsapp", now, true)
	h.Check("whatsapp", now.Add(time.Minute), true)
	h.mu.Lock()
	checks, actions := len(h.checks["whatsapp"]), len(h.actions)
	h.mu.Unlock()
	if checks != 2 || actions != 0 {
		t.Errorf("after pruning: %d checks, %d actions; want 2, 0", checks, actions)
	}
}

func TestHistoryConcurrent(t *testing.T) {
	h := NewHistory(func() time.Time { return digestTo }, time.Second)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				at := digestFrom.Add(time.Duration(j) * time.Second)
				h.Check("whatsapp", at, j%2 == 0)
				h.Action(at, "whatsapp", manager.ActionRestart, manager.Actor{Name: "alice"}, true)
				h.Decision(at, Decision{Kind: DecisionOpen, Incident: Incident{Service: "whatsapp", ID: i + 1, Open: true, Since: at}})
				_ = h.Digest(digestTo)
			}
		}()
	}
	wg.Wait()
	if s := h.Digest(digestTo).Services[0]; s.Actions[0].Count != 800 || s.Incidents != 4 {
		t.Errorf("after concurrent records: %+v", s)
	}
}

// digestService is a Service whose first health check fails and every
// later one passes; the test sends its events.
type digestService struct {
	checks atomic.Int32
	once   sync.Once
	events chan manager.Event
}

func (s *digestService) Name() string { return "whatsapp" }
func (s *digestService) Health(context.Context) manager.Health {
	if s.checks.Add(1) == 1 {
		return manager.Health{Refused: true, Reason: "connection refused"}
	}
	return manager.Health{OK: true}
}
func (s *digestService) Subscribe(int) (<-chan manager.Event, func()) {
	return s.events, func() { s.once.Do(func() { close(s.events) }) }
}
func (s *digestService) StoppedOnPurpose() bool { return false }
func (s *digestService) Restart(context.Context, manager.Actor, func(string)) (manager.RestartResult, error) {
	return manager.RestartResult{}, nil
}
func (s *digestService) Config() manager.ServiceConfig { return manager.ServiceConfig{} }
func (s *digestService) Status(context.Context) (manager.Status, error) {
	return manager.Status{}, nil
}

// digestNotifier records notices and hands them to the test.
type digestNotifier struct {
	mu      sync.Mutex
	notices []Notice
	ch      chan Notice
}

func (n *digestNotifier) Notify(x Notice) error {
	n.mu.Lock()
	n.notices = append(n.notices, x)
	n.mu.Unlock()
	n.ch <- x
	return nil
}

// wait returns the next notice of kind, skipping others.
func (n *digestNotifier) wait(t *testing.T, ctx context.Context, kind DecisionKind) Notice {
	t.Helper()
	for {
		select {
		case x := <-n.ch:
			if x.Kind == kind {
				return x
			}
		case <-ctx.Done():
			t.Fatalf("no %s notice: %v", kind, ctx.Err())
		}
	}
}

func (n *digestNotifier) count(kind DecisionKind) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, x := range n.notices {
		if x.Kind == kind {
			c++
		}
	}
	return c
}

// digestMonitor is a started monitor of one digestService, notifying rec,
// on a fake clock: stop stops it (at most once: a test that failed before
// its own stop is stopped by the deferred one).
type digestMonitor struct {
	svc  *digestService
	rec  *digestNotifier
	ctx  context.Context
	stop func() error
}

// startDigestMonitor starts a monitor with cfg, its health poll and tick
// hourly so that there is one health poll only (the immediate one):
// gocron's singleton mode skips a poll that fires while the previous one
// is still returning, and nothing tells a test when a poll has returned,
// so a second poll would make it racy. The rest comes through events.
// Defer cancel, then stop.
func startDigestMonitor(t *testing.T, clock clockwork.Clock, cfg MonitorConfig) (dm digestMonitor, cancel func()) {
	t.Helper()
	dm.svc = &digestService{events: make(chan manager.Event)}
	dm.rec = &digestNotifier{ch: make(chan Notice, 64)}
	cfg.Interval, cfg.TickEvery, cfg.Clock, cfg.Logger = time.Hour, time.Hour, clock, zerolog.Nop()
	cfg.Rules = Rules{FailureThreshold: 1, SuccessThreshold: 1}
	m, err := NewMonitor(cfg, []Service{dm.svc}, dm.rec)
	if err != nil {
		t.Fatal(err)
	}
	dm.ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	if err := m.Start(dm.ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	dm.stop = func() (err error) {
		once.Do(func() { err = m.Stop() })
		return err
	}
	return dm, cancel
}

func TestMonitorSendsDailyDigest(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	start := time.Date(2025, 11, 28, 8, 57, 0, 0, time.Local)
	clock := clockwork.NewFakeClockAt(start)
	dm, cancel := startDigestMonitor(t, clock, MonitorConfig{DigestAt: "09:00"})
	defer cancel()
	defer dm.stop() // when the test failed before its own, checked stop
	svc, rec, ctx := dm.svc, dm.rec, dm.ctx

	// 08:57 the immediate check fails: an incident opens.
	rec.wait(t, ctx, DecisionOpen)
	// Timers: the health poll, the tick and the digest.
	if err := clock.BlockUntilContext(ctx, 3); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute) // 08:58, nothing due: alice restarts it
	alice := manager.Actor{ID: "U1", Name: "alice"}
	for _, e := range []manager.Event{
		{Service: "whatsapp", Kind: manager.EventActionBegun, Action: manager.ActionRestart, By: alice},
		{Service: "whatsapp", Kind: manager.EventActionEnded, Action: manager.ActionRestart, By: alice, OK: true},
	} {
		select {
		case svc.events <- e:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	rec.wait(t, ctx, DecisionResolve)
	clock.Advance(2 * time.Minute) // 09:00: the digest
	n := rec.wait(t, ctx, "digest")
	if n.ID != "digest-2025-11-28" || n.Ref != "" || n.Digest == nil || len(n.Digest.Services) != 1 {
		t.Fatalf("digest notice = %+v; want digest-2025-11-28 with one service", n)
	}
	if s := n.Digest.Services[0]; s.UptimePercent != 0 || s.Known != 3*time.Minute || s.Incidents != 1 ||
		s.Downtime != time.Minute || len(s.Actions) != 1 || s.Actions[0] != (ActionCount{Action: manager.ActionRestart, By: "alice", Count: 1}) {
		t.Errorf("digest = %+v; want 0%% of 3m up, 1 incident of 1m, 1 restart by alice", s)
	}
	// Every job is waiting again (the digest for tomorrow): no second one.
	if err := clock.BlockUntilContext(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := dm.stop(); err != nil {
		t.Fatal(err)
	}
	if c := rec.count("digest"); c != 1 {
		t.Errorf("%d digest notices, want 1", c)
	}
}

func TestMonitorDigestConfig(t *testing.T) {
	if _, err := NewMonitor(MonitorConfig{Interval: time.Minute, DigestAt: "9h"}, nil, &digestNotifier{}); err == nil {
		t.Error("DigestAt 9h accepted")
	}
	for at, want := range map[string][2]int{"09:00": {9, 0}, "23:59": {23, 59}, "00:05": {0, 5}} {
		h, m, err := digestParse(at)
		if err != nil || h != want[0] || m != want[1] {
			t.Errorf("digestParse(%q) = %d, %d, %v", at, h, m, err)
		}
	}
	for _, at := range []string{"24:00", "9:00", "09:60", ""} {
		if _, _, err := digestParse(at); err == nil {
			t.Errorf("digestParse(%q) accepted", at)
		}
	}
}

// fakeDigestSource answers a digest or an error, and records what it was
// asked.
type fakeDigestSource struct {
	d        Digest
	err      error
	services []string
	from, to time.Time
	deadline bool
}

func (f *fakeDigestSource) Digest(ctx context.Context, services []string, from, to time.Time) (Digest, error) {
	f.services, f.from, f.to = services, from, to
	_, f.deadline = ctx.Deadline()
	if f.err != nil {
		return Digest{}, f.err
	}
	d := f.d
	d.From, d.To = from, to
	return d, nil
}

func TestMonitorDigestSource(t *testing.T) {
	fromDB := ServiceDigest{Service: "whatsapp", UptimePercent: 50, Known: 24 * time.Hour, Incidents: 3}
	for _, tc := range []struct {
		name   string
		source *fakeDigestSource
		want   []ServiceDigest
	}{
		// No source: the memory's (1 of 2 minutes up, 1 give-up).
		{"none", nil, []ServiceDigest{{Service: "whatsapp", UptimePercent: 50, Known: 2 * time.Minute, GiveUps: 1}}},
		{"fails", &fakeDigestSource{err: errors.New("database is locked")},
			[]ServiceDigest{{Service: "whatsapp", UptimePercent: 50, Known: 2 * time.Minute, GiveUps: 1}}},
		{"answers", &fakeDigestSource{d: Digest{Services: []ServiceDigest{fromDB}}}, []ServiceDigest{fromDB}},
		// The source keeps no give-ups: the memory's are added.
		{"answers-without-give-ups", &fakeDigestSource{d: Digest{Services: []ServiceDigest{fromDB}, NoGiveUps: true}},
			[]ServiceDigest{func() ServiceDigest { s := fromDB; s.GiveUps = 1; return s }()}},
		{"answers-nothing-without-give-ups", &fakeDigestSource{d: Digest{NoGiveUps: true}},
			[]ServiceDigest{{Service: "whatsapp", GiveUps: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := clockwork.NewFakeClockAt(digestTo)
			cfg := MonitorConfig{Interval: 30 * time.Second, Clock: clock, Logger: zerolog.Nop()}
			if tc.source != nil {
				cfg.DigestSource = tc.source
			}
			m, err := NewMonitor(cfg, []Service{&digestService{}}, &digestNotifier{})
			if err != nil {
				t.Fatal(err)
			}
			m.history.Check("whatsapp", digestTo.Add(-2*time.Minute), false)
			m.history.Check("whatsapp", digestTo.Add(-90*time.Second), false)
			m.history.Check("whatsapp", digestTo.Add(-time.Minute), true)
			m.history.Check("whatsapp", digestTo.Add(-30*time.Second), true)
			m.history.Decision(digestTo.Add(-time.Minute), Decision{Kind: DecisionGiveUp, Incident: Incident{Service: "whatsapp"}})
			d := m.digest(context.Background(), digestFrom, digestTo)
			if !d.From.Equal(digestFrom) || !d.To.Equal(digestTo) || d.NoGiveUps {
				t.Errorf("digest window %s – %s (no give-ups %v), want %s – %s", d.From, d.To, d.NoGiveUps, digestFrom, digestTo)
			}
			if got := d.Services; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("services = %+v\nwant %+v", got, tc.want)
			}
			if s := tc.source; s != nil && (!reflect.DeepEqual(s.services, []string{"whatsapp"}) || !s.from.Equal(digestFrom) || !s.to.Equal(digestTo) || !s.deadline) {
				t.Errorf("source asked for %v %s – %s (deadline %v)", s.services, s.from, s.to, s.deadline)
			}
		})
	}
}
