//go:build unix

package doctor

import (
	"fmt"
	"os"
	"syscall"
)

// dirOwner returns the uid that owns dir.
func dirOwner(dir string) (int, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("%s: no owner in its file info", dir)
	}
	return int(st.Uid), nil
}
