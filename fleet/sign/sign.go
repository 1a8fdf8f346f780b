// Package sign signs the hub's requests to agents and verifies them on the
// agent, so that a client on the NATS network that is not a hub cannot
// restart a service: each request carries the hub's nkey (ed25519) public
// key and its signature over the request's canonical bytes; an agent acts
// only on a request signed by a key it trusts, addressed to its own host,
// recent, and not seen before.
package sign

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/nats-io/nkeys"
)

// Actor is who asked, as the hub authenticated them (manager.Actor's
// fields).
type Actor struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Request is what the hub asks an agent to do. Sign fills At and Nonce.
type Request struct {
	Host    string    `json:"host"`              // the agent's host it is addressed to
	Service string    `json:"service,omitempty"` // "" for verbs about the host
	Verb    string    `json:"verb"`
	Args    []string  `json:"args,omitempty"`
	Actor   Actor     `json:"actor"`
	At      time.Time `json:"at"`
	Nonce   string    `json:"nonce"` // 16 random bytes, hex: unique per request
}

// Signed is a request with the hub's public key and signature, as it goes
// over the wire (JSON).
type Signed struct {
	Request
	Key string `json:"key"` // the hub's public key ("U..." or "A...")
	Sig string `json:"sig"` // base64url (no padding) signature of Canonical(Request)
}

// canonicalV1 is the signed form of a Request: a fixed struct, so that its
// JSON has a fixed field order, with At in RFC 3339 UTC with nanoseconds.
// Version tags it: a later version that adds a field signs a new tag, and a
// verifier that does not know the tag refuses it (malformed), so a field
// added later can never change what an older signature covers.
type canonicalV1 struct {
	Version string   `json:"v"`
	Host    string   `json:"host"`
	Service string   `json:"service"`
	Verb    string   `json:"verb"`
	Args    []string `json:"args"`
	ActorID string   `json:"actor_id"`
	Actor   string   `json:"actor"`
	At      string   `json:"at"`
	Nonce   string   `json:"nonce"`
}

const version1 = "sanasend-sign-1"

// Canonical returns the bytes a signature covers.
func Canonical(r Request) []byte {
	args := r.Args
	if args == nil {
		args = []string{}
	}
	b, err := json.Marshal(canonicalV1{
		Version: version1, Host: r.Host, Service: r.Service, Verb: r.Verb, Args: args,
		ActorID: r.Actor.ID, Actor: r.Actor.Name, At: r.At.UTC().Format(time.RFC3339Nano), Nonce: r.Nonce,
	})
	if err != nil { // strings only: cannot fail
		panic(fmt.Sprintf("sign: canonical form: %v", err))
	}
	return b
}

var (
	verbRE  = regexp.MustCompile(`^[a-z]{1,32}$`)
	nonceRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// MaxArgs and MaxArgLen bound a request's arguments.
const (
	MaxArgs   = 16
	MaxArgLen = 256
)

func checkShape(r Request) error {
	switch {
	case r.Host == "":
		return errors.New("no host")
	case !verbRE.MatchString(r.Verb):
		return fmt.Errorf("verb %q is not 1 to 32 lowercase letters", r.Verb)
	case len(r.Args) > MaxArgs:
		return fmt.Errorf("%d arguments, at most %d", len(r.Args), MaxArgs)
	case len(r.Service) > MaxArgLen || len(r.Actor.ID) > MaxArgLen || len(r.Actor.Name) > MaxArgLen:
		return errors.New("a field is too long")
	}
	for _, a := range r.Args {
		if len(a) > MaxArgLen {
			return fmt.Errorf("an argument is longer than %d bytes", MaxArgLen)
		}
	}
	return nil
}

// Signer signs requests with a hub's seed.
type Signer struct {
	kp    nkeys.KeyPair
	pub   string
	clock clockwork.Clock
}

// NewSigner takes an nkey seed (a user's "SU..." or an account's "SA...")
// and the clock that stamps requests (nil: the real clock). It does no
// I/O. Its errors never contain the seed.
func NewSigner(seed []byte, clock clockwork.Clock) (*Signer, error) {
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, errors.New("sign: the hub's key is not an nkey seed")
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, errors.New("sign: the hub's key has no public key")
	}
	if !nkeys.IsValidPublicUserKey(pub) && !nkeys.IsValidPublicAccountKey(pub) {
		return nil, errors.New("sign: the hub's key must be a user or an account nkey seed")
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &Signer{kp: kp, pub: pub, clock: clock}, nil
}

// PublicKey is the key agents must trust.
func (s *Signer) PublicKey() string { return s.pub }

// Sign stamps r with the time and a fresh nonce and signs it.
func (s *Signer) Sign(r Request) (Signed, error) {
	if err := checkShape(r); err != nil {
		return Signed{}, fmt.Errorf("sign request: %w", err)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return Signed{}, fmt.Errorf("sign request: nonce: %w", err)
	}
	r.At = s.clock.Now().UTC()
	r.Nonce = hex.EncodeToString(nonce[:])
	sig, err := s.kp.Sign(Canonical(r))
	if err != nil {
		return Signed{}, fmt.Errorf("sign request: %w", err)
	}
	return Signed{Request: r, Key: s.pub, Sig: base64.RawURLEncoding.EncodeToString(sig)}, nil
}

// Reason says why a request was refused.
type Reason string

const (
	Untrusted    Reason = "untrusted"     // signed by a key this agent does not trust
	BadSignature Reason = "bad_signature" // the signature does not match the request
	WrongHost    Reason = "wrong_host"    // addressed to another host
	Stale        Reason = "stale"         // signed too long ago, or in the future
	Replayed     Reason = "replayed"      // its nonce was seen already
	Malformed    Reason = "malformed"     // not a request at all
)

// Error is a refused request. Its message is safe to show and to audit: it
// never holds the signature or a seed.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "request refused: " + string(e.Reason)
	}
	return "request refused: " + string(e.Reason) + ": " + e.Detail
}

