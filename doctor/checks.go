package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/shirou/gopsutil/v4/disk"

	"github.com/sanasend/sanasend-bot/internal/human"
)

// Verdict is the outcome of one Check.
type Verdict string

const (
	VerdictOK   Verdict = "ok"
	VerdictWarn Verdict = "warn"
	VerdictFail Verdict = "fail"
)

// Check is one line of `start`'s preconditions, of `doctor` or of `check`.
//
// Names are stable: "node", "npm", "service dir", "start command",
// "port <n>" (e.g. "port 3000"), "log file", "log dir writable",
// "disk space", "service user" (CheckUsers).
type Check struct {
	Name    string
	Verdict Verdict
	// Detail is one line an on-call engineer understands: "v20.20.2
	// (/usr/bin/node)", "/srv/x does not exist", "in use by pid 4242 (node
	// src/server.js)".
	Detail string
	// Hint says what to do; empty when the verdict is ok.
	Hint string
}

// Env is what the checks look at: one service as it would be started.
type Env struct {
	Dir   string   // service dir, absolute
	Start []string // argv; Start[0] is resolved with LookPathIn
	// Env is the complete environment the service will get: PATH is taken
	// from here, never from the bot's own environment. nil means empty.
	Env      []string
	HostPort string // "127.0.0.1:3000"
	LogPath  string // absolute
	// Timeout bounds each external command and each network probe;
	// 0 means 5s.
	Timeout time.Duration
	// Clock is read for "last written 2m ago"; nil means the real clock.
	// Timeouts are real time.
	Clock clockwork.Clock
}

// NodeMinMajor is the oldest Node.js major version the bot supports for the
// service (whatsapp-web.js runs on 18, which is past its end of life; the
// project builds and tests on 20).
const NodeMinMajor = 20

const (
	checkDefaultTimeout = 5 * time.Second
	// checkOutputMax caps what is kept of each stream of an external command.
	checkOutputMax = 4 << 10
	// checkWaitDelay bounds the wait for a command's pipes once it has exited
	// or been killed (a grandchild may hold them open).
	checkWaitDelay = time.Second
	// checkLogHuge is the log size above which doctor warns: the service
	// never rotates its log.
	checkLogHuge = 1 << 30
	// Disk thresholds: warn below 10% free; fail below 2% or 500 MiB.
	diskWarnPercent = 10.0
	diskFailPercent = 2.0
	diskFailBytes   = 500 << 20
)

func (e Env) timeout() time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return checkDefaultTimeout
}

func (e Env) now() time.Time {
	if e.Clock != nil {
		return e.Clock.Now()
	}
	return time.Now()
}

// Preconditions are the checks start runs before it spawns anything: the
// service dir, the start command, the port and the log dir, in that order.
// Every check runs, so each failure is named on its own; Failed picks the
// ones that must stop a start. Nothing is created or modified.
func Preconditions(ctx context.Context, e Env) []Check {
	return []Check{
		checkServiceDir(e),
		checkStartCommand(e),
		checkPortFree(ctx, e),
		checkLogDirWritable(e),
	}
}

// Failed returns the checks whose verdict is fail, in order.
func Failed(checks []Check) []Check {
	var out []Check
	for _, c := range checks {
		if c.Verdict == VerdictFail {
			out = append(out, c)
		}
	}
	return out
}

// HostChecks runs the seed guide's troubleshooting list for real: node and
// npm versions, the service dir, the start command, the port and who holds
// it, the log file, the log dir and the disk space of the service's
// filesystem, in that order. It starts node and npm (argv, with e.Env, no
// stdin, a timeout) and modifies nothing. The checks run concurrently, so
// the whole takes about as long as the slowest (npm, or the port owner
// search on a host with many processes). Health, processes and sessions are
// not its business.
func HostChecks(ctx context.Context, e Env) []Check {
	checks := []func() Check{
		func() Check { return checkNode(ctx, e) },
		func() Check { return checkNPM(ctx, e) },
		func() Check { return checkServiceDir(e) },
		func() Check { return checkStartCommand(e) },
		func() Check { return checkPortOwner(ctx, e) },
		func() Check { return checkLogFile(e) },
		func() Check { return checkLogDirWritable(e) },
		func() Check { return checkDiskSpace(ctx, e) },
	}
	out := make([]Check, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		wg.Go(func() { out[i] = check() })
	}
	wg.Wait()
	return out
}

