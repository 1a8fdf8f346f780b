//go:build !windows

package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/bot/slackbot"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testVersion = "v9.8.7-test"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// testEpoch is not the commit's time, so an entry that kept a file's own
// time would show.
var testEpoch = time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)

// repoRoot is the repository holding this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "sanasend-bot")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

// tarEntry is what the test reads back of an archive's entry.
type tarEntry struct {
	name     string
	mode     int64
	dir      bool
	uid, gid int
	uname    string
	gname    string
	mtime    time.Time
	data     []byte
}

func readTarGz(t *testing.T, path string) []tarEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" {
		t.Errorf("gzip header holds name %q, time %v; want neither", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var es []tarEntry
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, tarEntry{name: h.Name, mode: h.Mode, dir: h.Typeflag == tar.TypeDir, uid: h.Uid, gid: h.Gid,
			uname: h.Uname, gname: h.Gname, mtime: h.ModTime, data: data})
	}
	return es
}

// wantDocs is what a release holds beside the binary, read from the
// repository: README.md, LICENSE if any, every file of deploy/.
func wantDocs(t *testing.T, root string) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	for _, rel := range []string{"README.md", "LICENSE"} {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if errors.Is(err, fs.ErrNotExist) && rel == "LICENSE" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		want[rel] = data
	}
	des, err := os.ReadDir(filepath.Join(root, "deploy"))
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if de.Type().IsRegular() {
			data, err := os.ReadFile(filepath.Join(root, "deploy", de.Name()))
			if err != nil {
				t.Fatal(err)
			}
			want["deploy/"+de.Name()] = data
		}
	}
	for _, must := range []string{"deploy/sanasend-bot.example.yaml", "deploy/sanasend-bot.service", "deploy/slack-manifest.yaml", "deploy/logrotate"} {
		if _, ok := want[must]; !ok {
			t.Errorf("deploy/ lacks %s", must)
		}
	}
	return want
}

// TestDistLinuxAMD64 builds the linux/amd64 release twice: the archive
// holds exactly the binary, README, LICENSE if any and deploy/, with fixed
// modes, owner and time, SHA256SUMS matches it, the two builds are byte
// for byte the same, and the binary is static; then the binary, unpacked
// into an empty dir, runs `version` and `check` with no Go on PATH, and
// (as root) in a chroot holding nothing but the archive's contents.
func TestDistLinuxAMD64(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH to build with: %v", err)
	}
	root := repoRoot(t)
	linux := platform{OS: "linux", Arch: "amd64"}
	build := func(out string) []result {
		t.Helper()
		rs, err := run(context.Background(), options{Root: root, Out: out, Version: testVersion, Commit: testCommit,
			Epoch: testEpoch, Platforms: []platform{linux}, Go: goCmd})
		if err != nil {
			t.Fatalf("dist: %v", err)
		}
		return rs
	}
	out1, out2 := t.TempDir(), t.TempDir()
	rs := build(out1)
	const name = "sanasend-bot-" + testVersion + "-linux-amd64.tar.gz"
	if len(rs) != 1 || rs[0].Name != name {
		t.Fatalf("dist wrote %+v; want one archive %s", rs, name)
	}
	archive := filepath.Join(out1, name)
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("SHA256SUMS", func(t *testing.T) {
		got, err := os.ReadFile(filepath.Join(out1, sumsName))
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%x  %s\n", sha256.Sum256(data), name)
		if string(got) != want {
			t.Errorf("SHA256SUMS = %q; want %q", got, want)
		}
		if sha256sum, err := exec.LookPath("sha256sum"); err == nil {
			cmd := exec.Command(sha256sum, "-c", sumsName)
			cmd.Dir = out1
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("sha256sum -c %s: %v\n%s", sumsName, err, b)
			}
		}
	})

	t.Run("entries", func(t *testing.T) {
		top := "sanasend-bot-" + testVersion + "-linux-amd64/"
		docs := wantDocs(t, root)
		wantNames := []string{top, top + "deploy/", top + "sanasend-bot"}
		for rel := range docs {
			wantNames = append(wantNames, top+rel)
		}
		slices.Sort(wantNames)
		es := readTarGz(t, archive)
		var names []string
		for _, e := range es {
			names = append(names, e.name)
			wantMode := int64(0o644)
			if e.dir || e.name == top+"sanasend-bot" {
				wantMode = 0o755
			}
			if e.mode != wantMode {
				t.Errorf("%s: mode %o; want %o", e.name, e.mode, wantMode)
			}
			if e.uid != 0 || e.gid != 0 || e.uname != "" || e.gname != "" {
				t.Errorf("%s: owner %d:%d (%q:%q); want 0:0 without names", e.name, e.uid, e.gid, e.uname, e.gname)
			}
			if !e.mtime.Equal(testEpoch) {
				t.Errorf("%s: time %v; want %v", e.name, e.mtime, testEpoch)
			}
			if want, ok := docs[strings.TrimPrefix(e.name, top)]; ok && !bytes.Equal(e.data, want) {
				t.Errorf("%s differs from the repository's", e.name)
			}
		}
		if !slices.Equal(names, wantNames) {
			t.Errorf("entries, in order:\n%s\nwant\n%s", strings.Join(names, "\n"), strings.Join(wantNames, "\n"))
		}
	})

	t.Run("reproducible", func(t *testing.T) {
		build(out2)
		again, err := os.ReadFile(filepath.Join(out2, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, again) {
			t.Errorf("two builds differ: %x and %x", sha256.Sum256(data), sha256.Sum256(again))
		}
	})

	dir := t.TempDir()
	extract(t, archive, dir)
	bin := filepath.Join(dir, "sanasend-bot-"+testVersion+"-linux-amd64", "sanasend-bot")

	t.Run("static", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Machine != elf.EM_X86_64 {
			t.Errorf("binary for %v; want x86-64", f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("binary has a dynamic loader (PT_INTERP): it needs a libc on the host")
			}
		}
	})

	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("running the linux/amd64 binary needs a linux/amd64 host, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	t.Run("runs without go", func(t *testing.T) { runsWithoutGo(t, bin) })
	t.Run("runs in an empty root", func(t *testing.T) { runsInEmptyRoot(t, filepath.Dir(bin)) })
}

