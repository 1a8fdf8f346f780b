package config

import (
	"fmt"
	"slices"
	"time"

	"github.com/sanasend/sanasend-bot/internal/human"
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
	// Duration is how long the window stays open: positive, at most
	// MaintenanceMaxDuration, and shorter than the time between two starts.
	Duration time.Duration `yaml:"duration"`
	// Reason is shown when the window begins and ends.
	Reason string `yaml:"reason"`
	// Services are the names of the services it mutes; empty: all.
	Services []string `yaml:"services"`
	// Restart restarts each of its services once, when the window begins.
	Restart bool `yaml:"restart"`
}

// MaintenanceMaxDuration is the longest recurring window accepted.
const MaintenanceMaxDuration = 7 * 24 * time.Hour

// maintenanceReasonMax is the longest reason accepted, in bytes.
const maintenanceReasonMax = 200

// maintenancePeriodFrom is where the time between a schedule's starts is
// measured from: fixed, so that a config validates the same any day, and in
// UTC, so that the period is the nominal one (a daily window is 24h apart,
// whatever a change to or from daylight saving time makes of one night).
func maintenancePeriodFrom() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// Schedule parses Every; Validate has checked it.
func (m Maintenance) Schedule() (recur.Schedule, error) { return recur.Parse(m.Every) }

// CheckMaintenanceDuration says why d cannot be the duration of a window
// that begins on s ("" when it can). The bot's maintenance every command
// and the config apply the same rules.
func CheckMaintenanceDuration(s recur.Schedule, d time.Duration) string {
	switch {
	case d <= 0:
		return fmt.Sprintf("%s is not positive: give how long the window stays open, e.g. 1h", d)
	case d > MaintenanceMaxDuration:
		return fmt.Sprintf("%s is too long: the most is %s", human.Duration(d), human.Duration(MaintenanceMaxDuration))
	}
	if p := s.MinPeriod(maintenancePeriodFrom()); p > 0 && d >= p {
		return fmt.Sprintf("%s is not shorter than the %s between two starts of %q", human.Duration(d), human.Duration(p), s.String())
	}
	return ""
}

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
			if why := CheckMaintenanceDuration(sched, m.Duration); why != "" {
				p.add(at("duration"), "%s", why)
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
