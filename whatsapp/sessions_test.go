package whatsapp

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/internal/usererr"
)

const authTestHost = "build-host"

// authTestAlive is a real process check: signal 0.
func authTestAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// deadPID finds a pid that no process has.
func authDeadPID(t *testing.T) int {
	t.Helper()
	for pid := 999_999; pid > 1000; pid-- {
		if !authTestAlive(pid) {
			return pid
		}
	}
	t.Fatal("no free pid found")
	return 0
}

func authSkipNoSymlinks(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("Chromium singleton symlinks are a POSIX thing")
	}
}

func authMkdirs(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func authWriteFile(t *testing.T, path string, size int) {
	t.Helper()
	authMkdirs(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(strings.Repeat("x", size)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func authSymlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

type authFixture struct {
	root string
	live int // pid of this test process
	dead int
}

// makeAuthDirs lays out an auth dir with one session per case.
func makeAuthDirs(t *testing.T) authFixture {
	t.Helper()
	authSkipNoSymlinks(t)
	fx := authFixture{root: filepath.Join(t.TempDir(), ".wwebjs_auth"), live: os.Getpid(), dead: authDeadPID(t)}
	s := func(name string) string { return filepath.Join(fx.root, name) }
	old := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	newest := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

	// A Chromium running now holds this one.
	d := s("session-user_1_instance_live")
	authWriteFile(t, filepath.Join(d, "Default", "Preferences"), 100)
	authWriteFile(t, filepath.Join(d, "Default", "Cookies"), 200)
	authSymlink(t, fmt.Sprintf("%s-%d", authTestHost, fx.live), filepath.Join(d, "SingletonLock"))
	authSymlink(t, "/tmp/.org.chromium.Chromium.live01/SingletonSocket", filepath.Join(d, "SingletonSocket"))
	authSymlink(t, "1111111111", filepath.Join(d, "SingletonCookie"))

	// Left behind by a Chromium that was killed.
	d = s("session-user_2_instance_dead")
	authWriteFile(t, filepath.Join(d, "Default", "Preferences"), 10)
	authSymlink(t, fmt.Sprintf("%s-%d", authTestHost, fx.dead), filepath.Join(d, "SingletonLock"))
	authSymlink(t, "/tmp/.org.chromium.Chromium.dead02/SingletonSocket", filepath.Join(d, "SingletonSocket"))
	authSymlink(t, "2222222222", filepath.Join(d, "SingletonCookie"))
	authChtimes(t, filepath.Join(d, "Default", "Preferences"), newest)

	// The old guide's naming; taken on another host (a container renamed).
	d = s("session_user_3_instance_other")
	authWriteFile(t, filepath.Join(d, "Default", "Local State"), 5)
	authSymlink(t, fmt.Sprintf("other-host-%d", fx.live), filepath.Join(d, "SingletonLock"))
	authSymlink(t, "3333333333", filepath.Join(d, "SingletonCookie"))

	// A regular file named SingletonLock: never touched, nor its companion.
	d = s("session-user_4_instance_file")
	authWriteFile(t, filepath.Join(d, "Default", "Preferences"), 1)
	authWriteFile(t, filepath.Join(d, "SingletonLock"), 12)
	authSymlink(t, "/tmp/.org.chromium.Chromium.file04/SingletonSocket", filepath.Join(d, "SingletonSocket"))

	// Empty: nothing to restore from.
	authMkdirs(t, s("session-user_5_instance_empty"))
	authChtimes(t, s("session-user_5_instance_empty"), old)

	// A socket without a lock: harmless, left alone.
	d = s("session-user_6_instance_orphan")
	authMkdirs(t, filepath.Join(d, "Default"))
	authSymlink(t, "/tmp/.org.chromium.Chromium.orph06/SingletonSocket", filepath.Join(d, "SingletonSocket"))

	// A lock whose target is not <host>-<pid>.
	d = s("session-user_7_instance_garbage")
	authWriteFile(t, filepath.Join(d, "Default", "x"), 1)
	authSymlink(t, "garbage", filepath.Join(d, "SingletonLock"))

	// A symlink inside a profile is not followed.
	outside := filepath.Join(t.TempDir(), "outside")
	authWriteFile(t, filepath.Join(outside, "big"), 5000)
	authSymlink(t, outside, filepath.Join(s("session-user_1_instance_live"), "Default", "link"))

	// Not session dirs.
	authMkdirs(t, s("not-a-session"), s("session-"), s("session"))
	authWriteFile(t, s("session-file"), 3)
	authSymlink(t, s("session-user_1_instance_live"), s("session-user_8_instance_link"))

	for _, name := range []string{"session-user_1_instance_live", "session-user_2_instance_dead"} {
		authChtimes(t, filepath.Join(fx.root, name), old)
		authChtimes(t, filepath.Join(fx.root, name, "Default"), old)
	}
	return fx
}

func authChtimes(t *testing.T, path string, tm time.Time) {
	t.Helper()
	if err := os.Chtimes(path, tm, tm); err != nil {
		t.Fatal(err)
	}
}

func TestScanAuthDirs(t *testing.T) {
	fx := makeAuthDirs(t)
	dirs, err := ScanAuthDirs(fx.root, authTestHost, authTestAlive)
	if err != nil {
		t.Fatalf("ScanAuthDirs: %v", err)
	}
	type lockWant struct {
		Name, Target, Host string
		PID                int
		Stale              bool
		Why                string
	}
	type dirWant struct {
		ID, Name    string
		Files       int
		Size        int64
		Profile     bool
		Empty       bool
		Locks       []lockWant
		WantModTime time.Time // checked when not zero
	}
	live, dead := fx.live, fx.dead
	want := []dirWant{
		{ID: "user_1_instance_live", Name: "session-user_1_instance_live", Files: 2, Size: 300, Profile: true, Locks: []lockWant{
			{"SingletonLock", fmt.Sprintf("%s-%d", authTestHost, live), authTestHost, live, false, fmt.Sprintf("held by pid %d, which is running", live)},
			{"SingletonSocket", "/tmp/.org.chromium.Chromium.live01/SingletonSocket", authTestHost, live, false, "its SingletonLock is not stale"},
			{"SingletonCookie", "1111111111", authTestHost, live, false, "its SingletonLock is not stale"},
		}},
		{ID: "user_2_instance_dead", Name: "session-user_2_instance_dead", Files: 1, Size: 10, Profile: true,
			WantModTime: time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC), Locks: []lockWant{
				{"SingletonLock", fmt.Sprintf("%s-%d", authTestHost, dead), authTestHost, dead, true, fmt.Sprintf("pid %d is not running", dead)},
				{"SingletonSocket", "/tmp/.org.chromium.Chromium.dead02/SingletonSocket", authTestHost, dead, true, fmt.Sprintf("its SingletonLock is stale: pid %d is not running", dead)},
				{"SingletonCookie", "2222222222", authTestHost, dead, true, fmt.Sprintf("its SingletonLock is stale: pid %d is not running", dead)},
			}},
		{ID: "user_3_instance_other", Name: "session_user_3_instance_other", Files: 1, Size: 5, Profile: true, Locks: []lockWant{
			{"SingletonLock", fmt.Sprintf("other-host-%d", live), "other-host", live, true, "held by host other-host"},
			{"SingletonCookie", "3333333333", "other-host", live, true, "its SingletonLock is stale: held by host other-host"},
		}},
		{ID: "user_4_instance_file", Name: "session-user_4_instance_file", Files: 2, Size: 13, Profile: true, Locks: []lockWant{
			{"SingletonLock", "", "", 0, false, "not a symlink: left alone"},
			{"SingletonSocket", "/tmp/.org.chromium.Chromium.file04/SingletonSocket", "", 0, false, "its SingletonLock is not a lock symlink: left alone"},
		}},
		{ID: "user_5_instance_empty", Name: "session-user_5_instance_empty", Empty: true,
			WantModTime: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)},
		{ID: "user_6_instance_orphan", Name: "session-user_6_instance_orphan", Profile: true, Empty: true, Locks: []lockWant{
			{"SingletonSocket", "/tmp/.org.chromium.Chromium.orph06/SingletonSocket", "", 0, false, "no SingletonLock beside it: harmless, left alone"},
		}},
		{ID: "user_7_instance_garbage", Name: "session-user_7_instance_garbage", Files: 1, Size: 1, Profile: true, Locks: []lockWant{
			{"SingletonLock", "garbage", "", 0, false, `unrecognized target "garbage": left alone`},
		}},
	}
	if len(dirs) != len(want) {
		var got []string
		for _, d := range dirs {
			got = append(got, d.Path)
		}
		t.Fatalf("ScanAuthDirs found %d dirs %q; want %d", len(dirs), got, len(want))
	}
	for i, w := range want {
		d := dirs[i]
		if d.SessionID != w.ID || d.Path != filepath.Join(fx.root, w.Name) || d.Files != w.Files || d.Size != w.Size ||
			d.HasProfile != w.Profile || d.Empty != w.Empty || d.Capped || d.WalkErr != "" {
			t.Errorf("dir %d = {ID %s, Path %s, Files %d, Size %d, Profile %v, Empty %v, Capped %v, WalkErr %q}; want {%s, %s, %d, %d, %v, %v, false, \"\"}",
				i, d.SessionID, d.Path, d.Files, d.Size, d.HasProfile, d.Empty, d.Capped, d.WalkErr,
				w.ID, filepath.Join(fx.root, w.Name), w.Files, w.Size, w.Profile, w.Empty)
		}
		if !w.WantModTime.IsZero() && !d.ModTime.Equal(w.WantModTime) {
			t.Errorf("dir %s ModTime = %v; want %v", w.ID, d.ModTime, w.WantModTime)
		}
		var got []lockWant
		for _, l := range d.Locks {
			if l.SessionID != w.ID || filepath.Dir(l.Path) != d.Path {
				t.Errorf("lock %s: SessionID %q, dir %q; want %q, %q", l.Path, l.SessionID, filepath.Dir(l.Path), w.ID, d.Path)
			}
			got = append(got, lockWant{filepath.Base(l.Path), l.Target, l.Host, l.PID, l.Stale, l.Why})
		}
		if !reflect.DeepEqual(got, w.Locks) {
			t.Errorf("dir %s locks =\n%+v\nwant\n%+v", w.ID, got, w.Locks)
		}
	}
}

func TestRemoveStaleLocks(t *testing.T) {
	fx := makeAuthDirs(t)
	dirs, err := ScanAuthDirs(fx.root, authTestHost, authTestAlive)
	if err != nil {
		t.Fatal(err)
	}
	// Everything under the auth dir before, by path and kind.
	before := authListTree(t, fx.root)

	removed, err := RemoveStaleLocks(dirs)
	if err != nil {
		t.Fatalf("RemoveStaleLocks: %v", err)
	}
	p := func(dir, name string) string { return filepath.Join(fx.root, dir, name) }
	want := []string{
		p("session-user_2_instance_dead", "SingletonLock"),
		p("session-user_2_instance_dead", "SingletonSocket"),
		p("session-user_2_instance_dead", "SingletonCookie"),
		p("session_user_3_instance_other", "SingletonLock"),
		p("session_user_3_instance_other", "SingletonCookie"),
	}
	if !slices.Equal(removed, want) {
		t.Errorf("RemoveStaleLocks removed\n%q\nwant\n%q", removed, want)
	}
	// Exactly those are gone; everything else is as it was.
	after := authListTree(t, fx.root)
	for path, kind := range before {
		_, gone := after[path]
		gone = !gone
		if gone != slices.Contains(want, path) {
			t.Errorf("%s (%s): gone = %v; want %v", path, kind, gone, !gone)
		}
		if !gone && after[path] != kind {
			t.Errorf("%s changed from %s to %s", path, kind, after[path])
		}
	}
	if len(after) != len(before)-len(want) {
		t.Errorf("tree has %d entries after; want %d", len(after), len(before)-len(want))
	}

	// A second run finds them gone: nothing removed, no error.
	removed, err = RemoveStaleLocks(dirs)
	if err != nil || len(removed) != 0 {
		t.Errorf("second RemoveStaleLocks = %q, %v; want nothing, no error", removed, err)
	}
}

// listTree maps every path under root (symlinks not followed) to its kind.
func authListTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		kind := "file"
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			kind = "symlink -> " + target
		case d.IsDir():
			kind = "dir"
		}
		out[path] = kind
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Between the scan and the removal, a new Chromium may take a lock or
// someone may put a file in its place: neither is removed, nor the
// companions of that dir.
func TestRemoveStaleLocksRechecks(t *testing.T) {
	fx := makeAuthDirs(t)
	dirs, err := ScanAuthDirs(fx.root, authTestHost, authTestAlive)
	if err != nil {
		t.Fatal(err)
	}
	p := func(dir, name string) string { return filepath.Join(fx.root, dir, name) }
	retaken := p("session-user_2_instance_dead", "SingletonLock")
	if err := os.Remove(retaken); err != nil {
		t.Fatal(err)
	}
	authSymlink(t, fmt.Sprintf("%s-%d", authTestHost, fx.live), retaken)
	replaced := p("session_user_3_instance_other", "SingletonLock")
	if err := os.Remove(replaced); err != nil {
		t.Fatal(err)
	}
	authWriteFile(t, replaced, 4)
	before := authListTree(t, fx.root)

	removed, err := RemoveStaleLocks(dirs)
	if err != nil || len(removed) != 0 {
		t.Errorf("RemoveStaleLocks = %q, %v; want nothing removed, no error", removed, err)
	}
	if after := authListTree(t, fx.root); !reflect.DeepEqual(after, before) {
		t.Errorf("the tree changed:\n%v\nwant\n%v", after, before)
	}
}

// A hand-made AuthDir cannot make it remove anything but a Singleton*
// symlink at the top of its own dir.
func TestRemoveStaleLocksRefuses(t *testing.T) {
	authSkipNoSymlinks(t)
	root := t.TempDir()
	dir := filepath.Join(root, "session-a")
	authMkdirs(t, filepath.Join(dir, "SingletonLock"), filepath.Join(root, "elsewhere")) // a directory named SingletonLock
	authSymlink(t, "h-1", filepath.Join(root, "elsewhere", "SingletonLock"))
	gone := filepath.Join(root, "session-b") // its lock is already gone
	authMkdirs(t, gone)
	authSymlink(t, "x", filepath.Join(gone, "NotALock"))
	before := authListTree(t, root)
	tests := []struct {
		name    string
		d       AuthDir
		wantErr bool
	}{
		{"a directory", AuthDir{Path: dir, Locks: []ChromiumLock{{Path: filepath.Join(dir, "SingletonLock"), Stale: true}}}, false},
		{"another dir's lock", AuthDir{Path: dir, Locks: []ChromiumLock{{Path: filepath.Join(root, "elsewhere", "SingletonLock"), Target: "h-1", Stale: true}}}, true},
		{"not a Singleton name", AuthDir{Path: gone, Locks: []ChromiumLock{
			{Path: filepath.Join(gone, "SingletonLock"), Target: "h-1", Stale: true},
			{Path: filepath.Join(gone, "NotALock"), Target: "x", Stale: true},
		}}, true},
		{"a companion without a stale lock", AuthDir{Path: filepath.Join(root, "elsewhere"), Locks: []ChromiumLock{
			{Path: filepath.Join(root, "elsewhere", "SingletonSocket"), Target: "h-1", Stale: true},
		}}, false},
		{"no path", AuthDir{Locks: []ChromiumLock{{Path: "SingletonLock", Target: "h-1", Stale: true}}}, true},
	}
	for _, tt := range tests {
		removed, err := RemoveStaleLocks([]AuthDir{tt.d})
		if len(removed) != 0 || (err != nil) != tt.wantErr {
			t.Errorf("%s: RemoveStaleLocks = %q, %v; want nothing removed, error %v", tt.name, removed, err, tt.wantErr)
		}
	}
	if after := authListTree(t, root); !reflect.DeepEqual(after, before) {
		t.Errorf("the tree changed:\n%v\nwant\n%v", after, before)
	}
}

func TestScanAuthDirsCap(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "session-big")
	for i := range 60 {
		authWriteFile(t, filepath.Join(d, "Default", fmt.Sprintf("sub%d", i%3), fmt.Sprintf("f%d", i)), 10)
	}
	dirs, err := scanAuthDirs(root, authTestHost, authTestAlive, 25)
	if err != nil || len(dirs) != 1 {
		t.Fatalf("scanAuthDirs = %v, %v; want one dir", dirs, err)
	}
	got := dirs[0]
	if !got.Capped || got.Empty || got.Files > 25 || got.Files == 0 || got.Size != int64(got.Files)*10 {
		t.Errorf("capped scan = {Capped %v, Empty %v, Files %d, Size %d}; want Capped, not Empty, 0 < Files <= 25, Size = 10*Files",
			got.Capped, got.Empty, got.Files, got.Size)
	}
	dirs, err = scanAuthDirs(root, authTestHost, authTestAlive, AuthDirMaxEntries)
	if err != nil || dirs[0].Capped || dirs[0].Files != 60 || dirs[0].Size != 600 {
		t.Errorf("full scan = %+v, %v; want 60 files, 600 bytes, not capped", dirs[0], err)
	}
}

