//go:build !windows

package pm2

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakePM2 is a Node.js script standing in for the pm2 executable: it
// records its argv, cwd and PM2_HOME in a file, then prints the stdout and
// stderr and exits with the code found in FAKE_PM2_* variables of the
// client's environment, or sleeps when FAKE_PM2_SLEEP_MS is set.
const fakePM2 = `#!/usr/bin/env node
const fs = require('fs');
fs.appendFileSync(process.env.FAKE_PM2_RECORD, JSON.stringify({argv: process.argv.slice(2), cwd: process.cwd(), home: process.env.PM2_HOME}) + '\n');
const sleep = Number(process.env.FAKE_PM2_SLEEP_MS || 0);
setTimeout(() => {
  process.stdout.write(process.env.FAKE_PM2_STDOUT || '');
  process.stderr.write(process.env.FAKE_PM2_STDERR || '');
  process.exitCode = Number(process.env.FAKE_PM2_EXIT || 0);
}, sleep);
`

func newFake(t *testing.T, env ...string) (*Client, string) {
	t.Helper()
	return newFakeWith(t, Config{}, env...)
}

// newFakeWith is newFake with cfg's KillTimeout.
func newFakeWith(t *testing.T, cfg Config, env ...string) (*Client, string) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH: the tests need Node.js 20")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "pm2")
	if err := os.WriteFile(bin, []byte(fakePM2), 0o755); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(dir, "calls.jsonl")
	home := filepath.Join(dir, "home")
	c, err := New(Config{Bin: bin, Home: home, Env: append([]string{"PATH=" + os.Getenv("PATH"), "FAKE_PM2_RECORD=" + record}, env...),
		Timeout: 5 * time.Second, KillTimeout: cfg.KillTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	return c, record
}

func TestListOfAFakePM2(t *testing.T) {
	jlist := string(readJList(t))
	for _, tc := range []struct {
		name   string
		env    []string
		want   string // "" means no error
		absent []string
	}{
		{"banner then the list", []string{"FAKE_PM2_STDOUT=[PM2] Spawning PM2 daemon\n" + jlist}, "", nil},
		{"malformed", []string{"FAKE_PM2_STDOUT=[PM2] Spawning PM2 daemon\n" + jlist[:300]}, "pm2 jlist: output (", []string{secret, "PORT"}},
		{"not JSON", []string{"FAKE_PM2_STDOUT=SECRET_TOKEN=" + secret}, "holds no JSON list of apps", []string{secret}},
		{"fails", []string{"FAKE_PM2_EXIT=2", "FAKE_PM2_STDOUT=" + jlist, "FAKE_PM2_STDERR=\x1b[31m[PM2][ERROR] \x1b[39mdaemon not reachable\n" + strings.Repeat("x", 2000)},
			"pm2 jlist: exit status 2: [PM2][ERROR] daemon not reachable xxx", []string{secret, "\x1b", strings.Repeat("x", maxStderr)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newFake(t, tc.env...)
			apps, err := c.List(context.Background())
			if tc.want == "" {
				if err != nil || len(apps) != 2 || apps[0].Name != "whatsapp" {
					t.Fatalf("List = %+v, %v; want the two apps", apps, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("List = %+v, nil; want an error", apps)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("List error = %q; want it to say %q", err, tc.want)
			}
			for _, s := range tc.absent {
				if strings.Contains(err.Error(), s) {
					t.Errorf("List error %q holds %q", err, s)
				}
			}
		})
	}
}

func TestArgvOfEachCommand(t *testing.T) {
	jlist := string(readJList(t)) // knows "whatsapp" and "worker"
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		do   func(c *Client, dir string) error
		want string // the calls recorded: argv and cwd (HOME: the PM2_HOME; DIR: dir)
		err  error
	}{
		{"stop", func(c *Client, _ string) error { return c.Stop(ctx, "whatsapp") }, `["stop","whatsapp"] HOME`, nil},
		{"restart", func(c *Client, _ string) error { return c.Restart(ctx, "whatsapp") }, `["restart","whatsapp"] HOME`, nil},
		{"start checks the app first", func(c *Client, _ string) error { return c.Start(ctx, "worker") }, `["jlist"] HOME; ["start","worker"] HOME`, nil},
		{"start of an online app", func(c *Client, _ string) error { return c.Start(ctx, "whatsapp") }, `["jlist"] HOME`, ErrAppOnline},
		{"start of an unknown app", func(c *Client, _ string) error { return c.Start(ctx, "nosuch") }, `["jlist"] HOME`, ErrUnknownApp},
		{"start command", func(c *Client, dir string) error { return c.StartCommand(ctx, "new", dir, []string{"npm", "start"}) },
			`["jlist"] HOME; ["start","npm","--name","new","--cwd","DIR","--","start"] DIR`, nil},
		{"start command without arguments", func(c *Client, dir string) error {
			return c.StartCommand(ctx, "new", dir, []string{dir + "/server"})
		}, `["jlist"] HOME; ["start","DIR/server","--name","new","--cwd","DIR"] DIR`, nil},
		{"start command of a known app", func(c *Client, dir string) error {
			return c.StartCommand(ctx, "whatsapp", dir, []string{"npm", "start"})
		},
			`["jlist"] HOME`, ErrAppExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, record := newFake(t, "FAKE_PM2_STDOUT="+jlist)
			dir := t.TempDir()
			err := tc.do(c, dir)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v; want %v", err, tc.err)
			}
			if got := calls(t, record, c.Home(), dir); got != tc.want {
				t.Errorf("calls = %s; want %s", got, tc.want)
			}
		})
	}
}

