//go:build unix

package servicefs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/internal/usererr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// layout makes a service dir with a log, and a secret outside it.
func layout(t *testing.T) (dir, secret string) {
	t.Helper()
	root := t.TempDir()
	dir = filepath.Join(root, "svc")
	secret = filepath.Join(root, "shadow")
	must(t, os.MkdirAll(filepath.Join(dir, "logs"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "logs", "real.log"), []byte("hello\n"), 0o644))
	must(t, os.WriteFile(secret, []byte("root:SECRET\n"), 0o600))
	return dir, secret
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir, secret string) string // returns the path to open
		want    string                                        // content, or "" when refused
		wantMsg string                                        // part of usererr.Message when refused
		code    usererr.Code
	}{
		{"regular file", func(t *testing.T, dir, _ string) string {
			return filepath.Join(dir, "logs", "real.log")
		}, "hello\n", "", ""},
		{"relative path", func(t *testing.T, dir, _ string) string { return "logs/real.log" }, "hello\n", "", ""},
		{"symlink inside the dir", func(t *testing.T, dir, _ string) string {
			must(t, os.Symlink("real.log", filepath.Join(dir, "logs", "combined.log")))
			return filepath.Join(dir, "logs", "combined.log")
		}, "hello\n", "", ""},
		{"absolute symlink inside the dir", func(t *testing.T, dir, _ string) string {
			must(t, os.Symlink(filepath.Join(dir, "logs", "real.log"), filepath.Join(dir, "logs", "combined.log")))
			return filepath.Join(dir, "logs", "combined.log")
		}, "hello\n", "", ""},
		{"symlink out of the dir", func(t *testing.T, dir, secret string) string {
			must(t, os.Symlink(secret, filepath.Join(dir, "logs", "combined.log")))
			return filepath.Join(dir, "logs", "combined.log")
		}, "", "logs/combined.log is a symlink out of the service's dir (to ", usererr.Forbidden},
		{"relative symlink out of the dir", func(t *testing.T, dir, _ string) string {
			must(t, os.Symlink("../../shadow", filepath.Join(dir, "logs", "combined.log")))
			return filepath.Join(dir, "logs", "combined.log")
		}, "", "is a symlink out of the service's dir", usererr.Forbidden},
		{"symlinked parent out of the dir", func(t *testing.T, dir, secret string) string {
			must(t, os.RemoveAll(filepath.Join(dir, "logs")))
			must(t, os.Symlink(filepath.Dir(secret), filepath.Join(dir, "logs")))
			return filepath.Join(dir, "logs", "shadow")
		}, "", "is a symlink out of the service's dir", usererr.Forbidden},
		{"dot-dot", func(t *testing.T, dir, _ string) string { return filepath.Join(dir, "..", "shadow") },
			// lexically outside: a file the operator named, not a symlink: allowed
			"root:SECRET\n", "", ""},
		{"fifo", func(t *testing.T, dir, _ string) string {
			p := filepath.Join(dir, "logs", "combined.log")
			must(t, syscall.Mkfifo(p, 0o644))
			return p
		}, "", "logs/combined.log is a FIFO, not a file; the bot will not read it", usererr.Invalid},
		{"directory", func(t *testing.T, dir, _ string) string { return filepath.Join(dir, "logs") },
			"", "logs is a directory, not a file", usererr.Invalid},
		{"device", func(t *testing.T, dir, _ string) string {
			must(t, os.Symlink("/dev/null", filepath.Join(dir, "null")))
			return filepath.Join(dir, "null")
		}, "", "symlink out of the service's dir (to /dev/null)", usererr.Forbidden},
		{"outside the dir: a symlink at the last component", func(t *testing.T, _, secret string) string {
			p := filepath.Join(filepath.Dir(secret), "elsewhere.log")
			must(t, os.Symlink(secret, p))
			return p
		}, "", "elsewhere.log is a symlink: refused", usererr.Forbidden},
		{"outside the dir: a FIFO", func(t *testing.T, _, secret string) string {
			p := filepath.Join(filepath.Dir(secret), "elsewhere.log")
			must(t, syscall.Mkfifo(p, 0o644))
			return p
		}, "", "elsewhere.log is a FIFO, not a file", usererr.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, secret := layout(t)
			path := tt.setup(t, dir, secret)
			done := make(chan struct{})
			var f *os.File
			var err error
			go func() { f, err = Open(dir, path); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("Open(%s) still blocks after 5s", path)
			}
			if tt.want == "" {
				if err == nil {
					b, _ := io.ReadAll(f)
					f.Close()
					t.Fatalf("Open(%s) read %q; want refused with %q", path, b, tt.wantMsg)
				}
				if got := usererr.Message(err); !strings.Contains(got, tt.wantMsg) {
					t.Errorf("Open(%s) message = %q; want it to hold %q", path, got, tt.wantMsg)
				}
				if got := usererr.CodeOf(err); got != tt.code {
					t.Errorf("Open(%s) code = %s; want %s", path, got, tt.code)
				}
				if strings.Contains(err.Error(), "SECRET") {
					t.Errorf("Open(%s) error %q holds the target's content", path, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%s) = %v; want %q", path, err, tt.want)
			}
			defer f.Close()
			b, err := io.ReadAll(f)
			if err != nil || string(b) != tt.want {
				t.Errorf("Open(%s) read %q, %v; want %q", path, b, err, tt.want)
			}
		})
	}
}

