//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dumpableForTest is the process's PR_GET_DUMPABLE: 1 dumpable, 0 not.
func dumpableForTest() (int, error) {
	return unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
}

// readEnvironJS is the other process: it tries to read the bot's
// /proc/<pid>/environ and says whether it found the secret there.
const readEnvironJS = `
const fs = require('fs');
const [pid, secret] = process.argv.slice(2);
try {
  const env = fs.readFileSync('/proc/' + pid + '/environ', 'latin1');
  console.log(env.includes(secret) ? 'read the secret' : 'read, no secret');
} catch (e) {
  console.log('refused: ' + e.code);
}
`

// nobody is the unprivileged uid the tests run processes as (tests run as
// root).
const nobody = 65534

// The service (a node process) cannot read the bot's environment, which
// holds its Slack secrets: not as another user, and not as the bot's own
// user either, because run makes the bot non-dumpable before anything else.
// The dumpable case shows that the reader does read an environment it may.
func TestServiceCannotReadBotEnviron(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to run processes as another uid")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: the other process is a node script, as the service is")
	}
	// Both programs where uid 65534 can run them.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(dir); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil { // t.TempDir's parent is 0700
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bot := filepath.Join(dir, "bot.test")
	copyFile(t, self, bot, 0o755)
	script := filepath.Join(dir, "read-environ.js")
	if err := os.WriteFile(script, []byte(readEnvironJS), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		botUID    int // 0: as the tests run (root)
		mode      string
		readerUID int
		want      string
	}{
		{"another uid, bot hardened by run", 0, "run", nobody, "refused: EACCES"},
		{"same uid, bot dumpable (without the fix)", nobody, "dumpable", nobody, "read the secret"},
		{"same uid, bot hardened by run", nobody, "run", nobody, "refused: EACCES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := "xoxb-fake-" + randomHex(t)
			pid, dumpable := startTestBot(t, bot, dir, tt.botUID, tt.mode, secret)
			if wantDumpable := tt.mode != "run"; dumpable != wantDumpable {
				t.Errorf("bot dumpable = %v; want %v", dumpable, wantDumpable)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			reader := exec.CommandContext(ctx, node, script, strconv.Itoa(pid), secret)
			reader.Dir = dir
			reader.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
			reader.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(tt.readerUID), Gid: uint32(tt.readerUID)}}
			out, err := reader.Output()
			if err != nil {
				t.Fatalf("the reader (uid %d): %v", tt.readerUID, err)
			}
			if got := strings.TrimSpace(string(out)); got != tt.want {
				t.Errorf("the reader (uid %d) on the bot (uid %d, %s): %q; want %q", tt.readerUID, tt.botUID, tt.mode, got, tt.want)
			}
		})
	}
}

// startTestBot starts the test binary as a stand-in for the bot (testBotMain)
// as uid, with secret in its environment, waits until it is ready, and
// stops it when the test ends. It returns its pid and whether it is dumpable.
func startTestBot(t *testing.T, bin, dir string, uid int, mode, secret string) (pid int, dumpable bool) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{testBotEnv + "=" + mode, "SLACK_BOT_TOKEN=" + secret}
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the bot: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("the bot did not exit when its stdin closed")
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		var d int
		if _, err := fmt.Sscanf(s, "ready dumpable=%d", &d); err != nil {
			t.Fatalf("the bot said %q; want ready", s)
		}
		return cmd.Process.Pid, d == 1
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the bot did not say ready within 20s")
	}
	return 0, false
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
