//go:build unix

package manager

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// Every reader of the service's log (logs, output, the status card's
// restoration, an alert's error lines) refuses a FIFO and a symlink out of
// the service's dir at once, without reading them.
func TestServiceLogReadersRefuseHostileLogPaths(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, log, secret string)
		want  string
	}{
		{"fifo", func(t *testing.T, log, _ string) {
			if err := syscall.Mkfifo(log, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "logs/combined.log is a FIFO, not a file; the bot will not read it"},
		{"symlink out of the dir", func(t *testing.T, log, secret string) {
			if err := os.Symlink(secret, log); err != nil {
				t.Fatal(err)
			}
		}, "logs/combined.log is a symlink out of the service's dir (to "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "svc")
			secret := filepath.Join(root, "shadow")
			if err := os.WriteFile(secret, []byte("Starting session restoration...\nFound 1 session to restore\nroot:SECRET error\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			log := filepath.Join(dir, "logs", "combined.log")
			if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
				t.Fatal(err)
			}
			tt.plant(t, log, secret)
			s, err := NewService(ServiceConfig{Name: "whatsapp", Dir: dir, URL: "http://127.0.0.1:1",
				Start: []string{"npm", "start"}, LogFile: log, StartTimeout: time.Second, StopTimeout: time.Second,
				HealthTimeout: time.Second, StateDir: filepath.Join(root, "state")}, Options{Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()

			res, err := s.Logs(ctx, LogQuery{Lines: 10})
			if got := usererr.Message(err); !strings.Contains(got, tt.want) || len(res.Lines) != 0 {
				t.Errorf("Logs = %q, %q; want refused with %q", res.Lines, got, tt.want)
			}
			lines, err := s.LastErrorLines(ctx, 5)
			if got := usererr.Message(err); !strings.Contains(got, tt.want) || len(lines) != 0 {
				t.Errorf("LastErrorLines = %q, %q; want refused with %q", lines, got, tt.want)
			}
			r, ok, err := s.LastRestoration()
			if got := usererr.Message(err); !strings.Contains(got, tt.want) || ok {
				t.Errorf("LastRestoration = %+v, %v, %q; want refused with %q", r, ok, got, tt.want)
			}
			if ctx.Err() != nil {
				t.Errorf("the readers took longer than 5s: they must not block")
			}
		})
	}
}
