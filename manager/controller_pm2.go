package manager

// The PM2 controller: a service that runs as a PM2 app, started and stopped
// with `pm2 start|stop <app>`, observed through `pm2 jlist` (cached), its
// tree found by PM2's pid, the app's PM2 environment and the Chromium
// profiles under the service's dir.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/internal/pm2"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// DefaultPM2Cache is how long one `pm2 jlist` answer is reused when
// PM2Config.Cache is zero.
const DefaultPM2Cache = 2 * time.Second

// pm2DefaultKillTimeout is PM2's own kill_timeout (constants.js), used when
// the app has none.
const pm2DefaultKillTimeout = 1600 * time.Millisecond

// PM2Config configures the controller of a service that runs as a PM2 app.
type PM2Config struct {
	// App is the name of the app in PM2 (pm2_app); it must name one app
	// on pm2's command line (pm2.CheckName).
	App string
	// Client runs pm2 against the app's PM2_HOME; required.
	Client *pm2.Client
	// Dir is the service's dir, absolute: the Chromium processes whose
	// profile (--user-data-dir, or a crash handler's --database) lies
	// beneath it are the service's.
	Dir string
	// Cache is how long one `pm2 jlist` answer is reused by Observe (it
	// takes about 0.3 s); zero means DefaultPM2Cache. The controller's own
	// actions drop it.
	Cache time.Duration
	// Clock measures the cache's age and dates Halted.KilledAt; nil means
	// the real clock.
	Clock  clockwork.Clock
	Logger zerolog.Logger
}

// pm2Controller controls one PM2 app. Observe reuses one jlist answer for
// cfg.Cache; Start and Stop drop it.
type pm2Controller struct {
	app    string
	client *pm2.Client
	dir    string
	home   string
	cache  time.Duration
	clock  clockwork.Clock
	log    zerolog.Logger

	// fetch admits one jlist at a time (a channel, so that a waiter
	// honours its ctx): callers that waited use the answer it stored.
	fetch chan struct{}

	mu     sync.Mutex
	gen    uint64     // bumped by every action: an answer fetched before it is stale
	answer *pm2Answer // the last answer, nil when none or dropped
	// lastPID is the app's pid in the last answer where a process of
	// PM2's ran: the process a "stopping" app whose jlist pid is already 0
	// is being stopped from.
	lastPID int

	lists atomic.Int64 // jlists run (the tests count them)
}

// pm2Answer is one `pm2 jlist` answer.
type pm2Answer struct {
	apps []pm2.App
	at   time.Time // when the jlist began: its age is counted from then
	gen  uint64
	// stoppingPID is the pid of the run PM2 is stopping when the app is
	// "stopping" with pid 0 (the controller's lastPID then), else 0.
	stoppingPID int
}

// pm2Transient reports whether app is between two states (PM2 stopping,
// launching or about to restart it): such an answer is not reused.
func pm2Transient(app pm2.App) bool {
	switch app.Status {
	case pm2.StatusStopping, pm2.StatusLaunching, pm2.StatusWaitingRestart:
		return true
	}
	return pm2CrashRestartPending(app)
}

// pm2RestartStopping reports whether app is being stopped by a `pm2
// restart`: PM2 7 (God.restartProcessId) sets created_at to the moment the
// restart began, before its stop, so that it is after pm_uptime (the
// current process's start) until the new process starts; a `pm2 stop`
// leaves created_at alone.
func pm2RestartStopping(app pm2.App) bool {
	return app.Status == pm2.StatusStopping && !app.Started.IsZero() && app.Created.After(app.Started)
}

// pm2CrashRestartPending reports whether app is "stopped" with a pid: PM2
// 7 (God.handleExit) zeroes the pid of every process it stops, and leaves
// it only on a process that exited by itself and is restarted at once
// (restart_delay 0: the status is "stopped" until the next turn of PM2's
// loop).
func pm2CrashRestartPending(app pm2.App) bool {
	return app.Status == pm2.StatusStopped && app.PID > 0
}

