package alerts

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// summaryRig is a monitor on a fake clock following a real log file and
// a real auth dir, fed the manager's events by hand.
type summaryRig struct {
	t     *testing.T
	svc   *monitorService
	m     *Monitor
	rec   *recorder
	clock *clockwork.FakeClock
	log   string
	auth  string
	// day is the date of the log lines, in local time as winston writes.
	day time.Time
}

var summaryIDs = []string{"user_12_instance_main", "user_18_instance_sales", "user_52_instance_ops"}

func newSummaryRig(t *testing.T) *summaryRig {
	t.Helper()
	dir := t.TempDir()
	r := &summaryRig{t: t, svc: newMonitorService(), log: filepath.Join(dir, "logs", "combined.log"),
		auth: filepath.Join(dir, ".wwebjs_auth"), day: time.Date(2026, 11, 28, 0, 0, 0, 0, time.Local)}
	for _, id := range summaryIDs {
		p := filepath.Join(r.auth, "session-"+id, "Default")
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "Cookies"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(r.log), 0o755); err != nil {
		t.Fatal(err)
	}
	followAppend(t, r.log, r.line("03:00:00", "info", "GET /health"))
	r.svc.cfg = manager.ServiceConfig{Name: "whatsapp", Dir: dir, LogFile: r.log, AuthDir: r.auth}
	r.svc.setStatus(manager.Status{Since: r.day.Add(3 * time.Hour), Browsers: []whatsapp.Browser{
		r.browser(summaryIDs[0], 100), r.browser(summaryIDs[1], 200)}})
	r.m, r.rec, r.clock = startMonitorWith(t, r.svc, func(c *MonitorConfig) {
		c.Rules = Rules{FailureThreshold: 5}
		c.followPoll = time.Second
	})
	return r
}

func (r *summaryRig) browser(id string, pid int32) whatsapp.Browser {
	return whatsapp.Browser{SessionID: id, UserDataDir: filepath.Join(r.auth, "session-"+id), PID: pid, PIDs: []int32{pid, pid + 1}, RSS: gib}
}

// at is a time of the log's day, "15:04:05".
func (r *summaryRig) at(hms string) time.Time {
	t, err := time.Parse(time.TimeOnly, hms)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.day.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second)
}

func (r *summaryRig) line(hms, level, msg string) string {
	return r.day.Format(time.DateOnly) + " " + hms + " " + level + ": " + msg + "\n"
}

func (r *summaryRig) write(lines ...[3]string) {
	r.t.Helper()
	for _, l := range lines {
		followAppend(r.t, r.log, r.line(l[0], l[1], l[2]))
	}
}

func (r *summaryRig) send(e manager.Event) {
	r.t.Helper()
	e.Service = "whatsapp"
	select {
	case r.svc.events <- e:
	case <-time.After(followTestWait):
		r.t.Fatal("the monitor does not take events")
	}
}

// start sends the events of a start through the bot whose auth snapshot
// has every session of summaryIDs, and writes the restoration's first
// lines: main ready, sales restoring since 03:00:10, ops not begun.
func (r *summaryRig) start() {
	r.t.Helper()
	offset := followSize(r.t, r.log)
	r.send(manager.Event{Kind: manager.EventActionBegun, Action: manager.ActionStart, Detail: "started", PID: 42,
		LogOffset: offset, At: r.clock.Now()})
	dirs, err := whatsapp.ScanAuthDirs(r.auth, "", func(int) bool { return true })
	if err != nil || len(dirs) != 3 {
		r.t.Fatalf("auth dirs: %v, %v", dirs, err)
	}
	before := whatsapp.TakeAuthSnapshot(r.at("03:00:01"), dirs)
	r.send(manager.Event{Kind: manager.EventActionEnded, Action: manager.ActionStart, OK: true, AuthBefore: &before})
	r.write(
		[3]string{"03:00:02", "info", "WhatsApp Service running on port 3000"},
		[3]string{"03:00:03", "info", "Initiating session restoration..."},
		[3]string{"03:00:03", "info", "Starting session restoration..."},
		[3]string{"03:00:03", "info", "Found 3 sessions to restore"},
		[3]string{"03:00:03", "info", "Restoring session: user_12_instance_main (main)"},
		[3]string{"03:00:09", "info", "✓ Session restored: user_12_instance_main"},
		[3]string{"03:00:10", "info", "Restoring session: user_18_instance_sales (sales)"},
		[3]string{"03:00:10", "info", "Client user_12_instance_main is ready"},
	)
}

