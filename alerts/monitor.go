package alerts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Service is what the monitor needs of a supervised service.
// *manager.Service implements it.
type Service interface {
	Name() string
	Health(ctx context.Context) manager.Health
	Subscribe(buffer int) (<-chan manager.Event, func())
	StoppedOnPurpose() bool
	Restart(ctx context.Context, by manager.Actor, progress func(string)) (manager.RestartResult, error)
	Config() manager.ServiceConfig
	// Status is asked for the service's browsers and memory: by each
	// restoration summary and digest, and after each health check when a
	// memory limit is set.
	Status(ctx context.Context) (manager.Status, error)
}

var _ Service = (*manager.Service)(nil)

// Notice is one message of the monitor, as facts: a new alert (Kind
// DecisionOpen), something about an open or just resolved alert (Ref set:
// a reply in its thread and an edit of it), or a message of its own
// (an announcement, a restoration summary, a digest). How it is worded and
// where it goes (the Slack outbox, the console) is the Notifier's business.
type Notice struct {
	// ID is unique and stable: the alert of incident N of a service is
	// "<service>-incident-N-<its Since in Unix ns>" (alertID). Ref is the
	// ID of the alert a notice about an incident belongs to; "" for a new
	// alert and for messages of their own.
	ID, Ref string
	Service string
	Kind    DecisionKind
	// Event is what happened.
	Event Event
	// Incident is set for notices about an incident: as it is after Event.
	Incident *Incident
	// Restoration is set for a restoration summary.
	Restoration *RestorationSummary
	// Digest is set for the daily and the weekly digest.
	Digest *Digest
	// Weekly is set for the weekly digest (KindWeeklyDigest): the facts
	// of its charts.
	Weekly *Weekly
	// Host is set for a notice of the fleet's hub about an agent: its
	// heartbeat stopped (DecisionOpen) or came back (DecisionResolve, Ref
	// the open notice's ID). Service is then "".
	Host *HostPresence
	// From is the host whose agent observed this notice, in a fleet; ""
	// on one host. The hub's front end names it beside the service.
	From string
}

// HostPresence is what the hub knows of an agent that stopped or resumed
// sending heartbeats.
type HostPresence struct {
	Host string
	// LastSeen is the last heartbeat before the silence.
	LastSeen time.Time
	// Timeout is fleet.agent_timeout, the silence that opened the alert.
	Timeout time.Duration
	// Back is when the agent was heard again; zero while it is silent.
	Back time.Time
}

// Notifier delivers notices.
type Notifier interface {
	Notify(n Notice) error
}

// MonitorConfig configures the monitor.
type MonitorConfig struct {
	Interval           time.Duration // between health checks
	Rules              Rules
	RestorationTimeout time.Duration
	// TickEvery is how often reminders, maintenance ends and auto-restarts
	// are looked at; 0 means 5 s.
	TickEvery time.Duration
	Clock     clockwork.Clock
	Logger    zerolog.Logger
	// DigestAt is the local time ("HH:MM") of the daily digest; "" = none.
	DigestAt string
	// DigestSource, when set, is what the digests summarise (the history
	// database: it outlives the bot); nil, or when it fails (logged), the
	// digest is of what the monitor saw since it started.
	DigestSource DigestSource
	// WeeklyDigestAt is the weekday and local time of the weekly digest
	// ("mon 09:00", see ParseWeeklyAt); "" = none.
	WeeklyDigestAt string
	// Reports, when set, gives the weekly digest the services' reports by
	// day for its charts; nil: no charts.
	Reports ReportSource
	// Store keeps the alert state across bot processes (monitorstate.go);
	// nil keeps it in memory only.
	Store StateStore
	// MemoryLimit (monitor.memory_limit) is the most resident memory the
	// service's whole tree may use, in bytes; SessionMemoryLimit
	// (monitor.session_memory_limit) the most one session's browser tree
	// may use. Above either, a health check fails (see Tracker.HealthMemory).
	// 0 means no limit.
	MemoryLimit, SessionMemoryLimit uint64

	// Windows are the recurring maintenance windows of the config
	// (maintenance:); their IDs and Config are set by NewMonitor.
	Windows []RecurringWindow
	// WindowStore keeps the windows added by commands (AddWindow); nil
	// keeps them in memory only.
	WindowStore WindowStore
	// Checks, when set, receives every health check as the monitor judged
	// it, with whether a maintenance window was in force.
	Checks CheckRecorder

	// followPoll is how often a restoration summary reads the log; 0 means
	// FollowConfig's default. Tests set it.
	followPoll time.Duration
}