// NewPM2Controller validates cfg and returns the controller of its PM2 app.
// It does no I/O: a missing pm2 or an unknown app shows up in the first
// Observe or Start.
func NewPM2Controller(cfg PM2Config) (Controller, error) {
	if err := pm2.CheckName(cfg.App); err != nil {
		return nil, fmt.Errorf("pm2 controller: app %q: %w", cfg.App, err)
	}
	if cfg.Client == nil {
		return nil, errors.New("pm2 controller: a pm2 client is required")
	}
	if cfg.Dir == "" || !filepath.IsAbs(cfg.Dir) {
		return nil, fmt.Errorf("pm2 controller: the service's dir %q is not an absolute path", cfg.Dir)
	}
	if cfg.Cache < 0 {
		return nil, fmt.Errorf("pm2 controller: cache %v is negative", cfg.Cache)
	}
	c := &pm2Controller{
		app:    cfg.App,
		client: cfg.Client,
		dir:    filepath.Clean(cfg.Dir),
		home:   cfg.Client.Home(),
		cache:  cfg.Cache,
		clock:  cfg.Clock,
		log:    cfg.Logger.With().Str("pm2_app", cfg.App).Logger(),
		fetch:  make(chan struct{}, 1),
	}
	if c.cache == 0 {
		c.cache = DefaultPM2Cache
	}
	if c.clock == nil {
		c.clock = clockwork.NewRealClock()
	}
	return c, nil
}

// Info says the service is a PM2 app, its tree found as TreePM2 says.
func (c *pm2Controller) Info() ControllerInfo {
	return ControllerInfo{Kind: ControllerPM2, Target: c.app, Tree: TreePM2}
}

// Start runs `pm2 start <app>` (after pm2's check that the app is known
// and not online) and returns PM2's pid for it, from a fresh jlist. l is
// ignored: the app says what runs.
func (c *pm2Controller) Start(ctx context.Context, _ Launch) (Launched, error) {
	began := time.Now() // measured, not timed: the real clock
	err := c.client.Start(ctx, c.app)
	c.invalidate()
	if err != nil {
		return Launched{}, c.actionError(ctx, "start", err)
	}
	ans, err := c.apps(ctx)
	if err != nil {
		return Launched{}, err
	}
	app, ok := ans.find(c.app)
	if !ok {
		return Launched{}, c.unknownApp(pm2.ErrUnknownApp)
	}
	c.log.Info().Int("pid", app.PID).Str("pm2_status", string(app.Status)).
		Dur("took", time.Since(began)).Msg("pm2 start")
	return Launched{PID: int32(app.PID)}, nil
}

