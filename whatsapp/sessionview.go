package whatsapp

import (
	"slices"
	"sort"
	"time"
)

// AuthState is what a session's auth dir held at one moment.
type AuthState string

const (
	// AuthUnknown: not looked at (no snapshot was taken: the service was
	// not started by the bot, or by an older one).
	AuthUnknown AuthState = ""
	// AuthMissing: no auth dir for the session.
	AuthMissing AuthState = "missing"
	// AuthEmpty: a dir without a single regular file: nothing to restore from.
	AuthEmpty AuthState = "empty"
	// AuthPresent: a dir with files: a saved login may be restored from it.
	AuthPresent AuthState = "present"
)

// AuthEntry is one session's auth dir at one moment.
type AuthEntry struct {
	SessionID string    `json:"session_id"`
	State     AuthState `json:"state"`
	ModTime   time.Time `json:"mod_time,omitzero"` // newest file within the bounded walk
	Size      int64     `json:"size,omitempty"`
	Files     int       `json:"files,omitempty"`
	Capped    bool      `json:"capped,omitempty"` // Size and Files are lower bounds
}

// AuthSnapshot is the service's auth dirs as they were at one moment: the
// bot takes one right before each start, so that a session whose profile
// Chromium creates afresh is still known to have had none.
type AuthSnapshot struct {
	// At is when it was taken; zero when none was.
	At      time.Time   `json:"at,omitzero"`
	Entries []AuthEntry `json:"entries,omitempty"` // one per session with a dir, by session ID
	// Failed is true when the auth dir could not be listed (permissions,
	// a symlink out of the service's dir): Entries is then empty and
	// says nothing.
	Failed bool `json:"failed,omitempty"`
}

// TakeAuthSnapshot summarises the dirs of ScanAuthDirs, taken at at. A
// session with several dirs (session-<id> and session_<id>) is present
// when any of them has files; its sizes are summed.
func TakeAuthSnapshot(at time.Time, dirs []AuthDir) AuthSnapshot {
	s := AuthSnapshot{At: at}
	for _, d := range dirs {
		e := AuthEntry{SessionID: d.SessionID, State: AuthPresent, ModTime: d.ModTime, Size: d.Size, Files: d.Files, Capped: d.Capped}
		if d.Empty {
			e.State = AuthEmpty
		}
		i := slices.IndexFunc(s.Entries, func(x AuthEntry) bool { return x.SessionID == d.SessionID })
		if i < 0 {
			s.Entries = append(s.Entries, e)
			continue
		}
		x := &s.Entries[i]
		if e.State == AuthPresent {
			x.State = AuthPresent
		}
		x.Size += e.Size
		x.Files += e.Files
		x.Capped = x.Capped || e.Capped
		if e.ModTime.After(x.ModTime) {
			x.ModTime = e.ModTime
		}
	}
	sort.Slice(s.Entries, func(i, j int) bool { return s.Entries[i].SessionID < s.Entries[j].SessionID })
	return s
}

// Taken reports whether the snapshot was taken and is complete.
func (s AuthSnapshot) Taken() bool { return !s.At.IsZero() && !s.Failed }

// Of returns the entry of a session: AuthMissing when the snapshot was
// taken and has no dir for it, AuthUnknown when no snapshot was taken.
func (s AuthSnapshot) Of(id string) AuthEntry {
	for _, e := range s.Entries {
		if e.SessionID == id {
			return e
		}
	}
	if !s.Taken() {
		return AuthEntry{SessionID: id, State: AuthUnknown}
	}
	return AuthEntry{SessionID: id, State: AuthMissing}
}

// SessionState is where one session stands after the last start, as the
// sessions view tells it.
type SessionState string

const (
	// SessionUnknown: no restoration seen in the log (and the session is
	// known from its profile on disk only).
	SessionUnknown SessionState = "unknown"
	// SessionNotBegun: the restoration runs (or timed out) and has not
	// reached this session yet: known from its profile before the start.
	SessionNotBegun SessionState = "not_begun"
	// SessionInRestore: "Restoring session" seen, no outcome yet (At: since).
	SessionInRestore SessionState = "restoring"
	// SessionRestoredOnly: restored, neither "is ready" nor a QR code yet.
	SessionRestoredOnly SessionState = "restored"
	// SessionReady: restored and connected ("Client <id> is ready").
	SessionReady SessionState = "ready"
	// SessionNeedsQR: restored, but its saved login is dead: a QR scan is
	// needed.
	SessionNeedsQR SessionState = "qr"
	// SessionLoggedOut: restored, then disconnected (LOGOUT).
	SessionLoggedOut SessionState = "logged_out"
	// SessionFailedState: failed or errored (Cause, CauseKind).
	SessionFailedState SessionState = "failed"
	// SessionInterrupted: the service was stopped before the session's
	// outcome, or its failure came after the stop began (the stop's doing:
	// "Navigating frame was detached").
	SessionInterrupted SessionState = "interrupted"
	// SessionUnlisted: a profile on disk that the completed restoration did
	// not mention (no longer active in Django, or a leftover).
	SessionUnlisted SessionState = "unlisted"
)

