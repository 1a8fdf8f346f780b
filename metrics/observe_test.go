package metrics

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/manager"
)

// source is an EventSource fed by the test.
type source struct {
	name   string
	events chan manager.Event

	mu           sync.Mutex
	subscribed   int
	unsubscribed int
}

func (s *source) Name() string { return s.name }

func (s *source) Subscribe(int) (<-chan manager.Event, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subscribed++
	return s.events, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.unsubscribed++
	}
}

func (s *source) counts() (subscribed, unsubscribed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscribed, s.unsubscribed
}

func TestObserve(t *testing.T) {
	tests := []struct {
		name     string
		services []string
	}{
		{"none", nil},
		{"one", []string{"whatsapp"}},
		{"two", []string{"whatsapp", "telegram"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			m := New()
			var sources []*source
			var es []EventSource
			for _, name := range tc.services {
				s := &source{name: name, events: make(chan manager.Event, 1)}
				sources, es = append(sources, s), append(es, s)
			}
			o := m.Observe(es...)
			for _, s := range sources {
				if sub, _ := s.counts(); sub != 1 {
					t.Fatalf("%s: %d subscriptions after Observe; want 1 before Run", s.name, sub)
				}
				// Sent before Run: still recorded. The event names no
				// service: the subscription's is used.
				s.events <- manager.Event{Kind: manager.EventExited}
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); o.Run(ctx) }()
			for _, s := range sources {
				waitFor(t, func() bool { return len(s.events) == 0 })
				want := fmt.Sprintf(`sanasend_service_exits_total{intended="false",service=%q} 1`, s.name)
				waitFor(t, func() bool { return contains(scrape(t, m), want) })
			}
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return when ctx was done")
			}
			for _, s := range sources {
				if sub, unsub := s.counts(); unsub != sub {
					t.Errorf("%s: %d subscriptions, %d ended; want all ended", s.name, sub, unsub)
				}
			}
		})
	}
}

func contains(text, line string) bool {
	for l := range strings.SplitSeq(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