func TestScanAuthDirsErrors(t *testing.T) {
	root := t.TempDir()
	if dirs, err := ScanAuthDirs(filepath.Join(root, "missing"), authTestHost, authTestAlive); !errors.Is(err, fs.ErrNotExist) || dirs != nil {
		t.Errorf("ScanAuthDirs(missing) = %v, %v; want nil, fs.ErrNotExist", dirs, err)
	}
	file := filepath.Join(root, "file")
	authWriteFile(t, file, 1)
	if _, err := ScanAuthDirs(file, authTestHost, authTestAlive); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ScanAuthDirs(file) error = %v; want a not-a-directory error", err)
	}
	if _, err := ScanAuthDirs(root, authTestHost, nil); err == nil {
		t.Errorf("ScanAuthDirs(alive nil) error = nil; want an error")
	}
	if dirs, err := ScanAuthDirs(root, authTestHost, authTestAlive); err != nil || len(dirs) != 0 {
		t.Errorf("ScanAuthDirs(no sessions) = %v, %v; want none, no error", dirs, err)
	}
}

// The configured auth dir may itself be a symlink; an unknown host name
// makes no lock stale.
func TestScanAuthDirsSymlinkedRootUnknownHost(t *testing.T) {
	authSkipNoSymlinks(t)
	real := filepath.Join(t.TempDir(), "real")
	d := filepath.Join(real, "session-a")
	authMkdirs(t, d)
	authSymlink(t, fmt.Sprintf("%s-%d", authTestHost, authDeadPID(t)), filepath.Join(d, "SingletonLock"))
	link := filepath.Join(t.TempDir(), "auth")
	authSymlink(t, real, link)
	dirs, err := ScanAuthDirs(link, "", authTestAlive)
	if err != nil || len(dirs) != 1 || len(dirs[0].Locks) != 1 {
		t.Fatalf("ScanAuthDirs(symlinked root) = %+v, %v; want one dir with one lock", dirs, err)
	}
	if l := dirs[0].Locks[0]; l.Stale || l.Why != "this host's name is unknown: left alone" {
		t.Errorf("lock with unknown host = %+v; want not stale", l)
	}
}