// SessionView is one session as `sessions` shows it: its outcome, its auth
// dir before the start and now, its browser, its stale locks.
type SessionView struct {
	ID       string
	Instance string // "" when unknown
	State    SessionState
	// At is when State began: restoring since, restored, failed, ...;
	// zero when unknown.
	At time.Time
	// Cause is the raw cause of a failure, logout or interruption (capped
	// by the parser); CauseKind what it comes down to.
	Cause     string
	CauseKind CauseKind
	// AuthBefore is the auth dir as it was right before the last start
	// (AuthUnknown without a snapshot); AuthNow as it is.
	AuthBefore, AuthNow AuthEntry
	// Browser is the session's Chromium tree, nil when none runs.
	Browser *Browser
	// Idle is true when a browser runs for a session that serves nobody:
	// failed, interrupted, logged out, or unlisted by a completed
	// restoration. `sessions cleanup` ends exactly these.
	Idle       bool
	StaleLocks []ChromiumLock
}

// SessionsInput is what JoinSessions joins.
type SessionsInput struct {
	Restoration     Restoration
	HaveRestoration bool
	// Before is the auth snapshot taken right before the last start.
	Before AuthSnapshot
	// Dirs are the auth dirs now (ScanAuthDirs).
	Dirs []AuthDir
	// Browsers are the Chromium trees among the service's processes.
	Browsers []Browser
	// Running is true while the service's main processes run.
	Running bool
	// StopBegan is when the service was last told to stop (or was found
	// gone), zero when that was not after the restoration began.
	StopBegan time.Time
}

// SessionsReport is what `sessions` shows: the last restoration joined
// with the auth dirs before the start and now, and with the browsers.
type SessionsReport struct {
	Restoration     Restoration
	HaveRestoration bool
	AuthDirs        []AuthDir
	// MissingAuth are the session IDs of the restoration, in log order,
	// whose auth dir was missing or empty before the start (or now, when no
	// snapshot was taken).
	MissingAuth []string
	// Unlisted are the session IDs that have an auth dir but that the
	// restoration did not mention (sessions no longer active in Django, or
	// leftovers). Only filled when the restoration is complete and its start
	// was seen, sorted.
	Unlisted   []string
	StaleLocks []ChromiumLock

	// Before is the auth snapshot of the last start.
	Before AuthSnapshot
	// Sessions are every session known: those of the restoration in log
	// order, then those known from their profile, by ID.
	Sessions []SessionView
	// Browsers are every Chromium tree of the service, by session ID.
	// Strays are those whose profile is not a session dir of the service's
	// auth dir: nobody's.
	Browsers, Strays []Browser
	// Interrupted is true when the service stopped before the restoration
	// was done; StopBegan says when the stop began.
	Interrupted bool
	StopBegan   time.Time
	// Running is the input's Running.
	Running bool
	// Unnamed counts the sessions that the service found ("Found N") but
	// that neither the log nor a profile names yet.
	Unnamed int
}

// IdleBrowsers returns the browsers of the sessions flagged Idle, by
// session ID.
func (r SessionsReport) IdleBrowsers() []Browser {
	var out []Browser
	for _, s := range r.Sessions {
		if s.Idle && s.Browser != nil {
			out = append(out, *s.Browser)
		}
	}
	return out
}

// RSS sums the resident memory of browsers.
func RSS(bs []Browser) uint64 {
	var n uint64
	for _, b := range bs {
		n += b.RSS
	}
	return n
}

// Session returns the view of one session.
func (r SessionsReport) Session(id string) (SessionView, bool) {
	i := slices.IndexFunc(r.Sessions, func(s SessionView) bool { return s.ID == id })
	if i < 0 {
		return SessionView{}, false
	}
	return r.Sessions[i], true
}

// BuildSessionsReport joins a restoration (haveR false when there is none)
// and the auth dirs of ScanAuthDirs, without a snapshot or browsers.
func BuildSessionsReport(r Restoration, haveR bool, dirs []AuthDir) SessionsReport {
	return JoinSessions(SessionsInput{Restoration: r, HaveRestoration: haveR, Dirs: dirs, Running: true})
}

