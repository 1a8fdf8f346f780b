// Package servicefs opens the files of the supervised service's directory
// for the bot to read: its log, its captured output, its package.json, the
// entries of its auth dirs. The service runs as a less trusted user and can
// put anything at those paths, so every open here
//
//   - never follows a symlink out of the service's dir (openat2 with
//     RESOLVE_BENEATH on Linux; elsewhere, or where openat2 is missing, a
//     check of the resolved path before the open);
//   - never blocks: the open is non-blocking, and only a regular file is
//     returned (a FIFO, a socket, a device or a directory is refused with an
//     error that says what it is);
//   - can be bounded in time with Read, for reads that go through the
//     alert path or answer a chat command.
//
// Refusals are *usererr.Error values whose message is safe to show. The
// package does not write, create or remove anything.
package servicefs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// DefaultTimeout bounds one Read when the caller gives no timeout: a regular
// file on a healthy disk is read in milliseconds, and the bounded reads are
// small (a tail, a restoration block).
const DefaultTimeout = 5 * time.Second

// Open opens path, a file of the service whose directory is dir, for reading.
// path is absolute or relative to dir.
//
// When path lies under dir, it is resolved beneath dir: a symlink that stays
// inside dir is followed, one that leaves it (or a ".." that does) is refused
// with a *usererr.Error (code Forbidden) naming the target. When path lies
// outside dir (a log_file the operator put elsewhere), or dir is "", its last
// component must not be a symlink. Either way the open does not block on a
// FIFO, and only a regular file is returned: anything else is refused with a
// *usererr.Error (code Invalid) that says what it is. A missing file gives
// an error for which errors.Is(err, fs.ErrNotExist) holds. The returned file
// is in blocking mode.
func Open(dir, path string) (*os.File, error) {
	name, rel, beneath := split(dir, path)
	var f *os.File
	var err error
	if beneath {
		f, err = openBeneath(dir, rel)
	} else {
		f, err = openNoFollow(path)
	}
	if err != nil {
		return nil, refusal(dir, path, name, beneath, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, usererr.New(usererr.Invalid, "%s is %s, not a file; the bot will not read it", name, Kind(fi.Mode()))
	}
	return f, nil
}

// Read opens path as Open does and returns read(f), the file closed after.
// The open and the read together must end within timeout (0 means
// DefaultTimeout) and before ctx is done; otherwise Read returns an error
// (a *usererr.Error, code Unavailable, that wraps context.DeadlineExceeded,
// or ctx's error when ctx ended first) without waiting for them.
//
// The trade-off: a read from a hung disk or NFS mount cannot be interrupted,
// so the open and read run in a goroutine of their own. When the deadline
// passes, Read returns and that goroutine lives on until the system call
// returns, then closes the file and ends; its result is dropped. Only that
// one goroutine (and its buffer) can outlive a call: Read starts nothing
// else. read must not keep f.
func Read[T any](ctx context.Context, dir, path string, timeout time.Duration, read func(f *os.File) (T, error)) (T, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned read still ends
	go func() {
		var r result
		f, err := Open(dir, path)
		if err != nil {
			r.err = err
		} else {
			r.v, r.err = read(f)
			f.Close()
		}
		done <- r
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		name, _, _ := split(dir, path)
		if err := parent.Err(); err != nil {
			return zero, usererr.Wrap(fmt.Errorf("read %s: %w", path, err), usererr.Unavailable,
				"reading %s was cut short", name)
		}
		return zero, usererr.Wrap(fmt.Errorf("read %s: %w", path, ctx.Err()), usererr.Unavailable,
			"reading %s took longer than %s: the disk or its mount may hang", name, human.Duration(timeout))
	}
}

// Kind names the type of file of m for people: "a FIFO", "a socket",
// "a directory", "a device", "a symlink", "a file".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a file"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return "a device"
	}
	return "not a regular file"
}

