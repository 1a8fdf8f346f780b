// Package cgroup finds a writable cgroup v2 hierarchy and manages the child
// cgroups in which the bot starts its services: a process started straight
// into one (CLONE_INTO_CGROUP, exec.Cmd's SysProcAttr.UseCgroupFD) puts every
// process of its tree in it by construction, double-forked and detached ones
// included; membership is read from cgroup.procs and the whole tree ends with
// cgroup.kill.
//
// It owns only the cgroup files: it never signals a process itself, never
// moves an existing process between cgroups, and enables no controller (the
// files it uses, cgroup.procs, cgroup.events and cgroup.kill, belong to every
// cgroup). On a host where no v2 hierarchy is writable, Find says why with an
// *UnavailableError whose Sentence a person may read. It works on Linux only;
// elsewhere Find reports NotLinux.
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// Reason says why no cgroup can be used.
type Reason int

const (
	// NotLinux: cgroups exist on Linux only.
	NotLinux Reason = iota + 1
	// NoV2: no cgroup v2 hierarchy is mounted (cgroup v1 only, or none),
	// or the bot's place in it is unknown.
	NoV2
	// ReadOnly: the v2 hierarchy is mounted read-only (a container's
	// default).
	ReadOnly
	// NoPermission: the bot may not create a cgroup under the parent or
	// may not move a process into it (not root and no delegated subtree).
	NoPermission
	// InternalProcesses: cgroup v2's "no internal processes" rule: the
	// parent has processes of its own and controllers enabled for its
	// children, so a child cannot take a process.
	InternalProcesses
	// OldKernel: the kernel is older than Linux 5.14 (CLONE_INTO_CGROUP
	// came with 5.7, cgroup.kill with 5.14).
	OldKernel
)

// UnavailableError says why the bot cannot use cgroups on this host.
type UnavailableError struct {
	Reason Reason
	// Path is the cgroup directory or mount concerned, "" when none.
	Path string
	// Detail is what was found: "cgroup v1 only", a kernel release.
	Detail string
	// Err is the cause, for the log.
	Err error
}

// Sentence is why cgroups cannot be used, written for the person who runs
// the bot (doctor shows it): no raw error text.
func (e *UnavailableError) Sentence() string {
	switch e.Reason {
	case NotLinux:
		return "cgroups exist on Linux only"
	case NoV2:
		if e.Detail != "" {
			return "no cgroup v2 hierarchy is mounted (" + e.Detail + ")"
		}
		return "no cgroup v2 hierarchy is mounted"
	case ReadOnly:
		return fmt.Sprintf("the cgroup v2 hierarchy at %s is mounted read-only", e.Path)
	case NoPermission:
		return fmt.Sprintf("the bot may not create cgroups under %s: run it as root, or give its systemd unit Delegate=yes", e.Path)
	case InternalProcesses:
		return fmt.Sprintf("%s has processes of its own and controllers enabled for its children, so a child cgroup cannot take a process (cgroup v2's no-internal-process rule): give the bot an empty parent cgroup", e.Path)
	case OldKernel:
		return fmt.Sprintf("the kernel is Linux %s: starting a service into a cgroup of its own needs Linux 5.14 or later", e.Detail)
	}
	return "cgroups cannot be used"
}

