package mailbot

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/delivery"
)

// Queue is what the notifier needs of the durable outbox
// (*delivery.Outbox).
type Queue interface {
	Enqueue(it delivery.Item) error
}

// LogTail returns the last error lines of a service's log, for an alert.
type LogTail func(service string) []string

// NotifierConfig configures a Notifier.
type NotifierConfig struct {
	// Email is notify.email: its Kinds say which notices are sent.
	Email config.Email
	// Queue is the email outbox; required.
	Queue Queue
	// Clock is required.
	Clock clockwork.Clock
	// Host is the bot's host name, shown in subjects ("whatsapp is
	// STOPPED on web-1") and making the Message-IDs; required.
	Host string
	// Tail gives a new alert the log's last error lines; nil: none.
	Tail LogTail
}

// Notifier puts the monitor's notices of the kinds notify.email.kinds
// names into the email outbox, one email per notice, the notice's ID as the
// item's ID (the outbox drops a notice enqueued twice). The others it
// ignores.
type Notifier struct {
	cfg NotifierConfig
}

var _ alerts.Notifier = (*Notifier)(nil)

// NewNotifier validates its configuration; it does no I/O.
func NewNotifier(cfg NotifierConfig) (*Notifier, error) {
	switch {
	case cfg.Queue == nil:
		return nil, errors.New("new email notifier: an outbox is required")
	case cfg.Clock == nil:
		return nil, errors.New("new email notifier: a clock is required")
	case cfg.Host == "":
		return nil, errors.New("new email notifier: the host name is required")
	}
	if err := cfg.Email.Validate(); err != nil {
		return nil, fmt.Errorf("new email notifier: %w", err)
	}
	return &Notifier{cfg: cfg}, nil
}

// Notify enqueues the email of n when its kind is wanted.
func (n *Notifier) Notify(no alerts.Notice) error {
	kind := Kind(no)
	if kind == "" || !n.cfg.Email.Wants(kind) {
		return nil
	}
	var lastErrors []string
	if n.cfg.Tail != nil && kind == config.EmailKindAlert && no.Kind == alerts.DecisionOpen {
		lastErrors = n.cfg.Tail(no.Service)
	}
	now := n.cfg.Clock.Now()
	payload, err := Render(no, now, n.cfg.Host, lastErrors).encode()
	if err != nil {
		return fmt.Errorf("notify %s by email: %w", no.ID, err)
	}
	if err := n.cfg.Queue.Enqueue(delivery.Item{ID: no.ID, Channel: Channel, Op: delivery.OpPost, Payload: payload, Enqueued: now}); err != nil {
		return fmt.Errorf("notify %s by email: %w", no.ID, err)
	}
	return nil
}

// OutboxDir is where the email outbox keeps its journal (outbox.jsonl),
// beneath the state dir: apart from the Slack outbox's.
func OutboxDir(stateDir string) string { return filepath.Join(stateDir, "email") }

// Config configures Open: everything the email side of the bot needs.
type Config struct {
	// Email is notify.email, as config.Load validated it; Enabled.
	Email config.Email
	// StateDir is the bot's state dir; the outbox's journal goes in
	// OutboxDir(StateDir). Required.
	StateDir string
	// Host is the bot's host name (os.Hostname), in subjects, the
	// Message-IDs and EHLO. Required.
	Host string
	// Clock is nil for the real clock.
	Clock clockwork.Clock
	// Logger gets the outbox's retries and dead letters (never the password).
	Logger zerolog.Logger
	// Tail gives a new alert the log's last error lines; nil: none.
	Tail LogTail
	// Timeout bounds one SMTP conversation; 0 means DefaultTimeout.
	Timeout time.Duration
	// BackoffInitial and BackoffMax are the outbox's (delivery.Config); 0
	// means its defaults.
	BackoffInitial, BackoffMax time.Duration
}

// Mail is the email side of the bot: the Notifier to give the monitor, the
// Outbox to Serve (and whose Dead items `status` shows), and the Sender
// whose Check `sanasend-bot check` runs.
type Mail struct {
	Notifier *Notifier
	Outbox   *delivery.Outbox
	Sender   *Sender
}

// Open validates cfg and opens the email outbox with what an earlier
// process left queued. It reads and rewrites the outbox's journal; it
// makes no network connection (nothing is sent before Outbox.Serve).
func Open(cfg Config) (*Mail, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("open email: the state dir is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	sender, err := NewSender(SenderConfig{Email: cfg.Email, HELO: cfg.Host, Timeout: cfg.Timeout})
	if err != nil {
		return nil, fmt.Errorf("open email: %w", err)
	}
	if cfg.Host == "" {
		return nil, errors.New("open email: the host name is required")
	}
	outbox, err := delivery.Open(delivery.Config{Dir: OutboxDir(cfg.StateDir), Clock: cfg.Clock,
		Logger:         cfg.Logger.With().Str("outbox", Channel).Logger(),
		BackoffInitial: cfg.BackoffInitial, BackoffMax: cfg.BackoffMax}, sender)
	if err != nil {
		return nil, fmt.Errorf("open email: %w", err)
	}
	n, err := NewNotifier(NotifierConfig{Email: cfg.Email, Queue: outbox, Clock: cfg.Clock, Host: cfg.Host, Tail: cfg.Tail})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open email: %w", err), outbox.Close())
	}
	return &Mail{Notifier: n, Outbox: outbox, Sender: sender}, nil
}

// Check is Sender.Check: connect and log in, send nothing.
func (m *Mail) Check(ctx context.Context) error { return m.Sender.Check(ctx) }
