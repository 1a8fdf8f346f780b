package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/bot/slackbot"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
	"github.com/sanasend/sanasend-bot/internal/standin"
)

// demoCopy copies the stand-in and writes a config for it on a free port,
// the way examples/sanasend-bot.yaml does for `make demo`.
func demoCopy(t testing.TB) (configPath string) {
	return demoCopyWith(t, "")
}

// demoCopyWith is demoCopy with extra top-level YAML (a slack section).
func demoCopyWith(t testing.TB, extra string) (configPath string) {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not on PATH: this test runs the real stand-in service", bin)
		}
	}
	root := t.TempDir()
	standin.Copy(t, filepath.Join(root, "whatsapp-service"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := fmt.Sprintf(`services:
  - name: whatsapp
    dir: whatsapp-service
    url: http://127.0.0.1:%d
    env:
      PORT: "%d"
      RESTORE_DELAY_MS: "100"
      RESTORE_STEP_MS: "20"
      FOLLOWUP_MS: "30"
      NPM_CONFIG_UPDATE_NOTIFIER: "false"
    start_timeout: 20s
    stop_timeout: 5s
demo:
  stop_on_exit: true
`, port, port) + extra
	if !strings.Contains(extra, "monitor:") {
		cfg += "monitor:\n  timeout: 2s\n"
	}
	configPath = filepath.Join(root, "sanasend-bot.yaml")
	if err := os.WriteFile(configPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return configPath
}

// TestConsoleAsANewUser types what the README's quick start suggests and
// checks each answer makes sense and that nothing is left running.
func TestConsoleAsANewUser(t *testing.T) {
	configPath := demoCopy(t)
	// `sessions` waits for the restoration: wait a moment with a command
	// that takes time by itself (doctor runs node and npm).
	script := strings.Join([]string{
		"status", "start", "logs 20", "doctor", "sessions", "ps",
		"restart", "y", "stop", "n", "stop", "y", "status", "quit",
	}, "\n") + "\n"
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, []string{"console", "-config", configPath, "-user", "alice"}, strings.NewReader(script), &out, &out); err != nil {
		t.Fatalf("console: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"whatsapp: 🔴 STOPPED",
		"connection refused",
		"✓ start whatsapp by alice",
		"WhatsApp Service running on port",
		"✓ node",
		"the service runs as uid 0 (root), the bot's user: the service can read the bot's files and secrets",
		"run the service as a user of its own, and keep the bot's Slack secrets in files only the bot's user can read",
		"auth dirs",
		"node src/server.js",
		"restart whatsapp? This stops every process of the service, then starts it again",
		"✓ restart whatsapp by alice",
		"stop whatsapp cancelled by alice; nothing was done",
		"✓ stop whatsapp by alice",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("console output lacks %q", want)
		}
	}
	if strings.Count(got, "🔴 STOPPED") != 2 {
		t.Errorf("want STOPPED before start and after stop")
	}
	if t.Failed() {
		t.Logf("console output:\n%s", got)
	}
	if left := psGrep(t, filepath.Dir(configPath)); left != "" {
		t.Errorf("processes left:\n%s", left)
	}
}

// TestDemoStopsWhatItStartedOnExit: the demo console leaves nothing behind.
func TestDemoStopsWhatItStartedOnExit(t *testing.T) {
	configPath := demoCopy(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-config", configPath, "console"}, strings.NewReader("start\n"), &out, &out); err != nil {
		t.Fatalf("console: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "demo: stopped whatsapp, which this console started") {
		t.Errorf("output lacks the demo stop:\n%s", out.String())
	}
	if left := psGrep(t, filepath.Dir(configPath)); left != "" {
		t.Errorf("processes left:\n%s", left)
	}
}

// psGrep lists live processes whose command line mentions dir.
func psGrep(t testing.TB, dir string) string {
	t.Helper()
	out, err := exec.Command("ps", "-eo", "pid=,stat=,args=").Output()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && !strings.HasPrefix(f[1], "Z") && strings.Contains(line, dir) {
			left = append(left, line)
		}
	}
	return strings.Join(left, "\n")
}

func TestUsageAndVersion(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
		want    string
	}{
		{[]string{"version"}, false, "sanasend-bot "},
		{[]string{"-config", "x.yaml", "version"}, false, "go1."},
		{[]string{"help"}, false, "usage: sanasend-bot"},
		{nil, true, "usage: sanasend-bot"},
		{[]string{"frobnicate"}, true, "usage: sanasend-bot"},
		{[]string{"version", "-config"}, true, "usage"},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		err := run(context.Background(), tc.args, strings.NewReader(""), &out, &out)
		if (err != nil) != tc.wantErr || !strings.Contains(out.String(), tc.want) {
			t.Errorf("run(%q) = %v, %q; want error %v and %q", tc.args, err, out.String(), tc.wantErr, tc.want)
		}
	}
}

