package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

// fakeDirectory adapts fakeservice.Directory to Directory.
type fakeDirectory struct{ fakeservice.Directory }

func (d fakeDirectory) Lookup(name string) (Service, error) {
	s, err := d.Get(name)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// allowList authorises the listed user IDs.
type allowList map[string]bool

func (a allowList) Authorize(_ context.Context, u manager.Actor, _ string) error {
	if !a[u.ID] {
		return errors.New("sorry, only SanaSend staff may use this command")
	}
	return nil
}

var (
	alice = manager.Actor{ID: "U0ALICE", Name: "alice"}
	bob   = manager.Actor{ID: "U0BOB", Name: "bob"}
	eve   = manager.Actor{ID: "U0EVE", Name: "eve"}
)

type routerFixture struct {
	r      *Router
	svc    *fakeservice.Service
	audit  *syncbuf.Buffer
	clock  *clockwork.FakeClock
	store  *ConfirmStore
	alerts Alerts
}

func newRouterFixture(t *testing.T) routerFixture {
	t.Helper()
	return newRouterFixtureAt(t, "", newFakeClock(), nil)
}

// newRouterFixtureAt builds a router over a confirmation store at path (""
// memory only), as a bot process does at start: the store loaded, then the
// router. a is the monitor (nil: none).
func newRouterFixtureAt(t *testing.T, path string, clock *clockwork.FakeClock, a Alerts) routerFixture {
	t.Helper()
	svc := fakeservice.New("whatsapp")
	buf := &syncbuf.Buffer{}
	store, err := OpenConfirmStore(ConfirmConfig{Path: path, TTL: 2 * time.Minute, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	cfg := RouterConfig{
		Services: fakeDirectory{fakeservice.Directory{svc}},
		Auth:     allowList{alice.ID: true, bob.ID: true},
		Confirms: store,
		Audit:    zerolog.New(buf),
		Now:      clock.Now,
	}
	if a != nil {
		cfg.Alerts = a
	}
	r, err := NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return routerFixture{r: r, svc: svc, audit: buf, clock: clock, store: store, alerts: a}
}

// auditLines parses the audit records written so far.
func (f routerFixture) auditLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(f.audit.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func req(u manager.Actor, text string) Request {
	return Request{User: u, Channel: "C1", Source: "test", Text: text}
}

func TestRouterRunsReadCommands(t *testing.T) {
	tests := []struct {
		text string
		kind Kind
		call string
	}{
		{"status", KindStatus, "status"},
		{"logs 20 Failed", KindLogs, `logs 20 "Failed" all=false`},
		{"logs all 5", KindLogs, `logs 5 "" all=true`},
		{"logs output 7 ERR", KindLogs, `output 7 "ERR"`},
		{"ps", KindProcesses, "ps"},
		{"sessions", KindSessions, "sessions"},
		{"doctor", KindDoctor, "doctor"},
		{"start", KindOutcome, "start by U0ALICE"},
	}
	for _, tc := range tests {
		f := newRouterFixture(t)
		got := f.r.Handle(context.Background(), req(alice, tc.text))
		if got.Kind != tc.kind || got.Service != "whatsapp" {
			t.Errorf("Handle(%q) = %s for %q; want %s for whatsapp (%s)", tc.text, got.Kind, got.Service, tc.kind, got.Text)
		}
		if calls := f.svc.Calls(); len(calls) != 1 || calls[0] != tc.call {
			t.Errorf("Handle(%q) called %q; want %q", tc.text, calls, tc.call)
		}
		lines := f.auditLines(t)
		if len(lines) != 1 || lines[0]["audit"] != true || lines[0]["user_id"] != "U0ALICE" ||
			lines[0]["service"] != "whatsapp" || lines[0]["outcome"] != "ok" || lines[0]["channel"] != "C1" {
			t.Errorf("Handle(%q) audit = %v", tc.text, lines)
		}
	}
}

func TestRouterBadInputChangesNothing(t *testing.T) {
	for _, text := range []string{"reboot", "restart now", "logs 5000", "stop whatsapp now"} {
		f := newRouterFixture(t)
		got := f.r.Handle(context.Background(), req(alice, text))
		if got.Kind != KindUsage || got.Text == "" {
			t.Errorf("Handle(%q) = %s %q; want a usage message", text, got.Kind, got.Text)
		}
		if calls := f.svc.Calls(); len(calls) != 0 {
			t.Errorf("Handle(%q) called %v", text, calls)
		}
		if lines := f.auditLines(t); len(lines) != 1 || lines[0]["outcome"] != "usage" {
			t.Errorf("Handle(%q) audit = %v; want one usage record", text, lines)
		}
	}
}

func TestRouterRefusesStrangersEverything(t *testing.T) {
	f := newRouterFixture(t)
	for _, text := range []string{"status", "start", "stop", "restart", "logs", "ps", "sessions", "doctor", "help"} {
		got := f.r.Handle(context.Background(), req(eve, text))
		if got.Kind != KindRefused {
			t.Errorf("Handle(eve, %q) = %s; want refused", text, got.Kind)
		}
	}
	if calls := f.svc.Calls(); len(calls) != 0 {
		t.Errorf("a stranger caused %v", calls)
	}
	for _, l := range f.auditLines(t) {
		if l["outcome"] != "refused" || l["user_id"] != "U0EVE" {
			t.Errorf("audit = %v; want refused for eve", l)
		}
	}
}

func TestRouterStopNeedsTheRequestersConfirmation(t *testing.T) {
	f := newRouterFixture(t)
	ask := f.r.Handle(context.Background(), req(alice, "stop"))
	if ask.Kind != KindConfirm || ask.Confirm == nil {
		t.Fatalf("stop = %s; want a confirmation", ask.Kind)
	}
	if calls := f.svc.Calls(); len(calls) != 0 {
		t.Fatalf("stop ran before confirmation: %v", calls)
	}
	token := ask.Confirm.Token

	if got := f.r.Confirm(context.Background(), req(bob, ""), token); got.Kind != KindRejected {
		t.Errorf("confirm by bob = %s; want rejected", got.Kind)
	}
	if got := f.r.Confirm(context.Background(), req(eve, ""), token); got.Kind != KindRefused {
		t.Errorf("confirm by eve = %s; want refused", got.Kind)
	}
	got := f.r.Confirm(context.Background(), req(alice, ""), token)
	if got.Kind != KindOutcome || !got.Outcome.OK() {
		t.Fatalf("confirm by alice = %s %+v", got.Kind, got.Outcome)
	}
	again := f.r.Confirm(context.Background(), req(alice, ""), token)
	if again.Kind != KindRejected || !strings.Contains(again.Text, "already used") {
		t.Errorf("second confirm = %s %q; want rejected, already used", again.Kind, again.Text)
	}
	if calls := f.svc.Calls(); len(calls) != 1 || calls[0] != "stop by U0ALICE" {
		t.Errorf("calls = %v; want one stop by alice", calls)
	}
}

func TestRouterConcurrentConfirmationsRunOnce(t *testing.T) {
	f := newRouterFixture(t)
	ask := f.r.Handle(context.Background(), req(alice, "restart"))
	var ran atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := f.r.Confirm(context.Background(), req(alice, ""), ask.Confirm.Token); got.Kind == KindOutcome {
				ran.Add(1)
			}
		}()
	}
	wg.Wait()
	if ran.Load() != 1 || len(f.svc.Calls()) != 1 {
		t.Fatalf("%d outcomes, calls %v; want exactly one restart", ran.Load(), f.svc.Calls())
	}
}

func TestRouterExpiredAndCancelledConfirmationsRunNothing(t *testing.T) {
	f := newRouterFixture(t)
	expired := f.r.Handle(context.Background(), req(alice, "restart"))
	cancelled := f.r.Handle(context.Background(), req(alice, "stop"))
	if got := f.r.Cancel(context.Background(), req(alice, ""), cancelled.Confirm.Token); got.Kind != KindCancelled {
		t.Fatalf("cancel = %s", got.Kind)
	}
	f.clock.Advance(2 * time.Minute)
	for name, token := range map[string]string{"expired": expired.Confirm.Token, "cancelled": cancelled.Confirm.Token,
		"forged": strings.Repeat("ab", 16)} {
		if got := f.r.Confirm(context.Background(), req(alice, ""), token); got.Kind != KindRejected {
			t.Errorf("%s token: %s; want rejected", name, got.Kind)
		}
	}
	if calls := f.svc.Calls(); len(calls) != 0 {
		t.Errorf("calls = %v; want none", calls)
	}
}

func TestRouterBusyServiceSaysWhoWhatSinceWhen(t *testing.T) {
	f := newRouterFixture(t)
	since := time.Date(2026, 11, 28, 3, 4, 5, 0, time.UTC)
	f.svc.SetBusy(&manager.BusyError{Service: "whatsapp", Action: manager.ActionRestart, By: bob, Since: since})
	got := f.r.Handle(context.Background(), req(alice, "stop"))
	if got.Kind != KindBusy {
		t.Fatalf("stop while busy = %s; want busy", got.Kind)
	}
	for _, want := range []string{"restart", "bob", "03:04:05"} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("busy text %q lacks %q", got.Text, want)
		}
	}
}

