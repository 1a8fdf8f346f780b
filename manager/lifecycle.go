package manager

// Start, Stop and Restart: their preconditions, refusals and results, and the
// steps that spawn, signal and reap the service's processes.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/servicefs"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// leftoverSettle is how long processes outside the main group get to exit
// by themselves after a graceful stop before they count as leftovers.
const leftoverSettle = 2 * time.Second

// forcedLeftoverGrace is how long past stop_timeout the leftovers of a
// forced stop get (SIGTERM at the group's SIGKILL, then SIGKILL): short of
// a second, so that the rescans fit in the stop_timeout + 1 s that SPEC
// allows a forced stop.
const forcedLeftoverGrace = 800 * time.Millisecond

var (
	// ErrAlreadyRunning is in the chain of Start's error when the service
	// runs: a usererr.Conflict whose message says so with the PID and the
	// uptime ("whatsapp is already running (pid 863, up 4m12s)"). The
	// refusal records no action.
	ErrAlreadyRunning = errors.New("already running")
	// ErrAlreadyStopped is in the chain of Stop's error when no process of
	// the service runs, not even a leftover: a usererr.Conflict ("whatsapp
	// is already stopped"). The refusal does nothing and records no action.
	ErrAlreadyStopped = errors.New("already stopped")
)

// refusal is an action refused because the service already is as asked: a
// message safe to show, and the sentinel it is (errors.Is).
type refusal struct {
	safe     *usererr.Error
	sentinel error
}

func (r *refusal) Error() string   { return r.safe.Message }
func (r *refusal) Unwrap() []error { return []error{r.safe, r.sentinel} }

func refuse(sentinel error, format string, args ...any) error {
	return &refusal{safe: usererr.New(usererr.Conflict, format, args...), sentinel: sentinel}
}

// AlreadyStopped is the refusal of a stop of a stopped service
// (ErrAlreadyStopped, a usererr.Conflict): Stop returns it, and a front end
// that finds the service stopped before it asks for a confirmation answers
// with it.
func AlreadyStopped(service string) error {
	return refuse(ErrAlreadyStopped, "%s is already stopped", service)
}

// isRefusal reports whether err says the service already is as asked.
func isRefusal(err error) bool {
	return errors.Is(err, ErrAlreadyRunning) || errors.Is(err, ErrAlreadyStopped)
}

// PreconditionError lists the start preconditions that failed, each with its
// own message.
type PreconditionError struct {
	Service string
	Failed  []doctor.Check
}

func (e *PreconditionError) Error() string {
	return "start " + e.Service + ": " + e.checks()
}

// checks lists the failed checks: "port 3000: in use by pid 863 (node
// src/server.js)".
func (e *PreconditionError) checks() string {
	var b strings.Builder
	for i, c := range e.Failed {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", c.Name, c.Detail)
	}
	return b.String()
}

// StartResult says how a start went.
type StartResult struct {
	PID           int32
	Healthy       bool
	TimeToHealthy time.Duration
	LastHealth    Health
	// Exited is true when the service exited before it became healthy;
	// Exit (and ExitCode or Signal, the same facts) and OutputTail say how.
	Exited     bool
	Exit       Exit
	ExitCode   int
	Signal     string
	OutputTail []string
	// LeftoversEnded are processes of an earlier run found by their marker
	// and ended before the start.
	LeftoversEnded []Process
	// LocksRemoved are stale Chromium singleton locks removed before the
	// start; ProfilesUnlocked the sessions whose profiles they were in.
	LocksRemoved     []string
	ProfilesUnlocked []string
	// AuthBefore is the service's auth dirs as they were right before the
	// start (before Chromium could create a profile).
	AuthBefore whatsapp.AuthSnapshot
	// LogOffset is the log's size when the start began.
	LogOffset int64
	// Output says where the service's stdout and stderr go, and why not
	// to the state dir when they cannot; OutputPath is Output.Path.
	Output     OutputCapture
	OutputPath string
}

// StopResult says how a stop went.
type StopResult struct {
	WasRunning bool
	Graceful   bool // the main process group exited on SIGTERM
	Forced     bool // SIGKILL was needed for the main group
	Duration   time.Duration
	Stopped    []Process // every process that was ended
	// Leftovers are processes that outlived the main group (a Chromium of a
	// session that failed to restore, a reparented crash handler) and were
	// ended afterwards.
	Leftovers []Process
	// Survivors are processes of the service still alive after everything:
	// the stop failed.
	Survivors []Process
	// IdleEnded are the browsers of sessions that served nobody (failed,
	// interrupted, logged out) that were ended at once, alongside the
	// service's own shutdown; LeftoverBrowsers are the browsers among the
	// Leftovers. Both by session.
	IdleEnded, LeftoverBrowsers []whatsapp.Browser
	// LocksLeft are the Chromium locks that are stale after the stop (a
	// browser that had to be killed leaves them); the next start removes
	// them.
	LocksLeft []whatsapp.ChromiumLock
}

