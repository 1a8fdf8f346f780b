//go:build !linux

package manager

// The process table elsewhere, read through gopsutil.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/sanasend/sanasend-bot/internal/human"
)

// gopsutilInit turns gopsutil's boot-time cache on, the first time it is
// called: the setting is a package variable that gopsutil writes without
// synchronisation.
var gopsutilInit = sync.OnceFunc(func() { process.EnableBootTimeCache(true) })

// cmdlineOf returns a process's argv.
func cmdlineOf(ctx context.Context, pid int32) ([]string, error) {
	gopsutilInit()
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		return nil, err
	}
	return p.CmdlineSliceWithContext(ctx)
}

// eachHostProc calls f with every process of the host through gopsutil
// (init left out), its parent and whether it is a zombie; a process that
// vanishes meanwhile is skipped.
func eachHostProc(ctx context.Context, f func(p *process.Process, pid, ppid int32, zombie bool)) error {
	gopsutilInit()
	pids, err := process.PidsWithContext(ctx)
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	for _, pid := range pids {
		if pid <= 1 {
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("list processes: %w", ctx.Err())
		}
		p, err := process.NewProcessWithContext(ctx, pid)
		if err != nil {
			continue
		}
		ppid, err := p.PpidWithContext(ctx)
		if err != nil {
			continue
		}
		st, err := p.StatusWithContext(ctx)
		f(p, pid, ppid, err == nil && slices.Contains(st, process.Zombie))
	}
	return nil
}

// listProcs reads every process of the host once through gopsutil.
func listProcs(ctx context.Context) ([]procRow, error) {
	var rows []procRow
	err := eachHostProc(ctx, func(p *process.Process, pid, ppid int32, zombie bool) {
		ms, _ := p.CreateTimeWithContext(ctx)
		row := procRow{pid: pid, ppid: ppid, pgid: getpgid(pid), created: time.UnixMilli(ms), zombie: zombie}
		if !row.zombie {
			if env, err := p.EnvironWithContext(ctx); err == nil {
				for _, kv := range env {
					if v, ok := strings.CutPrefix(kv, MarkerEnv+"="); ok {
						row.marker = v
					}
				}
			}
		}
		rows = append(rows, row)
	})
	return rows, err
}

func procState(ctx context.Context, pid int32) (created time.Time, zombie, ok bool) {
	gopsutilInit()
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		return time.Time{}, false, false
	}
	ms, err := p.CreateTimeWithContext(ctx)
	if err != nil {
		return time.Time{}, false, false
	}
	st, err := p.StatusWithContext(ctx)
	return time.UnixMilli(ms), err == nil && slices.Contains(st, process.Zombie), true
}

// processDetails fills CPU% (over the process's life), RSS and the command
// line through gopsutil, and returns the argv (nil when unreadable).
func processDetails(ctx context.Context, pr *Process) []string {
	gopsutilInit()
	p, err := process.NewProcessWithContext(ctx, pr.PID)
	if err != nil {
		return nil
	}
	if cpu, err := p.CPUPercentWithContext(ctx); err == nil {
		pr.CPUPercent = cpu
	}
	if mem, err := p.MemoryInfoWithContext(ctx); err == nil {
		pr.RSS = mem.RSS
	}
	argv, err := p.CmdlineSliceWithContext(ctx)
	if err != nil {
		return nil
	}
	pr.Command = human.CutBytes(strings.Join(argv, " "), 300)
	return argv
}

// cwdOf is the working directory of process pid.
func cwdOf(ctx context.Context, pid int32) (string, error) {
	gopsutilInit()
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		return "", err
	}
	return p.CwdWithContext(ctx)
}
