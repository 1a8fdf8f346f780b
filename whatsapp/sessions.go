package whatsapp

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/internal/servicefs"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// AuthDir is the LocalAuth directory of one WhatsApp session:
// <auth_dir>/session-<id>/ (or the old guide's session_<id>/).
type AuthDir struct {
	SessionID string
	Path      string
	// ModTime is the newest modification time of the directory itself and
	// of the files and directories under it, within the bounded walk
	// (symlinks, such as Chromium's locks, do not count).
	ModTime time.Time
	Size    int64 // bytes of regular files, within the bounded walk
	Files   int   // regular files, within the bounded walk
	// Capped is true when the walk stopped at AuthDirMaxEntries entries:
	// ModTime, Size and Files are then lower bounds.
	Capped     bool
	HasProfile bool // Chromium's Default/ profile exists
	// Empty is true when the directory holds no regular file at all: nothing
	// a login could be restored from.
	Empty bool
	// Locks are the Chromium singleton symlinks (and anything else named like
	// them) at the top of the directory.
	Locks []ChromiumLock
	// WalkErr is the first error met while walking (a subdirectory that could
	// not be read); the walk goes on without it.
	WalkErr string
}

// ChromiumLock is one of SingletonLock, SingletonSocket and SingletonCookie
// at the top of a session's auth dir.
type ChromiumLock struct {
	SessionID string
	Path      string // <auth dir>/session-<id>/SingletonLock
	Target    string // what the symlink points to: "<host>-<pid>" for SingletonLock
	Host      string // from the SingletonLock target
	PID       int    // from the SingletonLock target; 0 if unknown
	// Stale is true when the lock's holder is gone: its pid is not running
	// on this host, or it was taken on another host (SPEC.md section 6). The
	// socket and cookie of a directory are stale exactly when its SingletonLock is.
	Stale bool
	// Why says why it is or is not stale: "pid 123 is not running",
	// "held by host other-host", "held by pid 123, which is running",
	// "not a symlink: left alone".
	Why string
}

// AuthDirMaxEntries bounds the walk of one auth dir: a Chromium profile can
// hold tens of thousands of files.
const AuthDirMaxEntries = 20000

// Chromium's singleton names, in the order they are judged.
const (
	chromiumLock   = "SingletonLock"
	chromiumSocket = "SingletonSocket"
	chromiumCookie = "SingletonCookie"
)

// ScanAuthDirs lists the session auth dirs directly under authDir (the
// directories named session-<id> or session_<id>, with a non-empty id),
// sorted by session ID then path, and judges their Chromium locks.
//
// authDir itself may be a symlink (it is configuration); nothing under it is
// followed: a session entry that is a symlink is skipped, and the walk that
// measures a directory never enters a symlink.
//
// host is this machine's host name as Chromium writes it (os.Hostname); when
// it is "" no lock is judged stale. alive reports whether a process with
// that pid runs on this host; it is required. A running pid is trusted to be
// the lock's holder (a reused pid keeps a lock that could go: the safe side).
//
// If authDir does not exist, ScanAuthDirs returns no dirs and an error for
// which errors.Is(err, fs.ErrNotExist) is true: callers that treat that as
// "no session saved yet" test for it.
func ScanAuthDirs(authDir string, host string, alive func(pid int) bool) ([]AuthDir, error) {
	return scanAuthDirs(authDir, host, alive, AuthDirMaxEntries)
}

// ScanServiceAuthDirs is ScanAuthDirs for the auth dir of the service whose
// directory is serviceDir: an auth dir under serviceDir must resolve beneath
// it (a symlink out of it is refused with a *usererr.Error that says where it
// leads), and one configured outside it must not itself be a symlink. Only
// then is it listed, so stale locks elsewhere on the host are never judged
// or removed.
func ScanServiceAuthDirs(serviceDir, authDir, host string, alive func(pid int) bool) ([]AuthDir, error) {
	if err := authDirAllowed(serviceDir, authDir); err != nil {
		return nil, fmt.Errorf("scan auth dirs: %w", err)
	}
	return scanAuthDirs(authDir, host, alive, AuthDirMaxEntries)
}

// authDirAllowed checks the auth dir before it is listed.
func authDirAllowed(serviceDir, authDir string) error {
	if serviceDir == "" {
		return errors.New("no service dir")
	}
	if r, err := filepath.Rel(serviceDir, authDir); err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return servicefs.Beneath(serviceDir, authDir)
	}
	fi, err := os.Lstat(authDir)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return usererr.New(usererr.Forbidden, "%s is a symlink: refused (the auth dir lies outside the service's dir, where the bot follows no symlink)", authDir)
	}
	return nil
}

