package main

import (
	"fmt"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/internal/pm2"
	"github.com/sanasend/sanasend-bot/manager"
)

// newController builds the controller a service's config names: nil for
// the process controller (the Service makes its own), systemd's or PM2's
// otherwise. It does no I/O: each connects at its first use.
func newController(sc config.Service, log zerolog.Logger) (manager.Controller, error) {
	log = log.With().Str("service", sc.Name).Logger()
	switch sc.Controller {
	case "systemd":
		return manager.NewSystemdController(manager.SystemdConfig{Unit: sc.Unit, Logger: log})
	case "pm2":
		client, err := pm2.New(pm2.Config{Bin: sc.PM2, Home: sc.PM2Home})
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", sc.Name, err)
		}
		return manager.NewPM2Controller(manager.PM2Config{App: sc.PM2App, Client: client, Dir: sc.Dir, Logger: log})
	}
	return nil, nil
}
