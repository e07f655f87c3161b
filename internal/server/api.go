package server

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/audit"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/problem"
	"github.com/silo-ai/silo/internal/store"
)

// apiFunc is an /api/v1 handler; a returned error is answered as problem+json.
type apiFunc func(w http.ResponseWriter, r *http.Request, p *identity.Principal) error

// api validates the request against the spec, then runs h.
func (s *Server) api(h apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.spec.ValidateRequest(r); err != nil {
			s.writeErr(w, r, err)
			return
		}
		if err := h(w, r, identity.FromContext(r.Context())); err != nil {
			s.writeErr(w, r, err)
		}
	}
}

func (s *Server) apiRoutes() {
	s.mux.HandleFunc("POST /api/v1/bootstrap", s.api(s.bootstrap))
	s.mux.HandleFunc("GET /api/v1/me", s.api(s.getMe))
	s.mux.HandleFunc("GET /api/v1/users", s.api(adminOnly(s.listUsers)))
	s.mux.HandleFunc("POST /api/v1/users", s.api(adminOnly(s.createUser)))
	s.mux.HandleFunc("GET /api/v1/users/{id}", s.api(s.getUser))
	s.mux.HandleFunc("PATCH /api/v1/users/{id}", s.api(adminOnly(s.updateUser)))
	s.mux.HandleFunc("DELETE /api/v1/users/{id}", s.api(adminOnly(s.deleteUser)))
	s.mux.HandleFunc("GET /api/v1/users/{id}/limits", s.api(s.getLimits))
	s.mux.HandleFunc("PUT /api/v1/users/{id}/limits", s.api(adminOnly(s.setLimits)))
	s.mux.HandleFunc("GET /api/v1/keys", s.api(s.listKeys))
	s.mux.HandleFunc("POST /api/v1/keys", s.api(s.createKey))
	s.mux.HandleFunc("DELETE /api/v1/keys/{id}", s.api(s.revokeKey))
	s.mux.HandleFunc("GET /api/v1/usage", s.api(s.getUsage))
	s.mux.HandleFunc("GET /api/v1/audit", s.api(adminOnly(s.listAudit)))
	s.mux.HandleFunc("GET /api/v1/audit/verify", s.api(adminOnly(s.verifyAudit)))
}

var errAdminOnly = problem.Forbidden("this operation needs the admin role")

func adminOnly(h apiFunc) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
		if !p.IsAdmin() {
			return errAdminOnly
		}
		return h(w, r, p)
	}
}

func respond(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// readJSON decodes a body the validator has already checked.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problem.Invalid("malformed JSON body: " + err.Error())
	}
	return nil
}

// pathID parses the {id} path value (the validator checked its pattern).
func pathID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return uuid.Nil, problem.Invalid("id must be a UUID")
	}
	return id, nil
}

func (s *Server) record(r *http.Request, p *identity.Principal, action, target string, detail map[string]any) error {
	ev := audit.Event{Action: action, Target: target, Detail: detail}
	if p != nil {
		ev.Actor = &p.User.ID
	}
	_, err := s.audit.Append(r.Context(), ev)
	return err
}

// Wire types (see api/openapi.yaml).

type userJSON struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email,omitempty"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	Disabled  bool      `json:"disabled"`
}

func toUser(u *store.User) userJSON {
	return userJSON{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, CreatedAt: u.CreatedAt, Disabled: u.Disabled}
}

