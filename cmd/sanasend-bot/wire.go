package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/manager"
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
		}, manager.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		services = append(services, s)
	}
	return manager.New(services...)
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
