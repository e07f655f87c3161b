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

const sealKeyColumns = "id, kind, user_id, name, recipient, fingerprint, created_at, revoked_at"

func scanSealKey(row scanner) (*store.SealKey, error) {
	var (
		k       store.SealKey
		user    uuid.NullUUID
		created int64
		revoked sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Kind, &user, &k.Name, &k.Recipient, &k.Fingerprint, &created, &revoked); err != nil {
		return nil, err
	}
	if user.Valid {
		k.UserID = &user.UUID
	}
	k.CreatedAt = fromMicros(created)
	k.RevokedAt = fromNullMicros(revoked)
	return &k, nil
}

func checkSealKey(k *store.SealKey) error {
	switch {
	case k == nil:
		return errors.New("nil key")
	case k.Kind != store.SealKeyDevice && k.Kind != store.SealKeyAdmin && k.Kind != store.SealKeyBackup:
		return fmt.Errorf("unknown kind %q", k.Kind)
	case (k.Kind == store.SealKeyDevice) != (k.UserID != nil):
		return errors.New("device keys, and only they, name a user")
	case !strings.HasPrefix(k.Recipient, "age1pq1"):
		return errors.New("recipient is not an age1pq1 key")
	case k.Fingerprint == "":
		return errors.New("empty fingerprint")
	}
	return nil
}

func nullUUID(id *uuid.UUID) any {
	if id == nil {
		return nil
	}
	return *id
}

// CreateSealKey implements store.Store.
func (s *Store) CreateSealKey(ctx context.Context, k *store.SealKey) error {
	if err := checkSealKey(k); err != nil {
		return fmt.Errorf("sqlite store: create seal key: %w", err)
	}
	id, created := k.ID, k.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created = norm(created)
	revoked := normPtr(k.RevokedAt)
	_, err := s.w.ExecContext(ctx,
		"INSERT INTO seal_keys ("+sealKeyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		id, k.Kind, nullUUID(k.UserID), k.Name, k.Recipient, k.Fingerprint, created.UnixMicro(), nullMicros(revoked))
	if err != nil {
		return fmt.Errorf("sqlite store: create seal key %q: %w", k.Name, classify(err))
	}
	k.ID, k.CreatedAt, k.RevokedAt = id, created, revoked
	return nil
}

// GetSealKey implements store.Store.
func (s *Store) GetSealKey(ctx context.Context, id uuid.UUID) (*store.SealKey, error) {
	k, err := scanSealKey(s.r.QueryRowContext(ctx, "SELECT "+sealKeyColumns+" FROM seal_keys WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get seal key %s: %w", id, classify(err))
	}
	return k, nil
}

func (s *Store) listSealKeys(ctx context.Context, op, where string, args ...any) ([]store.SealKey, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+sealKeyColumns+" FROM seal_keys WHERE "+where+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: %s: %w", op, err)
	}
	defer rows.Close()
	var out []store.SealKey
	for rows.Next() {
		k, err := scanSealKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: %s: %w", op, err)
		}
		out = append(out, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: %s: %w", op, err)
	}
	return out, nil
}

// ListSealKeys implements store.Store.
func (s *Store) ListSealKeys(ctx context.Context, f store.SealKeyFilter) ([]store.SealKey, error) {
	where, args := []string{"1 = 1"}, []any{}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if f.UserID != nil {
		where, args = append(where, "user_id = ?"), append(args, *f.UserID)
	}
	if f.LiveOnly {
		where = append(where, "revoked_at IS NULL")
	}
	return s.listSealKeys(ctx, "list seal keys", strings.Join(where, " AND "), args...)
}

// RevokeSealKey implements store.Store.
func (s *Store) RevokeSealKey(ctx context.Context, id uuid.UUID, at time.Time) error {
	err := s.execOne(ctx, "UPDATE seal_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", at.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("sqlite store: revoke seal key %s: %w", id, err)
	}
	return nil
}

