//go:build !windows

package bot_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/fleet/agent"
	"github.com/sanasend/sanasend-bot/fleet/hub"
	"github.com/sanasend/sanasend-bot/fleet/sign"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
	"github.com/sanasend/sanasend-bot/manager"
)

type allowAll struct{}

func (allowAll) Authorize(context.Context, manager.Actor, string) error { return nil }

// hubFleet is a hub (hub-1, one local service "mailer") and an agent per
// host, each serving one test double "whatsapp", on an in-process NATS
// server; the test's end stops them all. window bounds the hub's
// discoveries (the first ends once every host answered).
type hubFleet struct {
	dir    *hub.Directory
	router *bot.Router
	clock  *clockwork.FakeClock
	svcs   map[string]*fakeservice.Service
	agents map[string]*agent.Server
}

func startHubFleet(tb testing.TB, hosts []string, seen time.Time, window time.Duration) *hubFleet {
	tb.Helper()
	e, err := fleet.NewEmbedded(fleet.EmbeddedConfig{StoreDir: filepath.Join(tb.TempDir(), "nats"), Name: "bot-test-hub",
		Logger: zerolog.Nop()})
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Shutdown)
	connect := func() *nats.Conn {
		nc, err := nats.Connect("", nats.InProcessServer(e.Server()))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(nc.Close)
		return nc
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		tb.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := sign.NewSigner(seed, nil)
	if err != nil {
		tb.Fatal(err)
	}
	f := &hubFleet{svcs: map[string]*fakeservice.Service{}, agents: map[string]*agent.Server{}}
	for _, host := range hosts {
		v, err := sign.NewVerifier(sign.VerifierConfig{Trusted: []string{signer.PublicKey()}, Host: host})
		if err != nil {
			tb.Fatal(err)
		}
		f.svcs[host] = fakeservice.New("whatsapp")
		srv, err := agent.NewServer(agent.Config{Conn: connect(), Host: host, Version: "v1.4.0", Services: []agent.Service{f.svcs[host]},
			Verifier: v, Audit: zerolog.Nop(), Logger: zerolog.Nop()})
		if err != nil {
			tb.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			tb.Fatal(err)
		}
		// An agent the test stopped already: a second Stop's error
		// says nothing.
		tb.Cleanup(func() { _ = srv.Stop() })
		f.agents[host] = srv
	}
	f.clock = clockwork.NewFakeClockAt(seen.Add(3 * time.Minute))
	f.dir, err = hub.New(hub.Config{Conn: connect(), Signer: signer, Host: "hub-1", Local: []bot.Service{fakeservice.New("mailer")},
		Version: "v1.4.0", Timeout: 5 * time.Second, DiscoverWindow: window, Expect: len(hosts),
		LastSeen: func(string) time.Time { return seen }, Logger: zerolog.Nop(), Clock: f.clock})
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.dir.Refresh(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if n := len(f.dir.Names()); n != len(hosts)+1 {
		tb.Fatalf("the hub found %d services; want %d", n, len(hosts)+1)
	}
	store, err := bot.NewConfirmStore(bot.ConfirmConfig{TTL: time.Minute, Clock: f.clock})
	if err != nil {
		tb.Fatal(err)
	}
	f.router, err = bot.NewRouter(bot.RouterConfig{Services: f.dir, Auth: allowAll{}, Confirms: store, Audit: zerolog.Nop(), Now: f.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// TestRouterOverTheHub: the command layer over the fleet's real hub
// (fleet/hub's Directory on an in-process NATS server, two agents serving
// test doubles of their services): addresses, `status` of every service
// with web-2's agent gone (offline at once, one line), a restart on one
// host only, and `hosts`.

func TestRouterOverTheHub(t *testing.T) {
	seen := time.Date(2026, 12, 5, 14, 2, 0, 0, time.UTC)
	f := startHubFleet(t, []string{"web-1", "web-2"}, seen, time.Second)
	r, svcs, agents, clock, dir := f.router, f.svcs, f.agents, f.clock, f.dir
	ctx := context.Background()
	alice := manager.Actor{ID: "U0ALICE", Name: "alice"}
	req := func(text string) bot.Request {
		return bot.Request{User: alice, Channel: "C1", Source: "test", Text: text}
	}

	if got := r.Handle(ctx, req("restart whatsapp")); got.Kind != bot.KindUsage || !strings.Contains(got.Text, "web-1/whatsapp, web-2/whatsapp") {
		t.Errorf("restart whatsapp = %s %q; want the choices", got.Kind, got.Text)
	}
	c := r.Handle(ctx, req("restart web-2/whatsapp"))
	if c.Kind != bot.KindConfirm {
		t.Fatalf("restart web-2/whatsapp = %s %q", c.Kind, c.Text)
	}
	if done := r.Confirm(ctx, req(""), c.Confirm.Token); done.Kind != bot.KindOutcome || !done.Outcome.OK() {
		t.Fatalf("confirmed restart = %s %q %v", done.Kind, done.Text, done.Outcome)
	}
	if !slices.Contains(svcs["web-2"].Calls(), "restart by U0ALICE") || slices.ContainsFunc(svcs["web-1"].Calls(), func(c string) bool { return strings.HasPrefix(c, "restart") }) {
		t.Errorf("calls web-1 %q, web-2 %q; want a restart on web-2 only", svcs["web-1"].Calls(), svcs["web-2"].Calls())
	}

	if err := agents["web-2"].Stop(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	got := r.Handle(ctx, req("status"))
	took := time.Since(began)
	if got.Kind != bot.KindStatusAll {
		t.Fatalf("status = %s %q", got.Kind, got.Text)
	}
	var lines []string
	for _, l := range got.Lines {
		lines = append(lines, bot.StatusLineText(l, clock.Now()))
	}
	want := []string{"hub-1/mailer — 🟢 healthy", "web-1/whatsapp — 🟢 healthy",
		"web-2/whatsapp — web-2 is offline since 14:02:00 (last heard 3m ago)"}
	if len(lines) != len(want) {
		t.Fatalf("status lines %q; want %q", lines, want)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q; want %q", i, lines[i], want[i])
		}
	}
	t.Logf("status of every service with one host offline in %s", took)
	if got := r.Handle(ctx, req("logs web-2/whatsapp 50")); got.Kind != bot.KindError || got.Text != "web-2 is offline since 14:02:00 (last heard 3m ago)" {
		t.Errorf("logs of the offline host = %s %q", got.Kind, got.Text)
	}

	// The hub learns that web-2 is gone at its next discovery (its last
	// answer was at 14:05:00, the fake clock).
	if err := dir.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	hosts := r.Handle(ctx, req("hosts"))
	var names []string
	for _, h := range hosts.Hosts {
		names = append(names, bot.HostLine(h, clock.Now()))
	}
	if hosts.Kind != bot.KindHosts || len(names) != 3 || !strings.HasPrefix(names[0], "hub-1 (this hub) — 🟢 online, v1.4.0") ||
		!strings.HasPrefix(names[1], "web-1 — 🟢 online, v1.4.0") || !strings.HasPrefix(names[2], "web-2 — 🔴 offline since 14:05:00") {
		t.Errorf("hosts = %s %q", hosts.Kind, names)
	}
}

// BenchmarkRouterStatus50: `status` with no name through the router over
// the hub and 50 agents (one process, a NATS connection each): p50 and
// p99 of a reply (goal: p99 under 200 ms).
func BenchmarkRouterStatus50(b *testing.B) {
	hosts := make([]string, 50)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("web-%d", i+1)
	}
	f := startHubFleet(b, hosts, time.Date(2026, 12, 5, 14, 2, 0, 0, time.UTC), 10*time.Second)
	req := bot.Request{User: manager.Actor{ID: "U0ALICE"}, Channel: "C1", Source: "bench", Text: "status"}
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		began := time.Now()
		got := f.router.Handle(context.Background(), req)
		took = append(took, time.Since(began))
		if got.Kind != bot.KindStatusAll || len(got.Lines) != 51 {
			b.Fatalf("status = %s with %d lines", got.Kind, len(got.Lines))
		}
		for _, l := range got.Lines {
			if l.Status == nil {
				b.Fatalf("%s", bot.StatusLineText(l, f.clock.Now()))
			}
		}
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[min(len(took)-1, len(took)*99/100)].Microseconds())/1000, "p99-ms")
}
