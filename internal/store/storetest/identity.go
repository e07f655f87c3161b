package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

// Identity (issue 4): passkeys, challenges, sessions, TOTP, invitations.

func testPasskeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "pia", store.RoleUser)
	p := &store.Passkey{UserID: u.ID, CredentialID: []byte{1, 2, 3}, Name: "phone", Credential: []byte(`{"k":1}`), CreatedAt: base}
	checkErr(t, "CreatePasskey", s.CreatePasskey(ctx, p), nil)
	checkStored(t, "CreatedAt", p.CreatedAt)
	got, err := s.GetPasskeyByCredentialID(ctx, []byte{1, 2, 3})
	checkErr(t, "GetPasskeyByCredentialID", err, nil)
	if diff := cmp.Diff(p, got, opts); diff != "" {
		t.Errorf("stored passkey differs (-want +got):\n%s", diff)
	}
	dup := &store.Passkey{UserID: u.ID, CredentialID: []byte{1, 2, 3}, Name: "again", Credential: []byte("x")}
	checkErr(t, "CreatePasskey duplicate credential", s.CreatePasskey(ctx, dup), store.ErrConflict)
	ghost := &store.Passkey{UserID: p.ID, CredentialID: []byte{9}, Name: "ghost", Credential: []byte("x")}
	checkErr(t, "CreatePasskey unknown user", s.CreatePasskey(ctx, ghost), store.ErrNotFound)
	checkErr(t, "CreatePasskey empty credential id", s.CreatePasskey(ctx, &store.Passkey{UserID: u.ID, Credential: []byte("x")}), errOther)
	_, err = s.GetPasskeyByCredentialID(ctx, []byte{7})
	checkErr(t, "GetPasskeyByCredentialID unknown", err, store.ErrNotFound)

	used := base.Add(time.Hour)
	checkErr(t, "UpdatePasskeyUse", s.UpdatePasskeyUse(ctx, p.ID, []byte(`{"k":2}`), used), nil)
	checkErr(t, "UpdatePasskeyUse older", s.UpdatePasskeyUse(ctx, p.ID, []byte(`{"k":3}`), base), nil)
	checkErr(t, "UpdatePasskeyUse unknown", s.UpdatePasskeyUse(ctx, u.ID, []byte("x"), used), store.ErrNotFound)
	list, err := s.ListPasskeys(ctx, u.ID)
	checkErr(t, "ListPasskeys", err, nil)
	if len(list) != 1 || string(list[0].Credential) != `{"k":3}` || list[0].LastUsedAt == nil || !list[0].LastUsedAt.Equal(norm(used)) {
		t.Errorf("after two uses: %+v; want the last credential and the later time", list)
	}
	byID, err := s.GetPasskey(ctx, p.ID)
	checkErr(t, "GetPasskey", err, nil)
	if len(list) == 1 {
		if diff := cmp.Diff(&list[0], byID, opts); diff != "" {
			t.Errorf("GetPasskey differs from the list (-list +get):\n%s", diff)
		}
	}
	checkErr(t, "DeletePasskey", s.DeletePasskey(ctx, p.ID), nil)
	checkErr(t, "DeletePasskey again", s.DeletePasskey(ctx, p.ID), store.ErrNotFound)
	_, err = s.GetPasskey(ctx, p.ID)
	checkErr(t, "GetPasskey deleted", err, store.ErrNotFound)
}