type keyJSON struct {
	ID         uuid.UUID  `json:"id"`
	UserID     uuid.UUID  `json:"user_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	Revoked    bool       `json:"revoked"`
}

func toKey(k *store.APIKey) keyJSON {
	return keyJSON{ID: k.ID, UserID: k.UserID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt, Revoked: k.RevokedAt != nil}
}

type keyCreatedJSON struct {
	Key    keyJSON `json:"key"`
	Secret string  `json:"secret"`
}

func (s *Server) bootstrap(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	var in struct {
		Token string `json:"token"`
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	u, err := identity.Bootstrap(r.Context(), s.st, in.Token, in.Name, in.Email)
	switch {
	case errors.Is(err, identity.ErrBootstrapDone):
		return problem.Conflict("an admin exists already; bootstrap is closed")
	case errors.Is(err, identity.ErrBadBootstrapToken):
		return problem.Forbidden("the bootstrap token does not match the one printed at start")
	case err != nil:
		return err
	}
	k, secret, err := s.keys.Create(r.Context(), u.ID, "bootstrap")
	if err != nil {
		return err
	}
	p := &identity.Principal{User: u}
	if err := s.record(r, p, "bootstrap", "user:"+u.ID.String(), map[string]any{"name": u.Name}); err != nil {
		return err
	}
	if err := s.record(r, p, "key.create", "key:"+k.ID.String(), map[string]any{"user_id": u.ID, "name": k.Name}); err != nil {
		return err
	}
	return respond(w, http.StatusCreated, map[string]any{"user": toUser(u), "key": keyCreatedJSON{toKey(k), secret}})
}

func (s *Server) getMe(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	return respond(w, http.StatusOK, toUser(p.User))
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	us, err := s.st.ListUsers(r.Context())
	if err != nil {
		return err
	}
	out := make([]userJSON, len(us))
	for i := range us {
		out[i] = toUser(&us[i])
	}
	return respond(w, http.StatusOK, map[string]any{"users": out})
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	var in struct {
		Name  string `json:"name"`
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Role == "" {
		in.Role = store.RoleUser
	}
	u, err := identity.NewUser(in.Name, in.Email, in.Role)
	if err != nil {
		return err
	}
	if err := s.st.CreateUser(r.Context(), u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return problem.Conflict("a user with this name exists")
		}
		return err
	}
	if err := s.record(r, p, "user.create", "user:"+u.ID.String(), map[string]any{"name": u.Name, "role": u.Role}); err != nil {
		return err
	}
	return respond(w, http.StatusCreated, toUser(u))
}

// selfOrAdmin loads the user named by {id} if the caller may see it.
func (s *Server) selfOrAdmin(r *http.Request, p *identity.Principal) (*store.User, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	if !p.IsAdmin() && id != p.User.ID {
		return nil, problem.Forbidden("you may only see your own account")
	}
	return s.st.GetUser(r.Context(), id)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	u, err := s.selfOrAdmin(r, p)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, toUser(u))
}

// lastAdminGuard refuses a change that would leave no enabled admin.
func (s *Server) lastAdminGuard(r *http.Request, u *store.User) error {
	if u.Role != store.RoleAdmin || u.Disabled {
		return nil
	}
	n, err := s.st.CountAdmins(r.Context())
	if err != nil {
		return err
	}
	if n <= 1 {
		return problem.Conflict("this is the last admin; make another admin first")
	}
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in struct {
		Email    *string `json:"email"`
		Role     *string `json:"role"`
		Disabled *bool   `json:"disabled"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	u, err := s.st.GetUser(r.Context(), id)
	if err != nil {
		return err
	}
	demotes := (in.Role != nil && *in.Role != store.RoleAdmin) || (in.Disabled != nil && *in.Disabled)
	if demotes {
		if err := s.lastAdminGuard(r, u); err != nil {
			return err
		}
	}
	detail := map[string]any{}
	if in.Email != nil {
		u.Email = *in.Email
		detail["email_changed"] = true
	}
	if in.Role != nil {
		u.Role = *in.Role
		detail["role"] = u.Role
	}
	if in.Disabled != nil {
		u.Disabled = *in.Disabled
		detail["disabled"] = u.Disabled
	}
	if err := s.st.UpdateUser(r.Context(), u); err != nil {
		return err
	}
	if err := s.record(r, p, "user.update", "user:"+u.ID.String(), detail); err != nil {
		return err
	}
	return respond(w, http.StatusOK, toUser(u))
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	u, err := s.st.GetUser(r.Context(), id)
	if err != nil {
		return err
	}
	if err := s.lastAdminGuard(r, u); err != nil {
		return err
	}
	if err := s.st.DeleteUser(r.Context(), id); err != nil {
		return err
	}
	if err := s.record(r, p, "user.delete", "user:"+id.String(), map[string]any{"name": u.Name}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type limitsJSON struct {
	UserID            uuid.UUID `json:"user_id"`
	TokensPerDay      int64     `json:"tokens_per_day"`
	RequestsPerMinute int64     `json:"requests_per_minute"`
	TokensUsedToday   int64     `json:"tokens_used_today"`
}

func (s *Server) limitsOf(r *http.Request, u *store.User) (limitsJSON, error) {
	l, err := s.st.GetLimits(r.Context(), u.ID)
	if err != nil {
		return limitsJSON{}, err
	}
	y, m, d := time.Now().UTC().Date()
	used, err := s.st.TokensUsed(r.Context(), u.ID, time.Date(y, m, d, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return limitsJSON{}, err
	}
	return limitsJSON{UserID: u.ID, TokensPerDay: l.TokensPerDay, RequestsPerMinute: l.RequestsPerMinute, TokensUsedToday: used}, nil
}

func (s *Server) getLimits(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	u, err := s.selfOrAdmin(r, p)
	if err != nil {
		return err
	}
	out, err := s.limitsOf(r, u)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, out)
}

func (s *Server) setLimits(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in struct {
		TokensPerDay      int64 `json:"tokens_per_day"`
		RequestsPerMinute int64 `json:"requests_per_minute"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	u, err := s.st.GetUser(r.Context(), id)
	if err != nil {
		return err
	}
	l := &store.Limits{UserID: id, TokensPerDay: in.TokensPerDay, RequestsPerMinute: in.RequestsPerMinute,
		UpdatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.st.SetLimits(r.Context(), l); err != nil {
		return err
	}
	if err := s.record(r, p, "limits.set", "user:"+id.String(),
		map[string]any{"tokens_per_day": in.TokensPerDay, "requests_per_minute": in.RequestsPerMinute}); err != nil {
		return err
	}
	out, err := s.limitsOf(r, u)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, out)
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	q := r.URL.Query()
	userID := &p.User.ID
	if v := q.Get("user_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return problem.Invalid("user_id must be a UUID")
		}
		if id != p.User.ID && !p.IsAdmin() {
			return errAdminOnly
		}
		userID = &id
	}
	if q.Get("all") == "true" {
		if !p.IsAdmin() {
			return errAdminOnly
		}
		userID = nil
	}
	ks, err := s.st.ListAPIKeys(r.Context(), userID)
	if err != nil {
		return err
	}
	out := make([]keyJSON, len(ks))
	for i := range ks {
		out[i] = toKey(&ks[i])
	}
	return respond(w, http.StatusOK, map[string]any{"keys": out})
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	var in struct {
		Name   string     `json:"name"`
		UserID *uuid.UUID `json:"user_id"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	owner := p.User.ID
	if in.UserID != nil && *in.UserID != owner {
		if !p.IsAdmin() {
			return problem.Forbidden("only admins may create keys for other users")
		}
		if _, err := s.st.GetUser(r.Context(), *in.UserID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return problem.NotFound("no such user")
			}
			return err
		}
		owner = *in.UserID
	}
	k, secret, err := s.keys.Create(r.Context(), owner, in.Name)
	if err != nil {
		return err
	}
	if err := s.record(r, p, "key.create", "key:"+k.ID.String(), map[string]any{"user_id": owner, "name": k.Name}); err != nil {
		return err
	}
	return respond(w, http.StatusCreated, keyCreatedJSON{toKey(k), secret})
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	k, err := s.st.GetAPIKey(r.Context(), id)
	if err != nil {
		return err
	}
	if k.UserID != p.User.ID && !p.IsAdmin() {
		// Do not confirm that someone else's key exists.
		return problem.NotFound("no such key")
	}
	if k.RevokedAt == nil {
		if err := s.st.RevokeAPIKey(r.Context(), id, time.Now().UTC().Truncate(time.Microsecond)); err != nil {
			return err
		}
		if err := s.record(r, p, "key.revoke", "key:"+id.String(), map[string]any{"user_id": k.UserID}); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getUsage(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	q := r.URL.Query()
	var f store.UsageFilter
	if !p.IsAdmin() {
		f.UserID = &p.User.ID
	}
	if v := q.Get("user_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return problem.Invalid("user_id must be a UUID")
		}
		if id != p.User.ID && !p.IsAdmin() {
			return errAdminOnly
		}
		f.UserID = &id
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return problem.Invalid(name + " must be an RFC 3339 time")
			}
			*dst = t
		}
	}
	totals, err := s.st.UsageTotals(r.Context(), f)
	if err != nil {
		return err
	}
	type totalJSON struct {
		UserID           uuid.UUID `json:"user_id"`
		Model            string    `json:"model"`
		Requests         int64     `json:"requests"`
		PromptTokens     int64     `json:"prompt_tokens"`
		CompletionTokens int64     `json:"completion_tokens"`
	}
	out := make([]totalJSON, len(totals))
	for i, t := range totals {
		out[i] = totalJSON(t)
	}
	return respond(w, http.StatusOK, map[string]any{"usage": out})
}

type auditJSON struct {
	Seq      int64           `json:"seq"`
	Time     time.Time       `json:"time"`
	ActorID  *uuid.UUID      `json:"actor_id,omitempty"`
	Action   string          `json:"action"`
	Target   string          `json:"target"`
	Detail   json.RawMessage `json:"detail"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	after, limit := int64(0), 100
	if err := queryInts(r, map[string]any{"after": &after, "limit": &limit}); err != nil {
		return err
	}
	es, err := s.st.ListAudit(r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := make([]auditJSON, len(es))
	for i, e := range es {
		detail := json.RawMessage(e.Detail)
		if !json.Valid(detail) {
			detail = json.RawMessage(`{}`)
		}
		out[i] = auditJSON{Seq: e.Seq, Time: e.Time, ActorID: e.ActorID, Action: e.Action, Target: e.Target,
			Detail: detail, PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash)}
	}
	return respond(w, http.StatusOK, map[string]any{"entries": out})
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	v, err := s.audit.Verify(r.Context())
	if err != nil {
		return err
	}
	out := map[string]any{"ok": v.OK(), "entries": v.Entries}
	if !v.OK() {
		out["broken_seq"], out["reason"] = v.BrokenSeq, v.Reason
	}
	return respond(w, http.StatusOK, out)
}
