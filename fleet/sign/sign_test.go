package sign

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/nats-io/nkeys"
)

func newSeed(t testing.TB, create func() (nkeys.KeyPair, error)) ([]byte, string) {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return seed, pub
}

var base = Request{Host: "web-2", Service: "whatsapp", Verb: "restart", Args: []string{"--why", "stuck"},
	Actor: Actor{ID: "U0ALICE", Name: "alice"}}

func TestVerify(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 5, 14, 2, 0, 0, time.UTC))
	hubSeed, hubPub := newSeed(t, nkeys.CreateUser)
	otherSeed, _ := newSeed(t, nkeys.CreateUser)
	hub, err := NewSigner(hubSeed, clock)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSigner(otherSeed, clock)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(s *Signer, r Request) Signed {
		t.Helper()
		out, err := s.Sign(r)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name   string
		forge  func() Signed
		before func() // runs after forge, before Verify
		want   Reason // "" = accepted
	}{
		{"good", func() Signed { return sign(hub, base) }, nil, ""},
		{"good without service or args", func() Signed { return sign(hub, Request{Host: "web-2", Verb: "status"}) }, nil, ""},
		{"another hub's key", func() Signed { return sign(other, base) }, nil, Untrusted},
		{"our key claimed, another's signature", func() Signed {
			s := sign(other, base)
			s.Key = hubPub
			return s
		}, nil, BadSignature},
		{"an argument changed", func() Signed {
			s := sign(hub, base)
			s.Args = []string{"--why", "stucK"}
			return s
		}, nil, BadSignature},
		{"the verb changed", func() Signed {
			s := sign(hub, Request{Host: "web-2", Service: "whatsapp", Verb: "status"})
			s.Verb = "stop"
			return s
		}, nil, BadSignature},
		{"the actor changed", func() Signed {
			s := sign(hub, base)
			s.Actor.ID = "U0MALLORY"
			return s
		}, nil, BadSignature},
		{"truncated signature", func() Signed {
			s := sign(hub, base)
			s.Sig = s.Sig[:len(s.Sig)-4]
			return s
		}, nil, BadSignature},
		{"signature not base64", func() Signed {
			s := sign(hub, base)
			s.Sig = "!!" + s.Sig
			return s
		}, nil, BadSignature},
		{"another host", func() Signed {
			r := base
			r.Host = "web-1"
			return sign(hub, r)
		}, nil, WrongHost},
		{"too old", func() Signed { return sign(hub, base) }, func() { clock.Advance(31 * time.Second) }, Stale},
		{"from the future", func() Signed {
			s := sign(hub, base)
			clock.Advance(-31 * time.Second) // the fake clock moves back: the agent's clock is behind
			return s
		}, nil, Stale},
		{"no nonce", func() Signed {
			s := sign(hub, base)
			s.Nonce = ""
			return s
		}, nil, Malformed},
		{"verb not a word", func() Signed {
			s := sign(hub, base)
			s.Verb = "rm -rf"
			return s
		}, nil, Malformed},
		{"too many args", func() Signed {
			s := sign(hub, base)
			s.Args = make([]string, MaxArgs+1)
			return s
		}, nil, Malformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock = clockwork.NewFakeClockAt(time.Date(2026, 12, 5, 14, 2, 0, 0, time.UTC))
			hub.clock, other.clock = clock, clock
			v, err := NewVerifier(VerifierConfig{Trusted: []string{hubPub}, Host: "web-2", Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			s := tc.forge()
			if tc.before != nil {
				tc.before()
			}
			got, err := v.Verify(s)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v; want accepted", err)
				}
				if got.Verb != s.Verb || got.Nonce != s.Nonce || !got.At.Equal(s.At) {
					t.Errorf("Verify returned %+v; want %+v", got, s.Request)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Reason != tc.want {
				t.Fatalf("Verify: %v; want reason %s", err, tc.want)
			}
			if strings.Contains(e.Error(), s.Sig) && s.Sig != "" {
				t.Errorf("the error holds the signature: %q", e.Error())
			}
		})
	}
}

