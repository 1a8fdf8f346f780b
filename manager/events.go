package manager

// Events a Service publishes (Event, EventKind, Exit) and the bus that
// delivers them to subscribers.

import (
	"sync"
	"time"

	"github.com/sanasend/sanasend-bot/whatsapp"
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
	// EventExited: the service stopped running: the process its start
	// command ran as (npm) and the rest of that process group (sh, node) are
	// gone, whether this bot process started it or adopted it. Intended is
	// true when a stop or restart through the bot caused it. At is the
	// moment of the exit (within a second), so outages are measured from
	// it. Exit says how the root ended, when the bot could see it.
	EventExited EventKind = "exited"
	// EventRootExited: the process the start command ran as (npm) exited
	// but the rest of its process group (node, still serving) runs on. The
	// service still runs: this is not an outage, and Status reports
	// RootGone. EventExited follows when the rest goes.
	EventRootExited EventKind = "root_exited"
)

// Exit is how a process ended, as facts for the wording layer.
type Exit struct {
	// Known is false when the bot could not see the exit status: the
	// process was not its child (an adopted service, or node after npm was
	// gone), so only its parent could read it.
	Known bool
	// Code is the exit code; -1 when a signal killed the process.
	Code int
	// Signal is the signal that killed the process ("SIGKILL"), or "".
	Signal string
	// ChildSignal is set when Code is 128+N: npm and sh report so that the
	// child they ran (node) was killed by signal N ("SIGKILL" for 137).
	ChildSignal string
}

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
	ExitCode int    // EventExited: -1 when killed by a signal or unknown
	Signal   string // EventExited: "SIGKILL", "SIGTERM", ...
	Intended bool   // EventExited
	// RestartedBy is set on an EventExited that is part of a restart
	// outside the bot by the service's controller ("systemd", "pm2"): it
	// was already starting the service again when the main process
	// exited (systemctl restart, Restart=on-failure, PM2's restart).
	RestartedBy ControllerKind
	// Exit is how the root (npm) ended: EventExited, EventRootExited.
	Exit Exit
	// LogOffset is the size of the service's log when a start began, so a
	// follower can read the restoration from there.
	LogOffset int64
	// AuthBefore is the auth snapshot taken right before a start
	// (EventActionEnded of a start or restart), nil otherwise.
	AuthBefore *whatsapp.AuthSnapshot
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