// SealRecipients implements store.Store with one statement, so the set is
// one consistent snapshot.
func (s *Store) SealRecipients(ctx context.Context, userID uuid.UUID) ([]store.SealKey, error) {
	return s.listSealKeys(ctx, "seal recipients",
		"revoked_at IS NULL AND (kind IN ('admin', 'backup') OR (kind = 'device' AND user_id = ?))", userID)
}

const conversationColumns = "id, user_id, created_at"

func scanConversation(row scanner) (*store.Conversation, error) {
	var (
		c       store.Conversation
		created int64
	)
	if err := row.Scan(&c.ID, &c.UserID, &created); err != nil {
		return nil, err
	}
	c.CreatedAt = fromMicros(created)
	return &c, nil
}

// CreateConversation implements store.Store.
func (s *Store) CreateConversation(ctx context.Context, c *store.Conversation) error {
	if c == nil {
		return errors.New("sqlite store: create conversation: nil conversation")
	}
	id, created := c.ID, c.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created = norm(created)
	_, err := s.w.ExecContext(ctx, "INSERT INTO conversations ("+conversationColumns+") VALUES (?, ?, ?)",
		id, c.UserID, created.UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlite store: create conversation: %w", classify(err))
	}
	c.ID, c.CreatedAt = id, created
	return nil
}

// GetConversation implements store.Store.
func (s *Store) GetConversation(ctx context.Context, id uuid.UUID) (*store.Conversation, error) {
	c, err := scanConversation(s.r.QueryRowContext(ctx, "SELECT "+conversationColumns+" FROM conversations WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: get conversation %s: %w", id, classify(err))
	}
	return c, nil
}

// ListConversations implements store.Store.
func (s *Store) ListConversations(ctx context.Context, userID *uuid.UUID) ([]store.Conversation, error) {
	q := "SELECT " + conversationColumns + " FROM conversations"
	var args []any
	if userID != nil {
		q += " WHERE user_id = ?"
		args = append(args, *userID)
	}
	rows, err := s.r.QueryContext(ctx, q+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list conversations: %w", err)
	}
	defer rows.Close()
	var out []store.Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list conversations: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list conversations: %w", err)
	}
	return out, nil
}

// DeleteConversation implements store.Store; messages go by ON DELETE CASCADE.
func (s *Store) DeleteConversation(ctx context.Context, id uuid.UUID) error {
	if err := s.execOne(ctx, "DELETE FROM conversations WHERE id = ?", id); err != nil {
		return fmt.Errorf("sqlite store: delete conversation %s: %w", id, err)
	}
	return nil
}

func checkMessage(m *store.SealedMessage) error {
	switch {
	case m == nil:
		return errors.New("nil message")
	case m.Role != "user" && m.Role != "assistant":
		return fmt.Errorf("role %q is neither user nor assistant", m.Role)
	}
	return checkSealed(m)
}

// checkSealed checks the blob and its recipients.
func checkSealed(m *store.SealedMessage) error {
	switch {
	case m == nil:
		return errors.New("nil message")
	case len(m.Sealed) == 0:
		return errors.New("empty sealed blob")
	case len(m.Recipients) == 0:
		return errors.New("no recipients")
	}
	for _, r := range m.Recipients {
		if r == "" || strings.ContainsAny(r, " \t\n") {
			return errors.New("malformed recipient fingerprint")
		}
	}
	return nil
}

const messageColumns = "id, conversation_id, seq, role, version, sealed, recipients, created_at"

func scanMessage(row scanner) (*store.SealedMessage, error) {
	var (
		m          store.SealedMessage
		recipients string
		created    int64
	)
	if err := row.Scan(&m.ID, &m.ConversationID, &m.Seq, &m.Role, &m.Version, &m.Sealed, &recipients, &created); err != nil {
		return nil, err
	}
	m.Recipients = strings.Fields(recipients)
	m.CreatedAt = fromMicros(created)
	return &m, nil
}

