//go:build unix

package alerts

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// The follower never opens what the service puts at the log path in place
// of a log: a FIFO (opening it would block the monitor for good) or a
// symlink out of the service's dir (it would report another file's lines).
// It keeps polling, times out with the reason, and picks up a real log that
// replaces them.
func TestFollowRefusesFIFOAndSymlinkOut(t *testing.T) {
	lines := followLines(t, "complete", "json")
	tests := []struct {
		name    string
		plant   func(t *testing.T, path, outside string)
		wantErr string
	}{
		{"fifo", func(t *testing.T, path, _ string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "logs/combined.log is a FIFO, not a file; the bot will not read it"},
		{"symlink out of the dir", func(t *testing.T, path, outside string) {
			followAppend(t, outside, followJoin(lines))
			if err := os.Symlink(outside, path); err != nil {
				t.Fatal(err)
			}
		}, "logs/combined.log is a symlink out of the service's dir (to "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "svc")
			path := filepath.Join(dir, "logs", "combined.log")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			tt.plant(t, path, filepath.Join(root, "secret.log"))

			t.Run("times out with the reason", func(t *testing.T) {
				r := followStart(t, t.Context(), FollowConfig{Dir: dir, Path: path})
				r.step()
				r.advance(followTestTimeout)
				res, err := r.finish()
				if !res.TimedOut || res.Completed || err == nil || !strings.Contains(usererr.Message(err), tt.wantErr) {
					t.Fatalf("res = %+v, err = %v (%q); want timed out with %q", res, err, usererr.Message(err), tt.wantErr)
				}
				if res.Restoration.Found > 0 || len(res.Restoration.Sessions) > 0 {
					t.Errorf("restoration = %+v; want nothing seen", res.Restoration)
				}
			})
			t.Run("a real log replaces it", func(t *testing.T) {
				r := followStart(t, t.Context(), FollowConfig{Dir: dir, Path: path})
				r.step()
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				followAppend(t, path, followJoin(lines))
				r.step()
				res, err := r.finish()
				followCheckComplete(t, res, err)
			})
		})
	}
}
