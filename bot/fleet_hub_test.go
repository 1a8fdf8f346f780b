//go:build !windows

package bot_test

import (
	"context"
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

// TestRouterOverTheHub: the command layer over the fleet's real hub
// (fleet/hub's Directory on an in-process NATS server, two agents serving
// test doubles of their services): addresses, `status` of every service
// with web-2's agent gone (offline at once, one line), a restart on one
// host only, and `hosts`.
func TestRouterOverTheHub(t *testing.T) {
	e, err := fleet.NewEmbedded(fleet.EmbeddedConfig{StoreDir: filepath.Join(t.TempDir(), "nats"), Name: "bot-test-hub",
		Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	connect := func() *nats.Conn {
		nc, err := nats.Connect("", nats.InProcessServer(e.Server()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sign.NewSigner(seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	svcs := map[string]*fakeservice.Service{}
	agents := map[string]*agent.Server{}
	for _, host := range []string{"web-1", "web-2"} {
		v, err := sign.NewVerifier(sign.VerifierConfig{Trusted: []string{signer.PublicKey()}, Host: host})
		if err != nil {
			t.Fatal(err)
		}
		svcs[host] = fakeservice.New("whatsapp")
		srv, err := agent.NewServer(agent.Config{Conn: connect(), Host: host, Version: "v1.4.0", Services: []agent.Service{svcs[host]},
			Verifier: v, Audit: zerolog.Nop(), Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		// web-2's is stopped by the test already: a second Stop's
		// error says nothing.
		t.Cleanup(func() { _ = srv.Stop() })
		agents[host] = srv
	}
	seen := time.Date(2026, 12, 5, 14, 2, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(seen.Add(3 * time.Minute))
	dir, err := hub.New(hub.Config{Conn: connect(), Signer: signer, Host: "hub-1", Local: []bot.Service{fakeservice.New("mailer")},
		Version: "v1.4.0", Timeout: 5 * time.Second, DiscoverWindow: time.Second, Expect: 2,
		LastSeen: func(string) time.Time { return seen }, Logger: zerolog.Nop(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	store, err := bot.NewConfirmStore(bot.ConfirmConfig{TTL: time.Minute, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	r, err := bot.NewRouter(bot.RouterConfig{Services: dir, Auth: allowAll{}, Confirms: store, Audit: zerolog.Nop(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	alice := manager.Actor{ID: "U0ALICE", Name: "alice"}
	req := func(text string) bot.Request { return bot.Request{User: alice, Channel: "C1", Source: "test", Text: text} }

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
