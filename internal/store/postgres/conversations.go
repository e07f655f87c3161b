package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/silo-ai/silo/internal/store"
)

const sealKeyColumns = "id, kind, user_id, name, recipient, fingerprint, created_at, revoked_at"

func scanSealKey(row pgx.Row) (*store.SealKey, error) {
	var k store.SealKey
	if err := row.Scan(&k.ID, &k.Kind, &k.UserID, &k.Name, &k.Recipient, &k.Fingerprint, &k.CreatedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	k.CreatedAt, k.RevokedAt = k.CreatedAt.UTC(), utcPtr(k.RevokedAt)
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

func collectSealKeys(rows pgx.Rows) ([]store.SealKey, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SealKey, error) {
		k, err := scanSealKey(r)
		if err != nil {
			return store.SealKey{}, err
		}
		return *k, nil
	})
}

// CreateSealKey implements store.Store.
func (s *Store) CreateSealKey(ctx context.Context, k *store.SealKey) error {
	if err := checkSealKey(k); err != nil {
		return fmt.Errorf("postgres store: create seal key: %w", err)
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
	_, err := s.pool.Exec(ctx,
		"INSERT INTO seal_keys ("+sealKeyColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		id, k.Kind, k.UserID, k.Name, k.Recipient, k.Fingerprint, created, revoked)
	if err != nil {
		return fmt.Errorf("postgres store: create seal key %q: %w", k.Name, classify(err))
	}
	k.ID, k.CreatedAt, k.RevokedAt = id, created, revoked
	return nil
}

// GetSealKey implements store.Store.
func (s *Store) GetSealKey(ctx context.Context, id uuid.UUID) (*store.SealKey, error) {
	k, err := scanSealKey(s.pool.QueryRow(ctx, "SELECT "+sealKeyColumns+" FROM seal_keys WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("postgres store: get seal key %s: %w", id, classify(err))
	}
	return k, nil
}

// ListSealKeys implements store.Store.
func (s *Store) ListSealKeys(ctx context.Context, f store.SealKeyFilter) ([]store.SealKey, error) {
	where, args := []string{"true"}, []any{}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Kind != "" {
		where = append(where, "kind = "+arg(f.Kind))
	}
	if f.UserID != nil {
		where = append(where, "user_id = "+arg(*f.UserID))
	}
	if f.LiveOnly {
		where = append(where, "revoked_at IS NULL")
	}
	rows, err := s.pool.Query(ctx, "SELECT "+sealKeyColumns+" FROM seal_keys WHERE "+strings.Join(where, " AND ")+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list seal keys: %w", err)
	}
	out, err := collectSealKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list seal keys: %w", err)
	}
	return out, nil
}

// RevokeSealKey implements store.Store.
func (s *Store) RevokeSealKey(ctx context.Context, id uuid.UUID, at time.Time) error {
	err := s.execOne(ctx, "UPDATE seal_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2", norm(at), id)
	if err != nil {
		return fmt.Errorf("postgres store: revoke seal key %s: %w", id, err)
	}
	return nil
}

// SealRecipients implements store.Store with one statement, so the set is
// one consistent snapshot.
func (s *Store) SealRecipients(ctx context.Context, userID uuid.UUID) ([]store.SealKey, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+sealKeyColumns+" FROM seal_keys WHERE revoked_at IS NULL AND "+
		"(kind IN ('admin', 'backup') OR (kind = 'device' AND user_id = $1)) ORDER BY created_at, id", userID)
	if err != nil {
		return nil, fmt.Errorf("postgres store: seal recipients: %w", err)
	}
	out, err := collectSealKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres store: seal recipients: %w", err)
	}
	return out, nil
}

const conversationColumns = "id, user_id, created_at"