func TestJudgeChromiumLock(t *testing.T) {
	alive := func(pid int) bool { return pid == 42 }
	tests := []struct {
		target, host string
		wantHost     string
		wantPID      int
		wantStale    bool
		wantWhy      string
	}{
		{"build-host-42", "build-host", "build-host", 42, false, "held by pid 42, which is running"},
		{"BUILD-HOST-42", "build-host", "BUILD-HOST", 42, false, "held by pid 42, which is running"},
		{"build-host-43", "build-host", "build-host", 43, true, "pid 43 is not running"},
		{"other-42", "build-host", "other", 42, true, "held by host other"},
		{"-42", "build-host", "", 0, false, `unrecognized target "-42": left alone`},
		{"build-host-", "build-host", "", 0, false, `unrecognized target "build-host-": left alone`},
		{"build-host-0", "build-host", "", 0, false, `unrecognized target "build-host-0": left alone`},
		{"build-host-x1", "build-host", "", 0, false, `unrecognized target "build-host-x1": left alone`},
	}
	for _, tt := range tests {
		h, pid, stale, why := judgeChromiumLock(tt.target, tt.host, alive)
		if h != tt.wantHost || pid != tt.wantPID || stale != tt.wantStale || why != tt.wantWhy {
			t.Errorf("judgeChromiumLock(%q, %q) = %q, %d, %v, %q; want %q, %d, %v, %q",
				tt.target, tt.host, h, pid, stale, why, tt.wantHost, tt.wantPID, tt.wantStale, tt.wantWhy)
		}
	}
}

