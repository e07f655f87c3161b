package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/conversation"
	"github.com/silo-ai/silo/internal/engine/enginetest"
	"github.com/silo-ai/silo/internal/seal"
)

type sealedOut struct {
	Seq        int64    `json:"seq"`
	Role       string   `json:"role"`
	Version    int64    `json:"version"`
	Sealed     []byte   `json:"sealed"`
	Recipients []string `json:"recipients"`
}

func (h *harness) messages(key, conv string) []sealedOut {
	h.t.Helper()
	var out struct{ Messages []sealedOut }
	h.mustJSON("GET", "/api/v1/conversations/"+conv+"/messages?limit=1000", key, nil, 200, &out)
	return out.Messages
}

// chat sends a chat naming a conversation: in the header, or in metadata
// when viaMetadata; streamed when stream. It returns the status and the
// answer text (or the error body).
func (h *harness) chat(key, conv, text string, viaMetadata, stream bool) (int, string) {
	h.t.Helper()
	body := map[string]any{"model": enginetest.DefaultModel, "stream": stream,
		"messages": []map[string]string{{"role": "system", "content": "be brief"}, {"role": "user", "content": text}}}
	if viaMetadata {
		body["metadata"] = map[string]string{"conversation_id": conv}
	}
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", h.ts.URL+"/v1/chat/completions", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	if !viaMetadata && conv != "" {
		req.Header.Set("X-Silo-Conversation", conv)
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, buf.String()
	}
	if !stream {
		var out struct {
			Choices []struct{ Message struct{ Content string } }
		}
		json.Unmarshal(buf.Bytes(), &out)
		return 200, out.Choices[0].Message.Content
	}
	var answer strings.Builder
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ev struct {
			Choices []struct{ Delta struct{ Content string } }
			Error   *json.RawMessage
		}
		json.Unmarshal([]byte(data), &ev)
		if ev.Error != nil {
			return 500, string(*ev.Error)
		}
		for _, c := range ev.Choices {
			answer.WriteString(c.Delta.Content)
		}
	}
	return 200, answer.String()
}

