package manager

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sanasend/sanasend-bot/internal/usererr"
)

func TestLogQueryValidate(t *testing.T) {
	valid := LogQuery{Lines: 50, Filter: "Session restored", IncludeHealth: true}
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v; want nil", valid, err)
	}
	tests := []struct {
		name    string
		mutate  func(*LogQuery)
		wantErr string // "" = valid
	}{
		{"one line", func(q *LogQuery) { q.Lines = 1 }, ""},
		{"max lines", func(q *LogQuery) { q.Lines = MaxLogLines }, ""},
		{"no filter", func(q *LogQuery) { q.Filter = "" }, ""},
		{"non-ASCII filter", func(q *LogQuery) { q.Filter = "✓ Session" }, ""},
		{"tab in filter", func(q *LogQuery) { q.Filter = "a\tb" }, ""},
		{"zero lines", func(q *LogQuery) { q.Lines = 0 }, "lines must be between 1 and 1000, got 0"},
		{"negative lines", func(q *LogQuery) { q.Lines = -3 }, "lines must be between 1 and 1000, got -3"},
		{"too many lines", func(q *LogQuery) { q.Lines = MaxLogLines + 1 }, "lines must be between 1 and 1000, got 1001"},
		{"long filter", func(q *LogQuery) { q.Filter = strings.Repeat("x", 201) }, "filter must be at most 200 bytes, got 201"},
		{"invalid UTF-8 filter", func(q *LogQuery) { q.Filter = "caf\xe9" }, "filter is not valid UTF-8"},
		{"newline in filter", func(q *LogQuery) { q.Filter = "a\nb" }, "filter must not contain control character U+000A"},
		{"escape in filter", func(q *LogQuery) { q.Filter = "\x1b[31m" }, "filter must not contain control character U+001B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := valid
			tt.mutate(&q)
			err := q.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("Validate(%+v) = %q; want %q", q, got, tt.wantErr)
			}
		})
	}
}

// winstonLine is a winston JSON line as the service writes it.
func winstonLine(level, msg, ts string) string {
	return `{"level":"` + level + `","message":"` + msg + `","service":"whatsapp-service","timestamp":"2026-11-28 14:` + ts + `"}`
}