func TestBuildSessionsReport(t *testing.T) {
	stale := ChromiumLock{SessionID: "b", Path: "/a/session-b/SingletonLock", Stale: true, Why: "pid 9 is not running"}
	dirs := []AuthDir{
		{SessionID: "a", Path: "/a/session-a", Files: 3},
		{SessionID: "b", Path: "/a/session-b", Files: 1, Locks: []ChromiumLock{stale, {SessionID: "b", Path: "/a/session-b/SingletonCookie"}}},
		{SessionID: "c", Path: "/a/session-c", Empty: true},
		{SessionID: "d", Path: "/a/session-d", Empty: true},
		{SessionID: "d", Path: "/a/session_d", Files: 2},
		{SessionID: "z", Path: "/a/session-z", Files: 2},
	}
	r := Restoration{Found: 5, Complete: true, Total: 5, Sessions: []SessionOutcome{
		{ID: "a", Result: SessionRestored}, {ID: "b", Result: SessionFailed},
		{ID: "c", Result: SessionFailed}, {ID: "d", Result: SessionRestored}, {ID: "e", Result: SessionError},
	}}
	tests := []struct {
		name         string
		r            Restoration
		haveR        bool
		wantMissing  []string
		wantUnlisted []string
	}{
		{"complete", r, true, []string{"c", "e"}, []string{"z"}},
		{"no restoration", Restoration{Found: -1, Total: -1}, false, nil, nil},
		{"truncated: no unlisted", func() Restoration { t := r; t.Truncated = true; return t }(), true, []string{"c", "e"}, nil},
		{"incomplete: no unlisted", func() Restoration { t := r; t.Complete = false; return t }(), true, []string{"c", "e"}, nil},
	}
	for _, tt := range tests {
		rep := BuildSessionsReport(tt.r, tt.haveR, dirs)
		if !slices.Equal(rep.MissingAuth, tt.wantMissing) || !slices.Equal(rep.Unlisted, tt.wantUnlisted) {
			t.Errorf("%s: MissingAuth %q, Unlisted %q; want %q, %q", tt.name, rep.MissingAuth, rep.Unlisted, tt.wantMissing, tt.wantUnlisted)
		}
		if len(rep.StaleLocks) != 1 || rep.StaleLocks[0] != stale {
			t.Errorf("%s: StaleLocks = %+v; want [%+v]", tt.name, rep.StaleLocks, stale)
		}
		if rep.HaveRestoration != tt.haveR || len(rep.AuthDirs) != len(dirs) {
			t.Errorf("%s: HaveRestoration %v, %d dirs; want %v, %d", tt.name, rep.HaveRestoration, len(rep.AuthDirs), tt.haveR, len(dirs))
		}
	}

	rep := BuildSessionsReport(r, true, dirs)
	for _, tt := range []struct {
		id       string
		wantPath string
		wantOK   bool
	}{{"a", "/a/session-a", true}, {"c", "/a/session-c", true}, {"d", "/a/session_d", true}, {"e", "", false}} {
		d, ok := rep.AuthDirFor(tt.id)
		if d.Path != tt.wantPath || ok != tt.wantOK {
			t.Errorf("AuthDirFor(%q) = %q, %v; want %q, %v", tt.id, d.Path, ok, tt.wantPath, tt.wantOK)
		}
	}
}

