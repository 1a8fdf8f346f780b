//go:build windows

package manager

// Process groups and signals on Windows (taskkill).

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// detach starts the service in a new process group, so that a Ctrl-C in the
// bot's console does not reach it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// Windows has no process groups in the POSIX sense: every process is its own
// "group" here, and trees are killed with taskkill /T.
func getpgid(pid int32) int32 { return pid }

// signalGroup ends the tree rooted at pid with taskkill /T; SIGTERM asks
// politely (no /F), SIGKILL forces.
func signalGroup(pid int32, sig syscall.Signal) error {
	return taskkill(pid, sig)
}

func signalPID(pid int32, sig syscall.Signal) error {
	return taskkill(pid, sig)
}

func taskkill(pid int32, sig syscall.Signal) error {
	if pid <= 4 {
		return errors.New("refusing to signal a system process")
	}
	args := []string{"/T", "/PID", strconv.Itoa(int(pid))}
	if sig == sigKill {
		args = append([]string{"/F"}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// taskkill exits non-zero when the process is already gone: not an error
	// for a stop.
	_ = exec.CommandContext(ctx, "taskkill", args...).Run()
	return nil
}

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

// signalName is a signal's name as people know it: "SIGKILL".
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return "signal " + strconv.Itoa(int(sig))
}

// sessionLeader: Windows has no POSIX sessions; no process leads one.
func sessionLeader(int32) bool { return false }
