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

// Identity (issue 4): passkeys, challenges, sessions, TOTP, invitations.

const passkeyColumns = "id, user_id, credential_id, name, credential, created_at, last_used_at"

func scanPasskey(row scanner) (*store.Passkey, error) {
	var (
		p        store.Passkey
		created  int64
		lastUsed sql.NullInt64
	)
	if err := row.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.Name, &p.Credential, &created, &lastUsed); err != nil {
		return nil, err
	}
	p.CreatedAt, p.LastUsedAt = fromMicros(created), fromNullMicros(lastUsed)
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

func insertPasskey(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, p *store.Passkey) error {
	id, created := p.ID, p.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created = norm(created)
	lastUsed := normPtr(p.LastUsedAt)
	_, err := ex.ExecContext(ctx, "INSERT INTO passkeys ("+passkeyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		id, p.UserID, p.CredentialID, p.Name, p.Credential, created.UnixMicro(), nullMicros(lastUsed))
	if err != nil {
		return classify(err)
	}
	p.ID, p.CreatedAt, p.LastUsedAt = id, created, lastUsed
	return nil
}

// CreatePasskey implements store.Store.
func (s *Store) CreatePasskey(ctx context.Context, p *store.Passkey) error {
	if err := checkPasskey(p); err != nil {
		return fmt.Errorf("sqlite store: create passkey: %w", err)
	}
	if err := insertPasskey(ctx, s.w, p); err != nil {
		return fmt.Errorf("sqlite store: create passkey %q: %w", p.Name, err)
	}
	return nil
}

// GetPasskeyByCredentialID implements store.Store.
func (s *Store) GetPasskeyByCredentialID(ctx context.Context, credentialID []byte) (*store.Passkey, error) {
	p, err := scanPasskey(s.r.QueryRowContext(ctx, "SELECT "+passkeyColumns+" FROM passkeys WHERE credential_id = ?", credentialID))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get passkey: %w", classify(err))
	}
	return p, nil
}

// GetPasskey implements store.Store.
func (s *Store) GetPasskey(ctx context.Context, id uuid.UUID) (*store.Passkey, error) {
	p, err := scanPasskey(s.r.QueryRowContext(ctx, "SELECT "+passkeyColumns+" FROM passkeys WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get passkey %s: %w", id, classify(err))
	}
	return p, nil
}

// DeletePasskey implements store.Store.
func (s *Store) DeletePasskey(ctx context.Context, id uuid.UUID) error {
	if err := s.execOne(ctx, "DELETE FROM passkeys WHERE id = ?", id); err != nil {
		return fmt.Errorf("sqlite store: delete passkey %s: %w", id, err)
	}
	return nil
}

// ListPasskeys implements store.Store.
func (s *Store) ListPasskeys(ctx context.Context, userID uuid.UUID) ([]store.Passkey, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+passkeyColumns+" FROM passkeys WHERE user_id = ? ORDER BY created_at, id", userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list passkeys: %w", err)
	}
	defer rows.Close()
	var out []store.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list passkeys: %w", err)
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list passkeys: %w", err)
	}
	return out, nil
}

// UpdatePasskeyUse implements store.Store.
func (s *Store) UpdatePasskeyUse(ctx context.Context, id uuid.UUID, credential []byte, at time.Time) error {
	if len(credential) == 0 {
		return errors.New("sqlite store: update passkey: empty credential")
	}
	err := s.execOne(ctx, "UPDATE passkeys SET credential = ?, last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?",
		credential, norm(at).UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("sqlite store: update passkey %s: %w", id, err)
	}
	return nil
}