func scanAuthDirs(authDir, host string, alive func(pid int) bool, maxEntries int) ([]AuthDir, error) {
	if alive == nil {
		return nil, errors.New("scan auth dirs: no process check given")
	}
	info, err := os.Stat(authDir)
	if err != nil {
		return nil, fmt.Errorf("scan auth dirs: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("scan auth dirs: %s is not a directory", authDir)
	}
	entries, err := os.ReadDir(authDir)
	if err != nil {
		return nil, fmt.Errorf("scan auth dirs: %w", err)
	}
	var dirs []AuthDir
	for _, e := range entries {
		id, ok := authSessionID(e.Name())
		if !ok || !e.IsDir() { // e.Type() is from lstat: a symlink is not a dir here
			continue
		}
		d := AuthDir{SessionID: id, Path: filepath.Join(authDir, e.Name())}
		authWalk(&d, maxEntries)
		if fi, err := os.Lstat(filepath.Join(d.Path, "Default")); err == nil && fi.IsDir() {
			d.HasProfile = true
		}
		d.Empty = d.Files == 0 && !d.Capped
		d.Locks = authLocks(d.Path, id, host, alive)
		dirs = append(dirs, d)
	}
	sort.Slice(dirs, func(i, j int) bool {
		if dirs[i].SessionID != dirs[j].SessionID {
			return dirs[i].SessionID < dirs[j].SessionID
		}
		return dirs[i].Path < dirs[j].Path
	})
	return dirs, nil
}

// authSessionID returns the session ID of an auth dir entry name.
func authSessionID(name string) (string, bool) {
	for _, prefix := range []string{"session-", "session_"} {
		if id, ok := strings.CutPrefix(name, prefix); ok && id != "" {
			return id, true
		}
	}
	return "", false
}

// authWalk measures d.Path without following symlinks, visiting at most
// maxEntries entries below it.
func authWalk(d *AuthDir, maxEntries int) {
	if fi, err := os.Lstat(d.Path); err == nil {
		d.ModTime = fi.ModTime()
	}
	seen := 0
	stack := []string{d.Path}
	note := func(err error) {
		if d.WalkErr == "" {
			d.WalkErr = err.Error()
		}
	}
	for len(stack) > 0 {
		dir := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		f, err := servicefs.OpenDir(dir) // an entry swapped for a symlink is not followed
		if err != nil {
			note(err)
			continue
		}
		for {
			batch, err := f.ReadDir(256)
			for _, e := range batch {
				if seen >= maxEntries {
					d.Capped = true
					f.Close()
					return
				}
				seen++
				fi, ierr := e.Info() // lstat: it vanished if this fails
				if ierr != nil {
					continue
				}
				switch {
				case fi.Mode().IsRegular():
					d.Files++
					d.Size += fi.Size()
				case fi.IsDir():
					stack = append(stack, filepath.Join(dir, e.Name()))
				default:
					continue // symlinks, sockets: not measured
				}
				if fi.ModTime().After(d.ModTime) {
					d.ModTime = fi.ModTime()
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					note(err)
				}
				break
			}
		}
		f.Close()
	}
}

// authLocks judges the Singleton* entries at the top of a session dir.
func authLocks(dir, id, host string, alive func(int) bool) []ChromiumLock {
	var locks []ChromiumLock
	var lock *ChromiumLock // the SingletonLock, once judged
	for _, name := range []string{chromiumLock, chromiumSocket, chromiumCookie} {
		l, ok := authLock(filepath.Join(dir, name), id, host, alive, lock)
		if !ok {
			continue
		}
		locks = append(locks, l)
		if name == chromiumLock {
			lock = &l
		}
	}
	return locks
}

// authLock judges one Singleton* entry; ok is false when there is none.
// lock is the judged SingletonLock of the same dir, nil if there is none.
func authLock(path, id, host string, alive func(int) bool, lock *ChromiumLock) (l ChromiumLock, ok bool) {
	fi, err := os.Lstat(path)
	if err != nil {
		return l, false
	}
	l = ChromiumLock{SessionID: id, Path: path}
	if fi.Mode()&fs.ModeSymlink == 0 {
		l.Why = "not a symlink: left alone"
		return l, true
	}
	if l.Target, err = os.Readlink(path); err != nil {
		l.Why = "unreadable symlink: left alone"
		return l, true
	}
	if filepath.Base(path) == chromiumLock {
		l.Host, l.PID, l.Stale, l.Why = judgeChromiumLock(l.Target, host, alive)
		return l, true
	}
	switch {
	case lock == nil:
		l.Why = "no SingletonLock beside it: harmless, left alone"
	case lock.Target == "":
		l.Why = "its SingletonLock is not a lock symlink: left alone"
	case lock.Stale:
		l.Host, l.PID, l.Stale = lock.Host, lock.PID, true
		l.Why = "its SingletonLock is stale: " + lock.Why
	default:
		l.Host, l.PID = lock.Host, lock.PID
		l.Why = "its SingletonLock is not stale"
	}
	return l, true
}

// judgeChromiumLock reads a SingletonLock target "<host>-<pid>" (the host
// name may itself hold dashes).
func judgeChromiumLock(target, host string, alive func(int) bool) (h string, pid int, stale bool, why string) {
	i := strings.LastIndexByte(target, '-')
	if i <= 0 {
		return "", 0, false, fmt.Sprintf("unrecognized target %q: left alone", target)
	}
	pid, err := strconv.Atoi(target[i+1:])
	if err != nil || pid <= 0 {
		return "", 0, false, fmt.Sprintf("unrecognized target %q: left alone", target)
	}
	h = target[:i]
	switch {
	case host == "":
		return h, pid, false, "this host's name is unknown: left alone"
	case !strings.EqualFold(h, host):
		return h, pid, true, "held by host " + h
	case !alive(pid):
		return h, pid, true, fmt.Sprintf("pid %d is not running", pid)
	}
	return h, pid, false, fmt.Sprintf("held by pid %d, which is running", pid)
}

// RemoveStaleLocks removes exactly the stale Chromium singleton symlinks of
// dirs, as judged by ScanAuthDirs, and returns their paths. Right before each
// removal it checks with os.Lstat that the entry is still a symlink with the
// same target: a lock that a new Chromium took since the scan, or anything
// that is not a symlink, is left alone, and so are the socket and cookie of a
// directory whose SingletonLock was left alone. A lock that is already gone
// is skipped. It never removes a regular file, a directory, a lock that is
// not stale, or a path that is not a Singleton* entry at the top of its
// session dir. Errors are joined; the other locks are still removed.
func RemoveStaleLocks(dirs []AuthDir) (removed []string, err error) {
	var errs []error
	for _, d := range dirs {
		var lock *ChromiumLock
		li := -1
		for i := range d.Locks {
			if filepath.Base(d.Locks[i].Path) == chromiumLock {
				lock, li = &d.Locks[i], i
			}
		}
		if lock == nil || !lock.Stale {
			continue // nothing of this dir is stale
		}
		if !authLockOf(d, *lock) {
			errs = append(errs, fmt.Errorf("remove stale lock: refusing %s: not a Chromium lock of %s", lock.Path, d.Path))
			continue
		}
		ok, rerr := authRemoveSymlink(lock.Path, lock.Target)
		if rerr != nil {
			errs = append(errs, rerr)
			continue
		}
		if ok {
			removed = append(removed, lock.Path)
		} else if _, lerr := os.Lstat(lock.Path); !errors.Is(lerr, fs.ErrNotExist) {
			continue // changed since the scan (a new Chromium took it): leave the dir alone
		}
		for i, l := range d.Locks {
			if i == li || !l.Stale {
				continue
			}
			if name := filepath.Base(l.Path); name == chromiumLock || !authLockOf(d, l) {
				errs = append(errs, fmt.Errorf("remove stale lock: refusing %s: not a Chromium lock of %s", l.Path, d.Path))
				continue
			}
			ok, rerr := authRemoveSymlink(l.Path, l.Target)
			if rerr != nil {
				errs = append(errs, rerr)
			}
			if ok {
				removed = append(removed, l.Path)
			}
		}
	}
	return removed, errors.Join(errs...)
}

// authLockOf reports whether l names a Singleton* entry at the top of d.
func authLockOf(d AuthDir, l ChromiumLock) bool {
	name := filepath.Base(l.Path)
	return d.Path != "" && filepath.Dir(l.Path) == filepath.Clean(d.Path) &&
		(name == chromiumLock || name == chromiumSocket || name == chromiumCookie)
}

// authRemoveSymlink removes path if it is still a symlink to target.
func authRemoveSymlink(path, target string) (bool, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("remove stale lock: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return false, nil
	}
	if now, err := os.Readlink(path); err != nil || now != target {
		return false, nil
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("remove stale lock: %w", err)
	}
	return true, nil
}

// AuthDirFor returns the auth dir of a session (the first non-empty one if
// there are several), and whether there is one.
func (s SessionsReport) AuthDirFor(id string) (AuthDir, bool) {
	var found *AuthDir
	for i := range s.AuthDirs {
		d := &s.AuthDirs[i]
		if d.SessionID != id {
			continue
		}
		if !d.Empty {
			return *d, true
		}
		if found == nil {
			found = d
		}
	}
	if found == nil {
		return AuthDir{}, false
	}
	return *found, true
}
