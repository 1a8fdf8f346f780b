//go:build unix

package manager

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// dirWritable reports whether the bot's user may create files in dir
// (write and search permission; EROFS for a read-only mount).
func dirWritable(dir string) error {
	return unix.Access(dir, unix.W_OK|unix.X_OK)
}

// fileWritable reports whether the bot's user may append to file.
func fileWritable(file string) error {
	return unix.Access(file, unix.W_OK)
}

// isExecutable: a regular file (after symlinks) that this user may execute
// (access(2) X_OK also catches noexec mounts).
func isExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is a %s: %w", path, fileKind(fi.Mode()), errNotExecutable)
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			return fmt.Errorf("%s: %w", path, errNotExecutable)
		}
		return err
	}
	return nil
}

func fileKind(m os.FileMode) string {
	if m.IsDir() {
		return "directory"
	}
	return "special file"
}

// execCandidates: on unix a name is the file itself.
func execCandidates(path string, _ []string) []string { return []string{path} }

// envKeyEqual: environment keys are case-sensitive on unix.
func envKeyEqual(a, b string) bool { return a == b }

func isAddrInUse(err error) bool { return errors.Is(err, unix.EADDRINUSE) }
