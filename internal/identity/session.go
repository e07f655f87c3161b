package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

// Browser sessions. A session's secret travels only in the cookie
// SessionCookie (HttpOnly, Secure, SameSite=Strict, Path=/, the __Host-
// prefix pins it to this host); the store keeps its SHA-256. A session ends
// SessionTTL after sign-in, or SessionIdle after its last use.
//
// CSRF: every unsafe request (not GET, HEAD or OPTIONS) authenticated by
// the cookie must carry the header CSRFHeader with CSRFToken(secret), which
// the sign-in answer returns (a page of another origin can make the
// browser send the cookie, but cannot read the token). Requests with an
// API key carry no ambient credential and need no token.

// Session constants.
const (
	SessionCookie = "__Host-silo_session"
	SessionPrefix = "ss-silo-"
	CSRFHeader    = "X-CSRF-Token"
	SessionTTL    = 7 * 24 * time.Hour
	SessionIdle   = 24 * time.Hour
	// csrfDomain separates the CSRF token from any other use of the secret.
	csrfDomain = "silo csrf token v1"
)

// ErrTOTPEnrollmentRequired: the session may only enroll TOTP until it
// is confirmed (the policy requires TOTP and the user has none yet).
var ErrTOTPEnrollmentRequired = errors.New("TOTP enrollment required")

// Sessions creates and checks browser sessions.
type Sessions struct {
	st    store.Store
	totps *TOTPs
	now   func() time.Time
}

// NewSessions returns a session manager over st.
func NewSessions(st store.Store, totps *TOTPs) *Sessions {
	return &Sessions{st: st, totps: totps, now: time.Now}
}

// SignIn completes a sign-in of u, whose passkey was just verified: with a
// confirmed TOTP, code must be a valid unused code (ErrTOTPRequired when
// empty, ErrBadTOTP when wrong); when the policy requires TOTP of u but u
// has none, the session is restricted to enrolling it. It returns the
// session and its secret, to be set as the cookie and never stored.
func (s *Sessions) SignIn(ctx context.Context, u *store.User, code string) (*store.Session, string, error) {
	pol, err := GetPolicy(ctx, s.st)
	if err != nil {
		return nil, "", err
	}
	enrolled, err := s.totps.Enrolled(ctx, u)
	if err != nil {
		return nil, "", err
	}
	restricted := false
	switch {
	case enrolled && code == "":
		return nil, "", ErrTOTPRequired
	case enrolled:
		if err := s.totps.Check(ctx, u, code); err != nil {
			return nil, "", err
		}
	case pol.RequiresTOTP(u.Role):
		restricted = true
	}
	return s.create(ctx, u.ID, restricted)
}

func (s *Sessions) create(ctx context.Context, userID uuid.UUID, restricted bool) (*store.Session, string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, "", fmt.Errorf("identity: create session: %w", err)
	}
	secret := newSecret(SessionPrefix)
	now := s.now().UTC().Truncate(time.Microsecond)
	sess := &store.Session{ID: id, UserID: userID, Hash: HashSecret(secret), Restricted: restricted,
		CreatedAt: now, ExpiresAt: now.Add(SessionTTL), LastSeenAt: now}
	if err := s.st.CreateSession(ctx, sess); err != nil {
		return nil, "", fmt.Errorf("identity: create session: %w", err)
	}
	return sess, secret, nil
}

// Authenticate resolves a session secret (the cookie's value) to its user
// and session. Expired, idle, unknown sessions and disabled users are
// ErrUnauthenticated. It touches the session at most once a minute.
func (s *Sessions) Authenticate(ctx context.Context, secret string) (*Principal, *store.Session, error) {
	if !strings.HasPrefix(secret, SessionPrefix) || len(secret) > 100 {
		return nil, nil, ErrUnauthenticated
	}
	hash := HashSecret(secret)
	sess, err := s.st.GetSessionByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, nil, fmt.Errorf("identity: authenticate session: %w", err)
	}
	now := s.now()
	if subtle.ConstantTimeCompare(sess.Hash, hash) != 1 || !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) > SessionIdle {
		return nil, nil, ErrUnauthenticated
	}
	u, err := s.st.GetUser(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, nil, fmt.Errorf("identity: authenticate session: %w", err)
	}
	if u.Disabled {
		return nil, nil, ErrUnauthenticated
	}
	if now.Sub(sess.LastSeenAt) > time.Minute {
		if err := s.st.TouchSession(ctx, sess.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, fmt.Errorf("identity: authenticate session: %w", err)
		}
	}
	return &Principal{User: u}, sess, nil
}

