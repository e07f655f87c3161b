package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/silo-ai/silo/internal/engine/enginetest"
	"github.com/silo-ai/silo/internal/seal"
)

// testIdentity and testRecipient are a fixed key pair for bodies that need a
// valid public key.
var testIdentity, testRecipient = func() (seal.Identity, string) {
	id, err := seal.GenerateIdentity()
	if err != nil {
		panic(err)
	}
	return id, id.Recipient().String()
}()

var testFingerprint = testIdentity.Recipient().Fingerprint()

func newIdentity(t *testing.T) seal.Identity {
	t.Helper()
	id, err := seal.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type sealKeyOut struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	UserID      string `json:"user_id"`
	Name        string `json:"name"`
	Recipient   string `json:"recipient"`
	Fingerprint string `json:"fingerprint"`
	Revoked     bool   `json:"revoked"`
}

// sealedTarget makes, as the admin, the object an operation of this
// package's sealed routes acts on, and returns its ID ("" for others).
func sealedTarget(h *harness, opID string) string {
	h.t.Helper()
	var out struct{ ID string }
	switch opID {
	case "revokeDevice":
		h.mustJSON("POST", "/api/v1/keys/devices", h.adminKey, map[string]string{"name": "admin-desk", "recipient": newIdentity(h.t).Recipient().String()}, 201, &out)
	case "revokeBackupKey":
		h.mustJSON("POST", "/api/v1/keys/backup", h.adminKey, map[string]string{"name": "vault", "recipient": newIdentity(h.t).Recipient().String()}, 201, &out)
	case "getConversation", "deleteConversation", "listMessages":
		h.mustJSON("POST", "/api/v1/conversations", h.adminKey, nil, 201, &out)
	case "resealMessage": // the body's recipients are the live set: the admin key
		h.mustJSON("PUT", "/api/v1/keys/admin", h.adminKey, map[string]string{"recipient": testRecipient}, 201, nil)
		h.mustJSON("POST", "/api/v1/conversations", h.adminKey, nil, 201, &out)
	default:
		return ""
	}
	return out.ID
}

