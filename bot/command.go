package bot

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/recur"
)

// Verb is the first word of a command.
type Verb string

// The commands of SPEC.md section 4.
const (
	VerbHelp     Verb = "help"
	VerbStatus   Verb = "status"
	VerbStart    Verb = "start"
	VerbStop     Verb = "stop"
	VerbRestart  Verb = "restart"
	VerbLogs     Verb = "logs"
	VerbPS       Verb = "ps"
	VerbSessions Verb = "sessions"
	VerbDoctor   Verb = "doctor"
	VerbAck      Verb = "ack"
	VerbMaint    Verb = "maintenance"
	VerbUptime   Verb = "uptime"
	VerbIncident Verb = "incidents"
	VerbHosts    Verb = "hosts"
)

// The windows of `uptime`, as typed, and the default one.
var uptimeWindows = map[string]time.Duration{
	"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour, "90d": 90 * 24 * time.Hour,
}

// DefaultUptimeWindow is what `uptime` reports without a window.
const DefaultUptimeWindow = 24 * time.Hour

// UptimeBucket is the step of an uptime report's series over window: an
// hour for a day, a day for longer windows.
func UptimeBucket(window time.Duration) time.Duration {
	if window <= 24*time.Hour {
		return time.Hour
	}
	return 24 * time.Hour
}

// DefaultIncidents is how many incidents `incidents` lists without N;
// MaxIncidents is the most it lists.
const (
	DefaultIncidents = 10
	MaxIncidents     = 100
)

// MaxMaintenance bounds a maintenance window: a forgotten one must not mute
// alerts for ever.
const MaxMaintenance = 7 * 24 * time.Hour

// MaxCommandLen bounds what is parsed at all; Slack caps slash command text
// well below this.
const MaxCommandLen = 1000

// DefaultLogLines is what `logs` shows without a count.
const DefaultLogLines = 50

// maxLogLines mirrors manager.MaxLogLines; kept here so parsing needs no
// service.
const maxLogLines = 1000

// Command is a parsed command line.
type Command struct {
	Verb    Verb
	Service string // "" = the default service
	Lines   int    // logs: how many lines
	All     bool   // logs: include the health-poll lines
	Output  bool   // logs: the service's captured stdout/stderr instead of its log
	Filter  string // logs: literal, case-insensitive
	Topic   Verb   // help: the command asked about
	// Maintenance: the window's length (0 with Off) and why.
	Window time.Duration
	Off    bool
	Reason string
	// Recurring maintenance: Every is the schedule of a window to add
	// (`maintenance every sun 03:00 1h reason`: "sun 03:00", its length in
	// Window, Reason); List lists the windows; Cancel is the ID of the
	// window to cancel.
	Every  string
	List   bool
	Cancel string
	// Cleanup: `sessions cleanup`, ending the browsers of sessions that
	// serve nobody.
	Cleanup bool
	// Period is the window of `uptime` (24h, 7d, 30d or 90d).
	Period time.Duration
	// Count is how many incidents `incidents` lists.
	Count int
}

// Confirmable reports whether the command needs a confirmation.
func (c Command) Confirmable() bool {
	return c.Verb == VerbStop || c.Verb == VerbRestart || c.Verb == VerbSessions && c.Cleanup
}

// Action names what the command does, as replies say it: "stop",
// "sessions cleanup".
func (c Command) Action() string {
	if c.Verb == VerbSessions && c.Cleanup {
		return "sessions cleanup"
	}
	return string(c.Verb)
}

