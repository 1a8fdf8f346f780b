package manager

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// ServiceConfig describes one supervised service. Paths are absolute.
type ServiceConfig struct {
	Name          string
	Dir           string
	URL           string // base URL; health is URL + "/health"
	Start         []string
	LogFile       string
	AuthDir       string
	Env           map[string]string
	StartTimeout  time.Duration
	StopTimeout   time.Duration
	HealthTimeout time.Duration
	// StateDir holds this service's pid file, last action and output
	// capture. It is created when first needed.
	StateDir string
	// Secrets are values (tokens) that must never reach the service's
	// environment, whatever variable holds them.
	Secrets []string
}

// Options are the dependencies of a Service.
type Options struct {
	Logger zerolog.Logger
	// Now is the clock for recorded times; nil means time.Now.
	Now func() time.Time
	// BaseEnv is the environment the service inherits before filtering;
	// nil means os.Environ().
	BaseEnv []string
	// HTTPClient for health checks; nil means a loopback client without
	// proxy.
	HTTPClient *http.Client
	// LeftoverGrace is how long processes left behind by the main group
	// (a Chromium of a session that failed to restore) get between SIGTERM
	// and SIGKILL; zero means 3 s. A clean Chromium exit keeps the
	// WhatsApp profile intact and releases its singleton locks.
	LeftoverGrace time.Duration
}

// Service supervises one service on this host.
type Service struct {
	cfg      ServiceConfig
	log      zerolog.Logger
	now      func() time.Time
	client   *http.Client
	baseEnv  []string
	key      string // stable marker key: name + hash of dir
	hostPort string
	grace    time.Duration
	state    stateFile
	output   string // stdout/stderr capture
	events   eventBus

	mu        sync.Mutex
	busy      *BusyError
	persisted persisted
	child     *child // the process this bot process started, if any
	// startedHere is true once this bot process has started the service.
	startedHere bool
	// startedMarker is the marker of the run this bot process started.
	startedMarker string
	// watching is the marker of the run a watcher follows, "" when none;
	// stopping is the marker of the run a stop through the bot is ending,
	// so that its exit is intended; closed is set by Close.
	watching string
	stopping string
	closed   bool

	// watchCtx ends the watchers when the Service is closed.
	watchCtx    context.Context
	watchCancel context.CancelFunc
	watchWG     sync.WaitGroup

	restMu    sync.Mutex
	restCache restorationCache
}

// child is a service process started by this bot process.
type child struct {
	pid  int32
	done chan struct{} // closed when reaped
	exit Exit          // set before done is closed
}

// NewService validates cfg and loads the service's persisted state. It
// starts nothing and makes no network call.
func NewService(cfg ServiceConfig, opts Options) (*Service, error) {
	if cfg.Name == "" {
		return nil, errors.New("new service: empty name")
	}
	if !filepath.IsAbs(cfg.Dir) || !filepath.IsAbs(cfg.StateDir) {
		return nil, fmt.Errorf("new service %s: dir and state dir must be absolute", cfg.Name)
	}
	if len(cfg.Start) == 0 || cfg.Start[0] == "" {
		return nil, fmt.Errorf("new service %s: empty start command", cfg.Name)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("new service %s: bad url %q", cfg.Name, cfg.URL)
	}
	hostPort := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		hostPort = net.JoinHostPort(u.Hostname(), port)
	}
	if cfg.StartTimeout <= 0 || cfg.StopTimeout <= 0 || cfg.HealthTimeout <= 0 {
		return nil, fmt.Errorf("new service %s: timeouts must be positive", cfg.Name)
	}
	s := &Service{
		cfg:      cfg,
		log:      opts.Logger.With().Str("service", cfg.Name).Logger(),
		now:      opts.Now,
		client:   opts.HTTPClient,
		baseEnv:  opts.BaseEnv,
		hostPort: hostPort,
		grace:    opts.LeftoverGrace,
		output:   filepath.Join(cfg.StateDir, "output.log"),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = newHealthClient()
	}
	if s.baseEnv == nil {
		s.baseEnv = os.Environ()
	}
	if s.grace <= 0 {
		s.grace = 3 * time.Second
	}
	if s.state, err = newStateFile(filepath.Join(cfg.StateDir, "state.json")); err != nil {
		return nil, fmt.Errorf("new service %s: %w", cfg.Name, err)
	}
	s.watchCtx, s.watchCancel = context.WithCancel(context.Background())
	s.events.onDrop = func(e Event) {
		s.log.Warn().Str("event", string(e.Kind)).Msg("event dropped: a subscriber is not keeping up")
	}
	sum := sha256.Sum256([]byte(filepath.Clean(cfg.Dir)))
	s.key = cfg.Name + "-" + hex.EncodeToString(sum[:4])
	p, err := s.state.load()
	if err != nil {
		// A corrupt state file must not keep the bot from supervising:
		// processes are found by their marker anyway.
		s.log.Warn().Err(err).Msg("ignoring unreadable state")
	}
	s.persisted = p
	return s, nil
}

