package manager

// Actions on a service and who asked for them: Actor, Action, ActionRecord,
// BusyError, and the one-action-at-a-time slot (begin, release, end) that
// records each outcome.

import (
	"fmt"
	"time"

	"github.com/sanasend/sanasend-bot/whatsapp"
)

// Actor is whoever asked for an action: a Slack user, a console operator, or
// the bot itself (auto-restart).
type Actor struct {
	ID   string // Slack user ID, "console:<user>", or "bot"
	Name string // display name, e.g. "alice"
}

func (a Actor) String() string {
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}

// Action names what is being done to a service.
type Action string

const (
	ActionStart   Action = "start"
	ActionStop    Action = "stop"
	ActionRestart Action = "restart"
	// ActionCleanup: `sessions cleanup`, ending the browsers of idle sessions.
	ActionCleanup Action = "cleanup"
)

// ActionRecord remembers the last action done through the bot on a service.
type ActionRecord struct {
	Action   Action        `json:"action"`
	By       Actor         `json:"by"`
	At       time.Time     `json:"at"`
	Duration time.Duration `json:"duration"`
	OK       bool          `json:"ok"`
	Result   string        `json:"result"` // one line: "healthy in 2.1s", "forced after 10s"
}

// BusyError is returned when an action is requested while another one runs on
// the same service. Its message says who is doing what, since when.
type BusyError struct {
	Service string
	Action  Action
	By      Actor
	Since   time.Time
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%s is busy: %s by %s since %s", e.Service, e.Action, e.By, e.Since.Format("15:04:05"))
}

// LastAction returns the last action done through the bot, if any.
func (s *Service) LastAction() *ActionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.persisted.LastAction == nil {
		return nil
	}
	a := *s.persisted.LastAction
	return &a
}

// Busy returns the action in progress, or nil.
func (s *Service) Busy() *BusyError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy == nil {
		return nil
	}
	b := *s.busy
	return &b
}

// begin takes the service's action slot, or says who holds it.
func (s *Service) begin(a Action, by Actor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy != nil {
		b := *s.busy
		return &b
	}
	s.busy = &BusyError{Service: s.cfg.Name, Action: a, By: by, Since: s.now()}
	return nil
}

// release gives the action slot back without recording anything: the
// action was refused because the service already is as asked.
func (s *Service) release() {
	s.mu.Lock()
	s.busy = nil
	s.mu.Unlock()
}

// end releases the action slot and records the outcome. authBefore is the
// auth snapshot a start took (nil for other actions, or when the start took
// none): the EventActionEnded carries it.
func (s *Service) end(rec ActionRecord, authBefore *whatsapp.AuthSnapshot) {
	s.mu.Lock()
	s.busy = nil
	s.persisted.LastAction = &rec
	if rec.OK && rec.Action != ActionCleanup {
		s.persisted.StoppedOnPurpose = rec.Action == ActionStop
	}
	p := s.persisted
	s.mu.Unlock()
	if err := s.state.save(p); err != nil {
		s.log.Error().Err(err).Msg("save state")
	}
	s.events.publish(Event{Service: s.cfg.Name, Kind: EventActionEnded, At: s.now(), Action: rec.Action,
		By: rec.By, OK: rec.OK, Detail: rec.Result, AuthBefore: authBefore})
}

func (s *Service) progress(fn func(string), a Action, by Actor, step string) {
	s.events.publish(Event{Service: s.cfg.Name, Kind: EventProgress, At: s.now(), Action: a, By: by, Detail: step})
	if fn != nil {
		fn(step)
	}
}
