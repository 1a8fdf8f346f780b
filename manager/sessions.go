package manager

// The service's WhatsApp sessions as package whatsapp reads them: the last
// restoration of its log (cached) and its auth dirs.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/sanasend/sanasend-bot/internal/servicefs"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// LastRestoration returns the latest session-restoration block of the log.
// It is cached by the log's size and modification time: the status card asks
// for it every time and the log only grows. The log is read as Logs reads
// it: beneath the service's dir, never a FIFO, within a deadline.
func (s *Service) LastRestoration() (whatsapp.Restoration, bool, error) {
	type found struct {
		r  whatsapp.Restoration
		ok bool
	}
	got, err := servicefs.Read(context.Background(), s.cfg.Dir, s.cfg.LogFile, logReadTimeout, func(f *os.File) (found, error) {
		fi, err := f.Stat()
		if err != nil {
			return found{}, err
		}
		s.restMu.Lock()
		defer s.restMu.Unlock()
		if s.restCache.size == fi.Size() && s.restCache.mod.Equal(fi.ModTime()) {
			return found{s.restCache.r, s.restCache.ok}, nil
		}
		r, ok, err := whatsapp.ReadRestoration(f)
		if err != nil {
			return found{}, err
		}
		s.restCache.size, s.restCache.mod, s.restCache.r, s.restCache.ok = fi.Size(), fi.ModTime(), r, ok
		return found{r, ok}, nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return whatsapp.Restoration{}, false, nil
	}
	if err != nil {
		return whatsapp.Restoration{}, false, fmt.Errorf("restoration %s: %w", s.cfg.Name, err)
	}
	return got.r, got.ok, nil
}

// restorationCache remembers the last parse of the log.
type restorationCache struct {
	size int64
	mod  time.Time
	r    whatsapp.Restoration
	ok   bool
}

// Sessions joins the last restoration with the auth dirs as they were
// before the last start (the snapshot the start took) and as they are, with
// the browsers that run (from one look at the processes) and their stale
// locks: every session accounted for (whatsapp.JoinSessions).
func (s *Service) Sessions(ctx context.Context) (whatsapp.SessionsReport, error) {
	snap, err := s.look(ctx)
	if err != nil {
		return whatsapp.SessionsReport{}, fmt.Errorf("sessions %s: %w", s.cfg.Name, err)
	}
	return s.sessionsFrom(ctx, snap, s.inspect(ctx, snap), true)
}

// authSnapshotWindow is how long before a restoration began the snapshot
// of a start may have been taken to be that start's: a restoration that
// began later was the service's own doing (it restarted itself, or was
// started by hand), and the snapshot says nothing about it.
const authSnapshotWindow = 10 * time.Minute

// sessionsFrom is Sessions on a look already taken. Without withDirs the
// auth dirs are not walked (a stop wants the idle browsers only, and they
// do not depend on the dirs): AuthNow, locks and profiles on disk are then
// unknown.
func (s *Service) sessionsFrom(ctx context.Context, snap snapshot, in inspection, withDirs bool) (whatsapp.SessionsReport, error) {
	r, ok, err := s.LastRestoration()
	if err != nil {
		return whatsapp.SessionsReport{}, err
	}
	var dirs []whatsapp.AuthDir
	if withDirs {
		if dirs, err = s.authDirs(ctx); err != nil {
			return whatsapp.SessionsReport{}, fmt.Errorf("sessions %s: %w", s.cfg.Name, err)
		}
	}
	s.mu.Lock()
	var before whatsapp.AuthSnapshot
	if s.persisted.AuthBefore != nil {
		before = *s.persisted.AuthBefore
	}
	var last *ActionRecord
	if s.persisted.LastAction != nil {
		a := *s.persisted.LastAction
		last = &a
	}
	exitedAt := s.persisted.ExitedAt
	// A stop before the current run began cannot have interrupted its
	// restoration, whose times the log gives to the second only.
	// The bot's own record of the start is precise; a process's start
	// time from the OS is within a second (boot time has whole seconds).
	var runStarted time.Time
	run := s.persisted.Run
	switch {
	case run != nil && (snap.root == nil || run.Marker == snap.run.marker):
		runStarted = run.StartedAt
	case snap.root != nil:
		runStarted = snap.run.created.Add(-time.Second)
	}
	var busy *BusyError
	if s.busy != nil {
		b := *s.busy
		busy = &b
	}
	s.mu.Unlock()
	if ok && !r.StartedAt.IsZero() && before.Taken() &&
		(before.At.After(r.StartedAt.Add(time.Second)) || r.StartedAt.Sub(before.At) > authSnapshotWindow) {
		before = whatsapp.AuthSnapshot{} // another start's
	}
	return whatsapp.JoinSessions(whatsapp.SessionsInput{
		Restoration: r, HaveRestoration: ok, Before: before, Dirs: dirs, Browsers: in.browsers,
		Running: snap.root != nil, StopBegan: stopBegan(r, runStarted, last, busy, exitedAt),
	}), nil
}

// stopBegan is when the service was last told to stop (a stop or restart
// through the bot, finished or under way) or was seen gone, whichever came
// first after the restoration began and after the run it belongs to
// started (runStarted, zero when unknown); zero when none did.
func stopBegan(r whatsapp.Restoration, runStarted time.Time, last *ActionRecord, busy *BusyError, exitedAt time.Time) time.Time {
	var cands []time.Time
	if last != nil && (last.Action == ActionStop || last.Action == ActionRestart) {
		cands = append(cands, last.At.Add(-last.Duration))
	}
	if busy != nil && (busy.Action == ActionStop || busy.Action == ActionRestart) {
		cands = append(cands, busy.Since)
	}
	cands = append(cands, exitedAt)
	if r.StartedAt.IsZero() {
		return time.Time{}
	}
	from := r.StartedAt.Truncate(time.Second)
	if runStarted.After(from) {
		from = runStarted
	}
	var best time.Time
	for _, c := range cands {
		if c.IsZero() || c.Before(from) {
			continue
		}
		if best.IsZero() || c.Before(best) {
			best = c
		}
	}
	return best
}

func (s *Service) authDirs(ctx context.Context) ([]whatsapp.AuthDir, error) {
	host, _ := os.Hostname()
	dirs, err := whatsapp.ScanServiceAuthDirs(s.cfg.Dir, s.cfg.AuthDir, host, func(pid int) bool {
		return processAlive(ctx, int32(pid), time.Time{})
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return dirs, err
}

// ErrNothingToClean is in the chain of CleanupBrowsers' error when no
// browser of an idle session runs: a usererr.Conflict. Nothing was done
// and no action is recorded.
var ErrNothingToClean = errors.New("nothing to clean")

// CleanupBrowsers ends the browsers of idle sessions (see
// whatsapp.SessionView.Idle: failed, interrupted, logged out, unlisted) and
// nothing else: never a browser of a session that is restored, ready,
// waiting for a QR scan or restoring, never a stray, never a process
// outside the service's tree. Each tree gets SIGTERM (its processes checked
// against their start times right before), the leftover grace
// (Options.LeftoverGrace), then SIGKILL. The service keeps running. It
// takes the action slot (*BusyError when another action runs) and records
// an ActionCleanup; with nothing to end it refuses with ErrNothingToClean
// and changes nothing.
func (s *Service) CleanupBrowsers(ctx context.Context, by Actor, progress func(string)) (CleanupResult, error) {
	if err := s.begin(ActionCleanup, by); err != nil {
		return CleanupResult{}, err
	}
	began := s.now()
	res, err := s.cleanup(ctx, by, progress)
	if errors.Is(err, ErrNothingToClean) {
		s.release()
		return res, err
	}
	res.Duration = s.clock.Since(began)
	s.end(ActionRecord{Action: ActionCleanup, By: by, At: s.now(), Duration: res.Duration,
		OK: err == nil && len(res.Survivors) == 0, Result: s.describeCleanup(res, err)}, nil)
	return res, err
}

func (s *Service) cleanup(ctx context.Context, by Actor, progress func(string)) (CleanupResult, error) {
	var res CleanupResult
	snap, err := s.look(ctx)
	if err != nil {
		return res, fmt.Errorf("cleanup %s: %w", s.cfg.Name, err)
	}
	in := s.inspect(ctx, snap)
	rep, err := s.sessionsFrom(ctx, snap, in, true)
	if err != nil {
		return res, fmt.Errorf("cleanup %s: %w", s.cfg.Name, err)
	}
	idle := rep.IdleBrowsers()
	for _, b := range rep.Browsers {
		if !slices.ContainsFunc(idle, func(x whatsapp.Browser) bool { return x.PID == b.PID }) {
			res.Kept = append(res.Kept, b)
		}
	}
	if len(idle) == 0 {
		return res, refuse(ErrNothingToClean, "%s: no browser of an idle session is running", s.cfg.Name)
	}
	s.events.publish(Event{Service: s.cfg.Name, Kind: EventActionBegun, At: s.now(), Action: ActionCleanup, By: by})
	s.progress(progress, ActionCleanup, by, fmt.Sprintf("ending %d browsers of idle sessions", len(idle)))
	targets := make(map[int32]time.Time)
	procs := make(map[int32]Process)
	for _, p := range in.procs {
		procs[p.PID] = p
	}
	for _, b := range idle {
		for _, pid := range b.PIDs {
			// Only members of the service, and never its main group.
			e, ok := snap.tab.byPID[pid]
			if _, member := snap.members[pid]; !ok || !member || (snap.root != nil && e.pgid == snap.run.pgid) {
				continue
			}
			targets[pid] = e.created
		}
	}
	signalEach(ctx, targets, sigTerm)
	if !waitGone(ctx, targets, time.Now().Add(s.grace)) {
		signalEach(ctx, targets, sigKill)
		waitGone(ctx, targets, time.Now().Add(2*time.Second))
	}
	res.Ended = idle
	for pid, created := range targets {
		if processAlive(ctx, pid, created) {
			res.Survivors = append(res.Survivors, procs[pid])
		}
	}
	slices.SortFunc(res.Survivors, func(a, b Process) int { return int(a.PID - b.PID) })
	if len(res.Survivors) > 0 {
		return res, fmt.Errorf("cleanup %s: %d processes survived: %s", s.cfg.Name, len(res.Survivors), describeProcesses(res.Survivors))
	}
	return res, nil
}

// describeCleanup is the action record's line of a cleanup (log text).
func (s *Service) describeCleanup(r CleanupResult, err error) string {
	if err != nil {
		return s.errorResult(err)
	}
	return fmt.Sprintf("ended %d idle browsers (%d processes) in %s", len(r.Ended), processCount(r.Ended),
		r.Duration.Round(100*time.Millisecond))
}

func processCount(bs []whatsapp.Browser) int {
	n := 0
	for _, b := range bs {
		n += b.Processes()
	}
	return n
}