func TestRouterHelpListsEveryCommand(t *testing.T) {
	f := newRouterFixture(t)
	got := f.r.Handle(context.Background(), req(alice, "help"))
	// `hosts` is listed only in a fleet (TestFleetHelpListsHosts).
	if got.Kind != KindHelp || len(got.Help) != len(commandSpecs)-1 {
		t.Fatalf("help = %s with %d lines; want %d", got.Kind, len(got.Help), len(commandSpecs)-1)
	}
}

// fakeAlerts records what the router asked of the monitor.
type fakeAlerts struct{ calls []string }

func (a *fakeAlerts) Acknowledge(_ context.Context, service string, by manager.Actor) error {
	a.calls = append(a.calls, "ack "+service+" by "+by.ID)
	return nil
}

func (a *fakeAlerts) Maintenance(_ context.Context, service string, until time.Time, by manager.Actor, reason string) error {
	u := "off"
	if !until.IsZero() {
		u = until.Format("15:04")
	}
	a.calls = append(a.calls, "maintenance "+service+" until "+u+" by "+by.ID+": "+reason)
	return nil
}

func TestRouterAckAndMaintenance(t *testing.T) {
	f := newRouterFixture(t)
	if got := f.r.Handle(context.Background(), req(alice, "ack")); got.Kind != KindError {
		t.Errorf("ack without a monitor = %s; want an error", got.Kind)
	}
	a := &fakeAlerts{}
	f = newRouterFixtureAt(t, "", newFakeClock(), a)
	for _, text := range []string{"ack", "maintenance 30m deploy v2", "maintenance whatsapp off"} {
		if got := f.r.Handle(context.Background(), req(alice, text)); got.Kind != KindDone {
			t.Errorf("%q = %s %q; want done", text, got.Kind, got.Text)
		}
	}
	want := []string{"ack whatsapp by U0ALICE", "maintenance whatsapp until 03:30 by U0ALICE: deploy v2", "maintenance whatsapp until off by U0ALICE: "}
	if strings.Join(a.calls, "|") != strings.Join(want, "|") {
		t.Errorf("calls = %q; want %q", a.calls, want)
	}
	for _, bad := range []string{"maintenance", "maintenance soon", "maintenance 30s", "maintenance 9999h", "maintenance off now"} {
		if got := f.r.Handle(context.Background(), req(alice, bad)); got.Kind != KindUsage {
			t.Errorf("%q = %s; want a usage message", bad, got.Kind)
		}
	}
	if got := f.r.Handle(context.Background(), req(eve, "maintenance 30m")); got.Kind != KindRefused {
		t.Errorf("maintenance by eve = %s; want refused", got.Kind)
	}
	if len(a.calls) != 3 {
		t.Errorf("bad or refused commands reached the monitor: %q", a.calls)
	}
}

