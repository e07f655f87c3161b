package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/silo-ai/silo/internal/store"
)

// norm is a time as stored: UTC, microsecond precision. PostgreSQL would
// round nanoseconds; truncating first keeps both stores alike.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := norm(*t)
	return &n
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

const userColumns = "id, name, email, role, created_at, disabled"

func scanUser(row pgx.Row) (*store.User, error) {
	var u store.User
	if err := row.Scan(&u.ID, &u.Name, &u.Email, &u.Role, &u.CreatedAt, &u.Disabled); err != nil {
		return nil, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return &u, nil
}

// CreateUser implements store.Store.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	if u == nil {
		return errors.New("postgres store: create user: nil user")
	}
	id, created := u.ID, u.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created = norm(created)
	_, err := s.pool.Exec(ctx,
		"INSERT INTO users ("+userColumns+") VALUES ($1, $2, $3, $4, $5, $6)",
		id, u.Name, u.Email, u.Role, created, u.Disabled)
	if err != nil {
		return fmt.Errorf("postgres store: create user %q: %w", u.Name, classify(err))
	}
	u.ID, u.CreatedAt = id, created
	return nil
}

// GetUser implements store.Store.
func (s *Store) GetUser(ctx context.Context, id uuid.UUID) (*store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("postgres store: get user %s: %w", id, classify(err))
	}
	return u, nil
}

// GetUserByName implements store.Store.
func (s *Store) GetUserByName(ctx context.Context, name string) (*store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE name = $1", name))
	if err != nil {
		return nil, fmt.Errorf("postgres store: get user %q: %w", name, classify(err))
	}
	return u, nil
}

// ListUsers implements store.Store, ordered by name (byte-wise).
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+userColumns+" FROM users ORDER BY name COLLATE \"C\"")
	if err != nil {
		return nil, fmt.Errorf("postgres store: list users: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.User, error) {
		u, err := scanUser(r)
		if err != nil {
			return store.User{}, err
		}
		return *u, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres store: list users: %w", err)
	}
	return out, nil
}

// UpdateUser implements store.Store: it sets role, email and disabled.
func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	if u == nil {
		return errors.New("postgres store: update user: nil user")
	}
	err := s.execOne(ctx, "UPDATE users SET email = $1, role = $2, disabled = $3 WHERE id = $4",
		u.Email, u.Role, u.Disabled, u.ID)
	if err != nil {
		return fmt.Errorf("postgres store: update user %s: %w", u.ID, err)
	}
	return nil
}

// DeleteUser implements store.Store; keys and limits go by ON DELETE CASCADE.
func (s *Store) DeleteUser(ctx context.Context, id uuid.UUID) error {
	if err := s.execOne(ctx, "DELETE FROM users WHERE id = $1", id); err != nil {
		return fmt.Errorf("postgres store: delete user %s: %w", id, err)
	}
	return nil
}

// CountAdmins implements store.Store.
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx,
		"SELECT count(*) FROM users WHERE role = $1 AND NOT disabled", store.RoleAdmin).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres store: count admins: %w", err)
	}
	return n, nil
}

const keyColumns = "id, user_id, name, prefix, hash, created_at, last_used_at, revoked_at"

func scanKey(row pgx.Row) (*store.APIKey, error) {
	var k store.APIKey
	if err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.LastUsedAt, k.RevokedAt = utcPtr(k.LastUsedAt), utcPtr(k.RevokedAt)
	return &k, nil
}

// CreateAPIKey implements store.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	if k == nil {
		return errors.New("postgres store: create api key: nil key")
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
	_, err := s.pool.Exec(ctx,
		"INSERT INTO api_keys ("+keyColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		id, k.UserID, k.Name, k.Prefix, k.Hash, created, used, revoked)
	if err != nil {
		return fmt.Errorf("postgres store: create api key %q: %w", k.Name, classify(err))
	}
	k.ID, k.CreatedAt, k.LastUsedAt, k.RevokedAt = id, created, used, revoked
	return nil
}

// GetAPIKey implements store.Store.
func (s *Store) GetAPIKey(ctx context.Context, id uuid.UUID) (*store.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("postgres store: get api key %s: %w", id, classify(err))
	}
	return k, nil
}

// GetAPIKeyByHash implements store.Store.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE hash = $1", hash))
	if err != nil {
		return nil, fmt.Errorf("postgres store: get api key by hash: %w", classify(err))
	}
	return k, nil
}

// ListAPIKeys implements store.Store: a user's keys, or all keys if userID is
// nil, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, userID *uuid.UUID) ([]store.APIKey, error) {
	q := "SELECT " + keyColumns + " FROM api_keys"
	var args []any
	if userID != nil {
		q += " WHERE user_id = $1"
		args = append(args, *userID)
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list api keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.APIKey, error) {
		k, err := scanKey(r)
		if err != nil {
			return store.APIKey{}, err
		}
		return *k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres store: list api keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey implements store.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error {
	err := s.execOne(ctx, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2", norm(at), id)
	if err != nil {
		return fmt.Errorf("postgres store: revoke api key %s: %w", id, err)
	}
	return nil
}

// TouchAPIKey implements store.Store.
func (s *Store) TouchAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error {
	err := s.execOne(ctx, "UPDATE api_keys SET last_used_at = greatest(last_used_at, $1) WHERE id = $2", norm(at), id)
	if err != nil {
		return fmt.Errorf("postgres store: touch api key %s: %w", id, err)
	}
	return nil
}
