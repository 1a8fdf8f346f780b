package bot

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// The words of the sessions view (`sessions`, the status line, the
// restoration summary, `sessions cleanup`): one sentence per fact of
// whatsapp.SessionsReport, plain text, escaped by each front end.

// causeMaxRunes bounds the raw cause quoted in a sentence: the log holds
// it whole.
const causeMaxRunes = 200

// CauseWords says what a session's failure comes down to and what to do
// about it, quoting the cause as logged when it says more than the kind:
//
//	WhatsApp Web's address did not resolve (net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/): check the host's DNS and internet access, then restart
func CauseWords(kind whatsapp.CauseKind, cause string) string {
	raw := human.Cut(human.FirstLine(cause), causeMaxRunes)
	quoted := func(what string) string {
		if raw == "" {
			return what
		}
		return what + " (" + raw + ")"
	}
	switch kind {
	case whatsapp.CauseNoReason:
		return "no reason logged: the service's 30 s authentication timeout, so the saved login is probably dead: scan a QR code"
	case whatsapp.CauseDNS:
		return quoted("WhatsApp Web's address did not resolve") + ": check the host's DNS and internet access, then restart"
	case whatsapp.CauseTimeout:
		return quoted("loading WhatsApp Web timed out") + ": check the host's internet access (and its proxy), then restart"
	case whatsapp.CauseProxy:
		return quoted("the proxy refused or failed the connection") + ": check the proxy settings of the service's Chromium, then restart"
	case whatsapp.CauseOffline:
		return quoted("the host has no network") + ": check its network connection, then restart"
	case whatsapp.CauseRefused:
		return quoted("a connection was refused or reset") + ": check the host's internet access and firewall, then restart"
	case whatsapp.CauseTLS:
		return quoted("a TLS certificate or handshake failed") + ": check the host's clock, CA certificates and any intercepting proxy"
	case whatsapp.CauseProfileInUse:
		return quoted("another Chromium holds the profile, probably a stale lock") + ": `sessions` shows it, a start removes stale locks"
	case whatsapp.CauseBrowserLaunch:
		return quoted("Chromium did not start") + ": run `doctor`, and check that Chromium and its libraries are installed"
	case whatsapp.CauseBrowserGone:
		return quoted("the session's browser died or was closed") + ": restart; if it happens again, `logs` shows why"
	case whatsapp.CauseLoggedOut:
		return quoted("WhatsApp logged the device out") + ": scan a QR code to link it again"
	}
	if raw == "" {
		return "no reason logged"
	}
	return raw
}

// SessionOutcomeWords says where one session stands after the last start:
// "ready", "restored, QR scan needed: its saved login is dead", "failed:
// <CauseWords>", "restoring since 16:12:10", "not begun", "interrupted by
// the stop at 16:12:30". stopBegan is the report's StopBegan.
func SessionOutcomeWords(v whatsapp.SessionView, stopBegan, now time.Time) string {
	at := func(t time.Time) string { return human.Clock(t, now, now.Location()) }
	switch v.State {
	case whatsapp.SessionReady:
		return "ready"
	case whatsapp.SessionRestoredOnly:
		return "restored, not connected yet"
	case whatsapp.SessionNeedsQR:
		return "restored, QR scan needed: its saved login is dead"
	case whatsapp.SessionLoggedOut:
		return "logged out: " + CauseWords(whatsapp.CauseLoggedOut, v.Cause)
	case whatsapp.SessionFailedState:
		kind := v.CauseKind
		if kind == "" {
			kind = whatsapp.ClassifyCause(v.Cause)
		}
		return "failed: " + CauseWords(kind, v.Cause)
	case whatsapp.SessionInRestore:
		if v.At.IsZero() {
			return "restoring"
		}
		return "restoring since " + at(v.At)
	case whatsapp.SessionNotBegun:
		return "not begun"
	case whatsapp.SessionInterrupted:
		s := "interrupted by the stop"
		if !stopBegan.IsZero() {
			s += " at " + at(stopBegan)
		}
		return s + " (not the session's fault: the next start restores it)"
	case whatsapp.SessionUnlisted:
		return "unlisted: the last restoration did not name it (no longer active, or a leftover)"
	}
	return "no restoration seen for it"
}

// AuthBeforeWords says what a session's auth dir held right before the
// last start: "auth dir was missing before the start: a QR scan is
// needed", "auth dir before the start: 42.0 MiB in 312 files, changed 1h
// ago", "auth dir before the start: unknown: not started by the bot".
func AuthBeforeWords(e whatsapp.AuthEntry, now time.Time) string {
	switch e.State {
	case whatsapp.AuthMissing:
		return "auth dir was missing before the start: a QR scan is needed"
	case whatsapp.AuthEmpty:
		return "auth dir was empty before the start: a QR scan is needed"
	case whatsapp.AuthPresent:
		return "auth dir before the start: " + authSize(e, now)
	}
	return "auth dir before the start: unknown: not started by the bot"
}

