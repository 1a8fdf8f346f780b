package whatsapp

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// svT is a time of the tests' restoration: 16:12:00 plus s seconds.
func svT(s int) time.Time {
	return time.Date(2026, 11, 28, 16, 12, 0, 0, time.UTC).Add(time.Duration(s) * time.Second)
}

func svDir(id string, files int) AuthDir {
	return AuthDir{SessionID: id, Path: "/srv/wa/.wwebjs_auth/session-" + id, ModTime: svT(-3600), Size: int64(files) * 100,
		Files: files, Empty: files == 0}
}

func svSnap(dirs ...AuthDir) AuthSnapshot { return TakeAuthSnapshot(svT(-1), dirs) }

func svBrowser(id string, pid int32) Browser {
	return Browser{SessionID: id, UserDataDir: "/srv/wa/.wwebjs_auth/session-" + id, PID: pid, PIDs: []int32{pid, pid + 1}, RSS: 1 << 20}
}

// running is a restoration under way: A ready, B restoring, found 3.
func svRunning(found int, sessions ...SessionOutcome) Restoration {
	return Restoration{StartedAt: svT(0), Found: found, Total: -1, Sessions: sessions}
}

func svDone(sessions ...SessionOutcome) Restoration {
	return Restoration{StartedAt: svT(0), Found: len(sessions), Total: -1, Complete: true, Sessions: sessions, CompletedAt: svT(30)}
}

var (
	svReady     = SessionOutcome{ID: "A", Instance: "main", Result: SessionRestored, Connection: ConnectionReady, At: svT(3)}
	svRestoring = SessionOutcome{ID: "B", Instance: "sales", Result: SessionRestoring, At: svT(5)}
	svFailed    = SessionOutcome{ID: "B", Result: SessionFailed, Cause: "net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/", At: svT(8)}
	svDetached  = SessionOutcome{ID: "B", Result: SessionError, Cause: "Navigating frame was detached", At: svT(20)}
	svQR        = SessionOutcome{ID: "C", Result: SessionRestored, Connection: ConnectionQR, At: svT(9)}
	svLoggedOut = SessionOutcome{ID: "D", Result: SessionRestored, Connection: ConnectionLoggedOut, Cause: "LOGOUT", At: svT(10)}
)

// svState is one session's expected view, in brief.
type svState struct {
	ID         string
	State      SessionState
	Idle       bool
	AuthBefore AuthState
}

func svStates(r SessionsReport) []svState {
	var out []svState
	for _, v := range r.Sessions {
		out = append(out, svState{ID: v.ID, State: v.State, Idle: v.Idle, AuthBefore: v.AuthBefore.State})
	}
	return out
}

