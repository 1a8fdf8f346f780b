//go:build linux

package doctor

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// processUIDs returns the real, effective, saved and file-system uids of
// pid, from the Uid line of /proc/<pid>/status.
func processUIDs(pid int) ([]int, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, fmt.Errorf("uids of %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("Uid:"))
		if !ok {
			continue
		}
		var uids []int
		for _, f := range bytes.Fields(rest) {
			uid, err := strconv.Atoi(string(f))
			if err != nil {
				return nil, fmt.Errorf("uids of %d: %q: %w", pid, f, err)
			}
			uids = append(uids, uid)
		}
		if len(uids) > 0 {
			return uids, nil
		}
	}
	return nil, fmt.Errorf("uids of %d: %w", pid, errNoUIDs)
}