func TestReplayRefusedThenForgotten(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 5, 14, 2, 0, 0, time.UTC))
	seed, pub := newSeed(t, nkeys.CreateUser)
	s, _ := NewSigner(seed, clock)
	v, err := NewVerifier(VerifierConfig{Trusted: []string{pub}, Host: "web-2", MaxSkew: 10 * time.Second, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := s.Sign(base)
	if _, err := v.Verify(req); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := v.Verify(req); !errors.As(err, &e) || e.Reason != Replayed {
		t.Fatalf("second Verify: %v; want replayed", err)
	}
	// Within the skew a replay is refused; past it the request is stale,
	// and its nonce is no longer kept.
	clock.Advance(11 * time.Second)
	if _, err := v.Verify(req); !errors.As(err, &e) || e.Reason != Stale {
		t.Fatalf("Verify 11 s later: %v; want stale", err)
	}
	// Many requests over a long time: the cache holds those of the last
	// 2×MaxSkew only.
	for i := 0; i < 3000; i++ {
		r, _ := s.Sign(base)
		if _, err := v.Verify(r); err != nil {
			t.Fatal(err)
		}
		clock.Advance(100 * time.Millisecond)
	}
	if n := v.remembered(); n > 201 {
		t.Errorf("the verifier remembers %d nonces after 3000 requests 100 ms apart; want at most 2×MaxSkew's 200", n)
	}
}

func TestNewSignerAndVerifierRefuseBadKeys(t *testing.T) {
	userSeed, userPub := newSeed(t, nkeys.CreateUser)
	_, serverPub := newSeed(t, nkeys.CreateServer)
	serverSeed, _ := newSeed(t, nkeys.CreateServer)
	accountSeed, accountPub := newSeed(t, nkeys.CreateAccount)
	if _, err := NewSigner(userSeed, nil); err != nil {
		t.Errorf("user seed: %v", err)
	}
	if _, err := NewSigner(accountSeed, nil); err != nil {
		t.Errorf("account seed: %v", err)
	}
	for name, seed := range map[string][]byte{"server seed": serverSeed, "public key": []byte(userPub), "junk": []byte("SUjunk")} {
		_, err := NewSigner(seed, nil)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), string(seed)) {
			t.Errorf("%s: the error holds the seed: %v", name, err)
		}
	}
	for name, cfg := range map[string]VerifierConfig{
		"no host":       {Trusted: []string{userPub}},
		"no key":        {Host: "web-2"},
		"server key":    {Host: "web-2", Trusted: []string{serverPub}},
		"a seed":        {Host: "web-2", Trusted: []string{string(userSeed)}},
		"negative skew": {Host: "web-2", Trusted: []string{userPub}, MaxSkew: -time.Second},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewVerifier(VerifierConfig{Host: "web-2", Trusted: []string{userPub, accountPub}}); err != nil {
		t.Errorf("user and account keys: %v", err)
	}
}

// TestCanonicalIsStable pins the signed bytes: hubs and agents of other
// versions must agree on them.
func TestCanonicalIsStable(t *testing.T) {
	r := base
	r.At = time.Date(2026, 12, 5, 14, 2, 0, 5, time.FixedZone("x", 3600))
	r.Nonce = strings.Repeat("ab", 16)
	want := `{"v":"sanasend-sign-1","host":"web-2","service":"whatsapp","verb":"restart","args":["--why","stuck"],"actor_id":"U0ALICE","actor":"alice","at":"2026-12-05T13:02:00.000000005Z","nonce":"abababababababababababababababab"}`
	if got := string(Canonical(r)); got != want {
		t.Errorf("Canonical =\n%s\nwant\n%s", got, want)
	}
	r.Args = nil
	if got := string(Canonical(r)); !strings.Contains(got, `"args":[]`) {
		t.Errorf("nil args: %s; want [] (nil and empty sign alike)", got)
	}
}

func BenchmarkSign(b *testing.B) {
	seed, _ := newSeed(b, nkeys.CreateUser)
	s, _ := NewSigner(seed, nil)
	for b.Loop() {
		if _, err := s.Sign(base); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	seed, pub := newSeed(b, nkeys.CreateUser)
	s, _ := NewSigner(seed, nil)
	v, _ := NewVerifier(VerifierConfig{Trusted: []string{pub}, Host: "web-2"})
	reqs := make([]Signed, b.N)
	for i := range reqs {
		reqs[i], _ = s.Sign(base)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
}
