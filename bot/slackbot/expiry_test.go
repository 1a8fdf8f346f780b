package slackbot

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
)

// listed reports every call of Expired, after it returned.
type listed struct {
	ExpiredLister
	calls chan int
}

func (l listed) Expired() []bot.Pending {
	p := l.ExpiredLister.Expired()
	select {
	case l.calls <- len(p):
	default:
	}
	return p
}

func TestRunExpiry(t *testing.T) {
	tests := []struct {
		name       string
		wait       time.Duration // after the prompt, before the tick
		wantClosed bool
	}{
		{"not expired yet", 30 * time.Second, false},
		{"expired", 2 * time.Minute, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFrontFixture(t)
			clock, confirms := f.onFakeClock(t)
			url := f.command(t, "U0ALICE", "restart")
			f.fake.WaitResponseURLPosts(t, url, 1, 5*time.Second)

			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			ctx, cancel := context.WithCancel(context.Background())
			lister := listed{ExpiredLister: confirms, calls: make(chan int, 16)}
			done := make(chan struct{})
			go func() { defer close(done); f.front.RunExpiry(ctx, lister, clock) }()
			if err := clock.BlockUntilContext(ctx, 1); err != nil {
				t.Fatal(err)
			}
			clock.Advance(tc.wait)
			if n := <-lister.calls; n != 0 != tc.wantClosed {
				t.Errorf("%d confirmations expired after %v; want closed = %v", n, tc.wait, tc.wantClosed)
			}
			if tc.wantClosed {
				closed := f.fake.WaitResponseURLPosts(t, url, 2, 5*time.Second)[1]
				if closed["replace_original"] != true || strings.Contains(postText(closed), ActionConfirm) {
					t.Errorf("expired prompt replaced by %s; want a message without buttons", postText(closed))
				}
			}
			cancel()
			<-done
			f.front.Wait()
			if posts := f.fake.ResponseURLPosts(url); !tc.wantClosed && len(posts) != 1 {
				t.Errorf("after %v: %d posts to the prompt's URL; want the prompt alone", tc.wait, len(posts))
			}
		})
	}
}

// onFakeClock gives the fixture's front end a router whose confirmations
// (one minute to live) run on a fake clock, anyone allowed.
func (f *frontFixture) onFakeClock(t *testing.T) (*clockwork.FakeClock, *bot.ConfirmStore) {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Now())
	confirms, err := bot.NewConfirmStore(bot.ConfirmConfig{TTL: time.Minute, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	router, err := bot.NewRouter(bot.RouterConfig{Services: directory{fakeservice.Directory{f.svc}},
		Auth: allowAll{}, Confirms: confirms, Audit: zerolog.Nop(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.front.router = router
	return clock, confirms
}
