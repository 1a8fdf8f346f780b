package manager

// The process controller: the bot runs the start command itself, straight
// into a cgroup of the service's own where the host allows it (every process
// of the tree is then a member by construction, and cgroup.kill ends them
// all), and finds the tree by its marker where it does not.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/internal/cgroup"
)

// CgroupMode says whether a process controller starts the service into a
// cgroup of its own.
type CgroupMode string

const (
	// CgroupAuto: a cgroup where the host allows it (Linux 5.14+, a
	// writable cgroup v2 hierarchy: root, or Delegate=yes), the marker
	// otherwise. The default.
	CgroupAuto CgroupMode = "auto"
	// CgroupOff: never a cgroup; the tree is found by its marker.
	CgroupOff CgroupMode = "off"
)

// cgroupEmptyWait bounds the wait for a killed cgroup to empty.
const cgroupEmptyWait = 5 * time.Second

// processController is the process controller of one service.
type processController struct {
	log  zerolog.Logger
	mode CgroupMode
	// parent is the cgroup directory under which the service's cgroup is
	// made; "" means the bot's own cgroup.
	parent string
	// prefix begins the name of each run's cgroup: "sanasend-<key>-"
	// and the run's ID. A run never reuses a cgroup: one that was just
	// killed is not a place to start anything.
	prefix string

	once sync.Once
	hier cgroup.Hierarchy
	// unavailable says why no cgroup is used, nil when one is.
	unavailable error

	// resumed is the cgroup of a run started before this bot process (the
	// pid file names it), taken as the current one on first need.
	resumed string

	mu sync.Mutex
	// group is the cgroup of the current or last run, nil when none.
	group   *cgroup.Group
	resumeD bool
}

func newProcessController(log zerolog.Logger, mode CgroupMode, parent, key string) *processController {
	if mode == "" {
		mode = CgroupAuto
	}
	return &processController{log: log, mode: mode, parent: parent, prefix: "sanasend-" + key + "-"}
}

// hierarchy finds, once, the cgroup v2 hierarchy the service's cgroup goes
// in, or why there is none.
func (c *processController) hierarchy() (cgroup.Hierarchy, error) {
	c.once.Do(func() {
		switch {
		case c.mode == CgroupOff:
			c.unavailable = errCgroupOff
		case c.parent != "":
			c.hier, c.unavailable = cgroup.At(c.parent)
		default:
			c.hier, c.unavailable = cgroup.Find()
		}
		if c.unavailable != nil && c.mode != CgroupOff {
			c.log.Info().Err(c.unavailable).Msg("no cgroup for the service: its processes are found by their marker")
		}
	})
	return c.hier, c.unavailable
}

// errCgroupOff is why no cgroup is used when the configuration says so.
var errCgroupOff = errors.New("cgroup: off in the configuration")

// Info says how the tree is found: by cgroup or by marker, and why.
func (c *processController) Info() ControllerInfo {
	info := ControllerInfo{Kind: ControllerProcess, Tree: TreeMarker}
	h, err := c.hierarchy()
	var ue *cgroup.UnavailableError
	switch {
	case err == nil:
		info.Tree, info.Why = TreeCgroup, "cgroup v2 under "+h.Parent
	case errors.Is(err, errCgroupOff):
		info.Why = "cgroup: off in the configuration"
	case errors.As(err, &ue):
		info.Why = ue.Sentence()
	default:
		info.Why = "no usable cgroup v2 hierarchy"
	}
	return info
}

// Start runs the start command, into the service's cgroup when there is
// one. A start into the cgroup that the kernel refuses is retried without
// it (and said in the log): the service starts either way.
func (c *processController) Start(ctx context.Context, l Launch) (Launched, error) {
	g := c.prepare(l.RunID)
	cmd, err := c.spawn(l, g)
	if err != nil && g != nil {
		c.log.Warn().Err(err).Str("cgroup", g.Path()).Msg("start into the cgroup failed: starting without it")
		g = nil
		cmd, err = c.spawn(l, nil)
	}
	if err != nil {
		return Launched{}, err
	}
	c.mu.Lock()
	c.group = g
	c.mu.Unlock()
	out := Launched{PID: int32(cmd.Process.Pid), Wait: func() Exit {
		err := cmd.Wait()
		return exitStatus(cmd.ProcessState, err)
	}}
	if g != nil {
		out.Cgroup = g.Path()
	}
	return out, nil
}

// prepare makes the cgroup of run runID, nil when there is none to use.
// The empty cgroups of earlier runs (a bot that died before it could
// remove them) go first.
func (c *processController) prepare(runID string) *cgroup.Group {
	h, err := c.hierarchy()
	if err != nil {
		return nil
	}
	c.sweep(h)
	g, err := h.Create(c.prefix + runID)
	if err != nil {
		c.log.Warn().Err(err).Msg("create the service's cgroup: starting without it")
		return nil
	}
	return g
}

// sweep removes the empty cgroups of this service's earlier runs.
func (c *processController) sweep(h cgroup.Hierarchy) {
	entries, err := os.ReadDir(h.Parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), c.prefix) {
			continue
		}
		if g, err := h.Group(e.Name()); err == nil {
			if busy, err := g.Populated(); err == nil && !busy {
				_ = g.Remove()
			}
		}
	}
}

