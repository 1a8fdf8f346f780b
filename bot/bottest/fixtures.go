// Package bottest holds the facts behind the golden files of issue 10's
// messages: the sessions view, `sessions cleanup`, `ps` grouped by
// session, the status line of sessions and the stop and start outcomes,
// for the console and Slack renderers alike (each has its own goldens of
// the same facts). WorstCases are the same messages at their largest and
// most hostile, for the limits tests.
package bottest

import (
	"fmt"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Now is the clock of every case: 03:10:00 UTC on 28 Nov 2026.
var Now = time.Date(2026, 11, 28, 3, 10, 0, 0, time.UTC)

// GiB is a gibibyte.
const GiB = 1 << 30

// AuthRoot is the service's auth dir.
const AuthRoot = "/srv/wa/.wwebjs_auth"

// Alice asks and confirms.
var Alice = manager.Actor{ID: "U0ALICE", Name: "alice"}

// Case is one reply to render.
type Case struct {
	Name  string
	Reply bot.Reply
}

func at(hms string) time.Time {
	t, err := time.Parse("15:04:05", hms)
	if err != nil {
		panic(err)
	}
	return time.Date(Now.Year(), Now.Month(), Now.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// Browser is one session's Chromium tree: the browser and 6 children.
func Browser(id string, pid int32, rss uint64, cpu float64) whatsapp.Browser {
	b := whatsapp.Browser{SessionID: id, UserDataDir: AuthRoot + "/session-" + id, PID: pid, Started: at("02:57:01"), RSS: rss, CPUPercent: cpu}
	for i := range int32(7) {
		b.PIDs = append(b.PIDs, pid+i)
	}
	return b
}

// AuthDir is a session's auth dir with files.
func AuthDir(id string, mod time.Time, size int64, files int) whatsapp.AuthDir {
	return whatsapp.AuthDir{SessionID: id, Path: AuthRoot + "/session-" + id, ModTime: mod, Size: size, Files: files, HasProfile: true}
}

// staleLock is a SingletonLock left by a killed browser.
func staleLock(id string, pid int) whatsapp.ChromiumLock {
	return whatsapp.ChromiumLock{SessionID: id, Path: AuthRoot + "/session-" + id + "/SingletonLock", Target: fmt.Sprintf("wa-host-%d", pid),
		Host: "wa-host", PID: pid, Stale: true, Why: fmt.Sprintf("pid %d is not running", pid)}
}

func failed(id, cause, hms string) whatsapp.SessionOutcome {
	return whatsapp.SessionOutcome{ID: id, Result: whatsapp.SessionFailed, Cause: cause, At: at(hms)}
}

func restored(id string, c whatsapp.Connection, hms string) whatsapp.SessionOutcome {
	return whatsapp.SessionOutcome{ID: id, Result: whatsapp.SessionRestored, Connection: c, At: at(hms)}
}

// Sessions is the report of a completed restoration of six sessions: one
// ready, one waiting for a QR scan, two failed (a DNS error; the 30 s
// authentication timeout of a session whose auth dir was missing before
// the start) and one logged out, their three browsers still running and
// flagged; a profile the restoration did not name, with a stale lock; a
// browser of no session.
func Sessions() whatsapp.SessionsReport {
	r := whatsapp.Restoration{StartedAt: at("02:57:05"), Found: 5, Complete: true, Restored: 3, Failed: 2, Total: 5, CompletedAt: at("02:57:50"),
		Sessions: []whatsapp.SessionOutcome{
			restored("user_12_instance_main", whatsapp.ConnectionReady, "02:57:12"),
			restored("user_31_instance_support", whatsapp.ConnectionQR, "02:57:14"),
			failed("user_45_instance_promo", "net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/", "02:57:35"),
			failed("user_52_instance_ops", "undefined", "02:57:48"),
			{ID: "user_60_instance_hr", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionLoggedOut, Cause: "LOGOUT", At: at("02:57:20")},
		}}
	before := []whatsapp.AuthDir{
		AuthDir("user_12_instance_main", Now.Add(-time.Hour), 42<<20, 312),
		AuthDir("user_31_instance_support", Now.Add(-30*24*time.Hour), 40<<20, 290),
		AuthDir("user_45_instance_promo", Now.Add(-3*time.Hour), 44<<20, 301),
		AuthDir("user_60_instance_hr", Now.Add(-48*time.Hour), 39<<20, 280),
		AuthDir("user_7_instance_old", Now.Add(-90*24*time.Hour), 12<<20, 80),
	}
	dirs := append([]whatsapp.AuthDir(nil), before...)
	dirs = append(dirs, AuthDir("user_52_instance_ops", at("02:57:09"), 3<<20, 25))
	dirs[4].Locks = []whatsapp.ChromiumLock{staleLock("user_7_instance_old", 999)}
	stray := Browser("", 6001, 250<<20, 0.3)
	stray.UserDataDir = "/tmp/puppeteer_dev_chrome_profile-XyZ"
	return whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: true,
		Before: whatsapp.TakeAuthSnapshot(at("02:57:00"), before), Dirs: dirs, Running: true,
		Browsers: []whatsapp.Browser{
			Browser("user_12_instance_main", 4300, 900<<20, 2.1), Browser("user_31_instance_support", 4400, 700<<20, 1.2),
			Browser("user_45_instance_promo", 4500, 1*GiB, 0.8), Browser("user_52_instance_ops", 4600, 1*GiB, 0.7),
			Browser("user_60_instance_hr", 4700, 1*GiB, 0.5), stray,
		}})
}

// sessionsTimedOut: the restoration runs past its timeout: three sessions
// failed on Chromium errors (browsers left running), one restoring since
// 02:57:10, one not begun; two more found and not named yet.
func sessionsTimedOut() whatsapp.SessionsReport {
	ids := []string{"user_12_instance_main", "user_18_instance_sales", "user_31_instance_support", "user_45_instance_promo", "user_52_instance_ops"}
	r := whatsapp.Restoration{StartedAt: at("02:57:00"), Found: 7, Failed: 3, Total: -1, Sessions: []whatsapp.SessionOutcome{
		failed(ids[0], "net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/", "02:57:31"),
		failed(ids[1], "TimeoutError: Navigation timeout of 30000 ms exceeded", "02:57:40"),
		failed(ids[2], "net::ERR_PROXY_CONNECTION_FAILED at https://web.whatsapp.com/", "02:57:52"),
		{ID: ids[3], Instance: "promo", Result: whatsapp.SessionRestoring, At: at("02:57:10")},
	}}
	var dirs []whatsapp.AuthDir
	for _, id := range ids {
		dirs = append(dirs, AuthDir(id, Now.Add(-2*time.Hour), 40<<20, 300))
	}
	return whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: true,
		Before: whatsapp.TakeAuthSnapshot(at("02:56:58"), dirs), Dirs: dirs, Running: true,
		Browsers: []whatsapp.Browser{Browser(ids[0], 4100, 1*GiB, 0.2), Browser(ids[1], 4200, 1*GiB, 0.2),
			Browser(ids[2], 4300, 1*GiB, 0.2), Browser(ids[3], 4400, 700<<20, 4.5)}})
}