// String renders the command as it would be typed.
func (c Command) String() string {
	parts := []string{string(c.Verb)}
	if c.Cleanup {
		parts = append(parts, "cleanup")
	}
	if c.Service != "" {
		parts = append(parts, c.Service)
	}
	if c.Verb == VerbLogs {
		if c.All {
			parts = append(parts, "all")
		}
		if c.Output {
			parts = append(parts, "output")
		}
		parts = append(parts, strconv.Itoa(c.Lines))
		if c.Filter != "" {
			parts = append(parts, c.Filter)
		}
	}
	if c.Verb == VerbMaint {
		switch {
		case c.List:
			parts = append(parts, "list")
		case c.Cancel != "":
			parts = append(parts, "cancel", c.Cancel)
		case c.Every != "":
			parts = append(parts, "every", c.Every, c.Window.String())
			if c.Reason != "" {
				parts = append(parts, c.Reason)
			}
		case c.Off:
			parts = append(parts, "off")
		default:
			parts = append(parts, c.Window.String())
			if c.Reason != "" {
				parts = append(parts, c.Reason)
			}
		}
	}
	if c.Verb == VerbUptime {
		parts = append(parts, PeriodWord(c.Period))
	}
	if c.Verb == VerbIncident {
		parts = append(parts, strconv.Itoa(c.Count))
	}
	if c.Verb == VerbHelp && c.Topic != "" {
		parts = append(parts, string(c.Topic))
	}
	return strings.Join(parts, " ")
}

// commandSpec is one row of the command table: usage and one line of help.
type commandSpec struct {
	verb  Verb
	usage string
	help  string
}

var commandSpecs = []commandSpec{
	{VerbStatus, "status [service]", "state, health, uptime, processes and last action"},
	{VerbStart, "start [service]", "start the service and wait until it is healthy"},
	{VerbStop, "stop [service]", "stop the whole process tree (asks for confirmation)"},
	{VerbRestart, "restart [service]", "stop, then start (asks for confirmation)"},
	{VerbLogs, "logs [service] [all] [output] [N] [filter]", "last N log lines (default 50, max 1000), optional case-insensitive filter; `all` includes the health-check lines, `output` reads the service's stdout/stderr"},
	{VerbPS, "ps [service]", "the service's process tree: PID, PPID, CPU, memory, age, command"},
	{VerbSessions, "sessions [cleanup] [service]", "each session: its restoration, its auth dir before the start, its browser and memory, stale Chromium locks; `sessions cleanup` ends the browsers of sessions that serve nobody (asks for confirmation)"},
	{VerbDoctor, "doctor [service]", "run the troubleshooting checks: node, npm, dir, port, log, health, disk"},
	{VerbAck, "ack [service]", "acknowledge the open alert: reminders stop, your name is shown"},
	{VerbMaint, "maintenance [service] <duration>|off|every|list|cancel",
		"mute alerts for a window (e.g. `maintenance 30m deploy`), or end it; `every sun 03:00 1h weekly restart` (or `every daily 03:00 30m`, or a cron expression `every 0 3 * * 0 1h`) adds a window that recurs, `list` shows the recurring windows and their IDs, `cancel <ID>` removes one"},
	{VerbUptime, "uptime [service] [24h|7d|30d|90d]", "uptime over the window (default 24h): time by state, incidents, total outage, MTTR, restarts by who, and a chart"},
	{VerbIncident, "incidents [service] [N]", "the last N incidents (default 10, max 100): when, how long, cause, who acknowledged and resolved them"},
	{VerbHosts, "hosts", "the hosts of the fleet: online or offline since when, version, uptime, last heard, services"},
	{VerbHelp, "help [command]", "this list"},
}

func specOf(v Verb) (commandSpec, bool) {
	i := slices.IndexFunc(commandSpecs, func(s commandSpec) bool { return s.verb == v })
	if i < 0 {
		return commandSpec{}, false
	}
	return commandSpecs[i], true
}

// UsageError is a command that could not be parsed. Its message is safe to
// show and says what is expected.
type UsageError struct {
	Msg   string
	Usage string // "logs [service] [all] [N] [filter]", or "" for an unknown verb
}

func (e *UsageError) Error() string {
	if e.Usage == "" {
		return e.Msg
	}
	return e.Msg + "; usage: " + e.Usage
}

