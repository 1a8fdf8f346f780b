package whatsapp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/servicefs"
)

// SessionResult is how the restoration of one session ended.
type SessionResult string

const (
	// SessionRestoring: "Restoring session: <id> (<instance>)" seen, no outcome yet.
	SessionRestoring SessionResult = "restoring"
	// SessionRestored: "✓ Session restored: <id>".
	SessionRestored SessionResult = "restored"
	// SessionFailed: warn "✗ Failed to restore session <id>: <reason>".
	SessionFailed SessionResult = "failed"
	// SessionError: error "✗ Error restoring session <id>: <error>".
	SessionError SessionResult = "error"
)

// Connection is what happened to a restored session afterwards: restored is
// not connected.
type Connection string

const (
	ConnectionUnknown Connection = ""      // neither line seen yet
	ConnectionReady   Connection = "ready" // "Client <id> is ready"
	ConnectionQR      Connection = "qr"    // "QR code generated for session <id>": a person must scan
	// ConnectionLoggedOut: "Client <id> disconnected: <reason>" after the
	// restoration (whatsapp-web.js's "disconnected" event; "LOGOUT" when the
	// phone logged the device out). The reason is in SessionOutcome.Cause.
	ConnectionLoggedOut Connection = "logged_out"
)

// SessionOutcome is one session of a restoration, as the log tells it.
type SessionOutcome struct {
	ID       string // "user_12_instance_main"
	Instance string // "main", from the "Restoring session" line; "" if unseen
	Result   SessionResult
	// Cause is the reason or error of a failed session, as logged (capped at
	// 500 bytes); "undefined" when the service logged no reason.
	Cause      string
	Connection Connection
	At         time.Time // time of the line that set Result
}

// Restoration is one session-restoration block of the service log: what the
// service did after one start.
type Restoration struct {
	ServiceStarted time.Time // "WhatsApp Service running on port N", if seen
	// StartedAt is the time of the first of "Initiating session restoration..."
	// and "Starting session restoration..." (the service logs both in the same
	// second); zero if neither was seen.
	StartedAt time.Time
	Found     int              // "Found N sessions to restore"; -1 if no such line
	Sessions  []SessionOutcome // one per session ID, in the order first seen
	// Complete is true once "Session restoration complete: R restored, F
	// failed" is seen, or a "Session restoration result" line with counts
	// and no error.
	Complete bool
	// Restored and Failed come from the completion line; until it is seen they
	// are counted from Sessions (Failed counts both failed and error).
	Restored, Failed int
	// Total is the "total" of the "Session restoration result" line, -1 if
	// that line was not seen.
	Total int
	// Error is why the whole restoration failed (Django unreachable):
	// "Failed to restore sessions: <err>", or the result line's "error".
	Error       string
	CompletedAt time.Time // time of the completion line, or of the error
	// Truncated is true when the block's start was not seen: the log starts
	// in the middle of it (rotation, truncation) or it began before the part
	// of the file that was read.
	Truncated bool
}

// Done reports whether the service has finished this restoration: the
// completion line, the result line or a global error was seen.
func (r Restoration) Done() bool { return r.Complete || r.Error != "" || r.Total >= 0 }

// FailedSessions returns the sessions that failed or errored, in log order.
func (r Restoration) FailedSessions() []SessionOutcome {
	return r.sessionsWhere(func(o SessionOutcome) bool {
		return o.Result == SessionFailed || o.Result == SessionError
	})
}

// RestoredSessions returns the restored sessions, in log order.
func (r Restoration) RestoredSessions() []SessionOutcome {
	return r.sessionsWhere(func(o SessionOutcome) bool { return o.Result == SessionRestored })
}

// Pending returns the restored sessions that are neither ready nor waiting
// for a QR scan yet.
func (r Restoration) Pending() []SessionOutcome {
	return r.sessionsWhere(func(o SessionOutcome) bool {
		return o.Result == SessionRestored && o.Connection == ConnectionUnknown
	})
}

// NeedQR returns the sessions for which a QR code was generated: their saved
// login is dead and a person must scan.
func (r Restoration) NeedQR() []SessionOutcome {
	return r.sessionsWhere(func(o SessionOutcome) bool { return o.Connection == ConnectionQR })
}