// Stop reads PM2's pid for the app (a fresh jlist) and runs `pm2 stop
// <app>`, which returns once PM2's tree kill is done:
// its SIGINT to the processes below PM2's pid, and its SIGKILL to those left
// after the app's kill_timeout. The stop was forced when PM2 says so in its
// log (pm2.log in the PM2_HOME: "Process with pid <pid> still alive after
// …ms, sending SIGKILL"), or, when that log cannot be read, when the stop
// took the kill_timeout or longer. PM2 decides the timing, not h.Deadline
// (a warning is logged when the deadline comes before the kill_timeout).
// Processes PM2 does not follow (browsers reparented to init, crash
// handlers) are left running: Observe's Members lists them for the bot to
// end. A stop of an app that does not run returns a zero Halted.
func (c *pm2Controller) Stop(ctx context.Context, h Halt) (Halted, error) {
	c.invalidate() // PM2's pid now, not the cache's: an autorestart may have changed it
	ans, err := c.apps(ctx)
	if err != nil {
		return Halted{}, err
	}
	app, ok := ans.find(c.app)
	if !ok {
		return Halted{}, c.unknownApp(pm2.ErrUnknownApp)
	}
	kill := app.KillTimeout
	if kill <= 0 {
		kill = pm2DefaultKillTimeout
	}
	began, measured := c.clock.Now(), time.Now()
	if !h.Deadline.IsZero() && h.Deadline.Before(began.Add(kill)) {
		c.log.Warn().Dur("kill_timeout", kill).Dur("until_deadline", h.Deadline.Sub(began)).
			Msg("pm2 stop: PM2's kill_timeout ends after the stop's deadline: PM2 waits for it")
	}
	logPath := filepath.Join(c.home, "pm2.log")
	logOff, logErr := pm2LogSize(logPath)
	err = c.client.Stop(ctx, c.app)
	c.invalidate()
	took := time.Since(measured)
	if err != nil {
		return Halted{}, c.actionError(ctx, "stop", err)
	}
	if app.PID <= 0 {
		c.log.Info().Str("pm2_status", string(app.Status)).Dur("took", took).Msg("pm2 stop: nothing ran")
		return Halted{}, nil
	}
	var forced bool
	how := "pm2.log"
	if logErr == nil {
		forced, logErr = pm2LogSaysKilled(logPath, logOff, app.PID)
	}
	if logErr != nil {
		forced, how = took >= kill, "duration"
		c.log.Debug().Err(logErr).Msg("pm2 stop: pm2.log unreadable: judging by the stop's duration")
	}
	out := Halted{Graceful: !forced, Forced: forced}
	if forced {
		// When PM2 sent its SIGKILL: kill_timeout after the stop began.
		out.KilledAt = began.Add(kill)
		if now := c.clock.Now(); now.Before(out.KilledAt) {
			out.KilledAt = now
		}
	}
	c.log.Info().Int("pid", app.PID).Dur("took", took).Dur("kill_timeout", kill).
		Bool("forced", forced).Str("judged_by", how).Msg("pm2 stop")
	return out, nil
}

func pm2LogSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// pm2LogKillLine begins the line PM2 7 logs when it SIGKILLs what is left of
// an app's tree after kill_timeout (God/Methods.js, processIsDead).
const pm2LogKillLine = "Process with pid %d still alive after"

// pm2LogSaysKilled reports whether pm2.log, from byte off on, says PM2
// SIGKILLed the tree of pid. A log rotated meanwhile (shorter than off) is
// read from its start.
func pm2LogSaysKilled(path string, off int64, pid int) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if fi.Size() < off {
		off = 0
	}
	const most = 1 << 20 // a stop logs a few lines; never read a huge log whole
	if fi.Size()-off > most {
		off = fi.Size() - most
	}
	data, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return false, err
	}
	return bytes.Contains(data, fmt.Appendf(nil, pm2LogKillLine+" ", pid)), nil
}

