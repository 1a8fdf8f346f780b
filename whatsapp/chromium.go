package whatsapp

import (
	"path/filepath"
	"strings"
	"time"
)

// ChromiumArgs is what a process's argv says about it as a Chromium process.
type ChromiumArgs struct {
	// Type is the --type= flag: "" for the browser's main process,
	// "renderer", "zygote", "gpu-process", "utility", "crashpad-handler".
	Type string
	// UserDataDir is the --user-data-dir= flag, "" when absent.
	UserDataDir string
	// Database is the --database= flag of chrome_crashpad_handler (the
	// profile's "Crash Reports" dir), "" when absent.
	Database string
	// Crashpad is true for chrome_crashpad_handler (by name or type).
	Crashpad bool
}

// Browser reports whether the process is a browser's main process: it names
// a profile and has no --type (real Chromium) or --type=browser (as some
// launchers and stand-ins spell it), and is no crash handler.
func (a ChromiumArgs) Browser() bool {
	return (a.Type == "" || a.Type == "browser") && a.UserDataDir != "" && !a.Crashpad
}

// ParseChromiumArgs reads the Chromium flags of an argv. ok is false when
// the argv names neither a profile nor a crash database: not a process that
// can be tied to a session.
//
// Chromium's zygote and its children rewrite their process title into one
// string ("/usr/lib/chromium/chromium --type=zygote ..."): an argv of one
// element with " --" in it is split before each " --".
func ParseChromiumArgs(argv []string) (a ChromiumArgs, ok bool) {
	if len(argv) == 1 && strings.Contains(argv[0], " --") {
		parts := strings.Split(argv[0], " --")
		argv = []string{strings.TrimSpace(parts[0])}
		for _, p := range parts[1:] {
			argv = append(argv, "--"+strings.TrimRight(p, " "))
		}
	}
	for i, arg := range argv {
		if i == 0 {
			a.Crashpad = strings.Contains(filepath.Base(arg), "crashpad_handler")
			continue
		}
		switch {
		case strings.HasPrefix(arg, "--type="):
			a.Type = arg[len("--type="):]
		case strings.HasPrefix(arg, "--user-data-dir="):
			a.UserDataDir = arg[len("--user-data-dir="):]
		case strings.HasPrefix(arg, "--database="):
			a.Database = arg[len("--database="):]
		}
	}
	if a.Type == "crashpad-handler" {
		a.Crashpad = true
	}
	return a, a.UserDataDir != "" || a.Database != ""
}

// SessionOfPath returns the session whose profile holds path: path is
// <authDir>/session-<id> (or session_<id>) or lies beneath it. authDir must
// be absolute and clean; a relative path never belongs to a session.
func SessionOfPath(authDir, path string) (id string, ok bool) {
	if authDir == "" || !filepath.IsAbs(path) {
		return "", false
	}
	rel, err := filepath.Rel(filepath.Clean(authDir), filepath.Clean(path))
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return "", false
	}
	first, _, _ := strings.Cut(rel, string(filepath.Separator))
	return authSessionID(first)
}

// SessionOf returns the session a Chromium process serves, from its
// --user-data-dir or, for a crash handler, its --database.
func (a ChromiumArgs) SessionOf(authDir string) (string, bool) {
	if a.UserDataDir != "" {
		return SessionOfPath(authDir, a.UserDataDir)
	}
	return SessionOfPath(authDir, a.Database)
}

// Browser is the Chromium tree of one session, as the process table shows
// it: the browser's main process, its descendants, and the crash handlers
// that name its profile (reparented to init). Package manager finds them
// among the service's processes only.
type Browser struct {
	SessionID   string
	UserDataDir string
	// PID is the browser's main process; Started its start time.
	PID     int32
	Started time.Time
	// PIDs are every process of the tree, the main process first.
	PIDs []int32
	// RSS is summed over the tree; CPUPercent too (each process's average
	// over its life).
	RSS        uint64
	CPUPercent float64
}

// Processes is how many processes the tree has.
func (b Browser) Processes() int { return len(b.PIDs) }
