package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/silo-ai/silo/internal/store"
)

// RecordUsage implements store.Store. The row is written only if the user
// exists and the key, if any, is theirs; the table itself has no foreign keys
// so that usage outlives a deleted user.
func (s *Store) RecordUsage(ctx context.Context, u *store.Usage) error {
	if u == nil {
		return errors.New("postgres store: record usage: nil usage")
	}
	id, created := u.ID, u.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created = norm(created)
	err := s.execOne(ctx, `INSERT INTO usage_records
		(id, user_id, key_id, model, prompt_tokens, completion_tokens, created_at)
		SELECT $1::uuid, $2::uuid, $3::uuid, $4::text, $5::bigint, $6::bigint, $7::timestamptz
		WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)
		AND ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM api_keys WHERE id = $3 AND user_id = $2))`,
		id, u.UserID, u.KeyID, u.Model, u.PromptTokens, u.CompletionTokens, created)
	if err != nil {
		return fmt.Errorf("postgres store: record usage of %s: %w", u.UserID, err)
	}
	u.ID, u.CreatedAt = id, created
	return nil
}

// TokensUsed implements store.Store.
func (s *Store) TokensUsed(ctx context.Context, userID uuid.UUID, since time.Time) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint
		FROM usage_records WHERE user_id = $1 AND created_at >= $2`, userID, norm(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres store: tokens used by %s: %w", userID, err)
	}
	return n, nil
}

// UsageTotals implements store.Store.
func (s *Store) UsageTotals(ctx context.Context, f store.UsageFilter) ([]store.UsageTotal, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.UserID != nil {
		add("user_id = $%d", *f.UserID)
	}
	if !f.Since.IsZero() {
		add("created_at >= $%d", norm(f.Since))
	}
	if !f.Until.IsZero() {
		add("created_at < $%d", norm(f.Until))
	}
	q := `SELECT user_id, model, count(*), sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint
		FROM usage_records`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.pool.Query(ctx, q+` GROUP BY user_id, model ORDER BY user_id, model COLLATE "C"`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres store: usage totals: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.UsageTotal, error) {
		var t store.UsageTotal
		err := r.Scan(&t.UserID, &t.Model, &t.Requests, &t.PromptTokens, &t.CompletionTokens)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres store: usage totals: %w", err)
	}
	return out, nil
}

// GetLimits implements store.Store.
func (s *Store) GetLimits(ctx context.Context, userID uuid.UUID) (*store.Limits, error) {
	var (
		l           = store.Limits{UserID: userID}
		tokens, rpm *int64
		updated     *time.Time
		found       uuid.UUID
	)
	err := s.pool.QueryRow(ctx, `SELECT u.id, l.tokens_per_day, l.requests_per_minute, l.updated_at
		FROM users u LEFT JOIN limits l ON l.user_id = u.id WHERE u.id = $1`, userID).
		Scan(&found, &tokens, &rpm, &updated)
	if err != nil {
		return nil, fmt.Errorf("postgres store: get limits of %s: %w", userID, classify(err))
	}
	if updated != nil {
		l.TokensPerDay, l.RequestsPerMinute, l.UpdatedAt = *tokens, *rpm, updated.UTC()
	}
	return &l, nil
}

// SetLimits implements store.Store.
func (s *Store) SetLimits(ctx context.Context, l *store.Limits) error {
	if l == nil {
		return errors.New("postgres store: set limits: nil limits")
	}
	updated := l.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	updated = norm(updated)
	_, err := s.pool.Exec(ctx, `INSERT INTO limits (user_id, tokens_per_day, requests_per_minute, updated_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET tokens_per_day = excluded.tokens_per_day,
			requests_per_minute = excluded.requests_per_minute, updated_at = excluded.updated_at`,
		l.UserID, l.TokensPerDay, l.RequestsPerMinute, updated)
	if err != nil {
		return fmt.Errorf("postgres store: set limits of %s: %w", l.UserID, classify(err))
	}
	l.UpdatedAt = updated
	return nil
}
