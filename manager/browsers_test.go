//go:build !windows

package manager

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/whatsapp"
)

// TestChromiumTrees finds the trees of real Chromium argv (no --type on the
// browser, chrome_crashpad_handler by name, reparented to init) and of the
// older stand-in (--type=browser), among members only.
func TestChromiumTrees(t *testing.T) {
	auth := filepath.FromSlash("/srv/wa/.wwebjs_auth")
	prof := func(id string) string { return filepath.Join(auth, "session-"+id) }
	type proc struct {
		pid, ppid int32
		argv      []string
		member    bool
		rss       uint64
	}
	procs := []proc{
		{100, 1, []string{"npm", "start"}, true, 10},
		{101, 100, []string{"sh", "-c", "node src/server.js"}, true, 1},
		{102, 101, []string{"node", "src/server.js"}, true, 50},
		// Session a: real Chromium.
		{200, 102, []string{"/usr/lib/chromium/chromium", "--headless=new", "--user-data-dir=" + prof("a"), "about:blank"}, true, 300},
		{201, 200, []string{"/usr/lib/chromium/chromium --type=zygote --no-zygote-sandbox"}, true, 40},
		{202, 201, []string{"/usr/lib/chromium/chromium --type=renderer"}, true, 200},
		{203, 200, []string{"/usr/lib/chromium/chromium", "--type=gpu-process", "--user-data-dir=" + prof("a")}, true, 60},
		{204, 1, []string{"/usr/lib/chromium/chrome_crashpad_handler", "--monitor-self-annotation=ptype=crashpad-handler",
			"--database=" + prof("a") + "/Crash Reports"}, true, 5},
		{205, 1, []string{"/usr/lib/chromium/chrome_crashpad_handler", "--no-periodic-tasks",
			"--database=" + prof("a") + "/Crash Reports"}, true, 5},
		// Session b: the older stand-in.
		{300, 102, []string{"node", "fake-chromium.js", "--type=browser", "--user-data-dir=" + prof("b")}, true, 30},
		{301, 300, []string{"node", "fake-chromium.js", "--type=renderer", "--user-data-dir=" + prof("b")}, true, 20},
		{302, 1, []string{"node", "fake-chromium.js", "--type=crashpad-handler", "--user-data-dir=" + prof("b")}, true, 3},
		// A stray: a profile outside the auth dir.
		{400, 102, []string{"/usr/lib/chromium/chromium", "--user-data-dir=/tmp/puppeteer_dev_profile-x"}, true, 100},
		// An orphan crash handler whose browser is gone (session c).
		{500, 1, []string{"/usr/lib/chromium/chrome_crashpad_handler", "--database=" + prof("c") + "/Crash Reports"}, true, 4},
		// Not members: another Chromium with session a's profile, and its
		// crash handler; never looked at.
		{600, 1, []string{"/usr/lib/chromium/chromium", "--user-data-dir=" + prof("a")}, false, 999},
		{601, 1, []string{"/usr/lib/chromium/chrome_crashpad_handler", "--database=" + prof("a") + "/Crash Reports"}, false, 999},
	}
	tab := &procTable{byPID: map[int32]*procEntry{}, children: map[int32][]int32{}, self: map[int32]bool{}}
	snap := snapshot{tab: tab, members: map[int32]string{}}
	var described []Process
	args := map[int32]whatsapp.ChromiumArgs{}
	started := time.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC)
	for _, p := range procs {
		tab.byPID[p.pid] = &procEntry{pid: p.pid, ppid: p.ppid, pgid: p.pid, created: started}
		tab.children[p.ppid] = append(tab.children[p.ppid], p.pid)
		if !p.member {
			continue
		}
		snap.members[p.pid] = "marker"
		described = append(described, Process{PID: p.pid, PPID: p.ppid, RSS: p.rss, Started: started})
		if a, ok := whatsapp.ParseChromiumArgs(p.argv); ok || a.Type != "" || a.Crashpad {
			args[p.pid] = a
		}
	}
	got := chromiumTrees(snap, described, args, []string{auth})
	want := []whatsapp.Browser{
		{SessionID: "", UserDataDir: "/tmp/puppeteer_dev_profile-x", PID: 400, Started: started, PIDs: []int32{400}, RSS: 100},
		{SessionID: "a", UserDataDir: prof("a"), PID: 200, Started: started, PIDs: []int32{200, 201, 202, 203, 204, 205}, RSS: 610},
		{SessionID: "b", UserDataDir: prof("b"), PID: 300, Started: started, PIDs: []int32{300, 301, 302}, RSS: 53},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("trees =\n  %+v\nwant\n  %+v", got, want)
	}
	roles := map[int32][2]string{}
	for _, p := range described {
		roles[p.PID] = [2]string{p.Session, p.Chromium}
	}
	wantRoles := map[int32][2]string{
		100: {"", ""}, 101: {"", ""}, 102: {"", ""},
		200: {"a", "browser"}, 201: {"a", "zygote"}, 202: {"a", "renderer"}, 203: {"a", "gpu-process"},
		204: {"a", "crashpad-handler"}, 205: {"a", "crashpad-handler"},
		300: {"b", "browser"}, 301: {"b", "renderer"}, 302: {"b", "crashpad-handler"},
		400: {"", "browser"}, 500: {"c", "crashpad-handler"},
	}
	if !reflect.DeepEqual(roles, wantRoles) {
		t.Errorf("session and role of each process =\n  %v\nwant\n  %v", roles, wantRoles)
	}
}

