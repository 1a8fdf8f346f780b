package manager

// Reading the end of a log file (ReadLogTail, TailLines: generic, bounded,
// backwards from the end) and Service.Logs and Service.Output, which read the
// service's log and its captured stdout and stderr.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sanasend/sanasend-bot/internal/servicefs"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// MaxLogLines is the most lines one query returns.
const MaxLogLines = 1000

// MaxLineBytes caps one returned line, the "…" included; longer lines are cut
// on a rune boundary and end with "…".
//
// 2000 bytes show a whole request or restoration line and the head of an
// error's stack, and fit one Slack section block (3000 characters) on their
// own. A full answer stays under 2 MB (1000 lines), which Slack takes as a
// file snippet.
const MaxLineBytes = 2000

// maxScanBytes bounds how far back from the end of a log one query reads
// (256 MiB). A filter that matches rarely, or a log made of health polls,
// would otherwise make a query read the whole file. LogResult.Scanned says
// how much was read.
const maxScanBytes = 256 << 20

const (
	// tailBlockBytes is the size of one backward read; one buffer of this
	// size is reused for the whole query. 32 KiB is the largest object Go
	// allocates from its per-P caches: a 64 KiB buffer is a large object,
	// zeroed and often faulted in afresh at each query, and a 1000-line
	// tail took twice as long with it (BenchmarkTailLines/all).
	tailBlockBytes = 32 << 10
	// tailRawLineBytes is how much of a line's start is read at most. Cleaning
	// removes escape sequences, so a line needs more raw bytes than
	// MaxLineBytes to fill MaxLineBytes; 4x leaves room for colour codes.
	tailRawLineBytes = 4 * MaxLineBytes
	// tailMaxFilterBytes bounds LogQuery.Filter.
	tailMaxFilterBytes = 200
	tailEllipsis       = "…"
)

// LogQuery asks for the last lines of a log.
type LogQuery struct {
	Lines         int    // 1..MaxLogLines
	Filter        string // literal, case-insensitive substring; "" = all
	IncludeHealth bool   // include the GET /health request lines (hidden by default)
}

// Validate returns an error, whose message names the field and is safe to
// show to the person who asked, if q cannot be run.
func (q LogQuery) Validate() error {
	if q.Lines < 1 || q.Lines > MaxLogLines {
		return fmt.Errorf("lines must be between 1 and %d, got %d", MaxLogLines, q.Lines)
	}
	if len(q.Filter) > tailMaxFilterBytes {
		return fmt.Errorf("filter must be at most %d bytes, got %d", tailMaxFilterBytes, len(q.Filter))
	}
	if !utf8.ValidString(q.Filter) {
		return errors.New("filter is not valid UTF-8")
	}
	for _, r := range q.Filter {
		// A cleaned line holds no newline and no escape: such a filter
		// could never match, and would scan the whole bound for nothing.
		if r != '\t' && unicode.IsControl(r) {
			return fmt.Errorf("filter must not contain control character %U", r)
		}
	}
	return nil
}

// LogResult is the answer to a LogQuery.
type LogResult struct {
	Path string
	// Lines are oldest first, each cleaned: no trailing "\r", no ANSI escape
	// sequences, invalid UTF-8 replaced by U+FFFD, at most MaxLineBytes.
	Lines []string
	// Cut is how many of Lines were cut to MaxLineBytes (they end with "…").
	Cut int
	// Exhausted is set when the start of the file was reached before
	// LogQuery.Lines lines were found: Lines holds every line that matched.
	Exhausted bool
	// Scanned is how many bytes were read, re-reads included.
	Scanned int64
	// Searched is how many lines were looked at, matching or not, health
	// polls included: from the end of the file back to the oldest line kept,
	// or to where the search stopped.
	Searched int
	// ScanLimit is set when the search stopped at its bound (256 MiB) before
	// the start of the file without finding LogQuery.Lines lines: the caller
	// should say that only the last Scanned bytes were searched.
	ScanLimit bool
}

