package alerts

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Bounds of a restoration summary's follow of the log.
const (
	// summaryStopWait is how long a summary whose follow timed out while a
	// stop of the service was under way waits for that stop to end (the
	// service's exit, or the stop's end), so that it tells what the stop
	// did rather than "timed out". stop_timeout bounds a stop; this only
	// keeps a stuck one from holding the summary forever.
	summaryStopWait = 2 * time.Minute
	// summaryStartWait bounds the wait, once the restoration is done, for
	// the end of the start that is followed: its event carries the auth
	// snapshot taken before the start (manager.Event.AuthBefore). The start
	// ends when the service is healthy, normally long before the
	// restoration is done.
	summaryStartWait = 2 * time.Minute
	// summaryLatePoll is how often the log is read while a summary that
	// timed out waits for the late completion.
	summaryLatePoll = time.Second
	// summaryStatusTimeout bounds, in real time, the Status call that
	// finds the service's browsers for a summary or the digest (a hung
	// process table does not follow a fake clock).
	summaryStatusTimeout = 15 * time.Second
)

// summaryLateFollow is how long after the start a summary that timed out
// keeps following the log for the late completion: ten restoration
// timeouts, at least 30 minutes and at most 2 hours. It ends earlier when
// the restoration is done (one follow-up is posted), when the service
// stops, exits or starts again, or when the monitor stops (nothing is
// posted then).
func summaryLateFollow(timeout time.Duration) time.Duration {
	return min(max(10*timeout, 30*time.Minute), 2*time.Hour)
}

// restorationWatch is what one restoration summary learns from the
// service's events while it follows the log. Monitor.follow feeds it
// (observe) with every event after the start it follows; the summary reads
// it.
type restorationWatch struct {
	mu sync.Mutex
	// authBefore is the auth snapshot taken before the start (nil: none
	// was, or the start was not the bot's).
	authBefore *whatsapp.AuthSnapshot
	// started is closed at the end of the start that is followed (its
	// EventActionEnded), or at once for a start done outside the bot.
	started     chan struct{}
	startedDone bool
	// stopBegan is when a stop or restart began, or when the service
	// exited unexpectedly; zero when neither happened.
	stopBegan time.Time
	// exited is true once the service exited (or started again).
	exited bool
	// over is closed when the run followed is over: the service exited,
	// started again, or a stop that began during the follow ended.
	over     chan struct{}
	overDone bool
}

// newRestorationWatch returns the watch of the start e. ours is false for a
// start done outside the bot: no event will end it.
func newRestorationWatch(e manager.Event, ours bool) *restorationWatch {
	rw := &restorationWatch{authBefore: e.AuthBefore, started: make(chan struct{}), over: make(chan struct{})}
	if !ours {
		rw.endStart()
	}
	return rw
}

func (rw *restorationWatch) endStart() {
	if !rw.startedDone {
		rw.startedDone = true
		close(rw.started)
	}
}

func (rw *restorationWatch) end() {
	if !rw.overDone {
		rw.overDone = true
		close(rw.over)
	}
}

// observe takes one event of the service, at now when the event has no
// time of its own.
func (rw *restorationWatch) observe(e manager.Event, now time.Time) {
	at := cmp.Or(e.At, now)
	rw.mu.Lock()
	defer rw.mu.Unlock()
	switch e.Kind {
	case manager.EventActionEnded:
		switch {
		case !rw.stopBegan.IsZero():
			rw.end() // the stop (or restart) that began during the follow
		case e.Action == manager.ActionStart || e.Action == manager.ActionRestart:
			if !rw.startedDone && e.AuthBefore != nil {
				b := *e.AuthBefore
				rw.authBefore = &b
			}
			rw.endStart()
		}
	case manager.EventActionBegun:
		if rw.stopBegan.IsZero() {
			rw.stopBegan = at
		}
		if e.Detail == "started" { // another start: this run is over
			rw.exited = true
			rw.end()
		}
	case manager.EventExited:
		if rw.stopBegan.IsZero() {
			rw.stopBegan = at // found gone
		}
		rw.exited = true
		rw.end()
	}
}

// facts returns what the watch knows now.
func (rw *restorationWatch) facts() (before whatsapp.AuthSnapshot, stopBegan time.Time, exited, over bool) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.authBefore != nil {
		before = *rw.authBefore
	}
	return before, rw.stopBegan, rw.exited, rw.overDone
}

// watch registers rw: from now on follow feeds it the service's events.
// w.mu is held.
func (w *watched) watchLocked(rw *restorationWatch) { w.watches = append(w.watches, rw) }

// unwatch ends the feeding of rw.
func (w *watched) unwatch(rw *restorationWatch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.watches = slices.DeleteFunc(w.watches, func(x *restorationWatch) bool { return x == rw })
}

