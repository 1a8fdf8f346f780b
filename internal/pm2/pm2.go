// Package pm2 is a client of the PM2 command line (pm2 7): it reads the
// state of the apps of one PM2_HOME from `pm2 jlist` and starts, stops and
// restarts them by name. It runs pm2 with an argv, never through a shell,
// and never touches ~/.pm2 by accident: the PM2_HOME is required.
//
// It owns no policy: what to do about processes PM2 leaves behind (PM2's
// tree kill follows parent PIDs, so a browser reparented to init survives
// `pm2 stop`), or about a restart PM2 counted that nobody asked for, is the
// caller's. Its errors never carry pm2's standard output: `pm2 jlist` prints
// each app's whole environment, secrets included.
package pm2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultTimeout bounds one pm2 command when Config.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// ErrUnknownApp is returned (wrapped) when PM2 has no app of that name.
var ErrUnknownApp = errors.New("PM2 has no app of that name")

// ErrAppOnline is returned (wrapped) by Start when the app is online or
// launching already.
var ErrAppOnline = errors.New("the PM2 app is online already")

// ErrAppExists is returned (wrapped) by StartCommand when PM2 already has an
// app of that name.
var ErrAppExists = errors.New("PM2 already has an app of that name")

// Config says which pm2 to run and against which PM2_HOME.
type Config struct {
	// Bin is the pm2 executable: a path, or a name looked up on PATH when
	// a command runs; "" means "pm2".
	Bin string
	// Home is the PM2_HOME of the daemon to talk to; required, absolute.
	// An empty Home is refused so that ~/.pm2 is never used by accident.
	Home string
	// Env is the environment of the pm2 command, "KEY=value" each; nil
	// means os.Environ(). PM2_HOME=Home is set in any case (Env must not
	// hold another). PM2 copies the environment of `pm2 start` into the
	// app it starts (and shows it in `pm2 jlist`): pass no secret here
	// that the service must not have.
	Env []string
	// Timeout bounds each pm2 command; zero means DefaultTimeout.
	Timeout time.Duration
	// KillTimeout is the app's kill_timeout that StartCommand gives PM2
	// (--kill-timeout): how long PM2 waits after its SIGINT before it
	// SIGKILLs what is left of the tree. Zero leaves PM2's default, 1.6 s,
	// less than the WhatsApp service may take to close its browsers.
	KillTimeout time.Duration
}

// Client runs pm2 commands against one PM2_HOME. It is safe for concurrent
// use (each method runs its own pm2 process); PM2 itself serialises the
// actions on an app.
type Client struct {
	bin     string
	home    string
	env     []string // nil: os.Environ() at run time
	timeout time.Duration
	kill    time.Duration
}

// New validates cfg. It does no I/O: a missing pm2 shows up as the error of
// the first command.
func New(cfg Config) (*Client, error) {
	if cfg.Home == "" {
		return nil, errors.New("pm2: PM2_HOME (Config.Home) is required: refusing to use ~/.pm2 by default")
	}
	if !filepath.IsAbs(cfg.Home) {
		return nil, fmt.Errorf("pm2: PM2_HOME %q is not an absolute path", cfg.Home)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("pm2: timeout %v is negative", cfg.Timeout)
	}
	if cfg.KillTimeout < 0 {
		return nil, fmt.Errorf("pm2: kill timeout %v is negative", cfg.KillTimeout)
	}
	for _, kv := range cfg.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("pm2: environment entry %q is not KEY=value", cutName(kv))
		}
		if k == "PM2_HOME" {
			return nil, errors.New("pm2: Config.Env must not set PM2_HOME: Config.Home does")
		}
	}
	c := &Client{bin: cfg.Bin, home: filepath.Clean(cfg.Home), timeout: cfg.Timeout, kill: cfg.KillTimeout}
	if c.bin == "" {
		c.bin = "pm2"
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if cfg.Env != nil {
		c.env = append([]string{}, cfg.Env...)
	}
	return c, nil
}

// cutName keeps what is before "=" of a bad environment entry, so a value
// never reaches an error.
func cutName(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	if len(k) > 40 {
		k = k[:40] + "…"
	}
	return k
}

// Home is the PM2_HOME the client talks to.
func (c *Client) Home() string { return c.home }

// Status is an app's pm2_env.status.
type Status string

// The statuses of PM2 7 (constants.js).
const (
	StatusOnline         Status = "online"
	StatusStopping       Status = "stopping"
	StatusStopped        Status = "stopped"
	StatusLaunching      Status = "launching"
	StatusErrored        Status = "errored"
	StatusOneLaunch      Status = "one-launch-status"
	StatusWaitingRestart Status = "waiting restart"
)