// Monitor watches services: a health check every interval on a gocron
// scheduler (singleton mode: a slow check never overlaps the next), an
// immediate check when the service exits, the alert rules of
// a Tracker per service, and a restoration summary after every start.
type Monitor struct {
	cfg      MonitorConfig
	notifier Notifier
	log      zerolog.Logger
	clock    clockwork.Clock
	watched  []*watched
	history  *History // for the daily digest (digest.go)

	sched  gocron.Scheduler
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// The recurring maintenance windows (recurring.go): the config's, and
	// those added by commands, under winMu.
	cfgWindows []recurringWindow
	winMu      sync.Mutex
	added      []recurringWindow
	lastAdded  int
}

// CheckResult is one health check as the monitor judged it: a fact for
// the history.
type CheckResult struct {
	Service string
	At      time.Time
	State   manager.State
	Reason  string
	// Memory is the memory limit crossed, if any (the check then counts as
	// failed).
	Memory *MemoryBreach
	// Maintenance is set when a maintenance window was in force: the time
	// counts as maintenance, not downtime.
	Maintenance bool
	// Window is the ID of the recurring window in force ("" for none or
	// one asked for once).
	Window string
}

// CheckRecorder receives every health check (MonitorConfig.Checks). It is
// called on the monitor's goroutines and must not block.
type CheckRecorder interface {
	RecordCheck(c CheckResult)
}

// watched is one service under watch.
type watched struct {
	svc Service
	job gocron.Job

	mu      sync.Mutex // guards tracker and what follows: the tracker is not concurrent
	tracker *Tracker
	seq     int // notice sequence number
	// saved is the tracker state last saved to the Store, as JSON.
	saved []byte
	// For starts done outside the bot: the uptime of the last healthy
	// check (0 after a failure), whether a failure was seen since, and
	// when the last restoration summary began.
	lastUptime  time.Duration
	sawFailure  bool
	lastSummary time.Time
	// watches are the restoration summaries following the log now: the
	// service's events are fed to them (restorationWatch.observe).
	watches []*restorationWatch
	// lastBefore is the auth snapshot of the latest start the bot did, for
	// the digest's idle browsers; nil until a summary learnt one.
	lastBefore *whatsapp.AuthSnapshot
}

