//go:build !linux

package manager

// waitExit elsewhere: a poll.

import (
	"context"
	"time"
)

// waitExit blocks until the process pid that started at created exits, and
// reports true, or until ctx is done, and reports false. Without pidfds it
// looks once a second.
func waitExit(ctx context.Context, pid int32, created time.Time) bool {
	return pollExit(ctx, pid, created, time.Second)
}
