package history

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
)

// The state table keeps small durable documents of the bot's other packages
// (the alert state of each service, the maintenance windows added from
// Slack, the confirmation tokens), by kind and key, so that the bot has one
// store and one file to back up. This package does not read them: a value is
// bytes its owner encodes and decodes.
//
// Writes never block. PutState, DeleteState and ReplaceState record the
// change in a map of pending changes (the latest value of a key wins) and
// wake the writer goroutine, which writes every pending change in one
// transaction: a batch is written whole or not at all, never half. Unlike a
// check, a pending state change is never dropped for a full queue: while the
// writer fails (a full disk, a damaged file) the changes stay pending, later
// ones coalescing over them, and are written when a retry succeeds. Close
// writes what is pending within Options.CloseTimeout; what it cannot write
// is counted in Health().Dropped and logged.

// stateChange is the pending change of one key: a new value, or its removal.
type stateChange struct {
	value   []byte
	deleted bool
}

// kindChange is the pending change of one kind.
type kindChange struct {
	// replace removes every key of the kind before keys are applied.
	replace bool
	keys    map[string]stateChange
}

// count is how many changes kc holds, for Health: a replacement that leaves
// the kind empty is still one.
func (kc *kindChange) count() int {
	if kc == nil {
		return 0
	}
	if kc.replace && len(kc.keys) == 0 {
		return 1
	}
	return len(kc.keys)
}

// merge returns the changes of newer applied after those of older; either
// may be nil.
func merge(older, newer *kindChange) *kindChange {
	if newer == nil {
		return older
	}
	if older == nil || newer.replace {
		return newer
	}
	out := &kindChange{replace: older.replace, keys: maps.Clone(older.keys)}
	maps.Copy(out.keys, newer.keys)
	return out
}

// apply applies kc to values, a kind's keys and values as read.
func (kc *kindChange) apply(values map[string][]byte) {
	if kc == nil {
		return
	}
	if kc.replace {
		clear(values)
	}
	for k, c := range kc.keys {
		if c.deleted {
			delete(values, k)
		} else {
			values[k] = c.value
		}
	}
}

// PutState sets the value of key in kind. It never blocks: the writer
// writes it, or a later change of the same key that replaces it.
func (s *Store) PutState(kind, key string, value []byte) {
	v := append([]byte{}, value...)
	s.changeState(kind, &kindChange{keys: map[string]stateChange{key: {value: v}}})
}

// DeleteState removes key from kind. It never blocks.
func (s *Store) DeleteState(kind, key string) {
	s.changeState(kind, &kindChange{keys: map[string]stateChange{key: {deleted: true}}})
}

// ReplaceState makes values the whole of kind: keys not in values are
// removed, in the same transaction. It never blocks.
func (s *Store) ReplaceState(kind string, values map[string][]byte) {
	kc := &kindChange{replace: true, keys: make(map[string]stateChange, len(values))}
	for k, v := range values {
		kc.keys[k] = stateChange{value: append([]byte{}, v...)}
	}
	s.changeState(kind, kc)
}

func (s *Store) changeState(kind string, kc *kindChange) {
	if s.closing.Load() {
		s.drop(kc.count(), "closed")
		return
	}
	s.stateMu.Lock()
	s.statePending[kind] = merge(s.statePending[kind], kc)
	s.stateMu.Unlock()
	select {
	case s.stateReady <- struct{}{}:
	default: // the writer is woken already
	}
}

// maxLoadRetries bounds LoadState's reads while the writer commits.
const maxLoadRetries = 10

// LoadState returns every key of kind and its value: those written, with
// the changes still pending applied over them, so a load sees every change
// made before it. Keys of other kinds (those of a newer build included) are
// not read. It reads the file: call it at start, not on the alert path.
func (s *Store) LoadState(ctx context.Context, kind string) (map[string][]byte, error) {
	for attempt := 0; ; attempt++ {
		s.stateMu.Lock()
		gen := s.stateGen
		s.stateMu.Unlock()
		values, err := s.readState(ctx, kind)
		if err != nil {
			return nil, fmt.Errorf("load state %s: %w", kind, err)
		}
		s.stateMu.Lock()
		if s.stateGen != gen && attempt < maxLoadRetries {
			// A batch was committed or put back while reading: the
			// read may or may not hold it. Read again.
			s.stateMu.Unlock()
			continue
		}
		s.stateFlight[kind].apply(values)
		s.statePending[kind].apply(values)
		s.stateMu.Unlock()
		return values, nil
	}
}

