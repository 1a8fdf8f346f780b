//go:build !windows

package manager

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// nodeOf returns the service's `node src/server.js` process.
func nodeOf(t *testing.T, s *Service) Process {
	t.Helper()
	procs, err := s.Processes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if strings.Contains(p.Command, "node src/server.js") && !strings.HasPrefix(p.Command, "sh ") {
			return p
		}
	}
	t.Fatalf("no node src/server.js among:%s", commands(procs))
	return Process{}
}

// nextEvent returns the next event of one of kinds, skipping the others.
func nextEvent(t *testing.T, events <-chan Event, timeout time.Duration, kinds ...EventKind) (Event, bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e := <-events:
			for _, k := range kinds {
				if e.Kind == k {
					return e, true
				}
			}
		case <-deadline:
			return Event{}, false
		}
	}
}

// An adopted service (started by another bot process: no child to wait for)
// that crashes is an event within a second, like a service this bot started,
// with the moment of the exit.
func TestAdoptedServiceCrashIsAnEventWithinASecond(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kill func(t *testing.T, root int32, node Process)
	}{
		// A crash: node dies, sh and npm follow it out.
		{"node killed", func(t *testing.T, _ int32, node Process) {
			if err := signalPID(node.PID, sigKill); err != nil {
				t.Fatal(err)
			}
		}},
		// npm, sh and node killed at once (an OOM kill of the group).
		{"group killed", func(t *testing.T, root int32, _ Process) {
			if err := signalGroup(getpgid(root), sigKill); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testServiceConfig(t, standinDir(t), twoSessions(t))
			first := newTestServiceFrom(t, cfg)
			res := startHealthy(t, first)
			node := nodeOf(t, first)

			second := newTestServiceFrom(t, cfg)
			events, unsubscribe := second.Subscribe(64)
			defer unsubscribe()
			// Subscribe alone starts watching the adopted run.
			waitFor(t, "the second manager to watch the adopted run", 5*time.Second, func() bool { return second.watchedRun() != "" })
			if st, err := second.Status(context.Background()); err != nil || !st.Adopted || st.State != StateHealthy {
				t.Fatalf("adopted status = %+v, %v; want healthy and adopted", st, err)
			}

			killed := time.Now()
			tt.kill(t, res.PID, node)
			e, ok := nextEvent(t, events, 10*time.Second, EventExited, EventRootExited)
			got := time.Since(killed)
			if !ok {
				t.Fatal("no exit event within 10s of the kill")
			}
			t.Logf("adopted crash (%s): %s %s after the kill (At %s after it)", tt.name, e.Kind, got, e.At.Sub(killed))
			if e.Kind != EventExited || e.Intended || e.PID != res.PID {
				t.Errorf("event = %s intended %v pid %d; want an unintended %s of pid %d", e.Kind, e.Intended, e.PID, EventExited, res.PID)
			}
			if got > time.Second {
				t.Errorf("EventExited arrived %s after the kill; want under 1s", got)
			}
			if e.At.Before(killed) || e.At.Sub(killed) > time.Second {
				t.Errorf("event At = %s after the kill; want the moment of the exit, within 1s", e.At.Sub(killed))
			}
			if e.Exit.Known {
				t.Errorf("exit = %+v; an adopted run's exit status cannot be known", e.Exit)
			}
			waitFor(t, "the watcher to end", 5*time.Second, func() bool { return second.watchedRun() == "" })
		})
	}
}

// The manager that started the service sees npm's own exit status: 137 is
// npm reporting that node was killed by SIGKILL.
func TestCrashOfStartedServiceSaysWhichSignalKilledTheChild(t *testing.T) {
	t.Parallel()
	s := testService(t, twoSessions(t))
	res := startHealthy(t, s)
	events, unsubscribe := s.Subscribe(64)
	defer unsubscribe()
	node := nodeOf(t, s)
	killed := time.Now()
	if err := signalPID(node.PID, sigKill); err != nil {
		t.Fatal(err)
	}
	e, ok := nextEvent(t, events, 10*time.Second, EventExited, EventRootExited)
	if !ok {
		t.Fatal("no exit event within 10s of the kill")
	}
	t.Logf("started crash: %s %s after the kill, exit %+v", e.Kind, time.Since(killed), e.Exit)
	if e.Kind != EventExited || e.Intended || e.PID != res.PID {
		t.Errorf("event = %+v; want an unintended exit of pid %d", e, res.PID)
	}
	want := Exit{Known: true, Code: 128 + int(syscall.SIGKILL), ChildSignal: "SIGKILL"}
	if e.Exit != want {
		t.Errorf("exit = %+v; want %+v", e.Exit, want)
	}
}

