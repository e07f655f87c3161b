package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/openai"
	"github.com/silo-ai/silo/internal/problem"
	"github.com/silo-ai/silo/internal/seal"
	"github.com/silo-ai/silo/internal/store"
)

// Sealing keys: public age recipients that stored chats are sealed to
// (internal/conversation). The server never makes, receives or holds a
// private key: clients make them and upload the public half.

type sealKeyJSON struct {
	ID          uuid.UUID  `json:"id"`
	Kind        string     `json:"kind"`
	UserID      *uuid.UUID `json:"user_id,omitempty"`
	Name        string     `json:"name"`
	Recipient   string     `json:"recipient"`
	Fingerprint string     `json:"fingerprint"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	Revoked     bool       `json:"revoked"`
}

func toSealKey(k *store.SealKey) sealKeyJSON {
	return sealKeyJSON{ID: k.ID, Kind: k.Kind, UserID: k.UserID, Name: k.Name, Recipient: k.Recipient,
		Fingerprint: k.Fingerprint, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt, Revoked: k.RevokedAt != nil}
}

func sealKeyList(ks []store.SealKey) map[string]any {
	out := make([]sealKeyJSON, len(ks))
	for i := range ks {
		out[i] = toSealKey(&ks[i])
	}
	return map[string]any{"keys": out}
}

// parseRecipient checks an uploaded public key beyond the spec's pattern.
func parseRecipient(s string) (seal.Recipient, error) {
	r, err := seal.ParseRecipient(s)
	if err != nil {
		return seal.Recipient{}, problem.Invalid("recipient is not a valid age1pq1 (ML-KEM-768 + X25519) public key")
	}
	return r, nil
}

// newSealKey stores a key, answering a registered one as 409.
func (s *Server) newSealKey(r *http.Request, p *identity.Principal, kind string, user *uuid.UUID, name, recipient string) (*store.SealKey, error) {
	rc, err := parseRecipient(recipient)
	if err != nil {
		return nil, err
	}
	k := &store.SealKey{Kind: kind, UserID: user, Name: name, Recipient: rc.String(), Fingerprint: rc.Fingerprint()}
	if err := s.st.CreateSealKey(r.Context(), k); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, problem.Conflict("this public key is registered already")
		}
		return nil, err
	}
	detail := map[string]any{"kind": kind, "name": name, "fingerprint": k.Fingerprint}
	if user != nil {
		detail["user_id"] = *user
	}
	if err := s.record(r, p, "sealkey.create", "sealkey:"+k.ID.String(), detail); err != nil {
		return nil, err
	}
	return k, nil
}

func (s *Server) revokeSealKey(r *http.Request, p *identity.Principal, k *store.SealKey) error {
	if k.RevokedAt != nil {
		return nil
	}
	if err := s.st.RevokeSealKey(r.Context(), k.ID, time.Now().UTC().Truncate(time.Microsecond)); err != nil {
		return err
	}
	return s.record(r, p, "sealkey.revoke", "sealkey:"+k.ID.String(), map[string]any{"kind": k.Kind, "fingerprint": k.Fingerprint})
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	user := p.User.ID
	if v := r.URL.Query().Get("user_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return problem.Invalid("user_id must be a UUID")
		}
		if id != p.User.ID && !p.IsAdmin() {
			return errAdminOnly
		}
		user = id
	}
	ks, err := s.st.ListSealKeys(r.Context(), store.SealKeyFilter{Kind: store.SealKeyDevice, UserID: &user})
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, sealKeyList(ks))
}

func (s *Server) registerDevice(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	var in struct {
		Name      string `json:"name"`
		Recipient string `json:"recipient"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	k, err := s.newSealKey(r, p, store.SealKeyDevice, &p.User.ID, in.Name, in.Recipient)
	if err != nil {
		return err
	}
	return respond(w, http.StatusCreated, toSealKey(k))
}

// sealKeyOfKind loads the key named by {id} if it is of kind, or 404.
func (s *Server) sealKeyOfKind(r *http.Request, kind string) (*store.SealKey, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	k, err := s.st.GetSealKey(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.Kind != kind) {
		return nil, problem.NotFound("no such " + kind + " key")
	}
	return k, err
}

func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	k, err := s.sealKeyOfKind(r, store.SealKeyDevice)
	if err != nil {
		return err
	}
	if *k.UserID != p.User.ID && !p.IsAdmin() {
		return problem.NotFound("no such device key") // do not confirm it exists
	}
	if err := s.revokeSealKey(r, p, k); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) liveAdminKey(r *http.Request) (*store.SealKey, error) {
	ks, err := s.st.ListSealKeys(r.Context(), store.SealKeyFilter{Kind: store.SealKeyAdmin, LiveOnly: true})
	if err != nil {
		return nil, err
	}
	if len(ks) == 0 {
		return nil, nil
	}
	return &ks[0], nil
}

func (s *Server) getAdminKey(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	k, err := s.liveAdminKey(r)
	if err != nil {
		return err
	}
	if k == nil {
		return problem.NotFound("the organisation admin key is not set; an admin runs `silo admin init`")
	}
	return respond(w, http.StatusOK, toSealKey(k))
}

