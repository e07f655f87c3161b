package server

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/metering"
	"github.com/silo-ai/silo/internal/problem"
	"github.com/silo-ai/silo/internal/store"
)

// Web sign-in (issue 4): passkeys, sessions, TOTP, invitations and the
// sign-in policy. The session cookie and CSRF rules are in
// internal/identity/session.go; authenticate (server.go) applies them
// through sessionAuth below.

// authService holds the identity services the server uses.
type authService struct {
	passkeys *identity.Passkeys
	sessions *identity.Sessions
	totps    *identity.TOTPs
	starts   addrLimiter // unauthenticated ceremony starts
}

// addrLimiter bounds, per client address, how often unauthenticated
// clients may start a ceremony (each start stores a challenge until it
// expires). The address is the connection's: forwarding headers are not
// trusted.
type addrLimiter struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// Ceremony starts per address: bursts of ceremonyBurst, then one a second.
const (
	ceremonyBurst   = 60
	maxLimitedAddrs = 10000
)

func (l *addrLimiter) allow(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) >= maxLimitedAddrs {
		l.m = map[string]*rate.Limiter{}
	}
	lim := l.m[host]
	if lim == nil {
		lim = rate.NewLimiter(rate.Every(time.Second), ceremonyBurst)
		l.m[host] = lim
	}
	return lim.Allow()
}

func newAuthService(st store.Store, cfg identity.PasskeyConfig) (*authService, error) {
	if cfg.RPID == "" {
		cfg.RPID = "localhost"
	}
	if len(cfg.Origins) == 0 {
		cfg.Origins = []string{"https://" + cfg.RPID}
	}
	pk, err := identity.NewPasskeys(st, cfg)
	if err != nil {
		return nil, err
	}
	totps := identity.NewTOTPs(st)
	return &authService{passkeys: pk, sessions: identity.NewSessions(st, totps), totps: totps}, nil
}

func (s *Server) authRoutes() {
	s.mux.HandleFunc("GET /api/v1/passkeys", s.api(s.listPasskeys))
	s.mux.HandleFunc("DELETE /api/v1/passkeys/{id}", s.api(s.deletePasskey))
	s.mux.HandleFunc("DELETE /api/v1/users/{id}/totp", s.api(adminOnly(s.resetTOTP)))
	s.mux.HandleFunc("POST /api/v1/passkeys/register/begin", s.api(s.beginPasskeyRegistration))
	s.mux.HandleFunc("POST /api/v1/passkeys/register/finish", s.api(s.finishPasskeyRegistration))
	s.mux.HandleFunc("GET /api/v1/sessions", s.api(s.listSessions))
	s.mux.HandleFunc("POST /api/v1/sessions/login/begin", s.api(s.beginLogin))
	s.mux.HandleFunc("POST /api/v1/sessions/login/finish", s.api(s.finishLogin))
	s.mux.HandleFunc("POST /api/v1/sessions/logout", s.api(s.logout))
	s.mux.HandleFunc("POST /api/v1/sessions/logout-all", s.api(s.logoutAll))
	s.mux.HandleFunc("POST /api/v1/totp", s.api(s.enrollTOTP))
	s.mux.HandleFunc("POST /api/v1/totp/confirm", s.api(s.confirmTOTP))
	s.mux.HandleFunc("GET /api/v1/settings/auth", s.api(adminOnly(s.getAuthPolicy)))
	s.mux.HandleFunc("PUT /api/v1/settings/auth", s.api(adminOnly(s.setAuthPolicy)))
	s.mux.HandleFunc("GET /api/v1/invitations", s.api(adminOnly(s.listInvitations)))
	s.mux.HandleFunc("POST /api/v1/invitations", s.api(adminOnly(s.createInvitation)))
	s.mux.HandleFunc("POST /api/v1/invitations/accept/begin", s.api(s.beginAcceptInvitation))
	s.mux.HandleFunc("POST /api/v1/invitations/accept/finish", s.api(s.finishAcceptInvitation))
}

// restrictedRoutes are all a restricted session (TOTP required, not yet
// enrolled) may use.
var restrictedRoutes = map[string]bool{
	"GET /api/v1/me":               true,
	"GET /api/v1/sessions":         true,
	"POST /api/v1/totp":            true,
	"POST /api/v1/totp/confirm":    true,
	"POST /api/v1/sessions/logout": true,
}

var (
	errCSRF = &problem.Error{Status: http.StatusForbidden, Slug: "csrf", Title: "CSRF check failed",
		Detail: "a request authenticated by the session cookie must carry the session's X-CSRF-Token header"}
	errEnrollTOTP = &problem.Error{Status: http.StatusForbidden, Slug: "totp-enrollment-required", Title: "TOTP enrollment required",
		Detail: "the sign-in policy requires TOTP: enroll and confirm it first (POST /api/v1/totp)"}
	errSignIn = &problem.Error{Status: http.StatusUnauthorized, Slug: "sign-in-failed", Title: "Sign-in failed"}
)

