//go:build unix

package alerts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanasend/sanasend-bot/internal/servicefs/servicefstest"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// The follower never opens what the service puts at the log path in place
// of a log: a FIFO (opening it would block the monitor for good) or a
// symlink out of the service's dir (it would report another file's lines).
// It keeps polling, times out with the reason, and picks up a real log that
// replaces them.
func TestFollowRefusesFIFOAndSymlinkOut(t *testing.T) {
	lines := followLines(t, "complete", "json")
	for _, tt := range servicefstest.Cases() {
		t.Run(tt.Name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "svc")
			path := filepath.Join(dir, "logs", "combined.log")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			outside := filepath.Join(root, "secret.log")
			followAppend(t, outside, followJoin(lines)) // a whole restoration, behind the symlink
			tt.Plant(t, path, outside)

			t.Run("times out with the reason", func(t *testing.T) {
				r := followStart(t, t.Context(), FollowConfig{Dir: dir, Path: path})
				r.step()
				r.advance(followTestTimeout)
				res, err := r.finish()
				if !res.TimedOut || res.Completed || err == nil || !strings.Contains(usererr.Message(err), tt.Refusal(outside)) {
					t.Fatalf("res = %+v, err = %v (%q); want timed out with %q", res, err, usererr.Message(err), tt.Refusal(outside))
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
