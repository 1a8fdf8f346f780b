// Package tokens keeps the hubs' confirmation and alert tokens in a
// JetStream key-value bucket, so that a prompt issued by one hub can be
// confirmed on another (after a failover, or behind a load balancer), and
// so that a token is used once across all of them: the use is a Create of
// the token's "used" key, which only one hub can win.
package tokens

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/fleet"
)

// EnsureBucket makes (or updates) fleet.TokensBucket, whose keys live ttl:
// the longest life of a token.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, ttl time.Duration) (jetstream.KeyValue, error) {
	return fleet.EnsureBucket(ctx, js, fleet.TokensBucket, ttl)
}

// Store is a bot.TokenStore over the bucket, and bot.SharedTokens.
type Store struct {
	kv      jetstream.KeyValue
	log     zerolog.Logger
	timeout time.Duration

	queue chan write
	wg    sync.WaitGroup
	once  sync.Once
}

type write struct {
	key  string
	data []byte // nil: delete
}

var (
	_ bot.TokenStore   = (*Store)(nil)
	_ bot.SharedTokens = (*Store)(nil)
)

// New returns a store over kv; Close ends its writer.
func New(kv jetstream.KeyValue, log zerolog.Logger) (*Store, error) {
	if kv == nil {
		return nil, errors.New("tokens: no bucket")
	}
	s := &Store{kv: kv, log: log, timeout: 5 * time.Second, queue: make(chan write, 1024)}
	s.wg.Add(1)
	go s.writer()
	return s, nil
}

func recordKey(hash string) string { return "t." + hash }
func usedKey(hash string) string   { return "u." + hash }

// writer writes the records handed to PutToken and DeleteToken, in order.
func (s *Store) writer() {
	defer s.wg.Done()
	for w := range s.queue {
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		var err error
		if w.data == nil {
			err = s.kv.Delete(ctx, w.key)
		} else {
			_, err = s.kv.Put(ctx, w.key, w.data)
		}
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			s.log.Error().Err(err).Msg("fleet: a confirmation token not saved in the shared bucket")
		}
	}
}

func (s *Store) enqueue(w write) {
	select {
	case s.queue <- w:
	default:
		s.log.Error().Msg("fleet: the shared tokens' queue is full: a token change is not shared")
	}
}

// LoadTokens returns every record in the bucket, by hash.
func (s *Store) LoadTokens() (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	out := map[string][]byte{}
	lister, err := s.kv.ListKeys(ctx, jetstream.MetaOnly())
	if err != nil {
		return nil, fmt.Errorf("load shared tokens: %w", err)
	}
	for key := range lister.Keys() {
		hash, ok := strings.CutPrefix(key, "t.")
		if !ok {
			continue
		}
		e, err := s.kv.Get(ctx, key)
		if err != nil {
			continue // expired meanwhile
		}
		out[hash] = e.Value()
	}
	return out, nil
}

// PutToken shares rec as the record of hash, without waiting.
func (s *Store) PutToken(hash string, rec []byte) { s.enqueue(write{recordKey(hash), rec}) }

// DeleteToken forgets the record of hash, without waiting.
func (s *Store) DeleteToken(hash string) { s.enqueue(write{recordKey(hash), nil}) }

// Lookup reads the record of hash that a hub shared.
func (s *Store) Lookup(hash string) ([]byte, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	e, err := s.kv.Get(ctx, recordKey(hash))
	if err != nil {
		return nil, false
	}
	return e.Value(), true
}

// Claim is the single use: won for one caller of all hubs.
func (s *Store) Claim(hash string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if _, err := s.kv.Create(ctx, usedKey(hash), []byte("1")); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil
		}
		return false, fmt.Errorf("claim a token: %w", err)
	}
	return true, nil
}

// Unclaim gives a claimed token back (the action it was used for could not
// begin).
func (s *Store) Unclaim(hash string) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if err := s.kv.Purge(ctx, usedKey(hash)); err != nil {
		return fmt.Errorf("give a token back: %w", err)
	}
	return nil
}

// Close writes what is queued and ends the writer.
func (s *Store) Close() {
	s.once.Do(func() { close(s.queue) })
	s.wg.Wait()
}
