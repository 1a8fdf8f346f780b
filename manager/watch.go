package manager

// Watching a run of the service until it exits, whether this bot process
// started it or adopted it, and publishing that exit. Its waits (pidfd,
// polls, settle) run in real time; the exit's time is read from the clock.

import (
	"context"
	"time"
)

// rootSettle is how long the rest of a process group gets to follow its
// root out: a kill of the whole group reaches its members a moment apart,
// and only what outlives this is a service still running without its root.
const rootSettle = 250 * time.Millisecond

// runRef identifies one run of the service: the process its start command
// ran as (npm), its start time (a reused PID is another process), its
// process group and the marker every process of the run carries.
type runRef struct {
	pid     int32
	created time.Time
	pgid    int32
	marker  string
}

// find returns the run's root when it is alive, and the other live
// processes of its process group that carry its marker (sh, node): the
// service runs while any of them does. Browsers live in groups of their own
// and are not counted: without node they serve nothing.
func (r runRef) find(tab *procTable) (root *procEntry, group []*procEntry) {
	if e, ok := tab.byPID[r.pid]; ok && e.created.Equal(r.created) {
		root = e
	}
	if r.pgid <= 1 || r.pgid == tab.selfPGID {
		return root, nil
	}
	for _, e := range tab.byPID {
		if e.pgid == r.pgid && e.marker == r.marker && e.pid != r.pid && !tab.self[e.pid] {
			group = append(group, e)
		}
	}
	return root, group
}

// oldest is the process of ps that started first (sh before node), the
// lowest PID on a tie.
func oldest(ps []*procEntry) *procEntry {
	var best *procEntry
	for _, e := range ps {
		if best == nil || e.created.Before(best.created) || (e.created.Equal(best.created) && e.pid < best.pid) {
			best = e
		}
	}
	return best
}

// ensureWatch starts a watcher of run r unless one follows it already or
// the Service is closed. ch is the child behind r when this bot process
// started it, for its exit status.
func (s *Service) ensureWatch(r runRef) {
	s.mu.Lock()
	if s.closed || s.watching == r.marker {
		s.mu.Unlock()
		return
	}
	s.watching = r.marker
	var ch *child
	if s.child != nil && s.child.pid == r.pid {
		ch = s.child
	}
	s.watchWG.Add(1)
	s.mu.Unlock()
	go s.watchRun(s.watchCtx, r, ch)
}

// adoptInBackground looks for a running service once, in the background,
// so that a service this bot did not start is watched from the moment
// someone listens to its events.
func (s *Service) adoptInBackground() {
	s.followChanges()
	s.watchInBackground(func() bool { return s.watching == "" }, func() {
		if _, err := s.look(s.watchCtx); err != nil && s.watchCtx.Err() == nil {
			s.log.Warn().Err(err).Msg("look for a running service to watch")
		}
	})
}

// exitTeller is a controller that knows how a main process it ran ended
// (systemd records its unit's), where the bot, not its parent, cannot.
type exitTeller interface {
	ExitOf(ctx context.Context, pid int32) Exit
}

// changeSource is a controller that says when the service's state changed
// (systemd's unit: a new main process, a restart count grown).
type changeSource interface {
	Changes(ctx context.Context) (<-chan struct{}, error)
}

// followChanges follows, once, the news of a controller that has any and
// looks again at each, so that a run the controller started by itself (a
// restart by systemd, a systemctl restart) is watched from its start, and
// its exit is an event like any other.
func (s *Service) followChanges() {
	cs, ok := s.ctl.(changeSource)
	if !ok {
		return
	}
	s.watchInBackground(func() bool {
		if s.followingChanges {
			return false
		}
		s.followingChanges = true
		return true
	}, func() {
		changes, err := cs.Changes(s.watchCtx)
		if err != nil {
			s.log.Warn().Err(err).Msg("follow the controller's news of the service: a run it starts by itself is watched from the next look")
			s.mu.Lock()
			s.followingChanges = false // tried again at the next Subscribe
			s.mu.Unlock()
			return
		}
		for range changes {
			if _, err := s.look(s.watchCtx); err != nil && s.watchCtx.Err() == nil {
				s.log.Warn().Err(err).Msg("look for the run the controller started")
			}
		}
	})
}

// watchInBackground runs f in a goroutine that Close waits for, unless the
// Service is closed or want, called with s.mu held, says no.
func (s *Service) watchInBackground(want func() bool, f func()) {
	s.mu.Lock()
	if s.closed || !want() {
		s.mu.Unlock()
		return
	}
	s.watchWG.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.watchWG.Done()
		f()
	}()
}

// watching reports the marker of the run a watcher follows, "" when none.
func (s *Service) watchedRun() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watching
}

// Close ends the watching of the service's processes (they keep running)
// and waits for it. Events stop; the other methods still work but watch
// nothing. Close is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.watchCancel()
	s.watchWG.Wait()
	return s.ctl.Close()
}

