package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/internal/slackid"
)

var (
	serviceNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	digitsRE       = regexp.MustCompile(`^[0-9]+$`)
	digestRE       = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	weeklyRE       = regexp.MustCompile(`^(?i)(sun(day)?|mon(day)?|tue(sday)?|wed(nesday)?|thu(rsday)?|fri(day)?|sat(urday)?) +([01][0-9]|2[0-3]):[0-5][0-9]$`)
	reservedPrefix = []string{"SLACK_", "SANASEND_"}
	logLevels      = []string{"trace", "debug", "info", "warn", "error", "fatal", "panic", "disabled"}
	logFormats     = []string{"json", "console"}
)

// minDuration is the shortest interval or timeout accepted. Tests use it.
const minDuration = time.Second

// problems collects FieldErrors, citing the YAML line of each path.
type problems struct {
	c       *Config
	secrets []string
	errs    []*FieldError
}

func newProblems(c *Config) *problems { return &problems{c: c, secrets: c.secretValues()} }

func (p *problems) add(path, format string, args ...any) {
	msg := redact(fmt.Sprintf(format, args...), p.secrets)
	p.errs = append(p.errs, &FieldError{Path: path, Line: p.c.line(path), Msg: msg})
}

// show quotes the value at path for a message, unless it must stay hidden.
func (p *problems) show(path, value string) string {
	return showValue(path, value, p.c.refs[path])
}

func (p *problems) err() error {
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return joinSorted(errs)
}

// Validate checks the rules that do not need Slack or the host. It expects
// what Parse produces (absolute dirs, defaults applied); for a Config built
// in code, start from Default(). It returns every problem found, joined with
// errors.Join, each a *FieldError; nil when the config is valid.
func (c *Config) Validate() error {
	p := &problems{c: c, errs: c.validate()}
	return p.err()
}

func (c *Config) validate() []*FieldError {
	p := newProblems(c)
	c.validateSlack(p)
	c.validateServices(p)
	c.validateMonitor(p)

	if !slices.Contains(logLevels, c.Log.Level) {
		p.add("log.level", "%s is not a log level: use one of %s", p.show("log.level", c.Log.Level), strings.Join(logLevels, ", "))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		p.add("log.format", "%s is not a log format: use json or console", p.show("log.format", c.Log.Format))
	}
	checkAbsDir(p, "state_dir", c.StateDir)
	c.validateNotify(p)
	c.validateMaintenance(p)
	c.validateHistory(p)
	c.validateFleet(p)
	return p.errs
}

func (c *Config) validateSlack(p *problems) {
	c.validateSecretFiles(p)
	s := &c.Slack
	if s.APIURL != "" {
		checkHTTPURL(p, "slack.api_url", s.APIURL)
	}
	if _, port, err := net.SplitHostPort(s.Listen); err != nil {
		p.add("slack.listen", "%s is not an address: use host:port or :port, e.g. :8080", p.show("slack.listen", s.Listen))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("slack.listen", "%s has no valid port: use host:port or :port, e.g. :8080", p.show("slack.listen", s.Listen))
	}
	if !slackid.Command(s.Command) {
		p.add("slack.command", "%s is not a slash command: use a / and up to %d lowercase letters, digits, - or _, e.g. /sanasend", p.show("slack.command", s.Command), slackid.CommandMax-1)
	}
	if s.AlertsChannel != "" {
		checkID(p, "slack.alerts_channel", s.AlertsChannel, slackid.Channel, "a channel ID (C..., G... or D...)")
	}
	for i, id := range s.AllowedChannels {
		checkID(p, fmt.Sprintf("slack.allowed_channels[%d]", i), id, slackid.Channel, "a channel ID (C..., G... or D...)")
	}
	for i, id := range s.Staff.Users {
		checkID(p, fmt.Sprintf("slack.staff.users[%d]", i), id, slackid.User, "a user ID (U... or W...)")
	}
	for i, id := range s.Staff.Usergroups {
		checkID(p, fmt.Sprintf("slack.staff.usergroups[%d]", i), id, slackid.Usergroup, "a user group ID (S...)")
	}
	checkDuration(p, "slack.confirm_timeout", s.ConfirmTimeout)
}

