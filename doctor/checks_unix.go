//go:build unix

package doctor

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// checkDirWritable reports whether the bot's user may create files in dir
// (write and search permission; EROFS for a read-only mount).
func checkDirWritable(dir string) error {
	return unix.Access(dir, unix.W_OK|unix.X_OK)
}

// checkFileWritable reports whether the bot's user may append to file.
func checkFileWritable(file string) error {
	return unix.Access(file, unix.W_OK)
}

// checkIsExecutable: a regular file (after symlinks) that this user may execute
// (access(2) X_OK also catches noexec mounts).
func checkIsExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is a %s: %w", path, checkFileKind(fi.Mode()), errCheckNotExecutable)
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			return fmt.Errorf("%s: %w", path, errCheckNotExecutable)
		}
		return err
	}
	return nil
}

func checkFileKind(m os.FileMode) string {
	if m.IsDir() {
		return "directory"
	}
	return "special file"
}

// checkExecCandidates: on unix a name is the file itself.
func checkExecCandidates(path string, _ []string) []string { return []string{path} }

// checkEnvKeyEqual: environment keys are case-sensitive on unix.
func checkEnvKeyEqual(a, b string) bool { return a == b }

func checkAddrInUse(err error) bool { return errors.Is(err, unix.EADDRINUSE) }