func TestTailLinesFixtures(t *testing.T) {
	const stackLine = `{"level":"error","message":"✗ Error restoring session user_9_instance_b: Protocol error (Target.setAutoAttach): Target closed.","service":"whatsapp-service","stack":"Error: Protocol error (Target.setAutoAttach): Target closed.\n    at /srv/whatsapp-service/node_modules/puppeteer/lib/cjs/puppeteer/common/Connection.js:71:63","timestamp":"2026-11-28 14:10:31"}`
	tests := []struct {
		file          string
		q             LogQuery
		want          []string
		wantExhausted bool
	}{
		{
			file: "winston.txt", q: LogQuery{Lines: 3, IncludeHealth: true},
			want: []string{
				winstonLine("info", "Session restoration complete: 1 restored, 2 failed", "11:00"),
				winstonLine("info", `Session restoration result: {\"restored\":1,\"failed\":2,\"total\":3}`, "11:00"),
				winstonLine("info", "GET /health", "11:25"),
			},
		},
		{
			// Hidden health lines do not count: the 3 lines are older.
			// GET /healthz is another route and is shown.
			file: "winston.txt", q: LogQuery{Lines: 3},
			want: []string{
				winstonLine("info", "GET /healthz", "10:40"),
				winstonLine("info", "Session restoration complete: 1 restored, 2 failed", "11:00"),
				winstonLine("info", `Session restoration result: {\"restored\":1,\"failed\":2,\"total\":3}`, "11:00"),
			},
		},
		{
			file: "winston.txt", q: LogQuery{Lines: 2, Filter: "SESSION RESTOR"},
			want: []string{
				winstonLine("info", "Session restoration complete: 1 restored, 2 failed", "11:00"),
				winstonLine("info", `Session restoration result: {\"restored\":1,\"failed\":2,\"total\":3}`, "11:00"),
			},
		},
		{
			// The filter finds text in the stack, and non-ASCII text.
			file: "winston.txt", q: LogQuery{Lines: 5, Filter: "✗"},
			want: []string{
				winstonLine("warn", "✗ Failed to restore session user_7_instance_shop: undefined", "10:30"),
				stackLine,
			},
			wantExhausted: true,
		},
		{
			file: "winston.txt", q: LogQuery{Lines: 10, Filter: "connection.js"},
			want: []string{stackLine}, wantExhausted: true,
		},
		{
			// A filter matching health lines finds none while they are hidden
			// (GET /healthz is not one)...
			file: "winston.txt", q: LogQuery{Lines: 10, Filter: "get /health"},
			want: []string{winstonLine("info", "GET /healthz", "10:40")}, wantExhausted: true,
		},
		{
			// ... and all of them when they are shown.
			file: "winston.txt", q: LogQuery{Lines: 10, Filter: "GET /HEALTH", IncludeHealth: true},
			want: []string{
				winstonLine("info", "GET /health", "09:55"),
				winstonLine("info", "GET /health?probe=bot", "09:58"),
				winstonLine("info", "GET /healthz", "10:40"),
				winstonLine("info", "GET /health", "10:55"),
				winstonLine("info", "GET /health", "11:25"),
			},
			wantExhausted: true,
		},
		{
			// Text format, colour codes and an OSC title stripped, health
			// lines recognised through the colours, no trailing newline.
			file: "text-colour.txt", q: LogQuery{Lines: 10},
			want: []string{
				"2026-11-28 14:09:50 info: WhatsApp Service running on port 3000",
				"2026-11-28 14:09:56 warn: ✗ Failed to restore session user_7_instance_shop: ÄRGER mit Straße",
				"2026-11-28 14:09:57 error: ✗ Error restoring session user_9_instance_b: timeout",
			},
			wantExhausted: true,
		},
		{
			file: "text-colour.txt", q: LogQuery{Lines: 1, IncludeHealth: true},
			want: []string{"2026-11-28 14:10:25 info: GET /health"},
		},
		{
			// Non-ASCII case folding both ways.
			file: "text-colour.txt", q: LogQuery{Lines: 10, Filter: "ärger MIT straße"},
			want:          []string{"2026-11-28 14:09:56 warn: ✗ Failed to restore session user_7_instance_shop: ÄRGER mit Straße"},
			wantExhausted: true,
		},
		{
			// The filter sees the cleaned line: colour codes do not match.
			file: "text-colour.txt", q: LogQuery{Lines: 10, Filter: "[32m"},
			want: []string{}, wantExhausted: true,
		},
		{
			file: "crlf.txt", q: LogQuery{Lines: 4},
			want: []string{"second", "", "fourth", "fifth"},
		},
		{
			file: "crlf.txt", q: LogQuery{Lines: 10},
			want: []string{"first", "second", "", "fourth", "fifth"}, wantExhausted: true,
		},
		{
			file: "invalid-utf8.txt", q: LogQuery{Lines: 3},
			want: []string{"bad \uFFFD byte", "cut rune \uFFFD", "latin1 caf\uFFFD cr\uFFFDme"},
		},
		{
			file: "invalid-utf8.txt", q: LogQuery{Lines: 10, Filter: "\uFFFD"},
			want: []string{"bad \uFFFD byte", "cut rune \uFFFD", "latin1 caf\uFFFD cr\uFFFDme"}, wantExhausted: true,
		},
		{file: "empty.txt", q: LogQuery{Lines: 10}, want: []string{}, wantExhausted: true},
		{file: "newline-only.txt", q: LogQuery{Lines: 10}, want: []string{""}, wantExhausted: true},
		{file: "newline-only.txt", q: LogQuery{Lines: 1}, want: []string{""}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%+v", tt.file, tt.q), func(t *testing.T) {
			path := filepath.Join("testdata", "logs", tt.file)
			got, err := ReadLogTail(path, tt.q)
			if err != nil {
				t.Fatalf("ReadLogTail(%s, %+v) error: %v", path, tt.q, err)
			}
			if !slices.Equal(got.Lines, tt.want) {
				t.Errorf("ReadLogTail(%s, %+v).Lines =\n%s\nwant\n%s", path, tt.q, quoteLines(got.Lines), quoteLines(tt.want))
			}
			if got.Exhausted != tt.wantExhausted || got.ScanLimit || got.Cut != 0 || got.Path != path {
				t.Errorf("ReadLogTail(%s, %+v) = Exhausted %v, ScanLimit %v, Cut %d, Path %q; want %v, false, 0, %q",
					path, tt.q, got.Exhausted, got.ScanLimit, got.Cut, got.Path, tt.wantExhausted, path)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.Scanned != fi.Size() {
				t.Errorf("ReadLogTail(%s, %+v).Scanned = %d; want the file size %d", path, tt.q, got.Scanned, fi.Size())
			}
		})
	}
}

func quoteLines(lines []string) string {
	var b strings.Builder
	for i, l := range lines {
		if len(l) > 120 {
			l = fmt.Sprintf("%s...(%d bytes)...%s", l[:50], len(l), l[len(l)-50:])
		}
		fmt.Fprintf(&b, "  %d: %q\n", i, l)
	}
	return b.String()
}

// numbered returns n lines "line 1" .. "line n" with the given separator.
func numbered(n int, sep string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d%s", i, sep)
	}
	return b.String()
}

