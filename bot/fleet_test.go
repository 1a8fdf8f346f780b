package bot

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

var fleetNames = []string{"web-1/whatsapp", "web-1/billing", "web-2/whatsapp"}

func TestParseAddresses(t *testing.T) {
	tests := []struct {
		in    string
		names []string
		want  Command
	}{
		{"restart web-2/whatsapp", fleetNames, Command{Verb: VerbRestart, Service: "web-2/whatsapp"}},
		{"logs web-2/whatsapp 50", fleetNames, Command{Verb: VerbLogs, Service: "web-2/whatsapp", Lines: 50}},
		{"logs web-1/whatsapp all 5 Failed", fleetNames, Command{Verb: VerbLogs, Service: "web-1/whatsapp", Lines: 5, All: true, Filter: "Failed"}},
		{"status", fleetNames, Command{Verb: VerbStatus}},
		{"status billing", fleetNames, Command{Verb: VerbStatus, Service: "web-1/billing"}},
		{"stop billing", fleetNames, Command{Verb: VerbStop, Service: "web-1/billing"}},
		{"logs billing 20 x", fleetNames, Command{Verb: VerbLogs, Service: "web-1/billing", Lines: 20, Filter: "x"}},
		{"sessions cleanup web-2/whatsapp", fleetNames, Command{Verb: VerbSessions, Service: "web-2/whatsapp", Cleanup: true}},
		{"sessions billing cleanup", fleetNames, Command{Verb: VerbSessions, Service: "web-1/billing", Cleanup: true}},
		{"uptime billing 7d", fleetNames, Command{Verb: VerbUptime, Service: "web-1/billing", Period: 7 * 24 * time.Hour}},
		{"incidents web-2/whatsapp 3", fleetNames, Command{Verb: VerbIncident, Service: "web-2/whatsapp", Count: 3}},
		{"maintenance web-2/whatsapp 30m deploy", fleetNames, Command{Verb: VerbMaint, Service: "web-2/whatsapp", Window: 30 * time.Minute, Reason: "deploy"}},
		{"hosts", fleetNames, Command{Verb: VerbHosts}},
		{"HOSTS", []string{"whatsapp"}, Command{Verb: VerbHosts}},
		// One host: as before.
		{"restart whatsapp", []string{"whatsapp", "billing"}, Command{Verb: VerbRestart, Service: "whatsapp"}},
		{"logs 20 web-2/whatsapp", []string{"whatsapp"}, Command{Verb: VerbLogs, Lines: 20, Filter: "web-2/whatsapp"}},
		// A name that is a host's service and another's bare name: the
		// exact name wins.
		{"status whatsapp", []string{"whatsapp", "web-2/whatsapp"}, Command{Verb: VerbStatus, Service: "whatsapp"}},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in, tc.names)
		if err != nil {
			t.Errorf("Parse(%q, %v) error %v", tc.in, tc.names, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Parse(%q, %v) = %+v; want %+v", tc.in, tc.names, got, tc.want)
		}
		if again, err := Parse(got.String(), tc.names); err != nil || again != got {
			t.Errorf("Parse(%q).String() = %q parses to %+v, %v", tc.in, got.String(), again, err)
		}
	}
}

func TestParseAddressesRejects(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"restart whatsapp", `"whatsapp" runs on several hosts: say which one (web-1/whatsapp, web-2/whatsapp); usage: restart [service]`},
		{"logs whatsapp 5", `"whatsapp" runs on several hosts: say which one (web-1/whatsapp, web-2/whatsapp)`},
		{"status web-3/whatsapp", `unknown service "web-3/whatsapp" (services: web-1/whatsapp, web-1/billing, web-2/whatsapp)`},
		{"stop web-2/billing", `unknown service "web-2/billing"`},
		{"uptime web-2/billing", `unknown service "web-2/billing"`},
		{"status web-2/whatsapp/x", `unexpected "web-2/whatsapp/x"`},
		{"hosts web-1", "hosts takes nothing more"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.in, fleetNames)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %v; want a UsageError containing %q", tc.in, err, tc.want)
		}
	}
}

