package alerts

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

// monitorService is a scriptable service for the monitor's wiring tests.
type monitorService struct {
	mu      sync.Mutex
	health  manager.Health
	checks  int
	events  chan manager.Event
	onPurp  bool
	restart int
	// status is what Status returns (its Health is health); statuses
	// counts the calls.
	status   manager.Status
	statuses int
	// cfg is what Config returns.
	cfg manager.ServiceConfig
}

func newMonitorService() *monitorService {
	return &monitorService{health: manager.Health{OK: true, StatusCode: 200, Status: "healthy"}, events: make(chan manager.Event, 16),
		cfg: manager.ServiceConfig{Name: "whatsapp", LogFile: "/nonexistent/combined.log", AuthDir: "/nonexistent/auth"}}
}

func (s *monitorService) Name() string { return "whatsapp" }
func (s *monitorService) Health(context.Context) manager.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks++
	return s.health
}
func (s *monitorService) setHealth(h manager.Health) {
	s.mu.Lock()
	s.health = h
	s.mu.Unlock()
}
func (s *monitorService) Checks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checks
}
func (s *monitorService) Subscribe(int) (<-chan manager.Event, func()) { return s.events, func() {} }
func (s *monitorService) StoppedOnPurpose() bool                       { return s.onPurp }
func (s *monitorService) Restart(context.Context, manager.Actor, func(string)) (manager.RestartResult, error) {
	s.mu.Lock()
	s.restart++
	s.mu.Unlock()
	return manager.RestartResult{}, nil
}
func (s *monitorService) Config() manager.ServiceConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}
func (s *monitorService) Status(context.Context) (manager.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses++
	st := s.status
	st.Health = s.health
	return st, nil
}
func (s *monitorService) setStatus(st manager.Status) {
	s.mu.Lock()
	s.status = st
	s.mu.Unlock()
}

// recorder records notices.
type recorder struct {
	mu      sync.Mutex
	notices []Notice
}

func (r *recorder) Notify(n Notice) error {
	r.mu.Lock()
	r.notices = append(r.notices, n)
	r.mu.Unlock()
	return nil
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.notices {
		out = append(out, string(n.Kind))
	}
	return out
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startTestMonitor(t *testing.T, svc *monitorService, rules Rules) (*Monitor, *recorder, *clockwork.FakeClock) {
	t.Helper()
	return startMonitorWith(t, svc, func(c *MonitorConfig) { c.Rules = rules })
}

// startMonitorWith starts a monitor of svc on a fake clock: checks every
// 30 s, a tick every 5 s, restoration_timeout 1 m; change adjusts that.
func startMonitorWith(t *testing.T, svc *monitorService, change func(*MonitorConfig)) (*Monitor, *recorder, *clockwork.FakeClock) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC))
	rec := &recorder{}
	cfg := MonitorConfig{Interval: 30 * time.Second, RestorationTimeout: time.Minute,
		TickEvery: 5 * time.Second, Clock: clock, Logger: zerolog.Nop()}
	change(&cfg)
	m, err := NewMonitor(cfg, []Service{svc}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		goleak.VerifyNone(t)
	})
	return m, rec, clock
}

// TestMonitorPollsEveryIntervalAndAlertsAtThreshold drives gocron with a
// fake clock: a check at once, then one per interval; two failures open
// one alert.
func TestMonitorPollsEveryIntervalAndAlertsAtThreshold(t *testing.T) {
	svc := newMonitorService()
	_, rec, clock := startTestMonitor(t, svc, Rules{FailureThreshold: 2, SuccessThreshold: 1})
	waitCond(t, "the first check", func() bool { return svc.Checks() == 1 })

	svc.setHealth(manager.Health{Refused: true, Reason: "connection refused"})
	for want := 2; want <= 3; want++ {
		if err := clock.BlockUntilContext(context.Background(), 2); err != nil { // health job and tick
			t.Fatal(err)
		}
		clock.Advance(30 * time.Second)
		waitCond(t, "the next check", func() bool { return svc.Checks() >= want })
	}
	waitCond(t, "the alert", func() bool { return strings.Contains(strings.Join(rec.kinds(), ","), "open") })
	if got := strings.Join(rec.kinds(), ","); got != "open" {
		t.Errorf("notices = %s; want one open after two failed checks", got)
	}
	inc := rec.notices[0].Incident
	if inc == nil || inc.State != manager.StateStopped || inc.Reason != "connection refused" || rec.notices[0].Ref != "" ||
		rec.notices[0].ID != fmt.Sprintf("whatsapp-incident-1-%d", inc.Since.UnixNano()) {
		t.Errorf("alert = %+v", rec.notices[0])
	}
}