func TestJoinSessions(t *testing.T) {
	all := []AuthDir{svDir("A", 3), svDir("B", 3), svDir("C", 3)}
	tests := []struct {
		name string
		in   SessionsInput
		want []svState
		// checks of the report beyond the sessions
		interrupted bool
		missing     []string
		unlisted    []string
		strays      int
		unnamed     int
		kind        map[string]CauseKind
		stopBegan   time.Time
	}{
		{
			name: "restoration under way: a session the log has not reached is not begun, from the snapshot",
			in: SessionsInput{Restoration: svRunning(3, svReady, svRestoring), HaveRestoration: true,
				Before: svSnap(all...), Dirs: all, Running: true},
			want: []svState{{"A", SessionReady, false, AuthPresent}, {"B", SessionInRestore, false, AuthPresent},
				{"C", SessionNotBegun, false, AuthPresent}},
		},
		{
			name: "found more than anyone names: unnamed",
			in: SessionsInput{Restoration: svRunning(5, svReady, svRestoring), HaveRestoration: true,
				Before: svSnap(all...), Dirs: all, Running: true},
			want: []svState{{"A", SessionReady, false, AuthPresent}, {"B", SessionInRestore, false, AuthPresent},
				{"C", SessionNotBegun, false, AuthPresent}},
			unnamed: 2,
		},
		{
			name: "no snapshot: nothing is known to be not begun",
			in: SessionsInput{Restoration: svRunning(3, svReady, svRestoring), HaveRestoration: true,
				Dirs: all, Running: true},
			want: []svState{{"A", SessionReady, false, AuthUnknown}, {"B", SessionInRestore, false, AuthUnknown},
				{"C", SessionUnknown, false, AuthUnknown}},
			unnamed: 1,
		},
		{
			name: "stopped during the restoration: interrupted, restoring and not begun alike",
			in: SessionsInput{Restoration: svRunning(3, svReady, svRestoring), HaveRestoration: true,
				Before: svSnap(all...), Dirs: all, Browsers: []Browser{svBrowser("B", 200)}, Running: false, StopBegan: svT(15)},
			want: []svState{{"A", SessionReady, false, AuthPresent}, {"B", SessionInterrupted, true, AuthPresent},
				{"C", SessionInterrupted, false, AuthPresent}},
			interrupted: true,
			stopBegan:   svT(15),
		},
		{
			name: "a stop before this restoration began (the restart's) interrupts nothing",
			in: SessionsInput{Restoration: svRunning(3, svReady, svRestoring), HaveRestoration: true,
				Before: svSnap(all...), Dirs: all, Running: true, StopBegan: svT(-60)},
			want: []svState{{"A", SessionReady, false, AuthPresent}, {"B", SessionInRestore, false, AuthPresent},
				{"C", SessionNotBegun, false, AuthPresent}},
		},
		{
			name: "the service gone mid-restoration without a stop: interrupted all the same, no stop time",
			in: SessionsInput{Restoration: svRunning(3, svReady, svRestoring), HaveRestoration: true,
				Before: svSnap(all...), Dirs: all, Running: false, StopBegan: svT(-60)},
			want: []svState{{"A", SessionReady, false, AuthPresent}, {"B", SessionInterrupted, false, AuthPresent},
				{"C", SessionInterrupted, false, AuthPresent}},
			interrupted: true,
		},
		{
			name: "a failure after the stop began is the stop's doing: interrupted",
			in: SessionsInput{Restoration: svRunning(3, svReady, svDetached), HaveRestoration: true,
				Before: svSnap(all...), Dirs: all, Running: false, StopBegan: svT(19)},
			want: []svState{{"A", SessionReady, false, AuthPresent}, {"B", SessionInterrupted, false, AuthPresent},
				{"C", SessionInterrupted, false, AuthPresent}},
			interrupted: true,
			kind:        map[string]CauseKind{"B": CauseBrowserGone},
			stopBegan:   svT(19),
		},
		{
			name: "a failure before the stop stays a failure",
			in: SessionsInput{Restoration: svDone(svReady, svFailed), HaveRestoration: true,
				Before: svSnap(all...), Dirs: all, Running: false, StopBegan: svT(60)},
			want: []svState{{"A", SessionReady, false, AuthPresent}, {"B", SessionFailedState, false, AuthPresent},
				{"C", SessionUnlisted, false, AuthPresent}},
			unlisted:  []string{"C"},
			kind:      map[string]CauseKind{"B": CauseDNS},
			stopBegan: svT(60),
		},
		{
			name: "idle: browsers of failed, logged out and unlisted sessions; not of ready or QR ones",
			in: SessionsInput{Restoration: svDone(svReady, svFailed, svQR, svLoggedOut), HaveRestoration: true,
				Before: svSnap(all...), Dirs: append(all, svDir("E", 2)), Running: true,
				Browsers: []Browser{svBrowser("E", 500), svBrowser("D", 400), svBrowser("C", 300), svBrowser("B", 200), svBrowser("A", 100)}},
			want: []svState{{"A", SessionReady, false, AuthPresent}, {"B", SessionFailedState, true, AuthPresent},
				{"C", SessionNeedsQR, false, AuthPresent}, {"D", SessionLoggedOut, true, AuthMissing},
				{"E", SessionUnlisted, true, AuthMissing}},
			missing:  []string{"D"},
			unlisted: []string{"E"},
			kind:     map[string]CauseKind{"B": CauseDNS, "D": CauseLoggedOut},
		},
		{
			name: "missing auth is judged from the snapshot, not from now (Chromium made the dir since)",
			in: SessionsInput{Restoration: svDone(svReady, svFailed), HaveRestoration: true,
				Before: svSnap(svDir("B", 3)), Dirs: []AuthDir{svDir("A", 4), svDir("B", 3)}, Running: true},
			want:    []svState{{"A", SessionReady, false, AuthMissing}, {"B", SessionFailedState, false, AuthPresent}},
			missing: []string{"A"},
			kind:    map[string]CauseKind{"B": CauseDNS},
		},
		{
			name: "an empty dir before the start is missing auth too",
			in: SessionsInput{Restoration: svDone(svReady), HaveRestoration: true,
				Before: svSnap(svDir("A", 0)), Dirs: []AuthDir{svDir("A", 4)}, Running: true},
			want:    []svState{{"A", SessionReady, false, AuthEmpty}},
			missing: []string{"A"},
		},
		{
			name: "without a snapshot, missing auth is judged from now",
			in: SessionsInput{Restoration: svDone(svReady, svFailed), HaveRestoration: true,
				Dirs: []AuthDir{svDir("B", 3)}, Running: true},
			want:    []svState{{"A", SessionReady, false, AuthUnknown}, {"B", SessionFailedState, false, AuthUnknown}},
			missing: []string{"A"},
			kind:    map[string]CauseKind{"B": CauseDNS},
		},
		{
			name: "a failure without a reason",
			in: SessionsInput{Restoration: svDone(SessionOutcome{ID: "B", Result: SessionFailed, Cause: "undefined", At: svT(8)}),
				HaveRestoration: true, Before: svSnap(svDir("B", 3)), Dirs: []AuthDir{svDir("B", 3)}, Running: true},
			want: []svState{{"B", SessionFailedState, false, AuthPresent}},
			kind: map[string]CauseKind{"B": CauseNoReason},
		},
		{
			name: "strays: a browser whose profile is no session's is nobody's",
			in: SessionsInput{Restoration: svDone(svReady), HaveRestoration: true, Before: svSnap(svDir("A", 3)),
				Dirs: []AuthDir{svDir("A", 3)}, Running: true,
				Browsers: []Browser{{UserDataDir: "/tmp/puppeteer_dev_profile-x", PID: 900, PIDs: []int32{900}}, svBrowser("A", 100)}},
			want:   []svState{{"A", SessionReady, false, AuthPresent}},
			strays: 1,
		},
		{
			name: "no restoration in the log: profiles and browsers, state unknown",
			in: SessionsInput{Dirs: []AuthDir{svDir("A", 3)}, Running: true,
				Browsers: []Browser{svBrowser("Z", 100)}},
			want: []svState{{"A", SessionUnknown, false, AuthUnknown}, {"Z", SessionUnknown, false, AuthUnknown}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := JoinSessions(tc.in)
			if got := svStates(rep); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("sessions =\n  %+v\nwant\n  %+v", got, tc.want)
			}
			if rep.Interrupted != tc.interrupted {
				t.Errorf("interrupted = %v; want %v", rep.Interrupted, tc.interrupted)
			}
			if !reflect.DeepEqual(rep.MissingAuth, tc.missing) {
				t.Errorf("missing auth = %v; want %v", rep.MissingAuth, tc.missing)
			}
			if !reflect.DeepEqual(rep.Unlisted, tc.unlisted) {
				t.Errorf("unlisted = %v; want %v", rep.Unlisted, tc.unlisted)
			}
			if len(rep.Strays) != tc.strays {
				t.Errorf("strays = %+v; want %d", rep.Strays, tc.strays)
			}
			if !rep.StopBegan.Equal(tc.stopBegan) {
				t.Errorf("stop began = %v; want %v", rep.StopBegan, tc.stopBegan)
			}
			if rep.Unnamed != tc.unnamed {
				t.Errorf("unnamed = %d; want %d", rep.Unnamed, tc.unnamed)
			}
			for id, want := range tc.kind {
				if v, _ := rep.Session(id); v.CauseKind != want {
					t.Errorf("%s: cause kind %q (cause %q); want %q", id, v.CauseKind, v.Cause, want)
				}
			}
			// Every browser of a session is on its view, and the idle
			// ones are exactly the idle sessions' browsers.
			var idle []int32
			for _, v := range rep.Sessions {
				b, ok := svBrowserOf(tc.in.Browsers, v.ID)
				if ok != (v.Browser != nil) || (ok && v.Browser.PID != b.PID) {
					t.Errorf("%s: browser %+v; want %+v", v.ID, v.Browser, b)
				}
				if v.Idle {
					idle = append(idle, v.Browser.PID)
				}
			}
			var got []int32
			for _, b := range rep.IdleBrowsers() {
				got = append(got, b.PID)
			}
			if !reflect.DeepEqual(got, idle) {
				t.Errorf("idle browsers = %v; want %v", got, idle)
			}
			if RSS(rep.IdleBrowsers()) != uint64(len(idle))<<20 {
				t.Errorf("RSS of idle browsers = %d", RSS(rep.IdleBrowsers()))
			}
			for i := 1; i < len(rep.Browsers); i++ {
				if rep.Browsers[i-1].SessionID > rep.Browsers[i].SessionID {
					t.Errorf("browsers not by session: %+v", rep.Browsers)
				}
			}
		})
	}
}