// --- service dir -----------------------------------------------------------

const hintServiceDir = "verify the whatsapp-service directory exists: deploy the service there or fix services[].dir in the config"

func checkServiceDir(e Env) Check {
	c := Check{Name: "service dir"}
	if e.Dir == "" {
		return c.fail("no service dir configured", hintServiceDir)
	}
	fi, err := os.Stat(e.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c.fail(e.Dir+" does not exist", hintServiceDir)
	case err != nil:
		return c.fail(checkErrLine(err), hintServiceDir)
	case !fi.IsDir():
		return c.fail(e.Dir+" is not a directory", hintServiceDir)
	}
	return c.ok(e.Dir)
}

// --- start command ---------------------------------------------------------

func checkStartCommand(e Env) Check {
	c := Check{Name: "start command"}
	if len(e.Start) == 0 || e.Start[0] == "" {
		return c.fail("no start command configured", "set services[].start, e.g. [\"npm\", \"start\"]")
	}
	path, err := LookPathIn(e.Start[0], e.Dir, e.Env)
	if err != nil {
		return c.fail(err.Error(), checkStartHint(e.Start[0], err))
	}
	return c.ok(fmt.Sprintf("%s (%s)", checkArgv(e.Start), path))
}

func checkStartHint(name string, err error) string {
	if errors.Is(err, errCheckNotExecutable) {
		return "make it executable (chmod +x) or fix services[].start"
	}
	if name == "npm" || name == "node" {
		return "check that Node.js and npm are installed (node --version, npm --version) and on the PATH the service gets (services[].env)"
	}
	return "install it, put it on the PATH the service gets (services[].env), or fix services[].start"
}

// errCheckNotExecutable marks a start command that exists but cannot be run.
var errCheckNotExecutable = errors.New("not executable")

// LookPathIn resolves file the way the service's start would: a name with a
// path separator is taken as is, relative to dir when not absolute (as
// exec.Cmd does with Cmd.Dir); a bare name is searched in the PATH of env,
// never in the bot's own environment. Relative PATH entries ("", ".",
// "node_modules/.bin") are skipped, like os/exec does since Go 1.19. The
// error is one line for a human: "npmx not found on PATH (PATH=/usr/bin)".
func LookPathIn(file, dir string, env []string) (string, error) {
	if file == "" {
		return "", errors.New("empty command")
	}
	if filepath.Base(file) != file || filepath.IsAbs(file) {
		p := file
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		var firstErr error
		for _, cand := range checkExecCandidates(p, env) {
			err := checkIsExecutable(cand)
			if err == nil {
				return cand, nil
			}
			if firstErr == nil || !errors.Is(err, fs.ErrNotExist) {
				firstErr = err
			}
		}
		if errors.Is(firstErr, errCheckNotExecutable) {
			return "", fmt.Errorf("%s is not executable (%s)", file, p)
		}
		if errors.Is(firstErr, fs.ErrNotExist) {
			if !filepath.IsAbs(file) && dir != "" {
				return "", fmt.Errorf("%s not found in %s", file, dir)
			}
			return "", fmt.Errorf("%s not found", file)
		}
		return "", fmt.Errorf("%s: %s", file, checkErrLine(firstErr))
	}

	pathList, _ := checkEnvLookup(env, "PATH")
	for _, d := range filepath.SplitList(pathList) {
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		for _, cand := range checkExecCandidates(filepath.Join(d, file), env) {
			if checkIsExecutable(cand) == nil {
				return cand, nil
			}
		}
	}
	if pathList == "" {
		return "", fmt.Errorf("%s not found: PATH is empty in the service environment", file)
	}
	return "", fmt.Errorf("%s not found on PATH (PATH=%s)", file, human.Cut(pathList, 300))
}

// checkEnvLookup returns the last value of key in env, as exec does.
func checkEnvLookup(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		k, v, ok := strings.Cut(env[i], "=")
		if ok && checkEnvKeyEqual(k, key) {
			return v, true
		}
	}
	return "", false
}

// --- port ------------------------------------------------------------------

func portCheckName(hostPort string) string {
	if _, port, err := net.SplitHostPort(hostPort); err == nil {
		return "port " + port
	}
	return "port"
}

const hintPortInUse = "ensure the port is not in use: stop the process that holds it (a leftover of the service is ended by a stop through the bot) or move the service to another port (services[].url)"

