package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := time.Now()

	// Assigned ID and CreatedAt are written back.
	carol := &store.User{Name: "carol", Role: store.RoleAdmin}
	if err := s.CreateUser(ctx, carol); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if carol.ID == uuid.Nil {
		t.Error("CreateUser did not assign an ID")
	}
	checkStored(t, "assigned CreatedAt", carol.CreatedAt)
	if carol.CreatedAt.Before(start.Truncate(time.Microsecond)) || carol.CreatedAt.After(time.Now()) {
		t.Errorf("assigned CreatedAt %v is not the time of the call", carol.CreatedAt)
	}

	// Given ID and CreatedAt are kept, the time normalised.
	bobID := uuid.New()
	bob := &store.User{ID: bobID, Name: "bob", Email: "bob@example.test", Role: store.RoleUser, CreatedAt: base, Disabled: true}
	if err := s.CreateUser(ctx, bob); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	want := store.User{ID: bobID, Name: "bob", Email: "bob@example.test", Role: store.RoleUser, CreatedAt: norm(base), Disabled: true}
	if diff := cmp.Diff(&want, bob, opts); diff != "" {
		t.Errorf("CreateUser wrote back (-want +got):\n%s", diff)
	}
	checkStored(t, "CreatedAt", bob.CreatedAt)

	// Names compare byte-wise.
	bobUpper := mustUser(t, s, "Bob", store.RoleUser)

	for _, u := range []*store.User{carol, bob, bobUpper} {
		got, err := s.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatalf("GetUser(%s): %v", u.Name, err)
		}
		if diff := cmp.Diff(u, got, opts); diff != "" {
			t.Errorf("GetUser(%s) (-want +got):\n%s", u.Name, diff)
		}
		checkStored(t, "GetUser CreatedAt", got.CreatedAt)
		got, err = s.GetUserByName(ctx, u.Name)
		if err != nil {
			t.Fatalf("GetUserByName(%s): %v", u.Name, err)
		}
		if diff := cmp.Diff(u, got, opts); diff != "" {
			t.Errorf("GetUserByName(%s) (-want +got):\n%s", u.Name, diff)
		}
	}

	list, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if diff := cmp.Diff([]store.User{*bobUpper, *bob, *carol}, list, opts); diff != "" {
		t.Errorf("ListUsers, by name (-want +got):\n%s", diff)
	}

	// UpdateUser changes role, email and disabled, and nothing else.
	upd := *bob
	upd.Role, upd.Email, upd.Disabled = store.RoleAdmin, "", false
	upd.Name, upd.CreatedAt = "robert", base.Add(time.Hour)
	if err := s.UpdateUser(ctx, &upd); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	want = *bob
	want.Role, want.Email, want.Disabled = store.RoleAdmin, "", false
	got, err := s.GetUser(ctx, bob.ID)
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if diff := cmp.Diff(&want, got, opts); diff != "" {
		t.Errorf("after UpdateUser (-want +got):\n%s", diff)
	}

	if err := s.DeleteUser(ctx, bob.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.GetUser(ctx, bob.ID); !isNotFound(err) {
		t.Errorf("GetUser after DeleteUser: %v, want ErrNotFound", err)
	}
	list, err = s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if diff := cmp.Diff([]store.User{*bobUpper, *carol}, list, opts); diff != "" {
		t.Errorf("ListUsers after DeleteUser (-want +got):\n%s", diff)
	}
}

func testUserErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice", store.RoleAdmin)
	missing := uuid.New()

	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"CreateUser duplicate name", func() error {
			return s.CreateUser(ctx, &store.User{Name: "alice", Role: store.RoleUser})
		}, store.ErrConflict},
		{"CreateUser duplicate ID", func() error {
			return s.CreateUser(ctx, &store.User{ID: alice.ID, Name: "alice2", Role: store.RoleUser})
		}, store.ErrConflict},
		{"CreateUser bad role", func() error {
			return s.CreateUser(ctx, &store.User{Name: "root", Role: "root"})
		}, errOther},
		{"CreateUser empty name", func() error {
			return s.CreateUser(ctx, &store.User{Name: "", Role: store.RoleUser})
		}, errOther},
		{"CreateUser nil", func() error { return s.CreateUser(ctx, nil) }, errOther},
		{"GetUser missing", func() error { _, err := s.GetUser(ctx, missing); return err }, store.ErrNotFound},
		{"GetUserByName missing", func() error { _, err := s.GetUserByName(ctx, "nobody"); return err }, store.ErrNotFound},
		{"GetUserByName other case", func() error { _, err := s.GetUserByName(ctx, "ALICE"); return err }, store.ErrNotFound},
		{"UpdateUser missing", func() error {
			return s.UpdateUser(ctx, &store.User{ID: missing, Name: "x", Role: store.RoleUser})
		}, store.ErrNotFound},
		{"UpdateUser bad role", func() error {
			u := *alice
			u.Role = "root"
			return s.UpdateUser(ctx, &u)
		}, errOther},
		{"UpdateUser nil", func() error { return s.UpdateUser(ctx, nil) }, errOther},
		{"DeleteUser missing", func() error { return s.DeleteUser(ctx, missing) }, store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.name, tt.op(), tt.want)
		})
	}

	// None of the failures left a trace.
	list, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if diff := cmp.Diff([]store.User{*alice}, list, opts); diff != "" {
		t.Errorf("users after failed calls (-want +got):\n%s", diff)
	}

	// A failed create does not write back into its argument.
	u := &store.User{Name: "alice", Role: store.RoleUser}
	if err := s.CreateUser(ctx, u); !isConflict(err) {
		t.Fatalf("CreateUser duplicate: %v, want ErrConflict", err)
	}
	if u.ID != uuid.Nil || !u.CreatedAt.IsZero() {
		t.Errorf("failed CreateUser wrote back ID %s, CreatedAt %v", u.ID, u.CreatedAt)
	}
}

func testCountAdmins(t *testing.T, s store.Store) {
	ctx := t.Context()
	var admin, user, disabled *store.User
	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"empty", func() {}, 0},
		{"one admin", func() { admin = mustUser(t, s, "admin", store.RoleAdmin) }, 1},
		{"plus a user", func() { user = mustUser(t, s, "user", store.RoleUser) }, 1},
		{"plus a disabled admin", func() {
			disabled = &store.User{Name: "disabled", Role: store.RoleAdmin, Disabled: true}
			if err := s.CreateUser(ctx, disabled); err != nil {
				t.Fatal(err)
			}
		}, 1},
		{"user promoted", func() {
			user.Role = store.RoleAdmin
			if err := s.UpdateUser(ctx, user); err != nil {
				t.Fatal(err)
			}
		}, 2},
		{"admin disabled", func() {
			admin.Disabled = true
			if err := s.UpdateUser(ctx, admin); err != nil {
				t.Fatal(err)
			}
		}, 1},
		{"disabled admin enabled", func() {
			disabled.Disabled = false
			if err := s.UpdateUser(ctx, disabled); err != nil {
				t.Fatal(err)
			}
		}, 2},
		{"promoted user deleted", func() {
			if err := s.DeleteUser(ctx, user.ID); err != nil {
				t.Fatal(err)
			}
		}, 1},
	}
	for _, st := range steps {
		st.do()
		n, err := s.CountAdmins(ctx)
		if err != nil {
			t.Fatalf("%s: CountAdmins: %v", st.name, err)
		}
		if n != st.want {
			t.Errorf("%s: CountAdmins = %d, want %d", st.name, n, st.want)
		}
	}
}

func testAPIKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice", store.RoleUser)
	bob := mustUser(t, s, "bob", store.RoleUser)
	start := time.Now()

	k1 := &store.APIKey{UserID: alice.ID, Name: "laptop", Prefix: "sk-abcd", Hash: randomHash(t)}
	if err := s.CreateAPIKey(ctx, k1); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if k1.ID == uuid.Nil {
		t.Error("CreateAPIKey did not assign an ID")
	}
	checkStored(t, "assigned CreatedAt", k1.CreatedAt)
	if k1.CreatedAt.Before(start.Truncate(time.Microsecond)) || k1.CreatedAt.After(time.Now()) {
		t.Errorf("assigned CreatedAt %v is not the time of the call", k1.CreatedAt)
	}
	if k1.LastUsedAt != nil || k1.RevokedAt != nil {
		t.Errorf("new key has LastUsedAt %v, RevokedAt %v", k1.LastUsedAt, k1.RevokedAt)
	}

	// Explicit times, after the first key's (base is in the future).
	k2 := mustKey(t, s, alice.ID, "ci", base.Add(-2*time.Hour))
	k3 := mustKey(t, s, bob.ID, "phone", base.Add(-time.Hour))
	if !k2.CreatedAt.Equal(norm(base.Add(-2 * time.Hour))) {
		t.Errorf("CreatedAt written back as %v, want %v", k2.CreatedAt, norm(base.Add(-2*time.Hour)))
	}

	for _, k := range []*store.APIKey{k1, k2, k3} {
		got, err := s.GetAPIKey(ctx, k.ID)
		if err != nil {
			t.Fatalf("GetAPIKey(%s): %v", k.Name, err)
		}
		if diff := cmp.Diff(k, got, opts); diff != "" {
			t.Errorf("GetAPIKey(%s) (-want +got):\n%s", k.Name, diff)
		}
		got, err = s.GetAPIKeyByHash(ctx, k.Hash)
		if err != nil {
			t.Fatalf("GetAPIKeyByHash(%s): %v", k.Name, err)
		}
		if diff := cmp.Diff(k, got, opts); diff != "" {
			t.Errorf("GetAPIKeyByHash(%s) (-want +got):\n%s", k.Name, diff)
		}
	}

	nobody := uuid.New()
	lists := []struct {
		name   string
		userID *uuid.UUID
		want   []store.APIKey
	}{
		{"all", nil, []store.APIKey{*k1, *k2, *k3}},
		{"alice", &alice.ID, []store.APIKey{*k1, *k2}},
		{"bob", &bob.ID, []store.APIKey{*k3}},
		{"unknown user", &nobody, nil},
	}
	for _, tt := range lists {
		t.Run("List/"+tt.name, func(t *testing.T) {
			got, err := s.ListAPIKeys(ctx, tt.userID)
			if err != nil {
				t.Fatalf("ListAPIKeys: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("ListAPIKeys, oldest first (-want +got):\n%s", diff)
			}
		})
	}
}

func testAPIKeyErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice", store.RoleUser)
	k := mustKey(t, s, alice.ID, "laptop", base)
	missing := uuid.New()

	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"CreateAPIKey unknown user", func() error {
			return s.CreateAPIKey(ctx, &store.APIKey{UserID: missing, Name: "x", Prefix: "sk-x", Hash: randomHash(t)})
		}, store.ErrNotFound},
		{"CreateAPIKey duplicate hash", func() error {
			return s.CreateAPIKey(ctx, &store.APIKey{UserID: alice.ID, Name: "x", Prefix: "sk-x", Hash: bytes.Clone(k.Hash)})
		}, store.ErrConflict},
		{"CreateAPIKey duplicate ID", func() error {
			return s.CreateAPIKey(ctx, &store.APIKey{ID: k.ID, UserID: alice.ID, Name: "x", Prefix: "sk-x", Hash: randomHash(t)})
		}, store.ErrConflict},
		{"CreateAPIKey short hash", func() error {
			return s.CreateAPIKey(ctx, &store.APIKey{UserID: alice.ID, Name: "x", Prefix: "sk-x", Hash: randomHash(t)[:31]})
		}, errOther},
		{"CreateAPIKey no hash", func() error {
			return s.CreateAPIKey(ctx, &store.APIKey{UserID: alice.ID, Name: "x", Prefix: "sk-x"})
		}, errOther},
		{"CreateAPIKey nil", func() error { return s.CreateAPIKey(ctx, nil) }, errOther},
		{"GetAPIKey missing", func() error { _, err := s.GetAPIKey(ctx, missing); return err }, store.ErrNotFound},
		{"GetAPIKeyByHash unknown", func() error { _, err := s.GetAPIKeyByHash(ctx, randomHash(t)); return err }, store.ErrNotFound},
		{"GetAPIKeyByHash empty", func() error { _, err := s.GetAPIKeyByHash(ctx, nil); return err }, store.ErrNotFound},
		{"RevokeAPIKey missing", func() error { return s.RevokeAPIKey(ctx, missing, base) }, store.ErrNotFound},
		{"TouchAPIKey missing", func() error { return s.TouchAPIKey(ctx, missing, base) }, store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.name, tt.op(), tt.want)
		})
	}
	keys, err := s.ListAPIKeys(ctx, nil)
	if err != nil {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	if diff := cmp.Diff([]store.APIKey{*k}, keys, opts); diff != "" {
		t.Errorf("keys after failed calls (-want +got):\n%s", diff)
	}
}

func testRevokedKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice", store.RoleUser)
	k := mustKey(t, s, alice.ID, "laptop", base)
	other := mustKey(t, s, alice.ID, "phone", base.Add(time.Second))

	first := base.Add(time.Hour)
	if err := s.RevokeAPIKey(ctx, k.ID, first); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	// Revoking again keeps the first time.
	if err := s.RevokeAPIKey(ctx, k.ID, first.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeAPIKey again: %v", err)
	}
	want := *k
	want.RevokedAt = ptr(norm(first))

	got, err := s.GetAPIKey(ctx, k.ID)
	if err != nil {
		t.Fatalf("GetAPIKey: %v", err)
	}
	if diff := cmp.Diff(&want, got, opts); diff != "" {
		t.Errorf("GetAPIKey of revoked key (-want +got):\n%s", diff)
	}
	checkStored(t, "RevokedAt", *got.RevokedAt)
	// The authenticator finds revoked keys by hash and must see they are revoked.
	got, err = s.GetAPIKeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatalf("GetAPIKeyByHash of revoked key: %v", err)
	}
	if diff := cmp.Diff(&want, got, opts); diff != "" {
		t.Errorf("GetAPIKeyByHash of revoked key (-want +got):\n%s", diff)
	}
	list, err := s.ListAPIKeys(ctx, &alice.ID)
	if err != nil {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	if diff := cmp.Diff([]store.APIKey{want, *other}, list, opts); diff != "" {
		t.Errorf("ListAPIKeys lists revoked keys too (-want +got):\n%s", diff)
	}
}

func testTouchAPIKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice", store.RoleUser)
	k := mustKey(t, s, alice.ID, "laptop", base)
	other := mustKey(t, s, alice.ID, "phone", base)

	steps := []struct {
		at   time.Time
		want time.Time
	}{
		{base.Add(time.Minute), base.Add(time.Minute)},
		{base.Add(time.Second), base.Add(time.Minute)}, // older: ignored
		{base.Add(time.Hour + time.Nanosecond), base.Add(time.Hour)},
		{base.Add(time.Hour), base.Add(time.Hour)},
	}
	for i, st := range steps {
		if err := s.TouchAPIKey(ctx, k.ID, st.at); err != nil {
			t.Fatalf("step %d: TouchAPIKey: %v", i, err)
		}
		got, err := s.GetAPIKey(ctx, k.ID)
		if err != nil {
			t.Fatalf("step %d: GetAPIKey: %v", i, err)
		}
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(norm(st.want)) {
			t.Errorf("step %d: LastUsedAt = %v, want %v", i, got.LastUsedAt, norm(st.want))
		} else {
			checkStored(t, "LastUsedAt", *got.LastUsedAt)
		}
	}
	got, err := s.GetAPIKey(ctx, other.ID)
	if err != nil {
		t.Fatalf("GetAPIKey: %v", err)
	}
	if got.LastUsedAt != nil {
		t.Errorf("touching one key set LastUsedAt %v on another", got.LastUsedAt)
	}
}

// sortedByID returns users ordered as UsageTotals orders them.
func sortedByID(us ...*store.User) []*store.User {
	us = slices.Clone(us)
	slices.SortFunc(us, func(a, b *store.User) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return us
}
