package facts

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server runs an embedded NATS server with JetStream on store and returns
// a JetStream client of it; stop shuts both down (the store stays).
func server(t *testing.T, store string) (js jetstream.JetStream, stop func()) {
	t.Helper()
	e, err := fleet.NewEmbedded(fleet.EmbeddedConfig{StoreDir: store, Name: "facts-test", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("", nats.InProcessServer(e.Server()))
	if err != nil {
		t.Fatal(err)
	}
	js, err = jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := EnsureStream(ctx, js); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { nc.Close(); e.Shutdown() }) }
	t.Cleanup(stop)
	return js, stop
}

// hub records what its consumer delivered; fail, when set, refuses.
type hub struct {
	mu   sync.Mutex
	got  []alerts.Notice
	fail int // refuse this many deliveries first
	seen int // deliveries tried
}

func (h *hub) deliver(_ context.Context, n alerts.Notice) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen++
	if h.fail > 0 {
		h.fail--
		return errors.New("slack is away")
	}
	h.got = append(h.got, n)
	return nil
}

func (h *hub) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, n := range h.got {
		out = append(out, n.ID)
	}
	return out
}

// run runs f until the test ends.
func run(t *testing.T, f func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func consume(t *testing.T, js jetstream.JetStream, h *hub) {
	c, err := NewConsumer(ConsumerConfig{JS: js, Durable: "hub", Deliver: h.deliver, Retry: 200 * time.Millisecond, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	run(t, func(ctx context.Context) { _ = c.Run(ctx) })
}

func publisher(t *testing.T, js jetstream.JetStream, dir string) *Publisher {
	p, err := NewPublisher(PublisherConfig{JS: js, Host: "web-2", Dir: dir, Retry: 200 * time.Millisecond, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitIDs(t *testing.T, h *hub, want ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := h.ids()
		if reflect.DeepEqual(got, want) {
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			t.Fatalf("delivered %q; want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func notice(id string) alerts.Notice {
	return alerts.Notice{ID: id, Service: "whatsapp", Kind: alerts.DecisionOpen,
		Event: alerts.Event{What: alerts.EventExited, Service: "whatsapp", State: manager.StateStopped,
			Since: time.Date(2026, 12, 5, 14, 2, 0, 0, time.UTC)}}
}

func TestDeliveredOnceWithItsHost(t *testing.T) {
	js, _ := server(t, filepath.Join(t.TempDir(), "nats"))
	var h hub
	consume(t, js, &h)
	p := publisher(t, js, filepath.Join(t.TempDir(), "spool"))
	run(t, p.Run)
	for _, id := range []string{"a", "b", "c"} {
		if err := p.Notify(notice(id)); err != nil {
			t.Fatal(err)
		}
	}
	waitIDs(t, &h, "web-2/a", "web-2/b", "web-2/c")
	if h.got[0].From != "web-2" {
		t.Errorf("From = %q; want web-2", h.got[0].From)
	}
	if p.Pending() != 0 {
		t.Errorf("%d notices left in the spool", p.Pending())
	}
}

// TestKeptWhileTheHubIsAwayThenDeliveredOnce: with JetStream gone the
// notice stays on the agent's disk; an agent restarted meanwhile (a new
// Publisher on the spool) sends it when a server is back on the same
// store, and it is delivered once. A copy sent again (a crash between the
// publish and the spool's delete) is dropped by its message id.
func TestKeptWhileTheHubIsAwayThenDeliveredOnce(t *testing.T) {
	store, spool := filepath.Join(t.TempDir(), "nats"), filepath.Join(t.TempDir(), "spool")
	js, stop := server(t, store)
	stop()
	var log syncbuf.Buffer
	p, err := NewPublisher(PublisherConfig{JS: js, Host: "web-2", Dir: spool, Retry: 200 * time.Millisecond, Logger: zerolog.New(&log)})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := p.Notify(notice("down-1")); err != nil {
		t.Fatal(err)
	}
	t.Logf("Notify with JetStream away returned in %v", time.Since(began))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	// Two tries fail while JetStream is away.
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(log.String(), "facts not sent yet") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed tries logged: %s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if p.Pending() != 1 {
		t.Fatalf("%d notices in the spool; want the one kept", p.Pending())
	}
	files, _ := os.ReadDir(spool)
	data, _ := os.ReadFile(filepath.Join(spool, files[0].Name()))

	js2, _ := server(t, store)
	var h hub
	consume(t, js2, &h)
	p2 := publisher(t, js2, spool) // the agent restarted
	run(t, p2.Run)
	waitIDs(t, &h, "web-2/down-1")
	// The same file again, as if the delete had not happened.
	if err := os.WriteFile(filepath.Join(spool, files[0].Name()), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p2.Notify(notice("after")); err != nil {
		t.Fatal(err)
	}
	waitIDs(t, &h, "web-2/down-1", "web-2/after")
}

// TestRefusedThenDeliveredInOrder: a notice the front end refuses comes
// again, and the next waits behind it.
func TestRefusedThenDeliveredInOrder(t *testing.T) {
	js, _ := server(t, filepath.Join(t.TempDir(), "nats"))
	h := hub{fail: 2}
	consume(t, js, &h)
	p := publisher(t, js, filepath.Join(t.TempDir(), "spool"))
	run(t, p.Run)
	_ = p.Notify(notice("first"))
	_ = p.Notify(notice("second"))
	waitIDs(t, &h, "web-2/first", "web-2/second")
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen != 4 {
		t.Errorf("%d deliveries tried; want 4 (2 refused, then each once)", h.seen)
	}
}

// TestNoticeSurvivesJSON: what the hub renders is what the agent's monitor
// said.
func TestNoticeSurvivesJSON(t *testing.T) {
	at := time.Date(2026, 12, 5, 14, 2, 0, 0, time.UTC)
	tests := []alerts.Notice{
		notice("open"),
		{ID: "x-resolve", Ref: "x", Service: "whatsapp", Kind: alerts.DecisionResolve,
			Event:    alerts.Event{What: alerts.EventHealed, Service: "whatsapp", Lasted: 3 * time.Minute, By: &manager.Actor{ID: "U1", Name: "alice"}},
			Incident: &alerts.Incident{ID: 3, Service: "whatsapp", Since: at, Reason: "connection refused", Acked: &alerts.Ack{By: manager.Actor{ID: "U1", Name: "alice"}, At: at}}},
		{ID: "r", Service: "whatsapp", Kind: alerts.KindRestoration, Restoration: &alerts.RestorationSummary{PID: 42,
			Result: alerts.FollowResult{Completed: true, Restoration: whatsapp.Restoration{StartedAt: at, Found: 2, Complete: true, Restored: 1, Failed: 1, Total: -1,
				Sessions: []whatsapp.SessionOutcome{{ID: "s1", Result: whatsapp.SessionRestored, At: at}, {ID: "s2", Result: whatsapp.SessionFailed, Cause: "undefined", At: at}}}}}},
		{ID: "d", Kind: alerts.KindDigest, Digest: &alerts.Digest{From: at.Add(-24 * time.Hour), To: at,
			Services: []alerts.ServiceDigest{{Service: "whatsapp", UptimePercent: 99.5, Known: 24 * time.Hour, Incidents: 1, Downtime: time.Minute}}}},
		{ID: "h", Kind: alerts.DecisionOpen, Host: &alerts.HostPresence{Host: "web-2", LastSeen: at, Timeout: time.Minute}, From: "hub"},
		{ID: "e", Service: "whatsapp", Kind: alerts.DecisionOpen, Event: alerts.Event{What: alerts.EventExited, Exit: &alerts.Exit{Known: true, Code: -1, Signal: "SIGKILL"}}},
	}
	for _, n := range tests {
		data, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		var back alerts.Notice
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, n) {
			t.Errorf("notice %s after JSON:\n%+v\nwant\n%+v", n.ID, back, n)
		}
	}
}
