//go:build !windows

package hub

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/fleet/agent"
	"github.com/sanasend/sanasend-bot/fleet/sign"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
	"github.com/sanasend/sanasend-bot/internal/fleettest"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

// recording is a real service whose restart's progress steps are noted on
// the agent's side, to compare with what the hub receives.
type recording struct {
	*manager.Service
	mu    sync.Mutex
	steps []string
}

func (r *recording) Restart(ctx context.Context, by manager.Actor, progress func(string)) (manager.RestartResult, error) {
	return r.Service.Restart(ctx, by, func(s string) {
		r.mu.Lock()
		r.steps = append(r.steps, s)
		r.mu.Unlock()
		progress(s)
	})
}

func (r *recording) Steps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.steps)
}

type fleetFixture struct {
	dir    *Directory
	svcs   map[string]*recording
	agents map[string]*agent.Server
	audit  map[string]*syncbuf.Buffer
	seen   time.Time // what LastSeen says of every host

	connect func() *nats.Conn
	signer  *sign.Signer
}

// startFleet runs an in-process NATS server, two agents (web-1, web-2) on
// real stand-ins, and a hub (hub-1, with one local service) that trusts
// nobody but itself.
func startFleet(t *testing.T) *fleetFixture {
	t.Helper()
	_, connect := fleettest.NATS(t)
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
	f := &fleetFixture{svcs: map[string]*recording{}, agents: map[string]*agent.Server{}, audit: map[string]*syncbuf.Buffer{},
		seen: time.Date(2026, 12, 5, 14, 2, 0, 0, time.UTC), connect: connect, signer: signer}
	for _, host := range []string{"web-1", "web-2"} {
		v, err := sign.NewVerifier(sign.VerifierConfig{Trusted: []string{signer.PublicKey()}, Host: host})
		if err != nil {
			t.Fatal(err)
		}
		rec := &recording{Service: fleettest.StandinService(t)}
		f.svcs[host], f.audit[host] = rec, &syncbuf.Buffer{}
		srv, err := agent.NewServer(agent.Config{Conn: connect(), Host: host, Version: "v1.4.0", Services: []agent.Service{rec},
			Verifier: v, Audit: zerolog.New(f.audit[host]), Logger: zerolog.New(zerolog.NewTestWriter(t)).With().Str("host", host).Logger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := srv.Stop(); err != nil {
				t.Error(err)
			}
		})
		f.agents[host] = srv
	}
	f.dir, err = New(Config{Conn: connect(), Signer: signer, Host: "hub-1", Local: []bot.Service{fakeservice.New("mailer")},
		Timeout: 5 * time.Second, ActionTimeout: time.Minute, DiscoverWindow: 2 * time.Second, Expect: 2,
		LastSeen: func(string) time.Time { return f.seen }, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.dir.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fleetFixture) lookup(t *testing.T, name string) bot.Service {
	t.Helper()
	svc, err := f.dir.Lookup(name)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", name, err)
	}
	return svc
}

func (f *fleetFixture) rootPID(t *testing.T, name string) int32 {
	t.Helper()
	began := time.Now()
	st, err := f.lookup(t, name).Status(context.Background())
	if err != nil {
		t.Fatalf("status %s: %v", name, err)
	}
	t.Logf("status of %s: one round trip in %s", name, time.Since(began).Round(time.Microsecond))
	if st.State != manager.StateHealthy || st.RootPID == 0 || st.Service != "whatsapp" {
		t.Fatalf("status %s = %s, root pid %d; want healthy", name, st.State, st.RootPID)
	}
	return st.RootPID
}

// A restart through the hub's Directory restarts web-2's service and not
// web-1's; its progress steps arrive in the order the agent sent them.
func TestRestartThroughTheHub(t *testing.T) {
	f := startFleet(t)
	if got, want := f.dir.Names(), []string{"hub-1/mailer", "web-1/whatsapp", "web-2/whatsapp"}; !slices.Equal(got, want) {
		t.Fatalf("Names = %v; want %v", got, want)
	}
	alice := manager.Actor{ID: "U0ALICE", Name: "alice"}
	for _, name := range []string{"web-1/whatsapp", "web-2/whatsapp"} {
		var steps []string
		res, err := f.lookup(t, name).Start(context.Background(), alice, func(s string) { steps = append(steps, s) })
		if err != nil || !res.Healthy || res.PID == 0 {
			t.Fatalf("start %s = %+v, %v; want healthy", name, res, err)
		}
		t.Logf("start %s: %v", name, steps)
	}
	pid1, pid2 := f.rootPID(t, "web-1/whatsapp"), f.rootPID(t, "web-2/whatsapp")

	var steps []string
	svc := f.lookup(t, "web-2/whatsapp")
	if svc.Name() != "web-2/whatsapp" {
		t.Errorf("Name = %q; want web-2/whatsapp", svc.Name())
	}
	res, err := svc.Restart(context.Background(), alice, func(s string) { steps = append(steps, s) })
	if err != nil || !res.Start.Healthy || !res.Stop.WasRunning || !res.Stop.Graceful {
		t.Fatalf("restart = %+v, %v; want a graceful stop and a healthy start", res, err)
	}
	if want := f.svcs["web-2"].Steps(); len(steps) == 0 || !slices.Equal(steps, want) {
		t.Errorf("progress at the hub = %q; want the agent's %q, in order", steps, want)
	}
	if len(f.svcs["web-1"].Steps()) != 0 {
		t.Errorf("web-1 restarted too: %q", f.svcs["web-1"].Steps())
	}
	if got := f.rootPID(t, "web-2/whatsapp"); got == pid2 || int32(res.Start.PID) != got {
		t.Errorf("web-2's root pid = %d (before %d, restart said %d); want a new one", got, pid2, res.Start.PID)
	}
	if got := f.rootPID(t, "web-1/whatsapp"); got != pid1 {
		t.Errorf("web-1's root pid = %d; want %d unchanged", got, pid1)
	}
	if a := f.svcs["web-2"].LastAction(); a == nil || a.Action != manager.ActionRestart || a.By != alice {
		t.Errorf("web-2's last action = %+v; want a restart by alice", a)
	}
	if a := f.svcs["web-1"].LastAction(); a == nil || a.Action != manager.ActionStart {
		t.Errorf("web-1's last action = %+v; want its start", a)
	}
	line := f.audit["web-2"].String()
	if !strings.Contains(line, `"verb":"restart"`) || !strings.Contains(line, `"outcome":"ok"`) || !strings.Contains(line, `"actor":"U0ALICE"`) {
		t.Errorf("web-2's audit = %s; want the restart by alice, ok", line)
	}

	// A second start is refused as the manager refuses it: the sentinel
	// crosses the wire.
	_, err = f.lookup(t, "web-1/whatsapp").Start(context.Background(), alice, nil)
	if !errors.Is(err, manager.ErrAlreadyRunning) || usererr.CodeOf(err) != usererr.Conflict {
		t.Errorf("second start = %v; want already running, a conflict", err)
	}
}

func TestLookup(t *testing.T) {
	f := startFleet(t)
	tests := []struct {
		name     string
		want     string // the service's Name, "" for an error
		code     usererr.Code
		contains string
	}{
		{"web-2/whatsapp", "web-2/whatsapp", "", ""},
		{"hub-1/mailer", "hub-1/mailer", "", ""},
		{"mailer", "hub-1/mailer", "", ""},
		{"whatsapp", "", usererr.Invalid, "whatsapp is on web-1 and web-2: say web-1/whatsapp or web-2/whatsapp"},
		{"", "", usererr.Invalid, "several services"},
		{"web-3/whatsapp", "", usererr.NotFound, "no service"},
		{"web-2/mailer", "", usererr.NotFound, "no service"},
		{"Web.2/whatsapp", "", usererr.Invalid, "host/service"},
		{"nope", "", usererr.NotFound, "web-1/whatsapp"},
	}
	for _, tc := range tests {
		svc, err := f.dir.Lookup(tc.name)
		if tc.want != "" {
			if err != nil || svc.Name() != tc.want {
				t.Errorf("Lookup(%q) = %v, %v; want %s", tc.name, svc, err, tc.want)
			}
			continue
		}
		if err == nil || usererr.CodeOf(err) != tc.code || !strings.Contains(usererr.Message(err), tc.contains) {
			t.Errorf("Lookup(%q) = %v; want %s containing %q", tc.name, err, tc.code, tc.contains)
		}
	}
	hosts := f.dir.Hosts(context.Background())
	if len(hosts) != 3 || hosts[0].Name != "hub-1" || !hosts[0].Local || hosts[1].Name != "web-1" || hosts[2].Name != "web-2" {
		t.Fatalf("Hosts = %+v; want hub-1, web-1, web-2", hosts)
	}
	for _, h := range hosts[1:] {
		if !h.Online || h.Version != "v1.4.0" || h.Started.IsZero() || !slices.Equal(h.Services, []string{"whatsapp"}) {
			t.Errorf("host %+v; want online, v1.4.0, started, [whatsapp]", h)
		}
	}
}

// A host whose agent is gone is offline at once, never after a timeout;
// it keeps its services in the Directory.
func TestOfflineAgent(t *testing.T) {
	f := startFleet(t)
	if err := f.agents["web-1"].Stop(); err != nil {
		t.Fatal(err)
	}
	svc := f.lookup(t, "web-1/whatsapp")
	var off *fleet.OfflineError
	began := time.Now()
	_, err := svc.Status(context.Background())
	t.Logf("offline answer in %s", time.Since(began))
	if !errors.As(err, &off) || off.Host != "web-1" || !off.Since.Equal(f.seen) {
		t.Fatalf("status of a gone agent = %v; want web-1 offline since %s", err, f.seen)
	}
	began = time.Now()
	_, err = svc.Restart(context.Background(), manager.Actor{ID: "U0ALICE"}, nil)
	t.Logf("offline answer to a restart in %s", time.Since(began))
	if !errors.As(err, &off) {
		t.Fatalf("restart on a gone agent = %v; want offline", err)
	}
	if checks := svc.Doctor(context.Background()); len(checks) != 1 || !strings.Contains(checks[0].Detail, "offline") {
		t.Errorf("doctor = %+v; want one check saying it is offline", checks)
	}

	if err := f.dir.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.dir.Names(), "web-1/whatsapp") {
		t.Errorf("Names = %v; web-1's service must stay known", f.dir.Names())
	}
	for _, h := range f.dir.Hosts(context.Background()) {
		if h.Name == "web-1" && h.Online || h.Name == "web-2" && !h.Online {
			t.Errorf("host %s online = %v", h.Name, h.Online)
		}
	}
	if _, err := f.lookup(t, "web-2/whatsapp").Processes(context.Background()); err != nil {
		t.Errorf("web-2 ps: %v", err)
	}
}