// CleanupResult says how `sessions cleanup` went: the browsers of idle
// sessions it ended, those it left (sessions in use), and any process that
// survived.
type CleanupResult struct {
	Ended     []whatsapp.Browser
	Kept      []whatsapp.Browser
	Survivors []Process
	Duration  time.Duration
}

// RestartResult combines the stop and the start of a restart.
type RestartResult struct {
	Stop  StopResult
	Start StartResult
}

// Start starts the service and waits until it is healthy, up to the start
// timeout. It refuses when the service runs or a precondition fails
// (*PreconditionError), and when another action runs (*BusyError).
func (s *Service) Start(ctx context.Context, by Actor, progress func(string)) (StartResult, error) {
	if err := s.begin(ActionStart, by); err != nil {
		return StartResult{}, err
	}
	began := s.now()
	res, err := s.start(ctx, ActionStart, by, progress)
	if isRefusal(err) {
		s.release()
		return res, err
	}
	s.end(ActionRecord{Action: ActionStart, By: by, At: s.now(), Duration: s.clock.Since(began),
		OK: err == nil && res.Healthy, Result: s.describeStart(res, err)}, authOf(res))
	return res, err
}

// Stop stops every process of the service within one budget, the stop
// timeout: SIGTERM to the main process group, and at the same moment to the
// browsers of idle sessions (failed, interrupted, logged out: the service
// never closes them; StopResult.IdleEnded); SIGKILL to the group when the
// timeout is up. After a graceful shutdown the browsers the service closes
// itself get a moment to go; then every process of the tree still alive,
// wherever it was reparented, gets SIGTERM, what remains of the budget (at
// least a second; after a forced stop, enough to end within the timeout +
// 1 s) and SIGKILL. StopResult.LocksLeft are the stale Chromium locks
// after it. When the service is stopped but
// processes of an earlier run are left, it ends them (WasRunning false);
// when nothing of it runs at all it does nothing, records no action and
// returns an error with ErrAlreadyStopped in its chain.
func (s *Service) Stop(ctx context.Context, by Actor, progress func(string)) (StopResult, error) {
	if err := s.begin(ActionStop, by); err != nil {
		return StopResult{}, err
	}
	began := s.now()
	res, err := s.stop(ctx, ActionStop, by, progress)
	if isRefusal(err) {
		s.release()
		return res, err
	}
	s.end(ActionRecord{Action: ActionStop, By: by, At: s.now(), Duration: s.clock.Since(began),
		OK: err == nil && len(res.Survivors) == 0, Result: s.describeStop(res, err)}, nil)
	return res, err
}

// Restart stops the service (if it runs) and starts it. A restart of a
// stopped service is a start; StopResult.WasRunning says so.
func (s *Service) Restart(ctx context.Context, by Actor, progress func(string)) (RestartResult, error) {
	if err := s.begin(ActionRestart, by); err != nil {
		return RestartResult{}, err
	}
	began := s.now()
	var res RestartResult
	var err error
	res.Stop, err = s.stop(ctx, ActionRestart, by, progress)
	if errors.Is(err, ErrAlreadyStopped) {
		err = nil // a restart of a stopped service is a start
	}
	if err == nil && len(res.Stop.Survivors) > 0 {
		err = fmt.Errorf("restart %s: %d processes survived the stop; not starting", s.cfg.Name, len(res.Stop.Survivors))
	}
	if err == nil {
		res.Start, err = s.start(ctx, ActionRestart, by, progress)
	}
	result := s.describeStop(res.Stop, nil) + "; " + s.describeStart(res.Start, err)
	if !res.Stop.WasRunning {
		result = "was not running; " + s.describeStart(res.Start, err)
	}
	s.end(ActionRecord{Action: ActionRestart, By: by, At: s.now(), Duration: s.clock.Since(began),
		OK: err == nil && res.Start.Healthy, Result: result}, authOf(res.Start))
	return res, err
}

// authOf is the auth snapshot a start took, nil when it took none.
func authOf(r StartResult) *whatsapp.AuthSnapshot {
	if r.AuthBefore.At.IsZero() {
		return nil
	}
	a := r.AuthBefore
	return &a
}

