//go:build linux

package manager

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/sanasend/sanasend-bot/whatsapp"
)

// scanPM2Procs reads every process of the host once from /proc: its stat,
// environment and command line. Processes that vanish during the scan,
// zombies, and those whose files cannot be read (another user's) are left
// out or counted without what could not be read.
func scanPM2Procs(ctx context.Context, id pm2Identity) ([]pm2Proc, error) {
	pids, err := hostPIDs()
	if err != nil {
		return nil, err
	}
	out := make([]pm2Proc, 0, len(pids))
	statBuf := make([]byte, 0, 512)
	envBuf := make([]byte, 0, 8192)
	cmdBuf := make([]byte, 0, 1024)
	for i, pid := range pids {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("list processes: %w", ctx.Err())
		}
		name := strconv.Itoa(int(pid))
		var st procStat
		st, statBuf, err = readStat(pid, statBuf)
		if err != nil || st.zombie {
			continue
		}
		p := pm2Proc{pid: pid, ppid: st.ppid}
		base := "/proc/" + name
		if envBuf, err = readInto(base+"/environ", envBuf); err == nil {
			p.ident = pm2EnvMatches(envBuf, id)
		}
		if cmdBuf, err = readInto(base+"/cmdline", cmdBuf); err == nil {
			cmd := bytes.TrimRight(cmdBuf, "\x00")
			p.daemon = isPM2Daemon(cmd)
			if mayNameProfile(cmd) {
				if a, ok := whatsapp.ParseChromiumArgs(splitArgv(cmd)); ok {
					p.profile = firstNonEmpty(a.UserDataDir, a.Database)
				}
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// pm2EnvMatches reads PM2_HOME, name and pm_id from a NUL-separated
// environment and matches them against id. No value leaves this function.
func pm2EnvMatches(env []byte, id pm2Identity) bool {
	var home, name []byte
	hasID := false
	for kv := range bytes.SplitSeq(env, []byte{0}) {
		switch {
		case bytes.HasPrefix(kv, []byte("PM2_HOME=")):
			home = kv[len("PM2_HOME="):]
		case bytes.HasPrefix(kv, []byte("name=")):
			name = kv[len("name="):]
		case bytes.HasPrefix(kv, []byte("pm_id=")):
			hasID = true
		}
	}
	return id.match(string(home), string(name), hasID)
}