// PutChallenge implements store.Store.
func (s *Store) PutChallenge(ctx context.Context, c *store.Challenge) error {
	if c == nil || len(c.Hash) != 32 {
		return errors.New("sqlite store: put challenge: hash must be 32 bytes")
	}
	c.ExpiresAt = norm(c.ExpiresAt)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: put challenge: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM webauthn_challenges WHERE expires_at <= ?", norm(time.Now()).UnixMicro()); err != nil {
		return fmt.Errorf("sqlite store: put challenge: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO webauthn_challenges (hash, kind, data, expires_at) VALUES (?, ?, ?, ?)",
		c.Hash, c.Kind, c.Data, c.ExpiresAt.UnixMicro()); err != nil {
		return fmt.Errorf("sqlite store: put challenge: %w", classify(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: put challenge: %w", err)
	}
	return nil
}

// TakeChallenge implements store.Store.
func (s *Store) TakeChallenge(ctx context.Context, hash []byte, now time.Time) (*store.Challenge, error) {
	var (
		c       store.Challenge
		expires int64
	)
	err := s.w.QueryRowContext(ctx, "DELETE FROM webauthn_challenges WHERE hash = ? RETURNING hash, kind, data, expires_at", hash).
		Scan(&c.Hash, &c.Kind, &c.Data, &expires)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: take challenge: %w", classify(err))
	}
	c.ExpiresAt = fromMicros(expires)
	if !now.Before(c.ExpiresAt) {
		return nil, fmt.Errorf("sqlite store: take challenge: expired: %w", store.ErrNotFound)
	}
	return &c, nil
}

const sessionColumns = "id, user_id, hash, restricted, created_at, expires_at, last_seen_at"

func scanSession(row scanner) (*store.Session, error) {
	var (
		x                      store.Session
		created, expires, seen int64
	)
	if err := row.Scan(&x.ID, &x.UserID, &x.Hash, &x.Restricted, &created, &expires, &seen); err != nil {
		return nil, err
	}
	x.CreatedAt, x.ExpiresAt, x.LastSeenAt = fromMicros(created), fromMicros(expires), fromMicros(seen)
	return &x, nil
}

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, x *store.Session) error {
	if x == nil || len(x.Hash) != 32 {
		return errors.New("sqlite store: create session: hash must be 32 bytes")
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
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: create session: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at <= ?", norm(time.Now()).UnixMicro()); err != nil {
		return fmt.Errorf("sqlite store: create session: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO sessions ("+sessionColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		id, x.UserID, x.Hash, x.Restricted, created.UnixMicro(), expires.UnixMicro(), seen.UnixMicro()); err != nil {
		return fmt.Errorf("sqlite store: create session: %w", classify(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: create session: %w", err)
	}
	x.ID, x.CreatedAt, x.ExpiresAt, x.LastSeenAt = id, created, expires, seen
	return nil
}

// GetSessionByHash implements store.Store.
func (s *Store) GetSessionByHash(ctx context.Context, hash []byte) (*store.Session, error) {
	x, err := scanSession(s.r.QueryRowContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE hash = ?", hash))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get session: %w", classify(err))
	}
	return x, nil
}

// ListSessions implements store.Store.
func (s *Store) ListSessions(ctx context.Context, userID uuid.UUID) ([]store.Session, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE user_id = ? ORDER BY created_at, id", userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list sessions: %w", err)
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		x, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list sessions: %w", err)
		}
		out = append(out, *x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list sessions: %w", err)
	}
	return out, nil
}

// TouchSession implements store.Store.
func (s *Store) TouchSession(ctx context.Context, id uuid.UUID, at time.Time) error {
	if err := s.execOne(ctx, "UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE id = ?", norm(at).UnixMicro(), id); err != nil {
		return fmt.Errorf("sqlite store: touch session %s: %w", id, err)
	}
	return nil
}

// ElevateSession implements store.Store.
func (s *Store) ElevateSession(ctx context.Context, id uuid.UUID) error {
	if err := s.execOne(ctx, "UPDATE sessions SET restricted = 0 WHERE id = ?", id); err != nil {
		return fmt.Errorf("sqlite store: elevate session %s: %w", id, err)
	}
	return nil
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, id uuid.UUID) error {
	if err := s.execOne(ctx, "DELETE FROM sessions WHERE id = ?", id); err != nil {
		return fmt.Errorf("sqlite store: delete session %s: %w", id, err)
	}
	return nil
}

// DeleteUserSessions implements store.Store.
func (s *Store) DeleteUserSessions(ctx context.Context, userID uuid.UUID) (int64, error) {
	res, err := s.w.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", userID)
	if err != nil {
		return 0, fmt.Errorf("sqlite store: delete sessions of %s: %w", userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite store: delete sessions of %s: %w", userID, err)
	}
	return n, nil
}

// GetTOTP implements store.Store.
func (s *Store) GetTOTP(ctx context.Context, userID uuid.UUID) (*store.TOTP, error) {
	var (
		t         store.TOTP
		confirmed sql.NullInt64
	)
	err := s.r.QueryRowContext(ctx, "SELECT user_id, secret, confirmed_at, last_step FROM totp WHERE user_id = ?", userID).
		Scan(&t.UserID, &t.Secret, &confirmed, &t.LastStep)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get totp %s: %w", userID, classify(err))
	}
	t.ConfirmedAt = fromNullMicros(confirmed)
	return &t, nil
}

// PutTOTP implements store.Store.
func (s *Store) PutTOTP(ctx context.Context, t *store.TOTP) error {
	if t == nil || t.Secret == "" {
		return errors.New("sqlite store: put totp: empty secret")
	}
	confirmed := normPtr(t.ConfirmedAt)
	_, err := s.w.ExecContext(ctx, `INSERT INTO totp (user_id, secret, confirmed_at, last_step) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, confirmed_at = excluded.confirmed_at, last_step = excluded.last_step`,
		t.UserID, t.Secret, nullMicros(confirmed), t.LastStep)
	if err != nil {
		return fmt.Errorf("sqlite store: put totp %s: %w", t.UserID, classify(err))
	}
	t.ConfirmedAt = confirmed
	return nil
}

