// Package threads tells the hubs of a fleet where each other's Slack
// messages landed: the leading hub's outbox shares the channel and ts of
// every message it delivers in a JetStream key-value bucket, and a hub
// that takes over finds there the message that a reply or an edit refers
// to (an alert's thread), instead of posting it as a new message.
package threads

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/fleet"
)

// EnsureBucket makes (or updates) fleet.ThreadsBucket, whose keys live ttl:
// as long as an outbox keeps where its messages are.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, ttl time.Duration) (jetstream.KeyValue, error) {
	return fleet.EnsureBucket(ctx, js, fleet.ThreadsBucket, ttl)
}

// Store is delivery.SharedRefs over the bucket.
type Store struct{ kv jetstream.KeyValue }

var _ delivery.SharedRefs = (*Store)(nil)

// New returns a store over kv; it does no I/O.
func New(kv jetstream.KeyValue) (*Store, error) {
	if kv == nil {
		return nil, errors.New("threads: no bucket")
	}
	return &Store{kv: kv}, nil
}

// key is the bucket's key of an item ID: IDs hold characters a key may
// not ("web-2/incident-3"), and their length is the notifiers'.
func key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "m." + hex.EncodeToString(sum[:16])
}

// Share records where the item id landed.
func (s *Store) Share(ctx context.Context, id string, l delivery.Landed) error {
	data, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("share %s: %w", id, err)
	}
	if _, err := s.kv.Put(ctx, key(id), data); err != nil {
		return fmt.Errorf("share %s: %w", id, err)
	}
	return nil
}

// Lookup returns where the item id landed, if a hub shared it.
func (s *Store) Lookup(ctx context.Context, id string) (delivery.Landed, bool, error) {
	e, err := s.kv.Get(ctx, key(id))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return delivery.Landed{}, false, nil
	case err != nil:
		return delivery.Landed{}, false, fmt.Errorf("look up %s: %w", id, err)
	}
	var l delivery.Landed
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return delivery.Landed{}, false, fmt.Errorf("look up %s: %w", id, err)
	}
	return l, true, nil
}