// App is one entry of `pm2 jlist`.
type App struct {
	Name string
	// ID is pm_id.
	ID int
	// PID is the process PM2 started (for `pm2 start npm -- start`, npm;
	// the service is its grandchild); 0 when none runs.
	PID    int
	Status Status
	// Restarts is pm2_env.restart_time: every restart PM2 made, asked
	// (`pm2 restart`) or not (autorestart after an exit); `pm2 stop` and
	// `pm2 start` of a stopped app do not count.
	Restarts int
	// UnstableRestarts is pm2_env.unstable_restarts: restarts of a process
	// that ran less than min_uptime.
	UnstableRestarts int
	// Started is pm2_env.pm_uptime: when the current process was started
	// (PM2 keeps the last value after a stop). Zero when absent.
	Started time.Time
	// Created is pm2_env.created_at: when the app was registered, and
	// again when a `pm2 restart` of it began (God.resetState), before its
	// stop: during that stop it is after Started. Zero when absent.
	Created time.Time
	// Dir is pm2_env.pm_cwd, the working directory of the app.
	Dir string
	// Memory (bytes) and CPU (percent of one core) are PM2's monit of PID
	// alone, not of its children: for npm start they miss the service.
	Memory uint64
	CPU    float64
	// OutLog and ErrLog are the files PM2 writes the app's stdout and
	// stderr to (pm2_env.pm_out_log_path, pm_err_log_path).
	OutLog, ErrLog string
	// KillTimeout is pm2_env.kill_timeout; zero when the app has none, and
	// PM2 then uses its default, 1.6 s.
	KillTimeout time.Duration
	// UniqueID is pm2_env.unique_id, the app's id for its life in PM2
	// (it survives restarts, not a delete). PM2 puts it in the environment
	// of the process it starts, as unique_id=<UniqueID> beside
	// PM2_HOME=<home>, name=<Name> and pm_id=<ID>, and every descendant
	// that keeps its environment inherits it: detached browsers and crash
	// handlers included, after PM2 has lost track of them.
	UniqueID string
	// ExitCode is pm2_env.exit_code, the code the app's process last
	// exited with (PM2 keeps it across restarts); nil when it has not
	// exited yet. PM2 7 records 0 when a signal ended the process (it
	// passes `code || 0`): 0 does not tell a clean exit from a kill.
	ExitCode *int
}

// jlistApp is what List reads of an entry; every other field (the app's
// environment among them) is dropped by the decoder.
type jlistApp struct {
	Name   string `json:"name"`
	PMID   int    `json:"pm_id"`
	PID    int    `json:"pid"`
	PM2Env struct {
		Status           string   `json:"status"`
		RestartTime      int      `json:"restart_time"`
		UnstableRestarts int      `json:"unstable_restarts"`
		PMUptime         *float64 `json:"pm_uptime"`
		CreatedAt        *float64 `json:"created_at"`
		PMCwd            string   `json:"pm_cwd"`
		OutLog           string   `json:"pm_out_log_path"`
		ErrLog           string   `json:"pm_err_log_path"`
		KillTimeout      float64  `json:"kill_timeout"`
		UniqueID         string   `json:"unique_id"`
		ExitCode         *int     `json:"exit_code"`
	} `json:"pm2_env"`
	Monit struct {
		Memory float64 `json:"memory"`
		CPU    float64 `json:"cpu"`
	} `json:"monit"`
}

// List returns the apps of the PM2_HOME from `pm2 jlist`. It takes 0.2 to
// 0.3 s (a Node.js start-up and a round trip to the daemon): callers cache
// its result and must not call it on every health check. When no daemon
// runs for the PM2_HOME, pm2 spawns one (with the client's environment),
// as every pm2 command does.
func (c *Client) List(ctx context.Context) ([]App, error) {
	out, err := c.run(ctx, "", "jlist")
	if err != nil {
		return nil, fmt.Errorf("pm2 jlist: %w", err)
	}
	apps, err := ParseJList(out)
	if err != nil {
		return nil, fmt.Errorf("pm2 jlist: %w", err)
	}
	return apps, nil
}