// fleetService is a service of a fleet's host: a fake service whose host
// may be offline (every call fails with *fleet.OfflineError, as the
// hub's remote service does when no agent responds), whose Status may
// wait at a barrier, or block until its deadline.
type fleetService struct {
	*fakeservice.Service
	offline *fleet.OfflineError
	barrier *barrier
	block   bool
}

func (s *fleetService) Status(ctx context.Context) (manager.Status, error) {
	switch {
	case s.offline != nil:
		return manager.Status{}, s.offline
	case s.block:
		<-ctx.Done()
		return manager.Status{}, fmt.Errorf("status of %s: %w", s.Name(), ctx.Err())
	case s.barrier != nil:
		if err := s.barrier.wait(ctx); err != nil {
			return manager.Status{}, err
		}
	}
	// An agent knows its service by its plain name.
	st, err := s.Service.Status(ctx)
	_, st.Service = SplitAddress(st.Service)
	return st, err
}

func (s *fleetService) Restart(ctx context.Context, by manager.Actor, progress func(string)) (manager.RestartResult, error) {
	if s.offline != nil {
		return manager.RestartResult{}, fmt.Errorf("restart %s: %w", s.Name(), s.offline)
	}
	return s.Service.Restart(ctx, by, progress)
}

func (s *fleetService) Logs(ctx context.Context, q manager.LogQuery) (manager.LogResult, error) {
	if s.offline != nil {
		return manager.LogResult{}, fmt.Errorf("logs of %s: %w", s.Name(), s.offline)
	}
	return s.Service.Logs(ctx, q)
}

func (s *fleetService) Sessions(ctx context.Context) (whatsapp.SessionsReport, error) {
	if s.offline != nil {
		return whatsapp.SessionsReport{}, s.offline
	}
	return s.Service.Sessions(ctx)
}

// barrier lets its callers through once n of them wait at once: calls
// made one after another never get through.
type barrier struct {
	mu   sync.Mutex
	n    int
	in   int
	open chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, open: make(chan struct{})} }

func (b *barrier) wait(ctx context.Context) error {
	b.mu.Lock()
	b.in++
	if b.in == b.n {
		close(b.open)
	}
	b.mu.Unlock()
	select {
	case <-b.open:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("barrier: %d of %d arrived: %w", b.in, b.n, ctx.Err())
	}
}

// fleetDirectory is the hub's Directory as the router sees it: names
// "host/service", hosts listed.
type fleetDirectory struct {
	svcs  []*fleetService
	hosts []HostInfo
	// gone are services whose Lookup fails: their host is offline.
	gone map[string]*fleet.OfflineError
}

func (d *fleetDirectory) Names() []string {
	out := slices.Sorted(maps.Keys(d.gone))
	for _, s := range d.svcs {
		out = append(out, s.Name())
	}
	return out
}

