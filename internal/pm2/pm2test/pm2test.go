//go:build !windows

// Package pm2test gives tests a real PM2: pm2 Version installed once per
// machine with npm, and a PM2_HOME of their own whose daemon is killed when
// the test ends. It is for tests only.
package pm2test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"
	"golang.org/x/sys/unix"
)

// Version is the pm2 the tests run.
const Version = "7.0.4"

// DirEnv names the directory pm2 is installed into (npm's --prefix). CI
// sets it and installs pm2 there before the tests (.ci/run); when it is
// set, a missing pm2 fails the tests instead of skipping them. Unset, the
// tests install pm2 themselves under os.TempDir().
const DirEnv = "SANASEND_PM2_DIR"

// installTimeout bounds `npm install pm2` (about 4 s with a network).
const installTimeout = 3 * time.Minute

// killTimeout bounds `pm2 kill` in a test's cleanup.
const killTimeout = 30 * time.Second

// Bin returns the path of the pm2 executable, installing pm2 Version with
// npm when it is not installed yet. Test binaries that run at the same time
// wait for one another's install (a lock file). The test is skipped, with
// the reason, when npm is missing or the install fails and DirEnv is unset;
// with DirEnv set it fails.
func Bin(t testing.TB) string {
	t.Helper()
	dir, fromEnv := os.Getenv(DirEnv), true
	if dir == "" {
		dir, fromEnv = filepath.Join(os.TempDir(), "sanasend-pm2-"+Version), false
	}
	give := t.Skipf
	if fromEnv {
		give = t.Fatalf
	}
	bin := filepath.Join(dir, "node_modules", ".bin", "pm2")
	if installed(dir) {
		return bin
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			give("pm2 %s is not installed in %s and %s is not on PATH to install it: the PM2 tests need Node.js and npm", Version, dir, tool)
		}
	}
	if err := install(dir); err != nil {
		give("pm2 %s could not be installed in %s (no network?): %v; CI installs it first (.ci/run, %s)", Version, dir, err, DirEnv)
	}
	return bin
}

// installed reports whether dir holds pm2 Version and its executable.
func installed(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "node_modules", "pm2", "package.json"))
	if err != nil {
		return false
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(data, &pkg) != nil || pkg.Version != Version {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, "node_modules", ".bin", "pm2"))
	return err == nil
}

// install runs npm install under an exclusive lock on dir+".lock", so that
// two test binaries do not install into dir at once; the second finds it
// installed.
func install(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer lock.Close()
	if err := flock(lock); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	if installed(dir) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", "pm2@"+Version)
	cmd.Env = append(os.Environ(), "NPM_CONFIG_UPDATE_NOTIFIER=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.Join(strings.Fields(string(out)), " ")
		if len(msg) > 600 {
			msg = msg[:600] + "…"
		}
		return fmt.Errorf("npm install pm2@%s: %w: %s", Version, err, msg)
	}
	if !installed(dir) {
		return fmt.Errorf("npm install pm2@%s succeeded but %s holds no pm2 %s", Version, dir, Version)
	}
	return nil
}

// flock takes an exclusive lock on f, retrying when a signal interrupts the
// wait.
func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// Home returns a fresh PM2_HOME for this test. Its path is short (PM2's
// sockets live in it, and a socket path is limited to 108 bytes). Cleanup
// runs `pm2 kill` (which stops every app of that home and its daemon)
// within killTimeout, then fails the test if the daemon of that home is
// still alive (and kills it).
func Home(t testing.TB, bin string) string {
	t.Helper()
	home, err := os.MkdirTemp("", "pm2h")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "kill")
		cmd.Env = append(os.Environ(), "PM2_HOME="+home)
		cmd.Dir = home
		cmd.WaitDelay = time.Second
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("pm2 kill (PM2_HOME=%s): %v\n%s", home, err, out)
		}
		// pm2 kill returns once the daemon said it stops; give it the
		// moment it needs to exit.
		deadline := time.Now().Add(5 * time.Second)
		for {
			left := Daemons(home)
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the PM2 daemon of %s is still running after pm2 kill: pids %v (killed)", home, left)
				for _, pid := range left {
					_ = unix.Kill(int(pid), unix.SIGKILL)
				}
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		os.RemoveAll(home)
	})
	return home
}

// Daemons lists the PIDs of the PM2 daemons (God) serving home: the
// processes whose title is "PM2 v<version>: God Daemon (<home>)".
func Daemons(home string) []int32 {
	procs, err := process.Processes()
	if err != nil {
		return nil
	}
	want := "God Daemon (" + home + ")"
	var out []int32
	for _, p := range procs {
		cmd, err := p.Cmdline()
		if err == nil && strings.HasPrefix(cmd, "PM2 v") && strings.HasSuffix(cmd, want) {
			out = append(out, p.Pid)
		}
	}
	return out
}
