package alerts

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/sanasend/sanasend-bot/bot/slackbot"
	"github.com/sanasend/sanasend-bot/delivery"
)

// TokenIssuer issues the confirmation token behind an alert's Restart
// button: bound to the alert, usable once by any staff member.
type TokenIssuer interface {
	AlertToken(service string) string
}

// LogTail returns the last error lines of a service's log for an alert.
type LogTail func(service string) []string

// SlackNotifier puts notices in the outbox for the alerts channel: a new
// alert is a message with buttons; an update, reminder or resolution is a
// reply in its thread plus an edit of the alert to show the current state.
type SlackNotifier struct {
	Outbox  *delivery.Outbox
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
		return s.enqueue(n.ID, delivery.OpPost, "", slackbot.Message{Text: AlertText(*n.Incident, now),
			Blocks: AlertBlocks(*n.Incident, now, token, tail)}, now)
	case n.Incident != nil && n.Op == OpReply:
		if err := s.enqueue(n.ID, delivery.OpReply, n.Ref, slackbot.Message{Text: escape(n.Text)}, now); err != nil {
			return err
		}
		token := s.token(n.Ref, n.Service)
		return s.enqueue(n.ID+"-edit", delivery.OpUpdate, n.Ref, slackbot.Message{Text: AlertText(*n.Incident, now),
			Blocks: AlertBlocks(*n.Incident, now, token, nil)}, now)
	default:
		return s.enqueue(n.ID, delivery.OpPost, "", slackbot.Message{Text: escape(n.Text)}, now)
	}
}

func (s *SlackNotifier) enqueue(id string, op delivery.Op, ref string, m slackbot.Message, now time.Time) error {
	payload, err := slackbot.EncodePayload(m)
	if err != nil {
		return fmt.Errorf("notify %s: %w", id, err)
	}
	return s.Outbox.Enqueue(delivery.Item{ID: id, Channel: s.Channel, Op: op, Ref: ref, Payload: payload, Enqueued: now})
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
	t := s.Tokens.AlertToken(service)
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
