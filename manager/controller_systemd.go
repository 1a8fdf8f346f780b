package manager

// The systemd controller: a unit of the host's systemd, driven over the
// system bus with go-systemd's dbus package; the unit's cgroup is the tree.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/internal/cgroup"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// SystemdConfig configures a systemd controller.
type SystemdConfig struct {
	// Unit is the service unit the controller starts and stops
	// ("whatsapp.service"): a .service name without '/' or spaces.
	Unit string
	// BusAddress is the D-Bus address of the system bus; "" means
	// DBUS_SYSTEM_BUS_ADDRESS, or unix:path=/run/dbus/system_bus_socket
	// when that is unset.
	BusAddress string
	// CgroupRoot is the host directory at which systemd's cgroup tree is
	// rooted: a unit's ControlGroup ("/system.slice/whatsapp.service") is
	// a directory beneath it. "" means it is found at the first need: the
	// host's cgroup v2 mount, or the cgroup beneath it that is systemd's
	// "/" where systemd runs in a namespace or container of its own (told
	// by the bus socket's peer, see findCgroupRoot).
	CgroupRoot string
	// Timeout bounds the wait for one systemd job beyond the unit's own
	// timeouts (TimeoutStartSec, TimeoutStopSec), a connection to the
	// bus, and Finish's wait for an empty cgroup; 0 means 90 seconds.
	Timeout time.Duration
	Logger  zerolog.Logger
}

const (
	defaultSystemBus     = "unix:path=/run/dbus/system_bus_socket"
	defaultSystemdWait   = 90 * time.Second
	systemdPollInterval  = 10 * time.Millisecond
	systemdBrokenCheck   = 250 * time.Millisecond
	systemdReconnectMin  = 100 * time.Millisecond
	systemdReconnectMax  = 5 * time.Second
	systemdDest          = "org.freedesktop.systemd1"
	systemdManagerPath   = "/org/freedesktop/systemd1"
	systemdManagerIface  = "org.freedesktop.systemd1.Manager"
	dbusPropertiesIface  = "org.freedesktop.DBus.Properties"
	dbusPropertiesSignal = "PropertiesChanged"
)

// systemdController is the Controller of a systemd unit. The bus
// connection is made at the first call and made again after it broke.
type systemdController struct {
	unit     string
	bus      string
	timeout  time.Duration
	log      zerolog.Logger
	unitPath godbus.ObjectPath

	// life ends with Close: it bounds the connections and the watchers of
	// Changes.
	life    context.Context
	closeFn context.CancelFunc

	mu     sync.Mutex
	conn   *sddbus.Conn // nil until the first call, or after a break
	closed bool
	// root is the cgroup root: the configured one, or the one found at
	// the first use ("" until then); rootErr says why none was found.
	root    string
	rootErr error
	// mainHost and mainNS are the last main process seen, as a host PID
	// and as systemd's (sawMain).
	mainHost int32
	mainNS   uint32
	// exitNS and exit are the last exit of a main process the watch of
	// Changes saw (sawExit), by systemd's PID.
	exitNS uint32
	exit   Exit
	// rootMu makes the search for the root once: it is held across the
	// search, whose bus calls take mu.
	rootMu sync.Mutex
}

var _ Controller = (*systemdController)(nil)

// NewSystemdController returns the Controller of cfg.Unit. It validates cfg
// and does no I/O: the bus is reached at the first call.
func NewSystemdController(cfg SystemdConfig) (Controller, error) {
	if err := validUnitName(cfg.Unit); err != nil {
		return nil, fmt.Errorf("systemd controller: %w", err)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("systemd controller: timeout %v is negative", cfg.Timeout)
	}
	if cfg.CgroupRoot != "" && !filepath.IsAbs(cfg.CgroupRoot) {
		return nil, fmt.Errorf("systemd controller: cgroup root %q is not an absolute path", cfg.CgroupRoot)
	}
	bus := cfg.BusAddress
	if bus == "" {
		bus = os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	}
	if bus == "" {
		bus = defaultSystemBus
	}
	if !strings.Contains(bus, ":") {
		return nil, fmt.Errorf("systemd controller: bus address %q is not a D-Bus address (unix:path=...)", bus)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = defaultSystemdWait
	}
	life, cancel := context.WithCancel(context.Background())
	return &systemdController{
		unit:     cfg.Unit,
		bus:      bus,
		timeout:  timeout,
		log:      cfg.Logger.With().Str("unit", cfg.Unit).Logger(),
		unitPath: godbus.ObjectPath("/org/freedesktop/systemd1/unit/" + sddbus.PathBusEscape(cfg.Unit)),
		life:     life,
		closeFn:  cancel,
		root:     cfg.CgroupRoot,
	}, nil
}