// ParseJList reads the output of `pm2 jlist`: a JSON array, after the lines
// pm2 may print before it (its banner on the first run in a PM2_HOME, the
// spawning of its daemon). Fields it does not know are ignored. Its errors
// quote none of out, which holds the apps' environments.
func ParseJList(out []byte) ([]App, error) {
	var entries []jlistApp
	found := false
	var firstErr error
	for off := 0; off < len(out); {
		line := out[off:]
		if trimmed := bytes.TrimLeft(line, " \t\r"); len(trimmed) > 0 && trimmed[0] == '[' {
			dec := json.NewDecoder(bytes.NewReader(trimmed))
			var got []jlistApp
			err := dec.Decode(&got)
			if err == nil {
				entries, found = got, true
				break
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		nl := bytes.IndexByte(line, '\n')
		if nl < 0 {
			break
		}
		off += nl + 1
	}
	if !found {
		if firstErr != nil {
			return nil, fmt.Errorf("output (%d bytes) holds no valid JSON list of apps: %w", len(out), jsonErrorSafe(firstErr))
		}
		return nil, fmt.Errorf("output (%d bytes) holds no JSON list of apps", len(out))
	}
	apps := make([]App, 0, len(entries))
	for i, e := range entries {
		if e.Name == "" {
			return nil, fmt.Errorf("app %d of the list has no name", i)
		}
		a := App{
			Name:             e.Name,
			ID:               e.PMID,
			PID:              e.PID,
			Status:           Status(e.PM2Env.Status),
			Restarts:         e.PM2Env.RestartTime,
			UnstableRestarts: e.PM2Env.UnstableRestarts,
			Dir:              e.PM2Env.PMCwd,
			CPU:              e.Monit.CPU,
			OutLog:           e.PM2Env.OutLog,
			ErrLog:           e.PM2Env.ErrLog,
			UniqueID:         e.PM2Env.UniqueID,
			ExitCode:         e.PM2Env.ExitCode,
		}
		if e.PM2Env.KillTimeout > 0 {
			a.KillTimeout = time.Duration(e.PM2Env.KillTimeout * float64(time.Millisecond))
		}
		if e.Monit.Memory > 0 {
			a.Memory = uint64(e.Monit.Memory)
		}
		if u := e.PM2Env.PMUptime; u != nil && *u > 0 {
			a.Started = time.UnixMilli(int64(*u))
		}
		if u := e.PM2Env.CreatedAt; u != nil && *u > 0 {
			a.Created = time.UnixMilli(int64(*u))
		}
		apps = append(apps, a)
	}
	return apps, nil
}

// jsonErrorSafe keeps the kind and position of a JSON error and drops any
// quoted input (an UnmarshalTypeError names a field, never a value; a
// SyntaxError quotes one character).
func jsonErrorSafe(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("invalid JSON at byte %d", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("field %q is a JSON %s, not a %s", typ.Field, typ.Value, typ.Type)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("truncated JSON")
	}
	return errors.New("invalid JSON")
}

// App returns the app called name; ok is false when PM2 has none. It costs
// a List.
func (c *Client) App(ctx context.Context, name string) (app App, ok bool, err error) {
	apps, err := c.List(ctx)
	if err != nil {
		return App{}, false, err
	}
	for _, a := range apps {
		if a.Name == name {
			return a, true, nil
		}
	}
	return App{}, false, nil
}

// Start runs `pm2 start <name>` for an app PM2 knows that is not running
// (stopped, errored). It checks the app first (one List): PM2 takes an
// unknown name for a script to run (Start returns ErrUnknownApp instead:
// use StartCommand), and restarts an online app (Start returns
// ErrAppOnline instead). The app keeps the environment of its first start;
// a start of a stopped app does not count in Restarts.
func (c *Client) Start(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("pm2 start %s: %w", name, err)
	}
	app, ok, err := c.App(ctx, name)
	switch {
	case err != nil:
		return fmt.Errorf("pm2 start %s: %w", name, err)
	case !ok:
		return fmt.Errorf("pm2 start %s: %w", name, ErrUnknownApp)
	case app.Status == StatusOnline || app.Status == StatusLaunching:
		return fmt.Errorf("pm2 start %s: %w (pid %d)", name, ErrAppOnline, app.PID)
	}
	return c.action(ctx, "start", name)
}

// Stop runs `pm2 stop <name>`: PM2 sends SIGINT to the app's process tree
// (the processes whose parent chain leads to its PID), then SIGKILL to the
// ones left after the app's kill_timeout (1.6 s by default), and returns
// once they are gone. Processes reparented away from that tree (detached
// Chromiums whose parent died, double-forked crash handlers) are not part
// of it.
func (c *Client) Stop(ctx context.Context, name string) error {
	return c.action(ctx, "stop", name)
}

// Restart runs `pm2 restart <name>`: a stop as in Stop, then a start; the
// app's Restarts goes up by one. The app keeps the environment of its first
// start (pm2 updates it only with --update-env, which Restart does not
// pass).
func (c *Client) Restart(ctx context.Context, name string) error {
	return c.action(ctx, "restart", name)
}

// StartCommand makes PM2 run argv in dir as a new app called name, as an
// operator does with `pm2 start npm --name whatsapp -- start`: it runs
// `pm2 start <argv[0]> --name <name> --cwd <dir> [--kill-timeout <ms>]
// [-- <argv[1:]>]` from dir (--kill-timeout when Config.KillTimeout is set).
// argv[0] is found by pm2 (a path, or a name on the PATH of the client's
// environment, which the app also inherits). It returns ErrAppExists when
// PM2 already has an app called name (one List): Start that one instead.
func (c *Client) StartCommand(ctx context.Context, name, dir string, argv []string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("pm2 start %s: %w", name, err)
	}
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("pm2 start %s: dir %q is not an absolute path", name, dir)
	}
	if len(argv) == 0 || argv[0] == "" {
		return fmt.Errorf("pm2 start %s: no command", name)
	}
	if _, ok, err := c.App(ctx, name); err != nil {
		return fmt.Errorf("pm2 start %s: %w", name, err)
	} else if ok {
		return fmt.Errorf("pm2 start %s: %w", name, ErrAppExists)
	}
	args := []string{"start", argv[0], "--name", name, "--cwd", dir}
	if c.kill > 0 {
		args = append(args, "--kill-timeout", strconv.FormatInt(max(c.kill.Milliseconds(), 1), 10))
	}
	if len(argv) > 1 {
		args = append(append(args, "--"), argv[1:]...)
	}
	if _, err := c.run(ctx, dir, args...); err != nil {
		return fmt.Errorf("pm2 start %s (%s in %s): %w", name, argv[0], dir, err)
	}
	return nil
}

