package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// t0 is a Monday at 00:00 UTC: day, hour and minute boundaries line up.
var t0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

func openTest(t *testing.T, path string, clock clockwork.Clock, mutate func(*Options)) *Store {
	t.Helper()
	opts := Options{Clock: clock, CheckInterval: 30 * time.Second, QueueSize: 1 << 17}
	if mutate != nil {
		mutate(&opts)
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// waitWritten waits until everything recorded is written, none dropped.
func waitWritten(t *testing.T, s *Store) {
	t.Helper()
	waitFlushed(t, s)
	if d := s.Health().Dropped; d != 0 {
		t.Fatalf("history dropped %d facts", d)
	}
}

// waitFlushed waits until the writer has nothing queued and the last write
// succeeded.
func waitFlushed(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := s.Health()
		if h.Queued == 0 && !h.Failing && !h.LastWrite.IsZero() {
			// The writer may hold a batch it took off the queue,
			// not yet committed.
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			if err := s.Flush(ctx); err != nil {
				t.Fatalf("%v: %+v", err, s.Health())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("history not written: %+v", s.Health())
		}
		time.Sleep(time.Millisecond)
	}
}

func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestOpenValidates(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		path   string
		mutate func(*Options)
		want   string
	}{
		{"no path", "", nil, "no path"},
		{"negative queue", filepath.Join(dir, "a.db"), func(o *Options) { o.QueueSize = -1 }, "queue size"},
		{"negative interval", filepath.Join(dir, "a.db"), func(o *Options) { o.CheckInterval = -time.Second }, "check interval"},
		{"negative max size", filepath.Join(dir, "a.db"), func(o *Options) { o.MaxSize = -1 }, "max size"},
		{"corrupt file", writeFile(t, dir, "junk.db", strings.Repeat("not a database ", 500)), nil, "open history"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{}
			if tt.mutate != nil {
				tt.mutate(&opts)
			}
			s, err := Open(tt.path, opts)
			if err == nil {
				_ = s.Close()
				t.Fatalf("Open(%q) = nil error; want one containing %q", tt.path, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%q) = %v; want it to contain %q", tt.path, err, tt.want)
			}
		})
	}
}

func TestOpenCorruptFileSaysSo(t *testing.T) {
	path := writeFile(t, t.TempDir(), "history.db", strings.Repeat("not a database ", 500))
	_, err := Open(path, Options{})
	if got := SafeMessage(err); got != "the database file is damaged" {
		t.Fatalf("SafeMessage(Open(corrupt file)) = %q (%v); want %q", got, err, "the database file is damaged")
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	clock := clockwork.NewFakeClockAt(t0)
	s := openTest(t, path, clock, nil)
	var versions []int
	rows, err := s.rdb.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	_ = rows.Close()
	if len(versions) != SchemaVersion || versions[len(versions)-1] != SchemaVersion {
		t.Fatalf("applied versions = %v; want 1..%d", versions, SchemaVersion)
	}
	var mode string
	if err := s.wdb.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := s.wdb.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}

	// A later step applies on top, once; a failing step leaves no trace.
	ctx := context.Background()
	steps := append(migrations[:], `CREATE TABLE extra (x INTEGER)`, `CREATE TABLE broken (`)
	extra, broken := SchemaVersion+1, SchemaVersion+2
	if err := migrate(ctx, s.wdb, 1, steps); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d", broken)) {
		t.Fatalf("migrate with a broken step %d = %v; want an error naming it", broken, err)
	}
	var have int
	if err := s.wdb.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&have); err != nil || have != extra {
		t.Fatalf("schema version after a failed step = %d, %v; want %d", have, err, extra)
	}
	if err := migrate(ctx, s.wdb, 1, steps[:extra]); err != nil {
		t.Fatalf("migrate again to version %d = %v; want nil (nothing to do)", extra, err)
	}
	_ = s.Close()

	// Now the file is newer than this build: it refuses it.
	_, err = Open(path, Options{Clock: clock})
	if !errors.Is(err, ErrNewerSchema) || SafeMessage(err) != ErrNewerSchema.Error() {
		t.Fatalf("Open of a newer database = %v (safe: %q); want ErrNewerSchema", err, SafeMessage(err))
	}
}

func TestReopenKeepsHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	clock := clockwork.NewFakeClockAt(t0)
	s := openTest(t, path, clock, nil)
	for i := range 10 {
		s.RecordCheck(Check{Service: "whatsapp", At: t0.Add(time.Duration(i) * 30 * time.Second), State: Healthy, Latency: 12 * time.Millisecond})
	}
	s.RecordIncidentOpened(IncidentOpened{ID: "i1", Service: "whatsapp", FailedAt: t0, OpenedAt: t0.Add(time.Minute), Cause: "crashed"})
	s.RecordIncidentResolved("i1", "U123", t0.Add(5*time.Minute))
	s.RecordAction(Action{Service: "whatsapp", At: t0, Who: "U123", What: "restart", Outcome: "ok", Duration: 3 * time.Second})
	s.RecordRestoration(Restoration{Service: "whatsapp", At: t0, Found: 2, Restored: 1, Failed: 1,
		Sessions: []SessionOutcome{{Session: "a", Outcome: "restored"}, {Session: "b", Outcome: "failed", Detail: "auth"}}})
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if h := s.Health(); h.Dropped != 0 {
		t.Fatalf("dropped %d facts at Close; want 0", h.Dropped)
	}

	s2 := openTest(t, path, clock, nil)
	for table, want := range map[string]int{"checks": 10, "incidents": 1, "actions": 1, "restorations": 1, "restoration_sessions": 2} {
		if got := countRows(t, s2, table); got != want {
			t.Errorf("after reopen, %s has %d rows; want %d", table, got, want)
		}
	}
	var outage int64
	if err := s2.rdb.QueryRow(`SELECT outage_ms FROM incidents WHERE id = 'i1'`).Scan(&outage); err != nil || outage != (5*time.Minute).Milliseconds() {
		t.Errorf("outage_ms = %d, %v; want %d", outage, err, (5 * time.Minute).Milliseconds())
	}
}

