package slackbot

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/delivery"
)

// queue is an AlertQueue that keeps what it is given, or fails with err.
type queue struct {
	items []delivery.Item
	err   error
}

func (q *queue) Enqueue(it delivery.Item) error {
	if q.err != nil {
		return q.err
	}
	q.items = append(q.items, it)
	return nil
}

func TestNewAnnouncer(t *testing.T) {
	tests := []struct {
		name    string
		channel string
		queue   AlertQueue
		clock   clockwork.Clock
		wantErr bool
	}{
		{"valid", "C0ALERTS", &queue{}, clockwork.NewFakeClock(), false},
		{"no channel", "", &queue{}, clockwork.NewFakeClock(), true},
		{"no queue", "C0ALERTS", nil, clockwork.NewFakeClock(), true},
		{"no clock", "C0ALERTS", &queue{}, nil, true},
	}
	for _, tc := range tests {
		if _, err := NewAnnouncer(tc.channel, tc.queue, tc.clock); (err != nil) != tc.wantErr {
			t.Errorf("%s: NewAnnouncer() error = %v; want error = %v", tc.name, err, tc.wantErr)
		}
	}
}

func TestAnnounce(t *testing.T) {
	at := time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		text    string
		queue   *queue
		wantErr bool
	}{
		{"posted", "restart whatsapp by <@U0ALICE>", &queue{}, false},
		{"escaped", "a <!channel> & b", &queue{}, false},
		{"queue fails", "x", &queue{err: errors.New("outbox closed")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAnnouncer("C0ALERTS", tc.queue, clockwork.NewFakeClockAt(at))
			if err != nil {
				t.Fatal(err)
			}
			// Twice at the same instant: two items, two IDs.
			for range 2 {
				err = a.Announce(blocksShort(blocksEscape(tc.text), true))
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("Announce() error = %v; want error = %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if got := len(tc.queue.items); got != 2 {
				t.Fatalf("%d items enqueued; want 2", got)
			}
			first, second := tc.queue.items[0], tc.queue.items[1]
			if !strings.HasPrefix(first.ID, "outcome-") || first.ID == second.ID {
				t.Errorf("IDs %q, %q; want two distinct outcome-<n>", first.ID, second.ID)
			}
			if first.Channel != "C0ALERTS" || first.Op != delivery.OpPost || !first.Enqueued.Equal(at) {
				t.Errorf("item = %+v; want a post to C0ALERTS enqueued at %v", first, at)
			}
			var p Payload
			if err := json.Unmarshal(first.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if want := blocksEscape(tc.text); !strings.Contains(p.Text, want) {
				t.Errorf("payload text = %q; want it to hold %q", p.Text, want)
			}
		})
	}
}
