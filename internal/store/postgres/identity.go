package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/silo-ai/silo/internal/store"
)

// Identity (issue 4): passkeys, challenges, sessions, TOTP, invitations.

const passkeyColumns = "id, user_id, credential_id, name, credential, created_at, last_used_at"

func scanPasskey(row pgx.Row) (*store.Passkey, error) {
	var p store.Passkey
	if err := row.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.Name, &p.Credential, &p.CreatedAt, &p.LastUsedAt); err != nil {
		return nil, err
	}
	p.CreatedAt, p.LastUsedAt = p.CreatedAt.UTC(), utcPtr(p.LastUsedAt)
	return &p, nil
}

func checkPasskey(p *store.Passkey) error {
	switch {
	case p == nil:
		return errors.New("nil passkey")
	case len(p.CredentialID) == 0 || len(p.CredentialID) > 1023:
		return errors.New("credential id must be 1 to 1023 bytes")
	case len(p.Credential) == 0:
		return errors.New("empty credential")
	}
	return nil
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertPasskey(ctx context.Context, ex execer, p *store.Passkey) error {
	id, created := p.ID, p.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created = norm(created)
	lastUsed := normPtr(p.LastUsedAt)
	_, err := ex.Exec(ctx, "INSERT INTO passkeys ("+passkeyColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
		id, p.UserID, p.CredentialID, p.Name, p.Credential, created, lastUsed)
	if err != nil {
		return classify(err)
	}
	p.ID, p.CreatedAt, p.LastUsedAt = id, created, lastUsed
	return nil
}

// CreatePasskey implements store.Store.
func (s *Store) CreatePasskey(ctx context.Context, p *store.Passkey) error {
	if err := checkPasskey(p); err != nil {
		return fmt.Errorf("postgres store: create passkey: %w", err)
	}
	if err := insertPasskey(ctx, s.pool, p); err != nil {
		return fmt.Errorf("postgres store: create passkey %q: %w", p.Name, err)
	}
	return nil
}

// GetPasskeyByCredentialID implements store.Store.
func (s *Store) GetPasskeyByCredentialID(ctx context.Context, credentialID []byte) (*store.Passkey, error) {
	p, err := scanPasskey(s.pool.QueryRow(ctx, "SELECT "+passkeyColumns+" FROM passkeys WHERE credential_id = $1", credentialID))
	if err != nil {
		return nil, fmt.Errorf("postgres store: get passkey: %w", classify(err))
	}
	return p, nil
}

// GetPasskey implements store.Store.
func (s *Store) GetPasskey(ctx context.Context, id uuid.UUID) (*store.Passkey, error) {
	p, err := scanPasskey(s.pool.QueryRow(ctx, "SELECT "+passkeyColumns+" FROM passkeys WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("postgres store: get passkey %s: %w", id, classify(err))
	}
	return p, nil
}

// DeletePasskey implements store.Store.
func (s *Store) DeletePasskey(ctx context.Context, id uuid.UUID) error {
	if err := s.execOne(ctx, "DELETE FROM passkeys WHERE id = $1", id); err != nil {
		return fmt.Errorf("postgres store: delete passkey %s: %w", id, err)
	}
	return nil
}

// ListPasskeys implements store.Store.
func (s *Store) ListPasskeys(ctx context.Context, userID uuid.UUID) ([]store.Passkey, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+passkeyColumns+" FROM passkeys WHERE user_id = $1 ORDER BY created_at, id", userID)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list passkeys: %w", err)
	}
	defer rows.Close()
	var out []store.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres store: list passkeys: %w", err)
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: list passkeys: %w", err)
	}
	return out, nil
}

// UpdatePasskeyUse implements store.Store.
func (s *Store) UpdatePasskeyUse(ctx context.Context, id uuid.UUID, credential []byte, at time.Time) error {
	if len(credential) == 0 {
		return errors.New("postgres store: update passkey: empty credential")
	}
	err := s.execOne(ctx, "UPDATE passkeys SET credential = $1, last_used_at = greatest(last_used_at, $2) WHERE id = $3",
		credential, norm(at), id)
	if err != nil {
		return fmt.Errorf("postgres store: update passkey %s: %w", id, err)
	}
	return nil
}