// TestSealedChat: a chat that names a conversation is stored sealed to the
// owner's live devices, the admin key and live backup keys; each of them
// opens it, nobody else's key does, and a revoked key is left out of what
// is written after.
func TestSealedChat(t *testing.T) {
	h := newHarness(t)
	device, admin, backup, stranger := newIdentity(t), newIdentity(t), newIdentity(t), newIdentity(t)
	var conv struct{ ID string }
	h.mustJSON("POST", "/api/v1/conversations", h.userKey, nil, 201, &conv)

	// No admin key yet: refused before generating, nothing stored.
	if code, b := h.chat(h.userKey, conv.ID, "too early", false, false); code != http.StatusConflict || !strings.Contains(b, "admin init") {
		t.Fatalf("chat without an admin key: %d %s, want 409", code, b)
	}
	if ms := h.messages(h.userKey, conv.ID); len(ms) != 0 {
		t.Fatalf("stored %d messages without an admin key", len(ms))
	}
	if n := h.up.Generations(); n != 0 {
		t.Errorf("%d generations ran for a refused chat", n)
	}

	h.mustJSON("PUT", "/api/v1/keys/admin", h.adminKey, map[string]string{"recipient": admin.Recipient().String()}, 201, nil)
	h.mustJSON("POST", "/api/v1/keys/devices", h.userKey, map[string]string{"name": "laptop", "recipient": device.Recipient().String()}, 201, nil)
	var bk sealKeyOut
	h.mustJSON("POST", "/api/v1/keys/backup", h.adminKey, map[string]string{"name": "vault", "recipient": backup.Recipient().String()}, 201, &bk)

	// Bad conversation references.
	var adminConv struct{ ID string }
	h.mustJSON("POST", "/api/v1/conversations", h.adminKey, nil, 201, &adminConv)
	for name, c := range map[string]struct {
		key, conv string
		meta      bool
		want      int
	}{
		"someone else's":   {h.userKey, adminConv.ID, false, 404},
		"admin, not owner": {h.adminKey, conv.ID, true, 404},
		"missing":          {h.userKey, uuid.NewString(), false, 404},
		"not a uuid":       {h.userKey, "../../etc/passwd", false, 400},
		"uppercase":        {h.userKey, strings.ToUpper(conv.ID), true, 400},
	} {
		if code, b := h.chat(c.key, c.conv, "nope", c.meta, false); code != c.want {
			t.Errorf("%s: %d %s, want %d", name, code, b, c.want)
		}
	}

	turns := []struct {
		text         string
		meta, stream bool
	}{
		{"zanzibar quokka first", false, false},
		{"marmalade ocelot second", true, true},
	}
	for _, tr := range turns {
		code, answer := h.chat(h.userKey, conv.ID, tr.text, tr.meta, tr.stream)
		if code != 200 || answer != tr.text {
			t.Fatalf("chat %q: %d %q", tr.text, code, answer)
		}
	}
	// A plain chat (no conversation) stores nothing.
	h.chat(h.userKey, "", "ephemeral words", false, false)

	all := []string{admin.Recipient().Fingerprint(), backup.Recipient().Fingerprint(), device.Recipient().Fingerprint()}
	slices.Sort(all)
	ms := h.messages(h.userKey, conv.ID)
	if len(ms) != 4 {
		t.Fatalf("%d messages stored, want 4", len(ms))
	}
	cid := uuid.MustParse(conv.ID)
	for i, m := range ms {
		want := turns[i/2].text
		role := []string{"user", "assistant"}[i%2]
		if m.Seq != int64(i+1) || m.Role != role || m.Version != 1 {
			t.Errorf("message %d: seq %d role %s version %d", i, m.Seq, m.Role, m.Version)
		}
		if !slices.Equal(m.Recipients, all) {
			t.Errorf("message %d recipients %v, want %v", i, m.Recipients, all)
		}
		if bytes.Contains(m.Sealed, []byte(want)) {
			t.Errorf("message %d holds its plaintext", i)
		}
		for name, id := range map[string]seal.Identity{"device": device, "admin": admin, "backup": backup} {
			got, err := conversation.Open(m.Sealed, cid, m.Role, id)
			if err != nil || got.Content != want || got.Role != role || got.Model != enginetest.DefaultModel {
				t.Errorf("message %d with the %s key: %+v, %v", i, name, got, err)
			}
		}
		if _, err := conversation.Open(m.Sealed, cid, m.Role, stranger); !errors.Is(err, seal.ErrNoIdentity) {
			t.Errorf("message %d opened by a stranger's key: %v", i, err)
		}
		if _, err := conversation.Open(m.Sealed, uuid.MustParse(adminConv.ID), m.Role, admin); !errors.Is(err, conversation.ErrWrongConversation) {
			t.Errorf("message %d listed under another conversation: %v, want ErrWrongConversation", i, err)
		}
	}

	// Only the owner (and admins) list the messages.
	h.mustJSON("GET", "/api/v1/conversations/"+adminConv.ID+"/messages", h.userKey, nil, 404, nil)
	if len(h.messages(h.adminKey, conv.ID)) != 4 {
		t.Error("the admin does not see the user's sealed messages")
	}

	// Revoke the backup key: what is written after is not sealed to it.
	h.mustJSON("DELETE", "/api/v1/keys/backup/"+bk.ID, h.adminKey, nil, 204, nil)
	if code, _ := h.chat(h.userKey, conv.ID, "after revocation", false, false); code != 200 {
		t.Fatalf("chat after revocation: %d", code)
	}
	ms = h.messages(h.userKey, conv.ID)
	if len(ms) != 6 {
		t.Fatalf("%d messages, want 6", len(ms))
	}
	live := []string{admin.Recipient().Fingerprint(), device.Recipient().Fingerprint()}
	slices.Sort(live)
	for _, m := range ms[4:] {
		if !slices.Equal(m.Recipients, live) {
			t.Errorf("message %d after revocation recipients %v, want %v", m.Seq, m.Recipients, live)
		}
		if _, err := conversation.Open(m.Sealed, cid, m.Role, backup); !errors.Is(err, seal.ErrNoIdentity) {
			t.Errorf("message %d after revocation opens with the revoked backup key: %v", m.Seq, err)
		}
		if got, err := conversation.Open(m.Sealed, cid, m.Role, admin); err != nil || got.Content != "after revocation" {
			t.Errorf("message %d after revocation with the admin key: %v", m.Seq, err)
		}
	}

	// Paging, and deletion.
	var page struct{ Messages []sealedOut }
	h.mustJSON("GET", "/api/v1/conversations/"+conv.ID+"/messages?after=2&limit=3", h.userKey, nil, 200, &page)
	if len(page.Messages) != 3 || page.Messages[0].Seq != 3 {
		t.Errorf("page after 2, limit 3: %d messages from %d", len(page.Messages), page.Messages[0].Seq)
	}
	var list struct{ Conversations []struct{ ID string } }
	h.mustJSON("GET", "/api/v1/conversations", h.userKey, nil, 200, &list)
	if len(list.Conversations) != 1 {
		t.Errorf("user's conversations: %+v", list.Conversations)
	}
	h.mustJSON("GET", "/api/v1/conversations?all=true", h.userKey, nil, 403, nil)
	h.mustJSON("GET", "/api/v1/conversations?all=true", h.adminKey, nil, 200, &list)
	if len(list.Conversations) != 2 {
		t.Errorf("all conversations: %+v", list.Conversations)
	}
	h.mustJSON("DELETE", "/api/v1/conversations/"+conv.ID, h.adminKey, nil, 204, nil)
	h.mustJSON("GET", "/api/v1/conversations/"+conv.ID, h.userKey, nil, 404, nil)
	if code, _ := h.chat(h.userKey, conv.ID, "gone", false, false); code != 404 {
		t.Errorf("chat naming a deleted conversation: %d, want 404", code)
	}
}

