package alerts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/internal/syncbuf"
	"github.com/sanasend/sanasend-bot/manager"
)

// Each test here runs monitor A, stops it, and builds monitor B on the same
// state dir (a new FileStateStore, as a new bot process would), on one fake
// clock that only moves forward.

// restartRig is one service, one state dir and one clock shared by the
// monitors of successive "bot processes".
type restartRig struct {
	t     *testing.T
	dir   string
	clock *clockwork.FakeClock
	svc   *monitorService
	rules Rules
	log   *syncbuf.Buffer
	// windows are the config's recurring maintenance windows; checks
	// receives the health checks (nil: none).
	windows []RecurringWindow
	checks  CheckRecorder
	// quiet: the scheduler's own checks and ticks never fall due (a
	// 1000h interval): the test drives every check and tick itself.
	quiet bool
	// ctx is the running monitor's context for the inputs a test gives it
	// directly; stop cancels it, ending what they began.
	ctx    context.Context
	cancel context.CancelFunc
}

func newRestartRig(t *testing.T, rules Rules) *restartRig {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	svc := newMonitorService()
	svc.setHealth(restartUp)
	return &restartRig{t: t, dir: t.TempDir(), rules: rules, svc: svc, log: &syncbuf.Buffer{},
		clock: clockwork.NewFakeClockAt(time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC))}
}

// start builds and starts a monitor on the rig's state dir, as a new bot
// process would, and waits for its first health check.
func (r *restartRig) start() (*Monitor, *recorder) {
	r.t.Helper()
	store, err := NewFileStateStore(r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	rec := &recorder{}
	interval, tickEvery := 30*time.Second, 5*time.Second
	if r.quiet {
		interval, tickEvery = 1000*time.Hour, 1000*time.Hour
	}
	m, err := NewMonitor(MonitorConfig{Interval: interval, Rules: r.rules, RestorationTimeout: time.Minute,
		TickEvery: tickEvery, Clock: r.clock, Logger: zerolog.New(r.log), Store: store,
		Windows: r.windows, WindowStore: store, Checks: r.checks}, []Service{r.svc}, rec)
	if err != nil {
		r.t.Fatal(err)
	}
	checks := r.svc.Checks()
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if err := m.Start(r.ctx); err != nil {
		r.t.Fatal(err)
	}
	cancel := r.cancel
	r.t.Cleanup(func() { cancel(); _ = m.Stop() })
	waitCond(r.t, "the first check", func() bool { return r.svc.Checks() > checks })
	// Its result reached the tracker: a healthy check (with an uptime) or
	// a failed one leaves its mark after the tracker took it.
	w := m.watched[0]
	waitCond(r.t, "the first check's result", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.lastUptime > 0 || w.sawFailure
	})
	return m, rec
}

func (r *restartRig) stop(m *Monitor) {
	r.t.Helper()
	r.cancel()
	if err := m.Stop(); err != nil {
		r.t.Errorf("stop: %v", err)
	}
}

// check runs one health check of m's service now, synchronously.
func (r *restartRig) check(m *Monitor) {
	m.check(r.ctx, m.watched[0], "test")
}

// Healthy checks carry an uptime, so that start can tell when the first
// check reached the tracker.
var (
	restartUp   = manager.Health{OK: true, StatusCode: 200, Status: "healthy", Uptime: time.Hour}
	restartDown = manager.Health{Refused: true, Reason: "connection refused"}
)

// notices returns the notices of kind k.
func (rec *recorder) of(k DecisionKind) []Notice {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []Notice
	for _, n := range rec.notices {
		if n.Kind == k {
			out = append(out, n)
		}
	}
	return out
}

func (rec *recorder) all() []Notice {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]Notice(nil), rec.notices...)
}

// openAlert makes m's service fail and waits for the alert.
func (r *restartRig) openAlert(m *Monitor, rec *recorder) Notice {
	r.t.Helper()
	r.svc.setHealth(restartDown)
	r.check(m)
	waitCond(r.t, "the alert", func() bool { return len(rec.of(DecisionOpen)) == 1 })
	return rec.of(DecisionOpen)[0]
}

// TestMonitorRestartNewOutageIsNewIncident: an outage after a restart is a
// new incident with an ID no earlier process used, so the outbox cannot
// de-duplicate it away; the incident number continues.
func TestMonitorRestartNewOutageIsNewIncident(t *testing.T) {
	r := newRestartRig(t, Rules{FailureThreshold: 1, SuccessThreshold: 1})
	a, recA := r.start()
	first := r.openAlert(a, recA)
	r.svc.setHealth(restartUp)
	r.check(a)
	waitCond(t, "the resolution", func() bool { return len(recA.of(DecisionResolve)) == 1 })
	r.stop(a)

	r.clock.Advance(time.Hour)
	b, recB := r.start()
	second := r.openAlert(b, recB)
	if got, want := second.Incident.ID, 2; got != want {
		t.Errorf("incident after the restart = %d; want %d", got, want)
	}
	if want := fmt.Sprintf("whatsapp-incident-2-%d", second.Incident.Since.UnixNano()); second.ID != want {
		t.Errorf("alert ID = %q; want %q", second.ID, want)
	}
	for _, n := range recA.all() {
		if n.ID == second.ID {
			t.Errorf("alert ID %q after the restart was used before the restart", second.ID)
		}
	}
	if first.ID == second.ID {
		t.Errorf("both alerts have ID %q", first.ID)
	}
}

