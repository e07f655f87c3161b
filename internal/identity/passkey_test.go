package identity_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/store"
	"github.com/silo-ai/silo/internal/store/sqlite"
)

func newPasskeys(t testing.TB) (*identity.Passkeys, *store.User) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pk, err := identity.NewPasskeys(st, identity.PasskeyConfig{RPID: "localhost", Origins: []string{"https://localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := identity.NewUser("fuzz", "", store.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	return pk, u
}

// FuzzFinishCeremony feeds arbitrary answers (untrusted JSON from the
// browser) to sign-in and registration: no panic, and every refusal is
// ErrPasskey, never an internal error.
func FuzzFinishCeremony(f *testing.F) {
	pk, u := newPasskeys(f)
	// Ceremonies are open, so the store holds challenges to look up.
	if _, err := pk.BeginLogin(f.Context(), ""); err != nil {
		f.Fatal(err)
	}
	if _, err := pk.BeginRegistration(f.Context(), u); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		if _, err := pk.FinishLogin(t.Context(), answer); !errors.Is(err, identity.ErrPasskey) {
			t.Errorf("FinishLogin(%q): %v, want ErrPasskey", answer, err)
		}
		if _, err := pk.FinishRegistration(t.Context(), u, "k", answer); !errors.Is(err, identity.ErrPasskey) {
			t.Errorf("FinishRegistration(%q): %v, want ErrPasskey", answer, err)
		}
	})
}

func TestNewPasskeysRefusesBadConfig(t *testing.T) {
	if _, err := identity.NewPasskeys(nil, identity.PasskeyConfig{}); err == nil {
		t.Error("a relying party without an ID or origins was accepted")
	}
}
