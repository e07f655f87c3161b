// Package store defines silo's persistent state behind one interface, with two
// implementations that share a conformance suite (storetest.Run): SQLite
// (store/sqlite, the default: one file in the data dir) and PostgreSQL
// (store/postgres, for several replicas sharing state).
//
// The store holds accounts, hashed API keys, usage, limits and the audit
// chain. It never holds a plaintext secret: API keys and one-time tokens are
// stored as SHA-256 hashes, and chat content (a later migration) only sealed.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Sentinel errors, mapped to HTTP statuses in internal/server.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// Roles.
const (
	RoleAdmin = "admin"
	RoleUser  = "user"
)

// User is an account.
type User struct {
	ID        uuid.UUID
	Name      string // unique login name
	Email     string // may be empty
	Role      string // RoleAdmin or RoleUser
	CreatedAt time.Time
	Disabled  bool
}

// APIKey is an API key's record. The secret itself is never stored: Hash is
// SHA-256 of the full key string, Prefix the first characters shown in lists.
type APIKey struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	Name       string
	Prefix     string
	Hash       []byte
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Usage is one metered request.
type Usage struct {
	ID               uuid.UUID
	UserID           uuid.UUID
	KeyID            *uuid.UUID // nil for session-authenticated requests
	Model            string
	PromptTokens     int64
	CompletionTokens int64
	CreatedAt        time.Time
}

// UsageFilter selects usage rows; zero fields match everything.
type UsageFilter struct {
	UserID *uuid.UUID
	Since  time.Time
	Until  time.Time // zero: now
}

// UsageTotal is an aggregate by user and model.
type UsageTotal struct {
	UserID           uuid.UUID
	Model            string
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
}

// Limits are a user's quotas; zero means unlimited.
type Limits struct {
	UserID            uuid.UUID
	TokensPerDay      int64
	RequestsPerMinute int64
	UpdatedAt         time.Time
}

// AuditEntry is one link of the hash chain. Seq starts at 1 and has no gaps.
// Hash = SHA-256 over the canonical encoding of the entry including PrevHash
// (computed by internal/audit, not by the store).
type AuditEntry struct {
	Seq      int64
	Time     time.Time
	ActorID  *uuid.UUID // nil for the system
	Action   string
	Target   string
	Detail   string // JSON object, never a secret
	PrevHash []byte
	Hash     []byte
}

// Store is silo's persistent state. Implementations are safe for concurrent
// use, and every method either fully applies or leaves no trace.
type Store interface {
	// Users.
	CreateUser(ctx context.Context, u *User) error // ErrConflict on duplicate name
	GetUser(ctx context.Context, id uuid.UUID) (*User, error)
	GetUserByName(ctx context.Context, name string) (*User, error)
	ListUsers(ctx context.Context) ([]User, error)
	UpdateUser(ctx context.Context, u *User) error // role, email, disabled
	DeleteUser(ctx context.Context, id uuid.UUID) error
	CountAdmins(ctx context.Context) (int, error)

	// API keys.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	GetAPIKey(ctx context.Context, id uuid.UUID) (*APIKey, error)
	// GetAPIKeyByHash returns a key, revoked or not, by its hash.
	GetAPIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	ListAPIKeys(ctx context.Context, userID *uuid.UUID) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error
	TouchAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error

	// Usage and limits.
	RecordUsage(ctx context.Context, u *Usage) error
	// TokensUsed sums prompt+completion tokens of a user since a time.
	TokensUsed(ctx context.Context, userID uuid.UUID, since time.Time) (int64, error)
	UsageTotals(ctx context.Context, f UsageFilter) ([]UsageTotal, error)
	GetLimits(ctx context.Context, userID uuid.UUID) (*Limits, error) // zero Limits if unset
	SetLimits(ctx context.Context, l *Limits) error

	// Audit chain. AppendAudit runs next with the last entry (nil when the
	// chain is empty) inside one serialised transaction, and stores what it
	// returns; concurrent appends from several replicas never fork the chain.
	AppendAudit(ctx context.Context, next func(last *AuditEntry) (*AuditEntry, error)) (*AuditEntry, error)
	// ListAudit returns entries with Seq > after, in order, at most limit.
	ListAudit(ctx context.Context, after int64, limit int) ([]AuditEntry, error)

	// Settings: small server-wide values (e.g. the bootstrap token hash).
	GetSetting(ctx context.Context, key string) ([]byte, error) // ErrNotFound if unset
	SetSetting(ctx context.Context, key string, value []byte) error
	DeleteSetting(ctx context.Context, key string) error // ErrNotFound if unset (so a one-time value is spent once)

	Close() error
}