// TestMonitorRestartTornStateFile: a state file that cannot be read is
// logged at error level; the bot starts with fresh state, and its first
// alert still has an ID no earlier process used.
func TestMonitorRestartTornStateFile(t *testing.T) {
	r := newRestartRig(t, Rules{FailureThreshold: 1, SuccessThreshold: 1})
	a, recA := r.start()
	first := r.openAlert(a, recA)
	r.stop(a)
	path := filepath.Join(r.dir, AlertStateFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}

	r.clock.Advance(time.Minute)
	r.svc.setHealth(restartUp)
	b, recB := r.start()
	if !strings.Contains(r.log.String(), `"level":"error"`) || !strings.Contains(r.log.String(), "alert state unreadable") {
		t.Errorf("log = %s; want the unreadable state at error level", r.log.String())
	}
	second := r.openAlert(b, recB)
	if second.ID == first.ID {
		t.Errorf("alert after a lost state file has ID %q, as the one before", second.ID)
	}
	// The torn file is replaced by the fresh state.
	st, ok, err := mustStore(t, r.dir).LoadAlertState("whatsapp")
	if err != nil || !ok || st.Incident == nil || st.Incident.Since != second.Incident.Since {
		t.Errorf("state file after the restart = %+v, %v, %v; want the new incident", st, ok, err)
	}
}

// TestMonitorRestartOpenIncidentStaysOpen: an incident open when monitor A
// stopped is open in monitor B, and its resolution refers to its own alert.
func TestMonitorRestartOpenIncidentStaysOpen(t *testing.T) {
	r := newRestartRig(t, Rules{FailureThreshold: 1, SuccessThreshold: 1})
	a, recA := r.start()
	alert := r.openAlert(a, recA)
	r.stop(a)

	r.clock.Advance(10 * time.Minute)
	b, recB := r.start()
	inc, err := b.Incident("whatsapp")
	if err != nil || !inc.Open || inc.ID != alert.Incident.ID || !inc.Since.Equal(alert.Incident.Since) {
		t.Fatalf("incident after the restart = %+v, %v; want incident %d open", inc, err, alert.Incident.ID)
	}
	if got := recB.of(DecisionOpen); len(got) != 0 {
		t.Errorf("alerts after the restart = %+v; want none: the outage is the same", got)
	}
	r.svc.setHealth(restartUp)
	r.check(b)
	waitCond(t, "the resolution", func() bool { return len(recB.of(DecisionResolve)) == 1 })
	res := recB.of(DecisionResolve)[0]
	if res.Ref != alert.ID || res.Incident == nil || res.Incident.ID != alert.Incident.ID {
		t.Errorf("resolution = ref %q, incident %+v; want ref %q", res.Ref, res.Incident, alert.ID)
	}
	if got, want := res.Event.Lasted, 10*time.Minute; got != want {
		t.Errorf("resolved after %s; want %s (from the outage's start, before the restart)", got, want)
	}
}

// TestMonitorRestartMaintenanceStillMutes: `maintenance 30m` set in A mutes
// B; its end is summarised once, with what B saw.
func TestMonitorRestartMaintenanceStillMutes(t *testing.T) {
	r := newRestartRig(t, Rules{FailureThreshold: 1, SuccessThreshold: 1})
	a, recA := r.start()
	if err := a.Maintenance(context.Background(), "whatsapp", r.clock.Now().Add(30*time.Minute), alice, "upgrade"); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "the announcement", func() bool { return len(recA.of(DecisionAnnounce)) == 1 })
	r.stop(a)

	r.clock.Advance(10 * time.Minute)
	r.svc.setHealth(restartDown)
	b, recB := r.start()
	for i := 0; i < 3; i++ {
		r.check(b)
	}
	if got := recB.all(); len(got) != 0 {
		t.Fatalf("notices during maintenance after the restart = %+v; want none", got)
	}
	until := r.clock.Now().Add(20 * time.Minute)
	r.clock.Advance(21 * time.Minute)
	b.tick(r.ctx)
	// The health job fires too: an alert after the window is right (the
	// thresholds count afresh), and may be delivered before the end's
	// notice; one about an outage that began during the window is not.
	var ended []Notice
	for _, n := range recB.all() {
		if n.Kind == DecisionOpen && n.Incident.Since.Before(until) {
			t.Errorf("alert %q for an outage from %s, during the maintenance", n.ID, n.Incident.Since)
		}
		if n.Event.What == EventMaintenanceEnded {
			ended = append(ended, n)
		}
	}
	if len(ended) != 1 {
		t.Fatalf("maintenance ends = %d; want 1", len(ended))
	}
	if s := ended[0].Event.Summary; s == nil || s.Failures < 3 || ended[0].Event.Window == nil || ended[0].Event.Window.Reason != "upgrade" {
		t.Errorf("maintenance end = %+v, summary %+v; want the window and at least 3 failed checks", ended[0].Event, s)
	}
}

