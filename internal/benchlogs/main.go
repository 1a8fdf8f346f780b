//go:build linux

// Command benchlogs measures manager.ReadLogTail against GNU tail on a large
// winston log: each reader runs as its own process, several times, and the
// median wall time and peak RSS are printed with their ratio to tail's.
//
//	go run ./internal/benchlogs [-dir DIR] [-runs N]
//
// The logs, $BENCH_DIR/combined.log (1 GiB) and combined-64m.log (64 MiB),
// are written once and reused while their size is right; BENCH_DIR defaults
// to ${TMPDIR:-/tmp}/sanasend-bench. Ours runs as this program re-executed
// with a hidden first argument, writing the lines to stdout (/dev/null), as
// tail does.
//
// Peak RSS is the reader's VmHWM, read from /proc while ptrace holds it at
// its exit. The ru_maxrss of wait4 is no use here: Go starts a child with
// vfork, and at exec the kernel counts the parent's peak RSS (this program's,
// some 20 MiB after writing the log) in the child's ru_maxrss, so every
// reader would read the same.
//
// It runs on Linux only (GNU tail, /proc, ptrace); main_other.go says so
// elsewhere.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sanasend/sanasend-bot/manager"
)

// childArg, as the first argument, makes the program a reader measured by
// its parent: childArg PATH LINES FILTER all|hidden, or childArg -noop.
const childArg = "-benchlogs-child"

func main() {
	if len(os.Args) > 1 && os.Args[1] == childArg {
		if err := child(os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "benchlogs child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchlogs:", err)
		os.Exit(1)
	}
}

// child reads the tail of a log as "logs" would and writes the lines to
// stdout, then a summary for the parent to stderr: lines, cut, bytes read,
// exhausted, scan limit, and the time spent in the process from the query
// to the last write.
func child(args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && args[0] == "-noop" {
		return nil // start-up cost only
	}
	if len(args) != 4 {
		return fmt.Errorf("want PATH LINES FILTER all|hidden, got %q", args)
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := manager.ReadLogTail(args[0], manager.LogQuery{Lines: n, Filter: args[2], IncludeHealth: args[3] == "all"})
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(stdout, 32<<10)
	for _, l := range res.Lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stderr, "%d %d %d %v %v %d\n", len(res.Lines), res.Cut, res.Scanned, res.Exhausted, res.ScanLimit, time.Since(start).Microseconds())
	return err
}

const (
	bigSize   = 1 << 30
	smallSize = 64 << 20
	nLines    = "1000"
	filter    = "error"
	memRuns   = 3 // runs under ptrace for the peak RSS
)

// The readers, by name.
const (
	rTail      = "tail -n 1000 FILE (reference)"
	rAll       = "ours: logs all 1000"
	rHidden    = "ours: logs 1000 (health hidden)"
	rFilter    = "ours: logs 1000 " + filter
	rTailStart = "tail start-up (tail --version)"
	rOursStart = "ours start-up (no query)"
)