// PutChallenge implements store.Store.
func (s *Store) PutChallenge(ctx context.Context, c *store.Challenge) error {
	if c == nil || len(c.Hash) != 32 {
		return errors.New("postgres store: put challenge: hash must be 32 bytes")
	}
	c.ExpiresAt = norm(c.ExpiresAt)
	if _, err := s.pool.Exec(ctx, "DELETE FROM webauthn_challenges WHERE expires_at <= $1", norm(time.Now())); err != nil {
		return fmt.Errorf("postgres store: put challenge: %w", err)
	}
	if _, err := s.pool.Exec(ctx, "INSERT INTO webauthn_challenges (hash, kind, data, expires_at) VALUES ($1, $2, $3, $4)",
		c.Hash, c.Kind, c.Data, c.ExpiresAt); err != nil {
		return fmt.Errorf("postgres store: put challenge: %w", classify(err))
	}
	return nil
}

// TakeChallenge implements store.Store.
func (s *Store) TakeChallenge(ctx context.Context, hash []byte, now time.Time) (*store.Challenge, error) {
	var c store.Challenge
	err := s.pool.QueryRow(ctx, "DELETE FROM webauthn_challenges WHERE hash = $1 RETURNING hash, kind, data, expires_at", hash).
		Scan(&c.Hash, &c.Kind, &c.Data, &c.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("postgres store: take challenge: %w", classify(err))
	}
	c.ExpiresAt = c.ExpiresAt.UTC()
	if !now.Before(c.ExpiresAt) {
		return nil, fmt.Errorf("postgres store: take challenge: expired: %w", store.ErrNotFound)
	}
	return &c, nil
}

const sessionColumns = "id, user_id, hash, restricted, created_at, expires_at, last_seen_at"

func scanSession(row pgx.Row) (*store.Session, error) {
	var x store.Session
	if err := row.Scan(&x.ID, &x.UserID, &x.Hash, &x.Restricted, &x.CreatedAt, &x.ExpiresAt, &x.LastSeenAt); err != nil {
		return nil, err
	}
	x.CreatedAt, x.ExpiresAt, x.LastSeenAt = x.CreatedAt.UTC(), x.ExpiresAt.UTC(), x.LastSeenAt.UTC()
	return &x, nil
}

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, x *store.Session) error {
	if x == nil || len(x.Hash) != 32 {
		return errors.New("postgres store: create session: hash must be 32 bytes")
	}
	id, created := x.ID, x.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created = norm(created)
	expires, seen := norm(x.ExpiresAt), norm(x.LastSeenAt)
	if x.LastSeenAt.IsZero() {
		seen = created
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE expires_at <= $1", norm(time.Now())); err != nil {
		return fmt.Errorf("postgres store: create session: %w", err)
	}
	if _, err := s.pool.Exec(ctx, "INSERT INTO sessions ("+sessionColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
		id, x.UserID, x.Hash, x.Restricted, created, expires, seen); err != nil {
		return fmt.Errorf("postgres store: create session: %w", classify(err))
	}
	x.ID, x.CreatedAt, x.ExpiresAt, x.LastSeenAt = id, created, expires, seen
	return nil
}

// GetSessionByHash implements store.Store.
func (s *Store) GetSessionByHash(ctx context.Context, hash []byte) (*store.Session, error) {
	x, err := scanSession(s.pool.QueryRow(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE hash = $1", hash))
	if err != nil {
		return nil, fmt.Errorf("postgres store: get session: %w", classify(err))
	}
	return x, nil
}

// ListSessions implements store.Store.
func (s *Store) ListSessions(ctx context.Context, userID uuid.UUID) ([]store.Session, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE user_id = $1 ORDER BY created_at, id", userID)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list sessions: %w", err)
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		x, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres store: list sessions: %w", err)
		}
		out = append(out, *x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: list sessions: %w", err)
	}
	return out, nil
}