// DeleteTOTP implements store.Store.
func (s *Store) DeleteTOTP(ctx context.Context, userID uuid.UUID) error {
	if err := s.execOne(ctx, "DELETE FROM totp WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("sqlite store: delete totp of %s: %w", userID, err)
	}
	return nil
}

// UseTOTPStep implements store.Store.
func (s *Store) UseTOTPStep(ctx context.Context, userID uuid.UUID, step int64) error {
	err := s.execOne(ctx, "UPDATE totp SET last_step = ? WHERE user_id = ? AND last_step < ?", step, userID, step)
	if errors.Is(err, store.ErrNotFound) {
		if _, gerr := s.GetTOTP(ctx, userID); gerr == nil {
			err = store.ErrConflict
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite store: use totp step of %s: %w", userID, err)
	}
	return nil
}

const invitationColumns = "id, hash, email, role, created_by, created_at, expires_at, used_at, user_id"

func scanInvitation(row scanner) (*store.Invitation, error) {
	var (
		inv              store.Invitation
		created, expires int64
		used             sql.NullInt64
		by, user         uuid.NullUUID
	)
	if err := row.Scan(&inv.ID, &inv.Hash, &inv.Email, &inv.Role, &by, &created, &expires, &used, &user); err != nil {
		return nil, err
	}
	inv.CreatedAt, inv.ExpiresAt, inv.UsedAt = fromMicros(created), fromMicros(expires), fromNullMicros(used)
	if by.Valid {
		inv.CreatedBy = &by.UUID
	}
	if user.Valid {
		inv.UserID = &user.UUID
	}
	return &inv, nil
}

// CreateInvitation implements store.Store.
func (s *Store) CreateInvitation(ctx context.Context, inv *store.Invitation) error {
	if inv == nil || len(inv.Hash) != 32 {
		return errors.New("sqlite store: create invitation: hash must be 32 bytes")
	}
	id, created := inv.ID, inv.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created, expires, used := norm(created), norm(inv.ExpiresAt), normPtr(inv.UsedAt)
	_, err := s.w.ExecContext(ctx, "INSERT INTO invitations ("+invitationColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		id, inv.Hash, inv.Email, inv.Role, nullUUID(inv.CreatedBy), created.UnixMicro(), expires.UnixMicro(), nullMicros(used), nullUUID(inv.UserID))
	if err != nil {
		return fmt.Errorf("sqlite store: create invitation: %w", classify(err))
	}
	inv.ID, inv.CreatedAt, inv.ExpiresAt, inv.UsedAt = id, created, expires, used
	return nil
}

// GetInvitationByHash implements store.Store.
func (s *Store) GetInvitationByHash(ctx context.Context, hash []byte) (*store.Invitation, error) {
	inv, err := scanInvitation(s.r.QueryRowContext(ctx, "SELECT "+invitationColumns+" FROM invitations WHERE hash = ?", hash))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get invitation: %w", classify(err))
	}
	return inv, nil
}

// ListInvitations implements store.Store.
func (s *Store) ListInvitations(ctx context.Context) ([]store.Invitation, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+invitationColumns+" FROM invitations ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list invitations: %w", err)
	}
	defer rows.Close()
	var out []store.Invitation
	for rows.Next() {
		inv, err := scanInvitation(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list invitations: %w", err)
		}
		out = append(out, *inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list invitations: %w", err)
	}
	return out, nil
}

// AcceptInvitation implements store.Store.
func (s *Store) AcceptInvitation(ctx context.Context, id uuid.UUID, u *store.User, pk *store.Passkey, at time.Time) error {
	if err := s.acceptInvitation(ctx, id, u, pk, at); err != nil {
		return fmt.Errorf("sqlite store: accept invitation %s: %w", id, err)
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
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "UPDATE invitations SET used_at = ? WHERE id = ? AND used_at IS NULL", at.UnixMicro(), id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM invitations WHERE id = ?", id).Scan(&one); err != nil {
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
	if _, err := tx.ExecContext(ctx, "INSERT INTO users ("+userColumns+") VALUES (?, ?, ?, ?, ?, ?)",
		uid, u.Name, u.Email, u.Role, created.UnixMicro(), u.Disabled); err != nil {
		return classify(err)
	}
	pk.UserID = uid
	saved := *pk
	if err := insertPasskey(ctx, tx, &saved); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE invitations SET user_id = ? WHERE id = ?", uid, id); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	u.ID, u.CreatedAt = uid, created
	*pk = saved
	return nil
}
