package hub

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/fleet/agent"
	"github.com/sanasend/sanasend-bot/fleet/sign"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
)

// benchAgentsEnv, set to "url key n", makes the test binary run n
// simulated agents (web-1 ... web-n, one service each, one NATS connection
// each) against the NATS server at url, trusting hub key key, until its
// stdin closes.
const benchAgentsEnv = "SANASEND_BENCH_AGENTS"

// runBenchAgents is the agents' process of BenchmarkFleetStatus.
func runBenchAgents() int {
	f := strings.Fields(os.Getenv(benchAgentsEnv))
	if len(f) != 3 {
		fmt.Fprintln(os.Stderr, "bench agents: want url, key, n")
		return 2
	}
	n, _ := strconv.Atoi(f[2])
	var servers []*agent.Server
	for i := 1; i <= n; i++ {
		host := fmt.Sprintf("web-%d", i)
		nc, err := nats.Connect(f[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer nc.Close()
		v, err := sign.NewVerifier(sign.VerifierConfig{Trusted: []string{f[1]}, Host: host})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		s, err := agent.NewServer(agent.Config{Conn: nc, Host: host, Version: "bench", Services: []agent.Service{fakeservice.New("whatsapp")},
			Verifier: v, Audit: zerolog.Nop(), Logger: zerolog.Nop()})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := s.Start(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		servers = append(servers, s)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, s := range servers {
		_ = s.Stop()
	}
	return 0
}

// BenchmarkFleetStatus50: `status` of every host of a fleet of 50 agents
// (another process, one NATS connection each, as 50 hosts would be) from
// one hub: each op asks every service's status at once, as the status
// of all hosts does, and ends when the last answered. Reported: p50-ms and
// p99-ms of an op (goal: p99 under 200 ms) and the hub process's RSS
// (hub-RSS-MiB) after the run.
func BenchmarkFleetStatus50(b *testing.B) {
	const n = 50
	e, err := fleet.NewEmbedded(fleet.EmbeddedConfig{StoreDir: filepath.Join(b.TempDir(), "nats"), Listen: "127.0.0.1:0", Name: "bench-hub",
		Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer e.Shutdown()
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	signer, err := sign.NewSigner(seed, nil)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", benchAgentsEnv, e.ClientURL(), signer.PublicKey(), n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		b.Fatalf("agents: %q, %v", line, err)
	}
	nc, err := nats.Connect("", nats.InProcessServer(e.Server()))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	d, err := New(Config{Conn: nc, Signer: signer, Host: "hub", Local: nil, DiscoverWindow: 10 * time.Second, Expect: n, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	names := d.Names()
	if len(names) != n {
		b.Fatalf("%d services found; want %d", len(names), n)
	}
	statusAll := func() {
		var wg sync.WaitGroup
		for _, name := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := d.Lookup(name)
				if err == nil {
					_, err = s.Status(context.Background())
				}
				if err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	statusAll() // warm: connections, subscriptions
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		statusAll()
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(rssKiB())/1024, "hub-RSS-MiB")
}

// rssKiB is this process's resident memory (Linux; 0 elsewhere).
func rssKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}