func TestOpenMissing(t *testing.T) {
	dir, _ := layout(t)
	for _, d := range []string{dir, ""} {
		if _, err := Open(d, filepath.Join(dir, "logs", "missing.log")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q, missing) = %v; want fs.ErrNotExist", d, err)
		}
	}
}

func TestOpenFallback(t *testing.T) {
	// openResolved is what other systems and old kernels use.
	dir, secret := layout(t)
	must(t, os.Symlink(secret, filepath.Join(dir, "logs", "out.log")))
	must(t, os.Symlink("real.log", filepath.Join(dir, "logs", "in.log")))
	if _, err := openResolved(dir, "logs/out.log"); !errors.Is(err, errEscape) {
		t.Errorf("openResolved(out.log) = %v; want errEscape", err)
	}
	f, err := openResolved(dir, "logs/in.log")
	if err != nil {
		t.Fatalf("openResolved(in.log) = %v; want the file", err)
	}
	f.Close()
}

func TestBeneath(t *testing.T) {
	dir, secret := layout(t)
	must(t, os.Symlink(filepath.Dir(secret), filepath.Join(dir, "auth-out")))
	must(t, os.Symlink("logs", filepath.Join(dir, "auth-in")))
	if err := Beneath(dir, filepath.Join(dir, "auth-in")); err != nil {
		t.Errorf("Beneath(auth-in) = %v; want nil", err)
	}
	err := Beneath(dir, filepath.Join(dir, "auth-out"))
	if got, want := usererr.Message(err), "auth-out is a symlink out of the service's dir (to "; !strings.Contains(got, want) {
		t.Errorf("Beneath(auth-out) = %q; want %q...", got, want)
	}
	if err := Beneath(dir, filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Beneath(missing) = %v; want fs.ErrNotExist", err)
	}
}

func TestRead(t *testing.T) {
	dir, _ := layout(t)
	got, err := Read(context.Background(), dir, "logs/real.log", time.Second, func(f *os.File) (string, error) {
		b, err := io.ReadAll(f)
		return string(b), err
	})
	if err != nil || got != "hello\n" {
		t.Errorf("Read = %q, %v; want %q", got, err, "hello\n")
	}

	// A read that hangs (a hung mount, here a read that waits) is abandoned at
	// the deadline; its goroutine ends when the read does.
	release := make(chan struct{})
	start := time.Now()
	_, err = Read(context.Background(), dir, "logs/real.log", 50*time.Millisecond, func(*os.File) (int, error) {
		<-release
		return 0, nil
	})
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) || usererr.CodeOf(err) != usererr.Unavailable {
		t.Errorf("Read(hung) = %v; want a deadline error, code unavailable", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Read(hung) returned after %v; want about 50ms", el)
	}
	if got, want := usererr.Message(err), "reading logs/real.log took longer than "; !strings.Contains(got, want) {
		t.Errorf("Read(hung) message = %q; want %q...", got, want)
	}
}

func TestReadCancelled(t *testing.T) {
	dir, _ := layout(t)
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	defer close(release)
	_, err := Read(ctx, dir, "logs/real.log", time.Minute, func(*os.File) (int, error) {
		cancel() // the caller gives up while the read hangs
		<-release
		return 0, nil
	})
	if !errors.Is(err, context.Canceled) || usererr.Message(err) != "reading logs/real.log was cut short" {
		t.Errorf("Read(cancelled) = %v (%q); want context.Canceled, %q", err, usererr.Message(err), "reading logs/real.log was cut short")
	}
}
