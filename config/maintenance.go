package config

import (
	"fmt"
	"slices"
	"time"

	"github.com/sanasend/sanasend-bot/internal/recur"
)

// Maintenance is one recurring maintenance window (the maintenance: list):
// while it is open, alerts, reminders and auto-restart of its services are
// muted and what happens is summarised at its end.
type Maintenance struct {
	// Every is when the window begins: a weekday and a local time
	// ("sun 03:00"), "daily 03:00", or a 5-field cron expression
	// ("0 3 * * 0"). Required.
	Every string `yaml:"every"`
	// Duration is how long the window stays open: positive, at most 7 days
	// (recur.MaxDuration), and shorter than the time between two starts.
	Duration time.Duration `yaml:"duration"`
	// Reason is shown when the window begins and ends.
	Reason string `yaml:"reason"`
	// Services are the names of the services it mutes; empty: all.
	Services []string `yaml:"services"`
	// Restart restarts each of its services once, when the window begins.
	Restart bool `yaml:"restart"`
}

// maintenanceReasonMax is the longest reason accepted, in bytes.
const maintenanceReasonMax = 200

// Schedule parses Every; Validate has checked it.
func (m Maintenance) Schedule() (recur.Schedule, error) { return recur.Parse(m.Every) }

// validateMaintenance checks the maintenance: list.
func (c *Config) validateMaintenance(p *problems) {
	for i, m := range c.Maintenance {
		at := func(key string) string { return fmt.Sprintf("maintenance[%d].%s", i, key) }
		sched, err := m.Schedule()
		switch {
		case m.Every == "":
			p.add(at("every"), `is required: a weekday and a time ("sun 03:00"), "daily 03:00", or a cron expression ("0 3 * * 0")`)
		case err != nil:
			p.add(at("every"), "%v", err)
		}
		switch {
		case m.Duration <= 0:
			p.add(at("duration"), "%s is not positive: give how long the window stays open, e.g. 1h", m.Duration)
		case err == nil:
			if err := sched.CheckDuration(m.Duration); err != nil {
				p.add(at("duration"), "%v", err)
			}
		}
		if len(m.Reason) > maintenanceReasonMax {
			p.add(at("reason"), "is %d bytes long: the most is %d", len(m.Reason), maintenanceReasonMax)
		}
		for j, name := range m.Services {
			path := fmt.Sprintf("maintenance[%d].services[%d]", i, j)
			switch {
			case !slices.ContainsFunc(c.Services, func(s Service) bool { return s.Name == name }):
				p.add(path, "%s is not a configured service: use one of %s", p.show(path, name), c.serviceNames())
			case slices.Index(m.Services, name) < j:
				p.add(path, "%s is listed twice", p.show(path, name))
			}
		}
	}
}