// Observe reports PM2's view of the app (a jlist at most every cfg.Cache,
// at every call while the app is between two states: stopping, launching,
// about to restart)
// and the app's tree, read from the process table at every call. Running
// is true for online and launching; stopping, stopped, errored (PM2 gave up
// restarting), "waiting restart" and one-launch-status are not running, and
// State says which. Restarting is true while PM2 starts the app again
// (launching, "waiting restart", the moment between a crash and its
// restart: "stopped" with a pid) or stops it for a `pm2 restart`
// (pm2RestartStopping). MainPID is PM2's pid while a process of
// PM2's runs (online, launching, stopping), and while PM2 is stopping the
// app after that process exited (its jlist pid is 0 then) the pid the
// controller last saw it run: an errored app's jlist may still name its
// last, dead pid; Since is pm_uptime while running; LastExit is the
// pm2_env.exit_code PM2 recorded when it is not 0 (PM2 records 0 for a
// process a signal killed too: then, and when there is none, nil). An unknown app is an
// error (usererr, wrapping pm2.ErrUnknownApp); a pm2 that cannot be run or
// does not answer is ErrControllerUnavailable.
func (c *pm2Controller) Observe(ctx context.Context) (Observation, error) {
	ans, err := c.apps(ctx)
	if err != nil {
		return Observation{}, err
	}
	app, ok := ans.find(c.app)
	if !ok {
		return Observation{}, c.unknownApp(pm2.ErrUnknownApp)
	}
	obs := Observation{
		Managed: true,
		Running: app.Status == pm2.StatusOnline || app.Status == pm2.StatusLaunching,
		// PM2 is starting it again: after a crash (its restart
		// policy), or a `pm2 restart` under way.
		Restarting: app.Status == pm2.StatusLaunching || app.Status == pm2.StatusWaitingRestart ||
			pm2CrashRestartPending(app) || pm2RestartStopping(app),
		Restarts: app.Restarts,
		State:    string(app.Status),
	}
	switch {
	case app.PID > 0 && (obs.Running || app.Status == pm2.StatusStopping):
		obs.MainPID = int32(app.PID)
	case app.Status == pm2.StatusStopping:
		// PM2 zeroes the pid once the process exited, and says
		// "stopping" until the rest of the tree it kills is gone: the
		// run it stops is still the one it last ran.
		obs.MainPID = int32(ans.stoppingPID)
	}
	if obs.Running {
		obs.Since = app.Started
	}
	if app.ExitCode != nil && *app.ExitCode != 0 { // PM2's 0 may be a signal's death
		obs.LastExit = &Exit{Known: true, Code: *app.ExitCode, ChildSignal: childSignal(*app.ExitCode)}
	}
	members, err := c.members(ctx, obs.MainPID)
	if err != nil {
		return Observation{}, fmt.Errorf("pm2 app %s: find its processes: %w", c.app, err)
	}
	obs.Members = members
	return obs, nil
}

// Finish does nothing: PM2 gives the app no cgroup to empty.
func (c *pm2Controller) Finish(context.Context) error { return nil }

// Close does nothing: every pm2 command is a process of its own.
func (c *pm2Controller) Close() error { return nil }

// find returns the app called name. PM2 lists one entry per instance: an
// app in cluster mode with several instances is not supported, and its
// first entry stands for it.
func (a pm2Answer) find(name string) (pm2.App, bool) {
	i := slices.IndexFunc(a.apps, func(x pm2.App) bool { return x.Name == name })
	if i < 0 {
		return pm2.App{}, false
	}
	return a.apps[i], true
}

// invalidate drops the cached answer, and makes an answer being fetched
// now stale: it began before the action that called invalidate ended.
func (c *pm2Controller) invalidate() {
	c.mu.Lock()
	c.gen++
	c.answer = nil
	c.mu.Unlock()
}

// fresh returns the cached answer while it is younger than c.cache and no
// action happened since it was fetched.
func (c *pm2Controller) fresh() (pm2Answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answer == nil || c.answer.gen != c.gen || c.clock.Since(c.answer.at) >= c.cache {
		return pm2Answer{}, false
	}
	// An answer between two states is reused by no one: PM2 is about to
	// say how it ends (a stop, or a restart).
	if app, ok := c.answer.find(c.app); ok && pm2Transient(app) {
		return pm2Answer{}, false
	}
	// An answer whose main process has exited since is stale whatever
	// its age: PM2 is restarting the app, or has stopped it, and the
	// exit's watcher asks what it is.
	if app, ok := c.answer.find(c.app); ok && app.PID > 0 && app.Status != pm2.StatusStopped &&
		app.Status != pm2.StatusErrored && !processAlive(context.Background(), int32(app.PID), time.Time{}) {
		return pm2Answer{}, false
	}
	return *c.answer, true
}