// summaries returns the restoration summaries posted so far.
func (r *summaryRig) summaries() []Notice {
	return r.rec.of(KindRestoration)
}

// advanceUntil moves the clock 2 s at a time until cond holds.
func (r *summaryRig) advanceUntil(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(followTestWait)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		r.clock.Advance(2 * time.Second)
		time.Sleep(time.Millisecond)
	}
}

// followed reports whether no summary follows the log any more.
func (r *summaryRig) followed() bool {
	w := r.m.watched[0]
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.watches) == 0
}

func (r *summaryRig) session(rep whatsapp.SessionsReport, id string) whatsapp.SessionView {
	r.t.Helper()
	v, ok := rep.Session(id)
	if !ok {
		r.t.Fatalf("no session %s in %+v", id, rep.Sessions)
	}
	return v
}

// TestSummaryTimedOutThenLate: a restoration slower than
// restoration_timeout names each session's state (restoring since when,
// not begun from the snapshot before the start), then posts the late
// completion once, in the first summary's thread.
func TestSummaryTimedOutThenLate(t *testing.T) {
	r := newSummaryRig(t)
	r.start()
	r.advanceUntil("the timed-out summary", func() bool { return len(r.summaries()) == 1 })
	first := r.summaries()[0]
	sum := first.Restoration
	if sum == nil || !sum.Result.TimedOut || sum.Result.Completed || sum.Late || first.Ref != "" || sum.PID != 42 {
		t.Fatalf("first summary = %+v, %+v; want timed out", first, sum)
	}
	rep := sum.Sessions
	if v := r.session(rep, summaryIDs[0]); v.State != whatsapp.SessionReady || v.Browser == nil || v.Browser.PID != 100 {
		t.Errorf("main: %+v", v)
	}
	if v := r.session(rep, summaryIDs[1]); v.State != whatsapp.SessionInRestore || !v.At.Equal(r.at("03:00:10")) ||
		v.AuthBefore.State != whatsapp.AuthPresent {
		t.Errorf("sales: %+v; want restoring since 03:00:10", v)
	}
	if v := r.session(rep, summaryIDs[2]); v.State != whatsapp.SessionNotBegun || v.AuthBefore.State != whatsapp.AuthPresent {
		t.Errorf("ops: %+v; want not begun, known from the snapshot", v)
	}
	if !rep.Running || rep.Interrupted || len(rep.IdleBrowsers()) != 0 {
		t.Errorf("report: running %v, interrupted %v, idle %v", rep.Running, rep.Interrupted, rep.IdleBrowsers())
	}

	// The service goes on and completes: sales and ops fail, their
	// browsers left running.
	r.svc.setStatus(manager.Status{Since: r.day.Add(3 * time.Hour), Browsers: []whatsapp.Browser{
		r.browser(summaryIDs[0], 100), r.browser(summaryIDs[1], 200), r.browser(summaryIDs[2], 300)}})
	r.write(
		[3]string{"03:01:40", "warn", "✗ Failed to restore session user_18_instance_sales: net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/"},
		[3]string{"03:01:40", "info", "Restoring session: user_52_instance_ops (ops)"},
		[3]string{"03:01:48", "warn", "✗ Failed to restore session user_52_instance_ops: undefined"},
		[3]string{"03:01:48", "info", "Session restoration complete: 1 restored, 2 failed"},
	)
	r.advanceUntil("the late follow-up", func() bool { return len(r.summaries()) == 2 })
	late := r.summaries()[1]
	ls := late.Restoration
	if !ls.Late || late.Ref != first.ID || !ls.Result.Completed || ls.Result.TimedOut || ls.Result.Restoration.Failed != 2 || late.ID == first.ID {
		t.Fatalf("late = %+v, %+v; want the completion in the first's thread", late, ls.Result)
	}
	if v := r.session(ls.Sessions, summaryIDs[1]); v.State != whatsapp.SessionFailedState || v.CauseKind != whatsapp.CauseDNS || !v.Idle {
		t.Errorf("sales: %+v; want failed on DNS, its browser idle", v)
	}
	if idle := ls.Sessions.IdleBrowsers(); len(idle) != 2 || whatsapp.RSS(idle) != 2*gib {
		t.Errorf("idle browsers = %+v; want sales' and ops'", idle)
	}
	waitCond(t, "the end of the follow", r.followed)
	if n := len(r.summaries()); n != 2 {
		t.Errorf("%d summaries; want 2", n)
	}
	// The digest replaces the timed-out summary with the late one.
	d := r.m.history.Digest(r.clock.Now())
	if len(d.Services) != 1 || d.Services[0].Restorations != 1 || !d.Services[0].LastRestoration.Late {
		t.Errorf("digest = %+v; want one restoration, the late one", d.Services)
	}
}

