// Package presence tells the hub which agents are alive: each agent
// publishes a heartbeat (its version, start and services) on its host's
// subject; the hub's Registry keeps what it heard and raises its own alert
// (an alerts.Notice with Host set) when a known agent is silent for longer
// than the timeout, and resolves it when the agent is heard again. Every
// hub's registry raises the same notices under the same IDs, so that the
// facts stream keeps one of each whichever hub leads or dies.
package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/fleet"
)

// Beat is one heartbeat, as JSON on fleet.HeartbeatSubject(Host).
type Beat struct {
	Host     string    `json:"host"`
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
	Services []string  `json:"services"`
	At       time.Time `json:"at"`
}

// HeartbeatConfig configures an agent's heartbeat.
type HeartbeatConfig struct {
	Conn     *nats.Conn
	Host     string
	Version  string
	Started  time.Time
	Services func() []string
	// Every is the time between beats (fleet.agent_timeout / 4).
	Every time.Duration
	Clock clockwork.Clock
}

// Heartbeat publishes an agent's beats.
type Heartbeat struct{ cfg HeartbeatConfig }

// NewHeartbeat validates cfg; it does no I/O.
func NewHeartbeat(cfg HeartbeatConfig) (*Heartbeat, error) {
	switch {
	case cfg.Conn == nil || cfg.Services == nil:
		return nil, errors.New("heartbeat: a connection and the services are required")
	case cfg.Every <= 0:
		return nil, errors.New("heartbeat: the interval must be positive")
	}
	if err := fleet.ValidHost(cfg.Host); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	return &Heartbeat{cfg: cfg}, nil
}

// Run beats at once and every Every until ctx ends. A beat that cannot be
// sent (NATS away) is simply the next one's job.
func (h *Heartbeat) Run(ctx context.Context) {
	t := h.cfg.Clock.NewTicker(h.cfg.Every)
	defer t.Stop()
	for {
		b := Beat{Host: h.cfg.Host, Version: h.cfg.Version, Started: h.cfg.Started, Services: h.cfg.Services(), At: h.cfg.Clock.Now()}
		data, _ := json.Marshal(b)
		_ = h.cfg.Conn.Publish(fleet.HeartbeatSubject(h.cfg.Host), data)
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
	}
}

// Host is what the hub knows of an agent.
type Host struct {
	Name     string
	Version  string
	Started  time.Time
	LastSeen time.Time
	Online   bool
	Services []string
}

// RegistryConfig configures the hub's registry.
type RegistryConfig struct {
	Conn *nats.Conn
	// Timeout is fleet.agent_timeout: the silence that opens an alert.
	Timeout time.Duration
	Clock   clockwork.Clock
	// Notify delivers the registry's alerts: in a hub, into the facts
	// stream with the notice's ID as message id, where the copies that
	// every hub raises alike are kept once. An error keeps the notice and
	// retries it at the next check.
	Notify func(alerts.Notice) error
	Logger zerolog.Logger
}

// Registry follows the agents' heartbeats.
type Registry struct {
	cfg RegistryConfig

	flushing sync.Mutex // one flush at a time: notices go out in order

	mu      sync.Mutex
	hosts   map[string]*hostState
	pending []alerts.Notice // notices not delivered yet, in order
}

type hostState struct {
	Host
	// beatAt is the last beat's own time (the agent's clock): the same
	// for every hub that heard it, unlike LastSeen.
	beatAt time.Time
	// open is the ID of the open alert of its silence; "" when none.
	open string
}

// NewRegistry validates cfg; it does no I/O.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	switch {
	case cfg.Conn == nil || cfg.Notify == nil:
		return nil, errors.New("registry: a connection and a notifier are required")
	case cfg.Timeout <= 0:
		return nil, errors.New("registry: the timeout must be positive")
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	return &Registry{cfg: cfg, hosts: map[string]*hostState{}}, nil
}

