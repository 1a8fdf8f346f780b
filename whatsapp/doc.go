// Package whatsapp knows the WhatsApp service's protocol as the bot sees it
// from outside, and turns it into facts: typed values; front ends word
// them.
//
//   - logline.go: one line of the service's winston log, JSON or text
//     (ParseLogLine, LogLine).
//   - restoration.go: the session-restoration block the service logs at
//     start, read line by line (RestorationParser) or found at the end of a
//     log file (LastRestoration), and what it says about each session
//     (Restoration, SessionOutcome).
//   - cause.go: what a session's failure cause comes down to
//     (ClassifyCause, CauseKind).
//   - chromium.go: a Chromium process's flags and the session it serves
//     (ParseChromiumArgs, SessionOfPath, Browser).
//   - sessionview.go: every session accounted for: its outcome, its auth
//     dir before the start and now, its browser, its locks (JoinSessions,
//     SessionsReport, SessionView, AuthSnapshot).
//   - sessions.go: the LocalAuth directories on disk and their Chromium
//     singleton locks (ScanAuthDirs, ChromiumLock, RemoveStaleLocks).
//
// It reads files and never starts, signals or watches a process: package
// manager does that and imports this one. Whether a lock's holder is alive
// is asked of the caller (ScanAuthDirs's alive func).
package whatsapp
