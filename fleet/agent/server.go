// Package agent serves this host's services to the hubs over NATS: one
// micro service (fleet.AgentService) with an endpoint per verb on
// fleet.AgentSubject(host, verb). It acts only on requests a trusted hub
// signed (sign.Signed), and audits every request, refused or not.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/fleet/sign"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Service is what the agent needs of a local service: bot.Service's
// methods (*manager.Service implements it).
type Service interface {
	Name() string
	Status(ctx context.Context) (manager.Status, error)
	Start(ctx context.Context, by manager.Actor, progress func(string)) (manager.StartResult, error)
	Stop(ctx context.Context, by manager.Actor, progress func(string)) (manager.StopResult, error)
	Restart(ctx context.Context, by manager.Actor, progress func(string)) (manager.RestartResult, error)
	Logs(ctx context.Context, q manager.LogQuery) (manager.LogResult, error)
	Output(ctx context.Context, q manager.LogQuery) (manager.LogResult, error)
	Processes(ctx context.Context) ([]manager.Process, error)
	Sessions(ctx context.Context) (whatsapp.SessionsReport, error)
	CleanupBrowsers(ctx context.Context, by manager.Actor, progress func(string)) (manager.CleanupResult, error)
	Doctor(ctx context.Context) []doctor.Check
}

// Verifier checks a hub's signed request (*sign.Verifier).
type Verifier interface {
	Verify(sign.Signed) (sign.Request, error)
}

// History is the agent's history database, for uptime and incidents;
// *history.Store implements it.
type History interface {
	Uptime(ctx context.Context, service string, from, to time.Time, bucket time.Duration) (history.Report, error)
	Incidents(ctx context.Context, service string, n int) ([]history.Incident, error)
}

// Alerts is the agent's monitor, for ack, maintenance and the recurring
// maintenance windows; nil where none runs. *alerts.Monitor implements it.
type Alerts interface {
	Acknowledge(ctx context.Context, service string, by manager.Actor) error
	Maintenance(ctx context.Context, service string, until time.Time, by manager.Actor, reason string) error
	AddWindow(ctx context.Context, service, every string, d time.Duration, by manager.Actor, reason string) (alerts.RecurringWindow, error)
	Windows(ctx context.Context) ([]alerts.WindowInfo, error)
	CancelWindow(ctx context.Context, id string, by manager.Actor) (alerts.RecurringWindow, error)
}

var _ Alerts = (*alerts.Monitor)(nil)

// Config is what an agent's server needs.
type Config struct {
	Conn     *nats.Conn
	Host     string // this host's name (fleet.ValidHost)
	Version  string // the bot's version, told to hubs in the metadata
	Services []Service
	Verifier Verifier
	// Alerts answers ack and maintenance; nil: they are refused.
	Alerts Alerts
	// History answers uptime and incidents; nil: they are refused.
	History History
	// Audit receives one line per request: refused, ok or error.
	Audit  zerolog.Logger
	Logger zerolog.Logger
	Clock  clockwork.Clock // nil: the real clock
	// ReadTimeout bounds a read (status, logs, ...); 0 means 30 s. Long
	// actions are bounded by the service's own timeouts.
	ReadTimeout time.Duration
}

// Server serves the services over NATS.
type Server struct {
	cfg      Config
	services map[string]Service
	names    []string

	mu      sync.Mutex
	svc     micro.Service
	stopped bool
	cancel  context.CancelFunc
	ctx     context.Context // reads; cancelled by Stop
	wg      sync.WaitGroup  // requests and actions in flight
}

