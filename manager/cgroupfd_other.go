//go:build !linux

package manager

import (
	"os"
	"os/exec"
)

// intoCgroup does nothing: cgroups exist on Linux only (and the cgroup
// package never offers one elsewhere).
func intoCgroup(*exec.Cmd, *os.File) {}