func numberedSlice(from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, fmt.Sprintf("line %d", i))
	}
	return s
}

func TestTailLinesGenerated(t *testing.T) {
	long := func(n int) string { return strings.Repeat("0123456789", n/10+1)[:n] }
	cut := func(s string) string { return tailCutRunesString(s, MaxLineBytes-len(tailEllipsis)) + tailEllipsis }
	var contains7 []string
	for i := 1; i <= 5000; i++ {
		if strings.Contains(fmt.Sprint(i), "7") {
			contains7 = append(contains7, fmt.Sprintf("line %d", i))
		}
	}
	bigLine := "big " + long(3*tailBlockBytes) // spans 4 blocks
	runes := strings.Repeat("é", MaxLineBytes)
	tests := []struct {
		name          string
		data          string
		block         int
		q             LogQuery
		want          []string
		wantCut       int
		wantExhausted bool
	}{
		{name: "last 1000 of 5000", data: numbered(5000, "\n"), q: LogQuery{Lines: 1000}, want: numberedSlice(4001, 5000)},
		{name: "last 1000 of 5000, no final newline", data: strings.TrimSuffix(numbered(5000, "\n"), "\n"), q: LogQuery{Lines: 1000}, want: numberedSlice(4001, 5000)},
		{name: "last 1000 of 5000 CRLF", data: numbered(5000, "\r\n"), q: LogQuery{Lines: 1000}, want: numberedSlice(4001, 5000)},
		{name: "last 1000 of 5000, small blocks", data: numbered(5000, "\n"), block: 7, q: LogQuery{Lines: 1000}, want: numberedSlice(4001, 5000)},
		{name: "last 1000 with a 7", data: numbered(5000, "\n"), q: LogQuery{Lines: 1000, Filter: "7"}, want: contains7[len(contains7)-1000:]},
		{name: "filter matching every line", data: numbered(5000, "\n"), q: LogQuery{Lines: 1000, Filter: "line"}, want: numberedSlice(4001, 5000)},
		{name: "fewer lines than asked", data: numbered(10, "\n"), q: LogQuery{Lines: 1000}, want: numberedSlice(1, 10), wantExhausted: true},
		{name: "exactly as many lines as asked", data: numbered(10, "\n"), q: LogQuery{Lines: 10}, want: numberedSlice(1, 10)},
		{name: "empty lines kept", data: "a\n\n\nb\n", q: LogQuery{Lines: 10}, want: []string{"a", "", "", "b"}, wantExhausted: true},
		{name: "empty first line", data: "\nb", q: LogQuery{Lines: 10}, want: []string{"", "b"}, wantExhausted: true},
		{name: "lone CR kept inside a line", data: "a\rb\r\n", q: LogQuery{Lines: 10}, want: []string{"a\rb"}, wantExhausted: true},
		{
			name: "line of MaxLineBytes not cut", data: "a\n" + long(MaxLineBytes) + "\nb\n", q: LogQuery{Lines: 2},
			want: []string{long(MaxLineBytes), "b"},
		},
		{
			name: "line of MaxLineBytes+1 cut", data: "a\n" + long(MaxLineBytes+1) + "\nb\n", q: LogQuery{Lines: 2},
			want: []string{long(MaxLineBytes-3) + "…", "b"}, wantCut: 1,
		},
		{
			name: "cut on a rune boundary", data: runes + "\n", q: LogQuery{Lines: 1},
			want: []string{strings.Repeat("é", (MaxLineBytes-3)/2) + "…"}, wantCut: 1,
		},
		{
			name: "line longer than a block, shorter than MaxLineBytes", data: "a\n" + long(1500) + "\nb\n" + long(1500), block: 1024,
			q: LogQuery{Lines: 10}, want: []string{"a", long(1500), "b", long(1500)}, wantExhausted: true,
		},
		{
			name: "line spanning 4 blocks", data: "before\n" + bigLine + "\nafter\n", q: LogQuery{Lines: 3},
			want: []string{"before", cut(bigLine), "after"}, wantCut: 1,
		},
		{
			name: "line spanning 4 blocks, first in file", data: bigLine + "\nafter\n", q: LogQuery{Lines: 3},
			want: []string{cut(bigLine), "after"}, wantCut: 1, wantExhausted: true,
		},
		{
			name: "line spanning 4 blocks, last without newline", data: "before\n" + bigLine, q: LogQuery{Lines: 3},
			want: []string{"before", cut(bigLine)}, wantCut: 1, wantExhausted: true,
		},
		{
			name: "line spanning 4 blocks, filtered on its start", data: "before big\n" + bigLine + "\nafter\n", q: LogQuery{Lines: 1, Filter: "BIG 0123"},
			want: []string{cut(bigLine)}, wantCut: 1,
		},
		{
			// What is not shown does not match: the end of a cut line.
			name: "filter on a cut line's end", data: "before big\n" + bigLine + "tail\nafter\n", q: LogQuery{Lines: 1, Filter: "tail"},
			want: []string{}, wantExhausted: true,
		},
		{
			name: "long lines in a row", data: strings.Repeat(bigLine+"\r\n", 3), q: LogQuery{Lines: 2},
			want: []string{cut(bigLine), cut(bigLine)}, wantCut: 2,
		},
		{
			name: "CR at the end of a long line", data: long(tailRawLineBytes) + "\r\n", q: LogQuery{Lines: 1},
			want: []string{long(MaxLineBytes-3) + "…"}, wantCut: 1,
		},
		{
			// 4*MaxLineBytes of colour codes leave little text: still cut,
			// since the rest of the line was not read.
			name: "colour codes fill the read start", data: strings.Repeat("\x1b[1mx", tailRawLineBytes/5+1) + "\n", q: LogQuery{Lines: 1},
			want: []string{strings.Repeat("x", tailRawLineBytes/5) + "…"}, wantCut: 1,
		},
		{
			name: "one byte past the read start, line longer than a block", data: strings.Repeat("\x1b[1mx", tailRawLineBytes/5) + "y\n",
			block: 1024, q: LogQuery{Lines: 1},
			want: []string{strings.Repeat("x", tailRawLineBytes/5) + "…"}, wantCut: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			block := tt.block
			if block == 0 {
				block = tailBlockBytes
			}
			r := &countingReaderAt{r: strings.NewReader(tt.data)}
			got, err := tailLines(r, int64(len(tt.data)), tt.q, block, 0)
			if err != nil {
				t.Fatalf("tailLines(%q) error: %v", tt.name, err)
			}
			if !slices.Equal(got.Lines, tt.want) {
				t.Errorf("tailLines(%q).Lines =\n%s\nwant\n%s", tt.name, quoteLines(got.Lines), quoteLines(tt.want))
			}
			if got.Cut != tt.wantCut || got.Exhausted != tt.wantExhausted || got.ScanLimit {
				t.Errorf("tailLines(%q) = Cut %d, Exhausted %v, ScanLimit %v; want %d, %v, false",
					tt.name, got.Cut, got.Exhausted, got.ScanLimit, tt.wantCut, tt.wantExhausted)
			}
			if r.maxRead > max(block, tailRawLineBytes) {
				t.Errorf("tailLines(%q) read %d bytes at once; want at most %d", tt.name, r.maxRead, max(block, tailRawLineBytes))
			}
			if got.Scanned != r.total {
				t.Errorf("tailLines(%q).Scanned = %d; want %d", tt.name, got.Scanned, r.total)
			}
		})
	}
}

