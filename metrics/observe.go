package metrics

import (
	"context"
	"sync"

	"github.com/sanasend/sanasend-bot/manager"
)

// EventSource is a service whose events the metrics record;
// *manager.Service is one.
type EventSource interface {
	Name() string
	Subscribe(buffer int) (<-chan manager.Event, func())
}

var _ EventSource = (*manager.Service)(nil)

// observeBuffer is each subscription's buffer: the manager drops (and
// logs) an event that does not fit.
const observeBuffer = 64

// Observer records the events of services in the metrics.
type Observer struct {
	m    *Metrics
	subs []subscription
}

type subscription struct {
	service     string
	events      <-chan manager.Event
	unsubscribe func()
}

// Observe subscribes to the events of services at once, so none is missed
// between now and Run. Run must follow: it ends the subscriptions.
func (m *Metrics) Observe(services ...EventSource) *Observer {
	o := &Observer{m: m}
	for _, s := range services {
		events, unsubscribe := s.Subscribe(observeBuffer)
		o.subs = append(o.subs, subscription{service: s.Name(), events: events, unsubscribe: unsubscribe})
	}
	return o
}

// Run records the events, one goroutine per service, until ctx is done;
// then it ends the subscriptions and returns when the goroutines have
// ended. Call it once.
func (o *Observer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range o.subs {
		wg.Go(func() {
			defer s.unsubscribe()
			o.m.ObserveEvents(ctx, s.service, s.events)
		})
	}
	wg.Wait()
}
