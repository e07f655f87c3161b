package conversation_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/conversation"
	"github.com/silo-ai/silo/internal/seal"
	"github.com/silo-ai/silo/internal/store"
	"github.com/silo-ai/silo/internal/store/sqlite"
)

func newIdentity(t testing.TB) seal.Identity {
	t.Helper()
	id, err := seal.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func addKey(t *testing.T, st store.Store, kind string, user *uuid.UUID, id seal.Identity) *store.SealKey {
	t.Helper()
	r := id.Recipient()
	k := &store.SealKey{Kind: kind, UserID: user, Name: kind, Recipient: r.String(), Fingerprint: r.Fingerprint()}
	if err := st.CreateSealKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeeper(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := &store.User{Name: "alice", Role: store.RoleUser}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	c := &store.Conversation{UserID: u.ID}
	if err := st.CreateConversation(ctx, c); err != nil {
		t.Fatal(err)
	}
	k := conversation.NewKeeper(st)
	msgs := []conversation.Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "hello", Model: "m"}}

	// Without an admin key nothing is stored, even with a device key.
	dev := newIdentity(t)
	addKey(t, st, store.SealKeyDevice, &u.ID, dev)
	if _, err := k.Append(ctx, c, msgs); !errors.Is(err, conversation.ErrNoAdminKey) {
		t.Fatalf("Append without an admin key: %v, want ErrNoAdminKey", err)
	}
	admin := newIdentity(t)
	addKey(t, st, store.SealKeyAdmin, nil, admin)

	if _, err := k.Append(ctx, c, []conversation.Message{{Role: "system", Content: "x"}}); err == nil {
		t.Error("Append stored a system message")
	}
	out, err := k.Append(ctx, c, msgs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	want := seal.Fingerprints([]seal.Recipient{dev.Recipient(), admin.Recipient()})
	for i, m := range out {
		if !slices.Equal(m.Recipients, want) || m.Seq != int64(i+1) {
			t.Errorf("stored message %d: seq %d, recipients %v, want %v", i, m.Seq, m.Recipients, want)
		}
		got, err := conversation.Open(m.Sealed, c.ID, m.Role, dev)
		if err != nil || got.Content != msgs[i].Content || got.Role != msgs[i].Role || got.Model != msgs[i].Model || got.Conversation != c.ID || got.Time.IsZero() {
			t.Errorf("Open(message %d) = %+v, %v", i, got, err)
		}
		// The stored role must match the sealed one.
		other := map[string]string{"user": "assistant", "assistant": "user"}[m.Role]
		if _, err := conversation.Open(m.Sealed, c.ID, other, dev); !errors.Is(err, conversation.ErrWrongConversation) {
			t.Errorf("Open with the wrong role: %v", err)
		}
	}
	if _, err := conversation.Open(out[0].Sealed, c.ID, "user", newIdentity(t)); !errors.Is(err, seal.ErrNoIdentity) {
		t.Errorf("Open with a stranger's key: %v, want ErrNoIdentity", err)
	}
	if _, err := conversation.Open([]byte("not age"), c.ID, "user", dev); !errors.Is(err, seal.ErrCorrupt) {
		t.Errorf("Open(garbage): %v, want ErrCorrupt", err)
	}
}

// TestOpenRefusesForeignPlaintext: a blob sealed to the user's key (anyone
// holding the public key, the server included, can make one) whose
// plaintext is not a message of this conversation is refused.
func TestOpenRefusesForeignPlaintext(t *testing.T) {
	id := newIdentity(t)
	conv := uuid.New()
	good, _ := json.Marshal(conversation.Message{Conversation: conv, Role: "user", Content: "x"})
	for name, pt := range map[string][]byte{
		"not json":           []byte("plain text"),
		"other conversation": mustJSON(conversation.Message{Conversation: uuid.New(), Role: "user", Content: "x"}),
		"no conversation":    []byte(`{"role":"user","content":"x"}`),
	} {
		blob, err := seal.Seal(pt, []seal.Recipient{id.Recipient()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conversation.Open(blob, conv, "user", id); err == nil {
			t.Errorf("%s: Open succeeded", name)
		}
	}
	blob, _ := seal.Seal(good, []seal.Recipient{id.Recipient()})
	if _, err := conversation.Open(blob, conv, "user", id); err != nil {
		t.Errorf("a good message: %v", err)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// fuzzConv is the conversation the fuzz target opens under; the corpus in
// testdata/fuzz/FuzzOpen is plaintext, sealed afresh on each run.
var fuzzConv = uuid.MustParse("0193a5f2-1111-7000-8000-000000000001")

// FuzzOpen feeds arbitrary plaintext, sealed to a key, to Open: it must
// never panic, and what it accepts is a message of this conversation.
func FuzzOpen(f *testing.F) {
	id := newIdentity(f)
	f.Add([]byte(`{"conversation":"0193a5f2-1111-7000-8000-000000000001","role":"user","content":"hi","time":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"conversation":"0193a5f2-1111-7000-8000-000000000001","role":"assistant","content":"\u0000","model":"m"}`))
	f.Add([]byte(`{"conversation":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, pt []byte) {
		blob, err := seal.Seal(pt, []seal.Recipient{id.Recipient()})
		if err != nil {
			t.Fatal(err)
		}
		m, err := conversation.Open(blob, fuzzConv, "", id)
		if err == nil && m.Conversation != fuzzConv {
			t.Fatalf("accepted a message of conversation %s", m.Conversation)
		}
	})
}

// TestResealAfterAdminKeyReplaced: a message sealed to the old admin key
// is resealed to the new one (opened with the previous identity, checked
// with the new), after which the old key opens nothing; without the
// previous identity it cannot be opened, and a reseal that leaves out the
// live admin key is refused.
func TestResealAfterAdminKeyReplaced(t *testing.T) {
	oldAdmin, newAdmin, device := newIdentity(t), newIdentity(t), newIdentity(t)
	conv := uuid.New()
	pt := mustJSON(conversation.Message{Conversation: conv, Role: "user", Content: "the plan"})
	blob, err := seal.Seal(pt, []seal.Recipient{oldAdmin.Recipient(), device.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	live := []seal.Recipient{newAdmin.Recipient(), device.Recipient()}

	if _, err := conversation.Reseal(blob, conv, "user", newAdmin, live); !errors.Is(err, seal.ErrNoIdentity) {
		t.Errorf("reseal without the previous admin identity: %v, want seal.ErrNoIdentity", err)
	}
	if _, err := conversation.Reseal(blob, conv, "user", newAdmin, []seal.Recipient{device.Recipient()}, oldAdmin); !errors.Is(err, conversation.ErrAdminNotRecipient) {
		t.Errorf("reseal leaving out the live admin key: %v", err)
	}
	again, err := conversation.Reseal(blob, conv, "user", newAdmin, live, oldAdmin)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []seal.Identity{newAdmin, device} {
		if m, err := conversation.Open(again, conv, "user", id); err != nil || m.Content != "the plan" {
			t.Errorf("the resealed message does not open with a live key: %v", err)
		}
	}
	if _, err := conversation.Open(again, conv, "user", oldAdmin); !errors.Is(err, seal.ErrNoIdentity) {
		t.Errorf("the replaced admin key still opens the resealed message: %v", err)
	}
}
