package manager

// The Service: its configuration (ServiceConfig), its dependencies (Options),
// NewService, and its small accessors.

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

	"github.com/jonboulle/clockwork"
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
	// Cgroup says whether the process controller starts the service into
	// a cgroup of its own ("" is auto); CgroupParent is the cgroup
	// directory to make it under, "" for the bot's own cgroup.
	Cgroup       CgroupMode
	CgroupParent string
}

// Options are the dependencies of a Service.
type Options struct {
	Logger zerolog.Logger
	// Clock is where the service reads the time of everything it records
	// (action times and durations, Since, CheckedAt, event times); nil means
	// the real clock. Waits on processes and on the network are bounded in
	// real time, since a fake clock would never end them.
	Clock clockwork.Clock
	// BaseEnv is the environment the service inherits before filtering;
	// nil means os.Environ().
	BaseEnv []string
	// HTTPClient for health checks; nil means a loopback client without
	// proxy.
	HTTPClient *http.Client
	// LeftoverGrace is how long processes of an earlier run (ended before
	// a start) and the browsers that `sessions cleanup` ends get between
	// SIGTERM and SIGKILL; zero means 3 s. A clean Chromium exit keeps the
	// WhatsApp profile intact and releases its singleton locks. A stop's
	// leftovers get what remains of the stop timeout instead.
	LeftoverGrace time.Duration
	// Controller starts and stops the service (systemd, PM2); nil means the
	// process controller: the bot runs the start command itself. The
	// Service closes it.
	Controller Controller
}

// Service supervises one service on this host.
type Service struct {
	cfg      ServiceConfig
	log      zerolog.Logger
	clock    clockwork.Clock
	client   *http.Client
	baseEnv  []string
	key      string // stable marker key: name + hash of dir
	hostPort string
	grace    time.Duration
	state    stateFile
	output   string // stdout/stderr capture
	events   eventBus
	ctl      Controller
	// proc is ctl when it is the process controller, else nil.
	proc *processController

	mu        sync.Mutex
	busy      *BusyError
	persisted persisted
	child     *child // the process this bot process started, if any
	// startedHere is true once this bot process has started the service.
	startedHere bool
	// startedMarker is the marker of the run this bot process started.
	startedMarker string
	// capture is where the last start of this bot process sent the
	// service's output, "" when nowhere or before any start.
	capture string
	// watching is the marker of the run a watcher follows, "" when none;
	// stopping is the marker of the run a stop through the bot is ending,
	// so that its exit is intended; closed is set by Close.
	watching string
	stopping string
	closed   bool
	// followingChanges is set while a goroutine follows the controller's
	// news of the service (followChanges).
	followingChanges bool
	// adopted is the last run adopted by its port (started by hand), nil
	// when none.
	adopted *runRef

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
		clock:    opts.Clock,
		client:   opts.HTTPClient,
		baseEnv:  opts.BaseEnv,
		hostPort: hostPort,
		grace:    opts.LeftoverGrace,
		output:   filepath.Join(cfg.StateDir, "output.log"),
	}
	if s.clock == nil {
		s.clock = clockwork.NewRealClock()
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
	s.ctl = opts.Controller
	if s.ctl == nil {
		s.proc = newProcessController(s.log, cfg.Cgroup, cfg.CgroupParent, s.key)
		s.ctl = s.proc
		if p.Run != nil {
			s.proc.resumed = p.Run.Cgroup
		}
	}
	return s, nil
}

// now is the time of the service's clock.
func (s *Service) now() time.Time { return s.clock.Now() }

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

func newRunID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