// TestSealedChatHeaderMetadataDiffer: two different conversation ids in
// one request are refused.
func TestSealedChatHeaderMetadataDiffer(t *testing.T) {
	h := newHarness(t)
	h.mustJSON("PUT", "/api/v1/keys/admin", h.adminKey, map[string]string{"recipient": testRecipient}, 201, nil)
	var a, b struct{ ID string }
	h.mustJSON("POST", "/api/v1/conversations", h.userKey, nil, 201, &a)
	h.mustJSON("POST", "/api/v1/conversations", h.userKey, nil, 201, &b)
	raw, _ := json.Marshal(map[string]any{"model": enginetest.DefaultModel, "metadata": map[string]string{"conversation_id": b.ID},
		"messages": []map[string]string{{"role": "user", "content": "hello"}}})
	req, _ := http.NewRequest("POST", h.ts.URL+"/v1/chat/completions", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+h.userKey)
	req.Header.Set("X-Silo-Conversation", a.ID)
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("differing ids: %d, want 400", resp.StatusCode)
	}
	for _, c := range []string{a.ID, b.ID} {
		if ms := h.messages(h.userKey, c); len(ms) != 0 {
			t.Errorf("conversation %s has %d messages", c, len(ms))
		}
	}
}

// TestReseal: the rewrap endpoint takes a message sealed anew to exactly the
// owner's live keys, guarded by the version; a revoked key is gone from it.
func TestReseal(t *testing.T) {
	h := newHarness(t)
	admin, device, backup := newIdentity(t), newIdentity(t), newIdentity(t)
	h.mustJSON("PUT", "/api/v1/keys/admin", h.adminKey, map[string]string{"recipient": admin.Recipient().String()}, 201, nil)
	h.mustJSON("POST", "/api/v1/keys/devices", h.userKey, map[string]string{"name": "laptop", "recipient": device.Recipient().String()}, 201, nil)
	var bk sealKeyOut
	h.mustJSON("POST", "/api/v1/keys/backup", h.adminKey, map[string]string{"name": "vault", "recipient": backup.Recipient().String()}, 201, &bk)
	var conv, other struct{ ID string }
	h.mustJSON("POST", "/api/v1/conversations", h.userKey, nil, 201, &conv)
	h.mustJSON("POST", "/api/v1/conversations", h.userKey, nil, 201, &other)
	if code, _ := h.chat(h.userKey, conv.ID, "sealed words", false, false); code != 200 {
		t.Fatal(code)
	}
	h.mustJSON("DELETE", "/api/v1/keys/backup/"+bk.ID, h.adminKey, nil, 204, nil)
	var list struct {
		Messages []struct {
			ID      string `json:"id"`
			Role    string `json:"role"`
			Version int64  `json:"version"`
			Sealed  []byte `json:"sealed"`
		}
	}
	h.mustJSON("GET", "/api/v1/conversations/"+conv.ID+"/messages", h.adminKey, nil, 200, &list)
	m := list.Messages[0]
	cid := uuid.MustParse(conv.ID)
	live := []seal.Recipient{admin.Recipient(), device.Recipient()}
	blob, err := conversation.Reseal(m.Sealed, cid, m.Role, admin, live)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conversation.Reseal(m.Sealed, cid, m.Role, admin, []seal.Recipient{device.Recipient()}); !errors.Is(err, conversation.ErrAdminNotRecipient) {
		t.Errorf("Reseal without the admin key: %v", err)
	}
	body := func(version int64, blob []byte, rs ...seal.Recipient) map[string]any {
		return map[string]any{"message_id": m.ID, "version": version, "sealed": blob, "recipients": seal.Fingerprints(rs)}
	}
	h.mustJSON("POST", "/api/v1/conversations/"+conv.ID+"/reseal", h.userKey, body(1, blob, live...), 403, nil)
	h.mustJSON("POST", "/api/v1/conversations/"+conv.ID+"/reseal", h.adminKey, body(1, blob, admin.Recipient(), device.Recipient(), backup.Recipient()), 409, nil) // claims a revoked key
	h.mustJSON("POST", "/api/v1/conversations/"+conv.ID+"/reseal", h.adminKey, body(1, blob, admin.Recipient()), 409, nil)                                         // misses a live key
	h.mustJSON("POST", "/api/v1/conversations/"+conv.ID+"/reseal", h.adminKey, body(1, []byte("not an age file"), live...), 400, nil)
	h.mustJSON("POST", "/api/v1/conversations/"+other.ID+"/reseal", h.adminKey, body(1, blob, live...), 404, nil)
	var got struct {
		Seq        int64    `json:"seq"`
		Version    int64    `json:"version"`
		Recipients []string `json:"recipients"`
	}
	h.mustJSON("POST", "/api/v1/conversations/"+conv.ID+"/reseal", h.adminKey, body(1, blob, live...), 200, &got)
	if got.Version != 2 || got.Seq != 1 || !slices.Equal(got.Recipients, seal.Fingerprints(live)) {
		t.Errorf("resealed: %+v", got)
	}
	h.mustJSON("POST", "/api/v1/conversations/"+conv.ID+"/reseal", h.adminKey, body(1, blob, live...), 409, nil) // stale version
	ms := h.messages(h.userKey, conv.ID)
	if _, err := conversation.Open(ms[0].Sealed, cid, "user", backup); !errors.Is(err, seal.ErrNoIdentity) {
		t.Errorf("the revoked backup key opens the resealed message: %v", err)
	}
	for _, id := range []seal.Identity{admin, device} {
		if got, err := conversation.Open(ms[0].Sealed, cid, "user", id); err != nil || got.Content != "sealed words" {
			t.Errorf("a live key does not open the resealed message: %v", err)
		}
	}
	if _, err := conversation.Open(ms[1].Sealed, cid, "assistant", backup); err != nil {
		t.Errorf("the message not yet resealed no longer opens with the old backup key: %v", err)
	}
}