// watchRun follows run r until it is gone or the Service is closed: it
// waits for the exit of the root, then of whatever of its group outlives it,
// and publishes EventRootExited when the root goes while the group runs on,
// and EventExited when the last of the group is gone, with At the moment of
// that exit.
func (s *Service) watchRun(ctx context.Context, r runRef, ch *child) {
	defer s.watchWG.Done()
	defer func() {
		s.mu.Lock()
		if s.watching == r.marker {
			s.watching = ""
		}
		s.mu.Unlock()
	}()
	var (
		rootExit   Exit      // how the root ended, when known
		rootExited bool      // this watcher saw the root exit
		reported   bool      // EventRootExited is out
		at         time.Time // the moment of the last exit seen
	)
	for {
		tab, err := scanProcesses(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn().Err(err).Msg("watch: scan processes")
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		root, group := r.find(tab)
		if root == nil && len(group) > 0 && rootExited && !reported {
			rest := make(map[int32]time.Time, len(group))
			for _, e := range group {
				rest[e.pid] = e.created
			}
			if waitGone(ctx, rest, time.Now().Add(rootSettle)) {
				continue // the group followed its root: look again
			}
			if ctx.Err() != nil {
				return
			}
			reported = true
			s.publishExit(EventRootExited, r, at, rootExit, "")
		}
		var target *procEntry
		switch {
		case root != nil:
			target = root
		case len(group) > 0:
			target = oldest(group)
		default:
			if at.IsZero() {
				at = s.now()
			}
			exit := rootExit
			if reported {
				exit = Exit{} // the root's end was reported already; this one's is unknown
			}
			by, last := s.restartedOutside(ctx, r)
			if !exit.Known && last != nil {
				exit = *last
			}
			s.publishExit(EventExited, r, at, exit, by)
			if by != "" {
				s.followRestart(ctx)
			}
			return
		}
		if !waitExit(ctx, target.pid, target.created) {
			return
		}
		at = s.now()
		if target == root {
			rootExited = true
			rootExit = exitOf(ctx, ch)
			if et, ok := s.ctl.(exitTeller); ok && !rootExit.Known {
				rootExit = et.ExitOf(ctx, r.pid)
			}
		}
	}
}

// exitOf is the exit of the child ch once reaped, or an unknown exit when
// ch is nil (not this bot's child) or is not reaped within a second.
func exitOf(ctx context.Context, ch *child) Exit {
	if ch == nil {
		return Exit{}
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-ch.done:
		return ch.exit
	case <-t.C:
	case <-ctx.Done():
	}
	return Exit{}
}

// publishExit publishes an exit of run r. It is intended when a stop or
// restart through the bot is ending that run.
func (s *Service) publishExit(kind EventKind, r runRef, at time.Time, exit Exit, restartedBy ControllerKind) {
	s.mu.Lock()
	intended := s.stopping == r.marker ||
		(s.busy != nil && (s.busy.Action == ActionStop || s.busy.Action == ActionRestart))
	if kind == EventExited {
		// Kept with the state at its next save: a watcher writes no
		// file (it may outlive the bot's use of the state dir).
		s.persisted.ExitedAt = at
	}
	s.mu.Unlock()
	code, sig, detail := -1, "", "exit status unknown"
	if exit.Known {
		code, sig, detail = exit.Code, exit.Signal, exitText(exit.Code, exit.Signal)
	}
	if kind == EventRootExited {
		detail = "" // not an exit of the service: Kind and Exit say it all
	}
	s.log.Info().Str("event", string(kind)).Int32("pid", r.pid).Int("exit_code", code).Str("signal", exit.Signal).
		Str("child_signal", exit.ChildSignal).Bool("intended", intended).Time("at", at).Msg("service process exited")
	if intended {
		restartedBy = ""
	}
	s.events.publish(Event{Service: s.cfg.Name, Kind: kind, At: at, PID: r.pid, ExitCode: code, Signal: sig,
		Intended: intended, Exit: exit, Detail: detail, RestartedBy: restartedBy})
}

// followRestartFor bounds how long the bot looks for the new run of a
// service its controller is restarting; the next healthy check looks
// again after that (Health).
const followRestartFor = 30 * time.Second

// followRestart looks, in the background, for the run the controller
// starts after a restart outside the bot, until one is watched, so that its
// exit is seen at once too.
func (s *Service) followRestart(ctx context.Context) {
	s.watchInBackground(func() bool { return true }, func() {
		deadline := time.Now().Add(followRestartFor)
		for time.Now().Before(deadline) && sleepCtx(ctx, 100*time.Millisecond) {
			if s.watchedRun() != "" {
				return
			}
			if snap, err := s.look(ctx); err == nil && snap.root != nil {
				return // look watches it
			}
		}
	})
}

// restartWait bounds how long the exit of a controller's main process
// waits for the controller to say whether it is restarting the service.
const restartWait = 1500 * time.Millisecond

// restartedOutside asks the controller of a managed run (systemd, PM2)
// whether the exit of the run's main process is part of a restart outside
// the bot: it already runs a new main process, or it is starting the service
// again. It returns that controller (or "" for a plain exit, a stop outside
// the bot, or a run of the bot's own) and how the main process ended when
// the controller recorded it. It waits at most restartWait: a stop is known
// at once, a restart shows as the unit or app is deactivated.
func (s *Service) restartedOutside(ctx context.Context, r runRef) (ControllerKind, *Exit) {
	s.mu.Lock()
	intended := s.stopping == r.marker || s.busy != nil
	s.mu.Unlock()
	if s.proc != nil || intended {
		return "", nil
	}
	kind := s.ctl.Info().Kind
	deadline := time.Now().Add(restartWait)
	for {
		obs, err := s.ctl.Observe(ctx)
		switch {
		case err != nil:
			s.log.Warn().Err(err).Msg("ask the controller about the exit")
			return "", nil
		case obs.Restarting || obs.Running && obs.MainPID > 0 && obs.MainPID != r.pid:
			return kind, obs.LastExit
		case obs.MainPID == r.pid:
			// The controller has not noticed the exit yet (PM2
			// "stopping"): look again.
		case !obs.Running:
			return "", obs.LastExit // stopped (or failed) for good
		}
		// Still running the old main process, or being deactivated:
		// look again.
		if time.Now().After(deadline) || !sleepCtx(ctx, 50*time.Millisecond) {
			return "", obs.LastExit
		}
	}
}

// pollExit is waitExit by polling: it looks every interval whether the
// process still runs.
func pollExit(ctx context.Context, pid int32, created time.Time, every time.Duration) bool {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if !processAlive(ctx, pid, created) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
