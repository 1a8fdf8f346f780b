package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/fleet/facts"
	"github.com/sanasend/sanasend-bot/fleet/hub"
	"github.com/sanasend/sanasend-bot/fleet/presence"
	"github.com/sanasend/sanasend-bot/fleet/threads"
	"github.com/sanasend/sanasend-bot/fleet/tokens"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

// fleetHub is what `serve` runs when fleet: is configured: the NATS link
// (with the embedded server), the tokens the hubs share, the fleet's
// directory of services, the registry of agents, the facts every monitor
// publishes (this hub's own included), and the leadership among hubs:
// only the leader delivers facts and alerts and holds Socket Mode.
type fleetHub struct {
	cfg      *config.Config
	log      zerolog.Logger
	link     *fleetLink
	tokens   *tokens.Store
	threads  *threads.Store
	pub      *facts.Publisher
	leader   *fleet.Leader
	dir      *hub.Directory
	registry *presence.Registry
	consumer *facts.Consumer
}

// openHub joins the fleet as a hub: the embedded server or fleet.url, the
// shared tokens bucket, the bucket of where Slack messages landed, the
// facts stream and the leadership bucket.
func openHub(ctx context.Context, cfg *config.Config, log zerolog.Logger) (h *fleetHub, err error) {
	host := cfg.Fleet.Host
	link, err := openFleet(ctx, cfg, log, "hub "+host)
	if err != nil {
		return nil, err
	}
	h = &fleetHub{cfg: cfg, log: log, link: link}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	setupCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	kv, err := tokens.EnsureBucket(setupCtx, link.js, tokenLife(cfg))
	if err != nil {
		return nil, err
	}
	if h.tokens, err = tokens.New(kv, log); err != nil {
		return nil, err
	}
	tkv, err := threads.EnsureBucket(setupCtx, link.js, delivery.Retention)
	if err != nil {
		return nil, err
	}
	if h.threads, err = threads.New(tkv); err != nil {
		return nil, err
	}
	if err := facts.EnsureStream(setupCtx, link.js); err != nil {
		return nil, err
	}
	lkv, err := fleet.EnsureBucket(setupCtx, link.js, fleet.LeaderBucket, cfg.Fleet.Failover)
	if err != nil {
		return nil, fmt.Errorf("fleet: leadership: %w", err)
	}
	if h.leader, err = fleet.NewLeader(fleet.LeaderConfig{KV: lkv, Key: "leader", ID: host + "-" + randomID(), TTL: cfg.Fleet.Failover, Logger: log}); err != nil {
		return nil, err
	}
	if h.pub, err = facts.NewPublisher(facts.PublisherConfig{JS: link.js, Host: host, Dir: filepath.Join(cfg.StateDir, "fleet-facts"), Logger: log}); err != nil {
		return nil, err
	}
	return h, nil
}

// tokenLife is how long a token record must live in the shared bucket: the
// longest a prompt or an alert button stays valid.
func tokenLife(cfg *config.Config) time.Duration {
	return max(cfg.Slack.ConfirmTimeout, bot.DefaultAlertTTL)
}

// prepare builds the fleet's directory over this host's services, and the
// registry, which raises the agents' silences into the facts stream (every
// hub alike; the stream keeps one), and the consumer that delivers the
// facts to deliver (the Slack notifier).
func (h *fleetHub) prepare(m *manager.Manager, deliver alerts.Notifier) error {
	signer, err := hubSigner(h.cfg)
	if err != nil {
		return err
	}
	h.registry, err = presence.NewRegistry(presence.RegistryConfig{
		Conn: h.link.nc, Timeout: h.cfg.Fleet.AgentTimeout, Logger: h.log,
		Notify: func(n alerts.Notice) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return facts.Raise(ctx, h.link.js, h.cfg.Fleet.Host, n)
		},
	})
	if err != nil {
		return err
	}
	h.consumer, err = facts.NewConsumer(facts.ConsumerConfig{
		JS: h.link.js, Durable: "hub", Logger: h.log,
		Deliver: func(_ context.Context, n alerts.Notice) error { return deliver.Notify(n) },
	})
	if err != nil {
		return err
	}
	var local []bot.Service
	for _, s := range m.Services() {
		local = append(local, s)
	}
	h.dir, err = hub.New(hub.Config{Conn: h.link.nc, Host: h.cfg.Fleet.Host, Local: local, Signer: signer, Version: version,
		LastSeen: h.registry.LastSeen, Logger: h.log})
	return err
}