// An auth dir, or a session entry, that is a symlink out of the service's
// dir is not followed: the stale lock in another user's profile is neither
// judged nor removed.
func TestScanServiceAuthDirsRefusesSymlinksOut(t *testing.T) {
	authSkipNoSymlinks(t)
	root := t.TempDir()
	svc := filepath.Join(root, "svc")
	other := filepath.Join(root, "other")
	victim := filepath.Join(other, "session-victim")
	authMkdirs(t, svc, victim)
	dead := fmt.Sprintf("%s-%d", authTestHost, authDeadPID(t))
	authSymlink(t, dead, filepath.Join(victim, "SingletonLock"))

	// The auth dir itself leads out.
	auth := filepath.Join(svc, ".wwebjs_auth")
	authSymlink(t, other, auth)
	dirs, err := ScanServiceAuthDirs(svc, auth, authTestHost, authTestAlive)
	if want := ".wwebjs_auth is a symlink out of the service's dir (to " + other + "): refused"; err == nil || usererr.Message(err) != want {
		t.Errorf("ScanServiceAuthDirs(auth dir -> outside) = %+v, %v (%q); want refused with %q", dirs, err, usererr.Message(err), want)
	}
	if removed, _ := RemoveStaleLocks(dirs); len(removed) != 0 {
		t.Errorf("RemoveStaleLocks removed %v outside the service's dir", removed)
	}

	// A session entry leads out; a real session beside it is scanned.
	if err := os.Remove(auth); err != nil {
		t.Fatal(err)
	}
	authMkdirs(t, filepath.Join(auth, "session-real"))
	authSymlink(t, victim, filepath.Join(auth, "session-victim"))
	dirs, err = ScanServiceAuthDirs(svc, auth, authTestHost, authTestAlive)
	if err != nil || len(dirs) != 1 || dirs[0].SessionID != "real" {
		t.Fatalf("ScanServiceAuthDirs(entry -> outside) = %+v, %v; want session-real only", dirs, err)
	}

	// A symlink that stays inside the service's dir is followed.
	inside := filepath.Join(svc, "auth-inside")
	authSymlink(t, ".wwebjs_auth", inside)
	if dirs, err := ScanServiceAuthDirs(svc, inside, authTestHost, authTestAlive); err != nil || len(dirs) != 1 {
		t.Errorf("ScanServiceAuthDirs(symlink inside) = %+v, %v; want session-real", dirs, err)
	}
	// An auth dir configured outside the service's dir is the operator's
	// choice, but not a symlink there.
	outLink := filepath.Join(root, "auth-link")
	authSymlink(t, other, outLink)
	if _, err := ScanServiceAuthDirs(svc, outLink, authTestHost, authTestAlive); err == nil {
		t.Errorf("ScanServiceAuthDirs(outside, a symlink) = nil error; want refused")
	}
	if dirs, err := ScanServiceAuthDirs(svc, other, authTestHost, authTestAlive); err != nil || len(dirs) != 1 {
		t.Errorf("ScanServiceAuthDirs(outside, a dir) = %+v, %v; want session-victim", dirs, err)
	}
	if _, err := os.Lstat(filepath.Join(victim, "SingletonLock")); err != nil {
		t.Errorf("the victim's lock: %v; want it left in place", err)
	}
}