// VerifierConfig says what an agent accepts.
type VerifierConfig struct {
	// Trusted are the public keys of the hubs ("U..." or "A...").
	Trusted []string
	// Host is this agent's host name: requests for another are refused.
	Host string
	// MaxSkew is how far At may be from the agent's clock; 0 means 30 s.
	MaxSkew time.Duration
	Clock   clockwork.Clock
}

// Verifier checks the hub's requests on an agent. It remembers the nonces
// of the requests it accepted for 2×MaxSkew (a request older than MaxSkew
// is refused as stale anyway), so its memory is bounded by the requests
// of that window.
type Verifier struct {
	cfg     VerifierConfig
	trusted map[string]nkeys.KeyPair

	mu    sync.Mutex
	seen  map[string]time.Time // nonce -> when it may be forgotten
	order []seenNonce          // by forget time, oldest first
}

type seenNonce struct {
	nonce  string
	forget time.Time
}

// NewVerifier validates cfg; it does no I/O.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Host == "" {
		return nil, errors.New("sign: verifier without a host")
	}
	if len(cfg.Trusted) == 0 {
		return nil, errors.New("sign: verifier trusts no key")
	}
	if cfg.MaxSkew < 0 {
		return nil, errors.New("sign: negative max skew")
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = 30 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	v := &Verifier{cfg: cfg, trusted: map[string]nkeys.KeyPair{}, seen: map[string]time.Time{}}
	for _, k := range cfg.Trusted {
		if !nkeys.IsValidPublicUserKey(k) && !nkeys.IsValidPublicAccountKey(k) {
			return nil, fmt.Errorf("sign: trusted key %q is not a user or account public key", k)
		}
		kp, err := nkeys.FromPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("sign: trusted key %q: %w", k, err)
		}
		v.trusted[k] = kp
	}
	return v, nil
}

// Verify returns the request if s is a request for this host, signed by a
// trusted key, recent and new; else an *Error.
func (v *Verifier) Verify(s Signed) (Request, error) {
	r := s.Request
	if err := checkShape(r); err != nil {
		return Request{}, &Error{Reason: Malformed, Detail: err.Error()}
	}
	if !nonceRE.MatchString(r.Nonce) {
		return Request{}, &Error{Reason: Malformed, Detail: "no valid nonce"}
	}
	kp, ok := v.trusted[s.Key]
	if !ok {
		return Request{}, &Error{Reason: Untrusted, Detail: "signed by a key this agent does not trust"}
	}
	sig, err := base64.RawURLEncoding.DecodeString(s.Sig)
	if err != nil || kp.Verify(Canonical(r), sig) != nil {
		return Request{}, &Error{Reason: BadSignature, Detail: "the signature does not match the request"}
	}
	if r.Host != v.cfg.Host {
		return Request{}, &Error{Reason: WrongHost, Detail: "addressed to another host"}
	}
	now := v.cfg.Clock.Now()
	if d := now.Sub(r.At); d > v.cfg.MaxSkew || d < -v.cfg.MaxSkew {
		return Request{}, &Error{Reason: Stale, Detail: fmt.Sprintf("signed %s from this agent's clock, more than %s", d.Round(time.Millisecond), v.cfg.MaxSkew)}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.forget(now)
	if _, dup := v.seen[r.Nonce]; dup {
		return Request{}, &Error{Reason: Replayed, Detail: "this request was received before"}
	}
	forget := now.Add(2 * v.cfg.MaxSkew)
	v.seen[r.Nonce] = forget
	v.order = append(v.order, seenNonce{r.Nonce, forget})
	return r, nil
}

// forget drops the nonces whose window has passed. v.mu is held.
func (v *Verifier) forget(now time.Time) {
	i := 0
	for i < len(v.order) && !v.order[i].forget.After(now) {
		delete(v.seen, v.order[i].nonce)
		i++
	}
	if i > 0 {
		v.order = append(v.order[:0], v.order[i:]...)
	}
}

// remembered is how many nonces the verifier holds (tests).
func (v *Verifier) remembered() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.seen)
}
