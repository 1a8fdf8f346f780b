//go:build !windows

// Package fleettest holds what the fleet's tests share: a NATS server with
// JetStream in the test's process, and a real service on the stand-in.
package fleettest

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/internal/standin"
	"github.com/sanasend/sanasend-bot/manager"
)

// NATS runs an in-process NATS server (no listener) for the test and
// returns a connection to it.
func NATS(t *testing.T) (*fleet.Embedded, func() *nats.Conn) {
	t.Helper()
	e, err := fleet.NewEmbedded(fleet.EmbeddedConfig{StoreDir: filepath.Join(t.TempDir(), "nats"), Name: "test-hub",
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e, func() *nats.Conn {
		nc, err := nats.Connect("", nats.InProcessServer(e.Server()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
}

// StandinService is a real manager.Service on a private copy of the
// stand-in (internal/standin), with the fast timings of manager's tests;
// the test's end stops whatever of it runs.
func StandinService(t *testing.T) *manager.Service {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not on PATH: the test runs the real stand-in service (Node.js 20)", bin)
		}
	}
	dir := standin.Dir(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	tmp, err := os.MkdirTemp("", "ss")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	svc, err := manager.NewService(manager.ServiceConfig{
		Name: "whatsapp", Dir: dir, URL: "http://127.0.0.1:" + strconv.Itoa(port), Start: []string{"npm", "start"},
		LogFile: filepath.Join(dir, "logs", "combined.log"), AuthDir: filepath.Join(dir, ".wwebjs_auth"),
		Env: map[string]string{"PORT": strconv.Itoa(port), "TMPDIR": tmp, "RESTORE_DELAY_MS": "150",
			"RESTORE_STEP_MS": "30", "FOLLOWUP_MS": "50", "NPM_CONFIG_UPDATE_NOTIFIER": "false",
			"FAKE_CHROMIUM_CHILDREN": "1"},
		StartTimeout: 20 * time.Second, StopTimeout: 5 * time.Second, HealthTimeout: 2 * time.Second,
		StateDir: filepath.Join(filepath.Dir(dir), "state"), Cgroup: manager.CgroupOff,
	}, manager.Options{Logger: zerolog.New(zerolog.NewTestWriter(t)), LeftoverGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := svc.Stop(context.Background(), manager.Actor{ID: "test-cleanup"}, nil); err != nil &&
			!errors.Is(err, manager.ErrAlreadyStopped) {
			t.Errorf("cleanup stop: %v", err)
		}
		if err := svc.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return svc
}