// NewMonitor validates its configuration; it starts nothing.
func NewMonitor(cfg MonitorConfig, services []Service, n Notifier) (*Monitor, error) {
	if cfg.Interval < time.Second {
		return nil, fmt.Errorf("new monitor: interval %s is under 1s", cfg.Interval)
	}
	if n == nil {
		return nil, errors.New("new monitor: a notifier is required")
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = 5 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	m := &Monitor{cfg: cfg, notifier: n, log: cfg.Logger, clock: cfg.Clock}
	// Digest hook: the history it summarises; a bad DigestAt fails early.
	m.history = NewHistory(cfg.Clock.Now, cfg.Interval)
	if cfg.DigestAt != "" {
		if _, _, err := digestParse(cfg.DigestAt); err != nil {
			return nil, fmt.Errorf("new monitor: %w", err)
		}
	}
	if cfg.WeeklyDigestAt != "" {
		if _, _, _, err := ParseWeeklyAt(cfg.WeeklyDigestAt); err != nil {
			return nil, fmt.Errorf("new monitor: %w", err)
		}
	}
	ws, err := configWindows(cfg.Windows)
	if err != nil {
		return nil, fmt.Errorf("new monitor: %w", err)
	}
	m.cfgWindows = ws
	for _, s := range services {
		m.watched = append(m.watched, &watched{svc: s,
			tracker: NewTracker(s.Name(), cfg.Rules, s.StoppedOnPurpose(), cfg.Clock.Now())})
	}
	return m, nil
}

// Start schedules the health checks and follows the services' events. It
// returns once everything is scheduled.
func (m *Monitor) Start(ctx context.Context) error {
	m.loadStates()
	m.loadWindows()
	sched, err := gocron.NewScheduler(gocron.WithClock(m.clock), gocron.WithLocation(time.Local))
	if err != nil {
		return fmt.Errorf("start monitor: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	m.sched, m.cancel = sched, cancel
	for _, w := range m.watched {
		w := w
		j, err := sched.NewJob(gocron.DurationJob(m.cfg.Interval),
			gocron.NewTask(func() { m.check(ctx, w, "poll") }),
			gocron.WithName("health "+w.svc.Name()),
			gocron.WithSingletonMode(gocron.LimitModeReschedule),
			gocron.WithStartAt(gocron.WithStartImmediately()))
		if err != nil {
			cancel()
			return fmt.Errorf("start monitor: schedule %s: %w", w.svc.Name(), err)
		}
		w.job = j
		events, unsubscribe := w.svc.Subscribe(64)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer unsubscribe()
			m.follow(ctx, w, events)
		}()
	}
	if _, err := sched.NewJob(gocron.DurationJob(m.cfg.TickEvery), gocron.NewTask(func() { m.tick(ctx) }),
		gocron.WithName("tick"), gocron.WithSingletonMode(gocron.LimitModeReschedule)); err != nil {
		cancel()
		return fmt.Errorf("start monitor: schedule tick: %w", err)
	}
	if err := m.scheduleDigest(ctx, sched); err != nil { // digest hook
		cancel()
		return fmt.Errorf("start monitor: schedule digest: %w", err)
	}
	if err := m.scheduleWeekly(ctx, sched); err != nil {
		cancel()
		return fmt.Errorf("start monitor: schedule weekly digest: %w", err)
	}
	sched.Start()
	return nil
}

// Stop ends the schedule and waits for every goroutine of the monitor.
func (m *Monitor) Stop() error {
	if m.cancel == nil {
		return nil
	}
	m.cancel()
	err := m.sched.Shutdown()
	m.wg.Wait()
	return err
}

// check asks one service's health and feeds the result to its tracker.
// With a memory limit set it asks the service's Status too, for the
// memory of the tree and of each browser.
func (m *Monitor) check(ctx context.Context, w *watched, why string) {
	h, breach := m.health(ctx, w)
	if ctx.Err() != nil {
		return
	}
	state := h.State()
	ev := m.log.Debug().Str("service", w.svc.Name()).Str("why", why).Str("state", string(state)).Str("reason", h.Reason)
	if breach != nil {
		ev = ev.Uint64("memory_limit", breach.Limit).Uint64("memory_used", breach.Used).Str("memory_session", breach.Session)
	}
	ev.Msg("health")
	now := m.clock.Now()
	// A memory breach counts as down in the digest, as in the tracker.
	m.history.Check(w.svc.Name(), now, state == manager.StateHealthy && breach == nil) // digest hook
	w.mu.Lock()
	ds := w.tracker.HealthMemory(now, state, h.Reason, h.Uptime, breach)
	win, inMaint := w.tracker.InMaintenance(now)
	m.saveLocked(w)
	detected := w.detectedStartLocked(now, h)
	var rw *restorationWatch
	if detected {
		rw = newRestorationWatch(manager.Event{}, false)
		w.watchLocked(rw)
	}
	w.mu.Unlock()
	if m.cfg.Checks != nil {
		m.cfg.Checks.RecordCheck(CheckResult{Service: w.svc.Name(), At: now, State: state, Reason: h.Reason,
			Memory: breach.clone(), Maintenance: inMaint, Window: win.Recurring})
	}
	m.act(ctx, w, ds)
	if detected {
		// A start done outside the bot: its sessions deserve a summary
		// too. Its offset in the log is unknown; the parser keeps the
		// latest block, so reading the last MiB finds it.
		offset := max(0, fileSize(w.svc.Config().LogFile)-detectedStartLookBack)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.summarise(ctx, w, manager.Event{Service: w.svc.Name(), Kind: manager.EventActionBegun, At: now, LogOffset: offset}, rw)
		}()
	}
}

// health checks the service's health and, with a memory limit set, asks
// its Status for the memory of the tree and of each browser: the limit it
// crossed, if any. The health check stays its own call (its timeout, its
// metrics); when the Status cannot be had, no limit is judged.
func (m *Monitor) health(ctx context.Context, w *watched) (manager.Health, *MemoryBreach) {
	h := w.svc.Health(ctx)
	if m.cfg.MemoryLimit == 0 && m.cfg.SessionMemoryLimit == 0 || ctx.Err() != nil {
		return h, nil
	}
	st, err := w.svc.Status(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn().Err(err).Str("service", w.svc.Name()).Msg("status for the memory limits")
		}
		return h, nil
	}
	return h, memoryBreach(st, m.cfg.MemoryLimit, m.cfg.SessionMemoryLimit)
}