// InProgress returns the sessions still being restored (no outcome yet).
func (r Restoration) InProgress() []SessionOutcome {
	return r.sessionsWhere(func(o SessionOutcome) bool { return o.Result == SessionRestoring })
}

func (r Restoration) sessionsWhere(keep func(SessionOutcome) bool) []SessionOutcome {
	var out []SessionOutcome
	for _, o := range r.Sessions {
		if keep(o) {
			out = append(out, o)
		}
	}
	return out
}

// RestorationParser consumes log lines one by one and keeps the latest
// restoration block. A block begins with "WhatsApp Service running on port",
// or with "Initiating session restoration..." or "Starting session
// restoration..." when they are not the continuation of the block in course;
// restoration lines seen before any start line open a Truncated block.
// "Client <id> is ready" and "QR code generated for session <id>" update the
// sessions of the current block and are ignored for unknown IDs.
//
// It is safe for concurrent use: one goroutine may Feed while others read
// Result.
type RestorationParser struct {
	mu    sync.Mutex
	seen  bool
	cur   Restoration
	index map[string]int // session ID -> index in cur.Sessions
	// state of the current block
	initiated, starting, progressed bool
}

// NewRestorationParser returns a parser that has seen nothing.
func NewRestorationParser() *RestorationParser {
	p := &RestorationParser{}
	p.reset()
	p.seen = false
	return p
}

// Seen reports whether a restoration block (or a service start) was seen.
func (p *RestorationParser) Seen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// Result returns a snapshot of the latest block. Before any block it returns
// a Restoration with Found and Total -1.
func (p *RestorationParser) Result() Restoration {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.cur
	r.Sessions = append([]SessionOutcome(nil), p.cur.Sessions...)
	if !r.Complete {
		r.Restored, r.Failed = 0, 0
		for _, o := range r.Sessions {
			switch o.Result {
			case SessionRestored:
				r.Restored++
			case SessionFailed, SessionError:
				r.Failed++
			}
		}
	}
	return r
}

func (p *RestorationParser) reset() {
	p.cur = Restoration{Found: -1, Total: -1}
	p.index = make(map[string]int)
	p.initiated, p.starting, p.progressed = false, false, false
	p.seen = true
}

// restorationKeywords prefilter lines: a line without any of them is skipped
// without being parsed (most of the log is health polls).
var restorationKeywords = []string{"ession", "running on port", "Client "}

// Restoration lines, after the leading "✓ " / "✗ " (or their mojibake) is cut.
const (
	restPortLine      = "Service running on port"
	restInitiating    = "Initiating session restoration"
	restStarting      = "Starting session restoration"
	restFound         = "Found "
	restRestoring     = "Restoring session: "
	restRestored      = "Session restored: "
	restFailedAll     = "Failed to restore sessions"
	restFailedOne     = "Failed to restore session "
	restErrorOne      = "Error restoring session "
	restComplete      = "Session restoration complete: "
	restResult        = "Session restoration result:"
	restClient        = "Client "
	restClientReady   = "is ready"
	restDisconnected  = " disconnected"
	restQR            = "QR code generated for session "
	restorationCauseN = 500
)

