//go:build !linux

package manager

import (
	"context"
	"strings"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/sanasend/sanasend-bot/whatsapp"
)

// scanPM2Procs reads every process of the host once through gopsutil. An
// environment gopsutil cannot read (another user's process, or an OS where
// it is not implemented) leaves the process without the app's identity: it
// is then a member only as a descendant of PM2's pid or by its Chromium
// profile.
func scanPM2Procs(ctx context.Context, id pm2Identity) ([]pm2Proc, error) {
	var out []pm2Proc
	err := eachHostProc(ctx, func(p *process.Process, pid, ppid int32, zombie bool) {
		if zombie {
			return
		}
		row := pm2Proc{pid: pid, ppid: ppid}
		if env, err := p.EnvironWithContext(ctx); err == nil {
			row.ident = pm2EnvListMatches(env, id)
		}
		if argv, err := p.CmdlineSliceWithContext(ctx); err == nil && len(argv) > 0 {
			cmd := []byte(strings.Join(argv, " "))
			row.daemon = isPM2Daemon(cmd)
			if mayNameProfile(cmd) {
				if a, ok := whatsapp.ParseChromiumArgs(argv); ok {
					row.profile = firstNonEmpty(a.UserDataDir, a.Database)
				}
			}
		}
		out = append(out, row)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// pm2EnvListMatches is pm2EnvMatches for an environment as a list.
func pm2EnvListMatches(env []string, id pm2Identity) bool {
	var home, name string
	hasID := false
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "PM2_HOME":
			home = v
		case "name":
			name = v
		case "pm_id":
			hasID = true
		}
	}
	return id.match(home, name, hasID)
}
