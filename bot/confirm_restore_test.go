//go:build !windows

package bot

import (
	"context"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/manager"
)

// standinService is a manager.Service on a private copy of the real
// stand-in (examples/whatsapp-service) listening on port; the test's end
// stops whatever of it runs.
func standinService(t *testing.T, port int) *manager.Service {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not on PATH: the test runs the real stand-in service (Node.js 20)", bin)
		}
	}
	root := t.TempDir()
	dir := filepath.Join(root, "whatsapp-service")
	for _, sub := range []string{"package.json", "src", "data"} {
		src := filepath.Join("..", "examples", "whatsapp-service", sub)
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			target := filepath.Join(dir, sub, rel)
			if d.IsDir() {
				return os.MkdirAll(target, 0o755)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		})
		if err != nil {
			t.Fatalf("copy the stand-in: %v", err)
		}
	}
	tmp, err := os.MkdirTemp("", "ss")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	svc, err := manager.NewService(manager.ServiceConfig{
		Name: "whatsapp", Dir: dir, URL: "http://127.0.0.1:" + strconv.Itoa(port), Start: []string{"npm", "start"},
		LogFile: filepath.Join(dir, "logs", "combined.log"), AuthDir: filepath.Join(dir, ".wwebjs_auth"),
		Env: map[string]string{"PORT": strconv.Itoa(port), "TMPDIR": tmp, "RESTORE_DELAY_MS": "150",
			"RESTORE_STEP_MS": "30", "FOLLOWUP_MS": "50", "NPM_CONFIG_UPDATE_NOTIFIER": "false"},
		StartTimeout: 20 * time.Second, StopTimeout: 5 * time.Second, HealthTimeout: 2 * time.Second,
		StateDir: filepath.Join(root, "state"),
	}, manager.Options{Logger: zerolog.New(zerolog.NewTestWriter(t)), LeftoverGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := svc.Stop(context.Background(), manager.Actor{ID: "test-cleanup"}, nil); err != nil &&
			!strings.Contains(err.Error(), "already stopped") {
			t.Errorf("cleanup stop: %v", err)
		}
		svc.Close()
	})
	return svc
}

// An alert's Restart button whose restart could not begin (its port was
// held by another process, a failed precondition) is still usable
// afterwards, in this bot process and the next; once a restart ran, it is
// spent.
func TestAlertTokenNotSpentByARestartThatCouldNotBegin(t *testing.T) {
	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	svc := standinService(t, holder.Addr().(*net.TCPAddr).Port)
	path := filepath.Join(t.TempDir(), ConfirmFile)
	router := func() (*Router, *ConfirmStore) {
		store, err := OpenConfirmStore(ConfirmConfig{Path: path, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewRouter(RouterConfig{Services: oneService{svc}, Auth: allowList{alice.ID: true, bob.ID: true},
			Confirms: store, Audit: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		return r, store
	}
	r, store := router()
	token := store.AlertToken("whatsapp-incident-1", "whatsapp")

	reply := r.Confirm(context.Background(), req(alice, ""), token)
	if reply.Kind != KindOutcome || reply.Outcome == nil || reply.Outcome.OK() {
		t.Fatalf("restart with the port held = %s %q; want a failed outcome", reply.Kind, reply.Text)
	}
	detail := OutcomeDetail(reply.Outcome)
	if !strings.Contains(detail, "cannot start") || strings.Contains(detail, "started it") {
		t.Errorf("detail = %q; want the refusal, never that it started it", detail)
	}
	if a := svc.LastAction(); a == nil || a.OK {
		t.Errorf("last action = %+v; want the failed restart recorded", a)
	}

	// The next bot process reads the same store: the button still works.
	holder.Close()
	r, _ = router()
	reply = r.Confirm(context.Background(), req(bob, ""), token)
	if reply.Kind != KindOutcome || reply.Outcome == nil || !reply.Outcome.OK() {
		t.Fatalf("restart once the port is free = %s %q %v; want it run, healthy", reply.Kind, reply.Text, reply.Err)
	}
	if detail := OutcomeDetail(reply.Outcome); !strings.Contains(detail, "was not running, started it") {
		t.Errorf("detail = %q; want it to say it started the service", detail)
	}
	reply = r.Confirm(context.Background(), req(alice, ""), token)
	if reply.Kind != KindRejected || !IsDeadToken(reply.Err) {
		t.Errorf("third click = %s %v; want rejected, used", reply.Kind, reply.Err)
	}
}