// Parse reads a command line. services are the known service names, so that
// `logs whatsapp 20` and `logs 20 whatsapp` can be told apart: a service
// name is only ever the first argument. Nothing is executed here.
func Parse(text string, services []string) (Command, error) {
	if len(text) > MaxCommandLen {
		return Command{}, &UsageError{Msg: fmt.Sprintf("command too long (%d characters, at most %d)", len(text), MaxCommandLen)}
	}
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return Command{Verb: VerbHelp}, nil
	}
	verb := Verb(strings.ToLower(fields[0]))
	spec, ok := specOf(verb)
	if !ok {
		return Command{}, &UsageError{Msg: fmt.Sprintf("unknown command %q: try `help`", human.Cut(fields[0], 40))}
	}
	args := fields[1:]
	cmd := Command{Verb: verb}
	usage := func(format string, a ...any) (Command, error) {
		return Command{}, &UsageError{Msg: fmt.Sprintf(format, a...), Usage: spec.usage}
	}
	if verb == VerbHelp {
		if len(args) > 1 {
			return usage("help takes at most one command")
		}
		if len(args) == 1 {
			topic := Verb(strings.ToLower(args[0]))
			if _, ok := specOf(topic); !ok {
				return usage("unknown command %q", human.Cut(args[0], 40))
			}
			cmd.Topic = topic
		}
		return cmd, nil
	}
	if verb == VerbHosts {
		if len(args) > 0 {
			return usage("hosts takes nothing more: it lists every host")
		}
		return cmd, nil
	}
	if verb == VerbSessions && len(args) > 0 && strings.EqualFold(args[0], "cleanup") && resolveService(args[0], services).Name == "" {
		cmd.Cleanup = true
		args = args[1:]
	}
	if len(args) > 0 {
		res := resolveService(args[0], services)
		if len(res.Choices) > 0 {
			return usage("%q runs on several hosts: say which one (%s)", human.Cut(args[0], 40), strings.Join(res.Choices, ", "))
		}
		if res.Name != "" {
			cmd.Service = res.Name
			args = args[1:]
		}
	}
	if verb == VerbSessions && !cmd.Cleanup && len(args) > 0 && strings.EqualFold(args[0], "cleanup") {
		cmd.Cleanup = true
		args = args[1:]
	}
	if verb == VerbMaint {
		if len(args) == 0 {
			return usage("say how long, e.g. `maintenance 30m deploy`, or `maintenance off`")
		}
		switch strings.ToLower(args[0]) {
		case "list":
			if len(args) > 1 || cmd.Service != "" {
				return usage("`maintenance list` takes nothing more: it lists the windows of every service")
			}
			cmd.List = true
			return cmd, nil
		case "cancel":
			if len(args) != 2 || cmd.Service != "" || !windowIDRE.MatchString(args[1]) {
				return usage("say which window, e.g. `maintenance cancel 2` (`maintenance list` shows the IDs)")
			}
			cmd.Cancel = strings.ToLower(args[1])
			return cmd, nil
		case "every":
			return parseEvery(cmd, args[1:], usage)
		}
		if strings.EqualFold(args[0], "off") {
			cmd.Off = true
			if len(args) > 1 {
				return usage("unexpected %q after off", human.Cut(strings.Join(args[1:], " "), 40))
			}
			return cmd, nil
		}
		d, err := time.ParseDuration(args[0])
		if err != nil || d < time.Minute || d > MaxMaintenance {
			return usage("%q is not a duration between 1m and %s (e.g. 30m, 2h)", human.Cut(args[0], 20), MaxMaintenance)
		}
		cmd.Window, cmd.Reason = d, human.Cut(strings.Join(args[1:], " "), 200)
		return cmd, nil
	}
	if verb == VerbUptime {
		cmd.Period = DefaultUptimeWindow
		if len(args) > 1 {
			return usage("unexpected %q", human.Cut(strings.Join(args[1:], " "), 40))
		}
		if len(args) == 1 {
			d, ok := uptimeWindows[strings.ToLower(args[0])]
			if !ok {
				if cmd.Service == "" && looksLikeName(args[0]) && !isNumber(args[0][:1]) {
					return usage("unknown service %q (services: %s)", human.Cut(args[0], 40), strings.Join(services, ", "))
				}
				return usage("the window is 24h, 7d, 30d or 90d, not %q", human.Cut(args[0], 20))
			}
			cmd.Period = d
		}
		return cmd, nil
	}
	if verb == VerbIncident {
		cmd.Count = DefaultIncidents
		if len(args) > 1 {
			return usage("unexpected %q", human.Cut(strings.Join(args[1:], " "), 40))
		}
		if len(args) == 1 {
			if !isNumber(args[0]) {
				if cmd.Service == "" && looksLikeName(args[0]) {
					return usage("unknown service %q (services: %s)", human.Cut(args[0], 40), strings.Join(services, ", "))
				}
				return usage("N is a number between 1 and %d, not %q", MaxIncidents, human.Cut(args[0], 20))
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 || n > MaxIncidents {
				return usage("N must be between 1 and %d, not %s", MaxIncidents, human.Cut(args[0], 20))
			}
			cmd.Count = n
		}
		return cmd, nil
	}
	if verb != VerbLogs {
		if len(args) > 0 {
			if cmd.Service == "" && len(args) == 1 && looksLikeName(args[0]) {
				return usage("unknown service %q (services: %s)", human.Cut(args[0], 40), strings.Join(services, ", "))
			}
			return usage("unexpected %q", human.Cut(strings.Join(args, " "), 40))
		}
		return cmd, nil
	}
	cmd.Lines = DefaultLogLines
keywords:
	for len(args) > 0 {
		switch {
		case strings.EqualFold(args[0], "all") && !cmd.All:
			cmd.All = true
		case strings.EqualFold(args[0], "output") && !cmd.Output:
			cmd.Output = true
		default:
			break keywords
		}
		args = args[1:]
	}
	if len(args) > 0 && isNumber(args[0]) {
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 || n > maxLogLines {
			return usage("N must be between 1 and %d, not %s", maxLogLines, human.Cut(args[0], 20))
		}
		cmd.Lines = n
		args = args[1:]
	}
	// The filter is the rest of the line as typed (single spaces): a
	// literal, never a pattern.
	cmd.Filter = strings.Join(args, " ")
	return cmd, nil
}

