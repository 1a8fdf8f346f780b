package manager

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
)

// TestClockRecordsFacts checks that what a Service records (the action's
// time and duration, the status's CheckedAt, the events' times) is read
// from Options.Clock, not from the machine's clock.
func TestClockRecordsFacts(t *testing.T) {
	// A port nothing listens on: bind one and close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	dir := t.TempDir()
	at := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(at)
	s, err := NewService(ServiceConfig{
		Name:          "whatsapp",
		Dir:           filepath.Join(dir, "missing"), // fails start's preconditions
		URL:           "http://" + addr,
		Start:         []string{"npm", "start"},
		LogFile:       filepath.Join(dir, "logs", "combined.log"),
		AuthDir:       filepath.Join(dir, ".wwebjs_auth"),
		StartTimeout:  time.Second,
		StopTimeout:   time.Second,
		HealthTimeout: time.Second,
		StateDir:      filepath.Join(dir, "state"),
	}, Options{Logger: zerolog.New(zerolog.NewTestWriter(t)), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	events, cancel := s.Subscribe(16)
	defer cancel()

	ctx := context.Background()
	_, err = s.Start(ctx, Actor{ID: "console:root", Name: "root"}, nil)
	var pe *PreconditionError
	if !errors.As(err, &pe) {
		t.Fatalf("Start err = %v; want a *PreconditionError", err)
	}
	rec := s.LastAction()
	if rec == nil {
		t.Fatal("LastAction = nil; want the failed start")
	}
	if !rec.At.Equal(at) || rec.Duration != 0 {
		t.Errorf("LastAction At, Duration = %v, %v; want %v, 0 (the fake clock's)", rec.At, rec.Duration, at)
	}
	n := 0
	for ; len(events) > 0; n++ {
		if e := <-events; !e.At.Equal(at) {
			t.Errorf("event %s At = %v; want %v", e.Kind, e.At, at)
		}
	}
	if n == 0 {
		t.Error("no event; want the start's progress and its end")
	}

	clock.Advance(time.Hour)
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.CheckedAt, at.Add(time.Hour); !got.Equal(want) {
		t.Errorf("Status CheckedAt = %v; want %v", got, want)
	}
	if st.State != StateStopped || st.Health.Latency != 0 {
		t.Errorf("Status State, Latency = %s, %v; want stopped, 0 (the fake clock did not move)", st.State, st.Health.Latency)
	}
}
