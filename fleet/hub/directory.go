package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/fleet/agent"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

var _ bot.Directory = (*Directory)(nil)

// Config is what a hub's Directory needs.
type Config struct {
	Conn   *nats.Conn
	Signer Signer
	// Host is this hub's host: its Local services are "Host/name".
	Host  string
	Local []bot.Service
	// Version is this bot's version, for Hosts.
	Version string
	// Timeout bounds a request to an agent; 0 means 10 s.
	Timeout time.Duration
	// ActionTimeout bounds a long action's wait for its result; 0 means
	// 5 min.
	ActionTimeout time.Duration
	// DiscoverWindow is how long Refresh collects the agents' answers; 0
	// means 500 ms. Expect, when > 0, ends it as soon as that many hosts
	// answered.
	DiscoverWindow time.Duration
	Expect         int
	// LastSeen says when the hub last heard from a host (its heartbeats);
	// nil: the Directory's own discoveries.
	LastSeen func(host string) time.Time
	Logger   zerolog.Logger
	Clock    clockwork.Clock
}

// HostInfo is what the hub knows of one host (bot's, for `hosts`).
type HostInfo = bot.HostInfo

var _ bot.HostLister = (*Directory)(nil)

// Directory is bot.Directory for a fleet: the hub's local services and the
// services of every agent discovered, all named "host/service".
type Directory struct {
	cfg     Config
	c       *client
	local   map[string]bot.Service // by service name
	started time.Time

	mu    sync.Mutex
	hosts map[string]*hostState // remote hosts
}

type hostState struct {
	services []string
	version  string
	started  time.Time
	seen     time.Time
	online   bool
}