func TestAlertTokenAnyStaffOnce(t *testing.T) {
	f := newRouterFixture(t)
	token := f.store.AlertToken("whatsapp-incident-1", "whatsapp")
	if got := f.r.Confirm(context.Background(), req(eve, ""), token); got.Kind != KindRefused {
		t.Errorf("alert restart by eve = %s; want refused", got.Kind)
	}
	if got := f.r.Confirm(context.Background(), req(bob, ""), token); got.Kind != KindOutcome {
		t.Fatalf("alert restart by bob = %s %q; want it run", got.Kind, got.Text)
	}
	if got := f.r.Confirm(context.Background(), req(alice, ""), token); got.Kind != KindRejected {
		t.Errorf("second press = %s; want rejected", got.Kind)
	}
	if calls := f.svc.Calls(); len(calls) != 1 || calls[0] != "restart by U0BOB" {
		t.Errorf("calls = %v; want one restart by bob", calls)
	}
}

// TestRouterConfirmationSurvivesARestart: a prompt issued by one bot
// process is confirmed in the next, once; the one after refuses it again.
func TestRouterConfirmationSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), ConfirmFile)
	clock := newFakeClock()
	before := newRouterFixtureAt(t, path, clock, nil)
	ask := before.r.Handle(context.Background(), req(alice, "restart"))
	if ask.Kind != KindConfirm {
		t.Fatalf("restart = %s; want a confirmation", ask.Kind)
	}
	forged := strings.Repeat("ab", 16)

	after := newRouterFixtureAt(t, path, clock, nil)
	if got := after.r.Confirm(context.Background(), req(alice, ""), forged); got.Kind != KindRejected || !IsDeadToken(got.Err) {
		t.Errorf("forged token = %s %v; want rejected", got.Kind, got.Err)
	}
	got := after.r.Confirm(context.Background(), req(alice, ""), ask.Confirm.Token)
	if got.Kind != KindOutcome || !got.Outcome.OK() {
		t.Fatalf("confirm after a restart = %s %q; want the restart run", got.Kind, got.Text)
	}
	again := after.r.Confirm(context.Background(), req(alice, ""), ask.Confirm.Token)
	if again.Kind != KindRejected || !strings.Contains(again.Text, "already used by alice") ||
		again.Confirm == nil || again.Confirm.Command.Verb != VerbRestart {
		t.Errorf("second confirm = %s %q %+v; want rejected, already used, for the restart", again.Kind, again.Text, again.Confirm)
	}
	third := newRouterFixtureAt(t, path, clock, nil)
	if got := third.r.Confirm(context.Background(), req(alice, ""), ask.Confirm.Token); got.Kind != KindRejected {
		t.Errorf("confirm after another restart = %s; want rejected", got.Kind)
	}
	if calls := append(before.svc.Calls(), append(after.svc.Calls(), third.svc.Calls()...)...); len(calls) != 1 || calls[0] != "restart by U0ALICE" {
		t.Errorf("calls = %v; want one restart by alice", calls)
	}
}

