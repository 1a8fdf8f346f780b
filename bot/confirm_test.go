package bot

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestConfirmTokenIsSingleUseAndBound(t *testing.T) {
	clock := newFakeClock()
	s := NewConfirmStore(2*time.Minute, clock.Now)
	cmd := Command{Verb: VerbRestart}
	p := s.Issue(cmd, "whatsapp", "U0ALICE", "C1")
	if len(p.Token) != 32 {
		t.Fatalf("token %q: want 128 bits in hex", p.Token)
	}
	if other := s.Issue(cmd, "whatsapp", "U0ALICE", "C1"); other.Token == p.Token {
		t.Fatal("two tokens are equal")
	}

	if _, err := s.Take(p.Token, "U0BOB"); !errors.Is(err, ErrNotRequester) {
		t.Errorf("take by bob = %v; want ErrNotRequester", err)
	}
	got, err := s.Take(p.Token, "U0ALICE")
	if err != nil || got.Command != cmd || got.Service != "whatsapp" {
		t.Fatalf("take by alice = %+v, %v", got, err)
	}
	if _, err := s.Take(p.Token, "U0ALICE"); !errors.Is(err, ErrTokenUsed) {
		t.Errorf("second take = %v; want ErrTokenUsed", err)
	}
	if _, err := s.Take("00000000000000000000000000000000", "U0ALICE"); !errors.Is(err, ErrTokenUnknown) {
		t.Errorf("forged take = %v; want ErrTokenUnknown", err)
	}
}

func TestConfirmTokenExpires(t *testing.T) {
	clock := newFakeClock()
	s := NewConfirmStore(2*time.Minute, clock.Now)
	p := s.Issue(Command{Verb: VerbStop}, "whatsapp", "U0ALICE", "C1")
	q := s.Issue(Command{Verb: VerbStop}, "whatsapp", "U0ALICE", "C1")
	clock.Advance(2*time.Minute - time.Second)
	if _, err := s.Take(q.Token, "U0ALICE"); err != nil {
		t.Fatalf("take just before expiry: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := s.Take(p.Token, "U0ALICE"); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("take at expiry = %v; want ErrTokenExpired", err)
	}
	if _, err := s.Take(p.Token, "U0ALICE"); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("take after expiry = %v; want ErrTokenExpired again", err)
	}
}

func TestConfirmExpiredAreReportedOnce(t *testing.T) {
	clock := newFakeClock()
	s := NewConfirmStore(time.Minute, clock.Now)
	p := s.Issue(Command{Verb: VerbStop}, "whatsapp", "U0ALICE", "C1")
	if got := s.Expired(); len(got) != 0 {
		t.Fatalf("expired before time: %v", got)
	}
	clock.Advance(time.Minute)
	if got := s.Expired(); len(got) != 1 || got[0].Token != p.Token {
		t.Fatalf("expired = %v; want the one token", got)
	}
	if got := s.Expired(); len(got) != 0 {
		t.Errorf("expired twice: %v", got)
	}
}

func TestConfirmCancelThenTake(t *testing.T) {
	s := NewConfirmStore(time.Minute, nil)
	p := s.Issue(Command{Verb: VerbStop}, "whatsapp", "U0ALICE", "C1")
	if _, err := s.Cancel(p.Token, "U0BOB"); !errors.Is(err, ErrNotRequester) {
		t.Errorf("cancel by bob = %v", err)
	}
	if _, err := s.Cancel(p.Token, "U0ALICE"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(p.Token, "U0ALICE"); !errors.Is(err, ErrTokenCanceled) {
		t.Errorf("take after cancel = %v; want ErrTokenCanceled", err)
	}
}

func TestConfirmConcurrentClicksTakeOnce(t *testing.T) {
	s := NewConfirmStore(time.Minute, nil)
	p := s.Issue(Command{Verb: VerbRestart}, "whatsapp", "U0ALICE", "C1")
	var ok atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := s.Take(p.Token, "U0ALICE"); err == nil {
				ok.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d of 50 concurrent clicks succeeded; want exactly 1", ok.Load())
	}
}