func run(args []string, stdout io.Writer) error {
	dir := os.Getenv("BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "sanasend-bench") // $TMPDIR or /tmp
	}
	fs := flag.NewFlagSet("benchlogs", flag.ContinueOnError)
	fs.StringVar(&dir, "dir", dir, "where the logs are written and kept ($BENCH_DIR)")
	runs := fs.Int("runs", 7, "timed runs of each reader (the median is shown)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runs < 1 {
		return fmt.Errorf("-runs must be at least 1, got %d", *runs)
	}
	tail, err := exec.LookPath("tail")
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "benchlogs: %s/%s, %d CPUs, %s; time: median of %d runs after a warm-up; peak RSS: VmHWM, median of %d runs; page cache warm\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), *runs, memRuns)
	var all []map[string]sample
	for _, f := range []struct {
		name string
		size int64
	}{{"combined.log", bigSize}, {"combined-64m.log", smallSize}} {
		path := filepath.Join(dir, f.name)
		t0 := time.Now()
		made, err := ensureLog(path, f.size)
		if err != nil {
			return err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		how := "reused"
		if made {
			how = fmt.Sprintf("generated in %.1fs", time.Since(t0).Seconds())
		}
		fmt.Fprintf(stdout, "\n%s: %d bytes (%s)\n", path, fi.Size(), how)

		readers := []reader{
			{rTail, []string{tail, "-n", nLines, path}},
			{rAll, []string{self, childArg, path, nLines, "", "all"}},
			{rHidden, []string{self, childArg, path, nLines, "", "hidden"}},
			{rFilter, []string{self, childArg, path, nLines, filter, "hidden"}},
			{rTailStart, []string{tail, "--version"}},
			{rOursStart, []string{self, childArg, "-noop"}},
		}
		if err := checkSameAsTail(readers[0].argv, readers[1].argv, stdout); err != nil {
			return err
		}
		m, err := measureAll(readers, *runs)
		if err != nil {
			return err
		}
		printTable(stdout, readers, m)
		all = append(all, m)
	}

	big, small := all[0], all[1]
	fmt.Fprintf(stdout, "\npeak RSS on the 1 GiB file / on the 64 MiB file (1.00: independent of the file's size):\n")
	for _, name := range []string{rTail, rAll, rHidden, rFilter} {
		fmt.Fprintf(stdout, "  %-34s %6d KiB / %6d KiB = %.2f\n", name, big[name].rssKiB, small[name].rssKiB,
			float64(big[name].rssKiB)/float64(small[name].rssKiB))
	}
	fmt.Fprintf(stdout, "ru_maxrss that wait4 gives for tail -n 1000 here: %d KiB (this process's own peak, through vfork: not used)\n", big[rTail].maxrss)
	ratio := big[rAll].wall.Seconds() / big[rTail].wall.Seconds()
	verdict := "met"
	if ratio > 1.5 {
		verdict = "NOT met"
	}
	fmt.Fprintf(stdout, "goal: \"logs all 1000\" within 1.5x of tail's time on 1 GiB: %.2fx, %s.\n", ratio, verdict)
	fmt.Fprintf(stdout, "  start-up alone: ours %.2f ms, tail %.2f ms (%.2fx); beyond start-up: ours %.2f ms, tail %.2f ms\n",
		ms(big[rOursStart].wall), ms(big[rTailStart].wall), big[rOursStart].wall.Seconds()/big[rTailStart].wall.Seconds(),
		ms(big[rAll].work(big[rOursStart])), ms(big[rTail].work(big[rTailStart])))
	return nil
}

type reader struct {
	name string
	argv []string
}

type sample struct {
	wall   time.Duration // median wall time
	rssKiB int64         // median VmHWM at exit
	maxrss int64         // median ru_maxrss from wait4, for the record
	info   string        // the child's summary, see child
}

// work is the wall time less the program's start-up time.
func (s sample) work(startup sample) time.Duration { return max(0, s.wall-startup.wall) }

// measureAll runs each reader once to warm up, then runs times, the readers
// taking turns so that drift in the machine hits them alike; then memRuns
// times under ptrace for the peak RSS. It returns the medians.
func measureAll(readers []reader, runs int) (map[string]sample, error) {
	walls := map[string][]time.Duration{}
	maxrss := map[string][]int64{}
	hwm := map[string][]int64{}
	info := map[string]string{}
	for i := -1; i < runs; i++ {
		for _, r := range readers {
			wall, ru, out, err := timed(r.argv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.name, err)
			}
			if i >= 0 {
				walls[r.name] = append(walls[r.name], wall)
				maxrss[r.name] = append(maxrss[r.name], ru)
				info[r.name] = out
			}
		}
	}
	noPtrace := false // ptrace failed (a container may forbid it): use ru_maxrss
	for range memRuns {
		for _, r := range readers {
			kib, err := peakRSS(r.argv)
			if err != nil {
				if !noPtrace {
					fmt.Fprintf(os.Stderr, "benchlogs: peak RSS under ptrace: %s: %v; showing ru_maxrss, which holds this program's own peak\n", r.name, err)
				}
				noPtrace = true
			}
			hwm[r.name] = append(hwm[r.name], kib)
		}
	}
	if noPtrace {
		hwm = maxrss
	}
	med := map[string]sample{}
	for _, r := range readers {
		med[r.name] = sample{median(walls[r.name]), median(hwm[r.name]), median(maxrss[r.name]), info[r.name]}
	}
	return med, nil
}

func median[T int64 | time.Duration](s []T) T {
	slices.Sort(s)
	return s[len(s)/2]
}

// timed runs argv with stdout on /dev/null and returns its wall time, its
// ru_maxrss and what it wrote to stderr.
func timed(argv []string) (time.Duration, int64, string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return 0, 0, "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return wall, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, strings.TrimSpace(stderr.String()), nil
}

