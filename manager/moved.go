package manager

// This file holds temporary aliases for what moved out of package manager in
// issue 8: the WhatsApp protocol to package whatsapp, the host checks to
// package doctor. They let the branches that were edited in parallel build
// unchanged; the file goes once those branches are merged and their callers
// name the new packages. New code must not use them.

import (
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