// Beneath returns nil when path (absolute or relative to dir) resolves,
// symlinks followed, to dir itself or a path under it; otherwise a
// *usererr.Error (code Forbidden) that names where it leads. A path that
// does not exist gives an error wrapping fs.ErrNotExist. It is the check for
// directories the bot walks (auth dirs) before it lists them; it is a check
// of the resolved path, so a swap after it is not seen: the walk itself must
// not follow symlinks.
func Beneath(dir, path string) error {
	name, _, beneath := split(dir, path)
	if !beneath {
		return usererr.New(usererr.Forbidden, "%s is outside the service's dir: refused", name)
	}
	real, err := filepath.EvalSymlinks(abs(dir, path))
	if err != nil {
		return fmt.Errorf("resolve %s: %w", path, err)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", dir, err)
	}
	if !under(realDir, real) {
		return usererr.New(usererr.Forbidden, "%s is a symlink out of the service's dir (to %s): refused", name, real)
	}
	return nil
}

// split returns the name to show for path, its path relative to dir, and
// whether it lies under dir (lexically).
func split(dir, path string) (name, rel string, beneath bool) {
	if dir == "" {
		return path, "", false
	}
	p := abs(dir, path)
	r, err := filepath.Rel(filepath.Clean(dir), p)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) || filepath.IsAbs(r) {
		return p, "", false
	}
	return r, r, true
}

func abs(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return filepath.Clean(path)
	}
	return filepath.Join(dir, path)
}

// under reports whether p is dir or lies below it; both are clean.
func under(dir, p string) bool {
	r, err := filepath.Rel(dir, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) && !filepath.IsAbs(r)
}

// openResolved is the portable open: resolve path, check that it stays under
// dir, and open what it resolved to without following a last symlink. A
// directory swapped for a symlink between the check and the open is not
// seen; openat2 (Linux 5.6+) has no such gap.
func openResolved(dir, rel string) (*os.File, error) {
	p := filepath.Join(dir, rel)
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, err
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	if !under(realDir, real) {
		return nil, errEscape
	}
	return openNoFollow(real)
}

// errEscape is the internal cause of a path resolving out of dir.
var errEscape = errors.New("resolves out of the service's dir")

// refusal turns an open error into what the caller returns.
func refusal(dir, path, name string, beneath bool, err error) error {
	switch {
	case errors.Is(err, errEscape):
		target := "elsewhere"
		if real, rerr := filepath.EvalSymlinks(abs(dir, path)); rerr == nil {
			target = real
		}
		return usererr.Wrap(fmt.Errorf("open %s: %w", path, err), usererr.Forbidden,
			"%s is a symlink out of the service's dir (to %s): refused", name, target)
	case errors.Is(err, errSymlink):
		where := "its log_file or auth_dir lies outside the service's dir, where the bot follows no symlink"
		if beneath {
			where = "it loops"
		}
		return usererr.Wrap(fmt.Errorf("open %s: %w", path, err), usererr.Forbidden,
			"%s is a symlink: refused (%s)", name, where)
	case errors.Is(err, fs.ErrNotExist):
		return &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// errSymlink is the internal cause of a last component that is a symlink
// where none may be followed.
var errSymlink = errors.New("is a symlink")

// OpenDir opens the directory at path for listing, refusing a symlink as its
// last component and anything that is not a directory: a walk that lists
// what it found with lstat opens each subdirectory with it, so an entry
// swapped for a symlink between the listing and the open is not followed.
func OpenDir(path string) (*os.File, error) {
	f, err := openDirNoFollow(path)
	if err != nil {
		if errors.Is(err, errSymlink) {
			return nil, usererr.Wrap(fmt.Errorf("open %s: %w", path, err), usererr.Forbidden, "%s is a symlink: refused", path)
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if !fi.IsDir() {
		f.Close()
		return nil, usererr.New(usererr.Invalid, "%s is %s, not a directory", path, Kind(fi.Mode()))
	}
	return f, nil
}
