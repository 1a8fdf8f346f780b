package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
)

func TestOutboxServe(t *testing.T) {
	tests := []struct {
		name        string
		slackDown   bool // every post fails while Serve runs
		wantPending int  // after Serve returned, in the next process
	}{
		{"delivered", false, 0},
		{"kept for the next process", true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newOutboxEnv(t)
			if tc.slackDown {
				env.fake.FailNext("chat.postMessage", fakeslack.Answer{Status: 500})
			}
			o := env.open(t, env.sender(t, nil))
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- o.Serve(ctx) }()
			outboxEnqueue(t, o, post("incident-1", "C0OPS", "whatsapp is down"))
			if tc.slackDown {
				env.fake.WaitCalls(t, "chat.postMessage", 1, outboxWait)
				env.blockUntil(t, 1) // waiting to retry
			} else {
				outboxFlush(t, o)
			}
			cancel()
			select {
			case err := <-served:
				if err != nil {
					t.Fatalf("Serve() = %v; want nil", err)
				}
			case <-time.After(outboxWait):
				t.Fatalf("Serve did not return within %v of its context's end", outboxWait)
			}
			if err := o.Enqueue(post("incident-2", "C0OPS", "late")); err == nil {
				t.Error("Enqueue after Serve returned succeeded; want an error (journal closed)")
			}
			next, err := delivery.Open(env.cfg, env.sender(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer next.Close()
			if got := next.Pending(); got != tc.wantPending {
				t.Errorf("Pending() in the next process = %d; want %d", got, tc.wantPending)
			}
		})
	}
}
