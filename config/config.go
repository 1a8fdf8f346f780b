// Package config loads the bot's YAML configuration (SPEC.md section 3): it
// parses the file, expands ${ENV} references in values, fills in defaults,
// resolves relative paths against the file's directory and validates the
// result, reporting every problem at once with its key path and YAML line.
//
// It owns the shape of the configuration and its rules, nothing else: it does
// no network I/O, starts nothing and does not look at the host (whether a
// directory exists or npm is on PATH is for the check command); the only
// files it reads are the config file and, in Load, the secret files it names
// (slack.*_file). Secret values (Slack tokens, the signing secret, service env
// values) never appear in the errors it returns.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// DefaultServiceName is the name given to the service when the file lists
// exactly one and does not name it.
const DefaultServiceName = "whatsapp"

// Config is the whole configuration file.
type Config struct {
	Slack    Slack     `yaml:"slack"`
	Services []Service `yaml:"services"`
	Monitor  Monitor   `yaml:"monitor"`
	Log      Log       `yaml:"log"`
	// StateDir holds pid files, recorded intent and the alert outbox. Default:
	// "sanasend-state" beside the config file. Relative paths resolve against
	// the config file's directory; after Parse it is absolute and clean.
	StateDir string `yaml:"state_dir"`
	// Demo holds settings that only the console demo uses.
	Demo Demo `yaml:"demo"`
	// Notify configures the notifiers beside Slack (notify.go).
	Notify Notify `yaml:"notify"`
	// Maintenance lists the recurring maintenance windows (maintenance.go).
	Maintenance []Maintenance `yaml:"maintenance"`
	// History configures the history database (history.go).
	History History `yaml:"history"`
	// Fleet joins this bot to the bots of other hosts (fleet.go).
	Fleet Fleet `yaml:"fleet"`

	path string // where it was loaded from, absolute; "" when built in code
	// lines maps a key path ("services[0].dir") to the YAML line where the key
	// (or the list item) is written, so that validation errors can cite it.
	lines map[string]int
	// refs maps a key path to the environment variables its value came from.
	refs map[string][]string
	// readFrom lists the secret file keys ("slack.bot_token_file") whose
	// file Load read into the secret.
	readFrom []string
	// besideConfig lists the secret file keys whose relative name was
	// resolved against the config file's directory ($CREDENTIALS_DIRECTORY
	// was not set).
	besideConfig []string
}

// Slack configures the Slack front end. None of it is required by Validate
// (the console runs without Slack); ValidateSlack checks what serve needs.
type Slack struct {
	// BotToken is the Bot User OAuth Token (xoxb-...). Secret.
	BotToken string `yaml:"bot_token"`
	// SigningSecret verifies HTTP requests from Slack; required in HTTP mode.
	// Secret.
	SigningSecret string `yaml:"signing_secret"`
	// AppToken is the app-level token (xapp-...). When set the bot uses Socket
	// Mode and needs no public URL. Secret.
	AppToken string `yaml:"app_token"`
	// BotTokenFile, SigningSecretFile and AppTokenFile name files holding
	// BotToken, SigningSecret and AppToken: set either a secret or its file,
	// not both. Load reads the file (a regular file, not readable by every
	// user; a trailing newline is trimmed) into the secret. A relative name
	// resolves against $CREDENTIALS_DIRECTORY when it is set (systemd's
	// LoadCredential=), else against the config file's directory; after Parse
	// a non-empty name is absolute.
	BotTokenFile      string `yaml:"bot_token_file"`
	SigningSecretFile string `yaml:"signing_secret_file"`
	AppTokenFile      string `yaml:"app_token_file"`
	// APIURL overrides Slack's API base URL (GovSlack, tests). Empty means
	// Slack's. After Parse a non-empty value ends with "/", as slack-go needs.
	APIURL string `yaml:"api_url"`
	// Listen is the HTTP mode listen address. Default ":8080".
	Listen string `yaml:"listen"`
	// Command is the slash command. Default "/sanasend".
	Command string `yaml:"command"`
	// AlertsChannel is the channel ID (C..., G...) where alerts, summaries and
	// action notices go. Required by ValidateSlack.
	AlertsChannel string `yaml:"alerts_channel"`
	// AllowedChannels restricts where commands may be typed (channel IDs).
	// Empty means any channel.
	AllowedChannels []string `yaml:"allowed_channels"`
	// Staff lists who may use the bot. Empty means nobody.
	Staff Staff `yaml:"staff"`
	// ConfirmTimeout is how long a confirmation button stays valid. Default 2m.
	ConfirmTimeout time.Duration `yaml:"confirm_timeout"`
}

