package bot

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/internal/fakeservice"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
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
	r     *Router
	svc   *fakeservice.Service
	audit *syncbuf.Buffer
	clock *fakeClock
}

func newRouterFixture(t *testing.T) routerFixture {
	t.Helper()
	svc := fakeservice.New("whatsapp")
	buf := &syncbuf.Buffer{}
	clock := newFakeClock()
	r, err := NewRouter(RouterConfig{
		Services:       fakeDirectory{fakeservice.Directory{svc}},
		Auth:           allowList{alice.ID: true, bob.ID: true},
		ConfirmTimeout: 2 * time.Minute,
		Audit:          zerolog.New(buf),
		Now:            clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return routerFixture{r: r, svc: svc, audit: buf, clock: clock}
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
	if got.Kind != KindHelp || len(got.Help) != len(commandSpecs) {
		t.Fatalf("help = %s with %d lines; want %d", got.Kind, len(got.Help), len(commandSpecs))
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
	f.r.SetAlerts(a)
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
	token := f.r.AlertToken("whatsapp")
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
