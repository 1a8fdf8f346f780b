package doctor

import (
	"context"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	psnet "github.com/shirou/gopsutil/v4/net"
)

// checkListenLocal listens on 127.0.0.1:0 for the test's life and returns the port.
func checkListenLocal(t testing.TB) (net.Listener, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return l, port
}

// checkFreePort returns a port that was free a moment ago.
func checkFreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}

func TestPortFree(t *testing.T) {
	_, busy := checkListenLocal(t)
	free := checkFreePort(t)
	tests := []struct {
		hostPort string
		want     bool
	}{
		{"127.0.0.1:" + busy, false},
		{"localhost:" + busy, false},
		{":" + busy, false}, // every interface includes 127.0.0.1
		{"0.0.0.0:" + busy, false},
		{"127.0.0.1:" + free, true},
		{":" + free, true},
	}
	for _, tt := range tests {
		got, err := PortFree(tt.hostPort)
		if err != nil || got != tt.want {
			t.Errorf("PortFree(%q) = %v, %v; want %v, nil", tt.hostPort, got, err, tt.want)
		}
	}
}

func TestPortFreeOtherErrors(t *testing.T) {
	for _, hp := range []string{"nonsense", "192.0.2.1:" + checkFreePort(t)} { // TEST-NET-1 is not on this host
		got, err := PortFree(hp)
		if err == nil || got {
			t.Errorf("PortFree(%q) = %v, %v; want false and an error", hp, got, err)
		}
	}
}

func TestPortOwnerFindsThisProcess(t *testing.T) {
	_, port := checkListenLocal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, host := range []string{"127.0.0.1", "localhost", "", "0.0.0.0"} {
		hp := net.JoinHostPort(host, port)
		pid, cmdline, ok, err := PortOwner(ctx, hp)
		if err != nil || !ok {
			t.Fatalf("PortOwner(%q) = %d, %q, %v, %v; want this process", hp, pid, cmdline, ok, err)
		}
		if int(pid) != os.Getpid() {
			t.Errorf("PortOwner(%q) pid = %d; want %d", hp, pid, os.Getpid())
		}
		if !strings.Contains(cmdline, ".test") {
			t.Errorf("PortOwner(%q) cmdline = %q; want the test binary", hp, cmdline)
		}
	}
}

func TestPortOwnerNobody(t *testing.T) {
	hp := "127.0.0.1:" + checkFreePort(t)
	pid, cmdline, ok, err := PortOwner(context.Background(), hp)
	if err != nil || ok {
		t.Errorf("PortOwner(%q) = %d, %q, %v, %v; want not found", hp, pid, cmdline, ok, err)
	}
}

func TestPortOwnerCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, _, err := PortOwner(ctx, "127.0.0.1:1"); err == nil {
		t.Errorf("PortOwner(canceled ctx) err = nil; want context.Canceled")
	}
}

func TestPortListeners(t *testing.T) {
	conn := func(ip string, port uint32, status string, pid int32) psnet.ConnectionStat {
		return psnet.ConnectionStat{Laddr: psnet.Addr{IP: ip, Port: port}, Status: status, Pid: pid}
	}
	conns := []psnet.ConnectionStat{
		conn("127.0.0.1", 3000, "ESTABLISHED", 1),
		conn("127.0.0.1", 3001, "LISTEN", 2),
		conn("0.0.0.0", 3000, "LISTEN", 0),
		conn("::", 3000, "LISTEN", 3),
		conn("10.0.0.5", 3000, "LISTEN", 4),
		conn("::ffff:127.0.0.1", 3000, "LISTEN", 5),
	}
	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	tests := []struct {
		name string
		want []netip.Addr
		pids []int32
	}{
		{"loopback: exact first, then wildcards with a pid first", lo, []int32{5, 3, 0}},
		{"any address", nil, []int32{3, 4, 5, 0}},
		{"other address", []netip.Addr{netip.MustParseAddr("10.0.0.5")}, []int32{4, 3, 0}},
	}
	for _, tt := range tests {
		var got []int32
		for _, c := range portListeners(conns, 3000, tt.want) {
			got = append(got, c.Pid)
		}
		if !slices.Equal(got, tt.pids) {
			t.Errorf("%s: portListeners pids = %v; want %v", tt.name, got, tt.pids)
		}
	}
}

// BenchmarkPortOwner measures one lookup on this host as it is: its cost grows
// with the number of processes and of their file descriptors.
func BenchmarkPortOwner(b *testing.B) {
	_, port := checkListenLocal(b)
	hp := "127.0.0.1:" + port
	ctx := context.Background()
	for b.Loop() {
		if _, _, ok, err := PortOwner(ctx, hp); err != nil || !ok {
			b.Fatalf("PortOwner(%q): ok=%v err=%v", hp, ok, err)
		}
	}
}

// BenchmarkConnectionsWithUids is gopsutil's ConnectionsWithContext, for
// comparison: it also reads /proc/<pid>/status for every connection.
func BenchmarkConnectionsWithUids(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		if _, err := psnet.ConnectionsWithContext(ctx, "tcp"); err != nil {
			b.Fatal(err)
		}
	}
}