func TestStartCommandGivesTheKillTimeout(t *testing.T) {
	c, record := newFakeWith(t, Config{KillTimeout: 10 * time.Second}, "FAKE_PM2_STDOUT=[]")
	dir := t.TempDir()
	if err := c.StartCommand(context.Background(), "new", dir, []string{"npm", "start"}); err != nil {
		t.Fatal(err)
	}
	want := `["jlist"] HOME; ["start","npm","--name","new","--cwd","DIR","--kill-timeout","10000","--","start"] DIR`
	if got := calls(t, record, c.Home(), dir); got != want {
		t.Errorf("calls = %s; want %s", got, want)
	}
}

func TestUnknownAppFromPM2sWords(t *testing.T) {
	c, _ := newFake(t, "FAKE_PM2_EXIT=1", "FAKE_PM2_STDERR=\x1b[31m[PM2][ERROR] \x1b[39mProcess or Namespace whatsapp not found\n")
	err := c.Stop(context.Background(), "whatsapp")
	if !errors.Is(err, ErrUnknownApp) || !strings.HasPrefix(err.Error(), "pm2 stop whatsapp: ") {
		t.Errorf("Stop = %v; want ErrUnknownApp, prefixed by the operation", err)
	}
}

func TestTimeout(t *testing.T) {
	c, _ := newFake(t, "FAKE_PM2_SLEEP_MS=60000")
	c.timeout = 300 * time.Millisecond
	start := time.Now()
	err := c.Restart(context.Background(), "whatsapp")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "pm2 restart whatsapp: no answer within") {
		t.Errorf("Restart of a pm2 that hangs = %v; want a deadline error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Restart returned after %v; want about the timeout", d)
	}
}

// calls reads the fake's record: "argv cwd" per call, joined by "; ", with
// home and dir replaced by HOME and DIR. Every call must have run with
// PM2_HOME=home.
func calls(t *testing.T, record, home, dir string) string {
	t.Helper()
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var call struct {
			Argv []string `json:"argv"`
			Cwd  string   `json:"cwd"`
			Home string   `json:"home"`
		}
		if err := json.Unmarshal([]byte(line), &call); err != nil {
			t.Fatal(err)
		}
		if call.Home != home {
			t.Errorf("pm2 ran with PM2_HOME=%q; want %q", call.Home, home)
		}
		argv, _ := json.Marshal(call.Argv)
		s := string(argv) + " " + call.Cwd
		s = strings.ReplaceAll(strings.ReplaceAll(s, dir, "DIR"), home, "HOME")
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}
