package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

const auditColumns = "seq, logged_at, actor_id, action, target, detail, prev_hash, hash"

func scanAudit(row scanner) (*store.AuditEntry, error) {
	var (
		e      store.AuditEntry
		logged int64
		actor  uuid.NullUUID
	)
	if err := row.Scan(&e.Seq, &logged, &actor, &e.Action, &e.Target, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.Time = fromMicros(logged)
	if actor.Valid {
		e.ActorID = &actor.UUID
	}
	if len(e.PrevHash) == 0 {
		e.PrevHash = nil
	}
	return &e, nil
}

// AppendAudit implements store.Store. The transaction begins IMMEDIATE (see
// Open), which takes SQLite's write lock before the last entry is read, so
// appenders in this and other processes are serialised.
func (s *Store) AppendAudit(ctx context.Context, next func(last *store.AuditEntry) (*store.AuditEntry, error)) (*store.AuditEntry, error) {
	e, err := s.appendAudit(ctx, next)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: append audit: %w", err)
	}
	return e, nil
}

func (s *Store) appendAudit(ctx context.Context, next func(last *store.AuditEntry) (*store.AuditEntry, error)) (*store.AuditEntry, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	// Rolls back on every path but a commit, a panic in next included, so
	// the one write connection is never left inside a transaction.
	defer tx.Rollback()
	last, err := scanAudit(tx.QueryRowContext(ctx, "SELECT "+auditColumns+" FROM audit_log ORDER BY seq DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
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
	var actor any // NULL for the system
	if e.ActorID != nil {
		actor = *e.ActorID
	}
	prev := e.PrevHash
	if prev == nil {
		prev = []byte{}
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO audit_log ("+auditColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		e.Seq, e.Time.UnixMicro(), actor, e.Action, e.Target, e.Detail, prev, e.Hash)
	if err != nil {
		return nil, classify(err)
	}
	if err := tx.Commit(); err != nil {
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
		return nil, fmt.Errorf("sqlite store: list audit: limit %d is not positive", limit)
	}
	rows, err := s.r.QueryContext(ctx,
		"SELECT "+auditColumns+" FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list audit: %w", err)
		}
		out = append(out, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list audit: %w", err)
	}
	return out, nil
}

// GetSetting implements store.Store.
func (s *Store) GetSetting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	if err := s.r.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v); err != nil {
		return nil, fmt.Errorf("sqlite store: get setting %q: %w", key, classify(err))
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
	_, err := s.w.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("sqlite store: set setting %q: %w", key, err)
	}
	return nil
}

// DeleteSetting implements store.Store.
func (s *Store) DeleteSetting(ctx context.Context, key string) error {
	if err := s.execOne(ctx, "DELETE FROM settings WHERE key = ?", key); err != nil {
		return fmt.Errorf("sqlite store: delete setting %q: %w", key, err)
	}
	return nil
}