// kill -9 of npm alone: node and the browsers serve on. The service is its
// marked process group: it still runs, start says so, stop stops it.
func TestKillOfNpmAloneLeavesTheServiceRunning(t *testing.T) {
	t.Parallel()
	cfg := testServiceConfig(t, standinDir(t), twoSessions(t))
	s := newTestServiceFrom(t, cfg)
	res := startHealthy(t, s)
	before, err := s.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	events, unsubscribe := s.Subscribe(64)
	defer unsubscribe()
	procs, _ := s.Processes(context.Background())

	if err := signalPID(res.PID, sigKill); err != nil {
		t.Fatal(err)
	}
	e, ok := nextEvent(t, events, 10*time.Second, EventExited, EventRootExited)
	if !ok || e.Kind != EventRootExited {
		t.Fatalf("event after kill -9 of npm = %+v (got one: %v); want %s, not an outage", e, ok, EventRootExited)
	}
	if !e.Exit.Known || e.Exit.Signal != "SIGKILL" {
		t.Errorf("root exit = %+v; want npm killed by SIGKILL", e.Exit)
	}

	st, err := s.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateHealthy || !st.RootGone || st.RootPID != res.PID || !st.Since.Equal(before.Since) ||
		st.Uptime < before.Uptime || st.Adopted {
		t.Errorf("status = state %s rootGone %v rootPID %d since %s uptime %s adopted %v; want healthy, npm %d gone, since %s, not adopted",
			st.State, st.RootGone, st.RootPID, st.Since, st.Uptime, st.Adopted, res.PID, before.Since)
	}
	// Another bot process sees the same.
	other := newTestServiceFrom(t, cfg)
	if st, err := other.Status(context.Background()); err != nil || !st.RootGone || st.State != StateHealthy || !st.Adopted {
		t.Errorf("adopting status = %+v, %v; want healthy, adopted, npm gone", st, err)
	}

	_, err = s.Start(context.Background(), alice, nil)
	if !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(usererr.Message(err), "is already running") {
		t.Errorf("start with npm gone = %v; want ErrAlreadyRunning", err)
	}
	select {
	case e := <-events:
		if e.Kind == EventExited {
			t.Fatalf("EventExited while node serves: %+v", e)
		}
	default:
	}

	stop, err := s.Stop(context.Background(), alice, nil)
	if err != nil || !stop.WasRunning || countCommands(stop.Stopped, "node src/server.js") == 0 {
		t.Fatalf("stop = %+v, %v; want it stopped, node among the ended processes", stop, err)
	}
	if left := aliveOf(procs); len(left) > 0 {
		t.Errorf("alive after stop:%s", commands(left))
	}
	e, ok = nextEvent(t, events, 10*time.Second, EventExited)
	if !ok || !e.Intended {
		t.Errorf("exit after the stop = %+v (got one: %v); want an intended EventExited", e, ok)
	}
}

var alreadyRunning = regexp.MustCompile(`^whatsapp is already running \(pid \d+, up \d+(\.\d)?s\)$`)

