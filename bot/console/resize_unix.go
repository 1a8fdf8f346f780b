//go:build !windows

package console

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyResize relays the terminal's resize signal (SIGWINCH) to ch.
func notifyResize(ch chan<- os.Signal) bool {
	signal.Notify(ch, syscall.SIGWINCH)
	return true
}
