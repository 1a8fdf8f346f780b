//go:build !windows

package manager

// Opening the capture file of the service's output, and the free space
// where it goes, on Unix.

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// openCaptureFile opens path for appending, creating it: never through a
// symbolic link, and only a regular file with one link (a capture file in
// the service's own dir must not be a way to append to another file).
func openCaptureFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o640)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		f.Close()
		return nil, fmt.Errorf("%s has %d hard links", path, st.Nlink)
	}
	return f, nil
}

// freeBytes is the space an unprivileged writer has left on the file
// system holding dir; ok is false when it cannot be told.
func freeBytes(dir string) (free uint64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	// The fields' types vary by platform.
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