func testChallenges(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	c := &store.Challenge{Hash: randomHash(t), Kind: "login", Data: []byte("state"), ExpiresAt: now.Add(time.Minute)}
	checkErr(t, "PutChallenge", s.PutChallenge(ctx, c), nil)
	checkErr(t, "PutChallenge duplicate", s.PutChallenge(ctx, c), store.ErrConflict)
	checkErr(t, "PutChallenge short hash", s.PutChallenge(ctx, &store.Challenge{Hash: []byte{1}, ExpiresAt: now}), errOther)
	got, err := s.TakeChallenge(ctx, c.Hash, now)
	checkErr(t, "TakeChallenge", err, nil)
	if err == nil && (got.Kind != "login" || string(got.Data) != "state" || !got.ExpiresAt.Equal(norm(c.ExpiresAt))) {
		t.Errorf("TakeChallenge = %+v", got)
	}
	_, err = s.TakeChallenge(ctx, c.Hash, now)
	checkErr(t, "TakeChallenge twice", err, store.ErrNotFound)

	old := &store.Challenge{Hash: randomHash(t), Kind: "login", Data: []byte("s"), ExpiresAt: now.Add(time.Minute)}
	checkErr(t, "PutChallenge", s.PutChallenge(ctx, old), nil)
	_, err = s.TakeChallenge(ctx, old.Hash, now.Add(2*time.Minute))
	checkErr(t, "TakeChallenge expired", err, store.ErrNotFound)

	// Of concurrent takes, one wins.
	race := &store.Challenge{Hash: randomHash(t), Kind: "login", Data: []byte("s"), ExpiresAt: now.Add(time.Minute)}
	checkErr(t, "PutChallenge", s.PutChallenge(ctx, race), nil)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range 8 {
		wg.Go(func() {
			if _, err := s.TakeChallenge(ctx, race.Hash, now); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent takes succeeded, want 1", wins)
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "sam", store.RoleUser)
	v := mustUser(t, s, "val", store.RoleUser)
	future := time.Now().Add(time.Hour)
	a := &store.Session{UserID: u.ID, Hash: randomHash(t), Restricted: true, CreatedAt: base, ExpiresAt: future}
	checkErr(t, "CreateSession", s.CreateSession(ctx, a), nil)
	checkStored(t, "LastSeenAt", a.LastSeenAt)
	got, err := s.GetSessionByHash(ctx, a.Hash)
	checkErr(t, "GetSessionByHash", err, nil)
	if diff := cmp.Diff(a, got, opts); diff != "" {
		t.Errorf("stored session differs (-want +got):\n%s", diff)
	}
	checkErr(t, "CreateSession duplicate hash", s.CreateSession(ctx, &store.Session{UserID: u.ID, Hash: a.Hash, ExpiresAt: future}), store.ErrConflict)
	checkErr(t, "CreateSession unknown user", s.CreateSession(ctx, &store.Session{UserID: a.ID, Hash: randomHash(t), ExpiresAt: future}), store.ErrNotFound)
	b := &store.Session{UserID: u.ID, Hash: randomHash(t), CreatedAt: base.Add(time.Second), ExpiresAt: future}
	c := &store.Session{UserID: v.ID, Hash: randomHash(t), ExpiresAt: future}
	checkErr(t, "CreateSession", s.CreateSession(ctx, b), nil)
	checkErr(t, "CreateSession", s.CreateSession(ctx, c), nil)

	later := base.Add(time.Hour)
	checkErr(t, "TouchSession", s.TouchSession(ctx, a.ID, later), nil)
	checkErr(t, "TouchSession older", s.TouchSession(ctx, a.ID, base), nil)
	checkErr(t, "ElevateSession", s.ElevateSession(ctx, a.ID), nil)
	got, _ = s.GetSessionByHash(ctx, a.Hash)
	if got == nil || got.Restricted || !got.LastSeenAt.Equal(norm(later)) {
		t.Errorf("after touch and elevate: %+v", got)
	}
	list, err := s.ListSessions(ctx, u.ID)
	checkErr(t, "ListSessions", err, nil)
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Errorf("ListSessions = %+v, want a then b", list)
	}
	checkErr(t, "DeleteSession", s.DeleteSession(ctx, b.ID), nil)
	checkErr(t, "DeleteSession again", s.DeleteSession(ctx, b.ID), store.ErrNotFound)
	checkErr(t, "TouchSession deleted", s.TouchSession(ctx, b.ID, later), store.ErrNotFound)
	n, err := s.DeleteUserSessions(ctx, u.ID)
	checkErr(t, "DeleteUserSessions", err, nil)
	if n != 1 {
		t.Errorf("DeleteUserSessions removed %d, want 1", n)
	}
	if _, err := s.GetSessionByHash(ctx, c.Hash); err != nil {
		t.Errorf("another user's session went too: %v", err)
	}
	// Deleting a user deletes their sessions, passkeys and TOTP.
	checkErr(t, "PutTOTP", s.PutTOTP(ctx, &store.TOTP{UserID: v.ID, Secret: "JBSWY3DPEHPK3PXP"}), nil)
	checkErr(t, "CreatePasskey", s.CreatePasskey(ctx, &store.Passkey{UserID: v.ID, CredentialID: []byte("v"), Name: "k", Credential: []byte("x")}), nil)
	checkErr(t, "DeleteUser", s.DeleteUser(ctx, v.ID), nil)
	_, err = s.GetSessionByHash(ctx, c.Hash)
	checkErr(t, "session of a deleted user", err, store.ErrNotFound)
	_, err = s.GetTOTP(ctx, v.ID)
	checkErr(t, "TOTP of a deleted user", err, store.ErrNotFound)
	_, err = s.GetPasskeyByCredentialID(ctx, []byte("v"))
	checkErr(t, "passkey of a deleted user", err, store.ErrNotFound)
}

func testTOTP(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "tia", store.RoleUser)
	_, err := s.GetTOTP(ctx, u.ID)
	checkErr(t, "GetTOTP unset", err, store.ErrNotFound)
	checkErr(t, "UseTOTPStep unset", s.UseTOTPStep(ctx, u.ID, 5), store.ErrNotFound)
	checkErr(t, "PutTOTP unknown user", s.PutTOTP(ctx, &store.TOTP{UserID: uuid.New(), Secret: "AAAA"}), store.ErrNotFound)
	x := &store.TOTP{UserID: u.ID, Secret: "JBSWY3DPEHPK3PXP"}
	checkErr(t, "PutTOTP", s.PutTOTP(ctx, x), nil)
	x.ConfirmedAt = ptr(base)
	checkErr(t, "PutTOTP confirm", s.PutTOTP(ctx, x), nil)
	got, err := s.GetTOTP(ctx, u.ID)
	checkErr(t, "GetTOTP", err, nil)
	if diff := cmp.Diff(x, got, opts); diff != "" {
		t.Errorf("stored TOTP differs (-want +got):\n%s", diff)
	}
	checkErr(t, "UseTOTPStep", s.UseTOTPStep(ctx, u.ID, 100), nil)
	checkErr(t, "UseTOTPStep replay", s.UseTOTPStep(ctx, u.ID, 100), store.ErrConflict)
	checkErr(t, "UseTOTPStep older", s.UseTOTPStep(ctx, u.ID, 99), store.ErrConflict)
	checkErr(t, "UseTOTPStep next", s.UseTOTPStep(ctx, u.ID, 101), nil)
	checkErr(t, "DeleteTOTP", s.DeleteTOTP(ctx, u.ID), nil)
	checkErr(t, "DeleteTOTP again", s.DeleteTOTP(ctx, u.ID), store.ErrNotFound)
	_, err = s.GetTOTP(ctx, u.ID)
	checkErr(t, "GetTOTP deleted", err, store.ErrNotFound)
}

