package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-ai/silo/internal/store"
)

const auditColumns = "seq, logged_at, actor_id, action, target, detail, prev_hash, hash"

func scanAudit(row pgx.Row) (*store.AuditEntry, error) {
	var e store.AuditEntry
	if err := row.Scan(&e.Seq, &e.Time, &e.ActorID, &e.Action, &e.Target, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.Time = e.Time.UTC()
	if len(e.PrevHash) == 0 {
		e.PrevHash = nil
	}
	return &e, nil
}

// AppendAudit implements store.Store. The transaction locks the audit table
// in EXCLUSIVE mode before reading the last entry: appenders on every replica
// queue there, while plain reads go on.
func (s *Store) AppendAudit(ctx context.Context, next func(last *store.AuditEntry) (*store.AuditEntry, error)) (*store.AuditEntry, error) {
	e, err := s.appendAudit(ctx, next)
	if err != nil {
		return nil, fmt.Errorf("postgres store: append audit: %w", err)
	}
	return e, nil
}

func (s *Store) appendAudit(ctx context.Context, next func(last *store.AuditEntry) (*store.AuditEntry, error)) (*store.AuditEntry, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	// Rolls back on every path but a commit, a panic in next included, and
	// even if ctx is done, so the connection goes back to the pool clean.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "LOCK TABLE audit_log IN EXCLUSIVE MODE"); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	last, err := scanAudit(tx.QueryRow(ctx, "SELECT "+auditColumns+" FROM audit_log ORDER BY seq DESC LIMIT 1"))
	if errors.Is(err, pgx.ErrNoRows) {
		last, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read last entry: %w", err)
	}
	e, err := next(last)
	if err != nil {
		return nil, err
	}
	if e, err = checkNext(last, e); err != nil {
		return nil, err
	}
	prev := e.PrevHash
	if prev == nil {
		prev = []byte{}
	}
	_, err = tx.Exec(ctx, "INSERT INTO audit_log ("+auditColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		e.Seq, e.Time, e.ActorID, e.Action, e.Target, e.Detail, prev, e.Hash)
	if err != nil {
		return nil, classify(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// checkNext validates what next returned against the last entry and returns
// a copy as it will be stored.
func checkNext(last, e *store.AuditEntry) (*store.AuditEntry, error) {
	if e == nil {
		return nil, errors.New("next returned no entry")
	}
	c := *e
	want, prev := int64(1), []byte(nil)
	if last != nil {
		want, prev = last.Seq+1, last.Hash
	}
	if !bytes.Equal(c.PrevHash, prev) {
		return nil, fmt.Errorf("entry %d: previous hash %x does not match %x", want, c.PrevHash, prev)
	}
	switch {
	case c.Seq == 0:
		c.Seq = want
	case c.Seq != want:
		return nil, fmt.Errorf("entry has seq %d, want %d", c.Seq, want)
	}
	switch {
	case c.Time.IsZero():
		return nil, fmt.Errorf("entry %d has no time", c.Seq)
	case !c.Time.Equal(c.Time.Truncate(time.Microsecond)):
		return nil, fmt.Errorf("entry %d: time %s is finer than a microsecond", c.Seq, c.Time)
	case len(c.Hash) == 0:
		return nil, fmt.Errorf("entry %d has no hash", c.Seq)
	}
	c.Time = c.Time.UTC()
	if len(c.PrevHash) == 0 {
		c.PrevHash = nil
	}
	return &c, nil
}

// ListAudit implements store.Store.
func (s *Store) ListAudit(ctx context.Context, after int64, limit int) ([]store.AuditEntry, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("postgres store: list audit: limit %d is not positive", limit)
	}
	rows, err := s.pool.Query(ctx,
		"SELECT "+auditColumns+" FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", after, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list audit: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditEntry, error) {
		e, err := scanAudit(r)
		if err != nil {
			return store.AuditEntry{}, err
		}
		return *e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres store: list audit: %w", err)
	}
	return out, nil
}

// GetSetting implements store.Store.
func (s *Store) GetSetting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	if err := s.pool.QueryRow(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&v); err != nil {
		return nil, fmt.Errorf("postgres store: get setting %q: %w", key, classify(err))
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// SetSetting implements store.Store.
func (s *Store) SetSetting(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("postgres store: set setting %q: %w", key, err)
	}
	return nil
}

// DeleteSetting implements store.Store.
func (s *Store) DeleteSetting(ctx context.Context, key string) error {
	if err := s.execOne(ctx, "DELETE FROM settings WHERE key = $1", key); err != nil {
		return fmt.Errorf("postgres store: delete setting %q: %w", key, err)
	}
	return nil
}