// PeriodWord is the window of `uptime` as typed: "24h", "7d".
func PeriodWord(d time.Duration) string {
	if d%(24*time.Hour) == 0 && d > 24*time.Hour {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return strconv.Itoa(int(d/time.Hour)) + "h"
}

// windowIDRE matches the ID of a recurring maintenance window: "3", "c1";
// in a fleet "web-2/3" (the host whose monitor keeps it).
var windowIDRE = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?/)?[cC]?[0-9]{1,9}$`)

// parseEvery reads the rest of `maintenance [service] every <when>
// <duration> [reason]`: when is a weekday or "daily" and a time (two
// words) or a cron expression (five).
func parseEvery(cmd Command, args []string, usage func(string, ...any) (Command, error)) (Command, error) {
	const example = "e.g. `maintenance every sun 03:00 1h weekly restart`, `maintenance every daily 03:00 30m` or `maintenance every 0 3 * * 0 1h`"
	n := 5
	if len(args) > 0 && recur.DayWord(args[0]) {
		n = 2
	}
	if len(args) < n+1 {
		return usage("say when and for how long, %s", example)
	}
	sched, err := recur.Parse(strings.Join(args[:n], " "))
	if err != nil {
		return usage("%s", human.Cut(err.Error(), 300))
	}
	d, err := time.ParseDuration(args[n])
	if err != nil {
		return usage("%q is not a duration (e.g. 30m, 1h, 2h30m): %s", human.Cut(args[n], 20), example)
	}
	if err := sched.CheckDuration(d); err != nil {
		return usage("%s", err.Error())
	}
	cmd.Every, cmd.Window, cmd.Reason = sched.String(), d, human.Cut(strings.Join(args[n+1:], " "), 200)
	return cmd, nil
}

func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// looksLikeName reports whether s could be meant as a service's name: a
// plain name, or an address "host/service".
func looksLikeName(s string) bool {
	if h, svc, ok := strings.Cut(s, "/"); ok {
		return looksLikeName(h) && !strings.Contains(svc, "/") && looksLikeName(svc)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}