func testInvitations(t *testing.T, s store.Store) {
	ctx := t.Context()
	admin := mustUser(t, s, "ada", store.RoleAdmin)
	inv := &store.Invitation{Hash: randomHash(t), Email: "new@example.test", Role: store.RoleUser, CreatedBy: &admin.ID,
		CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	checkErr(t, "CreateInvitation", s.CreateInvitation(ctx, inv), nil)
	checkErr(t, "CreateInvitation duplicate", s.CreateInvitation(ctx, &store.Invitation{Hash: inv.Hash, Role: store.RoleUser, ExpiresAt: base}), store.ErrConflict)
	got, err := s.GetInvitationByHash(ctx, inv.Hash)
	checkErr(t, "GetInvitationByHash", err, nil)
	if diff := cmp.Diff(inv, got, opts); diff != "" {
		t.Errorf("stored invitation differs (-want +got):\n%s", diff)
	}
	u := &store.User{Name: "newbie", Email: inv.Email, Role: store.RoleUser}
	pk := &store.Passkey{CredentialID: []byte("nb"), Name: "laptop", Credential: []byte("x")}
	checkErr(t, "AcceptInvitation", s.AcceptInvitation(ctx, inv.ID, u, pk, base.Add(time.Minute)), nil)
	if pk.UserID != u.ID {
		t.Errorf("passkey user %s, want %s", pk.UserID, u.ID)
	}
	got, _ = s.GetInvitationByHash(ctx, inv.Hash)
	if got == nil || got.UsedAt == nil || got.UserID == nil || *got.UserID != u.ID {
		t.Errorf("accepted invitation = %+v", got)
	}
	if _, err := s.GetPasskeyByCredentialID(ctx, []byte("nb")); err != nil {
		t.Errorf("the passkey was not stored: %v", err)
	}
	// Used twice: refused, and nothing is created.
	u2 := &store.User{Name: "second", Role: store.RoleUser}
	pk2 := &store.Passkey{CredentialID: []byte("nb2"), Name: "laptop", Credential: []byte("x")}
	checkErr(t, "AcceptInvitation twice", s.AcceptInvitation(ctx, inv.ID, u2, pk2, base), store.ErrConflict)
	if _, err := s.GetUserByName(ctx, "second"); err == nil {
		t.Error("a second acceptance created a user")
	}
	checkErr(t, "AcceptInvitation unknown", s.AcceptInvitation(ctx, admin.ID, u2, pk2, base), store.ErrNotFound)
	// A taken name rolls the whole acceptance back: the invitation stays open.
	inv2 := &store.Invitation{Hash: randomHash(t), Role: store.RoleUser, CreatedAt: base.Add(time.Second), ExpiresAt: base.Add(time.Hour)}
	checkErr(t, "CreateInvitation", s.CreateInvitation(ctx, inv2), nil)
	checkErr(t, "AcceptInvitation taken name", s.AcceptInvitation(ctx, inv2.ID, &store.User{Name: "newbie", Role: store.RoleUser}, pk2, base), store.ErrConflict)
	got, _ = s.GetInvitationByHash(ctx, inv2.Hash)
	if got == nil || got.UsedAt != nil {
		t.Errorf("failed acceptance left the invitation used: %+v", got)
	}
	list, err := s.ListInvitations(ctx)
	checkErr(t, "ListInvitations", err, nil)
	if len(list) != 2 || list[0].ID != inv.ID {
		t.Errorf("ListInvitations = %+v", list)
	}
	// Deleting the creator keeps the invitation.
	checkErr(t, "DeleteUser", s.DeleteUser(ctx, admin.ID), nil)
	got, err = s.GetInvitationByHash(ctx, inv.Hash)
	checkErr(t, "GetInvitationByHash after creator deleted", err, nil)
	if got != nil && got.CreatedBy != nil {
		t.Errorf("CreatedBy = %v after the creator was deleted, want nil", got.CreatedBy)
	}
}