func tailCutRunesString(s string, n int) string { return string(tailCutRunes([]byte(s), n)) }

// countingReaderAt records the largest read and the bytes read.
type countingReaderAt struct {
	r       io.ReaderAt
	maxRead int
	total   int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.maxRead = max(c.maxRead, len(p))
	n, err := c.r.ReadAt(p, off)
	c.total += int64(n)
	return n, err
}

// patternLog is a log that is never held in memory: head, then a line made
// of pattern repeated up to n bytes, then tail.
type patternLog struct {
	head, pattern, tail string
	n                   int64
}

func (p *patternLog) size() int64 { return int64(len(p.head)) + p.n + int64(len(p.tail)) }

func (p *patternLog) ReadAt(b []byte, off int64) (int, error) {
	for i := range b {
		o := off + int64(i)
		switch {
		case o < int64(len(p.head)):
			b[i] = p.head[o]
		case o < int64(len(p.head))+p.n:
			b[i] = p.pattern[(o-int64(len(p.head)))%int64(len(p.pattern))]
		case o < p.size():
			b[i] = p.tail[o-int64(len(p.head))-p.n]
		default:
			return i, io.EOF
		}
	}
	return len(b), nil
}

func TestTailLinesHugeLineBoundedMemory(t *testing.T) {
	const lineBytes = 50 << 20
	p := &patternLog{
		head:    "first\n{\"level\":\"error\",\"message\":\"",
		pattern: "Straße é ✓ ",
		tail:    "\"}\nafter 1\r\nafter 2",
		n:       lineBytes,
	}
	start := `{"level":"error","message":"` + strings.Repeat(p.pattern, MaxLineBytes/len(p.pattern)+1)
	want := []string{"first", tailCutRunesString(start, MaxLineBytes-3) + "…", "after 1", "after 2"}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := TailLines(p, p.size(), LogQuery{Lines: 10, IncludeHealth: true})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("TailLines(50 MiB line) error: %v", err)
	}
	if !slices.Equal(got.Lines, want) || got.Cut != 1 || !got.Exhausted {
		t.Errorf("TailLines(50 MiB line) = %s Cut %d, Exhausted %v; want\n%s Cut 1, Exhausted true",
			quoteLines(got.Lines), got.Cut, got.Exhausted, quoteLines(want))
	}
	// The block, the line's start, the cleaning scratch and the result.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 512<<10 {
		t.Errorf("TailLines(50 MiB line) allocated %d bytes; want at most 512 KiB", alloc)
	}
	if got.Scanned < lineBytes || got.Scanned > lineBytes+2*tailBlockBytes+tailRawLineBytes {
		t.Errorf("TailLines(50 MiB line).Scanned = %d; want about %d", got.Scanned, p.size())
	}
}