// memoryTop is how many browsers a MemoryBreach names.
const memoryTop = 3

// memoryBreach compares the tree's RSS and each session's browser's with
// the limits (0: none). The whole tree over its limit is the breach even
// when a session is over its own too (it is the larger fact; the session
// is then first in Top). A browser whose profile is no session's (a
// stray) counts in the whole tree only. nil when nothing is over.
func memoryBreach(st manager.Status, limit, sessionLimit uint64) *MemoryBreach {
	bs := slices.Clone(st.Browsers)
	slices.SortStableFunc(bs, func(a, b whatsapp.Browser) int { return cmp.Compare(b.RSS, a.RSS) })
	top := bs[:min(len(bs), memoryTop)]
	if limit > 0 && st.RSS > limit {
		return (&MemoryBreach{Limit: limit, Used: st.RSS, Top: top}).clone()
	}
	if sessionLimit == 0 {
		return nil
	}
	for _, b := range bs {
		if b.RSS <= sessionLimit {
			break // sorted: none heavier follows
		}
		if b.SessionID != "" {
			return (&MemoryBreach{Limit: sessionLimit, Used: b.RSS, Session: b.SessionID, Top: top}).clone()
		}
	}
	return nil
}

// detectedStartLookBack is how much of the log a summary of a start done
// outside the bot reads back.
const detectedStartLookBack = 1 << 20

// detectedStartLocked reports whether a healthy check shows a start the bot
// did not do: the service's uptime went backwards, or it came back after
// failing checks; and no summary began around that start.
func (w *watched) detectedStartLocked(now time.Time, h manager.Health) bool {
	if !h.OK || h.Uptime <= 0 {
		w.lastUptime, w.sawFailure = 0, w.sawFailure || !h.OK
		return false
	}
	wentBack := w.lastUptime > 0 && h.Uptime+5*time.Second < w.lastUptime
	cameBack := w.sawFailure
	w.lastUptime, w.sawFailure = h.Uptime, false
	// The service's uptime starts when node does, a moment after the bot
	// spawned npm and began its own summary: a summary begun up to a
	// minute before is this start's.
	startedAt := now.Add(-h.Uptime)
	return (wentBack || cameBack) && w.lastSummary.Before(startedAt.Add(-time.Minute))
}

