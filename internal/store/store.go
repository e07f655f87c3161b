// Package store defines silo's persistent state behind one interface, with two
// implementations that share a conformance suite (storetest.Run): SQLite
// (store/sqlite, the default: one file in the data dir) and PostgreSQL
// (store/postgres, for several replicas sharing state).
//
// The store holds accounts, hashed API keys, usage, limits and the audit
// chain. It never holds a plaintext secret: API keys and one-time tokens are
// stored as SHA-256 hashes, and chat content only sealed (age files
// to public keys whose private halves live on clients).
//
// Conventions every implementation keeps (storetest.Run checks them):
//   - Times are stored in UTC with microsecond precision; what a method
//     stores, it writes back into its argument, so the caller holds exactly
//     what a later read returns.
//   - Create methods assign a random ID when it is uuid.Nil and the current
//     time when CreatedAt is zero.
//   - Names compare byte-wise (case-sensitive); callers normalise them.
//   - Deleting a user deletes their API keys, limits, device keys and
//     conversations. Their usage rows stay
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

// Sealing-key kinds (see SealKey).
const (
	SealKeyDevice = "device" // one of a user's devices
	SealKeyAdmin  = "admin"  // the organisation's admin key; at most one is live
	SealKeyBackup = "backup" // an offline backup key
)

// SealKey is a public age recipient ("age1pq1...") that stored chat content
// is sealed to. Its private half lives on a client; the store never holds
// one. UserID is set for device keys only.
type SealKey struct {
	ID          uuid.UUID
	Kind        string // SealKeyDevice, SealKeyAdmin or SealKeyBackup
	UserID      *uuid.UUID
	Name        string
	Recipient   string // the age1pq1 public key
	Fingerprint string // seal.Recipient.Fingerprint of Recipient; unique
	CreatedAt   time.Time
	RevokedAt   *time.Time
}

// Conversation is a stored chat. It holds no content itself: its messages
// are SealedMessages.
type Conversation struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	CreatedAt time.Time
}

// SealedMessage is one stored chat message, sealed (an age file) to the
// keys whose fingerprints Recipients records, sorted. Role ("user" or
// "assistant") and Seq (1, 2, ... within the conversation) are the only
// plain facts about it. Version starts at 1 and grows by one each time the
// message is sealed again (rewrap).
type SealedMessage struct {
	ID             uuid.UUID
	ConversationID uuid.UUID
	Seq            int64
	Role           string
	Version        int64
	Sealed         []byte
	Recipients     []string
	CreatedAt      time.Time
}

// SealKeyFilter selects sealing keys; zero fields match everything.
type SealKeyFilter struct {
	Kind     string
	UserID   *uuid.UUID
	LiveOnly bool // leave out revoked keys
}

// Identity (issue 4): passkeys, WebAuthn ceremony challenges, browser
// sessions, TOTP and invitations. Secrets are stored hashed, except the
// TOTP secret, which the server needs to check codes.

// Passkey is a user's WebAuthn credential. Credential is the WebAuthn
// library's record of it (public key, flags, sign counter), opaque here.
type Passkey struct {
	ID           uuid.UUID
	UserID       uuid.UUID
	CredentialID []byte // unique
	Name         string
	Credential   []byte
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}

// Challenge is the server half of a WebAuthn ceremony, found by the
// SHA-256 of its challenge and spent once.
type Challenge struct {
	Hash      []byte // 32 bytes; unique
	Kind      string // what the ceremony is for, as identity names it
	Data      []byte // the ceremony state, opaque here
	ExpiresAt time.Time
}

// Session is a browser sign-in. Hash is SHA-256 of the cookie's secret.
// A Restricted session may only enroll TOTP (required, not yet enrolled).
type Session struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	Hash       []byte
	Restricted bool
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time
}

// TOTP is a user's authenticator-app secret (RFC 6238). LastStep is the
// last time step a code was accepted for; codes of that step or older are
// refused, so a code works once.
type TOTP struct {
	UserID      uuid.UUID
	Secret      string // base32
	ConfirmedAt *time.Time
	LastStep    int64
}

