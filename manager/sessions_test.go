//go:build !windows

package manager

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// The default sessions of the stand-in (data/active-sessions.json): three
// restored, one failed.
var (
	restoredSessions = []string{"user_12_instance_main", "user_27_instance_sales", "user_31_instance_support"}
	failedSession    = "user_45_instance_promo"
)

// startDecoy runs another copy of the stand-in (node src/server.js, by
// hand, not the service's) with the same session IDs, so that browsers with
// the same sessions but another profile dir run beside the service's. Its
// processes carry a marker of their own, by which they are all removed at
// cleanup. It returns that marker's key.
func startDecoy(t *testing.T, env map[string]string) string {
	t.Helper()
	dir := standinDir(t)
	key := "decoy-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cmd := exec.Command("node", "src/server.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(freeTCPPort(t)), "RESTORE_DELAY_MS=50", "RESTORE_STEP_MS=30",
		"TMPDIR="+t.TempDir(), MarkerEnv+"="+key+"/1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		deadline := time.Now().Add(5 * time.Second)
		for {
			left := markedProcesses(t, key)
			if len(left) == 0 {
				return
			}
			for _, pid := range left {
				_ = signalPID(pid, sigKill)
			}
			if time.Now().After(deadline) {
				t.Errorf("decoy processes left: %v", left)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	waitFor(t, "the decoy's restoration", 40*time.Second, func() bool {
		data, err := os.ReadFile(filepath.Join(dir, "logs", "combined.log"))
		return err == nil && strings.Contains(string(data), "Session restoration complete")
	})
	return key
}

// browserOf returns the browser of a session among bs.
func browserOf(bs []whatsapp.Browser, id string) (whatsapp.Browser, bool) {
	i := slices.IndexFunc(bs, func(b whatsapp.Browser) bool { return b.SessionID == id })
	if i < 0 {
		return whatsapp.Browser{}, false
	}
	return bs[i], true
}

// treesComplete reports whether every session has a browser whose tree
// holds a child and a crash handler.
func treesComplete(st Status, ids ...string) bool {
	for _, id := range ids {
		b, ok := browserOf(st.Browsers, id)
		if !ok || b.Processes() < 3 {
			return false
		}
		handler := false
		for _, p := range st.Processes {
			if p.Session == id && p.Chromium == roleCrashpad {
				handler = true
			}
		}
		if !handler {
			return false
		}
	}
	return true
}

func TestBrowsersSessionsAndCleanup(t *testing.T) {
	t.Parallel()
	s := testService(t, nil)
	decoy := startDecoy(t, nil)
	// A process outside the service's tree that claims the failed
	// session's profile in its argv: never the service's, never ended.
	forged := exec.Command("sh", "-c", "sleep 600; :", "sh", "--user-data-dir="+filepath.Join(s.cfg.AuthDir, "session-"+failedSession))
	forged.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := forged.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-forged.Process.Pid, syscall.SIGKILL)
		_ = forged.Wait()
	})
	startHealthy(t, s)
	ctx := context.Background()
	all := append(slices.Clone(restoredSessions), failedSession)
	var st Status
	waitFor(t, "a complete browser tree per session", 20*time.Second, func() bool {
		st, _ = s.Status(ctx)
		return treesComplete(st, all...)
	})

	// Status: one browser per session, its tree tagged, the RSS summed.
	if slices.ContainsFunc(st.Browsers, func(b whatsapp.Browser) bool { return b.PID == int32(forged.Process.Pid) }) {
		t.Errorf("browsers = %+v; the forged process outside the service is among them", st.Browsers)
	}
	if len(st.Browsers) != len(all) {
		t.Errorf("browsers = %+v; want one per session of the service (%d), none of the decoy", st.Browsers, len(all))
	}
	var rss uint64
	for _, p := range st.Processes {
		rss += p.RSS
	}
	if st.RSS != rss || rss == 0 {
		t.Errorf("status RSS = %d; want the sum over its processes, %d", st.RSS, rss)
	}
	authDir := s.cfg.AuthDir
	for _, b := range st.Browsers {
		if want := filepath.Join(authDir, "session-"+b.SessionID); b.UserDataDir != want {
			t.Errorf("browser %d of %s: profile %q; want %q", b.PID, b.SessionID, b.UserDataDir, want)
		}
		if b.PIDs[0] != b.PID || b.RSS == 0 || b.Started.IsZero() {
			t.Errorf("browser %+v: want its main process first, an RSS and a start time", b)
		}
		var sum uint64
		for _, pid := range b.PIDs {
			i := slices.IndexFunc(st.Processes, func(p Process) bool { return p.PID == pid })
			if i < 0 {
				t.Errorf("browser of %s: pid %d is no process of the service", b.SessionID, pid)
				continue
			}
			p := st.Processes[i]
			sum += p.RSS
			if p.Session != b.SessionID {
				t.Errorf("pid %d (%s) of %s's tree has session %q", pid, p.Command, b.SessionID, p.Session)
			}
			if (pid == b.PID) != (p.Chromium == roleBrowser) {
				t.Errorf("pid %d (%s): role %q; main process %d", pid, p.Command, p.Chromium, b.PID)
			}
		}
		if sum != b.RSS {
			t.Errorf("browser of %s: RSS %d; want the sum over its tree, %d", b.SessionID, b.RSS, sum)
		}
	}
	for _, p := range st.Processes[:1] {
		if p.Session != "" || p.Chromium != "" {
			t.Errorf("root %d: session %q role %q; want none", p.PID, p.Session, p.Chromium)
		}
	}

	// Sessions: the failed one's browser is idle, the others' are not.
	rep, err := s.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range all {
		v, ok := rep.Session(id)
		if !ok || v.Browser == nil {
			t.Errorf("session %s: %+v; want a view with its browser", id, v)
			continue
		}
		if v.Idle != (id == failedSession) {
			t.Errorf("session %s (%s): idle %v", id, v.State, v.Idle)
		}
	}
	if v, _ := rep.Session(failedSession); v.State != whatsapp.SessionFailedState {
		t.Errorf("failed session: state %s; want failed", v.State)
	}
	idle := rep.IdleBrowsers()
	if len(idle) != 1 || idle[0].SessionID != failedSession {
		t.Fatalf("idle browsers = %+v; want the failed session's", idle)
	}
	decoyBefore := markedProcesses(t, decoy)
	if len(decoyBefore) == 0 {
		t.Fatal("the decoy runs no process")
	}

	// Cleanup ends exactly the idle tree.
	var steps []string
	res, err := s.CleanupBrowsers(ctx, alice, func(step string) { steps = append(steps, step) })
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if len(res.Ended) != 1 || res.Ended[0].PID != idle[0].PID || len(res.Survivors) != 0 || res.Duration <= 0 {
		t.Errorf("cleanup = %+v; want the failed session's browser ended, no survivor", res)
	}
	if len(res.Kept) != len(restoredSessions) {
		t.Errorf("kept = %+v; want the restored sessions' browsers", res.Kept)
	}
	for _, pid := range idle[0].PIDs {
		if processAlive(ctx, pid, time.Time{}) && slices.Contains(markedProcesses(t, s.key), pid) {
			t.Errorf("pid %d of the idle tree survived the cleanup", pid)
		}
	}
	for _, b := range res.Kept {
		if !processAlive(ctx, b.PID, b.Started) {
			t.Errorf("the browser of %s (pid %d), in use, was ended", b.SessionID, b.PID)
		}
	}
	for _, pid := range decoyBefore {
		if !processAlive(ctx, pid, time.Time{}) {
			t.Errorf("decoy pid %d was ended", pid)
		}
	}
	if !processAlive(ctx, int32(forged.Process.Pid), time.Time{}) {
		t.Error("a process outside the service that names the failed session's profile was ended")
	}
	if after, _ := s.Status(ctx); after.State != StateHealthy {
		t.Errorf("status after cleanup = %s; want healthy", after.State)
	}
	if a := s.LastAction(); a == nil || a.Action != ActionCleanup || !a.OK || a.By != alice {
		t.Errorf("last action = %+v; want a successful cleanup by alice", a)
	}
	if len(steps) == 0 {
		t.Error("cleanup reported no progress")
	}

	// Nothing left to clean: refused, nothing recorded.
	_, err = s.CleanupBrowsers(ctx, Actor{ID: "U0BOB", Name: "bob"}, nil)
	if !errors.Is(err, ErrNothingToClean) || usererr.CodeOf(err) != usererr.Conflict {
		t.Errorf("second cleanup = %v; want ErrNothingToClean, a conflict", err)
	}
	if a := s.LastAction(); a == nil || a.By != alice {
		t.Errorf("last action after a refused cleanup = %+v; want alice's cleanup still", a)
	}
	if s.Busy() != nil {
		t.Error("a refused cleanup kept the action slot")
	}
}