// An action runs to its end on the agent when the hub stops waiting, and
// the agent's Stop waits for it.
func TestActionOutlivesTheHubAndStopWaits(t *testing.T) {
	f := startFleet(t)
	alice := manager.Actor{ID: "U0ALICE", Name: "alice"}
	svc := f.lookup(t, "web-2/whatsapp")
	if _, err := svc.Start(context.Background(), alice, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := svc.Restart(ctx, alice, func(string) { cancel() }) // the hub goes away at the first step
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("restart with the hub gone = %v; want canceled", err)
	}
	if err := f.agents["web-2"].Stop(); err != nil {
		t.Fatal(err)
	}
	a := f.svcs["web-2"].LastAction()
	if a == nil || a.Action != manager.ActionRestart || !a.OK {
		t.Fatalf("last action once the agent stopped = %+v; want the restart, done and ok", a)
	}
}

// An agent that is connected but does not answer in time is unavailable,
// a usererr the front ends show; a long action without its result too.
func TestTimeouts(t *testing.T) {
	f := startFleet(t)
	nc := f.dir.cfg.Conn
	for _, verb := range []string{agent.VerbStatus, agent.VerbRestart} {
		sub, err := nc.Subscribe(fleet.AgentSubject("web-3", verb), func(m *nats.Msg) {
			if verb == agent.VerbRestart { // accepted, and then nothing
				_ = m.Respond([]byte(`{"accepted":true}`))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := *f.dir.c
	c.timeout, c.actionTimeout = 200*time.Millisecond, 300*time.Millisecond
	r := &Remote{c: &c, host: "web-3", service: "whatsapp"}
	_, err := r.Status(context.Background())
	if usererr.CodeOf(err) != usererr.Unavailable || !strings.Contains(usererr.Message(err), "did not answer") {
		t.Errorf("status of a silent agent = %v; want unavailable, did not answer", err)
	}
	_, err = r.Restart(context.Background(), manager.Actor{ID: "U0ALICE"}, nil)
	if usererr.CodeOf(err) != usererr.Unavailable || !strings.Contains(usererr.Message(err), "may still run") {
		t.Errorf("restart without a result = %v; want unavailable, may still run", err)
	}
}

// TestImpostorIsNotListed: a micro service that says it is the agent of
// web-9 (its metadata) but does not answer on web-9's subjects (an agent
// whose NATS key is bound to another host cannot) is not listed; the real
// agents are, with the services they answered on their own subjects.
func TestImpostorIsNotListed(t *testing.T) {
	f := startFleet(t)
	svc, err := micro.AddService(f.connect(), micro.Config{Name: fleet.AgentService, Version: "1.4.0",
		Metadata: map[string]string{agent.MetaHost: "web-9", agent.MetaServices: "whatsapp,billing"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	dir, err := New(Config{Conn: f.connect(), Signer: f.signer, Host: "hub-1", Timeout: 5 * time.Second, ActionTimeout: time.Minute,
		DiscoverWindow: 2 * time.Second, Expect: 3, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := dir.Names(), []string{"web-1/whatsapp", "web-2/whatsapp"}; !slices.Equal(got, want) {
		t.Errorf("Names = %v; want %v (web-9 does not answer on its subjects)", got, want)
	}
	if _, err := dir.Lookup("web-9/whatsapp"); err == nil {
		t.Error("web-9/whatsapp found")
	}
}
