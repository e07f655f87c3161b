// Package store defines silo's persistent state behind one interface, with two
// implementations that share a conformance suite (storetest.Run): SQLite
// (store/sqlite, the default: one file in the data dir) and PostgreSQL
// (store/postgres, for several replicas sharing state).
//
// The store holds accounts, hashed API keys, usage, limits and the audit
// chain. It never holds a plaintext secret: API keys and one-time tokens are
// stored as SHA-256 hashes, and chat content (a later migration) only sealed.
//
// Conventions every implementation keeps (storetest.Run checks them):
//   - Times are stored in UTC with microsecond precision; what a method
//     stores, it writes back into its argument, so the caller holds exactly
//     what a later read returns.
//   - Create methods assign a random ID when it is uuid.Nil and the current
//     time when CreatedAt is zero.
//   - Names compare byte-wise (case-sensitive); callers normalise them.
//   - Deleting a user deletes their API keys and limits. Their usage rows stay
//     (with the user's ID, for accounting), and audit entries are never
//     deleted by the store.
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
	Until  time.Time // exclusive; zero: no upper bound
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
	UpdateUser(ctx context.Context, u *User) error // role, email, disabled; ErrNotFound
	// DeleteUser deletes a user with their keys and limits (see the package
	// doc); ErrNotFound if there is no such user.
	DeleteUser(ctx context.Context, id uuid.UUID) error
	// CountAdmins counts admins that are not disabled.
	CountAdmins(ctx context.Context) (int, error)

	// API keys.
	// CreateAPIKey fails with ErrNotFound if the user does not exist and
	// ErrConflict on a duplicate ID or hash. Hash must be 32 bytes.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	GetAPIKey(ctx context.Context, id uuid.UUID) (*APIKey, error)
	// GetAPIKeyByHash returns a key, revoked or not, by its hash.
	GetAPIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	ListAPIKeys(ctx context.Context, userID *uuid.UUID) ([]APIKey, error)
	// RevokeAPIKey marks a key revoked; revoking it again keeps the first time.
	RevokeAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error
	// TouchAPIKey records a use; LastUsedAt only moves forward.
	TouchAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error

	// Usage and limits.
	// RecordUsage fails with ErrNotFound unless the user exists and KeyID,
	// when set, is one of that user's keys. Token counts must not be negative.
	RecordUsage(ctx context.Context, u *Usage) error
	// TokensUsed sums prompt+completion tokens of a user since a time.
	TokensUsed(ctx context.Context, userID uuid.UUID, since time.Time) (int64, error)
	// UsageTotals aggregates by user and model, ordered by user ID, then model.
	UsageTotals(ctx context.Context, f UsageFilter) ([]UsageTotal, error)
	// GetLimits returns zero Limits (with UserID set) if none were set, and
	// ErrNotFound if there is no such user.
	GetLimits(ctx context.Context, userID uuid.UUID) (*Limits, error)
	// SetLimits replaces a user's limits (UpdatedAt: now if zero); ErrNotFound
	// if there is no such user. Limits must not be negative.
	SetLimits(ctx context.Context, l *Limits) error

	// Audit chain. AppendAudit runs next with the last entry (nil when the
	// chain is empty) inside one serialised transaction, and stores what it
	// returns; concurrent appends from several replicas never fork the chain.
	// The returned entry's Seq must be last.Seq+1 (or 0, and the store sets
	// it), its PrevHash must equal last.Hash (be empty for the first entry),
	// its Hash must be set, and its Time must be set with at most microsecond
	// precision (so its hash survives the round trip). An error from next, or
	// a refused entry, leaves nothing behind. next must not call the store.
	AppendAudit(ctx context.Context, next func(last *AuditEntry) (*AuditEntry, error)) (*AuditEntry, error)
	// ListAudit returns entries with Seq > after, in order, at most limit
	// (which must be positive).
	ListAudit(ctx context.Context, after int64, limit int) ([]AuditEntry, error)

	// Settings: small server-wide values (e.g. the bootstrap token hash).
	GetSetting(ctx context.Context, key string) ([]byte, error) // ErrNotFound if unset
	SetSetting(ctx context.Context, key string, value []byte) error
	DeleteSetting(ctx context.Context, key string) error // ErrNotFound if unset (so a one-time value is spent once)

	// Close releases the store; later calls fail, and a second Close is a no-op.
	Close() error
}
