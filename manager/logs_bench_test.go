package manager

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkTailLines reads the last 1000 lines of a 64 MiB winston log: half
// health polls, requests, restoration lines, and one error with a 4 KiB
// stack in a thousand lines.
func BenchmarkTailLines(b *testing.B) {
	path := filepath.Join(b.TempDir(), "combined.log")
	writeBenchLog(b, path, 64<<20)
	for _, bc := range []struct {
		name string
		q    LogQuery
	}{
		{"all", LogQuery{Lines: MaxLogLines, IncludeHealth: true}},
		{"health-hidden", LogQuery{Lines: MaxLogLines}},
		{"filter-common", LogQuery{Lines: MaxLogLines, Filter: "Session"}},
		// About 500 matches in the file: it is read to its start.
		{"filter-rare", LogQuery{Lines: MaxLogLines, Filter: "error"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			res, err := ReadLogTail(path, bc.q)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(res.Scanned)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ReadLogTail(path, bc.q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(res.Lines)), "lines")
		})
	}
}

// writeBenchLog writes a winston JSON log of at least size bytes.
func writeBenchLog(tb testing.TB, path string, size int64) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	stack := `"stack":"Error: Protocol error (Target.setAutoAttach): Target closed.` +
		strings.Repeat(`\n    at CDPSession.send (/srv/whatsapp-service/node_modules/puppeteer/lib/cjs/puppeteer/common/Connection.js:218:35)`, 40) + `",`
	ts := time.Date(2026, 11, 28, 14, 0, 0, 0, time.Local)
	var line []byte
	for n, written := 0, int64(0); written < size; n++ {
		if n%50 == 0 {
			ts = ts.Add(time.Second)
		}
		id := "user_" + strconv.Itoa(rng.IntN(400)) + "_instance_main"
		level, msg, extra := "info", "", ""
		switch r := rng.IntN(1000); {
		case r < 500:
			msg = "GET /health"
		case r < 850:
			msg = "POST /sessions/" + id + "/send-message"
		case r < 950:
			msg = "✓ Session restored: " + id
		case r < 999:
			level, msg = "warn", "✗ Failed to restore session "+id+": undefined"
		default:
			level, msg, extra = "error", "✗ Error restoring session "+id+": Protocol error (Target.setAutoAttach): Target closed.", stack
		}
		line = append(line[:0], `{"level":"`...)
		line = append(line, level...)
		line = append(line, `","message":"`...)
		line = append(line, msg...)
		line = append(line, `","service":"whatsapp-service",`...)
		line = append(line, extra...)
		line = append(line, `"timestamp":"`...)
		line = ts.AppendFormat(line, "2006-01-02 15:04:05")
		line = append(line, "\"}\n"...)
		w.Write(line)
		written += int64(len(line))
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}