// failing is a service whose reads and start fail with err.
type failing struct {
	*fakeservice.Service
	err   error
	start manager.StartResult
}

func (f failing) Logs(context.Context, manager.LogQuery) (manager.LogResult, error) {
	return manager.LogResult{}, f.err
}

func (f failing) Processes(context.Context) ([]manager.Process, error) { return nil, f.err }

func (f failing) Start(context.Context, manager.Actor, func(string)) (manager.StartResult, error) {
	return f.start, f.err
}

type failingDirectory struct{ s failing }

func (d failingDirectory) Names() []string { return []string{d.s.Name()} }

func (d failingDirectory) Lookup(name string) (Service, error) {
	if name != "" && name != d.s.Name() {
		return nil, fmt.Errorf("lookup %q in /etc/sanasend/secret.yaml: no such service", name)
	}
	return d.s, nil
}

// TestRepliesShowOnlySafeText: a raw error, its path included, never
// reaches a reply's text nor an outcome's line; the audit line keeps it.
func TestRepliesShowOnlySafeText(t *testing.T) {
	const secret = "/var/lib/sanasend/secret-path"
	raw := fmt.Errorf("open %s/combined.log: input/output error", secret)
	tests := []struct {
		name string
		err  error
		want string // in the text people see
	}{
		{"raw", raw, usererr.Fallback},
		{"not found", fmt.Errorf("open %s: %w", secret, fs.ErrNotExist), "missing"},
		{"permission", fmt.Errorf("open %s: %w", secret, fs.ErrPermission), "may not read"},
		{"already running", fmt.Errorf("start whatsapp: %w (pid 42 since %s)", manager.ErrAlreadyRunning, secret), "is already running"},
		{"precondition", &manager.PreconditionError{Service: "whatsapp", Failed: []doctor.Check{{Name: "port", Detail: "3000 is in use"}}}, "whatsapp cannot start: port: 3000 is in use"},
		// The manager's clock says since when; the day is shown when it
		// is not today.
		{"busy", fmt.Errorf("%s: %w", secret, &manager.BusyError{Service: "whatsapp", Action: manager.ActionRestart, By: bob,
			Since: time.Date(2020, 1, 2, 3, 4, 5, 0, time.Local)}), "whatsapp is busy: restart by bob since 2020-01-02 03:04:05"},
		{"safe", usererr.Wrap(raw, usererr.Unavailable, "the log of whatsapp cannot be read now"), "the log of whatsapp cannot be read now"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := failing{Service: fakeservice.New("whatsapp"), err: tc.err}
			svc.FailStop(tc.err)
			buf := &syncbuf.Buffer{}
			store, err := NewConfirmStore(ConfirmConfig{TTL: time.Minute, Clock: newFakeClock()})
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewRouter(RouterConfig{Services: failingDirectory{svc}, Auth: allowList{alice.ID: true},
				Confirms: store, Audit: zerolog.New(buf), Now: newFakeClock().Now})
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			for _, text := range []string{"logs", "ps", "start"} {
				reply := r.Handle(context.Background(), req(alice, text))
				texts = append(texts, shown(reply))
			}
			ask := r.Handle(context.Background(), req(alice, "stop"))
			texts = append(texts, shown(r.Confirm(context.Background(), req(alice, ""), ask.Confirm.Token)))
			for i, text := range texts {
				if strings.Contains(text, secret) || strings.Contains(text, "input/output") {
					t.Errorf("reply %d shows the raw error: %q", i, text)
				}
				if !strings.Contains(text, tc.want) {
					t.Errorf("reply %d = %q; want %q", i, text, tc.want)
				}
			}
			if tc.name != "precondition" && !strings.Contains(buf.String(), secret) {
				t.Errorf("the audit log lacks the raw error:\n%s", buf.String())
			}
		})
	}
}

