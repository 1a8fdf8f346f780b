package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/slackbot"
	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/metrics"
)

// runServe is the bot: the Slack front end (Socket Mode when an app token
// is set, else HTTP) over the router. On SIGINT/SIGTERM it stops accepting
// requests, finishes the action in flight and returns; the supervised
// service keeps running.
func runServe(ctx context.Context, configPath string, args []string, stdout io.Writer) error {
	fs := newFlagSet("serve", stdout)
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	if err := cfg.ValidateSlack(); err != nil {
		return fmt.Errorf("config %s: %w", cfg.Path(), err)
	}
	log, err := newLogger(cfg, stdout)
	if err != nil {
		return err
	}
	met := metrics.New()
	sl, err := newSlackClients(cfg, log, met)
	if err != nil {
		return err
	}
	var fh *fleetHub
	var shared bot.TokenStore
	var refs delivery.SharedRefs // never a typed nil
	if cfg.Fleet.Enabled() {
		if fh, err = openHub(ctx, cfg, log); err != nil {
			return err
		}
		defer fh.Close()
		shared, refs = fh.tokens, fh.threads
	}
	c, err := build(cfg, log, true, shared)
	if err != nil {
		return err
	}
	defer c.closeHistory() // when it returns before serving; keepHistory closes it otherwise
	defer c.closeServices()
	outbox, notifier, err := slackAlerts(cfg, c.m, c.confirms, refs, log, sl.http)
	if err != nil {
		return err
	}
	defer outbox.Close() // after a failure below; Serve closes it otherwise
	met.SetOutbox(outbox)
	mail, err := emailAlerts(cfg, c.m, log)
	if err != nil {
		return err
	}
	var notify alerts.Notifier = notifier
	dead := deadLetters{outbox}
	if mail != nil {
		defer mail.Outbox.Close()
		notify, dead = alerts.Notifiers{notifier, mail.Notifier}, append(dead, mail.Outbox)
	}
	if c.history != nil {
		met.SetHistory(c.history, c.m.Names(), nil)
	}
	monitorNotify := notify
	if fh != nil {
		// Every monitor's notices, this hub's own included, reach Slack
		// through the facts stream, delivered by the leading hub only.
		if err := fh.prepare(c.m, notify); err != nil {
			return err
		}
		c.dir, c.fleetHost, monitorNotify = fh.dir, cfg.Fleet.Host, fh.pub
	}
	if err := c.route(cfg, log, monitorNotify, met, sl.staff, dead); err != nil {
		return err
	}
	front, err := newFront(cfg, log, c.router, sl.api, outbox)
	if err != nil {
		return err
	}
	srv, ln, err := listen(cfg, front, met)
	if err != nil {
		return err
	}
	sv := served{core: c, slackClients: sl, met: met, outbox: outbox, front: front, srv: srv, ln: ln, fleet: fh}
	if mail != nil {
		sv.mail = mail.Outbox
	}
	return serve(ctx, log, sv)
}

// served is what serve runs.
type served struct {
	*core
	*slackClients
	met    *metrics.Metrics
	outbox *delivery.Outbox
	mail   *delivery.Outbox // nil without notify.email
	front  *slackbot.Front
	srv    *http.Server
	ln     net.Listener
	fleet  *fleetHub // nil without fleet:
}

// serve runs the bot until ctx is done or its HTTP server fails. The front
// end (HTTP, Socket Mode, prompt expiry) stops first and finishes the
// actions in flight; then the monitor, then the outbox and the metrics,
// so that every outcome and alert of the last actions is in the journal.
func serve(ctx context.Context, log zerolog.Logger, s served) error {
	defer s.ln.Close() // when it returns before serving; Shutdown closes it otherwise
	if err := s.staff.Start(ctx); err != nil {
		return err
	}
	defer s.staff.Stop()
	observer := s.met.Observe(services(s.m)...) // before the monitor's first check
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var bg errgroup.Group
	bg.Go(func() error { return s.outbox.Serve(bgCtx) })
	if s.mail != nil {
		bg.Go(func() error { return s.mail.Serve(bgCtx) })
	}
	bg.Go(func() error { observer.Run(bgCtx); return nil })
	bg.Go(func() error { return s.keepHistory(bgCtx, log) })
	defer func() {
		stopBackground()
		if err := bg.Wait(); err != nil {
			log.Error().Err(err).Msg("close the outbox journal")
		}
	}()
	if err := s.monitor.Start(ctx); err != nil {
		return err
	}
	defer s.monitor.Stop()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveHTTP(gctx, log, s.srv, s.ln) })
	switch {
	case s.fleet != nil:
		// Only the leading hub holds Socket Mode (Slack sends each event
		// to one connection) and delivers the fleet's facts.
		var lead func(ctx context.Context) error
		if s.socket != nil {
			s.front.SetStandby(true) // healthy while another hub leads
			lead = func(ctx context.Context) error {
				s.front.SetStandby(false)
				defer s.front.SetStandby(true)
				return s.front.RunSocketMode(ctx, s.socket)
			}
		}
		g.Go(func() error { return s.fleet.run(gctx, lead) })
	case s.socket != nil:
		g.Go(func() error { return s.front.RunSocketMode(gctx, s.socket) })
	}
	g.Go(func() error { s.front.RunExpiry(gctx, s.confirms, clockwork.NewRealClock()); return nil })
	mode := "http"
	if s.socket != nil {
		mode = "socket"
	}
	log.Info().Str("mode", mode).Str("listen", s.ln.Addr().String()).Strs("services", s.m.Names()).Msg("serving")
	err := g.Wait()
	s.front.Wait()
	if err == nil {
		log.Info().Msg("stopped; the services keep running")
	}
	return err
}

// serveHTTP serves until ctx is done, then shuts the server down, giving
// the requests in flight 15 s.
func serveHTTP(ctx context.Context, log zerolog.Logger, srv *http.Server, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down: finishing the work in flight")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// services lists m's services as the metrics observe them.
func services(m *manager.Manager) []metrics.EventSource {
	var out []metrics.EventSource
	for _, s := range m.Services() {
		out = append(out, s)
	}
	return out
}
