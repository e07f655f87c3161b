package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

// RecordUsage implements store.Store. The row is written only if the user
// exists and the key, if any, is theirs; the table itself has no foreign keys
// so that usage outlives a deleted user.
func (s *Store) RecordUsage(ctx context.Context, u *store.Usage) error {
	if u == nil {
		return errors.New("sqlite store: record usage: nil usage")
	}
	id, created := u.ID, u.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created = norm(created)
	var key any // NULL unless set
	if u.KeyID != nil {
		key = *u.KeyID
	}
	err := s.execOne(ctx, `INSERT INTO usage_records
		(id, user_id, key_id, model, prompt_tokens, completion_tokens, created_at)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
		WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2)
		AND (?3 IS NULL OR EXISTS (SELECT 1 FROM api_keys WHERE id = ?3 AND user_id = ?2))`,
		id, u.UserID, key, u.Model, u.PromptTokens, u.CompletionTokens, created.UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlite store: record usage of %s: %w", u.UserID, err)
	}
	u.ID, u.CreatedAt = id, created
	return nil
}

// TokensUsed implements store.Store.
func (s *Store) TokensUsed(ctx context.Context, userID uuid.UUID, since time.Time) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)
		FROM usage_records WHERE user_id = ? AND created_at >= ?`, userID, since.UnixMicro()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite store: tokens used by %s: %w", userID, err)
	}
	return n, nil
}

// UsageTotals implements store.Store.
func (s *Store) UsageTotals(ctx context.Context, f store.UsageFilter) ([]store.UsageTotal, error) {
	var (
		where []string
		args  []any
	)
	if f.UserID != nil {
		where, args = append(where, "user_id = ?"), append(args, *f.UserID)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, f.Until.UnixMicro())
	}
	q := "SELECT user_id, model, count(*), sum(prompt_tokens), sum(completion_tokens) FROM usage_records"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.r.QueryContext(ctx, q+" GROUP BY user_id, model ORDER BY user_id, model", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: usage totals: %w", err)
	}
	defer rows.Close()
	var out []store.UsageTotal
	for rows.Next() {
		var t store.UsageTotal
		if err := rows.Scan(&t.UserID, &t.Model, &t.Requests, &t.PromptTokens, &t.CompletionTokens); err != nil {
			return nil, fmt.Errorf("sqlite store: usage totals: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: usage totals: %w", err)
	}
	return out, nil
}

// GetLimits implements store.Store.
func (s *Store) GetLimits(ctx context.Context, userID uuid.UUID) (*store.Limits, error) {
	var (
		l                = store.Limits{UserID: userID}
		tokens, rpm, upd sql.NullInt64
		found            uuid.UUID
	)
	err := s.r.QueryRowContext(ctx, `SELECT u.id, l.tokens_per_day, l.requests_per_minute, l.updated_at
		FROM users u LEFT JOIN limits l ON l.user_id = u.id WHERE u.id = ?`, userID).
		Scan(&found, &tokens, &rpm, &upd)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get limits of %s: %w", userID, classify(err))
	}
	if upd.Valid {
		l.TokensPerDay, l.RequestsPerMinute, l.UpdatedAt = tokens.Int64, rpm.Int64, fromMicros(upd.Int64)
	}
	return &l, nil
}

// SetLimits implements store.Store.
func (s *Store) SetLimits(ctx context.Context, l *store.Limits) error {
	if l == nil {
		return errors.New("sqlite store: set limits: nil limits")
	}
	updated := l.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	updated = norm(updated)
	_, err := s.w.ExecContext(ctx, `INSERT INTO limits (user_id, tokens_per_day, requests_per_minute, updated_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET tokens_per_day = excluded.tokens_per_day,
			requests_per_minute = excluded.requests_per_minute, updated_at = excluded.updated_at`,
		l.UserID, l.TokensPerDay, l.RequestsPerMinute, updated.UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlite store: set limits of %s: %w", l.UserID, classify(err))
	}
	l.UpdatedAt = updated
	return nil
}