// peakRSS runs argv (output to /dev/null) under ptrace, holds it when it
// exits, and returns its VmHWM in KiB: the peak RSS of its own memory,
// which ru_maxrss is not (see the package comment).
func peakRSS(argv []string) (int64, error) {
	// Every ptrace call must come from the thread that started the tracee.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	fd := devnull.Fd()
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{fd, fd, fd},
		Sys:   &syscall.SysProcAttr{Ptrace: true},
	})
	if err != nil {
		return 0, err
	}
	wait := func() (syscall.WaitStatus, error) {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if err != syscall.EINTR {
				return ws, err
			}
		}
	}
	// The tracee stops with SIGTRAP once exec is done.
	if ws, err := wait(); err != nil || !ws.Stopped() {
		syscall.Kill(pid, syscall.SIGKILL)
		return 0, fmt.Errorf("no stop after exec: %v %v", ws, err)
	}
	if err := syscall.PtraceSetOptions(pid, syscall.PTRACE_O_TRACEEXIT|ptraceOExitKill); err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		return 0, fmt.Errorf("ptrace: %w", err)
	}
	kib, sig := int64(-1), 0
	for {
		if err := syscall.PtraceCont(pid, sig); err != nil {
			return 0, fmt.Errorf("ptrace: %w", err)
		}
		ws, err := wait()
		switch {
		case err != nil:
			return 0, err
		case ws.Exited() || ws.Signaled():
			if !ws.Exited() || ws.ExitStatus() != 0 {
				return 0, fmt.Errorf("ended with %v", ws)
			}
			if kib < 0 {
				return 0, errors.New("no exit stop")
			}
			return kib, nil
		case ws.Stopped() && ws.TrapCause() == syscall.PTRACE_EVENT_EXIT:
			if kib, err = vmHWM(pid); err != nil {
				syscall.Kill(pid, syscall.SIGKILL)
				return 0, err
			}
			sig = 0
		case ws.Stopped():
			sig = int(ws.StopSignal()) // not ours: deliver it
		}
	}
}

// ptraceOExitKill is PTRACE_O_EXITKILL (linux/ptrace.h), which package
// syscall lacks: the tracee is killed if this program dies first.
const ptraceOExitKill = 1 << 20

// vmHWM reads the peak resident set size of a process, in KiB.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

func printTable(w io.Writer, readers []reader, m map[string]sample) {
	ref := m[rTail]
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "reader\ttime\tx tail\tless start-up\tpeak RSS\tx tail\tin process\tlines\tcut\tread\texhausted\tscan limit\t")
	for _, r := range readers {
		s := m[r.name]
		work := ""
		switch r.name {
		case rTail:
			work = fmt.Sprintf("%.2f ms", ms(s.work(m[rTailStart])))
		case rAll, rHidden, rFilter:
			work = fmt.Sprintf("%.2f ms", ms(s.work(m[rOursStart])))
		}
		cols := []string{"", "", "", "", "", ""}
		if f := strings.Fields(s.info); len(f) == 6 {
			read, _ := strconv.ParseInt(f[2], 10, 64)
			us, _ := strconv.ParseInt(f[5], 10, 64)
			cols = []string{fmt.Sprintf("%.2f ms", float64(us)/1000), f[0], f[1], fmt.Sprintf("%.1f MiB", float64(read)/(1<<20)), f[3], f[4]}
		}
		fmt.Fprintf(tw, "%s\t%.2f ms\t%.2f\t%s\t%d KiB\t%.2f\t%s\t\n", r.name,
			ms(s.wall), s.wall.Seconds()/ref.wall.Seconds(), work,
			s.rssKiB, float64(s.rssKiB)/float64(ref.rssKiB), strings.Join(cols, "\t"))
	}
	tw.Flush()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// checkSameAsTail runs tail and ours once with their output kept and checks
// that ours is tail's, but for lines cut to MaxLineBytes.
func checkSameAsTail(tailArgv, oursArgv []string, w io.Writer) error {
	want, err := exec.Command(tailArgv[0], tailArgv[1:]...).Output()
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	got, err := exec.Command(oursArgv[0], oursArgv[1:]...).Output()
	if err != nil {
		return fmt.Errorf("ours: %w", err)
	}
	wantLines := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
	gotLines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(gotLines) != len(wantLines) {
		return fmt.Errorf("ours gave %d lines, tail %d", len(gotLines), len(wantLines))
	}
	cut := 0
	for i, g := range gotLines {
		if g == wantLines[i] {
			continue
		}
		if p, ok := strings.CutSuffix(g, "…"); ok && len(g) <= manager.MaxLineBytes && strings.HasPrefix(wantLines[i], p) {
			cut++
			continue
		}
		return fmt.Errorf("line %d: ours %.80q, tail %.80q", i+1, g, wantLines[i])
	}
	fmt.Fprintf(w, "check: ours (logs all 1000) = tail -n 1000: %d lines, %d of them cut to MaxLineBytes\n", len(gotLines), cut)
	return nil
}