func TestAuthDirRemovedBeforeStartIsReportedMissing(t *testing.T) {
	t.Parallel()
	dir := standinDir(t)
	cfg := testServiceConfig(t, dir, twoSessions(t))
	s := newTestServiceFrom(t, cfg)
	ctx := context.Background()
	startHealthy(t, s)
	if _, err := s.Stop(ctx, alice, nil); err != nil {
		t.Fatal(err)
	}
	const gone, kept = "user_1_instance_main", "user_2_instance_old"
	if err := os.RemoveAll(filepath.Join(cfg.AuthDir, "session-"+gone)); err != nil {
		t.Fatal(err)
	}
	events, unsubscribe := s.Subscribe(64)
	defer unsubscribe()
	res := startHealthy(t, s)
	if got := res.AuthBefore.Of(gone).State; got != whatsapp.AuthMissing {
		t.Errorf("start's snapshot of %s = %s; want missing", gone, got)
	}
	if got := res.AuthBefore.Of(kept).State; got != whatsapp.AuthPresent {
		t.Errorf("start's snapshot of %s = %s; want present", kept, got)
	}
	for e := waitEvent(t, events, EventActionEnded); ; e = waitEvent(t, events, EventActionEnded) {
		if e.Action == ActionStart {
			if e.AuthBefore == nil || e.AuthBefore.Of(gone).State != whatsapp.AuthMissing {
				t.Errorf("start's ended event: auth before %+v; want the snapshot", e.AuthBefore)
			}
			break
		}
	}
	check := func(name string, s *Service) {
		waitFor(t, "the session to be restored", 10*time.Second, func() bool {
			rep, _ := s.Sessions(ctx)
			v, _ := rep.Session(gone)
			return v.AuthNow.State == whatsapp.AuthPresent
		})
		rep, err := s.Sessions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := rep.Session(gone)
		if v.AuthBefore.State != whatsapp.AuthMissing {
			t.Errorf("%s: %s auth before = %s (now %s); want missing", name, gone, v.AuthBefore.State, v.AuthNow.State)
		}
		if !slices.Contains(rep.MissingAuth, gone) || slices.Contains(rep.MissingAuth, kept) {
			t.Errorf("%s: missing auth = %v; want %s only", name, rep.MissingAuth, gone)
		}
	}
	check("this bot", s)
	// The snapshot is kept in the state dir: a bot restarted reads it.
	check("a new bot", newTestServiceFrom(t, cfg))
}

func TestStopDuringRestorationReadsInterrupted(t *testing.T) {
	t.Parallel()
	s := testService(t, with(twoSessions(t), map[string]string{"RESTORE_STEP_MS": "4000"}))
	ctx := context.Background()
	if _, err := s.Start(ctx, alice, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restoration to begin", 20*time.Second, func() bool {
		return logContains(s, "Restoring session")
	})
	if _, err := s.Stop(ctx, alice, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || rep.Running || rep.StopBegan.IsZero() {
		t.Errorf("report: interrupted %v running %v stop began %v; want interrupted by the stop", rep.Interrupted, rep.Running, rep.StopBegan)
	}
	if len(rep.Sessions) == 0 {
		t.Fatal("no session in the report")
	}
	for _, v := range rep.Sessions {
		if v.State != whatsapp.SessionInterrupted {
			t.Errorf("session %s: %s; want interrupted", v.ID, v.State)
		}
	}
}