// Feed consumes one raw log line of either format (a trailing newline is
// ignored). Lines that are not restoration lines are ignored, as are JSON
// lines that do not parse (a line cut by truncation).
func (p *RestorationParser) Feed(line string) {
	hit := false
	for _, k := range restorationKeywords {
		if strings.Contains(line, k) {
			hit = true
			break
		}
	}
	if !hit {
		return
	}
	l, ok := ParseLogLine(line)
	if !ok {
		if strings.HasPrefix(strings.TrimSpace(line), "{") {
			return
		}
		l.Message = strings.TrimRight(line, "\r\n")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.feed(l)
}

func (p *RestorationParser) feed(l LogLine) {
	msg := restTrimMark(l.Text())
	t := l.Time
	switch {
	case strings.Contains(msg, restPortLine):
		p.reset()
		p.cur.ServiceStarted = t

	case strings.HasPrefix(msg, restInitiating):
		if !p.seen || p.initiated || p.starting || p.progressed {
			p.reset()
		}
		p.initiated = true
		if p.cur.StartedAt.IsZero() {
			p.cur.StartedAt = t
		}

	case strings.HasPrefix(msg, restStarting):
		if !p.seen || p.starting || p.progressed {
			p.reset()
		}
		p.starting = true
		if p.cur.StartedAt.IsZero() {
			p.cur.StartedAt = t
		}

	case strings.HasPrefix(msg, restFound):
		n, ok := restFoundCount(msg[len(restFound):])
		if !ok {
			return
		}
		if !p.seen || p.cur.Found >= 0 || p.done() {
			p.resetTruncated()
		}
		p.progressed = true
		p.cur.Found = n

	case strings.HasPrefix(msg, restRestoring):
		rest := strings.TrimSpace(msg[len(restRestoring):])
		id, instance, _ := strings.Cut(rest, " ")
		if id == "" {
			return
		}
		if !p.seen || p.done() {
			p.resetTruncated()
		}
		p.progressed = true
		o := p.session(id)
		if inst := strings.TrimSpace(instance); inst != "" {
			o.Instance = strings.TrimSuffix(strings.TrimPrefix(inst, "("), ")")
		}
		o.Result, o.Cause, o.At = SessionRestoring, "", t

	case strings.HasPrefix(msg, restRestored):
		id := restFirstField(msg[len(restRestored):])
		if id == "" {
			return
		}
		p.ensure()
		o := p.session(id)
		o.Result, o.Cause, o.At = SessionRestored, "", t

	case strings.HasPrefix(msg, restFailedAll):
		p.ensure()
		p.progressed = true
		cause := strings.TrimSpace(strings.TrimPrefix(msg[len(restFailedAll):], ":"))
		if cause == "" {
			cause = human.FirstLine(l.Stack)
		}
		if cause == "" {
			cause = "unknown error"
		}
		p.cur.Error = restCap(cause)
		p.cur.CompletedAt = t

	case strings.HasPrefix(msg, restFailedOne), strings.HasPrefix(msg, restErrorOne):
		prefix, result := restFailedOne, SessionFailed
		if strings.HasPrefix(msg, restErrorOne) {
			prefix, result = restErrorOne, SessionError
		}
		id, cause := restIDCause(msg[len(prefix):])
		if id == "" {
			return
		}
		if cause == "" {
			cause = human.FirstLine(l.Stack)
		}
		p.ensure()
		o := p.session(id)
		o.Result, o.Cause, o.At = result, restCap(cause), t

	case strings.HasPrefix(msg, restComplete):
		restored, failed, ok := restCounts(msg[len(restComplete):])
		if !ok {
			return
		}
		p.ensure()
		p.progressed = true
		p.cur.Complete = true
		p.cur.Restored, p.cur.Failed = restored, failed
		p.cur.CompletedAt = t

	case strings.HasPrefix(msg, restResult):
		p.ensure()
		p.progressed = true
		p.result(strings.TrimSpace(msg[len(restResult):]), l.Fields, t)

	case strings.HasPrefix(msg, restClient):
		id, ok := strings.CutSuffix(strings.TrimRight(msg[len(restClient):], " .!"), restClientReady)
		if ok {
			p.connect(strings.TrimSpace(id), ConnectionReady)
			break
		}
		if id, reason, ok := strings.Cut(msg[len(restClient):], restDisconnected); ok && !strings.ContainsAny(id, " \t") {
			p.connect(id, ConnectionLoggedOut)
			if i, ok := p.index[id]; ok && p.seen {
				p.cur.Sessions[i].Cause = restCap(strings.TrimSpace(strings.TrimLeft(reason, ":")))
			}
		}

	case strings.HasPrefix(msg, restQR):
		p.connect(restFirstField(msg[len(restQR):]), ConnectionQR)
	}
}

// ensure opens a truncated block when a restoration line comes before any
// start line.
func (p *RestorationParser) ensure() {
	if !p.seen {
		p.resetTruncated()
	}
}

func (p *RestorationParser) resetTruncated() {
	p.reset()
	p.cur.Truncated = true
}

func (p *RestorationParser) done() bool { return p.cur.Done() }

// session returns the outcome of id in the current block, adding it if new.
func (p *RestorationParser) session(id string) *SessionOutcome {
	if i, ok := p.index[id]; ok {
		return &p.cur.Sessions[i]
	}
	p.cur.Sessions = append(p.cur.Sessions, SessionOutcome{ID: id, Result: SessionRestoring})
	p.index[id] = len(p.cur.Sessions) - 1
	return &p.cur.Sessions[len(p.cur.Sessions)-1]
}

func (p *RestorationParser) connect(id string, c Connection) {
	if !p.seen || id == "" {
		return
	}
	if i, ok := p.index[id]; ok {
		p.cur.Sessions[i].Connection = c
	}
}

// result reads "Session restoration result:" followed by a JSON object
// (JSON.stringify in the message), or with the object merged into the winston
// line's keys.
func (p *RestorationParser) result(text string, fields map[string]string, t time.Time) {
	var v struct {
		Restored *int   `json:"restored"`
		Failed   *int   `json:"failed"`
		Total    *int   `json:"total"`
		Error    string `json:"error"`
	}
	if strings.HasPrefix(text, "{") {
		dec := json.NewDecoder(strings.NewReader(text))
		_ = dec.Decode(&v) // a partial object still fills what it can
	}
	num := func(dst **int, key string) {
		if *dst != nil {
			return
		}
		if s, ok := fields[key]; ok {
			if n, err := strconv.Atoi(s); err == nil {
				*dst = &n
			}
		}
	}
	num(&v.Restored, "restored")
	num(&v.Failed, "failed")
	num(&v.Total, "total")
	if v.Error == "" {
		v.Error = fields["error"]
	}
	switch {
	case v.Total != nil:
		p.cur.Total = *v.Total
	case v.Restored != nil && v.Failed != nil:
		p.cur.Total = *v.Restored + *v.Failed
	default:
		p.cur.Total = 0 // seen, without a total
	}
	if v.Error != "" && v.Error != "null" && v.Error != "undefined" {
		if p.cur.Error == "" {
			p.cur.Error = restCap(v.Error)
			p.cur.CompletedAt = t
		}
		return
	}
	if !p.cur.Complete && v.Restored != nil && v.Failed != nil {
		p.cur.Complete = true
		p.cur.Restored, p.cur.Failed = *v.Restored, *v.Failed
		p.cur.CompletedAt = t
	}
	if p.cur.Found < 0 && v.Total != nil {
		p.cur.Found = *v.Total
	}
}

// restTrimMark cuts the leading "✓ " or "✗ " of a message, and their mojibake
// ("âœ“ "): every leading rune that is not an ASCII letter.
func restTrimMark(s string) string {
	for i, r := range s {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return s[i:]
		}
	}
	return ""
}

