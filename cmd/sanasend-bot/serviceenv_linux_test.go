//go:build linux

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/internal/syncbuf"
)

// The real stand-in, started by the bot, finds none of the bot's secrets in
// its environment: not the variables they came from, not a copy under
// another name, not where the bot's systemd credentials are.
func TestServiceEnvironHoldsNoSecret(t *testing.T) {
	const secret = "xoxb-1-e2e-secret-token"
	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, "app_token"), []byte("xapp-1-e2e-secret-app\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLACK_BOT_TOKEN", secret)
	t.Setenv("COPY_OF_THE_TOKEN", secret)
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	configPath := demoCopyWith(t, "slack:\n  bot_token: ${SLACK_BOT_TOKEN}\n  app_token_file: app_token\n")
	serviceDir := filepath.Join(filepath.Dir(configPath), "whatsapp-service")

	stdin, typing := io.Pipe()
	out := &syncbuf.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", configPath, "console", "-user", "alice"}, stdin, out, out)
	}()
	// The console stops the service when it exits (demo.stop_on_exit).
	defer func() {
		typing.Close()
		if err := <-done; err != nil {
			t.Errorf("console: %v\n%s", err, out.String())
		}
		if left := psGrep(t, filepath.Dir(configPath)); left != "" {
			t.Errorf("processes left:\n%s", left)
		}
	}()
	if _, err := io.WriteString(typing, "start\n"); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(out.String(), "✓ start whatsapp by alice") {
		select {
		case <-ctx.Done():
			t.Fatalf("the service did not start:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	environs := serviceEnvirons(t, serviceDir)
	if len(environs) == 0 {
		t.Fatalf("no process runs in %s", serviceDir)
	}
	for pid, env := range environs {
		if !bytes.Contains(env, []byte("SANASEND_SERVICE=")) {
			t.Errorf("pid %d: no marker in its environment: not the service's", pid)
		}
		for _, leak := range []string{secret, "xapp-1-e2e-secret-app", "SLACK_", "CREDENTIALS_DIRECTORY=", "COPY_OF_THE_TOKEN="} {
			if bytes.Contains(env, []byte(leak)) {
				t.Errorf("pid %d: the service's environment holds %q", pid, leak)
			}
		}
	}
}

// serviceEnvirons returns the environment of every process whose working
// directory is dir (the tests run as root: every /proc/<pid>/environ is
// readable).
func serviceEnvirons(t *testing.T, dir string) map[int][]byte {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]byte{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err != nil || cwd != dir {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue // gone
		}
		out[pid] = env
	}
	return out
}