// sessionsInterrupted: a stop began at 02:57:20 during the restoration:
// one session was ready before it, one failed after it (the SIGTERM's
// doing), one was restoring, one had not begun; the service is stopped,
// and a killed browser left its lock.
func sessionsInterrupted() whatsapp.SessionsReport {
	ids := []string{"user_12_instance_main", "user_18_instance_sales", "user_31_instance_support", "user_45_instance_promo"}
	r := whatsapp.Restoration{StartedAt: at("02:57:00"), Found: 4, Restored: 1, Failed: 1, Total: -1, Sessions: []whatsapp.SessionOutcome{
		restored(ids[0], whatsapp.ConnectionReady, "02:57:12"),
		failed(ids[1], "Navigating frame was detached", "02:57:21"),
		{ID: ids[2], Instance: "support", Result: whatsapp.SessionRestoring, At: at("02:57:14")},
	}}
	var dirs []whatsapp.AuthDir
	for _, id := range ids {
		dirs = append(dirs, AuthDir(id, Now.Add(-2*time.Hour), 40<<20, 300))
	}
	now := append([]whatsapp.AuthDir(nil), dirs...)
	now[2].Locks = []whatsapp.ChromiumLock{staleLock(ids[2], 4301)}
	return whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: true,
		Before: whatsapp.TakeAuthSnapshot(at("02:56:58"), dirs), Dirs: now, Running: false, StopBegan: at("02:57:20")})
}

