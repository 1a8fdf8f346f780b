package fleet

import (
	"fmt"
	"time"
)

// OfflineError says that a host's agent did not answer because none is
// connected (NATS "no responders"): known at once, never by a timeout.
// Since is when the hub last heard from it (zero: never). Front ends word
// it (bot); its Error is a plain fallback.
type OfflineError struct {
	Host  string
	Since time.Time
}

func (e *OfflineError) Error() string {
	if e.Since.IsZero() {
		return fmt.Sprintf("%s is offline (never seen)", e.Host)
	}
	return fmt.Sprintf("%s is offline since %s", e.Host, e.Since.UTC().Format("15:04 UTC"))
}