// A start of a running service and a stop of a stopped one are refused with
// a message safe to show, and record nothing.
func TestRefusalsSayWhyAndRecordNothing(t *testing.T) {
	t.Parallel()
	s := testService(t, nil)

	_, err := s.Stop(context.Background(), alice, nil)
	if !errors.Is(err, ErrAlreadyStopped) || usererr.CodeOf(err) != usererr.Conflict {
		t.Fatalf("stop of a stopped service = %v; want ErrAlreadyStopped, a conflict", err)
	}
	if got, want := usererr.Message(err), "whatsapp is already stopped"; got != want {
		t.Errorf("message = %q; want %q", got, want)
	}
	if a := s.LastAction(); a != nil {
		t.Errorf("last action after a refused stop = %+v; want none", a)
	}

	startHealthy(t, s)
	first := s.LastAction()
	_, err = s.Start(context.Background(), alice, nil)
	if !errors.Is(err, ErrAlreadyRunning) || usererr.CodeOf(err) != usererr.Conflict {
		t.Fatalf("second start = %v; want ErrAlreadyRunning, a conflict", err)
	}
	if got := usererr.Message(err); !alreadyRunning.MatchString(got) || err.Error() != got {
		t.Errorf("message = %q, Error() = %q; want both to match %s", got, err.Error(), alreadyRunning)
	}
	if a := s.LastAction(); a == nil || *a != *first {
		t.Errorf("last action after a refused start = %+v; want still %+v", a, first)
	}
	if s.Busy() != nil {
		t.Error("a refusal kept the action slot")
	}

	// Close ends the watcher of the running service (goleak checks that
	// its goroutine is gone); the service runs on and is still seen.
	if s.watchedRun() == "" {
		t.Fatal("no watcher of the started service")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Status(context.Background()); err != nil || st.State != StateHealthy || s.watchedRun() != "" {
		t.Errorf("after Close: status %s, %v, watching %q; want healthy and no watcher", st.State, err, s.watchedRun())
	}
}

// After a start refused because another program holds the port, status
// says what is on the port and that it is not ours.
func TestStatusNamesTheForeignPortHolder(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	s := testService(t, nil, func(c *ServiceConfig) { c.URL = "http://127.0.0.1:" + port })

	var pre *PreconditionError
	if _, err := s.Start(context.Background(), alice, nil); !errors.As(err, &pre) {
		t.Fatalf("start = %v; want refused by a precondition", err)
	}
	st, err := s.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := PortHolder{PID: int32(os.Getpid()), Ours: false}
	if st.PortHolder == nil || st.PortHolder.PID != want.PID || st.PortHolder.Ours || st.PortHolder.Command == "" {
		t.Fatalf("port holder = %+v; want %+v with its command", st.PortHolder, want)
	}
	if a := st.LastAction; a == nil || a.OK || !strings.HasPrefix(a.Result, "refused: port "+port) {
		t.Errorf("last action = %+v; want a failed start whose result begins %q", a, "refused: port "+port)
	}
	if st.Restoration != nil || st.RootPID != 0 || st.RootGone {
		t.Errorf("status = restoration %+v root %d gone %v; want no restoration and no run", st.Restoration, st.RootPID, st.RootGone)
	}
}

func TestChildSignal(t *testing.T) {
	tests := []struct {
		code int
		want string
	}{
		{137, "SIGKILL"},
		{143, "SIGTERM"},
		{130, "SIGINT"},
		{0, ""},
		{1, ""},
		{128, ""},
		{255, ""},
	}
	for _, tt := range tests {
		if got := childSignal(tt.code); got != tt.want {
			t.Errorf("childSignal(%d) = %q; want %q", tt.code, got, tt.want)
		}
	}
}

// Without pidfds the watcher polls: it sees an exit and ends with ctx.
func TestPollExit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if pollExit(ctx, int32(os.Getpid()), processCreated(context.Background(), int32(os.Getpid())), time.Millisecond) {
		t.Error("pollExit of this live process reported an exit")
	}
	if !pollExit(context.Background(), int32(os.Getpid()), time.Unix(1, 0), time.Millisecond) {
		t.Error("pollExit of a PID reused by another process did not report the exit")
	}
}

func TestErrorResultSaysItOnce(t *testing.T) {
	s := &Service{cfg: ServiceConfig{Name: "whatsapp"}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"refusal", refuse(ErrAlreadyRunning, "whatsapp is already running (pid 1, up 1s)"), "whatsapp is already running (pid 1, up 1s)"},
		{"precondition", &PreconditionError{Service: "whatsapp", Failed: []doctor.Check{{Name: "port 3000", Detail: "in use by pid 863"}}},
			"refused: port 3000: in use by pid 863"},
		{"wrapped", errors.New("start whatsapp: not healthy after 20s"), "not healthy after 20s"},
		{"restart", errors.New("restart whatsapp: 2 processes survived the stop; not starting"), "2 processes survived the stop; not starting"},
	}
	for _, tt := range tests {
		if got := s.errorResult(tt.err); got != tt.want {
			t.Errorf("%s: errorResult = %q; want %q", tt.name, got, tt.want)
		}
	}
}