// Error is the sentence and the cause: for logs.
func (e *UnavailableError) Error() string {
	if e.Err == nil {
		return "cgroup: " + e.Sentence()
	}
	return "cgroup: " + e.Sentence() + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

// ErrPopulated is returned by Create and Remove for a cgroup that still has
// processes.
var ErrPopulated = errors.New("the cgroup still has processes")

// ErrNoKill is returned by Kill when the kernel has no cgroup.kill (before
// Linux 5.14).
var ErrNoKill = errors.New("the kernel has no cgroup.kill (Linux 5.14 or later is needed)")

// Hierarchy is a cgroup v2 hierarchy and the parent cgroup under which the
// bot creates one cgroup per service.
type Hierarchy struct {
	// Mount is where the v2 hierarchy is mounted: /sys/fs/cgroup on a
	// pure v2 host, /sys/fs/cgroup/unified on a hybrid one.
	Mount string
	// Self is the bot's own cgroup as /proc/self/cgroup names it
	// ("/system.slice/sanasend-bot.service").
	Self string
	// Parent is the directory under which Create makes cgroups: the bot's
	// own cgroup for Find, the given one for At.
	Parent string
}

// ValidName reports whether name may name a service's cgroup: 1 to 200
// letters, digits, '-', '_', '.' or '@', not beginning with '.' (so neither
// "." nor "..") and not beginning with "cgroup." (the kernel's own files).
func ValidName(name string) error {
	if name == "" {
		return errors.New("cgroup name: empty")
	}
	if len(name) > 200 {
		return fmt.Errorf("cgroup name %.20q...: longer than 200 bytes", name)
	}
	if name[0] == '.' {
		return fmt.Errorf("cgroup name %q: begins with a dot", name)
	}
	if strings.HasPrefix(name, "cgroup.") {
		return fmt.Errorf("cgroup name %q: names beginning with \"cgroup.\" are the kernel's", name)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '@':
		default:
			return fmt.Errorf("cgroup name %q: %q is not a letter, digit, '-', '_', '.' or '@'", name, r)
		}
	}
	return nil
}

// Parse locates the bot's cgroup from the contents of /proc/self/mountinfo
// and /proc/self/cgroup, without touching the file system: Hierarchy.Parent
// is the bot's own cgroup directory. When no v2 hierarchy holds the bot's
// cgroup the error is an *UnavailableError with Reason NoV2.
func Parse(mountinfo, self io.Reader) (Hierarchy, error) {
	selfPath, hasV2Line, err := parseSelf(self)
	if err != nil {
		return Hierarchy{}, err
	}
	mounts, v1, err := parseMountinfo(mountinfo)
	if err != nil {
		return Hierarchy{}, err
	}
	if len(mounts) == 0 {
		detail := "no cgroup hierarchy at all"
		if v1 {
			detail = "cgroup v1 only"
		}
		return Hierarchy{}, &UnavailableError{Reason: NoV2, Detail: detail}
	}
	if !hasV2Line {
		return Hierarchy{}, &UnavailableError{Reason: NoV2, Detail: "/proc/self/cgroup has no cgroup v2 line"}
	}
	// The first mount whose root holds the bot's cgroup; a mount of the
	// whole hierarchy (root "/") holds every cgroup.
	for _, m := range mounts {
		rel, ok := within(selfPath, m.root)
		if !ok {
			continue
		}
		return Hierarchy{Mount: m.point, Self: selfPath, Parent: filepath.Join(m.point, filepath.FromSlash(rel))}, nil
	}
	return Hierarchy{}, &UnavailableError{Reason: NoV2, Path: mounts[0].point,
		Detail: "the bot's cgroup " + selfPath + " is outside every cgroup v2 mount"}
}

// within returns p relative to root when root is p or an ancestor of it.
func within(p, root string) (string, bool) {
	p, root = path.Clean(p), path.Clean(root)
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

// parseSelf reads /proc/self/cgroup: the v2 line is "0::/path".
func parseSelf(r io.Reader) (p string, ok bool, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		id, rest, found := strings.Cut(sc.Text(), ":")
		if !found || id != "0" {
			continue
		}
		ctrls, cg, found := strings.Cut(rest, ":")
		if !found || ctrls != "" {
			continue
		}
		// A cgroup removed under a process reads "/path (deleted)";
		// it cannot take children.
		if !strings.HasPrefix(cg, "/") || strings.HasSuffix(cg, " (deleted)") {
			return "", false, &UnavailableError{Reason: NoV2, Detail: "the bot's cgroup v2 path is " + strconv.Quote(cg)}
		}
		return cg, true, nil
	}
	if err := sc.Err(); err != nil {
		return "", false, fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	return "", false, nil
}

type mount struct{ root, point string }

// parseMountinfo lists the cgroup2 mounts (see proc(5): fields up to "-",
// then the file system type) and reports whether a v1 one exists.
func parseMountinfo(r io.Reader) (v2 []mount, v1 bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) {
			continue
		}
		switch fields[sep+1] {
		case "cgroup2":
			v2 = append(v2, mount{root: unescape(fields[3]), point: unescape(fields[4])})
		case "cgroup":
			v1 = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, false, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	return v2, v1, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
