// Package identity provides silo's accounts and credentials: API keys, the
// first-admin bootstrap token, WebAuthn passkeys (the only file importing
// go-webauthn is passkey.go), browser sessions with their CSRF tokens, TOTP
// second factors and single-use invitations, and authentication of
// requests. Secrets are generated here, shown to their owner once, and
// stored only as SHA-256 hashes (TOTP secrets excepted: checking a code
// needs them); nothing in this package logs a secret.
//
// The TOTP policy governs web sign-in; API keys are a separate credential
// that an admin issues and revokes.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

// KeyPrefix starts every silo API key, so leaked keys are easy to scan for.
const KeyPrefix = "sk-silo-"

// displayPrefixLen is how much of a key is kept in clear for listings.
const displayPrefixLen = len(KeyPrefix) + 6

// ErrUnauthenticated means the credential is missing, malformed, unknown,
// revoked or belongs to a disabled user. Callers must not say which.
var ErrUnauthenticated = errors.New("invalid credentials")

// newSecret returns prefix + 32 random bytes in unpadded base64url.
func newSecret(prefix string) string {
	var b [32]byte
	rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashSecret is the stored form of an API key or token.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Keys manages API keys in a store.
type Keys struct {
	st  store.Store
	now func() time.Time
}

// NewKeys returns a key manager over st.
func NewKeys(st store.Store) *Keys { return &Keys{st: st, now: time.Now} }

// Create makes a new API key for a user and returns its record and the
// secret, which is not kept anywhere.
func (k *Keys) Create(ctx context.Context, userID uuid.UUID, name string) (*store.APIKey, string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, "", fmt.Errorf("identity: create key: %w", err)
	}
	secret := newSecret(KeyPrefix)
	rec := &store.APIKey{
		ID:        id,
		UserID:    userID,
		Name:      name,
		Prefix:    secret[:displayPrefixLen],
		Hash:      HashSecret(secret),
		CreatedAt: k.now().UTC().Truncate(time.Microsecond),
	}
	if err := k.st.CreateAPIKey(ctx, rec); err != nil {
		return nil, "", fmt.Errorf("identity: create key: %w", err)
	}
	return rec, secret, nil
}

// Principal is an authenticated caller.
type Principal struct {
	User  *store.User
	KeyID *uuid.UUID // the API key used, if any
}

// IsAdmin reports whether the principal has the admin role.
func (p *Principal) IsAdmin() bool { return p != nil && p.User.Role == store.RoleAdmin }

// Authenticate resolves an API key to its user. It touches the key's
// last-used time at most once a minute.
func (k *Keys) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, KeyPrefix) || len(secret) > 100 {
		return nil, ErrUnauthenticated
	}
	hash := HashSecret(secret)
	rec, err := k.st.GetAPIKeyByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("identity: authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare(rec.Hash, hash) != 1 || rec.RevokedAt != nil {
		return nil, ErrUnauthenticated
	}
	u, err := k.st.GetUser(ctx, rec.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("identity: authenticate: %w", err)
	}
	if u.Disabled {
		return nil, ErrUnauthenticated
	}
	now := k.now()
	if rec.LastUsedAt == nil || now.Sub(*rec.LastUsedAt) > time.Minute {
		if err := k.st.TouchAPIKey(ctx, rec.ID, now.UTC().Truncate(time.Microsecond)); err != nil {
			return nil, fmt.Errorf("identity: authenticate: %w", err)
		}
	}
	id := rec.ID
	return &Principal{User: u, KeyID: &id}, nil
}