// TestMonitorExitAlertsAtOnce: an unexpected exit alerts without waiting
// for the next poll, and triggers a check now.
func TestMonitorExitAlertsAtOnce(t *testing.T) {
	svc := newMonitorService()
	_, rec, _ := startTestMonitor(t, svc, Rules{FailureThreshold: 5})
	waitCond(t, "the first check", func() bool { return svc.Checks() == 1 })
	svc.setHealth(manager.Health{Refused: true, Reason: "connection refused"})
	exit := manager.Exit{Known: true, Code: 137, ChildSignal: "SIGKILL"}
	svc.events <- manager.Event{Kind: manager.EventExited, PID: 42, ExitCode: 137, Exit: exit, Detail: "exit code 137"}
	waitCond(t, "the alert", func() bool { return len(rec.kinds()) > 0 })
	if rec.notices[0].Kind != DecisionOpen || rec.notices[0].Incident.Exit == nil ||
		*rec.notices[0].Incident.Exit != exit || rec.notices[0].Event.What != EventExited {
		t.Errorf("first notice = %+v; want an alert with the exit", rec.notices[0])
	}
	waitCond(t, "a check right after the exit", func() bool { return svc.Checks() >= 2 })
}

// TestMonitorIntendedStopIsQuiet: a stop through the bot is announced and
// raises no alert, however long the service stays down.
func TestMonitorIntendedStopIsQuiet(t *testing.T) {
	svc := newMonitorService()
	_, rec, clock := startTestMonitor(t, svc, Rules{FailureThreshold: 1})
	waitCond(t, "the first check", func() bool { return svc.Checks() == 1 })
	alice := manager.Actor{ID: "U0ALICE", Name: "alice"}
	svc.events <- manager.Event{Kind: manager.EventActionBegun, Action: manager.ActionStop, By: alice}
	svc.events <- manager.Event{Kind: manager.EventExited, Intended: true, Detail: "killed by signal: terminated"}
	svc.events <- manager.Event{Kind: manager.EventActionEnded, Action: manager.ActionStop, By: alice, OK: true}
	waitCond(t, "the announcement", func() bool { return len(rec.kinds()) >= 1 })
	svc.setHealth(manager.Health{Refused: true, Reason: "connection refused"})
	for i := 0; i < 3; i++ {
		if err := clock.BlockUntilContext(context.Background(), 2); err != nil {
			t.Fatal(err)
		}
		n := svc.Checks() // before the advance: the check may be over before the next line
		clock.Advance(30 * time.Second)
		waitCond(t, "a check", func() bool { return svc.Checks() > n })
	}
	for _, k := range rec.kinds() {
		if k == string(DecisionOpen) {
			t.Fatalf("notices = %v; an intended stop raised an alert", rec.kinds())
		}
	}
	if e := rec.notices[0].Event; e.What != EventActionBegun || e.Action != manager.ActionStop || e.By == nil || *e.By != alice {
		t.Errorf("announcement = %+v; want the stop by alice", e)
	}
}

// TestMonitorAutoRestart: with auto_restart on, an open alert leads to a
// restart by the bot after the backoff, announced.
func TestMonitorAutoRestart(t *testing.T) {
	svc := newMonitorService()
	_, rec, clock := startTestMonitor(t, svc, Rules{FailureThreshold: 1, AutoRestart: true, AutoRestartMax: 3, AutoRestartBackoff: 10 * time.Second})
	waitCond(t, "the first check", func() bool { return svc.Checks() == 1 })
	svc.setHealth(manager.Health{Refused: true, Reason: "connection refused"})
	svc.events <- manager.Event{Kind: manager.EventExited, Detail: "exit code 1"}
	waitCond(t, "the alert", func() bool { return len(rec.kinds()) > 0 })
	restarts := func() int {
		svc.mu.Lock()
		defer svc.mu.Unlock()
		return svc.restart
	}
	// One jump past the 10 s backoff: the next tick finds it due.
	if err := clock.BlockUntilContext(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	clock.Advance(15 * time.Second)
	waitCond(t, "an auto-restart", func() bool { return restarts() == 1 })
	if got := strings.Join(rec.kinds(), ","); !strings.Contains(got, "auto_restart") {
		t.Errorf("notices = %s; want the auto-restart announced", got)
	}
}

// TestMonitorAcknowledgeWithNoAlert: issue 8, section 4. `ack` with no open
// alert printed "nothing to acknowledge" and then "root acknowledged the
// alert": now it is refused with that one sentence, and nothing is posted.
func TestMonitorAcknowledgeWithNoAlert(t *testing.T) {
	svc := newMonitorService()
	m, rec, _ := startTestMonitor(t, svc, Rules{FailureThreshold: 1})
	waitCond(t, "the first check", func() bool { return svc.Checks() == 1 })
	err := m.Acknowledge(context.Background(), "whatsapp", manager.Actor{ID: "console:root", Name: "root"})
	if got, want := usererr.Message(err), "nothing to acknowledge: whatsapp has no open alert"; got != want {
		t.Errorf("Acknowledge = %q (%v); want %q", got, err, want)
	}
	if got, want := err.Error(), "nothing to acknowledge: whatsapp has no open alert"; got != want {
		t.Errorf("Acknowledge error = %q; want %q", got, want)
	}
	if got := rec.kinds(); len(got) != 0 {
		t.Errorf("notices = %v; want none", got)
	}
}