// Name is the service's name.
func (s *Service) Name() string { return s.cfg.Name }

// Config returns the service's configuration.
func (s *Service) Config() ServiceConfig { return s.cfg }

// HealthURL is where the service's health is asked.
func (s *Service) HealthURL() string { return strings.TrimRight(s.cfg.URL, "/") + "/health" }

// Subscribe returns the service's events and a function that ends the
// subscription. An event that does not fit in a full buffer is dropped and
// logged. It also starts watching a service that runs already (adopted), in
// the background, so that its exit is an event within a second; Close ends
// the watching.
func (s *Service) Subscribe(buffer int) (<-chan Event, func()) {
	ch, cancel := s.events.subscribe(buffer)
	s.adoptInBackground()
	return ch, cancel
}

// Health asks the service's health endpoint once.
func (s *Service) Health(ctx context.Context) Health {
	return CheckHealth(ctx, s.client, s.HealthURL(), s.cfg.HealthTimeout)
}

// LastAction returns the last action done through the bot, if any.
func (s *Service) LastAction() *ActionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.persisted.LastAction == nil {
		return nil
	}
	a := *s.persisted.LastAction
	return &a
}

// StoppedOnPurpose reports whether the last action through the bot was a
// successful stop, so that a stopped service is intent, not an outage.
func (s *Service) StoppedOnPurpose() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.persisted.StoppedOnPurpose
}

// StartedHere reports whether this bot process has started the service.
func (s *Service) StartedHere() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startedHere
}

// Busy returns the action in progress, or nil.
func (s *Service) Busy() *BusyError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy == nil {
		return nil
	}
	b := *s.busy
	return &b
}

// begin takes the service's action slot, or says who holds it.
func (s *Service) begin(a Action, by Actor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy != nil {
		b := *s.busy
		return &b
	}
	s.busy = &BusyError{Service: s.cfg.Name, Action: a, By: by, Since: s.now()}
	return nil
}

// release gives the action slot back without recording anything: the
// action was refused because the service already is as asked.
func (s *Service) release() {
	s.mu.Lock()
	s.busy = nil
	s.mu.Unlock()
}

// end releases the action slot and records the outcome.
func (s *Service) end(rec ActionRecord) {
	s.mu.Lock()
	s.busy = nil
	s.persisted.LastAction = &rec
	if rec.OK {
		s.persisted.StoppedOnPurpose = rec.Action == ActionStop
	}
	p := s.persisted
	s.mu.Unlock()
	if err := s.state.save(p); err != nil {
		s.log.Error().Err(err).Msg("save state")
	}
	s.events.publish(Event{Service: s.cfg.Name, Kind: EventActionEnded, At: s.now(), Action: rec.Action,
		By: rec.By, OK: rec.OK, Detail: rec.Result})
}

func (s *Service) progress(fn func(string), a Action, by Actor, step string) {
	s.events.publish(Event{Service: s.cfg.Name, Kind: EventProgress, At: s.now(), Action: a, By: by, Detail: step})
	if fn != nil {
		fn(step)
	}
}

// snapshot is one look at the service's processes.
type snapshot struct {
	tab *procTable
	// root is the service's top process while it runs: the process the
	// start command ran as (npm), or, when that one is gone (rootGone), the
	// oldest live process of its group (sh or node). nil when not running.
	root     *procEntry
	rootGone bool
	run      runRef           // the run root belongs to; zero when not running
	members  map[int32]string // every process of the tree, with how it was found
}

// look scans the process table and finds the service's processes: the root
// from the pid file (same PID and same start time, so a reused PID is never
// mistaken for it) or, without a usable pid file, a marked process running
// the start command; then every process carrying the marker, their
// descendants and their process groups.
func (s *Service) look(ctx context.Context) (snapshot, error) {
	tab, err := scanProcesses(ctx)
	if err != nil {
		return snapshot{}, err
	}
	snap := snapshot{tab: tab}
	s.mu.Lock()
	run := s.persisted.Run
	s.mu.Unlock()
	if run != nil {
		ref := runRef{pid: run.PID, created: run.Created, pgid: run.pgid(), marker: run.Marker}
		if e, ok := tab.byPID[run.PID]; ok && e.created.Equal(run.Created) && (e.marker == run.Marker || e.marker == "") {
			snap.root, snap.run = e, ref
		} else if _, group := ref.find(tab); len(group) > 0 {
			// npm is gone, node runs on: the service is its marked
			// group, not npm's PID.
			snap.root, snap.run, snap.rootGone = oldest(group), ref, true
		}
	}
	if snap.root == nil {
		if e := s.findUnrecordedRoot(ctx, tab); e != nil {
			snap.root, snap.run = e, runRef{pid: e.pid, created: e.created, pgid: e.pgid, marker: e.marker}
		}
	}
	var seeds []int32
	if snap.root != nil {
		seeds = append(seeds, snap.root.pid)
		s.ensureWatch(snap.run)
	}
	snap.members = tab.serviceMembers(s.key, seeds...)
	return snap, nil
}

