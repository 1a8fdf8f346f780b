package presence

import (
	"context"
	"errors"
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
// resolves the alert in its thread. Two registries (two hubs) that heard
// the same beats raise the same notices under the same IDs, which the facts
// stream keeps once, even when they heard a beat at different times.
func TestSilenceOpensOneAlertAndABeatResolvesIt(t *testing.T) {
	conn := connect(t)
	start := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)
	hubClock := clockwork.NewFakeClockAt(start)
	otherClock := clockwork.NewFakeClockAt(start.Add(700 * time.Millisecond)) // the other hub's clock is off
	agentClock := clockwork.NewFakeClockAt(start)
	var got, other notices
	reg, err := NewRegistry(RegistryConfig{Conn: conn(), Timeout: 60 * time.Second, Clock: hubClock, Notify: got.notify, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	reg2, err := NewRegistry(RegistryConfig{Conn: conn(), Timeout: 60 * time.Second, Clock: otherClock, Notify: other.notify, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range []*Registry{reg, reg2} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitFor(t, "the registries' tickers", func() bool {
		return hubClock.BlockUntilContext(ctx, 1) == nil && otherClock.BlockUntilContext(ctx, 1) == nil
	})
	advance := func(d time.Duration) {
		t.Helper()
		hubClock.Advance(d)
		otherClock.Advance(d)
		waitFor(t, "the checks", func() bool {
			return hubClock.BlockUntilContext(ctx, 1) == nil && otherClock.BlockUntilContext(ctx, 1) == nil
		})
	}
	heard := func(r *Registry, seen time.Time) bool {
		return r.LastSeen("web-2").After(seen) || (seen.IsZero() && !r.LastSeen("web-2").IsZero())
	}

	beat := func() {
		t.Helper()
		hb, err := NewHeartbeat(HeartbeatConfig{Conn: conn(), Host: "web-2", Version: "v1.4.0", Started: start,
			Services: func() []string { return []string{"whatsapp"} }, Every: 15 * time.Second, Clock: agentClock})
		if err != nil {
			t.Fatal(err)
		}
		bctx, bcancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		seen, seen2 := reg.LastSeen("web-2"), reg2.LastSeen("web-2")
		go func() { hb.Run(bctx); close(done) }()
		waitFor(t, "a beat", func() bool { return heard(reg, seen) && heard(reg2, seen2) })
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
	advance(60 * time.Second)
	if n := len(got.list()) + len(other.list()); n != 0 {
		t.Fatalf("%d notices at exactly the timeout", n)
	}
	advance(15 * time.Second)
	waitFor(t, "the alert", func() bool { return len(got.list()) == 1 && len(other.list()) == 1 })
	open := got.list()[0]
	if open.Kind != alerts.DecisionOpen || open.Host == nil || open.Host.Host != "web-2" || !open.Host.LastSeen.Equal(lastSeen) || open.Service != "" {
		t.Fatalf("open notice = %+v", open)
	}
	if h := reg.Hosts()[0]; h.Online {
		t.Errorf("web-2 online after the silence")
	}
	advance(15 * time.Second)
	advance(15 * time.Second)
	if n := len(got.list()); n != 1 {
		t.Fatalf("%d notices after more checks of one silence; want 1", n)
	}

	agentClock.Advance(2 * time.Minute)
	advance(time.Minute)
	beat()
	waitFor(t, "the resolution", func() bool { return len(got.list()) == 2 && len(other.list()) == 2 })
	back := got.list()[1]
	if back.Kind != alerts.DecisionResolve || back.Ref != open.ID || back.Host == nil || back.Host.Back.IsZero() {
		t.Fatalf("back notice = %+v; want a resolve of %s", back, open.ID)
	}
	for i, n := range other.list() {
		if n.ID != got.list()[i].ID || n.Ref != got.list()[i].Ref || n.Kind != got.list()[i].Kind {
			t.Errorf("the other hub's notice %d = %s (ref %q, %v); want the same as this hub's, %s (ref %q, %v)",
				i, n.ID, n.Ref, n.Kind, got.list()[i].ID, got.list()[i].Ref, got.list()[i].Kind)
		}
	}

	// A second silence is another alert, under another ID.
	advance(75 * time.Second)
	waitFor(t, "the second alert", func() bool { return len(got.list()) == 3 })
	if again := got.list()[2]; again.Kind != alerts.DecisionOpen || again.ID == open.ID {
		t.Errorf("second silence's notice = %+v; want an open alert with an ID of its own (first %s)", again, open.ID)
	}
}

// TestUndeliveredAlertIsRetried: a notice Notify refused is kept and
// retried at the next check, in order, once.
func TestUndeliveredAlertIsRetried(t *testing.T) {
	conn := connect(t)
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC))
	var got notices
	var mu sync.Mutex
	refuse := true
	reg, err := NewRegistry(RegistryConfig{Conn: conn(), Timeout: 60 * time.Second, Clock: clock, Logger: zerolog.Nop(),
		Notify: func(n alerts.Notice) error {
			mu.Lock()
			defer mu.Unlock()
			if refuse {
				return errors.New("NATS is away")
			}
			return got.notify(n)
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = reg.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the ticker", func() bool { return clock.BlockUntilContext(ctx, 1) == nil })
	hb, err := NewHeartbeat(HeartbeatConfig{Conn: conn(), Host: "web-3", Services: func() []string { return nil }, Every: time.Hour, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithCancel(context.Background())
	bdone := make(chan struct{})
	go func() { hb.Run(bctx); close(bdone) }()
	waitFor(t, "a beat", func() bool { return !reg.LastSeen("web-3").IsZero() })
	bcancel()
	<-bdone

	clock.Advance(75 * time.Second)
	waitFor(t, "the check", func() bool { return clock.BlockUntilContext(ctx, 1) == nil })
	waitFor(t, "the silence noted", func() bool { return !reg.Hosts()[0].Online })
	if n := len(got.list()); n != 0 {
		t.Fatalf("%d notices delivered while Notify refused", n)
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	clock.Advance(15 * time.Second)
	waitFor(t, "the retried alert", func() bool { return len(got.list()) == 1 })
	clock.Advance(15 * time.Second)
	waitFor(t, "the check", func() bool { return clock.BlockUntilContext(ctx, 1) == nil })
	if n := len(got.list()); n != 1 || got.list()[0].Kind != alerts.DecisionOpen {
		t.Errorf("notices after the retry: %+v; want one open alert", got.list())
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
