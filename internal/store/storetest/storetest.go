// Package storetest is the conformance suite for store.Store. Every
// implementation runs it, so the SQLite and PostgreSQL stores are held to one
// behaviour, including what the interface leaves to prose: sentinel errors,
// write-back of assigned IDs and normalised times, cascades on user deletion,
// the audit chain's append rules, and safety under concurrent use (run with
// -race).
//
// Run takes a function that opens a fresh, empty store for each subtest and
// registers its Close with t.Cleanup. RunReplicas checks two handles on one
// database, as several silo processes would hold.
package storetest

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

// Run runs the conformance suite. open must return a new, empty store for
// each call and close it when the test ends (t.Cleanup); a second Close of
// the same store must be harmless.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Users", testUsers},
		{"UserErrors", testUserErrors},
		{"CountAdmins", testCountAdmins},
		{"APIKeys", testAPIKeys},
		{"APIKeyErrors", testAPIKeyErrors},
		{"RevokedKeys", testRevokedKeys},
		{"TouchAPIKey", testTouchAPIKey},
		{"UsageTotals", testUsageTotals},
		{"UsageErrors", testUsageErrors},
		{"TokensUsed", testTokensUsed},
		{"Limits", testLimits},
		{"Audit", testAudit},
		{"AuditRefused", testAuditRefused},
		{"AuditConcurrent", testAuditConcurrent},
		{"Settings", testSettings},
		{"SettingsDeleteOnce", testSettingsDeleteOnce},
		{"DeleteUserCascade", testDeleteUserCascade},
		{"Times", testTimes},
		{"ConcurrentCreateSameName", testConcurrentCreateSameName},
		{"ConcurrentWorkload", testConcurrentWorkload},
		// Sealed conversations (conversations.go).
		{"SealKeys", testSealKeys},
		{"Conversations", testConversations},
		{"SealedDeleteUser", testSealedDeleteUser},
		{"AppendConcurrent", testAppendConcurrent},
		// Identity (identity.go).
		{"Passkeys", testPasskeys},
		{"Challenges", testChallenges},
		{"Sessions", testSessions},
		{"TOTP", testTOTP},
		{"Invitations", testInvitations},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tt.fn(t, s)
		})
	}
}

// opts compares store values: nil and empty slices are alike (a driver may
// return either for "no rows" or an empty blob), and times compare by
// instant (cmp uses time.Time.Equal).
var opts = cmp.Options{cmpopts.EquateEmpty()}

// base is a fixed instant with sub-microsecond digits in a non-UTC zone, so
// every test exercises normalisation.
var base = time.Date(2031, 3, 4, 5, 6, 7, 123456789, time.FixedZone("UTC+2", 2*3600))

// norm is a time as every store keeps it.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func ptr[T any](v T) *T { return &v }

// checkStored fails unless tm is a stored time: set, UTC, whole microseconds.
func checkStored(t *testing.T, what string, tm time.Time) {
	t.Helper()
	switch {
	case tm.IsZero():
		t.Errorf("%s is zero", what)
	case tm.Location() != time.UTC:
		t.Errorf("%s = %v, not in UTC", what, tm)
	case !tm.Equal(tm.Truncate(time.Microsecond)):
		t.Errorf("%s = %v, finer than a microsecond", what, tm)
	}
}

// checkErr fails unless err matches want: nil, a sentinel (errors.Is), or
// errOther, meaning any error that is neither sentinel.
func checkErr(t *testing.T, op string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: %v, want no error", op, err)
	case want == errOther:
		if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: %v, want an error other than ErrNotFound or ErrConflict", op, err)
		}
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: %v, want %v", op, err, want)
	}
}

// errOther stands for "some error, but not a sentinel" in tables.
var errOther = errors.New("any other error")

func mustUser(t *testing.T, s store.Store, name, role string) *store.User {
	t.Helper()
	u := &store.User{Name: name, Email: name + "@example.test", Role: role}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

func randomHash(t *testing.T) []byte {
	t.Helper()
	var secret [32]byte
	rand.Read(secret[:])
	h := sha256.Sum256(secret[:])
	return h[:]
}

func mustKey(t *testing.T, s store.Store, userID uuid.UUID, name string, created time.Time) *store.APIKey {
	t.Helper()
	k := &store.APIKey{UserID: userID, Name: name, Prefix: "sk-" + name[:min(4, len(name))], Hash: randomHash(t), CreatedAt: created}
	if err := s.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatalf("CreateAPIKey(%q): %v", name, err)
	}
	return k
}

// link builds the entry after last, as internal/audit would: Seq, PrevHash
// and a hash over the content.
func link(last *store.AuditEntry, actor *uuid.UUID, action string, tm time.Time) *store.AuditEntry {
	e := &store.AuditEntry{
		Seq:     1,
		Time:    tm,
		ActorID: actor,
		Action:  action,
		Target:  "target-" + action,
		Detail:  `{"action":"` + action + `"}`,
	}
	if last != nil {
		e.Seq, e.PrevHash = last.Seq+1, last.Hash
	}
	h := sha256.New()
	h.Write(e.PrevHash)
	fmt.Fprintf(h, "|%d|%s|%s", e.Seq, e.Action, e.Time.UTC().Format(time.RFC3339Nano))
	e.Hash = h.Sum(nil)
	return e
}

// checkChain fails unless entries are Seq 1..len(entries), each linked to the
// one before.
func checkChain(t *testing.T, entries []store.AuditEntry) {
	t.Helper()
	var prev []byte
	for i, e := range entries {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d", i+1, e.Seq)
		}
		if i > 0 && string(e.PrevHash) != string(prev) {
			t.Fatalf("entry %d: prev hash %x, want %x (a fork)", e.Seq, e.PrevHash, prev)
		}
		prev = e.Hash
	}
}

func listAllAudit(t *testing.T, s store.Store) []store.AuditEntry {
	t.Helper()
	var (
		all   []store.AuditEntry
		after int64
	)
	for {
		page, err := s.ListAudit(t.Context(), after, 1000)
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
}