// validUnitName accepts a service unit's name: letters, digits and ":_.\-@",
// ending in ".service", with a name (and, for a template, an instance)
// before it.
func validUnitName(name string) error {
	base, ok := strings.CutSuffix(name, ".service")
	if !ok || base == "" || strings.HasSuffix(base, "@") || len(name) > 255 {
		return fmt.Errorf("unit %q is not a service unit's name (such as whatsapp.service)", name)
	}
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(":_.\\-@", r):
		default:
			return fmt.Errorf("unit %q: %q may not be in a unit's name", name, r)
		}
	}
	return nil
}

// Info says the controller is systemd's, for the unit, with the unit's
// cgroup as the tree.
func (c *systemdController) Info() ControllerInfo {
	return ControllerInfo{Kind: ControllerSystemd, Target: c.unit, Tree: TreeUnitCgroup}
}

// Close closes the bus connection and ends the watchers of Changes. It may
// be called more than once.
func (c *systemdController) Close() error {
	// First: a dial under way (holding mu) ends with the controller's life.
	c.closeFn()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	return nil
}

// errControllerClosed is the error of a call after Close.
var errControllerClosed = errors.New("the systemd controller is closed")

// unavailable is the error of a bus that cannot be reached: safe to show,
// with ErrControllerUnavailable and the cause in its chain.
func unavailable(op string, err error) error {
	return usererr.Wrap(fmt.Errorf("%s: %w: %w", op, ErrControllerUnavailable, err),
		usererr.Unavailable, "cannot reach systemd on the system bus: %s", busReason(err))
}

// busReason says in a few safe words why the bus could not be reached.
func busReason(err error) string {
	var derr godbus.Error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "its socket does not exist"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the connection was refused"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, context.DeadlineExceeded):
		return "it did not answer in time"
	case errors.Is(err, context.Canceled):
		return "the request was canceled"
	case errors.As(err, &derr) && (derr.Name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
		derr.Name == "org.freedesktop.DBus.Error.NameHasNoOwner"):
		return "systemd is not on the bus"
	case errors.Is(err, godbus.ErrClosed):
		return "the connection was closed"
	}
	return "the connection failed"
}

// dialBus makes one authenticated connection to the system bus; it lives
// until it is closed or the controller is. ctx and the controller's Timeout
// bound the dial.
func (c *systemdController) dialBus(ctx context.Context) (*godbus.Conn, error) {
	type result struct {
		conn *godbus.Conn
		err  error
	}
	// connCtx is the connection's life: godbus closes the connection when
	// it ends, which also ends a dial that hangs (a peer that never
	// answers the authentication or Hello).
	connCtx, abandon := context.WithCancel(c.life)
	done := make(chan result, 1)
	go func() {
		conn, err := godbus.Dial(c.bus, godbus.WithContext(connCtx))
		if err == nil {
			err = conn.Auth([]godbus.Auth{godbus.AuthExternal(strconv.Itoa(os.Getuid()))})
			if err == nil {
				err = conn.Hello()
			}
			if err != nil {
				conn.Close()
			}
		}
		done <- result{conn, err}
	}()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	select {
	case r := <-done:
		if r.err != nil {
			abandon()
			return nil, r.err
		}
		// connCtx is released once the connection is closed (by its
		// user, a broken bus or the controller's Close).
		context.AfterFunc(r.conn.Context(), abandon)
		return r.conn, nil
	case <-ctx.Done():
		abandon()
		return nil, ctx.Err()
	}
}

// connect returns the controller's connection, dialling when there is none
// or the last one broke.
func (c *systemdController) connect(ctx context.Context) (*sddbus.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errControllerClosed
	}
	if c.conn != nil && c.conn.Connected() {
		return c.conn, nil
	}
	if c.conn != nil {
		c.log.Warn().Msg("systemd bus connection broke; connecting again")
		c.conn.Close()
		c.conn = nil
	}
	conn, err := sddbus.NewConnection(func() (*godbus.Conn, error) { return c.dialBus(ctx) })
	if err != nil && ctx.Err() != nil {
		// The caller gave up: that says nothing of the bus.
		return nil, fmt.Errorf("connect to the system bus: %w", ctx.Err())
	}
	if err != nil {
		return nil, unavailable("connect to the system bus", err)
	}
	c.conn = conn
	return conn, nil
}