func (s *Service) start(ctx context.Context, a Action, by Actor, progress func(string)) (StartResult, error) {
	var res StartResult
	snap, err := s.look(ctx)
	if err != nil {
		return res, fmt.Errorf("start %s: %w", s.cfg.Name, err)
	}
	if snap.root != nil {
		return res, refuse(ErrAlreadyRunning, "%s is already running (pid %d, up %s)", s.cfg.Name,
			snap.root.pid, human.Duration(s.now().Sub(snap.run.created)))
	}
	s.progress(progress, a, by, "checking preconditions")
	env := s.serviceEnv("")
	failed := doctor.Failed(doctor.Preconditions(ctx, doctor.Env{
		Dir: s.cfg.Dir, Start: s.cfg.Start, Env: env, HostPort: s.hostPort,
		LogPath: s.cfg.LogFile, Timeout: s.cfg.HealthTimeout, Clock: s.clock,
	}))
	if s.proc == nil {
		// systemd's unit or PM2's app says what runs, not the start
		// command.
		failed = slices.DeleteFunc(failed, func(c doctor.Check) bool { return c.Name == "start command" })
	}
	if len(failed) > 0 {
		return res, &PreconditionError{Service: s.cfg.Name, Failed: failed}
	}

	// Processes left by an earlier run (a crash leaves its Chromiums) hold
	// profile locks and memory: end them first.
	if len(snap.members) > 0 {
		s.progress(progress, a, by, fmt.Sprintf("ending %d processes left by an earlier run", len(snap.members)))
		ended, survivors := s.endProcesses(ctx, snap, s.inspect(ctx, snap), time.Now().Add(s.grace))
		survivors = s.finish(ctx, survivors)
		res.LeftoversEnded = ended
		if len(survivors) > 0 {
			return res, fmt.Errorf("start %s: %d processes of an earlier run survive: %s", s.cfg.Name,
				len(survivors), describeProcesses(survivors))
		}
	}
	// One scan of the auth dirs: the stale locks go, and what the dirs
	// held before Chromium can create a profile is kept.
	unlocked, err := s.removeStaleLocks(ctx)
	if err != nil {
		return res, fmt.Errorf("start %s: %w", s.cfg.Name, err)
	}
	res.LocksRemoved, res.ProfilesUnlocked, res.AuthBefore = unlocked.removed, unlocked.profiles, unlocked.before

	res.LogOffset = fileSize(s.cfg.LogFile)
	s.progress(progress, a, by, "starting")
	out, capture, outOffset := s.openOutput()
	res.Output, res.OutputPath = capture, capture.Path
	closeOut := func() {
		if out != nil {
			out.Close()
		}
	}
	runID := newRunID()
	marker := s.key + "/" + runID
	l := Launch{Argv: s.cfg.Start, Dir: s.cfg.Dir, Env: append(env, MarkerEnv+"="+marker), Output: out, RunID: runID}
	if s.proc != nil {
		if l.Path, err = doctor.LookPathIn(s.cfg.Start[0], s.cfg.Dir, env); err != nil {
			closeOut()
			return res, fmt.Errorf("start %s: %w", s.cfg.Name, err)
		}
	}
	launched, err := s.ctl.Start(ctx, l)
	closeOut() // the child holds its own descriptor
	if err != nil {
		return res, fmt.Errorf("start %s: %w", s.cfg.Name, err)
	}
	pid := launched.PID
	res.PID = pid
	ch := &child{pid: pid, done: make(chan struct{})}
	created := processCreated(ctx, pid)
	pgid := getpgid(pid)
	if pgid <= 0 {
		pgid = pid
	}
	ref := runRef{pid: pid, created: created, pgid: pgid, marker: marker}
	if s.proc == nil {
		// systemd or PM2 ran it: no marker of the bot's, no pid file.
		ref = managedRun(s.ctl.Info().Kind, &procEntry{pid: pid, created: created, pgid: pgid})
	}
	s.mu.Lock()
	if launched.Wait != nil {
		s.child = ch
	}
	s.startedHere = true
	s.startedMarker = ref.marker
	if s.proc != nil {
		s.persisted.Run = &runRecord{PID: pid, Created: created, PGID: pgid, RunID: runID, Marker: marker, Dir: s.cfg.Dir,
			Argv: s.cfg.Start, StartedAt: s.now(), StartedBy: by, Cgroup: launched.Cgroup}
	}
	s.persisted.StoppedOnPurpose = false
	s.persisted.AuthBefore = authOf(res)
	p := s.persisted
	s.mu.Unlock()
	if err := s.state.save(p); err != nil {
		s.log.Error().Err(err).Msg("save pid file")
	}
	s.events.publish(Event{Service: s.cfg.Name, Kind: EventActionBegun, At: s.now(), Action: a, By: by,
		PID: pid, LogOffset: res.LogOffset, Detail: "started"})
	if launched.Wait != nil {
		go s.reap(launched.Wait, ch)
	} else if pid > 0 {
		// Not this bot's child: its end is seen, not reaped.
		s.watchInBackground(func() bool { return true }, func() {
			if waitExit(s.watchCtx, pid, created) {
				close(ch.done)
			}
		})
	}
	if pid > 0 {
		s.ensureWatch(ref)
	}

	s.progress(progress, a, by, fmt.Sprintf("started pid %d, waiting for health", pid))
	// The wait is bounded in real time: a fake clock could never end it.
	// How long it took is a recorded fact, read from the clock.
	began := s.now()
	deadline := time.Now().Add(s.cfg.StartTimeout)
	// Loopback health checks are cheap: ask often while the service boots,
	// so that a restart is not longer than the service's own boot by a
	// poll interval.
	wait := 20 * time.Millisecond
	pollBegan := time.Now()
	for {
		h := s.healthWithin(ctx, time.Until(deadline))
		res.LastHealth = h
		if h.OK {
			res.Healthy = true
			res.TimeToHealthy = s.clock.Since(began)
			s.progress(progress, a, by, fmt.Sprintf("healthy in %s", res.TimeToHealthy.Round(100*time.Millisecond)))
			return res, nil
		}
		if !time.Now().Before(deadline) {
			return res, fmt.Errorf("start %s: not healthy after %s (last check: %s); pid %d is still running",
				s.cfg.Name, s.cfg.StartTimeout, h.Reason, pid)
		}
		timer := time.NewTimer(min(wait, time.Until(deadline)))
		select {
		case <-ch.done:
			timer.Stop()
			res.Exited = true
			res.Exit = ch.exit
			res.ExitCode, res.Signal = ch.exit.Code, ch.exit.Signal
			if capture.Path != "" {
				res.OutputTail = tailFrom(capture.Path, outOffset, 20)
			}
			return res, fmt.Errorf("start %s: exited before it became healthy (%s)", s.cfg.Name, exitText(ch.exit.Code, ch.exit.Signal))
		case <-ctx.Done():
			timer.Stop()
			return res, fmt.Errorf("start %s: %w; pid %d is still running", s.cfg.Name, ctx.Err(), pid)
		case <-timer.C:
		}
		if time.Since(pollBegan) > 5*time.Second {
			wait = min(wait*3/2, 250*time.Millisecond)
		}
	}
}

