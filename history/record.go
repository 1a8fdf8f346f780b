package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// State is a service's state in one health check.
type State string

// The states a check records.
const (
	Healthy   State = "healthy"
	Unhealthy State = "unhealthy"
	Stopped   State = "stopped"
)

func (st State) code() int {
	switch st {
	case Healthy:
		return 1
	case Unhealthy:
		return 2
	case Stopped:
		return 3
	}
	return 0
}

// Check is one health check of a service.
type Check struct {
	Service     string
	At          time.Time
	State       State
	Latency     time.Duration // response time of the health endpoint; 0 when none
	TreeRSS     uint64        // resident memory of the service's process tree, bytes
	Maintenance bool          // inside a maintenance window: its time is maintenance, not up or down
}

// IncidentOpened is an incident the alert state machine opened.
type IncidentOpened struct {
	ID       string // unique and stable, e.g. the alert's ID
	Service  string
	FailedAt time.Time // the first failing check: outage is measured from here
	OpenedAt time.Time // when the incident was declared
	Cause    string
}

// Action is something a person or the bot did to a service.
type Action struct {
	Service  string
	At       time.Time
	Who      string // a Slack user ID, "console", or "bot" for auto-restart
	What     string // "start", "stop", "restart", ...
	Outcome  string // "ok", "failed", ...
	Duration time.Duration
}

// Restoration is the outcome of the service restoring its sessions after a
// start.
type Restoration struct {
	Service                 string
	At                      time.Time
	Found, Restored, Failed int
	Sessions                []SessionOutcome
}

// SessionOutcome is one session's part of a restoration.
type SessionOutcome struct {
	Session string
	Outcome string // "restored", "failed", "timed out", ...
	Detail  string
}

// op is one fact for the writer: it writes itself in the batch's transaction.
type op func(ctx context.Context, tx *sql.Tx) error

// RecordCheck queues a health check. It never blocks.
func (s *Store) RecordCheck(c Check) {
	state := c.State.code()
	at := c.At.UnixMilli()
	lat := c.Latency.Microseconds()
	rss := int64(min(c.TreeRSS, 1<<62))
	s.enqueue(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO checks (service, at, state, latency_us, rss, maint) VALUES (?, ?, ?, ?, ?, ?)`,
			c.Service, at, state, lat, rss, c.Maintenance)
		return err
	})
}

// RecordIncidentOpened queues a new incident. It never blocks. Recording the
// same ID again changes nothing.
func (s *Store) RecordIncidentOpened(in IncidentOpened) {
	s.enqueue(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO incidents (id, service, failed_at, opened_at, cause) VALUES (?, ?, ?, ?, ?)`,
			in.ID, in.Service, in.FailedAt.UnixMilli(), in.OpenedAt.UnixMilli(), in.Cause)
		return err
	})
}

// RecordIncidentAcknowledged queues the acknowledgement of incident id by
// who. It never blocks; an unknown id is logged and ignored.
func (s *Store) RecordIncidentAcknowledged(id, who string, at time.Time) {
	s.enqueue(func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE incidents SET acked_by = ?, acked_at = ? WHERE id = ?`, who, at.UnixMilli(), id)
		s.warnMissing(res, err, id, "acknowledged")
		return err
	})
}

// RecordIncidentResolved queues the resolution of incident id, by who ("bot"
// when the service recovered by itself). The outage runs from the incident's
// FailedAt to at. It never blocks; an unknown id is logged and ignored.
func (s *Store) RecordIncidentResolved(id, who string, at time.Time) {
	s.enqueue(func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE incidents SET resolved_at = ?, resolved_by = ?, outage_ms = MAX(0, ? - failed_at) WHERE id = ?`,
			at.UnixMilli(), who, at.UnixMilli(), id)
		s.warnMissing(res, err, id, "resolved")
		return err
	})
}

func (s *Store) warnMissing(res sql.Result, err error, id, what string) {
	if err != nil {
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		s.log.Warn().Str("incident", id).Msgf("history: %s an incident it has no record of", what)
	}
}