// SocketMode reports whether the bot connects to Slack over Socket Mode (an
// app token is set) rather than serving HTTP on Listen.
func (s Slack) SocketMode() bool { return s.AppToken != "" }

// Staff lists the Slack users allowed to use the bot.
type Staff struct {
	// Usergroups are Slack user group IDs (S...); their members are staff once
	// the group has been resolved through the API (paid plans only).
	Usergroups []string `yaml:"usergroups"`
	// Users are Slack user IDs (U..., W...); they are staff on every plan.
	Users []string `yaml:"users"`
}

// Service is one supervised service.
type Service struct {
	// Name identifies the service in commands. Default "whatsapp" when the file
	// lists exactly one service; required when it lists several. Lowercase
	// letters, digits, "-" and "_", at most 32 characters.
	Name string `yaml:"name"`
	// Dir is the service's working directory. Required. Relative paths resolve
	// against the config file's directory; after Parse it is absolute and clean.
	Dir string `yaml:"dir"`
	// URL is the service's base URL; health is URL + "/health".
	// Default "http://127.0.0.1:3000".
	URL string `yaml:"url"`
	// Start is the argv that starts the service, run in Dir. It is never
	// passed to a shell. Default ["npm", "start"].
	Start []string `yaml:"start"`
	// LogFile is the service's log, relative to Dir unless absolute.
	// Default "logs/combined.log".
	LogFile string `yaml:"log_file"`
	// AuthDir holds the WhatsApp sessions' auth files, relative to Dir unless
	// absolute. Default ".wwebjs_auth".
	AuthDir string `yaml:"auth_dir"`
	// Env is extra environment for the service. It may not set SLACK_* or
	// SANASEND_* variables (reserved). Values are treated as secrets.
	Env map[string]string `yaml:"env"`
	// StartTimeout is how long a start waits for the service to be healthy.
	// Default 60s.
	StartTimeout time.Duration `yaml:"start_timeout"`
	// StopTimeout is how long a stop waits after SIGTERM before SIGKILL.
	// Default 10s.
	StopTimeout time.Duration `yaml:"stop_timeout"`
	// Controller is what starts and stops the service: "process" (the bot
	// runs Start itself; the default), "systemd" (the unit Unit) or "pm2"
	// (the PM2 app PM2App).
	Controller string `yaml:"controller"`
	// Cgroup, for the process controller: "auto" (the default) starts the
	// service into a cgroup of its own where the host allows it, "off"
	// never does.
	Cgroup string `yaml:"cgroup"`
	// Unit is the systemd unit, for controller systemd ("whatsapp.service").
	Unit string `yaml:"unit"`
	// PM2App is the PM2 app's name, for controller pm2.
	PM2App string `yaml:"pm2_app"`
	// PM2Home is PM2's home (PM2_HOME), for controller pm2: required, so
	// that the bot never talks to the wrong PM2 daemon (~/.pm2 of the
	// bot's user) by accident. Absolute after Parse.
	PM2Home string `yaml:"pm2_home"`
	// PM2 is the pm2 program, for controller pm2; default "pm2" on PATH.
	PM2 string `yaml:"pm2"`
}

// LogPath returns the absolute path of the service's log file.
func (s Service) LogPath() string { return underDir(s.Dir, s.LogFile) }

// AuthPath returns the absolute path of the service's auth directory.
func (s Service) AuthPath() string { return underDir(s.Dir, s.AuthDir) }

// HealthURL returns the URL of the service's health endpoint: URL + "/health".
func (s Service) HealthURL() string { return strings.TrimRight(s.URL, "/") + "/health" }

// Port returns the TCP port of URL: the explicit port, else 443 for https and
// 80 for http. It returns 0 if URL is not a valid http(s) URL.
func (s Service) Port() int {
	u, err := url.Parse(s.URL)
	if err != nil {
		return 0
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return 0
		}
		return n
	}
	switch u.Scheme {
	case "https":
		return 443
	case "http":
		return 80
	}
	return 0
}

