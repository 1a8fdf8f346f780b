package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/chart"
	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/metrics"
	"github.com/sanasend/sanasend-bot/recorder"
)

// newLogger builds the bot's logger from the config.
func newLogger(cfg *config.Config, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(cfg.Log.Level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log level: %w", err)
	}
	if cfg.Log.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// newManager builds one manager.Service per configured service.
func newManager(cfg *config.Config, log zerolog.Logger) (*manager.Manager, error) {
	var services []*manager.Service
	for _, sc := range cfg.Services {
		ctl, err := newController(sc, log)
		if err != nil {
			return nil, err
		}
		s, err := manager.NewService(manager.ServiceConfig{
			Name:          sc.Name,
			Dir:           sc.Dir,
			URL:           sc.URL,
			Start:         sc.Start,
			LogFile:       sc.LogPath(),
			AuthDir:       sc.AuthPath(),
			Env:           sc.Env,
			StartTimeout:  sc.StartTimeout,
			StopTimeout:   sc.StopTimeout,
			HealthTimeout: cfg.Monitor.Timeout,
			StateDir:      filepath.Join(cfg.StateDir, sc.Name),
			Secrets:       cfg.Secrets(),
			Cgroup:        manager.CgroupMode(sc.Cgroup),
		}, manager.Options{Logger: log, Controller: ctl})
		if err != nil {
			return nil, err
		}
		services = append(services, s)
	}
	return manager.New(services...)
}

// core is what serve and console both build and run: the services, the
// history, the confirmation store, the monitor and the router.
type core struct {
	m        *manager.Manager
	confirms *bot.ConfirmStore
	monitor  *alerts.Monitor
	router   *bot.Router
	// history is the services' history in the state dir, nil when it could
	// not be opened (the bot supervises without it); rec records into it.
	history *history.Store
	rec     *recorder.Recorder
	// noHistory says why there is no history when it could not be opened;
	// "" otherwise.
	noHistory string
	// alertState keeps the monitor's alert state and added windows: in the
	// history when it is open, else in the state dir's file.
	alertState alertStore
	// dir is what the router finds services in; nil: this host's (a hub
	// sets the fleet's, and its host, before route).
	dir       bot.Directory
	fleetHost string
}

// closeServices ends the services' watching and their controllers'
// connections (systemd's bus); the services keep running.
func (c *core) closeServices() {
	for _, s := range c.m.Services() {
		_ = s.Close()
	}
}

// alertStore is where the monitor keeps its alert state and the windows
// added by commands across bot processes.
type alertStore interface {
	alerts.StateStore
	alerts.WindowStore
}

// build builds the services, opens the history (openHistory) and the
// durable state in it (openState), and the confirmation store: the store
// comes before the router and the monitor, as the Slack notifier issues
// alert tokens from it. durable keeps its tokens across bot processes, in
// the history or else in the state dir's file (serve); else they stay in
// memory (the console's prompts die with it). route completes the core;
// keepHistory or closeHistory closes the history.
//
// shared, when set, keeps the tokens instead: the bucket the hubs of a
// fleet share.
func build(cfg *config.Config, log zerolog.Logger, durable bool, shared bot.TokenStore) (*core, error) {
	m, err := newManager(cfg, log)
	if err != nil {
		return nil, err
	}
	c := &core{m: m}
	c.openHistory(cfg, log)
	tokens, err := c.openState(cfg, log)
	if err != nil {
		c.closeHistory()
		return nil, err
	}
	if shared != nil {
		tokens = shared
	}
	if c.confirms, err = openConfirms(cfg, log, durable, tokens); err != nil {
		c.closeHistory()
		return nil, err
	}
	return c, nil
}

// openConfirms is the confirmation store: durable, with the tokens of the
// bot processes before this one, in tokens (nil: the state dir's file);
// else in memory. A token store that cannot be read is logged and the file
// is used instead.
func openConfirms(cfg *config.Config, log zerolog.Logger, durable bool, tokens bot.TokenStore) (*bot.ConfirmStore, error) {
	cc := bot.ConfirmConfig{TTL: cfg.Slack.ConfirmTimeout, Logger: log}
	if !durable {
		return bot.NewConfirmStore(cc)
	}
	if tokens != nil {
		withTokens := cc
		withTokens.Tokens = tokens
		confirms, err := bot.OpenConfirmStore(withTokens)
		if err == nil {
			return confirms, nil
		}
		log.Error().Err(err).Msg("confirmation tokens unreadable in the history: keeping them in the state dir's file")
	}
	cc.Path = filepath.Join(cfg.StateDir, bot.ConfirmFile)
	return bot.OpenConfirmStore(cc)
}

// route builds the monitor, delivering to n (with met, nil for none,
// counting), and the router over the services, authorising with auth;
// dead, nil where nothing is delivered, is the outbox whose dead letters
// status reports.
func (c *core) route(cfg *config.Config, log zerolog.Logger, n alerts.Notifier, met *metrics.Metrics, auth bot.Authorizer, dead bot.DeadLetters) error {
	monitor, err := newMonitor(cfg, c.m, n, log, met, c.rec, c.alertState)
	if err != nil {
		return err
	}
	var dir bot.Directory = directory{c.m}
	if c.dir != nil {
		dir = c.dir
	}
	var al bot.Alerts = monitor
	if c.dir != nil {
		ha := hubAlerts{monitor: monitor, host: c.fleetHost, dir: c.dir}
		ha.agents, _ = c.dir.(agentWindows)
		al = ha
	}
	rc := bot.RouterConfig{
		Services: dir, Auth: auth, Confirms: c.confirms, Alerts: al, Audit: log, DeadLetters: dead,
		NoHistory: c.noHistory,
	}
	if c.history != nil { // never a typed nil in the interface
		rc.History, rc.Chart = c.history, chart.Renderer{}
		if c.dir != nil {
			rc.History = fleetHistory{local: c.history, host: c.fleetHost, dir: c.dir}
		}
	}
	router, err := bot.NewRouter(rc)
	if err != nil {
		return err
	}
	c.monitor, c.router = monitor, router
	return nil
}

// directory adapts *manager.Manager to bot.Directory.
type directory struct{ m *manager.Manager }

func (d directory) Names() []string { return d.m.Names() }

func (d directory) Lookup(name string) (bot.Service, error) {
	s, err := d.m.Lookup(name)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// localOperator authorises the person at the console: whoever runs the
// console already has a shell on the host as the bot's user and could do
// all of this by hand.
type localOperator struct{}

func (localOperator) Authorize(context.Context, manager.Actor, string) error { return nil }

// openLogFile opens the bot's own log in the state dir, for front ends whose
// terminal must stay readable.
func openLogFile(cfg *config.Config, name string) (*os.File, error) {
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(cfg.StateDir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

func nopLogger() zerolog.Logger { return zerolog.Nop() }