func TestTailLinesScanLimit(t *testing.T) {
	const maxScan = 64 << 10

	// 20 error lines, then 1 MiB of health polls, then one request.
	var b strings.Builder
	for i := range 20 {
		b.WriteString(winstonLine("error", fmt.Sprintf("Error %d", i), "00:00") + "\n")
	}
	for b.Len() < 1<<20 {
		b.WriteString(winstonLine("info", "GET /health", "00:01") + "\n")
	}
	b.WriteString(winstonLine("info", "POST /send-message", "00:02") + "\n")
	path := filepath.Join(t.TempDir(), "combined.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	health := winstonLine("info", "GET /health", "00:01")
	tests := []struct {
		q             LogQuery
		want          []string
		wantScanLimit bool
	}{
		{LogQuery{Lines: 5, Filter: "error"}, []string{}, true},
		{LogQuery{Lines: 5}, []string{winstonLine("info", "POST /send-message", "00:02")}, true},
		{LogQuery{Lines: 1}, []string{winstonLine("info", "POST /send-message", "00:02")}, false},
		{LogQuery{Lines: 3, IncludeHealth: true}, []string{health, health, winstonLine("info", "POST /send-message", "00:02")}, false},
	}
	for _, tt := range tests {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readLogTail(f, path, tt.q, maxScan)
		f.Close()
		if err != nil {
			t.Fatalf("ReadLogTail(%+v) error: %v", tt.q, err)
		}
		if !slices.Equal(got.Lines, tt.want) || got.ScanLimit != tt.wantScanLimit || got.Exhausted {
			t.Errorf("ReadLogTail(%+v) = %s ScanLimit %v, Exhausted %v; want\n%s ScanLimit %v, Exhausted false",
				tt.q, quoteLines(got.Lines), got.ScanLimit, got.Exhausted, quoteLines(tt.want), tt.wantScanLimit)
		}
		if tt.wantScanLimit && (got.Scanned < maxScan || got.Scanned > maxScan+tailBlockBytes) {
			t.Errorf("ReadLogTail(%+v).Scanned = %d; want about the bound (%d)", tt.q, got.Scanned, maxScan)
		}
	}
}

func TestReadLogTailErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.log")
	_, err := ReadLogTail(missing, LogQuery{Lines: 10})
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "read log "+missing+": ") {
		t.Errorf("ReadLogTail(missing) = %v; want a %q error wrapping fs.ErrNotExist", err, "read log "+missing+": ...")
	}
	wantDir := dir + " is a directory, not a file; the bot will not read it"
	if _, err := ReadLogTail(dir, LogQuery{Lines: 10}); err == nil || usererr.Message(err) != wantDir {
		t.Errorf("ReadLogTail(dir) = %v; want %q", err, wantDir)
	}
	want := "read log " + missing + ": lines must be between 1 and 1000, got 0"
	if _, err := ReadLogTail(missing, LogQuery{}); err == nil || err.Error() != want {
		t.Errorf("ReadLogTail(missing, zero query) = %v; want %q", err, want)
	}
}

type failingReaderAt struct{ err error }

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) { return 0, f.err }

func TestTailLinesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	if _, err := TailLines(failingReaderAt{boom}, 100, LogQuery{Lines: 1}); !errors.Is(err, boom) {
		t.Errorf("TailLines(failing reader) = %v; want an error wrapping %v", err, boom)
	}
	// The file shrank after its size was taken.
	_, err := TailLines(strings.NewReader("short\n"), 100, LogQuery{Lines: 1})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("TailLines(size past the end) = %v; want an error wrapping io.ErrUnexpectedEOF", err)
	}
	if _, err := TailLines(strings.NewReader(""), -1, LogQuery{Lines: 1}); err == nil {
		t.Errorf("TailLines(size -1) = nil error; want one")
	}
}

