package alerts

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

// checkLog records the monitor's CheckResults.
type checkLog struct {
	mu     sync.Mutex
	checks []CheckResult
}

func (c *checkLog) RecordCheck(r CheckResult) {
	c.mu.Lock()
	c.checks = append(c.checks, r)
	c.mu.Unlock()
}

func (c *checkLog) all() []CheckResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]CheckResult(nil), c.checks...)
}

// dailyAt is a "daily HH:MM" schedule that begins at the first whole
// minute after now, in local time (the schedule's), whatever the zone.
func dailyAt(now time.Time) (every string, start time.Time) {
	start = now.In(time.Local).Truncate(time.Minute).Add(time.Minute)
	return fmt.Sprintf("daily %02d:%02d", start.Hour(), start.Minute()), start
}

func (rec *recorder) what(e EventKind) []Notice {
	var out []Notice
	for _, n := range rec.all() {
		if n.Event.What == e {
			out = append(out, n)
		}
	}
	return out
}

func (r *restartRig) restarts() int {
	r.svc.mu.Lock()
	defer r.svc.mu.Unlock()
	return r.svc.restart
}

// TestMonitorRecurringWindowMutesACrash: a crash inside a recurring window
// raises no alert, no reminder and no auto-restart; its checks count as
// maintenance; the window is announced when it begins and summarised when
// it ends (the crash, the failed checks, the state at the end); after it
// the thresholds count afresh.
func TestMonitorRecurringWindowMutesACrash(t *testing.T) {
	r := newRestartRig(t, Rules{FailureThreshold: 1, SuccessThreshold: 1, RepeatInterval: time.Minute,
		AutoRestart: true, AutoRestartBackoff: 10 * time.Second})
	every, start := dailyAt(r.clock.Now())
	checks := &checkLog{}
	r.windows = []RecurringWindow{{Every: every, Duration: 10 * time.Minute, Reason: "nightly & weekly"}}
	r.checks, r.quiet = checks, true
	m, rec := r.start()

	r.clock.Advance(start.Sub(r.clock.Now()) + time.Second)
	m.tick(r.ctx)
	waitCond(t, "the window's announcement", func() bool { return len(rec.what(EventMaintenanceOn)) == 1 })
	on := rec.what(EventMaintenanceOn)[0]
	if w := on.Event.Window; w == nil || w.Recurring != "c1" || w.Every != every || !w.Until.Equal(start.Add(10*time.Minute)) ||
		w.Reason != "nightly & weekly" || w.Restart || w.By != MaintenanceActor {
		t.Errorf("announcement window = %+v; want c1 %q until %s", w, every, start.Add(10*time.Minute))
	}

	r.svc.setHealth(restartDown)
	r.svc.events <- manager.Event{Kind: manager.EventExited, Exit: manager.Exit{Known: true, Code: 1}, Detail: "exit code 1"}
	waitCond(t, "the crash in the tracker", func() bool {
		w := m.watched[0]
		w.mu.Lock()
		defer w.mu.Unlock()
		st := w.tracker.State()
		return st.Maintenance != nil && st.Maintenance.Summary.Exits == 1
	})
	for range 5 { // reminders and auto-restarts would be due by now
		r.clock.Advance(time.Minute)
		r.check(m)
		m.tick(r.ctx)
	}
	for _, n := range rec.all() {
		if n.Kind != DecisionAnnounce || n.Event.What != EventMaintenanceOn {
			t.Errorf("notice %s %s during the window; want none", n.Kind, n.Event.What)
		}
	}
	if got := r.restarts(); got != 0 {
		t.Errorf("restarts during the window = %d; want 0", got)
	}
	var down int
	for _, c := range checks.all() {
		if c.At.Before(start) {
			continue
		}
		if !c.Maintenance || c.Window != "c1" {
			t.Errorf("check at %s = %+v; want it counted as maintenance of c1", c.At, c)
		}
		if c.State != manager.StateHealthy {
			down++
		}
	}
	if down < 5 {
		t.Errorf("failed checks recorded in the window = %d; want at least 5", down)
	}

	r.clock.Advance(start.Add(10 * time.Minute).Sub(r.clock.Now()))
	m.tick(r.ctx)
	waitCond(t, "the window's summary", func() bool { return len(rec.what(EventMaintenanceEnded)) == 1 })
	end := rec.what(EventMaintenanceEnded)[0].Event
	if s := end.Summary; s == nil || s.Exits != 1 || s.Failures < 5 || s.End != manager.StateStopped || s.Down <= 0 {
		t.Errorf("summary = %+v; want 1 exit, at least 5 failed checks, stopped at the end", s)
	}
	if end.By != nil || end.StillOpen || end.State != manager.StateStopped || end.Threshold != 1 || end.Window.Recurring != "c1" {
		t.Errorf("end = %+v; want expired, still failing, alerting after 1 check", end)
	}
	r.check(m)
	waitCond(t, "the alert after the window", func() bool { return len(rec.of(DecisionOpen)) == 1 })
	if inc := rec.of(DecisionOpen)[0].Incident; inc.Since.Before(start.Add(10 * time.Minute)) {
		t.Errorf("alert since %s; want after the window's end", inc.Since)
	}
	if n := len(rec.what(EventMaintenanceOn)); n != 1 {
		t.Errorf("announcements = %d; want 1 (the occurrence begins once)", n)
	}
}

