//go:build linux

// Package cgrouptest gives tests a cgroup of their own to start services
// under, and removes it, with whatever is left in it, when the test ends.
package cgrouptest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/internal/cgroup"
)

// cleanupTimeout bounds the wait for the test's cgroups to empty.
const cleanupTimeout = 10 * time.Second

// Parent makes a cgroup for t under the bot's own (cgroup.Find) and returns
// its path, for ServiceConfig.CgroupParent. It skips t, with the reason,
// where no cgroup v2 hierarchy is writable. Cleanup kills every process
// left in it or below it (cgroup.kill), waits for them to go and removes
// the cgroups, deepest first.
func Parent(t testing.TB) string {
	t.Helper()
	h, err := cgroup.Find()
	var ue *cgroup.UnavailableError
	if errors.As(err, &ue) {
		t.Skipf("no writable cgroup v2 hierarchy: %s", ue.Sentence())
	}
	if err != nil {
		t.Fatalf("find the cgroup hierarchy: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	g, err := h.Create("sanasend-test-" + hex.EncodeToString(b))
	if err != nil {
		t.Fatalf("create a test cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := Remove(g.Path()); err != nil {
			t.Errorf("remove test cgroup %s: %v", g.Path(), err)
		}
	})
	return g.Path()
}

// Remove kills what is in the cgroup dir and below it and removes them,
// deepest first. A dir that does not exist is not an error.
func Remove(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(cleanupTimeout)
	for i := len(dirs) - 1; i >= 0; i-- {
		for {
			err := os.Remove(dirs[i])
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				return err
			}
			// The kernel empties a killed cgroup within milliseconds.
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// IgnoreSIGTERM is the path of a Node.js preload (NODE_OPTIONS=--require=)
// that makes every process of the stand-in's tree ignore SIGTERM, so that
// only SIGKILL ends it. With IGNORING_SIGTERM_DIR set, each process creates
// <dir>/<pid> once it ignores SIGTERM.
func IgnoreSIGTERM() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "ignore-sigterm.js")
}

// Enclose moves the test process into a new cgroup below its own, so that
// every cgroup its tests make there (a bot started in-process makes its
// services' below its own cgroup) is removed at the end, whatever the
// tests left: leave moves the process back, kills what is left in the
// cgroup's tree and removes it. Where no cgroup v2 hierarchy is writable
// it does nothing and leave is a no-op.
func Enclose() (leave func() error) {
	h, err := cgroup.Find()
	if err != nil {
		return func() error { return nil }
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	g, err := h.Create("sanasend-tests-" + hex.EncodeToString(b))
	if err != nil {
		return func() error { return nil }
	}
	self := []byte(strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(filepath.Join(g.Path(), "cgroup.procs"), self, 0); err != nil {
		_ = g.Remove()
		return func() error { return nil }
	}
	return func() error {
		if err := os.WriteFile(filepath.Join(h.Parent, "cgroup.procs"), self, 0); err != nil {
			return fmt.Errorf("leave the tests' cgroup: %w", err)
		}
		return Remove(g.Path())
	}
}
