package doctor

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	psnet "github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"

	"github.com/sanasend/sanasend-bot/internal/human"
)

// portProbeTimeout bounds PortFree's connect probe; it only ever dials a
// local address.
const portProbeTimeout = time.Second

// PortFree reports whether a service could listen on hostPort now: it binds
// the address and closes it at once. Host "" and "0.0.0.0" mean every
// interface. An address in use gives (false, nil); any other failure to bind
// (permission for a port below 1024, an address not on this host) gives
// (false, err), since the service could not listen there either.
//
// Before binding it tries to connect: on macOS and the BSDs a bind to
// 127.0.0.1 may succeed while another socket listens on the wildcard
// address, and a connect that is answered settles it.
func PortFree(hostPort string) (bool, error) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false, fmt.Errorf("port check: %w", err)
	}
	dialHost := host
	if a, err := netip.ParseAddr(host); host == "" || (err == nil && a.IsUnspecified()) {
		dialHost = "127.0.0.1"
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(dialHost, port), portProbeTimeout); err == nil {
		c.Close()
		return false, nil
	}
	l, err := net.Listen("tcp", hostPort)
	if err != nil {
		if checkAddrInUse(err) {
			return false, nil
		}
		return false, fmt.Errorf("cannot listen on %s: %w", hostPort, err)
	}
	if err := l.Close(); err != nil {
		return false, fmt.Errorf("port check: close %s: %w", hostPort, err)
	}
	return true, nil
}

// PortOwner finds the process listening on TCP hostPort: a listener on the
// same address, or on the wildcard (0.0.0.0, ::) when hostPort names one
// address, or on any address when hostPort's host is "" / "0.0.0.0" / "::".
// ok is false when nothing listens or the listener's process cannot be seen
// (another user's process, without privileges): the caller says "owner
// unknown". cmdline is the process's command line, capped at 200 runes.
//
// Cost on Linux: gopsutil reads /proc/net/tcp{,6} and readlinks every file
// descriptor of every process it may see; the call returns when ctx is done
// even if that walk has not (it then finishes in the background).
func PortOwner(ctx context.Context, hostPort string) (pid int32, cmdline string, ok bool, err error) {
	host, portStr, err := net.SplitHostPort(hostPort)
	if err != nil {
		return 0, "", false, fmt.Errorf("port owner: %w", err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return 0, "", false, fmt.Errorf("port owner: bad port %q", portStr)
	}
	want, err := portOwnerHostAddrs(ctx, host)
	if err != nil {
		return 0, "", false, fmt.Errorf("port owner: %w", err)
	}

	type answer struct {
		conns []psnet.ConnectionStat
		err   error
	}
	ch := make(chan answer, 1)
	go func() {
		// WithoutUids: the uids are not needed, and fetching them costs a
		// read of /proc/<pid>/status per connection.
		conns, err := psnet.ConnectionsWithoutUidsWithContext(ctx, "tcp")
		ch <- answer{conns, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-ctx.Done():
		return 0, "", false, fmt.Errorf("port owner: %w", ctx.Err())
	}
	if a.err != nil {
		return 0, "", false, fmt.Errorf("port owner: list connections: %w", a.err)
	}

	listeners := portListeners(a.conns, uint32(port), want)
	if len(listeners) == 0 || listeners[0].Pid <= 0 {
		return 0, "", false, nil
	}
	pid = listeners[0].Pid
	return pid, portOwnerCmdline(ctx, pid), true, nil
}

// portListeners keeps the LISTEN sockets on port whose address matches want
// (nil: any), best first: an exact address before a wildcard, a known pid
// before an unknown one.
func portListeners(conns []psnet.ConnectionStat, port uint32, want []netip.Addr) []psnet.ConnectionStat {
	type scored struct {
		c     psnet.ConnectionStat
		score int
	}
	var out []scored
	for _, c := range conns {
		if c.Status != "LISTEN" || c.Laddr.Port != port {
			continue
		}
		la, err := netip.ParseAddr(c.Laddr.IP)
		if err != nil {
			continue
		}
		la = la.Unmap()
		score := 0
		switch {
		case want == nil:
		case la.IsUnspecified():
		case slices.Contains(want, la):
			score += 2
		default:
			continue
		}
		if c.Pid > 0 {
			score++
		}
		out = append(out, scored{c, score})
	}
	slices.SortStableFunc(out, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	res := make([]psnet.ConnectionStat, len(out))
	for i, s := range out {
		res[i] = s.c
	}
	return res
}

// portOwnerHostAddrs turns hostPort's host into the addresses a listener may
// have; nil means any (the wildcard host).
func portOwnerHostAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	if host == "" {
		return nil, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.IsUnspecified() {
			return nil, nil
		}
		return []netip.Addr{a}, nil
	}
	if host == "localhost" {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, nil
}

// portOwnerCmdline is pid's command line, or its name when the command line
// cannot be read; "" when neither can.
func portOwnerCmdline(ctx context.Context, pid int32) string {
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		return ""
	}
	s, err := p.CmdlineWithContext(ctx)
	if err != nil || s == "" {
		s, _ = p.NameWithContext(ctx)
	}
	return human.Cut(human.FirstLine(s), 200)
}