// AuthNowWords says what a session's auth dir holds now: "auth dir now:
// missing", "auth dir now: 42.0 MiB in 312 files, changed 1h ago".
func AuthNowWords(e whatsapp.AuthEntry, now time.Time) string {
	switch e.State {
	case whatsapp.AuthEmpty:
		return "auth dir now: empty"
	case whatsapp.AuthPresent:
		return "auth dir now: " + authSize(e, now)
	}
	return "auth dir now: missing"
}

func authSize(e whatsapp.AuthEntry, now time.Time) string {
	s := fmt.Sprintf("%s in %s", human.Bytes(uint64(max(e.Size, 0))), human.Count(e.Files, "file"))
	if e.Capped {
		s = "at least " + s
	}
	if !e.ModTime.IsZero() {
		s += ", changed " + human.Ago(e.ModTime, now)
	}
	return s
}

// BrowserWords describes a session's Chromium tree: "browser pid 4300, 7
// processes, 1.0 GiB, 2.5% CPU".
func BrowserWords(b whatsapp.Browser) string {
	return fmt.Sprintf("browser pid %d, %s, %s, %s CPU", b.PID, human.Count(b.Processes(), "process"),
		human.Bytes(b.RSS), human.Percent(b.CPUPercent))
}

// IdleFlag marks the browser of a session that serves nobody.
const IdleFlag = "IDLE: serves nobody (`sessions cleanup` ends it)"

// StaleLocksWords says which stale Chromium locks a session's profile has:
// "stale Chromium locks: SingletonLock, SingletonSocket (pid 999 is not
// running): a start removes them".
func StaleLocksWords(locks []whatsapp.ChromiumLock) string {
	if len(locks) == 0 {
		return ""
	}
	names := make([]string, 0, len(locks))
	why := ""
	for _, l := range locks {
		names = append(names, lockName(l))
		if why == "" && l.Why != "" {
			why = l.Why
		}
	}
	s := "stale Chromium " + human.Plural(len(locks), "lock") + ": " + strings.Join(names, ", ")
	if why != "" {
		s += " (" + human.Cut(why, 120) + ")"
	}
	if len(locks) == 1 {
		return s + ": a start removes it"
	}
	return s + ": a start removes them"
}

func lockName(l whatsapp.ChromiumLock) string {
	p := strings.ReplaceAll(l.Path, "\\", "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	if p == "" {
		p = l.Path
	}
	return human.Cut(p, 60)
}

// SessionDetails are the lines under one session in `sessions`: its auth
// dir before the start (and now, when there was no snapshot), its browser
// (flagged when idle), its stale locks.
func SessionDetails(v whatsapp.SessionView, now time.Time) []string {
	var out []string
	if v.State != whatsapp.SessionUnlisted && v.State != whatsapp.SessionUnknown {
		out = append(out, AuthBeforeWords(v.AuthBefore, now))
	}
	if v.AuthBefore.State == whatsapp.AuthUnknown || v.State == whatsapp.SessionUnlisted || v.State == whatsapp.SessionUnknown {
		out = append(out, AuthNowWords(v.AuthNow, now))
	}
	if b := v.Browser; b != nil {
		s := BrowserWords(*b)
		if v.Idle {
			s += ": " + IdleFlag
		}
		out = append(out, s)
	}
	if s := StaleLocksWords(v.StaleLocks); s != "" {
		out = append(out, s)
	}
	return out
}

// sessionCounts are the states, in the order the headline counts them.
var sessionCounts = []struct {
	state whatsapp.SessionState
	word  func(n int) string
}{
	{whatsapp.SessionReady, func(n int) string { return fmt.Sprintf("%d ready", n) }},
	{whatsapp.SessionRestoredOnly, func(n int) string { return fmt.Sprintf("%d restored, not connected yet", n) }},
	{whatsapp.SessionNeedsQR, func(n int) string { return fmt.Sprintf("%d QR scan needed", n) }},
	{whatsapp.SessionInRestore, func(n int) string { return fmt.Sprintf("%d restoring", n) }},
	{whatsapp.SessionNotBegun, func(n int) string { return fmt.Sprintf("%d not begun", n) }},
	{whatsapp.SessionFailedState, func(n int) string { return fmt.Sprintf("%d failed", n) }},
	{whatsapp.SessionInterrupted, func(n int) string { return fmt.Sprintf("%d interrupted", n) }},
	{whatsapp.SessionLoggedOut, func(n int) string { return fmt.Sprintf("%d logged out", n) }},
	{whatsapp.SessionUnlisted, func(n int) string { return fmt.Sprintf("%d unlisted", n) }},
	{whatsapp.SessionUnknown, func(n int) string { return fmt.Sprintf("%d without a restoration", n) }},
}

