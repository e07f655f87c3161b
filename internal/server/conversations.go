package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/conversation"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/openai"
	"github.com/silo-ai/silo/internal/problem"
	"github.com/silo-ai/silo/internal/store"
)

// sealedRoutes adds the sealing keys and conversations to /api/v1, and
// lets /v1/chat/completions store chats that name a conversation.
func (s *Server) sealedRoutes(oa *openai.Handler) {
	oa.Conversations = &chatRecorder{st: s.st, keeper: conversation.NewKeeper(s.st)}
	tr, err := newTransit(s.opts.TransitKey)
	if err != nil {
		// Without a key no sealed request opens; everything else works.
		s.log.Error("no transport key for sealed requests", "err", err)
	} else {
		oa.Transit = tr
		s.mux.HandleFunc("GET /api/v1/keys/server", s.api(tr.getServerKey))
	}
	s.mux.HandleFunc("GET /api/v1/keys/devices", s.api(s.listDevices))
	s.mux.HandleFunc("POST /api/v1/keys/devices", s.api(s.registerDevice))
	s.mux.HandleFunc("DELETE /api/v1/keys/devices/{id}", s.api(s.revokeDevice))
	s.mux.HandleFunc("GET /api/v1/keys/admin", s.api(s.getAdminKey))
	s.mux.HandleFunc("PUT /api/v1/keys/admin", s.api(adminOnly(s.setAdminKey)))
	s.mux.HandleFunc("DELETE /api/v1/keys/admin", s.api(adminOnly(s.revokeAdminKey)))
	s.mux.HandleFunc("GET /api/v1/keys/backup", s.api(s.listBackupKeys))
	s.mux.HandleFunc("POST /api/v1/keys/backup", s.api(adminOnly(s.createBackupKey)))
	s.mux.HandleFunc("DELETE /api/v1/keys/backup/{id}", s.api(adminOnly(s.revokeBackupKey)))
	s.mux.HandleFunc("GET /api/v1/conversations", s.api(s.listConversations))
	s.mux.HandleFunc("POST /api/v1/conversations", s.api(s.createConversation))
	s.mux.HandleFunc("GET /api/v1/conversations/{id}", s.api(s.getConversation))
	s.mux.HandleFunc("DELETE /api/v1/conversations/{id}", s.api(s.deleteConversation))
	s.mux.HandleFunc("GET /api/v1/conversations/{id}/messages", s.api(s.listMessages))
	s.mux.HandleFunc("POST /api/v1/conversations/{id}/reseal", s.api(adminOnly(s.resealMessage)))
}

var errNoConversation = problem.NotFound("no such conversation")

var errNoAdminKey = problem.Conflict("the organisation admin key is not set, so chats cannot be stored sealed; an admin runs `silo admin init`")

