package storetest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

// fakeKey is a sealing key with a random (not parseable, which the store
// does not check) age1pq1 recipient and a matching-shaped fingerprint.
func fakeKey(kind string, user *uuid.UUID, name string) *store.SealKey {
	var b [24]byte
	rand.Read(b[:])
	tail := base64.RawURLEncoding.EncodeToString(b[:])
	return &store.SealKey{Kind: kind, UserID: user, Name: name, Recipient: "age1pq1" + tail, Fingerprint: "SHA256:" + tail}
}

// past is base moved before now, for rows that must sort before those
// created with the current time.
var past = base.AddDate(-10, 0, 0)

func mustSealKey(t *testing.T, s store.Store, k *store.SealKey) *store.SealKey {
	t.Helper()
	if err := s.CreateSealKey(t.Context(), k); err != nil {
		t.Fatalf("CreateSealKey(%s %q): %v", k.Kind, k.Name, err)
	}
	return k
}

func fingerprintsOf(ks []store.SealKey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.Fingerprint)
	}
	return out
}

func testSealKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice", store.RoleUser)
	bob := mustUser(t, s, "bob", store.RoleUser)

	laptop := fakeKey(store.SealKeyDevice, &alice.ID, "laptop")
	laptop.CreatedAt = past
	mustSealKey(t, s, laptop)
	if laptop.ID == uuid.Nil {
		t.Error("CreateSealKey did not assign an ID")
	}
	checkStored(t, "CreatedAt", laptop.CreatedAt)
	if !laptop.CreatedAt.Equal(norm(past)) {
		t.Errorf("CreatedAt = %v, want %v", laptop.CreatedAt, norm(past))
	}
	got, err := s.GetSealKey(ctx, laptop.ID)
	if err != nil {
		t.Fatalf("GetSealKey: %v", err)
	}
	if diff := cmp.Diff(laptop, got, opts); diff != "" {
		t.Errorf("GetSealKey (-want +got):\n%s", diff)
	}

	phone := mustSealKey(t, s, fakeKey(store.SealKeyDevice, &alice.ID, "phone"))
	bobs := mustSealKey(t, s, fakeKey(store.SealKeyDevice, &bob.ID, "desk"))
	admin := mustSealKey(t, s, fakeKey(store.SealKeyAdmin, nil, "admin"))
	backup1 := mustSealKey(t, s, fakeKey(store.SealKeyBackup, nil, "vault"))
	backup2 := mustSealKey(t, s, fakeKey(store.SealKeyBackup, nil, "safe"))

	// Refused keys leave nothing behind.
	dup := fakeKey(store.SealKeyBackup, nil, "dup")
	dup.Fingerprint = backup1.Fingerprint
	bad := []struct {
		name string
		key  *store.SealKey
		want error
	}{
		{"duplicate fingerprint", dup, store.ErrConflict},
		{"duplicate id", &store.SealKey{ID: phone.ID, Kind: store.SealKeyBackup, Name: "x", Recipient: "age1pq1x", Fingerprint: "SHA256:x"}, store.ErrConflict},
		{"second live admin key", fakeKey(store.SealKeyAdmin, nil, "admin2"), store.ErrConflict},
		{"device of a missing user", fakeKey(store.SealKeyDevice, ptr(uuid.New()), "ghost"), store.ErrNotFound},
		{"device without user", fakeKey(store.SealKeyDevice, nil, "orphan"), errOther},
		{"backup with a user", fakeKey(store.SealKeyBackup, &alice.ID, "mine"), errOther},
		{"unknown kind", fakeKey("server", nil, "srv"), errOther},
		{"classic recipient", &store.SealKey{Kind: store.SealKeyBackup, Name: "x", Recipient: "age1classic", Fingerprint: "SHA256:y"}, errOther},
		{"no fingerprint", &store.SealKey{Kind: store.SealKeyBackup, Name: "x", Recipient: "age1pq1z"}, errOther},
	}
	for _, b := range bad {
		checkErr(t, "CreateSealKey: "+b.name, s.CreateSealKey(ctx, b.key), b.want)
	}
	checkErr(t, "CreateSealKey(nil)", s.CreateSealKey(ctx, nil), errOther)

	all, err := s.ListSealKeys(ctx, store.SealKeyFilter{})
	if err != nil {
		t.Fatalf("ListSealKeys: %v", err)
	}
	if len(all) != 6 {
		t.Fatalf("ListSealKeys: %d keys, want 6 (a refused key was stored?)", len(all))
	}
	if all[0].ID != laptop.ID {
		t.Errorf("ListSealKeys is not oldest first: %v first", all[0].Name)
	}

	// Revocation: first time kept, missing key not found.
	t1 := base.Add(time.Hour)
	if err := s.RevokeSealKey(ctx, backup1.ID, t1); err != nil {
		t.Fatalf("RevokeSealKey: %v", err)
	}
	if err := s.RevokeSealKey(ctx, backup1.ID, t1.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeSealKey again: %v", err)
	}
	got, err = s.GetSealKey(ctx, backup1.ID)
	if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(norm(t1)) {
		t.Errorf("after revoking twice: %+v, %v; want RevokedAt %v", got, err, norm(t1))
	}
	checkErr(t, "RevokeSealKey(missing)", s.RevokeSealKey(ctx, uuid.New(), t1), store.ErrNotFound)
	_, err = s.GetSealKey(ctx, uuid.New())
	checkErr(t, "GetSealKey(missing)", err, store.ErrNotFound)

	for _, tt := range []struct {
		name string
		f    store.SealKeyFilter
		want []string
	}{
		{"alice's devices", store.SealKeyFilter{Kind: store.SealKeyDevice, UserID: &alice.ID}, []string{"laptop", "phone"}},
		{"backups", store.SealKeyFilter{Kind: store.SealKeyBackup}, []string{"vault", "safe"}},
		{"live backups", store.SealKeyFilter{Kind: store.SealKeyBackup, LiveOnly: true}, []string{"safe"}},
		{"admin", store.SealKeyFilter{Kind: store.SealKeyAdmin}, []string{"admin"}},
		{"bob's keys", store.SealKeyFilter{UserID: &bob.ID}, []string{"desk"}},
	} {
		ks, err := s.ListSealKeys(ctx, tt.f)
		if err != nil {
			t.Fatalf("ListSealKeys(%s): %v", tt.name, err)
		}
		var names []string
		for _, k := range ks {
			names = append(names, k.Name)
		}
		if diff := cmp.Diff(tt.want, names); diff != "" {
			t.Errorf("ListSealKeys(%s) (-want +got):\n%s", tt.name, diff)
		}
	}

	// Recipients of alice's messages: her live devices, the admin key, live
	// backups; never bob's device or a revoked key.
	if err := s.RevokeSealKey(ctx, phone.ID, t1); err != nil {
		t.Fatal(err)
	}
	rs, err := s.SealRecipients(ctx, alice.ID)
	if err != nil {
		t.Fatalf("SealRecipients: %v", err)
	}
	want := []string{laptop.Fingerprint, admin.Fingerprint, backup2.Fingerprint}
	if diff := cmp.Diff(want, fingerprintsOf(rs)); diff != "" {
		t.Errorf("SealRecipients(alice) (-want +got):\n%s", diff)
	}
	rs, err = s.SealRecipients(ctx, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{bobs.Fingerprint, admin.Fingerprint, backup2.Fingerprint}, fingerprintsOf(rs)); diff != "" {
		t.Errorf("SealRecipients(bob) (-want +got):\n%s", diff)
	}

	// A new admin key once the old one is revoked.
	if err := s.RevokeSealKey(ctx, admin.ID, t1); err != nil {
		t.Fatal(err)
	}
	admin2 := mustSealKey(t, s, fakeKey(store.SealKeyAdmin, nil, "admin2"))
	rs, err = s.SealRecipients(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{laptop.Fingerprint, backup2.Fingerprint, admin2.Fingerprint}, fingerprintsOf(rs)); diff != "" {
		t.Errorf("SealRecipients after a new admin key (-want +got):\n%s", diff)
	}
}

