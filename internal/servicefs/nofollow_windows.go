package servicefs

import (
	"io/fs"
	"os"
)

// openNoFollow refuses a symlink as the last component of path (checked
// with Lstat before the open: Windows has no O_NOFOLLOW), then opens it.
func openNoFollow(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, errSymlink
	}
	return os.Open(path)
}

// openDirNoFollow refuses a symlink at path (checked with Lstat), then opens
// it.
func openDirNoFollow(path string) (*os.File, error) { return openNoFollow(path) }