// TestSealKeysAPI: device, admin and backup public keys are registered,
// listed and revoked by the right people, and only valid hybrid public keys
// are accepted.
func TestSealKeysAPI(t *testing.T) {
	h := newHarness(t)
	dev := newIdentity(t)

	// What is refused as a recipient: private keys, classic keys, garbage.
	classic := "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	for name, rcpt := range map[string]string{
		"private key":     dev.SecretKey(),
		"classic X25519":  classic,
		"bad checksum":    badChecksum(dev.Recipient().String()),
		"truncated":       dev.Recipient().String()[:100],
		"ssh key":         "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
		"empty":           "",
		"trailing spaces": dev.Recipient().String() + "  ",
	} {
		code, b := h.do("POST", "/api/v1/keys/devices", h.userKey, map[string]string{"name": "laptop", "recipient": rcpt})
		if code != http.StatusBadRequest {
			t.Errorf("registering a %s: %d %s, want 400", name, code, b)
		}
	}

	var k sealKeyOut
	h.mustJSON("POST", "/api/v1/keys/devices", h.userKey, map[string]string{"name": "laptop", "recipient": dev.Recipient().String()}, 201, &k)
	if k.Kind != "device" || k.UserID != h.userID.String() || k.Fingerprint != dev.Recipient().Fingerprint() || k.Recipient != dev.Recipient().String() || k.Revoked {
		t.Errorf("registered device = %+v", k)
	}
	h.mustJSON("POST", "/api/v1/keys/devices", h.adminKey, map[string]string{"name": "again", "recipient": dev.Recipient().String()}, 409, nil)

	var list struct{ Keys []sealKeyOut }
	reset := func() *struct{ Keys []sealKeyOut } { list.Keys = nil; return &list }
	h.mustJSON("GET", "/api/v1/keys/devices", h.userKey, nil, 200, reset())
	if len(list.Keys) != 1 || list.Keys[0].ID != k.ID {
		t.Errorf("user's devices = %+v", list.Keys)
	}
	h.mustJSON("GET", "/api/v1/keys/devices", h.adminKey, nil, 200, reset())
	if len(list.Keys) != 0 {
		t.Errorf("admin's own devices = %+v, want none", list.Keys)
	}
	h.mustJSON("GET", "/api/v1/keys/devices?user_id="+h.userID.String(), h.adminKey, nil, 200, reset())
	if len(list.Keys) != 1 {
		t.Errorf("admin listing alice's devices: %+v", list.Keys)
	}
	h.mustJSON("GET", "/api/v1/keys/devices?user_id="+h.adminID.String(), h.userKey, nil, 403, nil)

	// Device revocation: the owner (or an admin); others learn nothing.
	var adminDev sealKeyOut
	h.mustJSON("POST", "/api/v1/keys/devices", h.adminKey, map[string]string{"name": "desk", "recipient": newIdentity(t).Recipient().String()}, 201, &adminDev)
	h.mustJSON("DELETE", "/api/v1/keys/devices/"+adminDev.ID, h.userKey, nil, 404, nil)
	h.mustJSON("DELETE", "/api/v1/keys/devices/"+k.ID, h.userKey, nil, 204, nil)
	h.mustJSON("DELETE", "/api/v1/keys/devices/"+k.ID, h.userKey, nil, 204, nil) // idempotent
	h.mustJSON("GET", "/api/v1/keys/devices", h.userKey, nil, 200, reset())
	if len(list.Keys) != 1 || !list.Keys[0].Revoked {
		t.Errorf("after revoking: %+v", list.Keys)
	}

	// The admin key: set by an admin, once; the same key again is a no-op.
	admin, other := newIdentity(t), newIdentity(t)
	h.mustJSON("GET", "/api/v1/keys/admin", h.userKey, nil, 404, nil)
	h.mustJSON("PUT", "/api/v1/keys/admin", h.userKey, map[string]string{"recipient": admin.Recipient().String()}, 403, nil)
	h.mustJSON("PUT", "/api/v1/keys/admin", h.adminKey, map[string]string{"recipient": admin.Recipient().String()}, 201, &k)
	h.mustJSON("PUT", "/api/v1/keys/admin", h.adminKey, map[string]string{"recipient": admin.Recipient().String()}, 200, nil)
	h.mustJSON("PUT", "/api/v1/keys/admin", h.adminKey, map[string]string{"recipient": other.Recipient().String()}, 409, nil)
	var got sealKeyOut
	h.mustJSON("GET", "/api/v1/keys/admin", h.userKey, nil, 200, &got)
	if got.ID != k.ID || got.Kind != "admin" || got.Recipient != admin.Recipient().String() {
		t.Errorf("admin key = %+v", got)
	}
	// A key ID of one kind is not found under another.
	h.mustJSON("DELETE", "/api/v1/keys/backup/"+k.ID, h.adminKey, nil, 404, nil)
	h.mustJSON("DELETE", "/api/v1/keys/devices/"+k.ID, h.adminKey, nil, 404, nil)

	// Replacing the admin key: an admin revokes it, then sets another.
	h.mustJSON("DELETE", "/api/v1/keys/admin", h.userKey, nil, 403, nil)
	h.mustJSON("DELETE", "/api/v1/keys/admin", h.adminKey, nil, 204, nil)
	h.mustJSON("GET", "/api/v1/keys/admin", h.userKey, nil, 404, nil)
	h.mustJSON("DELETE", "/api/v1/keys/admin", h.adminKey, nil, 404, nil)
	h.mustJSON("PUT", "/api/v1/keys/admin", h.adminKey, map[string]string{"recipient": admin.Recipient().String()}, 409, nil) // a revoked key is not set again
	h.mustJSON("PUT", "/api/v1/keys/admin", h.adminKey, map[string]string{"recipient": other.Recipient().String()}, 201, nil)
	h.mustJSON("GET", "/api/v1/keys/admin", h.userKey, nil, 200, &got)
	if got.Recipient != other.Recipient().String() {
		t.Errorf("admin key after replacing = %+v", got)
	}
	other = newIdentity(t) // the backup key below is another

	// Backup keys: made by admins, visible to all.
	var b1 sealKeyOut
	h.mustJSON("POST", "/api/v1/keys/backup", h.userKey, map[string]string{"name": "vault", "recipient": other.Recipient().String()}, 403, nil)
	h.mustJSON("POST", "/api/v1/keys/backup", h.adminKey, map[string]string{"name": "vault", "recipient": other.Recipient().String()}, 201, &b1)
	h.mustJSON("GET", "/api/v1/keys/backup", h.userKey, nil, 200, reset())
	if len(list.Keys) != 1 || list.Keys[0].Kind != "backup" || list.Keys[0].UserID != "" {
		t.Errorf("backup keys = %+v", list.Keys)
	}
	h.mustJSON("DELETE", "/api/v1/keys/backup/"+b1.ID, h.userKey, nil, 403, nil)
	h.mustJSON("DELETE", "/api/v1/keys/backup/"+b1.ID, h.adminKey, nil, 204, nil)
	h.mustJSON("GET", "/api/v1/keys/backup", h.userKey, nil, 200, reset())
	if len(list.Keys) != 1 || !list.Keys[0].Revoked {
		t.Errorf("after revoking the backup key: %+v", list.Keys)
	}

	// Every change is in the audit chain, with fingerprints, never keys.
	var audit struct {
		Entries []struct {
			Action string          `json:"action"`
			Detail json.RawMessage `json:"detail"`
		} `json:"entries"`
	}
	h.mustJSON("GET", "/api/v1/audit?limit=1000", h.adminKey, nil, 200, &audit)
	counts := map[string]int{}
	for _, e := range audit.Entries {
		counts[e.Action]++
		if strings.Contains(string(e.Detail), "age1pq1") {
			t.Errorf("audit detail holds a whole key: %s", e.Detail)
		}
	}
	if counts["sealkey.create"] != 5 || counts["sealkey.revoke"] != 3 {
		t.Errorf("audit actions = %v; want 5 sealkey.create, 3 sealkey.revoke", counts)
	}
}