// TestFullDiskNeverBlocks fills the database to its size limit (SQLite's
// max_page_count: the error a full disk gives): recording still returns at
// once, drops are counted, Health says the disk is full, and writes resume
// when there is room again.
func TestFullDiskNeverBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	clock := clockwork.NewFakeClockAt(t0)
	s := openTest(t, path, clock, func(o *Options) { o.MaxSize = 256 << 10; o.QueueSize = 64 })

	// Record until the writer hits the limit; no call may wait on it.
	slowest := recordUntilFailing(t, s, "the full database")
	if slowest > 100*time.Millisecond {
		t.Errorf("slowest RecordCheck took %s; recording must not wait on the disk", slowest)
	}
	h := s.Health()
	if h.LastErrorAt.IsZero() {
		t.Errorf("Health().LastErrorAt is zero with an error")
	}
	if !strings.Contains(h.LastError, "disk is full") || h.Dropped == 0 || strings.Contains(h.LastError, path) {
		t.Fatalf("Health = %+v; want a safe 'disk is full' error and dropped facts", h)
	}

	// Room again: the writer's retry (after its backoff) gets through.
	if _, err := s.wdb.Exec(`PRAGMA max_page_count = 1000000`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Health().Failing {
		if time.Now().After(deadline) {
			t.Fatalf("writes did not resume: %+v", s.Health())
		}
		clock.Advance(backoffMax)
		time.Sleep(time.Millisecond)
	}
	// What was queued while the disk was full goes first: a check
	// recorded before the queue has room again would be dropped.
	waitFlushed(t, s)
	s.RecordCheck(Check{Service: "later", At: t0, State: Healthy})
	waitFlushed(t, s)
	if h := s.Health(); h.LastError != "" || h.LastWrite.IsZero() {
		t.Fatalf("Health after recovery = %+v; want no error", h)
	}
	var got int
	if err := s.rdb.QueryRow(`SELECT COUNT(*) FROM checks WHERE service = 'later'`).Scan(&got); err != nil || got != 1 {
		t.Fatalf("check recorded after recovery: %d rows, %v; want 1 (%+v)", got, err, s.Health())
	}
}

func TestRecordAfterCloseDrops(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clockwork.NewFakeClockAt(t0), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.RecordCheck(Check{Service: "whatsapp", At: t0, State: Healthy})
	if got := s.Health().Dropped; got != 1 {
		t.Fatalf("Dropped after a record on a closed store = %d; want 1", got)
	}
}

// TestRefusedFactCostsOnlyItself: a fact the database refuses (here a
// constraint) is dropped alone; the facts batched with it are written.
func TestRefusedFactCostsOnlyItself(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clockwork.NewFakeClockAt(t0), nil)
	for i := range 5 {
		s.RecordCheck(Check{Service: "whatsapp", At: t0.Add(time.Duration(i) * time.Second), State: Healthy})
	}
	s.enqueue(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO checks (service) VALUES (NULL)`)
		return err
	})
	for i := 5; i < 10; i++ {
		s.RecordCheck(Check{Service: "whatsapp", At: t0.Add(time.Duration(i) * time.Second), State: Healthy})
	}
	waitFlushed(t, s)
	if got := countRows(t, s, "checks"); got != 10 {
		t.Errorf("checks written = %d; want 10", got)
	}
	// LastError is cleared by the next good write; LastErrorAt stays.
	if h := s.Health(); h.Dropped != 1 || h.LastErrorAt.IsZero() || h.Failing {
		t.Errorf("Health = %+v; want 1 dropped, an error time, not failing", h)
	}
}

// recordUntilFailing records checks until the writer reports a failing
// write (what, in the failure message), then 1000 more that must be dropped
// at once, and returns the slowest RecordCheck call. Its short sleeps let
// the writer run; the deadline bounds the whole.
func recordUntilFailing(t *testing.T, s *Store, what string) time.Duration {
	t.Helper()
	var slowest time.Duration
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; !s.Health().Failing; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("Health never reported %s: %+v", what, s.Health())
		}
		begin := time.Now()
		s.RecordCheck(Check{Service: "whatsapp", At: t0.Add(time.Duration(i+1) * time.Second), State: Healthy, Latency: time.Millisecond, TreeRSS: 1 << 30})
		slowest = max(slowest, time.Since(begin))
		if i%32 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	for i := range 1000 {
		begin := time.Now()
		s.RecordCheck(Check{Service: "whatsapp", At: t0.Add(-time.Duration(i+1) * time.Second), State: Healthy})
		slowest = max(slowest, time.Since(begin))
	}
	return slowest
}

// TestFlushWaitsForTheCommit: after Flush, every fact recorded before it
// can be read; a Flush that cannot finish returns its context's error.
func TestFlushWaitsForTheCommit(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clockwork.NewFakeClockAt(t0), nil)
	for round := 1; round <= 20; round++ {
		for i := range 10 {
			s.RecordCheck(Check{Service: "whatsapp", At: t0.Add(time.Duration(round*10+i) * time.Second), State: Healthy})
		}
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := countRows(t, s, "checks"); got != round*10 {
			t.Fatalf("after flush %d: %d checks readable; want %d", round, got, round*10)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush of a closed store = %v; want the context's deadline", err)
	}
}