// TestMonitorRestartAckAndReminder: an acknowledged incident stays
// acknowledged across a restart (no reminder, a second ack is refused); an
// unacknowledged one whose reminder fell due while the bot was down is
// reminded once at the first tick after the restart, in its own thread.
func TestMonitorRestartAckAndReminder(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ack       bool
		reminders int
	}{
		{"acknowledged", true, 0},
		{"reminder due during the downtime", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRestartRig(t, Rules{FailureThreshold: 1, SuccessThreshold: 1, RepeatInterval: 30 * time.Minute})
			a, recA := r.start()
			alert := r.openAlert(a, recA)
			if tc.ack {
				if err := a.Acknowledge(context.Background(), "whatsapp", alice); err != nil {
					t.Fatal(err)
				}
			}
			r.stop(a)

			r.clock.Advance(45 * time.Minute) // the reminder was due at +30m
			b, recB := r.start()
			b.tick(r.ctx)
			b.tick(r.ctx)
			got := recB.of(DecisionRemind)
			if len(got) != tc.reminders {
				t.Fatalf("reminders after the restart = %d; want %d", len(got), tc.reminders)
			}
			for _, n := range got {
				if n.Ref != alert.ID {
					t.Errorf("reminder ref = %q; want %q", n.Ref, alert.ID)
				}
			}
			err := b.Acknowledge(context.Background(), "whatsapp", bob)
			if tc.ack && (err == nil || !strings.Contains(err.Error(), "already acknowledged by alice")) {
				t.Errorf("second ack after the restart = %v; want already acknowledged by alice", err)
			}
			if !tc.ack && err != nil {
				t.Errorf("ack after the restart = %v; want it recorded", err)
			}
		})
	}
}

func mustStore(t *testing.T, dir string) *FileStateStore {
	t.Helper()
	s, err := NewFileStateStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFileStateStore: states survive a new store on the same dir, each
// service's apart; the file is 0600; an unreadable file is an error for
// every service, and the next save replaces it.
func TestFileStateStore(t *testing.T) {
	dir := t.TempDir()
	s := mustStore(t, dir)
	if _, ok, err := s.LoadAlertState("whatsapp"); ok || err != nil {
		t.Fatalf("load from an empty dir = %v, %v; want nothing, no error", ok, err)
	}
	since := time.Date(2026, 12, 4, 14, 0, 0, 123456789, time.UTC)
	want := TrackerState{LastID: 8, Incident: &Incident{Service: "whatsapp", ID: 8, Open: true, Since: since,
		Acked: &Ack{By: alice, At: since.Add(time.Minute)}}, RemindFrom: since}
	if err := s.SaveAlertState("whatsapp", want); err != nil {
		t.Fatal(err)
	}
	if err := mustStore(t, dir).SaveAlertState("other", TrackerState{LastID: 3}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, AlertStateFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode = %o; want 600", got)
	}
	s2 := mustStore(t, dir)
	got, ok, err := s2.LoadAlertState("whatsapp")
	if err != nil || !ok || got.LastID != 8 || got.Incident == nil || !got.Incident.Since.Equal(since) ||
		got.Incident.Acked == nil || got.Incident.Acked.By != alice {
		t.Errorf("loaded = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if got, ok, err := s2.LoadAlertState("other"); err != nil || !ok || got.LastID != 3 {
		t.Errorf("other = %+v, %v, %v; want last ID 3", got, ok, err)
	}

	if err := os.WriteFile(filepath.Join(dir, AlertStateFile), []byte(`{"version":1,"services":{"whats`), 0o600); err != nil {
		t.Fatal(err)
	}
	torn := mustStore(t, dir)
	for _, svc := range []string{"whatsapp", "other"} {
		if _, ok, err := torn.LoadAlertState(svc); err == nil || ok {
			t.Errorf("load %s from a torn file = %v, %v; want an error", svc, ok, err)
		}
	}
	if err := torn.SaveAlertState("whatsapp", TrackerState{LastID: 9}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := mustStore(t, dir).LoadAlertState("whatsapp"); err != nil || !ok || got.LastID != 9 {
		t.Errorf("after a save over a torn file = %+v, %v, %v; want last ID 9", got, ok, err)
	}
}