func (d *fleetDirectory) Lookup(name string) (Service, error) {
	if off, ok := d.gone[name]; ok {
		return nil, fmt.Errorf("lookup %s: %w", name, off)
	}
	for _, s := range d.svcs {
		if s.Name() == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no service %q", name)
}

func (d *fleetDirectory) Hosts(context.Context) []HostInfo { return d.hosts }

func newFleetRouter(t *testing.T, dir Directory, statusTimeout time.Duration) (*Router, *syncbuf.Buffer) {
	t.Helper()
	clock := newFakeClock()
	store, err := NewConfirmStore(ConfirmConfig{TTL: 2 * time.Minute, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncbuf.Buffer{}
	r, err := NewRouter(RouterConfig{Services: dir, Auth: allowList{alice.ID: true}, Confirms: store,
		Audit: zerolog.New(buf), Now: clock.Now, StatusTimeout: statusTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return r, buf
}

// twoHosts: web-1 runs whatsapp and billing; web-2's agent is gone since
// 3 minutes before the router's clock.
func twoHosts(now time.Time) *fleetDirectory {
	off := &fleet.OfflineError{Host: "web-2", Since: now.Add(-3 * time.Minute)}
	return &fleetDirectory{
		svcs: []*fleetService{
			{Service: fakeservice.New("web-1/whatsapp")},
			{Service: fakeservice.New("web-2/whatsapp"), offline: off},
			{Service: fakeservice.New("web-1/billing")},
		},
		hosts: []HostInfo{
			{Name: "web-1", Version: "v1.4.0", Started: now.Add(-time.Hour), LastSeen: now, Online: true, Local: true, Services: []string{"billing", "whatsapp"}},
			{Name: "web-2", Version: "v1.3.9", LastSeen: off.Since, Services: []string{"whatsapp"}},
		},
	}
}

func TestFleetRouter(t *testing.T) {
	ctx := context.Background()
	now := newFakeClock().Now()
	offline := "web-2 is offline since " + now.Add(-3*time.Minute).Format(time.TimeOnly)

	t.Run("status of every service, one host offline", func(t *testing.T) {
		dir := twoHosts(now)
		r, _ := newFleetRouter(t, dir, 0)
		got := r.Handle(ctx, req(alice, "status"))
		if got.Kind != KindStatusAll {
			t.Fatalf("status = %s %q; want the status of every service", got.Kind, got.Text)
		}
		var names, texts []string
		for _, l := range got.Lines {
			names = append(names, l.Name)
			texts = append(texts, StatusLineText(l, now))
		}
		if want := []string{"web-1/whatsapp", "web-1/billing", "web-2/whatsapp"}; !slices.Equal(names, want) {
			t.Errorf("lines %v; want %v (grouped by host)", names, want)
		}
		if !strings.HasPrefix(texts[2], "web-2/whatsapp — "+offline+" (last heard 3m ago)") {
			t.Errorf("offline line %q; want it to say %q", texts[2], offline)
		}
		if !strings.HasPrefix(texts[0], "web-1/whatsapp — 🟢 healthy") || !strings.HasPrefix(texts[1], "web-1/billing — 🟢 healthy") {
			t.Errorf("online lines %q", texts[:2])
		}
	})

	t.Run("restart on one host restarts that service only", func(t *testing.T) {
		dir := twoHosts(now)
		r, _ := newFleetRouter(t, dir, 0)
		got := r.Handle(ctx, req(alice, "restart web-1/billing"))
		if got.Kind != KindConfirm || got.Confirm.Service != "web-1/billing" {
			t.Fatalf("restart = %s %+v; want a confirmation for web-1/billing", got.Kind, got.Confirm)
		}
		done := r.Confirm(ctx, req(alice, ""), got.Confirm.Token)
		if done.Kind != KindOutcome || !done.Outcome.OK() {
			t.Fatalf("confirm = %s %q", done.Kind, done.Text)
		}
		for _, s := range dir.svcs {
			calls := s.Calls()
			if s.Name() == "web-1/billing" != (len(calls) == 1 && calls[0] == "restart by U0ALICE") {
				t.Errorf("%s calls %q", s.Name(), calls)
			}
		}
	})

	t.Run("a command to the offline host says so", func(t *testing.T) {
		dir := twoHosts(now)
		r, audit := newFleetRouter(t, dir, 0)
		for _, text := range []string{"logs web-2/whatsapp 50", "status web-2/whatsapp", "sessions web-2/whatsapp"} {
			got := r.Handle(ctx, req(alice, text))
			if got.Kind != KindError || !strings.HasPrefix(got.Text, offline+" (last heard ") {
				t.Errorf("%s = %s %q; want %q", text, got.Kind, got.Text, offline)
			}
		}
		c := r.Handle(ctx, req(alice, "restart web-2/whatsapp"))
		if c.Kind != KindConfirm {
			t.Fatalf("restart = %s %q", c.Kind, c.Text)
		}
		got := r.Confirm(ctx, req(alice, ""), c.Confirm.Token)
		if got.Kind != KindOutcome || !strings.HasPrefix(usererr.Message(got.Outcome.Err), offline) {
			t.Errorf("confirmed restart = %s %v; want %q", got.Kind, got.Outcome.Err, offline)
		}
		if !strings.Contains(audit.String(), `"service":"web-2/whatsapp"`) {
			t.Error("the audit does not name web-2/whatsapp")
		}
	})

	t.Run("a host offline at lookup", func(t *testing.T) {
		dir := twoHosts(now)
		dir.gone = map[string]*fleet.OfflineError{"web-3/whatsapp": {Host: "web-3", Since: now.Add(-3 * time.Minute)}}
		r, _ := newFleetRouter(t, dir, 0)
		want := "web-3 is offline since " + now.Add(-3*time.Minute).Format(time.TimeOnly) + " (last heard 3m ago)"
		if got := r.Handle(ctx, req(alice, "logs web-3/whatsapp")); got.Text != want {
			t.Errorf("logs = %s %q; want %q", got.Kind, got.Text, want)
		}
		got := r.Handle(ctx, req(alice, "status"))
		if i := slices.IndexFunc(got.Lines, func(l ServiceLine) bool { return l.Name == "web-3/whatsapp" }); i < 0 || got.Lines[i].Offline == nil {
			t.Errorf("status lines %+v; want web-3/whatsapp offline", got.Lines)
		}
	})

	t.Run("an ambiguous bare name names the choices", func(t *testing.T) {
		dir := twoHosts(now)
		r, _ := newFleetRouter(t, dir, 0)
		got := r.Handle(ctx, req(alice, "restart whatsapp"))
		if got.Kind != KindUsage || !strings.Contains(got.Text, "say which one (web-1/whatsapp, web-2/whatsapp)") {
			t.Errorf("restart whatsapp = %s %q", got.Kind, got.Text)
		}
		if got := r.Handle(ctx, req(alice, "status billing")); got.Kind != KindStatus || got.Service != "web-1/billing" || got.Status.Service != "web-1/billing" {
			t.Errorf("status billing = %s for %q; want web-1/billing's status, its card named so", got.Kind, got.Service)
		}
	})

	t.Run("hosts", func(t *testing.T) {
		dir := twoHosts(now)
		r, _ := newFleetRouter(t, dir, 0)
		got := r.Handle(ctx, req(alice, "hosts"))
		if got.Kind != KindHosts || len(got.Hosts) != 2 || got.Hosts[0].Name != "web-1" || got.Hosts[1].Online {
			t.Fatalf("hosts = %s %+v; want web-1 then web-2 (offline), as the Directory lists them", got.Kind, got.Hosts)
		}
		if l := HostLine(got.Hosts[0], now); !strings.HasPrefix(l, "web-1 (this hub) — 🟢 online, v1.4.0, up 1h; services: billing, whatsapp") {
			t.Errorf("web-1's line %q", l)
		}
		if l := HostLine(got.Hosts[1], now); !strings.HasPrefix(l, "web-2 — 🔴 offline since "+now.Add(-3*time.Minute).Format(time.TimeOnly)) {
			t.Errorf("web-2's line %q", l)
		}
		help := r.Handle(ctx, req(alice, "help"))
		if !slices.ContainsFunc(help.Help, func(h HelpLine) bool { return h.Usage == "hosts" }) {
			t.Error("help in a fleet does not list hosts")
		}
	})
}

func TestHostsOnOneHost(t *testing.T) {
	f := newRouterFixture(t)
	got := f.r.Handle(context.Background(), req(alice, "hosts"))
	if got.Kind != KindDone || !strings.Contains(got.Text, "one host") || !strings.HasSuffix(got.Text, ": whatsapp") {
		t.Errorf("hosts = %s %q; want one host and its service", got.Kind, got.Text)
	}
	if calls := f.svc.Calls(); len(calls) != 0 {
		t.Errorf("hosts called %v", calls)
	}
}

// TestStatusAllAsksConcurrently: the status of 50 hosts is asked at once:
// each Status waits until all 50 are being asked, which calls made one
// after another never reach (each would end at its deadline).
func TestStatusAllAsksConcurrently(t *testing.T) {
	const n = 50
	b := newBarrier(n)
	dir := &fleetDirectory{}
	for i := range n {
		dir.svcs = append(dir.svcs, &fleetService{Service: fakeservice.New(fmt.Sprintf("web-%d/whatsapp", i)), barrier: b})
	}
	r, _ := newFleetRouter(t, dir, 10*time.Second)
	began := time.Now()
	got := r.Handle(context.Background(), req(alice, "status"))
	took := time.Since(began)
	if got.Kind != KindStatusAll || len(got.Lines) != n {
		t.Fatalf("status = %s with %d lines; want %d", got.Kind, len(got.Lines), n)
	}
	for _, l := range got.Lines {
		if l.Status == nil {
			t.Errorf("%s", StatusLineText(l, time.Now()))
		}
	}
	t.Logf("status of %d hosts in %s", n, took)
}

// TestStatusAllTimeout: a host that does not answer is its own line once
// its call's deadline passes; the others answer.
func TestStatusAllTimeout(t *testing.T) {
	dir := &fleetDirectory{svcs: []*fleetService{
		{Service: fakeservice.New("web-1/whatsapp")},
		{Service: fakeservice.New("web-2/whatsapp"), block: true},
	}}
	r, _ := newFleetRouter(t, dir, 100*time.Millisecond)
	got := r.Handle(context.Background(), req(alice, "status"))
	if got.Kind != KindStatusAll || len(got.Lines) != 2 {
		t.Fatalf("status = %s with %d lines", got.Kind, len(got.Lines))
	}
	if got.Lines[0].Status == nil || got.Lines[1].Err == nil || !errors.Is(got.Lines[1].Err, context.DeadlineExceeded) {
		t.Errorf("lines %+v; want web-1 healthy and web-2's deadline", got.Lines)
	}
	if l := StatusLineText(got.Lines[1], time.Now()); !strings.HasPrefix(l, "web-2/whatsapp — ✗ no answer within 0.1s") {
		t.Errorf("line %q", l)
	}
}

// TestOfflineErrorOneWording: however an OfflineError is wrapped (by the
// hub's remote service, in a safe usererr of its own), people read the
// bot's sentence.
func TestOfflineErrorOneWording(t *testing.T) {
	now := time.Date(2026, 12, 5, 14, 5, 0, 0, time.UTC)
	off := &fleet.OfflineError{Host: "web-2", Since: time.Date(2026, 12, 5, 14, 2, 0, 0, time.UTC)}
	want := "web-2 is offline since 14:02:00 (last heard 3m ago)"
	tests := []struct {
		name string
		err  error
	}{
		{"bare", off},
		{"wrapped", fmt.Errorf("restart web-2/whatsapp: %w", off)},
		{"usererr", usererr.Wrap(off, usererr.Unavailable, "agent gone")},
	}
	for _, tc := range tests {
		if got := usererr.Message(userError(tc.err, "web-2/whatsapp", now)); got != want {
			t.Errorf("%s: %q; want %q", tc.name, got, want)
		}
	}
	if got := OfflineText(&fleet.OfflineError{Host: "web-3"}, now); got != "web-3 is offline (never heard from)" {
		t.Errorf("never seen: %q", got)
	}
}

func TestAddressedNotice(t *testing.T) {
	inc := &alerts.Incident{Service: "whatsapp", ID: 1, Open: true}
	n := alerts.Notice{ID: "whatsapp-incident-1", Service: "whatsapp", Kind: alerts.DecisionOpen, Incident: inc,
		Event:  alerts.Event{Service: "whatsapp"},
		Digest: &alerts.Digest{Services: []alerts.ServiceDigest{{Service: "whatsapp"}, {Service: "billing"}}}}
	if got := AddressedNotice(n); got.Service != "whatsapp" || got.Incident != inc || NoticeService(n) != "whatsapp" {
		t.Errorf("a notice of this host changed: %+v", got)
	}
	n.From = "web-2"
	got := AddressedNotice(n)
	if NoticeService(n) != "web-2/whatsapp" || got.Service != "web-2/whatsapp" || got.Event.Service != "web-2/whatsapp" ||
		got.Incident.Service != "web-2/whatsapp" || got.Digest.Services[1].Service != "web-2/billing" {
		t.Errorf("addressed = %+v", got)
	}
	if inc.Service != "whatsapp" || n.Digest.Services[0].Service != "whatsapp" {
		t.Error("AddressedNotice changed the notice it was given")
	}
	if again := AddressedNotice(got); again.Service != "web-2/whatsapp" {
		t.Errorf("addressed twice: %q", again.Service)
	}
	if NoticeService(alerts.Notice{From: "web-2"}) != "" {
		t.Error("a notice about no service has a service name")
	}
}