func (s *Server) setAdminKey(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	var in struct {
		Recipient string `json:"recipient"`
		Name      string `json:"name"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Name == "" {
		in.Name = "admin"
	}
	rc, err := parseRecipient(in.Recipient)
	if err != nil {
		return err
	}
	cur, err := s.liveAdminKey(r)
	if err != nil {
		return err
	}
	if cur != nil {
		if cur.Fingerprint == rc.Fingerprint() {
			return respond(w, http.StatusOK, toSealKey(cur))
		}
		return problem.Conflict("another admin key is set; replacing it needs a rewrap of stored data")
	}
	k, err := s.newSealKey(r, p, store.SealKeyAdmin, nil, in.Name, in.Recipient)
	if err != nil {
		return err
	}
	return respond(w, http.StatusCreated, toSealKey(k))
}

// revokeAdminKey revokes the live admin key (to replace it); chats are
// refused until another is set.
func (s *Server) revokeAdminKey(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	k, err := s.liveAdminKey(r)
	if err != nil {
		return err
	}
	if k == nil {
		return problem.NotFound("the organisation admin key is not set")
	}
	if err := s.revokeSealKey(r, p, k); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listBackupKeys(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	ks, err := s.st.ListSealKeys(r.Context(), store.SealKeyFilter{Kind: store.SealKeyBackup})
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, sealKeyList(ks))
}

func (s *Server) createBackupKey(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	var in struct {
		Name      string `json:"name"`
		Recipient string `json:"recipient"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	k, err := s.newSealKey(r, p, store.SealKeyBackup, nil, in.Name, in.Recipient)
	if err != nil {
		return err
	}
	return respond(w, http.StatusCreated, toSealKey(k))
}

func (s *Server) revokeBackupKey(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	k, err := s.sealKeyOfKind(r, store.SealKeyBackup)
	if err != nil {
		return err
	}
	if err := s.revokeSealKey(r, p, k); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Sealing in transit: chat requests sealed with HPKE to the server's
// transport key, answered sealed to the key the client sent inside
// (internal/seal). The transport key opens requests only, never anything
// stored.

// transit implements openai.Transit.
type transit struct {
	key   *seal.ServerKey
	guard *seal.ReplayGuard
}

// replayWindow is how far a sealed request's time may be from the
// server's; within it each request id is admitted once.
const replayWindow = 5 * time.Minute

func newTransit(key *seal.ServerKey) (*transit, error) {
	if key == nil {
		var err error
		if key, err = seal.GenerateServerKey(); err != nil {
			return nil, err
		}
	}
	return &transit{key: key, guard: seal.NewReplayGuard(replayWindow, 1<<20)}, nil
}

func (t *transit) getServerKey(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	return respond(w, http.StatusOK, map[string]any{
		"public_key":  t.key.PublicKey(),
		"fingerprint": t.key.Fingerprint(),
		"suite":       "MLKEM768-X25519, HKDF-SHA256, AES-256-GCM",
	})
}

// Unseal implements openai.Transit. A body that does not open is refused
// before anything is parsed, generated or stored; a replayed one too.
func (t *transit) Unseal(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, func(), error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, nil, &problem.Error{Status: http.StatusRequestEntityTooLarge, Slug: "too-large", Title: "Request body too large"}
		}
		return nil, nil, nil, problem.Invalid("could not read the sealed body")
	}
	req, err := t.key.OpenRequest(body, r.Method, r.URL.Path, t.guard)
	switch {
	case errors.Is(err, seal.ErrReplay):
		return nil, nil, nil, problem.Conflict("this sealed request was received before; a replay is refused")
	case errors.Is(err, seal.ErrStale):
		return nil, nil, nil, problem.Invalid("the sealed request is too old or from the future; check the clock")
	case err != nil:
		return nil, nil, nil, problem.Invalid("the sealed request body does not open with this server's key (tampered, another key or another endpoint)")
	}
	sr := r.Clone(r.Context())
	sr.Body = io.NopCloser(bytes.NewReader(req.Body))
	sr.ContentLength = int64(len(req.Body))
	sr.Header.Set("Content-Type", "application/json")
	sw := &sealedWriter{w: w, req: req}
	return sw, sr, sw.close, nil
}

// sealedWriter seals what a handler writes. The status code and the inner
// content type (X-Silo-Sealed-Content-Type) stay in the clear; the body is
// sealed frames, each flushed as it is written, so streams stay streams.
type sealedWriter struct {
	w      http.ResponseWriter
	req    *seal.Request
	header http.Header
	sw     *seal.ResponseWriter
	err    error
}

func (s *sealedWriter) Header() http.Header {
	if s.header == nil {
		s.header = http.Header{}
	}
	return s.header
}

func (s *sealedWriter) WriteHeader(code int) {
	if s.sw != nil || s.err != nil {
		return
	}
	h := s.w.Header()
	for k, v := range s.Header() {
		if k != "Content-Type" && k != "Content-Length" {
			h[k] = v
		}
	}
	h.Set("X-Silo-Sealed-Content-Type", s.Header().Get("Content-Type"))
	h.Set("Content-Type", openai.SealedContentType)
	h.Set("Cache-Control", "no-store")
	s.w.WriteHeader(code)
	s.sw, s.err = s.req.SealResponse(flusher{s.w})
}

func (s *sealedWriter) Write(p []byte) (int, error) {
	if s.sw == nil && s.err == nil {
		s.WriteHeader(http.StatusOK)
	}
	if s.err != nil {
		return 0, s.err
	}
	return s.sw.Write(p)
}

// FlushError lets http.ResponseController flush: every Write is sealed and
// flushed already.
func (s *sealedWriter) FlushError() error { return s.err }

func (s *sealedWriter) close() {
	if s.sw == nil && s.err == nil {
		s.WriteHeader(http.StatusOK)
	}
	if s.sw != nil {
		s.sw.Close()
	}
}

// flusher flushes the underlying response after each sealed frame.
type flusher struct{ w http.ResponseWriter }

func (f flusher) Write(p []byte) (int, error) { return f.w.Write(p) }
func (f flusher) Flush()                      { http.NewResponseController(f.w).Flush() }