// sessionsNoSnapshot: a service the bot did not start (no snapshot before
// its start), one session ready, one failed on a stale profile lock.
func sessionsNoSnapshot() whatsapp.SessionsReport {
	r := whatsapp.Restoration{StartedAt: at("02:57:00"), Found: 2, Complete: true, Restored: 1, Failed: 1, Total: 2, CompletedAt: at("02:57:30"),
		Sessions: []whatsapp.SessionOutcome{
			restored("user_12_instance_main", whatsapp.ConnectionReady, "02:57:12"),
			failed("user_45_instance_promo", "Error: Failed to launch the browser process! The profile appears to be in use by another Chromium process (4242) on another computer (wa-host).", "02:57:29"),
		}}
	dirs := []whatsapp.AuthDir{AuthDir("user_12_instance_main", Now.Add(-time.Hour), 42<<20, 312),
		AuthDir("user_45_instance_promo", Now.Add(-26*time.Hour), 41<<20, 298)}
	dirs[1].Locks = []whatsapp.ChromiumLock{staleLock("user_45_instance_promo", 4242)}
	return whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: true, Dirs: dirs, Running: true,
		Browsers: []whatsapp.Browser{Browser("user_12_instance_main", 4300, 900<<20, 2.1)}})
}

// Processes is the real service's tree for two sessions: npm, sh, node;
// per session a browser with its zygotes, gpu, utilities and renderer and
// two crash handlers; and a crash handler of no session.
func Processes() []manager.Process {
	started := at("02:57:00")
	ps := []manager.Process{
		{PID: 4242, PPID: 1, CPUPercent: 0.4, RSS: 58 << 20, Started: started, Command: "npm start"},
		{PID: 4250, PPID: 4242, RSS: 2 << 20, Started: started, Command: "sh -c node src/server.js"},
		{PID: 4251, PPID: 4250, CPUPercent: 3.2, RSS: 120 << 20, Started: started, Command: "node src/server.js"},
	}
	roles := []string{"browser", "zygote", "zygote", "gpu-process", "utility", "utility", "renderer", "crashpad-handler", "crashpad-handler"}
	for s, id := range []string{"user_12_instance_main", "user_45_instance_promo"} {
		base := int32(4300 + 100*s)
		for i, role := range roles {
			ppid := base
			switch {
			case i == 0:
				ppid = 4251
			case role == "crashpad-handler":
				ppid = 1
			}
			cmd := "/usr/lib/chromium/chromium --type=" + role + " --user-data-dir=" + AuthRoot + "/session-" + id + " --enable-crash-reporter --flag-a --flag-b"
			if role == "browser" {
				cmd = "/usr/lib/chromium/chromium --user-data-dir=" + AuthRoot + "/session-" + id + " --headless=new --no-sandbox"
			}
			ps = append(ps, manager.Process{PID: base + int32(i), PPID: ppid, CPUPercent: 0.3, RSS: uint64(40+20*i) << 20,
				Started: started.Add(time.Second), Command: cmd, Session: id, Chromium: role})
		}
	}
	return append(ps, manager.Process{PID: 6000, PPID: 1, RSS: 6 << 20, Started: started, Session: "", Chromium: "crashpad-handler",
		Command: "/usr/lib/chromium/chrome_crashpad_handler --database=/tmp/Crashpad --no-upload-gpu"})
}