// shown is what a front end shows of a reply: its text, or its outcome's
// line.
func shown(r Reply) string {
	if r.Kind == KindOutcome {
		return OutcomeLine(r.Outcome)
	}
	return r.Text
}

func TestNoSuchServiceSaysWhich(t *testing.T) {
	svc := failing{Service: fakeservice.New("whatsapp")}
	store, err := NewConfirmStore(ConfirmConfig{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRouter(RouterConfig{Services: failingDirectory{svc}, Auth: allowList{alice.ID: true}, Confirms: store})
	if err != nil {
		t.Fatal(err)
	}
	p := store.Issue(Command{Verb: VerbStop, Service: "gone"}, "gone", alice.ID, "C1")
	got := r.Confirm(context.Background(), req(alice, ""), p.Token)
	if got.Kind != KindError || got.Text != `no service "gone" (services: whatsapp)` {
		t.Errorf("confirm for a service gone = %s %q; want the services named, not the lookup's error", got.Kind, got.Text)
	}
}

// TestFailedStartSaysWhatHappened: a start that failed with a raw error
// is told from the outcome's facts, never with the error's text.
func TestFailedStartSaysWhatHappened(t *testing.T) {
	raw := errors.New("start whatsapp: /srv/secret/path went wrong")
	tests := []struct {
		name  string
		start manager.StartResult
		want  string
	}{
		{"exited", manager.StartResult{PID: 42, Exited: true, ExitCode: 3}, "exited before it became healthy (exit code 3)"},
		{"child killed", manager.StartResult{PID: 42, Exited: true, Exit: manager.Exit{Known: true, Code: 137, ChildSignal: "SIGKILL"}},
			"exited before it became healthy (exit code 137: its child was killed by SIGKILL)"},
		{"signal", manager.StartResult{PID: 42, Exited: true, Signal: "SIGTERM"}, "exited before it became healthy (killed by SIGTERM)"},
		{"not healthy", manager.StartResult{PID: 42}, "not healthy within the start timeout; pid 42 is still running"},
		{"no facts", manager.StartResult{}, usererr.Fallback},
	}
	for _, tc := range tests {
		store, err := NewConfirmStore(ConfirmConfig{TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		svc := failing{Service: fakeservice.New("whatsapp"), err: raw, start: tc.start}
		r, err := NewRouter(RouterConfig{Services: failingDirectory{svc}, Auth: allowList{alice.ID: true}, Confirms: store})
		if err != nil {
			t.Fatal(err)
		}
		got := r.Handle(context.Background(), req(alice, "start"))
		if got.Kind != KindOutcome || !errors.Is(got.Err, raw) {
			t.Fatalf("%s: start = %s, err %v; want an outcome wrapping the raw error", tc.name, got.Kind, got.Err)
		}
		if line := OutcomeLine(got.Outcome); !strings.HasSuffix(line, ": "+tc.want) || strings.Contains(line, "/srv/secret") {
			t.Errorf("%s: outcome line %q; want it to end %q", tc.name, line, tc.want)
		}
	}
}
