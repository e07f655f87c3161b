package identity

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

// Invitations: an admin makes a single-use link whose token is shown once
// and stored as its SHA-256. Accepting it is a passkey registration for a
// user who does not exist yet: BeginInvitation checks the token, the
// e-mail domain policy and the name, FinishInvitation verifies the passkey
// and then, in one store transaction, spends the invitation and creates the
// user with the passkey.

// InvitePrefix starts every invitation token.
const InvitePrefix = "inv-silo-"

// Invitation errors.
var (
	// ErrInvitationInvalid: unknown, used or expired; callers must not say which.
	ErrInvitationInvalid = errors.New("invitation is invalid, used or expired")
	// ErrDomainNotAllowed: the e-mail's domain is not allowed to sign up.
	ErrDomainNotAllowed = errors.New("e-mail domain not allowed for sign-up")
	// ErrEmailMismatch: the invitation was made for another address.
	ErrEmailMismatch = errors.New("the invitation is for another e-mail address")
)

// Invitation lifetimes.
const (
	DefaultInvitationTTL = 7 * 24 * time.Hour
	MaxInvitationTTL     = 30 * 24 * time.Hour
)

// inviteState is what an accepting ceremony remembers.
type inviteState struct {
	InvitationID uuid.UUID `json:"invitation_id"`
	Name         string    `json:"name"`
	Email        string    `json:"email"`
	Role         string    `json:"role"`
}

// CreateInvitation makes an invitation for role (and, if email is set,
// only for that address, which must be in an allowed domain) that expires
// after ttl (DefaultInvitationTTL if zero, at most MaxInvitationTTL). It
// returns the record and the token, which is not kept anywhere.
func (p *Passkeys) CreateInvitation(ctx context.Context, by *uuid.UUID, email, role string, ttl time.Duration) (*store.Invitation, string, error) {
	if ttl <= 0 {
		ttl = DefaultInvitationTTL
	}
	if ttl > MaxInvitationTTL {
		ttl = MaxInvitationTTL
	}
	if email != "" {
		pol, err := GetPolicy(ctx, p.st)
		if err != nil {
			return nil, "", err
		}
		if !pol.AllowsEmail(email) {
			return nil, "", ErrDomainNotAllowed
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, "", fmt.Errorf("identity: create invitation: %w", err)
	}
	token := newSecret(InvitePrefix)
	now := p.now().UTC().Truncate(time.Microsecond)
	inv := &store.Invitation{ID: id, Hash: HashSecret(token), Email: email, Role: role, CreatedBy: by,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := p.st.CreateInvitation(ctx, inv); err != nil {
		return nil, "", fmt.Errorf("identity: create invitation: %w", err)
	}
	return inv, token, nil
}

// openInvitation returns the live invitation of token.
func (p *Passkeys) openInvitation(ctx context.Context, token string) (*store.Invitation, error) {
	if !strings.HasPrefix(token, InvitePrefix) || len(token) > 100 {
		return nil, ErrInvitationInvalid
	}
	hash := HashSecret(token)
	inv, err := p.st.GetInvitationByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvitationInvalid
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(inv.Hash, hash) != 1 || inv.UsedAt != nil || !p.now().Before(inv.ExpiresAt) {
		return nil, ErrInvitationInvalid
	}
	return inv, nil
}

// BeginInvitation starts accepting an invitation as a new user name with
// e-mail email (the invitation's own address if empty) and returns the
// passkey creation options. ErrInvitationInvalid, ErrEmailMismatch,
// ErrDomainNotAllowed, or store.ErrConflict for a taken name.
func (p *Passkeys) BeginInvitation(ctx context.Context, token, name, email string) (json.RawMessage, error) {
	inv, err := p.openInvitation(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("identity: begin invitation: %w", err)
	}
	switch {
	case email == "":
		email = inv.Email
	case inv.Email != "" && !strings.EqualFold(email, inv.Email):
		return nil, fmt.Errorf("identity: begin invitation: %w", ErrEmailMismatch)
	}
	pol, err := GetPolicy(ctx, p.st)
	if err != nil {
		return nil, fmt.Errorf("identity: begin invitation: %w", err)
	}
	if len(pol.AllowedEmailDomains) > 0 && !pol.AllowsEmail(email) {
		return nil, fmt.Errorf("identity: begin invitation: %w", ErrDomainNotAllowed)
	}
	if _, err := p.st.GetUserByName(ctx, name); err == nil {
		return nil, fmt.Errorf("identity: begin invitation: name %q: %w", name, store.ErrConflict)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("identity: begin invitation: %w", err)
	}
	u, err := NewUser(name, email, inv.Role)
	if err != nil {
		return nil, err
	}
	out, err := p.beginRegistration(ctx, &waUser{u: u}, &ceremony{UserID: u.ID,
		Invite: &inviteState{InvitationID: inv.ID, Name: name, Email: email, Role: inv.Role}}, ceremonyInvite)
	if err != nil {
		return nil, fmt.Errorf("identity: begin invitation: %w", err)
	}
	return out, nil
}

// FinishInvitation verifies the passkey answer to BeginInvitation and
// creates the user with it, spending the invitation. The token is checked
// again: the ceremony must belong to this invitation, still unused and
// unexpired.
func (p *Passkeys) FinishInvitation(ctx context.Context, token, passkeyName string, answer []byte) (*store.User, error) {
	inv, err := p.openInvitation(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("identity: finish invitation: %w", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(answer)
	if err != nil {
		return nil, fmt.Errorf("identity: finish invitation: %w", ErrPasskey)
	}
	c, err := p.takeCeremony(ctx, ceremonyInvite, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return nil, fmt.Errorf("identity: finish invitation: %w", err)
	}
	if c.Invite == nil || c.Invite.InvitationID != inv.ID {
		return nil, fmt.Errorf("identity: finish invitation: ceremony of another invitation: %w", ErrPasskey)
	}
	u := &store.User{ID: c.UserID, Name: c.Invite.Name, Email: c.Invite.Email, Role: c.Invite.Role,
		CreatedAt: p.now().UTC().Truncate(time.Microsecond)}
	pk, err := p.newPasskey(&waUser{u: u}, c, parsed, passkeyName)
	if err != nil {
		return nil, fmt.Errorf("identity: finish invitation: %w", err)
	}
	err = p.st.AcceptInvitation(ctx, inv.ID, u, pk, p.now())
	switch {
	case errors.Is(err, store.ErrConflict) && !p.nameFree(ctx, u.Name):
		return nil, fmt.Errorf("identity: finish invitation: name %q: %w", u.Name, store.ErrConflict)
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("identity: finish invitation: %w", ErrInvitationInvalid)
	case err != nil:
		return nil, fmt.Errorf("identity: finish invitation: %w", err)
	}
	return u, nil
}

func (p *Passkeys) nameFree(ctx context.Context, name string) bool {
	_, err := p.st.GetUserByName(ctx, name)
	return errors.Is(err, store.ErrNotFound)
}