func (s *Service) healthWithin(ctx context.Context, left time.Duration) Health {
	timeout := min(s.cfg.HealthTimeout, max(left, 100*time.Millisecond))
	return checkHealth(ctx, s.clock, s.client, s.HealthURL(), timeout)
}

// reap waits for a process this bot started and records its exit status.
// Without it the process would stay a zombie. The watcher of the run
// (watch.go) publishes the exit: npm's exit alone is not the service's.
func (s *Service) reap(wait func() Exit, ch *child) {
	ch.exit = wait()
	s.mu.Lock()
	if s.child == ch {
		s.child = nil
	}
	s.mu.Unlock()
	// Logged before done: whoever waits on done (a stop, Close) may end
	// the logger's owner, and nothing is written after.
	s.log.Debug().Int32("pid", ch.pid).Int("exit_code", ch.exit.Code).Str("signal", ch.exit.Signal).Msg("reaped")
	close(ch.done)
}

func (s *Service) stop(ctx context.Context, a Action, by Actor, progress func(string)) (StopResult, error) {
	var res StopResult
	began := s.now()
	// One budget: stop_timeout bounds the whole stop (SPEC: a forced stop
	// ends within stop_timeout + 1 s).
	t0 := time.Now()
	deadline := t0.Add(s.cfg.StopTimeout)
	snap, err := s.look(ctx)
	if err != nil {
		return res, fmt.Errorf("stop %s: %w", s.cfg.Name, err)
	}
	if len(snap.members) == 0 {
		return res, AlreadyStopped(s.cfg.Name)
	}
	res.WasRunning = snap.root != nil
	if snap.root != nil {
		s.mu.Lock()
		s.stopping = snap.run.marker // its exit is intended
		s.mu.Unlock()
	}
	s.events.publish(Event{Service: s.cfg.Name, Kind: EventActionBegun, At: s.now(), Action: a, By: by})
	// What is ended, with its command lines, read before anything goes.
	in := s.inspect(ctx, snap)
	res.Stopped = in.procs
	// The browsers of sessions that serve nobody: the service never closes
	// them, so they are ended alongside its shutdown, not waited for.
	idle := make(map[int32]time.Time)
	idleMain := make(map[int32]bool)
	if snap.root != nil {
		rep, err := s.sessionsFrom(ctx, snap, in, false)
		if err != nil {
			s.log.Warn().Err(err).Msg("stop: sessions unknown; no browser is ended early")
		}
		for _, b := range rep.IdleBrowsers() {
			res.IdleEnded = append(res.IdleEnded, b)
			idleMain[b.PID] = true
			for _, pid := range b.PIDs {
				if e, ok := snap.tab.byPID[pid]; ok && snap.members[pid] != "" && e.pgid != snap.run.pgid {
					idle[pid] = e.created
				}
			}
		}
	}
	if snap.root != nil {
		if info := s.ctl.Info(); s.proc == nil {
			s.progress(progress, a, by, fmt.Sprintf("stopping (%s stops %s)", info.Kind, info.Target))
		} else {
			s.progress(progress, a, by, fmt.Sprintf("stopping (SIGTERM to process group %d)", snap.run.pgid))
		}
		halted, err := s.stopMainGroup(ctx, snap, deadline, idle)
		if err != nil && s.proc == nil {
			// Killing a unit's or an app's processes behind systemd's
			// or PM2's back would only make them restart it.
			return res, fmt.Errorf("stop %s: %w", s.cfg.Name, err)
		}
		res.Graceful, res.Forced = halted.Graceful, halted.Forced
		killedAt := halted.KilledAt
		if res.Forced {
			// The leftovers had SIGTERM when the group had SIGKILL: they
			// are SIGKILLed early enough for the whole stop to end
			// within stop_timeout + 1 s (SPEC), with half a second at
			// least.
			deadline = maxTime(t0.Add(s.cfg.StopTimeout+forcedLeftoverGrace), killedAt.Add(500*time.Millisecond))
		}
	} else {
		deadline = time.Now().Add(max(s.cfg.StopTimeout, time.Second))
	}
	// A graceful shutdown closes the browsers of the active sessions, and
	// they take a moment to go: let them, so that only what the service
	// really left behind counts as a leftover. Idle browsers were ended
	// already; a process of no browser tree is not waited for.
	if res.Graceful {
		var trees []browserTree
		for _, b := range in.browsers {
			if !idleMain[b.PID] {
				trees = append(trees, treeOf(b, snap, in.procs))
			}
		}
		settleTrees(ctx, trees, minTime(time.Now().Add(leftoverSettle), deadline))
	}
	// Everything else of the tree: reparented helpers and the browsers the
	// service does not close on shutdown. They get what is left of the
	// budget, at least a second, then SIGKILL.
	again, err := s.look(ctx)
	if err != nil {
		return res, fmt.Errorf("stop %s: %w", s.cfg.Name, err)
	}
	if len(again.members) > 0 {
		s.progress(progress, a, by, fmt.Sprintf("ending %d leftover processes", len(again.members)))
		left := s.inspect(ctx, again)
		res.LeftoverBrowsers = left.browsers
		if !res.Forced {
			deadline = maxTime(deadline, time.Now().Add(time.Second))
		}
		res.Leftovers, res.Survivors = s.endProcesses(ctx, again, left, deadline)
	}
	res.Survivors = s.finish(ctx, res.Survivors)
	res.Duration = s.clock.Since(began)
	res.LocksLeft = s.staleLocks(ctx)
	if len(res.Survivors) > 0 {
		return res, fmt.Errorf("stop %s: %d processes survived: %s", s.cfg.Name, len(res.Survivors), describeProcesses(res.Survivors))
	}
	return res, nil
}

