package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sanasend/sanasend-bot/fleet/agent"
	"github.com/sanasend/sanasend-bot/fleet/facts"
	"github.com/sanasend/sanasend-bot/fleet/presence"
	"github.com/sanasend/sanasend-bot/fleet/sign"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/metrics"
)

// runAgent is the bot of a host that a hub fronts: this host's services and
// their monitor, served over NATS (fleet.url) to the hubs whose keys it
// trusts (fleet.hub_keys); its alerts go to the hub as facts. It holds no
// Slack token. On SIGINT/SIGTERM it finishes the actions in flight and
// returns; the services keep running.
func runAgent(ctx context.Context, configPath string, args []string, stdout io.Writer) error {
	fs := newFlagSet("agent", stdout)
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	if err := cfg.ValidateAgent(); err != nil {
		return fmt.Errorf("config %s: %w", cfg.Path(), err)
	}
	log, err := newLogger(cfg, stdout)
	if err != nil {
		return err
	}
	host := cfg.Fleet.Host
	audit := log // the agent's audit lines name the host themselves
	log = log.With().Str("host", host).Logger()
	verifier, err := sign.NewVerifier(sign.VerifierConfig{Trusted: cfg.Fleet.HubKeys, Host: host})
	if err != nil {
		return err
	}
	c, err := build(cfg, log, true, nil)
	if err != nil {
		return err
	}
	defer c.closeHistory()
	defer c.closeServices()
	link, err := openFleet(ctx, cfg, log, "agent "+host)
	if err != nil {
		return err
	}
	defer link.Close()
	pub, err := facts.NewPublisher(facts.PublisherConfig{
		JS: link.js, Host: host, Dir: filepath.Join(cfg.StateDir, "fleet-facts"), Logger: log,
	})
	if err != nil {
		return err
	}
	met := metrics.New()
	if err := c.route(cfg, log, pub, met, noFrontEnd{}, nil); err != nil {
		return err
	}
	var svcs []agent.Service
	for _, s := range c.m.Services() {
		svcs = append(svcs, s)
	}
	var hist agent.History
	if c.history != nil { // never a typed nil in the interface
		hist = c.history
	}
	srv, err := agent.NewServer(agent.Config{History: hist,
		Conn: link.nc, Host: host, Version: version, Services: svcs, Verifier: verifier, Alerts: c.monitor, Audit: audit, Logger: log,
	})
	if err != nil {
		return err
	}
	started := time.Now()
	beat, err := presence.NewHeartbeat(presence.HeartbeatConfig{
		Conn: link.nc, Host: host, Version: version, Started: started, Services: c.m.Names,
		Every: cfg.Fleet.AgentTimeout / 4,
	})
	if err != nil {
		return err
	}

	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var bg errgroup.Group
	bg.Go(func() error { pub.Run(bgCtx); return nil })
	bg.Go(func() error { return c.keepHistory(bgCtx, log) })
	defer func() {
		stopBackground()
		if err := bg.Wait(); err != nil {
			log.Error().Err(err).Msg("agent: background work")
		}
	}()
	if err := c.monitor.Start(ctx); err != nil {
		return err
	}
	defer c.monitor.Stop()
	// The monitor runs and its facts are spooled whether or not the hub
	// is there; the endpoints and the heartbeat begin once NATS is.
	var g errgroup.Group
	g.Go(func() error {
		select {
		case <-ctx.Done():
			return nil
		case <-link.connected:
		}
		if err := srv.Start(ctx); err != nil {
			return err
		}
		beat.Run(ctx)
		return nil
	})
	log.Info().Strs("services", c.m.Names()).Strs("hub_keys", cfg.Fleet.HubKeys).Msg("agent serving")
	<-ctx.Done()
	err = g.Wait()
	_ = srv.Stop() // waits for the actions in flight
	if err != nil {
		return err
	}
	log.Info().Msg("agent stopped; the services keep running")
	return nil
}

// noFrontEnd authorises no one: an agent takes commands from signed hub
// requests only, never from a front end of its own.
type noFrontEnd struct{}

func (noFrontEnd) Authorize(context.Context, manager.Actor, string) error {
	return errNoFrontEnd
}

// errNoFrontEnd is the refusal of noFrontEnd.
var errNoFrontEnd = usererr.New(usererr.Forbidden, "an agent has no front end: use the hub")
