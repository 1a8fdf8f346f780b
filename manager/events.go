package manager

import (
	"sync"
	"time"
)

// EventKind says what happened to a service.
type EventKind string

const (
	// EventActionBegun: start, stop or restart began.
	EventActionBegun EventKind = "action_begun"
	// EventProgress: a step of an action ("stopping", "starting", ...).
	EventProgress EventKind = "progress"
	// EventActionEnded: the action finished; OK and Detail say how.
	EventActionEnded EventKind = "action_ended"
	// EventExited: a process that this bot started exited. Intended is true
	// when the exit was caused by a stop through the bot.
	EventExited EventKind = "exited"
)

// Event is one thing that happened to a service.
type Event struct {
	Service  string
	Kind     EventKind
	At       time.Time
	Action   Action
	By       Actor
	OK       bool
	Detail   string
	PID      int32
	ExitCode int    // EventExited: -1 when killed by a signal
	Signal   string // EventExited: "killed", "terminated", ...
	Intended bool   // EventExited
	// LogOffset is the size of the service's log when a start began, so a
	// follower can read the restoration from there.
	LogOffset int64
}

// eventBus fans events out to subscribers. A slow subscriber loses events
// rather than blocking a stop or start; each loss is logged, never silent.
type eventBus struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
	// onDrop is told of every event a full subscriber could not take.
	onDrop func(Event)
}

func (b *eventBus) publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
			if b.onDrop != nil {
				b.onDrop(e)
			}
		}
	}
}

// subscribe returns a channel of events and a function that ends the
// subscription and closes the channel.
func (b *eventBus) subscribe(buffer int) (<-chan Event, func()) {
	ch := make(chan Event, buffer)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = make(map[chan Event]struct{})
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
			close(ch)
		})
	}
}