// TestSummaryInterruptedByStop: a stop during the restoration posts the
// summary at once when the service is gone, not a timed-out one; the
// failure the SIGTERM caused is not blamed on the session.
func TestSummaryInterruptedByStop(t *testing.T) {
	r := newSummaryRig(t)
	r.start()
	r.advanceUntil("the follow to read the first lines", func() bool {
		w := r.m.watched[0]
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.watches) == 1
	})
	stopAt := r.at("03:00:20")
	r.send(manager.Event{Kind: manager.EventActionBegun, Action: manager.ActionStop, By: alice, At: stopAt})
	r.write([3]string{"03:00:20", "info", "Received SIGTERM, shutting down gracefully"},
		[3]string{"03:00:21", "warn", "✗ Failed to restore session user_18_instance_sales: Navigating frame was detached"})
	if n := len(r.summaries()); n != 0 {
		t.Fatalf("%d summaries before the service is gone; want none", n)
	}
	r.svc.setStatus(manager.Status{})
	r.send(manager.Event{Kind: manager.EventExited, Intended: true, At: r.at("03:00:22")})
	waitCond(t, "the summary", func() bool { return len(r.summaries()) == 1 })
	sum := r.summaries()[0].Restoration
	if sum.Result.TimedOut || sum.Result.Completed || !sum.Result.Interrupted {
		t.Errorf("result = %+v; want interrupted", sum.Result)
	}
	rep := sum.Sessions
	if !rep.Interrupted || !rep.StopBegan.Equal(stopAt) || rep.Running {
		t.Errorf("report: interrupted %v, stop began %v, running %v", rep.Interrupted, rep.StopBegan, rep.Running)
	}
	for id, want := range map[string]whatsapp.SessionState{
		summaryIDs[0]: whatsapp.SessionReady,
		summaryIDs[1]: whatsapp.SessionInterrupted, // failed after the stop began
		summaryIDs[2]: whatsapp.SessionInterrupted, // not begun
	} {
		if v := r.session(rep, id); v.State != want {
			t.Errorf("%s: %s; want %s", id, v.State, want)
		}
	}
	waitCond(t, "the end of the follow", r.followed)
	if n := len(r.summaries()); n != 1 {
		t.Errorf("%d summaries; want 1", n)
	}
}

// TestSummaryCompleteHasNoFollowUp: a restoration done in time is one
// summary, and the follow ends.
func TestSummaryCompleteHasNoFollowUp(t *testing.T) {
	r := newSummaryRig(t)
	r.start()
	r.write(
		[3]string{"03:00:15", "info", "✓ Session restored: user_18_instance_sales"},
		[3]string{"03:00:15", "info", "Restoring session: user_52_instance_ops (ops)"},
		[3]string{"03:00:16", "info", "Client user_18_instance_sales is ready"},
		[3]string{"03:00:20", "warn", "✗ Failed to restore session user_52_instance_ops: Navigation timeout of 30000 ms exceeded"},
		[3]string{"03:00:20", "info", "Session restoration complete: 2 restored, 1 failed"},
	)
	r.advanceUntil("the summary", func() bool { return len(r.summaries()) == 1 })
	sum := r.summaries()[0].Restoration
	if !sum.Result.Completed || sum.Result.TimedOut || sum.Late {
		t.Errorf("result = %+v; want completed", sum.Result)
	}
	if v := r.session(sum.Sessions, summaryIDs[2]); v.State != whatsapp.SessionFailedState || v.CauseKind != whatsapp.CauseTimeout {
		t.Errorf("ops: %+v", v)
	}
	waitCond(t, "the end of the follow", r.followed)
	r.clock.Advance(3 * time.Hour)
	if n := len(r.summaries()); n != 1 {
		t.Errorf("%d summaries; want 1", n)
	}
}