// extract unpacks a tar.gz into dir, as `tar xzf` would.
func extract(t *testing.T, archive, dir string) {
	t.Helper()
	tar, err := exec.LookPath("tar")
	if err != nil {
		t.Skipf("no tar to unpack with: %v", err)
	}
	if b, err := exec.Command(tar, "-xzf", archive, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar -xzf: %v\n%s", err, b)
	}
}

// runBin runs bin with args and exactly env, returning its output and
// exit code.
func runBin(t *testing.T, bin string, env []string, attr *syscall.SysProcAttr, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = filepath.Dir(bin)
	cmd.SysProcAttr = attr
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(b), 0
	case errors.As(err, &ee) && ee.Exited():
		return string(b), ee.ExitCode()
	default:
		t.Fatalf("%s %v: %v\n%s", bin, args, err, b)
		return "", -1
	}
}

// noGoPath is a PATH dir holding only the named commands (symlinks to
// the host's), so that no Go toolchain is in reach.
func noGoPath(t *testing.T, commands ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range commands {
		p, err := exec.LookPath(c)
		if err != nil {
			t.Skipf("%s is not on PATH: %v", c, err)
		}
		if err := os.Symlink(p, filepath.Join(dir, c)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := exec.LookPath(filepath.Join(dir, "go")); err == nil {
		t.Fatalf("go is in %s", dir)
	}
	return dir
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sanasend-bot.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runsWithoutGo: the unpacked binary says its version and commit, and
// `check` runs its checks, with a PATH and environment holding no Go.
func runsWithoutGo(t *testing.T, bin string) {
	home := t.TempDir()
	env := func(path string) []string { return []string{"PATH=" + path, "HOME=" + home} }

	out, code := runBin(t, bin, env(noGoPath(t)), nil, "version")
	want := fmt.Sprintf("sanasend-bot %s (commit %s, ", testVersion, testCommit)
	if code != 0 || !strings.HasPrefix(out, want) || !strings.Contains(out, "linux/amd64") {
		t.Errorf("version: exit %d, printed %q; want exit 0 and %q... linux/amd64", code, out, want)
	}

	fake := fakeslack.New(t)
	fake.SetScopes(slackbot.BotScopes()...)
	fake.SetChannel("C0ALERTS", "alerts")
	fake.SetUser("U0ALICE", "alice")
	svc := t.TempDir()
	service := fmt.Sprintf("services:\n  - name: whatsapp\n    dir: %s\n    url: http://127.0.0.1:1\nstate_dir: %s\n", svc, t.TempDir())
	tests := []struct {
		name     string
		config   string
		path     []string // commands on PATH
		wantCode int
		want     []string
		dontWant []string
	}{
		{
			name:     "no slack, no node",
			config:   service,
			wantCode: 1,
			want: []string{"✓ config ", "✗ slack settings: `serve` would refuse this config", "slack.bot_token: is required",
				"slack: not checked without slack.bot_token", "service whatsapp (" + svc + ")", "✗ node ", "node not found on PATH",
				"✓ service dir ", "✓ disk space ", "checks failed"},
		},
		{
			name: "complete, node and npm only",
			config: service + fmt.Sprintf("slack:\n  bot_token: %s\n  app_token: %s\n  api_url: %s\n  alerts_channel: C0ALERTS\n  staff:\n    users: [U0ALICE]\n",
				fakeslack.DefaultBotToken, fakeslack.DefaultAppToken, fake.APIURL()),
			path:     []string{"node", "npm"},
			wantCode: 0,
			want:     []string{"✓ config ", "slack\n", "✓ node ", "✓ npm ", "✓ start command ", "✓ service dir "},
			dontWant: []string{"✗", "failed"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runBin(t, bin, env(noGoPath(t, tc.path...)), nil, "check", "-config", writeConfig(t, tc.config))
			if code != tc.wantCode {
				t.Errorf("check: exit %d; want %d\n%s", code, tc.wantCode, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("check printed\n%s\nwant %q in it", out, w)
				}
			}
			for _, w := range tc.dontWant {
				if strings.Contains(out, w) {
					t.Errorf("check printed\n%s\nwant no %q in it", out, w)
				}
			}
		})
	}
}

// runsInEmptyRoot: as root, the binary runs `version` and `check` chrooted
// into the unpacked archive's dir: no Go, no libc, no /proc, nothing but
// what the archive holds (and the config and service dir the test adds).
func runsInEmptyRoot(t *testing.T, top string) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	jail := t.TempDir()
	if err := os.CopyFS(jail, os.DirFS(top)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(jail, "svc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(jail, "c.yaml"), []byte("services:\n  - name: whatsapp\n    dir: /svc\n    url: http://127.0.0.1:1\nstate_dir: /state\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(jail)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); n == "go" || n == "usr" || n == "lib" || n == "proc" {
			t.Fatalf("the root holds %s", n)
		}
	}
	attr := &syscall.SysProcAttr{Chroot: jail}
	env := []string{"PATH=/bin:/usr/bin"}
	out, code := runBin(t, "/sanasend-bot", env, attr, "version")
	if code != 0 || !strings.Contains(out, testVersion) || !strings.Contains(out, testCommit) {
		t.Errorf("version in the empty root: exit %d, printed %q", code, out)
	}
	out, code = runBin(t, "/sanasend-bot", env, attr, "check", "-config", "/c.yaml")
	for _, w := range []string{"✓ config /c.yaml (1 service)", "service whatsapp (/svc)", "node not found on PATH", "✓ service dir ", "checks failed"} {
		if !strings.Contains(out, w) {
			t.Errorf("check in the empty root printed\n%s\nwant %q in it", out, w)
		}
	}
	if code != 1 {
		t.Errorf("check in the empty root: exit %d; want 1 (no node there)\n%s", code, out)
	}
}

// TestZip: the windows archive's entries carry the modes and the fixed
// time, in order, and the same entries give the same bytes.
func TestZip(t *testing.T) {
	docs := []entry{{name: "deploy/", mode: modeExec}, {name: "README.md", mode: modeFile, data: []byte("# read me\n")},
		{name: "deploy/sanasend-bot.service", mode: modeFile, data: []byte("[Unit]\n")}}
	es := archiveEntries("top", "sanasend-bot.exe", []byte("MZ binary"), docs)
	var a, b bytes.Buffer
	if err := writeZip(&a, es, testEpoch); err != nil {
		t.Fatal(err)
	}
	reversed := slices.Clone(docs)
	slices.Reverse(reversed)
	if err := writeZip(&b, archiveEntries("top", "sanasend-bot.exe", []byte("MZ binary"), reversed), testEpoch); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same entries in another order give another zip")
	}
	zr, err := zip.NewReader(bytes.NewReader(a.Bytes()), int64(a.Len()))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		mode fs.FileMode
		data string
	}{
		{"top/", fs.ModeDir | 0o755, ""},
		{"top/README.md", 0o644, "# read me\n"},
		{"top/deploy/", fs.ModeDir | 0o755, ""},
		{"top/deploy/sanasend-bot.service", 0o644, "[Unit]\n"},
		{"top/sanasend-bot.exe", 0o755, "MZ binary"},
	}
	if len(zr.File) != len(want) {
		t.Fatalf("zip holds %d entries; want %d", len(zr.File), len(want))
	}
	for i, f := range zr.File {
		w := want[i]
		if f.Name != w.name || f.Mode() != w.mode || !f.Modified.Equal(testEpoch) {
			t.Errorf("entry %d: %s %v %v; want %s %v %v", i, f.Name, f.Mode(), f.Modified, w.name, w.mode, testEpoch)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(data) != w.data {
			t.Errorf("%s: %q, %v; want %q", f.Name, data, err, w.data)
		}
	}
}
