package presence

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/fleet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func connect(t *testing.T) func() *nats.Conn {
	t.Helper()
	e, err := fleet.NewEmbedded(fleet.EmbeddedConfig{StoreDir: filepath.Join(t.TempDir(), "nats"), Name: "presence-test", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return func() *nats.Conn {
		nc, err := nats.Connect("", nats.InProcessServer(e.Server()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
}

type notices struct {
	mu  sync.Mutex
	got []alerts.Notice
}

func (n *notices) notify(x alerts.Notice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, x)
	return nil
}

func (n *notices) list() []alerts.Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]alerts.Notice(nil), n.got...)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSilenceOpensOneAlertAndABeatResolvesIt: a known agent silent past
// the timeout is alerted once, however many checks follow; its next beat
// resolves the alert in its thread. A hub that does not lead alerts
// nothing.
func TestSilenceOpensOneAlertAndABeatResolvesIt(t *testing.T) {
	conn := connect(t)
	start := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)
	hubClock := clockwork.NewFakeClockAt(start)
	agentClock := clockwork.NewFakeClockAt(start)
	var got notices
	reg, err := NewRegistry(RegistryConfig{Conn: conn(), Timeout: 60 * time.Second, Clock: hubClock, Notify: got.notify, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	reg.SetLeading(true)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = reg.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitFor(t, "the registry's ticker", func() bool { return hubClock.BlockUntilContext(ctx, 1) == nil })

	beat := func() {
		t.Helper()
		hb, err := NewHeartbeat(HeartbeatConfig{Conn: conn(), Host: "web-2", Version: "v1.4.0", Started: start,
			Services: func() []string { return []string{"whatsapp"} }, Every: 15 * time.Second, Clock: agentClock})
		if err != nil {
			t.Fatal(err)
		}
		bctx, bcancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { hb.Run(bctx); close(done) }()
		seen := reg.LastSeen("web-2")
		waitFor(t, "a beat", func() bool {
			return reg.LastSeen("web-2").After(seen) || (seen.IsZero() && !reg.LastSeen("web-2").IsZero())
		})
		bcancel()
		<-done
	}
	beat()
	hosts := reg.Hosts()
	if len(hosts) != 1 || hosts[0].Name != "web-2" || hosts[0].Version != "v1.4.0" || !hosts[0].Online || len(hosts[0].Services) != 1 {
		t.Fatalf("hosts after a beat: %+v", hosts)
	}
	lastSeen := reg.LastSeen("web-2")

	// 60 s of silence is not yet over the timeout; 75 s is.
	hubClock.Advance(60 * time.Second)
	waitFor(t, "a check", func() bool { return hubClock.BlockUntilContext(ctx, 1) == nil })
	if n := len(got.list()); n != 0 {
		t.Fatalf("%d notices at exactly the timeout", n)
	}
	hubClock.Advance(15 * time.Second)
	waitFor(t, "the alert", func() bool { return len(got.list()) == 1 })
	open := got.list()[0]
	if open.Kind != alerts.DecisionOpen || open.Host == nil || open.Host.Host != "web-2" || !open.Host.LastSeen.Equal(lastSeen) || open.Service != "" {
		t.Fatalf("open notice = %+v", open)
	}
	if h := reg.Hosts()[0]; h.Online {
		t.Errorf("web-2 online after the silence")
	}

	hubClock.Advance(time.Minute)
	beat()
	waitFor(t, "the resolution", func() bool { return len(got.list()) == 2 })
	back := got.list()[1]
	if back.Kind != alerts.DecisionResolve || back.Ref != open.ID || back.Host == nil || back.Host.Back.IsZero() {
		t.Fatalf("back notice = %+v; want a resolve of %s", back, open.ID)
	}

	// Not leading: a silence is noted, never alerted.
	reg.SetLeading(false)
	hubClock.Advance(90 * time.Second)
	waitFor(t, "the second silence noted", func() bool { return !reg.Hosts()[0].Online })
	if n := len(got.list()); n != 2 {
		t.Errorf("%d notices; a hub that does not lead alerted", n)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := NewRegistry(RegistryConfig{Timeout: time.Second}); err == nil {
		t.Error("registry without a connection")
	}
	if _, err := NewHeartbeat(HeartbeatConfig{Host: "Web 2", Every: time.Second}); err == nil {
		t.Error("heartbeat with a bad host and no connection")
	}
}
