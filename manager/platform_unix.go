//go:build !windows

package manager

// Process groups and signals on Unix.

import (
	"errors"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// detach puts the service in its own session and process group, so that the
// bot's exit, a Ctrl-C in the bot's terminal, or systemd stopping the bot
// never reaches it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

func getpgid(pid int32) int32 {
	g, err := syscall.Getpgid(int(pid))
	if err != nil {
		return 0
	}
	return int32(g)
}

// signalGroup sends sig to every process of group pgid.
func signalGroup(pgid int32, sig syscall.Signal) error {
	if pgid <= 1 {
		return errors.New("refusing to signal process group <= 1")
	}
	err := syscall.Kill(-int(pgid), sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

func signalPID(pid int32, sig syscall.Signal) error {
	if pid <= 1 {
		return errors.New("refusing to signal pid <= 1")
	}
	err := syscall.Kill(int(pid), sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

// signalName is a signal's name as people know it: "SIGKILL".
func signalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}

// sessionLeader reports whether pid leads its own session (a login or
// terminal shell does; npm run from a shell's job control does not).
func sessionLeader(pid int32) bool {
	sid, err := unix.Getsid(int(pid))
	return err == nil && sid == int(pid)
}