// ReadLogTail returns the last lines of the log file at path that match q, as
// TailLines does. The file is read once, up to its size when opened; lines
// appended meanwhile are not seen. It is opened as servicefs.Open opens a
// file outside a service's dir: without blocking, refusing a symlink as its
// last component, and only a regular file is read. Errors are wrapped as
// "read log <path>: ..."; a missing file gives an error that wraps
// fs.ErrNotExist.
func ReadLogTail(path string, q LogQuery) (LogResult, error) {
	if err := q.Validate(); err != nil {
		return LogResult{Path: path}, fmt.Errorf("read log %s: %w", path, err)
	}
	f, err := servicefs.Open("", path)
	if err != nil {
		return LogResult{Path: path}, fmt.Errorf("read log %s: %w", path, err)
	}
	defer f.Close()
	return readLogTail(f, path, q, maxScanBytes)
}

// readLogTail reads the tail of f, opened from path, with the scan bound as
// a parameter, so that tests can reach it with small files; 0 or less means
// no bound.
func readLogTail(f *os.File, path string, q LogQuery, maxScan int64) (LogResult, error) {
	res := LogResult{Path: path}
	if err := q.Validate(); err != nil {
		return res, fmt.Errorf("read log %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return res, fmt.Errorf("read log %s: %w", path, err)
	}
	res, err = tailLines(f, fi.Size(), q, tailBlockBytes, maxScan)
	res.Path = path
	if err != nil {
		return res, fmt.Errorf("read log %s: %w", path, err)
	}
	return res, nil
}

// logReadTimeout bounds one read of the service's log or captured output: a
// 1000-line tail or the 256 MiB scan bound takes well under a second on a
// working disk.
const logReadTimeout = 10 * time.Second

// readServiceLog reads the tail of path, a file of the service whose dir is
// dir, through servicefs.Read: beneath dir, never a FIFO, and within
// logReadTimeout.
func readServiceLog(ctx context.Context, dir, path string, q LogQuery) (LogResult, error) {
	if err := q.Validate(); err != nil {
		return LogResult{Path: path}, fmt.Errorf("read log %s: %w", path, err)
	}
	res, err := servicefs.Read(ctx, dir, path, logReadTimeout, func(f *os.File) (LogResult, error) {
		return readLogTail(f, path, q, maxScanBytes)
	})
	if err != nil && !strings.HasPrefix(err.Error(), "read log ") {
		err = fmt.Errorf("read log %s: %w", path, err)
	}
	res.Path = path
	return res, err
}

// TailLines returns the last q.Lines lines of the first size bytes of r that
// match q, oldest first.
//
// Lines end at "\n"; a last line without "\n" is a line, a final "\n" does
// not start an empty one, and a "\r" before the "\n" is dropped. Only the
// first 4*MaxLineBytes bytes of a line are read: a longer line is always cut.
// Each line is then cleaned (see LogResult.Lines), and the filter and the
// health test look at the cleaned text, "…" excluded: what is shown is what
// matched.
//
// The filter is a literal substring. When it is all ASCII, ASCII letters are
// folded byte by byte, so the search never decodes runes (and "k" does not
// match U+212A KELVIN SIGN); otherwise both sides are lowered with
// unicode.ToLower rune by rune, as strings.ToLower does, so "ÄRGER" finds
// "ärger".
//
// Unless q.IncludeHealth, health-poll lines are skipped: lines whose message
// is exactly "GET /health", with or without a query string, in winston's JSON
// format (a line starting with "{" that holds `"message":"GET /health"`) or
// text format ("<timestamp> <level>: GET /health"). The test is a byte
// search, not a JSON parse.
//
// r is read backwards from size in blocks of 32 KiB into one buffer, and
// reading stops when enough lines are found, so memory depends on neither
// the file's size nor its lines' lengths. Only the last 256 MiB are read: a line is examined when the newline before it lies within them
// (or it is the first line, the whole file lying within them); see
// LogResult.ScanLimit.
func TailLines(r io.ReaderAt, size int64, q LogQuery) (LogResult, error) {
	return tailLines(r, size, q, tailBlockBytes, maxScanBytes)
}

// tailLines is TailLines with the block size and the scan bound as
// parameters, so that tests can cross block boundaries with small files.
//
// It keeps the end offset of the newest line whose start is not known yet
// (lineEnd) and reads the block that ends there. Within a block the lines
// between two newlines are complete; the bytes before the block's first
// newline belong to an older line, and the next block ends at that newline,
// re-reading them. A block without a newline belongs to a line longer than a
// block: the blocks before it are scanned for the newline that starts the
// line, and the line's first bytes are then read again with one ReadAt.
// With a filter, a block that needs no cleaning is searched as a whole
// (takeMatching) and only the lines holding the filter are looked at.
func tailLines(r io.ReaderAt, size int64, q LogQuery, block int, maxScan int64) (LogResult, error) {
	var res LogResult
	if err := q.Validate(); err != nil {
		return res, err
	}
	if size < 0 {
		return res, fmt.Errorf("negative size %d", size)
	}
	t := newTailer(r, q, block, &res)
	err := t.run(size, maxScan)
	res.Lines = t.newest
	slices.Reverse(res.Lines)
	return res, err
}

type tailer struct {
	r     io.ReaderAt
	q     LogQuery
	res   *LogResult
	buf   []byte // the block
	nls   []int  // newline offsets in the block
	hits  []int  // offsets of the filter in the block
	start []byte // the start of a line longer than a block
	clean tailCleaner
	fold  []byte // scratch for case folding a line
	// blockFold is the block case folded, for takeMatching.
	blockFold []byte
	// anchor is the index in filter of its rarest byte in the first block
	// searched; -1 until then.
	anchor int
	// filter is q.Filter folded as the line will be: ASCII-lowered, or
	// lowered rune by rune when foldRunes.
	filter    []byte
	foldRunes bool
	newest    []string // kept lines, newest first; never nil
}

func newTailer(r io.ReaderAt, q LogQuery, block int, res *LogResult) *tailer {
	t := &tailer{r: r, q: q, res: res, buf: make([]byte, block), anchor: -1, newest: []string{}}
	if q.Filter != "" {
		t.foldRunes = !tailIsASCII(q.Filter)
		t.filter = t.lower(nil, []byte(q.Filter))
	}
	return t
}

func (t *tailer) run(size, maxScan int64) error {
	if size == 0 {
		t.res.Exhausted = true
		return nil
	}
	floor := int64(0) // no byte before floor is read
	if maxScan > 0 && size > maxScan {
		floor = size - maxScan
	}
	end := size     // end of the next block
	lineEnd := size // end of the newest line whose start is unknown
	long := false   // that line starts before end: [end, lineEnd) holds no '\n'
	for first := true; ; first = false {
		bs := max(floor, end-int64(len(t.buf)))
		data, err := t.read(t.buf[:end-bs], bs)
		if err != nil {
			return err
		}
		if first && data[len(data)-1] == '\n' {
			data = data[:len(data)-1]
			lineEnd--
		}
		if !long {
			// data ends at lineEnd: the lines after its first newline are
			// complete.
			hi := bytes.IndexByte(data, '\n')
			if hi < 0 {
				hi = len(data)
			} else if t.takeLines(data[hi+1:]) {
				return nil
			}
			lineEnd = bs + int64(hi)
			switch {
			case bs == 0:
				t.res.Exhausted = !t.takeWhole(data[:hi], false)
				return nil
			case bs == floor:
				t.res.ScanLimit = true
				return nil
			case hi == len(data):
				long, end = true, bs
			default:
				end = lineEnd
			}
			continue
		}
		p := tailLastNewline(data)
		if p < 0 {
			switch {
			case bs == 0:
				done, err := t.takeStart(0, lineEnd, data, bs)
				t.res.Exhausted = !done
				return err
			case bs == floor:
				t.res.ScanLimit = true
				return nil
			}
			end = bs
			continue
		}
		if done, err := t.takeStart(bs+int64(p)+1, lineEnd, data, bs); done || err != nil {
			return err
		}
		long = false
		lineEnd = bs + int64(p)
		end = lineEnd
	}
}

// read fills b from offset off.
func (t *tailer) read(b []byte, off int64) ([]byte, error) {
	n, err := t.r.ReadAt(b, off)
	t.res.Scanned += int64(n)
	if n == len(b) {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF // the file shrank
	}
	return nil, fmt.Errorf("read %d bytes at offset %d: %w", len(b), off, err)
}

// takeStart takes the line [start, end) of a line longer than the block; data
// holds the bytes from offset bs, the line's start among them.
func (t *tailer) takeStart(start, end int64, data []byte, bs int64) (bool, error) {
	n := min(end-start, tailRawLineBytes)
	truncated := end-start > tailRawLineBytes
	if i := start - bs; i+n <= int64(len(data)) {
		return t.take(data[i:i+n], truncated, false), nil
	}
	if t.start == nil {
		t.start = make([]byte, tailRawLineBytes)
	}
	raw, err := t.read(t.start[:n], start)
	if err != nil {
		return false, err
	}
	return t.take(raw, truncated, false), nil
}

// takeLines takes the lines of b, newest first: b holds whole lines
// separated by "\n". It returns true when enough lines are kept.
//
// When b needs no cleaning (no ESC, valid UTF-8), a cleaned line is a part
// of the raw line, so a line can only match an ASCII filter if the raw line
// holds it: b is folded and searched for the filter as a whole, and only the
// lines holding it are looked at. A rare filter then costs a folding pass and
// a vectorised search per block instead of work per line.
func (t *tailer) takeLines(b []byte) bool {
	clean := bytes.IndexByte(b, 0x1b) < 0 && utf8.Valid(b)
	if clean && t.filter != nil && !t.foldRunes {
		return t.takeMatching(b)
	}
	t.nls = tailNewlines(t.nls[:0], b)
	hi := len(b)
	for k := len(t.nls) - 1; k >= 0; k-- {
		if t.takeWhole(b[t.nls[k]+1:hi], clean) {
			return true
		}
		hi = t.nls[k]
	}
	return t.takeWhole(b[:hi], clean)
}

// takeMatching is takeLines for clean lines and an ASCII filter.
func (t *tailer) takeMatching(b []byte) bool {
	t.blockFold = tailFoldASCII(t.blockFold[:0], b)
	if t.anchor < 0 {
		t.anchor = tailRarestByte(t.filter, t.blockFold)
	}
	t.hits = t.hits[:0]
	for i := 0; ; {
		j := tailIndexAt(t.blockFold[i:], t.filter, t.anchor)
		if j < 0 {
			break
		}
		t.hits = append(t.hits, i+j)
		i += j + 1
	}
	hi := len(b) // lines from hi on are taken
	// take counts the lines it looks at; the lines without the filter
	// are counted here, as passed over.
	looked := 0
	for k := len(t.hits) - 1; k >= 0; k-- {
		h := t.hits[k]
		if h >= hi {
			continue // in a line already taken
		}
		lo := bytes.LastIndexByte(b[:h], '\n') + 1
		end := bytes.IndexByte(b[h:hi], '\n')
		if end < 0 {
			end = hi
		} else {
			end += h
		}
		looked++
		if t.takeWhole(b[lo:end], true) {
			t.res.Searched += bytes.Count(b[lo:], []byte{'\n'}) + 1 - looked
			return true
		}
		hi = lo
	}
	t.res.Searched += bytes.Count(b, []byte{'\n'}) + 1 - looked
	return false
}

// takeWhole takes a line that is wholly in memory; clean says that it holds
// no ESC and is valid UTF-8.
func (t *tailer) takeWhole(line []byte, clean bool) bool {
	if len(line) > tailRawLineBytes {
		return t.take(line[:tailRawLineBytes], true, clean)
	}
	return t.take(line, false, clean)
}

// take cleans one line, newest first, and keeps it if it matches. raw is the
// line without its "\n"; truncated says that raw is only its start; clean
// that it needs no cleaning. It returns true when enough lines are kept.
func (t *tailer) take(raw []byte, truncated, clean bool) bool {
	t.res.Searched++
	if !truncated && len(raw) > 0 && raw[len(raw)-1] == '\r' {
		raw = raw[:len(raw)-1]
	}
	text := raw
	if !clean {
		text = t.clean.clean(raw)
	}
	cut := truncated || len(text) > MaxLineBytes
	if cut {
		text = tailCutRunes(text, MaxLineBytes-len(tailEllipsis))
	}
	if t.filter != nil {
		t.fold = t.lower(t.fold[:0], text)
		if !bytes.Contains(t.fold, t.filter) {
			return false
		}
	}
	if !t.q.IncludeHealth && isHealthPollLine(text) {
		return false
	}
	s := string(text)
	if cut {
		s += tailEllipsis
		t.res.Cut++
	}
	t.newest = append(t.newest, s)
	return len(t.newest) == t.q.Lines
}

// lower appends b folded for the filter to dst.
func (t *tailer) lower(dst, b []byte) []byte {
	if !t.foldRunes {
		return tailFoldASCII(dst, b)
	}
	for i := 0; i < len(b); {
		if c := b[i]; c < utf8.RuneSelf {
			dst = append(dst, tailASCIILower[c])
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += n
	}
	return dst
}

var tailASCIILower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] += 'a' - 'A'
		}
	}
	return t
}()