// checkPortFree is start's precondition: nothing may listen on the port.
func checkPortFree(ctx context.Context, e Env) Check {
	c := Check{Name: portCheckName(e.HostPort)}
	if e.HostPort == "" {
		return c.fail("no host:port configured", "set services[].url, e.g. http://127.0.0.1:3000")
	}
	free, err := PortFree(e.HostPort)
	if err != nil {
		return c.fail(checkErrLine(err), "the service could not listen there either: check the host and port in services[].url")
	}
	if free {
		return c.ok(e.HostPort + " is free")
	}
	return c.fail(portOwnerDetail(ctx, e), hintPortInUse)
}

// checkPortOwner is doctor's: who listens, if anyone. The port being in use
// is what a running service looks like, so that is ok; whether the holder is
// the service is for the process and health checks to say.
func checkPortOwner(ctx context.Context, e Env) Check {
	c := Check{Name: portCheckName(e.HostPort)}
	if e.HostPort == "" {
		return c.fail("no host:port configured", "set services[].url, e.g. http://127.0.0.1:3000")
	}
	free, err := PortFree(e.HostPort)
	if err != nil {
		return c.warn(checkErrLine(err), "check the host and port in services[].url")
	}
	if free {
		return c.warn("nothing listens on "+e.HostPort, "the service is not running: /sanasend start, and read its log if it does not stay up")
	}
	return c.ok(portOwnerDetail(ctx, e))
}

// portOwnerDetail says who holds e.HostPort: "in use by pid 4242 (node
// src/server.js)", or "in use (owner unknown)" when the process cannot be
// seen (another user's, without privileges) or the search fails.
func portOwnerDetail(ctx context.Context, e Env) string {
	ctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	pid, cmdline, ok, err := PortOwner(ctx, e.HostPort)
	switch {
	case err != nil:
		return "in use (owner unknown: " + checkErrLine(err) + ")"
	case !ok:
		return "in use (owner unknown)"
	case cmdline == "":
		return fmt.Sprintf("in use by pid %d", pid)
	}
	return fmt.Sprintf("in use by pid %d (%s)", pid, cmdline)
}

// --- log -------------------------------------------------------------------

const hintLogDir = "make it writable by the user the bot runs as, or fix services[].log_file"

// checkLogDirWritable: the log's directory exists and is writable, or is
// absent and its nearest existing parent is a writable directory (the
// service creates it). An existing log file must be writable too. Nothing is
// created.
func checkLogDirWritable(e Env) Check {
	c := Check{Name: "log dir writable"}
	if e.LogPath == "" {
		return c.warn("no log file configured", "set services[].log_file")
	}
	dir := filepath.Dir(e.LogPath)
	existing, err := checkNearestExisting(dir)
	if err != nil {
		return c.fail(checkErrLine(err), hintLogDir)
	}
	fi, err := os.Stat(existing)
	if err != nil {
		return c.fail(checkErrLine(err), hintLogDir)
	}
	if !fi.IsDir() {
		return c.fail(fmt.Sprintf("%s is not a directory (log file %s)", existing, e.LogPath), hintLogDir)
	}
	if err := checkDirWritable(existing); err != nil {
		if existing != dir {
			return c.fail(fmt.Sprintf("%s does not exist and %s is not writable: %s", dir, existing, checkErrLine(err)), hintLogDir)
		}
		return c.fail(fmt.Sprintf("%s is not writable: %s", dir, checkErrLine(err)), hintLogDir)
	}
	if existing != dir {
		return c.ok(fmt.Sprintf("%s does not exist yet; %s is writable", dir, existing))
	}
	if fi, err := os.Stat(e.LogPath); err == nil {
		if fi.IsDir() {
			return c.fail(e.LogPath+" is a directory", "fix services[].log_file")
		}
		if err := checkFileWritable(e.LogPath); err != nil {
			return c.fail(fmt.Sprintf("%s is not writable: %s", e.LogPath, checkErrLine(err)), hintLogDir)
		}
	}
	return c.ok(dir)
}

// checkNearestExisting returns p or its nearest ancestor that exists (as any kind
// of file).
func checkNearestExisting(p string) (string, error) {
	for {
		_, err := os.Stat(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return "", err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", err
		}
		p = parent
	}
}