func (c *Config) validateServices(p *problems) {
	if len(c.Services) == 0 {
		p.add("services", "at least one service is required")
		return
	}
	names := map[string]int{}
	endpoints := map[string]int{}
	for i := range c.Services {
		s := &c.Services[i]
		at := func(key string) string { return fmt.Sprintf("services[%d].%s", i, key) }

		switch {
		case s.Name == "":
			p.add(at("name"), "is required when there are several services")
		case !serviceNameRE.MatchString(s.Name):
			p.add(at("name"), "%s is not a valid name: use up to 32 lowercase letters, digits, - and _, starting with a letter or digit", p.show(at("name"), s.Name))
		case s.Name == "all" || digitsRE.MatchString(s.Name):
			p.add(at("name"), "%s is reserved: commands read it as an argument (logs all, logs 50)", p.show(at("name"), s.Name))
		default:
			if j, dup := names[s.Name]; dup {
				p.add(at("name"), "%s is already the name of services[%d]", p.show(at("name"), s.Name), j)
			} else {
				names[s.Name] = i
			}
		}

		checkAbsDir(p, at("dir"), s.Dir)

		if u, ok := checkHTTPURL(p, at("url"), s.URL); ok {
			ep := strings.ToLower(u.Hostname()) + ":" + strconv.Itoa(s.Port())
			if j, dup := endpoints[ep]; dup {
				p.add(at("url"), "%s is the same host and port as services[%d].url", p.show(at("url"), s.URL), j)
			} else {
				endpoints[ep] = i
			}
		}

		switch {
		case len(s.Start) == 0:
			p.add(at("start"), `must not be empty: give the command as a list, e.g. ["npm", "start"]`)
		case s.Start[0] == "":
			p.add(at("start[0]"), "the program to run must not be empty")
		}
		if s.LogFile == "" {
			p.add(at("log_file"), "must not be empty")
		}
		if s.AuthDir == "" {
			p.add(at("auth_dir"), "must not be empty")
		}
		for _, k := range slices.Sorted(maps.Keys(s.Env)) {
			path := joinKey(at("env"), k)
			switch {
			case !envNameRE.MatchString(k):
				p.add(path, "%q is not a valid variable name: use letters, digits and _, not starting with a digit", k)
			case hasReservedPrefix(k):
				p.add(path, "%s is reserved: the bot removes SLACK_* variables from the service's environment and sets SANASEND_* itself", k)
			}
		}
		checkDuration(p, at("start_timeout"), s.StartTimeout)
		checkDuration(p, at("stop_timeout"), s.StopTimeout)
		validateController(p, s, at)
	}
}

// unitRE is a systemd service unit name (systemd.unit(5): letters, digits,
// ":-_.\\", and "@" for instances).
var unitRE = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]{1,250}\.service$`)

// pm2AppRE is a PM2 app name the bot accepts: no spaces, no option-like
// start, not all digits (PM2 would read an id).
var pm2AppRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,99}$`)

// validateController checks a service's controller and the keys that go
// with it; a key of another controller is an error, not silently ignored.
func validateController(p *problems, s *Service, at func(string) string) {
	foreign := func(key, value, kind string) {
		if value != "" {
			p.add(at(key), "is for controller %s only (this service's controller is %s)", kind, s.Controller)
		}
	}
	switch s.Controller {
	case "process":
		if s.Cgroup != "auto" && s.Cgroup != "off" {
			p.add(at("cgroup"), "%s is not a cgroup mode: use auto or off", p.show(at("cgroup"), s.Cgroup))
		}
		foreign("unit", s.Unit, "systemd")
		foreign("pm2_app", s.PM2App, "pm2")
		foreign("pm2_home", s.PM2Home, "pm2")
	case "systemd":
		if !unitRE.MatchString(s.Unit) {
			p.add(at("unit"), "%s is not a systemd service unit: give its name, e.g. whatsapp.service", p.show(at("unit"), s.Unit))
		}
		foreign("pm2_app", s.PM2App, "pm2")
		foreign("pm2_home", s.PM2Home, "pm2")
	case "pm2":
		if !pm2AppRE.MatchString(s.PM2App) || digitsRE.MatchString(s.PM2App) {
			p.add(at("pm2_app"), "%s is not a PM2 app name: give the name PM2 lists (pm2 ls), e.g. whatsapp", p.show(at("pm2_app"), s.PM2App))
		}
		if s.PM2Home == "" {
			p.add(at("pm2_home"), "is required with controller pm2: the PM2_HOME of the daemon that runs the app (e.g. /home/sanasend/.pm2), so that the bot never talks to another user's PM2 by accident")
		} else {
			checkAbsDir(p, at("pm2_home"), s.PM2Home)
		}
		foreign("unit", s.Unit, "systemd")
	default:
		p.add(at("controller"), "%s is not a controller: use process, systemd or pm2", p.show(at("controller"), s.Controller))
	}
	if s.Controller != "process" && s.Cgroup != "auto" && s.Cgroup != "" {
		p.add(at("cgroup"), "is for controller process only: %s puts the service in a cgroup of its own", s.Controller)
	}
}