// TestMonitorRecurringRestartOnce: restart: true restarts the service once
// per occurrence: not again at the next ticks, not again by a new monitor
// (a new bot process) on the same state store mid-window; again at the
// next occurrence.
func TestMonitorRecurringRestartOnce(t *testing.T) {
	r := newRestartRig(t, Rules{FailureThreshold: 1, SuccessThreshold: 1})
	every, start := dailyAt(r.clock.Now())
	r.windows = []RecurringWindow{{Every: every, Duration: time.Hour, Reason: "chromium memory", Restart: true,
		Services: []string{"whatsapp"}}}
	r.quiet = true
	a, recA := r.start()
	r.clock.Advance(start.Sub(r.clock.Now()) + time.Second)
	for range 3 {
		a.tick(r.ctx)
	}
	waitCond(t, "the restart", func() bool { return r.restarts() == 1 })
	if on := recA.what(EventMaintenanceOn); len(on) != 1 || !on[0].Event.Window.Restart {
		t.Fatalf("announcements = %+v; want one that says it restarts", on)
	}
	r.stop(a)

	r.clock.Advance(20 * time.Minute)
	b, recB := r.start()
	for range 3 {
		r.clock.Advance(5 * time.Second)
		b.tick(r.ctx)
	}
	if got := r.restarts(); got != 1 {
		t.Errorf("restarts after a new monitor mid-window = %d; want still 1", got)
	}
	if got := recB.what(EventMaintenanceOn); len(got) != 0 {
		t.Errorf("announcements by the new monitor = %d; want 0", len(got))
	}
	if w, on := b.watched[0].tracker.InMaintenance(r.clock.Now()); !on || w.Recurring != "c1" {
		t.Errorf("in maintenance = %+v, %v; want c1 still in force", w, on)
	}

	r.clock.Advance(start.Add(24 * time.Hour).Sub(r.clock.Now()))
	b.tick(r.ctx)
	waitCond(t, "the next occurrence's restart", func() bool { return r.restarts() == 2 })
	if got := recB.what(EventMaintenanceEnded); len(got) != 1 {
		t.Errorf("summaries = %d; want the first occurrence's", len(got))
	}
	r.stop(b)

	// Stopped on purpose: the next occurrence mutes but does not start it.
	r.svc.mu.Lock()
	r.svc.onPurp = true
	r.svc.mu.Unlock()
	c, recC := r.start()
	r.clock.Advance(start.Add(48 * time.Hour).Sub(r.clock.Now()))
	c.tick(r.ctx)
	waitCond(t, "the third occurrence", func() bool { return len(recC.what(EventMaintenanceOn)) == 1 })
	if w := recC.what(EventMaintenanceOn)[0].Event.Window; w.Restart || r.restarts() != 2 {
		t.Errorf("stopped on purpose: window %+v, restarts %d; want no restart (2)", w, r.restarts())
	}
}

// TestMonitorAddListCancelWindows: windows added by command are listed
// beside the config's with their next start, survive a new monitor on the
// same store, and are cancelled by ID; the config's are not.
func TestMonitorAddListCancelWindows(t *testing.T) {
	r := newRestartRig(t, Rules{FailureThreshold: 1})
	r.windows = []RecurringWindow{{Every: "sun 03:00", Duration: time.Hour}}
	a, _ := r.start()
	w, err := a.AddWindow(r.ctx, "whatsapp", "sat 15:00", 90*time.Minute, alice, "backup")
	if err != nil {
		t.Fatal(err)
	}
	if w.ID != "1" || w.Every != "sat 15:00" || w.By != alice || w.Config || len(w.Services) != 1 {
		t.Errorf("added = %+v", w)
	}
	for _, bad := range []struct{ every, want string }{
		{"sun 25:00", `"sun 25:00": "25:00" is not a time of day`},
		{"0 3 * *", `"0 3 * *": use a weekday`},
	} {
		_, err := a.AddWindow(r.ctx, "whatsapp", bad.every, time.Hour, alice, "")
		if got := usererr.Message(err); !strings.HasPrefix(got, bad.want) {
			t.Errorf("AddWindow(%q) = %q; want %q...", bad.every, got, bad.want)
		}
	}
	if _, err := a.AddWindow(r.ctx, "whatsapp", "daily 03:00", 25*time.Hour, alice, ""); usererr.Message(err) != `25h is not shorter than the 24h between two starts of "daily 03:00"` {
		t.Errorf("AddWindow(25h daily) = %v", err)
	}
	r.stop(a)

	b, _ := r.start()
	list := mustWindows(t, b)
	if len(list) != 2 || list[0].ID != "c1" || !list[0].Config || list[1].ID != "1" || list[1].Reason != "backup" {
		t.Fatalf("Windows() = %+v; want c1 then 1", list)
	}
	local := r.clock.Now().In(time.Local)
	if n := list[1].Next; n.Weekday() != time.Saturday || n.Hour() != 15 || !n.After(local) || n.Sub(local) > 7*24*time.Hour {
		t.Errorf("next of sat 15:00 = %s (now %s)", n, local)
	}
	if _, err := b.CancelWindow(r.ctx, "c1", alice); !strings.Contains(usererr.Message(err), "lives in the config file") {
		t.Errorf("CancelWindow(c1) = %v; want it refused", err)
	}
	if _, err := b.CancelWindow(r.ctx, "7", alice); !strings.HasPrefix(usererr.Message(err), "no maintenance window 7") {
		t.Errorf("CancelWindow(7) = %v", err)
	}
	if gone, err := b.CancelWindow(r.ctx, "1", alice); err != nil || gone.Reason != "backup" {
		t.Errorf("CancelWindow(1) = %+v, %v", gone, err)
	}
	if got := mustWindows(t, b); len(got) != 1 {
		t.Errorf("Windows() after cancel = %+v", got)
	}
	if w, err := b.AddWindow(r.ctx, "", "daily 01:00", time.Hour, alice, ""); err != nil || w.ID != "2" {
		t.Errorf("AddWindow after a cancel = %+v, %v; want ID 2", w, err)
	}
}