// checkLogFile: readable, its size and when it was last written. A missing
// log is a warning: it appears when the service first starts.
func checkLogFile(e Env) Check {
	c := Check{Name: "log file"}
	if e.LogPath == "" {
		return c.warn("no log file configured", "set services[].log_file")
	}
	fi, err := os.Stat(e.LogPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c.warn("no log yet ("+e.LogPath+" does not exist)",
			"it appears when the service first starts; if the service has run, check services[].log_file")
	case err != nil:
		return c.fail(checkErrLine(err), "make it readable by the user the bot runs as")
	case fi.IsDir():
		return c.fail(e.LogPath+" is a directory", "fix services[].log_file")
	case !fi.Mode().IsRegular():
		// Opening a FIFO would block; the bot reads the log as a file.
		return c.warn(fmt.Sprintf("%s is not a regular file (%s)", e.LogPath, fi.Mode().Type()),
			"point services[].log_file at the file the service writes")
	}
	f, err := os.Open(e.LogPath)
	if err != nil {
		return c.fail(checkErrLine(err), "make it readable by the user the bot runs as")
	}
	f.Close()
	mod, now := fi.ModTime(), e.now()
	detail := fmt.Sprintf("%s, %s, last written %s (%s)", e.LogPath, human.Bytes(uint64(fi.Size())),
		human.Ago(mod, now), human.Clock(mod, now, nil))
	if fi.Size() > checkLogHuge {
		return c.warn(detail, "the service never rotates its log: rotate it (logrotate with copytruncate) before the disk fills")
	}
	return c.ok(detail)
}

// --- node and npm ----------------------------------------------------------

var checkVersionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)\S*$`)

// checkParseVersion finds the first line of out that is a version ("v20.20.2",
// "11.19.1") and returns it with its major number.
func checkParseVersion(out string) (version string, major int, ok bool) {
	for line := range strings.SplitSeq(out, "\n") {
		line = strings.TrimSpace(line)
		m := checkVersionRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		major, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		return line, major, true
	}
	return "", 0, false
}

const hintNode = "install Node.js 20 or newer and put it on the PATH the service gets (services[].env); check with node --version"

func checkNode(ctx context.Context, e Env) Check {
	c := Check{Name: "node"}
	path, out, err := runVersion(ctx, e, "node")
	if err != nil {
		return c.fail(err.Error(), hintNode)
	}
	v, major, ok := checkParseVersion(out)
	if !ok {
		return c.warn(fmt.Sprintf("%s --version printed %q", path, human.Cut(human.FirstLine(out), 80)), hintNode)
	}
	detail := fmt.Sprintf("%s (%s)", v, path)
	if major < NodeMinMajor {
		return c.warn(fmt.Sprintf("%s: whatsapp-web.js needs >= %d", detail, NodeMinMajor), hintNode)
	}
	return c.ok(detail)
}

const hintNPM = "install npm (it comes with Node.js) and put it on the PATH the service gets (services[].env); check with npm --version"

func checkNPM(ctx context.Context, e Env) Check {
	c := Check{Name: "npm"}
	// npm may look for updates on the network; the notifier is off.
	path, out, err := runVersion(ctx, e, "npm", "NPM_CONFIG_UPDATE_NOTIFIER=false")
	if err != nil {
		return c.fail(err.Error(), hintNPM)
	}
	v, _, ok := checkParseVersion(out)
	if !ok {
		return c.warn(fmt.Sprintf("%s --version printed %q", path, human.Cut(human.FirstLine(out), 80)), hintNPM)
	}
	return c.ok(fmt.Sprintf("%s (%s)", v, path))
}

// runVersion runs `<name> --version`, name resolved on e.Env's PATH, with
// e.Env plus extraEnv, no stdin, in e.Dir when it is a directory, killed
// after e.Timeout. It returns the resolved path and up to 4 KiB of stdout.
// The error is one line: "node not found on PATH (...)", "node --version: no
// answer after 5s", "node --version: exit status 1: <stderr>".
func runVersion(ctx context.Context, e Env, name string, extraEnv ...string) (string, string, error) {
	path, err := LookPathIn(name, e.Dir, e.Env)
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Env = append(append(make([]string, 0, len(e.Env)+len(extraEnv)), e.Env...), extraEnv...)
	if fi, err := os.Stat(e.Dir); err == nil && fi.IsDir() {
		cmd.Dir = e.Dir
	}
	var stdout, stderr checkOutput
	stdout.max, stderr.max = checkOutputMax, checkOutputMax
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = checkWaitDelay
	err = cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return path, "", fmt.Errorf("%s --version: no answer after %s", name, e.timeout())
		}
		return path, "", fmt.Errorf("%s --version: %w", name, ctxErr)
	}
	if err != nil {
		msg := fmt.Sprintf("%s --version: %s", name, checkErrLine(err))
		if l := human.FirstLine(stderr.String()); l != "" {
			msg += ": " + human.Cut(l, 200)
		}
		return path, "", errors.New(msg)
	}
	return path, stdout.String(), nil
}

// checkOutput keeps the first max bytes written to it and drops the rest,
// so a chatty command can neither block on its pipe nor fill memory.
// exec.Cmd writes to it from one goroutine and it is read after Wait.
type checkOutput struct {
	buf     bytes.Buffer
	max     int
	dropped int
}

func (w *checkOutput) Write(p []byte) (int, error) {
	room := w.max - w.buf.Len()
	if room < 0 {
		room = 0
	}
	if len(p) <= room {
		w.buf.Write(p)
	} else {
		w.buf.Write(p[:room])
		w.dropped += len(p) - room
	}
	return len(p), nil
}

func (w *checkOutput) String() string { return w.buf.String() }

// --- disk ------------------------------------------------------------------

func checkDiskSpace(ctx context.Context, e Env) Check {
	c := Check{Name: "disk space"}
	p := e.Dir
	if p == "" {
		p = filepath.Dir(e.LogPath)
	}
	if p == "" || p == "." {
		return c.warn("no service dir configured", hintServiceDir)
	}
	p, err := checkNearestExisting(p)
	if err != nil {
		return c.fail(checkErrLine(err), hintServiceDir)
	}
	u, err := disk.UsageWithContext(ctx, p)
	if err != nil {
		return c.warn(fmt.Sprintf("cannot read the filesystem of %s: %s", p, checkErrLine(err)), "")
	}
	v, detail := diskVerdict(u.Free, u.Used, u.InodesTotal, u.InodesFree)
	c.Verdict, c.Detail = v, detail+" at "+p
	if v != VerdictOK {
		c.Hint = "free space there: the service's log is never rotated (logs/combined.log), npm and Chromium caches grow; a full disk stops logging and session saves"
	}
	return c
}

// diskVerdict judges a filesystem: warn below 10% free, fail below 2% or
// 500 MiB; the same percentages for inodes (many small Chromium profile
// files). free is what an unprivileged user can still use; used+free is the
// capacity as df shows it.
func diskVerdict(free, used, inodesTotal, inodesFree uint64) (Verdict, string) {
	capacity := used + free
	pct := 100.0
	if capacity > 0 {
		pct = float64(free) / float64(capacity) * 100
	}
	detail := fmt.Sprintf("%s free of %s (%.0f%% free, %.0f%% used)", human.Bytes(free), human.Bytes(capacity), pct, 100-pct)
	v := VerdictOK
	switch {
	case pct < diskFailPercent || free < diskFailBytes:
		v = VerdictFail
	case pct < diskWarnPercent:
		v = VerdictWarn
	}
	if inodesTotal > 0 && inodesFree <= inodesTotal {
		ipct := float64(inodesFree) / float64(inodesTotal) * 100
		iv := VerdictOK
		switch {
		case ipct < diskFailPercent:
			iv = VerdictFail
		case ipct < diskWarnPercent:
			iv = VerdictWarn
		}
		if iv != VerdictOK {
			detail += fmt.Sprintf(", inodes %.0f%% free", ipct)
			if iv == VerdictFail || v == VerdictOK {
				v = iv
			}
		}
	}
	return v, detail
}

// --- small helpers -----------------------------------------------------------

func (c Check) ok(detail string) Check {
	c.Verdict, c.Detail, c.Hint = VerdictOK, detail, ""
	return c
}

func (c Check) warn(detail, hint string) Check {
	c.Verdict, c.Detail, c.Hint = VerdictWarn, detail, hint
	return c
}

func (c Check) fail(detail, hint string) Check {
	c.Verdict, c.Detail, c.Hint = VerdictFail, detail, hint
	return c
}

// checkErrLine makes err one line.
func checkErrLine(err error) string {
	return human.FirstLine(err.Error())
}

// checkArgv shows argv as an operator would type it.
func checkArgv(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\"'\\") {
			a = strconv.Quote(a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}