func TestTailHealthPollLine(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{`{"level":"info","message":"GET /health","service":"whatsapp-service","timestamp":"2026-11-28 14:09:58"}`, true},
		{`{"level":"info","message":"GET /health?probe=sanasend-bot&x=1","timestamp":"2026-11-28 14:09:58"}`, true},
		{`{"message":"GET /health"}`, true},
		{`{"level":"info","message":"GET /healthz","timestamp":"2026-11-28 14:09:58"}`, false},
		{`{"level":"info","message":"GET /health/deep","timestamp":"2026-11-28 14:09:58"}`, false},
		{`{"level":"info","message":"GET /health? x","timestamp":"2026-11-28 14:09:58"}`, false},
		{`{"level":"info","message":"GET /health?`, false},
		{`{"level":"info","message":"POST /health","timestamp":"2026-11-28 14:09:58"}`, false},
		{`{"level":"error","message":"Health check failed: GET /health","timestamp":"2026-11-28 14:09:58"}`, false},
		{`{"level":"info","message":"Session restoration result: {\"message\":\"GET /health\"}"}`, false},
		{`2026-11-28 14:09:58 info: GET /health`, true},
		{`2026-11-28T14:09:58.123Z info: GET /health?probe=1`, true},
		{`[2026-11-28 14:09:58] warn: GET /health`, true},
		{`2026-11-28 14:09:58 info: GET /health 200 3ms`, false},
		{`2026-11-28 14:09:58 info: GET /healthz`, false},
		{`2026-11-28 14:09:58 info: proxy: GET /health`, false},
		{`GET /health`, false},
		{``, false},
	}
	for _, tt := range tests {
		if got := isHealthPollLine([]byte(tt.line)); got != tt.want {
			t.Errorf("isHealthPollLine(%q) = %v; want %v", tt.line, got, tt.want)
		}
	}
}

func TestTailCleaner(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"plain", "plain"},
		{"\x1b[32minfo\x1b[39m: x", "info: x"},
		{"\x1b[1;31;48;5;236mred\x1b[0m", "red"},
		{"\x1b[?25lcursor\x1b[?25h", "cursor"},
		{"a\x1b]0;title\x07b", "ab"},
		{"a\x1b]8;;https://x.test\x1b\\link\x1b]8;;\x1b\\b", "alinkb"},
		{"a\x1b]0;unterminated", "a"},
		{"a\x1b]0;then\x1b[31mred", "ared"},
		{"a\x1b(Bb", "ab"},
		{"a\x1bMb", "ab"},
		{"lone\x1b", "lone"},
		{"a\x1b[31", "a"},             // cut short by the end
		{"a\x1b[31\xffb", "a\uFFFDb"}, // a byte a CSI cannot hold ends it
		{"caf\xe9", "caf\uFFFD"},
		{"\xff\xfe\xfd run", "\uFFFD run"},
		{"\xff\x1b[0m\xfe", "\uFFFD"}, // stripped first, then one run
		{"ok \uFFFD kept", "ok \uFFFD kept"},
		{"tab\tkept", "tab\tkept"},
	}
	var c tailCleaner
	for _, tt := range tests {
		if got := string(c.clean([]byte(tt.raw))); got != tt.want {
			t.Errorf("clean(%q) = %q; want %q", tt.raw, got, tt.want)
		}
		if got := refClean(tt.raw); got != tt.want {
			t.Errorf("refClean(%q) = %q; want %q", tt.raw, got, tt.want)
		}
	}
}

// refANSI is the escape-sequence grammar of tailStripANSI as a regexp,
// anchored: refClean tries it at each ESC.
var refANSI = regexp.MustCompile("^(?:\x1b\\[[0-?]*[ -/]*[@-~]?|\x1b\\][^\x07\x1b]*(?:\x07|\x1b\\\\)?|\x1b[ -/]*[0-~]?)")

