package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/identity"
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