// callFailed turns the error of a call on conn into the controller's: the
// bus unavailable when the connection broke or systemd is not on it, else
// err wrapped with op.
func (c *systemdController) callFailed(conn *sddbus.Conn, op string, err error) error {
	var derr godbus.Error
	if !conn.Connected() || errors.Is(err, godbus.ErrClosed) ||
		errors.As(err, &derr) && (derr.Name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
			derr.Name == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
			derr.Name == "org.freedesktop.DBus.Error.Disconnected") {
		return unavailable(op, err)
	}
	if errors.As(err, &derr) {
		switch derr.Name {
		case "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.systemd1.LoadFailed":
			return usererr.Wrap(fmt.Errorf("%s: %w", op, err), usererr.NotFound,
				"systemd has no unit %s", c.unit)
		case "org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired":
			return usererr.Wrap(fmt.Errorf("%s: %w", op, err), usererr.Forbidden,
				"systemd does not let the bot manage %s: give it the polkit rule from the README", c.unit)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return usererr.Wrap(fmt.Errorf("%s: %w", op, err), usererr.Unavailable,
		"systemd refused a request about %s", c.unit)
}

// unitProps are the properties of the unit the controller reads.
type unitProps struct {
	LoadState, ActiveState, SubState, Result string
	MainPID                                  uint32
	NRestarts                                uint32
	ExecMainPID                              uint32 // the last main process, also once it ended
	ExecMainCode                             int32
	ExecMainStatus                           int32
	ExecMainStartTimestamp                   uint64 // µs since the epoch
	// ControlGroup is the unit's cgroup: systemd's ControlGroup while the
	// unit is active, else where its cgroup is made (which processes left
	// by a stop of a KillMode=process unit still occupy).
	ControlGroup                      string
	TimeoutStartUSec, TimeoutStopUSec uint64
}

func (p unitProps) state() string { return p.ActiveState + "/" + p.SubState }

// running says whether the unit runs. A deactivating unit counts as
// running: its processes are still there (the stop is under way), and
// the exit is reported once it is inactive or failed. A unit waiting to be
// restarted (activating/auto-restart) does not: nothing of it runs.
func (p unitProps) running() bool {
	switch p.ActiveState {
	case "active", "reloading", "refreshing", "deactivating":
		return true
	case "activating":
		return p.SubState != "auto-restart"
	}
	return false
}

// lastExit is how the unit's main process last ended (ExecMainCode is a
// CLD_* code), nil when it has not ended since it was started.
func (p unitProps) lastExit() *Exit {
	switch p.ExecMainCode {
	case 1: // CLD_EXITED
		code := int(p.ExecMainStatus)
		return &Exit{Known: true, Code: code, ChildSignal: childSignal(code)}
	case 2, 3: // CLD_KILLED, CLD_DUMPED
		return &Exit{Known: true, Code: -1, Signal: signalName(syscall.Signal(p.ExecMainStatus))}
	}
	return nil
}

// exitPhrase describes the main process's last end for an error message.
func (p unitProps) exitPhrase() string {
	switch p.ExecMainCode {
	case 1:
		return fmt.Sprintf("its main process exited with status %d", p.ExecMainStatus)
	case 2:
		return "its main process was killed by " + signalName(syscall.Signal(p.ExecMainStatus))
	case 3:
		return "its main process dumped core on " + signalName(syscall.Signal(p.ExecMainStatus))
	}
	return ""
}

// sliceCgroup is the cgroup of a slice unit: "system.slice" is
// /system.slice, "a-b.slice" /a.slice/a-b.slice, "-.slice" (or none) the
// root ("").
func sliceCgroup(slice string) string {
	name, ok := strings.CutSuffix(slice, ".slice")
	if !ok || name == "-" || name == "" {
		return ""
	}
	parts := strings.Split(name, "-")
	var b strings.Builder
	for i := range parts {
		b.WriteString("/" + strings.Join(parts[:i+1], "-") + ".slice")
	}
	return b.String()
}

// usecDuration converts a systemd µs duration; infinity is 0.
func usecDuration(us uint64) time.Duration {
	if us == math.MaxUint64 || us > uint64(math.MaxInt64/int64(time.Microsecond)) {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}

// props reads the unit's properties in one call (every interface's). A
// connection that broke is made again once.
func (c *systemdController) props(ctx context.Context, op string) (unitProps, error) {
	var all map[string]any
	for attempt := 0; ; attempt++ {
		conn, err := c.connect(ctx)
		if err != nil {
			return unitProps{}, fmt.Errorf("%s: %w", op, err)
		}
		all, err = conn.GetAllPropertiesContext(ctx, c.unit)
		if err == nil {
			break
		}
		if attempt == 0 && !conn.Connected() && ctx.Err() == nil {
			continue // the connection broke since the last call: once more on a new one
		}
		return unitProps{}, c.callFailed(conn, op+": read the unit's properties", err)
	}
	var p unitProps
	str := func(k string) string { s, _ := all[k].(string); return s }
	p.LoadState, p.ActiveState, p.SubState, p.Result = str("LoadState"), str("ActiveState"), str("SubState"), str("Result")
	p.ControlGroup = str("ControlGroup")
	if p.ControlGroup == "" {
		p.ControlGroup = sliceCgroup(str("Slice")) + "/" + c.unit
	}
	p.MainPID, _ = all["MainPID"].(uint32)
	p.NRestarts, _ = all["NRestarts"].(uint32)
	p.ExecMainPID, _ = all["ExecMainPID"].(uint32)
	p.ExecMainCode, _ = all["ExecMainCode"].(int32)
	p.ExecMainStatus, _ = all["ExecMainStatus"].(int32)
	p.ExecMainStartTimestamp, _ = all["ExecMainStartTimestamp"].(uint64)
	p.TimeoutStartUSec, _ = all["TimeoutStartUSec"].(uint64)
	p.TimeoutStopUSec, _ = all["TimeoutStopUSec"].(uint64)
	if p.LoadState != "loaded" {
		return p, usererr.New(usererr.NotFound, "systemd has no usable unit %s (it is %s)", c.unit, p.LoadState)
	}
	return p, nil
}

// job runs one systemd job (StartUnit, StopUnit) and waits for its result
// until wait has passed, ctx ends or the connection breaks. The job goes on
// in systemd when the wait ends first.
func (c *systemdController) job(ctx context.Context, op string, wait time.Duration,
	call func(*sddbus.Conn, context.Context, chan<- string) (int, error)) (string, error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	// Buffered: go-systemd sends the result while holding its lock, and
	// nobody may be reading any more.
	ch := make(chan string, 1)
	if _, err := call(conn, ctx, ch); err != nil {
		return "", c.callFailed(conn, op, err)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	// The result comes as a signal on the connection: should it break,
	// none will come.
	tick := time.NewTicker(systemdBrokenCheck)
	defer tick.Stop()
	for {
		select {
		case result := <-ch:
			return result, nil
		case <-ctx.Done():
			return "", fmt.Errorf("%s: waiting for systemd's job: %w", op, ctx.Err())
		case <-tick.C:
			if !conn.Connected() {
				return "", unavailable(op+": waiting for systemd's job", godbus.ErrClosed)
			}
		case <-timer.C:
			return "", usererr.New(usererr.Unavailable, "systemd did not finish the job for %s in %s", c.unit, human.Duration(wait))
		}
	}
}

// Start starts the unit (StartUnit, mode "replace") and waits for the job:
// a result other than "done" is an error that says it, with the unit's
// state and its main process's exit when the job failed. The PID returned
// is the unit's MainPID as a PID of this host (0 when it has none); Wait is
// nil. l is ignored: the unit says what runs.
func (c *systemdController) Start(ctx context.Context, _ Launch) (Launched, error) {
	op := "start " + c.unit
	before, err := c.props(ctx, op)
	if err != nil {
		return Launched{}, err
	}
	wait := usecDuration(before.TimeoutStartUSec) + c.timeout
	after, err := c.runJob(ctx, "start", wait, func(conn *sddbus.Conn, ctx context.Context, ch chan<- string) (int, error) {
		return conn.StartUnitContext(ctx, c.unit, "replace", ch)
	})
	if err != nil {
		return Launched{}, err
	}
	return Launched{PID: c.hostMainPID(ctx, after)}, nil
}

// runJob runs one job on the unit (call asks for it: StartUnit, StopUnit),
// waits up to wait for its result, and returns the unit's properties after
// it. A result other than "done" is an error that says it, with the unit's
// state (jobFailure).
func (c *systemdController) runJob(ctx context.Context, verb string, wait time.Duration,
	call func(conn *sddbus.Conn, ctx context.Context, ch chan<- string) (int, error)) (unitProps, error) {
	op := verb + " " + c.unit
	begin := time.Now()
	result, err := c.job(ctx, op, wait, call)
	if err != nil {
		return unitProps{}, err
	}
	after, perr := c.props(ctx, op)
	c.log.Debug().Str("job", verb).Str("result", result).Dur("took", time.Since(begin)).Str("state", after.state()).
		Uint32("main_pid", after.MainPID).Str("unit_result", after.Result).Msg("systemd job ended")
	if result != "done" {
		return unitProps{}, usererr.Wrap(fmt.Errorf("%s: job %s", op, result), usererr.Unavailable,
			"%s", c.jobFailure(verb, result, after, perr))
	}
	return after, perr
}

// jobFailure is the sentence for a job that did not end "done".
func (c *systemdController) jobFailure(verb, result string, p unitProps, perr error) string {
	what := map[string]string{
		"failed":     "job failed",
		"timeout":    "job timed out",
		"dependency": "job failed: a unit it depends on failed",
		"canceled":   "job canceled",
		"skipped":    "job skipped",
		"invalid":    "job invalid",
	}[result]
	if what == "" {
		what = "job " + strconv.Quote(result)
	}
	msg := fmt.Sprintf("%s failed to %s: %s", c.unit, verb, what)
	if perr == nil && p.ActiveState != "" {
		msg += "; the unit is " + p.state()
		if e := p.exitPhrase(); e != "" {
			msg += ", " + e
		}
	}
	return msg
}

// Stop stops the unit (StopUnit) and waits for the job, until the later of
// h.Deadline and the unit's TimeoutStopSec from now, plus the controller's
// Timeout. The stop was graceful unless systemd had to SIGKILL (the unit's
// Result "timeout"). h's processes are ignored: systemd stops the unit's
// cgroup as its KillMode says.
func (c *systemdController) Stop(ctx context.Context, h Halt) (Halted, error) {
	op := "stop " + c.unit
	before, err := c.props(ctx, op)
	if err != nil {
		return Halted{}, err
	}
	begin := time.Now()
	stopTimeout := usecDuration(before.TimeoutStopUSec)
	until := begin.Add(stopTimeout)
	if h.Deadline.After(until) {
		until = h.Deadline
	}
	wait := until.Sub(begin) + c.timeout
	after, err := c.runJob(ctx, "stop", wait, func(conn *sddbus.Conn, ctx context.Context, ch chan<- string) (int, error) {
		return conn.StopUnitContext(ctx, c.unit, "replace", ch)
	})
	if err != nil {
		return Halted{}, err
	}
	if after.Result == "timeout" {
		killed := time.Now()
		if stopTimeout > 0 && begin.Add(stopTimeout).Before(killed) {
			killed = begin.Add(stopTimeout)
		}
		return Halted{Forced: true, KilledAt: killed}, nil
	}
	return Halted{Graceful: true}, nil
}

// Observe reads the unit's properties in one call (GetAll: a consistent
// snapshot) and its cgroup's members. Running is true for a unit active,
// reloading, activating (but not waiting to be restarted) or deactivating:
// a unit being stopped still has its processes, and its exit is seen once
// it is inactive or failed. MainPID is mapped to a host PID through the
// cgroup's members (NSpid), Since is ExecMainStartTimestamp while it runs,
// LastExit is ExecMainCode/ExecMainStatus once the main process ended.
func (c *systemdController) Observe(ctx context.Context) (Observation, error) {
	p, err := c.props(ctx, "observe "+c.unit)
	if err != nil {
		return Observation{}, err
	}
	o := Observation{
		Managed: true,
		Running: p.running(),
		// activating, an auto-restart pending included: systemd is
		// starting it again.
		Restarting: p.ActiveState == "activating",
		State:      p.state(),
		Restarts:   int(p.NRestarts),
		LastExit:   p.lastExit(),
	}
	members, err := c.members(ctx, p.ControlGroup)
	if err == nil {
		o.Members = members
	} else if c.rootKnown() {
		c.log.Warn().Err(err).Msg("cannot read the unit's cgroup")
	}
	if p.MainPID != 0 {
		o.MainPID = mapMainPID(int32(p.MainPID), o.Members, err == nil)
		c.sawMain(o.MainPID, p.MainPID)
	}
	if o.Running && p.ExecMainStartTimestamp != 0 {
		o.Since = time.UnixMicro(int64(p.ExecMainStartTimestamp))
	}
	return o, nil
}

// hostMainPID maps the unit's MainPID to a host PID through its cgroup.
func (c *systemdController) hostMainPID(ctx context.Context, p unitProps) int32 {
	if p.MainPID == 0 {
		return 0
	}
	members, err := c.members(ctx, p.ControlGroup)
	if err != nil && c.rootKnown() {
		c.log.Warn().Err(err).Msg("cannot read the unit's cgroup")
	}
	host := mapMainPID(int32(p.MainPID), members, err == nil)
	c.sawMain(host, p.MainPID)
	return host
}

// sawMain keeps the last main process seen, as a host PID and as
// systemd's, for ExitOf.
func (c *systemdController) sawMain(host int32, ns uint32) {
	if host == 0 {
		return
	}
	c.mu.Lock()
	c.mainHost, c.mainNS = host, ns
	c.mu.Unlock()
}

// sawExit keeps the main process's exit that a PropertiesChanged body
// (interface, changed, invalidated) of the unit carries: systemd sends it
// before it starts the next main process (a restart), which resets the
// properties.
func (c *systemdController) sawExit(body []any) {
	if len(body) < 2 {
		return
	}
	changed, _ := body[1].(map[string]godbus.Variant)
	var p unitProps
	pid, ok1 := changed["ExecMainPID"].Value().(uint32)
	code, ok2 := changed["ExecMainCode"].Value().(int32)
	status, ok3 := changed["ExecMainStatus"].Value().(int32)
	if !ok1 || !ok2 || !ok3 {
		return
	}
	p.ExecMainCode, p.ExecMainStatus = code, status
	if e := p.lastExit(); e != nil && pid != 0 {
		c.mu.Lock()
		c.exitNS, c.exit = pid, *e
		c.mu.Unlock()
	}
}

// exitWait bounds ExitOf's wait for systemd's record of an exit.
const exitWait = 500 * time.Millisecond

// ExitOf says how the unit's main process hostPID ended, as systemd
// recorded it (ExecMainCode, ExecMainStatus): from the watch of Changes,
// which sees it even when a restart follows at once, or from the unit's
// properties; it waits up to half a second for systemd to see the end. The
// exit is unknown when hostPID is not the last main process Observe or
// Start saw, or systemd started another one before the exit could be read
// (no watch running).
func (c *systemdController) ExitOf(ctx context.Context, hostPID int32) Exit {
	c.mu.Lock()
	host, ns := c.mainHost, c.mainNS
	c.mu.Unlock()
	if host != hostPID || ns == 0 {
		return Exit{}
	}
	ctx, cancel := context.WithTimeout(ctx, exitWait)
	defer cancel()
	tick := time.NewTicker(systemdPollInterval)
	defer tick.Stop()
	props := true // until systemd shows another main process
	for {
		c.mu.Lock()
		exitNS, exit := c.exitNS, c.exit
		c.mu.Unlock()
		if exitNS == ns {
			return exit
		}
		if props {
			p, err := c.props(ctx, "read how the main process of "+c.unit+" ended")
			if err != nil {
				return Exit{}
			}
			if p.ExecMainPID == ns {
				if e := p.lastExit(); e != nil {
					return *e
				}
			} else {
				props = false
			}
		}
		select {
		case <-ctx.Done():
			return Exit{}
		case <-tick.C:
		}
	}
}

// mapMainPID finds, among the unit cgroup's members, the process whose PID
// in its innermost PID namespace is mainPID, taking the shallowest such
// process: systemd's own namespace is the shallowest of its unit's
// processes (a sandboxed child's namespace is deeper). Where systemd runs
// in the host's namespace this is mainPID itself. When the members could
// not be read, mainPID is taken as it is; when none matches (the process
// ended meanwhile), 0.
func mapMainPID(mainPID int32, members []int32, known bool) int32 {
	if !known {
		return mainPID
	}
	found, depth := int32(0), math.MaxInt
	for _, pid := range members {
		ns, err := nsPIDs(pid)
		if err != nil || len(ns) == 0 || ns[len(ns)-1] != mainPID || len(ns) >= depth {
			continue
		}
		found, depth = pid, len(ns)
	}
	return found
}

// nsPIDs reads the NSpid: line of /proc/<pid>/status: the process's PID in
// each PID namespace it is in, outermost first.
func nsPIDs(pid int32) ([]int32, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/status")
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "NSpid:")
		if !ok {
			continue
		}
		var out []int32
		for _, f := range strings.Fields(rest) {
			n, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("NSpid of %d: %w", pid, err)
			}
			out = append(out, int32(n))
		}
		return out, nil
	}
	return nil, fmt.Errorf("process %d: no NSpid line", pid)
}

// cgroupRoot returns the host directory of systemd's cgroup tree: the
// configured one, else the one found at the first need (findCgroupRoot).
// What it finds, or why it found nothing, is kept: neither changes while
// the bot runs. A search cut short by ctx is not kept.
func (c *systemdController) cgroupRoot(ctx context.Context) (string, error) {
	c.rootMu.Lock()
	defer c.rootMu.Unlock()
	c.mu.Lock()
	root, rootErr := c.root, c.rootErr
	c.mu.Unlock()
	if root != "" || rootErr != nil {
		return root, rootErr
	}
	root, why, rootErr := c.findCgroupRoot(ctx)
	if rootErr == nil && why != "" && ctx.Err() != nil {
		return root, nil // the mount for now; the search is made again
	}
	c.mu.Lock()
	c.root, c.rootErr = root, rootErr
	c.mu.Unlock()
	switch {
	case rootErr != nil:
		c.log.Warn().Err(rootErr).Msg("the unit's processes cannot be listed: no cgroup hierarchy of systemd's found")
	case why != "":
		c.log.Warn().Str("cgroup_root", root).Str("why", why).Msg("systemd's cgroup tree taken to be rooted at the cgroup mount")
	default:
		c.log.Debug().Str("cgroup_root", root).Msg("systemd's cgroup tree found")
	}
	return root, rootErr
}

// findCgroupRoot finds where systemd's cgroup tree is in the host's: the
// cgroup v2 mount where systemd runs in the host's cgroup namespace, a
// cgroup beneath it where systemd runs in a namespace or container of its
// own (its "/" is then that cgroup). The peer of a connection to the bus
// socket (SO_PEERCRED: dbus-daemon, or PID 1 when systemd holds the socket)
// is in a cgroup whose path the host sees (/proc/<pid>/cgroup); systemd
// says the path it sees for the units that peer may be in (dbus.service,
// init.scope); when one is a suffix of the host's path, the rest before it
// is where systemd's tree is rooted. When that cannot be told, the root is
// the mount and why says why; on a cgroup v1 host it is systemd's own v1
// hierarchy, /sys/fs/cgroup/systemd.
func (c *systemdController) findCgroupRoot(ctx context.Context) (root, why string, err error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", fmt.Errorf("find systemd's cgroup hierarchy: %w", err)
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", "", fmt.Errorf("find systemd's cgroup hierarchy: %w", err)
	}
	h, err := cgroup.Parse(bytes.NewReader(mi), bytes.NewReader(self))
	if err != nil {
		const v1 = "/sys/fs/cgroup/systemd"
		if _, serr := os.Stat(filepath.Join(v1, "cgroup.procs")); serr == nil {
			return v1, "", nil // a cgroup v1 host: systemd's own hierarchy
		}
		return "", "", fmt.Errorf("find systemd's cgroup hierarchy: %w", err)
	}
	// The cgroup at the mount point: the bot's own cgroup less the part
	// of it beneath the mount ("/" unless the mount is of a subtree).
	rel, _ := filepath.Rel(h.Mount, h.Parent)
	mountRoot := "/"
	if rel != "." {
		mountRoot = strings.TrimSuffix(h.Self, "/"+filepath.ToSlash(rel))
	}
	prefix, why := c.systemdPrefix(ctx)
	if why != "" {
		return h.Mount, why, nil
	}
	under, ok := cgroupWithin(prefix, mountRoot)
	if !ok {
		return h.Mount, fmt.Sprintf("systemd's cgroup %s is outside the cgroup mount's %s", prefix, mountRoot), nil
	}
	return filepath.Join(h.Mount, filepath.FromSlash(under)), "", nil
}

