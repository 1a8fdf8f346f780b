package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrNewerSchema is why Open refuses a database written by a newer build.
var ErrNewerSchema = errors.New("the history database was written by a newer sanasend-bot")

// migrations is the schema, one step per version: migrations[i] brings a
// database to version i+1. Steps are only ever appended; an applied step is
// never edited. Times are Unix milliseconds (UTC); durations milliseconds,
// response times microseconds.
var migrations = [...]string{
	// 1: checks, rollups, incidents, actions, restorations.
	`CREATE TABLE checks (
		service    TEXT    NOT NULL,
		at         INTEGER NOT NULL,
		state      INTEGER NOT NULL,
		latency_us INTEGER NOT NULL,
		rss        INTEGER NOT NULL,
		maint      INTEGER NOT NULL,
		PRIMARY KEY (service, at)
	) WITHOUT ROWID;
	CREATE INDEX checks_at ON checks (at);
	CREATE TABLE rollups (
		service      TEXT    NOT NULL,
		res          INTEGER NOT NULL,
		start        INTEGER NOT NULL,
		count        INTEGER NOT NULL,
		healthy      INTEGER NOT NULL,
		unhealthy    INTEGER NOT NULL,
		stopped      INTEGER NOT NULL,
		healthy_ms   INTEGER NOT NULL,
		unhealthy_ms INTEGER NOT NULL,
		stopped_ms   INTEGER NOT NULL,
		maint_ms     INTEGER NOT NULL,
		rt_n         INTEGER NOT NULL,
		rt_min_us    INTEGER NOT NULL,
		rt_avg_us    REAL    NOT NULL,
		rt_max_us    INTEGER NOT NULL,
		rss_max      INTEGER NOT NULL,
		PRIMARY KEY (service, res, start)
	) WITHOUT ROWID;
	CREATE INDEX rollups_res_start ON rollups (res, start);
	CREATE TABLE watermarks (
		res  INTEGER PRIMARY KEY,
		upto INTEGER NOT NULL
	);
	CREATE TABLE incidents (
		id          TEXT PRIMARY KEY,
		service     TEXT    NOT NULL,
		failed_at   INTEGER NOT NULL,
		opened_at   INTEGER NOT NULL,
		cause       TEXT    NOT NULL,
		acked_by    TEXT    NOT NULL DEFAULT '',
		acked_at    INTEGER,
		resolved_at INTEGER,
		resolved_by TEXT    NOT NULL DEFAULT '',
		outage_ms   INTEGER
	);
	CREATE INDEX incidents_service ON incidents (service, failed_at);
	CREATE TABLE actions (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		service     TEXT    NOT NULL,
		at          INTEGER NOT NULL,
		who         TEXT    NOT NULL,
		what        TEXT    NOT NULL,
		outcome     TEXT    NOT NULL,
		duration_ms INTEGER NOT NULL
	);
	CREATE INDEX actions_service ON actions (service, at);
	CREATE TABLE restorations (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		service  TEXT    NOT NULL,
		at       INTEGER NOT NULL,
		found    INTEGER NOT NULL,
		restored INTEGER NOT NULL,
		failed   INTEGER NOT NULL
	);
	CREATE INDEX restorations_service ON restorations (service, at);
	CREATE TABLE restoration_sessions (
		restoration_id INTEGER NOT NULL REFERENCES restorations (id) ON DELETE CASCADE,
		session        TEXT NOT NULL,
		outcome        TEXT NOT NULL,
		detail         TEXT NOT NULL
	);
	CREATE INDEX restoration_sessions_id ON restoration_sessions (restoration_id);`,
	// 2: small durable documents (state.go): the alert state, maintenance
	// windows and confirmation tokens, by kind and key.
	`CREATE TABLE state (
		kind       TEXT    NOT NULL,
		key        TEXT    NOT NULL,
		value      BLOB    NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (kind, key)
	) WITHOUT ROWID;`,
}

// SchemaVersion is the schema version this build writes.
const SchemaVersion = len(migrations)

// migrate brings db to SchemaVersion, one transaction per step, and refuses
// a database written by a newer build.
func migrate(ctx context.Context, db *sql.DB, nowMs int64, steps []string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var have int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(steps) {
		return fmt.Errorf("%w: schema version %d, this build knows %d; run that version or move the file away", ErrNewerSchema, have, len(steps))
	}
	for v := have + 1; v <= len(steps); v++ {
		if err := applyStep(ctx, db, v, steps[v-1], nowMs); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	return nil
}

func applyStep(ctx context.Context, db *sql.DB, version int, stmt string, nowMs int64) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, nowMs); err != nil {
		return err
	}
	return tx.Commit()
}