// Run follows the heartbeats and checks the silences every Timeout/4
// until ctx ends.
func (r *Registry) Run(ctx context.Context) error {
	sub, err := r.cfg.Conn.Subscribe(fleet.HeartbeatSubjects, func(m *nats.Msg) {
		var b Beat
		if err := json.Unmarshal(m.Data, &b); err != nil || fleet.ValidHost(b.Host) != nil ||
			m.Subject != fleet.HeartbeatSubject(b.Host) {
			r.cfg.Logger.Warn().Str("subject", m.Subject).Msg("fleet: a heartbeat that is not one: ignored")
			return
		}
		r.beat(b)
	})
	if err != nil {
		return fmt.Errorf("registry: subscribe to heartbeats: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// The server knows the subscription before the first check: a beat
	// sent from now on is heard (NATS away: the next beats are).
	_ = r.cfg.Conn.FlushTimeout(5 * time.Second)
	t := r.cfg.Clock.NewTicker(r.cfg.Timeout / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.Chan():
			r.check()
		}
	}
}

// beat notes a heartbeat; it resolves the host's silence alert.
func (r *Registry) beat(b Beat) {
	now := r.cfg.Clock.Now()
	r.mu.Lock()
	h, ok := r.hosts[b.Host]
	if !ok {
		h = &hostState{Host: Host{Name: b.Host}}
		r.hosts[b.Host] = h
	}
	back := h.open != ""
	if back {
		r.pending = append(r.pending, alerts.Notice{ID: h.open + "-back", Ref: h.open, Kind: alerts.DecisionResolve,
			Host: &alerts.HostPresence{Host: b.Host, LastSeen: h.LastSeen, Timeout: r.cfg.Timeout, Back: now}})
		h.open = ""
		r.cfg.Logger.Info().Str("agent", b.Host).Msg("fleet: agent heard again")
	}
	h.Version, h.Started, h.Services, h.LastSeen, h.Online = b.Version, b.Started, slices.Clone(b.Services), now, true
	h.beatAt = b.At
	r.mu.Unlock()
	if back {
		r.flush()
	}
}

// check opens an alert for every known host silent for longer than the
// timeout, and retries the notices that could not be delivered.
func (r *Registry) check() {
	now := r.cfg.Clock.Now()
	r.mu.Lock()
	for _, h := range r.hosts {
		if !h.Online || now.Sub(h.LastSeen) <= r.cfg.Timeout {
			continue
		}
		h.Online = false
		r.cfg.Logger.Warn().Str("agent", h.Name).Time("last_seen", h.LastSeen).Msg("fleet: agent stopped reporting")
		h.open = silenceID(h)
		r.pending = append(r.pending, alerts.Notice{ID: h.open, Kind: alerts.DecisionOpen,
			Host: &alerts.HostPresence{Host: h.Name, LastSeen: h.LastSeen, Timeout: r.cfg.Timeout}})
	}
	r.mu.Unlock()
	r.flush()
}

// silenceID names the silence that began after h's last beat, alike on
// every hub that heard that beat: by the beat's own time, or by when this
// hub heard it for a beat without one.
func silenceID(h *hostState) string {
	at := h.beatAt
	if at.IsZero() {
		at = h.LastSeen
	}
	return fmt.Sprintf("host-%s-down-%d", h.Name, at.UnixNano())
}

// flush delivers the pending notices in order; it stops at the first that
// fails, which the next check retries. Notify is called without r.mu, so
// that heartbeats are noted meanwhile.
func (r *Registry) flush() {
	r.flushing.Lock()
	defer r.flushing.Unlock()
	for {
		r.mu.Lock()
		if len(r.pending) == 0 {
			r.mu.Unlock()
			return
		}
		n := r.pending[0]
		r.mu.Unlock()
		if err := r.cfg.Notify(n); err != nil {
			r.cfg.Logger.Error().Err(err).Str("notice", n.ID).Msg("fleet: agent alert not delivered; retrying")
			return
		}
		r.mu.Lock()
		r.pending = r.pending[1:] // only flush removes, and one flush runs at a time
		r.mu.Unlock()
	}
}

// LastSeen is when host was last heard; zero if never.
func (r *Registry) LastSeen(host string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.hosts[host]; ok {
		return h.LastSeen
	}
	return time.Time{}
}

// Hosts lists the agents heard, by name.
func (r *Registry) Hosts() []Host {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Host, 0, len(r.hosts))
	for _, h := range r.hosts {
		c := h.Host
		c.Services = slices.Clone(h.Services)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Host) int { return strings.Compare(a.Name, b.Name) })
	return out
}