// apps returns the apps of the PM2_HOME: the cached answer while fresh,
// else one jlist, shared by the callers that wait for it.
func (c *pm2Controller) apps(ctx context.Context) (pm2Answer, error) {
	if a, ok := c.fresh(); ok {
		return a, nil
	}
	select {
	case c.fetch <- struct{}{}:
	case <-ctx.Done():
		return pm2Answer{}, fmt.Errorf("pm2 jlist: %w", ctx.Err())
	}
	defer func() { <-c.fetch }()
	if a, ok := c.fresh(); ok { // fetched while this caller waited
		return a, nil
	}
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	at, measured := c.clock.Now(), time.Now()
	c.lists.Add(1)
	apps, err := c.client.List(ctx)
	if err != nil {
		return pm2Answer{}, c.listError(ctx, err)
	}
	a := pm2Answer{apps: apps, at: at, gen: gen}
	c.mu.Lock()
	if app, ok := a.find(c.app); ok {
		switch {
		case app.PID > 0 && (app.Status == pm2.StatusOnline || app.Status == pm2.StatusLaunching || app.Status == pm2.StatusStopping):
			c.lastPID = app.PID
		case app.Status == pm2.StatusStopping:
			a.stoppingPID = c.lastPID
		}
	}
	if c.gen == gen {
		c.answer = &a
	}
	c.mu.Unlock()
	c.log.Debug().Int("apps", len(apps)).Dur("took", time.Since(measured)).Msg("pm2 jlist")
	return a, nil
}

// listError classifies a failed jlist: the caller's own cancellation as
// is, anything else as ErrControllerUnavailable (the app's state is then
// unknown, not stopped). Its message, safe to show, says what could not be
// reached; the cause (pm2's standard error, never its output) is for the
// log.
func (c *pm2Controller) listError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	cause := fmt.Errorf("%w: %w", ErrControllerUnavailable, err)
	if pm2NotRunnable(err) {
		return usererr.Wrap(cause, usererr.Unavailable,
			"the pm2 command could not be run: check the pm2 path in the service's settings (PM2 app %s)", c.app)
	}
	return usererr.Wrap(cause, usererr.Unavailable,
		"PM2 did not answer for app %s (PM2_HOME %s): its state is unknown", c.app, c.home)
}

// actionError classifies a failed pm2 start or stop.
func (c *pm2Controller) actionError(ctx context.Context, verb string, err error) error {
	switch {
	case ctx.Err() != nil:
		return err
	case errors.Is(err, pm2.ErrUnknownApp):
		return c.unknownApp(err)
	case errors.Is(err, pm2.ErrAppOnline):
		return usererr.Wrap(err, usererr.Conflict, "PM2 runs app %s already", c.app)
	case pm2NotRunnable(err) || errors.Is(err, context.DeadlineExceeded):
		return usererr.Wrap(fmt.Errorf("%w: %w", ErrControllerUnavailable, err), usererr.Unavailable,
			"pm2 %s %s could not be done: pm2 could not be run or did not answer", verb, c.app)
	}
	return usererr.Wrap(err, usererr.Unavailable, "pm2 %s %s failed; the bot's log has pm2's error", verb, c.app)
}

// unknownApp says how to register the app once, as an operator does.
func (c *pm2Controller) unknownApp(err error) error {
	return usererr.Wrap(err, usererr.NotFound,
		"PM2 (PM2_HOME %s) has no app called %s: register it once, in %s, with "+
			"`PM2_HOME=%s pm2 start <the script npm start runs> --name %s --kill-timeout 10000`, then `pm2 save`",
		c.home, c.app, c.dir, c.home, c.app)
}

// pm2NotRunnable reports whether err says the pm2 executable could not be
// started at all (missing, not executable), as opposed to pm2 failing.
func pm2NotRunnable(err error) bool {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return false
	}
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)
}

// pm2Proc is one process as the PM2 controller sees it.
type pm2Proc struct {
	pid, ppid int32
	// ident: the process carries the app's PM2 identity in its
	// environment (pm2Identity.match).
	ident bool
	// profile is a Chromium process's --user-data-dir, or a crash
	// handler's --database; "" for anything else.
	profile string
	// daemon: a PM2 daemon ("PM2 v…: God Daemon (…)"), never a member.
	daemon bool
}