type conversationJSON struct {
	ID        uuid.UUID `json:"id"`
	UserID    uuid.UUID `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
}

func toConversation(c *store.Conversation) conversationJSON {
	return conversationJSON{ID: c.ID, UserID: c.UserID, CreatedAt: c.CreatedAt}
}

type sealedMessageJSON struct {
	ID         uuid.UUID `json:"id"`
	Seq        int64     `json:"seq"`
	Role       string    `json:"role"`
	Version    int64     `json:"version"`
	Sealed     []byte    `json:"sealed"` // standard base64
	Recipients []string  `json:"recipients"`
	CreatedAt  time.Time `json:"created_at"`
}

// ownConversation loads the conversation named by {id} if the caller owns
// it or is an admin; anyone else is told it does not exist.
func (s *Server) ownConversation(r *http.Request, p *identity.Principal) (*store.Conversation, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	c, err := s.st.GetConversation(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.UserID != p.User.ID && !p.IsAdmin()) {
		return nil, errNoConversation
	}
	return c, err
}

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	user := &p.User.ID
	if r.URL.Query().Get("all") == "true" {
		if !p.IsAdmin() {
			return errAdminOnly
		}
		user = nil
	}
	cs, err := s.st.ListConversations(r.Context(), user)
	if err != nil {
		return err
	}
	out := make([]conversationJSON, len(cs))
	for i := range cs {
		out[i] = toConversation(&cs[i])
	}
	return respond(w, http.StatusOK, map[string]any{"conversations": out})
}

func (s *Server) createConversation(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	c := &store.Conversation{UserID: p.User.ID}
	if err := s.st.CreateConversation(r.Context(), c); err != nil {
		return err
	}
	if err := s.record(r, p, "conversation.create", "conversation:"+c.ID.String(), map[string]any{"user_id": c.UserID}); err != nil {
		return err
	}
	return respond(w, http.StatusCreated, toConversation(c))
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	c, err := s.ownConversation(r, p)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, toConversation(c))
}

func (s *Server) deleteConversation(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	c, err := s.ownConversation(r, p)
	if err != nil {
		return err
	}
	if err := s.st.DeleteConversation(r.Context(), c.ID); err != nil {
		return err
	}
	if err := s.record(r, p, "conversation.delete", "conversation:"+c.ID.String(), map[string]any{"user_id": c.UserID}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	c, err := s.ownConversation(r, p)
	if err != nil {
		return err
	}
	after, limit := int64(0), 100
	if err := queryInts(r, map[string]any{"after": &after, "limit": &limit}); err != nil {
		return err
	}
	ms, err := s.st.ListMessages(r.Context(), c.ID, after, limit)
	if err != nil {
		return err
	}
	out := make([]sealedMessageJSON, len(ms))
	for i, m := range ms {
		out[i] = sealedMessageJSON{ID: m.ID, Seq: m.Seq, Role: m.Role, Version: m.Version, Sealed: m.Sealed,
			Recipients: m.Recipients, CreatedAt: m.CreatedAt}
	}
	return respond(w, http.StatusOK, map[string]any{"messages": out})
}

// resealMessage stores a message sealed anew by the rewrap tool. The server
// cannot check what the blob is sealed to; it checks that the claimed
// recipients are exactly the owner's live set now (so nothing revoked is
// claimed, and nothing live is missed) and that the blob is an age file, and
// replaces the old blob in one transaction, guarded by the version.
func (s *Server) resealMessage(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	c, err := s.ownConversation(r, p)
	if err != nil {
		return err
	}
	var in struct {
		MessageID  uuid.UUID `json:"message_id"`
		Version    int64     `json:"version"`
		Sealed     []byte    `json:"sealed"`
		Recipients []string  `json:"recipients"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if !bytes.HasPrefix(in.Sealed, []byte("age-encryption.org/v1\n")) {
		return problem.Invalid("sealed is not an age file")
	}
	live, err := s.st.SealRecipients(r.Context(), c.UserID)
	if err != nil {
		return err
	}
	want := make([]string, len(live))
	for i, k := range live {
		want[i] = k.Fingerprint
	}
	slices.Sort(want)
	got := slices.Clone(in.Recipients)
	slices.Sort(got)
	if !slices.Equal(slices.Compact(got), want) {
		return problem.Conflict("the recipients are not the owner's live keys now; fetch the keys again")
	}
	m := &store.SealedMessage{ID: in.MessageID, ConversationID: c.ID, Version: in.Version, Sealed: in.Sealed, Recipients: want}
	switch err := s.st.ResealMessage(r.Context(), m); {
	case errors.Is(err, store.ErrNotFound):
		return problem.NotFound("no such message in this conversation")
	case errors.Is(err, store.ErrConflict):
		return problem.Conflict("the message was sealed anew meanwhile; fetch it again")
	case err != nil:
		return err
	}
	if err := s.record(r, p, "message.reseal", "conversation:"+c.ID.String(),
		map[string]any{"message_id": m.ID, "version": m.Version, "recipients": want}); err != nil {
		return err
	}
	return respond(w, http.StatusOK, sealedMessageJSON{ID: m.ID, Seq: m.Seq, Role: m.Role, Version: m.Version,
		Sealed: m.Sealed, Recipients: m.Recipients, CreatedAt: m.CreatedAt})
}

// chatRecorder is the /v1 side: it seals and stores the turns of a chat
// that names a conversation. Neither it nor its errors carry content.
type chatRecorder struct {
	st     store.Store
	keeper *conversation.Keeper
}

var _ openai.Conversations = (*chatRecorder)(nil)

func (c *chatRecorder) load(ctx context.Context, p *identity.Principal, id string) (*store.Conversation, error) {
	cid, err := uuid.Parse(id)
	if err != nil || cid.String() != id {
		return nil, problem.Invalid("the conversation id must be a lowercase UUID")
	}
	conv, err := c.st.GetConversation(ctx, cid)
	if errors.Is(err, store.ErrNotFound) || (err == nil && conv.UserID != p.User.ID) {
		return nil, errNoConversation
	}
	return conv, err
}

// Check implements openai.Conversations: only the owner appends, and only
// while an admin key is set.
func (c *chatRecorder) Check(ctx context.Context, p *identity.Principal, id string) error {
	if _, err := c.load(ctx, p, id); err != nil {
		return err
	}
	if _, err := c.keeper.Recipients(ctx, p.User.ID); err != nil {
		if errors.Is(err, conversation.ErrNoAdminKey) {
			return errNoAdminKey
		}
		return err
	}
	return nil
}

// Record implements openai.Conversations.
func (c *chatRecorder) Record(ctx context.Context, p *identity.Principal, id, model, prompt, answer string) error {
	conv, err := c.load(ctx, p, id)
	if err != nil {
		return err
	}
	var msgs []conversation.Message
	if prompt != "" {
		msgs = append(msgs, conversation.Message{Role: conversation.RoleUser, Content: prompt, Model: model})
	}
	msgs = append(msgs, conversation.Message{Role: conversation.RoleAssistant, Content: answer, Model: model})
	if _, err := c.keeper.Append(ctx, conv, msgs); err != nil {
		if errors.Is(err, conversation.ErrNoAdminKey) {
			return errNoAdminKey
		}
		return err
	}
	return nil
}