func (c *processController) spawn(l Launch, g *cgroup.Group) (*exec.Cmd, error) {
	cmd := exec.Command(l.Path, l.Argv[1:]...)
	cmd.Args[0] = l.Argv[0]
	cmd.Dir = l.Dir
	cmd.Env = l.Env
	if l.Output != nil {
		cmd.Stdout = l.Output
		cmd.Stderr = l.Output
	}
	detach(cmd)
	if g == nil {
		return cmd, cmd.Start()
	}
	f, err := g.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	intoCgroup(cmd, f)
	return cmd, cmd.Start()
}

// current is the cgroup of the current or last run, nil when none: the
// first time, the one a run started before this bot process was started
// into (the pid file names it), when it is this service's.
func (c *processController) current() *cgroup.Group {
	c.mu.Lock()
	resume := !c.resumeD && c.group == nil && c.resumed != ""
	c.resumeD = true
	c.mu.Unlock()
	if resume {
		if h, err := c.hierarchy(); err == nil {
			name := filepath.Base(c.resumed)
			if g, err := h.Group(name); err == nil && strings.HasPrefix(name, c.prefix) && g.Path() == c.resumed {
				c.mu.Lock()
				if c.group == nil {
					c.group = g
				}
				c.mu.Unlock()
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.group
}

// Stop sends SIGTERM to the main process group (as one while its leader is
// the service's, else member by member), waits until the deadline, then
// SIGKILLs the group and SIGTERMs the rest of the tree: the leftovers'
// grace begins then (KilledAt).
func (c *processController) Stop(ctx context.Context, h Halt) (Halted, error) {
	var leaderCreated time.Time
	if h.Whole {
		leaderCreated = h.Group[h.PGID]
		if leaderCreated.IsZero() {
			leaderCreated = processCreated(ctx, h.PGID)
		}
	}
	signal := func(sig syscall.Signal) {
		// The leader is checked again right before: a group whose
		// leader is gone is signalled member by member.
		if h.Whole && processAlive(ctx, h.PGID, leaderCreated) {
			err := signalGroup(h.PGID, sig)
			if err == nil {
				return
			}
			c.log.Warn().Err(err).Int32("pgid", h.PGID).Str("signal", signalName(sig)).Msg("signal process group")
		}
		signalEach(ctx, h.Group, sig)
	}
	signal(sigTerm)
	if waitGone(ctx, h.Group, h.Deadline) {
		return Halted{Graceful: true}, nil
	}
	c.log.Warn().Int32("pgid", h.PGID).Msg("stop timeout: SIGKILL")
	signal(sigKill)
	signalEach(ctx, h.Group, sigKill)
	killedAt := time.Now()
	signalEach(ctx, h.Others, sigTerm)
	waitGone(ctx, h.Group, killedAt.Add(500*time.Millisecond))
	return Halted{Forced: true, KilledAt: killedAt}, nil
}

// Observe reports the members of the current run's cgroup. The process
// controller does not know by itself whether the service runs: its runs are
// found by their marker.
func (c *processController) Observe(ctx context.Context) (Observation, error) {
	g := c.current()
	if g == nil {
		return Observation{}, nil
	}
	pids, err := g.Procs()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Observation{}, nil
		}
		return Observation{}, fmt.Errorf("read the service's cgroup: %w", err)
	}
	obs := Observation{Members: make([]int32, 0, len(pids))}
	for _, p := range pids {
		obs.Members = append(obs.Members, int32(p))
	}
	slices.Sort(obs.Members)
	return obs, nil
}

// Finish kills whatever is still in the run's cgroup (cgroup.kill: one
// atomic step, a process forking meanwhile included), waits until it is
// empty and removes it: a stopped service leaves no cgroup behind (the next
// start makes it again).
func (c *processController) Finish(ctx context.Context) error {
	g := c.current()
	if g == nil {
		return nil
	}
	busy, err := g.Populated()
	if err != nil {
		return nil
	}
	if busy {
		c.log.Info().Str("cgroup", g.Path()).Msg("cgroup.kill: processes were left in the service's cgroup")
		if err := g.Kill(); err != nil {
			return fmt.Errorf("kill the service's cgroup: %w", err)
		}
		ctx, cancel := context.WithTimeout(ctx, cgroupEmptyWait)
		defer cancel()
		if err := g.WaitEmpty(ctx); err != nil {
			return fmt.Errorf("wait for the service's cgroup to empty: %w", err)
		}
	}
	c.remove(g)
	return nil
}

// remove removes the empty cgroup g, and forgets it as the current one.
func (c *processController) remove(g *cgroup.Group) {
	if err := g.Remove(); err != nil {
		c.log.Debug().Err(err).Msg("remove the service's cgroup")
		return
	}
	c.mu.Lock()
	if c.group == g {
		c.group = nil
	}
	c.mu.Unlock()
}

// Close removes the service's cgroup when it is empty (the service is
// stopped); one that still has processes stays, for the next bot process
// to resume.
func (c *processController) Close() error {
	g := c.current()
	if g == nil {
		return nil
	}
	if busy, err := g.Populated(); err == nil && !busy {
		c.remove(g)
	}
	return nil
}