// ensureLog writes a log of size bytes (and at most one line more) at path
// unless one is there. It writes to a temporary file renamed at the end, so
// that an interrupted run leaves no short log behind.
func ensureLog(path string, size int64) (made bool, err error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() >= size && fi.Size() < size+maxGenLine {
		return false, nil
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp) // after a rename, a no-op
	w := bufio.NewWriterSize(f, 4<<20)
	g := newGenerator()
	var line []byte
	for n := int64(0); n < size; n += int64(len(line)) {
		line = g.next(line[:0])
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, path)
}

// maxGenLine bounds a generated line: 60 stack frames of under 120 bytes.
const maxGenLine = 16 << 10

// generator writes a winston JSON log like the service's (SPEC.md section
// 6): keys in alphabetical order, local time; half of the lines are the
// bot's own GET /health polls, one in a thousand an error with a stack of
// 2 to 6 KiB.
type generator struct {
	rng   *rand.Rand
	ts    time.Time
	stamp []byte
	n     int
}

func newGenerator() *generator {
	return &generator{rng: rand.New(rand.NewPCG(2026, 11)), ts: time.Date(2026, 11, 1, 0, 0, 0, 0, time.Local)}
}

var (
	routes = []string{
		"GET /sessions/%s/status", "POST /sessions/%s/send-message", "POST /sessions/%s/send-media",
		"GET /sessions/%s/qr", "POST /sessions/%s/start", "DELETE /sessions/%s", "GET /sessions",
	}
	frames = []string{
		"at CDPSession.send (/srv/whatsapp-service/node_modules/puppeteer/lib/cjs/puppeteer/common/Connection.js:218:35)",
		"at ExecutionContext._evaluateInternal (/srv/whatsapp-service/node_modules/puppeteer/lib/cjs/puppeteer/common/ExecutionContext.js:221:26)",
		"at Client.initialize (/srv/whatsapp-service/node_modules/whatsapp-web.js/src/Client.js:113:9)",
		"at async SessionManager.restore (/srv/whatsapp-service/src/services/sessionManager.js:87:13)",
		"at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
	}
)

func (g *generator) next(b []byte) []byte {
	if g.n%20 == 0 {
		g.ts = g.ts.Add(time.Second)
		g.stamp = g.ts.AppendFormat(g.stamp[:0], "2006-01-02 15:04:05")
	}
	g.n++
	id := "user_" + strconv.Itoa(g.rng.IntN(500)) + "_instance_" + []string{"main", "shop", "support", "b"}[g.rng.IntN(4)]
	level, msg, stack := "info", "", ""
	switch r := g.rng.IntN(1000); {
	case r < 500:
		msg = "GET /health"
	case r < 850:
		msg = fmt.Sprintf(routes[g.rng.IntN(len(routes))], id)
	case r < 900:
		msg = "Message sent to 4915" + strconv.Itoa(10000000+g.rng.IntN(90000000)) + " via " + id
	case r < 940:
		msg = "Restoring session: " + id + " (main)"
	case r < 975:
		msg = "✓ Session restored: " + id
	case r < 985:
		msg = "Client " + id + " is ready"
	case r < 992:
		msg = "QR code generated for session " + id
	case r < 999:
		level, msg = "warn", "✗ Failed to restore session "+id+": undefined"
	default:
		level, msg = "error", "✗ Error restoring session "+id+": Protocol error (Target.setAutoAttach): Target closed."
		var sb strings.Builder
		sb.WriteString("Error: Protocol error (Target.setAutoAttach): Target closed.")
		for range 20 + g.rng.IntN(40) {
			sb.WriteString(`\n    `)
			sb.WriteString(frames[g.rng.IntN(len(frames))])
		}
		stack = sb.String()
	}
	b = append(b, `{"level":"`...)
	b = append(b, level...)
	b = append(b, `","message":"`...)
	b = append(b, msg...)
	b = append(b, `","service":"whatsapp-service",`...)
	if stack != "" {
		b = append(b, `"stack":"`...)
		b = append(b, stack...)
		b = append(b, `",`...)
	}
	b = append(b, `"timestamp":"`...)
	b = append(b, g.stamp...)
	return append(b, "\"}\n"...)
}