// RecordAction queues an action. It never blocks.
func (s *Store) RecordAction(a Action) {
	s.enqueue(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO actions (service, at, who, what, outcome, duration_ms) VALUES (?, ?, ?, ?, ?, ?)`,
			a.Service, a.At.UnixMilli(), a.Who, a.What, a.Outcome, a.Duration.Milliseconds())
		return err
	})
}

// RecordRestoration queues a restoration and its sessions' outcomes. It
// never blocks.
func (s *Store) RecordRestoration(r Restoration) {
	sessions := append([]SessionOutcome(nil), r.Sessions...)
	s.enqueue(func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO restorations (service, at, found, restored, failed) VALUES (?, ?, ?, ?, ?)`,
			r.Service, r.At.UnixMilli(), r.Found, r.Restored, r.Failed)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for _, so := range sessions {
			if _, err := tx.ExecContext(ctx, `INSERT INTO restoration_sessions (restoration_id, session, outcome, detail) VALUES (?, ?, ?, ?)`,
				id, so.Session, so.Outcome, so.Detail); err != nil {
				return err
			}
		}
		return nil
	})
}

// enqueue hands o to the writer without blocking: when the queue is full or
// the store is closing, o is dropped and counted.
func (s *Store) enqueue(o op) {
	if s.closing.Load() {
		s.drop(1, "closed")
		return
	}
	select {
	case s.queue <- o:
	default:
		s.drop(1, "queue full")
	}
}

// Flush waits until the facts recorded before it are committed, or ctx
// ends (its error; a Store that is closed or drops its queue makes Flush
// wait for ctx). It is for tests and tools: nothing in the bot waits on the
// history. An op runs inside its batch's transaction, before the commit, so
// Flush sends two barriers: the second, queued once the first ran, goes in
// a later transaction of the one writer, after the first batch committed.
// Pending state changes are not waited for (Health's Queued counts them).
func (s *Store) Flush(ctx context.Context) error {
	for range 2 {
		ran := make(chan struct{})
		select {
		case s.queue <- func(context.Context, *sql.Tx) error { close(ran); return nil }:
		case <-ctx.Done():
			return fmt.Errorf("flush the history: %w", ctx.Err())
		}
		select {
		case <-ran:
		case <-ctx.Done():
			return fmt.Errorf("flush the history: %w", ctx.Err())
		}
	}
	return nil
}

// drop counts n lost facts and logs at most once a minute.
func (s *Store) drop(n int, why string) {
	total := s.dropped.Add(uint64(n))
	now := s.clock.Now()
	s.mu.Lock()
	if !s.lastDropLog.IsZero() && now.Sub(s.lastDropLog) < time.Minute {
		s.mu.Unlock()
		return
	}
	since := total - s.dropsLogged
	s.lastDropLog, s.dropsLogged = now, total
	s.mu.Unlock()
	s.log.Warn().Uint64("dropped", since).Uint64("dropped_total", total).Str("why", why).
		Msg("history: facts dropped, not recorded")
}

const (
	maxBatch    = 512
	backoffMin  = 100 * time.Millisecond
	backoffMax  = 30 * time.Second
	writeBudget = 30 * time.Second
)

// run is the writer: it takes a batch from the queue, writes it in one
// transaction, and on a failure it may retry waits with backoff and tries
// the same batch again, so the queue fills and further facts are dropped
// rather than anyone waiting. Woken by a state change, it writes the
// pending state changes (state.go).
func (s *Store) run() {
	defer close(s.done)
	batch := make([]op, 0, maxBatch)
	for {
		select {
		case <-s.stateReady:
			if !s.writeStateWithRetry() {
				s.drain()
				return
			}
			continue
		case o := <-s.queue:
			batch = append(batch[:0], o)
		case <-s.stop:
			s.drain()
			return
		}
		batch = fill(batch, s.queue)
		if !s.writeWithRetry(batch) {
			s.drain()
			return
		}
	}
}

