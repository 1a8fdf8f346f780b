// Package facts carries the monitors' notices (alerts, restoration
// summaries, digests) of every host of a fleet to the hub that delivers
// them, through a JetStream stream: each host's Publisher keeps its
// notices in a spool on its disk until JetStream acknowledged them, with a
// message id so that a notice sent twice (a crash between the publish and
// the spool's delete) is stored once; the leading hub's Consumer hands each
// to the front end and acknowledges it only once the front end took it.
package facts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/internal/statefile"
)

// EnsureStream makes (or updates) FactsStream: every host's facts, on
// disk, each removed once a hub acknowledged it, a copy with the same
// message id within 10 minutes dropped, none kept beyond 7 days.
func EnsureStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: fleet.FactsStream, Subjects: []string{fleet.FactsSubjects}, Storage: jetstream.FileStorage,
		Retention: jetstream.WorkQueuePolicy, Duplicates: 10 * time.Minute, MaxAge: 7 * 24 * time.Hour,
	})
	if err != nil {
		return fmt.Errorf("facts stream: %w", err)
	}
	return nil
}

// PublisherConfig configures a host's publisher.
type PublisherConfig struct {
	JS   jetstream.JetStream
	Host string
	// Dir is the spool (state_dir/fleet-facts): absolute.
	Dir string
	// MaxSpool bounds the spool; past it the oldest notice is dropped (and
	// logged). 0 means 10000.
	MaxSpool int
	// Retry is the longest wait between two tries while JetStream is
	// away; 0 means 5 s.
	Retry  time.Duration
	Logger zerolog.Logger
}

// Publisher is a host's alerts.Notifier in a fleet. Notify returns once
// the notice is on disk: the monitor never waits on NATS.
type Publisher struct {
	cfg  PublisherConfig
	wake chan struct{}

	mu  sync.Mutex
	seq uint64 // the last spooled file's sequence; 0 before the spool was read
}