func svBrowserOf(bs []Browser, id string) (Browser, bool) {
	for _, b := range bs {
		if b.SessionID == id {
			return b, true
		}
	}
	return Browser{}, false
}

func TestAuthSnapshot(t *testing.T) {
	s := TakeAuthSnapshot(svT(0), []AuthDir{
		{SessionID: "B", Files: 0, Empty: true},
		{SessionID: "A", Files: 2, Size: 10, ModTime: svT(-5)},
		{SessionID: "A", Files: 0, Empty: true, ModTime: svT(-1)}, // session_A beside session-A
		{SessionID: "C", Files: 3, Size: 7, Capped: true},
	})
	want := []AuthEntry{
		{SessionID: "A", State: AuthPresent, ModTime: svT(-1), Size: 10, Files: 2},
		{SessionID: "B", State: AuthEmpty},
		{SessionID: "C", State: AuthPresent, Size: 7, Files: 3, Capped: true},
	}
	if !reflect.DeepEqual(s.Entries, want) {
		t.Errorf("entries = %+v; want %+v", s.Entries, want)
	}
	if got := s.Of("Z").State; got != AuthMissing {
		t.Errorf("Of(unknown) = %s; want missing in a taken snapshot", got)
	}
	if got := (AuthSnapshot{}).Of("A").State; got != AuthUnknown {
		t.Errorf("Of in no snapshot = %s; want unknown", got)
	}
	if got := (AuthSnapshot{At: svT(0), Failed: true}).Of("A").State; got != AuthUnknown {
		t.Errorf("Of in a failed snapshot = %s; want unknown", got)
	}
	if empty := TakeAuthSnapshot(svT(0), nil); !empty.Taken() || empty.Of("A").State != AuthMissing {
		t.Errorf("snapshot of no dir = %+v; want taken, every session missing", empty)
	}
}

