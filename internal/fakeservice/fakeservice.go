// Package fakeservice is a hand-written fake of a supervised service for the
// tests of the command layer and its front ends: it records every call and
// can be told to be busy, to fail, or to hold an action until released. The
// real manager is exercised by its own integration tests on the Node.js
// stand-in and by the end-to-end tests of cmd/sanasend-bot.
package fakeservice

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Service records what was asked of it.
type Service struct {
	name string

	mu      sync.Mutex
	calls   []string
	busy    *manager.BusyError
	stopErr error
	// sessions is what Sessions returns (SetSessions).
	sessions whatsapp.SessionsReport
	// Hold, when set, makes Status, Stop and Restart wait until it is
	// closed.
	Hold chan struct{}
}

// New returns a healthy fake service.
func New(name string) *Service { return &Service{name: name} }

func (f *Service) record(c string) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

// Calls lists the calls so far, e.g. "status", "stop by U0ALICE".
func (f *Service) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// SetBusy makes the service report an action in progress.
func (f *Service) SetBusy(b *manager.BusyError) {
	f.mu.Lock()
	f.busy = b
	f.mu.Unlock()
}

// FailStop makes Stop return err.
func (f *Service) FailStop(err error) {
	f.mu.Lock()
	f.stopErr = err
	f.mu.Unlock()
}

func (f *Service) Name() string { return f.name }

func (f *Service) Busy() *manager.BusyError {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.busy
}

func (f *Service) Status(context.Context) (manager.Status, error) {
	if f.Hold != nil {
		<-f.Hold
	}
	f.record("status")
	return manager.Status{Service: f.name, URL: "http://127.0.0.1:3000", State: manager.StateHealthy,
		Health: manager.Health{OK: true, StatusCode: 200, Status: "healthy"}}, nil
}

func (f *Service) Start(_ context.Context, by manager.Actor, progress func(string)) (manager.StartResult, error) {
	f.record("start by " + by.ID)
	if progress != nil {
		progress("starting")
	}
	return manager.StartResult{PID: 42, Healthy: true, TimeToHealthy: time.Second}, nil
}

func (f *Service) Stop(_ context.Context, by manager.Actor, _ func(string)) (manager.StopResult, error) {
	if f.Hold != nil {
		<-f.Hold
	}
	f.record("stop by " + by.ID)
	f.mu.Lock()
	err := f.stopErr
	f.mu.Unlock()
	return manager.StopResult{WasRunning: true, Graceful: true}, err
}

func (f *Service) Restart(_ context.Context, by manager.Actor, progress func(string)) (manager.RestartResult, error) {
	if f.Hold != nil {
		<-f.Hold
	}
	f.record("restart by " + by.ID)
	if progress != nil {
		progress("stopping")
		progress("starting")
	}
	return manager.RestartResult{Stop: manager.StopResult{WasRunning: true, Graceful: true},
		Start: manager.StartResult{PID: 43, Healthy: true}}, nil
}

func (f *Service) Logs(_ context.Context, q manager.LogQuery) (manager.LogResult, error) {
	f.record(fmt.Sprintf("logs %d %q all=%v", q.Lines, q.Filter, q.IncludeHealth))
	// As many lines as asked, each about as long as a real winston line.
	lines := make([]string, q.Lines)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"level":"info","message":"line %d of the fake log","service":"whatsapp-service","timestamp":"2026-11-28 03:00:00"}`, i+1)
	}
	return manager.LogResult{Path: "/srv/whatsapp-service/logs/combined.log", Lines: lines}, nil
}

func (f *Service) Output(_ context.Context, q manager.LogQuery) (manager.LogResult, error) {
	f.record(fmt.Sprintf("output %d %q", q.Lines, q.Filter))
	return manager.LogResult{Lines: []string{"npm ERR!"}}, nil
}

func (f *Service) Processes(context.Context) ([]manager.Process, error) {
	f.record("ps")
	return []manager.Process{{PID: 42, Command: "npm start"}}, nil
}

func (f *Service) Sessions(context.Context) (whatsapp.SessionsReport, error) {
	f.record("sessions")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions, nil
}

func (f *Service) Doctor(context.Context) []doctor.Check {
	f.record("doctor")
	return []doctor.Check{{Name: "node", Verdict: doctor.VerdictOK, Detail: "v20"}}
}

// Directory serves fake services by name.
type Directory []*Service

// Names lists the services.
func (d Directory) Names() []string {
	var out []string
	for _, s := range d {
		out = append(out, s.name)
	}
	return out
}

// Lookup returns the named service; "" means the only one. The result is
// typed for bot.Directory by the caller's adapter.
func (d Directory) Get(name string) (*Service, error) {
	if name == "" && len(d) == 1 {
		return d[0], nil
	}
	for _, s := range d {
		if s.name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no service %q", name)
}

// SetSessions makes Sessions return rep, and CleanupBrowsers end the
// browsers of its idle sessions.
func (f *Service) SetSessions(rep whatsapp.SessionsReport) {
	f.mu.Lock()
	f.sessions = rep
	f.mu.Unlock()
}

// CleanupBrowsers ends, in words only, the idle browsers of the report
// given to SetSessions; with none it refuses, as the manager does.
func (f *Service) CleanupBrowsers(_ context.Context, by manager.Actor, progress func(string)) (manager.CleanupResult, error) {
	f.record("cleanup by " + by.ID)
	f.mu.Lock()
	rep := f.sessions
	f.mu.Unlock()
	idle := rep.IdleBrowsers()
	if len(idle) == 0 {
		return manager.CleanupResult{}, usererr.New(usererr.Conflict, "cleanup %s: no browser of a session that serves nobody is running", f.name)
	}
	if progress != nil {
		progress("ending idle browsers")
	}
	var kept []whatsapp.Browser
	for _, b := range rep.Browsers {
		if !slices.ContainsFunc(idle, func(x whatsapp.Browser) bool { return x.PID == b.PID }) {
			kept = append(kept, b)
		}
	}
	return manager.CleanupResult{Ended: idle, Kept: kept, Duration: 100 * time.Millisecond}, nil
}
