// Package standin hands tests a private copy of the bundled stand-in
// service (examples/whatsapp-service): the files that make it run, without
// what a run or the demo left in the repository's copy (logs, auth dirs,
// node_modules).
package standin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Source is the repository's stand-in, found from the working directory
// (a test's package dir) up to the module root.
func Source() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the stand-in: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "examples", "whatsapp-service"), nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("find the stand-in: no go.mod above the working directory")
		}
		dir = up
	}
}

// Copy copies the stand-in into dst (created; it must not hold any of its
// parts yet) and returns dst.
func Copy(t testing.TB, dst string) string {
	t.Helper()
	src, err := Source()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"package.json", ".npmrc", "src", "data"} { // its code and data
		if err := copyPart(filepath.Join(src, p), filepath.Join(dst, p)); err != nil {
			t.Fatalf("copy the stand-in: %v", err)
		}
	}
	return dst
}

// Dir copies the stand-in into a fresh whatsapp-service dir of the test's
// and returns it: every test gets its own logs and auth dirs.
func Dir(t testing.TB) string {
	t.Helper()
	return Copy(t, filepath.Join(t.TempDir(), "whatsapp-service"))
}

func copyPart(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return os.CopyFS(dst, os.DirFS(src))
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, fs.FileMode(0o644))
}
