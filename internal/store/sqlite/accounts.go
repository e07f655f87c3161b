package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

const userColumns = "id, name, email, role, created_at, disabled"

func scanUser(row scanner) (*store.User, error) {
	var (
		u       store.User
		created int64
	)
	if err := row.Scan(&u.ID, &u.Name, &u.Email, &u.Role, &created, &u.Disabled); err != nil {
		return nil, err
	}
	u.CreatedAt = fromMicros(created)
	return &u, nil
}

// CreateUser implements store.Store.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	if u == nil {
		return errors.New("sqlite store: create user: nil user")
	}
	id, created := u.ID, u.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created = norm(created)
	_, err := s.w.ExecContext(ctx,
		"INSERT INTO users ("+userColumns+") VALUES (?, ?, ?, ?, ?, ?)",
		id, u.Name, u.Email, u.Role, created.UnixMicro(), u.Disabled)
	if err != nil {
		return fmt.Errorf("sqlite store: create user %q: %w", u.Name, classify(err))
	}
	u.ID, u.CreatedAt = id, created
	return nil
}

// GetUser implements store.Store.
func (s *Store) GetUser(ctx context.Context, id uuid.UUID) (*store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get user %s: %w", id, classify(err))
	}
	return u, nil
}

// GetUserByName implements store.Store.
func (s *Store) GetUserByName(ctx context.Context, name string) (*store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE name = ?", name))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get user %q: %w", name, classify(err))
	}
	return u, nil
}

// ListUsers implements store.Store, ordered by name.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list users: %w", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list users: %w", err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list users: %w", err)
	}
	return out, nil
}

// UpdateUser implements store.Store: it sets role, email and disabled.
func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	if u == nil {
		return errors.New("sqlite store: update user: nil user")
	}
	err := s.execOne(ctx, "UPDATE users SET email = ?, role = ?, disabled = ? WHERE id = ?",
		u.Email, u.Role, u.Disabled, u.ID)
	if err != nil {
		return fmt.Errorf("sqlite store: update user %s: %w", u.ID, err)
	}
	return nil
}

// DeleteUser implements store.Store; keys and limits go by ON DELETE CASCADE.
func (s *Store) DeleteUser(ctx context.Context, id uuid.UUID) error {
	if err := s.execOne(ctx, "DELETE FROM users WHERE id = ?", id); err != nil {
		return fmt.Errorf("sqlite store: delete user %s: %w", id, err)
	}
	return nil
}

// CountAdmins implements store.Store.
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx,
		"SELECT count(*) FROM users WHERE role = ? AND disabled = 0", store.RoleAdmin).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite store: count admins: %w", err)
	}
	return n, nil
}

const keyColumns = "id, user_id, name, prefix, hash, created_at, last_used_at, revoked_at"

func scanKey(row scanner) (*store.APIKey, error) {
	var (
		k             store.APIKey
		created       int64
		used, revoked sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &created, &used, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMicros(created)
	k.LastUsedAt = fromNullMicros(used)
	k.RevokedAt = fromNullMicros(revoked)
	return &k, nil
}

// CreateAPIKey implements store.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	if k == nil {
		return errors.New("sqlite store: create api key: nil key")
	}
	id, created := k.ID, k.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created = norm(created)
	used, revoked := normPtr(k.LastUsedAt), normPtr(k.RevokedAt)
	_, err := s.w.ExecContext(ctx,
		"INSERT INTO api_keys ("+keyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		id, k.UserID, k.Name, k.Prefix, k.Hash, created.UnixMicro(), nullMicros(used), nullMicros(revoked))
	if err != nil {
		return fmt.Errorf("sqlite store: create api key %q: %w", k.Name, classify(err))
	}
	k.ID, k.CreatedAt, k.LastUsedAt, k.RevokedAt = id, created, used, revoked
	return nil
}

// GetAPIKey implements store.Store.
func (s *Store) GetAPIKey(ctx context.Context, id uuid.UUID) (*store.APIKey, error) {
	k, err := scanKey(s.r.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get api key %s: %w", id, classify(err))
	}
	return k, nil
}

// GetAPIKeyByHash implements store.Store.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	k, err := scanKey(s.r.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE hash = ?", hash))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get api key by hash: %w", classify(err))
	}
	return k, nil
}

// ListAPIKeys implements store.Store: a user's keys, or all keys if userID is
// nil, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, userID *uuid.UUID) ([]store.APIKey, error) {
	q := "SELECT " + keyColumns + " FROM api_keys"
	var args []any
	if userID != nil {
		q += " WHERE user_id = ?"
		args = append(args, *userID)
	}
	rows, err := s.r.QueryContext(ctx, q+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list api keys: %w", err)
	}
	defer rows.Close()
	var out []store.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list api keys: %w", err)
		}
		out = append(out, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list api keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey implements store.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error {
	err := s.execOne(ctx, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
		at.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("sqlite store: revoke api key %s: %w", id, err)
	}
	return nil
}

// TouchAPIKey implements store.Store.
func (s *Store) TouchAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error {
	err := s.execOne(ctx, "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, ?1), ?1) WHERE id = ?2",
		at.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("sqlite store: touch api key %s: %w", id, err)
	}
	return nil
}
