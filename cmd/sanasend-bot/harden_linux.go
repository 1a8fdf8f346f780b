//go:build linux

package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// harden makes the process non-dumpable: no core dump, and its /proc files
// (environ, mem, maps...) belong to root, so that another process of the
// same uid (the service the bot supervises, usually) can neither read
// /proc/<bot>/environ nor ptrace the bot. The flag is reset by exec, so the
// service the bot starts is not affected.
func harden() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("make the process non-dumpable: %w", err)
	}
	return nil
}
