package bot

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

// oneService is a Directory of one real manager.Service.
type oneService struct{ s *manager.Service }

func (d oneService) Names() []string { return []string{d.s.Name()} }
func (d oneService) Lookup(string) (Service, error) {
	return d.s, nil
}

// A stop of a service that is stopped asks for no confirmation, does
// nothing and says so.
func TestRouterStopOfStoppedServiceAsksNothing(t *testing.T) {
	dir := t.TempDir()
	svc, err := manager.NewService(manager.ServiceConfig{
		Name: "whatsapp", Dir: filepath.Join(dir, "svc"), URL: "http://127.0.0.1:1", Start: []string{"npm", "start"},
		LogFile: filepath.Join(dir, "svc", "combined.log"), StartTimeout: time.Second, StopTimeout: time.Second,
		HealthTimeout: time.Second, StateDir: filepath.Join(dir, "state"),
	}, manager.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	confirms, err := NewConfirmStore(ConfirmConfig{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRouter(RouterConfig{Services: oneService{svc}, Auth: allowList{alice.ID: true},
		Confirms: confirms, Audit: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	reply := r.Handle(context.Background(), req(alice, "stop"))
	if reply.Kind != KindDone || reply.Confirm != nil {
		t.Fatalf("reply = %s (confirm %v); want done, no confirmation", reply.Kind, reply.Confirm)
	}
	if got, want := reply.Text, "whatsapp is already stopped"; got != want {
		t.Errorf("text = %q; want %q", got, want)
	}
	if !errors.Is(reply.Err, manager.ErrAlreadyStopped) || usererr.CodeOf(reply.Err) != usererr.Conflict {
		t.Errorf("err = %v; want ErrAlreadyStopped, a conflict", reply.Err)
	}
	if a := svc.LastAction(); a != nil {
		t.Errorf("last action = %+v; want none", a)
	}
	// A restart of a stopped service is a start: it is still confirmed.
	if reply := r.Handle(context.Background(), req(alice, "restart")); reply.Kind != KindConfirm {
		t.Errorf("restart reply = %s; want a confirmation", reply.Kind)
	}
}