// Invitation is a single-use sign-up link. Hash is SHA-256 of its token.
type Invitation struct {
	ID        uuid.UUID
	Hash      []byte
	Email     string // may be empty: any allowed address
	Role      string
	CreatedBy *uuid.UUID
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	UserID    *uuid.UUID // the user it created
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

	// Sealed conversations (issue 4). The store keeps public keys and
	// sealed blobs only.
	//
	// CreateSealKey fails with ErrConflict on a duplicate ID or fingerprint
	// or a second live admin key, and with ErrNotFound if a device key's user
	// does not exist. Device keys must name a user, others must not.
	CreateSealKey(ctx context.Context, k *SealKey) error
	GetSealKey(ctx context.Context, id uuid.UUID) (*SealKey, error)
	// ListSealKeys lists keys, oldest first, filtered as f says.
	ListSealKeys(ctx context.Context, f SealKeyFilter) ([]SealKey, error)
	// RevokeSealKey marks a key revoked; revoking it again keeps the first time.
	RevokeSealKey(ctx context.Context, id uuid.UUID, at time.Time) error
	// SealRecipients returns, from one consistent read, the keys a message
	// of the user is sealed to: the user's live device keys, the live admin
	// key and every live backup key.
	SealRecipients(ctx context.Context, userID uuid.UUID) ([]SealKey, error)
	// CreateConversation fails with ErrNotFound if the user does not exist.
	CreateConversation(ctx context.Context, c *Conversation) error
	GetConversation(ctx context.Context, id uuid.UUID) (*Conversation, error)
	// ListConversations lists a user's conversations (everyone's if userID
	// is nil), oldest first.
	ListConversations(ctx context.Context, userID *uuid.UUID) ([]Conversation, error)
	// DeleteConversation deletes a conversation with its messages.
	DeleteConversation(ctx context.Context, id uuid.UUID) error
	// AppendMessages appends ms, in order, to a conversation in one
	// transaction, numbering them after its last message; it writes back
	// ID, Seq, Version (1) and CreatedAt. ErrNotFound if the conversation
	// does not exist. Each message needs a role, a sealed blob and at least
	// one recipient.
	AppendMessages(ctx context.Context, conversationID uuid.UUID, ms []*SealedMessage) error
	// ListMessages returns a conversation's messages with Seq > after, in
	// order, at most limit (which must be positive).
	ListMessages(ctx context.Context, conversationID uuid.UUID, after int64, limit int) ([]SealedMessage, error)
	// ResealMessage replaces the sealed blob and recipients of message m.ID
	// of conversation m.ConversationID if its stored version is still
	// m.Version, and writes back the new version (m.Version+1) and the
	// message's Seq, Role and CreatedAt, which do not change. The old blob
	// is replaced in the same transaction, never dropped first. ErrNotFound
	// if there is no such message in that conversation, ErrConflict if its
	// version moved on.
	ResealMessage(ctx context.Context, m *SealedMessage) error

	// Identity (issue 4, store/*/identity.go).
	//
	// CreatePasskey fails with ErrNotFound if the user does not exist and
	// ErrConflict on a duplicate ID or credential ID.
	CreatePasskey(ctx context.Context, p *Passkey) error
	GetPasskey(ctx context.Context, id uuid.UUID) (*Passkey, error)
	GetPasskeyByCredentialID(ctx context.Context, credentialID []byte) (*Passkey, error)
	DeletePasskey(ctx context.Context, id uuid.UUID) error // ErrNotFound
	// ListPasskeys lists a user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID uuid.UUID) ([]Passkey, error)
	// UpdatePasskeyUse stores a passkey's credential record after a sign-in
	// (its counter moves) and its last-used time.
	UpdatePasskeyUse(ctx context.Context, id uuid.UUID, credential []byte, at time.Time) error
	// PutChallenge stores a challenge (ErrConflict on a duplicate hash) and
	// drops expired ones.
	PutChallenge(ctx context.Context, c *Challenge) error
	// TakeChallenge deletes and returns a challenge: ErrNotFound if there is
	// none or it expired by now. Of concurrent takes, at most one succeeds.
	TakeChallenge(ctx context.Context, hash []byte, now time.Time) (*Challenge, error)
	// CreateSession fails with ErrNotFound if the user does not exist and
	// ErrConflict on a duplicate hash; it drops expired sessions.
	CreateSession(ctx context.Context, s *Session) error
	// GetSessionByHash returns a session, expired or not.
	GetSessionByHash(ctx context.Context, hash []byte) (*Session, error)
	// ListSessions lists a user's sessions, oldest first.
	ListSessions(ctx context.Context, userID uuid.UUID) ([]Session, error)
	// TouchSession records a use; LastSeenAt only moves forward.
	TouchSession(ctx context.Context, id uuid.UUID, at time.Time) error
	// ElevateSession clears a session's Restricted flag.
	ElevateSession(ctx context.Context, id uuid.UUID) error
	DeleteSession(ctx context.Context, id uuid.UUID) error
	// DeleteUserSessions deletes every session of a user and says how many.
	DeleteUserSessions(ctx context.Context, userID uuid.UUID) (int64, error)
	GetTOTP(ctx context.Context, userID uuid.UUID) (*TOTP, error)
	// PutTOTP creates or replaces a user's TOTP; ErrNotFound without the user.
	PutTOTP(ctx context.Context, t *TOTP) error
	DeleteTOTP(ctx context.Context, userID uuid.UUID) error // ErrNotFound
	// UseTOTPStep records that a code of time step step was accepted:
	// ErrConflict unless step is past LastStep, ErrNotFound without a TOTP.
	UseTOTPStep(ctx context.Context, userID uuid.UUID, step int64) error
	// CreateInvitation fails with ErrConflict on a duplicate ID or hash.
	CreateInvitation(ctx context.Context, inv *Invitation) error
	GetInvitationByHash(ctx context.Context, hash []byte) (*Invitation, error)
	// ListInvitations lists invitations, oldest first.
	ListInvitations(ctx context.Context) ([]Invitation, error)
	// AcceptInvitation, in one transaction, marks invitation id used at at
	// (ErrConflict if it was, ErrNotFound if there is none), creates u and
	// the passkey pk of u, and records u as the invitation's user. Nothing
	// is left behind on error (e.g. ErrConflict for a taken name).
	AcceptInvitation(ctx context.Context, id uuid.UUID, u *User, pk *Passkey, at time.Time) error

	// Close releases the store; later calls fail, and a second Close is a no-op.
	Close() error
}
