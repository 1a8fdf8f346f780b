//go:build linux

package manager

// The process table on Linux, read from /proc directly.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tklauser/go-sysconf"

	"github.com/sanasend/sanasend-bot/internal/human"
)

// On Linux the process table is read straight from /proc: one read of
// /proc/<pid>/stat (and of environ when markers are wanted) per process.
// gopsutil reads stat several times per process and, without its boot-time
// cache, probes the virtualisation system on every call: 300 µs a process,
// 0.7 s for 2,000. gopsutil still provides the details (CPU, memory,
// command line) of the few processes that belong to the service.

// hostTimes is what the process table needs of the host's clock.
type hostTimes struct {
	bootMillis int64 // boot time in ms since the epoch, from /proc/stat btime
	ticks      int64 // clock ticks per second (SC_CLK_TCK); 100 when unknown
}

// readHostTimes reads the host's boot time and clock tick rate, the first
// time it is called; later calls return the same values.
var readHostTimes = sync.OnceValue(func() hostTimes {
	h := hostTimes{ticks: 100}
	if t, err := sysconf.Sysconf(sysconf.SC_CLK_TCK); err == nil && t > 0 {
		h.ticks = t
	}
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return h
	}
	for line := range bytes.Lines(data) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			s, _ := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			h.bootMillis = s * 1000
		}
	}
	return h
})

// procStat is what the bot needs of /proc/<pid>/stat.
type procStat struct {
	ppid, pgid int32
	created    time.Time
	zombie     bool
	cpuTicks   int64 // utime + stime
	rssPages   int64
}

// readStat parses /proc/<pid>/stat into buf. The command name (field 2) may
// hold spaces and parentheses: fields are counted after its last ')'.
func readStat(pid int32, buf []byte) (procStat, []byte, error) {
	buf, err := readInto("/proc/"+strconv.Itoa(int(pid))+"/stat", buf)
	if err != nil {
		return procStat{}, buf, err
	}
	i := bytes.LastIndexByte(buf, ')')
	if i < 0 || i+2 > len(buf) {
		return procStat{}, buf, fmt.Errorf("stat of %d: malformed", pid)
	}
	// After ") ": state(3) ppid(4) pgrp(5) session(6) tty(7) tpgid(8)
	// flags(9) minflt(10) cminflt(11) majflt(12) cmajflt(13) utime(14)
	// stime(15) cutime(16) cstime(17) priority(18) nice(19)
	// num_threads(20) itrealvalue(21) starttime(22).
	fields := bytes.Fields(buf[i+2:])
	if len(fields) < 20 {
		return procStat{}, buf, fmt.Errorf("stat of %d: %d fields", pid, len(fields))
	}
	ppid, _ := strconv.ParseInt(string(fields[1]), 10, 32)
	pgid, _ := strconv.ParseInt(string(fields[2]), 10, 32)
	start, _ := strconv.ParseInt(string(fields[19]), 10, 64)
	utime, _ := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, _ := strconv.ParseInt(string(fields[12]), 10, 64)
	var rss int64
	if len(fields) > 21 {
		rss, _ = strconv.ParseInt(string(fields[21]), 10, 64)
	}
	host := readHostTimes()
	st := procStat{
		cpuTicks: utime + stime,
		rssPages: rss,
		ppid:     int32(ppid),
		pgid:     int32(pgid),
		created:  time.UnixMilli(host.bootMillis + start*1000/host.ticks),
		zombie:   fields[0][0] == 'Z' || fields[0][0] == 'X',
	}
	return st, buf, nil
}

// readInto reads a whole (small) /proc file into buf, growing it as
// needed. It uses raw syscalls: os.Open registers every file with the
// runtime poller and sets it non-blocking, which doubles the cost of a scan
// that opens thousands of /proc files.
func readInto(path string, buf []byte) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return buf, err
	}
	defer syscall.Close(fd)
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return buf, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

