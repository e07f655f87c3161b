package identity

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

// bootstrapSetting holds the hash of the one-time first-admin token.
const bootstrapSetting = "bootstrap_token_sha256"

// Bootstrap errors.
var (
	// ErrBootstrapDone: an admin exists already; the token is gone.
	ErrBootstrapDone = errors.New("bootstrap already done")
	// ErrBadBootstrapToken: the token does not match.
	ErrBadBootstrapToken = errors.New("invalid bootstrap token")
)

// EnsureBootstrapToken makes a fresh one-time token when no admin exists and
// returns it (to be printed on the console, never logged). It returns ""
// when an admin exists. Each start replaces the previous token.
func EnsureBootstrapToken(ctx context.Context, st store.Store) (string, error) {
	n, err := st.CountAdmins(ctx)
	if err != nil {
		return "", fmt.Errorf("identity: bootstrap: %w", err)
	}
	if n > 0 {
		if err := st.DeleteSetting(ctx, bootstrapSetting); err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("identity: bootstrap: %w", err)
		}
		return "", nil
	}
	token := newSecret("")
	if err := st.SetSetting(ctx, bootstrapSetting, HashSecret(token)); err != nil {
		return "", fmt.Errorf("identity: bootstrap: %w", err)
	}
	return token, nil
}

// Bootstrap spends the one-time token to create the first admin.
func Bootstrap(ctx context.Context, st store.Store, token, name, email string) (*store.User, error) {
	want, err := st.GetSetting(ctx, bootstrapSetting)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrBootstrapDone
	}
	if err != nil {
		return nil, fmt.Errorf("identity: bootstrap: %w", err)
	}
	if subtle.ConstantTimeCompare(want, HashSecret(token)) != 1 {
		return nil, ErrBadBootstrapToken
	}
	if n, err := st.CountAdmins(ctx); err != nil {
		return nil, fmt.Errorf("identity: bootstrap: %w", err)
	} else if n > 0 {
		return nil, ErrBootstrapDone
	}
	// Spend the token first: if two requests race, at most one proceeds
	// past here with a token that still existed.
	if err := st.DeleteSetting(ctx, bootstrapSetting); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrBootstrapDone
		}
		return nil, fmt.Errorf("identity: bootstrap: %w", err)
	}
	u, err := NewUser(name, email, store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	if err := st.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("identity: bootstrap: %w", err)
	}
	return u, nil
}

// NewUser returns a user record with a fresh id.
func NewUser(name, email, role string) (*store.User, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("identity: new user: %w", err)
	}
	return &store.User{
		ID:        id,
		Name:      name,
		Email:     email,
		Role:      role,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
	}, nil
}