// tailRarestByte returns the index of the byte of sep that is the least
// frequent in sample.
func tailRarestByte(sep, sample []byte) int {
	var count [256]int
	for _, c := range sample {
		count[c]++
	}
	best := 0
	for i, c := range sep {
		if count[c] < count[sep[best]] {
			best = i
		}
	}
	return best
}

// tailIndexAt is bytes.Index(s, sep), but it looks for candidates with the
// vectorised bytes.IndexByte on sep[anchor], a byte chosen to be rare.
// bytes.Index uses sep[0], and "error" in a JSON log finds an "e" every 15
// bytes: this made the search the main cost of a rare filter.
func tailIndexAt(s, sep []byte, anchor int) int {
	c := sep[anchor]
	for i := anchor; i < len(s); {
		j := bytes.IndexByte(s[i:], c)
		if j < 0 {
			return -1
		}
		i += j
		if start := i - anchor; start+len(sep) <= len(s) && bytes.Equal(s[start:start+len(sep)], sep) {
			return start
		}
		i++
	}
	return -1
}

// tailFoldASCII appends b with ASCII letters lowered to dst, 8 bytes at a
// time: for each byte with the high bit clear, adding 0x80-'A' sets the high
// bit when it is >= 'A', adding 0x80-'Z'-1 when it is > 'Z'; no sum carries
// into the next byte.
func tailFoldASCII(dst, b []byte) []byte {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	n := len(dst)
	dst = slices.Grow(dst, len(b))[:n+len(b)]
	out := dst[n:]
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		low := x &^ high
		upper := (low + (0x80-'A')*ones) &^ (low + (0x80-'Z'-1)*ones) &^ x & high
		binary.LittleEndian.PutUint64(out[i:], x|upper>>2)
	}
	for ; i < len(b); i++ {
		out[i] = tailASCIILower[b[i]]
	}
	return dst
}

func tailIsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// tailNewlines appends the offsets of the newlines in b to dst.
func tailNewlines(dst []int, b []byte) []int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return dst
		}
		dst = append(dst, i+j)
		i += j + 1
	}
}

// tailLastNewline is bytes.LastIndexByte(b, '\n'), but uses the vectorised
// forward search: it scans blocks of a long line, which hold few newlines.
func tailLastNewline(b []byte) int {
	last := -1
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return last
		}
		last = i + j
		i = last + 1
	}
}

// tailCleaner removes what a chat message must not show from lines, reusing its
// buffers from one line to the next.
type tailCleaner struct{ stripped, valid []byte }

// clean returns raw without ANSI escape sequences and with each run of invalid
// UTF-8 replaced by U+FFFD, as strings.ToValidUTF8 does. It returns raw itself
// when there is nothing to clean; otherwise the text is valid until the next
// call.
func (c *tailCleaner) clean(raw []byte) []byte {
	esc := bytes.IndexByte(raw, 0x1b) >= 0
	if !esc && utf8.Valid(raw) {
		return raw
	}
	if esc {
		c.stripped = tailStripANSI(c.stripped[:0], raw)
		raw = c.stripped
		if utf8.Valid(raw) {
			return raw
		}
	}
	c.valid = tailValidUTF8(c.valid[:0], raw)
	return c.valid
}