// browserTree is a browser's tree as the settle after a graceful shutdown
// watches it: its main process, the processes that go with it, and its
// crash handlers, which outlive it by a moment (they notice late).
type browserTree struct {
	main     int32
	created  time.Time
	rest     map[int32]time.Time
	handlers map[int32]time.Time
}

func treeOf(b whatsapp.Browser, snap snapshot, procs []Process) browserTree {
	t := browserTree{main: b.PID, created: b.Started, rest: make(map[int32]time.Time), handlers: make(map[int32]time.Time)}
	for _, p := range procs {
		if !slices.Contains(b.PIDs, p.PID) || p.PID == b.PID {
			continue
		}
		if e := snap.tab.byPID[p.PID]; e == nil || (snap.root != nil && e.pgid == snap.run.pgid) {
			continue
		}
		if p.Chromium == roleCrashpad {
			t.handlers[p.PID] = p.Started
		} else {
			t.rest[p.PID] = p.Started
		}
	}
	return t
}

// settleTrees waits until the browsers the service closes on its shutdown
// are gone, up to deadline. The crash handlers of a browser that is gone
// are told to go (SIGTERM) at once rather than waited for: they would
// exit by themselves, late.
func settleTrees(ctx context.Context, trees []browserTree, deadline time.Time) bool {
	told := make(map[int32]bool)
	for {
		alive := false
		for _, t := range trees {
			if processAlive(ctx, t.main, t.created) {
				alive = true
				continue
			}
			if !told[t.main] {
				told[t.main] = true
				signalEach(ctx, t.handlers, sigTerm)
			}
			for pid, created := range t.rest {
				if processAlive(ctx, pid, created) {
					alive = true
				}
			}
			for pid, created := range t.handlers {
				if processAlive(ctx, pid, created) {
					alive = true
				}
			}
		}
		if !alive {
			return true
		}
		if !time.Now().Before(deadline) || !sleepCtx(ctx, min(20*time.Millisecond, time.Until(deadline))) {
			return false
		}
	}
}

