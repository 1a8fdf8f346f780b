package manager

// The service's WhatsApp sessions as package whatsapp reads them: the last
// restoration of its log (cached) and its auth dirs.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/sanasend/sanasend-bot/internal/servicefs"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// LastRestoration returns the latest session-restoration block of the log.
// It is cached by the log's size and modification time: the status card asks
// for it every time and the log only grows. The log is read as Logs reads
// it: beneath the service's dir, never a FIFO, within a deadline.
func (s *Service) LastRestoration() (whatsapp.Restoration, bool, error) {
	type found struct {
		r  whatsapp.Restoration
		ok bool
	}
	got, err := servicefs.Read(context.Background(), s.cfg.Dir, s.cfg.LogFile, logReadTimeout, func(f *os.File) (found, error) {
		fi, err := f.Stat()
		if err != nil {
			return found{}, err
		}
		s.restMu.Lock()
		defer s.restMu.Unlock()
		if s.restCache.size == fi.Size() && s.restCache.mod.Equal(fi.ModTime()) {
			return found{s.restCache.r, s.restCache.ok}, nil
		}
		r, ok, err := whatsapp.ReadRestoration(f)
		if err != nil {
			return found{}, err
		}
		s.restCache.size, s.restCache.mod, s.restCache.r, s.restCache.ok = fi.Size(), fi.ModTime(), r, ok
		return found{r, ok}, nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return whatsapp.Restoration{}, false, nil
	}
	if err != nil {
		return whatsapp.Restoration{}, false, fmt.Errorf("restoration %s: %w", s.cfg.Name, err)
	}
	return got.r, got.ok, nil
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
	dirs, err := whatsapp.ScanServiceAuthDirs(s.cfg.Dir, s.cfg.AuthDir, host, func(pid int) bool {
		return processAlive(ctx, int32(pid), time.Time{})
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return dirs, err
}

// CleanupBrowsers ends the browsers of idle sessions (see
// whatsapp.SessionView.Idle) and nothing else.
//
// TODO(issue 10): being built on branch mgr10; until then it refuses.
func (s *Service) CleanupBrowsers(ctx context.Context, by Actor, progress func(string)) (CleanupResult, error) {
	return CleanupResult{}, fmt.Errorf("cleanup %s: not built yet", s.cfg.Name)
}