func TestStopBegan(t *testing.T) {
	at := func(s int) time.Time {
		return time.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC).Add(time.Duration(s) * time.Second)
	}
	r := whatsapp.Restoration{StartedAt: at(10)}
	stop := &ActionRecord{Action: ActionStop, At: at(30), Duration: 5 * time.Second}
	tests := []struct {
		name     string
		r        whatsapp.Restoration
		run      time.Time // when the run began
		last     *ActionRecord
		busy     *BusyError
		exitedAt time.Time
		want     time.Time
	}{
		{"nothing", r, time.Time{}, nil, nil, time.Time{}, time.Time{}},
		{"a stop: when it began", r, time.Time{}, stop, nil, time.Time{}, at(25)},
		{"a restart: its stop", r, time.Time{}, &ActionRecord{Action: ActionRestart, At: at(40), Duration: 2 * time.Second}, nil, time.Time{}, at(38)},
		{"a start is no stop", r, time.Time{}, &ActionRecord{Action: ActionStart, At: at(40)}, nil, time.Time{}, time.Time{}},
		{"a stop under way", r, time.Time{}, nil, &BusyError{Action: ActionStop, Since: at(20)}, time.Time{}, at(20)},
		{"a cleanup under way is no stop", r, time.Time{}, nil, &BusyError{Action: ActionCleanup, Since: at(20)}, time.Time{}, time.Time{}},
		{"the exit seen", r, time.Time{}, nil, nil, at(15), at(15)},
		{"the first after the restoration began", r, time.Time{}, stop, nil, at(28), at(25)},
		{"a stop before the restoration is another run's", r, time.Time{}, &ActionRecord{Action: ActionStop, At: at(5), Duration: time.Second}, nil, at(28), at(28)},
		{"same second as the restoration's start counts", whatsapp.Restoration{StartedAt: at(25)}, time.Time{}, stop, nil, time.Time{}, at(25)},
		{"no restoration start", whatsapp.Restoration{}, time.Time{}, stop, nil, at(28), time.Time{}},
		{"a stop in the restoration's first second but before its run began is the previous run's",
			whatsapp.Restoration{StartedAt: at(25)}, at(25).Add(700 * time.Millisecond), &ActionRecord{Action: ActionStop, At: at(25).Add(500 * time.Millisecond), Duration: 200 * time.Millisecond}, nil, time.Time{}, time.Time{}},
		{"a stop after the run began counts", whatsapp.Restoration{StartedAt: at(25)}, at(20), stop, nil, time.Time{}, at(25)},
	}
	for _, tc := range tests {
		if got := stopBegan(tc.r, tc.run, tc.last, tc.busy, tc.exitedAt); !got.Equal(tc.want) {
			t.Errorf("%s: stopBegan = %v; want %v", tc.name, got, tc.want)
		}
	}
}