var markerKey = []byte(MarkerEnv + "=")

// readMarkerFrom returns the marker in /proc/<pid>/environ, or "".
func readMarkerFrom(pid int32, buf []byte) (string, []byte) {
	buf, err := readInto("/proc/"+strconv.Itoa(int(pid))+"/environ", buf)
	if err != nil {
		return "", buf
	}
	for kv := range bytes.SplitSeq(buf, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, markerKey); ok {
			return string(v), buf
		}
	}
	return "", buf
}

// hostPIDs lists the processes of the host from /proc, init (PID 1) left
// out: no service is ever init.
func hostPIDs() ([]int32, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	pids := make([]int32, 0, len(names))
	for _, name := range names {
		if n, err := strconv.ParseInt(name, 10, 32); err == nil && n > 1 {
			pids = append(pids, int32(n))
		}
	}
	return pids, nil
}

// listProcs reads every process of the host once.
func listProcs(_ context.Context) ([]procRow, error) {
	pids, err := hostPIDs()
	if err != nil {
		return nil, err
	}
	rows := make([]procRow, 0, len(pids))
	statBuf := make([]byte, 0, 512)
	envBuf := make([]byte, 0, 8192)
	for _, pid := range pids {
		var st procStat
		st, statBuf, err = readStat(pid, statBuf)
		if err != nil {
			continue // gone meanwhile
		}
		row := procRow{pid: pid, ppid: st.ppid, pgid: st.pgid, created: st.created, zombie: st.zombie}
		if !st.zombie {
			row.marker, envBuf = readMarkerFrom(pid, envBuf)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// procState reports whether pid exists, when it started, and whether it is
// a zombie.
func procState(_ context.Context, pid int32) (created time.Time, zombie, ok bool) {
	st, _, err := readStat(pid, make([]byte, 0, 512))
	if err != nil {
		return time.Time{}, false, false
	}
	return st.created, st.zombie, true
}

var pageSize = int64(os.Getpagesize())

// processDetails fills CPU% (over the process's life, as ps and gopsutil
// compute it), RSS and the command line from two /proc reads, and returns
// the argv it read (nil when unreadable), whole: the command line is capped,
// the argv is not, so that a Chromium flag past the cap is still seen.
func processDetails(_ context.Context, pr *Process) []string {
	st, _, err := readStat(pr.PID, make([]byte, 0, 512))
	if err != nil {
		return nil
	}
	// Real time: the process's start time is the OS's, and so is its CPU time.
	if life := time.Since(st.created).Seconds(); life > 0 {
		pr.CPUPercent = float64(st.cpuTicks) / float64(readHostTimes().ticks) / life * 100
	}
	pr.RSS = uint64(st.rssPages * pageSize)
	cmd, err := readInto("/proc/"+strconv.Itoa(int(pr.PID))+"/cmdline", make([]byte, 0, 512))
	if err != nil {
		return nil
	}
	cmd = bytes.TrimRight(cmd, "\x00")
	pr.Command = human.CutBytes(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})), 300)
	return splitArgv(cmd)
}

// splitArgv splits a /proc cmdline (NUL-separated, trailing NULs trimmed).
func splitArgv(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	var out []string
	for part := range bytes.SplitSeq(data, []byte{0}) {
		out = append(out, string(part))
	}
	return out
}

// cmdlineOf returns a process's argv, from /proc/<pid>/cmdline.
func cmdlineOf(_ context.Context, pid int32) ([]string, error) {
	data, err := readInto("/proc/"+strconv.Itoa(int(pid))+"/cmdline", make([]byte, 0, 512))
	if err != nil {
		return nil, err
	}
	return splitArgv(bytes.TrimRight(data, "\x00")), nil
}

// cwdOf is the working directory of process pid.
func cwdOf(_ context.Context, pid int32) (string, error) {
	return os.Readlink("/proc/" + strconv.Itoa(int(pid)) + "/cwd")
}