// run keeps the fleet going until ctx ends: this hub's own facts
// published, the agents' heartbeats followed (whether this hub leads or
// not, so that a hub that takes over knows every silence), the directory
// refreshed, and, while this hub leads, the facts delivered and lead run
// (Socket Mode; nil for none).
func (h *fleetHub) run(ctx context.Context, lead func(ctx context.Context) error) error {
	var g errgroup.Group
	g.Go(func() error { h.pub.Run(ctx); return nil })
	g.Go(func() error { return h.registry.Run(ctx) })
	g.Go(func() error { h.refresh(ctx); return nil })
	g.Go(func() error {
		h.leader.Run(ctx, func(lctx context.Context) {
			h.log.Info().Msg("fleet: this hub leads")
			var lg errgroup.Group
			lg.Go(func() error { return h.consumer.Run(lctx) })
			if lead != nil {
				lg.Go(func() error { return lead(lctx) })
			}
			if err := lg.Wait(); err != nil && lctx.Err() == nil {
				h.log.Error().Err(err).Msg("fleet: while leading")
			}
			h.log.Info().Msg("fleet: this hub no longer leads")
		})
		return nil
	})
	return g.Wait()
}

// refresh asks the agents for their services now and every
// agent_timeout/4, so that an agent that joins is addressable within that.
func (h *fleetHub) refresh(ctx context.Context) {
	every := h.cfg.Fleet.AgentTimeout / 4
	for {
		if err := h.dir.Refresh(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn().Err(err).Msg("fleet: asking the agents for their services")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// Close leaves the fleet: the shared tokens written, the connection
// drained, the embedded server stopped.
func (h *fleetHub) Close() {
	if h.tokens != nil {
		h.tokens.Close()
	}
	h.link.Close()
}

// hubAlerts is ack, maintenance and the recurring maintenance windows in a
// fleet, where services are "host/service": the hub's own host's on its
// monitor, another host's on that host's agent (its monitor holds the
// alert and the windows).
type hubAlerts struct {
	monitor *alerts.Monitor
	host    string
	dir     bot.Directory
	agents  agentWindows // nil: the hub's own windows only
}

// remoteAlerts is what a service of another host offers (*hub.Remote).
type remoteAlerts interface {
	Acknowledge(ctx context.Context, by manager.Actor) error
	Maintenance(ctx context.Context, until time.Time, by manager.Actor, reason string) error
	AddWindow(ctx context.Context, every string, d time.Duration, by manager.Actor, reason string) (alerts.RecurringWindow, error)
}

var _ remoteAlerts = (*hub.Remote)(nil)

// agentWindows is every agent's recurring maintenance windows
// (*hub.Directory).
type agentWindows interface {
	Windows(ctx context.Context) ([]alerts.WindowInfo, error)
	CancelWindow(ctx context.Context, id string, by manager.Actor) (alerts.RecurringWindow, error)
}

var (
	_ agentWindows             = (*hub.Directory)(nil)
	_ bot.RecurringMaintenance = hubAlerts{}
)

// remote returns the other host's service named service, or ok false for
// one of this hub's own (name is then its name here).
func (a hubAlerts) remote(service string) (r remoteAlerts, name string, err error) {
	if name, ok := strings.CutPrefix(service, a.host+"/"); ok {
		return nil, name, nil
	}
	svc, err := a.dir.Lookup(service)
	if err != nil {
		return nil, "", err
	}
	r, ok := svc.(remoteAlerts)
	if !ok {
		return nil, "", usererr.New(usererr.Internal, "%s is neither this hub's nor an agent's service", service)
	}
	return r, "", nil
}

func (a hubAlerts) Acknowledge(ctx context.Context, service string, by manager.Actor) error {
	r, name, err := a.remote(service)
	switch {
	case err != nil:
		return err
	case r != nil:
		return r.Acknowledge(ctx, by)
	}
	return a.monitor.Acknowledge(ctx, name, by)
}

func (a hubAlerts) Maintenance(ctx context.Context, service string, until time.Time, by manager.Actor, reason string) error {
	r, name, err := a.remote(service)
	switch {
	case err != nil:
		return err
	case r != nil:
		return r.Maintenance(ctx, until, by, reason)
	}
	return a.monitor.Maintenance(ctx, name, until, by, reason)
}

// AddWindow adds a recurring window of the service on its host's monitor.
func (a hubAlerts) AddWindow(ctx context.Context, service, every string, d time.Duration, by manager.Actor, reason string) (alerts.RecurringWindow, error) {
	r, name, err := a.remote(service)
	switch {
	case err != nil:
		return alerts.RecurringWindow{}, err
	case r != nil:
		return r.AddWindow(ctx, every, d, by, reason)
	}
	w, err := a.monitor.AddWindow(ctx, name, every, d, by, reason)
	if err != nil {
		return alerts.RecurringWindow{}, err
	}
	return hub.AddressWindow(a.host, w), nil
}

// Windows lists the hub's own windows, then every agent's, as the fleet
// names them; the error says whose could not be listed.
func (a hubAlerts) Windows(ctx context.Context) ([]alerts.WindowInfo, error) {
	own, err := a.monitor.Windows(ctx)
	ws := hub.AddressWindows(a.host, own)
	if a.agents == nil || err != nil {
		return ws, err
	}
	theirs, err := a.agents.Windows(ctx)
	return append(ws, theirs...), err
}

// CancelWindow cancels the window id: "host/ID" on that host's monitor, a
// bare ID on the hub's own.
func (a hubAlerts) CancelWindow(ctx context.Context, id string, by manager.Actor) (alerts.RecurringWindow, error) {
	local, own := strings.CutPrefix(id, a.host+"/")
	if !own && !strings.Contains(id, "/") {
		local, own = id, true
	}
	if !own {
		if a.agents == nil {
			return alerts.RecurringWindow{}, usererr.New(usererr.NotFound, "no maintenance window %s: `maintenance list` shows them", id)
		}
		return a.agents.CancelWindow(ctx, id, by)
	}
	w, err := a.monitor.CancelWindow(ctx, local, by)
	if err != nil {
		return alerts.RecurringWindow{}, err
	}
	return hub.AddressWindow(a.host, w), nil
}

// fleetHistory answers uptime and incidents in a fleet: the hub's own
// host's services from its history, another host's from that host's agent.
type fleetHistory struct {
	local *history.Store
	host  string
	dir   bot.Directory
}

// remoteHistory is what a service of another host offers (*hub.Remote).
type remoteHistory interface {
	Uptime(ctx context.Context, from, to time.Time, bucket time.Duration) (history.Report, error)
	Incidents(ctx context.Context, n int) ([]history.Incident, error)
}

var _ remoteHistory = (*hub.Remote)(nil)

func (h fleetHistory) remote(service string) (remoteHistory, string, error) {
	if name, ok := strings.CutPrefix(service, h.host+"/"); ok {
		return nil, name, nil
	}
	svc, err := h.dir.Lookup(service)
	if err != nil {
		return nil, "", err
	}
	r, ok := svc.(remoteHistory)
	if !ok {
		return nil, "", usererr.New(usererr.Internal, "%s is neither this hub's nor an agent's service", service)
	}
	return r, "", nil
}

func (h fleetHistory) Uptime(ctx context.Context, service string, from, to time.Time, bucket time.Duration) (history.Report, error) {
	r, name, err := h.remote(service)
	switch {
	case err != nil:
		return history.Report{}, err
	case r != nil:
		return r.Uptime(ctx, from, to, bucket)
	}
	rep, err := h.local.Uptime(ctx, name, from, to, bucket)
	rep.Service = service
	return rep, err
}

func (h fleetHistory) Incidents(ctx context.Context, service string, n int) ([]history.Incident, error) {
	r, name, err := h.remote(service)
	switch {
	case err != nil:
		return nil, err
	case r != nil:
		return r.Incidents(ctx, n)
	}
	return h.local.Incidents(ctx, name, n)
}

// Health is the hub's own history's.
func (h fleetHistory) Health() history.Health { return h.local.Health() }

// randomID tells two hubs of the same host name apart in the leadership
// key.
func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