// sessionAuth authenticates a request by its session cookie. It returns a
// nil principal when there is no cookie or it is not a live session, and
// an error (to answer with) when the session may not make this request:
// an unsafe method without the CSRF token, or a restricted session
// outside restrictedRoutes.
func (s *Server) sessionAuth(r *http.Request) (*identity.Principal, *store.Session, error) {
	c, err := r.Cookie(identity.SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil, nil
	}
	p, sess, err := s.auth.sessions.Authenticate(r.Context(), c.Value)
	if errors.Is(err, identity.ErrUnauthenticated) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !identity.CheckCSRF(c.Value, r.Header.Get(identity.CSRFHeader)) {
			return nil, nil, errCSRF
		}
	}
	if sess.Restricted && !restrictedRoutes[r.Method+" "+r.URL.Path] {
		return nil, nil, errEnrollTOTP
	}
	return p, sess, nil
}

// sameSite refuses a sign-in a browser reports as sent by another site
// (Sec-Fetch-Site: cross-site), which would sign the victim's browser into
// an account of the attacker's (login CSRF). JSON bodies already need a
// CORS preflight that silo never grants; this is the second lock.
func sameSite(r *http.Request) error {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return errCSRF
	}
	return nil
}

func setSessionCookie(w http.ResponseWriter, secret string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: identity.SessionCookie, Value: secret, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// Wire types.

type optionsJSON struct {
	Options json.RawMessage `json:"options"`
}

type passkeyJSON struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

type sessionJSON struct {
	ID         uuid.UUID `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	Current    bool      `json:"current"`
	Restricted bool      `json:"restricted"`
}

func toSession(x *store.Session, current *store.Session) sessionJSON {
	return sessionJSON{ID: x.ID, CreatedAt: x.CreatedAt, ExpiresAt: x.ExpiresAt, LastSeenAt: x.LastSeenAt,
		Current: current != nil && current.ID == x.ID, Restricted: x.Restricted}
}

type invitationJSON struct {
	ID        uuid.UUID  `json:"id"`
	Email     string     `json:"email,omitempty"`
	Role      string     `json:"role"`
	CreatedBy *uuid.UUID `json:"created_by,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	Used      bool       `json:"used"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	UserID    *uuid.UUID `json:"user_id,omitempty"`
}

func toInvitation(inv *store.Invitation) invitationJSON {
	return invitationJSON{ID: inv.ID, Email: inv.Email, Role: inv.Role, CreatedBy: inv.CreatedBy, CreatedAt: inv.CreatedAt,
		ExpiresAt: inv.ExpiresAt, Used: inv.UsedAt != nil, UsedAt: inv.UsedAt, UserID: inv.UserID}
}

// passkeyErr maps a failed ceremony to its answer.
func passkeyErr(err error, status int) error {
	if errors.Is(err, identity.ErrPasskey) {
		return &problem.Error{Status: status, Slug: "passkey-failed", Title: "Passkey verification failed", Err: err}
	}
	return err
}

func (s *Server) listPasskeys(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	pks, err := s.st.ListPasskeys(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	out := make([]passkeyJSON, len(pks))
	for i, pk := range pks {
		out[i] = passkeyJSON{ID: pk.ID, Name: pk.Name, CreatedAt: pk.CreatedAt, LastUsedAt: pk.LastUsedAt}
	}
	return respond(w, http.StatusOK, map[string]any{"passkeys": out})
}

// deletePasskey removes a passkey of the caller (admins: anyone's).
// Others' passkeys are not found, as if they did not exist.
func (s *Server) deletePasskey(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	pk, err := s.st.GetPasskey(r.Context(), id)
	if err != nil {
		return err
	}
	if pk.UserID != p.User.ID && !p.IsAdmin() {
		return problem.NotFound("no such passkey")
	}
	// Removing one's own last passkey would lock one out of the web app; an
	// admin may still remove a user's lost one.
	if pk.UserID == p.User.ID {
		mine, err := s.st.ListPasskeys(r.Context(), p.User.ID)
		if err != nil {
			return err
		}
		if len(mine) == 1 {
			return problem.Conflict("this is your only passkey: add another before removing it")
		}
	}
	if err := s.st.DeletePasskey(r.Context(), id); err != nil {
		return err
	}
	if err := s.record(r, p, "passkey.delete", "passkey:"+id.String(), map[string]any{"user_id": pk.UserID}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resetTOTP removes a user's TOTP (a lost authenticator app); under a TOTP
// policy, their next sign-in is restricted to enrolling again.
func (s *Server) resetTOTP(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.st.DeleteTOTP(r.Context(), id); err != nil {
		return err
	}
	if err := s.record(r, p, "totp.reset", "user:"+id.String(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) beginPasskeyRegistration(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	opts, err := s.auth.passkeys.BeginRegistration(r.Context(), p.User)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, optionsJSON{opts})
}

func (s *Server) finishPasskeyRegistration(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	var in struct {
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	pk, err := s.auth.passkeys.FinishRegistration(r.Context(), p.User, in.Name, in.Credential)
	if err != nil {
		return passkeyErr(err, http.StatusBadRequest)
	}
	if err := s.record(r, p, "passkey.register", "passkey:"+pk.ID.String(), map[string]any{"name": pk.Name}); err != nil {
		return err
	}
	return respond(w, http.StatusCreated, passkeyJSON{ID: pk.ID, Name: pk.Name, CreatedAt: pk.CreatedAt})
}

func (s *Server) beginLogin(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	if !s.auth.starts.allow(r) {
		return metering.ErrRateLimited
	}
	var in struct {
		Name string `json:"name"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	opts, err := s.auth.passkeys.BeginLogin(r.Context(), in.Name)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, optionsJSON{opts})
}

func (s *Server) finishLogin(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	if err := sameSite(r); err != nil {
		return err
	}
	var in struct {
		Credential json.RawMessage `json:"credential"`
		TOTPCode   string          `json:"totp_code"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	u, err := s.auth.passkeys.FinishLogin(r.Context(), in.Credential)
	if err != nil {
		return passkeyErr(err, http.StatusUnauthorized)
	}
	return s.signIn(w, r, u, in.TOTPCode, http.StatusOK)
}

// signIn opens a session for u (checking TOTP) and sets its cookie.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, u *store.User, code string, status int) error {
	sess, secret, err := s.auth.sessions.SignIn(r.Context(), u, code)
	p := &identity.Principal{User: u}
	switch {
	case errors.Is(err, identity.ErrTOTPRequired):
		e := *errSignIn
		e.Slug, e.Detail = "totp-required", "this account needs a TOTP code (totp_code)"
		return &e
	case errors.Is(err, identity.ErrBadTOTP):
		if rerr := s.record(r, p, "session.totp_failed", "user:"+u.ID.String(), nil); rerr != nil {
			return rerr
		}
		e := *errSignIn
		e.Slug, e.Detail = "totp-invalid", "the TOTP code is wrong or was used already"
		return &e
	case err != nil:
		return err
	}
	if err := s.record(r, p, "session.create", "session:"+sess.ID.String(), map[string]any{"restricted": sess.Restricted}); err != nil {
		return err
	}
	setSessionCookie(w, secret, int(identity.SessionTTL.Seconds()))
	return respond(w, status, map[string]any{"user": toUser(u), "session": toSession(sess, sess), "csrf_token": identity.CSRFToken(secret)})
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	ss, err := s.st.ListSessions(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	cur := identity.SessionFromContext(r.Context())
	out := []sessionJSON{}
	now := time.Now()
	for i := range ss {
		if now.Before(ss[i].ExpiresAt) && now.Sub(ss[i].LastSeenAt) <= identity.SessionIdle {
			out = append(out, toSession(&ss[i], cur))
		}
	}
	res := map[string]any{"sessions": out}
	// A page that reloaded lost its CSRF token: a same-origin GET gets it
	// back (other origins cannot read this answer).
	if c, err := r.Cookie(identity.SessionCookie); err == nil && cur != nil {
		res["csrf_token"] = identity.CSRFToken(c.Value)
	}
	return respond(w, http.StatusOK, res)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if cur := identity.SessionFromContext(r.Context()); cur != nil {
		if err := s.st.DeleteSession(r.Context(), cur.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := s.record(r, p, "session.delete", "session:"+cur.ID.String(), nil); err != nil {
			return err
		}
	}
	setSessionCookie(w, "", -1)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	n, err := s.st.DeleteUserSessions(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	if err := s.record(r, p, "session.delete_all", "user:"+p.User.ID.String(), map[string]any{"sessions": n}); err != nil {
		return err
	}
	setSessionCookie(w, "", -1)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) enrollTOTP(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	secret, url, err := s.auth.totps.Enroll(r.Context(), p.User)
	if errors.Is(err, identity.ErrTOTPEnrolled) {
		return problem.Conflict("TOTP is enrolled already")
	}
	if err != nil {
		return err
	}
	if err := s.record(r, p, "totp.enroll", "user:"+p.User.ID.String(), nil); err != nil {
		return err
	}
	return respond(w, http.StatusCreated, map[string]string{"secret": secret, "url": url})
}

func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	err := s.auth.totps.Confirm(r.Context(), p.User, in.Code)
	switch {
	case errors.Is(err, identity.ErrTOTPNotEnrolled):
		return problem.Conflict("no TOTP enrollment to confirm (POST /api/v1/totp first)")
	case errors.Is(err, identity.ErrBadTOTP):
		return problem.Invalid("the TOTP code is wrong")
	case err != nil:
		return err
	}
	// The session that proved the code is no longer restricted.
	if cur := identity.SessionFromContext(r.Context()); cur != nil && cur.Restricted {
		if err := s.st.ElevateSession(r.Context(), cur.ID); err != nil {
			return err
		}
	}
	if err := s.record(r, p, "totp.confirm", "user:"+p.User.ID.String(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getAuthPolicy(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	pol, err := identity.GetPolicy(r.Context(), s.st)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, policyJSON(pol))
}

func policyJSON(p identity.Policy) identity.Policy {
	if p.AllowedEmailDomains == nil {
		p.AllowedEmailDomains = []string{}
	}
	return p
}

func (s *Server) setAuthPolicy(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	var in identity.Policy
	if err := readJSON(r, &in); err != nil {
		return err
	}
	pol, err := identity.SetPolicy(r.Context(), s.st, in)
	if err != nil {
		return problem.Invalid(err.Error())
	}
	if err := s.record(r, p, "settings.auth", "settings:auth", map[string]any{"totp_required": pol.TOTPRequired, "allowed_email_domains": pol.AllowedEmailDomains}); err != nil {
		return err
	}
	return respond(w, http.StatusOK, policyJSON(pol))
}

func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	invs, err := s.st.ListInvitations(r.Context())
	if err != nil {
		return err
	}
	out := make([]invitationJSON, len(invs))
	for i := range invs {
		out[i] = toInvitation(&invs[i])
	}
	return respond(w, http.StatusOK, map[string]any{"invitations": out})
}

func (s *Server) createInvitation(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	var in struct {
		Email          string `json:"email"`
		Role           string `json:"role"`
		ExpiresInHours int    `json:"expires_in_hours"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Role == "" {
		in.Role = store.RoleUser
	}
	inv, token, err := s.auth.passkeys.CreateInvitation(r.Context(), &p.User.ID, in.Email, in.Role, time.Duration(in.ExpiresInHours)*time.Hour)
	if errors.Is(err, identity.ErrDomainNotAllowed) {
		return problem.Forbidden("this e-mail domain may not sign up (see the sign-in policy)")
	}
	if err != nil {
		return err
	}
	if err := s.record(r, p, "invitation.create", "invitation:"+inv.ID.String(), map[string]any{"role": inv.Role, "email": inv.Email}); err != nil {
		return err
	}
	return respond(w, http.StatusCreated, map[string]any{"invitation": toInvitation(inv), "token": token})
}

// invitationErr maps a refused acceptance to its answer.
func invitationErr(err error) error {
	switch {
	case errors.Is(err, identity.ErrInvitationInvalid):
		return problem.Forbidden("the invitation is invalid, used or expired")
	case errors.Is(err, identity.ErrDomainNotAllowed):
		return problem.Forbidden("this e-mail domain may not sign up")
	case errors.Is(err, identity.ErrEmailMismatch):
		return problem.Forbidden("the invitation is for another e-mail address")
	case errors.Is(err, store.ErrConflict):
		return problem.Conflict("this name is taken")
	}
	return passkeyErr(err, http.StatusBadRequest)
}

func (s *Server) beginAcceptInvitation(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	if !s.auth.starts.allow(r) {
		return metering.ErrRateLimited
	}
	var in struct {
		Token string `json:"token"`
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	opts, err := s.auth.passkeys.BeginInvitation(r.Context(), in.Token, in.Name, in.Email)
	if err != nil {
		return invitationErr(err)
	}
	return respond(w, http.StatusOK, optionsJSON{opts})
}

func (s *Server) finishAcceptInvitation(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	if err := sameSite(r); err != nil {
		return err
	}
	var in struct {
		Token       string          `json:"token"`
		PasskeyName string          `json:"passkey_name"`
		Credential  json.RawMessage `json:"credential"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	u, err := s.auth.passkeys.FinishInvitation(r.Context(), in.Token, in.PasskeyName, in.Credential)
	if err != nil {
		return invitationErr(err)
	}
	if err := s.record(r, &identity.Principal{User: u}, "invitation.accept", "user:"+u.ID.String(), map[string]any{"name": u.Name, "role": u.Role}); err != nil {
		return err
	}
	// A new user has no TOTP yet: under a TOTP policy the session is
	// restricted to enrolling it.
	return s.signIn(w, r, u, "", http.StatusCreated)
}
