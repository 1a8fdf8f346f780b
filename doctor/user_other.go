//go:build !linux

package doctor

import (
	"fmt"

	"github.com/shirou/gopsutil/v4/process"
)

// processUIDs returns the uids of pid, as gopsutil reads them.
func processUIDs(pid int) ([]int, error) {
	p, err := process.NewProcess(int32(pid))
	if err != nil {
		return nil, fmt.Errorf("uids of %d: %w", pid, err)
	}
	us, err := p.Uids()
	if err != nil {
		return nil, fmt.Errorf("uids of %d: %w", pid, err)
	}
	if len(us) == 0 {
		return nil, fmt.Errorf("uids of %d: %w", pid, errNoUIDs)
	}
	out := make([]int, len(us))
	for i, u := range us {
		out[i] = int(u)
	}
	return out, nil
}