// summarise follows the log after the start e and posts its restoration
// summary (Notice Kind KindRestoration):
//   - when the restoration is done: complete;
//   - when the service stops, exits or starts again first: at once, with
//     what the stop cut short (FollowResult.Interrupted and the sessions'
//     SessionInterrupted; a stop that began is followed to its end, so the
//     failures it caused are not blamed on the sessions);
//   - when restoration_timeout passes first: timed out, with each session's
//     state (restoring since, not begun...). The follow then goes on
//     (summaryLateFollow) and, if the service completes the restoration,
//     posts one follow-up (RestorationSummary.Late) with Ref the first
//     summary's ID, in its thread.
//
// rw is registered already; summarise unregisters it when it returns.
func (m *Monitor) summarise(ctx context.Context, w *watched, e manager.Event, rw *restorationWatch) {
	defer w.unwatch(rw)
	w.mu.Lock()
	w.lastSummary = m.clock.Now()
	w.mu.Unlock()
	cfg := w.svc.Config()
	timeout := m.cfg.RestorationTimeout
	f, err := newRestorationFollow(FollowConfig{Dir: cfg.Dir, Path: cfg.LogFile, Offset: e.LogOffset,
		Timeout: timeout, Clock: m.clock, Poll: m.cfg.followPoll})
	if err != nil {
		m.log.Error().Err(err).Str("service", w.svc.Name()).Msg("follow the restoration")
		return
	}
	defer f.close()
	began := m.clock.Now()
	res, err := f.run(ctx, began.Add(timeout), rw.over)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		m.log.Warn().Err(err).Str("service", w.svc.Name()).Msg("follow the restoration")
	}
	if _, stopBegan, _, over := rw.facts(); res.TimedOut && !stopBegan.IsZero() && !over && !f.abandoned {
		// A stop is under way: tell what it did, not "timed out".
		res, err = f.run(ctx, m.clock.Now().Add(summaryStopWait), rw.over)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			m.log.Warn().Err(err).Str("service", w.svc.Name()).Msg("follow the restoration during a stop")
		}
	}
	if !m.waitStart(ctx, rw) {
		return
	}
	first := m.postSummary(ctx, w, e, res, rw, "")
	if !res.TimedOut || f.abandoned {
		return
	}
	if _, _, _, over := rw.facts(); over {
		return
	}

	// The late follow-up: one at most, only when the service completes.
	f.cfg.Poll = max(f.cfg.Poll, summaryLatePoll)
	late, err := f.run(ctx, began.Add(summaryLateFollow(timeout)), rw.over)
	switch {
	case ctx.Err() != nil:
		return
	case err != nil:
		m.log.Warn().Err(err).Str("service", w.svc.Name()).Msg("follow the restoration after its summary")
	}
	if !late.Completed {
		m.log.Info().Str("service", w.svc.Name()).Bool("interrupted", late.Interrupted).Bool("timed_out", late.TimedOut).
			Msg("the restoration did not complete after its timed-out summary: no follow-up")
		return
	}
	m.postSummary(ctx, w, e, late, rw, first)
}

// waitStart waits, bounded by summaryStartWait on the monitor's clock, for
// the end of the start followed (its auth snapshot) or the end of the run.
// It returns false when ctx is done.
func (m *Monitor) waitStart(ctx context.Context, rw *restorationWatch) bool {
	select {
	case <-rw.started:
		return true
	case <-rw.over:
		return true
	default:
	}
	t := m.clock.NewTimer(summaryStartWait)
	defer t.Stop()
	select {
	case <-rw.started:
	case <-rw.over:
	case <-t.Chan():
	case <-ctx.Done():
		return false
	}
	return true
}

// postSummary builds and posts the summary of res; ref is the ID of the
// summary a late follow-up belongs to ("" for the first). It returns the
// notice's ID.
func (m *Monitor) postSummary(ctx context.Context, w *watched, e manager.Event, res FollowResult, rw *restorationWatch, ref string) string {
	sum := m.restorationSummary(ctx, w, res, rw)
	sum.PID, sum.Late = e.PID, ref != ""
	w.mu.Lock()
	w.seq++
	seq := w.seq
	w.mu.Unlock()
	m.history.Restoration(m.clock.Now(), w.svc.Name(), sum) // digest hook
	id := fmt.Sprintf("%s-restoration-%d-%d", w.svc.Name(), e.At.UnixNano(), seq)
	if ref != "" {
		id += "-late"
	}
	n := Notice{ID: id, Ref: ref, Service: w.svc.Name(), Kind: KindRestoration, Restoration: sum,
		Event: Event{What: EventRestoration, Service: w.svc.Name(), At: m.clock.Now()}}
	if err := m.notifier.Notify(n); err != nil {
		m.log.Error().Err(err).Str("service", w.svc.Name()).Msg("notify restoration")
	}
	return id
}

// restorationSummary joins what the follow saw with the auth snapshot
// taken before the start, the auth dirs now and the service's browsers
// (whatsapp.JoinSessions).
func (m *Monitor) restorationSummary(ctx context.Context, w *watched, res FollowResult, rw *restorationWatch) *RestorationSummary {
	before, stopBegan, exited, _ := rw.facts()
	if before.Taken() {
		w.mu.Lock()
		w.lastBefore = &before
		w.mu.Unlock()
	}
	st, running := m.status(ctx, w)
	return &RestorationSummary{Result: res, Sessions: whatsapp.JoinSessions(whatsapp.SessionsInput{
		Restoration: res.Restoration, HaveRestoration: true, Before: before, Dirs: m.authDirs(w),
		Browsers: st.Browsers, Running: running && !exited, StopBegan: stopBegan,
	})}
}

// status asks the service's status within summaryStatusTimeout; running
// is whether its main processes run (true when that cannot be told).
func (m *Monitor) status(ctx context.Context, w *watched) (manager.Status, bool) {
	ctx, cancel := context.WithTimeout(ctx, summaryStatusTimeout)
	defer cancel()
	st, err := w.svc.Status(ctx)
	if err != nil {
		m.log.Warn().Err(err).Str("service", w.svc.Name()).Msg("status for the sessions")
		return manager.Status{}, true
	}
	return st, !st.Since.IsZero()
}

// authDirs lists the service's auth dirs now; none when that fails (logged:
// a missing auth dir is no failure, nothing was saved yet).
func (m *Monitor) authDirs(w *watched) []whatsapp.AuthDir {
	cfg := w.svc.Config()
	dirs, err := whatsapp.ScanServiceAuthDirs(cfg.Dir, cfg.AuthDir, "", func(int) bool { return true })
	if err != nil && len(dirs) == 0 {
		m.log.Debug().Err(err).Str("service", w.svc.Name()).Msg("auth dirs")
	}
	return dirs
}
