package slackbot

import (
	"errors"
	"fmt"
	"sync"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/delivery"
)

// Announcer puts the outcome notices of actions in the alerts channel's
// queue (the outbox, which never drops a message): its Announce is a
// Front's Config.Announce.
type Announcer struct {
	channel string
	queue   AlertQueue
	clock   clockwork.Clock

	mu   sync.Mutex
	last int64 // the last item's ID number: IDs never repeat in a process
}

// NewAnnouncer returns an Announcer posting to channel through queue. It
// makes no network call.
func NewAnnouncer(channel string, queue AlertQueue, clock clockwork.Clock) (*Announcer, error) {
	if channel == "" || queue == nil || clock == nil {
		return nil, errors.New("new announcer: channel, queue and clock are required")
	}
	return &Announcer{channel: channel, queue: queue, clock: clock}, nil
}

// Announce encodes m (fitted to Slack's limits, see EncodePayload) and
// enqueues it as a new post, "outcome-<unix nanoseconds>": unique across
// the bot's processes, so the outbox never takes it for one it delivered.
func (a *Announcer) Announce(m Message) error {
	payload, err := EncodePayload(m)
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	now := a.clock.Now()
	a.mu.Lock()
	id := max(now.UnixNano(), a.last+1)
	a.last = id
	a.mu.Unlock()
	if err := a.queue.Enqueue(delivery.Item{ID: fmt.Sprintf("outcome-%d", id), Channel: a.channel,
		Op: delivery.OpPost, Payload: payload, Enqueued: now}); err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	return nil
}
