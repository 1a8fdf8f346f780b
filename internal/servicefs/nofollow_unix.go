//go:build unix && !linux

package servicefs

import (
	"errors"
	"os"
	"syscall"
)

// openNoFollow opens path non-blocking, refusing a symlink as its last
// component. O_NONBLOCK is left set: on a regular file it has no effect.
func openNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil && errors.Is(err, syscall.ELOOP) {
		return nil, errSymlink
	}
	return f, err
}

// openDirNoFollow opens path as a directory without following a last
// symlink.
func openDirNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_DIRECTORY, 0)
	if err != nil && errors.Is(err, syscall.ELOOP) {
		return nil, errSymlink
	}
	return f, err
}
