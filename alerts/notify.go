package alerts

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// TokenIssuer issues the confirmation token behind an alert's Restart
// button: bound to the alert, usable once by any staff member.
type TokenIssuer interface {
	AlertToken(alertID, service string) string
}

// LogTail returns the last error lines of a service's log for an alert.
type LogTail func(service string) []string

// SlackNotifier puts notices in the outbox for the alerts channel: a new
// alert is a message with buttons; an update, reminder or resolution is a
// reply in its thread plus an edit of the alert to show the current state.
type SlackNotifier struct {
	Outbox  *Outbox
	Channel string
	Tokens  TokenIssuer // nil: no Restart button
	Tail    LogTail     // nil: no error lines
	Clock   clockwork.Clock

	mu     sync.Mutex
	tokens map[string]string // alert ID -> its restart token
}

var _ Notifier = (*SlackNotifier)(nil)

// Notify enqueues the messages of one notice.
func (s *SlackNotifier) Notify(n Notice) error {
	now := s.Clock.Now()
	switch {
	case n.Incident != nil && n.Op == OpPost && n.Kind == DecisionOpen:
		token := s.token(n.ID, n.Service)
		var tail []string
		if s.Tail != nil {
			tail = s.Tail(n.Service)
		}
		return s.Outbox.Enqueue(Item{ID: n.ID, Channel: s.Channel, Op: OpPost, Text: AlertText(*n.Incident, now),
			Blocks: marshalBlocks(AlertBlocks(*n.Incident, now, token, tail)), Enqueued: now})
	case n.Incident != nil && n.Op == OpReply:
		if err := s.Outbox.Enqueue(Item{ID: n.ID, Channel: s.Channel, Op: OpReply, Ref: n.Ref,
			Text: escape(n.Text), Enqueued: now}); err != nil {
			return err
		}
		token := s.token(n.Ref, n.Service)
		return s.Outbox.Enqueue(Item{ID: n.ID + "-edit", Channel: s.Channel, Op: OpUpdate, Ref: n.Ref,
			Text: AlertText(*n.Incident, now), Blocks: marshalBlocks(AlertBlocks(*n.Incident, now, token, nil)), Enqueued: now})
	default:
		return s.Outbox.Enqueue(Item{ID: n.ID, Channel: s.Channel, Op: OpPost, Text: escape(n.Text), Enqueued: now})
	}
}

func (s *SlackNotifier) token(alertID, service string) string {
	if s.Tokens == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens = make(map[string]string)
	}
	if t, ok := s.tokens[alertID]; ok {
		return t
	}
	t := s.Tokens.AlertToken(alertID, service)
	s.tokens[alertID] = t
	return t
}

// ConsoleNotifier prints notices inline in the console, as they happen.
type ConsoleNotifier struct {
	mu    sync.Mutex
	Out   io.Writer
	Clock clockwork.Clock
}

var _ Notifier = (*ConsoleNotifier)(nil)

// Notify prints one notice.
func (c *ConsoleNotifier) Notify(n Notice) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Clock.Now()
	text := n.Text
	if n.Incident != nil && (n.Kind == DecisionOpen || text == "") {
		text = AlertText(*n.Incident, now)
	}
	_, err := fmt.Fprintf(c.Out, "\n[%s] ALERT %s\n", now.Format(time.TimeOnly), text)
	return err
}
