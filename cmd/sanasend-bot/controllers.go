package main

import (
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/config"
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
	}
	return nil, nil
}
