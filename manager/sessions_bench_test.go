//go:build linux

package manager

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/whatsapp"
)

// sessionsFixture is a service dir with n sessions: n auth dirs (a
// Chromium profile of 20 files each, and a SingletonLock held by its
// browser), a log whose last restoration names them all (every third one
// failed), and per session a cheap stand-in for a Chromium tree: a browser
// main process (`sh -c 'sleep 600; :' sh --user-data-dir=<profile>`) with
// a child (sleep), and a crash handler (`sh ... --type=crashpad-handler
// --database=<profile>/Crash Reports`) with a child: 4 processes a session,
// carrying the service's marker, with the argv the scan reads. sh stays
// (a command follows sleep), so its argv is the one in /proc.
func sessionsFixture(b *testing.B, n int) *Service {
	b.Helper()
	root := b.TempDir()
	dir := filepath.Join(root, "svc")
	auth := filepath.Join(dir, ".wwebjs_auth")
	cfg := ServiceConfig{Name: "whatsapp", Dir: dir, URL: "http://127.0.0.1:1", Start: []string{"npm", "start"},
		LogFile: filepath.Join(dir, "logs", "combined.log"), AuthDir: auth, StartTimeout: time.Second,
		StopTimeout: time.Second, HealthTimeout: time.Second, StateDir: filepath.Join(root, "state")}
	s, err := NewService(cfg, Options{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	host, _ := os.Hostname()
	env := append(os.Environ(), MarkerEnv+"="+s.key+"/bench")
	var pgid int
	var cmds []*exec.Cmd
	b.Cleanup(func() {
		if pgid > 1 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	})
	spawn := func(args ...string) *exec.Cmd {
		c := exec.Command("sh", append([]string{"-c", "sleep 600; :", "sh"}, args...)...)
		c.Env = env
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		if pgid == 0 {
			pgid = c.Process.Pid
		}
		cmds = append(cmds, c)
		return c
	}
	var log strings.Builder
	line := func(level, msg string) {
		fmt.Fprintf(&log, `{"level":%q,"message":%q,"service":"whatsapp-service","timestamp":"2026-11-28 14:10:00"}`+"\n", level, msg)
	}
	line("info", "WhatsApp Service running on port 3000")
	line("info", "Initiating session restoration...")
	line("info", fmt.Sprintf("Found %d sessions to restore", n))
	failed := 0
	for i := range n {
		id := fmt.Sprintf("user_%d_instance_main", i)
		profile := filepath.Join(auth, "session-"+id)
		for f := range 20 {
			p := filepath.Join(profile, "Default", fmt.Sprintf("file-%d", f))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(strings.Repeat("x", 1000)), 0o600); err != nil {
				b.Fatal(err)
			}
		}
		browser := spawn("--user-data-dir=" + profile)
		spawn("--type=crashpad-handler", "--database="+filepath.Join(profile, "Crash Reports"))
		if err := os.Symlink(fmt.Sprintf("%s-%d", host, browser.Process.Pid), filepath.Join(profile, "SingletonLock")); err != nil {
			b.Fatal(err)
		}
		line("info", fmt.Sprintf("Restoring session: %s (main)", id))
		if i%3 == 2 {
			failed++
			line("warn", fmt.Sprintf("✗ Failed to restore session %s: net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/", id))
		} else {
			line("info", "✓ Session restored: "+id)
		}
	}
	line("info", fmt.Sprintf("Session restoration complete: %d restored, %d failed", n-failed, failed))
	if err := os.MkdirAll(filepath.Dir(cfg.LogFile), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(cfg.LogFile, []byte(log.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	// Every process of the fixture runs (sh has forked its sleep).
	waitFor(b, "the fixture's processes", 30*time.Second, func() bool {
		snap, err := s.look(context.Background())
		return err == nil && len(snap.members) == 4*n
	})
	return s
}

// BenchmarkSessionsScan measures Service.Sessions with 10 and 100 sessions
// on the fixture above (the real process table of the host plus the
// fixture's), and its parts: the look at the process table, the argv and
// stat reads of the members (inspect), the auth dirs, the join. The
// restoration is read from the cache after the first call, as the status
// card reads it.
func BenchmarkSessionsScan(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			s := sessionsFixture(b, n)
			ctx := context.Background()
			rep, err := s.Sessions(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(rep.Browsers) != n || len(rep.Sessions) != n || len(rep.IdleBrowsers()) != n/3 {
				b.Fatalf("report: %d browsers, %d sessions, %d idle; want %d, %d, %d",
					len(rep.Browsers), len(rep.Sessions), len(rep.IdleBrowsers()), n, n, n/3)
			}
			b.Run("all", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Sessions(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("look", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.look(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			snap, _ := s.look(ctx)
			b.Run("inspect", func(b *testing.B) {
				for b.Loop() {
					s.inspect(ctx, snap)
				}
			})
			b.Run("authdirs", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.authDirs(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			in := s.inspect(ctx, snap)
			r, ok, _ := s.LastRestoration()
			dirs, _ := s.authDirs(ctx)
			b.Run("join", func(b *testing.B) {
				for b.Loop() {
					whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: ok, Dirs: dirs, Browsers: in.browsers})
				}
			})
		})
	}
}