// follow turns the service's events into tracker inputs: an unexpected
// exit alerts at once (and a health check runs now), actions through the
// bot are intent, and every start is followed by a restoration summary.
func (m *Monitor) follow(ctx context.Context, w *watched, events <-chan manager.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			now := m.clock.Now()
			var ds []Decision
			var rw *restorationWatch
			started := e // the start a summary follows
			w.mu.Lock()
			for _, x := range w.watches {
				x.observe(e, now)
			}
			if e.Kind == manager.EventActionBegun && e.Detail == "started" {
				// Registered before the next event is read: the
				// summary misses none of its start's.
				rw = newRestorationWatch(e, true)
				w.watchLocked(rw)
			}
			switch e.Kind {
			case manager.EventExited:
				switch {
				case e.Intended:
				case e.RestartedBy != "":
					ds = w.tracker.RestartedOutside(cmp.Or(e.At, now), e.RestartedBy, e.Exit)
					// The controller starts it again: its restoration
					// is in the log from here on, and deserves a
					// summary as any start does.
					rw = newRestorationWatch(manager.Event{}, false)
					w.watchLocked(rw)
					w.lastSummary = now // the next check's "uptime went back" is this start
					started = manager.Event{Service: e.Service, Kind: manager.EventActionBegun, At: now,
						LogOffset: fileSize(w.svc.Config().LogFile)}
				default:
					ds = w.tracker.Exited(cmp.Or(e.At, now), e.Exit) // outages count from the exit
				}
			case manager.EventActionBegun:
				if e.Detail != "started" { // the begin of a stop or restart
					ds = w.tracker.ActionBegun(now, e.Action, e.By)
				}
			case manager.EventActionEnded:
				ds = w.tracker.ActionEnded(now, e.Action, e.By, e.OK, e.Detail)
				m.history.Action(now, w.svc.Name(), e.Action, e.By, e.OK) // digest hook
			}
			m.saveLocked(w)
			w.mu.Unlock()
			m.act(ctx, w, ds)
			if e.Kind == manager.EventExited && !e.Intended && e.RestartedBy == "" && w.job != nil {
				// A crash is a fact: confirm the state now, not at the
				// next poll (not while the controller restarts it: that
				// check could only fail).
				_ = w.job.RunNow()
			}
			if rw != nil {
				m.wg.Add(1)
				go func() {
					defer m.wg.Done()
					m.summarise(ctx, w, started, rw)
				}()
			}
		}
	}
}

// tick lets every tracker look at the time: reminders, maintenance ends,
// auto-restarts due, recurring maintenance windows that begin.
func (m *Monitor) tick(ctx context.Context) {
	for _, w := range m.watched {
		now := m.clock.Now()
		w.mu.Lock()
		ds := w.tracker.Tick(now)
		m.saveLocked(w)
		w.mu.Unlock()
		m.act(ctx, w, ds)
		m.tickRecurring(ctx, w, now)
	}
}

// Acknowledge records that by is on the open incident of service. With no
// open alert, or one acknowledged already, it changes nothing and returns
// an error that says so (a *usererr.Error with the *AckError's words).
func (m *Monitor) Acknowledge(ctx context.Context, service string, by manager.Actor) error {
	w, err := m.find(service)
	if err != nil {
		return err
	}
	w.mu.Lock()
	ds, err := w.tracker.Acknowledge(m.clock.Now(), by)
	m.saveLocked(w)
	w.mu.Unlock()
	m.act(ctx, w, ds)
	if err != nil {
		return usererr.New(usererr.Conflict, "%s", err.Error())
	}
	return nil
}

// Maintenance mutes service ("" = every service) until until; a zero until
// ends the window.
func (m *Monitor) Maintenance(ctx context.Context, service string, until time.Time, by manager.Actor, reason string) error {
	for _, w := range m.watched {
		if service != "" && w.svc.Name() != service {
			continue
		}
		w.mu.Lock()
		ds := w.tracker.Maintenance(m.clock.Now(), until, by, reason)
		m.saveLocked(w)
		w.mu.Unlock()
		m.act(ctx, w, ds)
	}
	return nil
}