func (s *Store) readState(ctx context.Context, kind string) (map[string][]byte, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT key, value FROM state WHERE kind = ?`, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	values := make(map[string][]byte)
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		values[k] = v
	}
	return values, rows.Err()
}

// ImportState writes docs (kind -> key -> value) in one transaction if
// none of their kinds has a key yet, and reports whether it did: the
// one-time import of state kept elsewhere before (files). It waits for the
// file: call it at start, before any change of those kinds.
func (s *Store) ImportState(ctx context.Context, docs map[string]map[string][]byte) (bool, error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("import state: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for kind := range docs {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM state WHERE kind = ?`, kind).Scan(&n); err != nil {
			return false, fmt.Errorf("import state: %w", err)
		}
		if n > 0 {
			return false, nil
		}
	}
	now := s.clock.Now().UnixMilli()
	for kind, values := range docs {
		for k, v := range values {
			if _, err := tx.ExecContext(ctx, `INSERT INTO state (kind, key, value, updated_at) VALUES (?, ?, ?, ?)`, kind, k, v, now); err != nil {
				return false, fmt.Errorf("import state %s: %w", kind, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("import state: %w", err)
	}
	s.mu.Lock()
	s.lastWrite = s.clock.Now()
	s.mu.Unlock()
	return true, nil
}

// takeState moves the pending changes in flight and returns them; nil when
// none are pending. Only the writer calls it, and only with none in flight.
func (s *Store) takeState() map[string]*kindChange {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if len(s.statePending) == 0 {
		return nil
	}
	s.stateFlight, s.statePending = s.statePending, make(map[string]*kindChange)
	return s.stateFlight
}

// landState ends the flight: committed (or given up), or put back under
// the changes made since when the write failed.
func (s *Store) landState(putBack bool) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if putBack {
		for kind, kc := range s.stateFlight {
			s.statePending[kind] = merge(kc, s.statePending[kind])
		}
	}
	s.stateFlight = make(map[string]*kindChange)
	s.stateGen++
}

// stateCount is how many state changes wait for the writer.
func (s *Store) stateCount() int {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	n := 0
	for _, kc := range s.statePending {
		n += kc.count()
	}
	for _, kc := range s.stateFlight {
		n += kc.count()
	}
	return n
}

func countChanges(batch map[string]*kindChange) int {
	n := 0
	for _, kc := range batch {
		n += kc.count()
	}
	return n
}

// stateOp writes batch in the writer's transaction.
func stateOp(batch map[string]*kindChange, nowMs int64) op {
	return func(ctx context.Context, tx *sql.Tx) error {
		for kind, kc := range batch {
			if kc.replace {
				if _, err := tx.ExecContext(ctx, `DELETE FROM state WHERE kind = ?`, kind); err != nil {
					return err
				}
			}
			for k, c := range kc.keys {
				var err error
				if c.deleted {
					_, err = tx.ExecContext(ctx, `DELETE FROM state WHERE kind = ? AND key = ?`, kind, k)
				} else {
					_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO state (kind, key, value, updated_at) VALUES (?, ?, ?, ?)`,
						kind, k, c.value, nowMs)
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// writeStateWithRetry writes the pending state changes in one transaction,
// retrying a transient failure with backoff (the changes stay pending, and
// later ones coalesce over them) until it succeeds or Close is called: then
// it returns false, the changes still pending for drain.
func (s *Store) writeStateWithRetry() bool {
	wait := backoffMin
	for {
		batch := s.takeState()
		if batch == nil {
			return true
		}
		err := s.write(context.Background(), []op{stateOp(batch, s.clock.Now().UnixMilli())})
		if err == nil {
			s.landState(false)
			s.wrote()
			return true
		}
		transient := s.writeFailed(err)
		if !transient {
			n := countChanges(batch)
			s.landState(false)
			s.dropped.Add(uint64(n))
			s.mu.Lock()
			s.failing = false
			s.mu.Unlock()
			s.log.Error().Err(err).Int("changes", n).Msg("history: the database refused state changes; dropped")
			return true
		}
		s.landState(true)
		s.log.Warn().Err(err).Int("changes", countChanges(batch)).Dur("retry_in", wait).Msg("history: state write failed; retrying")
		select {
		case <-s.clock.After(wait):
		case <-s.stop:
			return false
		}
		wait = min(wait*2, backoffMax)
	}
}

// drainState writes the pending state changes once, within ctx, at Close;
// what it cannot write is counted as dropped and logged.
func (s *Store) drainState(ctx context.Context) {
	batch := s.takeState()
	if batch == nil {
		return
	}
	err := s.write(ctx, []op{stateOp(batch, s.clock.Now().UnixMilli())})
	s.landState(false)
	if err != nil {
		msg, _ := classify(err)
		s.mu.Lock()
		s.lastErr, s.lastErrAt = msg, s.clock.Now()
		s.mu.Unlock()
		n := countChanges(batch)
		s.dropped.Add(uint64(n))
		s.log.Error().Err(err).Int("changes", n).Msg("history: state write at close failed; changes lost")
		return
	}
	s.wrote()
}