func TestParseChromiumArgs(t *testing.T) {
	const profile = "/srv/wa/.wwebjs_auth/session-user_12_instance_main"
	tests := []struct {
		name    string
		argv    []string
		want    ChromiumArgs
		ok      bool
		browser bool
	}{
		{"real browser: no --type", []string{"/usr/lib/chromium/chromium", "--allow-pre-commit-input", "--headless=new",
			"--remote-debugging-port=0", "--user-data-dir=" + profile, "about:blank"},
			ChromiumArgs{UserDataDir: profile}, true, true},
		{"stand-in browser: --type=browser", []string{"/usr/bin/node", "/srv/wa/src/fake-chromium.js", "--type=browser", "--user-data-dir=" + profile},
			ChromiumArgs{Type: "browser", UserDataDir: profile}, true, true},
		{"renderer", []string{"/usr/lib/chromium/chromium", "--type=renderer", "--user-data-dir=" + profile, "--renderer-client-id=5"},
			ChromiumArgs{Type: "renderer", UserDataDir: profile}, true, false},
		{"renderer without a profile", []string{"/usr/lib/chromium/chromium", "--type=renderer", "--renderer-client-id=5"},
			ChromiumArgs{Type: "renderer"}, false, false},
		{"zygote with its title rewritten into one string", []string{"/usr/lib/chromium/chromium --type=zygote --no-zygote-sandbox --user-data-dir=" + profile},
			ChromiumArgs{Type: "zygote", UserDataDir: profile}, true, false},
		{"crash handler by name", []string{"/usr/lib/chromium/chrome_crashpad_handler", "--monitor-self-annotation=ptype=crashpad-handler",
			"--database=" + profile + "/Crash Reports", "--url=https://clients2.google.com/cr/report"},
			ChromiumArgs{Database: profile + "/Crash Reports", Crashpad: true}, true, false},
		{"crash handler by type", []string{"/usr/bin/node", "/srv/wa/src/fake-chromium.js", "--type=crashpad-handler", "--database=" + profile + "/Crash Reports"},
			ChromiumArgs{Type: "crashpad-handler", Database: profile + "/Crash Reports", Crashpad: true}, true, false},
		{"crash handler with a profile flag is no browser", []string{"/usr/lib/chromium/chrome_crashpad_handler", "--user-data-dir=" + profile},
			ChromiumArgs{UserDataDir: profile, Crashpad: true}, true, false},
		{"node", []string{"node", "src/server.js"}, ChromiumArgs{}, false, false},
		{"nothing", nil, ChromiumArgs{}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseChromiumArgs(tc.argv)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ParseChromiumArgs = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
			if got.Browser() != tc.browser {
				t.Errorf("Browser() = %v; want %v", got.Browser(), tc.browser)
			}
		})
	}
}