// Incident returns the current incident of service.
func (m *Monitor) Incident(service string) (Incident, error) {
	w, err := m.find(service)
	if err != nil {
		return Incident{}, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tracker.Snapshot(), nil
}

func (m *Monitor) find(service string) (*watched, error) {
	for _, w := range m.watched {
		if w.svc.Name() == service || (service == "" && len(m.watched) == 1) {
			return w, nil
		}
	}
	return nil, fmt.Errorf("no service %q under watch", service)
}

// act carries out decisions: notices for the notifier, auto-restarts.
func (m *Monitor) act(ctx context.Context, w *watched, ds []Decision) {
	for _, d := range ds {
		m.history.Decision(m.clock.Now(), d) // digest hook
		n := m.notice(w, d)
		if err := m.notifier.Notify(n); err != nil {
			m.log.Error().Err(err).Str("service", w.svc.Name()).Str("notice", n.ID).Msg("notify")
		}
		if d.Kind == DecisionAutoRestart {
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				// The restart reports itself through the manager's
				// events: begun, ended, and the restoration summary.
				if _, err := w.svc.Restart(ctx, AutoRestartActor, nil); err != nil {
					m.log.Error().Err(err).Str("service", w.svc.Name()).Msg("auto-restart")
				}
			}()
		}
	}
}

// notice turns a decision into a message with stable IDs: the alert of an
// incident is alertID's, and everything about it refers to that ID.
func (m *Monitor) notice(w *watched, d Decision) Notice {
	w.mu.Lock()
	w.seq++
	seq := w.seq
	w.mu.Unlock()
	inc := d.Incident
	alertID := alertID(w.svc.Name(), inc)
	n := Notice{Service: w.svc.Name(), Kind: d.Kind, Event: d.Event}
	if inc.ID > 0 {
		n.Incident = &inc
	}
	switch {
	case d.Kind == DecisionOpen:
		n.ID = alertID
	case inc.ID > 0 && d.Kind != DecisionAnnounce:
		n.ID, n.Ref = fmt.Sprintf("%s-%d-%s-%d", alertID, m.clock.Now().UnixNano(), d.Kind, seq), alertID
	default:
		n.ID = fmt.Sprintf("%s-announce-%d-%d", w.svc.Name(), m.clock.Now().UnixNano(), seq)
	}
	return n
}

// RestorationSummary is what the log told about one start's sessions.
type RestorationSummary struct {
	Result FollowResult
	PID    int32
	// Sessions is the restoration joined with the auth snapshot taken
	// before the start, the auth dirs and the service's browsers at the
	// time of the summary: each session's state (restoring since, not
	// begun, interrupted...), its auth dir before the start, the browsers
	// of failed sessions still running (Sessions.IdleBrowsers()).
	Sessions whatsapp.SessionsReport
	// Late is true for the follow-up posted when the service completed the
	// restoration after a summary said it timed out: it goes in the thread
	// of that summary (Notice.Ref), with the final facts. There is one at
	// most per start, and none when the first summary was complete, was
	// interrupted, or the service stopped, exited or started again before
	// completing (see Monitor.summarise, summaryLateFollow).
	Late bool
}

// MemoryBreach is a memory limit crossed: the whole tree's
// (monitor.memory_limit, Session "") or one session's browser tree
// (monitor.session_memory_limit).
type MemoryBreach struct {
	Limit   uint64 // bytes
	Used    uint64 // bytes: the tree's RSS, or the session's browser's
	Session string // "" for the whole tree
	// Top are the heaviest browsers at the time, by RSS, at most 3.
	Top []whatsapp.Browser
}

// clone returns a deep copy of b (nil for nil), so that a Decision never
// changes after it was returned.
func (b *MemoryBreach) clone() *MemoryBreach {
	if b == nil {
		return nil
	}
	c := *b
	c.Top = make([]whatsapp.Browser, len(b.Top))
	for i, x := range b.Top {
		x.PIDs = append([]int32(nil), x.PIDs...)
		c.Top[i] = x
	}
	return &c
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
