package tokens

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/manager"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bucket runs an in-process NATS server and returns two connections' views
// of the tokens bucket: two hubs.
func bucket(t *testing.T, ttl time.Duration) (a, b jetstream.KeyValue) {
	t.Helper()
	e, err := fleet.NewEmbedded(fleet.EmbeddedConfig{StoreDir: filepath.Join(t.TempDir(), "nats"), Name: "tokens-test", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	kv := func() jetstream.KeyValue {
		nc, err := nats.Connect("", nats.InProcessServer(e.Server()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		kv, err := EnsureBucket(context.Background(), js, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return kv
	}
	return kv(), kv()
}

func hubStore(t *testing.T, kv jetstream.KeyValue) (*bot.ConfirmStore, *Store) {
	t.Helper()
	s, err := New(kv, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cs, err := bot.OpenConfirmStore(bot.ConfirmConfig{Tokens: s, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return cs, s
}

// shared waits until the record of a token issued on one hub can be read
// by the others (PutToken does not wait).
func shared(t *testing.T, s *Store, token string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := s.Lookup(hashOf(token)); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the token's record never reached the bucket")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hashOf is how bot.ConfirmStore names a token: SHA-256, hex.
func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

var alice = manager.Actor{ID: "U0ALICE", Name: "alice"}

// TestDoubleClickOnTwoHubsActsOnce: a prompt issued by hub A, confirmed on
// A and B at the same moment: one use wins, the other is told it was used;
// 50 times.
func TestDoubleClickOnTwoHubsActsOnce(t *testing.T) {
	kvA, kvB := bucket(t, time.Hour)
	a, sa := hubStore(t, kvA)
	b, _ := hubStore(t, kvB)
	for i := range 50 {
		p := a.Issue(bot.Command{Verb: bot.VerbRestart}, "web-2/whatsapp", alice.ID, "C0OPS")
		shared(t, sa, p.Token)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, hub := range []*bot.ConfirmStore{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[j] = hub.Take(p.Token, alice) }()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, bot.ErrTokenUsed):
				t.Fatalf("round %d: a losing click got %v; want already used", i, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d clicks acted; want exactly 1 (%v)", i, won, errs)
		}
	}
}

// TestConfirmedOnTheOtherHub: a prompt issued by A is confirmed on B (A
// died, or a load balancer sent the click there); a second click on A is
// refused; a token given back (Restore) can be used again.
func TestConfirmedOnTheOtherHub(t *testing.T) {
	kvA, kvB := bucket(t, time.Hour)
	a, sa := hubStore(t, kvA)
	b, _ := hubStore(t, kvB)
	p := a.Issue(bot.Command{Verb: bot.VerbStop}, "web-2/whatsapp", alice.ID, "C0OPS")
	shared(t, sa, p.Token)
	got, err := b.Take(p.Token, alice)
	if err != nil {
		t.Fatalf("confirm on hub B: %v", err)
	}
	if got.Service != "web-2/whatsapp" || got.Command.Verb != bot.VerbStop {
		t.Errorf("hub B took %+v", got)
	}
	if _, err := a.Take(p.Token, alice); !errors.Is(err, bot.ErrTokenUsed) {
		t.Errorf("second click on A: %v; want already used", err)
	}
	if err := b.Restore(p.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Take(p.Token, alice); err != nil {
		t.Errorf("after Restore: %v", err)
	}
	if _, err := b.Take("not-a-token", alice); !errors.Is(err, bot.ErrTokenUnknown) {
		t.Errorf("forged token: %v; want unknown", err)
	}
}