// New validates cfg; it does no I/O. Call Refresh to discover the agents.
func New(cfg Config) (*Directory, error) {
	if cfg.Conn == nil || cfg.Signer == nil {
		return nil, errors.New("new fleet directory: a connection and a signer are required")
	}
	if err := fleet.ValidHost(cfg.Host); err != nil {
		return nil, fmt.Errorf("new fleet directory: %w", err)
	}
	if cfg.Timeout < 0 || cfg.ActionTimeout < 0 || cfg.DiscoverWindow < 0 {
		return nil, errors.New("new fleet directory: negative timeout")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.ActionTimeout == 0 {
		cfg.ActionTimeout = 5 * time.Minute
	}
	if cfg.DiscoverWindow == 0 {
		cfg.DiscoverWindow = 500 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	d := &Directory{cfg: cfg, local: map[string]bot.Service{}, hosts: map[string]*hostState{},
		started: cfg.Clock.Now()}
	for i, s := range cfg.Local {
		if s == nil {
			return nil, fmt.Errorf("new fleet directory: local service %d is nil", i)
		}
		if !serviceRE.MatchString(s.Name()) {
			return nil, fmt.Errorf("new fleet directory: service name %q: want letters, digits, '-' and '_'", s.Name())
		}
		if _, dup := d.local[s.Name()]; dup {
			return nil, fmt.Errorf("new fleet directory: two local services named %q", s.Name())
		}
		d.local[s.Name()] = s
	}
	d.c = &client{hub: cfg.Host, now: cfg.Clock.Now, conn: cfg.Conn, signer: cfg.Signer, timeout: cfg.Timeout, actionTimeout: cfg.ActionTimeout,
		lastSeen: d.lastSeen, log: cfg.Logger}
	return d, nil
}

var serviceRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// lastSeen is when a host was last heard of: the configured source, else
// the last discovery that found it.
func (d *Directory) lastSeen(host string) time.Time {
	if d.cfg.LastSeen != nil {
		return d.cfg.LastSeen(host)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if h, ok := d.hosts[host]; ok {
		return h.seen
	}
	return time.Time{}
}

// Refresh asks every agent for its info ($SRV.INFO.sanasend-agent) and
// collects the answers for the discover window. A host that answered
// before and not now stays known, offline, with its services. What an
// agent says of itself is checked where NATS binds the host: each host
// found is asked for its services on its own subject (an agent whose key
// is bound to another host cannot answer there), and only a host that
// answers is listed, with the services it answered.
func (d *Directory) Refresh(ctx context.Context) error {
	subject, err := micro.ControlSubject(micro.InfoVerb, fleet.AgentService, "")
	if err != nil {
		return fmt.Errorf("refresh fleet: %w", err)
	}
	inbox := d.cfg.Conn.NewRespInbox()
	sub, err := d.cfg.Conn.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("refresh fleet: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := d.cfg.Conn.PublishRequest(subject, inbox, nil); err != nil {
		return fmt.Errorf("refresh fleet: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, d.cfg.DiscoverWindow)
	defer cancel()
	found := map[string]*hostState{}
	for d.cfg.Expect <= 0 || len(found) < d.cfg.Expect {
		msg, err := sub.NextMsgWithContext(wctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("refresh fleet: %w", ctx.Err())
			}
			break // the window is over
		}
		host, st, err := parseInfo(msg.Data)
		if err != nil {
			d.cfg.Logger.Warn().Err(err).Msg("fleet: an agent's info is not understood")
			continue
		}
		if host == d.cfg.Host {
			continue // the hub's own services are local
		}
		st.seen, st.online = d.cfg.Clock.Now(), true
		found[host] = st
	}
	d.confirm(ctx, found)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, h := range d.hosts {
		h.online = false
	}
	for host, st := range found {
		d.hosts[host] = st
	}
	return nil
}

// confirm asks each host found for its services on its own subject, at
// once: a host that is not there (no responders: what said it was that
// host cannot answer for it) is dropped from found; one that answers gets
// the services it answered; one that does not answer in time keeps what
// was known of it, or is dropped when nothing was.
func (d *Directory) confirm(ctx context.Context, found map[string]*hostState) {
	type answer struct {
		host     string
		services []string
		err      error
	}
	answers := make(chan answer, len(found))
	for host := range found {
		go func() {
			rep, err := d.hostClient(host).read(ctx, agent.VerbServices, nil)
			answers <- answer{host, rep.Services, err}
		}()
	}
	for range len(found) {
		a := <-answers
		var off *fleet.OfflineError
		switch {
		case a.err == nil && !slices.ContainsFunc(a.services, func(s string) bool { return !serviceRE.MatchString(s) }):
			services := slices.Clone(a.services)
			slices.Sort(services)
			found[a.host].services = services
		case a.err == nil:
			d.cfg.Logger.Warn().Str("host", a.host).Msg("fleet: an agent answered service names that are not ones: not listed")
			delete(found, a.host)
		case errors.As(a.err, &off):
			d.cfg.Logger.Warn().Str("host", a.host).Msg("fleet: an agent says it is this host but does not answer on its subjects: not listed")
			delete(found, a.host)
		default:
			d.cfg.Logger.Warn().Err(a.err).Str("host", a.host).Msg("fleet: an agent did not confirm its services in time")
			d.mu.Lock()
			known, ok := d.hosts[a.host]
			d.mu.Unlock()
			if !ok {
				delete(found, a.host)
			} else {
				found[a.host].services = slices.Clone(known.services)
			}
		}
	}
}

// parseInfo reads an agent's host and services from its micro info.
func parseInfo(data []byte) (string, *hostState, error) {
	var info micro.Info
	if err := json.Unmarshal(data, &info); err != nil {
		return "", nil, err
	}
	if info.Name != fleet.AgentService {
		return "", nil, fmt.Errorf("service %q is not an agent", human.Cut(info.Name, 40))
	}
	host := info.Metadata[agent.MetaHost]
	if err := fleet.ValidHost(host); err != nil {
		return "", nil, err
	}
	st := &hostState{version: info.Metadata[agent.MetaVersion]}
	if t, err := time.Parse(time.RFC3339, info.Metadata[agent.MetaStarted]); err == nil {
		st.started = t
	}
	for _, s := range strings.Split(info.Metadata[agent.MetaServices], ",") {
		if s == "" {
			continue
		}
		if !serviceRE.MatchString(s) {
			return "", nil, fmt.Errorf("host %s: service name %q", host, human.Cut(s, 40))
		}
		st.services = append(st.services, s)
	}
	slices.Sort(st.services)
	return host, st, nil
}

// Names lists every service of the fleet as "host/service", sorted.
func (d *Directory) Names() []string {
	var out []string
	for name := range d.local {
		out = append(out, d.cfg.Host+"/"+name)
	}
	d.mu.Lock()
	for host, h := range d.hosts {
		for _, s := range h.services {
			out = append(out, host+"/"+s)
		}
	}
	d.mu.Unlock()
	slices.Sort(out)
	return out
}

// Lookup finds a service: "host/service" exactly; a bare "service" when
// exactly one host has it; "" when the fleet has exactly one service.
func (d *Directory) Lookup(name string) (bot.Service, error) {
	names := d.Names()
	if name == "" {
		if len(names) == 1 {
			return d.Lookup(names[0])
		}
		return nil, usererr.New(usererr.Invalid, "there are several services: say which one (%s)", strings.Join(names, ", "))
	}
	if host, svc, ok := strings.Cut(name, "/"); ok {
		if fleet.ValidHost(host) != nil || !serviceRE.MatchString(svc) {
			return nil, usererr.New(usererr.Invalid, "%q is not a service address: say host/service (%s)", human.Cut(name, 80), strings.Join(names, ", "))
		}
		if host == d.cfg.Host {
			if s, ok := d.local[svc]; ok {
				return &localService{Service: s, name: name}, nil
			}
		} else if slices.Contains(names, name) {
			return &Remote{c: d.c, host: host, service: svc}, nil
		}
		return nil, usererr.New(usererr.NotFound, "no service %q (services: %s)", human.Cut(name, 80), strings.Join(names, ", "))
	}
	var matches []string
	for _, n := range names {
		if _, s, _ := strings.Cut(n, "/"); s == name {
			matches = append(matches, n)
		}
	}
	switch len(matches) {
	case 1:
		return d.Lookup(matches[0])
	case 0:
		return nil, usererr.New(usererr.NotFound, "no service %q (services: %s)", human.Cut(name, 40), strings.Join(names, ", "))
	}
	hosts := make([]string, len(matches))
	for i, m := range matches {
		hosts[i], _, _ = strings.Cut(m, "/")
	}
	return nil, usererr.New(usererr.Invalid, "%s is on %s: say %s", name, andList(hosts), orList(matches))
}

// andList is "a", "a and b", "a, b and c".
func andList(xs []string) string { return joinLast(xs, " and ") }

// orList is "a", "a or b", "a, b or c".
func orList(xs []string) string { return joinLast(xs, " or ") }

func joinLast(xs []string, last string) string {
	if len(xs) <= 1 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + last + xs[len(xs)-1]
}

// Hosts lists the known hosts, the hub's own first, then by name.
func (d *Directory) Hosts(context.Context) []HostInfo {
	own := HostInfo{Name: d.cfg.Host, Version: d.cfg.Version, Started: d.started, LastSeen: d.cfg.Clock.Now(), Online: true, Local: true}
	for name := range d.local {
		own.Services = append(own.Services, name)
	}
	slices.Sort(own.Services)
	out := []HostInfo{own}
	d.mu.Lock()
	var rest []HostInfo
	for host, h := range d.hosts {
		rest = append(rest, HostInfo{Name: host, Version: h.version, Started: h.started, LastSeen: h.seen,
			Online: h.online, Services: slices.Clone(h.services)})
	}
	d.mu.Unlock()
	if d.cfg.LastSeen != nil {
		for i := range rest {
			if t := d.cfg.LastSeen(rest[i].Name); t.After(rest[i].LastSeen) {
				rest[i].LastSeen = t
			}
		}
	}
	slices.SortFunc(rest, func(a, b HostInfo) int { return strings.Compare(a.Name, b.Name) })
	return append(out, rest...)
}

// localService is a service of the hub's own host under its fleet name
// "host/service"; the router's optional questions (Busy, Stopped) go to
// the service itself.
type localService struct {
	bot.Service
	name string
}

func (l *localService) Name() string { return l.name }

// Busy is the local service's action in progress, when it can tell.
func (l *localService) Busy() *manager.BusyError {
	if b, ok := l.Service.(interface{ Busy() *manager.BusyError }); ok {
		return b.Busy()
	}
	return nil
}

// Stopped asks the local service, when it can tell; else an error (the
// router then does not know).
func (l *localService) Stopped(ctx context.Context) (bool, error) {
	if s, ok := l.Service.(interface {
		Stopped(ctx context.Context) (bool, error)
	}); ok {
		return s.Stopped(ctx)
	}
	return false, errors.New("not known")
}
