package manager

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Logs returns the last lines of the service's log file.
func (s *Service) Logs(_ context.Context, q LogQuery) (LogResult, error) {
	res, err := ReadLogTail(s.cfg.LogFile, q)
	if errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("logs %s: no log file yet at %s (has the service ever started?)", s.cfg.Name, s.cfg.LogFile)
	}
	return res, err
}

// Output returns the last lines of the service's captured stdout and
// stderr, where a crash at start-up leaves its message.
func (s *Service) Output(_ context.Context, q LogQuery) (LogResult, error) {
	res, err := ReadLogTail(s.output, q)
	if errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("output %s: nothing captured yet at %s (the bot has not started the service)", s.cfg.Name, s.output)
	}
	return res, err
}

// LastRestoration returns the latest session-restoration block of the log.
// It is cached by the log's size and modification time: the status card asks
// for it every time and the log only grows.
func (s *Service) LastRestoration() (whatsapp.Restoration, bool, error) {
	fi, err := os.Stat(s.cfg.LogFile)
	if errors.Is(err, fs.ErrNotExist) {
		return whatsapp.Restoration{}, false, nil
	}
	if err != nil {
		return whatsapp.Restoration{}, false, fmt.Errorf("restoration %s: %w", s.cfg.Name, err)
	}
	s.restMu.Lock()
	defer s.restMu.Unlock()
	if s.restCache.size == fi.Size() && s.restCache.mod.Equal(fi.ModTime()) {
		return s.restCache.r, s.restCache.ok, nil
	}
	r, ok, err := whatsapp.LastRestoration(s.cfg.LogFile)
	if err != nil {
		return r, ok, fmt.Errorf("restoration %s: %w", s.cfg.Name, err)
	}
	s.restCache.size, s.restCache.mod, s.restCache.r, s.restCache.ok = fi.Size(), fi.ModTime(), r, ok
	return r, ok, nil
}

// restorationCache remembers the last parse of the log.
type restorationCache struct {
	size int64
	mod  time.Time
	r    whatsapp.Restoration
	ok   bool
}

// Sessions reports the last restoration, the auth dirs on disk, sessions
// whose auth is missing and stale Chromium locks.
func (s *Service) Sessions(ctx context.Context) (whatsapp.SessionsReport, error) {
	r, ok, err := s.LastRestoration()
	if err != nil {
		return whatsapp.SessionsReport{}, err
	}
	dirs, err := s.authDirs(ctx)
	if err != nil {
		return whatsapp.SessionsReport{}, fmt.Errorf("sessions %s: %w", s.cfg.Name, err)
	}
	return whatsapp.BuildSessionsReport(r, ok, dirs), nil
}

func (s *Service) authDirs(ctx context.Context) ([]whatsapp.AuthDir, error) {
	host, _ := os.Hostname()
	dirs, err := whatsapp.ScanAuthDirs(s.cfg.AuthDir, host, func(pid int) bool {
		return processAlive(ctx, int32(pid), time.Time{})
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return dirs, err
}

// HostChecks are the checks of the host that do not depend on the service
// running: node, npm, dir, start command, port, log, disk.
func (s *Service) HostChecks(ctx context.Context) []doctor.Check {
	return doctor.HostChecks(ctx, doctor.Env{Dir: s.cfg.Dir, Start: s.cfg.Start, Env: s.serviceEnv(""),
		HostPort: s.hostPort, LogPath: s.cfg.LogFile, Timeout: s.cfg.HealthTimeout, Now: s.now})
}

// Doctor runs the troubleshooting list of the old dashboard for real, plus
// what the bot knows: health, processes, stale locks.
func (s *Service) Doctor(ctx context.Context) []doctor.Check {
	var (
		wg     sync.WaitGroup
		health Health
	)
	wg.Add(1)
	go func() { defer wg.Done(); health = s.Health(ctx) }()
	checks := s.HostChecks(ctx)
	wg.Wait()

	hc := doctor.Check{Name: "health"}
	switch {
	case health.OK:
		hc.Verdict, hc.Detail = doctor.VerdictOK, fmt.Sprintf("%s answered healthy in %s", s.HealthURL(), health.Latency.Round(100*time.Microsecond))
	case health.Refused:
		hc.Verdict, hc.Detail, hc.Hint = doctor.VerdictFail, s.HealthURL()+": connection refused", "the service is not listening: `start` it, or read `logs` for why it died"
	default:
		hc.Verdict, hc.Detail, hc.Hint = doctor.VerdictFail, s.HealthURL()+": "+health.Reason, "the service runs but is unhealthy: read `logs`, check Django and Redis connectivity, then `restart`"
	}
	checks = append(checks, hc)

	pc := doctor.Check{Name: "processes"}
	if snap, err := s.look(ctx); err != nil {
		pc.Verdict, pc.Detail = doctor.VerdictWarn, err.Error()
	} else {
		switch {
		case snap.root != nil:
			pc.Verdict, pc.Detail = doctor.VerdictOK, fmt.Sprintf("%d processes, root pid %d", len(snap.members), snap.root.pid)
		case len(snap.members) > 0:
			pc.Verdict, pc.Detail, pc.Hint = doctor.VerdictWarn, fmt.Sprintf("no service running, but %d processes of an earlier run are left", len(snap.members)),
				"`start` ends them first, or `stop` ends them now"
		default:
			pc.Verdict, pc.Detail = doctor.VerdictOK, "no process of the service is running"
		}
	}
	checks = append(checks, pc)

	lc := doctor.Check{Name: "chromium locks"}
	if dirs, err := s.authDirs(ctx); err != nil {
		lc.Verdict, lc.Detail = doctor.VerdictWarn, err.Error()
	} else {
		stale := whatsapp.BuildSessionsReport(whatsapp.Restoration{}, false, dirs).StaleLocks
		if len(stale) == 0 {
			lc.Verdict, lc.Detail = doctor.VerdictOK, fmt.Sprintf("no stale lock in %d session dirs", len(dirs))
		} else {
			lc.Verdict, lc.Detail, lc.Hint = doctor.VerdictWarn, fmt.Sprintf("%d stale singleton locks (e.g. %s: %s)", len(stale), stale[0].Path, stale[0].Why),
				"Chromium refuses a profile with a stale lock; `start` removes exactly these"
		}
	}
	return append(checks, lc)
}