// pm2Identity is what PM2 puts in the environment of the process it starts
// for an app, which every descendant that keeps its environment inherits
// (browsers and crash handlers orphaned to init included): PM2_HOME=<home>,
// name=<app>, pm_id=<id>, unique_id=<id> (pm2 7.0.4, checked on the
// stand-in's orphans). The daemon and the pm2 command carry PM2_HOME only.
type pm2Identity struct {
	home, app string
}

// match reports whether an environment's PM2_HOME, name and pm_id (hasID:
// present at all) make it the app's: the home and name must be the app's
// and pm_id present. pm_id's value and unique_id are not compared: they
// change when the app is deleted and registered again, while its old
// orphans still carry the old ones.
func (id pm2Identity) match(home, name string, hasID bool) bool {
	return hasID && name == id.app && home != "" && filepath.Clean(home) == id.home
}

// pm2Members picks the app's tree from procs: PM2's pid, the processes
// carrying the app's PM2 identity, the Chromium processes whose profile lies
// beneath one of roots, and the descendants of all these; never a PM2
// daemon, a process in self (the bot and its ancestry), or PID 1. The
// result is sorted.
func pm2Members(procs []pm2Proc, mainPID int32, roots []string, self map[int32]bool) []int32 {
	byPID := make(map[int32]*pm2Proc, len(procs))
	children := make(map[int32][]int32)
	for i := range procs {
		p := &procs[i]
		byPID[p.pid] = p
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	in := make(map[int32]bool)
	var queue []int32
	add := func(pid int32) {
		p, ok := byPID[pid]
		if !ok || in[pid] || pid <= 1 || self[pid] || p.daemon {
			return
		}
		in[pid] = true
		queue = append(queue, pid)
	}
	if mainPID > 0 {
		add(mainPID)
	}
	for _, p := range procs {
		if p.ident || (p.profile != "" && slices.ContainsFunc(roots, func(r string) bool { return pathWithin(r, p.profile) })) {
			add(p.pid)
		}
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, child := range children[pid] {
			add(child)
		}
	}
	out := make([]int32, 0, len(in))
	for pid := range in {
		out = append(out, pid)
	}
	slices.Sort(out)
	return out
}

// selfAncestry is this process and its ancestors by the parents in procs.
func selfAncestry(procs []pm2Proc) map[int32]bool {
	parent := make(map[int32]int32, len(procs))
	for _, p := range procs {
		parent[p.pid] = p.ppid
	}
	self := make(map[int32]bool)
	for pid := int32(os.Getpid()); pid > 1 && !self[pid]; {
		self[pid] = true
		pp, ok := parent[pid]
		if !ok {
			break
		}
		pid = pp
	}
	return self
}

// members reads the process table and returns the app's tree (pm2Members).
// The dir's roots are the dir as configured and with its symlinks resolved.
func (c *pm2Controller) members(ctx context.Context, mainPID int32) ([]int32, error) {
	procs, err := scanPM2Procs(ctx, pm2Identity{home: c.home, app: c.app})
	if err != nil {
		return nil, err
	}
	roots := []string{c.dir}
	if real, err := filepath.EvalSymlinks(c.dir); err == nil && real != c.dir {
		roots = append(roots, real)
	}
	return pm2Members(procs, mainPID, roots, selfAncestry(procs)), nil
}

// isPM2Daemon reports whether a command line is a PM2 daemon's title.
func isPM2Daemon(cmdline []byte) bool {
	return bytes.HasPrefix(cmdline, []byte("PM2 v")) && bytes.Contains(cmdline, []byte("God Daemon"))
}

// pm2ProfileFlags are the flags that name a Chromium profile.
var pm2ProfileFlags = [][]byte{[]byte("--user-data-dir="), []byte("--database=")}

// mayNameProfile is a quick test of a raw command line before it is split
// and parsed.
func mayNameProfile(cmdline []byte) bool {
	return slices.ContainsFunc(pm2ProfileFlags, func(f []byte) bool { return bytes.Contains(cmdline, f) })
}
