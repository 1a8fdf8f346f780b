//go:build !windows

package manager

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// restartBenchSessions is a sessions file where half the sessions fail:
// their browsers are the ones the service never closes.
func restartBenchSessions(b *testing.B) map[string]string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "sessions.json")
	data := `[{"session_id":"user_1_instance_main","instance_name":"main","restore":"ok","after":"ready"},` +
		`{"session_id":"user_2_instance_sales","instance_name":"sales","restore":"ok","after":"ready"},` +
		`{"session_id":"user_3_instance_old","instance_name":"old","restore":"fail","reason":"net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/"},` +
		`{"session_id":"user_4_instance_promo","instance_name":"promo","restore":"fail","reason":"undefined"}]`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		b.Fatal(err)
	}
	return map[string]string{"SESSIONS_FILE": path}
}

// restorations counts the completed restorations in the service's log.
func restorations(s *Service) int {
	data, _ := os.ReadFile(s.cfg.LogFile)
	return strings.Count(string(data), "Session restoration complete")
}

func waitRestorations(b *testing.B, s *Service, n int) {
	b.Helper()
	waitFor(b, "restoration "+strconv.Itoa(n), 60*time.Second, func() bool { return restorations(s) >= n })
}

// waitHealthy polls the service's health every 5 ms until it answers.
func waitHealthy(b *testing.B, s *Service) {
	b.Helper()
	deadline := time.Now().Add(s.cfg.StartTimeout)
	for !checkHealth(context.Background(), s.clock, s.client, s.HealthURL(), time.Second).OK {
		if time.Now().After(deadline) {
			b.Fatal("the service started by hand is not healthy")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// manualRun is the service started by hand: `npm start` in its dir, with
// the environment the bot gives it, leading its own session and group, and
// a marker of the service (so that the bot ends what it leaves at the end).
type manualRun struct{ cmd *exec.Cmd }

func startByHand(b *testing.B, s *Service, n int) manualRun {
	b.Helper()
	path, err := exec.LookPath("npm")
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(path, "start")
	cmd.Dir = s.cfg.Dir
	cmd.Env = s.serviceEnv(s.key + "/manual-" + strconv.Itoa(n))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return manualRun{cmd: cmd}
}

// group lists the live processes of the run's process group.
func (m manualRun) group(b *testing.B) map[int32]time.Time {
	b.Helper()
	tab, err := scanProcesses(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	out := make(map[int32]time.Time)
	for pid, e := range tab.byPID {
		if e.pgid == int32(m.cmd.Process.Pid) {
			out[pid] = e.created
		}
	}
	return out
}

// stopByHand sends SIGTERM to the run's group (npm, sh, node: members
// listed before) and waits until npm is reaped and the others are gone
// (exited: a zombie waiting for init to reap it is gone): the service's
// own shutdown.
func (m manualRun) stopByHand(b *testing.B, members map[int32]time.Time) {
	b.Helper()
	if err := syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	_ = m.cmd.Wait()
	for {
		alive := false
		for pid, created := range members {
			if processAlive(context.Background(), pid, created) {
				alive = true
			}
		}
		if !alive {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkRestartVsManual measures the time from SIGTERM to healthy again
// through Service.Restart (the whole call: its look at the processes and
// sessions, the stop, the start) against the service's own shutdown and
// boot done by hand (SIGTERM to npm's group, wait for the group to go, npm
// start, wait healthy, polling every 5 ms), on the stand-in with two
// restored sessions and two failed ones (whose browsers the service never
// closes). It reports both, their ratio and their difference.
func BenchmarkRestartVsManual(b *testing.B) {
	benchRestartVsManual(b, testService(b, restartBenchSessions(b)))
}

// benchRestartVsManual is BenchmarkRestartVsManual on s.
func benchRestartVsManual(b *testing.B, s *Service) {
	b.Helper()
	ctx := context.Background()
	var restart, manual time.Duration
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		// Through the bot: a service whose restoration is done, failed
		// sessions' browsers running.
		n := restorations(s) + 1
		if _, err := s.Start(ctx, alice, nil); err != nil && !errors.Is(err, ErrAlreadyRunning) {
			b.Fatal(err)
		}
		waitRestorations(b, s, n)
		began := time.Now()
		res, err := s.Restart(ctx, alice, nil)
		restart += time.Since(began)
		if err != nil || !res.Start.Healthy {
			b.Fatalf("restart = %+v, %v", res, err)
		}
		if len(res.Stop.IdleEnded) != 2 {
			b.Fatalf("restart ended %d idle browsers alongside; want the 2 failed sessions'", len(res.Stop.IdleEnded))
		}
		waitRestorations(b, s, n+1)
		if _, err := s.Stop(ctx, alice, nil); err != nil {
			b.Fatal(err)
		}

		// By hand, in the same state.
		m := startByHand(b, s, 2*i)
		waitHealthy(b, s)
		waitRestorations(b, s, n+2)
		members := m.group(b)
		began = time.Now()
		m.stopByHand(b, members)
		stopped := time.Since(began)
		m = startByHand(b, s, 2*i+1)
		waitHealthy(b, s)
		manual += time.Since(began)
		b.Logf("restart: stop %s, start %s; by hand: stop %s, boot %s", res.Stop.Duration, res.Start.TimeToHealthy, stopped, time.Since(began)-stopped)
		// The bot ends the manual run and what it left (by its marker).
		if _, err := s.Stop(ctx, alice, nil); err != nil {
			b.Fatal(err)
		}
		_ = m.cmd.Wait()
	}
	r := restart / time.Duration(b.N)
	h := manual / time.Duration(b.N)
	b.ReportMetric(float64(r.Microseconds())/1000, "restart-ms")
	b.ReportMetric(float64(h.Microseconds())/1000, "manual-ms")
	b.ReportMetric(float64(r)/float64(h), "ratio")
	b.ReportMetric(float64((r-h).Microseconds())/1000, "diff-ms")
}