// TestSummaryLateFollowEndsOnExit: after a timed-out summary, an exit of
// the service ends the follow without a follow-up.
func TestSummaryLateFollowEndsOnExit(t *testing.T) {
	r := newSummaryRig(t)
	r.start()
	r.advanceUntil("the timed-out summary", func() bool { return len(r.summaries()) == 1 })
	r.svc.setStatus(manager.Status{})
	r.send(manager.Event{Kind: manager.EventExited, At: r.at("03:02:00"), Exit: manager.Exit{Known: true, Code: 1}})
	waitCond(t, "the end of the follow", r.followed)
	r.write([3]string{"03:02:01", "info", "Session restoration complete: 1 restored, 2 failed"})
	r.clock.Advance(time.Minute)
	if n := len(r.summaries()); n != 1 {
		t.Errorf("%d summaries; want the timed-out one only", n)
	}
}

// TestSummaryStopAtTheTimeout: a stop that begins just before
// restoration_timeout holds the summary until the service is gone: it
// reads "interrupted", not "timed out".
func TestSummaryStopAtTheTimeout(t *testing.T) {
	r := newSummaryRig(t)
	r.start()
	began := r.clock.Now()
	r.advanceUntil("50 s of the follow", func() bool { return r.clock.Since(began) >= 50*time.Second })
	r.send(manager.Event{Kind: manager.EventActionBegun, Action: manager.ActionRestart, By: alice, At: r.at("03:00:50")})
	r.advanceUntil("the timeout and more", func() bool { return r.clock.Since(began) >= 90*time.Second })
	if n := len(r.summaries()); n != 0 {
		t.Fatalf("%d summaries while the stop is under way; want none", n)
	}
	r.svc.setStatus(manager.Status{})
	r.send(manager.Event{Kind: manager.EventExited, Intended: true, At: r.at("03:00:52")})
	waitCond(t, "the summary", func() bool { return len(r.summaries()) == 1 })
	sum := r.summaries()[0].Restoration
	if sum.Result.TimedOut || !sum.Result.Interrupted || !sum.Sessions.Interrupted {
		t.Errorf("result = %+v, interrupted %v; want interrupted", sum.Result, sum.Sessions.Interrupted)
	}
	if v := r.session(sum.Sessions, summaryIDs[1]); v.State != whatsapp.SessionInterrupted {
		t.Errorf("sales: %s; want interrupted", v.State)
	}
	waitCond(t, "the end of the follow", r.followed)
}

// TestDigestIdleBrowsers: the digest names the browsers of failed sessions
// still running, from the service's Status at digest time; those of
// restored sessions are not idle.
func TestDigestIdleBrowsers(t *testing.T) {
	r := newSummaryRig(t)
	restoration := whatsapp.Restoration{Found: 3, Restored: 1, Failed: 2, Complete: true, Total: -1, StartedAt: r.at("03:00:03"),
		Sessions: []whatsapp.SessionOutcome{
			{ID: summaryIDs[0], Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady, At: r.at("03:00:09")},
			{ID: summaryIDs[1], Result: whatsapp.SessionFailed, Cause: "undefined", At: r.at("03:00:40")},
			{ID: summaryIDs[2], Result: whatsapp.SessionFailed, Cause: "undefined", At: r.at("03:01:10")},
		}}
	r.svc.setStatus(manager.Status{Since: r.day.Add(3 * time.Hour), Restoration: &restoration, Browsers: []whatsapp.Browser{
		r.browser(summaryIDs[0], 100), r.browser(summaryIDs[1], 200), r.browser(summaryIDs[2], 300)}})
	r.m.sendDigest(t.Context())
	ds := r.rec.of(KindDigest)
	if len(ds) != 1 || len(ds[0].Digest.Services) != 1 {
		t.Fatalf("digests = %+v; want one with the service", ds)
	}
	sd := ds[0].Digest.Services[0]
	var ids []string
	for _, b := range sd.IdleBrowsers {
		ids = append(ids, b.SessionID)
	}
	if sd.Service != "whatsapp" || len(ids) != 2 || ids[0] != summaryIDs[1] || ids[1] != summaryIDs[2] || whatsapp.RSS(sd.IdleBrowsers) != 2*gib {
		t.Errorf("idle browsers = %v; want sales' and ops'", ids)
	}

	// None running: nothing to say.
	r.svc.setStatus(manager.Status{Since: r.day.Add(3 * time.Hour), Restoration: &restoration, Browsers: []whatsapp.Browser{r.browser(summaryIDs[0], 100)}})
	r.m.sendDigest(t.Context())
	if ds := r.rec.of(KindDigest); len(ds) != 2 || len(ds[1].Digest.Services) > 0 && ds[1].Digest.Services[0].IdleBrowsers != nil {
		t.Errorf("second digest = %+v; want no idle browsers", ds[len(ds)-1].Digest)
	}
}
