package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/silo-ai/silo/internal/store"
)

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
func isConflict(err error) bool { return errors.Is(err, store.ErrConflict) }

func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	binary := []byte{0, 1, 2, 0xfe, 0xff, 0}
	steps := []struct {
		name    string
		do      func() error
		doWant  error
		key     string
		want    []byte
		wantErr error
	}{
		{"unset", nil, nil, "a", nil, store.ErrNotFound},
		{"set", func() error { return s.SetSetting(ctx, "a", []byte("1")) }, nil, "a", []byte("1"), nil},
		{"overwrite", func() error { return s.SetSetting(ctx, "a", []byte("two")) }, nil, "a", []byte("two"), nil},
		{"binary", func() error { return s.SetSetting(ctx, "bin", binary) }, nil, "bin", binary, nil},
		{"empty value", func() error { return s.SetSetting(ctx, "empty", nil) }, nil, "empty", []byte{}, nil},
		{"other keys untouched", nil, nil, "a", []byte("two"), nil},
		{"delete", func() error { return s.DeleteSetting(ctx, "a") }, nil, "a", nil, store.ErrNotFound},
		{"delete again", func() error { return s.DeleteSetting(ctx, "a") }, store.ErrNotFound, "a", nil, store.ErrNotFound},
		{"delete never set", func() error { return s.DeleteSetting(ctx, "never") }, store.ErrNotFound, "never", nil, store.ErrNotFound},
		{"set after delete", func() error { return s.SetSetting(ctx, "a", []byte("3")) }, nil, "a", []byte("3"), nil},
		{"binary kept", nil, nil, "bin", binary, nil},
		{"empty kept", nil, nil, "empty", []byte{}, nil},
	}
	for _, st := range steps {
		if st.do != nil {
			checkErr(t, st.name, st.do(), st.doWant)
		}
		got, err := s.GetSetting(ctx, st.key)
		checkErr(t, st.name+": GetSetting", err, st.wantErr)
		if diff := cmp.Diff(st.want, got, opts); diff != "" {
			t.Errorf("%s: GetSetting(%q) (-want +got):\n%s", st.name, st.key, diff)
		}
	}
	// A caller may keep and modify what it passed or got.
	v := []byte("mutable")
	if err := s.SetSetting(ctx, "m", v); err != nil {
		t.Fatal(err)
	}
	v[0] = 'X'
	got, err := s.GetSetting(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "mutable" {
		t.Errorf("GetSetting = %q after the caller changed its slice, want %q", got, "mutable")
	}
}

func testSettingsDeleteOnce(t *testing.T, s store.Store) {
	deleteOnce(t, []store.Store{s})
}