// TestTrackerRecurring steps the tracker: an occurrence begins once per
// start (also after State and RestoreTracker), mutes as maintenance does,
// extends a shorter window in force and leaves a longer one alone.
func TestTrackerRecurring(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	win := Window{Until: t0.Add(time.Hour), By: MaintenanceActor, Reason: "weekly", Recurring: "c1", Every: "sun 03:00", Restart: true}
	kinds := func(ds []Decision) string {
		var s []string
		for _, d := range ds {
			s = append(s, string(d.Kind)+":"+string(d.Event.What))
		}
		return strings.Join(s, ",")
	}

	tr := NewTracker("whatsapp", Rules{FailureThreshold: 1, RepeatInterval: time.Minute}, false, t0.Add(-time.Hour))
	ds, began := tr.Recurring(t0, win, t0)
	if !began || kinds(ds) != "announce:maintenance_on" || *ds[0].Event.Window != win {
		t.Fatalf("first Recurring = %s, %v; want it begun and announced with the window", kinds(ds), began)
	}
	if ds, began := tr.Recurring(t0.Add(time.Minute), win, t0); began || len(ds) != 0 {
		t.Errorf("second Recurring of the same start = %s, %v; want nothing", kinds(ds), began)
	}
	if ds := tr.Exited(t0.Add(2*time.Minute), Exit{Known: true, Code: 1}); len(ds) != 0 {
		t.Errorf("exit in the window = %s; want nothing", kinds(ds))
	}
	restored := RestoreTracker("whatsapp", Rules{FailureThreshold: 1}, tr.State(), t0.Add(3*time.Minute))
	if ds, began := restored.Recurring(t0.Add(3*time.Minute), win, t0); began || len(ds) != 0 {
		t.Errorf("Recurring after a restore = %s, %v; want nothing", kinds(ds), began)
	}
	if w, on := restored.InMaintenance(t0.Add(3 * time.Minute)); !on || w != win {
		t.Errorf("InMaintenance after a restore = %+v, %v", w, on)
	}
	ds = restored.Tick(t0.Add(time.Hour))
	if kinds(ds) != "announce:maintenance_ended" || ds[0].Event.Summary.Exits != 1 || ds[0].Event.Summary.End != manager.StateStopped {
		t.Errorf("end = %s %+v; want the summary with the exit, stopped at the end", kinds(ds), ds)
	}
	next := t0.Add(7 * 24 * time.Hour)
	win2 := win
	win2.Until = next.Add(time.Hour)
	if _, began := restored.Recurring(next, win2, next); !began {
		t.Error("next week's occurrence did not begin")
	}

	// A shorter window asked for once is extended; a longer one stays.
	for _, tc := range []struct {
		until time.Time
		want  string
	}{
		{t0.Add(10 * time.Minute), "announce:maintenance_extended"},
		{t0.Add(2 * time.Hour), ""},
	} {
		tr := NewTracker("whatsapp", Rules{}, false, t0.Add(-time.Hour))
		tr.Maintenance(t0.Add(-time.Minute), tc.until, alice, "deploy")
		ds, began := tr.Recurring(t0, win, t0)
		if !began || kinds(ds) != tc.want {
			t.Errorf("window until %s then Recurring = %s, %v; want %q", tc.until, kinds(ds), began, tc.want)
		}
	}
}

// mustWindows is m's windows; Windows' error is always nil on a monitor.
func mustWindows(t *testing.T, m *Monitor) []WindowInfo {
	t.Helper()
	ws, err := m.Windows(context.Background())
	if err != nil {
		t.Fatalf("Windows: %v", err)
	}
	return ws
}