// cgroupWithin returns cgroup path p relative to root when root is p or an
// ancestor of it.
func cgroupWithin(p, root string) (string, bool) {
	if root == "/" {
		return strings.TrimPrefix(p, "/"), true
	}
	if p == root {
		return "", true
	}
	if rest, ok := strings.CutPrefix(p, root+"/"); ok {
		return rest, true
	}
	return "", false
}

// systemdPrefix is the host's cgroup path of systemd's root cgroup ("" for
// the host's own root), or why it cannot be told.
func (c *systemdController) systemdPrefix(ctx context.Context) (prefix, why string) {
	path, ok := unixSocketPath(c.bus)
	if !ok {
		return "", "the bus address is not a unix socket path, so its peer cannot be asked"
	}
	pid, err := socketPeer(ctx, path)
	if err != nil {
		return "", "the bus socket's peer: " + err.Error()
	}
	hostPath, err := processCgroup(pid)
	if err != nil {
		return "", "the cgroup of the bus socket's peer: " + err.Error()
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return "", err.Error()
	}
	var seen []string
	for _, u := range []struct{ name, kind string }{{"dbus.service", "Service"}, {"init.scope", "Scope"}} {
		p, err := conn.GetUnitTypePropertyContext(ctx, u.name, u.kind, "ControlGroup")
		if err != nil {
			seen = append(seen, u.name+": "+err.Error())
			continue
		}
		cg, _ := p.Value.Value().(string)
		if cg == "" || cg == "/" {
			seen = append(seen, u.name+" has no cgroup")
			continue
		}
		if before, ok := strings.CutSuffix(hostPath, cg); ok && (before == "" || strings.HasPrefix(before, "/")) {
			if before == "" {
				before = "/"
			}
			return before, ""
		}
		seen = append(seen, u.name+" is in "+cg)
	}
	return "", fmt.Sprintf("the bus socket's peer (pid %d) is in %s, which ends in no cgroup of systemd's units (%s)",
		pid, hostPath, strings.Join(seen, "; "))
}