func refClean(raw string) string {
	var b strings.Builder
	for s := raw; ; {
		i := strings.IndexByte(s, 0x1b)
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		// A reader, not a string: it keeps regexp from clearing a bitmap
		// the size of the rest of the line at each call.
		loc := refANSI.FindReaderIndex(strings.NewReader(s[i:]))
		s = s[i+loc[1]:]
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

// refTail is the naive reference: the whole file split into lines, read
// from the last, with the documented rules written plainly.
func refTail(data string, q LogQuery, maxScan int64) LogResult {
	res := LogResult{Lines: []string{}}
	if data == "" {
		res.Exhausted = true
		return res
	}
	floor := 0
	if maxScan > 0 && int64(len(data)) > maxScan {
		floor = len(data) - int(maxScan)
	}
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	starts := make([]int, len(lines))
	for i := 1; i < len(lines); i++ {
		starts[i] = starts[i-1] + len(lines[i-1]) + 1
	}
	var newest []string
	for i := len(lines) - 1; ; i-- {
		if i < 0 {
			res.Exhausted = true
			break
		}
		if !(starts[i] == 0 && floor == 0 || starts[i]-1 >= floor) {
			res.ScanLimit = true
			break
		}
		res.Searched++
		line := lines[i]
		truncated := len(line) > tailRawLineBytes
		if truncated {
			line = line[:tailRawLineBytes]
		} else {
			line = strings.TrimSuffix(line, "\r")
		}
		text := refClean(line)
		cut := truncated || len(text) > MaxLineBytes
		if cut {
			text = tailCutRunesString(text, MaxLineBytes-len("…"))
		}
		if !q.IncludeHealth && refIsHealth(text) {
			continue
		}
		if q.Filter != "" && !refContainsFold(text, q.Filter) {
			continue
		}
		if cut {
			text += "…"
			res.Cut++
		}
		newest = append(newest, text)
		if len(newest) == q.Lines {
			break
		}
	}
	for i := len(newest) - 1; i >= 0; i-- {
		res.Lines = append(res.Lines, newest[i])
	}
	return res
}

var refHealthQuery = regexp.MustCompile(`^(\?[^" \\]*)?"`)

func refIsHealth(text string) bool {
	if strings.HasPrefix(text, "{") {
		i := strings.Index(text, `"message":"GET /health`)
		return i >= 0 && refHealthQuery.MatchString(text[i+len(`"message":"GET /health`):])
	}
	i := strings.Index(text, ": ")
	if i < 0 {
		return false
	}
	msg := text[i+2:]
	return msg == "GET /health" || strings.HasPrefix(msg, "GET /health?") && !strings.Contains(msg, " ")
}

func refContainsFold(text, filter string) bool {
	ascii := true
	for _, r := range filter {
		ascii = ascii && r < utf8.RuneSelf
	}
	if !ascii {
		return strings.Contains(strings.ToLower(text), strings.ToLower(filter))
	}
	lower := func(s string) string {
		b := []byte(s)
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		return string(b)
	}
	return strings.Contains(lower(text), lower(filter))
}

// randomLog builds a log whose line lengths cluster around the block size,
// and, with long, MaxLineBytes and the read limit of a line. Lines are cut
// at random from soup, a string of tokens (colour codes, invalid UTF-8,
// non-ASCII text, "\r", health messages), so that a cut may fall inside a
// token; some lines are whole health polls or empty; endings are "\n" or
// "\r\n", and the last line may have none.
func randomLog(rng *rand.Rand, soup string, block int, long bool) string {
	wholeLines := []string{
		winstonLine("info", "GET /health", "00:00"),
		winstonLine("info", "GET /health?p=1", "00:00"),
		winstonLine("info", "GET /healthz", "00:00"),
		"2026-11-28 14:09:58 info: GET /health",
		"2026-11-28 14:09:58 error: boom",
		"",
	}
	lengths := []int{0, 1, 2, 10, 30, 80}
	around := []int{block, 2 * block}
	if long {
		around = append(around, MaxLineBytes, tailRawLineBytes)
	}
	for _, l := range around {
		lengths = append(lengths, l-2, l-1, l, l+1, l+2)
	}
	var b strings.Builder
	n := rng.IntN(30)
	for i := range n {
		if rng.IntN(4) == 0 {
			b.WriteString(wholeLines[rng.IntN(len(wholeLines))])
		} else {
			want := max(0, lengths[rng.IntN(len(lengths))])
			if long && rng.IntN(8) == 0 {
				want = rng.IntN(3 * tailRawLineBytes)
			}
			at := rng.IntN(len(soup) - want)
			b.WriteString(soup[at : at+want])
		}
		switch {
		case i == n-1 && rng.IntN(3) == 0: // no final newline
		case rng.IntN(3) == 0:
			b.WriteString("\r\n")
		default:
			b.WriteString("\n")
		}
	}
	return b.String()
}

// tokenSoup returns n bytes of random tokens, without newlines; plain ones
// hold no ESC and no invalid UTF-8, so that whole blocks need no cleaning.
func tokenSoup(rng *rand.Rand, n int, plain bool) string {
	tokens := []string{
		"a", "b", "x", " ", " ", "error", "ERROR", "Error", "ärger", "ÄRGER", "Straße", "STRASSE", "✓", "é",
		"session", " restored", "user_12_instance_main", `{"level":"info",`, "2026-11-28 14:09:58", "0", "1", "2",
		"\xff", "\xe2\x82", "\xc3", "\uFFFD", "\x1b[31m", "\x1b[0m", "\x1b]0;t\x07", "\x1b(B", "\r", "\t",
		"GET /health", ": ", `"message":"`,
	}
	if plain {
		tokens = slices.DeleteFunc(tokens, func(s string) bool { return strings.Contains(s, "\x1b") || !utf8.ValidString(s) })
	}
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(tokens[rng.IntN(len(tokens))])
	}
	return b.String()
}

func TestTailLinesMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(20261128, 1))
	soups := []string{tokenSoup(rng, 4*tailRawLineBytes, false), tokenSoup(rng, 4*tailRawLineBytes, true)}
	// The default block is covered by TestTailLinesGenerated: lines around
	// twice its size would make these files large.
	blocks := []int{1, 2, 3, 7, 16, 100, 1000, 4096, 10000}
	filters := []string{"", "", "", "e", "error", "ERR", "ärger", "STRASSE", "straße", "✓", "\uFFFD", "health", "31m", "x a"}
	iterations := 1500
	if testing.Short() {
		iterations = 200
	}
	for i := range iterations {
		block := blocks[rng.IntN(len(blocks))]
		// Blocks of a few bytes make a read per byte: keep their lines short.
		data := randomLog(rng, soups[rng.IntN(2)], block, block >= 100)
		q := LogQuery{
			Lines:         1 + rng.IntN(12),
			Filter:        filters[rng.IntN(len(filters))],
			IncludeHealth: rng.IntN(2) == 0,
		}
		if rng.IntN(10) == 0 {
			q.Lines = MaxLogLines
		}
		var maxScan int64
		if rng.IntN(3) == 0 && len(data) > 0 {
			maxScan = 1 + rng.Int64N(int64(len(data)))
		}
		want := refTail(data, q, maxScan)
		r := &countingReaderAt{r: strings.NewReader(data)}
		got, err := tailLines(r, int64(len(data)), q, block, maxScan)
		if err != nil {
			t.Fatalf("case %d: tailLines(%d bytes, %+v, block %d, maxScan %d) error: %v", i, len(data), q, block, maxScan, err)
		}
		if got.Searched != want.Searched {
			t.Fatalf("case %d: tailLines(%d bytes, %+v, block %d, maxScan %d) searched %d lines; want %d\ndata %q",
				i, len(data), q, block, maxScan, got.Searched, want.Searched, truncateForLog(data))
		}
		if !slices.Equal(got.Lines, want.Lines) || got.Cut != want.Cut || got.Exhausted != want.Exhausted || got.ScanLimit != want.ScanLimit {
			t.Fatalf("case %d: tailLines(%d bytes, %+v, block %d, maxScan %d) =\n%s Cut %d, Exhausted %v, ScanLimit %v\nwant\n%s Cut %d, Exhausted %v, ScanLimit %v\ndata %q",
				i, len(data), q, block, maxScan,
				quoteLines(got.Lines), got.Cut, got.Exhausted, got.ScanLimit,
				quoteLines(want.Lines), want.Cut, want.Exhausted, want.ScanLimit, truncateForLog(data))
		}
		for _, l := range got.Lines {
			if len(l) > MaxLineBytes || !utf8.ValidString(l) || strings.ContainsAny(l, "\n\x1b") {
				t.Fatalf("case %d: line %q is longer than MaxLineBytes, invalid UTF-8, or holds a newline or ESC", i, l)
			}
		}
		if r.maxRead > max(block, tailRawLineBytes) || got.Scanned != r.total {
			t.Fatalf("case %d: largest read %d, Scanned %d, read %d; want at most %d, and Scanned == read",
				i, r.maxRead, got.Scanned, r.total, max(block, tailRawLineBytes))
		}
	}
}

