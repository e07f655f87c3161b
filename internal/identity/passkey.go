package identity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

// This file is the only one in silo that imports go-webauthn (pre-1.0,
// pinned in go.mod): the rest of silo sees JSON options in and out.
//
// A ceremony's server state is stored (store.Challenge) under the SHA-256
// of its challenge and taken, deleted, when the answer comes: the answer's
// clientDataJSON names the challenge, so an answer finds its ceremony, and
// a replayed answer finds none. Ceremonies expire after CeremonyTTL.

// CeremonyTTL is how long a WebAuthn ceremony may take.
const CeremonyTTL = 5 * time.Minute

// Ceremony kinds (store.Challenge.Kind).
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"
	ceremonyInvite   = "invite"
)

// ErrPasskey means a passkey ceremony failed: unknown or replayed
// challenge, wrong origin or relying party, bad signature, unknown
// credential, or a cloned authenticator. Callers must not say which.
var ErrPasskey = errors.New("passkey verification failed")

// PasskeyConfig names the relying party: RPID is the domain the passkeys
// are bound to, Origins the exact web origins allowed to use them.
type PasskeyConfig struct {
	RPID    string
	RPName  string
	Origins []string
	// AllowWithoutUV accepts passkeys used without user verification (a
	// PIN or biometric check on the authenticator). Off by default: a
	// passkey is then two factors (something held, something known or
	// been), and a lost security key alone signs no one in.
	AllowWithoutUV bool
	CeremonyTTL    time.Duration
}

// Passkeys runs WebAuthn registration and sign-in over a store.
type Passkeys struct {
	st  store.Store
	wa  *webauthn.WebAuthn
	cfg PasskeyConfig
	now func() time.Time
}

// NewPasskeys returns a passkey service for the relying party cfg.
func NewPasskeys(st store.Store, cfg PasskeyConfig) (*Passkeys, error) {
	if cfg.RPName == "" {
		cfg.RPName = "silo"
	}
	if cfg.CeremonyTTL <= 0 {
		cfg.CeremonyTTL = CeremonyTTL
	}
	uv := protocol.VerificationRequired
	if cfg.AllowWithoutUV {
		uv = protocol.VerificationPreferred
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPName,
		RPOrigins:     cfg.Origins,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: uv,
		},
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, fmt.Errorf("identity: passkeys: %w", err)
	}
	return &Passkeys{st: st, wa: wa, cfg: cfg, now: time.Now}, nil
}

// waUser is a silo user as go-webauthn sees it. The user handle is the
// user's UUID: random, and no personal data.
type waUser struct {
	u     *store.User
	creds []webauthn.Credential
}

func (w *waUser) WebAuthnID() []byte                         { return w.u.ID[:] }
func (w *waUser) WebAuthnName() string                       { return w.u.Name }
func (w *waUser) WebAuthnDisplayName() string                { return w.u.Name }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func (p *Passkeys) loadUser(ctx context.Context, u *store.User) (*waUser, []store.Passkey, error) {
	pks, err := p.st.ListPasskeys(ctx, u.ID)
	if err != nil {
		return nil, nil, err
	}
	w := &waUser{u: u}
	for _, pk := range pks {
		var c webauthn.Credential
		if err := json.Unmarshal(pk.Credential, &c); err != nil {
			return nil, nil, fmt.Errorf("passkey %s: %w", pk.ID, err)
		}
		w.creds = append(w.creds, c)
	}
	return w, pks, nil
}

// ceremony is a stored ceremony's state.
type ceremony struct {
	Session webauthn.SessionData `json:"session"`
	UserID  uuid.UUID            `json:"user_id"`        // registration: the user
	Name    string               `json:"name,omitempty"` // login: the name asked for, if any
	Invite  *inviteState         `json:"invite,omitempty"`
}

func challengeHash(challenge string) []byte {
	h := sha256.Sum256([]byte(challenge))
	return h[:]
}

func (p *Passkeys) putCeremony(ctx context.Context, kind string, c *ceremony) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return p.st.PutChallenge(ctx, &store.Challenge{
		Hash: challengeHash(c.Session.Challenge), Kind: kind, Data: data,
		ExpiresAt: p.now().Add(p.cfg.CeremonyTTL),
	})
}

// takeCeremony spends the ceremony the answer's challenge names.
func (p *Passkeys) takeCeremony(ctx context.Context, kind, challenge string) (*ceremony, error) {
	if challenge == "" || len(challenge) > 200 {
		return nil, ErrPasskey
	}
	ch, err := p.st.TakeChallenge(ctx, challengeHash(challenge), p.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrPasskey
	}
	if err != nil {
		return nil, err
	}
	if ch.Kind != kind {
		return nil, ErrPasskey
	}
	var c ceremony
	if err := json.Unmarshal(ch.Data, &c); err != nil {
		return nil, fmt.Errorf("ceremony state: %w", err)
	}
	if c.Session.Challenge != challenge {
		return nil, ErrPasskey
	}
	return &c, nil
}

// BeginRegistration starts adding a passkey to u and returns the
// PublicKeyCredentialCreationOptions for navigator.credentials.create
// (as {"publicKey": ...}).
func (p *Passkeys) BeginRegistration(ctx context.Context, u *store.User) (json.RawMessage, error) {
	w, _, err := p.loadUser(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("identity: begin registration: %w", err)
	}
	out, err := p.beginRegistration(ctx, w, &ceremony{UserID: u.ID}, ceremonyRegister)
	if err != nil {
		return nil, fmt.Errorf("identity: begin registration: %w", err)
	}
	return out, nil
}