func TestSessionOfPath(t *testing.T) {
	const auth = "/srv/wa/.wwebjs_auth"
	tests := []struct {
		auth, path string
		id         string
		ok         bool
	}{
		{auth, auth + "/session-user_12_instance_main", "user_12_instance_main", true},
		{auth, auth + "/session_user_12_instance_main", "user_12_instance_main", true},
		{auth + "/", auth + "/session-a/", "a", true},
		{auth, auth + "/session-a/Crash Reports", "a", true},
		{auth, auth + "/session-a/../session-b/Default", "b", true},
		{auth, auth, "", false},
		{auth, auth + "/session-", "", false},
		{auth, auth + "/Default", "", false},
		{auth, auth + "x/session-a", "", false},
		{auth, "/srv/wa/session-a", "", false},
		{auth, auth + "/session-a/../../etc", "", false},
		{auth, ".wwebjs_auth/session-a", "", false},
		{"", auth + "/session-a", "", false},
		{auth, "", "", false},
	}
	for _, tc := range tests {
		id, ok := SessionOfPath(tc.auth, tc.path)
		if id != tc.id || ok != tc.ok {
			t.Errorf("SessionOfPath(%q, %q) = %q, %v; want %q, %v", tc.auth, tc.path, id, ok, tc.id, tc.ok)
		}
	}
	a, _ := ParseChromiumArgs([]string{"chrome_crashpad_handler", "--database=" + filepath.Join(auth, "session-c", "Crash Reports")})
	if id, ok := a.SessionOf(auth); id != "c" || !ok {
		t.Errorf("crash handler's session = %q, %v; want c from its database", id, ok)
	}
}

func TestClassifyCause(t *testing.T) {
	tests := []struct {
		cause string
		want  CauseKind
	}{
		{"net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/", CauseDNS},
		{"net::ERR_TIMED_OUT at https://web.whatsapp.com/", CauseTimeout},
		{"net::ERR_PROXY_CONNECTION_FAILED at https://web.whatsapp.com/", CauseProxy},
		{"Navigation timeout of 30000 ms exceeded", CauseTimeout},
		{"TimeoutError: Navigation timeout of 30000 ms exceeded", CauseTimeout},
		{"getaddrinfo ENOTFOUND web.whatsapp.com", CauseDNS},
		{"ENOTFOUND", CauseDNS},
		{"connect ETIMEDOUT 157.240.0.53:443", CauseTimeout},
		{"undefined", CauseNoReason},
		{"", CauseNoReason},
		{"  null ", CauseNoReason},
		{"Navigating frame was detached", CauseBrowserGone},
		{"Protocol error (Runtime.callFunctionOn): Target closed.", CauseBrowserGone},
		{"Failed to launch the browser process! [1204/161210.123456:ERROR:process_singleton_posix.cc(353)] The profile appears to be in use by another Chromium process (4242) on another computer (wa-host). Chromium has locked the profile so that it doesn't get corrupted.", CauseProfileInUse},
		{"Failed to launch the browser process! /usr/lib/chromium/chromium: error while loading shared libraries: libnss3.so", CauseBrowserLaunch},
		{"Timed out after 30000 ms while waiting for the WS endpoint URL to appear in stdout!", CauseBrowserLaunch},
		{"net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com/", CauseOffline},
		{"connect ECONNREFUSED 127.0.0.1:8000", CauseRefused},
		{"net::ERR_CERT_AUTHORITY_INVALID at https://web.whatsapp.com/", CauseTLS},
		{"LOGOUT", CauseLoggedOut},
		{"Authentication failure: session expired", CauseOther},
	}
	for _, tc := range tests {
		if got := ClassifyCause(tc.cause); got != tc.want {
			t.Errorf("ClassifyCause(%q) = %q; want %q", tc.cause, got, tc.want)
		}
	}
}
