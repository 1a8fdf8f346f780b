package manager

// Service.Doctor and HostChecks: package doctor's host checks with this
// service's settings, plus the checks that need the service (health,
// processes, Chromium locks).

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// HostChecks are the checks of the host that do not depend on the service
// running: node, npm, dir, start command, port, log, disk.
func (s *Service) HostChecks(ctx context.Context) []doctor.Check {
	return doctor.HostChecks(ctx, doctor.Env{Dir: s.cfg.Dir, Start: s.cfg.Start, Env: s.serviceEnv(""),
		HostPort: s.hostPort, LogPath: s.cfg.LogFile, Timeout: s.cfg.HealthTimeout, Clock: s.clock})
}

// Doctor runs the troubleshooting list of the old dashboard for real, plus
// what the bot knows: health, processes, the service's user (a warning when
// it is the bot's), stale locks.
func (s *Service) Doctor(ctx context.Context) []doctor.Check {
	var (
		wg     sync.WaitGroup
		health Health
	)
	wg.Add(1)
	go func() { defer wg.Done(); health = s.Health(ctx) }()
	checks := s.HostChecks(ctx)
	wg.Wait()

	hc := doctor.Check{Name: "health"}
	switch {
	case health.OK:
		hc.Verdict, hc.Detail = doctor.VerdictOK, fmt.Sprintf("%s answered healthy in %s", s.HealthURL(), health.Latency.Round(100*time.Microsecond))
	case health.Refused:
		hc.Verdict, hc.Detail, hc.Hint = doctor.VerdictFail, s.HealthURL()+": connection refused", "the service is not listening: `start` it, or read `logs` for why it died"
	default:
		hc.Verdict, hc.Detail, hc.Hint = doctor.VerdictFail, s.HealthURL()+": "+health.Reason, "the service runs but is unhealthy: read `logs`, check Django and Redis connectivity, then `restart`"
	}
	checks = append(checks, hc)

	pc := doctor.Check{Name: "processes"}
	var pids []int
	if snap, err := s.look(ctx); err != nil {
		pc.Verdict, pc.Detail = doctor.VerdictWarn, err.Error()
	} else {
		for pid := range snap.members {
			pids = append(pids, int(pid))
		}
		switch {
		case snap.root != nil:
			pc.Verdict, pc.Detail = doctor.VerdictOK, fmt.Sprintf("%d processes, root pid %d", len(snap.members), snap.root.pid)
		case len(snap.members) > 0:
			pc.Verdict, pc.Detail, pc.Hint = doctor.VerdictWarn, fmt.Sprintf("no service running, but %d processes of an earlier run are left", len(snap.members)),
				"`start` ends them first, or `stop` ends them now"
		default:
			pc.Verdict, pc.Detail = doctor.VerdictOK, "no process of the service is running"
		}
	}
	checks = append(checks, pc, s.controllerCheck(ctx), doctor.CheckUsers(doctor.ServiceUsers(os.Getuid(), pids, s.cfg.Dir)))

	lc := doctor.Check{Name: "chromium locks"}
	if dirs, err := s.authDirs(ctx); err != nil {
		lc.Verdict, lc.Detail = doctor.VerdictWarn, err.Error()
	} else {
		stale := whatsapp.BuildSessionsReport(whatsapp.Restoration{}, false, dirs).StaleLocks
		if len(stale) == 0 {
			lc.Verdict, lc.Detail = doctor.VerdictOK, fmt.Sprintf("no stale lock in %d session dirs", len(dirs))
		} else {
			lc.Verdict, lc.Detail, lc.Hint = doctor.VerdictWarn, fmt.Sprintf("%d stale singleton locks (e.g. %s: %s)", len(stale), stale[0].Path, stale[0].Why),
				"Chromium refuses a profile with a stale lock; `start` removes exactly these"
		}
	}
	return append(checks, lc)
}

// controllerCheck says what starts and stops the service and how its tree
// is found, and why: the process controller's cgroup or marker, systemd's
// or PM2's answer.
func (s *Service) controllerCheck(ctx context.Context) doctor.Check {
	c := doctor.Check{Name: "controller"}
	info := s.ctl.Info()
	switch info.Kind {
	case ControllerProcess:
		switch {
		case info.Tree == TreeCgroup:
			c.Verdict, c.Detail = doctor.VerdictOK, "the bot starts the service into a cgroup of its own ("+info.Why+"): every process of its tree is found and ended, wherever it was reparented"
		case s.cfg.Cgroup == CgroupOff:
			c.Verdict, c.Detail = doctor.VerdictOK, "the bot finds the service's tree by its environment marker (cgroup: off in the configuration)"
		default:
			c.Verdict, c.Detail = doctor.VerdictWarn, "the bot finds the service's tree by its environment marker, not a cgroup: "+info.Why
			c.Hint = "a process that clears its environment and leaves the tree would be missed; with a cgroup none can be (run the bot as root, or give its unit Delegate=yes and ProtectControlGroups=no), or set cgroup: off to accept the marker"
		}
	default:
		obs, err := s.ctl.Observe(ctx)
		if err != nil {
			c.Verdict, c.Detail = doctor.VerdictFail, err.Error()
			c.Hint = "the bot cannot start, stop or see the service without it: see README, Controllers"
			return c
		}
		c.Verdict = doctor.VerdictOK
		c.Detail = fmt.Sprintf("%s %s: %s, %d processes in its tree (by %s), restarted %d times by %s", info.Kind, info.Target, obs.State,
			len(obs.Members), info.Tree, obs.Restarts, info.Kind)
	}
	return c
}