func restFirstField(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return strings.TrimRight(f[0], ".,;:")
}

// restFoundCount reads "N sessions to restore".
func restFoundCount(s string) (int, bool) {
	num, rest, _ := strings.Cut(s, " ")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || !strings.HasPrefix(rest, "session") {
		return 0, false
	}
	return n, true
}

// restIDCause splits "<id>: <cause>".
func restIDCause(s string) (id, cause string) {
	id, cause, ok := strings.Cut(s, ":")
	if !ok {
		return restFirstField(s), ""
	}
	return strings.TrimSpace(id), strings.TrimSpace(cause)
}

// restCounts reads "R restored, F failed".
func restCounts(s string) (restored, failed int, ok bool) {
	a, b, found := strings.Cut(s, ",")
	if !found {
		return 0, 0, false
	}
	ra, rb := strings.Fields(a), strings.Fields(b)
	if len(ra) < 2 || len(rb) < 2 || ra[1] != "restored" || !strings.HasPrefix(rb[1], "failed") {
		return 0, 0, false
	}
	r, err1 := strconv.Atoi(ra[0])
	f, err2 := strconv.Atoi(rb[0])
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return r, f, true
}

// restCap keeps the first line of s: restorationCauseN bytes at most, then
// the ellipsis when cut.
func restCap(s string) string {
	s = human.FirstLine(s)
	if len(s) <= restorationCauseN {
		return s
	}
	cut := restorationCauseN
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + human.Ellipsis
}

// Limits of LastRestoration.
const (
	restorationChunk    = 1 << 20   // read backwards this much at a time
	restorationMaxBack  = 16 << 20  // never look further back than this
	restorationLookback = 256 << 10 // parse from this far before the last start line
	restorationMaxLine  = 1 << 20   // longer lines are fed cut (and a cut JSON line is ignored)
)

// restorationMarkers are the raw bytes of the lines that may begin a block.
var restorationMarkers = [][]byte{
	[]byte(restPortLine), []byte(restInitiating), []byte(restStarting),
}