// tailStripANSI appends b without its escape sequences to dst:
//   - CSI: ESC "[" params (0x30-0x3F)* intermediates (0x20-0x2F)* final (0x40-0x7E);
//   - OSC: ESC "]" ... ended by BEL or ESC "\" (an other ESC ends it and starts
//     the next sequence);
//   - any other: ESC intermediates (0x20-0x2F)* final (0x30-0x7E), e.g. "ESC(B".
//
// A sequence cut short by the end of the line, or by a byte it cannot hold, is
// dropped up to that byte, which is kept. A lone ESC is dropped.
func tailStripANSI(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], 0x1b)
		if j < 0 {
			return append(dst, b[i:]...)
		}
		dst = append(dst, b[i:i+j]...)
		i += j + 1
		switch {
		case i < len(b) && b[i] == '[':
			i++
			for i < len(b) && 0x30 <= b[i] && b[i] <= 0x3f {
				i++
			}
			for i < len(b) && 0x20 <= b[i] && b[i] <= 0x2f {
				i++
			}
			if i < len(b) && 0x40 <= b[i] && b[i] <= 0x7e {
				i++
			}
		case i < len(b) && b[i] == ']':
			i++
			for i < len(b) && b[i] != 0x07 && b[i] != 0x1b {
				i++
			}
			if i < len(b) && b[i] == 0x07 {
				i++
			} else if i+1 < len(b) && b[i+1] == '\\' {
				i += 2
			}
		default:
			for i < len(b) && 0x20 <= b[i] && b[i] <= 0x2f {
				i++
			}
			if i < len(b) && 0x30 <= b[i] && b[i] <= 0x7e {
				i++
			}
		}
	}
	return dst
}

