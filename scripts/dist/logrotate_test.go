//go:build !windows

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/config"
)

// logrotatePaths are the path lines of a logrotate snippet (the lines
// before its "{").
func logrotatePaths(text string) []string {
	var paths []string
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "{") {
			break
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			paths = append(paths, line)
		}
	}
	return paths
}

// TestLogrotate: deploy/logrotate rotates the service log of the example
// config and the output the bot captures in its state dir, with the
// directives the README promises; and, where logrotate is installed, a
// forced rotation of a log held open in append mode (as the service and
// the bot hold theirs) keeps the old lines in the rotated file and lets
// the writer go on at the start of the emptied log, with no hole.
func TestLogrotate(t *testing.T) {
	root := repoRoot(t)
	snippet, err := os.ReadFile(filepath.Join(root, "deploy", "logrotate"))
	if err != nil {
		t.Fatal(err)
	}
	example := filepath.Join(root, "deploy", "sanasend-bot.example.yaml")
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data, example, nil)
	if err != nil {
		t.Fatalf("the example config: %v", err)
	}
	svc := cfg.Services[0]
	serviceLogs := filepath.Join(filepath.Dir(svc.LogPath()), "*.log")
	captured := filepath.Join(cfg.StateDir, "*", "output.log")
	paths := logrotatePaths(string(snippet))
	if !slices.Equal(paths, []string{serviceLogs, captured}) {
		t.Errorf("deploy/logrotate rotates %q; want %q and %q (the example config's log dir and state dir)", paths, serviceLogs, captured)
	}
	directives := map[string]string{} // first word -> line
	for line := range strings.Lines(string(snippet)) {
		if f := strings.Fields(line); len(f) > 0 {
			directives[f[0]] = strings.Join(f, " ")
		}
	}
	for _, d := range []string{"copytruncate", "daily", "maxsize", "rotate", "compress", "delaycompress", "missingok", "notifempty"} {
		if _, ok := directives[d]; !ok {
			t.Errorf("deploy/logrotate lacks %s", d)
		}
	}
	if su := directives["su"]; su != "su sanasend sanasend" {
		t.Errorf("deploy/logrotate: %q; want su sanasend sanasend (the unit's User= and Group=)", su)
	}

	logrotate, err := exec.LookPath("logrotate")
	if err != nil {
		t.Skipf("logrotate is not installed: the snippet was not run (%v)", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logDir, stateDir := filepath.Join(dir, "svc", "logs"), filepath.Join(dir, "state", "whatsapp")
	for _, d := range []string{logDir, stateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := strings.NewReplacer(serviceLogs, filepath.Join(logDir, "*.log"), captured, filepath.Join(dir, "state", "*", "output.log"),
		"su sanasend sanasend", "su "+u.Username+" "+g.Name).Replace(string(snippet))
	confPath := filepath.Join(dir, "logrotate.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := []string{filepath.Join(logDir, "combined.log"), filepath.Join(stateDir, "output.log")}
	var files []*os.File
	for _, p := range logs {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if _, err := f.WriteString("before 1\nbefore 2\n"); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, logrotate, "-f", "-s", filepath.Join(dir, "logrotate.state"), confPath).CombinedOutput()
	if err != nil {
		t.Fatalf("logrotate -f: %v\n%s", err, out)
	}
	for i, p := range logs {
		if _, err := files[i].WriteString("after\n"); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "after\n" {
			t.Errorf("%s after the rotation and one more line: %q; want %q", p, got, "after\n")
		}
		rotated, err := filepath.Glob(p + "-*")
		if err != nil {
			t.Fatal(err)
		}
		if len(rotated) != 1 {
			t.Fatalf("rotated copies of %s: %q; want one", p, rotated)
		}
		old, err := os.ReadFile(rotated[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(old, []byte("before 1\nbefore 2\n")) {
			t.Errorf("%s holds %q; want the lines from before the rotation", rotated[0], old)
		}
	}
}
