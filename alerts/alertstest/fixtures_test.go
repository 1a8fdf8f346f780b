package alertstest

import (
	"testing"

	"github.com/sanasend/sanasend-bot/whatsapp"
)

func find(t *testing.T, cases []Case, name string) Case {
	t.Helper()
	for _, c := range cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no fixture %q", name)
	return Case{}
}

// TestFixtureFacts pins the facts the front ends' golden files are about, so
// that a change in the join (whatsapp.JoinSessions) that would silently
// change them fails here.
func TestFixtureFacts(t *testing.T) {
	cases := Cases()
	names := map[string]bool{}
	for _, c := range append(Cases(), WorstCases()...) {
		if names[c.Name] {
			t.Errorf("fixture name %q twice", c.Name)
		}
		names[c.Name] = true
	}
	state := func(rep whatsapp.SessionsReport, id string) whatsapp.SessionView {
		t.Helper()
		v, ok := rep.Session(id)
		if !ok {
			t.Fatalf("no session %s in %+v", id, rep.Sessions)
		}
		return v
	}

	to := find(t, cases, "restoration-timed-out-sessions").Notice.Restoration
	if !to.Result.TimedOut || to.Result.Completed {
		t.Errorf("timed out: %+v", to.Result)
	}
	if v := state(to.Sessions, "user_45_instance_promo"); v.State != whatsapp.SessionInRestore || v.At != at("15:08:10") {
		t.Errorf("restoring: %+v", v)
	}
	if v := state(to.Sessions, "user_52_instance_ops"); v.State != whatsapp.SessionNotBegun || v.AuthBefore.State != whatsapp.AuthPresent {
		t.Errorf("not begun: %+v", v)
	}
	if idle := to.Sessions.IdleBrowsers(); len(idle) != 3 || whatsapp.RSS(idle) != 3*GiB {
		t.Errorf("idle browsers: %d, %d bytes", len(idle), whatsapp.RSS(idle))
	}

	late := find(t, cases, "restoration-late").Notice
	if !late.Restoration.Late || late.Ref != find(t, cases, "restoration-timed-out-sessions").Notice.ID || !late.Restoration.Result.Completed {
		t.Errorf("late: ref %q, %+v", late.Ref, late.Restoration.Result)
	}
	if f := late.Restoration.Result.Restoration.Failed; f != 5 {
		t.Errorf("late: %d failed", f)
	}

	in := find(t, cases, "restoration-interrupted").Notice.Restoration.Sessions
	if !in.Interrupted || in.StopBegan.IsZero() || in.Running {
		t.Errorf("interrupted: %v, stop began %v, running %v", in.Interrupted, in.StopBegan, in.Running)
	}
	for id, want := range map[string]whatsapp.SessionState{
		"user_12_instance_main":    whatsapp.SessionReady,
		"user_18_instance_sales":   whatsapp.SessionInterrupted, // failed after the stop began
		"user_31_instance_support": whatsapp.SessionInterrupted,
		"user_45_instance_promo":   whatsapp.SessionInterrupted, // not begun
	} {
		if v := state(in, id); v.State != want {
			t.Errorf("interrupted: %s is %s, want %s", id, v.State, want)
		}
	}

	miss := find(t, cases, "restoration-auth-missing").Notice.Restoration.Sessions
	if v := state(miss, "user_18_instance_sales"); v.AuthBefore.State != whatsapp.AuthMissing || v.AuthNow.State != whatsapp.AuthPresent || !v.Idle {
		t.Errorf("auth missing: %+v", v)
	}

	d := find(t, cases, "digest-idle-browsers").Notice.Digest.Services[0]
	if len(d.IdleBrowsers) != 3 || whatsapp.RSS(d.IdleBrowsers) != 3*GiB {
		t.Errorf("digest idle browsers: %+v", d.IdleBrowsers)
	}

	for _, name := range []string{"alert-memory", "alert-memory-session", "remind-memory"} {
		n := find(t, cases, name).Notice
		if n.Event.Memory == nil || n.Incident == nil || n.Incident.Memory == nil || len(n.Event.Memory.Top) != 3 ||
			n.Event.Memory.Used <= n.Event.Memory.Limit {
			t.Errorf("%s: %+v", name, n.Event.Memory)
		}
	}
	if s := find(t, cases, "alert-memory-session").Notice.Event.Memory; s.Session != s.Top[0].SessionID || s.Used != s.Top[0].RSS {
		t.Errorf("session breach: %+v", s)
	}
}