// SessionCounts counts sessions by state: "3 ready, 1 QR scan needed, 1
// failed"; "no sessions" when there are none.
func SessionCounts(sessions []whatsapp.SessionView) string {
	count := map[whatsapp.SessionState]int{}
	for _, s := range sessions {
		count[s.State]++
	}
	var parts []string
	for _, c := range sessionCounts {
		if n := count[c.state]; n > 0 {
			parts = append(parts, c.word(n))
		}
	}
	if len(parts) == 0 {
		return "no sessions"
	}
	return strings.Join(parts, ", ")
}

// SessionsHeadline is the first line of `sessions`: "whatsapp: 5 sessions:
// 3 ready, 1 QR scan needed, 1 failed; 4 browsers, 3.2 GiB".
func SessionsHeadline(svc string, rep *whatsapp.SessionsReport) string {
	s := fmt.Sprintf("%s: %s", svc, human.Count(len(rep.Sessions), "session"))
	if len(rep.Sessions) > 0 {
		s += ": " + SessionCounts(rep.Sessions)
	}
	bs := append(slices.Clip(rep.Browsers), rep.Strays...)
	switch {
	case len(bs) > 0:
		s += fmt.Sprintf("; %s, %s", human.Count(len(bs), "browser"), human.Bytes(whatsapp.RSS(bs)))
	case rep.Running:
		s += "; no browser runs"
	}
	return s
}

// SessionsRestorationLine is the restoration behind `sessions`: "last
// restoration: 4 found: ..." or, when a stop interrupted it, "last
// restoration: interrupted by the stop at 16:12:30, 1 of 5 handled, 4
// sessions not restored".
func SessionsRestorationLine(rep *whatsapp.SessionsReport, now time.Time) string {
	if !rep.HaveRestoration {
		return "no session restoration in the log yet"
	}
	r := rep.Restoration
	if rep.Interrupted {
		return "last restoration: " + InterruptedLine(r, rep.StopBegan, now)
	}
	return "last restoration: " + RestorationLine(r, now.Location())
}

// InterruptedLine says that a stop cut a restoration short, without
// blaming its sessions: "interrupted by the stop at 16:12:30: 1 of 5
// sessions restored before it, 4 not restored (the next start restores
// them)".
func InterruptedLine(r whatsapp.Restoration, stopBegan, now time.Time) string {
	s := "interrupted: the service stopped before it was done"
	if !stopBegan.IsZero() {
		s = "interrupted by the stop at " + human.Clock(stopBegan, now, now.Location())
	}
	total := max(r.Found, len(r.Sessions))
	if total <= 0 {
		// Django's list not even asked for: nothing was restored, nothing
		// to blame.
		return s + ", before any session was restored (the next start restores them)"
	}
	done := len(r.RestoredSessions())
	s += fmt.Sprintf(": %d of %s restored before it", done, human.Count(total, "session"))
	if left := total - done; left > 0 {
		s += fmt.Sprintf(", %d not restored (the next start restores %s)", left, pronoun(left))
	}
	return s
}

