package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ActionCount is how many times Who did What to a service in a window;
// Failed of them did not end "ok".
type ActionCount struct {
	What, Who     string
	Count, Failed int
}

// ActionCounts returns the actions of service in [from, to) by what and
// who, in no particular order.
func (s *Store) ActionCounts(ctx context.Context, service string, from, to time.Time) ([]ActionCount, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT what, who, COUNT(*), SUM(outcome <> 'ok') FROM actions
		WHERE service = ? AND at >= ? AND at < ? GROUP BY what, who`, service, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("history action counts %s: %w", service, err)
	}
	defer rows.Close()
	var out []ActionCount
	for rows.Next() {
		var c ActionCount
		if err := rows.Scan(&c.What, &c.Who, &c.Count, &c.Failed); err != nil {
			return nil, fmt.Errorf("history action counts %s: %w", service, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history action counts %s: %w", service, err)
	}
	return out, nil
}

// Restorations returns how many restorations of service were recorded in
// [from, to) and the latest of them with its sessions' outcomes; last is
// the zero Restoration when n is 0.
func (s *Store) Restorations(ctx context.Context, service string, from, to time.Time) (n int, last Restoration, err error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, last, fmt.Errorf("history restorations %s: %w", service, err)
	}
	defer func() { _ = tx.Rollback() }()
	f, t := from.UnixMilli(), to.UnixMilli()
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM restorations WHERE service = ? AND at >= ? AND at < ?`, service, f, t).Scan(&n); err != nil {
		return 0, last, fmt.Errorf("history restorations %s: %w", service, err)
	}
	if n == 0 {
		return 0, last, nil
	}
	var id, at int64
	err = tx.QueryRowContext(ctx, `SELECT id, service, at, found, restored, failed FROM restorations
		WHERE service = ? AND at >= ? AND at < ? ORDER BY at DESC, id DESC LIMIT 1`, service, f, t).
		Scan(&id, &last.Service, &at, &last.Found, &last.Restored, &last.Failed)
	if errors.Is(err, sql.ErrNoRows) { // deleted by retention in between
		return 0, Restoration{}, nil
	}
	if err != nil {
		return 0, last, fmt.Errorf("history restorations %s: %w", service, err)
	}
	last.At = time.UnixMilli(at).UTC()
	rows, err := tx.QueryContext(ctx, `SELECT session, outcome, detail FROM restoration_sessions WHERE restoration_id = ? ORDER BY rowid`, id)
	if err != nil {
		return 0, last, fmt.Errorf("history restorations %s: sessions: %w", service, err)
	}
	defer rows.Close()
	for rows.Next() {
		var so SessionOutcome
		if err := rows.Scan(&so.Session, &so.Outcome, &so.Detail); err != nil {
			return 0, last, fmt.Errorf("history restorations %s: sessions: %w", service, err)
		}
		last.Sessions = append(last.Sessions, so)
	}
	if err := rows.Err(); err != nil {
		return 0, last, fmt.Errorf("history restorations %s: sessions: %w", service, err)
	}
	return n, last, nil
}