func TestBadConfigNamesKeyValueAndReason(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("services:\n  - dir: /tmp\n    stop_timeout: ten\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"console", "-config", path}, strings.NewReader(""), &out, &out)
	if err == nil || !strings.Contains(err.Error(), `services[0].stop_timeout: "ten" is not a duration`) {
		t.Errorf("run with a bad config = %v; want the key path, value and reason", err)
	}
}

// TestConsoleImpersonatesSlackUsers: `console -user U...` applies the staff
// rules of the config, so they can be tried without Slack.
func TestConsoleImpersonatesSlackUsers(t *testing.T) {
	configPath := demoCopyWith(t, "slack:\n  staff:\n    users: [U0ALICE]\n")
	tests := []struct {
		user string
		want string
	}{
		{"U0ALICE", "whatsapp: 🔴 STOPPED"},
		{"U0EVE", "⛔ Sorry, only"},
		{"maria", "whatsapp: 🔴 STOPPED"}, // a local operator is staff
	}
	for _, tc := range tests {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"console", "-config", configPath, "-user", tc.user}, strings.NewReader("status\n"), &out, &out); err != nil {
			t.Fatalf("console -user %s: %v", tc.user, err)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("console -user %s: status answered\n%s\nwant %q", tc.user, out.String(), tc.want)
		}
	}
}

// TestNoConfigFile: the error names the absolute path tried and how to
// point at another file, whichever way the path came.
func TestNoConfigFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		name string
		args []string
		env  string
		want string // the absolute path in the error
	}{
		{"default", []string{"console"}, "", filepath.Join(dir, "sanasend-bot.yaml")},
		{"-config", []string{"console", "-config", "other.yaml"}, "", filepath.Join(dir, "other.yaml")},
		{"$SANASEND_CONFIG", []string{"check"}, "env.yaml", filepath.Join(dir, "env.yaml")},
		{"serve", []string{"serve", "-config", "x/y.yaml"}, "", filepath.Join(dir, "x", "y.yaml")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SANASEND_CONFIG", tc.env)
			var out bytes.Buffer
			err := run(context.Background(), tc.args, strings.NewReader(""), &out, &out)
			if err == nil {
				t.Fatal("run succeeded without a config file")
			}
			got := out.String() + err.Error()
			for _, want := range []string{"no file at " + tc.want, "-config PATH", "$SANASEND_CONFIG"} {
				if !strings.Contains(got, want) {
					t.Errorf("run(%q) said %q; want %q in it", tc.args, got, want)
				}
			}
		})
	}
}