// unixSocketPath is the path of the first unix:path= entry of a D-Bus
// address.
func unixSocketPath(address string) (string, bool) {
	for _, entry := range strings.Split(address, ";") {
		transport, params, ok := strings.Cut(entry, ":")
		if !ok || transport != "unix" {
			continue
		}
		for _, kv := range strings.Split(params, ",") {
			if v, ok := strings.CutPrefix(kv, "path="); ok && v != "" {
				if u, err := unescapeBusValue(v); err == nil {
					return u, true
				}
			}
		}
	}
	return "", false
}

// unescapeBusValue undoes the %xx escapes of a D-Bus address value.
func unescapeBusValue(v string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+2 >= len(v) {
			return "", fmt.Errorf("bad escape in %q", v)
		}
		n, err := strconv.ParseUint(v[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", v)
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// processCgroup reads a process's cgroup v2 path from /proc/<pid>/cgroup,
// as this process's cgroup namespace sees it.
func processCgroup(pid int32) (string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok && strings.HasPrefix(p, "/") {
			return p, nil
		}
	}
	return "", fmt.Errorf("process %d has no cgroup v2 line", pid)
}

// rootKnown says whether the cgroup root was found (cgroupRoot logged
// once why not).
func (c *systemdController) rootKnown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rootErr == nil
}

// cgroupDir is the host directory of a unit's ControlGroup.
func (c *systemdController) cgroupDir(ctx context.Context, controlGroup string) (string, error) {
	root, err := c.cgroupRoot(ctx)
	if err != nil {
		return "", err
	}
	// Clean of "/"+controlGroup never leads above root.
	return filepath.Join(root, filepath.FromSlash(filepath.Clean("/"+controlGroup))), nil
}

// members lists the processes of a unit's cgroup and its sub-cgroups,
// sorted; empty (not nil) for a unit without a cgroup.
func (c *systemdController) members(ctx context.Context, controlGroup string) ([]int32, error) {
	if controlGroup == "" {
		return []int32{}, nil
	}
	dir, err := c.cgroupDir(ctx, controlGroup)
	if err != nil {
		return nil, err
	}
	out := []int32{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a cgroup removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		procs, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(procs)) {
			if n, err := strconv.ParseInt(f, 10, 32); err == nil {
				out = append(out, int32(n))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", dir, err)
	}
	slices.Sort(out)
	return out, nil
}

// Finish ends what a stop left in the unit's cgroup (a unit with
// KillMode=process leaves the main process's children): KillUnit with
// SIGKILL for all its processes, then it waits, up to the controller's
// Timeout, until the cgroup is empty. Nothing when it is empty already.
func (c *systemdController) Finish(ctx context.Context) error {
	op := "finish the stop of " + c.unit
	p, err := c.props(ctx, op)
	if err != nil {
		return err
	}
	cg := p.ControlGroup
	members, err := c.members(ctx, cg)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if len(members) == 0 {
		return nil
	}
	c.log.Info().Int("left", len(members)).Str("state", p.state()).Msg("the unit's cgroup has processes after the stop; killing them")
	conn, err := c.connect(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := conn.KillUnitWithTarget(ctx, c.unit, sddbus.All, int32(syscall.SIGKILL)); err != nil {
		return c.callFailed(conn, op+": kill", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tick := time.NewTicker(systemdPollInterval)
	defer tick.Stop()
	for {
		left, err := c.members(ctx, cg)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return usererr.Wrap(fmt.Errorf("%s: %w", op, ctx.Err()), usererr.Unavailable,
				"%s still has %s after SIGKILL", c.unit, human.Count(len(left), "process"))
		case <-tick.C:
		}
	}
}

// Changes returns a channel that receives a value whenever the unit's
// ActiveState, SubState, MainPID or NRestarts changes, from the
// PropertiesChanged signals systemd sends for the unit's object. Signals
// are coalesced: one value waits at most, a slow reader misses none of the
// news (it re-reads the state). The channel is closed when ctx ends or the
// controller is closed. A broken bus is reconnected, with a value sent
// after, since changes may have been missed. The error is the first
// connection's.
func (c *systemdController) Changes(ctx context.Context) (<-chan struct{}, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, errControllerClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.life, cancel)
	conn, sigs, err := c.subscribe(ctx)
	if err != nil {
		stop()
		cancel()
		return nil, fmt.Errorf("watch %s: %w", c.unit, err)
	}
	out := make(chan struct{}, 1)
	notify := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	go func() {
		defer close(out)
		defer stop()
		defer cancel()
		backoff := systemdReconnectMin
		for {
			c.relay(ctx, sigs, notify)
			conn.Close()
			if ctx.Err() != nil {
				return
			}
			c.log.Warn().Msg("systemd bus connection of the unit watch broke; connecting again")
			for {
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				backoff = min(backoff*2, systemdReconnectMax)
				if conn, sigs, err = c.subscribe(ctx); err == nil {
					break
				}
			}
			backoff = systemdReconnectMin
			notify()
		}
	}()
	return out, nil
}

// relay passes the unit's relevant property changes on until ctx ends or
// the connection breaks (sigs closed).
func (c *systemdController) relay(ctx context.Context, sigs <-chan *godbus.Signal, notify func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case s, ok := <-sigs:
			if !ok {
				return
			}
			if s.Path != c.unitPath || s.Name != dbusPropertiesIface+"."+dbusPropertiesSignal {
				continue
			}
			c.sawExit(s.Body)
			if watchedChange(s.Body) {
				notify()
			}
		}
	}
}

// watchedChange says whether a PropertiesChanged body (interface, changed,
// invalidated) touches a property the watch reports.
func watchedChange(body []any) bool {
	if len(body) < 3 {
		return false
	}
	changed, _ := body[1].(map[string]godbus.Variant)
	invalidated, _ := body[2].([]string)
	for _, k := range []string{"ActiveState", "SubState", "MainPID", "NRestarts"} {
		if _, ok := changed[k]; ok || slices.Contains(invalidated, k) {
			return true
		}
	}
	return false
}

// subscribe makes a connection that receives the unit's PropertiesChanged
// signals (systemd sends them once a client has called Subscribe).
func (c *systemdController) subscribe(ctx context.Context) (*godbus.Conn, <-chan *godbus.Signal, error) {
	conn, err := c.dialBus(ctx)
	if err != nil {
		return nil, nil, unavailable("connect to the system bus", err)
	}
	fail := func(op string, err error) (*godbus.Conn, <-chan *godbus.Signal, error) {
		conn.Close()
		var derr godbus.Error
		if errors.As(err, &derr) && derr.Name != "org.freedesktop.DBus.Error.ServiceUnknown" {
			return nil, nil, fmt.Errorf("%s: %w", op, err)
		}
		return nil, nil, unavailable(op, err)
	}
	sigs := make(chan *godbus.Signal, 16)
	conn.Signal(sigs)
	if err := conn.AddMatchSignalContext(ctx,
		godbus.WithMatchObjectPath(c.unitPath),
		godbus.WithMatchInterface(dbusPropertiesIface),
		godbus.WithMatchMember(dbusPropertiesSignal)); err != nil {
		return fail("add a match for the unit's signals", err)
	}
	if err := conn.Object(systemdDest, systemdManagerPath).CallWithContext(ctx, systemdManagerIface+".Subscribe", 0).Err; err != nil {
		return fail("subscribe to systemd's signals", err)
	}
	return conn, sigs, nil
}