func status(st manager.State, r *whatsapp.Restoration, bs []whatsapp.Browser) *manager.Status {
	s := &manager.Status{Service: "whatsapp", URL: "http://127.0.0.1:3000", State: st,
		Health: manager.Health{OK: true, StatusCode: 200, Status: "healthy", Latency: 1200 * time.Microsecond},
		Since:  at("02:57:00"), Uptime: 13 * time.Minute, Processes: Processes()[:3], Restoration: r, Browsers: bs,
		CheckedAt: Now, RSS: 4 * GiB}
	return s
}

// Cases are the messages of issue 10, one fact each at least.
func Cases() []Case {
	rep := Sessions()
	timedOut := sessionsTimedOut()
	interrupted := sessionsInterrupted()
	noSnap := sessionsNoSnapshot()
	idle := rep.IdleBrowsers()
	var kept []whatsapp.Browser
	for _, b := range rep.Browsers {
		if s, _ := rep.Session(b.SessionID); !s.Idle {
			kept = append(kept, b)
		}
	}
	cleanupPending := func(plan *bot.CleanupPlan) *bot.Pending {
		return &bot.Pending{Token: "0123456789abcdef0123456789abcdef", Command: bot.Command{Verb: bot.VerbSessions, Cleanup: true},
			Service: "whatsapp", Requester: "U0ALICE", Channel: "C0OPS", Expires: Now.Add(2 * time.Minute), Cleanup: plan}
	}
	survivor := manager.Process{PID: 4506, PPID: 1, RSS: 80 << 20, Command: "/usr/lib/chromium/chromium --type=renderer",
		Session: "user_45_instance_promo", Chromium: "renderer"}
	return []Case{
		{"sessions-issue10", bot.Reply{Kind: bot.KindSessions, Service: "whatsapp", Sessions: &rep, At: Now}},
		{"sessions-timed-out", bot.Reply{Kind: bot.KindSessions, Service: "whatsapp", Sessions: &timedOut, At: Now}},
		{"sessions-interrupted", bot.Reply{Kind: bot.KindSessions, Service: "whatsapp", Sessions: &interrupted, At: Now}},
		{"sessions-no-snapshot", bot.Reply{Kind: bot.KindSessions, Service: "whatsapp", Sessions: &noSnap, At: Now}},
		{"status-sessions", bot.Reply{Kind: bot.KindStatus, Service: "whatsapp", At: Now,
			Status: status(manager.StateHealthy, &rep.Restoration, append(rep.Browsers, rep.Strays...))}},
		{"ps-sessions", bot.Reply{Kind: bot.KindProcesses, Service: "whatsapp", Processes: Processes(), At: Now}},
		{"confirm-cleanup", bot.Reply{Kind: bot.KindConfirm, Service: "whatsapp", Confirm: cleanupPending(&bot.CleanupPlan{Browsers: idle, Whose: "failed session"})}},
		{"confirm-cleanup-unknown", bot.Reply{Kind: bot.KindConfirm, Service: "whatsapp", Confirm: cleanupPending(nil)}},
		{"cleanup-nothing", bot.Reply{Kind: bot.KindDone, Service: "whatsapp", Text: bot.NothingToCleanUp("whatsapp")}},
		{"outcome-cleanup", bot.Reply{Kind: bot.KindOutcome, Service: "whatsapp", Outcome: &bot.Outcome{
			Action: manager.ActionCleanup, Service: "whatsapp", By: Alice, Took: 1200 * time.Millisecond,
			Cleanup: &manager.CleanupResult{Ended: idle, Kept: kept, Duration: 1100 * time.Millisecond}}}},
		{"outcome-cleanup-survivor", bot.Reply{Kind: bot.KindOutcome, Service: "whatsapp", Outcome: &bot.Outcome{
			Action: manager.ActionCleanup, Service: "whatsapp", By: Alice, Took: 6 * time.Second,
			Cleanup: &manager.CleanupResult{Ended: idle[:1], Kept: kept, Survivors: []manager.Process{survivor}, Duration: 6 * time.Second},
			Err:     usererr.New(usererr.Unavailable, "cleanup whatsapp: 1 process survived SIGKILL: pid 4506"),
		}}},
		{"outcome-cleanup-refused", bot.Reply{Kind: bot.KindOutcome, Service: "whatsapp", Outcome: &bot.Outcome{
			Action: manager.ActionCleanup, Service: "whatsapp", By: Alice, Took: 10 * time.Millisecond,
			Cleanup: &manager.CleanupResult{},
			Err:     usererr.New(usererr.Conflict, "cleanup whatsapp: no browser of a session that serves nobody is running"),
		}}},
		{"outcome-stop-sessions", bot.Reply{Kind: bot.KindOutcome, Service: "whatsapp", Outcome: &bot.Outcome{
			Action: manager.ActionStop, Service: "whatsapp", By: Alice, Took: 2100 * time.Millisecond,
			Stop: &manager.StopResult{WasRunning: true, Graceful: true, Duration: 2100 * time.Millisecond, Stopped: Processes()[:12],
				Leftovers: Processes()[12:], IdleEnded: idle[:2], LeftoverBrowsers: []whatsapp.Browser{Browser("user_45_instance_promo", 4400, 1*GiB, 0)},
				LocksLeft: []whatsapp.ChromiumLock{staleLock("user_45_instance_promo", 4400), staleLock("user_52_instance_ops", 4600),
					{SessionID: "user_52_instance_ops", Path: AuthRoot + "/session-user_52_instance_ops/SingletonSocket", Stale: true}}},
		}}},
		{"outcome-restart-unlocked", bot.Reply{Kind: bot.KindOutcome, Service: "whatsapp", Outcome: &bot.Outcome{
			Action: manager.ActionRestart, Service: "whatsapp", By: Alice, Took: 3 * time.Second,
			Stop: &manager.StopResult{WasRunning: true, Graceful: true, Duration: 2100 * time.Millisecond, Stopped: Processes(), IdleEnded: idle},
			Start: &manager.StartResult{PID: 5000, Healthy: true, TimeToHealthy: 900 * time.Millisecond,
				LocksRemoved:     []string{"a/SingletonLock", "a/SingletonSocket", "a/SingletonCookie", "b/SingletonLock", "b/SingletonSocket", "b/SingletonCookie", "c/SingletonLock", "c/SingletonSocket", "c/SingletonCookie"},
				ProfilesUnlocked: []string{"user_45_instance_promo", "user_52_instance_ops", "user_60_instance_hr"}},
		}}},
	}
}