// CSRFToken is the anti-CSRF token of a session secret.
func CSRFToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(csrfDomain))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports whether token is the CSRF token of secret.
func CheckCSRF(secret, token string) bool {
	return token != "" && hmac.Equal([]byte(CSRFToken(secret)), []byte(token))
}

type sessionKey struct{}

// WithSession returns ctx carrying the session that authenticated it.
func WithSession(ctx context.Context, s *store.Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// SessionFromContext returns the session that authenticated the request,
// or nil (an API key, or no authentication).
func SessionFromContext(ctx context.Context) *store.Session {
	s, _ := ctx.Value(sessionKey{}).(*store.Session)
	return s
}

// Sign-in policy, an admin setting.

// policySetting holds the Policy as JSON.
const policySetting = "auth_policy"

// Who must use TOTP (Policy.TOTPRequired).
const (
	TOTPNone     = "none"
	TOTPAdmins   = "admins"
	TOTPEveryone = "everyone"
)

// Policy is the server's sign-in policy.
type Policy struct {
	TOTPRequired string `json:"totp_required"` // TOTPNone, TOTPAdmins or TOTPEveryone
	// AllowedEmailDomains, when not empty, limits sign-up (invitations) to
	// e-mail addresses in these domains (lowercase, exact match).
	AllowedEmailDomains []string `json:"allowed_email_domains"`
}

// RequiresTOTP reports whether the policy requires TOTP of a role.
func (p Policy) RequiresTOTP(role string) bool {
	return p.TOTPRequired == TOTPEveryone || (p.TOTPRequired == TOTPAdmins && role == store.RoleAdmin)
}

// AllowsEmail reports whether sign-up may use this address.
func (p Policy) AllowsEmail(email string) bool {
	if len(p.AllowedEmailDomains) == 0 {
		return true
	}
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return false
	}
	return slices.Contains(p.AllowedEmailDomains, strings.ToLower(email[at+1:]))
}

// GetPolicy reads the policy; unset, nothing is required or limited.
func GetPolicy(ctx context.Context, st store.Store) (Policy, error) {
	b, err := st.GetSetting(ctx, policySetting)
	if errors.Is(err, store.ErrNotFound) {
		return Policy{TOTPRequired: TOTPNone}, nil
	}
	if err != nil {
		return Policy{}, fmt.Errorf("identity: policy: %w", err)
	}
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil {
		// Fail closed: a policy we cannot read requires everything.
		return Policy{TOTPRequired: TOTPEveryone, AllowedEmailDomains: []string{"invalid."}}, fmt.Errorf("identity: policy: %w", err)
	}
	return p, nil
}

// SetPolicy stores the policy after normalising it.
func SetPolicy(ctx context.Context, st store.Store, p Policy) (Policy, error) {
	switch p.TOTPRequired {
	case "":
		p.TOTPRequired = TOTPNone
	case TOTPNone, TOTPAdmins, TOTPEveryone:
	default:
		return Policy{}, fmt.Errorf("identity: policy: unknown totp_required %q", p.TOTPRequired)
	}
	ds := make([]string, 0, len(p.AllowedEmailDomains))
	for _, d := range p.AllowedEmailDomains {
		ds = append(ds, strings.ToLower(strings.TrimSpace(d)))
	}
	slices.Sort(ds)
	p.AllowedEmailDomains = slices.Compact(ds)
	b, err := json.Marshal(p)
	if err != nil {
		return Policy{}, fmt.Errorf("identity: policy: %w", err)
	}
	if err := st.SetSetting(ctx, policySetting, b); err != nil {
		return Policy{}, fmt.Errorf("identity: policy: %w", err)
	}
	return p, nil
}