// IdleBrowsersLine says which browsers serve nobody and how much memory
// they hold: "3 browsers of failed sessions are still running: 3.0 GiB —
// `sessions cleanup` ends them"; "" when none.
func IdleBrowsersLine(rep *whatsapp.SessionsReport) string {
	idle := rep.IdleBrowsers()
	if len(idle) == 0 {
		return ""
	}
	return idleSentence(len(idle), idleWhose(rep), whatsapp.RSS(idle)) + " — `sessions cleanup` ends " + pronoun(len(idle))
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// idleSentence: "3 browsers of failed sessions are still running: 3.0 GiB".
func idleSentence(n int, whose string, rss uint64) string {
	if n == 1 {
		return fmt.Sprintf("1 browser of %s %s is still running: %s", article(whose), whose, human.Bytes(rss))
	}
	return fmt.Sprintf("%s of %s are still running: %s", human.Count(n, "browser"), human.Plural(n, whose), human.Bytes(rss))
}

// article is "a" or "an" for word.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// idleWhose names the sessions whose browsers are idle: "failed session"
// when all of them failed, "logged-out session", else "idle session".
func idleWhose(rep *whatsapp.SessionsReport) string {
	states := map[whatsapp.SessionState]bool{}
	for _, s := range rep.Sessions {
		if s.Idle && s.Browser != nil {
			states[s.State] = true
		}
	}
	if len(states) == 1 {
		switch {
		case states[whatsapp.SessionFailedState]:
			return "failed session"
		case states[whatsapp.SessionLoggedOut]:
			return "logged-out session"
		case states[whatsapp.SessionInterrupted]:
			return "interrupted session"
		case states[whatsapp.SessionUnlisted]:
			return "unlisted session"
		}
	}
	return "idle session"
}

// NothingToCleanUp says that `sessions cleanup` has nothing to end.
func NothingToCleanUp(service string) string {
	return fmt.Sprintf("nothing to clean up in %s: no browser of a session that serves nobody is running", service)
}

// UnnamedLine says how many sessions the service found that nobody named
// yet: "2 more found by the service, not named yet".
func UnnamedLine(n int) string {
	return fmt.Sprintf("%d more found by the service, not named yet", n)
}

// StrayLine is a Chromium browser whose profile is no session's: "a
// browser that serves no session: pid 5000, 7 processes, 300.0 MiB, ...
// (profile /tmp/x)".
func StrayLine(b whatsapp.Browser) string {
	s := "a browser of no session: " + strings.TrimPrefix(BrowserWords(b), "browser ")
	if b.UserDataDir != "" {
		s += " (profile " + human.Cut(b.UserDataDir, 120) + ")"
	}
	return s
}

// AuthDirsLine sums up the auth dirs on disk now: "auth dirs now: 4, 168.0
// MiB in all"; "auth dirs now: none".
func AuthDirsLine(dirs []whatsapp.AuthDir) string {
	if len(dirs) == 0 {
		return "auth dirs now: none"
	}
	var size int64
	for _, d := range dirs {
		size += max(d.Size, 0)
	}
	return fmt.Sprintf("auth dirs now: %d, %s in all", len(dirs), human.Bytes(uint64(size)))
}

// SessionsText is the whole sessions view as plain text lines: what the
// console prints and what Slack attaches when the message cannot hold it.
// Each session is a line "<id>  <outcome>" followed by its details,
// indented.
func SessionsText(svc string, rep *whatsapp.SessionsReport, now time.Time) []string {
	lines := []string{SessionsHeadline(svc, rep), SessionsRestorationLine(rep, now)}
	for _, v := range rep.Sessions {
		lines = append(lines, fmt.Sprintf("  %s  %s", v.ID, SessionOutcomeWords(v, rep.StopBegan, now)))
		for _, d := range SessionDetails(v, now) {
			lines = append(lines, "      "+d)
		}
	}
	lines = append(lines, SessionsFooter(rep)...)
	return lines
}

// SessionsFooter are the lines after the sessions: idle browsers,
// sessions not named yet, browsers of no session, the auth dirs now.
func SessionsFooter(rep *whatsapp.SessionsReport) []string {
	var out []string
	if s := IdleBrowsersLine(rep); s != "" {
		out = append(out, s)
	}
	if rep.Unnamed > 0 {
		out = append(out, UnnamedLine(rep.Unnamed))
	}
	for _, b := range rep.Strays {
		out = append(out, StrayLine(b))
	}
	return append(out, AuthDirsLine(rep.AuthDirs))
}

// StatusSessionsLine is the sessions line of `status`: "3 ready, 1 QR
// scan needed, 1 failed; 1 idle browser 1.0 GiB"; "" when there is
// nothing to say (no restoration, no browser, or a stopped service
// without a browser: the restoration line says how its last run went).
func StatusSessionsLine(st *manager.Status) string {
	if len(st.Browsers) == 0 && (st.Restoration == nil || st.State == manager.StateStopped) {
		return ""
	}
	in := whatsapp.SessionsInput{Browsers: st.Browsers, Running: st.State != manager.StateStopped}
	if st.Restoration != nil {
		in.Restoration, in.HaveRestoration = *st.Restoration, true
	}
	rep := whatsapp.JoinSessions(in)
	s := SessionCounts(rep.Sessions)
	if idle := rep.IdleBrowsers(); len(idle) > 0 {
		s += fmt.Sprintf("; %s %s", human.Count(len(idle), "idle browser"), human.Bytes(whatsapp.RSS(idle)))
	} else if n := len(rep.Browsers) + len(rep.Strays); n > 0 {
		s += fmt.Sprintf("; %s, %s", human.Count(n, "browser"), human.Bytes(whatsapp.RSS(append(slices.Clip(rep.Browsers), rep.Strays...))))
	}
	return s
}

// BrowsersBySession names browsers with their memory: "user_1 (1.0 GiB),
// user_2 (980.0 MiB)".
func BrowsersBySession(bs []whatsapp.Browser) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		id := b.SessionID
		if id == "" {
			id = fmt.Sprintf("pid %d", b.PID)
		}
		parts[i] = fmt.Sprintf("%s (%s)", id, human.Bytes(b.RSS))
	}
	return strings.Join(parts, ", ")
}

// LockProfiles are the sessions (or, for a lock of no session, the
// paths) whose profiles hold locks, each once, in order.
func LockProfiles(locks []whatsapp.ChromiumLock) []string {
	var out []string
	for _, l := range locks {
		id := l.SessionID
		if id == "" {
			id = l.Path
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