func underDir(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// Monitor configures health checks and alerting.
type Monitor struct {
	// Interval between health checks. Default 30s.
	Interval time.Duration `yaml:"interval"`
	// Timeout of one health request. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// FailureThreshold is the number of consecutive failed checks before an
	// alert. Default 2.
	FailureThreshold int `yaml:"failure_threshold"`
	// SuccessThreshold is the number of consecutive good checks before an
	// alert is resolved. Default 1.
	SuccessThreshold int `yaml:"success_threshold"`
	// RepeatInterval is the reminder period while an alert is open and not
	// acknowledged. Default 30m.
	RepeatInterval time.Duration `yaml:"repeat_interval"`
	// RestorationTimeout is how long the log is followed after a start for the
	// session-restoration summary. Default 120s.
	RestorationTimeout time.Duration `yaml:"restoration_timeout"`
	// AutoRestart opts in to restarting a down service without a human.
	// Default false.
	AutoRestart bool `yaml:"auto_restart"`
	// AutoRestartMax caps automatic restarts per hour. Default 3.
	AutoRestartMax int `yaml:"auto_restart_max_per_hour"`
	// DigestAt is the local time ("HH:MM", 24-hour) of a daily summary.
	// Empty (the default) means no digest.
	DigestAt string `yaml:"digest_at"`
	// WeeklyDigestAt is the weekday and local time ("mon 09:00") of a
	// weekly summary with a chart per service. Empty (the default) means
	// none.
	WeeklyDigestAt string `yaml:"weekly_digest_at"`
	// MemoryLimit is the most resident memory the service's whole process
	// tree (npm, node and every session's Chromium) may use before it
	// alerts like a failed health check, e.g. 6GiB. 0 (the default) means
	// no limit.
	MemoryLimit ByteSize `yaml:"memory_limit"`
	// SessionMemoryLimit is the same for one session's browser tree (its
	// Chromium and the children). 0 (the default) means no limit.
	SessionMemoryLimit ByteSize `yaml:"session_memory_limit"`
}

// Digest returns the hour and minute of DigestAt, and false when there is no
// digest (DigestAt is empty or invalid).
func (m Monitor) Digest() (hour, minute int, ok bool) {
	if !digestRE.MatchString(m.DigestAt) {
		return 0, 0, false
	}
	hour, _ = strconv.Atoi(m.DigestAt[:2])
	minute, _ = strconv.Atoi(m.DigestAt[3:])
	return hour, minute, true
}

// Log configures the bot's own logging.
type Log struct {
	// Level is a zerolog level: trace, debug, info, warn, error, fatal, panic
	// or disabled. Default "info". After Parse it is lowercase.
	Level string `yaml:"level"`
	// Format is "json" (default) or "console" (human-readable). After Parse
	// it is lowercase.
	Format string `yaml:"format"`
}

// Demo holds settings used only by the console demo.
type Demo struct {
	// StopOnExit makes the console stop the services it started when it
	// exits. The serve command ignores it: the bot never stops a service on
	// exit.
	StopOnExit bool `yaml:"stop_on_exit"`
}

// Default returns the defaults of every setting. It has no services and no
// state dir: those depend on the file (see Parse).
func Default() Config {
	return Config{
		Slack: Slack{
			Listen:         ":8080",
			Command:        "/sanasend",
			ConfirmTimeout: 2 * time.Minute,
		},
		Monitor: Monitor{
			Interval:           30 * time.Second,
			Timeout:            5 * time.Second,
			FailureThreshold:   2,
			SuccessThreshold:   1,
			RepeatInterval:     30 * time.Minute,
			RestorationTimeout: 120 * time.Second,
			AutoRestartMax:     3,
		},
		Log: Log{Level: "info", Format: "json"},
	}
}

// defaultService returns a service with every default but its name and dir.
func defaultService() Service {
	return Service{
		URL:          "http://127.0.0.1:3000",
		Start:        []string{"npm", "start"},
		LogFile:      "logs/combined.log",
		AuthDir:      ".wwebjs_auth",
		StartTimeout: 60 * time.Second,
		StopTimeout:  10 * time.Second,
		Controller:   "process",
		Cgroup:       "auto",
		PM2:          "pm2",
	}
}

// Load reads the file at path and returns the configuration it describes,
// with ${ENV} references expanded from the process environment; see Parse.
// When the file cannot be read, the error names its absolute path (and
// wraps fs.ErrNotExist when there is no file).
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config: no file at %s: %w", abs, fs.ErrNotExist)
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("config: cannot read %s: %w", abs, err)
	}
	return parse(data, path, os.LookupEnv, true)
}

// Parse is Load without the file system: data is the file's content and path
// where it lives (relative paths in the file resolve against its directory;
// "" means the current directory). lookupEnv resolves ${NAME} references; nil
// means no variable is set.
//
// Parse decodes data onto Default(), expands ${NAME} and ${NAME:-default} in
// values, applies the per-service defaults, makes paths absolute and runs
// Validate. On failure the error lists every problem found, one per line,
// each with its key path, the value (unless it is a secret), why it is wrong
// and its line; errors.As finds each one as a *FieldError.
//
// Parse does not read the secret files (slack.*_file): it resolves their
// names (relative ones against ${CREDENTIALS_DIRECTORY} when lookupEnv has
// it) and leaves their secrets empty. Load reads them.
func Parse(data []byte, path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	return parse(data, path, lookupEnv, false)
}