// tailValidUTF8 appends b to dst with each run of invalid UTF-8 replaced by
// U+FFFD, like strings.ToValidUTF8(s, "\uFFFD").
func tailValidUTF8(dst, b []byte) []byte {
	invalid := false
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			invalid = false
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			if !invalid {
				dst = append(dst, "\uFFFD"...)
			}
			invalid = true
			i++
			continue
		}
		dst = append(dst, b[i:i+n]...)
		invalid = false
		i += n
	}
	return dst
}

// tailCutRunes returns b cut to at most n bytes on a rune boundary.
func tailCutRunes(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n]
}

var (
	tailJSONHealth = []byte(`"message":"GET /health`)
	tailTextHealth = []byte("GET /health")
	tailColonSpace = []byte(": ")
)

// isHealthPollLine reports whether line is a health-poll request line: its
// message is exactly "GET /health", optionally followed by a query string.
//
//	{"level":"info","message":"GET /health","service":...}
//	2026-11-28 14:09:58 info: GET /health?probe=bot
//
// A line starting with "{" is JSON: `"message":"GET /health` must be followed
// by the closing quote, or by "?" and a query without space, quote escape or
// end. Otherwise the message is what follows the first ": ", as winston's text
// format prints "<timestamp> <level>: <message>"; the timestamp holds no ": ".
func isHealthPollLine(line []byte) bool {
	if len(line) > 0 && line[0] == '{' {
		// Anchored on the rare "G": the '"' that bytes.Index would look
		// for is everywhere in JSON.
		i := tailIndexAt(line, tailJSONHealth, len(`"message":"`))
		if i < 0 {
			return false
		}
		rest := line[i+len(tailJSONHealth):]
		if len(rest) == 0 {
			return false
		}
		if rest[0] == '"' {
			return true
		}
		if rest[0] != '?' {
			return false
		}
		q := bytes.IndexByte(rest, '"')
		return q > 0 && !bytes.ContainsAny(rest[:q], " \\")
	}
	i := bytes.Index(line, tailColonSpace)
	if i < 0 {
		return false
	}
	msg := line[i+len(tailColonSpace):]
	if !bytes.HasPrefix(msg, tailTextHealth) {
		return false
	}
	rest := msg[len(tailTextHealth):]
	return len(rest) == 0 || rest[0] == '?' && bytes.IndexByte(rest, ' ') < 0
}

// Logs returns the last lines of the service's log file. The log is read
// beneath the service's dir (a symlink out of it is refused), never when it
// is not a regular file (a FIFO there would block), and within a deadline;
// refusals carry a message that is safe to show.
func (s *Service) Logs(ctx context.Context, q LogQuery) (LogResult, error) {
	res, err := readServiceLog(ctx, s.cfg.Dir, s.cfg.LogFile, q)
	if errors.Is(err, fs.ErrNotExist) {
		return res, usererr.Wrap(err, usererr.NotFound, "%s has no log file yet at %s (has the service ever started?)", s.cfg.Name, s.relPath(s.cfg.LogFile))
	}
	return res, err
}

// Output returns the last lines of the service's captured stdout and
// stderr, where a crash at start-up leaves its message. It is read as Logs
// reads the log.
func (s *Service) Output(ctx context.Context, q LogQuery) (LogResult, error) {
	path := s.OutputPath()
	if path == "" {
		return LogResult{}, usererr.New(usererr.NotFound, "%s: the service's output was not captured at its last start (nowhere to keep it)", s.cfg.Name)
	}
	res, err := readServiceLog(ctx, s.cfg.Dir, path, q)
	if errors.Is(err, fs.ErrNotExist) {
		return res, usererr.Wrap(err, usererr.NotFound, "%s: nothing captured yet (the bot has not started the service)", s.cfg.Name)
	}
	return res, err
}

// relPath is p relative to the service's dir when it lies there, else p.
func (s *Service) relPath(p string) string {
	if r, err := filepath.Rel(s.cfg.Dir, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