// TouchSession implements store.Store.
func (s *Store) TouchSession(ctx context.Context, id uuid.UUID, at time.Time) error {
	if err := s.execOne(ctx, "UPDATE sessions SET last_seen_at = greatest(last_seen_at, $1) WHERE id = $2", norm(at), id); err != nil {
		return fmt.Errorf("postgres store: touch session %s: %w", id, err)
	}
	return nil
}

// ElevateSession implements store.Store.
func (s *Store) ElevateSession(ctx context.Context, id uuid.UUID) error {
	if err := s.execOne(ctx, "UPDATE sessions SET restricted = false WHERE id = $1", id); err != nil {
		return fmt.Errorf("postgres store: elevate session %s: %w", id, err)
	}
	return nil
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, id uuid.UUID) error {
	if err := s.execOne(ctx, "DELETE FROM sessions WHERE id = $1", id); err != nil {
		return fmt.Errorf("postgres store: delete session %s: %w", id, err)
	}
	return nil
}

// DeleteUserSessions implements store.Store.
func (s *Store) DeleteUserSessions(ctx context.Context, userID uuid.UUID) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE user_id = $1", userID)
	if err != nil {
		return 0, fmt.Errorf("postgres store: delete sessions of %s: %w", userID, err)
	}
	return tag.RowsAffected(), nil
}

// GetTOTP implements store.Store.
func (s *Store) GetTOTP(ctx context.Context, userID uuid.UUID) (*store.TOTP, error) {
	var t store.TOTP
	err := s.pool.QueryRow(ctx, "SELECT user_id, secret, confirmed_at, last_step FROM totp WHERE user_id = $1", userID).
		Scan(&t.UserID, &t.Secret, &t.ConfirmedAt, &t.LastStep)
	if err != nil {
		return nil, fmt.Errorf("postgres store: get totp %s: %w", userID, classify(err))
	}
	t.ConfirmedAt = utcPtr(t.ConfirmedAt)
	return &t, nil
}

// PutTOTP implements store.Store.
func (s *Store) PutTOTP(ctx context.Context, t *store.TOTP) error {
	if t == nil || t.Secret == "" {
		return errors.New("postgres store: put totp: empty secret")
	}
	confirmed := normPtr(t.ConfirmedAt)
	_, err := s.pool.Exec(ctx, `INSERT INTO totp (user_id, secret, confirmed_at, last_step) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, confirmed_at = excluded.confirmed_at, last_step = excluded.last_step`,
		t.UserID, t.Secret, confirmed, t.LastStep)
	if err != nil {
		return fmt.Errorf("postgres store: put totp %s: %w", t.UserID, classify(err))
	}
	t.ConfirmedAt = confirmed
	return nil
}

// DeleteTOTP implements store.Store.
func (s *Store) DeleteTOTP(ctx context.Context, userID uuid.UUID) error {
	if err := s.execOne(ctx, "DELETE FROM totp WHERE user_id = $1", userID); err != nil {
		return fmt.Errorf("postgres store: delete totp of %s: %w", userID, err)
	}
	return nil
}

// UseTOTPStep implements store.Store.
func (s *Store) UseTOTPStep(ctx context.Context, userID uuid.UUID, step int64) error {
	err := s.execOne(ctx, "UPDATE totp SET last_step = $1 WHERE user_id = $2 AND last_step < $1", step, userID)
	if errors.Is(err, store.ErrNotFound) {
		if _, gerr := s.GetTOTP(ctx, userID); gerr == nil {
			err = store.ErrConflict
		}
	}
	if err != nil {
		return fmt.Errorf("postgres store: use totp step of %s: %w", userID, err)
	}
	return nil
}

const invitationColumns = "id, hash, email, role, created_by, created_at, expires_at, used_at, user_id"