// LastRestoration returns the latest restoration block of the log file at
// path. It does not read the whole file: it reads backwards 1 MiB at a time,
// up to 16 MiB from the end, to find the last line that may begin a block,
// then parses forward from a little before it (so that "running on port" is
// seen with the "Starting" line that follows it) to the end of the file as it
// was when opened. When no start line is found within those 16 MiB, the part
// read is parsed anyway and a block found there is marked Truncated. ok is
// false when there is no block at all. Lines longer than 1 MiB are cut; a cut
// JSON line is ignored.
//
// The file is opened as servicefs.Open opens a file outside a service's dir:
// without blocking, refusing a symlink as its last component, and only a
// regular file is read. Readers of a service's log use ReadRestoration on a
// file opened through servicefs with the service's dir.
func LastRestoration(path string) (Restoration, bool, error) {
	return lastRestoration(path, restorationChunk, restorationMaxBack)
}

func lastRestoration(path string, chunk, maxBack int64) (Restoration, bool, error) {
	f, err := servicefs.Open("", path)
	if err != nil {
		return Restoration{}, false, fmt.Errorf("last restoration: %w", err)
	}
	defer f.Close()
	return readRestoration(f, chunk, maxBack)
}

// ReadRestoration is LastRestoration on an open file; the file must be a
// regular file.
func ReadRestoration(f *os.File) (Restoration, bool, error) {
	return readRestoration(f, restorationChunk, restorationMaxBack)
}

func readRestoration(f *os.File, chunk, maxBack int64) (Restoration, bool, error) {
	info, err := f.Stat()
	if err != nil {
		return Restoration{}, false, fmt.Errorf("last restoration: %w", err)
	}
	if !info.Mode().IsRegular() {
		return Restoration{}, false, fmt.Errorf("last restoration: %s is not a regular file", f.Name())
	}
	size := info.Size()
	low := max(0, size-maxBack)
	mark, found, err := restLastMarker(f, low, size, chunk)
	if err != nil {
		return Restoration{}, false, fmt.Errorf("last restoration: %w", err)
	}
	from := low
	if found {
		from = max(0, mark-restorationLookback)
	}
	p := NewRestorationParser()
	if err := restParseForward(f, from, size, p); err != nil {
		return Restoration{}, false, fmt.Errorf("last restoration: %w", err)
	}
	if !p.Seen() {
		return Restoration{}, false, nil
	}
	return p.Result(), true, nil
}

// restLastMarker searches [low, size) backwards, chunk bytes at a time, for
// the last occurrence of a block marker, and returns its offset.
func restLastMarker(f io.ReaderAt, low, size, chunk int64) (int64, bool, error) {
	overlap := 0
	for _, m := range restorationMarkers {
		overlap = max(overlap, len(m)-1)
	}
	var tail []byte // the first bytes of the chunk read before (later in the file)
	buf := make([]byte, 0, int(min(chunk, size-low))+overlap)
	for pos := size; pos > low; {
		n := min(chunk, pos-low)
		start := pos - n
		buf = buf[:n]
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, false, err
		}
		data := append(buf, tail...)
		best := -1
		for _, m := range restorationMarkers {
			if i := bytes.LastIndex(data, m); i > best {
				best = i
			}
		}
		if best >= 0 {
			return start + int64(best), true, nil
		}
		tail = append(tail[:0], buf[:min(len(buf), overlap)]...)
		pos = start
	}
	return 0, false, nil
}

// restParseForward feeds the lines of [from, to) to p. When from is not the
// start of the file, the first (partial) line is skipped.
func restParseForward(f io.ReaderAt, from, to int64, p *RestorationParser) error {
	skip := false
	if from > 0 {
		from-- // so that a line starting exactly at from is kept
		skip = true
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, from, to-from), 64<<10)
	var long []byte
	for {
		frag, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if room := restorationMaxLine - len(long); room > 0 {
				long = append(long, frag[:min(len(frag), room)]...)
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		line := frag
		if long != nil {
			if room := restorationMaxLine - len(long); room > 0 {
				long = append(long, frag[:min(len(frag), room)]...)
			}
			line = long
		}
		if len(line) > 0 || err == nil {
			if skip {
				skip = false
			} else {
				p.Feed(string(line))
			}
		}
		long = nil
		if err != nil {
			return nil
		}
	}
}
