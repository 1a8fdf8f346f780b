package console

import "os"

// notifyResize reports that Windows has no resize signal.
func notifyResize(chan<- os.Signal) bool { return false }
