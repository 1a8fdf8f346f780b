//go:build linux

package manager

import (
	"os"
	"os/exec"
	"syscall"
)

// intoCgroup makes cmd start inside the cgroup open as f
// (CLONE_INTO_CGROUP): its first instruction already runs there.
func intoCgroup(cmd *exec.Cmd, f *os.File) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(f.Fd())
}
