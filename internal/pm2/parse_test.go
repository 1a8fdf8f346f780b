package pm2

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// secret is in the environment of testdata/jlist.json, as a real token is
// in the jlist of an app started from a shell that had it: no error may
// quote it.
const secret = "xoxb-should-never-leak"

func readJList(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "jlist.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseJList(t *testing.T) {
	jlist := readJList(t)
	want := []App{{
		Name: "whatsapp", ID: 0, PID: 24212, Status: StatusOnline, Restarts: 3, UnstableRestarts: 1,
		Started: time.UnixMilli(1796417209482), Created: time.UnixMilli(1796417209482), Dir: "/srv/sanasend/whatsapp-service",
		Memory: 54743040, CPU: 30.6, KillTimeout: 10 * time.Second, UniqueID: "7ac21a4c-82f1-456f-8571-f89a7aa15bd8",
		OutLog: "/srv/pm2home/logs/whatsapp-out.log", ErrLog: "/srv/pm2home/logs/whatsapp-error.log",
	}, {
		Name: "worker", ID: 1, PID: 0, Status: StatusStopped, Created: time.UnixMilli(1796417209482), Dir: "/srv/worker", UniqueID: "0b9e6c1e-3d4f-4c55-9b1a-2f6f0d0e7a11",
		OutLog: "/srv/pm2home/logs/whatsapp-out.log", ErrLog: "/srv/pm2home/logs/whatsapp-error.log",
	}}
	// What pm2 7.0.4 prints before the list on the first command in a
	// PM2_HOME (its banner, cut here) and when it spawns its daemon.
	banner := "\n                        -------------\n\n__/\\\\\\\\\\\\\\\\\\\\\\\\\\____/\\\\\\\\\n" +
		"                $ pm2 start app.js\n\n                        -------------\n\n" +
		"\x1b[32m[PM2] \x1b[39mSpawning PM2 daemon with pm2_home=/srv/pm2home\n" +
		"\x1b[32m[PM2] \x1b[39mPM2 Successfully daemonized\n"
	for _, tc := range []struct {
		name string
		out  string
		want []App
	}{
		{"plain", string(jlist), want},
		{"trailing newline", string(jlist) + "\n", want},
		{"after the banner and the daemon's spawn", banner + string(jlist), want},
		{"after uncoloured pm2 lines", "[PM2] Spawning PM2 daemon with pm2_home=/srv/pm2home\n[PM2] PM2 Successfully daemonized\n" + string(jlist), want},
		{"empty list", banner + "[]", []App{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseJList([]byte(tc.out))
			if err != nil {
				t.Fatalf("ParseJList: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseJList =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestParseJListRejects(t *testing.T) {
	jlist := string(readJList(t))
	for _, tc := range []struct {
		name, out, want string
	}{
		{"empty", "", "holds no JSON list"},
		{"noise only", "[PM2] Spawning PM2 daemon\n", "holds no valid JSON list"},
		{"truncated", jlist[:len(jlist)/2], "holds no valid JSON list"},
		{"an object", `{"pid":1}`, "holds no JSON list"},
		{"a wrong type", `[{"name":"whatsapp","pid":"` + secret + `"}]`, `field "pid" is a JSON string`},
		{"no name", `[{"pid":1,"pm2_env":{"status":"online"}}]`, "app 0 of the list has no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseJList([]byte(tc.out))
			if err == nil {
				t.Fatalf("ParseJList = %+v, nil; want an error", got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseJList error = %q; want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "PORT") {
				t.Errorf("ParseJList error quotes the output: %q", err)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	valid := Config{Bin: "/usr/bin/pm2", Home: "/srv/pm2home", Env: []string{"PATH=/usr/bin"}, Timeout: time.Second}
	if _, err := New(valid); err != nil {
		t.Fatalf("New(%+v): %v", valid, err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no home", func(c *Config) { c.Home = "" }, "PM2_HOME (Config.Home) is required"},
		{"relative home", func(c *Config) { c.Home = ".pm2" }, "not an absolute path"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "negative"},
		{"negative kill timeout", func(c *Config) { c.KillTimeout = -time.Second }, "negative"},
		{"PM2_HOME in Env", func(c *Config) { c.Env = []string{"PM2_HOME=/root/.pm2"} }, "must not set PM2_HOME"},
		{"bad Env entry", func(c *Config) { c.Env = []string{"TOKEN"} }, "not KEY=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mutate(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%+v) error = %v; want %q", cfg, err, tc.want)
			}
		})
	}
}

func TestNamesPM2WouldMisread(t *testing.T) {
	c, err := New(Config{Bin: "/nonexistent/pm2", Home: "/srv/pm2home"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"", "-h", "--update-env", "all", "0", "12", "../x", "a/b", "whatsapp.js", "my app"} {
		for verb, f := range map[string]func(context.Context, string) error{"start": c.Start, "stop": c.Stop, "restart": c.Restart} {
			err := f(ctx, name)
			// The bad name is caught before pm2 runs: the error is not
			// the missing binary's.
			if err == nil || strings.Contains(err.Error(), "nonexistent") {
				t.Errorf("%s(%q) = %v; want the name refused", verb, name, err)
			}
		}
	}
	if err := c.Stop(ctx, "whatsapp"); err == nil || !strings.Contains(err.Error(), "pm2 stop whatsapp") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stop with a missing pm2 = %v; want the operation and a not-exist error", err)
	}
	if err := c.StartCommand(ctx, "whatsapp", "relative/dir", []string{"npm", "start"}); err == nil || !strings.Contains(err.Error(), "not an absolute path") {
		t.Errorf("StartCommand(relative dir) = %v", err)
	}
	if err := c.StartCommand(ctx, "whatsapp", "/srv/x", nil); err == nil || !strings.Contains(err.Error(), "no command") {
		t.Errorf("StartCommand(no argv) = %v", err)
	}
}

func TestCleanStderr(t *testing.T) {
	long := strings.Repeat("é", maxStderr)
	for _, tc := range []struct{ in, want string }{
		{"\x1b[31m[PM2][ERROR] \x1b[39mProcess or Namespace nosuch not found\n", "[PM2][ERROR] Process or Namespace nosuch not found"},
		{"  a\n\n  b\t c ", "a b c"},
		{"", ""},
		{long, strings.Repeat("é", maxStderr/2) + "…"},
	} {
		if got := cleanStderr([]byte(tc.in)); got != tc.want {
			t.Errorf("cleanStderr(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
