// Package whatsapp knows the WhatsApp service's protocol as the bot sees it
// from outside, and turns it into facts: typed values. Two methods still
// make words, Restoration.Summary and SessionOutcome.LikelyCause; front
// ends word the rest.
//
//   - logline.go: one line of the service's winston log, JSON or text
//     (ParseLogLine, LogLine).
//   - restoration.go: the session-restoration block the service logs at
//     start, read line by line (RestorationParser) or found at the end of a
//     log file (LastRestoration), and what it says about each session
//     (Restoration, SessionOutcome, LikelyCause).
//   - sessions.go: the LocalAuth directories on disk and their Chromium
//     singleton locks (ScanAuthDirs, ChromiumLock, RemoveStaleLocks), and the
//     report that joins them with the last restoration (SessionsReport,
//     BuildSessionsReport).
//
// It reads files and never starts, signals or watches a process: package
// manager does that and imports this one. Whether a lock's holder is alive
// is asked of the caller (ScanAuthDirs's alive func).
package whatsapp