// JoinSessions joins what the log says about each session with its auth dir
// before the start and now, its browser and its locks.
func JoinSessions(in SessionsInput) SessionsReport {
	r := in.Restoration
	rep := SessionsReport{Restoration: r, HaveRestoration: in.HaveRestoration, AuthDirs: in.Dirs,
		Before: in.Before, Running: in.Running}
	now := TakeAuthSnapshot(time.Time{}, in.Dirs)
	locks := make(map[string][]ChromiumLock)
	for _, d := range in.Dirs {
		for _, l := range d.Locks {
			if l.Stale {
				rep.StaleLocks = append(rep.StaleLocks, l)
				locks[d.SessionID] = append(locks[d.SessionID], l)
			}
		}
	}
	for _, b := range in.Browsers {
		if b.SessionID == "" {
			rep.Strays = append(rep.Strays, b)
			continue
		}
		rep.Browsers = append(rep.Browsers, b)
	}
	sort.SliceStable(rep.Browsers, func(i, j int) bool { return rep.Browsers[i].SessionID < rep.Browsers[j].SessionID })
	// One browser per session on its view: the first of the input.
	browsers := make(map[string]Browser)
	for _, b := range in.Browsers {
		if _, dup := browsers[b.SessionID]; b.SessionID != "" && !dup {
			browsers[b.SessionID] = b
		}
	}

	haveR := in.HaveRestoration
	// A restoration that is not done while the service does not run was
	// cut short: by a stop (StopBegan) or by the service's end.
	rep.Interrupted = haveR && !r.Done() && !in.Running
	if haveR && !in.StopBegan.IsZero() && !r.StartedAt.IsZero() && !in.StopBegan.Before(r.StartedAt.Truncate(time.Second)) {
		rep.StopBegan = in.StopBegan
	}
	authNow := func(id string) AuthEntry {
		e := now.Of(id)
		if e.State == AuthUnknown {
			e.State = AuthMissing // now is always looked at
		}
		return e
	}
	seen := make(map[string]bool)
	add := func(v SessionView) {
		seen[v.ID] = true
		v.AuthBefore = in.Before.Of(v.ID)
		v.AuthNow = authNow(v.ID)
		if b, ok := browsers[v.ID]; ok {
			v.Browser = &b
		}
		v.StaleLocks = locks[v.ID]
		switch v.State {
		case SessionFailedState, SessionInterrupted, SessionLoggedOut, SessionUnlisted:
			v.Idle = v.Browser != nil
		}
		rep.Sessions = append(rep.Sessions, v)
	}
	if haveR {
		for _, o := range r.Sessions {
			if seen[o.ID] {
				continue
			}
			v := SessionView{ID: o.ID, Instance: o.Instance, At: o.At, Cause: o.Cause}
			switch o.Result {
			case SessionRestoring:
				v.State = SessionInRestore
				if rep.Interrupted {
					v.State = SessionInterrupted
				}
			case SessionFailed, SessionError:
				v.State = SessionFailedState
				if !rep.StopBegan.IsZero() && !o.At.IsZero() && !o.At.Before(rep.StopBegan.Truncate(time.Second)) {
					v.State = SessionInterrupted
				}
			case SessionRestored:
				switch o.Connection {
				case ConnectionReady:
					v.State = SessionReady
				case ConnectionQR:
					v.State = SessionNeedsQR
				case ConnectionLoggedOut:
					v.State = SessionLoggedOut
				default:
					v.State = SessionRestoredOnly
				}
			}
			if v.Cause != "" {
				v.CauseKind = ClassifyCause(v.Cause)
			}
			if v.State == SessionFailedState && v.CauseKind == "" {
				v.CauseKind = CauseNoReason
			}
			add(v)
		}
		// Profiles on disk before the start that the log has not reached.
		if !r.Done() && !r.Truncated && r.Error == "" {
			for _, e := range in.Before.Entries {
				if !seen[e.SessionID] {
					st := SessionNotBegun
					if rep.Interrupted {
						st = SessionInterrupted
					}
					add(SessionView{ID: e.SessionID, State: st})
				}
			}
			if r.Found > len(seen) {
				rep.Unnamed = r.Found - len(seen)
			}
		}
	}
	// Profiles on disk the restoration did not mention, and browsers of
	// sessions nobody named.
	var rest []string
	for _, e := range now.Entries {
		if !seen[e.SessionID] {
			rest = append(rest, e.SessionID)
		}
	}
	for id := range browsers {
		if !seen[id] && !slices.Contains(rest, id) {
			rest = append(rest, id)
		}
	}
	sort.Strings(rest)
	complete := haveR && r.Complete && !r.Truncated
	for _, id := range rest {
		st := SessionUnknown
		if complete {
			st = SessionUnlisted
			if now.Of(id).State != AuthUnknown {
				rep.Unlisted = append(rep.Unlisted, id)
			}
		}
		add(SessionView{ID: id, State: st})
	}
	for _, v := range rep.Sessions {
		if v.State == SessionUnlisted || v.State == SessionUnknown || v.State == SessionNotBegun {
			continue
		}
		a := v.AuthBefore
		if a.State == AuthUnknown {
			a = v.AuthNow
		}
		if a.State == AuthMissing || a.State == AuthEmpty {
			rep.MissingAuth = append(rep.MissingAuth, v.ID)
		}
	}
	return rep
}
