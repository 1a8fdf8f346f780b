package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack/socketmode"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/bot/slackbot"
	"github.com/sanasend/sanasend-bot/config"
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
	m, err := newManager(cfg, log)
	if err != nil {
		return err
	}
	met := metrics.New()
	slackHTTP := slackbot.WithHTTPClient(&http.Client{Timeout: 30 * time.Second, Transport: met.SlackTransport(nil)})
	api := slackbot.NewClient(cfg.Slack.BotToken, cfg.Slack.APIURL, slackHTTP)
	staff, err := slackbot.NewStaff(slackbot.StaffConfig{
		Usergroups: cfg.Slack.Staff.Usergroups, Users: cfg.Slack.Staff.Users,
		AllowedChannels: cfg.Slack.AllowedChannels, Command: cfg.Slack.Command, Refresh: 5 * time.Minute,
	}, api, log, clockwork.NewRealClock())
	if err != nil {
		return err
	}
	// The confirmation store first: the alerts' notifier issues tokens
	// from it, the router takes them.
	confirms, err := openConfirmations(cfg, log)
	if err != nil {
		return err
	}
	outbox, notifier, err := slackAlerts(cfg, m, confirms, log, slackHTTP)
	if err != nil {
		return err
	}
	met.SetOutbox(outbox)
	monitor, err := newMonitor(cfg, m, notifier, log, met)
	if err != nil {
		return err
	}
	router, err := bot.NewRouter(bot.RouterConfig{
		Services: directory{m}, Auth: staff, Confirms: confirms, Alerts: monitor, Audit: log, DeadLetters: outbox,
	})
	if err != nil {
		return err
	}
	front, err := slackbot.New(slackbot.Config{
		SigningSecret: cfg.Slack.SigningSecret, Command: cfg.Slack.Command,
		AlertsChannel: cfg.Slack.AlertsChannel, Logger: log,
		Announce: func(m slackbot.Message) error { return announce(outbox, cfg.Slack.AlertsChannel, m) },
	}, router, api)
	if err != nil {
		return err
	}
	if err := staff.Start(ctx); err != nil {
		return err
	}
	defer staff.Stop()

	defer observeServices(met, m)()
	outboxCtx, stopOutbox := context.WithCancel(context.WithoutCancel(ctx))
	outboxDone := make(chan struct{})
	go func() { defer close(outboxDone); outbox.Run(outboxCtx) }()
	defer func() {
		stopOutbox()
		<-outboxDone
		if err := outbox.Close(); err != nil {
			log.Error().Err(err).Msg("close the outbox journal")
		}
	}()
	if err := monitor.Start(ctx); err != nil {
		return err
	}
	defer monitor.Stop()

	ln, err := net.Listen("tcp", cfg.Slack.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Slack.Listen, err)
	}
	mux := http.NewServeMux()
	if cfg.Slack.SocketMode() {
		// Socket Mode needs no public URL; /healthz stays for the
		// container's health check.
		mux.Handle("GET /healthz", front.Handler())
	} else {
		mux.Handle("/", front.Handler())
	}
	mux.Handle("GET /metrics", met.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	mode := "http"
	if cfg.Slack.SocketMode() {
		mode = "socket"
	}
	log.Info().Str("mode", mode).Str("listen", ln.Addr().String()).Strs("services", m.Names()).Msg("serving")

	socketDone := make(chan error, 1)
	if cfg.Slack.SocketMode() {
		sapi := slackbot.NewClient(cfg.Slack.BotToken, cfg.Slack.APIURL, slackbot.WithAppToken(cfg.Slack.AppToken), slackHTTP)
		client := socketmode.New(sapi)
		go func() { socketDone <- front.RunSocketMode(ctx, client) }()
	}
	expiryDone := make(chan struct{})
	go func() { defer close(expiryDone); expirePrompts(ctx, router, front) }()

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info().Msg("shutting down: finishing the work in flight")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	if cfg.Slack.SocketMode() {
		<-socketDone
	}
	front.Wait()
	<-expiryDone
	log.Info().Msg("stopped; the services keep running")
	return nil
}

// openConfirmations opens the confirmation store of the state dir, with the
// tokens of the bot processes before this one.
func openConfirmations(cfg *config.Config, log zerolog.Logger) (*bot.ConfirmStore, error) {
	return bot.OpenConfirmStore(bot.ConfirmConfig{Path: filepath.Join(cfg.StateDir, bot.ConfirmFile),
		TTL: cfg.Slack.ConfirmTimeout, Logger: log})
}

// observeServices records the events of every service in met until the
// returned function is called; it waits for the observers to end.
func observeServices(met *metrics.Metrics, m *manager.Manager) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range m.Services() {
		events, unsubscribe := s.Subscribe(64)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer unsubscribe()
			met.ObserveEvents(ctx, s.Name(), events)
		}()
	}
	return func() { cancel(); wg.Wait() }
}

// expirePrompts closes confirmation prompts nobody answered, so no
// live-looking button stays behind.
func expirePrompts(ctx context.Context, router *bot.Router, front *slackbot.Front) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if expired := router.Confirmations().Expired(); len(expired) > 0 {
				front.ExpirePrompts(ctx, expired)
			}
		}
	}
}

// announce puts an action's outcome in the alerts outbox.
func announce(outbox *delivery.Outbox, channel string, m slackbot.Message) error {
	payload, err := slackbot.EncodePayload(m)
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	return outbox.Enqueue(delivery.Item{ID: fmt.Sprintf("outcome-%d", time.Now().UnixNano()), Channel: channel,
		Op: delivery.OpPost, Payload: payload, Enqueued: time.Now()})
}