func scanConversation(row pgx.Row) (*store.Conversation, error) {
	var c store.Conversation
	if err := row.Scan(&c.ID, &c.UserID, &c.CreatedAt); err != nil {
		return nil, err
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return &c, nil
}

// CreateConversation implements store.Store.
func (s *Store) CreateConversation(ctx context.Context, c *store.Conversation) error {
	if c == nil {
		return errors.New("postgres store: create conversation: nil conversation")
	}
	id, created := c.ID, c.CreatedAt
	if id == uuid.Nil {
		id = uuid.New()
	}
	if created.IsZero() {
		created = time.Now()
	}
	created = norm(created)
	_, err := s.pool.Exec(ctx, "INSERT INTO conversations ("+conversationColumns+") VALUES ($1, $2, $3)", id, c.UserID, created)
	if err != nil {
		return fmt.Errorf("postgres store: create conversation: %w", classify(err))
	}
	c.ID, c.CreatedAt = id, created
	return nil
}

// GetConversation implements store.Store.
func (s *Store) GetConversation(ctx context.Context, id uuid.UUID) (*store.Conversation, error) {
	c, err := scanConversation(s.pool.QueryRow(ctx, "SELECT "+conversationColumns+" FROM conversations WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("postgres store: get conversation %s: %w", id, classify(err))
	}
	return c, nil
}

// ListConversations implements store.Store.
func (s *Store) ListConversations(ctx context.Context, userID *uuid.UUID) ([]store.Conversation, error) {
	q := "SELECT " + conversationColumns + " FROM conversations"
	var args []any
	if userID != nil {
		q += " WHERE user_id = $1"
		args = append(args, *userID)
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list conversations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Conversation, error) {
		c, err := scanConversation(r)
		if err != nil {
			return store.Conversation{}, err
		}
		return *c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres store: list conversations: %w", err)
	}
	return out, nil
}

// DeleteConversation implements store.Store; messages go by ON DELETE CASCADE.
func (s *Store) DeleteConversation(ctx context.Context, id uuid.UUID) error {
	if err := s.execOne(ctx, "DELETE FROM conversations WHERE id = $1", id); err != nil {
		return fmt.Errorf("postgres store: delete conversation %s: %w", id, err)
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

func scanMessage(row pgx.Row) (*store.SealedMessage, error) {
	var m store.SealedMessage
	if err := row.Scan(&m.ID, &m.ConversationID, &m.Seq, &m.Role, &m.Version, &m.Sealed, &m.Recipients, &m.CreatedAt); err != nil {
		return nil, err
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return &m, nil
}

// AppendMessages implements store.Store. The conversation's row is locked
// (FOR UPDATE) before its last Seq is read, so concurrent appenders on any
// replica queue; the unique (conversation_id, seq) backs that up.
func (s *Store) AppendMessages(ctx context.Context, conversationID uuid.UUID, ms []*store.SealedMessage) error {
	if err := s.appendMessages(ctx, conversationID, ms); err != nil {
		return fmt.Errorf("postgres store: append messages to %s: %w", conversationID, err)
	}
	return nil
}

func (s *Store) appendMessages(ctx context.Context, conversationID uuid.UUID, ms []*store.SealedMessage) error {
	for _, m := range ms {
		if err := checkMessage(m); err != nil {
			return err
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	var locked uuid.UUID
	if err := tx.QueryRow(ctx, "SELECT id FROM conversations WHERE id = $1 FOR UPDATE", conversationID).Scan(&locked); err != nil {
		return classify(err)
	}
	var last int64
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM sealed_messages WHERE conversation_id = $1", conversationID).Scan(&last); err != nil {
		return err
	}
	ids := make([]uuid.UUID, len(ms))
	times := make([]time.Time, len(ms))
	for i, m := range ms {
		ids[i], times[i] = m.ID, m.CreatedAt
		if ids[i] == uuid.Nil {
			ids[i] = uuid.New()
		}
		if times[i].IsZero() {
			times[i] = time.Now()
		}
		times[i] = norm(times[i])
		_, err := tx.Exec(ctx, "INSERT INTO sealed_messages ("+messageColumns+") VALUES ($1, $2, $3, $4, 1, $5, $6, $7)",
			ids[i], conversationID, last+int64(i)+1, m.Role, m.Sealed, m.Recipients, times[i])
		if err != nil {
			return classify(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	for i, m := range ms {
		m.ID, m.ConversationID, m.Seq, m.Version, m.CreatedAt = ids[i], conversationID, last+int64(i)+1, 1, times[i]
	}
	return nil
}

// ListMessages implements store.Store.
func (s *Store) ListMessages(ctx context.Context, conversationID uuid.UUID, after int64, limit int) ([]store.SealedMessage, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("postgres store: list messages: limit %d is not positive", limit)
	}
	rows, err := s.pool.Query(ctx, "SELECT "+messageColumns+" FROM sealed_messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
		conversationID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list messages: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SealedMessage, error) {
		m, err := scanMessage(r)
		if err != nil {
			return store.SealedMessage{}, err
		}
		return *m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres store: list messages: %w", err)
	}
	return out, nil
}

// ResealMessage implements store.Store: one UPDATE, guarded by the version.
func (s *Store) ResealMessage(ctx context.Context, m *store.SealedMessage) error {
	if err := checkSealed(m); err != nil {
		return fmt.Errorf("postgres store: reseal message: %w", err)
	}
	var (
		seq     int64
		role    string
		created time.Time
	)
	err := s.pool.QueryRow(ctx, "UPDATE sealed_messages SET sealed = $1, recipients = $2, version = version + 1 "+
		"WHERE id = $3 AND conversation_id = $4 AND version = $5 RETURNING seq, role, created_at",
		m.Sealed, m.Recipients, m.ID, m.ConversationID, m.Version).Scan(&seq, &role, &created)
	if err == nil {
		m.Version, m.Seq, m.Role, m.CreatedAt = m.Version+1, seq, role, created.UTC()
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres store: reseal message %s: %w", m.ID, classify(err))
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM sealed_messages WHERE id = $1 AND conversation_id = $2)", m.ID, m.ConversationID).Scan(&exists); err != nil {
		return fmt.Errorf("postgres store: reseal message %s: %w", m.ID, err)
	}
	if !exists {
		return fmt.Errorf("postgres store: reseal message %s: %w", m.ID, store.ErrNotFound)
	}
	return fmt.Errorf("postgres store: reseal message %s: version %d is stale: %w", m.ID, m.Version, store.ErrConflict)
}