// findUnrecordedRoot finds a run of the service whose pid file is gone (a
// state dir wiped, a bot moved): the oldest marked process that runs the
// configured start command and whose parent is not itself marked.
func (s *Service) findUnrecordedRoot(ctx context.Context, tab *procTable) *procEntry {
	var best *procEntry
	prefix := s.key + "/"
	for _, e := range tab.byPID {
		if !strings.HasPrefix(e.marker, prefix) || tab.self[e.pid] {
			continue
		}
		if parent, ok := tab.byPID[e.ppid]; ok && strings.HasPrefix(parent.marker, prefix) {
			continue
		}
		cmd, err := cmdlineOf(ctx, e.pid)
		if err != nil || !commandMatches(cmd, s.cfg.Start) {
			continue
		}
		if best == nil || e.created.Before(best.created) {
			best = e
		}
	}
	return best
}

// commandMatches reports whether a process's argv is the start command:
// same program name and the same arguments. npm rewrites its title to
// "npm start", which this accepts too.
func commandMatches(got, start []string) bool {
	if len(got) == 1 && len(start) > 1 {
		got = strings.Fields(got[0])
	}
	if len(got) < len(start) || len(start) == 0 {
		return false
	}
	if filepath.Base(got[0]) != filepath.Base(start[0]) {
		return false
	}
	for i := 1; i < len(start); i++ {
		if got[i] != start[i] {
			return false
		}
	}
	return true
}

// Status reports the service's state, health and processes.
func (s *Service) Status(ctx context.Context) (Status, error) {
	healthc := make(chan Health, 1)
	go func() { healthc <- s.Health(ctx) }()
	snap, err := s.look(ctx)
	h := <-healthc
	if err != nil {
		return Status{}, fmt.Errorf("status %s: %w", s.cfg.Name, err)
	}
	st := Status{
		Service:    s.cfg.Name,
		URL:        s.cfg.URL,
		Health:     h,
		Busy:       s.Busy(),
		LastAction: s.LastAction(),
		CheckedAt:  s.now(),
		Processes:  s.describe(ctx, snap),
	}
	if r, ok, err := s.LastRestoration(); err == nil && ok {
		st.Restoration = &r
	}
	if snap.root != nil {
		st.Since = snap.run.created
		st.Uptime = s.now().Sub(snap.run.created).Round(time.Second)
		st.RootPID, st.RootGone = snap.run.pid, snap.rootGone
		s.mu.Lock()
		st.Adopted = s.startedMarker != snap.run.marker
		s.mu.Unlock()
	} else if !h.Refused {
		// Nothing of ours runs, yet something answers on the port (or
		// does not refuse): say what.
		st.PortHolder = s.portHolder(ctx, snap)
		if !st.PortHolder.Ours {
			st.Restoration = nil // not ours: its sessions are not the service's
		}
	}
	switch {
	case h.OK:
		st.State = StateHealthy
	case snap.root != nil || !h.Refused:
		st.State = StateUnhealthy
	default:
		st.State = StateStopped
	}
	return st, nil
}

// Stopped reports whether no process of the service runs, not even one left
// by an earlier run: a stop would do nothing (Stop refuses with
// ErrAlreadyStopped). It reads the process table only.
func (s *Service) Stopped(ctx context.Context) (bool, error) {
	snap, err := s.look(ctx)
	if err != nil {
		return false, fmt.Errorf("stopped %s: %w", s.cfg.Name, err)
	}
	return len(snap.members) == 0, nil
}

// Processes returns the service's process tree, root first, then in tree
// order; processes outside the root's tree (reparented Chromium helpers)
// follow.
func (s *Service) Processes(ctx context.Context) ([]Process, error) {
	snap, err := s.look(ctx)
	if err != nil {
		return nil, fmt.Errorf("processes %s: %w", s.cfg.Name, err)
	}
	return s.describe(ctx, snap), nil
}

func (s *Service) describe(ctx context.Context, snap snapshot) []Process {
	var out []Process
	seen := make(map[int32]bool, len(snap.members))
	var walk func(pid int32)
	walk = func(pid int32) {
		if seen[pid] {
			return
		}
		why, ok := snap.members[pid]
		if !ok {
			return
		}
		seen[pid] = true
		out = append(out, processInfo(ctx, snap.tab.byPID[pid], why))
		for _, c := range sortedPIDs(snap.tab.children[pid]) {
			walk(c)
		}
	}
	if snap.root != nil {
		walk(snap.root.pid)
	}
	// The rest: tops of their own trees (parent not a member), by PID.
	var rest []int32
	for pid := range snap.members {
		if !seen[pid] {
			if _, parentIsMember := snap.members[snap.tab.byPID[pid].ppid]; !parentIsMember {
				rest = append(rest, pid)
			}
		}
	}
	for _, pid := range sortedPIDs(rest) {
		walk(pid)
	}
	for _, pid := range sortedPIDs(mapKeys(snap.members)) {
		walk(pid) // cycles cannot happen, but never drop a member
	}
	return out
}

func newRunID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
