//go:build !windows

package delivery_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/fleet/threads"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
	"github.com/sanasend/sanasend-bot/internal/fleettest"
)

// sharedRefs is a threads.Store (the fleet's SharedRefs) on its own
// connection to the test's NATS.
func sharedRefs(t *testing.T, connect func() *nats.Conn) (*threads.Store, *nats.Conn) {
	t.Helper()
	nc := connect()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := threads.EnsureBucket(context.Background(), js, delivery.Retention)
	if err != nil {
		t.Fatal(err)
	}
	s, err := threads.New(kv)
	if err != nil {
		t.Fatal(err)
	}
	return s, nc
}

// TestOutboxSharedRefs: two outboxes of one chat (two hubs) on the real
// bucket: what the first delivered, the second finds, so that a reply goes
// into the first's thread and an edit edits its message, and an item the
// first delivered already is not sent again by the second; a Ref nobody
// delivered is posted as a new message (an EditOnly edit dropped); a
// lookup that fails is logged and the item goes as for an unknown Ref.
func TestOutboxSharedRefs(t *testing.T) {
	editOnly := func(it delivery.Item) delivery.Item { it.EditOnly = true; return it }
	env := newOutboxEnv(t)
	_, connect := fleettest.NATS(t)
	refsA, _ := sharedRefs(t, connect)
	refsB, _ := sharedRefs(t, connect)

	// Hub A posts the alert, and dies.
	cfgA := env.cfg
	cfgA.Shared = refsA
	a, err := delivery.Open(cfgA, env.sender(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	stopA := outboxStart(t, a)
	outboxEnqueue(t, a, post("web-2/alert-1", "C0ALERTS", "web-2's agent stopped reporting"),
		post("web-2/summary-5", "C0ALERTS", "session restoration of web-2/whatsapp"))
	outboxFlush(t, a)
	_, alertTS, _ := a.TS("web-2/alert-1")
	_, summaryTS, _ := a.TS("web-2/summary-5")
	stopA()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// Hub B, which took over, resolves it.
	cfgB := env.cfg
	cfgB.Dir, cfgB.Shared = t.TempDir(), refsB
	b, err := delivery.Open(cfgB, env.sender(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	outboxStart(t, b)
	calls := len(env.fake.Calls(""))
	outboxEnqueue(t, b,
		reply("web-2/alert-1-back", "web-2/alert-1", "C0ALERTS", "web-2's agent is back"),
		editOnly(update("web-2/alert-1-back-edit", "web-2/alert-1", "C0ALERTS", "web-2's agent is back (edit)")),
		reply("web-3/alert-9-back", "web-3/alert-9", "C0ALERTS", "web-3's agent is back"),
		editOnly(update("web-3/alert-9-back-edit", "web-3/alert-9", "C0ALERTS", "web-3's agent is back (edit)")))
	outboxFlush(t, b)
	got := env.fake.Calls("")[calls:]
	if s := outboxSummary(got); len(got) != 3 {
		t.Fatalf("hub B's calls = %q; want the reply and the edit of A's alert, and web-3's reply", s)
	}
	for _, tt := range []struct {
		call              fakeslack.Call
		method, arg, want string
	}{
		{got[0], "chat.postMessage", "thread_ts", alertTS},
		{got[1], "chat.update", "ts", alertTS},
		{got[2], "chat.postMessage", "thread_ts", ""},
	} {
		if tt.call.Method != tt.method || tt.call.Param(tt.arg) != tt.want {
			t.Errorf("%s %q: %s = %q; want %s with %s %q", tt.call.Method, tt.call.Param("text"), tt.arg, tt.call.Param(tt.arg), tt.method, tt.arg, tt.want)
		}
	}
	if _, ts, ok := b.TS("web-2/alert-1-back"); !ok || ts == "" {
		t.Errorf("TS of B's reply unknown")
	}

	// A fact A delivered but died before acknowledging comes to B again:
	// its message is there already, and is not posted twice.
	calls = len(env.fake.Calls(""))
	outboxEnqueue(t, b, post("web-2/summary-5", "C0ALERTS", "session restoration of web-2/whatsapp"))
	outboxFlush(t, b)
	if got := env.fake.Calls("")[calls:]; len(got) != 0 {
		t.Errorf("hub B sent %q again; A had delivered it", outboxSummary(got))
	}
	if _, ts, ok := b.TS("web-2/summary-5"); !ok || ts != summaryTS {
		t.Errorf("TS(web-2/summary-5) on B = %q, %v; want A's message, %q", ts, ok, summaryTS)
	}

	// Hub C's bucket cannot be reached: its lookup fails, is logged, and
	// the reply is posted as a new message.
	refsC, ncC := sharedRefs(t, connect)
	ncC.Close()
	cfgC := env.cfg
	cfgC.Dir, cfgC.Shared = t.TempDir(), refsC
	c, err := delivery.Open(cfgC, env.sender(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	outboxStart(t, c)
	calls = len(env.fake.Calls(""))
	outboxEnqueue(t, c, reply("web-2/alert-1-again", "web-2/alert-1", "C0ALERTS", "still back"))
	outboxFlush(t, c)
	if got := env.fake.Calls("")[calls:]; len(got) != 1 || got[0].Param("thread_ts") != "" {
		t.Errorf("hub C's calls = %q; want one top-level post", outboxSummary(got))
	}
	if !strings.Contains(env.logs.String(), "cannot ask where another outbox of this chat delivered it") {
		t.Errorf("the failed lookup is not logged:\n%s", env.logs)
	}
}

// TestOutboxStopsDuringASharedLookup: Run stops while a lookup in the
// shared bucket waits (NATS gone: the request waits for a reply that does
// not come); the item stays queued, nothing reaches Slack.
func TestOutboxStopsDuringASharedLookup(t *testing.T) {
	env := newOutboxEnv(t)
	server, connect := fleettest.NATS(t)
	refs, nc := sharedRefs(t, connect)
	cfg := env.cfg
	cfg.Shared = refs
	o, err := delivery.Open(cfg, env.sender(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	stop := outboxStart(t, o)

	server.Shutdown()
	deadline := time.Now().Add(outboxWait)
	for nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("still connected to a NATS that was shut down")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sent := nc.Stats().OutMsgs
	outboxEnqueue(t, o, post("web-2/alert-7", "C0ALERTS", "web-2/whatsapp is STOPPED"))
	for nc.Stats().OutMsgs == sent { // the lookup's request is out
		if time.Now().After(deadline) {
			t.Fatal("the outbox did not ask the shared bucket")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop() // fails the test if Run does not return
	if n := o.Pending(); n != 1 {
		t.Errorf("Pending() after the stop = %d; want the item still queued", n)
	}
	if calls := env.fake.Calls(""); len(calls) != 0 {
		t.Errorf("calls to Slack = %q; want none", outboxSummary(calls))
	}
}
