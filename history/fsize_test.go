//go:build linux

package history

import (
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// TestFileSizeLimitNeverBlocks is the full disk made real: the test runs
// itself again in a child process whose file-size limit (RLIMIT_FSIZE) is
// just above the database; there SIGXFSZ is ignored, so a write past the
// limit fails with EFBIG like a full disk. Recording must not wait, Health
// must say the writes fail, and raising the limit again lets them resume.
func TestFileSizeLimitNeverBlocks(t *testing.T) {
	if os.Getenv("HISTORY_FSIZE_CHILD") == "1" {
		fileSizeLimitChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileSizeLimitNeverBlocks$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "HISTORY_FSIZE_CHILD=1", "HISTORY_FSIZE_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

func fileSizeLimitChild(t *testing.T) {
	signal.Ignore(syscall.SIGXFSZ)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(os.Getenv("HISTORY_FSIZE_DIR"), "h.db")
	clock := clockwork.NewFakeClockAt(t0)
	s := openTest(t, path, clock, func(o *Options) { o.QueueSize = 64 })
	s.RecordCheck(Check{Service: "whatsapp", At: t0, State: Healthy})
	waitFlushed(t, s)

	limit := s.Health().FileSize + 128<<10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: uint64(limit), Max: old.Max}); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	slowest := recordUntilFailing(t, s, "the file-size limit")
	if slowest > 100*time.Millisecond {
		t.Errorf("slowest RecordCheck took %s; recording must not wait on the disk", slowest)
	}
	h := s.Health()
	if h.LastError == "" || h.Dropped == 0 {
		t.Fatalf("Health = %+v; want an error and dropped facts", h)
	}
	t.Logf("at the limit: %+v", h)

	// Room again.
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Health().Failing {
		if time.Now().After(deadline) {
			t.Fatalf("writes did not resume: %+v", s.Health())
		}
		clock.Advance(backoffMax)
		time.Sleep(time.Millisecond)
	}
	s.RecordCheck(Check{Service: "later", At: t0, State: Healthy})
	waitFlushed(t, s)
	if h := s.Health(); h.LastError != "" {
		t.Fatalf("Health after recovery = %+v; want no error", h)
	}
	if n := countRows(t, s, `checks WHERE service = 'later'`); n != 1 {
		t.Fatalf("check recorded after recovery: %d rows; want 1", n)
	}
}
