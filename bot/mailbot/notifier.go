package mailbot

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/bot"
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
	// Charts draws the weekly digest's charts, attached as PNGs, one per
	// service; nil: none.
	Charts bot.ChartRenderer
	// Logger gets the charts that could not be drawn.
	Logger zerolog.Logger
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
	charts, notes := n.charts(no, now)
	e := render(no, now, n.cfg.Host, lastErrors, notes)
	e.Attachments = charts
	payload, err := e.encode()
	if err != nil {
		return fmt.Errorf("notify %s by email: %w", no.ID, err)
	}
	if err := n.cfg.Queue.Enqueue(delivery.Item{ID: no.ID, Channel: Channel, Op: delivery.OpPost, Payload: payload, Enqueued: now}); err != nil {
		return fmt.Errorf("notify %s by email: %w", no.ID, err)
	}
	return nil
}

// charts are the weekly digest's PNG charts, one per service whose report
// it has, and the note naming the services without one (a chart that
// cannot be drawn is logged); none for another notice or without Charts.
func (n *Notifier) charts(no alerts.Notice, now time.Time) ([]Attachment, []string) {
	if no.Weekly == nil || no.Digest == nil || n.cfg.Charts == nil {
		return nil, nil
	}
	var out []Attachment
	drawn := map[string]bool{}
	for _, r := range no.Weekly.Reports {
		png, err := n.cfg.Charts.RenderUptime(r, now.Location())
		if err != nil || len(png) == 0 {
			n.cfg.Logger.Error().Err(err).Str("service", r.Service).Msg("weekly digest by email: chart not drawn")
			continue
		}
		drawn[r.Service] = true
		out = append(out, Attachment{Filename: chartFilename(r.Service), ContentType: "image/png", Data: png})
	}
	var noChart []string
	for _, s := range no.Digest.Services {
		if !drawn[s.Service] {
			noChart = append(noChart, s.Service)
		}
	}
	if l := bot.WeeklyNoChartLine(noChart); l != "" {
		return out, []string{l}
	}
	return out, nil
}

// chartFilename is the name of service's weekly chart: the service name
// (checked by config: [a-z0-9_-]) with anything else replaced.
func chartFilename(service string) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, service)
	return name + "-uptime-week.png"
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
	// Charts draws the weekly digest's charts, attached as PNGs; nil: none.
	Charts bot.ChartRenderer
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
	n, err := NewNotifier(NotifierConfig{Email: cfg.Email, Queue: outbox, Clock: cfg.Clock, Host: cfg.Host, Tail: cfg.Tail,
		Charts: cfg.Charts, Logger: cfg.Logger})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open email: %w", err), outbox.Close())
	}
	return &Mail{Notifier: n, Outbox: outbox, Sender: sender}, nil
}

// Check is Sender.Check: connect and log in, send nothing.
func (m *Mail) Check(ctx context.Context) error { return m.Sender.Check(ctx) }
