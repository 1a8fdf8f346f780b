package config

import (
	"strings"
	"testing"
)

func TestMaintenanceConfig(t *testing.T) {
	// Lines: slack 2, services 8, maintenance 11, its first item 12.
	tests := []struct {
		name string
		yml  string
		want string // "" means valid
	}{
		{"weekday and time", `
  - every: "sun 03:00"
    duration: 1h
    reason: weekly restart
    services: [whatsapp]
    restart: true`, ""},
		{"daily", `
  - every: daily 03:00
    duration: 23h`, ""},
		{"cron", `
  - every: "0 3 * * 0"
    duration: 2h
    reason: nightly`, ""},
		{"several", `
  - every: "sun 03:00"
    duration: 1h
  - every: "*/30 * * * *"
    duration: 5m`, ""},
		{"hour 25", `
  - every: "sun 25:00"
    duration: 1h`, `maintenance[0].every: "sun 25:00": "25:00" is not a time of day (00:00 to 23:59): use a weekday and a time ("sun 03:00"), "daily 03:00", or a 5-field cron expression ("0 3 * * 0") (line 12)`},
		{"cron of 4 fields", `
  - every: "0 3 * *"
    duration: 1h`, `maintenance[0].every: "0 3 * *": use a weekday and a time ("sun 03:00"), "daily 03:00", or a 5-field cron expression ("0 3 * * 0") (line 12)`},
		{"bad cron field", `
  - every: "0 3 * * 9"
    duration: 1h`, `maintenance[0].every: "0 3 * * 9" is not a cron expression (end of range (9) above maximum (6): 9): use a weekday and a time ("sun 03:00"), "daily 03:00", or a 5-field cron expression ("0 3 * * 0") (line 12)`},
		{"no every", `
  - duration: 1h`, `maintenance[0].every: is required: a weekday and a time ("sun 03:00"), "daily 03:00", or a cron expression ("0 3 * * 0") (line 12)`},
		{"no duration", `
  - every: "sun 03:00"`, `maintenance[0].duration: 0s is not positive: give how long the window stays open, e.g. 1h (line 12)`},
		{"negative duration", `
  - every: "sun 03:00"
    duration: -1h`, `maintenance[0].duration: -1h0m0s is not positive: give how long the window stays open, e.g. 1h (line 13)`},
		{"longer than the period", `
  - every: "daily 03:00"
    duration: 25h`, `maintenance[0].duration: 25h is not shorter than the 24h between two starts of "daily 03:00" (line 13)`},
		{"as long as the cron period", `
  - every: "*/30 * * * *"
    duration: 30m`, `maintenance[0].duration: 30m is not shorter than the 30m between two starts of "*/30 * * * *" (line 13)`},
		{"longer than 7 days", `
  - every: "0 3 1 * *"
    duration: 169h`, `maintenance[0].duration: 169h is too long: the most is 7d (line 13)`},
		{"unknown service", `
  - every: "sun 03:00"
    duration: 1h
    services: [whatsapp, telegram]`, `maintenance[0].services[1]: "telegram" is not a configured service: use one of whatsapp (line 14)`},
		{"service twice", `
  - every: "sun 03:00"
    duration: 1h
    services: [whatsapp, whatsapp]`, `maintenance[0].services[1]: "whatsapp" is listed twice (line 14)`},
		{"reason too long", `
  - every: "sun 03:00"
    duration: 1h
    reason: ` + strings.Repeat("x", 201), `maintenance[0].reason: is 201 bytes long: the most is 200 (line 14)`},
		{"unknown key", `
  - every: "sun 03:00"
    duration: 1h
    restart_at: 03:00`, "restart_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(validYAML+"maintenance:"+tt.yml+"\n"), testPath, env(validEnv))
			if err == nil {
				err = c.Validate()
			}
			got := errText(err)
			if tt.name == "unknown key" {
				if !strings.Contains(got, tt.want) {
					t.Errorf("Parse() = %q; want it to name %q", got, tt.want)
				}
				return
			}
			got = strings.TrimPrefix(got, "config "+testPath+": ")
			if got != tt.want {
				t.Errorf("Parse() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestMaintenanceConfigFields(t *testing.T) {
	c := mustParse(t, validYAML+`maintenance:
  - every: "sun 03:00"
    duration: 90m
    reason: weekly restart
    services: [whatsapp]
    restart: true
`, validEnv)
	if len(c.Maintenance) != 1 {
		t.Fatalf("Maintenance = %+v; want one window", c.Maintenance)
	}
	m := c.Maintenance[0]
	if m.Every != "sun 03:00" || m.Duration.Minutes() != 90 || m.Reason != "weekly restart" || !m.Restart || len(m.Services) != 1 || m.Services[0] != "whatsapp" {
		t.Errorf("Maintenance[0] = %+v", m)
	}
	s, err := m.Schedule()
	if err != nil || s.String() != "sun 03:00" {
		t.Errorf("Schedule() = %v, %v", s, err)
	}
}
