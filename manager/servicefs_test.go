//go:build unix

package manager

import (
	"context"
	"github.com/sanasend/sanasend-bot/internal/servicefs/servicefstest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// Every reader of the service's log (logs, output, the status card's
// restoration, an alert's error lines) refuses a FIFO and a symlink out of
// the service's dir at once, without reading them.
func TestServiceLogReadersRefuseHostileLogPaths(t *testing.T) {
	for _, tt := range servicefstest.Cases() {
		t.Run(tt.Name, func(t *testing.T) {
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
			tt.Plant(t, log, secret)
			want := tt.Refusal(secret)
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
			if got := usererr.Message(err); !strings.Contains(got, want) || len(res.Lines) != 0 {
				t.Errorf("Logs = %q, %q; want refused with %q", res.Lines, got, want)
			}
			lines, err := s.LastErrorLines(ctx, 5)
			if got := usererr.Message(err); !strings.Contains(got, want) || len(lines) != 0 {
				t.Errorf("LastErrorLines = %q, %q; want refused with %q", lines, got, want)
			}
			r, ok, err := s.LastRestoration()
			if got := usererr.Message(err); !strings.Contains(got, want) || ok {
				t.Errorf("LastRestoration = %+v, %v, %q; want refused with %q", r, ok, got, want)
			}
			if ctx.Err() != nil {
				t.Errorf("the readers took longer than 5s: they must not block")
			}
		})
	}
}
