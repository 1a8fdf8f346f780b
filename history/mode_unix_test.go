//go:build !windows

package history

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// TestNewFileIsOwnerOnly: the database holds who did what and the token
// hashes; the bot creates it, its log and its shared memory 0600 whatever
// the umask.
func TestNewFileIsOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	clock := clockwork.NewFakeClockAt(t0)
	s := openTest(t, path, clock, nil)
	s.RecordCheck(Check{Service: "whatsapp", At: t0, State: Healthy, Latency: time.Millisecond})
	waitFlushed(t, s)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", filepath.Base(p), err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %v; want -rw-------", filepath.Base(p), m)
		}
	}
}
