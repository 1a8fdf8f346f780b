//go:build unix

package doctor

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestCheckUsers(t *testing.T) {
	names := map[int]string{0: "root", 1000: "sanasend", 1001: "whatsapp"}
	tests := []struct {
		name        string
		u           Users
		wantVerdict Verdict
		wantDetail  string
	}{
		{
			name:        "running as the bot's uid",
			u:           Users{Bot: 1000, Service: []int{1000}, Running: true, Dir: "/srv/w", Names: names},
			wantVerdict: VerdictWarn,
			wantDetail:  "the service runs as uid 1000 (sanasend), the bot's user: the service can read the bot's files and secrets",
		},
		{
			name:        "not running, its dir is the bot's user's",
			u:           Users{Bot: 1000, Service: []int{1000}, Dir: "/srv/w", Names: names},
			wantVerdict: VerdictWarn,
			wantDetail:  "the service is not running; its dir /srv/w belongs to uid 1000 (sanasend), the bot's user: the service can read the bot's files and secrets",
		},
		{
			name:        "both root",
			u:           Users{Bot: 0, Service: []int{0}, Running: true, Dir: "/srv/w", Names: names},
			wantVerdict: VerdictWarn,
			wantDetail:  "the service runs as uid 0 (root), the bot's user: the service can read the bot's files and secrets",
		},
		{
			name:        "one of several uids is the bot's",
			u:           Users{Bot: 1000, Service: []int{1000, 1001}, Running: true, Dir: "/srv/w", Names: names},
			wantVerdict: VerdictWarn,
			wantDetail:  "the service runs as uid 1000 (sanasend), uid 1001 (whatsapp), the bot's user: the service can read the bot's files and secrets",
		},
		{
			name:        "a user of its own",
			u:           Users{Bot: 1000, Service: []int{1001}, Running: true, Dir: "/srv/w", Names: names},
			wantVerdict: VerdictOK,
			wantDetail:  "the service runs as uid 1001 (whatsapp); the bot runs as uid 1000 (sanasend)",
		},
		{
			name:        "not running, a dir of its own, unnamed uids",
			u:           Users{Bot: 2000, Service: []int{2001}, Dir: "/srv/w"},
			wantVerdict: VerdictOK,
			wantDetail:  "the service is not running; its dir /srv/w belongs to uid 2001; the bot runs as uid 2000",
		},
		{
			name:        "unknown",
			u:           Users{Bot: 1000, Dir: "/srv/w", Err: &fs.PathError{Op: "stat", Path: "/srv/w", Err: fs.ErrNotExist}},
			wantVerdict: VerdictWarn,
			wantDetail:  "cannot tell which user the service runs as: stat /srv/w: file does not exist",
		},
		{
			name:        "no uids on this system",
			u:           Users{Bot: 0, Dir: `C:\w`, Err: errNoUIDSystem},
			wantVerdict: VerdictOK,
			wantDetail:  "not applicable: this system has no uids",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckUsers(tt.u)
			if got.Name != "service user" || got.Verdict != tt.wantVerdict || got.Detail != tt.wantDetail {
				t.Errorf("CheckUsers = %q %s %q; want \"service user\" %s %q", got.Name, got.Verdict, got.Detail, tt.wantVerdict, tt.wantDetail)
			}
			hint := strings.Contains(got.Hint, "User=") && strings.Contains(got.Hint, "slack.bot_token_file")
			if shared := tt.wantVerdict == VerdictWarn && tt.u.Err == nil; hint != shared {
				t.Errorf("CheckUsers hint %q: says how to separate the users = %v; want %v", got.Hint, hint, shared)
			}
		})
	}
}

// ServiceUsers reads the uids of the service's running processes, else the
// owner of its dir.
func TestServiceUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to run a process as another uid and chown a dir")
	}
	const nobody = 65534
	sleeper := exec.Command("sleep", "60")
	sleeper.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })

	rootDir := t.TempDir()
	nobodyDir := filepath.Join(t.TempDir(), "service")
	if err := os.Mkdir(nobodyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(nobodyDir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	gone := goneProcess(t)

	tests := []struct {
		name        string
		pids        []int
		dir         string
		wantUIDs    []int
		wantRunning bool
		wantVerdict Verdict
	}{
		{"running as another uid", []int{sleeper.Process.Pid}, rootDir, []int{nobody}, true, VerdictOK},
		{"running as the bot's uid", []int{os.Getpid()}, nobodyDir, []int{0}, true, VerdictWarn},
		{"both", []int{os.Getpid(), sleeper.Process.Pid}, rootDir, []int{0, nobody}, true, VerdictWarn},
		{"not running, the dir of another uid", nil, nobodyDir, []int{nobody}, false, VerdictOK},
		{"not running, the dir of the bot's uid", nil, rootDir, []int{0}, false, VerdictWarn},
		{"a process gone: the dir", []int{gone}, nobodyDir, []int{nobody}, false, VerdictOK},
		{"no dir", nil, filepath.Join(rootDir, "nope"), nil, false, VerdictWarn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ServiceUsers(0, tt.pids, tt.dir)
			if !slices.Equal(u.Service, tt.wantUIDs) || u.Running != tt.wantRunning {
				t.Errorf("ServiceUsers = uids %v running %v (err %v); want %v %v", u.Service, u.Running, u.Err, tt.wantUIDs, tt.wantRunning)
			}
			if tt.wantUIDs == nil && !errors.Is(u.Err, fs.ErrNotExist) {
				t.Errorf("ServiceUsers err = %v; want it to say the dir does not exist", u.Err)
			}
			if got := CheckUsers(u); got.Verdict != tt.wantVerdict {
				t.Errorf("CheckUsers = %s %q; want %s", got.Verdict, got.Detail, tt.wantVerdict)
			}
			if u.Names[0] != "root" {
				t.Errorf("ServiceUsers names = %v; want uid 0 named root", u.Names)
			}
		})
	}
}

// goneProcess returns the pid of a process that has exited and been reaped
// (a pid the service had, then lost).
func goneProcess(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}