// NewServer validates cfg; it does no I/O.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Conn == nil || cfg.Verifier == nil {
		return nil, errors.New("new agent server: a connection and a verifier are required")
	}
	if err := fleet.ValidHost(cfg.Host); err != nil {
		return nil, fmt.Errorf("new agent server: %w", err)
	}
	if len(cfg.Services) == 0 {
		return nil, errors.New("new agent server: no service to serve")
	}
	if cfg.ReadTimeout < 0 {
		return nil, errors.New("new agent server: negative read timeout")
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	s := &Server{cfg: cfg, services: map[string]Service{}}
	for i, svc := range cfg.Services {
		if svc == nil {
			return nil, fmt.Errorf("new agent server: service %d is nil", i)
		}
		name := svc.Name()
		if !serviceRE.MatchString(name) {
			return nil, fmt.Errorf("new agent server: service name %q: want letters, digits, '-' and '_'", name)
		}
		if _, dup := s.services[name]; dup {
			return nil, fmt.Errorf("new agent server: two services named %q", name)
		}
		s.services[name] = svc
		s.names = append(s.names, name)
	}
	slices.Sort(s.names)
	return s, nil
}

// serviceRE is what a service may be called here: it goes into the
// metadata comma-joined and into "host/service".
var serviceRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Start adds the micro service and its endpoints and returns once the
// NATS server has their subscriptions; requests are served until Stop.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.svc != nil || s.stopped {
		return errors.New("agent: started already")
	}
	version := s.cfg.Version
	if version == "" {
		version = "unknown"
	}
	svc, err := micro.AddService(s.cfg.Conn, micro.Config{
		Name:        fleet.AgentService,
		Version:     microVersion(version),
		Description: "sanasend-bot agent of " + s.cfg.Host,
		Metadata: map[string]string{
			MetaHost:     s.cfg.Host,
			MetaVersion:  version,
			MetaStarted:  s.cfg.Clock.Now().UTC().Format(time.RFC3339),
			MetaServices: strings.Join(s.names, ","),
		},
	})
	if err != nil {
		return fmt.Errorf("agent: add service: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, verb := range Verbs() {
		verb := verb
		err := svc.AddEndpoint(verb, micro.HandlerFunc(func(req micro.Request) { s.dispatch(verb, req) }),
			micro.WithEndpointSubject(fleet.AgentSubject(s.cfg.Host, verb)))
		if err != nil {
			_ = svc.Stop()
			s.cancel()
			return fmt.Errorf("agent: endpoint %s: %w", verb, err)
		}
	}
	// A round trip to the server: the endpoints' subscriptions are in
	// place when Start returns (else a hub could find no responders).
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.cfg.Conn.FlushWithContext(fctx); err != nil {
		_ = svc.Stop()
		s.cancel()
		return fmt.Errorf("agent: flush: %w", err)
	}
	s.svc = svc
	return nil
}