func (c *Config) validateMonitor(p *problems) {
	m := &c.Monitor
	checkDuration(p, "monitor.interval", m.Interval)
	checkDuration(p, "monitor.timeout", m.Timeout)
	checkDuration(p, "monitor.repeat_interval", m.RepeatInterval)
	checkDuration(p, "monitor.restoration_timeout", m.RestorationTimeout)
	checkAtLeastOne(p, "monitor.failure_threshold", m.FailureThreshold)
	checkAtLeastOne(p, "monitor.success_threshold", m.SuccessThreshold)
	checkAtLeastOne(p, "monitor.auto_restart_max_per_hour", m.AutoRestartMax)
	if m.DigestAt != "" && !digestRE.MatchString(m.DigestAt) {
		p.add("monitor.digest_at", `%s is not a time of day: use "HH:MM" (24-hour, local time), e.g. "09:00", or "" for no digest`, p.show("monitor.digest_at", m.DigestAt))
	}
	if m.WeeklyDigestAt != "" && !weeklyRE.MatchString(m.WeeklyDigestAt) {
		p.add("monitor.weekly_digest_at", `%s is not a weekday and a time of day: use e.g. "mon 09:00" (a weekday, 3 letters or whole, and "HH:MM", 24-hour, local time), or "" for no weekly digest`, p.show("monitor.weekly_digest_at", m.WeeklyDigestAt))
	}
	checkMemoryLimit(p, "monitor.memory_limit", m.MemoryLimit)
	checkMemoryLimit(p, "monitor.session_memory_limit", m.SessionMemoryLimit)
	if m.MemoryLimit > 0 && m.SessionMemoryLimit > m.MemoryLimit {
		p.add("monitor.session_memory_limit", "%s is above monitor.memory_limit (%s): one session's browsers are part of the whole tree, so the whole tree's limit would always alert first", m.SessionMemoryLimit, m.MemoryLimit)
	}
}

// minMemoryLimit is the least memory limit accepted: the service's node
// alone uses more, so a smaller one is a typo (512KiB for 512MiB).
const minMemoryLimit = 64 << 20

// checkMemoryLimit refuses a memory limit that is on but too small to mean
// anything.
func checkMemoryLimit(p *problems, path string, b ByteSize) {
	if b > 0 && b < minMemoryLimit {
		p.add(path, "%s is too small: the minimum is %s (or 0 for no limit)", b, ByteSize(minMemoryLimit))
	}
}

// ValidateSlack checks what the serve command needs on top of Validate: a
// bot token (xoxb-), an app token (xapp-) for Socket Mode or else a signing
// secret for HTTP mode, and the alerts channel. Token values never appear in
// its errors.
func (c *Config) ValidateSlack() error {
	p := newProblems(c)
	s := &c.Slack
	switch {
	case s.BotToken == "":
		p.add("slack.bot_token", "is required: the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page, here or in a file named by slack.bot_token_file%s", c.fromEnv("slack.bot_token"))
	case strings.HasPrefix(s.BotToken, "xapp-"):
		p.add("slack.bot_token", "(value hidden) is an app-level token (xapp-): it belongs in slack.app_token; bot_token is the Bot User OAuth Token (xoxb-...)")
	case strings.HasPrefix(s.BotToken, "xoxp-"):
		p.add("slack.bot_token", "(value hidden) is a user token (xoxp-): use the Bot User OAuth Token (xoxb-...)")
	case !strings.HasPrefix(s.BotToken, "xoxb-"):
		p.add("slack.bot_token", "(value hidden) does not start with xoxb-: use the Bot User OAuth Token from the app's OAuth & Permissions page")
	}
	if s.AppToken != "" && !strings.HasPrefix(s.AppToken, "xapp-") {
		p.add("slack.app_token", "(value hidden) does not start with xapp-: use an app-level token with the connections:write scope (Basic Information > App-Level Tokens)")
	}
	if s.AppToken == "" && s.SigningSecret == "" {
		p.add("slack.signing_secret", "is required in HTTP mode (no slack.app_token): the Signing Secret from the app's Basic Information page, here or in a file named by slack.signing_secret_file%s", c.fromEnv("slack.signing_secret"))
	}
	if s.AlertsChannel == "" {
		p.add("slack.alerts_channel", "is required: the ID (C...) of the channel where alerts go")
	}
	return p.err()
}