func fill(batch []op, q chan op) []op {
	for len(batch) < maxBatch {
		select {
		case o := <-q:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// wrote notes a successful write in the Store's health.
func (s *Store) wrote() {
	s.mu.Lock()
	s.lastWrite, s.lastErr, s.failing = s.clock.Now(), "", false
	s.mu.Unlock()
}

// writeFailed notes a failed write in the Store's health (its safe message,
// when, and whether the writer retries it) and says whether it is worth
// retrying: a full disk or a busy file is, a refused fact is not.
func (s *Store) writeFailed(err error) (transient bool) {
	msg, transient := classify(err)
	s.mu.Lock()
	s.lastErr, s.lastErrAt, s.failing = msg, s.clock.Now(), transient
	s.mu.Unlock()
	return transient
}

// writeWithRetry writes batch, retrying a transient failure with backoff
// until it succeeds or Close is called (then it returns false, having
// counted the batch as dropped).
func (s *Store) writeWithRetry(batch []op) bool {
	wait := backoffMin
	for {
		err := s.write(context.Background(), batch)
		if err == nil {
			s.wrote()
			return true
		}
		transient := s.writeFailed(err)
		if !transient {
			// One fact the database refuses must not cost the batch:
			// write them one by one and drop only those refused.
			s.writeEach(batch)
			return true
		}
		s.log.Warn().Err(err).Int("facts", len(batch)).Dur("retry_in", wait).Msg("history: write failed; retrying")
		select {
		case <-s.clock.After(wait):
		case <-s.stop:
			s.dropped.Add(uint64(len(batch)))
			return false
		}
		wait = min(wait*2, backoffMax)
	}
}

// writeEach writes each op of batch in a transaction of its own, dropping
// (counting and logging) those that fail.
func (s *Store) writeEach(batch []op) {
	lost := 0
	var last error
	for _, o := range batch {
		if err := s.write(context.Background(), []op{o}); err != nil {
			lost++
			last = err
		}
	}
	s.mu.Lock()
	if lost < len(batch) {
		s.lastWrite = s.clock.Now()
	}
	s.failing = false
	s.mu.Unlock()
	if lost > 0 {
		s.dropped.Add(uint64(lost))
		s.log.Error().Err(last).Int("facts", lost).Msg("history: the database refused facts; dropped")
	}
}

func (s *Store) write(ctx context.Context, batch []op) error {
	ctx, cancel := context.WithTimeout(ctx, writeBudget)
	defer cancel()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for _, o := range batch {
		if err := o(ctx, tx); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// drain writes the pending state changes, then what is queued, without
// retrying, until the queue is empty or Options.CloseTimeout (wall time)
// has passed; what remains is dropped.
func (s *Store) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CloseTimeout)
	defer cancel()
	s.drainState(ctx)
	batch := make([]op, 0, maxBatch)
	for {
		batch = fill(batch[:0], s.queue)
		if len(batch) == 0 {
			return
		}
		if err := s.write(ctx, batch); err != nil {
			msg, _ := classify(err)
			s.mu.Lock()
			s.lastErr, s.lastErrAt = msg, s.clock.Now()
			s.mu.Unlock()
			lost := len(batch) + len(s.queue)
			s.dropped.Add(uint64(lost))
			s.log.Error().Err(err).Int("facts", lost).Msg("history: write at close failed; queued facts dropped")
			return
		}
		s.wrote()
	}
}

// SafeMessage is a sentence about err, from Open or a write, that may be
// shown to a person: it says what is wrong with the file (full, read-only,
// damaged, locked) without its path or SQL. The full error is for the log.
func SafeMessage(err error) string {
	if err == nil {
		return ""
	}
	msg, _ := classify(err)
	return msg
}

// sqliteCoder is the driver's error: modernc.org/sqlite's *Error.
type sqliteCoder interface{ Code() int }

// classify turns a write error into a message safe to show (no path, no
// SQL) and says whether retrying may help.
func classify(err error) (msg string, transient bool) {
	var c sqliteCoder
	if errors.As(err, &c) {
		switch c.Code() & 0xff {
		case 13: // SQLITE_FULL
			return "the disk is full (or the database reached its size limit)", true
		case 8: // SQLITE_READONLY
			return "the database file or its directory is read-only", true
		case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
			return "the database file is damaged", true
		case 10: // SQLITE_IOERR
			return "the disk reported an I/O error", true
		case 14: // SQLITE_CANTOPEN
			return "the database file cannot be opened", true
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return "the database is locked by another process", true
		}
		return "the database refused the write", false
	}
	if errors.Is(err, ErrNewerSchema) {
		return ErrNewerSchema.Error(), false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the write timed out", true
	}
	return "the history database failed", true
}
