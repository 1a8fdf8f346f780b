package fleet

// Leader: which hub leads (holds Slack's Socket Mode connection and sends),
// through one key of a key-value bucket whose values expire.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// LeaderConfig says how a hub campaigns.
type LeaderConfig struct {
	// KV is the bucket of the leadership key; its TTL must be TTL, so that
	// the key of a leader that died expires.
	KV jetstream.KeyValue
	// Key is the leadership key ("leader").
	Key string
	// ID is this hub's name, the key's value while it leads.
	ID string
	// TTL is how long a leader that stopped updating keeps the key (the
	// bucket's TTL, fleet.failover): the others take over within it.
	TTL    time.Duration
	Logger zerolog.Logger
}

// Leader campaigns for one hub. The first to create the key leads and
// updates it by revision every TTL/3, each update bounded by TTL/3: a
// leader that cannot update stops leading at most 2/3 TTL after its last
// good update, before its key expires and another creates it, so two
// hubs never lead at once while their clocks run at the same rate.
type Leader struct {
	cfg LeaderConfig
}

// NewLeader validates cfg; it does no I/O.
func NewLeader(cfg LeaderConfig) (*Leader, error) {
	switch {
	case cfg.KV == nil:
		return nil, errors.New("leader: no key-value bucket")
	case cfg.Key == "" || cfg.ID == "":
		return nil, errors.New("leader: empty key or id")
	case cfg.TTL < 300*time.Millisecond:
		return nil, fmt.Errorf("leader: ttl %s is too short", cfg.TTL)
	}
	return &Leader{cfg: cfg}, nil
}

// Run campaigns until ctx ends. While this hub leads, lead runs with a
// context that ends when the leadership is lost (an update failed, or the
// key holds another's revision) or ctx ends; Run waits for lead to return
// before it campaigns again. When ctx ends, a leader deletes its key
// (resigns), so that another takes over at once.
func (l *Leader) Run(ctx context.Context, lead func(ctx context.Context)) {
	step := l.cfg.TTL / 3
	for ctx.Err() == nil {
		rev, err := l.create(ctx)
		switch {
		case err == nil:
			l.hold(ctx, rev, lead)
			continue
		case errors.Is(err, jetstream.ErrKeyExists):
			// Someone leads: look again soon.
		case ctx.Err() == nil:
			l.cfg.Logger.Warn().Err(err).Msg("campaign for leadership")
		}
		t := time.NewTimer(step / 2)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

func (l *Leader) create(ctx context.Context) (uint64, error) {
	cctx, cancel := context.WithTimeout(ctx, l.cfg.TTL/3)
	defer cancel()
	return l.cfg.KV.Create(cctx, l.cfg.Key, []byte(l.cfg.ID))
}

// hold leads from revision rev until the leadership is lost or ctx ends.
func (l *Leader) hold(ctx context.Context, rev uint64, lead func(ctx context.Context)) {
	log := l.cfg.Logger.With().Str("leader", l.cfg.ID).Logger()
	log.Info().Msg("leading")
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lead(lctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	step := l.cfg.TTL / 3
	t := time.NewTicker(step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Resign: the next hub need not wait for the key to
			// expire. Only this leader's own revision is deleted.
			dctx, dcancel := context.WithTimeout(context.Background(), step)
			err := l.cfg.KV.Delete(dctx, l.cfg.Key, jetstream.LastRevision(rev))
			dcancel()
			if err != nil {
				log.Warn().Err(err).Msg("resign: the key expires instead")
			}
			return
		case <-t.C:
			uctx, ucancel := context.WithTimeout(ctx, step)
			next, err := l.cfg.KV.Update(uctx, l.cfg.Key, []byte(l.cfg.ID), rev)
			ucancel()
			if err != nil {
				if ctx.Err() == nil {
					log.Warn().Err(err).Msg("lost the leadership")
				}
				return
			}
			rev = next
		}
	}
}
