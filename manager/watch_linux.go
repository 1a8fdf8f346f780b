//go:build linux

package manager

// waitExit on Linux: a pidfd, or a poll where pidfds are missing.

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// waitExit blocks until the process pid that started at created exits, and
// reports true, or until ctx is done, and reports false. The process need
// not be this bot's child: a pidfd (pidfd_open, Linux 5.3) becomes readable
// when its process exits, and the runtime's poller waits for that without a
// thread or a timer. Without pidfds it polls once a second.
func waitExit(ctx context.Context, pid int32, created time.Time) bool {
	fd, err := unix.PidfdOpen(int(pid), unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.ESRCH) {
		return true
	}
	if err != nil {
		return pollExit(ctx, pid, created, time.Second)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	// The PID may have been reused between the scan that found it and
	// pidfd_open: the pidfd then refers to another process.
	if !processAlive(ctx, pid, created) {
		return true
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return pollExit(ctx, pid, created, time.Second)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	defer stop()
	err = rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		return err == nil && n > 0
	})
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		// Not pollable after all (a kernel without pidfd poll support).
		return pollExit(ctx, pid, created, time.Second)
	}
	return true
}