// parse is Parse, reading the secret files when readSecrets is set.
func parse(data []byte, path string, lookupEnv func(string) (string, bool), readSecrets bool) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	c := Default()
	c.path = path
	base := "."
	if path != "" {
		if abs, err := filepath.Abs(path); err == nil {
			c.path = abs
		}
		base = filepath.Dir(c.path)
	}
	if abs, err := filepath.Abs(base); err == nil {
		base = abs
	}

	root, err := parseYAML(data)
	if err != nil {
		return nil, newLoadError(c.path, []error{err})
	}
	d := newDecoder(lookupEnv)
	if root != nil {
		d.decode(root, reflect.ValueOf(&c).Elem(), "", 0)
	}
	c.lines, c.refs = d.lines, d.refs
	c.finish(base)
	credDir, _ := lookupEnv(CredentialsDirectoryEnv)
	c.resolveSecretFiles(base, credDir)

	errs := d.errs
	if readSecrets {
		for _, e := range c.readSecretFiles() {
			if !d.failed(e.Path) {
				errs = append(errs, e)
			}
		}
	}
	for _, e := range c.validate() {
		if !d.failed(e.Path) {
			errs = append(errs, e)
		}
	}
	secrets := c.secretValues()
	for _, e := range errs {
		if fe, ok := e.(*FieldError); ok {
			fe.Msg = redact(fe.Msg, secrets)
		}
	}
	if len(errs) > 0 {
		return nil, newLoadError(c.path, errs)
	}
	return &c, nil
}

// finish applies the defaults that depend on the whole file and makes paths
// absolute against base, the config file's directory.
func (c *Config) finish(base string) {
	if len(c.Services) == 1 && c.Services[0].Name == "" {
		c.Services[0].Name = DefaultServiceName
	}
	for i := range c.Services {
		s := &c.Services[i]
		if s.Dir != "" && !strings.HasPrefix(s.Dir, "~") {
			s.Dir = absUnder(base, s.Dir)
		}
	}
	if c.StateDir == "" {
		c.StateDir = "sanasend-state"
	}
	if !strings.HasPrefix(c.StateDir, "~") {
		c.StateDir = absUnder(base, c.StateDir)
	}
	if c.Slack.APIURL != "" && !strings.HasSuffix(c.Slack.APIURL, "/") {
		c.Slack.APIURL += "/"
	}
	c.Log.Level = strings.ToLower(c.Log.Level)
	c.Log.Format = strings.ToLower(c.Log.Format)
	c.finishNotify()
	c.finishFleet(base)
}

func absUnder(base, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(base, p)
}

// Path returns the absolute path of the file the config was loaded from, or
// "" for a Config built in code.
func (c *Config) Path() string { return c.path }

// Secrets returns the non-empty secret values of the file (bot token, signing
// secret, app token, SMTP password). The manager removes them from the environment it gives
// the service, and loggers may redact them.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range []string{c.Slack.BotToken, c.Slack.SigningSecret, c.Slack.AppToken, c.Notify.Email.Password} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Service returns the service called name. An empty name means the only
// service; it is an error when there are several. The error lists the names.
func (c *Config) Service(name string) (*Service, error) {
	if name == "" {
		switch len(c.Services) {
		case 0:
			return nil, errors.New("no service is configured")
		case 1:
			return &c.Services[0], nil
		}
		return nil, fmt.Errorf("several services are configured: name one of %s", c.serviceNames())
	}
	for i := range c.Services {
		if c.Services[i].Name == name {
			return &c.Services[i], nil
		}
	}
	if len(c.Services) == 0 {
		return nil, fmt.Errorf("unknown service %q: no service is configured", name)
	}
	return nil, fmt.Errorf("unknown service %q: services are %s", name, c.serviceNames())
}

func (c *Config) serviceNames() string {
	names := make([]string, len(c.Services))
	for i, s := range c.Services {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// line returns the YAML line of path, or of its closest ancestor that has
// one, or 0.
func (c *Config) line(path string) int {
	for path != "" {
		if n, ok := c.lines[path]; ok {
			return n
		}
		path = parentPath(path)
	}
	return 0
}

// parentPath returns "a.b" for "a.b.c" and "a.b" for "a.b[3]".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