// secretValues returns the values that must never appear in an error: the
// Slack secrets and the service env values, those at least 8 bytes long (a
// shorter one would hide ordinary words of the messages; real tokens and
// passwords are longer).
func (c *Config) secretValues() []string {
	var out []string
	for _, s := range c.Secrets() {
		if len(s) >= 8 {
			out = append(out, s)
		}
	}
	for _, s := range c.Services {
		for _, v := range s.Env {
			if len(v) >= 8 {
				out = append(out, v)
			}
		}
	}
	// Longest first, so that a secret containing another is hidden whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// fromEnv tells where an empty value came from: "; it comes from
// ${SLACK_BOT_TOKEN}, which is empty".
func (c *Config) fromEnv(path string) string {
	refs := c.refs[path]
	if len(refs) == 0 {
		return ""
	}
	return fmt.Sprintf("; it is set from ${%s}, which is empty", strings.Join(refs, "}, ${"))
}

func checkDuration(p *problems, path string, d time.Duration) {
	if d < minDuration {
		p.add(path, "%s is too short: the minimum is %s", d, minDuration)
	}
}

func checkAtLeastOne(p *problems, path string, n int) {
	if n < 1 {
		p.add(path, "%d is too small: the minimum is 1", n)
	}
}

func checkAbsDir(p *problems, path, dir string) {
	switch {
	case dir == "":
		p.add(path, "is required")
	case strings.HasPrefix(dir, "~"):
		p.add(path, "%s: ~ is not expanded: use an absolute path, or ${HOME}/...", p.show(path, dir))
	case !filepath.IsAbs(dir):
		p.add(path, "%s is not an absolute path", p.show(path, dir))
	}
}

// checkHTTPURL checks that s is an absolute http or https URL with a host,
// no credentials, query or fragment, and a valid port if any.
func checkHTTPURL(p *problems, path, s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil {
		p.add(path, "%s is not a URL, e.g. http://127.0.0.1:3000", p.show(path, s))
		return nil, false
	}
	switch {
	case u.User != nil:
		p.add(path, "must not contain credentials: URLs are shown in Slack and in logs")
	case u.Scheme != "http" && u.Scheme != "https":
		p.add(path, "%s is not an http or https URL, e.g. http://127.0.0.1:3000", p.show(path, s))
	case u.Host == "" || u.Hostname() == "":
		p.add(path, "%s has no host, e.g. http://127.0.0.1:3000", p.show(path, s))
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		p.add(path, "%s must not have a query or fragment", p.show(path, s))
	case u.Port() != "" && !validPort(u.Port()):
		p.add(path, "%s has an invalid port: use 1 to 65535", p.show(path, s))
	default:
		return u, true
	}
	return nil, false
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

func checkID(p *problems, path, id string, valid func(string) bool, what string) {
	if valid(id) {
		return
	}
	hint := ""
	if strings.HasPrefix(id, "#") || strings.HasPrefix(id, "@") || (id != "" && strings.ToUpper(id) != id) {
		hint = ": use the ID, not the name (in Slack: open the details and copy the ID at the bottom)"
	}
	p.add(path, "%s is not %s%s", p.show(path, id), what, hint)
}

func hasReservedPrefix(k string) bool {
	up := strings.ToUpper(k)
	for _, pre := range reservedPrefix {
		if strings.HasPrefix(up, pre) {
			return true
		}
	}
	return false
}
