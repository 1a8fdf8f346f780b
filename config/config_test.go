package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testPath is where the test configs pretend to live. Parse does not read it.
const testPath = "/etc/sanasend/sanasend-bot.yaml"

// env returns a lookup function over vars.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// validYAML is a small valid config; the mutate tests start from it.
const validYAML = `
slack:
  bot_token: ${SLACK_BOT_TOKEN}
  signing_secret: ${SLACK_SIGNING_SECRET}
  alerts_channel: C0ALERTS
  staff:
    users: [U0ADMIN]
services:
  - name: whatsapp
    dir: /srv/whatsapp
`

var validEnv = map[string]string{
	"SLACK_BOT_TOKEN":      "xoxb-1-secret-bot-token",
	"SLACK_SIGNING_SECRET": "secret-signing-secret",
}

func mustParse(t *testing.T, yml string, vars map[string]string) *Config {
	t.Helper()
	c, err := Parse([]byte(yml), testPath, env(vars))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestLoadFull(t *testing.T) {
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-full")
	t.Setenv("SLACK_SIGNING_SECRET", "")
	t.Setenv("SLACK_APP_TOKEN", "xapp-full")
	path := filepath.Join("testdata", "full.yaml")
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	abs, _ := filepath.Abs(path)
	if got.Path() != abs {
		t.Errorf("Path() = %q; want %q", got.Path(), abs)
	}
	want := Config{
		Slack: Slack{
			BotToken:        "xoxb-full",
			AppToken:        "xapp-full",
			Listen:          ":8080",
			Command:         "/sanasend",
			AlertsChannel:   "C0ALERTS",
			AllowedChannels: []string{},
			Staff:           Staff{Usergroups: []string{"S0STAFF"}, Users: []string{"U0ADMIN"}},
			ConfirmTimeout:  2 * time.Minute,
		},
		Services: []Service{{
			Name:         "whatsapp",
			Dir:          "/srv/sanasend/whatsapp-service",
			URL:          "http://127.0.0.1:3000",
			Start:        []string{"npm", "start"},
			LogFile:      "logs/combined.log",
			AuthDir:      ".wwebjs_auth",
			Env:          map[string]string{"NODE_ENV": "production"},
			StartTimeout: 60 * time.Second,
			StopTimeout:  10 * time.Second,
			Controller:   "process",
			Cgroup:       "auto",
			PM2:          "pm2",
		}},
		Monitor: Monitor{
			Interval:           30 * time.Second,
			Timeout:            5 * time.Second,
			FailureThreshold:   2,
			SuccessThreshold:   1,
			RepeatInterval:     30 * time.Minute,
			RestorationTimeout: 120 * time.Second,
			AutoRestartMax:     3,
			MemoryLimit:        6 << 30,
			SessionMemoryLimit: 2 << 30,
		},
		Log:      Log{Level: "info", Format: "json"},
		StateDir: filepath.Join(filepath.Dir(abs), "sanasend-state"),
	}
	got.path, got.lines, got.refs = "", nil, nil
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("Load(%s) =\n%+v\nwant\n%+v", path, *got, want)
	}
	if err := got.ValidateSlack(); err != nil {
		t.Errorf("ValidateSlack: %v", err)
	}
}

// TestLoadMissingFile: the error names the absolute path tried, even for a
// relative one.
func TestLoadMissingFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	_, err := Load("nope.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(nope.yaml) = %v; want an error wrapping os.ErrNotExist", err)
	}
	if got, want := err.Error(), "config: no file at "+filepath.Join(dir, "nope.yaml"); !strings.HasPrefix(got, want) {
		t.Errorf("Load(nope.yaml) = %q; want it to start with %q", got, want)
	}
}

func TestLoadUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir) // a directory
	if err == nil || !strings.Contains(err.Error(), "config: cannot read "+dir+": ") {
		t.Errorf("Load(a directory) = %v; want it to name the path", err)
	}
}

