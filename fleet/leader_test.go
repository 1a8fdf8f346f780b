package fleet

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// hub is one campaigning hub of a leadership test: its own connection,
// its Run in the background.
type hub struct {
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

func campaign(t *testing.T, e *Embedded, id string, ttl time.Duration, events chan<- string) *hub {
	t.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(e.Server()))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "fleet", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLeader(LeaderConfig{KV: kv, Key: "leader", ID: id, TTL: ttl, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	h := &hub{nc: nc, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		l.Run(ctx, func(lctx context.Context) {
			events <- id + " leads"
			<-lctx.Done()
			events <- id + " stops"
		})
	}()
	t.Cleanup(func() { h.stop(); nc.Close() })
	return h
}

func (h *hub) stop() {
	h.cancel()
	<-h.done
}

// expect waits for the next event, which must be want.
func expect(t *testing.T, events <-chan string, want string, within time.Duration) {
	t.Helper()
	select {
	case got := <-events:
		if got != want {
			t.Fatalf("event %q; want %q", got, want)
		}
	case <-time.After(within):
		t.Fatalf("no %q within %s", want, within)
	}
}

// TestLeaderHandsOver: one hub leads at a time; a leader that resigns
// hands over at once; one that can no longer reach NATS stops leading, and
// another leads within the TTL of its last update.
func TestLeaderHandsOver(t *testing.T) {
	const ttl = time.Second
	e := startEmbedded(t, filepath.Join(t.TempDir(), "nats"), "")
	events := make(chan string, 16)

	a := campaign(t, e, "a", ttl, events)
	expect(t, events, "a leads", 5*time.Second)
	b := campaign(t, e, "b", ttl, events)
	// b campaigns for two TTLs while a keeps the key alive: nothing.
	select {
	case ev := <-events:
		t.Fatalf("event %q while a leads", ev)
	case <-time.After(2 * ttl):
	}

	a.stop() // resigns
	expect(t, events, "a stops", time.Second)
	expect(t, events, "b leads", 2*ttl) // b looks again every ttl/6; slack for a loaded machine

	c := campaign(t, e, "c", ttl, events)
	b.nc.Close() // b cannot update any more: as good as dead to the others
	expect(t, events, "b stops", ttl)
	expect(t, events, "c leads", 2*ttl)
	c.stop()
	expect(t, events, "c stops", time.Second)
}

// anyKV stands for a bucket where nothing is asked of it.
type anyKV struct{ jetstream.KeyValue }

func TestNewLeaderValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  LeaderConfig
		ok   bool
	}{
		{"no bucket", LeaderConfig{Key: "leader", ID: "a", TTL: time.Second}, false},
		{"no key", LeaderConfig{KV: anyKV{}, ID: "a", TTL: time.Second}, false},
		{"no id", LeaderConfig{KV: anyKV{}, Key: "leader", TTL: time.Second}, false},
		{"ttl too short", LeaderConfig{KV: anyKV{}, Key: "leader", ID: "a", TTL: 100 * time.Millisecond}, false},
		{"ok", LeaderConfig{KV: anyKV{}, Key: "leader", ID: "a", TTL: 15 * time.Second}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewLeader(tc.cfg); (err == nil) != tc.ok {
				t.Errorf("NewLeader: %v; want ok %v", err, tc.ok)
			}
		})
	}
}