// NewPublisher validates cfg; it does no I/O.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.JS == nil {
		return nil, errors.New("facts publisher: no JetStream")
	}
	if err := fleet.ValidHost(cfg.Host); err != nil {
		return nil, fmt.Errorf("facts publisher: %w", err)
	}
	if !filepath.IsAbs(cfg.Dir) {
		return nil, fmt.Errorf("facts publisher: spool %q is not an absolute path", cfg.Dir)
	}
	if cfg.MaxSpool <= 0 {
		cfg.MaxSpool = 10000
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 5 * time.Second
	}
	return &Publisher{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

var _ alerts.Notifier = (*Publisher)(nil)

// Notify spools n (From set to this host, an ID given when it has none,
// ID and Ref prefixed with "<host>/") and wakes the sender.
func (p *Publisher) Notify(n alerts.Notice) error {
	n.From = p.cfg.Host
	p.mu.Lock()
	defer p.mu.Unlock()
	files, err := p.spooled()
	if err != nil {
		return err
	}
	if p.seq == 0 && len(files) > 0 {
		p.seq = seqOf(files[len(files)-1])
	}
	p.seq++
	if n.ID == "" {
		n.ID = fmt.Sprintf("fact-%d-%d", time.Now().UnixNano(), p.seq)
	}
	// IDs name the host: two hosts' monitors number their incidents alike.
	n.ID = p.cfg.Host + "/" + n.ID
	if n.Ref != "" {
		n.Ref = p.cfg.Host + "/" + n.Ref
	}
	data, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("spool notice %s: %w", n.ID, err)
	}
	if err := statefile.WriteAtomic(filepath.Join(p.cfg.Dir, fmt.Sprintf("%020d.json", p.seq)), data); err != nil {
		return fmt.Errorf("spool notice %s: %w", n.ID, err)
	}
	for len(files)+1 > p.cfg.MaxSpool {
		p.cfg.Logger.Error().Str("file", files[0]).Msg("fleet: the facts spool is full: the oldest notice is dropped")
		_ = os.Remove(filepath.Join(p.cfg.Dir, files[0]))
		files = files[1:]
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// spooled lists the spool's files, oldest first. p.mu is held.
func (p *Publisher) spooled() ([]string, error) {
	entries, err := os.ReadDir(p.cfg.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the facts spool: %w", err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && seqOf(e.Name()) > 0 {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out) // zero-padded: by sequence
	return out, nil
}

func seqOf(name string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSuffix(name, ".json"), 10, 64)
	return n
}

// Pending is how many notices wait in the spool.
func (p *Publisher) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	files, _ := p.spooled()
	return len(files)
}

// Run sends the spool, oldest first, until ctx ends: each notice is
// removed once JetStream acknowledged it; while JetStream is away it
// waits (1 s, doubling up to Retry) and tries again, keeping everything.
func (p *Publisher) Run(ctx context.Context) {
	wait := time.Duration(0)
	for {
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if err := p.sendAll(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.cfg.Logger.Warn().Err(err).Msg("fleet: facts not sent yet; they stay in the spool")
			wait = min(max(2*wait, time.Second), p.cfg.Retry)
			continue
		}
		wait = 0
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
	}
}

// sendAll publishes the spool in order; it stops at the first failure.
func (p *Publisher) sendAll(ctx context.Context) error {
	p.mu.Lock()
	files, err := p.spooled()
	p.mu.Unlock()
	if err != nil {
		return err
	}
	for _, name := range files {
		path := filepath.Join(p.cfg.Dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read spooled notice: %w", err)
		}
		var n alerts.Notice
		if err := json.Unmarshal(data, &n); err != nil {
			p.cfg.Logger.Error().Err(err).Str("file", name).Msg("fleet: a spooled notice is unreadable: dropped")
			_ = os.Remove(path)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = p.cfg.JS.Publish(pctx, fleet.FactsSubject(p.cfg.Host), data, jetstream.WithMsgID(n.ID))
		cancel()
		if err != nil {
			return fmt.Errorf("publish notice %s: %w", n.ID, err)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("unspool notice %s: %w", n.ID, err)
		}
	}
	return nil
}

// Raise publishes a notice that every hub raises alike (an agent's
// silence, noticed by each hub's registry) on the facts of host, the
// hub's own, with the notice's ID as message id: the stream keeps the
// first copy of an ID and drops the others (for 10 minutes), so the
// leader's consumer delivers it once, whichever hub raised it first.
func Raise(ctx context.Context, js jetstream.JetStream, host string, n alerts.Notice) error {
	if n.ID == "" {
		return errors.New("raise a notice: it has no ID")
	}
	data, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("raise notice %s: %w", n.ID, err)
	}
	if _, err := js.Publish(ctx, fleet.FactsSubject(host), data, jetstream.WithMsgID(n.ID)); err != nil {
		return fmt.Errorf("raise notice %s: %w", n.ID, err)
	}
	return nil
}

// ConsumerConfig configures the hub's consumer.
type ConsumerConfig struct {
	JS jetstream.JetStream
	// Durable is the consumer's name, shared by every hub ("hub").
	Durable string
	// Deliver hands a notice to the front end; nil means it took it (the
	// notice is acknowledged), an error that it comes again later.
	Deliver func(ctx context.Context, n alerts.Notice) error
	// AckWait is how long JetStream waits for the acknowledgement before
	// it sends a notice again; 0 means 2 min.
	AckWait time.Duration
	// Retry is the longest delay before a notice that Deliver refused
	// comes again; 0 means 30 s.
	Retry  time.Duration
	Logger zerolog.Logger
}

// Consumer delivers the fleet's facts, one at a time and in order: the
// next fact waits until the one before was delivered.
type Consumer struct {
	cfg ConsumerConfig
	// delivered are the IDs delivered lately (bounded): a fact JetStream
	// sends again after its acknowledgement was lost is acknowledged
	// without a second delivery. A hub that dies between Deliver and the
	// acknowledgement leaves one fact that the next leader delivers again
	// (its outbox finds the messages already in Slack through the shared
	// record of where messages landed, and does not post them twice).
	delivered []string
}

// NewConsumer validates cfg; it does no I/O.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if cfg.JS == nil || cfg.Deliver == nil || cfg.Durable == "" {
		return nil, errors.New("facts consumer: JetStream, a durable name and Deliver are required")
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 30 * time.Second
	}
	return &Consumer{cfg: cfg}, nil
}

const rememberDelivered = 1000

// Run delivers facts until ctx ends.
func (c *Consumer) Run(ctx context.Context) error {
	cons, err := c.cfg.JS.CreateOrUpdateConsumer(ctx, fleet.FactsStream, jetstream.ConsumerConfig{
		Durable: c.cfg.Durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: c.cfg.AckWait, MaxAckPending: 1,
		MaxDeliver: -1,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("facts consumer: %w", err)
	}
	failures := 0
	for ctx.Err() == nil {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.cfg.Logger.Warn().Err(err).Msg("fleet: fetching facts")
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for msg := range batch.Messages() {
			var n alerts.Notice
			if err := json.Unmarshal(msg.Data(), &n); err != nil {
				c.cfg.Logger.Error().Err(err).Str("subject", msg.Subject()).Msg("fleet: a fact that is not a notice: dropped")
				_ = msg.Term()
				continue
			}
			if slices.Contains(c.delivered, n.ID) {
				_ = msg.Ack()
				continue
			}
			if err := c.cfg.Deliver(ctx, n); err != nil {
				failures++
				delay := min(time.Duration(failures)*time.Second, c.cfg.Retry)
				c.cfg.Logger.Warn().Err(err).Str("notice", n.ID).Dur("retry_in", delay).Msg("fleet: a fact not delivered; it comes again")
				_ = msg.NakWithDelay(delay)
				continue
			}
			failures = 0
			c.delivered = append(c.delivered, n.ID)
			if len(c.delivered) > rememberDelivered {
				c.delivered = c.delivered[len(c.delivered)-rememberDelivered:]
			}
			if err := msg.DoubleAck(ctx); err != nil && ctx.Err() == nil {
				c.cfg.Logger.Warn().Err(err).Str("notice", n.ID).Msg("fleet: a delivered fact's acknowledgement failed; a redelivery is dropped")
			}
		}
	}
	return nil
}