// deleteOnce checks that of many concurrent deletes of one setting, exactly
// one succeeds: the one-time bootstrap token is spent once.
func deleteOnce(t *testing.T, handles []store.Store) {
	ctx := t.Context()
	for round := range 3 {
		key := fmt.Sprintf("token.%d", round)
		if err := handles[0].SetSetting(ctx, key, []byte("hash")); err != nil {
			t.Fatalf("SetSetting: %v", err)
		}
		var ok, notFound atomic.Int32
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				err := handles[i%len(handles)].DeleteSetting(ctx, key)
				switch {
				case err == nil:
					ok.Add(1)
				case isNotFound(err):
					notFound.Add(1)
				default:
					t.Errorf("DeleteSetting: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || notFound.Load() != 9 {
			t.Errorf("round %d: %d deletes succeeded and %d found nothing, want 1 and 9", round, ok.Load(), notFound.Load())
		}
	}
}

func testDeleteUserCascade(t *testing.T, s store.Store) {
	ctx := t.Context()
	gone := mustUser(t, s, "gone", store.RoleUser)
	stays := mustUser(t, s, "stays", store.RoleUser)
	goneKeys := []*store.APIKey{mustKey(t, s, gone.ID, "k1", base), mustKey(t, s, gone.ID, "k2", base.Add(time.Second))}
	staysKey := mustKey(t, s, stays.ID, "k3", base.Add(2*time.Second))
	for _, l := range []*store.Limits{{UserID: gone.ID, TokensPerDay: 10}, {UserID: stays.ID, TokensPerDay: 20}} {
		if err := s.SetLimits(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	staysLimits, err := s.GetLimits(ctx, stays.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*store.Usage{
		{UserID: gone.ID, KeyID: &goneKeys[0].ID, Model: "m", PromptTokens: 4, CompletionTokens: 1, CreatedAt: base},
		{UserID: stays.ID, KeyID: &staysKey.ID, Model: "m", PromptTokens: 2, CompletionTokens: 1, CreatedAt: base},
	} {
		if err := s.RecordUsage(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	entry := appendLink(t, s, &gone.ID, "user.delete", norm(base), nil)

	if err := s.DeleteUser(ctx, gone.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}

	// Keys and limits go with the user.
	for _, k := range goneKeys {
		if _, err := s.GetAPIKey(ctx, k.ID); !isNotFound(err) {
			t.Errorf("GetAPIKey of a deleted user's key: %v, want ErrNotFound", err)
		}
		if _, err := s.GetAPIKeyByHash(ctx, k.Hash); !isNotFound(err) {
			t.Errorf("GetAPIKeyByHash of a deleted user's key: %v, want ErrNotFound", err)
		}
	}
	keys, err := s.ListAPIKeys(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.APIKey{*staysKey}, keys, opts); diff != "" {
		t.Errorf("keys after DeleteUser (-want +got):\n%s", diff)
	}
	if _, err := s.GetLimits(ctx, gone.ID); !isNotFound(err) {
		t.Errorf("GetLimits of a deleted user: %v, want ErrNotFound", err)
	}
	if got, err := s.GetLimits(ctx, stays.ID); err != nil || !cmp.Equal(staysLimits, got, opts) {
		t.Errorf("another user's limits after DeleteUser: %+v, %v; want %+v", got, err, staysLimits)
	}

	// Usage stays, with the user's ID, for accounting.
	totals, err := s.UsageTotals(ctx, store.UsageFilter{UserID: &gone.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.UsageTotal{{UserID: gone.ID, Model: "m", Requests: 1, PromptTokens: 4, CompletionTokens: 1}}
	if diff := cmp.Diff(want, totals, opts); diff != "" {
		t.Errorf("usage of a deleted user (-want +got):\n%s", diff)
	}
	if n, err := s.TokensUsed(ctx, gone.ID, time.Time{}); err != nil || n != 5 {
		t.Errorf("TokensUsed of a deleted user = %d, %v; want 5", n, err)
	}
	// ... but no new usage is recorded for them.
	if err := s.RecordUsage(ctx, &store.Usage{UserID: gone.ID, Model: "m", PromptTokens: 1}); !isNotFound(err) {
		t.Errorf("RecordUsage for a deleted user: %v, want ErrNotFound", err)
	}

	// The audit chain is never touched.
	if diff := cmp.Diff([]store.AuditEntry{*entry}, listAllAudit(t, s), opts); diff != "" {
		t.Errorf("audit after DeleteUser (-want +got):\n%s", diff)
	}

	// The name is free again, for a new account with nothing of the old one.
	again := mustUser(t, s, "gone", store.RoleUser)
	if again.ID == gone.ID {
		t.Fatal("new user got the deleted user's ID")
	}
	if keys, err := s.ListAPIKeys(ctx, &again.ID); err != nil || len(keys) != 0 {
		t.Errorf("new user's keys = %v, %v; want none", keys, err)
	}
	if l, err := s.GetLimits(ctx, again.ID); err != nil || !cmp.Equal(&store.Limits{UserID: again.ID}, l, opts) {
		t.Errorf("new user's limits = %+v, %v; want zero", l, err)
	}
}

func testTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	tests := []struct {
		name string
		in   time.Time
	}{
		{"nanoseconds in a zone", base},
		{"just before the epoch", time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"the epoch", time.Unix(0, 0)},
		{"far future", time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.FixedZone("W", -7*3600))},
		{"year 1000", time.Date(1000, 1, 1, 0, 0, 0, 1, time.UTC)},
		{"local zone", time.Date(2024, 6, 1, 12, 0, 0, 500, time.Local)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := norm(tt.in)
			u := &store.User{Name: fmt.Sprintf("u%d", i), Role: store.RoleUser, CreatedAt: tt.in}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			if !u.CreatedAt.Equal(want) {
				t.Errorf("written back CreatedAt = %v, want %v", u.CreatedAt, want)
			}
			got, err := s.GetUser(ctx, u.ID)
			if err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			if !got.CreatedAt.Equal(want) {
				t.Errorf("read CreatedAt = %v, want %v", got.CreatedAt, want)
			}
			checkStored(t, "read CreatedAt", got.CreatedAt)

			k := mustKey(t, s, u.ID, "key", tt.in)
			if err := s.TouchAPIKey(ctx, k.ID, tt.in); err != nil {
				t.Fatalf("TouchAPIKey: %v", err)
			}
			if err := s.RevokeAPIKey(ctx, k.ID, tt.in); err != nil {
				t.Fatalf("RevokeAPIKey: %v", err)
			}
			gk, err := s.GetAPIKey(ctx, k.ID)
			if err != nil {
				t.Fatalf("GetAPIKey: %v", err)
			}
			for what, tm := range map[string]*time.Time{"CreatedAt": &gk.CreatedAt, "LastUsedAt": gk.LastUsedAt, "RevokedAt": gk.RevokedAt} {
				if tm == nil || !tm.Equal(want) {
					t.Errorf("key %s = %v, want %v", what, tm, want)
					continue
				}
				checkStored(t, "key "+what, *tm)
			}
		})
	}
}

func testConcurrentCreateSameName(t *testing.T, s store.Store) {
	createSameName(t, []store.Store{s})
}

// createSameName races 20 creations of one name: exactly one wins.
func createSameName(t *testing.T, handles []store.Store) {
	ctx := t.Context()
	var ok, conflict atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := handles[i%len(handles)].CreateUser(ctx, &store.User{Name: "race", Role: store.RoleUser})
			switch {
			case err == nil:
				ok.Add(1)
			case isConflict(err):
				conflict.Add(1)
			default:
				t.Errorf("CreateUser: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != 19 {
		t.Errorf("%d creations succeeded and %d conflicted, want 1 and 19", ok.Load(), conflict.Load())
	}
	for i, h := range handles {
		if _, err := h.GetUserByName(ctx, "race"); err != nil {
			t.Errorf("handle %d: GetUserByName: %v", i, err)
		}
	}
}

func testConcurrentWorkload(t *testing.T, s store.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner", store.RoleUser)
	key := mustKey(t, s, owner.ID, "shared", base)
	const workers, iterations = 8, 25

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range iterations {
				at := norm(base.Add(time.Duration(w*iterations+i) * time.Millisecond))
				steps := []struct {
					what string
					err  error
				}{
					{"RecordUsage", s.RecordUsage(ctx, &store.Usage{UserID: owner.ID, KeyID: &key.ID, Model: fmt.Sprintf("m%d", w%2), PromptTokens: 2, CompletionTokens: 1, CreatedAt: at})},
					{"TouchAPIKey", s.TouchAPIKey(ctx, key.ID, at)},
					{"CreateUser", s.CreateUser(ctx, &store.User{Name: fmt.Sprintf("w%d-%d", w, i), Role: store.RoleUser})},
					{"SetLimits", s.SetLimits(ctx, &store.Limits{UserID: owner.ID, TokensPerDay: int64(w*iterations + i)})},
					{"SetSetting", s.SetSetting(ctx, fmt.Sprintf("w%d", w), []byte{byte(i)})},
				}
				for _, st := range steps {
					if st.err != nil {
						t.Errorf("worker %d: %s: %v", w, st.what, st.err)
					}
				}
				if _, err := s.GetAPIKeyByHash(ctx, key.Hash); err != nil {
					t.Errorf("worker %d: GetAPIKeyByHash: %v", w, err)
				}
				if _, err := s.TokensUsed(ctx, owner.ID, base); err != nil {
					t.Errorf("worker %d: TokensUsed: %v", w, err)
				}
				if _, err := s.GetLimits(ctx, owner.ID); err != nil {
					t.Errorf("worker %d: GetLimits: %v", w, err)
				}
				if _, err := s.ListUsers(ctx); err != nil {
					t.Errorf("worker %d: ListUsers: %v", w, err)
				}
			}
		})
	}
	wg.Wait()

	n := int64(workers * iterations)
	if got, err := s.TokensUsed(ctx, owner.ID, time.Time{}); err != nil || got != 3*n {
		t.Errorf("TokensUsed = %d, %v; want %d", got, err, 3*n)
	}
	totals, err := s.UsageTotals(ctx, store.UsageFilter{UserID: &owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.UsageTotal{
		{UserID: owner.ID, Model: "m0", Requests: n / 2, PromptTokens: n, CompletionTokens: n / 2},
		{UserID: owner.ID, Model: "m1", Requests: n / 2, PromptTokens: n, CompletionTokens: n / 2},
	}
	if diff := cmp.Diff(want, totals, opts); diff != "" {
		t.Errorf("UsageTotals (-want +got):\n%s", diff)
	}
	users, err := s.ListUsers(ctx)
	if err != nil || len(users) != int(n)+1 {
		t.Errorf("ListUsers: %d users, %v; want %d", len(users), err, n+1)
	}
	k, err := s.GetAPIKey(ctx, key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if wantAt := norm(base.Add(time.Duration(n-1) * time.Millisecond)); k.LastUsedAt == nil || !k.LastUsedAt.Equal(wantAt) {
		t.Errorf("LastUsedAt = %v, want the latest touch %v", k.LastUsedAt, wantAt)
	}
	l, err := s.GetLimits(ctx, owner.ID)
	if err != nil || l.TokensPerDay < 0 || l.TokensPerDay >= n {
		t.Errorf("GetLimits = %+v, %v; want one of the values set", l, err)
	}
}

func testClose(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "alice", store.RoleUser)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.GetUser(ctx, u.ID); err == nil || isNotFound(err) {
		t.Errorf("GetUser after Close: %v, want a closed-store error", err)
	}
	if err := s.CreateUser(ctx, &store.User{Name: "bob", Role: store.RoleUser}); err == nil {
		t.Error("CreateUser after Close succeeded")
	}
	if _, err := s.AppendAudit(ctx, func(l *store.AuditEntry) (*store.AuditEntry, error) {
		return link(l, nil, "x", norm(base)), nil
	}); err == nil {
		t.Error("AppendAudit after Close succeeded")
	}
}

// RunReplicas checks two handles on one database, as two silo processes
// would hold: writes through one are seen through the other, and concurrent
// appends, creations and one-time deletes spread over both keep their
// guarantees. open returns two fresh handles on a new, empty database and
// closes them when the test ends.
func RunReplicas(t *testing.T, open func(t *testing.T) (store.Store, store.Store)) {
	tests := []struct {
		name string
		fn   func(*testing.T, []store.Store)
	}{
		{"SeeEachOther", func(t *testing.T, h []store.Store) {
			ctx := t.Context()
			u := mustUser(t, h[0], "alice", store.RoleAdmin)
			got, err := h[1].GetUserByName(ctx, "alice")
			if err != nil {
				t.Fatalf("GetUserByName through the other handle: %v", err)
			}
			if diff := cmp.Diff(u, got, opts); diff != "" {
				t.Errorf("user through the other handle (-want +got):\n%s", diff)
			}
			k := mustKey(t, h[1], u.ID, "key", base)
			if err := h[0].RevokeAPIKey(ctx, k.ID, base); err != nil {
				t.Fatal(err)
			}
			gk, err := h[1].GetAPIKeyByHash(ctx, k.Hash)
			if err != nil || gk.RevokedAt == nil {
				t.Errorf("revocation through one handle not seen through the other: %+v, %v", gk, err)
			}
			if err := h[1].SetSetting(ctx, "k", []byte("v")); err != nil {
				t.Fatal(err)
			}
			if v, err := h[0].GetSetting(ctx, "k"); err != nil || string(v) != "v" {
				t.Errorf("setting through the other handle = %q, %v", v, err)
			}
		}},
		{"AuditConcurrent", func(t *testing.T, h []store.Store) { appendConcurrently(t, h, 50) }},
		{"CreateSameName", createSameName},
		{"DeleteOnce", deleteOnce},
		{"UsageFromBoth", func(t *testing.T, h []store.Store) {
			ctx := t.Context()
			u := mustUser(t, h[0], "alice", store.RoleUser)
			var wg sync.WaitGroup
			for i := range 40 {
				wg.Go(func() {
					err := h[i%2].RecordUsage(ctx, &store.Usage{UserID: u.ID, Model: "m", PromptTokens: 1, CompletionTokens: 1})
					if err != nil {
						t.Errorf("RecordUsage: %v", err)
					}
				})
			}
			wg.Wait()
			for i := range h {
				if n, err := h[i].TokensUsed(ctx, u.ID, time.Time{}); err != nil || n != 80 {
					t.Errorf("handle %d: TokensUsed = %d, %v; want 80", i, n, err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			if a == nil || b == nil {
				t.Fatal("open returned a nil store")
			}
			tt.fn(t, []store.Store{a, b})
		})
	}
}