var semverRE = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)$`)

// microVersion is version as micro's SemVer, "0.0.0" when it is not one
// (the metadata keeps the bot's own).
func microVersion(v string) string {
	if m := semverRE.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	return "0.0.0"
}

// Stop stops serving and waits for the requests and actions in flight;
// once it returns, requests to this host find no responders.
func (s *Server) Stop() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	svc := s.svc
	s.mu.Unlock()
	var err error
	if svc != nil {
		err = svc.Stop()
		// A round trip: the server has dropped the endpoints'
		// subscriptions (their unsubscribe went before it), so a hub
		// finds no responders from now on.
		if ferr := s.cfg.Conn.Flush(); ferr != nil && !errors.Is(ferr, nats.ErrConnectionClosed) {
			s.cfg.Logger.Warn().Err(ferr).Msg("fleet: flush at stop")
		}
	}
	s.wg.Wait()
	if s.cancel != nil {
		s.cancel()
	}
	if err != nil {
		return fmt.Errorf("agent: stop: %w", err)
	}
	return nil
}

// dispatch runs one request in its own goroutine, so that a slow read or a
// long action does not hold the endpoint.
func (s *Server) dispatch(verb string, req micro.Request) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		s.respondError(req, usererr.New(usererr.Unavailable, "the agent of %s is stopping", s.cfg.Host))
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.handle(verb, req)
	}()
}

func (s *Server) handle(verb string, req micro.Request) {
	began := s.cfg.Clock.Now()
	var signed sign.Signed
	if err := json.Unmarshal(req.Data(), &signed); err != nil {
		s.refuse(req, verb, signed, &sign.Error{Reason: sign.Malformed, Detail: "not a signed request"})
		return
	}
	r, err := s.cfg.Verifier.Verify(signed)
	if err != nil {
		s.refuse(req, verb, signed, err)
		return
	}
	if r.Verb != verb {
		s.refuse(req, verb, signed, &sign.Error{Reason: "wrong_verb", Detail: "signed for another verb"})
		return
	}
	by := manager.Actor{ID: r.Actor.ID, Name: r.Actor.Name}
	audit := func(err error) {
		ev := s.cfg.Audit.Info()
		outcome := "ok"
		if err != nil {
			ev = s.cfg.Audit.Warn().Str("error", usererr.Message(err)).Str("code", string(usererr.CodeOf(err)))
			outcome = "error"
		}
		ev.Bool("audit", true).Str("source", "fleet").Str("outcome", outcome).Str("host", s.cfg.Host).
			Str("verb", verb).Str("service", r.Service).Str("key", signed.Key).Str("nonce", r.Nonce).
			Str("actor", by.ID).Str("actor_name", by.Name).
			Int64("duration_ms", s.cfg.Clock.Since(began).Milliseconds()).Msg("fleet request")
	}
	if verb == VerbServices {
		s.respond(req, Reply{Services: slices.Clone(s.names)})
		audit(nil)
		return
	}
	if verb == VerbWindows || verb == VerbWindowCancel { // the host's, no service
		s.answer(req, audit, func(ctx context.Context) (Reply, error) { return s.windows(ctx, verb, "", by, r.Args) })
		return
	}
	svc, ok := s.services[r.Service]
	if !ok {
		err := usererr.New(usererr.NotFound, "no service %q on %s (services: %s)", r.Service, s.cfg.Host, strings.Join(s.names, ", "))
		s.respondError(req, err)
		audit(err)
		return
	}
	if verb == VerbAck || verb == VerbMaintenance || verb == VerbWindowAdd {
		s.answer(req, audit, func(ctx context.Context) (Reply, error) {
			if verb == VerbWindowAdd {
				return s.windows(ctx, verb, r.Service, by, r.Args)
			}
			return Reply{Done: true}, s.alerts(ctx, verb, r.Service, by, r.Args)
		})
		return
	}
	if IsAction(verb) {
		s.respond(req, Reply{Accepted: true})
		err := s.act(verb, svc, by, r.Nonce)
		audit(err)
		return
	}
	s.answer(req, audit, func(ctx context.Context) (Reply, error) {
		reply, err := s.read(ctx, verb, svc, r.Args)
		if err != nil {
			s.cfg.Logger.Warn().Err(err).Str("verb", verb).Str("service", r.Service).Msg("fleet request failed")
		}
		return reply, err
	})
}

// answer runs f within the read timeout, answers the request with its
// reply or its error, and audits it.
func (s *Server) answer(req micro.Request, audit func(error), f func(context.Context) (Reply, error)) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ReadTimeout)
	defer cancel()
	reply, err := f(ctx)
	if err != nil {
		s.respondError(req, err)
	} else {
		s.respond(req, reply)
	}
	audit(err)
}

// alerts runs ack or maintenance on the agent's monitor.
func (s *Server) alerts(ctx context.Context, verb, service string, by manager.Actor, args []string) error {
	if s.cfg.Alerts == nil {
		return usererr.New(usererr.Unavailable, "no monitor runs on %s", s.cfg.Host)
	}
	if verb == VerbAck {
		return s.cfg.Alerts.Acknowledge(ctx, service, by)
	}
	if len(args) != 2 {
		return usererr.New(usererr.Invalid, "maintenance takes an end and a reason")
	}
	until, err := time.Parse(time.RFC3339Nano, args[0])
	if err != nil {
		return usererr.Wrap(err, usererr.Invalid, "maintenance: %q is not a time", args[0])
	}
	return s.cfg.Alerts.Maintenance(ctx, service, until, by, args[1])
}

// windows lists, adds (for service) or cancels the recurring maintenance
// windows of the agent's monitor.
func (s *Server) windows(ctx context.Context, verb, service string, by manager.Actor, args []string) (Reply, error) {
	if s.cfg.Alerts == nil {
		return Reply{}, usererr.New(usererr.Unavailable, "no monitor runs on %s", s.cfg.Host)
	}
	switch verb {
	case VerbWindows:
		ws, err := s.cfg.Alerts.Windows(ctx)
		if err != nil {
			return Reply{}, err
		}
		if ws == nil {
			ws = []alerts.WindowInfo{}
		}
		return Reply{Windows: ws}, nil
	case VerbWindowCancel:
		if len(args) != 1 {
			return Reply{}, usererr.New(usererr.Invalid, "windowcancel takes a window's ID")
		}
		w, err := s.cfg.Alerts.CancelWindow(ctx, args[0], by)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Window: &w}, nil
	}
	if len(args) != 3 {
		return Reply{}, usererr.New(usererr.Invalid, "windowadd takes a schedule, a duration and a reason")
	}
	d, err := time.ParseDuration(args[1])
	if err != nil || d <= 0 {
		return Reply{}, usererr.New(usererr.Invalid, "windowadd: %q is not a positive duration", human.Cut(args[1], 64))
	}
	w, err := s.cfg.Alerts.AddWindow(ctx, service, args[0], d, by, args[2])
	if err != nil {
		return Reply{}, err
	}
	return Reply{Window: &w}, nil
}

// history answers uptime or incidents from the agent's history.
func (s *Server) history(ctx context.Context, verb, service string, args []string) (Reply, error) {
	if s.cfg.History == nil {
		return Reply{}, usererr.New(usererr.Unavailable, "no history is kept on %s", s.cfg.Host)
	}
	if verb == VerbIncidents {
		n, err := strconv.Atoi(strings.Join(args, ""))
		if err != nil || n < 1 || n > 100 {
			return Reply{}, usererr.New(usererr.Invalid, "incidents takes a count from 1 to 100")
		}
		list, err := s.cfg.History.Incidents(ctx, service, n)
		if err != nil {
			return Reply{}, err
		}
		if list == nil {
			list = []history.Incident{}
		}
		return Reply{Incidents: list}, nil
	}
	if len(args) != 3 {
		return Reply{}, usererr.New(usererr.Invalid, "uptime takes a start, an end and a bucket")
	}
	from, err1 := time.Parse(time.RFC3339Nano, args[0])
	to, err2 := time.Parse(time.RFC3339Nano, args[1])
	bucket, err3 := time.ParseDuration(args[2])
	if err := errors.Join(err1, err2, err3); err != nil || !from.Before(to) || bucket <= 0 {
		return Reply{}, usererr.Wrap(err, usererr.Invalid, "uptime: a start before an end and a positive bucket are needed")
	}
	rep, err := s.cfg.History.Uptime(ctx, service, from, to, bucket)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Uptime: &rep}, nil
}

// read answers a verb that reads.
func (s *Server) read(ctx context.Context, verb string, svc Service, args []string) (Reply, error) {
	switch verb {
	case VerbStatus:
		st, err := svc.Status(ctx)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Status: &st}, nil
	case VerbLogs, VerbOutput:
		q, err := ParseLogArgs(args)
		if err != nil {
			return Reply{}, usererr.Wrap(err, usererr.Invalid, "%s", err.Error())
		}
		read := svc.Logs
		if verb == VerbOutput {
			read = svc.Output
		}
		res, err := read(ctx, q)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Logs: &res}, nil
	case VerbPS:
		ps, err := svc.Processes(ctx)
		if err != nil {
			return Reply{}, err
		}
		if ps == nil {
			ps = []manager.Process{}
		}
		return Reply{Processes: ps}, nil
	case VerbSessions:
		rep, err := svc.Sessions(ctx)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Sessions: &rep}, nil
	case VerbUptime, VerbIncidents:
		return s.history(ctx, verb, svc.Name(), args)
	case VerbDoctor:
		checks := svc.Doctor(ctx)
		if checks == nil {
			checks = []doctor.Check{}
		}
		return Reply{Checks: checks}, nil
	}
	return Reply{}, usererr.New(usererr.Internal, "verb %q has no handler", verb)
}

// act runs a long action to its end, publishing its progress and its
// result on the events subject of nonce. Its context is not the request's:
// the action ends even when the hub goes away.
func (s *Server) act(verb string, svc Service, by manager.Actor, nonce string) error {
	subject := fleet.EventsSubject(s.cfg.Host, nonce)
	publish := func(ev Event) {
		data, err := json.Marshal(ev)
		if err == nil {
			err = s.cfg.Conn.Publish(subject, data)
		}
		if err != nil {
			s.cfg.Logger.Warn().Err(err).Str("subject", subject).Msg("fleet: cannot publish an action's event")
		}
	}
	progress := func(step string) { publish(Event{Step: step}) }
	ctx := context.WithoutCancel(s.ctx)
	var res any
	var err error
	switch verb {
	case VerbStart:
		res, err = svc.Start(ctx, by, progress)
	case VerbStop:
		res, err = svc.Stop(ctx, by, progress)
	case VerbRestart:
		res, err = svc.Restart(ctx, by, progress)
	case VerbCleanup:
		res, err = svc.CleanupBrowsers(ctx, by, progress)
	default:
		err = usererr.New(usererr.Internal, "verb %q is not an action", verb)
	}
	if err != nil {
		s.cfg.Logger.Warn().Err(err).Str("verb", verb).Str("service", svc.Name()).Msg("fleet action failed")
	}
	final := Event{Done: true, Error: EncodeError(err)}
	if data, merr := json.Marshal(res); merr == nil {
		final.Result = data
	}
	publish(final)
	if ferr := s.cfg.Conn.Flush(); ferr != nil {
		s.cfg.Logger.Warn().Err(ferr).Msg("fleet: cannot flush an action's result")
	}
	return err
}

// refuse answers a request that is not acted on with 403, and audits it:
// never the signature.
func (s *Server) refuse(req micro.Request, verb string, signed sign.Signed, err error) {
	reason := string(sign.Malformed)
	var se *sign.Error
	if errors.As(err, &se) {
		reason = string(se.Reason)
	}
	msg := "request refused: " + reason
	if se != nil {
		msg = se.Error()
	}
	s.cfg.Audit.Warn().Bool("audit", true).Str("source", "fleet").Str("outcome", "refused").
		Str("reason", reason).Str("host", s.cfg.Host).Str("key", signed.Key).Str("verb", verb).
		Str("signed_verb", signed.Verb).Str("service", signed.Service).Str("actor", signed.Actor.ID).
		Msg("fleet request refused")
	s.respondError(req, usererr.Wrap(err, usererr.Forbidden, "%s", msg))
}

func (s *Server) respond(req micro.Request, reply Reply) {
	data, err := json.Marshal(reply)
	if err != nil {
		s.cfg.Logger.Error().Err(err).Msg("fleet: cannot encode a reply")
		s.respondError(req, usererr.Wrap(err, usererr.Internal, "%s", usererr.Fallback))
		return
	}
	if err := req.Respond(data); err != nil {
		s.cfg.Logger.Warn().Err(err).Msg("fleet: cannot send a reply")
	}
}

// respondError answers with a micro error (code and text in its headers)
// whose body is Reply{Error}.
func (s *Server) respondError(req micro.Request, err error) {
	e := EncodeError(err)
	data, merr := json.Marshal(Reply{Error: e})
	if merr != nil { // the manager's error facts are plain data: cannot fail
		data = nil
	}
	desc := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, e.Message)
	if rerr := req.Error(StatusCode(e.Code), desc, data); rerr != nil {
		s.cfg.Logger.Warn().Err(rerr).Msg("fleet: cannot send an error reply")
	}
}