// TestSealedTransit: a chat body sealed to the server's transport key is
// answered sealed to the client's key (plain and streamed); a tampered body
// gets 400 and a replayed one 409, and neither generates or stores anything.
func TestSealedTransit(t *testing.T) {
	h := newHarness(t)
	var sk struct {
		PublicKey   []byte `json:"public_key"`
		Fingerprint string `json:"fingerprint"`
	}
	h.mustJSON("GET", "/api/v1/keys/server", h.userKey, nil, 200, &sk)
	if seal.PublicKeyFingerprint(sk.PublicKey) != sk.Fingerprint {
		t.Fatalf("server key fingerprint %s does not match its key", sk.Fingerprint)
	}
	admin := newIdentity(t)
	h.mustJSON("PUT", "/api/v1/keys/admin", h.adminKey, map[string]string{"recipient": admin.Recipient().String()}, 201, nil)
	var conv struct{ ID string }
	h.mustJSON("POST", "/api/v1/conversations", h.userKey, nil, 201, &conv)

	post := func(body []byte, path string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", h.ts.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/silo-sealed+hpke")
		req.Header.Set("Authorization", "Bearer "+h.userKey)
		req.Header.Set("X-Silo-Conversation", conv.ID)
		resp, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	chatBody := func(text string, stream bool) []byte {
		b, _ := json.Marshal(map[string]any{"model": enginetest.DefaultModel, "stream": stream,
			"messages": []map[string]string{{"role": "user", "content": text}}})
		return b
	}
	for _, stream := range []bool{false, true} {
		text := fmt.Sprintf("sealed kiwi%v words", stream)
		sealed, rk, err := seal.SealRequest(sk.PublicKey, chatBody(text, stream), "POST", "/v1/chat/completions")
		if err != nil {
			t.Fatal(err)
		}
		resp, b := post(sealed, "/v1/chat/completions")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/silo-sealed+hpke" {
			t.Fatalf("sealed chat (stream %v): %d %s", stream, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if bytes.Contains(b, []byte("kiwi")) {
			t.Errorf("the sealed answer holds plaintext")
		}
		pr, err := rk.OpenResponse(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		pt, err := io.ReadAll(pr)
		if err != nil {
			t.Fatalf("open sealed answer: %v", err)
		}
		inner := resp.Header.Get("X-Silo-Sealed-Content-Type")
		if !bytes.Contains(pt, []byte(strings.Fields(text)[1])) || (stream && (inner != "text/event-stream" || !bytes.Contains(pt, []byte("data: [DONE]")))) {
			t.Errorf("opened answer (stream %v, %s): %s", stream, inner, pt)
		}
		// The same sealed bytes again: a replay.
		before, gens := len(h.messages(h.userKey, conv.ID)), h.up.Generations()
		if resp, b := post(sealed, "/v1/chat/completions"); resp.StatusCode != http.StatusConflict {
			t.Errorf("replayed sealed request: %d %s, want 409", resp.StatusCode, b)
		}
		if len(h.messages(h.userKey, conv.ID)) != before || h.up.Generations() != gens {
			t.Error("a replayed request generated or stored something")
		}
	}
	stored := len(h.messages(h.userKey, conv.ID))
	if stored != 4 {
		t.Errorf("%d messages stored from sealed chats, want 4", stored)
	}

	// Tampered bodies and bodies sealed for another endpoint.
	sealed, _, err := seal.SealRequest(sk.PublicKey, chatBody("tamper target", false), "POST", "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := seal.SealRequest(sk.PublicKey, chatBody("elsewhere", false), "POST", "/v1/completions")
	gens := h.up.Generations()
	for name, body := range map[string][]byte{
		"flipped byte":     func() []byte { b := bytes.Clone(sealed); b[len(b)/2] ^= 1; return b }(),
		"truncated":        sealed[:len(sealed)-1],
		"empty":            {},
		"plain json":       chatBody("not sealed", false),
		"another endpoint": other,
	} {
		resp, b := post(body, "/v1/chat/completions")
		if resp.StatusCode != 400 || bytes.Contains(b, []byte("tamper target")) {
			t.Errorf("%s: %d %s, want 400", name, resp.StatusCode, b)
		}
	}
	if len(h.messages(h.userKey, conv.ID)) != stored || h.up.Generations() != gens {
		t.Error("a refused sealed body generated or stored something")
	}
}

// badChecksum changes the last character of a bech32 string to another
// valid one, so only its checksum is wrong.
func badChecksum(s string) string {
	last := s[len(s)-1]
	repl := byte('q')
	if last == 'q' {
		repl = 'p'
	}
	return s[:len(s)-1] + string(repl)
}
