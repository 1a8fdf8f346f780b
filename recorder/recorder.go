// Package recorder keeps the history of the services: it turns the facts of
// the monitor (health checks, alert notices, restoration summaries) and of
// the manager (actions) into history records, and keeps the durable state of
// the monitor (AlertState) and of the confirmation store (Tokens) in the
// history's state table (state.go). It sits between the packages that
// produce facts and package history, which knows none of them; it never
// blocks them (history's Record and state methods only queue).
package recorder

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Store is what the recorder writes to; *history.Store implements it.
type Store interface {
	RecordCheck(history.Check)
	RecordIncidentOpened(history.IncidentOpened)
	RecordIncidentAcknowledged(id, who string, at time.Time)
	RecordIncidentResolved(id, who string, at time.Time)
	RecordAction(history.Action)
	RecordRestoration(history.Restoration)
}

var _ Store = (*history.Store)(nil)

// Recorder records facts in a Store. It is the monitor's CheckRecorder
// (each check's state, maintenance included) and wraps its services to
// learn each check's response time.
type Recorder struct {
	store Store
	clock clockwork.Clock

	mu      sync.Mutex
	latency map[string]time.Duration // service -> its last health check's
}

var _ alerts.CheckRecorder = (*Recorder)(nil)

// New returns a recorder writing to store; clock nil means the real clock.
func New(store Store, clock clockwork.Clock) (*Recorder, error) {
	if store == nil {
		return nil, errors.New("new recorder: no store")
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &Recorder{store: store, clock: clock, latency: make(map[string]time.Duration)}, nil
}

// WatchService returns s, noting the response time of every health check
// asked through it; a nil Recorder returns s as is.
func (r *Recorder) WatchService(s alerts.Service) alerts.Service {
	if r == nil {
		return s
	}
	return watched{Service: s, r: r}
}

type watched struct {
	alerts.Service
	r *Recorder
}

func (w watched) Health(ctx context.Context) manager.Health {
	h := w.Service.Health(ctx)
	w.r.mu.Lock()
	w.r.latency[w.Name()] = h.Latency
	w.r.mu.Unlock()
	return h
}

// RecordCheck records one check as the monitor judged it: its state
// (memory limits included) and whether a maintenance window was in force.
func (r *Recorder) RecordCheck(c alerts.CheckResult) {
	st := history.Unhealthy
	switch c.State {
	case manager.StateHealthy:
		st = history.Healthy
	case manager.StateStopped:
		st = history.Stopped
	}
	r.mu.Lock()
	lat := r.latency[c.Service]
	r.mu.Unlock()
	at := c.At
	if at.IsZero() {
		at = r.clock.Now()
	}
	r.store.RecordCheck(history.Check{Service: c.Service, At: at, State: st, Latency: lat, Maintenance: c.Maintenance})
}

// Notifier returns next recording the notices it accepts: incidents opened,
// acknowledged and resolved, and restoration summaries. A nil Recorder
// returns next as is.
func (r *Recorder) Notifier(next alerts.Notifier) alerts.Notifier {
	if r == nil {
		return next
	}
	return alerts.Observed(next, r.Notice)
}

// Notice records what a notice says about the history.
func (r *Recorder) Notice(no alerts.Notice) {
	at := no.Event.At
	if at.IsZero() {
		at = r.clock.Now()
	}
	if inc := no.Incident; inc != nil {
		id := no.Ref
		if no.Kind == alerts.DecisionOpen {
			id = no.ID
			r.store.RecordIncidentOpened(history.IncidentOpened{ID: id, Service: no.Service, FailedAt: inc.Since,
				OpenedAt: at, Cause: bot.AlertCause(inc.Exit, inc.Reason)})
		}
		if id != "" && inc.Acked != nil && no.Event.What == alerts.EventAcked {
			r.store.RecordIncidentAcknowledged(id, inc.Acked.By.String(), inc.Acked.At)
		}
		if id != "" && no.Kind == alerts.DecisionResolve {
			who := "bot"
			if inc.ResolvedBy != nil {
				who = inc.ResolvedBy.String()
			}
			r.store.RecordIncidentResolved(id, who, at)
		}
	}
	if s := no.Restoration; s != nil {
		r.store.RecordRestoration(restoration(no.Service, at, *s))
	}
}

// restoration is a summary as history keeps it: counts and each session's
// state, with its cause kind for the failed ones.
func restoration(service string, at time.Time, s alerts.RestorationSummary) history.Restoration {
	rs := s.Result.Restoration
	h := history.Restoration{Service: service, At: at, Found: rs.Found, Restored: len(rs.RestoredSessions()), Failed: len(rs.FailedSessions())}
	for _, v := range s.Sessions.Sessions {
		if v.State == whatsapp.SessionUnlisted || v.State == whatsapp.SessionUnknown {
			continue
		}
		h.Sessions = append(h.Sessions, history.SessionOutcome{Session: v.ID, Outcome: string(v.State), Detail: string(v.CauseKind)})
	}
	return h
}

// Actions records the actions of a service from its events until they end
// (the channel closes or ctx is done).
func (r *Recorder) Actions(ctx context.Context, events <-chan manager.Event) {
	began := make(map[string]time.Time) // service -> when its action began
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			switch e.Kind {
			case manager.EventActionBegun:
				began[e.Service] = e.At
			case manager.EventActionEnded:
				var d time.Duration
				if b, ok := began[e.Service]; ok {
					d = e.At.Sub(b)
					delete(began, e.Service)
				}
				outcome := "ok"
				if !e.OK {
					outcome = "failed"
				}
				r.store.RecordAction(history.Action{Service: e.Service, At: e.At, Who: e.By.String(), What: string(e.Action),
					Outcome: outcome, Duration: d})
			}
		}
	}
}