func (c *Client) action(ctx context.Context, verb, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("pm2 %s %s: %w", verb, name, err)
	}
	if _, err := c.run(ctx, "", verb, name); err != nil {
		return fmt.Errorf("pm2 %s %s: %w", verb, name, err)
	}
	return nil
}

// CheckName reports whether name can name one app on pm2's command line
// (see checkName); a caller validating its configuration uses it.
func CheckName(name string) error { return checkName(name) }

// checkName refuses names pm2 would read as something else: an option, a
// number (a pm_id), "all", or a path (`pm2 start` takes a name with a
// slash or an extension for a script).
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("no app name")
	case strings.HasPrefix(name, "-"):
		return errors.New("an app name must not begin with '-'")
	case name == "all":
		return errors.New(`"all" names every app, not one`)
	case strings.ContainsAny(name, "/\\.\x00\n\r\t "):
		return errors.New("an app name must not hold a path separator, a dot, a space or a control character")
	}
	if strings.Trim(name, "0123456789") == "" {
		return errors.New("an app name must not be a number (pm2 reads it as a pm_id)")
	}
	return nil
}

// maxStderr is how much of pm2's standard error an error quotes.
const maxStderr = 400

var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

// notFound is how pm2 7 says it has no such app.
var notFound = regexp.MustCompile(`Process or Namespace .* not found`)

// run runs pm2 with args and returns its standard output. dir "" runs it in
// the PM2_HOME, so that nothing relative resolves against the bot's working
// directory. A failure quotes pm2's standard error, cleaned and cut to
// maxStderr bytes, never its standard output.
func (c *Client) run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if dir == "" {
		dir = c.home
	}
	env := c.env
	if env == nil {
		env = os.Environ()
	}
	env = withHome(env, c.home)
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("no answer within %v: %w", time.Since(start).Round(time.Millisecond), ctx.Err())
	}
	msg := cleanStderr(stderr.Bytes())
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return nil, err // could not run it: the path is in err, nothing of pm2's
	}
	if notFound.MatchString(msg) {
		err = fmt.Errorf("%w (%s)", ErrUnknownApp, exit)
	} else {
		err = exit
	}
	if msg == "" {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %s", err, msg)
}

// withHome returns env without any PM2_HOME and with PM2_HOME=home.
func withHome(env []string, home string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PM2_HOME=") {
			out = append(out, kv)
		}
	}
	return append(out, "PM2_HOME="+home)
}

// cleanStderr turns pm2's standard error into one short line: colours
// removed, whitespace folded, cut to maxStderr bytes on a rune boundary.
func cleanStderr(b []byte) string {
	s := ansiEscape.ReplaceAllString(string(b), "")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxStderr {
		cut := maxStderr
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