// staleLocks are the Chromium locks of the service's auth dirs whose
// holder is gone; none when the dirs cannot be read.
func (s *Service) staleLocks(ctx context.Context) []whatsapp.ChromiumLock {
	dirs, err := s.authDirs(ctx)
	if err != nil {
		s.log.Debug().Err(err).Msg("stale locks")
		return nil
	}
	var out []whatsapp.ChromiumLock
	for _, d := range dirs {
		for _, l := range d.Locks {
			if l.Stale {
				out = append(out, l)
			}
		}
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// stopMainGroup has the controller end the run's main part: for the
// process controller, SIGTERM to the root's process group (npm, sh, node)
// and, at the same moment, to alongside (the browsers of idle sessions),
// SIGKILL when the deadline is up; for systemd and PM2, their stop. The group
// is signalled as one only while its leader is a member of the service and
// so is every live process of the group (a marked npm, the child this bot
// started, a cgroup's member, a hand-started run's npm); otherwise its
// members, every one of them a member of the service, are signalled one by
// one.
func (s *Service) stopMainGroup(ctx context.Context, snap snapshot, deadline time.Time, alongside map[int32]time.Time) (Halted, error) {
	h := Halt{PGID: snap.run.pgid, Group: make(map[int32]time.Time), Others: make(map[int32]time.Time), Deadline: deadline}
	for pid := range snap.members {
		if e := snap.tab.byPID[pid]; e.pgid == h.PGID {
			h.Group[pid] = e.created
		} else if _, early := alongside[pid]; !early {
			h.Others[pid] = e.created
		}
	}
	h.Whole = h.PGID > 1 && h.PGID != snap.tab.selfPGID && wholeGroup(snap, h.PGID)
	signalEach(ctx, alongside, sigTerm)
	return s.ctl.Stop(ctx, h)
}

// wholeGroup reports whether process group pgid may be signalled as one:
// its leader lives and is a member, and so is every live process of the
// group (a group holds nothing else of the host's).
func wholeGroup(snap snapshot, pgid int32) bool {
	if _, ok := snap.members[pgid]; !ok {
		return false
	}
	for pid, e := range snap.tab.byPID {
		if e.pgid == pgid {
			if _, ok := snap.members[pid]; !ok {
				return false
			}
		}
	}
	return true
}

// signalEach sends sig to each process of procs that is still the process
// it was (same start time): a PID reused meanwhile is another process.
func signalEach(ctx context.Context, procs map[int32]time.Time, sig syscall.Signal) {
	for pid, created := range procs {
		if processAlive(ctx, pid, created) {
			_ = signalPID(pid, sig)
		}
	}
}

// endProcesses ends the members of snap (in describes them): SIGTERM to
// each, until deadline, then SIGKILL, and a final scan. It returns what it
// ended and what survived. Processes that appear meanwhile (a crash
// handler forking) are found by the rescan.
func (s *Service) endProcesses(ctx context.Context, snap snapshot, in inspection, deadline time.Time) (ended, survivors []Process) {
	targets := make(map[int32]time.Time)
	for _, p := range in.procs {
		if _, member := snap.members[p.PID]; member {
			targets[p.PID] = p.Started
			ended = append(ended, p)
		}
	}
	signalEach(ctx, targets, sigTerm)
	if !waitGone(ctx, targets, deadline) {
		signalEach(ctx, targets, sigKill)
		waitGone(ctx, targets, time.Now().Add(2*time.Second))
	}
	// Rescan: a process may have forked between the scan and the signals.
	for range 3 {
		again, err := s.look(ctx)
		if err != nil || len(again.members) == 0 {
			return ended, nil
		}
		left := s.liveMembers(ctx, again)
		if len(left) == 0 {
			return ended, nil
		}
		more := make(map[int32]time.Time)
		for _, p := range left {
			more[p.PID] = p.Started
			signalEach(ctx, map[int32]time.Time{p.PID: p.Started}, sigKill)
			if !slices.ContainsFunc(ended, func(q Process) bool { return q.PID == p.PID }) {
				ended = append(ended, p)
			}
		}
		if waitGone(ctx, more, time.Now().Add(2*time.Second)) {
			return ended, nil
		}
		survivors = left
	}
	return ended, survivors
}

// finish is the controller's last step of ending a tree (the process
// controller's cgroup.kill of whatever is still in the cgroup), and returns
// which of survivors are still alive after it.
func (s *Service) finish(ctx context.Context, survivors []Process) []Process {
	if err := s.ctl.Finish(ctx); err != nil {
		s.log.Warn().Err(err).Msg("the last step of the stop")
	}
	return slices.DeleteFunc(survivors, func(p Process) bool { return !processAlive(ctx, p.PID, p.Started) })
}

func (s *Service) liveMembers(ctx context.Context, snap snapshot) []Process {
	return s.inspect(ctx, snap).procs
}

// waitGonePoll is how often waitGone looks: a read of /proc/<pid>/stat per
// process, cheap enough that a stop notices an exit within this.
const waitGonePoll = 15 * time.Millisecond

// waitGone polls until every process has exited (or is a zombie) or the
// deadline passes. It reports whether all are gone. The deadline is real
// time (time.Now), not the service's clock: processes exit in real time, and
// a fake clock would never end the wait.
func waitGone(ctx context.Context, procs map[int32]time.Time, deadline time.Time) bool {
	for {
		alive := false
		for pid, created := range procs {
			if processAlive(ctx, pid, created) {
				alive = true
				break
			}
		}
		if !alive {
			return true
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return false
		}
		t := time.NewTimer(min(waitGonePoll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

func processCreated(ctx context.Context, pid int32) time.Time {
	created, _, _ := procState(ctx, pid)
	return created
}

// unlocking is what the start's one scan of the auth dirs found and did.
type unlocking struct {
	removed  []string // stale lock files removed
	profiles []string // the sessions they were in, distinct, sorted
	before   whatsapp.AuthSnapshot
}

// removeStaleLocks removes the Chromium singleton locks whose holder is
// dead, exactly those, and keeps what the auth dirs held (the snapshot
// before the start). A missing auth dir is a snapshot with no session.
func (s *Service) removeStaleLocks(ctx context.Context) (unlocking, error) {
	var u unlocking
	host, _ := os.Hostname()
	dirs, err := whatsapp.ScanServiceAuthDirs(s.cfg.Dir, s.cfg.AuthDir, host, func(pid int) bool {
		return processAlive(ctx, int32(pid), time.Time{})
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return u, fmt.Errorf("scan auth dirs: %w", err)
	}
	u.before = whatsapp.TakeAuthSnapshot(s.now(), dirs)
	u.removed, err = whatsapp.RemoveStaleLocks(dirs)
	sessionOf := make(map[string]string)
	for _, d := range dirs {
		for _, l := range d.Locks {
			sessionOf[l.Path] = d.SessionID
		}
	}
	for _, path := range u.removed {
		if id := sessionOf[path]; id != "" && !slices.Contains(u.profiles, id) {
			u.profiles = append(u.profiles, id)
		}
	}
	slices.Sort(u.profiles)
	if err != nil {
		return u, fmt.Errorf("remove stale locks: %w", err)
	}
	return u, nil
}

// serviceEnv is the environment the service gets: the bot's, minus every
// SLACK_* variable, any variable holding a configured secret, and any
// SANASEND_* variable of the bot's own, plus the configured env.
func (s *Service) serviceEnv(marker string) []string {
	env := make([]string, 0, len(s.baseEnv)+len(s.cfg.Env)+1)
	for _, kv := range s.baseEnv {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SLACK_") || strings.HasPrefix(name, "SANASEND_") {
			continue
		}
		if value != "" && slices.Contains(s.cfg.Secrets, value) {
			continue
		}
		if _, overridden := s.cfg.Env[name]; overridden {
			continue
		}
		env = append(env, kv)
	}
	for _, name := range slices.Sorted(maps.Keys(s.cfg.Env)) {
		env = append(env, name+"="+s.cfg.Env[name])
	}
	if marker != "" {
		env = append(env, MarkerEnv+"="+marker)
	}
	return env
}

// captureLimit is the size past which a capture file is rotated once
// (to name.1) at a start, so that it cannot fill the disk.
const captureLimit = 10 << 20

// minCaptureFree is the free space below which a file system counts as full
// for the capture: a service whose stdout write fails with ENOSPC may die of
// it (Node.js does), so a full disk is not a place to send its output.
const minCaptureFree = 1 << 20

// fallbackOutputName is the capture file's name beside the service's own
// log, where the output goes when the state dir cannot take it.
const fallbackOutputName = "sanasend-output.log"

// OutputCapture says where a start sends the service's stdout and stderr.
type OutputCapture struct {
	// Path is the file that captures them; "" when nothing does (they
	// are discarded).
	Path string
	// Fallback is true when the state dir could not take the capture:
	// Path is then beside the service's own log, or "".
	Fallback bool
	// Problem says why the state dir could not take it, in the system's
	// words without a path ("read-only file system", "no space left on
	// device"); "" when it could.
	Problem string
}

// openOutput opens the capture file for the service's stdout and stderr: in
// the state dir, or, when the state dir cannot take it (read-only, full,
// not writable), beside the service's own log, or nowhere. A start never
// fails for want of a capture file; the OutputCapture says where the output
// goes and why. f is nil when nothing captures it.
func (s *Service) openOutput() (f *os.File, c OutputCapture, offset int64) {
	f, err := openCaptureIn(s.output, true)
	if err == nil {
		c = OutputCapture{Path: s.output}
	} else {
		s.log.Warn().Err(err).Msg("output capture: the state dir cannot take it")
		c = OutputCapture{Fallback: true, Problem: captureProblem(err)}
		if alt := s.fallbackOutput(); alt != "" {
			if f, err = openCaptureIn(alt, false); err == nil {
				c.Path = alt
			} else {
				s.log.Warn().Err(err).Msg("output capture: not beside the service's log either; the output is discarded")
			}
		}
	}
	s.mu.Lock()
	s.capture = c.Path
	s.mu.Unlock()
	if f == nil {
		return nil, c, 0
	}
	offset, _ = f.Seek(0, io.SeekEnd)
	return f, c, offset
}

// fallbackOutput is the capture file beside the service's log, when the
// log's dir exists and is inside the service's dir once links are
// resolved; "" otherwise.
func (s *Service) fallbackOutput() string {
	if s.cfg.LogFile == "" {
		return ""
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(s.cfg.LogFile))
	if err != nil {
		return ""
	}
	root, err := filepath.EvalSymlinks(s.cfg.Dir)
	if err != nil {
		return ""
	}
	if rel, err := filepath.Rel(root, dir); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return ""
	}
	return filepath.Join(dir, fallbackOutputName)
}

// openCaptureIn opens the capture file path, rotating it once past
// captureLimit. mkdir creates its dir when missing. A file system with less
// than minCaptureFree left is refused as full (ENOSPC).
func openCaptureIn(path string, mkdir bool) (*os.File, error) {
	dir := filepath.Dir(path)
	if mkdir {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("output capture: %w", err)
		}
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() && fi.Size() > captureLimit {
		_ = os.Rename(path, path+".1")
	}
	f, err := openCaptureFile(path)
	if err != nil {
		return nil, fmt.Errorf("output capture: %w", err)
	}
	if free, ok := freeBytes(dir); ok && free < minCaptureFree {
		f.Close()
		return nil, fmt.Errorf("output capture in %s: %w (%s free)", dir, syscall.ENOSPC, human.Bytes(free))
	}
	return f, nil
}

// captureProblem is why a capture file could not be opened, without a path:
// the system's words for it, or a general one.
func captureProblem(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return "not a usable file"
}

// OutputPath is the file holding the service's captured stdout and stderr:
// where the last start of this bot process sent them ("" when nowhere), or
// the state dir's capture file before any start.
func (s *Service) OutputPath() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.capture != "" || s.startedHere {
		return s.capture
	}
	return s.output
}

func tailFrom(path string, offset int64, n int) []string {
	f, err := servicefs.Open("", path) // never a FIFO or a symlink planted there
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < offset {
		return nil
	}
	res, err := TailLines(io.NewSectionReader(f, offset, fi.Size()-offset), fi.Size()-offset,
		LogQuery{Lines: n, IncludeHealth: true})
	if err != nil {
		return nil
	}
	return res.Lines
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// exitStatus is how a reaped child ended. An exit code of 128+N from npm
// or sh means that the child it ran was killed by signal N.
func exitStatus(ps *os.ProcessState, _ error) Exit {
	if ps == nil {
		return Exit{Code: -1}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return Exit{Known: true, Code: -1, Signal: signalName(ws.Signal())}
	}
	e := Exit{Known: true, Code: ps.ExitCode()}
	e.ChildSignal = childSignal(e.Code)
	return e
}

// childSignal names signal N for an exit code 128+N, the way a shell and
// npm report a child killed by a signal; "" for any other code.
func childSignal(code int) string {
	if code <= 128 || code > 128+64 {
		return ""
	}
	return signalName(syscall.Signal(code - 128))
}

func exitText(code int, signal string) string {
	if signal != "" {
		return "killed by signal: " + signal
	}
	return fmt.Sprintf("exit code %d", code)
}

func (s *Service) describeStart(r StartResult, err error) string {
	var text string
	switch {
	case err != nil:
		text = s.errorResult(err)
	case r.Healthy:
		text = fmt.Sprintf("healthy in %s", r.TimeToHealthy.Round(100*time.Millisecond))
	default:
		text = "not healthy"
	}
	if r.PID > 0 && r.Output.Fallback {
		where := "not captured"
		if r.Output.Path != "" {
			where = "in " + r.Output.Path
		}
		text += fmt.Sprintf("; output %s (state dir: %s)", where, r.Output.Problem)
	}
	return text
}

func (s *Service) describeStop(r StopResult, err error) string {
	switch {
	case err != nil:
		return s.errorResult(err)
	case !r.WasRunning && len(r.Leftovers) > 0:
		return fmt.Sprintf("was not running; ended %d leftover processes", len(r.Leftovers))
	case !r.WasRunning:
		return "was not running"
	case r.Forced:
		return fmt.Sprintf("forced (SIGKILL) in %s", r.Duration.Round(100*time.Millisecond))
	case r.Graceful || len(r.Leftovers) > 0:
		return fmt.Sprintf("stopped gracefully in %s", r.Duration.Round(100*time.Millisecond))
	default:
		return fmt.Sprintf("stopped in %s", r.Duration.Round(100*time.Millisecond))
	}
}

// errorResult is what an action's record keeps of its error: the safe
// message of a usererr, the failed checks of a refused start, or the error
// without the "start whatsapp: " it begins with, since the record says
// which action on which service.
func (s *Service) errorResult(err error) string {
	if usererr.CodeOf(err) != usererr.Internal {
		return usererr.Message(err)
	}
	var pre *PreconditionError
	if errors.As(err, &pre) {
		return "refused: " + pre.checks()
	}
	text := err.Error()
	for _, a := range []Action{ActionStart, ActionStop, ActionRestart, ActionCleanup} {
		text = strings.TrimPrefix(text, string(a)+" "+s.cfg.Name+": ")
	}
	return text
}

func describeProcesses(ps []Process) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("pid %d (%s)", p.PID, human.CutBytes(p.Command, 60)))
	}
	return strings.Join(parts, ", ")
}
