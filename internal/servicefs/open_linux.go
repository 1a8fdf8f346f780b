package servicefs

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openBeneath opens rel under dir with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS), non-blocking, then puts the file in blocking mode.
// Where openat2 is missing (Linux before 5.6, or a seccomp filter that
// refuses it) it falls back to openResolved.
func openBeneath(dir, rel string) (*os.File, error) {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	for {
		fd, err := unix.Openat2(dfd, rel, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
		})
		switch {
		case err == nil:
			return blocking(fd, filepath.Join(dir, rel))
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM):
			return openResolved(dir, rel)
		case errors.Is(err, unix.EXDEV):
			// Out of dir, or an absolute symlink (RESOLVE_BENEATH refuses
			// every one): the resolved path says which.
			return openResolved(dir, rel)
		case errors.Is(err, unix.ELOOP):
			return nil, errSymlink
		}
		return nil, err
	}
}

// openNoFollow opens path non-blocking, refusing a symlink as its last
// component, then puts the file in blocking mode.
func openNoFollow(path string) (*os.File, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NOFOLLOW, 0)
		switch {
		case err == nil:
			return blocking(fd, path)
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ELOOP):
			return nil, errSymlink
		}
		return nil, err
	}
}

// blocking clears O_NONBLOCK on a regular file (os.NewFile would otherwise
// try to register it with the poller) and wraps fd. Other types keep it:
// Open refuses them without reading.
func blocking(fd int, name string) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		if err := unix.SetNonblock(fd, false); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// openDirNoFollow opens path as a directory without following a last
// symlink.
func openDirNoFollow(path string) (*os.File, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), path), nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ELOOP):
			return nil, errSymlink
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
}
