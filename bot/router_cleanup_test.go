package bot

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// cleanupReport is a completed restoration of four sessions: one ready,
// one waiting for a QR scan, one failed and one logged out, each with its
// browser of 1 GiB (bot/bottest has a fuller one, for the renderers).
func cleanupReport() whatsapp.SessionsReport {
	const gib = 1 << 30
	t0 := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	r := whatsapp.Restoration{StartedAt: t0, Found: 4, Complete: true, Restored: 3, Failed: 1, Total: 4, CompletedAt: t0.Add(time.Minute),
		Sessions: []whatsapp.SessionOutcome{
			{ID: "user_12_instance_main", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionReady},
			{ID: "user_31_instance_support", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionQR},
			{ID: "user_45_instance_promo", Result: whatsapp.SessionFailed, Cause: "net::ERR_NAME_NOT_RESOLVED"},
			{ID: "user_60_instance_hr", Result: whatsapp.SessionRestored, Connection: whatsapp.ConnectionLoggedOut, Cause: "LOGOUT"},
		}}
	var bs []whatsapp.Browser
	for i, o := range r.Sessions {
		bs = append(bs, whatsapp.Browser{SessionID: o.ID, PID: int32(4300 + 100*i), PIDs: []int32{int32(4300 + 100*i)}, RSS: gib})
	}
	return whatsapp.JoinSessions(whatsapp.SessionsInput{Restoration: r, HaveRestoration: true, Browsers: bs, Running: true})
}

// TestRouterSessionsCleanupIsConfirmed: `sessions cleanup` asks first,
// naming what it will end; only the requester's click ends exactly the
// idle browsers; the audit says who did it; the reply names what was
// ended and what was kept.
func TestRouterSessionsCleanupIsConfirmed(t *testing.T) {
	f := newRouterFixture(t)
	rep := cleanupReport()
	f.svc.SetSessions(rep)
	ask := f.r.Handle(context.Background(), req(alice, "sessions cleanup"))
	if ask.Kind != KindConfirm || ask.Confirm == nil || ask.Confirm.Cleanup == nil {
		t.Fatalf("sessions cleanup = %s %+v; want a confirmation with what it ends", ask.Kind, ask.Confirm)
	}
	q := ConfirmQuestion(ask.Confirm)
	for _, want := range []string{"End 2 browsers of idle sessions (2.0 GiB) in whatsapp: ", "user_45_instance_promo (1.0 GiB)",
		"user_60_instance_hr (1.0 GiB)", "The service keeps running."} {
		if !strings.Contains(q, want) {
			t.Errorf("question %q lacks %q", q, want)
		}
	}
	if strings.Contains(q, "user_12_instance_main") {
		t.Errorf("question %q names a browser of a session in use", q)
	}
	if calls := f.svc.Calls(); slices.Contains(calls, "cleanup by U0ALICE") {
		t.Fatalf("cleanup ran before confirmation: %v", calls)
	}
	if got := f.r.Confirm(context.Background(), req(bob, ""), ask.Confirm.Token); got.Kind != KindRejected {
		t.Errorf("confirm by bob = %s; want rejected", got.Kind)
	}
	got := f.r.Confirm(context.Background(), req(alice, ""), ask.Confirm.Token)
	if got.Kind != KindOutcome || !got.Outcome.OK() || got.Outcome.Action != manager.ActionCleanup {
		t.Fatalf("confirm = %s %+v; want a cleanup done", got.Kind, got.Outcome)
	}
	line := OutcomeLine(got.Outcome)
	for _, want := range []string{"✓ sessions cleanup whatsapp by alice", "ended the browsers of 2 sessions that served nobody",
		"user_45_instance_promo (1.0 GiB), user_60_instance_hr (1.0 GiB); 2.0 GiB freed", "kept 2 browsers of sessions in use", "the service keeps running"} {
		if !strings.Contains(line, want) {
			t.Errorf("outcome %q lacks %q", line, want)
		}
	}
	audit := f.auditLines(t)
	last := audit[len(audit)-1]
	if last["kind"] != "confirm" || last["command"] != "sessions cleanup" || last["outcome"] != "ok" || last["user_id"] != alice.ID {
		t.Errorf("audit = %v; want alice's confirmed sessions cleanup, ok", last)
	}
	if first := audit[0]; first["command"] != "sessions cleanup" || first["outcome"] != "confirmation_requested" {
		t.Errorf("audit of the ask = %v", first)
	}
}

// TestRouterSessionsCleanupWithNothingToEnd: with no idle browser the
// command asks nothing and says so; a cleanup the manager refuses (the
// browsers ended meanwhile) reaches the user as its usererr text.
func TestRouterSessionsCleanupWithNothingToEnd(t *testing.T) {
	f := newRouterFixture(t)
	got := f.r.Handle(context.Background(), req(alice, "sessions cleanup"))
	if got.Kind != KindDone || got.Text != NothingToCleanUp("whatsapp") {
		t.Errorf("cleanup with nothing idle = %s %q; want done, nothing to clean up", got.Kind, got.Text)
	}

	f.svc.SetSessions(cleanupReport())
	ask := f.r.Handle(context.Background(), req(alice, "sessions cleanup"))
	if ask.Kind != KindConfirm {
		t.Fatalf("ask = %s", ask.Kind)
	}
	f.svc.SetSessions(whatsapp.SessionsReport{}) // the browsers ended meanwhile
	got = f.r.Confirm(context.Background(), req(alice, ""), ask.Confirm.Token)
	if got.Kind != KindOutcome || got.Outcome.OK() {
		t.Fatalf("confirm = %s; want a failed outcome", got.Kind)
	}
	if line := OutcomeLine(got.Outcome); !strings.HasSuffix(line, ": cleanup whatsapp: no browser of a session that serves nobody is running") {
		t.Errorf("outcome %q; want the manager's refusal, and nothing else", line)
	}

	// Cancelled: the reply names the command as typed.
	f.svc.SetSessions(cleanupReport())
	ask = f.r.Handle(context.Background(), req(alice, "sessions cleanup"))
	if c := f.r.Cancel(context.Background(), req(alice, ""), ask.Confirm.Token); c.Text != "sessions cleanup whatsapp cancelled by alice; nothing was done" {
		t.Errorf("cancel = %q", c.Text)
	}
}

// TestConfirmCleanupSurvivesARestart: a cleanup prompt's token, read back
// by the next bot process, still runs a cleanup (not a bare `sessions`).
func TestConfirmCleanupSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), ConfirmFile)
	clock := newFakeClock()
	first := newRouterFixtureAt(t, path, clock, nil)
	first.svc.SetSessions(cleanupReport())
	ask := first.r.Handle(context.Background(), req(alice, "sessions cleanup"))
	if ask.Kind != KindConfirm {
		t.Fatalf("ask = %s", ask.Kind)
	}
	second := newRouterFixtureAt(t, path, clock, nil)
	second.svc.SetSessions(cleanupReport())
	got := second.r.Confirm(context.Background(), req(alice, ""), ask.Confirm.Token)
	if got.Kind != KindOutcome || got.Outcome.Action != manager.ActionCleanup || !got.Outcome.OK() {
		t.Fatalf("confirm after a restart = %s %+v; want the cleanup done", got.Kind, got.Outcome)
	}
	if calls := second.svc.Calls(); !slices.Contains(calls, "cleanup by U0ALICE") {
		t.Errorf("calls = %v; want a cleanup by alice", calls)
	}
}