func scanInvitation(row pgx.Row) (*store.Invitation, error) {
	var inv store.Invitation
	if err := row.Scan(&inv.ID, &inv.Hash, &inv.Email, &inv.Role, &inv.CreatedBy, &inv.CreatedAt, &inv.ExpiresAt, &inv.UsedAt, &inv.UserID); err != nil {
		return nil, err
	}
	inv.CreatedAt, inv.ExpiresAt, inv.UsedAt = inv.CreatedAt.UTC(), inv.ExpiresAt.UTC(), utcPtr(inv.UsedAt)
	return &inv, nil
}

// CreateInvitation implements store.Store.
func (s *Store) CreateInvitation(ctx context.Context, inv *store.Invitation) error {
	if inv == nil || len(inv.Hash) != 32 {
		return errors.New("postgres store: create invitation: hash must be 32 bytes")
	}
	id, created := inv.ID, inv.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created, expires, used := norm(created), norm(inv.ExpiresAt), normPtr(inv.UsedAt)
	_, err := s.pool.Exec(ctx, "INSERT INTO invitations ("+invitationColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		id, inv.Hash, inv.Email, inv.Role, inv.CreatedBy, created, expires, used, inv.UserID)
	if err != nil {
		return fmt.Errorf("postgres store: create invitation: %w", classify(err))
	}
	inv.ID, inv.CreatedAt, inv.ExpiresAt, inv.UsedAt = id, created, expires, used
	return nil
}

// GetInvitationByHash implements store.Store.
func (s *Store) GetInvitationByHash(ctx context.Context, hash []byte) (*store.Invitation, error) {
	inv, err := scanInvitation(s.pool.QueryRow(ctx, "SELECT "+invitationColumns+" FROM invitations WHERE hash = $1", hash))
	if err != nil {
		return nil, fmt.Errorf("postgres store: get invitation: %w", classify(err))
	}
	return inv, nil
}

// ListInvitations implements store.Store.
func (s *Store) ListInvitations(ctx context.Context) ([]store.Invitation, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+invitationColumns+" FROM invitations ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("postgres store: list invitations: %w", err)
	}
	defer rows.Close()
	var out []store.Invitation
	for rows.Next() {
		inv, err := scanInvitation(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres store: list invitations: %w", err)
		}
		out = append(out, *inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres store: list invitations: %w", err)
	}
	return out, nil
}

// AcceptInvitation implements store.Store.
func (s *Store) AcceptInvitation(ctx context.Context, id uuid.UUID, u *store.User, pk *store.Passkey, at time.Time) error {
	if err := s.acceptInvitation(ctx, id, u, pk, at); err != nil {
		return fmt.Errorf("postgres store: accept invitation %s: %w", id, err)
	}
	return nil
}

func (s *Store) acceptInvitation(ctx context.Context, id uuid.UUID, u *store.User, pk *store.Passkey, at time.Time) error {
	if u == nil {
		return errors.New("nil user")
	}
	if err := checkPasskey(pk); err != nil {
		return err
	}
	at = norm(at)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, "UPDATE invitations SET used_at = $1 WHERE id = $2 AND used_at IS NULL", at, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM invitations WHERE id = $1", id).Scan(&one); err != nil {
			return classify(err)
		}
		return fmt.Errorf("already used: %w", store.ErrConflict)
	}
	uid, created := u.ID, u.CreatedAt
	if uid == uuid.Nil {
		uid = uuid.New()
	}
	if created.IsZero() {
		created = at
	}
	created = norm(created)
	if _, err := tx.Exec(ctx, "INSERT INTO users ("+userColumns+") VALUES ($1, $2, $3, $4, $5, $6)",
		uid, u.Name, u.Email, u.Role, created, u.Disabled); err != nil {
		return classify(err)
	}
	pk.UserID = uid
	saved := *pk
	if err := insertPasskey(ctx, tx, &saved); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE invitations SET user_id = $1 WHERE id = $2", uid, id); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	u.ID, u.CreatedAt = uid, created
	*pk = saved
	return nil
}