func (p *Passkeys) beginRegistration(ctx context.Context, w *waUser, c *ceremony, kind string) (json.RawMessage, error) {
	excl := make([]protocol.CredentialDescriptor, len(w.creds))
	for i, cr := range w.creds {
		excl[i] = cr.Descriptor()
	}
	creation, session, err := p.wa.BeginRegistration(w, webauthn.WithExclusions(excl))
	if err != nil {
		return nil, err
	}
	c.Session = *session
	if err := p.putCeremony(ctx, kind, c); err != nil {
		return nil, err
	}
	return json.Marshal(creation)
}

// FinishRegistration checks the authenticator's answer (the
// PublicKeyCredential JSON) to a registration u began, and stores the new
// passkey under name. Failures of the answer are ErrPasskey.
func (p *Passkeys) FinishRegistration(ctx context.Context, u *store.User, name string, answer []byte) (*store.Passkey, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(answer)
	if err != nil {
		return nil, fmt.Errorf("identity: finish registration: %w", ErrPasskey)
	}
	c, err := p.takeCeremony(ctx, ceremonyRegister, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return nil, fmt.Errorf("identity: finish registration: %w", err)
	}
	if c.UserID != u.ID {
		return nil, fmt.Errorf("identity: finish registration: ceremony of another user: %w", ErrPasskey)
	}
	w, _, err := p.loadUser(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("identity: finish registration: %w", err)
	}
	pk, err := p.newPasskey(w, c, parsed, name)
	if err != nil {
		return nil, fmt.Errorf("identity: finish registration: %w", err)
	}
	if err := p.st.CreatePasskey(ctx, pk); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("identity: finish registration: credential registered already: %w", ErrPasskey)
		}
		return nil, fmt.Errorf("identity: finish registration: %w", err)
	}
	return pk, nil
}

// newPasskey verifies a registration answer and returns the passkey record
// (not stored).
func (p *Passkeys) newPasskey(w *waUser, c *ceremony, parsed *protocol.ParsedCredentialCreationData, name string) (*store.Passkey, error) {
	cred, err := p.wa.CreateCredential(w, c.Session, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskey, err)
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = "passkey"
	}
	return &store.Passkey{ID: id, UserID: w.u.ID, CredentialID: cred.ID, Name: name, Credential: raw,
		CreatedAt: p.now().UTC().Truncate(time.Microsecond)}, nil
}

// BeginLogin starts a sign-in and returns PublicKeyCredentialRequestOptions
// (as {"publicKey": ...}). The sign-in is always discoverable (silo's
// passkeys are resident keys): the options list no credentials, so they
// reveal neither whether a name exists nor its credential IDs. With a
// name, only that user's passkey completes the sign-in.
func (p *Passkeys) BeginLogin(ctx context.Context, name string) (json.RawMessage, error) {
	assertion, session, err := p.wa.BeginDiscoverableLogin()
	if err != nil {
		return nil, fmt.Errorf("identity: begin login: %w", err)
	}
	if err := p.putCeremony(ctx, ceremonyLogin, &ceremony{Session: *session, Name: name}); err != nil {
		return nil, fmt.Errorf("identity: begin login: %w", err)
	}
	out, err := json.Marshal(assertion)
	if err != nil {
		return nil, fmt.Errorf("identity: begin login: %w", err)
	}
	return out, nil
}

// FinishLogin checks the authenticator's answer to a sign-in and returns
// the user it proves. It records the passkey's new sign counter. A failed
// check, a disabled user or a counter that went backwards (a cloned
// authenticator) is ErrPasskey.
func (p *Passkeys) FinishLogin(ctx context.Context, answer []byte) (*store.User, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(answer)
	if err != nil {
		return nil, fmt.Errorf("identity: finish login: %w", ErrPasskey)
	}
	c, err := p.takeCeremony(ctx, ceremonyLogin, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return nil, fmt.Errorf("identity: finish login: %w", err)
	}
	pk, err := p.st.GetPasskeyByCredentialID(ctx, parsed.RawID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("identity: finish login: unknown credential: %w", ErrPasskey)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: finish login: %w", err)
	}
	u, err := p.st.GetUser(ctx, pk.UserID)
	if err != nil {
		return nil, fmt.Errorf("identity: finish login: %w", err)
	}
	if u.Disabled {
		return nil, fmt.Errorf("identity: finish login: disabled user: %w", ErrPasskey)
	}
	if c.Name != "" && u.Name != c.Name {
		return nil, fmt.Errorf("identity: finish login: passkey of another user than asked for: %w", ErrPasskey)
	}
	w, _, err := p.loadUser(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("identity: finish login: %w", err)
	}
	_, cred, err := p.wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
		if !bytes.Equal(userHandle, u.ID[:]) {
			return nil, errors.New("user handle does not match the credential's user")
		}
		return w, nil
	}, c.Session, parsed)
	if err != nil {
		return nil, fmt.Errorf("identity: finish login: %w: %v", ErrPasskey, err)
	}
	if cred.Authenticator.CloneWarning {
		return nil, fmt.Errorf("identity: finish login: sign counter went backwards: %w", ErrPasskey)
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return nil, fmt.Errorf("identity: finish login: %w", err)
	}
	if err := p.st.UpdatePasskeyUse(ctx, pk.ID, raw, p.now()); err != nil {
		return nil, fmt.Errorf("identity: finish login: %w", err)
	}
	return u, nil
}