// Hostile is outside text at its worst: a broadcast, a mention, a forged
// link, entities, a code fence, emphasis, emoji and a control character.
const Hostile = "<!channel> @channel <@U0EVIL> <https://evil.example|click> &amp; & a&b *bold* _it_ ``` `x` 🚀 \x1b[2J"

// WorstCases are issue 10's messages at their largest: 500 sessions with
// hostile IDs, causes of 2,000 bytes, every browser idle with locks; 500
// sessions' processes; prompts and outcomes naming 500 browsers.
func WorstCases() []Case {
	const n = 500
	cause := strings.Repeat(Hostile+" net::ERR_NAME_NOT_RESOLVED ", 2000/len(Hostile+" net::ERR_NAME_NOT_RESOLVED ")+1)[:2000]
	r := whatsapp.Restoration{StartedAt: at("02:57:00"), Found: n + 20, Total: -1}
	var dirs []whatsapp.AuthDir
	var bs []whatsapp.Browser
	var procs []manager.Process
	var locks []whatsapp.ChromiumLock
	for i := range n {
		id := fmt.Sprintf("user_%d_%s", i, Hostile)
		o := failed(id, cause, "02:58:00")
		switch i % 5 {
		case 1:
			o = whatsapp.SessionOutcome{ID: id, Result: whatsapp.SessionRestoring, At: at("02:57:10")}
		case 2:
			o = whatsapp.SessionOutcome{ID: id, Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionLoggedOut, Cause: cause}
		}
		r.Sessions = append(r.Sessions, o)
		d := AuthDir(id, Now.Add(-time.Hour), 40<<20, 300)
		d.Path = AuthRoot + "/session-" + id
		d.Locks = []whatsapp.ChromiumLock{{SessionID: id, Path: d.Path + "/SingletonLock", Stale: true, Why: Hostile + cause[:300]}}
		locks = append(locks, d.Locks...)
		dirs = append(dirs, d)
		b := Browser(id, int32(10000+10*i), 1*GiB, 0.5)
		bs = append(bs, b)
		for j, role := range []string{"browser", "renderer"} {
			procs = append(procs, manager.Process{PID: b.PID + int32(j), PPID: 4251, RSS: 500 << 20, Started: at("02:57:00"),
				Command: "chromium " + Hostile + strings.Repeat(" --flag", 300), Session: id, Chromium: role + Hostile})
		}
	}
	stray := Browser("", 99999, GiB, 1)
	stray.UserDataDir = "/tmp/" + Hostile
	rep := whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: true,
		Before: whatsapp.TakeAuthSnapshot(at("02:56:58"), dirs[:n/2]), Dirs: dirs, Browsers: append(bs, stray, stray, stray), Running: true})
	idle := rep.IdleBrowsers()
	stopped := rep
	stopped.Running, stopped.Interrupted, stopped.StopBegan = false, true, at("02:59:00")
	st := status(manager.StateUnhealthy, &r, bs)
	evil := manager.Actor{ID: "console:" + Hostile, Name: Hostile}
	pending := &bot.Pending{Token: strings.Repeat("ab", 16), Command: bot.Command{Verb: bot.VerbSessions, Cleanup: true},
		Service: "whatsapp" + Hostile, Requester: "U0ALICE", Expires: Now.Add(time.Minute), Cleanup: &bot.CleanupPlan{Browsers: idle, Whose: "failed session"}}
	return []Case{
		{"worst-sessions", bot.Reply{Kind: bot.KindSessions, Service: "whatsapp", Sessions: &rep, At: Now}},
		{"worst-sessions-interrupted", bot.Reply{Kind: bot.KindSessions, Service: Hostile, Sessions: &stopped, At: Now}},
		{"worst-status", bot.Reply{Kind: bot.KindStatus, Service: "whatsapp", Status: st, At: Now}},
		{"worst-ps", bot.Reply{Kind: bot.KindProcesses, Service: "whatsapp", Processes: procs, At: Now}},
		{"worst-confirm-cleanup", bot.Reply{Kind: bot.KindConfirm, Confirm: pending}},
		{"worst-outcome-cleanup", bot.Reply{Kind: bot.KindOutcome, Service: "whatsapp", Outcome: &bot.Outcome{
			Action: manager.ActionCleanup, Service: "whatsapp", By: evil, Took: time.Minute,
			Cleanup: &manager.CleanupResult{Ended: idle, Kept: bs, Survivors: procs}, Err: usererr.New(usererr.Unavailable, "%s", cause)}}},
		{"worst-outcome-stop", bot.Reply{Kind: bot.KindOutcome, Service: "whatsapp", Outcome: &bot.Outcome{
			Action: manager.ActionRestart, Service: "whatsapp", By: evil, Took: time.Minute,
			Stop: &manager.StopResult{WasRunning: true, Forced: true, Stopped: procs, Leftovers: procs, IdleEnded: idle, LeftoverBrowsers: bs,
				LocksLeft: locks, Survivors: procs},
			Start: &manager.StartResult{PID: 1, Healthy: true, ProfilesUnlocked: rep.MissingAuth}}}},
	}
}