func TestParseMinimalDefaults(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, "/opt/bot/conf/sanasend-bot.yaml", nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := defaultService()
	want.Name = "whatsapp"
	want.Dir = "/opt/bot/whatsapp-service"
	if !reflect.DeepEqual(c.Services, []Service{want}) {
		t.Errorf("Services = %+v; want %+v", c.Services, []Service{want})
	}
	if got, want := c.StateDir, "/opt/bot/conf/sanasend-state"; got != want {
		t.Errorf("StateDir = %q; want %q", got, want)
	}
	def := Default()
	if !reflect.DeepEqual(c.Slack, def.Slack) || c.Monitor != def.Monitor || c.Log != def.Log || c.Demo != def.Demo {
		t.Errorf("Parse(minimal) changed defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestParsePaths(t *testing.T) {
	tests := []struct {
		name, path, yml    string
		wantDir, wantState string
	}{
		{"relative dir", "/a/b/c.yaml", "services: [{dir: svc}]\n", "/a/b/svc", "/a/b/sanasend-state"},
		{"dot dot and clean", "/a/b/c.yaml", "services: [{dir: ../x/./y/}]\n", "/a/x/y", "/a/b/sanasend-state"},
		{"absolute dir cleaned", "/a/b/c.yaml", "services: [{dir: /srv//svc/}]\n", "/srv/svc", "/a/b/sanasend-state"},
		{"relative state dir", "/a/b/c.yaml", "services: [{dir: /s}]\nstate_dir: var/state\n", "/s", "/a/b/var/state"},
		{"absolute state dir", "/a/b/c.yaml", "services: [{dir: /s}]\nstate_dir: /var/lib/sanasend/\n", "/s", "/var/lib/sanasend"},
		{"dir from env", "/a/b/c.yaml", "services: [{dir: '${HOME}/svc'}]\n", "/home/op/svc", "/a/b/sanasend-state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yml), tt.path, env(map[string]string{"HOME": "/home/op"}))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.Services[0].Dir; got != tt.wantDir {
				t.Errorf("Dir = %q; want %q", got, tt.wantDir)
			}
			if c.StateDir != tt.wantState {
				t.Errorf("StateDir = %q; want %q", c.StateDir, tt.wantState)
			}
		})
	}

	// A relative config path resolves against the working directory.
	c, err := Parse([]byte("services: [{dir: svc}]\n"), "conf/bot.yaml", nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	wd, _ := os.Getwd()
	if got, want := c.Services[0].Dir, filepath.Join(wd, "conf", "svc"); got != want {
		t.Errorf("Dir = %q; want %q", got, want)
	}
	if got, want := c.Path(), filepath.Join(wd, "conf", "bot.yaml"); got != want {
		t.Errorf("Path() = %q; want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	base := mustParse(t, validYAML, validEnv)
	if err := base.Validate(); err != nil {
		t.Fatalf("valid config: Validate() = %v", err)
	}
	// Line numbers of validYAML: slack 2, alerts_channel 5, users 7, U0ADMIN 7,
	// services 8, services[0] 9, name 9, dir 10.
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" means valid
	}{
		{"no services", func(c *Config) { c.Services = nil }, "services: at least one service is required (line 8)"},
		{"two services, one unnamed", func(c *Config) {
			s := c.Services[0]
			s.Name, s.URL = "", "http://127.0.0.1:3001"
			c.Services = append(c.Services, s)
		}, "services[1].name: is required when there are several services (line 8)"},
		{"duplicate name", func(c *Config) {
			s := c.Services[0]
			s.URL = "http://127.0.0.1:3001"
			c.Services = append(c.Services, s)
		}, `services[1].name: "whatsapp" is already the name of services[0] (line 8)`},
		{"same port", func(c *Config) {
			s := c.Services[0]
			s.Name, s.URL = "other", "http://127.0.0.1:3000/"
			c.Services = append(c.Services, s)
		}, `services[1].url: "http://127.0.0.1:3000/" is the same host and port as services[0].url (line 8)`},
		{"bad name", func(c *Config) { c.Services[0].Name = "Whats App" }, `services[0].name: "Whats App" is not a valid name: use up to 32 lowercase letters, digits, - and _, starting with a letter or digit (line 9)`},
		{"name too long", func(c *Config) { c.Services[0].Name = strings.Repeat("a", 33) }, `services[0].name: "` + strings.Repeat("a", 33) + `" is not a valid name: use up to 32 lowercase letters, digits, - and _, starting with a letter or digit (line 9)`},
		{"name 32 long", func(c *Config) { c.Services[0].Name = strings.Repeat("a", 32) }, ""},
		{"reserved name all", func(c *Config) { c.Services[0].Name = "all" }, `services[0].name: "all" is reserved: commands read it as an argument (logs all, logs 50) (line 9)`},
		{"reserved numeric name", func(c *Config) { c.Services[0].Name = "50" }, `services[0].name: "50" is reserved: commands read it as an argument (logs all, logs 50) (line 9)`},
		{"no dir", func(c *Config) { c.Services[0].Dir = "" }, "services[0].dir: is required (line 10)"},
		{"relative dir in code", func(c *Config) { c.Services[0].Dir = "svc" }, `services[0].dir: "svc" is not an absolute path (line 10)`},
		{"tilde dir", func(c *Config) { c.Services[0].Dir = "~/svc" }, `services[0].dir: "~/svc": ~ is not expanded: use an absolute path, or ${HOME}/... (line 10)`},
		{"url scheme", func(c *Config) { c.Services[0].URL = "ftp://host:21" }, `services[0].url: "ftp://host:21" is not an http or https URL, e.g. http://127.0.0.1:3000 (line 9)`},
		{"url relative", func(c *Config) { c.Services[0].URL = "127.0.0.1:3000" }, `services[0].url: "127.0.0.1:3000" is not a URL, e.g. http://127.0.0.1:3000 (line 9)`},
		{"url no host", func(c *Config) { c.Services[0].URL = "http:///health" }, `services[0].url: "http:///health" has no host, e.g. http://127.0.0.1:3000 (line 9)`},
		{"url credentials", func(c *Config) { c.Services[0].URL = "http://u:pw@host" }, "services[0].url: must not contain credentials: URLs are shown in Slack and in logs (line 9)"},
		{"url query", func(c *Config) { c.Services[0].URL = "http://host/?a=1" }, `services[0].url: "http://host/?a=1" must not have a query or fragment (line 9)`},
		{"url port", func(c *Config) { c.Services[0].URL = "http://host:70000" }, `services[0].url: "http://host:70000" has an invalid port: use 1 to 65535 (line 9)`},
		{"url unparsable", func(c *Config) { c.Services[0].URL = "http://[::1" }, `services[0].url: "http://[::1" is not a URL, e.g. http://127.0.0.1:3000 (line 9)`},
		{"https url", func(c *Config) { c.Services[0].URL = "https://wa.internal" }, ""},
		{"empty start", func(c *Config) { c.Services[0].Start = nil }, `services[0].start: must not be empty: give the command as a list, e.g. ["npm", "start"] (line 9)`},
		{"empty program", func(c *Config) { c.Services[0].Start = []string{"", "start"} }, "services[0].start[0]: the program to run must not be empty (line 9)"},
		{"empty log file", func(c *Config) { c.Services[0].LogFile = "" }, "services[0].log_file: must not be empty (line 9)"},
		{"empty auth dir", func(c *Config) { c.Services[0].AuthDir = "" }, "services[0].auth_dir: must not be empty (line 9)"},
		{"env slack", func(c *Config) { c.Services[0].Env = map[string]string{"SLACK_BOT_TOKEN": "x"} }, "services[0].env.SLACK_BOT_TOKEN: SLACK_BOT_TOKEN is reserved: the bot removes SLACK_* variables from the service's environment and sets SANASEND_* itself (line 9)"},
		{"env marker lowercase", func(c *Config) { c.Services[0].Env = map[string]string{"sanasend_id": "x"} }, "services[0].env.sanasend_id: sanasend_id is reserved: the bot removes SLACK_* variables from the service's environment and sets SANASEND_* itself (line 9)"},
		{"env bad name", func(c *Config) { c.Services[0].Env = map[string]string{"A B": "x"} }, `services[0].env["A B"]: "A B" is not a valid variable name: use letters, digits and _, not starting with a digit (line 9)`},
		{"env ok", func(c *Config) { c.Services[0].Env = map[string]string{"NODE_ENV": "production", "_X1": ""} }, ""},
		{"start timeout", func(c *Config) { c.Services[0].StartTimeout = 999 * time.Millisecond }, "services[0].start_timeout: 999ms is too short: the minimum is 1s (line 9)"},
		{"controller unknown", func(c *Config) { c.Services[0].Controller = "docker" }, `services[0].controller: "docker" is not a controller: use process, systemd or pm2 (line 9)`},
		{"cgroup bad", func(c *Config) { c.Services[0].Cgroup = "yes" }, `services[0].cgroup: "yes" is not a cgroup mode: use auto or off (line 9)`},
		{"cgroup off", func(c *Config) { c.Services[0].Cgroup = "off" }, ""},
		{"unit without systemd", func(c *Config) { c.Services[0].Unit = "whatsapp.service" }, "services[0].unit: is for controller systemd only (this service's controller is process) (line 9)"},
		{"systemd", func(c *Config) { c.Services[0].Controller, c.Services[0].Unit = "systemd", "whatsapp@main.service" }, ""},
		{"systemd no unit", func(c *Config) { c.Services[0].Controller = "systemd" }, `services[0].unit: "" is not a systemd service unit: give its name, e.g. whatsapp.service (line 9)`},
		{"systemd bad unit", func(c *Config) { c.Services[0].Controller, c.Services[0].Unit = "systemd", "whatsapp.service; rm" }, `services[0].unit: "whatsapp.service; rm" is not a systemd service unit: give its name, e.g. whatsapp.service (line 9)`},
		{"systemd cgroup off", func(c *Config) {
			c.Services[0].Controller, c.Services[0].Unit, c.Services[0].Cgroup = "systemd", "whatsapp.service", "off"
		}, "services[0].cgroup: is for controller process only: systemd puts the service in a cgroup of its own (line 9)"},
		{"pm2", func(c *Config) {
			c.Services[0].Controller, c.Services[0].PM2App, c.Services[0].PM2Home = "pm2", "whatsapp", "/home/sanasend/.pm2"
		}, ""},
		{"pm2 no home", func(c *Config) { c.Services[0].Controller, c.Services[0].PM2App = "pm2", "whatsapp" },
			"services[0].pm2_home: is required with controller pm2: the PM2_HOME of the daemon that runs the app (e.g. /home/sanasend/.pm2), so that the bot never talks to another user's PM2 by accident (line 9)"},
		{"pm2 relative home", func(c *Config) {
			c.Services[0].Controller, c.Services[0].PM2App, c.Services[0].PM2Home = "pm2", "whatsapp", ".pm2"
		}, `services[0].pm2_home: ".pm2" is not an absolute path (line 9)`},
		{"pm2 numeric app", func(c *Config) {
			c.Services[0].Controller, c.Services[0].PM2App, c.Services[0].PM2Home = "pm2", "0", "/p"
		}, `services[0].pm2_app: "0" is not a PM2 app name: give the name PM2 lists (pm2 ls), e.g. whatsapp (line 9)`},
		{"stop timeout zero", func(c *Config) { c.Services[0].StopTimeout = 0 }, "services[0].stop_timeout: 0s is too short: the minimum is 1s (line 9)"},
		{"durations of 1s", func(c *Config) {
			c.Monitor.Interval, c.Monitor.Timeout, c.Monitor.RepeatInterval, c.Monitor.RestorationTimeout = time.Second, time.Second, time.Second, time.Second
			c.Services[0].StartTimeout, c.Services[0].StopTimeout, c.Slack.ConfirmTimeout = time.Second, time.Second, time.Second
		}, ""},
		{"interval", func(c *Config) { c.Monitor.Interval = 0 }, "monitor.interval: 0s is too short: the minimum is 1s"},
		{"timeout", func(c *Config) { c.Monitor.Timeout = -time.Second }, "monitor.timeout: -1s is too short: the minimum is 1s"},
		{"repeat interval", func(c *Config) { c.Monitor.RepeatInterval = 0 }, "monitor.repeat_interval: 0s is too short: the minimum is 1s"},
		{"restoration timeout", func(c *Config) { c.Monitor.RestorationTimeout = 0 }, "monitor.restoration_timeout: 0s is too short: the minimum is 1s"},
		{"failure threshold", func(c *Config) { c.Monitor.FailureThreshold = 0 }, "monitor.failure_threshold: 0 is too small: the minimum is 1"},
		{"success threshold", func(c *Config) { c.Monitor.SuccessThreshold = -1 }, "monitor.success_threshold: -1 is too small: the minimum is 1"},
		{"auto restart max", func(c *Config) { c.Monitor.AutoRestartMax = 0 }, "monitor.auto_restart_max_per_hour: 0 is too small: the minimum is 1"},
		{"digest", func(c *Config) { c.Monitor.DigestAt = "24:00" }, `monitor.digest_at: "24:00" is not a time of day: use "HH:MM" (24-hour, local time), e.g. "09:00", or "" for no digest`},
		{"digest short", func(c *Config) { c.Monitor.DigestAt = "9:00" }, `monitor.digest_at: "9:00" is not a time of day: use "HH:MM" (24-hour, local time), e.g. "09:00", or "" for no digest`},
		{"digest ok", func(c *Config) { c.Monitor.DigestAt = "23:59" }, ""},
		{"weekly digest", func(c *Config) { c.Monitor.WeeklyDigestAt = "09:00" }, `monitor.weekly_digest_at: "09:00" is not a weekday and a time of day: use e.g. "mon 09:00" (a weekday, 3 letters or whole, and "HH:MM", 24-hour, local time), or "" for no weekly digest`},
		{"weekly digest bad day", func(c *Config) { c.Monitor.WeeklyDigestAt = "mo 09:00" }, `monitor.weekly_digest_at: "mo 09:00" is not a weekday and a time of day: use e.g. "mon 09:00" (a weekday, 3 letters or whole, and "HH:MM", 24-hour, local time), or "" for no weekly digest`},
		{"weekly digest bad time", func(c *Config) { c.Monitor.WeeklyDigestAt = "mon 24:00" }, `monitor.weekly_digest_at: "mon 24:00" is not a weekday and a time of day: use e.g. "mon 09:00" (a weekday, 3 letters or whole, and "HH:MM", 24-hour, local time), or "" for no weekly digest`},
		{"weekly digest ok", func(c *Config) { c.Monitor.WeeklyDigestAt = "Monday 09:00" }, ""},
		{"weekly digest short ok", func(c *Config) { c.Monitor.WeeklyDigestAt = "sun 23:59" }, ""},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, `log.level: "verbose" is not a log level: use one of trace, debug, info, warn, error, fatal, panic, disabled`},
		{"log format", func(c *Config) { c.Log.Format = "text" }, `log.format: "text" is not a log format: use json or console`},
		{"log console", func(c *Config) { c.Log.Level, c.Log.Format = "disabled", "console" }, ""},
		{"no state dir", func(c *Config) { c.StateDir = "" }, "state_dir: is required"},
		{"command", func(c *Config) { c.Slack.Command = "sanasend" }, `slack.command: "sanasend" is not a slash command: use a / and up to 31 lowercase letters, digits, - or _, e.g. /sanasend (line 2)`},
		{"command upper", func(c *Config) { c.Slack.Command = "/SanaSend" }, `slack.command: "/SanaSend" is not a slash command: use a / and up to 31 lowercase letters, digits, - or _, e.g. /sanasend (line 2)`},
		{"command of 32 characters", func(c *Config) { c.Slack.Command = "/" + strings.Repeat("a", 31) }, ""},
		{"command of 33 characters", func(c *Config) { c.Slack.Command = "/" + strings.Repeat("a", 32) }, `slack.command: "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" is not a slash command: use a / and up to 31 lowercase letters, digits, - or _, e.g. /sanasend (line 2)`},
		{"listen", func(c *Config) { c.Slack.Listen = "8080" }, `slack.listen: "8080" is not an address: use host:port or :port, e.g. :8080 (line 2)`},
		{"listen port", func(c *Config) { c.Slack.Listen = "localhost:http" }, `slack.listen: "localhost:http" has no valid port: use host:port or :port, e.g. :8080 (line 2)`},
		{"api url", func(c *Config) { c.Slack.APIURL = "slack.example" }, `slack.api_url: "slack.example" is not an http or https URL, e.g. http://127.0.0.1:3000 (line 2)`},
		{"alerts channel name", func(c *Config) { c.Slack.AlertsChannel = "#alerts" }, `slack.alerts_channel: "#alerts" is not a channel ID (C..., G... or D...): use the ID, not the name (in Slack: open the details and copy the ID at the bottom) (line 5)`},
		{"allowed channel", func(c *Config) { c.Slack.AllowedChannels = []string{"C123", "U123"} }, `slack.allowed_channels[1]: "U123" is not a channel ID (C..., G... or D...) (line 2)`},
		{"staff user name", func(c *Config) { c.Slack.Staff.Users = []string{"alice"} }, `slack.staff.users[0]: "alice" is not a user ID (U... or W...): use the ID, not the name (in Slack: open the details and copy the ID at the bottom) (line 7)`},
		{"usergroup", func(c *Config) { c.Slack.Staff.Usergroups = []string{"@staff"} }, `slack.staff.usergroups[0]: "@staff" is not a user group ID (S...): use the ID, not the name (in Slack: open the details and copy the ID at the bottom) (line 6)`},
		{"confirm timeout", func(c *Config) { c.Slack.ConfirmTimeout = 0 }, "slack.confirm_timeout: 0s is too short: the minimum is 1s (line 2)"},
		{"several errors, sorted by line", func(c *Config) {
			c.Monitor.Interval = 0
			c.Services[0].Dir = ""
			c.Slack.AlertsChannel = "alerts"
		}, `slack.alerts_channel: "alerts" is not a channel ID (C..., G... or D...): use the ID, not the name (in Slack: open the details and copy the ID at the bottom) (line 5)` + "\n" +
			"services[0].dir: is required (line 10)\n" +
			"monitor.interval: 0s is too short: the minimum is 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, validYAML, validEnv)
			tt.mutate(c)
			if got := errText(c.Validate()); got != tt.want {
				t.Errorf("Validate() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestValidateDefaultInCode(t *testing.T) {
	c := Default()
	c.StateDir = "/var/lib/sanasend"
	s := defaultService()
	s.Name, s.Dir = "whatsapp", "/srv/whatsapp"
	c.Services = []Service{s}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v; want nil", err)
	}
	if err := c.ValidateSlack(); err == nil {
		t.Errorf("ValidateSlack() = nil; want errors for the missing token and channel")
	}
}

func TestValidateSlack(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Slack)
		want   string
	}{
		{"http mode", func(*Slack) {}, ""},
		{"socket mode", func(s *Slack) { s.SigningSecret, s.AppToken = "", "xapp-1-A-secret" }, ""},
		{"no bot token", func(s *Slack) { s.BotToken = "" }, "slack.bot_token: is required: the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page, here or in a file named by slack.bot_token_file; it is set from ${SLACK_BOT_TOKEN}, which is empty (line 3)"},
		{"app token as bot token", func(s *Slack) { s.BotToken = "xapp-1-secret" }, "slack.bot_token: (value hidden) is an app-level token (xapp-): it belongs in slack.app_token; bot_token is the Bot User OAuth Token (xoxb-...) (line 3)"},
		{"user token", func(s *Slack) { s.BotToken = "xoxp-secret" }, "slack.bot_token: (value hidden) is a user token (xoxp-): use the Bot User OAuth Token (xoxb-...) (line 3)"},
		{"bad bot token", func(s *Slack) { s.BotToken = "secret" }, "slack.bot_token: (value hidden) does not start with xoxb-: use the Bot User OAuth Token from the app's OAuth & Permissions page (line 3)"},
		{"bad app token", func(s *Slack) { s.AppToken = "xoxb-secret" }, "slack.app_token: (value hidden) does not start with xapp-: use an app-level token with the connections:write scope (Basic Information > App-Level Tokens) (line 2)"},
		{"no signing secret", func(s *Slack) { s.SigningSecret = "" }, "slack.signing_secret: is required in HTTP mode (no slack.app_token): the Signing Secret from the app's Basic Information page, here or in a file named by slack.signing_secret_file; it is set from ${SLACK_SIGNING_SECRET}, which is empty (line 4)"},
		{"no alerts channel", func(s *Slack) { s.AlertsChannel = "" }, "slack.alerts_channel: is required: the ID (C...) of the channel where alerts go (line 5)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, validYAML, validEnv)
			tt.mutate(&c.Slack)
			if got := errText(c.ValidateSlack()); got != tt.want {
				t.Errorf("ValidateSlack() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestValidateSlackNamesEmptyVariable(t *testing.T) {
	c := mustParse(t, `
slack:
  bot_token: ${SLACK_BOT_TOKEN:-}
  app_token: ${SLACK_APP_TOKEN:-}
  signing_secret: ${SLACK_SIGNING_SECRET:-}
services: [{dir: /s}]
`, nil)
	want := "slack.alerts_channel: is required: the ID (C...) of the channel where alerts go (line 2)\n" +
		"slack.bot_token: is required: the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page, here or in a file named by slack.bot_token_file; it is set from ${SLACK_BOT_TOKEN}, which is empty (line 3)\n" +
		"slack.signing_secret: is required in HTTP mode (no slack.app_token): the Signing Secret from the app's Basic Information page, here or in a file named by slack.signing_secret_file; it is set from ${SLACK_SIGNING_SECRET}, which is empty (line 5)"
	if got := errText(c.ValidateSlack()); got != want {
		t.Errorf("ValidateSlack() =\n%s\nwant\n%s", got, want)
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "alpha", "EMPTY": "", "SPECIAL": `x: y # z ${A} "q" '`, "DOLLAR": "pa$$w$rd"}
	tests := []struct {
		in, want string
		refs     []string
		problems []expandProblem
	}{
		{"plain", "plain", nil, nil},
		{"${A}", "alpha", []string{"A"}, nil},
		{"pre-${A}-post", "pre-alpha-post", []string{"A"}, nil},
		{"${A}${A}", "alphaalpha", []string{"A", "A"}, nil},
		{"${EMPTY}", "", []string{"EMPTY"}, nil},
		{"${UNSET}", "", []string{"UNSET"}, []expandProblem{{name: "UNSET"}}},
		{"${UNSET:-dflt}", "dflt", []string{"UNSET"}, nil},
		{"${UNSET:-}", "", []string{"UNSET"}, nil},
		{"${EMPTY:-dflt}", "dflt", []string{"EMPTY"}, nil},
		{"${A:-dflt}", "alpha", []string{"A"}, nil},
		{"${UNSET:-a:-b $x}", "a:-b $x", []string{"UNSET"}, nil},
		{"$${A}", "${A}", nil, nil},
		{"$$${A}", "$${A}", nil, nil},
		{"a$b$", "a$b$", nil, nil},
		{"pa$$word", "pa$$word", nil, nil},
		{"$A", "$A", nil, nil},
		{"${SPECIAL}", `x: y # z ${A} "q" '`, []string{"SPECIAL"}, nil}, // not expanded twice
		{"${DOLLAR}", "pa$$w$rd", []string{"DOLLAR"}, nil},
		{"${1A}", "", nil, []expandProblem{{msg: "malformed ${...}: write ${NAME} or ${NAME:-default} (NAME: letters, digits and _), or $${ for a literal ${"}}},
		{"${}", "", nil, []expandProblem{{msg: "malformed ${...}: write ${NAME} or ${NAME:-default} (NAME: letters, digits and _), or $${ for a literal ${"}}},
		{"${A:default}", "", nil, []expandProblem{{msg: "malformed ${...}: write ${NAME} or ${NAME:-default} (NAME: letters, digits and _), or $${ for a literal ${"}}},
		{"x${A", "x${A", nil, []expandProblem{{msg: "unterminated ${: write ${NAME}, or $${ for a literal ${"}}},
		{"${U1}${U2}", "", []string{"U1", "U2"}, []expandProblem{{name: "U1"}, {name: "U2"}}},
	}
	for _, tt := range tests {
		got, refs, problems := expand(tt.in, env(vars))
		if got != tt.want || !reflect.DeepEqual(refs, tt.refs) || !reflect.DeepEqual(problems, tt.problems) {
			t.Errorf("expand(%q) = %q, %q, %+v; want %q, %q, %+v", tt.in, got, refs, problems, tt.want, tt.refs, tt.problems)
		}
	}
}

func TestParseEnvExpansion(t *testing.T) {
	vars := map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-1: #not-a-comment\n  nested: true",
		"INTERVAL":        "45s",
		"AUTO":            "true",
		"FT":              "4",
		"PORT":            "3100",
		"DB_PASSWORD":     `p@ss: "w" #1 ${X}`,
	}
	c := mustParse(t, `
slack:
  bot_token: ${SLACK_BOT_TOKEN}
  app_token: ${SLACK_APP_TOKEN:-}
  api_url: ${SLACK_API_URL:-http://127.0.0.1:9999/api}
services:
  - dir: /srv/wa
    url: http://127.0.0.1:${PORT}
    start: [node, "$${literal}", "a$b"]
    env:
      DB_PASSWORD: ${DB_PASSWORD}
      PRICE: $5
monitor:
  interval: ${INTERVAL}
  failure_threshold: ${FT}
  auto_restart: ${AUTO}
  timeout: ${TIMEOUT:-2s}
`, vars)
	checks := []struct {
		name      string
		got, want any
	}{
		{"bot_token", c.Slack.BotToken, vars["SLACK_BOT_TOKEN"]},
		{"app_token", c.Slack.AppToken, ""},
		{"api_url", c.Slack.APIURL, "http://127.0.0.1:9999/api/"},
		{"url", c.Services[0].URL, "http://127.0.0.1:3100"},
		{"port", c.Services[0].Port(), 3100},
		{"start", c.Services[0].Start, []string{"node", "${literal}", "a$b"}},
		{"env", c.Services[0].Env, map[string]string{"DB_PASSWORD": vars["DB_PASSWORD"], "PRICE": "$5"}},
		{"interval", c.Monitor.Interval, 45 * time.Second},
		{"failure_threshold", c.Monitor.FailureThreshold, 4},
		{"auto_restart", c.Monitor.AutoRestart, true},
		{"timeout", c.Monitor.Timeout, 2 * time.Second},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v; want %#v", ch.name, ch.got, ch.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const head = "config " + testPath + ": "
	tests := []struct {
		name string
		yml  string
		env  map[string]string
		want string
	}{
		{"empty file", "", nil, head + "services: at least one service is required"},
		{"comments only", "# nothing\n", nil, head + "services: at least one service is required"},
		{"not a mapping", "- a\n- b\n", nil, head + "expected a mapping (key: value lines), got a list (line 1)"},
		{"scalar document", "hello\n", nil, head + `expected a mapping (key: value lines), got "hello" (line 1)`},
		{"syntax", "slack:\n  listen: :80\n bad\n", nil, head + "invalid YAML: did not find expected key (line 2)"},
		{"tab", "slack:\n\tlisten: x\n", nil, head + "invalid YAML: found character that cannot start any token (line 2)"},
		{"two documents", "services: [{dir: /s}]\n---\nservices: [{dir: /t}]\n", nil, head + "the file holds several YAML documents (---): a config is one document (line 2)"},
		{"unset variable", "slack:\n  bot_token: ${SLACK_BOT_TOKEN}\nservices: [{dir: /s}]\n", nil, head + "slack.bot_token: ${SLACK_BOT_TOKEN} is not set (line 2)"},
		{"unset variable in a list", "services: [{dir: /s, start: [node, '${ENTRY}']}]\n", nil, head + "services[0].start[1]: ${ENTRY} is not set (line 1)"},
		{"malformed reference", "services:\n  - dir: /s\n    url: http://h:${PORT\n", nil, head + `services[0].url: "http://h:${PORT": unterminated ${: write ${NAME}, or $${ for a literal ${ (line 3)`},
		{"malformed secret reference", "slack:\n  bot_token: xoxb-s3cr3t${\nservices: [{dir: /s}]\n", nil, head + "slack.bot_token: (value hidden): unterminated ${: write ${NAME}, or $${ for a literal ${ (line 2)"},
		{"duration", "services:\n  - dir: /s\n    stop_timeout: ten\n", nil, head + `services[0].stop_timeout: "ten" is not a duration: use a number and a unit (ms, s, m, h), e.g. 30s or 1m30s (line 3)`},
		{"bare integer duration", "monitor:\n  interval: 30\nservices: [{dir: /s}]\n", nil, head + `monitor.interval: "30" is not a duration: add a unit, e.g. 30s (line 2)`},
		{"bare float duration", "monitor:\n  interval: 1.5\nservices: [{dir: /s}]\n", nil, head + `monitor.interval: "1.5" is not a duration: add a unit, e.g. 1.5s (line 2)`},
		{"duration from env", "monitor:\n  interval: ${I}\nservices: [{dir: /s}]\n", map[string]string{"I": "ten"}, head + `monitor.interval: "ten" (from "${I}") is not a duration: use a number and a unit (ms, s, m, h), e.g. 30s or 1m30s (line 2)`},
		{"history cap too small", "history:\n  max_size: 64KiB\nservices: [{dir: /s}]\n", nil, head + `history.max_size: 64KiB is too small: the minimum is 1MiB (or 0 for no cap) (line 2)`},
		{"size without unit", "monitor:\n  memory_limit: 6\nservices: [{dir: /s}]\n", nil, head + `monitor.memory_limit: "6" is not a size: add a unit, e.g. 6GiB or 6MiB (or 0 for none) (line 2)`},
		{"size with unknown unit", "monitor:\n  memory_limit: 6 gigs\nservices: [{dir: /s}]\n", nil, head + `monitor.memory_limit: "6 gigs" is not a size: use a number and a unit (KiB, MiB, GiB, or KB, MB, GB), e.g. 6GiB, or 0 for none (line 2)`},
		{"negative size", "monitor:\n  session_memory_limit: -1GiB\nservices: [{dir: /s}]\n", nil, head + `monitor.session_memory_limit: "-1GiB" is not a size: use a number and a unit (KiB, MiB, GiB, or KB, MB, GB), e.g. 6GiB, or 0 for none (line 2)`},
		{"size too small", "monitor:\n  memory_limit: 512KiB\nservices: [{dir: /s}]\n", nil, head + `monitor.memory_limit: 512KiB is too small: the minimum is 64MiB (or 0 for no limit) (line 2)`},
		{"session limit above the whole", "monitor:\n  memory_limit: 4GiB\n  session_memory_limit: 5GiB\nservices: [{dir: /s}]\n", nil, head + `monitor.session_memory_limit: 5GiB is above monitor.memory_limit (4GiB): one session's browsers are part of the whole tree, so the whole tree's limit would always alert first (line 3)`},
		{"size as a list", "monitor:\n  memory_limit: [6GiB]\nservices: [{dir: /s}]\n", nil, head + "monitor.memory_limit: expected a size, e.g. 6GiB, got a list (line 2)"},
		{"integer", "monitor:\n  failure_threshold: two\nservices: [{dir: /s}]\n", nil, head + `monitor.failure_threshold: "two" is not an integer (line 2)`},
		{"fleet keys without a server", "fleet:\n  host: web-1\nservices: [{dir: /s}]\n", nil, head + "fleet: fleet keys without a server: set embedded: true (a hub runs NATS in-process) or url (an existing NATS) (line 1)"},
		{"fleet embedded and url", "fleet:\n  host: web-1\n  embedded: true\n  url: nats://hub:4222\nservices: [{dir: /s}]\n", nil, head + "fleet.url: set embedded: true or url, not both: a hub either runs the NATS server or connects to one (line 4)"},
		{"fleet host not a label", "fleet:\n  host: Web_1\n  embedded: true\nservices: [{dir: /s}]\n", nil, head + `fleet.host: host name "Web_1": want lowercase letters, digits and '-', at most 63, not starting or ending with '-' (line 2)`},
		{"fleet url not nats", "fleet:\n  host: web-1\n  url: http://hub:4222\nservices: [{dir: /s}]\n", nil, head + `fleet.url: "http://hub:4222" is not a NATS URL: use nats://host:4222 or tls://host:4222 (line 3)`},
		{"fleet hub key a seed", "fleet:\n  host: web-2\n  url: nats://hub:4222\n  hub_keys: [SUAbc]\nservices: [{dir: /s}]\n", nil, head + "fleet.hub_keys[0]: \"SUAbc\" is not an nkey public key (U... or A...): `sanasend-bot hub-key` on the hub prints it (line 4)"},
		{"fleet agent key bad host", "fleet:\n  host: web-1\n  embedded: true\n  agent_keys: [\"Web 2=UAGIMYJMWDRAMK3FRIL3BFIT3YA2YJ4DXFIX2UJVH5XPEE3AU4SBJHXU\"]\nservices: [{dir: /s}]\n", nil, head + `fleet.agent_keys[0]: "Web 2=UAGIMYJMWDRAMK3FRIL3BFIT3YA2YJ4DXFIX2UJVH5XPEE3AU4SBJHXU": host name "Web 2": want lowercase letters, digits and '-', at most 63, not starting or ending with '-' (line 4)`},
		{"fleet agent key a seed", "fleet:\n  host: web-1\n  embedded: true\n  agent_keys: [web-2=SUAbc]\nservices: [{dir: /s}]\n", nil, head + `fleet.agent_keys[0]: "web-2=SUAbc": want an nkey user public key (U...), or host=U... to bind it to its host (line 4)`},
		{"fleet failover too short", "fleet:\n  host: web-1\n  embedded: true\n  failover: 100ms\nservices: [{dir: /s}]\n", nil, head + "fleet.failover: 100ms is too short: the minimum is 1s (line 4)"},
		{"boolean", "monitor:\n  auto_restart: yes\nservices: [{dir: /s}]\n", nil, head + `monitor.auto_restart: "yes" is not a boolean: use true or false (line 2)`},
		{"start as a string", "services:\n  - dir: /s\n    start: npm start\n", nil, head + `services[0].start: expected a list, got "npm start": write it as a list, e.g. ["npm", "start"] (it is argv, never run by a shell) (line 3)`},
		{"services as a mapping", "services:\n  whatsapp:\n    dir: /s\n", nil, head + "services: expected a list (items starting with \"- \"), got a mapping (line 1)"},
		{"slack as a list", "slack: [a]\nservices: [{dir: /s}]\n", nil, head + "slack: expected a mapping (key: value lines), got a list (line 1)"},
		{"env as a list", "services:\n  - dir: /s\n    env: [A=1]\n", nil, head + "services[0].env: expected a mapping (NAME: value lines), got a list (line 3)"},
		{"env value as a list", "services:\n  - dir: /s\n    env:\n      A: [1]\n", nil, head + "services[0].env.A: expected a string, got a list (line 4)"},
		{"string as a mapping", "log:\n  level: {a: b}\nservices: [{dir: /s}]\n", nil, head + "log.level: expected a string, got a mapping (line 2)"},
		{"duration as a list", "monitor:\n  interval: [1s]\nservices: [{dir: /s}]\n", nil, head + "monitor.interval: expected a duration, e.g. 30s, got a list (line 2)"},
		{"list item as a mapping", "slack:\n  staff:\n    users:\n      - {id: U1}\nservices: [{dir: /s}]\n", nil, head + "slack.staff.users[0]: expected a string, got a mapping (line 4)"},
		{"duplicate key", "services: [{dir: /s}]\nlog:\n  level: info\n  level: debug\n", nil, head + "log.level: duplicate key (first at line 3) (line 4)"},
		{"complex key", "? [a]\n: b\nservices: [{dir: /s}]\n", nil, head + "a key must be a plain name, got a list (line 1)"},
		{"unknown key with suggestion", "services:\n  - dir: /s\n    stop_timout: 10s\n", nil, head + "services[0].stop_timout: unknown key, did you mean stop_timeout? (line 3)"},
		{"unknown key, case and dash", "slack:\n  Bot-Token: x\nservices: [{dir: /s}]\n", nil, head + "slack.Bot-Token: unknown key, did you mean bot_token? (line 2)"},
		{"unknown key without suggestion", "log:\n  colour: blue\nservices: [{dir: /s}]\n", nil, head + "log.colour: unknown key (valid keys: level, format) (line 2)"},
		{"unknown top-level key", "monitoring:\n  interval: 1s\nservices: [{dir: /s}]\n", nil, head + "monitoring: unknown key, did you mean monitor? (line 1)"},
		{"odd key quoted in path", "services:\n  - dir: /s\n    env:\n      \"A B\": x\n", nil, head + `services[0].env["A B"]: "A B" is not a valid variable name: use letters, digits and _, not starting with a digit (line 4)`},
		{"service without dir", "services:\n  - name: wa\n", nil, head + "services[0].dir: is required (line 2)"},
		{"several services, one unnamed", "services:\n  - dir: /a\n  - dir: /b\n    url: http://127.0.0.1:3001\n", nil, head + "2 problems:\n" +
			"services[0].name: is required when there are several services (line 2)\n" +
			"services[1].name: is required when there are several services (line 3)"},
		{"decode error not reported twice", "services:\n  - dir: /s\n    start: {a: b}\n", nil, head + "services[0].start: expected a list, got a mapping: write it as a list, e.g. [\"npm\", \"start\"] (it is argv, never run by a shell) (line 3)"},
		{"explicit zero kept and refused", "monitor:\n  failure_threshold: 0\nservices: [{dir: /s}]\n", nil, head + "monitor.failure_threshold: 0 is too small: the minimum is 1 (line 2)"},
		{"explicit empty start", "services:\n  - dir: /s\n    start: []\n", nil, head + `services[0].start: must not be empty: give the command as a list, e.g. ["npm", "start"] (line 3)`},
		{"alias cycle", "x: &a [*a]\nservices: [{dir: /s}]\n", nil, head + "x: unknown key (valid keys: slack, services, monitor, log, state_dir, demo, notify, maintenance, history, fleet) (line 1)"},
		{"alias cycle in a value", "services:\n  - dir: /s\n    start: &a [*a]\n", nil, head + "services[0].start[0]: expected a string, got a list (line 3)"},
		{"merge cycle", "services:\n  - &a {dir: /s, <<: *a}\n", nil, head + "services[0]: alias *a refers to itself (line 2)"},
		{"merge of a scalar", "services:\n  - dir: /s\n    <<: x\n", nil, head + `services[0]: << merges a mapping or a list of mappings, got "x" (line 3)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yml), testPath, env(tt.env))
			if got := errText(err); got != tt.want {
				t.Errorf("Parse(%q) error =\n%s\nwant\n%s", tt.yml, got, tt.want)
			}
		})
	}
}

func TestParseBrokenFiles(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"bad-types.yaml", []string{
			`slack.staff.users: expected a list, got "U0ADMIN" (line 4)`,
			`slack.confirm_timeout: "2" is not a duration: add a unit, e.g. 2s (line 5)`,
			`services[0].start: expected a list, got "npm start": write it as a list, e.g. ["npm", "start"] (it is argv, never run by a shell) (line 9)`,
			`services[0].stop_timeout: "ten" is not a duration: use a number and a unit (ms, s, m, h), e.g. 30s or 1m30s (line 10)`,
			`services[0].env: expected a mapping (NAME: value lines), got a list (line 11)`,
			`monitor.failure_threshold: "two" is not an integer (line 13)`,
			`monitor.auto_restart: "yes" is not a boolean: use true or false (line 14)`,
			`slack.listen: "8080" is not an address: use host:port or :port, e.g. :8080 (line 2)`,
		}},
		{"bad-keys.yaml", []string{
			`slack.bot-token: unknown key, did you mean bot_token? (line 2)`,
			`slack.alert_channel: unknown key, did you mean alerts_channel? (line 3)`,
			`services[0].stop_timout: unknown key, did you mean stop_timeout? (line 7)`,
			`monitoring: unknown key, did you mean monitor? (line 8)`,
			`colour: unknown key (valid keys: slack, services, monitor, log, state_dir, demo, notify, maintenance, history, fleet) (line 10)`,
		}},
		{"bad-rules.yaml", []string{
			`slack.command: "sanasend" is not a slash command: use a / and up to 31 lowercase letters, digits, - or _, e.g. /sanasend (line 2)`,
			`slack.alerts_channel: "#alerts" is not a channel ID (C..., G... or D...): use the ID, not the name (in Slack: open the details and copy the ID at the bottom) (line 3)`,
			`slack.staff.users[0]: "alice" is not a user ID (U... or W...): use the ID, not the name (in Slack: open the details and copy the ID at the bottom) (line 5)`,
			`services[0].name: "WhatsApp" is not a valid name: use up to 32 lowercase letters, digits, - and _, starting with a letter or digit (line 7)`,
			`services[0].url: "ftp://127.0.0.1:3000" is not an http or https URL, e.g. http://127.0.0.1:3000 (line 9)`,
			`services[0].start: must not be empty: give the command as a list, e.g. ["npm", "start"] (line 10)`,
			`services[0].env.SLACK_BOT_TOKEN: SLACK_BOT_TOKEN is reserved: the bot removes SLACK_* variables from the service's environment and sets SANASEND_* itself (line 12)`,
			`services[0].env.1BAD: "1BAD" is not a valid variable name: use letters, digits and _, not starting with a digit (line 13)`,
			`services[1].name: is required when there are several services (line 14)`,
			`services[1].stop_timeout: 0s is too short: the minimum is 1s (line 15)`,
			`monitor.interval: 500ms is too short: the minimum is 1s (line 17)`,
			`monitor.failure_threshold: 0 is too small: the minimum is 1 (line 18)`,
			`monitor.digest_at: "9am" is not a time of day: use "HH:MM" (24-hour, local time), e.g. "09:00", or "" for no digest (line 19)`,
			`log.level: "verbose" is not a log level: use one of trace, debug, info, warn, error, fatal, panic, disabled (line 21)`,
			`log.format: "text" is not a log format: use json or console (line 22)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			_, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) = nil error", path)
			}
			abs, _ := filepath.Abs(path)
			want := sortedByLine(tt.want)
			wantText := "config " + abs + ": " + strconv.Itoa(len(want)) + " problems:\n" + strings.Join(want, "\n")
			if got := err.Error(); got != wantText {
				t.Errorf("Load(%s) error =\n%s\nwant\n%s", path, got, wantText)
			}
			var fes []*FieldError
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Errorf("problem %v is not a *FieldError", e)
				}
				fes = append(fes, fe)
			}
			if len(fes) != len(want) {
				t.Errorf("Unwrap() has %d problems; want %d", len(fes), len(want))
			}
		})
	}
}

// sortedByLine orders expected messages as Parse does: by their line.
func sortedByLine(msgs []string) []string {
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		line := 0
		if j := strings.LastIndex(m, " (line "); j >= 0 {
			for _, r := range m[j+len(" (line ") : len(m)-1] {
				line = line*10 + int(r-'0')
			}
			m = m[:j]
		}
		errs[i] = &FieldError{Msg: m, Line: line}
	}
	joined := joinSorted(errs)
	return strings.Split(joined.Error(), "\n")
}

func TestErrorsAsFieldError(t *testing.T) {
	_, err := Parse([]byte("services:\n  - dir: /s\n    stop_timeout: ten\n"), testPath, nil)
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("errors.As(%v, *FieldError) = false", err)
	}
	want := FieldError{Path: "services[0].stop_timeout", Line: 3, Msg: `"ten" is not a duration: use a number and a unit (ms, s, m, h), e.g. 30s or 1m30s`}
	if *fe != want {
		t.Errorf("FieldError = %+v; want %+v", *fe, want)
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	secrets := map[string]string{
		"SLACK_BOT_TOKEN":      "xapp-SECRET1",
		"SLACK_SIGNING_SECRET": "SECRET2-signing",
		"SLACK_APP_TOKEN":      "xoxb-SECRET3",
		"DB_PASSWORD":          "SECRET4-db-password",
	}
	configs := []string{
		// A valid file with tokens of the wrong kinds: ValidateSlack fails.
		`
slack:
  bot_token: ${SLACK_BOT_TOKEN}
  signing_secret: ${SLACK_SIGNING_SECRET}
  app_token: ${SLACK_APP_TOKEN}
  alerts_channel: C0ALERTS
services:
  - dir: /s
    env:
      DB_PASSWORD: ${DB_PASSWORD}
`,
		// Secrets in the wrong places.
		`
slack:
  bot_token: ${SLACK_BOT_TOKEN}
  signing_secret: ${SLACK_SIGNING_SECRET}
  app_token: ${SLACK_APP_TOKEN}
  alerts_channel: ${SLACK_APP_TOKEN}
  staff:
    users: ["${SLACK_SIGNING_SECRET}"]
services:
  - dir: /s
    url: http://h/${DB_PASSWORD}?q
    env:
      DB_PASSWORD: ${DB_PASSWORD}
`,
		// Secrets written literally, in values that fail to expand.
		`
slack:
  bot_token: xoxb-SECRET1${
  signing_secret: SECRET2${X
  app_token: xapp-SECRET3${1}
services:
  - dir: /s
    env:
      DB_PASSWORD: SECRET4${}
`,
		// Secret keys given structures.
		`
slack:
  bot_token: [xoxb-SECRET1]
  signing_secret: {SECRET2: x}
  app_token: [SECRET3]
services:
  - dir: /s
    env:
      DB_PASSWORD: [SECRET4]
`,
		// Secrets expanded into fields of other types.
		`
monitor:
  interval: ${SLACK_SIGNING_SECRET}
  failure_threshold: ${SLACK_BOT_TOKEN}
log:
  level: ${SLACK_APP_TOKEN}
services:
  - dir: /s
    name: ${SLACK_APP_TOKEN}
    env:
      A: ${DB_PASSWORD}${NOPE}
`,
	}
	for i, yml := range configs {
		c, err := Parse([]byte(yml), testPath, env(secrets))
		text := errText(err)
		if c != nil {
			text += "\n" + errText(c.ValidateSlack())
		}
		if text == "" || text == "\n" {
			t.Errorf("config %d: no error", i)
		}
		for _, s := range []string{"SECRET1", "SECRET2", "SECRET3", "SECRET4"} {
			if strings.Contains(text, s) {
				t.Errorf("config %d: error shows a secret (%s):\n%s", i, s, text)
			}
		}
	}
}

func TestAliasesAndMerge(t *testing.T) {
	c := mustParse(t, `
services:
  - &a
    name: a
    dir: /srv/a
    stop_timeout: 5s
    env: &env {NODE_ENV: production}
  - <<: *a
    name: b
    url: http://127.0.0.1:3001
    env: *env
`, nil)
	if len(c.Services) != 2 {
		t.Fatalf("Services = %+v; want 2", c.Services)
	}
	b := c.Services[1]
	if b.Name != "b" || b.Dir != "/srv/a" || b.StopTimeout != 5*time.Second || b.URL != "http://127.0.0.1:3001" || b.Env["NODE_ENV"] != "production" {
		t.Errorf("merged service = %+v", b)
	}

	// A list of merges: earlier ones win, explicit keys win over all.
	c = mustParse(t, `
services:
  - &a {name: a, dir: /srv/a, stop_timeout: 2s}
  - &b {name: b, dir: /srv/b, stop_timeout: 3s, start_timeout: 4s, url: "http://127.0.0.1:3001"}
  - <<: [*a, *b]
    name: c
    url: http://127.0.0.1:3002
`, nil)
	got := c.Services[2]
	if got.Dir != "/srv/a" || got.StopTimeout != 2*time.Second || got.StartTimeout != 4*time.Second || got.URL != "http://127.0.0.1:3002" {
		t.Errorf("merged service = %+v", got)
	}
}

func TestAliasBomb(t *testing.T) {
	// Lists of lists are not walked (start items must be strings), so the
	// bomb is made of merge keys, which are.
	yml := `
services:
  - &a {dir: /s}
  - &b {<<: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a], name: b}
  - &c {<<: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b], name: c}
  - &d {<<: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c], name: d}
  - &e {<<: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d], name: e}
  - &f {<<: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e], name: f}
  - {<<: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f], name: g}
`
	_, err := Parse([]byte(yml), testPath, nil)
	if err == nil || !strings.Contains(err.Error(), "the document is too large or expands too many aliases") {
		t.Errorf("Parse(alias bomb) = %v; want the size error", err)
	}
}

func TestService(t *testing.T) {
	one := mustParse(t, "services: [{dir: /a}]\n", nil)
	two := mustParse(t, "services:\n  - {name: a, dir: /a}\n  - {name: b, dir: /b, url: 'http://127.0.0.1:3001'}\n", nil)
	tests := []struct {
		c        *Config
		name     string
		wantName string
		wantErr  string
	}{
		{one, "", "whatsapp", ""},
		{one, "whatsapp", "whatsapp", ""},
		{one, "other", "", `unknown service "other": services are whatsapp`},
		{two, "", "", "several services are configured: name one of a, b"},
		{two, "b", "b", ""},
		{two, "c", "", `unknown service "c": services are a, b`},
		{&Config{}, "", "", "no service is configured"},
		{&Config{}, "x", "", `unknown service "x": no service is configured`},
	}
	for _, tt := range tests {
		s, err := tt.c.Service(tt.name)
		if got := errText(err); got != tt.wantErr {
			t.Errorf("Service(%q) error = %q; want %q", tt.name, got, tt.wantErr)
		}
		if err == nil && s.Name != tt.wantName {
			t.Errorf("Service(%q) = %q; want %q", tt.name, s.Name, tt.wantName)
		}
	}
	s, _ := two.Service("b")
	s.StopTimeout = time.Minute
	if two.Services[1].StopTimeout != time.Minute {
		t.Errorf("Service returned a copy; want a pointer into Services")
	}
}

func TestServiceMethods(t *testing.T) {
	tests := []struct {
		s                         Service
		logPath, authPath, health string
		port                      int
	}{
		{Service{Dir: "/srv/wa", URL: "http://127.0.0.1:3000", LogFile: "logs/combined.log", AuthDir: ".wwebjs_auth"},
			"/srv/wa/logs/combined.log", "/srv/wa/.wwebjs_auth", "http://127.0.0.1:3000/health", 3000},
		{Service{Dir: "/srv/wa", URL: "http://localhost/", LogFile: "/var/log/wa.log", AuthDir: "../auth"},
			"/var/log/wa.log", "/srv/auth", "http://localhost/health", 80},
		{Service{Dir: "/srv/wa", URL: "https://wa.internal/base", LogFile: "a/../b.log", AuthDir: "/data/auth/"},
			"/srv/wa/b.log", "/data/auth", "https://wa.internal/base/health", 443},
		{Service{URL: "http://[::1]:3001"}, "", "", "http://[::1]:3001/health", 3001},
		{Service{URL: "ftp://x"}, "", "", "ftp://x/health", 0},
		{Service{URL: "http://x:99999"}, "", "", "http://x:99999/health", 0},
	}
	for _, tt := range tests {
		if got := tt.s.LogPath(); tt.logPath != "" && got != tt.logPath {
			t.Errorf("%+v.LogPath() = %q; want %q", tt.s, got, tt.logPath)
		}
		if got := tt.s.AuthPath(); tt.authPath != "" && got != tt.authPath {
			t.Errorf("%+v.AuthPath() = %q; want %q", tt.s, got, tt.authPath)
		}
		if got := tt.s.HealthURL(); got != tt.health {
			t.Errorf("%+v.HealthURL() = %q; want %q", tt.s, got, tt.health)
		}
		if got := tt.s.Port(); got != tt.port {
			t.Errorf("%+v.Port() = %d; want %d", tt.s, got, tt.port)
		}
	}
}

func TestSecrets(t *testing.T) {
	c := mustParse(t, validYAML, validEnv)
	want := []string{"xoxb-1-secret-bot-token", "secret-signing-secret"}
	if got := c.Secrets(); !reflect.DeepEqual(got, want) {
		t.Errorf("Secrets() = %q; want %q", got, want)
	}
	if got := (&Config{}).Secrets(); got != nil {
		t.Errorf("Secrets() of an empty config = %q; want nil", got)
	}
}

func TestDigest(t *testing.T) {
	tests := []struct {
		at        string
		hour, min int
		ok        bool
	}{
		{"", 0, 0, false},
		{"09:30", 9, 30, true},
		{"23:59", 23, 59, true},
		{"24:00", 0, 0, false},
	}
	for _, tt := range tests {
		h, m, ok := Monitor{DigestAt: tt.at}.Digest()
		if h != tt.hour || m != tt.min || ok != tt.ok {
			t.Errorf("Digest(%q) = %d, %d, %v; want %d, %d, %v", tt.at, h, m, ok, tt.hour, tt.min, tt.ok)
		}
	}
}

func TestNormalization(t *testing.T) {
	c := mustParse(t, "slack: {api_url: 'https://slack.example/api'}\nlog: {level: DEBUG, format: Console}\nservices: [{dir: /s}]\n", nil)
	if c.Slack.APIURL != "https://slack.example/api/" || c.Log.Level != "debug" || c.Log.Format != "console" {
		t.Errorf("normalized = %q, %q, %q", c.Slack.APIURL, c.Log.Level, c.Log.Format)
	}
	if !(Slack{AppToken: "xapp-1"}).SocketMode() || (Slack{}).SocketMode() {
		t.Errorf("SocketMode is wrong")
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"full.yaml", "minimal.yaml", "bad-types.yaml", "bad-keys.yaml", "bad-rules.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		validYAML,
		"",
		"x: &a [*a]\n",
		"services:\n  - &a {dir: /s, <<: *a}\n",
		"services: [{dir: '${A:-${B}}', url: '$${x}'}]\n",
		"? [a]\n: b\n",
		"---\n---\n",
		"slack: {bot_token: ${\n",
		"services:\n  - <<: [*x]\n",
		"\t",
	} {
		f.Add([]byte(s))
	}
	lookup := env(map[string]string{"A": "a", "SLACK_BOT_TOKEN": "xoxb-1"})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, testPath, lookup)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v; want exactly one of them", c, err)
		}
		if c != nil {
			if err := c.Validate(); err != nil {
				t.Fatalf("Parse succeeded but Validate() = %v", err)
			}
			_ = c.ValidateSlack()
			for _, s := range c.Services {
				_, _, _, _ = s.LogPath(), s.AuthPath(), s.HealthURL(), s.Port()
			}
		}
	})
}

func TestAgentKeys(t *testing.T) {
	const key = "UAGIMYJMWDRAMK3FRIL3BFIT3YA2YJ4DXFIX2UJVH5XPEE3AU4SBJHXU"
	f := Fleet{AgentKeys: []string{key, "web-2=" + key, "web-3=nope", "=" + key}}
	got := f.Agents()
	want := []AgentKey{{Key: key}, {Host: "web-2", Key: key}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Agents() = %+v; want %+v (entries that do not parse left out)", got, want)
	}
}
