//go:build !windows

package agent

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/fleet/sign"
	"github.com/sanasend/sanasend-bot/internal/fleettest"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

func newSigner(t *testing.T) *sign.Signer {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.NewSigner(seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// agentFixture is one agent "web-2" serving a real (stopped) service, a
// hub's signer it trusts, and a connection to send requests.
type agentFixture struct {
	nc    *nats.Conn
	hub   *sign.Signer
	svc   *manager.Service
	audit *syncbuf.Buffer
}

func startAgent(t *testing.T) *agentFixture {
	t.Helper()
	_, connect := fleettest.NATS(t)
	hub := newSigner(t)
	v, err := sign.NewVerifier(sign.VerifierConfig{Trusted: []string{hub.PublicKey()}, Host: "web-2"})
	if err != nil {
		t.Fatal(err)
	}
	f := &agentFixture{nc: connect(), hub: hub, svc: fleettest.StandinService(t), audit: &syncbuf.Buffer{}}
	srv, err := NewServer(Config{Conn: connect(), Host: "web-2", Version: "1.2.3", Services: []Service{f.svc},
		Verifier: v, Audit: zerolog.New(f.audit), Logger: zerolog.New(zerolog.NewTestWriter(t))})
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
	return f
}

// send sends s to the endpoint verb of web-2 and returns the reply.
func (f *agentFixture) send(t *testing.T, verb string, s sign.Signed) (*nats.Msg, Reply) {
	t.Helper()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := f.nc.Request(fleet.AgentSubject("web-2", verb), data, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", verb, err)
	}
	var rep Reply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		t.Fatalf("%s: reply %q: %v", verb, msg.Data, err)
	}
	return msg, rep
}

func mustSign(t *testing.T, s *sign.Signer, r sign.Request) sign.Signed {
	t.Helper()
	signed, err := s.Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// A request that a trusted hub did not sign as it arrives is refused with
// 403 and audited on the agent, and the service is not touched.
func TestRefusedRequests(t *testing.T) {
	f := startAgent(t)
	other := newSigner(t)
	alice := sign.Actor{ID: "U0ALICE", Name: "alice"}
	restart := sign.Request{Host: "web-2", Service: "whatsapp", Verb: VerbRestart, Actor: alice}
	tests := []struct {
		name   string
		verb   string // the endpoint
		signed func() sign.Signed
		reason sign.Reason
	}{
		{"another seed", VerbRestart, func() sign.Signed { return mustSign(t, other, restart) }, sign.Untrusted},
		{"a flipped arg", VerbLogs, func() sign.Signed {
			s := mustSign(t, f.hub, sign.Request{Host: "web-2", Service: "whatsapp", Verb: VerbLogs, Args: []string{"lines=5"}, Actor: alice})
			s.Args[0] = "lines=50"
			return s
		}, sign.BadSignature},
		{"another actor", VerbRestart, func() sign.Signed {
			s := mustSign(t, f.hub, restart)
			s.Actor.ID = "U0MALLORY"
			return s
		}, sign.BadSignature},
		{"another host", VerbRestart, func() sign.Signed {
			r := restart
			r.Host = "web-1"
			return mustSign(t, f.hub, r)
		}, sign.WrongHost},
		{"another verb", VerbRestart, func() sign.Signed {
			r := restart
			r.Verb = VerbStatus
			return mustSign(t, f.hub, r)
		}, "wrong_verb"},
		{"no signature", VerbStop, func() sign.Signed {
			s := mustSign(t, f.hub, restart)
			s.Verb, s.Sig = VerbStop, ""
			return s
		}, sign.BadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.signed()
			msg, rep := f.send(t, tc.verb, s)
			if code := msg.Header.Get("Nats-Service-Error-Code"); code != "403" {
				t.Errorf("error code header = %q; want 403", code)
			}
			if rep.Error == nil || rep.Error.Code != usererr.Forbidden || !strings.Contains(rep.Error.Message, string(tc.reason)) {
				t.Fatalf("reply = %+v; want a forbidden error naming %s", rep.Error, tc.reason)
			}
			line := auditLine(t, f.audit.String(), s.Key, tc.verb)
			if line["outcome"] != "refused" || line["reason"] != string(tc.reason) || line["audit"] != true ||
				line["source"] != "fleet" || line["service"] != "whatsapp" {
				t.Errorf("audit line = %v; want refused, %s", line, tc.reason)
			}
			if s.Sig != "" && strings.Contains(f.audit.String(), s.Sig) {
				t.Error("the audit holds the signature")
			}
		})
	}
	if a := f.svc.LastAction(); a != nil {
		t.Errorf("the service's last action = %+v; want none", a)
	}
	st, err := f.svc.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.State != manager.StateStopped || len(st.Processes) != 0 {
		t.Errorf("service = %s with %d processes; want it stopped, untouched", st.State, len(st.Processes))
	}
}

// auditLine is the last audit line with the key and the verb.
func auditLine(t *testing.T, log, key, verb string) map[string]any {
	t.Helper()
	var found map[string]any
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if m["key"] == key && m["verb"] == verb {
			found = m
		}
	}
	if found == nil {
		t.Fatalf("no audit line for key %s, verb %s in:\n%s", key, verb, log)
	}
	return found
}

// A replayed request is refused; an unknown service is not found; the
// services verb lists the host's services. Accepted requests are audited
// with their actor.
func TestAcceptedReplayedAndUnknown(t *testing.T) {
	f := startAgent(t)
	alice := sign.Actor{ID: "U0ALICE", Name: "alice"}
	s := mustSign(t, f.hub, sign.Request{Host: "web-2", Verb: VerbServices, Actor: alice})
	_, rep := f.send(t, VerbServices, s)
	if rep.Error != nil || len(rep.Services) != 1 || rep.Services[0] != "whatsapp" {
		t.Fatalf("services = %+v; want [whatsapp]", rep)
	}
	if line := auditLine(t, f.audit.String(), s.Key, VerbServices); line["outcome"] != "ok" || line["actor"] != "U0ALICE" {
		t.Errorf("audit = %v; want ok by U0ALICE", line)
	}
	msg, rep := f.send(t, VerbServices, s)
	if rep.Error == nil || msg.Header.Get("Nats-Service-Error-Code") != "403" || !strings.Contains(rep.Error.Message, "replayed") {
		t.Errorf("replay = %+v; want refused, replayed", rep.Error)
	}
	s = mustSign(t, f.hub, sign.Request{Host: "web-2", Service: "nope", Verb: VerbStatus, Actor: alice})
	msg, rep = f.send(t, VerbStatus, s)
	if rep.Error == nil || rep.Error.Code != usererr.NotFound || msg.Header.Get("Nats-Service-Error-Code") != "404" ||
		!strings.Contains(rep.Error.Message, "whatsapp") {
		t.Errorf("unknown service = %+v; want not found naming the services", rep.Error)
	}
}

// TestEveryVerbCanBeSigned: the hub can sign a request for every endpoint
// (a verb the signature's canonical form refuses would reach no agent).
func TestEveryVerbCanBeSigned(t *testing.T) {
	s := newSigner(t)
	for _, verb := range Verbs() {
		if _, err := s.Sign(sign.Request{Host: "web-2", Service: "whatsapp", Verb: verb, Actor: sign.Actor{ID: "U0ALICE"}}); err != nil {
			t.Errorf("verb %q: %v", verb, err)
		}
	}
}