// TestCommandHelpListsFlags: `<command> -h` prints the command's usage and
// flags, -config included, and succeeds.
func TestCommandHelpListsFlags(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"serve", "-h"}, []string{"usage: sanasend-bot [-config PATH] serve", "Socket Mode", "-config string"}},
		{[]string{"console", "-help"}, []string{"usage: sanasend-bot [-config PATH] console", "-user string", "-config string"}},
		{[]string{"manifest", "-h"}, []string{"-url string", "-name string", "-config string"}},
		{[]string{"-config", "x.yaml", "check", "-h"}, []string{"usage: sanasend-bot [-config PATH] check", "-config string"}},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		err := run(context.Background(), tc.args, strings.NewReader(""), &out, &out)
		if err != exitError(0) {
			t.Errorf("run(%q) = %v; want exit status 0", tc.args, err)
		}
		for _, want := range tc.want {
			if !strings.Contains(out.String(), want) {
				t.Errorf("run(%q) printed\n%s\nwant %q in it", tc.args, out.String(), want)
			}
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve", "-bogus"}, strings.NewReader(""), &out, &out); err != exitError(2) {
		t.Errorf("serve -bogus = %v; want exit status 2", err)
	}
}

// TestCheckFailsWhereServeRefuses: a config without what serve needs fails
// check, which names each missing setting.
func TestCheckFailsWhereServeRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		slack string
		want  []string
	}{
		{"no slack section", "", []string{"✗ slack settings: `serve` would refuse", "slack.bot_token: is required", "slack.alerts_channel: is required"}},
		{"a user token", "slack:\n  bot_token: xoxp-1-2\n  app_token: xapp-1\n  alerts_channel: C0ALERTS\n  api_url: http://127.0.0.1:1/\n", []string{"slack.bot_token: (value hidden) is a user token"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.yaml")
			cfg := fmt.Sprintf("services:\n  - name: whatsapp\n    dir: %s\n%s", dir, tc.slack)
			if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := run(context.Background(), []string{"check", "-config", path}, strings.NewReader(""), &out, &out)
			if err != exitError(1) {
				t.Errorf("check = %v; want exit status 1\n%s", err, out.String())
			}
			for _, want := range append(tc.want, "✓ config "+path+" (1 service)") {
				if !strings.Contains(out.String(), want) {
					t.Errorf("check printed\n%s\nwant %q in it", out.String(), want)
				}
			}
			if strings.Contains(out.String(), "xoxp-1-2") {
				t.Errorf("check printed the token:\n%s", out.String())
			}
		})
	}
}

// TestCheckAlertsChannelWithoutTheBot: alerts to a channel the bot is not in
// would be refused (not_in_channel), so check fails and says how to fix it,
// unless the channel is public and the bot has chat:write.public.
func TestCheckAlertsChannelWithoutTheBot(t *testing.T) {
	tests := []struct {
		name    string
		private bool
		scopes  []string
		want    string
	}{
		{"public, no chat:write.public", false, slackbot.BotScopes(), "✗ alerts channel"},
		{"private", true, append(slackbot.BotScopes(), slackbot.ScopeChatWritePublic), "✗ alerts channel"},
		{"public, chat:write.public", false, append(slackbot.BotScopes(), slackbot.ScopeChatWritePublic), "✓ alerts channel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := fakeslack.New(t)
			fake.SetScopes(tc.scopes...)
			fake.SetChannelWithoutBot("C0ALERTS", "alerts", tc.private)
			dir := t.TempDir()
			path := filepath.Join(dir, "c.yaml")
			cfg := fmt.Sprintf("services:\n  - name: whatsapp\n    dir: %s\nslack:\n  bot_token: %s\n  app_token: xapp-1\n  api_url: %s\n  alerts_channel: C0ALERTS\n  staff:\n    users: [U0ALICE]\n",
				dir, fakeslack.DefaultBotToken, fake.APIURL())
			if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := run(context.Background(), []string{"check", "-config", path}, strings.NewReader(""), &out, &out)
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("check printed\n%s\nwant %q", out.String(), tc.want)
			}
			if strings.HasPrefix(tc.want, "✗") {
				if err != exitError(1) {
					t.Errorf("check = %v; want exit status 1", err)
				}
				if !strings.Contains(out.String(), "/invite @") {
					t.Errorf("check does not say how to invite the bot:\n%s", out.String())
				}
			}
		})
	}
}
