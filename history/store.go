package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// Options configure a Store. The zero value of each field means its default.
type Options struct {
	// Clock is read for the time of writes, backoff and drop-log rate
	// limiting. Default: the real clock.
	Clock clockwork.Clock
	// Logger receives the writer's errors and dropped-write notices.
	// Default: zerolog.Nop().
	Logger zerolog.Logger
	// QueueSize bounds the facts waiting for the writer. Default 4096.
	QueueSize int
	// CheckInterval is the monitor's health-check interval: a check covers
	// the time until the next one, and no check for more than twice this
	// long is a gap whose time is unknown. Default 30s.
	CheckInterval time.Duration
	// BusyTimeout is how long SQLite waits for a lock held by another
	// connection. Default 5s.
	BusyTimeout time.Duration
	// CloseTimeout bounds how long Close waits for the queue to drain.
	// Default 5s.
	CloseTimeout time.Duration
	// MaxSize, when positive, caps the database file in bytes (SQLite's
	// max_page_count): writes beyond it fail like a full disk.
	MaxSize int64
}

func (o Options) withDefaults() (Options, error) {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.QueueSize == 0 {
		o.QueueSize = 4096
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = 30 * time.Second
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = 5 * time.Second
	}
	switch {
	case o.QueueSize < 0:
		return o, fmt.Errorf("queue size %d: must be positive", o.QueueSize)
	case o.CheckInterval < 0:
		return o, fmt.Errorf("check interval %s: must be positive", o.CheckInterval)
	case o.BusyTimeout < 0:
		return o, fmt.Errorf("busy timeout %s: must be positive", o.BusyTimeout)
	case o.CloseTimeout < 0:
		return o, fmt.Errorf("close timeout %s: must be positive", o.CloseTimeout)
	case o.MaxSize < 0:
		return o, fmt.Errorf("max size %d: must not be negative", o.MaxSize)
	}
	return o, nil
}

// Store is the history database. Its Record methods never block; its
// queries read through their own connections while the writer writes.
// A Store is safe for concurrent use.
type Store struct {
	path  string
	opts  Options
	clock clockwork.Clock
	log   zerolog.Logger

	wdb *sql.DB // one connection: the writer, Rollup and Retain take turns
	rdb *sql.DB // readers, query_only

	queue   chan op
	stop    chan struct{}
	done    chan struct{}
	closing atomic.Bool
	closeMu sync.Once

	dropped atomic.Uint64

	// State changes (state.go): pending ones by kind, the writer's batch
	// in flight, and how many batches left flight (LoadState's check).
	stateMu      sync.Mutex
	statePending map[string]*kindChange
	stateFlight  map[string]*kindChange
	stateGen     uint64
	stateReady   chan struct{} // wakes the writer; capacity 1

	mu          sync.Mutex
	lastWrite   time.Time
	lastErr     string
	lastErrAt   time.Time
	failing     bool
	lastDropLog time.Time
	dropsLogged uint64
}

const pageSize = 4096

func dsn(path string, busy time.Duration, extra ...string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	for _, p := range extra {
		q.Add("_pragma", p)
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens the database at path, creating it if needed, and applies the
// schema migrations this build knows, each in one transaction. It refuses a
// database whose schema is newer than this build's. It starts the writer
// goroutine; Close stops it.
func Open(path string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open history: %w", err)
	}
	if path == "" {
		return nil, errors.New("open history: no path")
	}
	// Created owner-only: SQLite gives the write-ahead log and the shared
	// memory file the mode of the database (an empty file is a new one).
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		_ = f.Close()
	}
	var extra []string
	if opts.MaxSize > 0 {
		extra = append(extra, fmt.Sprintf("max_page_count(%d)", max(opts.MaxSize/pageSize, 1)))
	}
	wdb, err := sql.Open("sqlite", dsn(path, opts.BusyTimeout, append([]string{"page_size(4096)"}, extra...)...))
	if err != nil {
		return nil, fmt.Errorf("open history %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	ctx, cancel := context.WithTimeout(context.Background(), opts.BusyTimeout+10*time.Second)
	defer cancel()
	if err := migrate(ctx, wdb, opts.Clock.Now().UnixMilli(), migrations[:]); err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("open history %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", dsn(path, opts.BusyTimeout, "query_only(1)"))
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("open history %s: readers: %w", path, err)
	}
	rdb.SetMaxOpenConns(4)
	s := &Store{
		path:  path,
		opts:  opts,
		clock: opts.Clock,
		log:   opts.Logger,
		wdb:   wdb,
		rdb:   rdb,
		queue: make(chan op, opts.QueueSize),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),

		statePending: make(map[string]*kindChange),
		stateFlight:  make(map[string]*kindChange),
		stateReady:   make(chan struct{}, 1),
	}
	go s.run()
	return s, nil
}

// Close stops accepting facts and state changes, waits up to
// Options.CloseTimeout for the writer to write the pending state changes
// and what is queued (what is left is counted as dropped), and closes the
// file. It is safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.closeMu.Do(func() {
		s.closing.Store(true)
		close(s.stop)
		<-s.done
		// A Record racing Close may have queued after the drain.
		if n := len(s.queue) + s.stateCount(); n > 0 {
			s.dropped.Add(uint64(n))
		}
		err = errors.Join(s.wdb.Close(), s.rdb.Close())
		if err != nil {
			err = fmt.Errorf("close history: %w", err)
		}
	})
	return err
}

// Health is what status, doctor and /metrics show about the store.
type Health struct {
	Path      string
	LastWrite time.Time // zero: nothing written since Open
	// LastError is a message safe to show (no path, no SQL), empty once a
	// write succeeded after it; LastErrorAt is when the last error happened.
	LastError   string
	LastErrorAt time.Time
	Failing     bool   // the writer is retrying a failed write
	Queued      int    // facts and state changes waiting for the writer
	Dropped     uint64 // facts and state changes lost since Open: queue full (facts only), or Close's deadline
	FileSize    int64  // the database and its write-ahead log, in bytes
}

// Health reports the writer's state and the file's size.
func (s *Store) Health() Health {
	s.mu.Lock()
	h := Health{
		Path:        s.path,
		LastWrite:   s.lastWrite,
		LastError:   s.lastErr,
		LastErrorAt: s.lastErrAt,
		Failing:     s.failing,
	}
	s.mu.Unlock()
	h.Queued = len(s.queue) + s.stateCount()
	h.Dropped = s.dropped.Load()
	for _, p := range []string{s.path, s.path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			h.FileSize += fi.Size()
		}
	}
	return h
}
