package manager

// This file holds temporary aliases for what moved out of package manager in
// issue 8: the WhatsApp protocol to package whatsapp, the host checks to
// package doctor. They let the branches that were edited in parallel build
// unchanged; the file goes once those branches are merged and their callers
// name the new packages. New code must not use them.

import (
	"context"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Moved to package whatsapp.
type (
	LogLine           = whatsapp.LogLine
	Restoration       = whatsapp.Restoration
	RestorationParser = whatsapp.RestorationParser
	SessionOutcome    = whatsapp.SessionOutcome
	SessionResult     = whatsapp.SessionResult
	Connection        = whatsapp.Connection
	AuthDir           = whatsapp.AuthDir
	ChromiumLock      = whatsapp.ChromiumLock
	SessionsReport    = whatsapp.SessionsReport
)

// Moved to package whatsapp.
const (
	SessionRestoring  = whatsapp.SessionRestoring
	SessionRestored   = whatsapp.SessionRestored
	SessionFailed     = whatsapp.SessionFailed
	SessionError      = whatsapp.SessionError
	ConnectionUnknown = whatsapp.ConnectionUnknown
	ConnectionReady   = whatsapp.ConnectionReady
	ConnectionQR      = whatsapp.ConnectionQR
	AuthDirMaxEntries = whatsapp.AuthDirMaxEntries
)

// ParseLogLine moved to package whatsapp.
func ParseLogLine(line string) (whatsapp.LogLine, bool) { return whatsapp.ParseLogLine(line) }

// NewRestorationParser moved to package whatsapp.
func NewRestorationParser() *whatsapp.RestorationParser { return whatsapp.NewRestorationParser() }

// LastRestoration moved to package whatsapp.
func LastRestoration(path string) (whatsapp.Restoration, bool, error) {
	return whatsapp.LastRestoration(path)
}

// ScanAuthDirs moved to package whatsapp.
func ScanAuthDirs(authDir, host string, alive func(pid int) bool) ([]whatsapp.AuthDir, error) {
	return whatsapp.ScanAuthDirs(authDir, host, alive)
}

// RemoveStaleLocks moved to package whatsapp.
func RemoveStaleLocks(dirs []whatsapp.AuthDir) ([]string, error) {
	return whatsapp.RemoveStaleLocks(dirs)
}

// BuildSessionsReport moved to package whatsapp.
func BuildSessionsReport(r whatsapp.Restoration, haveR bool, dirs []whatsapp.AuthDir) whatsapp.SessionsReport {
	return whatsapp.BuildSessionsReport(r, haveR, dirs)
}

// Moved to package doctor (CheckEnv is doctor.Env).
type (
	Check    = doctor.Check
	Verdict  = doctor.Verdict
	CheckEnv = doctor.Env
)

// Moved to package doctor.
const (
	VerdictOK    = doctor.VerdictOK
	VerdictWarn  = doctor.VerdictWarn
	VerdictFail  = doctor.VerdictFail
	NodeMinMajor = doctor.NodeMinMajor
)

// DoctorChecks moved to package doctor as HostChecks.
func DoctorChecks(ctx context.Context, e doctor.Env) []doctor.Check { return doctor.HostChecks(ctx, e) }

// Preconditions moved to package doctor.
func Preconditions(ctx context.Context, e doctor.Env) []doctor.Check {
	return doctor.Preconditions(ctx, e)
}

// Failed moved to package doctor.
func Failed(checks []doctor.Check) []doctor.Check { return doctor.Failed(checks) }

// LookPathIn moved to package doctor.
func LookPathIn(file, dir string, env []string) (string, error) {
	return doctor.LookPathIn(file, dir, env)
}

// PortFree moved to package doctor.
func PortFree(hostPort string) (bool, error) { return doctor.PortFree(hostPort) }

// PortOwner moved to package doctor.
func PortOwner(ctx context.Context, hostPort string) (pid int32, cmdline string, ok bool, err error) {
	return doctor.PortOwner(ctx, hostPort)
}