// AppendMessages implements store.Store. The transaction begins IMMEDIATE,
// so the last Seq read is still the last when the new rows go in.
func (s *Store) AppendMessages(ctx context.Context, conversationID uuid.UUID, ms []*store.SealedMessage) error {
	if err := s.appendMessages(ctx, conversationID, ms); err != nil {
		return fmt.Errorf("sqlite store: append messages to %s: %w", conversationID, err)
	}
	return nil
}

func (s *Store) appendMessages(ctx context.Context, conversationID uuid.UUID, ms []*store.SealedMessage) error {
	for _, m := range ms {
		if err := checkMessage(m); err != nil {
			return err
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var last int64
	err = tx.QueryRowContext(ctx, "SELECT (SELECT coalesce(max(seq), 0) FROM sealed_messages WHERE conversation_id = ?1) FROM conversations WHERE id = ?1",
		conversationID).Scan(&last)
	if err != nil {
		return classify(err)
	}
	type out struct {
		id      uuid.UUID
		created time.Time
	}
	done := make([]out, len(ms))
	for i, m := range ms {
		id, created := m.ID, m.CreatedAt
		if id == uuid.Nil {
			id = uuid.New()
		}
		if created.IsZero() {
			created = time.Now()
		}
		created = norm(created)
		_, err := tx.ExecContext(ctx, "INSERT INTO sealed_messages ("+messageColumns+") VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
			id, conversationID, last+int64(i)+1, m.Role, m.Sealed, strings.Join(m.Recipients, " "), created.UnixMicro())
		if err != nil {
			return classify(err)
		}
		done[i] = out{id, created}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for i, m := range ms {
		m.ID, m.ConversationID, m.Seq, m.Version, m.CreatedAt = done[i].id, conversationID, last+int64(i)+1, 1, done[i].created
	}
	return nil
}

// ListMessages implements store.Store.
func (s *Store) ListMessages(ctx context.Context, conversationID uuid.UUID, after int64, limit int) ([]store.SealedMessage, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite store: list messages: limit %d is not positive", limit)
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+messageColumns+" FROM sealed_messages WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?",
		conversationID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: list messages: %w", err)
	}
	defer rows.Close()
	var out []store.SealedMessage
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite store: list messages: %w", err)
		}
		out = append(out, *m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite store: list messages: %w", err)
	}
	return out, nil
}

// ResealMessage implements store.Store: one UPDATE, guarded by the version.
func (s *Store) ResealMessage(ctx context.Context, m *store.SealedMessage) error {
	if err := checkSealed(m); err != nil {
		return fmt.Errorf("sqlite store: reseal message: %w", err)
	}
	var (
		seq     int64
		role    string
		created int64
	)
	err := s.w.QueryRowContext(ctx, "UPDATE sealed_messages SET sealed = ?, recipients = ?, version = version + 1 "+
		"WHERE id = ? AND conversation_id = ? AND version = ? RETURNING seq, role, created_at",
		m.Sealed, strings.Join(m.Recipients, " "), m.ID, m.ConversationID, m.Version).Scan(&seq, &role, &created)
	if err == nil {
		m.Version, m.Seq, m.Role, m.CreatedAt = m.Version+1, seq, role, fromMicros(created)
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite store: reseal message %s: %w", m.ID, classify(err))
	}
	var exists int
	err = s.w.QueryRowContext(ctx, "SELECT count(*) FROM sealed_messages WHERE id = ? AND conversation_id = ?", m.ID, m.ConversationID).Scan(&exists)
	switch {
	case err != nil:
		return fmt.Errorf("sqlite store: reseal message %s: %w", m.ID, err)
	case exists == 0:
		return fmt.Errorf("sqlite store: reseal message %s: %w", m.ID, store.ErrNotFound)
	}
	return fmt.Errorf("sqlite store: reseal message %s: version %d is stale: %w", m.ID, m.Version, store.ErrConflict)
}