func sealed(role string, fps ...string) *store.SealedMessage {
	b := make([]byte, 64)
	rand.Read(b)
	return &store.SealedMessage{Role: role, Sealed: b, Recipients: fps}
}

func listAllMessages(t *testing.T, s store.Store, conv uuid.UUID) []store.SealedMessage {
	t.Helper()
	ms, err := s.ListMessages(t.Context(), conv, 0, 100000)
	if err != nil {
		t.Fatalf("ListMessages: %v", err)
	}
	return ms
}

func testConversations(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice", store.RoleUser)
	bob := mustUser(t, s, "bob", store.RoleUser)

	c := &store.Conversation{UserID: alice.ID, CreatedAt: past}
	if err := s.CreateConversation(ctx, c); err != nil {
		t.Fatalf("CreateConversation: %v", err)
	}
	if c.ID == uuid.Nil || !c.CreatedAt.Equal(norm(past)) {
		t.Errorf("CreateConversation wrote back %+v", c)
	}
	checkStored(t, "CreatedAt", c.CreatedAt)
	got, err := s.GetConversation(ctx, c.ID)
	if err != nil {
		t.Fatalf("GetConversation: %v", err)
	}
	if diff := cmp.Diff(c, got, opts); diff != "" {
		t.Errorf("GetConversation (-want +got):\n%s", diff)
	}
	c2 := &store.Conversation{UserID: alice.ID}
	cb := &store.Conversation{UserID: bob.ID}
	for _, x := range []*store.Conversation{c2, cb} {
		if err := s.CreateConversation(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	checkErr(t, "CreateConversation(missing user)", s.CreateConversation(ctx, &store.Conversation{UserID: uuid.New()}), store.ErrNotFound)
	checkErr(t, "CreateConversation(duplicate id)", s.CreateConversation(ctx, &store.Conversation{ID: c.ID, UserID: bob.ID}), store.ErrConflict)
	_, err = s.GetConversation(ctx, uuid.New())
	checkErr(t, "GetConversation(missing)", err, store.ErrNotFound)

	list, err := s.ListConversations(ctx, &alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.Conversation{*c, *c2}, list, opts); diff != "" {
		t.Errorf("ListConversations(alice) (-want +got):\n%s", diff)
	}
	list, err = s.ListConversations(ctx, nil)
	if err != nil || len(list) != 3 {
		t.Errorf("ListConversations(all): %d, %v; want 3", len(list), err)
	}

	// Messages are numbered from 1, in order, across appends.
	first := []*store.SealedMessage{sealed("user", "SHA256:a", "SHA256:b"), sealed("assistant", "SHA256:a", "SHA256:b")}
	first[0].CreatedAt = base
	if err := s.AppendMessages(ctx, c.ID, first); err != nil {
		t.Fatalf("AppendMessages: %v", err)
	}
	second := []*store.SealedMessage{sealed("user", "SHA256:a"), sealed("assistant", "SHA256:a")}
	if err := s.AppendMessages(ctx, c.ID, second); err != nil {
		t.Fatalf("AppendMessages: %v", err)
	}
	all := append(first, second...)
	for i, m := range all {
		if m.Seq != int64(i+1) || m.Version != 1 || m.ID == uuid.Nil || m.ConversationID != c.ID {
			t.Errorf("message %d written back as seq %d version %d id %s conversation %s", i, m.Seq, m.Version, m.ID, m.ConversationID)
		}
		checkStored(t, "message CreatedAt", m.CreatedAt)
	}
	if !first[0].CreatedAt.Equal(norm(base)) {
		t.Errorf("given CreatedAt not kept: %v", first[0].CreatedAt)
	}
	var want []store.SealedMessage
	for _, m := range all {
		want = append(want, *m)
	}
	if diff := cmp.Diff(want, listAllMessages(t, s, c.ID), opts); diff != "" {
		t.Errorf("ListMessages (-want +got):\n%s", diff)
	}
	page, err := s.ListMessages(ctx, c.ID, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[1:3], page, opts); diff != "" {
		t.Errorf("ListMessages(after 1, limit 2) (-want +got):\n%s", diff)
	}
	_, err = s.ListMessages(ctx, c.ID, 0, 0)
	checkErr(t, "ListMessages(limit 0)", err, errOther)
	if ms := listAllMessages(t, s, c2.ID); len(ms) != 0 {
		t.Errorf("another conversation has %d messages", len(ms))
	}

	// A bad batch leaves nothing behind, not even its good messages.
	for _, tt := range []struct {
		name string
		conv uuid.UUID
		ms   []*store.SealedMessage
		want error
	}{
		{"missing conversation", uuid.New(), []*store.SealedMessage{sealed("user", "SHA256:a")}, store.ErrNotFound},
		{"no recipients", c.ID, []*store.SealedMessage{sealed("user", "SHA256:a"), sealed("assistant")}, errOther},
		{"bad role", c.ID, []*store.SealedMessage{sealed("system", "SHA256:a")}, errOther},
		{"empty blob", c.ID, []*store.SealedMessage{{Role: "user", Recipients: []string{"SHA256:a"}}}, errOther},
		{"nil message", c.ID, []*store.SealedMessage{sealed("user", "SHA256:a"), nil}, errOther},
		{"blank fingerprint", c.ID, []*store.SealedMessage{sealed("user", "SHA256:a b")}, errOther},
	} {
		checkErr(t, "AppendMessages: "+tt.name, s.AppendMessages(ctx, tt.conv, tt.ms), tt.want)
	}
	if diff := cmp.Diff(want, listAllMessages(t, s, c.ID), opts); diff != "" {
		t.Errorf("after refused appends (-want +got):\n%s", diff)
	}

	// Resealing: compare-and-swap on the version.
	m := *first[0]
	m.Sealed, m.Recipients = []byte("new blob"), []string{"SHA256:c"}
	if err := s.ResealMessage(ctx, &m); err != nil {
		t.Fatalf("ResealMessage: %v", err)
	}
	if m.Version != 2 {
		t.Errorf("ResealMessage wrote back version %d, want 2", m.Version)
	}
	// Given only ID, conversation, version and the new blob, the rest is
	// written back.
	bare := store.SealedMessage{ID: m.ID, ConversationID: c.ID, Version: 2, Sealed: []byte("newer blob"), Recipients: []string{"SHA256:d"}}
	if err := s.ResealMessage(ctx, &bare); err != nil {
		t.Fatalf("ResealMessage: %v", err)
	}
	m.Version, m.Sealed, m.Recipients = 3, bare.Sealed, bare.Recipients
	if diff := cmp.Diff(m, bare, opts); diff != "" {
		t.Errorf("ResealMessage wrote back (-want +got):\n%s", diff)
	}
	stale := *first[0]
	stale.Sealed = []byte("stale")
	checkErr(t, "ResealMessage(stale version)", s.ResealMessage(ctx, &stale), store.ErrConflict)
	missing := m
	missing.ID = uuid.New()
	checkErr(t, "ResealMessage(missing)", s.ResealMessage(ctx, &missing), store.ErrNotFound)
	elsewhere := m
	elsewhere.ConversationID = c2.ID
	checkErr(t, "ResealMessage(in another conversation)", s.ResealMessage(ctx, &elsewhere), store.ErrNotFound)
	noRcpt := m
	noRcpt.Recipients = nil
	checkErr(t, "ResealMessage(no recipients)", s.ResealMessage(ctx, &noRcpt), errOther)
	want[0] = m
	if diff := cmp.Diff(want, listAllMessages(t, s, c.ID), opts); diff != "" {
		t.Errorf("after resealing (-want +got):\n%s", diff)
	}

	// Deleting a conversation deletes its messages only.
	if err := s.AppendMessages(ctx, c2.ID, []*store.SealedMessage{sealed("user", "SHA256:a")}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConversation(ctx, c.ID); err != nil {
		t.Fatalf("DeleteConversation: %v", err)
	}
	checkErr(t, "DeleteConversation again", s.DeleteConversation(ctx, c.ID), store.ErrNotFound)
	if ms := listAllMessages(t, s, c.ID); len(ms) != 0 {
		t.Errorf("deleted conversation still has %d messages", len(ms))
	}
	if ms := listAllMessages(t, s, c2.ID); len(ms) != 1 {
		t.Errorf("other conversation has %d messages, want 1", len(ms))
	}
	checkErr(t, "ResealMessage(deleted)", s.ResealMessage(ctx, &m), store.ErrNotFound)
}

// testSealedDeleteUser: deleting a user deletes their device keys and
// conversations, and nobody else's.
func testSealedDeleteUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice", store.RoleUser)
	bob := mustUser(t, s, "bob", store.RoleUser)
	dev := mustSealKey(t, s, fakeKey(store.SealKeyDevice, &alice.ID, "laptop"))
	bobDev := mustSealKey(t, s, fakeKey(store.SealKeyDevice, &bob.ID, "laptop"))
	backup := mustSealKey(t, s, fakeKey(store.SealKeyBackup, nil, "vault"))
	ca := &store.Conversation{UserID: alice.ID}
	cb := &store.Conversation{UserID: bob.ID}
	for _, c := range []*store.Conversation{ca, cb} {
		if err := s.CreateConversation(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendMessages(ctx, c.ID, []*store.SealedMessage{sealed("user", "SHA256:a")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetSealKey(ctx, dev.ID)
	checkErr(t, "device key of a deleted user", err, store.ErrNotFound)
	_, err = s.GetConversation(ctx, ca.ID)
	checkErr(t, "conversation of a deleted user", err, store.ErrNotFound)
	if ms := listAllMessages(t, s, ca.ID); len(ms) != 0 {
		t.Errorf("messages of a deleted user remain: %d", len(ms))
	}
	for _, id := range []uuid.UUID{bobDev.ID, backup.ID} {
		if _, err := s.GetSealKey(ctx, id); err != nil {
			t.Errorf("key %s gone with another user: %v", id, err)
		}
	}
	if ms := listAllMessages(t, s, cb.ID); len(ms) != 1 {
		t.Errorf("bob's messages: %d, want 1", len(ms))
	}
}

// testAppendConcurrent: concurrent appenders to one conversation get
// distinct, gapless sequence numbers.
func testAppendConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "alice", store.RoleUser)
	c := &store.Conversation{UserID: u.ID}
	if err := s.CreateConversation(ctx, c); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				pair := []*store.SealedMessage{sealed("user", "SHA256:a"), sealed("assistant", "SHA256:a")}
				pair[0].Sealed = []byte(fmt.Sprintf("w%d-%d", w, i))
				if err := s.AppendMessages(ctx, c.ID, pair); err != nil {
					errs <- err
					return
				}
				if pair[1].Seq != pair[0].Seq+1 {
					errs <- fmt.Errorf("a pair was split: seq %d and %d", pair[0].Seq, pair[1].Seq)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ms := listAllMessages(t, s, c.ID)
	var seqs []int64
	for _, m := range ms {
		seqs = append(seqs, m.Seq)
	}
	if len(seqs) != 2*workers*each || !slices.IsSorted(seqs) || seqs[0] != 1 || seqs[len(seqs)-1] != int64(len(seqs)) {
		t.Errorf("sequence numbers %v, want 1..%d", seqs, 2*workers*each)
	}
}