func truncateForLog(s string) string {
	if len(s) > 2000 {
		return s[:1000] + "..." + s[len(s)-1000:]
	}
	return s
}

func TestTailFoldASCII(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for n := range 40 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		b = append(b, "AZ@[az`{\x80\xc1\xdaÄ"...)
		want := make([]byte, len(b))
		for i, c := range b {
			want[i] = c
			if 'A' <= c && c <= 'Z' {
				want[i] = c + 'a' - 'A'
			}
		}
		if got := tailFoldASCII([]byte("prefix"), b); string(got) != "prefix"+string(want) {
			t.Errorf("tailFoldASCII(%q) = %q; want %q", b, got[6:], want)
		}
	}
}

func TestTailIndexAt(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for range 2000 {
		s := make([]byte, rng.IntN(60))
		for i := range s {
			s[i] = "abc"[rng.IntN(3)]
		}
		sep := make([]byte, 1+rng.IntN(4))
		for i := range sep {
			sep[i] = "abc"[rng.IntN(3)]
		}
		anchor := rng.IntN(len(sep))
		if got, want := tailIndexAt(s, sep, anchor), bytes.Index(s, sep); got != want {
			t.Fatalf("tailIndexAt(%q, %q, %d) = %d; want %d", s, sep, anchor, got, want)
		}
	}
}
